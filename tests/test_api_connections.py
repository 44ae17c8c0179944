"""Connections over HTTP: consent, status, sharing, Sign in with Snapchat, deletion."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.secrets import refresh_token_secret_name
from shared.services import Services
from tests.support import (
    ADMIN,
    CALLBACK,
    CONTRIBUTOR,
    OTHER_ADMIN,
    api_client,
    call_callback,
    code_and_state,
    export_body,
    export_folder,
    ready_connection,
    snap_redirect,
)


def create(services: Services, **body: object) -> str:
    answer = api_client().post(
        "/api/connections",
        json={"display_name": "Snap", "privacy_consent": True, **body},
        headers=ADMIN,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_consent_is_required_and_nothing_is_saved_without_it(services: Services) -> None:
    client = api_client()
    for body in (
        {"display_name": "Snap"},
        {"display_name": "Snap", "privacy_consent": False},
        {"display_name": "Snap", "privacy_consent": "yes"},
    ):
        answer = client.post("/api/connections", json=body, headers=ADMIN)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "validation_error"
        assert error["fields"] == ["privacy_consent"]
        assert "privacy_consent" in error["message"]
    assert list(services.state.names(layout.CONNECTIONS_PREFIX)) == []


def test_create_records_consent_and_status_names_what_is_missing(services: Services) -> None:
    client = api_client()
    answer = client.post(
        "/api/connections",
        json={
            "display_name": " Snap EU ",
            "usable_by": "admins_and_contributors",
            "privacy_consent": True,
        },
        headers=ADMIN,
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["display_name"] == "Snap EU"
    assert body["usable_by"] == "admins_and_contributors"
    assert body["privacy_consent"]["id"] == "oid-admin"
    assert body["privacy_consent"]["name"] == "Ada Admin"
    assert body["missing"] == ["snapchat_sign_in", "export_user"]
    assert body["status"] == "missing_snapchat_sign_in_and_export_user"
    user = client.post(f"/api/connections/{body['id']}/export-user", headers=OTHER_ADMIN).json()
    assert user["status"] == "missing_snapchat_sign_in"
    assert user["export_user"]["id"] == "oid-admin-2"


def test_validation_errors_name_the_field(services: Services) -> None:
    client = api_client()
    answer = client.post(
        "/api/connections",
        json={"display_name": "", "usable_by": "everyone", "privacy_consent": True, "x": 1},
        headers=ADMIN,
    )
    assert answer.status_code == 422
    assert sorted(answer.json()["error"]["fields"]) == ["display_name", "usable_by", "x"]
    assert "everyone" not in answer.text


def test_patch_changes_name_and_sharing(services: Services) -> None:
    client = api_client()
    connection_id = create(services)
    answer = client.patch(
        f"/api/connections/{connection_id}",
        json={"display_name": "Renamed", "usable_by": "admins_and_contributors"},
        headers=ADMIN,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["display_name"] == "Renamed"
    shown = client.get(f"/api/connections/{connection_id}", headers=CONTRIBUTOR)
    assert shown.json() == {"id": connection_id, "display_name": "Renamed", "type": "snapchat"}
    for body, field in (({"usable_by": None}, "usable_by"), ({"type": "x"}, "type")):
        bad = client.patch(f"/api/connections/{connection_id}", json=body, headers=ADMIN)
        assert bad.status_code == 422 and bad.json()["error"]["fields"] == [field]
    missing = client.patch("/api/connections/nope", json={"display_name": "x"}, headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_authorize_redirects_to_snap_with_a_stored_single_use_state(
    services: Services, sandbox: SnapSandbox
) -> None:
    connection_id = create(services)
    url = urlsplit(snap_redirect(api_client(), connection_id, ADMIN))
    assert f"{url.scheme}://{url.netloc}{url.path}" == sandbox.url + "/login/oauth2/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == "sandbox-client-id"
    assert query["redirect_uri"] == "http://127.0.0.1:7071/api/oauth/snapchat/callback"
    assert query["response_type"] == "code"
    assert query["scope"] == "snapchat-marketing-api"
    pending = services.state.get(layout.oauth_state(query["state"]))
    assert pending is not None
    assert pending["connection_id"] == connection_id and pending["caller_id"] == "oid-admin"
    expires = datetime.fromisoformat(pending["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)


def _not_signed_in(services: Services, connection_id: str) -> None:
    assert services.secrets.get(refresh_token_secret_name(connection_id)) is None
    document = services.state.get(layout.connection(connection_id))
    assert document is not None and document["signed_in"] is None


def test_bad_reused_expired_and_foreign_states_give_400_and_store_nothing(
    services: Services, sandbox: SnapSandbox
) -> None:
    client = api_client()
    connection_id = create(services)
    params = code_and_state(snap_redirect(client, connection_id, ADMIN))

    unknown = client.get(CALLBACK, params={**params, "state": "x" * 43}, headers=ADMIN)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_state"
    malformed = client.get(CALLBACK, params={**params, "state": "../exports/x"}, headers=ADMIN)
    assert malformed.status_code == 400
    assert client.get(CALLBACK, params={"code": params["code"]}, headers=ADMIN).status_code == 400
    foreign = call_callback(params, OTHER_ADMIN)
    assert foreign.status_code == 400 and b"another user" in foreign.content
    _not_signed_in(services, connection_id)

    # The owner completes it once; the same state again is refused.
    assert call_callback(params, ADMIN).status_code == 200
    services.secrets.delete(refresh_token_secret_name(connection_id))
    reused = client.get(CALLBACK, params=params, headers=ADMIN)
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "invalid_state"
    assert services.secrets.get(refresh_token_secret_name(connection_id)) is None

    # An expired state is refused (and used up).
    other = create(services)
    params = code_and_state(snap_redirect(client, other, ADMIN))
    name = layout.oauth_state(params["state"])
    pending = services.state.get(name)
    assert pending is not None
    services.state.put(name, {**pending, "expires_at": "2020-01-01T00:00:00Z"})
    expired = client.get(CALLBACK, params=params, headers=ADMIN)
    assert expired.status_code == 400 and "expired" in expired.json()["error"]["message"]
    assert services.state.get(name) is None
    _not_signed_in(services, other)


def test_a_code_snap_refuses_or_a_denied_consent_stores_nothing(
    services: Services, sandbox: SnapSandbox
) -> None:
    client = api_client()
    connection_id = create(services)
    params = code_and_state(snap_redirect(client, connection_id, ADMIN))
    refused = client.get(CALLBACK, params={**params, "code": "not-a-code"}, headers=ADMIN)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "sign_in_refused"
    assert "not-a-code" not in refused.text
    _not_signed_in(services, connection_id)

    params = code_and_state(snap_redirect(client, connection_id, ADMIN) + "&sandbox_deny=true")
    denied = call_callback(params, ADMIN)
    assert denied.status_code == 400 and b"access_denied" in denied.content
    _not_signed_in(services, connection_id)


def test_callback_needs_an_administrator(services: Services, sandbox: SnapSandbox) -> None:
    connection_id = create(services)
    params = code_and_state(snap_redirect(api_client(), connection_id, ADMIN))
    assert call_callback(params, {}).status_code == 401
    assert call_callback(params, CONTRIBUTOR).status_code == 403
    _not_signed_in(services, connection_id)
    assert call_callback(params, ADMIN).status_code == 200


def test_deleting_a_connection_removes_secrets_and_deactivates_its_exports(
    services: Services, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    client = api_client()
    connection_id = ready_connection(client)
    kept = ready_connection(client, name="Other")
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="A")
    second = sandbox.create_segment(ad_account_id=ad_account_id, name="B")
    export_folder(services)
    export_id = client.post(
        "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
    ).json()["id"]
    other_id = client.post("/api/exports", json=export_body(kept, second), headers=ADMIN).json()[
        "id"
    ]
    assert services.secrets.get(refresh_token_secret_name(connection_id))

    answer = client.delete(f"/api/connections/{connection_id}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "id": connection_id,
        "deleted": True,
        "exports_deactivated": [export_id],
    }
    assert services.secrets.get(refresh_token_secret_name(connection_id)) is None
    assert services.secrets.get(refresh_token_secret_name(kept))
    assert client.get(f"/api/connections/{connection_id}", headers=ADMIN).status_code == 404
    export = client.get(f"/api/exports/{export_id}", headers=ADMIN).json()
    assert export["status"] == "inactive"
    assert export["inactive_reason"] == "connection 'Snapchat (marketing)' was deleted"
    assert client.get(f"/api/exports/{other_id}", headers=ADMIN).json()["status"] == "active"

    run = client.post(f"/api/exports/{export_id}/runs", headers=ADMIN)
    assert run.status_code == 409 and run.json()["error"]["code"] == "export_inactive"
    assert list(services.state.names(layout.RUNS_PREFIX)) == []
    again = client.delete(f"/api/connections/{connection_id}", headers=ADMIN)
    assert again.status_code == 404

    # Pointing the export at a ready connection makes it active again.
    moved = client.patch(f"/api/exports/{export_id}", json={"connection_id": kept}, headers=ADMIN)
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "active" and moved.json()["inactive_reason"] is None


def test_concurrent_changes_are_not_lost(services: Services) -> None:
    connection_id = create(services)

    def rename(i: int) -> int:
        body = {"display_name": f"Name {i}"}
        return (
            api_client()
            .patch(f"/api/connections/{connection_id}", json=body, headers=ADMIN)
            .status_code
        )

    def add_user() -> int:
        return (
            api_client()
            .post(f"/api/connections/{connection_id}/export-user", headers=OTHER_ADMIN)
            .status_code
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(rename, i) for i in range(6)] + [pool.submit(add_user)]
        assert [f.result() for f in futures] == [200] * 7
    final = api_client().get(f"/api/connections/{connection_id}", headers=ADMIN).json()
    assert final["export_user"]["id"] == "oid-admin-2"
    assert final["display_name"].startswith("Name ")
