"""``/api/connections``: set up, share, sign in, and delete Snapchat connections.

Administrators do everything here. Contributors may list and get the connections shared
with them (``usable_by: admins_and_contributors``) and see only id, name and type
(as Customer Insights does:
https://learn.microsoft.com/dynamics365/customer-insights/data/connections). Viewers get 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse

from shared import connections
from shared.api.access import AdminCaller, Caller, actor, may_use
from shared.api.errors import ApiError, errors
from shared.api.export_records import check_id
from shared.api.schemas import (
    ConnectionCreate,
    ConnectionDeleted,
    ConnectionList,
    ConnectionPatch,
    ConnectionSummary,
    ConnectionView,
)
from shared.models import Connection
from shared.services import get_services

router = APIRouter(prefix="/api/connections", tags=["connections"])

#: Where a sign-in may send the browser back to: a page of the console, by a relative path
#: of letters, digits, ``_``, ``-`` and single ``/`` (no query, no ``.``, no other host).
RETURN_TO_PATTERN = r"^/api/console(/[A-Za-z0-9_-]+)+$"


def _load(connection_id: str) -> Connection:
    connection = connections.get_connection(get_services(), check_id(connection_id, "connection"))
    if connection is None:
        raise ApiError(404, "not_found", "no such connection")
    return connection


@router.post(
    "",
    status_code=201,
    response_model=ConnectionView,
    summary="Create a Snapchat connection (Admin)",
    responses=errors(),
)
def create_connection(body: ConnectionCreate, principal: AdminCaller) -> ConnectionView:
    """Needs ``privacy_consent: true``; the consent is recorded with who and when. The new
    connection still needs "Sign in with Snapchat" and an export user."""
    connection = connections.create_connection(
        get_services(),
        display_name=body.display_name,
        usable_by=body.usable_by,
        created_by=actor(principal),
    )
    return ConnectionView.of(connection)


@router.get(
    "",
    response_model=ConnectionList,
    summary="List connections (Admin: all; Contributor: shared ones, name and type)",
    responses=errors(),
)
def list_connections(principal: Caller) -> ConnectionList:
    if principal.is_admin:
        every = connections.list_connections(get_services())
        return ConnectionList(connections=[ConnectionView.of(c) for c in every])
    if principal.is_contributor:
        shared = [c for c in connections.list_connections(get_services()) if may_use(principal, c)]
        return ConnectionList(connections=[ConnectionSummary.of(c) for c in shared])
    raise ApiError(403, "forbidden", "viewers cannot see connections")


@router.get(
    "/{connection_id}",
    response_model=ConnectionView | ConnectionSummary,
    summary="Get a connection (Admin; Contributor: a shared one, name and type)",
    responses=errors(404),
)
def get_connection(connection_id: str, principal: Caller) -> ConnectionView | ConnectionSummary:
    if not (principal.is_admin or principal.is_contributor):
        raise ApiError(403, "forbidden", "viewers cannot see connections")
    connection = _load(connection_id)
    if principal.is_admin:
        return ConnectionView.of(connection)
    if not may_use(principal, connection):
        raise ApiError(403, "forbidden", "this connection is not shared with contributors")
    return ConnectionSummary.of(connection)


@router.patch(
    "/{connection_id}",
    response_model=ConnectionView,
    summary="Rename a connection or change who may use it (Admin)",
    responses=errors(404),
)
def patch_connection(
    connection_id: str, body: ConnectionPatch, principal: AdminCaller
) -> ConnectionView:
    _load(connection_id)
    changes = body.model_dump(include=body.model_fields_set)
    try:
        connection = connections.update_connection(get_services(), connection_id, **changes)
    except connections.ConnectionNotFound:
        raise ApiError(404, "not_found", "no such connection") from None
    return ConnectionView.of(connection)


@router.get(
    "/{connection_id}/authorize",
    status_code=302,
    response_class=RedirectResponse,
    summary="Sign in with Snapchat: redirect to Snap's authorize page (Admin)",
    responses={
        **errors(404),
        302: {"description": "Redirect to Snap's authorize URL (state valid 10 minutes)"},
    },
)
def authorize(
    connection_id: str,
    principal: AdminCaller,
    return_to: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=RETURN_TO_PATTERN,
            description="A console page (/api/console/...) Snap's redirect comes back to "
            "after the sign-in, with ?signin=complete (or why not)",
        ),
    ] = None,
) -> RedirectResponse:
    """Redirects to Snap with ``client_id``, ``redirect_uri``, ``response_type=code``,
    ``scope=snapchat-marketing-api`` and a single-use ``state`` bound to this connection and
    this caller, valid for 10 minutes."""
    _load(connection_id)
    try:
        url = connections.begin_sign_in(
            get_services(), connection_id, principal.id, return_to=return_to
        )
    except connections.ConnectionNotFound:
        raise ApiError(404, "not_found", "no such connection") from None
    return RedirectResponse(url, status_code=302)


@router.post(
    "/{connection_id}/export-user",
    response_model=ConnectionView,
    summary="Add yourself as the connection's export user (Admin)",
    responses=errors(404),
)
def add_export_user(connection_id: str, principal: AdminCaller) -> ConnectionView:
    _load(connection_id)
    try:
        connection = connections.set_export_user(get_services(), connection_id, actor(principal))
    except connections.ConnectionNotFound:
        raise ApiError(404, "not_found", "no such connection") from None
    return ConnectionView.of(connection)


@router.delete(
    "/{connection_id}",
    response_model=ConnectionDeleted,
    summary="Delete a connection and its secrets; its exports become inactive (Admin)",
    responses=errors(404),
)
def delete_connection(connection_id: str, principal: AdminCaller) -> ConnectionDeleted:
    _load(connection_id)
    try:
        deactivated = connections.delete_connection(get_services(), connection_id)
    except connections.ConnectionNotFound:
        raise ApiError(404, "not_found", "no such connection") from None
    return ConnectionDeleted(id=connection_id, exports_deactivated=deactivated)
