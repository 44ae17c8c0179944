"""Phase transitions: one worker moves a run past a phase; a dead or failed one does not block."""

from __future__ import annotations

import time

import pytest

from shared import claims, layout
from shared.services import Services


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
