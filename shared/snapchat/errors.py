"""Errors of the Snap Marketing API client, as a small hierarchy a caller can branch on.

Classification (Snap documents 429 for its rate limits,
https://developers.snap.com/api/marketing-api/Ads-API/rate-limits, and publishes no list of
error codes; the codes below are those Snap's clients handle, e.g. RudderStack's
``networkHandler.js`` in https://github.com/rudderlabs/rudder-transformer,
``src/v0/destinations/snapchat_custom_audience``):
429, 5xx, transport errors, non-JSON bodies and HTTP 200 carrying ``request_status: ERROR``
without a known permanent code are *transient* (retried with backoff, then handed back to the
queue). 403/``E3002`` (permission), 404/``E3003``/``E3004`` (no such audience), a revoked
refresh token and other 4xx are *permanent*: the run stops without retrying.

Messages carry Snap's ``debug_message``/``error_description``, the HTTP status, the error
code and ``request_id``, never a token, a secret or an identifier.
"""

from __future__ import annotations


class SnapchatError(Exception):
    """Base class. ``transient`` says whether retrying the same request may succeed."""

    transient = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        details = [
            f"HTTP {status}" if status else None,
            error_code,
            request_id and f"request {request_id}",
        ]
        suffix = ", ".join(d for d in details if d)
        super().__init__(f"{message} ({suffix})" if suffix else message)


class SnapchatTransientError(SnapchatError):
    """429, 5xx, transport failure or a malformed answer; still failing after the budget."""

    transient = True


class SnapchatAuthError(SnapchatError):
    """The connection's Snapchat sign-in is no longer valid (revoked or expired refresh
    token, or 401 after a fresh token). An administrator must sign in again."""


class SnapchatPermissionError(SnapchatError):
    """403 / ``E3002``: the signed-in user lacks Admin or Data Manager on the ad account."""


class SnapchatNotFoundError(SnapchatError):
    """404 / ``E3003`` / ``E3004``: the audience (segment) or ad account does not exist."""


class SnapchatRequestError(SnapchatError):
    """Another 4xx: the request itself was refused (a bug here, or a changed API)."""
