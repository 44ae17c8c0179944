"""Step 2, read (one message per CSV part): normalise and hash every mapped value into staging.

:func:`read_part` streams one part file of the export folder, normalises and SHA-256 hashes
the columns the export maps (email, phone, mobile ad id: :mod:`shared.identifiers`), drops
digests erased after the file was written, and writes the digests to staging, one block
blob per (schema, hash partition): ``<run>/read/<SCHEMA>/<partition>/<part>.bin``. Its
completion record holds the part's counts (rows, invalid, missing, prehashed, erased...) and
the file's size and SHA-256, which the next run's unchanged-source check compares.

The reading and hashing of one part is one call, :func:`shared.native_reader.read_part`: a
native engine (DuckDB) with the Python reader as its reference and fall-back.

When every part is read (:func:`advance`), the run moves to ``diff``: its counts are summed
and one :class:`~shared.pipeline.messages.DiffMessage` per hash partition is sent.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from shared import erasures, layout, native_reader
from shared.csv_source import CsvFile, SourceError
from shared.identifiers import SCHEMA_OF_FIELD, Schema
from shared.models import Export, Phase, Run
from shared.pipeline import records, steps
from shared.pipeline.messages import DiffMessage
from shared.pipeline.records import RunFailed
from shared.profile_hashes import FieldMapping, ReadCounts
from shared.services import Services
from shared.state_store import BlockWriter

log = logging.getLogger(__name__)


def read_part(services: Services, run_id: str, part: int) -> None:
    """Read part ``part`` of run ``run_id`` once, then check whether every part is read."""
    steps.run_step(
        services,
        run_id,
        Phase.READ,
        part,
        lambda run: _read(services, run, part),
        lambda run: advance(services, run),
    )


def _read(services: Services, run: Run, part: int) -> dict[str, Any]:
    export = records.load_export(services, run.export_id)
    info = run.parts[part]
    csv = CsvFile(
        name=info["name"],
        has_header=info["has_header"],
        columns=tuple(info["columns"]) or None,
        delimiter=info["delimiter"],
    )
    container = export.source.container if export.source else None
    exported_at = datetime.fromisoformat(info["exported_at"])
    started = time.perf_counter()
    try:
        store = services.exports_store(container)
        read = native_reader.read_part(
            lambda: store.open(csv.name),
            csv,
            _mappings(export),
            lambda: StagingPartitions(services, run.id, part),
            run.bits,
            default_region=services.settings.default_phone_region,
            erased=_erased_after(services, exported_at),
        )
    except SourceError as exc:
        raise RunFailed("source_unusable", f"export '{export.display_name}': {exc}") from None
    read.writer.commit()
    record = read.counts.to_json()
    record["seconds"] = round(time.perf_counter() - started, 3)
    record["file"] = [read.size, read.sha256]
    log.info(
        "read part %d: %d rows in %.2f s (%s reader)",
        part,
        read.counts.rows,
        record["seconds"],
        read.reader,
    )
    return record


def _mappings(export: Export) -> list[FieldMapping]:
    """The export's data matching as (Snap schema, profile column) pairs."""
    matching = export.data_matching.model_dump()
    return [
        FieldMapping(SCHEMA_OF_FIELD[field], column) for field, column in matching.items() if column
    ]


def _erased_after(services: Services, exported_at: datetime) -> dict[Schema, set[bytes]]:
    """Per schema, the digests erased after ``exported_at`` (empty sets when none)."""
    index = erasures.load_index(services)
    return {s: {d for d, when in index[s].items() if when > exported_at} for s in index}


class StagingPartitions:
    """Writes a part's digests to staging block blobs, one per (schema, partition)."""

    def __init__(self, services: Services, run_id: str, part: int) -> None:
        self._writer = BlockWriter(services.staging)
        self._run = run_id
        self._part = part

    def write(self, schema: Schema, partition: int, data: bytes) -> None:
        """Append ``data`` (concatenated digests) to the part's file of ``partition``."""
        self._writer.append(layout.read_file(self._run, schema, partition, self._part), data)

    def commit(self) -> None:
        """Make every file written visible (a redelivery replaces them)."""
        self._writer.commit()


def advance(services: Services, run: Run) -> None:
    """When every part is read: sum the counts, move to ``diff``, send the diff messages."""
    steps.fan_in(services, run.id, Phase.READ, len(run.parts), lambda: _start_diff(services, run))


def _start_diff(services: Services, run: Run) -> None:
    parts = records.done_records(services, run.id, Phase.READ)
    total = ReadCounts()
    for record in parts:
        total.merge(ReadCounts.from_json(record))
    seconds = max((r.get("seconds", 0) for r in parts), default=0)

    def change(r: Run) -> bool:
        if r.status.terminal:
            return False
        r.counts.update(total.to_json())
        r.counts["read_seconds_max_part"] = seconds
        r.phase = Phase.DIFF
        return True

    run = records.update_run(services, run.id, change)
    if run.status.terminal:
        return
    services.queues.send(
        services.settings.run_queue, (DiffMessage(run.id, p) for p in range(1 << run.bits))
    )
