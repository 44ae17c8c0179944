"""The whole flow over HTTP, as an administrator would do it: connection to run report."""

from __future__ import annotations

from devtools.local_host import QueuePump
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.secrets import refresh_token_secret_name
from shared.services import Services
from tests.support import (
    ADMIN,
    VIEWER,
    api_client,
    call_callback,
    code_and_state,
    export_body,
    exports_container,
    sha,
    snap_redirect,
    write_ci_export,
)


def test_connection_to_audience_over_http(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    client = api_client()
    # 1. An administrator creates the connection with data-privacy consent.
    created = client.post(
        "/api/connections",
        json={"display_name": "Snapchat EU", "privacy_consent": True},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    connection = created.json()
    connection_id = connection["id"]
    assert connection["type"] == "snapchat" and connection["usable_by"] == "admins"
    assert connection["status"] == "missing_snapchat_sign_in_and_export_user"
    assert connection["privacy_consent"]["id"] == "oid-admin"
    assert connection["privacy_consent"]["at"].endswith("Z")

    # 2. Sign in with Snapchat: the API redirects to the sandbox's authorize page, which
    #    consents and redirects to the callback (served by http_app_func, as in Azure).
    params = code_and_state(snap_redirect(client, connection_id, ADMIN))
    page = call_callback(params, ADMIN)
    assert page.status_code == 200, page.content
    assert page.headers["content-type"].startswith("text/html")
    assert b"Snapchat sign-in complete for Snapchat EU" in page.content
    token = services.secrets.get(refresh_token_secret_name(connection_id))
    assert token and token not in page.content.decode()
    signed_in = client.get(f"/api/connections/{connection_id}", headers=ADMIN).json()
    assert signed_in["status"] == "missing_export_user"
    assert signed_in["signed_in"]["id"] == "oid-admin"
    assert set(signed_in["snapchat_member"]) == {"id", "display_name"}
    assert token not in str(signed_in)

    # 3. Add yourself as export user: the connection is ready.
    ready = client.post(f"/api/connections/{connection_id}/export-user", headers=ADMIN)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["export_user"]["name"] == "Ada Admin"

    # 4. Configure and save an export; saving does not run it.
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="High value")
    write_ci_export(
        exports_container(services),
        "HighValue",
        [[["c1", "A@Example.com ", "", ""], ["c2", "b@example.com", "", ""]]],
    )
    saved = client.post(
        "/api/exports",
        json=export_body(connection_id, audience, schedule="manual"),
        headers=ADMIN,
    )
    assert saved.status_code == 201, saved.text
    export_id = saved.json()["id"]
    assert saved.json()["status"] == "active" and saved.json()["active_run_id"] is None
    assert list(services.state.names(layout.RUNS_PREFIX)) == []
    assert client.get(f"/api/exports/{export_id}/runs", headers=ADMIN).json()["runs"] == []

    # 5. Run it on demand; a second start while it runs answers 409 with the run id.
    started = client.post(f"/api/exports/{export_id}/runs", headers=ADMIN)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    assert started.json()["status_url"] == f"/api/runs/{run_id}"
    again = client.post(f"/api/exports/{export_id}/runs", json={}, headers=ADMIN)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "run_in_progress"
    assert again.json()["error"]["run_id"] == run_id
    pump.drain(60)

    # 6. The run history (readable by a viewer) shows the run, succeeded.
    run = client.get(f"/api/runs/{run_id}", headers=VIEWER)
    assert run.status_code == 200 and run.json()["status"] == "succeeded", run.text
    assert run.json()["requested_by"] == "oid-admin"
    history = client.get(f"/api/exports/{export_id}/runs", headers=VIEWER).json()
    assert [r["id"] for r in history["runs"]] == [run_id]
    assert history["runs"][0]["status"] == "succeeded"

    # 7. The audience holds exactly the expected hashes.
    members = sandbox.members(audience)
    assert members["EMAIL_SHA256"] == {sha("a@example.com"), sha("b@example.com")}
    assert not members["PHONE_SHA256"] and not members["MOBILE_AD_ID_SHA256"]
    export = client.get(f"/api/exports/{export_id}", headers=VIEWER).json()
    assert export["snapshot"]["run_id"] == run_id
    assert export["active_run_id"] in (None, run_id)
    assert services.state.get(layout.export(export_id)) is not None
