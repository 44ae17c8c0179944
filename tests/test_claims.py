"""Phase transitions: one worker moves a run past a phase; a dead or failed one does not block."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from devtools.local_host import QueuePump
from devtools.snap_sandbox import SnapSandbox
from shared import layout, pipeline
from shared.models import RunOptions
from shared.pipeline import claims, finish
from shared.run_control import start_run
from shared.services import Services
from tests.support import (
    export_to_new_audience,
    exports_container,
    person,
    person_hashes,
    seed_connection,
    seed_export,
    start_run_holding_batches,
    write_ci_export,
)


def fast_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims that go stale in 1 s, renew every 0.2 s and make losers wait 0.2 s."""
    monkeypatch.setattr(claims, "CLAIM_STALE_S", 1.0)
    monkeypatch.setattr(claims, "CLAIM_HEARTBEAT_S", 0.2)
    monkeypatch.setattr(claims, "CLAIM_WAIT_S", 0.2)


def two_people_export(
    services: Services, sandbox: SnapSandbox, ad_account_id: str
) -> tuple[str, str]:
    """People 1 and 2 exported, an empty audience and an export into it: their ids."""
    write_ci_export(exports_container(services), "HighValue", [[person(1), person(2)]])
    return export_to_new_audience(services, sandbox, ad_account_id, "A")


def test_one_claim_per_transition_and_a_sent_one_is_final(services: Services) -> None:
    assert claims.claim(services.state, "run-a", "read")
    claims.mark_sent(services.state, "run-a", "read")
    assert claims.claim(services.state, "run-a", "read") is None
    assert claims.claim(services.state, "run-a", "diff")  # another phase


