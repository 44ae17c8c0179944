"""Which export folders a Customer Insights container holds, and the segments of one.

Customer Insights' "Export to Azure Blob Storage" writes each export into
``<container>/CustomerInsights_<instanceId>/<ExportName>/`` with one ``model.json``
(https://learn.microsoft.com/dynamics365/customer-insights/data/export-azure-blob-storage);
its entities are the exported segments and their ``attributes`` the segment's fields (CDM
model.json: https://learn.microsoft.com/common-data-model/model-json). An administrator
setting up an export knows the container and the export's name, rarely the instance id:
:func:`find_export_folders` lists the folders that hold a ``model.json`` at the container's
root or one or two folders down (never deeper: below an export folder are the segments' run
folders), by listing one folder level at a time, and :func:`segments_of` reads one folder's
``model.json`` with the code runs use (:mod:`shared.cdm_export`).

Both read through the exports account's *quick* client (one attempt, bounded waits), as
the checks of a save do; storage errors reach the caller as ``azure.core`` errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.storage.blob import BlobPrefix, ContainerClient

from shared.cdm_export import MODEL_JSON, ContainerNotFound, model_json_name, parse_model_json
from shared.services import Services
from shared.storage_clients import BlobExportStore, exports_blob_service

#: Folder levels below the container searched for model.json (``CustomerInsights_<id>/<Export>``).
MAX_DEPTH = 2
#: Folder listings one search may make (each is one request for one folder level).
MAX_LISTINGS = 200


@dataclass(frozen=True)
class FolderSearch:
    """Folders (prefixes without a trailing ``/``; ``""`` is the container's root) holding a
    model.json, in name order; ``complete`` is false when :data:`MAX_LISTINGS` stopped the
    search before every folder down to :data:`MAX_DEPTH` was listed."""

    folders: list[str]
    complete: bool


@dataclass(frozen=True)
class Segment:
    """A segment of an export folder: its entity name and its fields in column order."""

    name: str
    attributes: list[str]


def _container(services: Services, container: str) -> ContainerClient:
    return exports_blob_service(services.settings, quick=True).get_container_client(container)


def find_export_folders(services: Services, container: str) -> FolderSearch:
    """Folders of ``container`` (exports account) holding a model.json; see the module notes.

    Raises :class:`~shared.cdm_export.ContainerNotFound`, or ``AzureError`` when storage
    cannot be read.
    """
    client = _container(services, container)
    if not client.exists():
        raise ContainerNotFound(f"container '{container}' does not exist")
    found: list[str] = []
    pending: list[tuple[str, int]] = [("", 0)]
    listings = 0
    while pending:
        if listings == MAX_LISTINGS:
            return FolderSearch(sorted(found), complete=False)
        prefix, depth = pending.pop(0)
        listings += 1
        below: list[str] = []
        for item in client.walk_blobs(name_starts_with=prefix or None, delimiter="/"):
            if isinstance(item, BlobPrefix):
                below.append(str(item.name))
            elif item.name == prefix + MODEL_JSON:
                found.append(prefix.rstrip("/"))
        if depth < MAX_DEPTH:
            pending.extend((name, depth + 1) for name in below)
    return FolderSearch(sorted(found), complete=True)


def segments_of(services: Services, container: str, prefix: str) -> list[Segment] | None:
    """The segments (entities) of the folder's model.json with their attributes, in the
    document's order; ``None`` when the folder has no model.json.

    Raises :class:`~shared.csv_source.SourceError` when model.json is not usable,
    ``AzureError`` when storage cannot be read.
    """
    store = BlobExportStore(_container(services, container))
    name = model_json_name(prefix)
    data = store.read_bytes(name)
    if data is None:
        return None
    entities = parse_model_json(data, name)
    return [Segment(e.name, list(e.columns)) for e in entities.values()]
