"""A rate limiter shared by every batch worker thread of one instance.

Snap allows about 10 requests/s per access token and 20 per app and sends no ``Retry-After``
(https://developers.snap.com/api/marketing-api/Ads-API/rate-limits). Requests are spaced at
least ``1/rate`` seconds apart, so no sliding one-second window sees more than ``rate + 1``
of them. Across instances the cap is ``maximumInstanceCount x rate`` (see the README), so
``rate`` is set per instance by the app setting ``SNAPCHAT_MAX_REQUESTS_PER_SECOND``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces calls of :meth:`acquire` at least ``1 / rate_per_s`` seconds apart (thread-safe).

    ``parent`` is consulted too (e.g. an app-wide limiter over per-connection ones).
    """

    def __init__(
        self,
        rate_per_s: float,
        *,
        parent: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.interval_s = 1.0 / rate_per_s
        self._parent = parent
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        if self._parent is not None:
            self._parent.acquire()
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval_s
        if start > now:
            self._sleep(start - now)


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(key: str, rate_per_s: float) -> RateLimiter:
    """The process-wide limiter for ``key`` (one per connection), under one app-wide limiter
    at twice the rate (Snap: 20 per app against 10 per token)."""
    with _limiters_lock:
        app = _limiters.get("__app__")
        if app is None or app.interval_s != 1.0 / (2 * rate_per_s):
            app = _limiters["__app__"] = RateLimiter(2 * rate_per_s)
        limiter = _limiters.get(key)
        if limiter is None or limiter.interval_s != 1.0 / rate_per_s:
            limiter = _limiters[key] = RateLimiter(rate_per_s, parent=app)
        return limiter
