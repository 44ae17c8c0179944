"""From export rows to identifier digests, with counts: the only place raw values are seen.

A *profile* is one data row (one unified customer profile, or one of its projected-attribute
rows). Each configured data-matching field maps a profile column to a Snap schema. Values
are normalised and hashed by :mod:`shared.identifiers`; invalid values are counted per
column and reason and dropped, never failing the row's other identifiers or the batch
(``research/peers.md`` bugs #4 and #5). Only digests leave this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.hash_spool import HashSpool
from shared.identifiers import InvalidReason, Schema, digest_function, email_digest, is_prehashed


@dataclass(frozen=True)
class FieldMapping:
    """One data-matching field: which profile column feeds which Snap schema."""

    schema: Schema
    column: str


@dataclass
class ReadCounts:
    """Counts of one read (a file, or a whole run once merged). JSON-safe via ``to_json``.

    ``identifiers`` counts valid identifiers per schema before de-duplication;
    ``invalid[column][reason]`` and ``missing[column]`` (empty cells) count dropped values;
    ``prehashed[column]`` counts values that were already SHA-256 digests; ``erased`` counts
    digests dropped because an erasure newer than the export covers them.
    """

    rows: int = 0
    profiles_with_identifier: int = 0
    identifiers: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, dict[str, int]] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)
    prehashed: dict[str, int] = field(default_factory=dict)
    erased: int = 0

    def merge(self, other: ReadCounts) -> None:
        """Add ``other``'s counts into this one."""
        self.rows += other.rows
        self.profiles_with_identifier += other.profiles_with_identifier
        self.erased += other.erased
        for name, value in other.identifiers.items():
            self.identifiers[name] = self.identifiers.get(name, 0) + value
        for column, value in other.missing.items():
            self.missing[column] = self.missing.get(column, 0) + value
        for column, value in other.prehashed.items():
            self.prehashed[column] = self.prehashed.get(column, 0) + value
        for column, reasons in other.invalid.items():
            mine = self.invalid.setdefault(column, {})
            for reason, value in reasons.items():
                mine[reason] = mine.get(reason, 0) + value

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "profiles_with_identifier": self.profiles_with_identifier,
            "identifiers": dict(self.identifiers),
            "invalid": {c: dict(r) for c, r in self.invalid.items()},
            "missing": dict(self.missing),
            "prehashed": dict(self.prehashed),
            "erased": self.erased,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReadCounts:
        return cls(
            rows=int(data.get("rows", 0)),
            profiles_with_identifier=int(data.get("profiles_with_identifier", 0)),
            identifiers=dict(data.get("identifiers", {})),
            invalid={c: dict(r) for c, r in data.get("invalid", {}).items()},
            missing=dict(data.get("missing", {})),
            prehashed=dict(data.get("prehashed", {})),
            erased=int(data.get("erased", 0)),
        )


ErasedCheck = Callable[[Schema, bytes], bool]


def hash_profiles(
    rows: Iterable[Sequence[str]],
    mappings: Sequence[FieldMapping],
    spool: HashSpool,
    *,
    default_region: str,
    erased: ErasedCheck | None = None,
) -> ReadCounts:
    """Hash every mapped value of ``rows`` into ``spool``; return the counts.

    ``rows`` yields the mapped columns' values in ``mappings`` order (as
    :func:`shared.csv_source.iter_columns` does). ``erased(schema, digest)`` drops digests
    covered by an erasure.
    """
    counts = ReadCounts()
    if len(mappings) == 1 and mappings[0].schema is Schema.EMAIL and erased is None:
        _hash_emails_only(rows, mappings[0].column, spool, counts)
        return counts
    functions = [digest_function(m.schema, default_region) for m in mappings]
    schemas = [m.schema for m in mappings]
    shift = 8 - spool.bits
    targets = [spool.buffers[s] for s in schemas]
    valid = [0] * len(mappings)
    pending = [0] * len(mappings)
    invalid: list[dict[str, int]] = [{} for _ in mappings]
    prehashed = [0] * len(mappings)
    rows_read = with_identifier = dropped = since_flush = 0
    for row in rows:
        rows_read += 1
        found = False
        for i, value in enumerate(row):
            result = functions[i](value)
            if isinstance(result, bytes):
                if erased is not None and erased(schemas[i], result):
                    dropped += 1
                    continue
                targets[i][result[0] >> shift if shift < 8 else 0] += result
                valid[i] += 1
                pending[i] += 1
                found = True
                if len(value) >= 64 and is_prehashed(value):
                    prehashed[i] += 1
            else:
                reasons = invalid[i]
                reasons[result] = reasons.get(result, 0) + 1
        if found:
            with_identifier += 1
        since_flush += 1
        if since_flush >= 4096:
            _note(spool, schemas, pending)
            since_flush = 0
    _note(spool, schemas, pending)
    counts.rows = rows_read
    counts.profiles_with_identifier = with_identifier
    counts.erased = dropped
    for i, m in enumerate(mappings):
        _record(counts, m, valid[i], invalid[i], prehashed[i])
    return counts


def _note(spool: HashSpool, schemas: list[Schema], pending: list[int]) -> None:
    for i, schema in enumerate(schemas):
        if pending[i]:
            spool.note_added(schema, pending[i])
            pending[i] = 0


def _record(
    counts: ReadCounts, mapping: FieldMapping, valid: int, invalid: dict[str, int], pre: int
) -> None:
    name = mapping.schema.value
    counts.identifiers[name] = counts.identifiers.get(name, 0) + valid
    empty = invalid.pop(InvalidReason.EMPTY, 0)
    if empty:
        counts.missing[mapping.column] = counts.missing.get(mapping.column, 0) + empty
    if invalid:
        column = counts.invalid.setdefault(mapping.column, {})
        for reason, value in invalid.items():
            key = reason.value if isinstance(reason, InvalidReason) else str(reason)
            column[key] = column.get(key, 0) + value
    if pre:
        counts.prehashed[mapping.column] = counts.prehashed.get(mapping.column, 0) + pre


def _hash_emails_only(
    rows: Iterable[Sequence[str]], column: str, spool: HashSpool, counts: ReadCounts
) -> None:
    """The common case (email only), unrolled for speed; same results as the general loop."""
    shift = 8 - spool.bits
    target = spool.buffers[Schema.EMAIL]
    digest = email_digest
    invalid: dict[str, int] = {}
    rows_read = valid = prehashed = pending = 0
    for (value,) in rows:
        rows_read += 1
        result = digest(value)
        if isinstance(result, bytes):
            target[result[0] >> shift if shift < 8 else 0] += result
            valid += 1
            pending += 1
            if len(value) >= 64 and is_prehashed(value):
                prehashed += 1
            if pending >= 8192:
                spool.note_added(Schema.EMAIL, pending)
                pending = 0
        else:
            invalid[result] = invalid.get(result, 0) + 1
    spool.note_added(Schema.EMAIL, pending)
    counts.rows = rows_read
    counts.profiles_with_identifier = valid
    _record(counts, FieldMapping(Schema.EMAIL, column), valid, invalid, prehashed)
