"""The API operations the console needs, each usable on its own: who am I, the export folders
and their segments, a connection's ad accounts and audiences, a run's live progress, sign-in
returning to the console; and the guard on browser writes (X-Requested-With)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.datastructures import Headers

import function_app
from devtools.snap_sandbox import DEFAULT_AD_ACCOUNT_ID, SnapSandbox
from shared import layout
from shared.api.access import require_write_header
from shared.api.errors import ApiError
from shared.config import Settings
from shared.services import Services, set_services
from tests.conftest import exports_container
from tests.entra_double import CLIENT_ID, EntraDouble
from tests.support import (
    ADMIN,
    CALLBACK,
    CONTRIBUTOR,
    NO_ROLE,
    VIEWER,
    api_client,
    export_folder,
    person,
    run_to_end,
    seed_connection,
    seed_export,
    services_with,
    shared_connection,
    start_run_holding_batches,
    write_ci_export,
)

XRW = {"X-Requested-With": "XMLHttpRequest"}


def error(answer: Any, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


# -- GET /api/me ---------------------------------------------------------------------------


def test_me_says_who_calls_with_which_roles(services: Services) -> None:
    client = api_client()
    assert client.get("/api/me", headers=ADMIN).json() == {
        "id": "oid-admin",
        "name": "Ada Admin",
        "roles": ["Admin"],
        "auth_mode": "local",
    }
    assert client.get("/api/me", headers=VIEWER).json()["roles"] == ["Viewer"]
    error(client.get("/api/me", headers=NO_ROLE), 403, "forbidden")
    error(client.get("/api/me"), 401, "unauthenticated")


def test_me_of_the_local_dev_user(settings: Settings) -> None:
    services_with(settings, LOCAL_DEV_ROLES="Contributor,Viewer")
    try:
        me = api_client().get("/api/me").json()
    finally:
        set_services(None)
    assert me == {
        "id": "local-developer",
        "name": "Local developer",
        "roles": ["Contributor", "Viewer"],
        "auth_mode": "local",
    }


# -- the guard on browser writes -------------------------------------------------------------


def test_writes_need_a_header_a_cross_site_form_cannot_send() -> None:
    local = Settings.from_env({}, local_settings=None, overrides={"AUTH_MODE": "local"})
    entra = Settings.from_env({}, local_settings=None, overrides={"AUTH_MODE": "entra"})

    def check(method: str, headers: dict[str, str], settings: Settings) -> None:
        require_write_header(method, Headers(headers), settings)

    for method in ("POST", "PUT", "PATCH", "DELETE", "post"):
        with pytest.raises(ApiError) as refused:
            check(method, {}, local)
        assert (refused.value.status, refused.value.code) == (403, "requested_with_missing")
        check(method, {"X-Requested-With": "XMLHttpRequest"}, entra)
        check(method, {"x-requested-with": "xmlhttprequest"}, entra)
        check(method, {"Authorization": "Bearer abc"}, entra)
        check(method, {"X-MS-CLIENT-PRINCIPAL": "e30="}, local)
        # Locally a principal header is set by the caller itself; in Azure App Service
        # Authentication adds it to every session request, so it proves nothing there.
        for refused_headers in (
            {"X-MS-CLIENT-PRINCIPAL": "e30="},
            {"Authorization": "Basic abc"},
            {"Authorization": "Bearer "},
            {"X-Requested-With": "fetch"},
        ):
            with pytest.raises(ApiError):
                check(method, refused_headers, entra)
    for method in ("GET", "HEAD", "OPTIONS"):
        check(method, {}, entra)


def test_the_local_dev_user_writes_only_with_x_requested_with(settings: Settings) -> None:
    services = services_with(settings, LOCAL_DEV_ROLES="Admin")
    try:
        client = api_client()
        body = {"display_name": "Snap", "privacy_consent": True}
        error(client.post("/api/connections", json=body), 403, "requested_with_missing")
        assert list(services.state.names(layout.CONNECTIONS_PREFIX)) == []
        assert client.get("/api/connections").status_code == 200
        created = client.post("/api/connections", json=body, headers=XRW)
        assert created.status_code == 201, created.text
        # A write without a body (a cross-site form could send one) is refused too.
        connection_id = created.json()["id"]
        path = f"/api/connections/{connection_id}/export-user"
        error(client.post(path), 403, "requested_with_missing")
        assert client.get(f"/api/connections/{connection_id}").json()["export_user"] is None
        error(client.delete(f"/api/connections/{connection_id}"), 403, "requested_with_missing")
        assert client.delete(f"/api/connections/{connection_id}", headers=XRW).status_code == 200
    finally:
        set_services(None)


@pytest.fixture
def entra_app(settings: Settings) -> Iterator[EntraDouble]:
    with EntraDouble() as double:
        services_with(settings, **double.settings())
        try:
            yield double
        finally:
            set_services(None)


def test_a_browser_session_writes_only_with_x_requested_with(entra_app: EntraDouble) -> None:
    client = api_client()
    session = {"X-MS-TOKEN-AAD-ID-TOKEN": entra_app.token("Admin", audience=CLIENT_ID)}
    body = {"display_name": "Snap", "privacy_consent": True}
    refused = client.post("/api/connections", json=body, headers=session)
    error(refused, 403, "requested_with_missing")
    allowed = client.post("/api/connections", json=body, headers={**session, **XRW})
    assert allowed.status_code == 201
    script = {"Authorization": f"Bearer {entra_app.token('Admin')}"}
    assert client.post("/api/connections", json=body, headers=script).status_code == 201


# -- export folders ---------------------------------------------------------------------------


def test_export_folders_lists_the_folders_holding_model_json(services: Services) -> None:
    default = services.settings.get("EXPORTS_PREFIX")
    export_folder(services)  # the default folder (two levels down)
    export_folder(services, ("Churned",), prefix="CustomerInsights_x/Other")
    export_folder(services, ("Top",), prefix="")  # the container's root
    export_folder(services, ("Flat",), prefix="OneLevel")
    export_folder(services, ("TooDeep",), prefix="a/b/c")  # below an export folder: not searched
    container = exports_container(services)
    container.upload_blob("CustomerInsights_x/NoModel/Seg/2026/11/28/0300/Seg_1.csv", b"x")
    answer = api_client().get("/api/export-folders", headers=CONTRIBUTOR)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "container": services.settings.get("EXPORTS_CONTAINER"),
        "folders": [
            {"prefix": "", "is_default": False},
            {"prefix": default, "is_default": True},
            {"prefix": "CustomerInsights_x/Other", "is_default": False},
            {"prefix": "OneLevel", "is_default": False},
        ],
        "complete": True,
    }


def test_the_folder_search_stops_at_its_listing_budget(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import export_folders

    for i in range(4):
        export_folder(services, ("S",), prefix=f"CustomerInsights_{i}/Export")
    # Breadth first: the root, the four instance folders, then the first export folder.
    monkeypatch.setattr(export_folders, "MAX_LISTINGS", 6)
    container = str(services.settings.get("EXPORTS_CONTAINER"))
    found = export_folders.find_export_folders(services, container)
    assert found.complete is False
    assert found.folders == ["CustomerInsights_0/Export"]


def test_segments_of_an_export_folder_with_their_fields(services: Services) -> None:
    model = export_folder(services, ("HighValue", "Lapsed"), columns=("CustomerId", "Email"))
    client = api_client()
    answer = client.get("/api/export-folders/segments", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    prefix = services.settings.get("EXPORTS_PREFIX")
    assert answer.json() == {
        "container": services.settings.get("EXPORTS_CONTAINER"),
        "prefix": prefix,
        "model_json": model,
        "segments": [
            {"name": "HighValue", "attributes": ["CustomerId", "Email"]},
            {"name": "Lapsed", "attributes": ["CustomerId", "Email"]},
        ],
    }
    export_folder(services, ("Other",), container="elsewhere", prefix="CI/Export")
    other = client.get(
        "/api/export-folders/segments",
        params={"container": "elsewhere", "prefix": "CI/Export/"},
        headers=ADMIN,
    )
    assert other.status_code == 200, other.text
    assert [s["name"] for s in other.json()["segments"]] == ["Other"]
    assert other.json()["prefix"] == "CI/Export"


def test_export_folder_errors_say_what_is_missing(services: Services) -> None:
    client = api_client()
    url = "/api/export-folders/segments"
    message = error(client.get(url, headers=ADMIN), 404, "not_found")
    assert "model.json" in message and "CustomerInsights_<instanceId>/<ExportName>" in message
    missing = client.get("/api/export-folders", params={"container": "nosuch"}, headers=ADMIN)
    assert "does not exist" in error(missing, 404, "not_found")
    for container in (services.settings.state_container, "Bad_Name"):
        answer = client.get("/api/export-folders", params={"container": container}, headers=ADMIN)
        error(answer, 422, "validation_error")
    answer = client.get(url, params={"prefix": "a/../b"}, headers=ADMIN)
    assert answer.json()["error"]["fields"] == ["prefix"]
    exports_container(services).upload_blob(
        f"{services.settings.get('EXPORTS_PREFIX')}/model.json", b"{not json"
    )
    answer = client.get(url, headers=ADMIN)
    assert "not valid JSON" in error(answer, 422, "validation_error")
    assert answer.json()["error"]["fields"] == ["prefix"]
    error(client.get(url, headers=VIEWER), 403, "forbidden")
    error(client.get("/api/export-folders", headers=VIEWER), 403, "forbidden")


# -- ad accounts and audiences -----------------------------------------------------------------


def test_ad_accounts_and_customer_list_audiences_of_a_connection(
    services: Services, sandbox: SnapSandbox
) -> None:
    connection_id = shared_connection(services, sandbox)
    big = sandbox.create_segment(ad_account_id=DEFAULT_AD_ACCOUNT_ID, name="Big spenders")
    sandbox.add_members(big, ["a" * 64, "b" * 64])
    small = sandbox.create_segment(ad_account_id=DEFAULT_AD_ACCOUNT_ID, name="all buyers")
    # A lookalike (not a customer list) in the same ad account: not listed.
    lookalike = sandbox.create_segment(ad_account_id=DEFAULT_AD_ACCOUNT_ID, name="Lookalike")
    with sandbox.state.lock:
        sandbox.state.segments[lookalike].source_type = "LOOKALIKE"
    client = api_client()
    accounts = client.get(f"/api/connections/{connection_id}/ad-accounts", headers=CONTRIBUTOR)
    assert accounts.status_code == 200, accounts.text
    (account,) = accounts.json()["ad_accounts"]
    assert account["id"] == DEFAULT_AD_ACCOUNT_ID
    assert account["name"] == "Sandbox Ad Account"
    assert account["status"] == "ACTIVE"
    path = f"/api/connections/{connection_id}/ad-accounts/{DEFAULT_AD_ACCOUNT_ID}/audiences"
    listed = client.get(path, headers=ADMIN)
    assert listed.status_code == 200, listed.text
    audiences = listed.json()["audiences"]
    # Customer lists by name, case-insensitively.
    assert [(a["id"], a["name"]) for a in audiences] == [
        (small, "all buyers"),
        (big, "Big spenders"),
    ]
    assert audiences[1]["approximate_number_users"] == 2
    assert audiences[0]["retention_in_days"] == 9999
    assert {a["targetable_status"] for a in audiences} <= {"NOT_READY", "TOO_FEW_USERS", "READY"}
    unknown = client.get(
        f"/api/connections/{connection_id}/ad-accounts/nosuchaccount/audiences", headers=ADMIN
    )
    error(unknown, 404, "not_found")


def test_only_those_who_may_use_a_connection_list_what_it_sees(
    services: Services, sandbox: SnapSandbox
) -> None:
    admins_only = seed_connection(services, sandbox)
    client = api_client()
    path = f"/api/connections/{admins_only}/ad-accounts"
    error(client.get(path, headers=CONTRIBUTOR), 403, "connection_not_usable")
    error(client.get(path, headers=VIEWER), 403, "forbidden")
    error(client.get("/api/connections/nosuch/ad-accounts", headers=ADMIN), 404, "not_found")
    created = client.post(
        "/api/connections", json={"display_name": "New", "privacy_consent": True}, headers=ADMIN
    ).json()
    fresh = client.get(f"/api/connections/{created['id']}/ad-accounts", headers=ADMIN)
    assert "not signed in" in error(fresh, 409, "connection_not_ready")


def test_snap_failures_are_named(services: Services, sandbox: SnapSandbox) -> None:
    connection_id = seed_connection(services, sandbox)
    client = api_client()
    path = f"/api/connections/{connection_id}/ad-accounts"
    sandbox.set_faults([{"kind": "status", "status": 503, "path": "/v1/me/organizations"}])
    error(client.get(path, headers=ADMIN), 502, "snapchat_unavailable")
    sandbox.clear_faults()
    sandbox.revoke(user_id="sandbox-admin", access_tokens=True)
    services.forget_connection(connection_id)
    assert "sign in with Snapchat again" in error(
        client.get(path, headers=ADMIN), 409, "connection_not_ready"
    )


# -- run progress ------------------------------------------------------------------------------


def _export_with_people(services: Services, sandbox: SnapSandbox, ad_account_id: str) -> str:
    write_ci_export(
        exports_container(services), "HighValue", [[person(i) for i in range(5)], [person(5)]]
    )
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Progress")
    return seed_export(services, seed_connection(services, sandbox), audience)


def test_progress_of_a_finished_run_counts_everything(
    services: Services, sandbox: SnapSandbox, pump: Any, ad_account_id: str
) -> None:
    export_id = _export_with_people(services, sandbox, ad_account_id)
    run = run_to_end(services, pump, export_id)
    answer = api_client().get(f"/api/runs/{run['id']}/progress", headers=VIEWER)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "run_id": run["id"],
        "export_id": export_id,
        "status": "succeeded",
        "phase": "done",
        "step": "done",
        "parts_read": {"done": 2, "total": 2},
        "partitions_diffed": {"done": 1, "total": 1},
        # One add per schema: email, phone, mobile ad id.
        "batches_sent": {"done": 3, "total": 3},
    }
    dry = run_to_end(services, pump, export_id, dry_run=True)
    progress = api_client().get(f"/api/runs/{dry['id']}/progress", headers=VIEWER).json()
    assert progress["batches_sent"] is None and progress["status"] == "succeeded"
    error(api_client().get("/api/runs/nosuch/progress", headers=ADMIN), 404, "not_found")


def test_progress_while_batches_land(
    services: Services, sandbox: SnapSandbox, pump: Any, ad_account_id: str
) -> None:
    export_id = _export_with_people(services, sandbox, ad_account_id)
    run, held = start_run_holding_batches(services, pump, export_id)
    url = f"/api/runs/{run.id}/progress"
    progress = api_client().get(url, headers=ADMIN).json()
    assert progress["status"] == "running" and progress["step"] == "upload"
    assert progress["parts_read"] == {"done": 2, "total": 2}
    assert progress["batches_sent"] == {"done": 0, "total": 3}
    function_app.upload_batch(_queue_message(held[0]))
    assert api_client().get(url, headers=ADMIN).json()["batches_sent"] == {"done": 1, "total": 3}


def _queue_message(message: Any) -> Any:
    from azure.functions.queue import QueueMessage

    return QueueMessage(id="m1", body=message.body(), dequeue_count=1)


# -- sign in with Snapchat, back to the console ------------------------------------------------


def _start_sign_in(client: Any, connection_id: str, return_to: str) -> dict[str, str]:
    import requests

    answer = client.get(
        f"/api/connections/{connection_id}/authorize",
        params={"return_to": return_to},
        headers=ADMIN,
        follow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    back = requests.get(answer.headers["location"], allow_redirects=False, timeout=10)
    return {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).query).items()}


def test_sign_in_returns_to_the_console_page_it_started_from(
    services: Services, sandbox: SnapSandbox
) -> None:
    client = api_client()
    created = client.post(
        "/api/connections", json={"display_name": "Snap", "privacy_consent": True}, headers=ADMIN
    ).json()
    page = f"/api/console/connections/{created['id']}"
    params = _start_sign_in(client, created["id"], page)
    done = client.get(CALLBACK, params=params, headers=ADMIN, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{page}?signin=complete"
    assert client.get(f"/api/connections/{created['id']}", headers=ADMIN).json()["signed_in"]
    again = client.get(CALLBACK, params=params, headers=ADMIN, follow_redirects=False)
    assert again.status_code == 400  # the state was used: nothing says where to go back
    refused = _start_sign_in(client, created["id"], page)
    denied = {"state": refused["state"], "error": "access_denied"}
    answer = client.get(CALLBACK, params=denied, headers=ADMIN, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{page}?signin=refused"


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/api/console/x",
        "//evil.example/api/console/x",
        "/api/console/../oauth/snapchat/callback",
        "/api/consolex",
        "/api/console/",
        "/api/console/a?b=c",
        "/api/console/a//b",
        "/api/console/a\\b",
        "/api/exports",
    ],
)
def test_sign_in_returns_only_to_console_pages(
    services: Services, sandbox: SnapSandbox, return_to: str
) -> None:
    client = api_client()
    connection_id = seed_connection(services, sandbox)
    answer = client.get(
        f"/api/connections/{connection_id}/authorize",
        params={"return_to": return_to},
        headers=ADMIN,
        follow_redirects=False,
    )
    error(answer, 422, "validation_error")
    assert answer.json()["error"]["fields"] == ["return_to"]
    assert list(services.state.names(layout.OAUTH_STATES_PREFIX)) == []
