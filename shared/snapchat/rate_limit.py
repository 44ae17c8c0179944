"""Holding Snap's request rate: per access token and per app, across the whole deployment.

Snap allows about 10 requests/s per access token and 20 per app, answers 429 above that and
publishes no rate headers (https://developers.snap.com/api/marketing-api/Ads-API/rate-limits).
This app sends Snap requests from several functions (``run_step`` and ``upload_batch`` both
call Snap), each its own scale group on Flex Consumption with up to ``maximumInstanceCount``
instances (https://learn.microsoft.com/azure/azure-functions/event-driven-scaling), each
instance with its worker processes and threads. A limiter inside one process cannot hold the
rate; :class:`SharedRateLimiter` does, through one small blob in host storage that every
process reserves its send times in.

**Schedule.** The blob holds, per key (a connection: one Snap sign-in, one access token at a
time), the earliest time the next request may be sent, and the same for the whole app. A
request reserves ``at = max(now, next for its key, next for the app)`` and moves the key's
next to ``at + 1/rate`` and the app's to ``at + 1/app_rate``, in one compare-and-swap (the blob's
ETag); it then sleeps until ``at``. Reservations of one key are at least ``1/rate`` apart
whoever makes them, so any one-second window holds at most ``rate + 1`` of them; with the
default 8 per second the sends stay under Snap's 10 even when a worker wakes up to
``1/rate`` late. Times are wall-clock (``time.time``): Azure hosts keep time by the platform's
time service, to milliseconds.

:class:`RateLimiter` spaces the calls of one process only (the client's default, for tools and
tests that talk to Snap without host storage).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class Limiter(Protocol):
    """Something a Snap request waits on before it is sent."""

    def acquire(self) -> None:
        """Block until the caller may send one request."""
        ...


class RateLimiter:
    """Spaces calls of :meth:`acquire` at least ``1 / rate_per_s`` seconds apart (thread-safe),
    within one process."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.interval_s = 1.0 / rate_per_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval_s
        if start > now:
            self._sleep(start - now)


class SlotStore(Protocol):
    """The part of :class:`~shared.state_store.StateStore` the shared limiter uses."""

    def read(self, name: str) -> tuple[dict[str, Any], str] | None: ...

    def create(self, name: str, document: dict[str, Any]) -> bool: ...

    def replace(self, name: str, document: dict[str, Any], etag: str) -> bool: ...


class RateLimiterBusy(RuntimeError):
    """Too many lost compare-and-swap races in a row (storage under heavy contention)."""


#: A key whose next slot is this far in the past is dropped from the blob (seconds).
FORGET_AFTER_S = 300.0
#: Compare-and-swap attempts before :class:`RateLimiterBusy`.
MAX_ATTEMPTS = 60


class SharedRateLimiter:
    """Reserves send times for ``key`` in the blob ``name`` of ``store`` (see the module).

    ``rate_per_s`` is the key's rate, ``app_rate_per_s`` the rate of every key together.
    Storage errors propagate (the queue message is retried); :class:`RateLimiterBusy` after
    :data:`MAX_ATTEMPTS` lost races. ``reserved`` counts this object's reservations and
    ``conflicts`` its lost races (for benchmarks).
    """

    def __init__(
        self,
        store: SlotStore,
        name: str,
        key: str,
        rate_per_s: float,
        app_rate_per_s: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0 or app_rate_per_s <= 0:
            raise ValueError("rates must be positive")
        self.interval_s = 1.0 / rate_per_s
        self.app_interval_s = 1.0 / app_rate_per_s
        self._store = store
        self._name = name
        self._key = key
        self._clock = clock
        self._sleep = sleep
        self.reserved = 0
        self.conflicts = 0

    def acquire(self) -> None:
        """Reserve the next free send time and sleep until it."""
        at = self._reserve()
        delay = at - self._clock()
        if delay > 0:
            self._sleep(delay)

    def _reserve(self) -> float:
        for attempt in range(MAX_ATTEMPTS):
            with _process_lock(self._name):
                found = self._store.read(self._name)
                now = self._clock()
                document, etag = found if found is not None else ({}, None)
                keys = {
                    str(k): float(v)
                    for k, v in (document.get("keys") or {}).items()
                    if float(v) > now - FORGET_AFTER_S
                }
                at = max(now, float(document.get("app") or 0.0), keys.get(self._key, 0.0))
                keys[self._key] = at + self.interval_s
                changed = {"app": at + self.app_interval_s, "keys": keys}
                if etag is None:
                    won = self._store.create(self._name, changed)
                else:
                    won = self._store.replace(self._name, changed, etag)
            if won:
                self.reserved += 1
                return at
            self.conflicts += 1
            self._sleep(random.uniform(0, 0.005 * min(attempt + 1, 10)))
        raise RateLimiterBusy(f"{self._name}: {MAX_ATTEMPTS} lost races for a send time")


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(name: str) -> threading.Lock:
    """One lock per blob per process: threads of a process take turns at the blob, so they
    do not race each other, only other processes."""
    with _process_locks_guard:
        return _process_locks.setdefault(name, threading.Lock())
