"""Run-level behaviour around the source and the triggers: folders, bad files, timer, poison."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.functions.timer import TimerRequest

import function_app
from devtools.local_host import QueuePump
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.identifiers import Schema
from shared.models import Export, ExportSource
from shared.pipeline import diff, read
from shared.pipeline.messages import UploadMessage
from shared.queues import MAX_MESSAGE_BYTES, MessageTooLarge, encode
from shared.services import Services
from shared.snapchat.client import SnapchatClient
from shared.storage_clients import exports_blob_service
from tests.support import (
    ADMIN,
    PREFIX,
    api_client,
    csv_bytes,
    export_to_new_audience,
    exports_container,
    person,
    person_hashes,
    run_to_end,
    seed_connection,
    seed_export,
    write_ci_export,
)


def test_newest_complete_run_folder_is_read_not_a_partial_newer_one(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    container = exports_container(services)
    rows = [person(i) for i in range(6)]
    write_ci_export(container, "HighValue", [rows[:3], rows[3:]], folder="2026/11/27/0300")
    # A newer run folder with only the first of its two partitions (still being written).
    write_ci_export(container, "HighValue", [[person(99)]], folder="2026/11/28/0300", model_parts=2)
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Sources")
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    assert view["source_version"] == "cdm:HighValue/2026/11/27/0300"
    assert sandbox.members(audience) == person_hashes(range(6))


def test_flat_legacy_file_and_two_segments_into_one_audience(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    container = exports_container(services)
    write_ci_export(container, "HighValue", [[person(1), person(2)]])
    header = ["CustomerId", "Email", "Phone", "MobileAdId"]
    parent = PREFIX.rsplit("/", 1)[0]
    container.upload_blob(
        f"{parent}/BlobExport_Churn_1700000000.csv", csv_bytes([person(3)], header)
    )
    container.upload_blob(
        f"{parent}/BlobExport_Churn_1800000000.csv", csv_bytes([person(4), person(2)], header)
    )
    export_id, audience = export_to_new_audience(
        services, sandbox, ad_account_id, "Sources", segments=["HighValue", "Churn"]
    )
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes([1, 2, 4])
    assert view["counts"]["duplicates"] == 3  # person 2 in both segments, per schema
    assert [s["version"] for s in view["source"]] == [
        "cdm:HighValue/2026/11/28/0300",
        "flat:BlobExport_Churn_1800000000.csv",
    ]


def test_malformed_file_fails_the_run_naming_file_and_row_and_sends_nothing(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    container = exports_container(services)
    write_ci_export(container, "HighValue", [[person(1)], [person(2), ["c3", "x@example.com"]]])
    export_id, _audience = export_to_new_audience(services, sandbox, ad_account_id, "Sources")
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "source_unusable"
    message = view["error"]["message"]
    assert "HighValue/2026/11/28/0300/HighValue_2.csv" in message
    assert "row 2" in message and "expected 4" in message
    assert "x@example.com" not in message
    assert not [r for r in sandbox.requests() if r["path"].endswith("/users")]
    export = Export.model_validate(services.state.get(layout.export(export_id)))
    assert export.snapshot is None and export.active_run_id is None


def test_missing_column_fails_with_the_column_name(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    write_ci_export(
        exports_container(services),
        "HighValue",
        [[["c1", "a@example.com"]]],
        columns=("CustomerId", "Mail"),
    )
    export_id, _ = export_to_new_audience(
        services, sandbox, ad_account_id, "Sources", phone=None, mobile_ad_id=None
    )
    view = run_to_end(services, pump, export_id)
    assert view["error"]["code"] == "source_unusable"
    assert "column 'Email' not found" in view["error"]["message"]


def test_headerless_flat_file_fails_without_putting_its_first_row_in_the_error(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    # The older flat naming has a header row; a file without one must not leak its first
    # profile (read as "column names") into the run record.
    parent = PREFIX.rsplit("/", 1)[0]
    body = csv_bytes([person(3), person(4)], ["CustomerId", "Email", "Phone", "MobileAdId"])
    exports_container(services).upload_blob(
        f"{parent}/BlobExport_Churn_1700000000.csv", body.split(b"\n", 1)[1]
    )
    export_id, _ = export_to_new_audience(
        services, sandbox, ad_account_id, "Sources", segments=["Churn"]
    )
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "source_unusable"
    message = view["error"]["message"]
    assert "BlobExport_Churn_1700000000.csv: column 'Email' not found" in message
    assert "does the file have no header row?" in message
    for value in person(3)[1:]:
        assert value.strip() not in message
    assert not [r for r in sandbox.requests() if r["path"].endswith("/users")]


def test_audience_is_created_when_asked(
    services: Services, sandbox: SnapSandbox, pump: QueuePump
) -> None:
    write_ci_export(exports_container(services), "HighValue", [[person(1), person(2)]])
    connection = seed_connection(services, sandbox)
    export_id = seed_export(
        services,
        connection,
        None,
        create_audience={"name": "CI High value", "retention_in_days": 180},
    )
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    export = Export.model_validate(services.state.get(layout.export(export_id)))
    assert export.audience_id
    segment = sandbox.segment(export.audience_id)
    assert segment["name"] == "CI High value" and segment["retention_in_days"] == 180
    assert segment["source_type"] == "FIRST_PARTY"
    assert segment["description"] == (
        f"Customer Insights export 'Test export' [export {export_id} run {view['id']}]"
    )
    assert sandbox.members(export.audience_id) == person_hashes([1, 2])
    # The next run reuses it instead of creating another.
    run_to_end(services, pump, export_id)
    creates = [
        r for r in sandbox.requests() if r["method"] == "POST" and r["path"].endswith("/segments")
    ]
    assert len(creates) == 1


def lazy_export(services: Services, sandbox: SnapSandbox) -> tuple[str, str]:
    """Two people exported, and an export asking to create audience "Lazy": its connection
    id and export id."""
    write_ci_export(exports_container(services), "HighValue", [[person(1), person(2)]])
    connection = seed_connection(services, sandbox)
    return connection, seed_export(services, connection, None, create_audience={"name": "Lazy"})


def test_a_worker_dying_after_creating_the_audience_leaves_no_orphan(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection, export_id = lazy_export(services, sandbox)
    client = services.snapchat(connection)
    account = next(iter(client.organizations(with_ad_accounts=True)))["ad_accounts"][0]["id"]
    # Look-alikes that must not be adopted: another export's, a hand-made one quoting the
    # tag mid-text, and one whose creating run is unknown.
    decoys = [
        client.create_audience(account, "Lazy", description=f"[export other run {x}]")["id"]
        for x in ("r1", "r2")
    ]
    decoys.append(
        client.create_audience(account, "Lazy", description=f"[export {export_id} run r0] by hand")[
            "id"
        ]
    )
    decoys.append(
        client.create_audience(account, "Lazy", description=f"x [export {export_id} run gone]")[
            "id"
        ]
    )
    create = SnapchatClient.create_audience
    died: list[str] = []

    def create_then_die(self: SnapchatClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
        segment = create(self, *args, **kwargs)
        if not died:
            died.append(str(segment["id"]))
            raise RuntimeError("worker lost before the audience id was stored")
        return segment

    monkeypatch.setattr(SnapchatClient, "create_audience", create_then_die)
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded" and pump.failures == 1
    assert view["audience_id"] == died[0] and died[0] not in decoys
    assert sandbox.segment(died[0])["description"] == (
        f"Customer Insights export 'Test export' [export {export_id} run {view['id']}]"
    )
    assert sandbox.members(died[0]) == person_hashes([1, 2])
    lazy = sorted(s["id"] for s in client.list_audiences(account) if s["name"] == "Lazy")
    assert lazy == sorted([*decoys, died[0]])


def fail_every_attempt_after_creating(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the next run create its audience and then die on every attempt; returns the ids
    created (the patches are undone with ``monkeypatch.undo()``)."""
    create, listing = SnapchatClient.create_audience, SnapchatClient.list_audiences
    made: list[str] = []

    def create_then_die(self: SnapchatClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
        made.append(str(create(self, *args, **kwargs)["id"]))
        raise RuntimeError("worker lost before the audience id was stored")

    def list_then_die(self: SnapchatClient, *args: Any, **kwargs: Any) -> Any:
        if made:
            raise RuntimeError("worker lost again")
        return listing(self, *args, **kwargs)

    monkeypatch.setattr(SnapchatClient, "create_audience", create_then_die)
    monkeypatch.setattr(SnapchatClient, "list_audiences", list_then_die)
    return made


def test_an_orphan_of_a_failed_run_is_adopted_but_a_recorded_audience_never(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, export_id = lazy_export(services, sandbox)
    made = fail_every_attempt_after_creating(monkeypatch)
    failed = run_to_end(services, pump, export_id)
    assert failed["status"] == "failed" and len(made) == 1 and failed["audience_id"] is None
    monkeypatch.undo()
    # The next run adopts the failed run's empty, unrecorded audience.
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded" and view["audience_id"] == made[0]
    assert sandbox.members(made[0]) == person_hashes([1, 2])
    # The user asks for a new audience with the very same setting: the one a run recorded
    # and filled is not adopted; a fresh one is created and filled from scratch.
    answer = api_client().patch(
        f"/api/exports/{export_id}", json={"create_audience": {"name": "Lazy"}}, headers=ADMIN
    )
    assert answer.status_code == 200, answer.text
    again = run_to_end(services, pump, export_id)
    assert again["status"] == "succeeded" and again["audience_id"] not in (None, made[0])
    assert sandbox.members(again["audience_id"]) == person_hashes([1, 2])


def test_an_orphan_made_for_an_earlier_setting_is_left_and_reported(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, export_id = lazy_export(services, sandbox)
    made = fail_every_attempt_after_creating(monkeypatch)
    assert run_to_end(services, pump, export_id)["status"] == "failed" and len(made) == 1
    monkeypatch.undo()
    answer = api_client().patch(
        f"/api/exports/{export_id}", json={"create_audience": {"name": "Renamed"}}, headers=ADMIN
    )
    assert answer.status_code == 200, answer.text
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded" and view["audience_id"] != made[0]
    assert sandbox.segment(view["audience_id"])["name"] == "Renamed"
    assert sandbox.members(view["audience_id"]) == person_hashes([1, 2])
    assert sandbox.segment(made[0])["approximate_number_users"] == 0
    assert any(made[0] in r.getMessage() and "never used" in r.getMessage() for r in caplog.records)


def test_an_orphan_chosen_by_hand_and_filled_is_never_adopted_later(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, export_id = lazy_export(services, sandbox)
    made = fail_every_attempt_after_creating(monkeypatch)
    assert run_to_end(services, pump, export_id)["status"] == "failed" and len(made) == 1
    monkeypatch.undo()
    client = api_client()
    chosen = client.patch(f"/api/exports/{export_id}", json={"audience_id": made[0]}, headers=ADMIN)
    assert chosen.status_code == 200, chosen.text
    export = Export.model_validate(services.state.get(layout.export(export_id)))
    assert export.audience_creation is None
    assert run_to_end(services, pump, export_id)["status"] == "succeeded"
    assert sandbox.members(made[0]) == person_hashes([1, 2])
    fresh = client.patch(
        f"/api/exports/{export_id}", json={"create_audience": {"name": "Lazy"}}, headers=ADMIN
    )
    assert fresh.status_code == 200, fresh.text
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded" and view["audience_id"] not in (None, made[0])


@pytest.mark.parametrize("delete_refused", [False, True])
def test_an_audience_recorded_meanwhile_wins_and_the_extra_one_is_deleted(
    delete_refused: bool,
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, export_id = lazy_export(services, sandbox)
    winner = sandbox.create_segment(ad_account_id=ad_account_id, name="Recorded first")
    create = SnapchatClient.create_audience
    extra: list[str] = []

    def create_while_another_records(
        self: SnapchatClient, *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        segment = create(self, *args, **kwargs)
        extra.append(str(segment["id"]))
        services.state.update(layout.export(export_id), lambda d: {**d, "audience_id": winner})
        return segment

    monkeypatch.setattr(SnapchatClient, "create_audience", create_while_another_records)
    if delete_refused:  # tidying our extra audience is not the run's concern
        sandbox.set_faults(
            [{"kind": "status", "status": 403, "method": "DELETE", "path": r"/segments/\d+$"}]
        )
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded" and view["audience_id"] == winner
    assert sandbox.members(winner) == person_hashes([1, 2])
    if delete_refused:
        assert sandbox.segment(extra[0])["approximate_number_users"] == 0
    else:
        with pytest.raises(KeyError):
            sandbox.segment(extra[0])


def test_an_audience_to_create_is_not_created_by_a_failed_blocked_or_dry_run(
    services: Services, sandbox: SnapSandbox, pump: QueuePump
) -> None:
    container = exports_container(services)
    connection = seed_connection(services, sandbox)
    export_id = seed_export(services, connection, None, create_audience={"name": "Lazy"})

    def creates() -> int:
        requests = sandbox.requests()
        return sum(1 for r in requests if r["method"] == "POST" and r["path"].endswith("/segments"))

    # A malformed part fails the run in the read step.
    write_ci_export(container, "HighValue", [[person(1), ["c2", "x@example.com"]]])
    view = run_to_end(services, pump, export_id)
    assert (view["status"], view["error"]["code"]) == ("failed", "source_unusable")
    assert view["audience_id"] is None
    # No valid identifier at all: the safety rail blocks before anything is sent.
    write_ci_export(container, "HighValue", [[["c3", "NULL", "", ""]]], folder="2026/11/29/0300")
    view = run_to_end(services, pump, export_id)
    assert (view["status"], view["error"]["code"]) == ("failed", "mass_removal_blocked")
    # A dry run computes the counts and sends nothing.
    write_ci_export(container, "HighValue", [[person(4), person(5)]], folder="2026/11/30/0300")
    view = run_to_end(services, pump, export_id, dry_run=True)
    assert view["status"] == "succeeded" and view["counts"]["adds"]["EMAIL_SHA256"] == 2
    assert creates() == 0
    export = Export.model_validate(services.state.get(layout.export(export_id)))
    assert export.audience_id is None
    # The first run that sends creates it, then fills it.
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    export = Export.model_validate(services.state.get(layout.export(export_id)))
    assert view["audience_id"] == export.audience_id is not None
    assert view["audience"]["approximate_number_users"] >= 0
    assert creates() == 1
    assert sandbox.members(export.audience_id) == person_hashes([4, 5])


def test_an_unknown_default_phone_region_fails_the_run_naming_the_setting(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    write_ci_export(exports_container(services), "HighValue", [[person(1)]])
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Sources")
    services.settings.values["DEFAULT_PHONE_REGION"] = "UK"  # type: ignore[index]
    view = run_to_end(services, pump, export_id)
    assert (view["status"], view["error"]["code"]) == ("failed", "configuration")
    assert "DEFAULT_PHONE_REGION" in view["error"]["message"]
    assert sandbox.members(audience) == {s: set() for s in person_hashes([])}


def test_timer_starts_every_scheduled_active_export(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    write_ci_export(exports_container(services), "HighValue", [[person(1)]])
    scheduled, audience = export_to_new_audience(services, sandbox, ad_account_id, "Sources")
    manual, _ = export_to_new_audience(
        services, sandbox, ad_account_id, "Sources", schedule="manual"
    )
    inactive, _ = export_to_new_audience(
        services, sandbox, ad_account_id, "Sources", status="inactive"
    )
    function_app.scheduled_refresh(TimerRequest(past_due=True))
    runs = list(services.state.names(layout.RUNS_PREFIX))
    assert len(runs) == 1
    pump.drain(60)
    assert sandbox.members(audience) == person_hashes([1])
    for export_id, expected in ((scheduled, "succeeded"), (manual, None), (inactive, None)):
        export = Export.model_validate(services.state.get(layout.export(export_id)))
        assert (export.last_run or {}).get("status") == expected


def test_a_step_that_keeps_failing_ends_in_the_poison_queue_and_fails_the_run(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_ci_export(exports_container(services), "HighValue", [[person(1)]])
    export_id, _ = export_to_new_audience(services, sandbox, ad_account_id, "Sources")

    def broken(*args: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(diff, "diff_partition", broken)
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "step_failed"
    # The step and the cause, never the exception's own text (it may hold anything).
    assert view["error"]["message"] == (
        "gave up after every retry: diff step (hash partition 0): an unexpected OSError (an "
        "error in this app: its stack trace is in the function logs)"
    )
    assert pump.failures == pump.max_dequeue_count


def test_a_storage_failure_names_the_step_and_the_answer_and_logs_the_stack_trace(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_ci_export(exports_container(services), "HighValue", [[person(1)]])
    export_id, _ = export_to_new_audience(services, sandbox, ad_account_id, "Sources")

    def busy(*args: object) -> None:
        error = HttpResponseError(message="x.person@example.com is in this text")
        error.status_code = 503
        error.error_code = "ServerBusy"
        raise error

    def bug(*args: object) -> None:
        raise KeyError("x.person@example.com")

    monkeypatch.setattr(read, "read_part", busy)
    view = run_to_end(services, pump, export_id)
    assert view["error"]["message"] == (
        "gave up after every retry: read step (part 0): Azure Storage answered HTTP 503 ServerBusy"
    )
    monkeypatch.setattr(read, "read_part", bug)
    with caplog.at_level(logging.WARNING):
        view = run_to_end(services, pump, export_id)
    assert view["error"]["message"].startswith(
        "gave up after every retry: read step (part 0): an unexpected KeyError"
    )
    assert "example.com" not in str(view)
    # The stack trace is logged (the Functions host logs a function's exception too).
    traced = [r for r in caplog.records if r.exc_info and r.exc_info[0] is KeyError]
    assert traced and any("read step (part 0)" in r.getMessage() for r in traced)


def test_queue_messages_stay_small() -> None:
    ranges = tuple((p, 0, 100) for p in range(256))
    text = encode(UploadMessage("r" * 40, 1, Schema.EMAIL, "add", ranges))
    assert len(text) < MAX_MESSAGE_BYTES / 8
    with pytest.raises(MessageTooLarge):
        encode(UploadMessage("r" * 40, 1, Schema.EMAIL, "add", ranges * 20))


def test_a_saved_export_naming_a_container_the_app_does_not_read_fails_its_run(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    # In the default deployment the exports live in host storage, where the app's identity
    # reads every container (the host's secrets and deployment packages too). An export saved
    # before the allow-list (or written to the state directly) must not read another one.
    secrets = "azure-webjobs-secrets"
    container = exports_blob_service(services.settings).get_container_client(secrets)
    if not container.exists():
        container.create_container()
    write_ci_export(container, "HighValue", [[person(1)]])
    connection = seed_connection(services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Elsewhere")
    export_id = seed_export(
        services,
        connection,
        audience,
        source=ExportSource(container=secrets, prefix=PREFIX),
    )
    view = run_to_end(services, pump, export_id)
    assert (view["status"], view["error"]["code"]) == ("failed", "source_unusable")
    assert (
        f"container '{secrets}' is not one this app reads exports from"
        in (view["error"]["message"])
    )
    assert not any(sandbox.members(audience).values())
    assert not [r for r in sandbox.requests() if r["path"].endswith("/users")]