def test_our_own_claim_written_but_answered_as_existing_is_ours(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = type(services.state).create

    def lost_answer(self: Any, name: str, document: dict[str, Any]) -> bool:
        create(self, name, document)
        return False  # the SDK retried the write after a lost answer and got 409 exists

    monkeypatch.setattr(type(services.state), "create", lost_answer)
    monkeypatch.setattr(claims, "CLAIM_WAIT_S", 0.3)
    owner = claims.claim(services.state, "run-g", "read")
    assert owner and (services.state.get(layout.claim("run-g", "read")) or {})["owner"] == owner


def test_a_claim_in_progress_makes_the_message_retry_later(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "CLAIM_WAIT_S", 0.3)
    assert claims.claim(services.state, "run-b", "diff")
    with pytest.raises(claims.TransitionPending, match="diff transition is still in progress"):
        claims.claim(services.state, "run-b", "diff")


def test_a_dead_workers_claim_is_taken_over_once_stale(services: Services) -> None:
    name = layout.claim("run-c", "upload")
    stale = time.time() - claims.CLAIM_STALE_S - 1
    services.state.put(name, {"claimed_at": stale, "sent": False, "owner": "dead"})
    owner = claims.claim(services.state, "run-c", "upload")
    assert owner and owner != "dead"
    assert services.state.get(name) == {
        "claimed_at": pytest.approx(time.time(), abs=30),
        "sent": False,
        "owner": owner,
        "taken_over": True,
    }


def test_a_transition_that_raises_gives_its_claim_back_at_once(services: Services) -> None:
    owner = claims.claim(services.state, "run-d", "clear")
    assert owner
    with pytest.raises(RuntimeError), claims.holding(services.state, "run-d", "clear", owner):
        raise RuntimeError("Snap answered 503 for the whole retry budget")
    assert services.state.get(layout.claim("run-d", "clear")) is None
    owner = claims.claim(services.state, "run-d", "clear")  # no wait for staleness
    assert owner
    # An error that ends the run keeps the claim: no redelivery should redo the transition.
    with (
        pytest.raises(KeyError),
        claims.holding(
            services.state,
            "run-d",
            "clear",
            owner,
            release_on=lambda e: not isinstance(e, KeyError),
        ),
    ):
        raise KeyError("ends the run")
    assert services.state.get(layout.claim("run-d", "clear"))["owner"] == owner  # type: ignore[index]
    # A transition that got as far as sending keeps its sent claim even if it raises after.
    with pytest.raises(RuntimeError), claims.holding(services.state, "run-d", "clear", owner):
        claims.mark_sent(services.state, "run-d", "clear")
        raise RuntimeError("after sending")
    assert claims.claim(services.state, "run-d", "clear") is None


def test_a_slow_worker_never_releases_a_claim_taken_over_from_it(services: Services) -> None:
    name = layout.claim("run-e", "diff")
    slow = claims.claim(services.state, "run-e", "diff")
    assert slow
    with pytest.raises(RuntimeError), claims.holding(services.state, "run-e", "diff", slow):
        # While the slow worker is stuck past staleness, another takes the claim over.
        document = services.state.get(name) or {}
        services.state.put(name, {**document, "claimed_at": time.time() - 999})
        taker = claims.claim(services.state, "run-e", "diff")
        assert taker and taker != slow
        raise RuntimeError("the slow worker's Snap call finally fails")
    assert (services.state.get(name) or {})["owner"] == taker  # still the taker's


def test_the_owner_renews_its_claim_while_it_works(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "CLAIM_HEARTBEAT_S", 0.2)
    name = layout.claim("run-f", "upload")
    owner = claims.claim(services.state, "run-f", "upload")
    assert owner
    first = (services.state.get(name) or {})["claimed_at"]
    with claims.holding(services.state, "run-f", "upload", owner):
        deadline = time.monotonic() + 10
        while (services.state.get(name) or {})["claimed_at"] == first:
            assert time.monotonic() < deadline, "never renewed"
            time.sleep(0.05)
        renewed = services.state.get(name) or {}
    assert renewed["owner"] == owner and renewed["sent"] is False
    assert renewed["claimed_at"] > first


def test_a_message_poisoned_while_a_live_worker_moves_the_run_on_does_not_fail_it(
    services: Services, sandbox: SnapSandbox, ad_account_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_claims(monkeypatch)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="A")
    export_id = seed_export(services, seed_connection(services, sandbox), audience)
    run = start_run(services, export_id, trigger="on_demand", options=RunOptions())
    body = json.dumps({"kind": "diff", "run_id": run.id, "partition": 0}).encode()
    services.state.create(layout.step(run.id, "diff", 0), {})
    owner = claims.claim(services.state, run.id, "diff")  # a live worker is moving the run on
    assert owner
    with claims.holding(services.state, run.id, "diff", owner):
        pipeline.handle_poison_message(services, body, "runs")
    assert (services.state.get(layout.run(run.id)) or {})["status"] == "queued"
    # A message whose own part never got done does fail the run.
    other = json.dumps({"kind": "diff", "run_id": run.id, "partition": 1}).encode()
    pipeline.handle_poison_message(services, other, "runs")
    failed = services.state.get(layout.run(run.id)) or {}
    assert (failed["status"], failed["error"]["code"]) == ("failed", "step_failed")


def test_a_poisoned_message_whose_worker_died_holding_the_claim_still_finishes_the_run(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    export_id, audience = two_people_export(services, sandbox, ad_account_id)
    run, held = start_run_holding_batches(services, pump, export_id)
    assert len(held) == 3
    fast_claims(monkeypatch)
    # The worker of the last batch dies while finishing the run: its claim is never given
    # back, its message is poisoned on that very delivery.
    end = finish.end_after_uploads
    monkeypatch.setattr(claims, "_release", lambda *args: None)
    monkeypatch.setattr(finish, "end_after_uploads", lambda *a: (_ for _ in ()).throw(OSError()))
    for message in held[:-1]:
        pipeline.handle_batch_message(services, message.body())
    with pytest.raises(OSError):
        pipeline.handle_batch_message(services, held[-1].body())
    assert (services.state.get(layout.claim(run.id, "upload")) or {})["sent"] is False
    monkeypatch.setattr(finish, "end_after_uploads", end)
    pipeline.handle_poison_message(services, held[-1].body(), "batches")
    view = services.state.get(layout.run(run.id)) or {}
    assert view["status"] == "succeeded", view
    assert sandbox.members(audience) == person_hashes([1, 2])


def test_a_poisoned_clear_message_whose_worker_died_sending_batches_still_finishes_the_run(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    export_id, audience = two_people_export(services, sandbox, ad_account_id)
    sandbox.add_members(audience, person_hashes([3])["EMAIL_SHA256"])
    send = services.queues.send
    held: list[Any] = []

    def hold_clear(queue: str, messages: Any) -> int:
        messages = list(messages)
        held.extend(m for m in messages if m.kind == "clear")
        return send(queue, [m for m in messages if m.kind != "clear"])

    monkeypatch.setattr(services.queues, "send", hold_clear)
    run = start_run(
        services, export_id, trigger="on_demand", options=RunOptions(full_refresh="clear_first")
    )
    pump.drain(60)
    assert len(held) == 1
    fast_claims(monkeypatch)
    monkeypatch.setattr(claims, "_release", lambda *args: None)  # the worker dies

    def die_sending_batches(queue: str, messages: Any) -> int:
        if queue == services.settings.batch_queue:
            raise OSError("worker lost")
        return send(queue, messages)

    monkeypatch.setattr(services.queues, "send", die_sending_batches)
    body = held[0].body()
    with pytest.raises(OSError):
        pipeline.handle_run_message(services, body)
    assert services.state.get(layout.step(run.id, "clear", "done")) is not None
    monkeypatch.setattr(services.queues, "send", send)
    pipeline.handle_poison_message(services, body, "runs")
    pump.drain(60)
    view = services.state.get(layout.run(run.id)) or {}
    assert view["status"] == "succeeded", view
    assert sandbox.members(audience) == person_hashes([1, 2])
