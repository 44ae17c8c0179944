"""``python -m shared dry-run``: check an export (or one CSV) locally and send nothing.

Output: one JSON object ::

    {"rows": int, "profiles_with_identifier": int,
     "identifiers": {"EMAIL_SHA256": int, "PHONE_SHA256": int, "MOBILE_AD_ID_SHA256": int},
     "invalid": {"<column>": {"<reason>": int}}, "duplicates": int,
     "missing": {"<column>": int}, "prehashed": {"<column>": int}}

``identifiers`` counts distinct digests kept; ``duplicates`` counts digests dropped because
an equal one was already kept. ``--hashes-out`` writes ``SCHEMA<TAB>hash`` per distinct
identifier, sorted. Unusable input raises :class:`~shared.csv_source.SourceError`.
"""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from shared import native_reader
from shared.cdm_export import ExportFile, resolve_segment, single_entity
from shared.csv_source import CsvFile, SourceError
from shared.hash_spool import DIGEST_BYTES, LocalPartitionFiles, partition_bits, sorted_unique
from shared.identifiers import SCHEMAS, Schema
from shared.profile_hashes import FieldMapping, ReadCounts
from shared.storage_clients import LocalExportStore

_DIGESTS = struct.Struct(f"{DIGEST_BYTES}s")


@dataclass(frozen=True)
class DryRunOptions:
    """What to read and how to map its columns."""

    source: Path
    email_column: str
    phone_column: str | None = None
    mobile_ad_id_column: str | None = None
    default_region: str = "US"
    segment: str | None = None
    #: Read with the native engine (:mod:`shared.native_reader`); False: Python only.
    native: bool = True


def _mappings(options: DryRunOptions) -> list[FieldMapping]:
    mappings = [FieldMapping(Schema.EMAIL, options.email_column)]
    if options.phone_column:
        mappings.append(FieldMapping(Schema.PHONE, options.phone_column))
    if options.mobile_ad_id_column:
        mappings.append(FieldMapping(Schema.MOBILE_AD_ID, options.mobile_ad_id_column))
    return mappings


def _files(options: DryRunOptions) -> tuple[LocalExportStore, list[ExportFile]]:
    source = options.source
    if source.is_file():
        store = LocalExportStore(source.parent)
        csv = CsvFile(name=source.name, has_header=True)
        return store, [ExportFile(source.name, source.stat().st_size, csv)]
    if not source.is_dir():
        raise SourceError(f"{source}: no such file or folder")
    store = LocalExportStore(source)
    segment = options.segment
    if segment is None:
        entities = single_entity(store, "")
        if len(entities) > 1:
            raise SourceError(
                f"{source}/model.json describes several segments ({', '.join(entities)}); "
                "choose one with --segment"
            )
        if not entities:
            raise SourceError(f"{source}: no model.json (give a CSV file or an export folder)")
        segment = entities[0]
    return store, list(resolve_segment(store, "", segment).files)


def dry_run(options: DryRunOptions, hashes_out: TextIO | None = None) -> dict[str, Any]:
    """Read, normalise, hash and de-duplicate; return the summary (see module docstring).

    Files are read in parallel (one per core) by :func:`shared.native_reader.read_part`;
    their counts are added in file order, so the summary is the same as a read one file
    after the other (and the first unusable file, in order, is the error raised).
    """
    store, files = _files(options)
    mappings = _mappings(options)
    partitions = LocalPartitionFiles()
    bits = partition_bits(sum(f.size for f in files))

    def read(index: int) -> ReadCounts:
        file = files[index]
        return native_reader.read_part(
            lambda: store.open(file.name),
            file.csv,
            mappings,
            lambda: partitions.part(index),
            bits,
            default_region=options.default_region,
            native=options.native,
            fingerprint=False,
        ).counts

    try:
        workers = max(1, min(len(files), os.cpu_count() or 1))
        with ThreadPoolExecutor(workers, thread_name_prefix="dry-run") as pool:
            reads = list(pool.map(read, range(len(files))))
        counts = ReadCounts()
        for read_counts in reads:
            counts.merge(read_counts)
        identifiers = {s.value: 0 for s in SCHEMAS}
        duplicates = 0
        for schema in sorted(SCHEMAS, key=lambda s: s.value):
            for partition in range(1 << bits):
                data = partitions.read(schema, partition)
                if hashes_out is None:
                    total = len(data) // DIGEST_BYTES
                    distinct = len({digest for (digest,) in _DIGESTS.iter_unpack(data)})
                    identifiers[schema.value] += distinct
                    duplicates += total - distinct
                    continue
                unique, dropped = sorted_unique([data])
                identifiers[schema.value] += len(unique)
                duplicates += dropped
                hashes_out.writelines(f"{schema.value}\t{d.hex()}\n" for d in unique)
    finally:
        partitions.close()
    return {
        "rows": counts.rows,
        "profiles_with_identifier": counts.profiles_with_identifier,
        "identifiers": identifiers,
        "invalid": counts.invalid,
        "duplicates": duplicates,
        "missing": counts.missing,
        "prehashed": counts.prehashed,
    }
