"""Phase transitions: one worker moves a run past a phase; a dead or failed one does not block."""

from __future__ import annotations

import time

import pytest

from shared import layout, pipeline
from shared.services import Services


def test_one_claim_per_transition_and_a_sent_one_is_final(services: Services) -> None:
    assert pipeline._claim(services, "run-a", "read") is True
    pipeline._mark_sent(services, "run-a", "read")
    assert pipeline._claim(services, "run-a", "read") is False
    assert pipeline._claim(services, "run-a", "diff") is True  # another phase


def test_a_claim_in_progress_makes_the_message_retry_later(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "CLAIM_WAIT_S", 0.3)
    assert pipeline._claim(services, "run-b", "diff") is True
    with pytest.raises(pipeline.TransitionPending, match="diff transition is still in progress"):
        pipeline._claim(services, "run-b", "diff")


def test_a_dead_workers_claim_is_taken_over_once_stale(services: Services) -> None:
    name = layout.claim("run-c", "upload")
    stale = time.time() - pipeline.CLAIM_STALE_S - 1
    services.state.put(name, {"claimed_at": stale, "sent": False})
    assert pipeline._claim(services, "run-c", "upload") is True
    assert services.state.get(name)["taken_over"] is True  # type: ignore[index]


def test_a_transition_that_raises_gives_its_claim_back_at_once(services: Services) -> None:
    assert pipeline._claim(services, "run-d", "clear") is True
    with pytest.raises(RuntimeError), pipeline._releasing_claim(services, "run-d", "clear"):
        raise RuntimeError("Snap answered 503 for the whole retry budget")
    assert services.state.get(layout.claim("run-d", "clear")) is None
    assert pipeline._claim(services, "run-d", "clear") is True  # no wait for staleness
    # A transition that got as far as sending keeps its sent claim even if it raises after.
    with pytest.raises(RuntimeError), pipeline._releasing_claim(services, "run-d", "clear"):
        pipeline._mark_sent(services, "run-d", "clear")
        raise RuntimeError("after sending")
    assert pipeline._claim(services, "run-d", "clear") is False
