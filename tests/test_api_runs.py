"""Runs over HTTP: options, "Run all", history paging, run status; erasures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.storage.blob import ContainerClient

from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.models import Run, RunStatus
from shared.services import Services
from tests.support import (
    ADMIN,
    CONTRIBUTOR,
    VIEWER,
    api_client,
    seed_connection,
    seed_export,
    sha,
    shared_connection,
)


def test_run_options_reach_the_run(services: Services, sandbox: SnapSandbox) -> None:
    export_id = seed_export(services, seed_connection(services, sandbox), "1")
    client = api_client()
    bad = client.post(f"/api/exports/{export_id}/runs", json={"full_refresh": "x"}, headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["error"]["fields"] == ["full_refresh"]
    answer = client.post(
        f"/api/exports/{export_id}/runs",
        json={"full_refresh": "clear_first", "allow_mass_removal": True, "dry_run": True},
        headers=ADMIN,
    )
    assert answer.status_code == 202, answer.text
    run = client.get(answer.json()["status_url"], headers=VIEWER).json()
    assert run["options"] == {
        "full_refresh": "clear_first",
        "allow_mass_removal": True,
        "dry_run": True,
    }
    assert run["trigger"] == "on_demand" and run["status"] == "queued"
    assert client.post("/api/exports/nope/runs", headers=ADMIN).status_code == 404


def test_run_all_runs_only_active_scheduled_exports_the_caller_may_run(
    services: Services, sandbox: SnapSandbox
) -> None:
    shared = shared_connection(services, sandbox)
    admins_only = seed_connection(services, sandbox)
    scheduled = seed_export(services, shared, "1")
    manual = seed_export(services, shared, "2", schedule="manual")
    inactive = seed_export(services, shared, "3", status="inactive", inactive_reason="gone")
    admins = seed_export(services, admins_only, "4")
    client = api_client()

    by_contributor = client.post("/api/runs", json={"all": True}, headers=CONTRIBUTOR)
    assert by_contributor.status_code == 202, by_contributor.text
    assert [r["export_id"] for r in by_contributor.json()["runs"]] == [scheduled]
    by_admin = client.post("/api/runs", json={"all": True}, headers=ADMIN).json()["runs"]
    outcomes = {r["export_id"]: r for r in by_admin}
    assert set(outcomes) == {scheduled, admins}
    assert outcomes[scheduled]["error"]["code"] == "run_in_progress"
    assert outcomes[scheduled]["error"]["run_id"] == by_contributor.json()["runs"][0]["run_id"]
    assert outcomes[admins]["status_url"] == f"/api/runs/{outcomes[admins]['run_id']}"

    listed = client.post(
        "/api/runs", json={"export_ids": [manual, inactive, "missing"]}, headers=ADMIN
    ).json()["runs"]
    assert [r["export_id"] for r in listed] == [manual, inactive, "missing"]
    assert "run_id" in listed[0]
    assert [r["error"]["code"] for r in listed[1:]] == ["export_inactive", "not_found"]

    for body in ({}, {"all": True, "export_ids": [manual]}, {"all": False}, {"export_ids": []}):
        bad = client.post("/api/runs", json=body, headers=ADMIN)
        assert bad.status_code == 422, body
        assert set(bad.json()["error"]["fields"]) <= {"all", "export_ids"}


def test_history_is_newest_first_and_paged(services: Services, sandbox: SnapSandbox) -> None:
    export_id = seed_export(services, seed_connection(services, sandbox), "1")
    start = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    ids = []
    for i in range(5):
        created = start + timedelta(days=i)
        run = Run(id=f"run-{i}", export_id=export_id, trigger="schedule")
        run.status = RunStatus.SUCCEEDED
        services.state.put(layout.run(run.id), run.model_dump(mode="json"))
        services.state.put(
            layout.history_entry(export_id, run.id, created),
            {"run_id": run.id, "created_at": created.isoformat(), "trigger": "schedule"},
        )
        ids.append(run.id)
    client = api_client()
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(f"/api/exports/{export_id}/runs", params=params, headers=VIEWER)
        assert page.status_code == 200, page.text
        seen += [r["id"] for r in page.json()["runs"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids)) and pages == 3
    too_many = client.get(f"/api/exports/{export_id}/runs?limit=1000", headers=VIEWER)
    assert too_many.status_code == 422 and too_many.json()["error"]["fields"] == ["limit"]
    assert client.get("/api/exports/nope/runs", headers=VIEWER).status_code == 404
    missing = client.get("/api/runs/nope", headers=VIEWER)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_erasure_hashes_values_and_answers_hashes_only(
    services: Services, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="A")
    sandbox.add_members(audience, [sha("gone@example.com"), sha("kept@example.com")])
    seed_export(services, seed_connection(services, sandbox), audience)
    client = api_client()
    answer = client.post(
        "/api/erasures",
        json={"email": " Gone@Example.com", "phone": "+1 202 555 0100"},
        headers=ADMIN,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["hashes"] == {
        "EMAIL_SHA256": sha("gone@example.com"),
        "PHONE_SHA256": sha("12025550100"),
    }
    # The raw values, in any of the forms given or normalised, never come back. Random
    # ids and hashes in the answer may contain any short digit run, so look for the
    # values themselves rather than a fragment like "555".
    for raw in ("gone@example.com", "Gone@Example.com", "+1 202 555 0100", "12025550100"):
        assert raw not in answer.text
    assert body["exports"][0]["removed_from_audience"] == ["EMAIL_SHA256", "PHONE_SHA256"]
    assert sandbox.members(audience)["EMAIL_SHA256"] == {sha("kept@example.com")}

    invalid = client.post("/api/erasures", json={"phone": "12"}, headers=ADMIN)
    assert invalid.status_code == 422 and invalid.json()["error"]["fields"] == ["phone"]
    assert "12" not in invalid.json()["error"]["message"].replace("phone", "")
    empty = client.post("/api/erasures", json={}, headers=ADMIN)
    assert empty.status_code == 422
    assert empty.json()["error"]["fields"] == ["email", "phone", "mobile_ad_id"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"email": "\u0000@a.example"}, "email", "U+0000"),
        ({"email": "a\u202e@evil.example"}, "email", "U+202E"),
        ({"phone": "+47 22\n12 34 56"}, "phone", "U+000A"),
        ({"mobile_ad_id": "\ud800"}, "mobile_ad_id", "U+D800"),
        (
            {"email": "a" * 400 + "@example.com"},
            "email",
            "at most 320 characters (this one has 412)",
        ),
        ({"email": "   "}, "email", "may not be empty or blank"),
    ],
)
def test_erasure_values_no_one_types_are_refused_without_echoing_them(
    services: Services, body: dict[str, str], field: str, says: str
) -> None:
    # Such values were hashed and recorded (a 10 MB value too); a lone surrogate gave a 422
    # quoting the codec's text and naming every field.
    # As JSON text with \u escapes (a lone surrogate cannot be UTF-8 encoded by the client).
    answer = api_client().post(
        "/api/erasures",
        content=json.dumps(body),
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["fields"] == [field]
    assert says in error["message"]
    if body[field].strip():
        assert body[field] not in answer.text
        assert json.dumps(body[field]) not in answer.text
    assert list(services.state.names(layout.ERASURES_PREFIX)) == []


def seed_history(services: Services, export_id: str, count: int) -> list[str]:
    """``count`` finished runs of ``export_id``, one a day; their ids, oldest first."""
    start = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    ids = []
    for i in range(count):
        run = Run(id=f"run-{i}", export_id=export_id, trigger="schedule")
        run.status = RunStatus.SUCCEEDED
        services.state.put(layout.run(run.id), run.model_dump(mode="json"))
        created = start + timedelta(days=i)
        services.state.put(
            layout.history_entry(export_id, run.id, created),
            {"run_id": run.id, "created_at": created.isoformat(), "trigger": "schedule"},
        )
        ids.append(run.id)
    return ids


@pytest.mark.parametrize(
    "cursor",
    [
        "%14",
        "abc",
        "",
        "2!96!MDAwMDM5IWhpc3Rvcnkv",
        "aDE6eDpyCg",  # base64url of text that is not one of our cursors
        "%0A",
        "x" * 300,
    ],
)
def test_a_cursor_the_server_did_not_make_is_refused_before_any_storage_call(
    services: Services, sandbox: SnapSandbox, monkeypatch: pytest.MonkeyPatch, cursor: str
) -> None:
    export_id = seed_export(services, seed_connection(services, sandbox), "1")
    seed_history(services, export_id, 3)
    calls: list[str] = []
    for method in ("list_blob_names", "list_blobs", "get_blob_client"):
        original = getattr(ContainerClient, method)

        def spy(
            self: ContainerClient, *args: Any, _name: str = method, _o: Any = original, **kw: Any
        ) -> Any:
            calls.append(_name)
            return _o(self, *args, **kw)

        monkeypatch.setattr(ContainerClient, method, spy)
    answer = api_client().get(f"/api/exports/{export_id}/runs?cursor={cursor}", headers=VIEWER)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["fields"] == ["cursor"] and error["code"] == "validation_error"
    assert calls == []


def test_a_cursor_of_another_export_is_refused(services: Services, sandbox: SnapSandbox) -> None:
    connection = seed_connection(services, sandbox)
    first, second = seed_export(services, connection, "1"), seed_export(services, connection, "2")
    seed_history(services, first, 3)
    client = api_client()
    page = client.get(f"/api/exports/{first}/runs?limit=1", headers=VIEWER).json()
    assert page["next_cursor"]
    other = client.get(
        f"/api/exports/{second}/runs", params={"cursor": page["next_cursor"]}, headers=VIEWER
    )
    assert other.status_code == 422 and other.json()["error"]["fields"] == ["cursor"]


def test_paging_stays_right_when_runs_start_between_pages(
    services: Services, sandbox: SnapSandbox
) -> None:
    export_id = seed_export(services, seed_connection(services, sandbox), "1")
    ids = seed_history(services, export_id, 4)
    client = api_client()
    first = client.get(f"/api/exports/{export_id}/runs?limit=2", headers=VIEWER).json()
    assert [r["id"] for r in first["runs"]] == ["run-3", "run-2"]
    # A newer run lands before the next page is read: the next page goes on from run-2.
    run = Run(id="run-new", export_id=export_id, trigger="on_demand")
    services.state.put(layout.run(run.id), run.model_dump(mode="json"))
    services.state.put(
        layout.history_entry(export_id, run.id, datetime(2027, 1, 1, tzinfo=UTC)),
        {"run_id": run.id},
    )
    second = client.get(
        f"/api/exports/{export_id}/runs",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=VIEWER,
    ).json()
    assert [r["id"] for r in second["runs"]] == ["run-1", "run-0"] == list(reversed(ids[:2]))
    assert second["next_cursor"] is None
