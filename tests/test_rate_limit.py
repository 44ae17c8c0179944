"""The deployment-wide Snap rate schedule: pure rules on a fake clock and store, then real
processes racing for send times in Azurite."""

from __future__ import annotations

import itertools
import multiprocessing
import time
import uuid
from typing import Any

import pytest

from shared.snapchat.rate_limit import (
    MAX_ATTEMPTS,
    RateLimiter,
    RateLimiterBusy,
    SharedRateLimiter,
)
from shared.state_store import StateStore


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class MemoryStore:
    """Blob-like documents with ETags; ``lose`` makes the next N writes lose the race."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[dict[str, Any], str]] = {}
        self.lose = 0

    def read(self, name: str) -> tuple[dict[str, Any], str] | None:
        return self.docs.get(name)

    def _write(self, name: str, document: dict[str, Any]) -> bool:
        if self.lose:
            self.lose -= 1
            return False
        self.docs[name] = (document, uuid.uuid4().hex)
        return True

    def create(self, name: str, document: dict[str, Any]) -> bool:
        return name not in self.docs and self._write(name, document)

    def replace(self, name: str, document: dict[str, Any], etag: str) -> bool:
        return self.docs.get(name, ({}, None))[1] == etag and self._write(name, document)


def limiter(store: MemoryStore, clock: FakeClock, key: str, rate: float = 8, app: float = 16):
    return SharedRateLimiter(store, "rates.json", key, rate, app, clock=clock, sleep=clock.sleep)


def test_one_key_is_spaced_one_over_rate_whoever_sends() -> None:
    store, clock = MemoryStore(), FakeClock()
    # Two processes' limiters of the same connection share the blob, not memory.
    first, second = limiter(store, clock, "conn-a"), limiter(store, clock, "conn-a")
    times = []
    for use in (first, second, first, second, second):
        use.acquire()
        times.append(clock.now)
    assert times == pytest.approx([1000.0, 1000.125, 1000.25, 1000.375, 1000.5])


def test_the_app_rate_binds_several_keys_together() -> None:
    store, clock = MemoryStore(), FakeClock()
    keys = [limiter(store, clock, f"conn-{i}", rate=8, app=16) for i in range(4)]
    times = []
    for _ in range(3):
        for use in keys:
            use.acquire()
            times.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) == pytest.approx(1 / 16)
    assert len([t for t in times if t < times[0] + 1.0]) <= 16


def test_a_lost_race_is_retried_and_counted() -> None:
    store, clock = MemoryStore(), FakeClock()
    use = limiter(store, clock, "conn-a")
    use.acquire()
    store.lose = 3
    use.acquire()
    assert use.conflicts == 3 and use.reserved == 2
    store.lose = MAX_ATTEMPTS
    with pytest.raises(RateLimiterBusy):
        use.acquire()


def test_idle_keys_are_forgotten_and_a_late_caller_does_not_wait() -> None:
    store, clock = MemoryStore(), FakeClock()
    limiter(store, clock, "old").acquire()
    clock.now += 3600
    late = limiter(store, clock, "new")
    late.acquire()
    assert clock.slept == [] and set(store.docs["rates.json"][0]["keys"]) == {"new"}


def test_the_in_process_limiter_spaces_calls() -> None:
    clock = FakeClock(0.0)
    local = RateLimiter(4, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        local.acquire()
    assert clock.now == pytest.approx(1.0)


# -- real processes, real storage -----------------------------------------------------------


def _send_times(connection_string: str, container: str, key: str, count: int, out: Any) -> None:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection_string)
    store = StateStore(service.get_container_client(container))
    shared = SharedRateLimiter(store, "rate-limits/snapchat.json", key, 8, 16)
    sent = []
    for _ in range(count):
        shared.acquire()
        sent.append(time.time())
    out.put((key, sent, shared.conflicts))


def _most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_processes_racing_in_storage_keep_the_rate_per_key_and_per_app(
    storage_connection_string: str,
) -> None:
    from azure.storage.blob import BlobServiceClient

    container = f"rates-{uuid.uuid4().hex[:10]}"
    BlobServiceClient.from_connection_string(storage_connection_string).create_container(container)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    keys = ["conn-a", "conn-a", "conn-a", "conn-b"]  # three processes of one connection
    workers = [
        context.Process(
            target=_send_times, args=(storage_connection_string, container, key, 12, out)
        )
        for key in keys
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    by_key: dict[str, list[float]] = {}
    for key, sent, _ in results:
        by_key.setdefault(key, []).extend(sent)
    everything = sorted(t for sent in by_key.values() for t in sent)
    assert len(by_key["conn-a"]) == 36 and len(by_key["conn-b"]) == 12
    # Reservations of one key are 1/8 s apart, so no second holds more than 8 + 1 of them
    # (a sleeping process may wake a little late; Snap's limit is 10).
    assert _most_in_one_second(by_key["conn-a"]) <= 9
    assert _most_in_one_second(by_key["conn-b"]) <= 9
    assert _most_in_one_second(everything) <= 17
    # 36 sends of one key at 8/s take at least 35/8 s whoever sends them.
    assert max(by_key["conn-a"]) - min(by_key["conn-a"]) >= 35 / 8 - 0.05
