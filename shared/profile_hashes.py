"""From export rows to identifier digests, with counts: the only place raw values are seen.

A *profile* is one data row (one unified customer profile, or one of its projected-attribute
rows). Each configured data-matching field maps a profile column to a Snap schema. Values
are normalised and hashed by :mod:`shared.identifiers`; invalid values are counted per
column and reason and dropped, never failing the row's other identifiers or the batch
(peers failed whole batches over one bad value:
https://github.com/segmentio/action-destinations/pull/3823,
https://github.com/google/megalista/pull/124). Only digests leave this module.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from shared.hash_spool import HashSpool
from shared.identifiers import InvalidReason, Result, Schema, digest_function, is_prehashed


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
    functions = [digest_function(m.schema, default_region) for m in mappings]
    if erased is None and len({m.schema for m in mappings}) == len(mappings):
        _hash_columns(rows, mappings, functions, spool, counts)
        return counts
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
        record_column(counts, m, valid[i], invalid[i], prehashed[i])
    return counts


def _note(spool: HashSpool, schemas: list[Schema], pending: list[int]) -> None:
    for i, schema in enumerate(schemas):
        if pending[i]:
            spool.note_added(schema, pending[i])
            pending[i] = 0


#: Reasons in the order :func:`record_column` lists them (their order in the enum).
_REASON_ORDER = {reason: index for index, reason in enumerate(InvalidReason)}


def record_column(
    counts: ReadCounts, mapping: FieldMapping, valid: int, invalid: dict[str, int], pre: int
) -> None:
    """Add one mapped column's totals of a read into ``counts``.

    ``valid`` digests kept, ``invalid`` values dropped per reason (``empty`` ones are
    counted as missing), ``pre`` values that were already digests. Reasons are listed in
    :class:`~shared.identifiers.InvalidReason` order, whatever order they were met in, so
    two readers that count the same values write the same JSON.
    """
    name = mapping.schema.value
    counts.identifiers[name] = counts.identifiers.get(name, 0) + valid
    empty = invalid.pop(InvalidReason.EMPTY, 0)
    if empty:
        counts.missing[mapping.column] = counts.missing.get(mapping.column, 0) + empty
    if invalid:
        column = counts.invalid.setdefault(mapping.column, {})
        for reason in sorted(invalid, key=lambda r: _REASON_ORDER.get(InvalidReason(r), 99)):
            key = reason.value if isinstance(reason, InvalidReason) else str(reason)
            column[key] = column.get(key, 0) + invalid[reason]
    if pre:
        counts.prehashed[mapping.column] = counts.prehashed.get(mapping.column, 0) + pre


#: Rows taken at a time by :func:`_hash_columns`.
CHUNK_ROWS = 4096


def _hash_columns(
    rows: Iterable[Sequence[str]],
    mappings: Sequence[FieldMapping],
    functions: Sequence[Callable[[str], Result]],
    spool: HashSpool,
    counts: ReadCounts,
) -> None:
    """:func:`hash_profiles` without erasures, a chunk of rows at a time, column by column.

    Same digests in the same order and the same counts as the row-by-row loop; the per-value
    work (calling the digest function, telling digests from reasons, counting) runs in C
    iterators (``map``, ``zip``, ``Counter``) instead of bytecode.
    """
    shift = 8 - spool.bits
    width = len(mappings)
    targets = [spool.buffers[m.schema] for m in mappings]
    valid = [0] * width
    invalid: list[dict[str, int]] = [{} for _ in mappings]
    prehashed = [0] * width
    rows_read = with_identifier = 0
    iterator = iter(rows)
    while True:
        chunk = list(itertools.islice(iterator, CHUNK_ROWS))
        if not chunk:
            break
        rows_read += len(chunk)
        any_valid: Iterator[bool] | None = None
        for i, values in enumerate(zip(*chunk, strict=True)):
            results = list(map(functions[i], values))
            is_digest = list(map(operator.is_, map(type, results), itertools.repeat(bytes)))
            digests = cast(list[bytes], list(itertools.compress(results, is_digest)))
            if len(digests) < len(results):
                reasons = invalid[i]
                failed = itertools.compress(results, map(operator.not_, is_digest))
                for reason, number in Counter(cast(Iterator[str], failed)).items():
                    reasons[reason] = reasons.get(reason, 0) + number
            if digests:
                target = targets[i]
                if shift >= 8:
                    target[0] += b"".join(digests)
                else:
                    for digest in digests:
                        target[digest[0] >> shift] += digest
                valid[i] += len(digests)
                if max(map(len, values)) >= 64:
                    prehashed[i] += sum(
                        1 for value in itertools.compress(values, is_digest) if is_prehashed(value)
                    )
                spool.note_added(mappings[i].schema, len(digests))
            any_valid = (
                iter(is_digest) if any_valid is None else map(operator.or_, any_valid, is_digest)
            )
        if any_valid is not None:
            with_identifier += sum(any_valid)
    counts.rows = rows_read
    counts.profiles_with_identifier = with_identifier
    for i, m in enumerate(mappings):
        record_column(counts, m, valid[i], invalid[i], prehashed[i])
