"""The whole path for real: export in Azurite -> queue steps -> Snap sandbox audience."""

from __future__ import annotations

import json

import pytest
from azure.functions.queue import QueueMessage

import function_app
from devtools.local_host import QueuePump
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.models import RunOptions
from shared.pipeline.messages import UploadMessage
from shared.run_control import RunInProgress, get_run, start_run
from shared.services import Services
from tests.support import (
    ADMIN,
    LOCAL_BASE_URL,
    exports_container,
    seed_connection,
    seed_export,
    sha,
    start_run_holding_batches,
    write_ci_export,
)

MAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


def rows_for(emails: list[str], start: int = 0) -> list[list[str]]:
    return [[f"c{start + i}", e, "", ""] for i, e in enumerate(emails)]


def test_two_part_export_lands_in_the_audience(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    container = exports_container(services)
    part1 = [
        ["c1", "Ola@Example.no ", "+47 22 12 34 56", MAID.upper()],
        ["c2", "kari@example.no", "", "not-a-maid"],
        ["c3", "NULL", "0047 22 12 34 57", ""],
    ]
    part2 = [
        ["c4", "per@example.no", "+47 22 12 34 56", ""],  # duplicate phone
        ["c5", "ola@example.no", "", ""],  # duplicate email
        ["c6", "broken-email", "()", ""],
    ]
    write_ci_export(container, "HighValue", [part1, part2])
    connection = seed_connection(services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="High value")
    export_id = seed_export(services, connection, audience)

    run = start_run(services, export_id, trigger="on_demand")
    with pytest.raises(RunInProgress) as second:
        start_run(services, export_id, trigger="schedule")
    assert second.value.run_id == run.id
    pump.drain(60)

    view = get_run(services, run.id)
    assert view is not None
    assert view["status"] == "succeeded", view
    members = sandbox.members(audience)
    assert members["EMAIL_SHA256"] == {
        sha("ola@example.no"),
        sha("kari@example.no"),
        sha("per@example.no"),
    }
    assert members["PHONE_SHA256"] == {sha("4722123456"), sha("4722123457")}
    assert members["MOBILE_AD_ID_SHA256"] == {sha(MAID)}
    counts = view["counts"]
    assert counts["rows"] == 6
    assert counts["identifiers"] == {"EMAIL_SHA256": 3, "PHONE_SHA256": 2, "MOBILE_AD_ID_SHA256": 1}
    assert counts["duplicates"] == 2
    assert counts["invalid"] == {
        "Email": {"placeholder": 1, "missing_at_sign": 1},
        "Phone": {"not_a_phone_number": 1},
        "MobileAdId": {"not_a_uuid": 1},
    }
    assert counts["identifiers_uploaded"] == 6
    assert counts["batches_total"] == counts["batches_done"] == 3
    assert view["audience"]["approximate_number_users"] == 6
    assert any("1000" in w for w in view["warnings"])
    # Nothing raw in the run record, and staging is cleaned up.
    text = json.dumps(view)
    assert "example.no" not in text and "22 12" not in text
    assert list(services.staging.names(f"{run.id}/")) == []


def test_100001_identifiers_make_two_requests(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    container = exports_container(services)
    emails = [f"person{i}@example.com" for i in range(100_001)]
    write_ci_export(container, "HighValue", [rows_for(emails[:50_000]), rows_for(emails[50_000:])])
    connection = seed_connection(services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Big")
    export_id = seed_export(services, connection, audience, phone=None, mobile_ad_id=None)

    run = start_run(services, export_id, trigger="on_demand")
    pump.drain(120)
    view = get_run(services, run.id)
    assert view is not None and view["status"] == "succeeded", view
    uploads = [
        r for r in sandbox.requests() if r["path"].endswith("/users") and r["method"] == "POST"
    ]
    assert sorted(r["rows"] for r in uploads) == [1, 100_000]
    assert sandbox.member_counts(audience)["EMAIL_SHA256"] == 100_001
    assert view["counts"]["identifiers_uploaded"] == 100_001


def test_redelivered_batch_is_not_uploaded_twice(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    container = exports_container(services)
    rows = [[f"c{i}", f"p{i}@example.com", f"+1 201 555 {i:04d}", ""] for i in range(3)]
    write_ci_export(container, "HighValue", [rows])
    connection = seed_connection(services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Redelivery")
    export_id = seed_export(services, connection, audience, mobile_ad_id=None)
    # Hold the batch messages back (the host has not delivered them yet) and deliver them by
    # hand, the first one twice, while the run is still uploading.
    run, held = start_run_holding_batches(services, pump, export_id)
    assert [(m.schema, m.op) for m in held] == [
        ("EMAIL_SHA256", "add"),
        ("PHONE_SHA256", "add"),
    ]

    def deliver(message: UploadMessage, attempt: int) -> None:
        name = f"m{message.batch}"
        function_app.upload_batch(QueueMessage(id=name, body=message.body(), dequeue_count=attempt))

    def users_requests() -> list[dict]:
        return [r for r in sandbox.requests() if r["path"].endswith("/users")]

    deliver(held[0], 1)
    deliver(held[0], 2)  # redelivered: visibility timeout ran out before the delete landed
    assert len(users_requests()) == 1
    view = get_run(services, run.id)
    assert view is not None and view["status"] == "running"
    assert view["counts"]["batches_done"] == 1
    deliver(held[1], 1)
    view = get_run(services, run.id)
    assert view is not None and view["status"] == "succeeded"
    assert [r["schema"] for r in users_requests()] == ["EMAIL_SHA256", "PHONE_SHA256"]
    assert view["counts"]["batches_done"] == 2
    assert view["counts"]["identifiers_uploaded"] == 6
    assert sandbox.members(audience)["EMAIL_SHA256"] == {sha(f"p{i}@example.com") for i in range(3)}


def test_on_demand_run_starts_over_http_in_under_two_seconds(
    services: Services, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    import time

    from fastapi.testclient import TestClient

    connection = seed_connection(services, sandbox)
    export_id = seed_export(services, connection, "123", phone=None, mobile_ad_id=None)
    client = TestClient(function_app.api, base_url=LOCAL_BASE_URL)
    # Warm the client and the app's first-request costs so the clock times the start alone.
    assert client.get("/api/runs/warm-up", headers=ADMIN).status_code == 404
    started = time.perf_counter()
    answer = client.post(f"/api/exports/{export_id}/runs", json={}, headers=ADMIN)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 202
    body = answer.json()
    assert body["status_url"] == f"/api/runs/{body['run_id']}"
    assert elapsed < 2.0
    assert services.state.get(layout.run(body["run_id"]))["status"] == "queued"
    assert RunOptions().full_refresh is False
