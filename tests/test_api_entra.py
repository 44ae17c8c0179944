"""Identity the app verifies (AUTH_MODE=entra): Entra ID tokens checked against the tenant's
keys served by a local double; forged identity headers refused; the local modes refused in
Azure."""

from __future__ import annotations

import base64
import functools
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devtools.snap_sandbox import SnapSandbox
from shared.config import ConfigError, Settings, refuse_local_auth_in_azure
from shared.services import Services, build_services, set_services
from tests.entra_double import CLIENT_ID, TENANT_ID, EntraDouble, new_key
from tests.support import (
    ADMIN,
    CALLBACK,
    api_client,
    code_and_state,
    snap_redirect,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def entra() -> Iterator[EntraDouble]:
    with EntraDouble() as double:
        yield double


def _services(settings: Settings, **values: str) -> Services:
    merged = Settings.from_env({}, local_settings=None, overrides={**settings.values, **values})
    return build_services(merged, create_resources=True)


@pytest.fixture
def entra_services(settings: Settings, entra: EntraDouble) -> Iterator[Services]:
    built = _services(settings, **entra.settings())
    set_services(built)
    try:
        yield built
    finally:
        set_services(None)


@functools.cache
def new_key_once() -> rsa.RSAPrivateKey:
    """One key the tenant does not publish (RSA keys take a while to make)."""
    return new_key()


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_authenticates_with_its_app_roles(
    entra_services: Services, entra: EntraDouble
) -> None:
    client = api_client()
    admin = client.get("/api/connections", headers=bearer(entra.token("Admin")))
    assert admin.status_code == 200, admin.text
    viewer = bearer(entra.token("Viewer", oid="oid-viewer"))
    assert client.get("/api/exports", headers=viewer).status_code == 200
    refused = client.post(
        "/api/connections",
        json={"display_name": "x", "privacy_consent": True},
        headers=viewer,
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    created = client.post(
        "/api/connections",
        json={"display_name": "Snapchat", "privacy_consent": True},
        headers=bearer(entra.token("Admin", oid="oid-erin")),
    )
    assert created.status_code == 201
    assert created.json()["privacy_consent"]["id"] == "oid-erin"
    assert created.json()["privacy_consent"]["name"] == "Erin Entra"


def test_a_forged_principal_header_without_a_token_is_refused(
    entra_services: Services, entra: EntraDouble
) -> None:
    answer = api_client().get("/api/connections", headers=ADMIN)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert "X-MS-CLIENT-PRINCIPAL" in answer.json()["error"]["message"]
    # ... and a valid token of a Viewer is not raised to Admin by the header.
    mixed = {**ADMIN, **bearer(entra.token("Viewer"))}
    assert api_client().get("/api/connections", headers=mixed).status_code == 403


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"issued_ago_s": 7200, "lifetime_s": 3600}, "expired"),
        ({"issued_ago_s": -600}, "not valid yet"),
        ({"audience": "api://another-app"}, "audience"),
        ({"audience": "00000003-0000-0000-c000-000000000000"}, "audience"),
        ({"issuer": "https://login.microsoftonline.com/another-tenant/v2.0"}, "tenant"),
        ({"tid": "another-tenant"}, "tenant"),
        ({"key": new_key()}, "signature"),
        ({"kid": "a-key-the-tenant-does-not-publish"}, "does not publish"),
    ],
)
def test_tokens_that_fail_a_check_are_refused(
    entra_services: Services, entra: EntraDouble, change: dict[str, object], reason: str
) -> None:
    token = entra.token("Admin", **change)  # type: ignore[arg-type]
    answer = api_client().get("/api/connections", headers=bearer(token))
    assert answer.status_code == 401, answer.text
    assert reason in answer.json()["error"]["message"]
    assert token not in answer.text


