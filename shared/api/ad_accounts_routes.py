"""``/api/connections/{id}/ad-accounts``: what a connection's Snapchat sign-in can see.

The ad accounts (``GET /v1/me/organizations?with_ad_accounts=true``) and the customer-list
audiences of one ad account (``GET /v1/adaccounts/{id}/segments``, ``source_type``
``FIRST_PARTY``: Snap takes uploaded identifiers only into those;
https://developers.snap.com/api/marketing-api/Ads-API/customer-lists), read live from Snap
through the connection's client with the bounds of a save's checks
(:data:`~shared.api.export_checks.SNAP_TIMEOUT_S` per call, no retry), so an export is set up
by picking from lists instead of copying ids out of Ads Manager. Nothing is written to Snap.

Who: administrators, and contributors on a connection shared with them (the connections they
may save exports with). Answers: 404 (no such connection, or an ad account Snap does not
show it), 409 ``connection_not_ready`` (not signed in with Snapchat, or Snap refuses the
sign-in), 409 ``snapchat_permission_denied`` (the Snapchat user lacks a role on the ad
account), 502 ``snapchat_unavailable`` (Snap or the token vault cannot be reached now).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import AzureError
from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared import connections
from shared.api.access import EditorCaller, require_use
from shared.api.errors import ApiError, errors
from shared.api.export_checks import SNAP_TIMEOUT_S, shown, sign_in_refused
from shared.api.export_records import check_id
from shared.api.principal import Principal
from shared.models import Connection
from shared.services import get_services
from shared.snapchat import SnapchatClient
from shared.snapchat.client import FIRST_PARTY
from shared.snapchat.errors import (
    SnapchatAuthError,
    SnapchatError,
    SnapchatNotFoundError,
    SnapchatPermissionError,
)

router = APIRouter(prefix="/api/connections/{connection_id}/ad-accounts", tags=["connections"])

T = TypeVar("T")


class AdAccount(BaseModel):
    """A Snap ad account the connection sees (Snap's ``adaccount`` object, in part)."""

    id: str
    name: str
    status: str | None = Field(description="Snap's status, e.g. ACTIVE")
    organization_id: str | None
    organization_name: str | None


class AdAccountList(BaseModel):
    ad_accounts: list[AdAccount]


class Audience(BaseModel):
    """A customer-list audience (Snap's ``segment`` object, in part).

    ``approximate_number_users`` is Snap's matched-user estimate; ``targetable_status`` is
    ``READY``, ``TOO_FEW_USERS`` (fewer than 1,000) or ``NOT_READY``.
    """

    id: str
    name: str
    description: str | None
    approximate_number_users: int | None
    targetable_status: str | None
    upload_status: str | None
    retention_in_days: int | None


class AudienceList(BaseModel):
    ad_account_id: str
    audiences: list[Audience]


def _connection(connection_id: str, principal: Principal) -> Connection:
    connection = connections.get_connection(get_services(), check_id(connection_id, "connection"))
    if connection is None:
        raise ApiError(404, "not_found", "no such connection")
    require_use(principal, connection)
    if connection.signed_in is None:
        raise ApiError(
            409,
            "connection_not_ready",
            f"connection '{shown(connection.display_name)}' is not signed in with Snapchat yet",
        )
    return connection


def _ask_snap(connection: Connection, call: Callable[[SnapchatClient], T]) -> T:
    """``call`` with the connection's bounded client; Snap's errors as API errors."""
    name = shown(connection.display_name)
    try:
        client = get_services().snapchat(connection.id).bounded(timeout_s=SNAP_TIMEOUT_S)
        return call(client)
    except SnapchatAuthError as exc:
        raise sign_in_refused(name, exc) from None
    except SnapchatPermissionError:
        raise ApiError(
            409,
            "snapchat_permission_denied",
            f"the Snapchat user signed in on connection '{name}' lacks Admin or Data Manager "
            "on this ad account",
        ) from None
    except SnapchatNotFoundError:
        raise ApiError(
            404, "not_found", f"Snap shows connection '{name}' no such ad account"
        ) from None
    except SnapchatError as exc:
        raise ApiError(
            502, "snapchat_unavailable", f"Snapchat could not be reached ({shown(str(exc), 300)})"
        ) from None
    except AzureError:
        raise ApiError(
            502,
            "snapchat_unavailable",
            f"connection '{name}': its Snapchat sign-in could not be read from the token vault",
        ) from None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _ad_accounts(client: SnapchatClient) -> list[AdAccount]:
    found = []
    for org in client.organizations(with_ad_accounts=True):
        for account in org.get("ad_accounts") or []:
            if isinstance(account, dict) and account.get("id"):
                found.append(
                    AdAccount(
                        id=str(account["id"]),
                        name=str(account.get("name") or account["id"]),
                        status=_text(account.get("status")),
                        organization_id=_text(org.get("id")),
                        organization_name=_text(org.get("name")),
                    )
                )
    return sorted(found, key=lambda a: (a.name.casefold(), a.id))


@router.get(
    "",
    response_model=AdAccountList,
    summary="Snapchat ad accounts the connection sees (Admin; Contributor, shared connection)",
    responses=errors(404, 409, 502),
)
def list_ad_accounts(connection_id: str, principal: EditorCaller) -> AdAccountList:
    connection = _connection(connection_id, principal)
    return AdAccountList(ad_accounts=_ask_snap(connection, _ad_accounts))


@router.get(
    "/{ad_account_id}/audiences",
    response_model=AudienceList,
    summary="Customer-list audiences of an ad account (Admin; Contributor, shared connection)",
    responses=errors(404, 409, 502),
)
def list_audiences(connection_id: str, ad_account_id: str, principal: EditorCaller) -> AudienceList:
    """Customer lists only (``FIRST_PARTY``), by name; with Snap's size estimate and
    targetable status as Snap shows them now."""
    connection = _connection(connection_id, principal)
    check_id(ad_account_id, "ad account")

    def audiences(client: SnapchatClient) -> list[Audience]:
        return sorted(
            (
                Audience(
                    id=str(s["id"]),
                    name=str(s.get("name") or s["id"]),
                    description=_text(s.get("description")),
                    approximate_number_users=_int(s.get("approximate_number_users")),
                    targetable_status=_text(s.get("targetable_status")),
                    upload_status=_text(s.get("upload_status")),
                    retention_in_days=_int(s.get("retention_in_days")),
                )
                for s in client.list_audiences(ad_account_id)
                if s.get("id") and str(s.get("source_type") or "").upper() == FIRST_PARTY
            ),
            key=lambda a: (a.name.casefold(), a.id),
        )

    return AudienceList(ad_account_id=ad_account_id, audiences=_ask_snap(connection, audiences))
