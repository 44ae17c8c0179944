"""Who is calling: the App Service Authentication principal and its app roles.

In Azure, App Service Authentication (Entra ID) puts the signed-in caller in the
``X-MS-CLIENT-PRINCIPAL`` header: base64 of ``{"auth_typ", "name_typ", "role_typ",
"claims": [{"typ", "val"}, ...]}``
(https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities). Only the
platform sets it; locally, tests send it themselves.

Roles are the ``val`` of claims whose ``typ`` is the principal's ``role_typ`` or ``roles``
(Entra app roles often surface as ``roles``). The app roles copy Customer Insights'
administrator / contributor / viewer model
(https://learn.microsoft.com/dynamics365/customer-insights/data/user-roles).
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