def test_unsigned_and_malformed_tokens_are_refused(
    entra_services: Services, entra: EntraDouble
) -> None:
    claims = jwt.decode(entra.token("Admin"), options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": entra.kid})
    guess = "a-shared-secret-guess-of-32-bytes-or-more"
    hs256 = jwt.encode(claims, guess, algorithm="HS256", headers={"kid": entra.kid})
    for token in (unsigned, hs256):
        answer = api_client().get("/api/connections", headers=bearer(token))
        assert answer.status_code == 401
        assert "RS256" in answer.json()["error"]["message"]
    garbage = api_client().get("/api/connections", headers=bearer("not.a.jwt"))
    assert garbage.status_code == 401
    assert "not a JSON Web Token" in garbage.json()["error"]["message"]


def test_a_token_header_pyjwt_refuses_is_401_not_500(entra_services: Services) -> None:
    # A header with a kid that is not a string: PyJWT raises InvalidTokenError, not its
    # subclass DecodeError (this answered 500 with a stack trace).
    for kid in ("[1]", "{}", "null"):
        header = base64url(f'{{"alg":"RS256","kid":{kid}}}'.encode())
        token = f"{header}.{base64url(b'{}')}.AA"
        answer = api_client().get("/api/me", headers=bearer(token))
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthenticated", answer.text


def test_role_values_that_are_not_strings_are_ignored(
    entra_services: Services, entra: EntraDouble
) -> None:
    # A roles list holding lists or objects gave a 500 (unhashable); such values name no role.
    odd = entra.token(roles=[["Admin"], {"Admin": 1}, "Viewer"])
    me = api_client().get("/api/me", headers=bearer(odd))
    assert me.status_code == 200, me.text
    assert me.json()["roles"] == ["Viewer"]
    none = entra.token(roles=[["Admin"]])
    assert api_client().get("/api/exports", headers=bearer(none)).status_code == 403


def test_made_up_key_ids_do_not_make_the_app_fetch_keys_each_time(
    entra_services: Services, entra: EntraDouble
) -> None:
    # Every forged token with an unknown kid used to make PyJWKClient fetch the tenant's
    # keys again (PyJWT 2.10): a request flood became a flood on the key endpoint.
    assert api_client().get("/api/me", headers=bearer(entra.token("Admin"))).status_code == 200
    before = entra.requests
    for _ in range(20):
        forged = entra.token("Admin", key=new_key_once(), kid=uuid.uuid4().hex)
        answer = api_client().get("/api/me", headers=bearer(forged))
        assert answer.status_code == 401
        assert "does not publish" in answer.json()["error"]["message"]
    assert entra.requests - before <= 1


def test_a_token_without_app_roles_is_forbidden(
    entra_services: Services, entra: EntraDouble
) -> None:
    answer = api_client().get("/api/exports", headers=bearer(entra.token()))
    assert answer.status_code == 403
    assert "none of the roles" in answer.json()["error"]["message"]
    unknown_role = api_client().get("/api/exports", headers=bearer(entra.token("Owner")))
    assert unknown_role.status_code == 403


def test_the_token_store_id_token_of_a_browser_session_authenticates(
    entra_services: Services, entra: EntraDouble
) -> None:
    id_token = entra.token("Admin", audience=CLIENT_ID)
    answer = api_client().get("/api/connections", headers={"X-MS-TOKEN-AAD-ID-TOKEN": id_token})
    assert answer.status_code == 200, answer.text
    # A Graph access token in the store (another audience) does not stop the ID token.
    graph = entra.token("Admin", audience="https://graph.microsoft.com")
    both = {"X-MS-TOKEN-AAD-ACCESS-TOKEN": graph, "X-MS-TOKEN-AAD-ID-TOKEN": id_token}
    assert api_client().get("/api/connections", headers=both).status_code == 200


def test_sign_in_with_snapchat_is_bound_to_the_token_holder(
    entra_services: Services, entra: EntraDouble, sandbox: SnapSandbox
) -> None:
    client = api_client()
    ada = bearer(entra.token("Admin", oid="oid-ada", name="Ada"))
    created = client.post(
        "/api/connections", json={"display_name": "Snap", "privacy_consent": True}, headers=ada
    )
    connection_id = created.json()["id"]
    params = code_and_state(snap_redirect(client, connection_id, ada))
    # The callback's own answers (not the host's): no state, another admin, then the owner.
    assert client.get(CALLBACK, headers=ada).json()["error"]["code"] == "invalid_state"
    other = bearer(entra.token("Admin", oid="oid-bo", name="Bo"))
    foreign = client.get(CALLBACK, params=params, headers=other)
    assert foreign.status_code == 400 and "another user" in foreign.json()["error"]["message"]
    assert client.get(CALLBACK, params=params).status_code == 401
    done = client.get(CALLBACK, params=params, headers=ada)
    assert done.status_code == 200, done.text
    status = client.get(f"/api/connections/{connection_id}", headers=ada).json()
    assert status["signed_in"]["id"] == "oid-ada"


def test_unreachable_keys_give_503_not_401(settings: Settings) -> None:
    with EntraDouble() as down:
        down.available = False
        built = _services(settings, **down.settings())
        set_services(built)
        try:
            answer = api_client().get("/api/connections", headers=bearer(down.token("Admin")))
        finally:
            set_services(None)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "identity_unavailable"


def test_entra_mode_without_its_settings_fails_closed(settings: Settings) -> None:
    built = _services(settings, AUTH_MODE="entra")
    set_services(built)
    try:
        answer = api_client().get("/api/connections", headers=ADMIN)
    finally:
        set_services(None)
    assert answer.status_code == 500
    assert "ENTRA_TENANT_ID" in answer.json()["error"]["message"]


def test_local_dev_roles_act_for_requests_without_identity(settings: Settings) -> None:
    built = _services(settings, AUTH_MODE="entra", LOCAL_DEV_ROLES="Viewer")
    set_services(built)
    try:
        client = api_client()
        assert client.get("/api/exports").status_code == 200
        write = client.post("/api/connections", json={"display_name": "x"})
        assert write.status_code == 403
    finally:
        set_services(None)
    plain = _services(settings, AUTH_MODE="local")
    set_services(plain)
    try:
        answer = api_client().get("/api/exports")
        assert answer.status_code == 401
    finally:
        set_services(None)


def test_local_mode_answers_only_requests_addressed_to_a_loopback_name(
    settings: Settings, entra: EntraDouble
) -> None:
    # A page at evil.example re-pointed at 127.0.0.1 (DNS rebinding) is same-origin with
    # itself: it could send X-Requested-With and act as the local administrator.
    set_services(_services(settings, AUTH_MODE="local", LOCAL_DEV_ROLES="Admin"))
    try:
        for host in ("localhost:7071", "127.0.0.1", "[::1]:7071", "LOCALHOST"):
            answer = api_client().get("/api/exports", headers={"Host": host})
            assert answer.status_code == 200, (host, answer.text)
        for host in ("evil.example", "evil.example:7071", "127.0.0.1.evil.example", ""):
            for headers in ({}, ADMIN):
                answer = api_client().get("/api/exports", headers={**headers, "Host": host})
                assert answer.status_code == 403, (host, answer.text)
                assert answer.json()["error"]["code"] == "local_mode_host"
            forged = api_client().post(
                "/api/connections",
                json={"display_name": "x", "privacy_consent": True},
                headers={"Host": host, "X-Requested-With": "XMLHttpRequest"},
            )
            assert forged.status_code == 403
    finally:
        set_services(None)
    # With verified identity (Azure) the name the caller used does not matter.
    set_services(_services(settings, **entra.settings()))
    try:
        token = bearer(entra.token("Admin"))
        answer = api_client().get("/api/exports", headers={**token, "Host": "snapaud.example"})
        assert answer.status_code == 200, answer.text
    finally:
        set_services(None)


@pytest.mark.parametrize(
    "local", [{"AUTH_MODE": "local"}, {"LOCAL_DEV_ROLES": "Admin"}, {"AUTH_MODE": "Local"}]
)
def test_the_local_modes_are_refused_on_an_azure_host(local: dict[str, str]) -> None:
    azure = {"WEBSITE_INSTANCE_ID": "a1b2c3", **local}
    with pytest.raises(ConfigError) as refused:
        refuse_local_auth_in_azure(azure)
    assert next(iter(local)) in str(refused.value)
    refuse_local_auth_in_azure(local)  # on a developer's machine: fine
    refuse_local_auth_in_azure({"WEBSITE_INSTANCE_ID": "a1b2c3", "AUTH_MODE": "entra"})


def test_the_function_app_does_not_load_on_azure_with_a_local_mode() -> None:
    code = "import function_app"
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "WEBSITE_SITE_NAME": "snap-sync"}
    refused = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "LOCAL_DEV_ROLES": "Admin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "LOCAL_DEV_ROLES" in refused.stderr
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, timeout=60
    )
    assert loaded.returncode == 0, loaded.stderr


def test_settings_name_the_tenant_authority_and_audiences(entra: EntraDouble) -> None:
    from shared.api.entra import EntraConfig

    config = EntraConfig.from_settings(
        Settings.from_env({}, local_settings=None, overrides=entra.settings())
    )
    assert config.keys_url == f"{entra.authority}/{TENANT_ID}/discovery/v2.0/keys"
    assert config.audiences == (f"api://{CLIENT_ID}", CLIENT_ID)
    public = EntraConfig.from_settings(
        Settings.from_env(
            {}, local_settings=None, overrides={**entra.settings(), "ENTRA_AUTHORITY": ""}
        )
    )
    assert public.issuers == (
        f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",
        f"https://sts.windows.net/{TENANT_ID}/",
    )
    assert os.environ.get("WEBSITE_INSTANCE_ID") is None
