"""``/api/export-folders``: the export folders of a container and the segments of one.

What an export is set up from: the folders where Customer Insights writes model.json
(``CustomerInsights_<instanceId>/<ExportName>``), and a folder's segments with their fields
(the entities and attributes of its model.json), read by the code runs and save checks use
(:mod:`shared.export_folders`, :mod:`shared.cdm_export`). ``container`` defaults to the app
setting ``EXPORTS_CONTAINER`` and ``prefix`` to ``EXPORTS_PREFIX``.

Who: administrators and contributors (those who save exports). Answers: 404 when the
container or the folder's model.json does not exist, 422 for a container that is not an
exports container (this app's own containers included) or a model.json that is not usable,
502 ``storage_unavailable`` when the exports storage account cannot be read now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from azure.core.exceptions import AzureError
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from shared import export_folders
from shared.api.access import EditorCaller
from shared.api.errors import ApiError, errors, field_error
from shared.api.export_checks import shown
from shared.api.export_records import (
    is_export_prefix,
    is_exports_container,
    not_an_exports_container,
)
from shared.api.names import ExportPrefix
from shared.cdm_export import ContainerNotFound, model_json_name
from shared.csv_source import SourceError
from shared.services import Services, get_services

router = APIRouter(prefix="/api/export-folders", tags=["exports"])

T = TypeVar("T")

Container = Annotated[
    str | None,
    Query(
        min_length=3,
        max_length=63,
        description="Blob container Customer Insights exports to (default EXPORTS_CONTAINER)",
    ),
]


class ExportFolder(BaseModel):
    """A folder holding a model.json (``""``: the container's root)."""

    prefix: str
    is_default: bool = Field(description="The folder of the app setting EXPORTS_PREFIX")


class ExportFolderList(BaseModel):
    """The folders found; ``complete`` is false when the search stopped early (a very large
    container): type the folder instead."""

    container: str
    folders: list[ExportFolder]
    complete: bool


class SegmentFields(BaseModel):
    """A segment (model.json entity) and its fields (attributes, in column order)."""

    name: str
    attributes: list[str]


class ExportFolderSegments(BaseModel):
    container: str
    prefix: str
    model_json: str = Field(description="The blob name of the folder's model.json")
    segments: list[SegmentFields]


def _container(services: Services, container: str | None) -> str:
    name = container or services.settings.get("EXPORTS_CONTAINER")
    if not name:
        raise field_error(["container"], "container: give one (EXPORTS_CONTAINER is not set)")
    if not is_exports_container(services, name):
        raise field_error(["container"], f"container: {not_an_exports_container(services)}")
    return name


def _read(container: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except ContainerNotFound:
        raise ApiError(
            404,
            "not_found",
            f"container '{shown(container)}' does not exist in the exports storage account",
        ) from None
    except AzureError as exc:
        status = getattr(exc, "status_code", None)
        raise ApiError(
            502,
            "storage_unavailable",
            "the exports storage account could not be read now"
            + (f" (HTTP {status})" if status else f" ({exc.__class__.__name__})"),
        ) from None


@router.get(
    "",
    response_model=ExportFolderList,
    summary="Export folders (holding model.json) of a container (Admin, Contributor)",
    responses=errors(404, 502),
)
def list_export_folders(principal: EditorCaller, container: Container = None) -> ExportFolderList:
    """Folders at the container's root or one or two levels down
    (``CustomerInsights_<instanceId>/<ExportName>``) that hold a model.json."""
    services = get_services()
    name = _container(services, container)
    found = _read(name, lambda: export_folders.find_export_folders(services, name))
    default = (services.settings.get("EXPORTS_PREFIX") or "").strip("/")
    return ExportFolderList(
        container=name,
        folders=[ExportFolder(prefix=p, is_default=p == default) for p in found.folders],
        complete=found.complete,
    )


@router.get(
    "/segments",
    response_model=ExportFolderSegments,
    summary="Segments and their fields of an export folder's model.json (Admin, Contributor)",
    responses=errors(404, 502),
)
def export_folder_segments(
    principal: EditorCaller,
    container: Container = None,
    prefix: Annotated[
        ExportPrefix | None,
        Query(description="The export folder (default EXPORTS_PREFIX)"),
    ] = None,
) -> ExportFolderSegments:
    services = get_services()
    name = _container(services, container)
    given = prefix if prefix is not None else services.settings.get("EXPORTS_PREFIX")
    folder = (given or "").rstrip("/")
    if not is_export_prefix(folder):
        raise field_error(["prefix"], "prefix: no '.', '..' or leading '/'")
    model = model_json_name(folder)
    try:
        segments = _read(name, lambda: export_folders.segments_of(services, name, folder))
    except SourceError as exc:
        raise field_error(["prefix"], f"prefix: {shown(str(exc), 500)}") from None
    if segments is None:
        raise ApiError(
            404,
            "not_found",
            f"no {shown(model, 300)} in container '{shown(name)}': Customer Insights writes "
            "model.json into CustomerInsights_<instanceId>/<ExportName> each time the export "
            "runs",
        )
    return ExportFolderSegments(
        container=name,
        prefix=folder,
        model_json=model,
        segments=[SegmentFields(name=s.name, attributes=s.attributes) for s in segments],
    )
