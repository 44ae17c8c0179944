"""Retrying a call to Snap: exponential backoff with jitter, within a time budget.

Snap asks a client over its rate limit to slow down and sends no ``Retry-After``
(https://developers.snap.com/api/marketing-api/Ads-API/rate-limits), so both the API client
and the OAuth client back off on their own: after failed attempt ``n`` they wait
``min(cap, 0.5 s * 2 ** (n - 1))`` times a random 50 to 100 % ("equal jitter":
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), and give up,
raising the last error, when that wait would end past the budget.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from shared.snapchat.errors import SnapchatError

#: The first wait before jitter, in seconds.
BASE_DELAY_S = 0.5


class Backoff:
    """The waits of one call: ``budget_s`` seconds from now, each wait at most ``cap_s``."""

    def __init__(
        self, budget_s: float, *, cap_s: float, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._deadline = time.monotonic() + budget_s
        self._cap = cap_s
        self._sleep = sleep
        self._attempts = 0

    def retry_now(self) -> None:
        """Count an attempt that is retried at once (after a token refresh)."""
        self._attempts += 1

    def wait(self, error: SnapchatError) -> None:
        """Count a failed attempt and sleep before the next; raise ``error`` instead when the
        wait would end past the budget."""
        self._attempts += 1
        delay = min(self._cap, BASE_DELAY_S * 2 ** (self._attempts - 1))
        delay *= random.uniform(0.5, 1.0)
        if time.monotonic() + delay > self._deadline:
            raise error
        self._sleep(delay)
