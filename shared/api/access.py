"""Who may do what: authentication of every request and the role rules of the API.

Authentication (:func:`authenticate`): in Azure (``AUTH_MODE=entra``, the default) only a
Microsoft Entra ID token verified by the app counts (:mod:`shared.api.entra`); a request
without one gets 401, whatever identity headers it carries. Locally (``AUTH_MODE=local``, or
``LOCAL_DEV_ROLES`` set; both refused on an Azure host) the ``X-MS-CLIENT-PRINCIPAL`` header is
taken as sent, and a request with no identity acts as the local user of ``LOCAL_DEV_ROLES``.

Rules (Customer Insights' roles,
https://learn.microsoft.com/dynamics365/customer-insights/data/permissions):

* **Admin** may do everything.
* **Contributor** may read exports and runs; create, change, delete and run exports whose
  connection is usable by contributors (``usable_by: admins_and_contributors``); and list
  or get those connections, seeing only their id, name and type.
* **Viewer** may read exports and runs.

No proven identity gives 401; an identity without one of these app roles, or a role that does
not allow the action, gives 403.

Writes from a browser (:func:`require_write_header`): a browser sends its App Service
Authentication session cookie (and locally, the ``LOCAL_DEV_ROLES`` user needs no identity at
all) with any request, a form posted by another site included. So a POST, PUT, PATCH or DELETE
must also carry a header such a form cannot: ``X-Requested-With: XMLHttpRequest`` (the console
sends it), ``Authorization: Bearer`` (scripts), or locally ``X-MS-CLIENT-PRINCIPAL``; a browser
sends none of them cross-site without a CORS preflight, which this app never grants (OWASP,
custom request headers:
https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html#employing-custom-request-headers-for-ajaxapi).
App Service Authentication answers 401, not a redirect to sign in, to a request carrying
``X-Requested-With: XMLHttpRequest`` when its session has ended
(https://learn.microsoft.com/azure/app-service/overview-authentication-authorization).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.api import entra
from shared.api.errors import ApiError
from shared.api.principal import (
    PRINCIPAL_HEADER,
    Principal,
    PrincipalError,
    local_principal,
    parse_principal,
    principal_from_claims,
)
from shared.config import AUTH_MODE_LOCAL, Settings
from shared.models import Actor, Connection, UsableBy

log = logging.getLogger(__name__)

entra_bearer = HTTPBearer(
    scheme_name="EntraID",
    bearerFormat="JWT",
    description=(
        "A Microsoft Entra ID access token for this app (audience `api://<client id>`), or a "
        "browser session of App Service Authentication with its token store. App roles "
        "`Admin`, `Contributor`, `Viewer` in the `roles` claim. Local development only "
        "(`AUTH_MODE=local`): the `X-MS-CLIENT-PRINCIPAL` header, or `LOCAL_DEV_ROLES`."
    ),
    auto_error=False,
)


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message)


#: Host names a local-mode request may be addressed to (loopback only).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _host_name(host: str) -> str | None:
    """The name of a ``Host`` header without its port, lowercased (``[::1]:7071`` ->
    ``::1``); ``None`` when there is none or it does not parse."""
    try:
        return urlsplit(f"//{host.strip()}").hostname
    except ValueError:
        return None


def require_loopback_host(headers: Mapping[str, str]) -> None:
    """:class:`ApiError` 403 ``local_mode_host`` unless the request is addressed to a loopback
    name. Local mode trusts identity headers, or none at all with ``LOCAL_DEV_ROLES``: a web
    page whose own name an attacker re-points at 127.0.0.1 (DNS rebinding) would otherwise act
    as the local administrator, whose connections may hold real Snap sign-ins. A browser
    always sends the name it resolved as ``Host``
    (https://developer.mozilla.org/docs/Web/Security/Attacks/DNS_rebinding)."""
    if _host_name(headers.get("host") or "") not in LOCAL_HOSTS:
        raise ApiError(
            403,
            "local_mode_host",
            "in local mode (AUTH_MODE=local, LOCAL_DEV_ROLES) the app answers only requests "
            "addressed to localhost, 127.0.0.1 or [::1]",
        )


def authenticate(headers: Mapping[str, str], settings: Settings) -> Principal:
    """The caller of a request with ``headers`` (case-insensitive), by ``settings``' mode.

    Raises :class:`ApiError` 401 without a proven identity, 403 in local mode for a request
    not addressed to a loopback name (:func:`require_loopback_host`), 503 when the tenant's
    signing keys cannot be fetched; :class:`~shared.config.ConfigError` when the Entra
    settings are missing.
    """
    tokens = entra.presented_tokens(headers)
    if settings.auth_mode == AUTH_MODE_LOCAL:
        require_loopback_host(headers)
        if headers.get(PRINCIPAL_HEADER):
            try:
                return parse_principal(headers)
            except PrincipalError as exc:
                raise _unauthenticated(str(exc)) from None
        if not tokens or not settings.get("ENTRA_TENANT_ID"):
            roles = settings.local_dev_roles
            if not roles:
                raise _unauthenticated("no authenticated principal")
            try:
                return local_principal(roles)
            except ValueError as exc:
                raise ApiError(500, "configuration_error", str(exc)) from None
    config = entra.EntraConfig.from_settings(settings)
    if not tokens:
        forged = (
            " (an X-MS-CLIENT-PRINCIPAL header is not proof)"
            if headers.get(PRINCIPAL_HEADER)
            else ""
        )
        raise _unauthenticated(f"no Microsoft Entra ID token{forged}")
    try:
        claims = entra.first_verified(tokens, config)
    except entra.InvalidToken as exc:
        raise _unauthenticated(str(exc)) from None
    except entra.KeysUnavailable as exc:
        log.warning("cannot verify tokens: %s", exc)
        raise ApiError(
            503, "identity_unavailable", "Microsoft Entra ID's signing keys cannot be read now"
        ) from None
    try:
        return principal_from_claims(claims)
    except PrincipalError as exc:
        raise _unauthenticated(str(exc)) from None


#: The header the console sends with every request (App Service Authentication's AJAX marker).
REQUESTED_WITH = "X-Requested-With"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def require_write_header(method: str, headers: Mapping[str, str], settings: Settings) -> None:
    """:class:`ApiError` 403 ``requested_with_missing`` when a write (POST, PUT, PATCH, DELETE)
    carries none of the headers a cross-site form cannot send (see the module docstring)."""
    if method.upper() not in _WRITE_METHODS:
        return
    if (headers.get(REQUESTED_WITH) or "").strip().lower() == "xmlhttprequest":
        return
    scheme, _, token = (headers.get(entra.BEARER) or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return
    if settings.auth_mode == AUTH_MODE_LOCAL and headers.get(PRINCIPAL_HEADER):
        return
    raise ApiError(
        403,
        "requested_with_missing",
        "a change sent from a browser session must carry the header X-Requested-With: "
        "XMLHttpRequest (the console sends it); scripts send Authorization: Bearer <token>",
    )


def principal_from(headers: Mapping[str, str]) -> Principal:
    """The authenticated caller of a request with ``headers``, holding an app role;
    :class:`ApiError` 401 without a proven identity, 403 without an app role."""
    from shared.services import get_services

    principal = authenticate(headers, get_services().settings)
    if not principal.has_any_role:
        raise ApiError(
            403, "forbidden", "the caller has none of the roles Admin, Contributor, Viewer"
        )
    return principal


def _caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(entra_bearer)] = None,
) -> Principal:
    from shared.services import get_services

    principal = principal_from(request.headers)
    require_write_header(request.method, request.headers, get_services().settings)
    return principal


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
