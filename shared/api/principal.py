"""Who is calling: a :class:`Principal` (id, name, app roles) and where it comes from.

* From a verified Microsoft Entra ID token (:func:`principal_from_claims`; the token is
  checked by :mod:`shared.api.entra`): the object id ``oid`` (``sub`` when absent), the name
  ``name`` / ``preferred_username`` (``azp``/``appid`` for an application), the app roles
  ``roles``. This is the only source in Azure.
* Local development only (``AUTH_MODE=local``, refused on an Azure host): the
  ``X-MS-CLIENT-PRINCIPAL`` header as App Service Authentication would write it, taken as sent
  (:func:`parse_principal`), or a local user with ``LOCAL_DEV_ROLES``
  (:func:`local_principal`). The header is base64 of ``{"auth_typ", "name_typ", "role_typ",
  "claims": [{"typ", "val"}, ...]}``
  (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities).

Roles copy Customer Insights' administrator / contributor / viewer model
(https://learn.microsoft.com/dynamics365/customer-insights/data/permissions).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
PRINCIPAL_ID_HEADER = "X-MS-CLIENT-PRINCIPAL-ID"
OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
NAME_CLAIMS = ("name", "preferred_username")


class Role(enum.StrEnum):
    """App roles defined on the Entra app registration (values are case-sensitive)."""

    ADMIN = "Admin"
    CONTRIBUTOR = "Contributor"
    VIEWER = "Viewer"


@dataclass(frozen=True)
class Principal:
    """The caller: a stable ``id`` (Entra object id), a display ``name`` and app ``roles``."""

    id: str
    name: str | None
    roles: frozenset[Role]

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_contributor(self) -> bool:
        """Holds Contributor (an Admin may do everything a Contributor may, checked apart)."""
        return Role.CONTRIBUTOR in self.roles

    @property
    def has_any_role(self) -> bool:
        return bool(self.roles)


class PrincipalError(ValueError):
    """The principal header is missing or cannot be read (the caller is not authenticated)."""


#: The local user of ``LOCAL_DEV_ROLES``.
LOCAL_DEV_USER_ID = "local-developer"


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The caller described by a verified token's ``claims``; unknown role values are ignored.
    Raises :class:`PrincipalError` when the token names nobody (no ``oid`` and no ``sub``)."""
    caller_id = claims.get("oid") or claims.get("sub")
    if not isinstance(caller_id, str) or not caller_id:
        raise PrincipalError("the token names no caller (no oid or sub claim)")
    name = next(
        (
            str(claims[key])
            for key in ("name", "preferred_username", "azp", "appid")
            if isinstance(claims.get(key), str) and claims[key]
        ),
        None,
    )
    roles = claims.get("roles")
    values = roles if isinstance(roles, list) else []
    return Principal(
        id=caller_id,
        name=name,
        roles=frozenset(
            Role(v) for v in values if isinstance(v, str) and v in Role._value2member_map_
        ),
    )


def local_principal(roles: tuple[str, ...]) -> Principal:
    """The local development user with ``roles`` (names of :class:`Role`).
    Raises :class:`ValueError` naming an unknown role."""
    unknown = [r for r in roles if r not in Role._value2member_map_]
    if unknown:
        raise ValueError(
            f"LOCAL_DEV_ROLES names unknown role(s) {', '.join(unknown)}; use Admin, "
            "Contributor or Viewer"
        )
    return Principal(
        id=LOCAL_DEV_USER_ID, name="Local developer", roles=frozenset(Role(r) for r in roles)
    )


def parse_principal(headers: Mapping[str, str]) -> Principal:
    """The caller described by ``headers`` (a case-insensitive mapping).

    Caller id: the object-id claim (``.../objectidentifier`` or ``oid``), else the
    ``X-MS-CLIENT-PRINCIPAL-ID`` header, else the name. Name: the claim of ``name_typ``, else
    ``name`` or ``preferred_username``. Unknown role values are ignored.
    Raises :class:`PrincipalError` when the header is missing, undecodable, or names nobody.
    """
    raw = headers.get(PRINCIPAL_HEADER)
    if not raw:
        raise PrincipalError("no authenticated principal")
    document = _decode(raw)
    claims = _claims(document)
    role_typ = document.get("role_typ")
    role_types = {"roles", role_typ} if isinstance(role_typ, str) else {"roles"}
    roles = frozenset(
        Role(val) for typ, val in claims if typ in role_types and val in Role._value2member_map_
    )
    name_typ = document.get("name_typ")
    name = _first(claims, (name_typ,) if isinstance(name_typ, str) else ()) or _first(
        claims, NAME_CLAIMS
    )
    caller_id = _first(claims, OBJECT_ID_CLAIMS) or headers.get(PRINCIPAL_ID_HEADER) or name
    if not caller_id:
        raise PrincipalError("the principal has no object id and no name")
    return Principal(id=caller_id, name=name, roles=roles)


def _decode(raw: str) -> dict[str, Any]:
    try:
        padded = raw.strip() + "=" * (-len(raw.strip()) % 4)
        document = json.loads(base64.b64decode(padded, validate=False))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise PrincipalError("the principal header is not base64 JSON") from None
    if not isinstance(document, dict):
        raise PrincipalError("the principal header is not a JSON object")
    return document


def _claims(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    claims = document.get("claims")
    if not isinstance(claims, list):
        return []
    return [
        (str(c["typ"]), str(c["val"]))
        for c in claims
        if isinstance(c, dict) and isinstance(c.get("typ"), str) and c.get("val") is not None
    ]


def _first(claims: list[tuple[str, str]], types: tuple[str, ...]) -> str | None:
    for wanted in types:
        for typ, val in claims:
            if typ == wanted and val:
                return val
    return None
