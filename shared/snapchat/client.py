"""``SnapchatClient``: the Snap Marketing API calls this app makes, and how it survives them.

Endpoints (https://developers.snap.com/api/marketing-api/Ads-API/api-patterns and
https://developers.snap.com/api/marketing-api/Ads-API/customer-lists): ``GET /v1/me``,
``/v1/me/organizations``, ``/v1/organizations/{id}/adaccounts`` (paged with ``limit`` and
``paging.next_link``); segments under ``/v1/adaccounts/{id}/segments`` and
``/v1/segments/{id}``; members with ``POST``/``DELETE /v1/segments/{id}/users`` (the DELETE
carries a JSON body) and ``DELETE /v1/segments/{id}/all_users``.

Behaviour:

* Every call sends ``Authorization: Bearer`` from the connection's
  :class:`~shared.snapchat.oauth.AccessTokenCache`; a 401 invalidates it, refreshes once and
  retries once, for every call type (Segment's Snap destination missed this on create:
  https://github.com/segmentio/action-destinations/pull/2621).
* 429, 5xx and transport errors are retried with exponential backoff and jitter within
  ``retry_budget_s`` (:mod:`shared.snapchat.retry`); then :class:`SnapchatTransientError`
  is raised so the queue message is retried by the Functions host (and ends in the poison
  queue).
* ``request_status`` and every ``sub_request_status`` are checked even on HTTP 200,
  case-insensitively (Snap's docs show both ``SUCCESS`` and ``success``).
* Every request (each retry too) first waits on a :class:`~shared.snapchat.rate_limit.Limiter`:
  in the app the deployment-wide :class:`~shared.snapchat.rate_limit.SharedRateLimiter`.
* At most 100,000 identifiers per request, one schema per request (see
  :data:`MAX_IDENTIFIERS_PER_REQUEST`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from shared.identifiers import Schema
from shared.snapchat.errors import (
    SnapchatAuthError,
    SnapchatError,
    SnapchatNotFoundError,
    SnapchatPermissionError,
    SnapchatRequestError,
    SnapchatTransientError,
)
from shared.snapchat.oauth import AccessTokenCache
from shared.snapchat.rate_limit import Limiter, RateLimiter
from shared.snapchat.retry import Backoff

#: Snap's maximum identifiers per users request, as Snap's clients document it (Braze:
#: https://www.braze.com/docs/partners/canvas_audience_sync/snapchat_audience_sync; Segment's
#: ``max_batch_size`` in https://github.com/segmentio/action-destinations,
#: ``packages/destination-actions/src/destinations/snap-audiences/syncAudience/fields.ts``).
MAX_IDENTIFIERS_PER_REQUEST = 100_000
#: Customer-list audiences' ``source_type`` (https://developers.snap.com/api/marketing-api/Ads-API/customer-lists).
FIRST_PARTY = "FIRST_PARTY"
#: ``retention_in_days`` meaning "lifetime", Snap's default (same page).
LIFETIME_RETENTION_DAYS = 9999
PAGE_SIZE = 500

_LOWER_HEX = re.compile(r"[0-9a-f]+")
_PERMISSION_CODES = {"E3002"}
_NOT_FOUND_CODES = {"E3003", "E3004"}


def _is_success(status: object) -> bool:
    return isinstance(status, str) and status.strip().upper() == "SUCCESS"


class SnapchatClient:
    """Calls the Snap Marketing API for one connection (one signed-in Snapchat user).

    ``api_url`` is the API base without ``/v1`` (``SNAPCHAT_API_URL``). Times are seconds.
    Errors raised are subclasses of :class:`~shared.snapchat.errors.SnapchatError`.
    """

    def __init__(
        self,
        api_url: str,
        tokens: AccessTokenCache,
        *,
        rate_limiter: Limiter | None = None,
        timeout_s: float = 60.0,
        retry_budget_s: float = 120.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base = api_url.rstrip("/") + "/v1"
        self._tokens = tokens
        self._limiter: Limiter = rate_limiter or RateLimiter(8.0)
        self._timeout = timeout_s
        self._budget = retry_budget_s
        self._sleep = sleep
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self._session = session
        self.requests_sent = 0

    def bounded(self, *, timeout_s: float, retry_budget_s: float = 0.0) -> SnapchatClient:
        """This connection's client with other limits: the same access token cache, rate
        limiter and HTTP session, each request answered within ``timeout_s`` and retried only
        within ``retry_budget_s`` (0: never). For calls an HTTP request waits for."""
        client = SnapchatClient(
            self._base.removesuffix("/v1"),
            self._tokens,
            rate_limiter=self._limiter,
            timeout_s=timeout_s,
            retry_budget_s=retry_budget_s,
            session=self._session,
            sleep=self._sleep,
        )
        return client

    # -- account discovery ------------------------------------------------------------------
    def me(self) -> dict[str, Any]:
        """The signed-in member (``GET /v1/me``): id, email, display_name, organization_id."""
        return dict(self._call("GET", "/me").get("me") or {})

    def organizations(self, *, with_ad_accounts: bool = True) -> Iterator[dict[str, Any]]:
        """The member's organizations; each with ``ad_accounts`` when asked."""
        params = {"with_ad_accounts": "true"} if with_ad_accounts else {}
        for item in self._pages("/me/organizations", "organizations", params):
            yield dict(item.get("organization") or {})

    def ad_accounts(self, organization_id: str) -> Iterator[dict[str, Any]]:
        """Ad accounts of an organization (id, name, status, ...)."""
        for item in self._pages(f"/organizations/{organization_id}/adaccounts", "adaccounts"):
            yield dict(item.get("adaccount") or {})

    # -- audiences (Snap's segments) ------------------------------------------------------
    def get_audience(self, audience_id: str) -> dict[str, Any]:
        """One audience (``GET /v1/segments/{id}``), Snap's segment object:
        ``approximate_number_users``, ``upload_status``, ``targetable_status``...

        :class:`SnapchatNotFoundError` when it was deleted or never existed.
        """
        return self._one_audience(self._call("GET", f"/segments/{audience_id}"), audience_id)

    def create_audience(
        self,
        ad_account_id: str,
        name: str,
        *,
        description: str = "",
        retention_in_days: int = LIFETIME_RETENTION_DAYS,
    ) -> dict[str, Any]:
        """Create a Customer List audience (``POST /v1/adaccounts/{id}/segments``, source type
        ``FIRST_PARTY``); returns Snap's segment object with its new ``id``."""
        if not 1 <= len(name) <= 375:
            raise ValueError("an audience name has 1 to 375 characters")
        body = {
            "segments": [
                {
                    "name": name,
                    "description": description,
                    "source_type": FIRST_PARTY,
                    "retention_in_days": retention_in_days,
                    "ad_account_id": ad_account_id,
                }
            ]
        }
        answer = self._call("POST", f"/adaccounts/{ad_account_id}/segments", body)
        return self._one_audience(answer, "new audience")

    def list_audiences(self, ad_account_id: str) -> Iterator[dict[str, Any]]:
        """Audiences of an ad account (``GET /v1/adaccounts/{id}/segments``), every source
        type (filter on ``source_type``)."""
        for item in self._pages(f"/adaccounts/{ad_account_id}/segments", "segments"):
            yield dict(item.get("segment") or {})

    def delete_audience(self, audience_id: str) -> None:
        """Delete an audience (``DELETE /v1/segments/{id}``)."""
        self._call("DELETE", f"/segments/{audience_id}")

    # -- members ----------------------------------------------------------------------------
    def add_users(self, audience_id: str, schema: Schema, hashes: Sequence[str]) -> int:
        """Add SHA-256 hex identifiers of one schema; returns ``number_uploaded_users``."""
        return self._users("POST", audience_id, schema, hashes)

    def remove_users(self, audience_id: str, schema: Schema, hashes: Sequence[str]) -> int:
        """Remove SHA-256 hex identifiers of one schema (``DELETE`` with a JSON body)."""
        return self._users("DELETE", audience_id, schema, hashes)

    def remove_all_users(self, audience_id: str) -> dict[str, Any]:
        """Empty the audience (``DELETE /v1/segments/{id}/all_users``); returns it."""
        answer = self._call("DELETE", f"/segments/{audience_id}/all_users")
        return self._one_audience(answer, audience_id) if answer.get("segments") else {}

    def _users(self, method: str, audience_id: str, schema: Schema, hashes: Sequence[str]) -> int:
        if not hashes:
            return 0
        if len(hashes) > MAX_IDENTIFIERS_PER_REQUEST:
            raise ValueError(
                f"{len(hashes)} identifiers in one request; Snap takes at most "
                f"{MAX_IDENTIFIERS_PER_REQUEST}"
            )
        joined = "".join(hashes)
        if len(joined) != 64 * len(hashes) or not _LOWER_HEX.fullmatch(joined):
            # The last guard before the wire: only SHA-256 digests are ever sent.
            raise ValueError("users requests carry only 64-character lowercase hex digests")
        # {"users":[{"schema":["EMAIL_SHA256"],"data":[["<hash>"],...]}]}, built directly:
        # hex digests need no JSON escaping, and json.dumps of 100,000 rows is slow.
        body = (
            f'{{"users":[{{"schema":["{schema.value}"],"data":[["' + '"],["'.join(hashes) + '"]]}]}'
        ).encode()
        answer = self._call(method, f"/segments/{audience_id}/users", body)
        total = 0
        for item in answer.get("users") or []:
            user = item.get("user") or {} if isinstance(item, dict) else {}
            try:
                total += int(user.get("number_uploaded_users") or 0)
            except (TypeError, ValueError):
                continue
        return total

    # -- transport --------------------------------------------------------------------------
    def _one_audience(self, answer: dict[str, Any], what: str) -> dict[str, Any]:
        """The one segment object of Snap's ``{"segments": [{"segment": {...}}]}`` envelope."""
        items = answer.get("segments") or []
        if not items or not isinstance(items[0], dict) or not items[0].get("segment"):
            raise SnapchatTransientError(f"Snap answered without the segment ({what})")
        return dict(items[0]["segment"])

    def _pages(
        self, path: str, key: str, params: dict[str, str] | None = None
    ) -> Iterator[dict[str, Any]]:
        url: str | None = self._base + path
        query: dict[str, str] | None = {**(params or {}), "limit": str(PAGE_SIZE)}
        while url:
            answer = self._call("GET", url, params=query)
            yield from (i for i in answer.get(key) or [] if isinstance(i, dict))
            url = (answer.get("paging") or {}).get("next_link") or None
            query = None  # next_link carries the cursor and the original query

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | bytes | None = None,
        *,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = path if path.startswith("http") else self._base + path
        if isinstance(body, bytes) or body is None:
            payload = body
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
        backoff = Backoff(self._budget, cap_s=20.0, sleep=self._sleep)
        refreshed = False
        while True:
            token = self._tokens.token()
            self._limiter.acquire()
            self.requests_sent += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=payload,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                        "Accept": "application/json",
                    },
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                error: SnapchatError = SnapchatTransientError(
                    f"{method} {path.split('?')[0]} failed in transport ({exc.__class__.__name__})"
                )
            else:
                if response.status_code == 401:
                    self._tokens.invalidate(token)
                    if refreshed:
                        raise SnapchatAuthError(
                            "Snapchat rejected a freshly refreshed access token (401)",
                            status=401,
                        )
                    refreshed = True
                    backoff.retry_now()
                    continue
                try:
                    return _check(response, method, path)
                except SnapchatTransientError as exc:
                    error = exc
            backoff.wait(error)


