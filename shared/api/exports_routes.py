"""``/api/exports``: save, read, change and delete exports (saving never runs one).

Every role may read exports (Customer Insights lets viewers view exports). Administrators
may change any export; contributors those whose connection is shared with them. The rules
themselves live in :mod:`shared.api.export_records`.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from shared.api import export_records
from shared.api.access import Caller, EditorCaller
from shared.api.errors import errors
from shared.api.schemas import ExportCreate, ExportList, ExportPatch, ExportView
from shared.services import get_services

router = APIRouter(prefix="/api/exports", tags=["exports"])


@router.post(
    "",
    status_code=201,
    response_model=ExportView,
    summary="Save a new export (Admin; Contributor with a shared connection); does not run it",
    responses=errors(409),
)
def create_export(body: ExportCreate, principal: EditorCaller) -> ExportView:
    """409 ``connection_not_ready`` names what the connection misses; 403 when the
    connection is not shared with contributors; 422 names invalid fields."""
    return ExportView.of(export_records.create_export(get_services(), body, principal))


@router.get("", response_model=ExportList, summary="List exports (any role)", responses=errors())
def list_exports(principal: Caller) -> ExportList:
    exports = export_records.list_exports(get_services())
    return ExportList(exports=[ExportView.of(e) for e in exports])


@router.get(
    "/{export_id}",
    response_model=ExportView,
    summary="Get an export (any role)",
    responses=errors(404),
)
def get_export(export_id: str, principal: Caller) -> ExportView:
    return ExportView.of(export_records.load_export(get_services(), export_id))


@router.patch(
    "/{export_id}",
    response_model=ExportView,
    summary="Change an export (Admin; Contributor with a shared connection)",
    responses=errors(404, 409),
)
def patch_export(export_id: str, body: ExportPatch, principal: EditorCaller) -> ExportView:
    """Only the given fields change. Pointing an inactive export at a ready connection
    reactivates it. 409 ``run_in_progress`` when a running run reads a changed field."""
    return ExportView.of(export_records.patch_export(get_services(), export_id, body, principal))


@router.delete(
    "/{export_id}",
    status_code=204,
    response_class=Response,
    summary="Delete an export and its snapshots (Admin; Contributor with a shared connection)",
    responses={**errors(404, 409), 204: {"description": "Deleted"}},
)
def delete_export(export_id: str, principal: EditorCaller) -> Response:
    """The Snapchat audience is kept; run history stays readable by run id."""
    export_records.delete_export(get_services(), export_id, principal)
    return Response(status_code=204)
