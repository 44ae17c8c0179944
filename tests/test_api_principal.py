"""Reading the App Service Authentication principal (``X-MS-CLIENT-PRINCIPAL``)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.api.principal import PrincipalError, Role, parse_principal
from shared.services import Services
from tests.support import NO_ROLE, OID_TYP, ROLE_TYP, api_client, principal


def header(document: Any) -> dict[str, str]:
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(document).encode()).decode()}


def test_roles_come_from_role_typ_and_roles_claims() -> None:
    document = {
        "auth_typ": "aad",
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": ROLE_TYP,
        "claims": [
            {"typ": ROLE_TYP, "val": "Viewer"},
            {"typ": "roles", "val": "Contributor"},
            {"typ": "groups", "val": "Admin"},
            {"typ": "roles", "val": "admin"},
            {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "val": "ada"},
            {"typ": "name", "val": "Ada Lovelace"},
            {"typ": "oid", "val": "0000-1111"},
        ],
    }
    caller = parse_principal(header(document))
    assert caller.roles == {Role.VIEWER, Role.CONTRIBUTOR}
    assert caller.id == "0000-1111" and caller.name == "ada"
    assert not caller.is_admin and caller.is_contributor


def test_caller_id_falls_back_to_the_id_header_then_the_name() -> None:
    no_oid = principal("Admin", oid=None, name="Ada")
    assert parse_principal(no_oid).id == "Ada"
    with_header = {**no_oid, "X-MS-CLIENT-PRINCIPAL-ID": "id-from-header"}
    assert parse_principal(with_header).id == "id-from-header"
    long_oid = principal("Admin", oid="oid-1", role_typ=ROLE_TYP)
    assert parse_principal(long_oid).id == "oid-1"
    assert parse_principal(long_oid).roles == {Role.ADMIN}
    only_username = header({"claims": [{"typ": "preferred_username", "val": "ada@contoso"}]})
    assert parse_principal(only_username).name == "ada@contoso"
    assert OID_TYP.endswith("objectidentifier")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-MS-CLIENT-PRINCIPAL": ""},
        {"X-MS-CLIENT-PRINCIPAL": "%%%not base64%%%"},
        {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(b"not json").decode()},
        header(["a", "list"]),
        header({"claims": [{"typ": "roles", "val": "Admin"}]}),
    ],
)
def test_unreadable_principals_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(PrincipalError):
        parse_principal(headers)


def test_api_answers_401_without_and_403_without_a_role(services: Services) -> None:
    client = api_client()
    unreadable = client.get("/api/exports", headers={"X-MS-CLIENT-PRINCIPAL": "!!"})
    assert unreadable.status_code == 401
    assert unreadable.json()["error"]["code"] == "unauthenticated"
    no_role = client.get("/api/exports", headers=NO_ROLE)
    assert no_role.status_code == 403 and no_role.json()["error"]["code"] == "forbidden"
