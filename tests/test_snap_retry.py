"""Unit: the backoff both Snap clients use (waits, caps, the budget, retries at once)."""

from __future__ import annotations

import pytest

from shared.snapchat import SnapchatTransientError, retry
from shared.snapchat.retry import Backoff


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)


def test_waits_double_up_to_the_cap_then_the_budget_ends_them(no_jitter: None) -> None:
    waits: list[float] = []
    backoff = Backoff(30.0, cap_s=4.0, sleep=waits.append)
    error = SnapchatTransientError("503")
    for _ in range(6):
        backoff.wait(error)
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    short = Backoff(0.8, cap_s=4.0, sleep=waits.append)
    short.wait(error)  # 0.5 s fits in 0.8 s
    with pytest.raises(SnapchatTransientError) as raised:
        short.wait(error)  # 1 s more would end past the budget: the error is raised
    assert raised.value is error


def test_a_retry_at_once_counts_as_an_attempt(no_jitter: None) -> None:
    waits: list[float] = []
    backoff = Backoff(30.0, cap_s=20.0, sleep=waits.append)
    backoff.retry_now()  # after a 401 and a token refresh
    backoff.wait(SnapchatTransientError("429"))
    assert waits == [1.0]


def test_jitter_keeps_each_wait_between_half_and_all_of_it() -> None:
    waits: list[float] = []
    backoff = Backoff(600.0, cap_s=20.0, sleep=waits.append)
    for _ in range(8):
        backoff.wait(SnapchatTransientError("500"))
    full = [min(20.0, 0.5 * 2**n) for n in range(8)]
    assert all(f / 2 <= w <= f for w, f in zip(waits, full, strict=True))
