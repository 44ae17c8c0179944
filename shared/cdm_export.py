"""Finding the newest complete export of a segment in Customer Insights' Blob layout.

Layout (Customer Insights "Export to Azure Blob Storage":
https://learn.microsoft.com/dynamics365/customer-insights/data/export-azure-blob-storage)::

    <prefix>/model.json                                   # CDM metadata, one per export
    <prefix>/<SegmentTable>/<YYYY>/<MM>/<DD>/<HHMM>/<SegmentTable>_<n>.csv

where ``<prefix>`` is ``CustomerInsights_<instanceId>/<ExportName>``. ``model.json`` (the CDM
model.json spec: https://learn.microsoft.com/common-data-model/model-json) gives each
entity's column names and order (``attributes``) and its partition files
(``partitions[].location``) with ``fileFormatSettings``; a partition whose ``columnHeaders``
is absent or false has no header row.

A run folder is *complete* when it holds every partition file, by name, that
``model.json`` lists for the entity; the newest complete one is read. Partitions are
resolved by their path below the export folder, never by the account or container in
the ``location`` URL (the export may have been copied elsewhere).

The older flat naming ``<parent>/<ExportName>_<Segment>_<unixtime>.csv`` (with a header
row) is accepted when ``model.json`` does not describe the segment.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlparse

from shared.csv_source import CsvFile, SourceError

MODEL_JSON = "model.json"
_RUN_FOLDER = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{4})")


class ContainerNotFound(SourceError):
    """The container an export store reads does not exist."""


@dataclass(frozen=True)
class StoredFile:
    """A file in an export store: its full name (``/``-separated) and size in bytes."""

    name: str
    size: int


class ExportStore(Protocol):
    """Read access to where Customer Insights writes (a blob container or a local folder)."""

    def list(self, prefix: str) -> Iterator[StoredFile]:
        """Files whose name starts with ``prefix``, in name order."""
        ...

    def open(self, name: str) -> BinaryIO:
        """A streaming binary reader of one file; :class:`SourceError` if unreadable."""
        ...

    def read_bytes(self, name: str) -> bytes | None:
        """The whole content of a small file, or ``None`` when it does not exist."""
        ...


@dataclass(frozen=True)
class CdmPartition:
    """One partition of a CDM entity: its file name and CSV format settings."""

    file_name: str
    has_header: bool
    delimiter: str


@dataclass(frozen=True)
class CdmEntity:
    """A CDM ``LocalEntity``: name, column names in order, partitions in order."""

    name: str
    columns: tuple[str, ...]
    partitions: tuple[CdmPartition, ...]


@dataclass(frozen=True)
class ExportFile:
    """A file to read for a segment: where it is, how to parse it, and its size in bytes."""

    name: str
    size: int
    csv: CsvFile


@dataclass(frozen=True)
class SegmentExport:
    """The newest complete export of one segment.

    ``version`` identifies it across runs (``cdm:<Segment>/<YYYY/MM/DD/HHMM>`` or
    ``flat:<file name>``); ``exported_at`` is the run folder's time (UTC).
    """

    segment: str
    version: str
    exported_at: datetime
    files: tuple[ExportFile, ...]


def _join(prefix: str, *parts: str) -> str:
    return "/".join(p.strip("/") for p in (prefix, *parts) if p.strip("/"))


def model_json_name(prefix: str) -> str:
    """The blob name of the export folder's ``model.json`` (``<prefix>/model.json``)."""
    return _join(prefix, MODEL_JSON)


def _partition_file_name(partition: dict[str, object], entity: str, index: int) -> str:
    location = partition.get("location")
    if isinstance(location, str) and location:
        path = unquote(urlparse(location).path)
        base = posixpath.basename(path)
        if base:
            return base
    name = partition.get("name")
    if isinstance(name, str) and name:
        return name if name.lower().endswith(".csv") else f"{name}.csv"
    raise SourceError(f"model.json: partition {index + 1} of entity '{entity}' has no location")


