"""Who may do what: FastAPI dependencies for the caller and the role rules of the API.

Rules (Customer Insights' roles and connection sharing:
https://learn.microsoft.com/dynamics365/customer-insights/data/user-roles,
https://learn.microsoft.com/dynamics365/customer-insights/data/connections):

* **Admin** may do everything.
* **Contributor** may read exports and runs; create, change, delete and run exports whose
  connection is usable by contributors (``usable_by: admins_and_contributors``); and list
  or get those connections, seeing only their id, name and type.
* **Viewer** may read exports and runs.

No principal gives 401; a principal without one of these app roles, or a role that does
not allow the action, gives 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from shared.api.errors import ApiError
from shared.api.principal import PRINCIPAL_HEADER, Principal, PrincipalError, parse_principal
from shared.models import Actor, Connection, UsableBy

principal_header = APIKeyHeader(
    name=PRINCIPAL_HEADER,
    scheme_name="AppServiceAuthentication",
    description=(
        "Set by App Service Authentication (Entra ID): base64 JSON with `claims`; app roles "
        "`Admin`, `Contributor`, `Viewer` under the principal's `role_typ` or `roles`."
    ),
    auto_error=False,
)


def principal_from(headers: Mapping[str, str]) -> Principal:
    """The caller described by request ``headers``, holding an app role; :class:`ApiError`
    401 without a readable principal, 403 without an app role."""
    try:
        principal = parse_principal(headers)
    except PrincipalError as exc:
        raise ApiError(401, "unauthenticated", str(exc)) from None
    if not principal.has_any_role:
        raise ApiError(
            403, "forbidden", "the caller has none of the roles Admin, Contributor, Viewer"
        )
    return principal


def _caller(
    request: Request, _header: Annotated[str | None, Security(principal_header)] = None
) -> Principal:
    return principal_from(request.headers)


def _admin(principal: Annotated[Principal, Depends(_caller)]) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "only administrators may do this")
    return principal


def _editor(principal: Annotated[Principal, Depends(_caller)]) -> Principal:
    if not (principal.is_admin or principal.is_contributor):
        raise ApiError(403, "forbidden", "only administrators and contributors may do this")
    return principal


#: Any caller with an app role (Admin, Contributor or Viewer).
Caller = Annotated[Principal, Depends(_caller)]
#: An administrator.
AdminCaller = Annotated[Principal, Depends(_admin)]
#: An administrator or a contributor (per-connection rules still apply).
EditorCaller = Annotated[Principal, Depends(_editor)]


def may_use(principal: Principal, connection: Connection | None) -> bool:
    """Whether ``principal`` may use ``connection`` for exports (``None``: it was deleted)."""
    if principal.is_admin:
        return True
    return (
        connection is not None
        and principal.is_contributor
        and connection.usable_by is UsableBy.ADMINS_AND_CONTRIBUTORS
    )


def require_use(principal: Principal, connection: Connection | None) -> None:
    """:class:`ApiError` 403 unless :func:`may_use`."""
    if not may_use(principal, connection):
        if connection is None:
            raise ApiError(403, "forbidden", "the export's connection was deleted")
        raise ApiError(
            403,
            "connection_not_usable",
            f"connection '{connection.display_name}' is usable by administrators only",
        )


def actor(principal: Principal) -> Actor:
    """The caller as recorded on records (who and when)."""
    return Actor(id=principal.id, name=principal.name)
