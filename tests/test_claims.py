"""Phase transitions: one worker moves a run past a phase; a dead or failed one does not block."""

from __future__ import annotations

import json
import time

import pytest

from shared import claims, layout, pipeline
from shared.models import RunOptions
from shared.run_control import start_run
from shared.services import Services
from shared.snap_sandbox import SnapSandbox
from tests.helpers import seed_connection, seed_export


def test_one_claim_per_transition_and_a_sent_one_is_final(services: Services) -> None:
    assert claims.claim(services.state, "run-a", "read")
    claims.mark_sent(services.state, "run-a", "read")
    assert claims.claim(services.state, "run-a", "read") is None
    assert claims.claim(services.state, "run-a", "diff")  # another phase


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


def test_a_message_poisoned_only_by_waiting_for_a_live_transition_does_not_fail_the_run(
    services: Services, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="A")
    export_id = seed_export(services, seed_connection(services, sandbox), audience)
    run = start_run(services, export_id, trigger="on_demand", options=RunOptions())
    body = json.dumps({"kind": "diff", "run_id": run.id, "partition": 0}).encode()
    services.state.create(layout.step(run.id, "diff", 0), {})
    assert claims.claim(services.state, run.id, "diff")  # a live worker is moving the run on
    pipeline.handle_poison_message(services, body, "runs")
    assert (services.state.get(layout.run(run.id)) or {})["status"] == "queued"
    # Once that worker is gone (its claim stale), the poisoned message does fail the run.
    name = layout.claim(run.id, "diff")
    services.state.put(name, {**(services.state.get(name) or {}), "claimed_at": 0})
    pipeline.handle_poison_message(services, body, "runs")
    failed = services.state.get(layout.run(run.id)) or {}
    assert (failed["status"], failed["error"]["code"]) == ("failed", "step_failed")