def parse_model_json(data: bytes, name: str = MODEL_JSON) -> dict[str, CdmEntity]:
    """Entities of a CDM ``model.json`` by name. :class:`SourceError` if it is unusable."""
    try:
        model = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"{name}: not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(model, dict) or not isinstance(model.get("entities"), list):
        raise SourceError(f"{name}: no 'entities' list")
    entities: dict[str, CdmEntity] = {}
    for raw in model["entities"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        entity = raw["name"]
        columns = tuple(
            str(a["name"])
            for a in raw.get("attributes") or []
            if isinstance(a, dict) and isinstance(a.get("name"), str)
        )
        partitions = []
        for i, part in enumerate(raw.get("partitions") or []):
            if not isinstance(part, dict):
                continue
            settings = part.get("fileFormatSettings") or {}
            if not isinstance(settings, dict):
                settings = {}
            encoding = str(settings.get("encoding") or "UTF-8").replace("-", "").upper()
            if encoding not in ("UTF8", "UTF8BOM"):
                raise SourceError(f"{name}: entity '{entity}' uses encoding {encoding}, not UTF-8")
            delimiter = settings.get("delimiter") or ","
            if not isinstance(delimiter, str) or len(delimiter) != 1:
                raise SourceError(f"{name}: entity '{entity}' has an unusable delimiter")
            partitions.append(
                CdmPartition(
                    file_name=_partition_file_name(part, entity, i),
                    has_header=settings.get("columnHeaders") is True,
                    delimiter=delimiter,
                )
            )
        entities[entity] = CdmEntity(entity, columns, tuple(partitions))
    return entities


def find_entity(entities: dict[str, CdmEntity], segment: str) -> CdmEntity | None:
    """The entity ``segment`` names: the exact name, else the only case-insensitive match;
    ``None`` when there is none or several differ only in letter case."""
    if segment in entities:
        return entities[segment]
    folded = [e for n, e in entities.items() if n.casefold() == segment.casefold()]
    return folded[0] if len(folded) == 1 else None


def _run_folder_time(folder: str) -> datetime:
    y, m, d, hm = _RUN_FOLDER.fullmatch(folder).groups()  # type: ignore[union-attr]
    return datetime(int(y), int(m), int(d), int(hm[:2]), int(hm[2:]), tzinfo=UTC)


def newest_complete_cdm_run(
    store: ExportStore, prefix: str, entity: CdmEntity
) -> SegmentExport | None:
    """The newest run folder of ``entity`` holding all its partition files, or ``None``."""
    base = _join(prefix, entity.name) + "/"
    folders: dict[str, dict[str, int]] = {}
    for stored in store.list(base):
        rest = stored.name[len(base) :]
        folder, _, file_name = rest.rpartition("/")
        if _RUN_FOLDER.fullmatch(folder) and file_name:
            folders.setdefault(folder, {})[file_name] = stored.size
    wanted = [p.file_name for p in entity.partitions]
    if not wanted:
        raise SourceError(
            f"{_join(prefix, MODEL_JSON)}: entity '{entity.name}' lists no partitions"
        )
    for folder in sorted(folders, reverse=True):
        present = folders[folder]
        if all(name in present for name in wanted):
            files = tuple(
                ExportFile(
                    name=_join(prefix, entity.name, folder, p.file_name),
                    size=present[p.file_name],
                    csv=CsvFile(
                        name=_join(prefix, entity.name, folder, p.file_name),
                        has_header=p.has_header,
                        columns=entity.columns,
                        delimiter=p.delimiter,
                    ),
                )
                for p in entity.partitions
            )
            return SegmentExport(
                segment=entity.name,
                version=f"cdm:{entity.name}/{folder}",
                exported_at=_run_folder_time(folder),
                files=files,
            )
    return None


def newest_flat_file(store: ExportStore, prefix: str, segment: str) -> SegmentExport | None:
    """The newest ``<ExportName>_<Segment>_<unixtime>.csv`` beside the export folder."""
    parent, _, export_name = prefix.strip("/").rpartition("/")
    start = _join(parent, f"{export_name}_{segment}_")
    pattern = re.compile(re.escape(start) + r"(\d{9,11})\.csv")
    best: tuple[int, StoredFile] | None = None
    for stored in store.list(start):
        match = pattern.fullmatch(stored.name)
        if match and (best is None or int(match.group(1)) > best[0]):
            best = (int(match.group(1)), stored)
    if best is None:
        return None
    stamp, stored = best
    return SegmentExport(
        segment=segment,
        version=f"flat:{posixpath.basename(stored.name)}",
        exported_at=datetime.fromtimestamp(stamp, tz=UTC),
        files=(ExportFile(stored.name, stored.size, CsvFile(stored.name, has_header=True)),),
    )


def resolve_segment(store: ExportStore, prefix: str, segment: str) -> SegmentExport:
    """The newest complete export of ``segment`` under ``prefix`` (the folder of model.json).

    Raises :class:`SourceError` naming what was looked for when there is none.
    """
    model_name = model_json_name(prefix)
    data = store.read_bytes(model_name)
    entity = None
    if data is not None:
        entities = parse_model_json(data, model_name)
        entity = find_entity(entities, segment)
        if entity is not None:
            found = newest_complete_cdm_run(store, prefix, entity)
            if found is not None:
                return found
    flat = newest_flat_file(store, prefix, segment)
    if flat is not None:
        return flat
    if data is None:
        raise SourceError(
            f"{model_name} not found, and no file named like "
            f"'<ExportName>_{segment}_<unixtime>.csv' beside it"
        )
    if entity is None:
        raise SourceError(
            f"{model_name}: segment '{segment}' is not one of its entities "
            f"({', '.join(sorted(entities)) or 'none'})"
        )
    raise SourceError(
        f"no complete run folder for segment '{segment}' under {_join(prefix, entity.name)}/: "
        f"none holds all {len(entity.partitions)} partition files listed in {model_name}"
    )


def single_entity(store: ExportStore, prefix: str) -> list[str]:
    """Entity names in ``model.json`` (for choosing a default segment); [] without it."""
    data = store.read_bytes(_join(prefix, MODEL_JSON))
    return sorted(parse_model_json(data)) if data is not None else []