def _check(response: requests.Response, method: str, path: str) -> dict[str, Any]:
    """The JSON answer, or the right :class:`SnapchatError` for it (even on HTTP 200)."""
    status = response.status_code
    where = f"{method} {path.split('?')[0]}"
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    request_id = data.get("request_id")
    code = data.get("error_code")
    message = str(
        data.get("debug_message") or data.get("display_message") or data.get("msg") or ""
    )[:300]
    text = f"{where}: {message}" if message else where
    if status == 429 or status >= 500:
        raise SnapchatTransientError(
            text or where, status=status, error_code=code, request_id=request_id
        )
    if status == 403 or code in _PERMISSION_CODES:
        raise SnapchatPermissionError(
            f"{where}: the signed-in Snapchat user lacks Admin or Data Manager on the ad "
            f"account ({message or 'permission denied'})",
            status=status,
            error_code=code,
            request_id=request_id,
        )
    if status == 404 or code in _NOT_FOUND_CODES:
        raise SnapchatNotFoundError(
            f"{where}: not found ({message or 'no such entity'})",
            status=status,
            error_code=code,
            request_id=request_id,
        )
    if status >= 400:
        raise SnapchatRequestError(text, status=status, error_code=code, request_id=request_id)
    if not data:
        raise SnapchatTransientError(f"{where}: answer is not JSON", status=status)
    if not _is_success(data.get("request_status")):
        raise SnapchatTransientError(
            f"{where}: request_status {data.get('request_status')!r} on HTTP {status}"
            + (f": {message}" if message else ""),
            status=status,
            error_code=code,
            request_id=request_id,
        )
    for key in ("segments", "users", "organizations", "adaccounts"):
        for item in data.get(key) or []:
            if isinstance(item, dict) and "sub_request_status" in item:
                if not _is_success(item.get("sub_request_status")):
                    reason = str(item.get("sub_request_error_reason") or "no reason given")[:300]
                    cls: type[SnapchatError] = SnapchatTransientError
                    if any(c in reason for c in _NOT_FOUND_CODES):
                        cls = SnapchatNotFoundError
                    elif any(c in reason for c in _PERMISSION_CODES):
                        cls = SnapchatPermissionError
                    raise cls(
                        f"{where}: sub_request_status {item.get('sub_request_status')!r}: {reason}",
                        status=status,
                        request_id=request_id,
                    )
    return data
