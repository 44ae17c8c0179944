"""Mirror sync: the audience holds exactly the current export; only differences are sent."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests

from devtools.local_host import QueuePump
from devtools.snap_sandbox import SnapSandbox
from shared import erasures, layout
from shared.config import Settings
from shared.identifiers import Schema
from shared.models import Export
from shared.pipeline import clear
from shared.run_control import get_run
from shared.services import Services
from tests.support import (
    export_to_new_audience,
    exports_container,
    person,
    person_hashes,
    run_to_end,
    seed_connection,
    seed_export,
    services_with,
    sha,
    start_run_holding_batches,
    write_ci_export,
)

SCHEMAS = ("EMAIL_SHA256", "PHONE_SHA256", "MOBILE_AD_ID_SHA256")
#: Snap calls that give up fast, so a failing batch reaches the poison queue.
QUICK = {"SNAPCHAT_RETRY_BUDGET_SECONDS": "0.3"}


def publish(services: Services, ids: list[int], folder: str) -> None:
    rows = [person(i) for i in ids]
    half = len(rows) // 2
    write_ci_export(
        exports_container(services), "HighValue", [rows[:half], rows[half:]], folder=folder
    )


def sent(sandbox: SnapSandbox, since: int) -> Counter[tuple[str, str]]:
    """(method, schema) -> identifiers sent to /users after request number ``since``."""
    counter: Counter[tuple[str, str]] = Counter()
    for r in sandbox.requests()[since:]:
        if r["path"].endswith("/users") and r["status"] == 200:
            counter[(r["method"], r["schema"])] += r["rows"]
    return counter


def test_grow_shrink_mixed_across_three_schemas(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    steps = [
        ("2026/11/20/0300", list(range(0, 10)), 10, 0),  # first run: everything
        ("2026/11/21/0300", list(range(0, 16)), 6, 0),  # grow by 6
        ("2026/11/22/0300", list(range(0, 12)), 0, 4),  # shrink by 4 (25%)
        ("2026/11/23/0300", list(range(2, 14)), 2, 2),  # mixed: -0,-1 +12,+13
    ]
    for folder, ids, adds, removes in steps:
        before = len(sandbox.requests())
        publish(services, ids, folder)
        view = run_to_end(services, pump, export_id)
        assert view["status"] == "succeeded", view
        members = sandbox.members(audience)
        assert members == person_hashes(ids), folder
        traffic = sent(sandbox, before)
        for schema in SCHEMAS:
            assert traffic[("POST", schema)] == adds, (folder, schema)
            assert traffic[("DELETE", schema)] == removes, (folder, schema)
            assert view["counts"]["adds"][schema] == adds
            assert view["counts"]["removes"][schema] == removes


def test_failed_run_keeps_snapshot_and_next_run_converges(
    settings: Settings,
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
) -> None:
    quick = services_with(settings, **QUICK)
    export_id, audience = export_to_new_audience(quick, sandbox, ad_account_id, "Mirror")
    publish(quick, list(range(0, 10)), "2026/11/20/0300")
    assert run_to_end(quick, pump, export_id)["status"] == "succeeded"
    snapshot_before = Export.model_validate(quick.state.get(layout.export(export_id))).snapshot
    # Every removal fails (HTTP 503) until the poison queue takes the batch; adds still work.
    sandbox.set_faults(
        [{"kind": "status", "status": 503, "method": "DELETE", "path": "/users$", "times": -1}]
    )
    publish(quick, list(range(3, 15)), "2026/11/21/0300")
    failed = run_to_end(quick, pump, export_id)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "batches_failed"
    assert failed["counts"]["batches_failed"] == 3
    export = Export.model_validate(quick.state.get(layout.export(export_id)))
    assert export.snapshot == snapshot_before
    assert export.active_run_id is None
    # Snap now holds the old people plus the added ones; the next run repairs it.
    assert sandbox.members(audience) == person_hashes(list(range(0, 15)))
    sandbox.clear_faults()
    before = len(sandbox.requests())
    repaired = run_to_end(quick, pump, export_id)
    assert repaired["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(list(range(3, 15)))
    traffic = sent(sandbox, before)
    for schema in SCHEMAS:  # re-adds are idempotent at Snap; removals are the repair
        assert traffic[("DELETE", schema)] == 3
        assert traffic[("POST", schema)] == 5


@pytest.mark.parametrize(
    ("failing", "kept_after_failure"),
    [
        # Adds fail, removals of 8 and 9 go through: the audience lost people who come back.
        ("POST", list(range(0, 8))),
        # Removals fail, adds of 10 and 11 go through: people who must leave later.
        ("DELETE", list(range(0, 12))),
    ],
)
def test_after_a_partly_sent_run_the_next_run_converges_to_another_export(
    settings: Settings,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    failing: str,
    kept_after_failure: list[int],
) -> None:
    quick = services_with(settings, **QUICK)
    export_id, audience = export_to_new_audience(quick, sandbox, ad_account_id, "Mirror")
    publish(quick, list(range(0, 10)), "2026/11/20/0300")
    assert run_to_end(quick, pump, export_id)["status"] == "succeeded"
    sandbox.set_faults(
        [{"kind": "status", "status": 503, "method": failing, "path": "/users$", "times": -1}]
    )
    publish(quick, [*range(0, 8), 10, 11], "2026/11/21/0300")
    failed = run_to_end(quick, pump, export_id)
    assert (failed["status"], failed["error"]["code"]) == ("failed", "batches_failed")
    assert sandbox.members(audience) == person_hashes(kept_after_failure)
    export = Export.model_validate(quick.state.get(layout.export(export_id)))
    assert [u.snapshot.run_id for u in export.unsettled] == [failed["id"]]
    sandbox.clear_faults()
    # The next export is the first one again: only the diff against what the audience may
    # hold is sent, and the audience ends exactly right.
    publish(quick, list(range(0, 10)), "2026/11/22/0300")
    before = len(sandbox.requests())
    repaired = run_to_end(quick, pump, export_id)
    assert repaired["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(list(range(0, 10)))
    traffic = sent(sandbox, before)
    for schema in SCHEMAS:
        assert traffic[("POST", schema)] == 2  # 8 and 9: present before, maybe removed since
        assert traffic[("DELETE", schema)] == 2  # 10 and 11: maybe added by the failed run
    export = Export.model_validate(quick.state.get(layout.export(export_id)))
    assert export.unsettled == []
    assert export.snapshot is not None and export.snapshot.run_id == repaired["id"]
    assert list(quick.state.names(layout.snapshot_prefix(export_id, failed["id"]))) == []


def test_a_clear_first_run_that_fails_after_clearing_is_refilled_by_the_next_run(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    quick = services_with(settings, **QUICK)
    export_id, audience = export_to_new_audience(quick, sandbox, ad_account_id, "Mirror")
    publish(quick, list(range(0, 6)), "2026/11/20/0300")
    assert run_to_end(quick, pump, export_id)["status"] == "succeeded"
    sandbox.set_faults(
        [{"kind": "status", "status": 503, "method": "POST", "path": "/users$", "times": -1}]
    )
    failed = run_to_end(quick, pump, export_id, full_refresh="clear_first")
    assert failed["status"] == "failed"
    assert sandbox.members(audience) == person_hashes([])
    sandbox.clear_faults()
    # Same export, an ordinary scheduled run: not skipped, and everyone is added back.
    repaired = run_to_end(quick, pump, export_id, trigger="schedule")
    assert repaired["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(list(range(0, 6)))


def test_clear_first_and_a_vanished_identifier_type_are_held_by_the_rail(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 20)), "2026/11/20/0300")
    assert run_to_end(services, pump, export_id)["status"] == "succeeded"
    publish(services, [0, 1], "2026/11/21/0300")
    before = len(sandbox.requests())
    view = run_to_end(services, pump, export_id, full_refresh="clear_first")
    assert (view["status"], view["error"]["code"]) == ("failed", "mass_removal_blocked")
    assert "54 of 60" in view["error"]["message"]
    assert not [r for r in sandbox.requests()[before:] if r["method"] in ("POST", "DELETE")]
    # Every phone gone from an otherwise unchanged export: a mapping gone wrong, not people
    # leaving (a third of the audience, under the 50% share).
    rows = [[*person(i)[:2], "", person(i)[3]] for i in range(0, 20)]
    write_ci_export(exports_container(services), "HighValue", [rows], folder="2026/11/22/0300")
    view = run_to_end(services, pump, export_id)
    assert (view["status"], view["error"]["code"]) == ("failed", "mass_removal_blocked")
    assert "no valid PHONE_SHA256 identifiers; the audience holds 20" in view["error"]["message"]
    assert sandbox.members(audience) == person_hashes(list(range(0, 20)))
    assert run_to_end(services, pump, export_id, allow_mass_removal=True)["status"] == "succeeded"
    assert sandbox.members(audience)["PHONE_SHA256"] == set()


def test_mass_removal_rail_blocks_then_can_be_overridden(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 10)), "2026/11/20/0300")
    assert run_to_end(services, pump, export_id)["status"] == "succeeded"
    publish(services, list(range(0, 4)), "2026/11/21/0300")  # would remove 60%
    before = len(sandbox.requests())
    blocked = run_to_end(services, pump, export_id)
    assert blocked["status"] == "failed"
    assert blocked["error"]["code"] == "mass_removal_blocked"
    assert "18 of 30" in blocked["error"]["message"]
    assert sent(sandbox, before) == Counter()
    assert sandbox.members(audience) == person_hashes(list(range(0, 10)))
    allowed = run_to_end(services, pump, export_id, allow_mass_removal=True)
    assert allowed["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(list(range(0, 4)))


def test_source_without_valid_identifiers_is_blocked(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, _ = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    write_ci_export(exports_container(services), "HighValue", [[["c1", "NULL", "", ""]]])
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "mass_removal_blocked"
    assert "no valid identifiers" in view["error"]["message"]


def test_full_refresh_repairs_drift_without_emptying(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 6)), "2026/11/20/0300")
    assert run_to_end(services, pump, export_id)["status"] == "succeeded"
    stranger = sha("stranger@example.com")
    lost = sha("person0@example.com")
    sandbox.add_members(audience, [stranger])
    token = sandbox.issue_tokens()["access_token"]
    drop = requests.delete(
        f"{sandbox.url}/v1/segments/{audience}/users",
        json={"users": [{"schema": ["EMAIL_SHA256"], "data": [[lost]]}]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert drop.status_code == 200
    before = len(sandbox.requests())
    view = run_to_end(services, pump, export_id, full_refresh=True)
    assert view["status"] == "succeeded"
    members = sandbox.members(audience)
    assert lost in members["EMAIL_SHA256"] and stranger in members["EMAIL_SHA256"]
    traffic = sent(sandbox, before)
    assert traffic[("POST", "EMAIL_SHA256")] == 6
    assert not any(r["path"].endswith("all_users") for r in sandbox.requests()[before:])
    # clear_first empties the audience first (the stranger goes), then adds everyone.
    before = len(sandbox.requests())
    view = run_to_end(services, pump, export_id, full_refresh="clear_first")
    assert view["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(list(range(0, 6)))
    paths = [r["path"] for r in sandbox.requests()[before:] if r["method"] in ("POST", "DELETE")]
    assert paths[0].endswith("/all_users")


def test_clear_first_waits_until_snap_shows_the_audience_empty_before_adding(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 6)), "2026/11/20/0300")
    assert run_to_end(services, pump, export_id)["status"] == "succeeded"
    # Snap processes all_users asynchronously: users added before it lands are lost with it.
    sandbox.configure(processing_seconds=3.0)
    before = len(sandbox.requests())
    view = run_to_end(services, pump, export_id, full_refresh="clear_first")
    assert view["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(list(range(0, 6)))
    log = [
        (r["method"], r["path"].rsplit("/", 1)[1])
        for r in sandbox.requests()[before:]
        if f"/segments/{audience}" in r["path"]
    ]
    clear = log.index(("DELETE", "all_users"))
    first_add = log.index(("POST", "users"))
    polls = [e for e in log[clear:first_add] if e[0] == "GET"]
    assert clear < first_add and len(polls) >= 2  # it saw the old count, then zero


def test_a_clear_still_landing_after_a_failed_clear_first_run_does_not_wipe_the_repair(
    settings: Settings,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    quick = services_with(settings, **QUICK)
    export_id, audience = export_to_new_audience(quick, sandbox, ad_account_id, "Mirror")
    publish(quick, list(range(0, 6)), "2026/11/20/0300")
    assert run_to_end(quick, pump, export_id)["status"] == "succeeded"
    # Snap takes 30 s (sandbox clock) to land all_users; the run gives up waiting first.
    sandbox.configure(processing_seconds=30.0)
    monkeypatch.setattr(clear, "CLEAR_WAIT_S", 0.2)
    failed = run_to_end(quick, pump, export_id, full_refresh="clear_first")
    assert failed["status"] == "failed"
    export = Export.model_validate(quick.state.get(layout.export(export_id)))
    assert [u.cleared for u in export.unsettled] == [True]
    # While the clear is pending, an ordinary run must clear (and wait) too, not add early.
    assert run_to_end(quick, pump, export_id)["status"] == "failed"
    sandbox.advance_clock(60)  # the clear lands: the audience is empty
    assert sandbox.members(audience) == person_hashes([])
    repaired = run_to_end(quick, pump, export_id)
    assert repaired["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(list(range(0, 6)))
    sandbox.advance_clock(120)  # nothing else is still landing
    assert sandbox.members(audience) == person_hashes(list(range(0, 6)))
    before = len(sandbox.requests())
    assert run_to_end(quick, pump, export_id)["status"] == "succeeded"
    assert sent(sandbox, before) == Counter()


def test_clear_first_on_a_new_empty_audience_sends_no_clear_that_could_land_later(
    services: Services, sandbox: SnapSandbox, pump: QueuePump
) -> None:
    connection = seed_connection(services, sandbox)
    export_id = seed_export(services, connection, None, create_audience={"name": "Fresh"})
    publish(services, list(range(0, 4)), "2026/11/20/0300")
    sandbox.configure(processing_seconds=5.0)
    view = run_to_end(services, pump, export_id, full_refresh="clear_first")
    assert view["status"] == "succeeded"
    assert not [r for r in sandbox.requests() if r["path"].endswith("/all_users")]
    sandbox.advance_clock(10)
    assert sandbox.members(view["audience_id"]) == person_hashes(list(range(0, 4)))


def test_the_vanished_type_rule_ignores_rare_types_and_append_mode(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    def rows(ids: list[int], ad_id_of: set[int]) -> list[list[str]]:
        return [[*person(i)[:3], person(i)[3] if i in ad_id_of else ""] for i in ids]

    container = exports_container(services)
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    write_ci_export(container, "HighValue", [rows(list(range(40)), {7})], folder="2026/11/20/0300")
    assert run_to_end(services, pump, export_id)["status"] == "succeeded"
    # The one person with a mobile ad id leaves: 3 of 81 identifiers, not a mapping error.
    ids = [i for i in range(40) if i != 7]
    write_ci_export(container, "HighValue", [rows(ids, set())], folder="2026/11/21/0300")
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded", view.get("error")
    assert sandbox.members(audience) == {
        **person_hashes(ids),
        "MOBILE_AD_ID_SHA256": set(),
    }
    # Append mode never removes, so a type missing from the source blocks nothing.
    appended, audience2 = export_to_new_audience(
        services, sandbox, ad_account_id, "Mirror", sync_mode="append"
    )
    publish(services, list(range(0, 10)), "2026/11/22/0300")
    assert run_to_end(services, pump, appended)["status"] == "succeeded"
    write_ci_export(container, "HighValue", [rows([20, 21], set())], folder="2026/11/23/0300")
    assert run_to_end(services, pump, appended)["status"] == "succeeded"
    assert (
        sandbox.members(audience2)["EMAIL_SHA256"]
        == person_hashes([*range(10), 20, 21])["EMAIL_SHA256"]
    )


def test_an_erasure_during_a_failed_append_run_is_applied_when_it_fails(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    quick = services_with(settings, **QUICK)
    export_id, audience = export_to_new_audience(
        quick, sandbox, ad_account_id, "Mirror", sync_mode="append"
    )
    publish(quick, list(range(0, 6)), "2026/11/20/0300")
    run, held = start_run_holding_batches(quick, pump, export_id)
    original_send = quick.queues.send
    assert held[0].schema == "EMAIL_SHA256"
    erasures.erase(
        quick,
        erasures.hash_erasure_values({"email": "person1@example.com"}, "US"),
        requested_by="admin-1",
    )
    original_send(quick.settings.batch_queue, held[:1])  # adds person 1's email again
    pump.drain(60)
    assert sha("person1@example.com") in sandbox.members(audience)["EMAIL_SHA256"]
    sandbox.set_faults(
        [{"kind": "status", "status": 503, "method": "POST", "path": "/users$", "times": -1}]
    )
    original_send(quick.settings.batch_queue, held[1:])
    pump.drain(120)
    view = get_run(quick, run.id)
    assert view is not None and view["status"] == "failed"
    assert sha("person1@example.com") not in sandbox.members(audience)["EMAIL_SHA256"]


def test_append_mode_never_removes(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(
        services, sandbox, ad_account_id, "Mirror", sync_mode="append"
    )
    publish(services, list(range(0, 6)), "2026/11/20/0300")
    run_to_end(services, pump, export_id)
    publish(services, list(range(4, 8)), "2026/11/21/0300")
    before = len(sandbox.requests())
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(list(range(0, 8)))
    assert sent(sandbox, before)[("POST", "EMAIL_SHA256")] == 2
    assert all(m == "POST" for (m, _) in sent(sandbox, before))


def test_dry_run_counts_and_sends_nothing(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 6)), "2026/11/20/0300")
    run_to_end(services, pump, export_id)
    publish(services, list(range(2, 9)), "2026/11/21/0300")
    before = len(sandbox.requests())
    view = run_to_end(services, pump, export_id, dry_run=True)
    assert view["status"] == "succeeded" and view["counts"]["dry_run"] is True
    assert view["counts"]["adds"]["PHONE_SHA256"] == 3
    assert view["counts"]["removes"]["MOBILE_AD_ID_SHA256"] == 2
    assert sent(sandbox, before) == Counter()
    assert sandbox.members(audience) == person_hashes(list(range(0, 6)))
    # The snapshot did not move: a real run now sends the same differences.
    real = run_to_end(services, pump, export_id)
    assert real["counts"]["adds"] == view["counts"]["adds"]


def test_scheduled_run_of_an_unchanged_export_is_skipped(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, _ = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 4)), "2026/11/20/0300")
    assert run_to_end(services, pump, export_id, trigger="schedule")["status"] == "succeeded"
    assert run_to_end(services, pump, export_id, trigger="schedule")["status"] == "skipped"
    again = run_to_end(services, pump, export_id)  # on demand still runs
    assert again["status"] == "succeeded"
    assert sum(again["counts"]["adds"].values()) == 0


def test_erasure_removes_and_an_older_export_does_not_bring_back(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 6)), "2026/11/20/0300")
    run_to_end(services, pump, export_id)
    digests = erasures.hash_erasure_values(
        {"email": " Person1@example.com", "phone": "+1 (201) 555-0001"}, "US"
    )
    result = erasures.erase(services, digests, requested_by="admin-1")
    assert result["exports"][0]["removed_from_snapshot"] == 2
    members = sandbox.members(audience)
    assert sha("person1@example.com") not in members["EMAIL_SHA256"]
    assert sha("12015550001") not in members["PHONE_SHA256"]
    assert "person1" not in str(result)
    # The same (older) export again: person 1 stays out, and nothing is re-added.
    publish(services, list(range(0, 6)), "2026/11/21/0300")
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    assert view["counts"]["erased"] == 2
    members = sandbox.members(audience)
    assert sha("person1@example.com") not in members["EMAIL_SHA256"]
    assert sha(str(__import__("uuid").UUID(int=2))) in members["MOBILE_AD_ID_SHA256"]
    # A newer export (after the erasure) that lists them again adds them back.
    publish(services, list(range(0, 6)), "2099/01/01/0000")
    view = run_to_end(services, pump, export_id)
    assert sha("person1@example.com") in sandbox.members(audience)["EMAIL_SHA256"]
    assert Schema.EMAIL


def test_an_erasure_made_while_a_run_uploads_is_applied_when_the_run_ends(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 6)), "2026/11/20/0300")
    # Hold the upload batches until the erasure has been made.
    run, held = start_run_holding_batches(services, pump, export_id)
    assert held
    digests = erasures.hash_erasure_values({"email": "person1@example.com"}, "US")
    erasures.erase(services, digests, requested_by="admin-1")
    services.queues.send(services.settings.batch_queue, held)
    pump.drain(60)
    view = get_run(services, run.id)
    assert view is not None and view["status"] == "succeeded"
    expected = person_hashes(list(range(0, 6)))
    expected["EMAIL_SHA256"].discard(sha("person1@example.com"))
    assert sandbox.members(audience) == expected
    # The new snapshot left the person out too: the next run of the same export sends nothing.
    before = len(sandbox.requests())
    again = run_to_end(services, pump, export_id)
    assert again["status"] == "succeeded"
    assert sent(sandbox, before) == Counter()
    assert sandbox.members(audience) == expected


def test_pointing_the_export_at_another_audience_starts_afresh(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, first = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 5)), "2026/11/20/0300")
    run_to_end(services, pump, export_id)
    second = sandbox.create_segment(ad_account_id=ad_account_id, name="Second")

    def move(document: dict[str, Any]) -> dict[str, Any]:
        document["audience_id"] = second
        return document

    services.state.update(layout.export(export_id), move)
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    assert sandbox.members(second) == person_hashes(list(range(0, 5)))
    assert sandbox.members(first) == person_hashes(list(range(0, 5)))


def test_byte_identical_export_in_a_new_folder_ends_without_reading(
    services: Services, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    export_id, audience = export_to_new_audience(services, sandbox, ad_account_id, "Mirror")
    publish(services, list(range(0, 8)), "2026/11/20/0300")
    first = run_to_end(services, pump, export_id)
    publish(services, list(range(0, 8)), "2026/11/21/0300")  # a new refresh, same bytes
    before = len(sandbox.requests())
    again = run_to_end(services, pump, export_id)
    assert again["status"] == "succeeded"
    assert again["counts"]["unchanged_source"] is True
    assert again["counts"]["rows"] == first["counts"]["rows"] == 8
    assert again["counts"]["identifiers"] == first["counts"]["identifiers"]
    assert sent(sandbox, before) == Counter()
    assert not list(services.state.names(layout.steps_prefix(again["id"], "read")))
    assert again["source_version"] == "cdm:HighValue/2026/11/21/0300"
    # Same sizes but different bytes (one email swapped for one of equal length): a real run.
    ids = list(range(0, 8))
    rows = [person(i) for i in ids]
    rows[3][1] = rows[3][1].replace("Person3", "Person9")
    write_ci_export(
        exports_container(services), "HighValue", [rows[:4], rows[4:]], folder="2026/11/22/0300"
    )
    changed = run_to_end(services, pump, export_id)
    assert "unchanged_source" not in changed["counts"]
    assert changed["counts"]["adds"]["EMAIL_SHA256"] == 1
    assert changed["counts"]["removes"]["EMAIL_SHA256"] == 1
    assert sha("person9@example.com") in sandbox.members(audience)["EMAIL_SHA256"]
