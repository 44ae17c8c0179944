"""Snap OAuth 2.0: the authorize URL, the token endpoint, and a token cache per connection.

Snap's OAuth (https://developers.snap.com/api/marketing-api/Ads-API/authentication): authorize at
``{accounts}/login/oauth2/authorize`` with ``response_type=code`` and scope
``snapchat-marketing-api``; tokens from ``POST {accounts}/login/oauth2/access_token``,
form-encoded, with ``client_id`` and ``client_secret`` in the body; grants
``authorization_code`` and ``refresh_token``. ``expires_in`` is read, never assumed (1800
and 3600 are both reported). A refresh answer that carries a new ``refresh_token``
replaces the stored one (rotation is unconfirmed, so both cases are handled). The token
endpoint has answered non-JSON bodies under load
(https://github.com/airbytehq/airbyte/issues/17461): 429/5xx/non-JSON are retried with
backoff (:mod:`shared.snapchat.retry`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from shared.snapchat.errors import (
    SnapchatAuthError,
    SnapchatError,
    SnapchatRequestError,
    SnapchatTransientError,
)
from shared.snapchat.retry import Backoff

SCOPE = "snapchat-marketing-api"
#: Refresh this many seconds before ``expires_in`` runs out (Singer/Airbyte do a few minutes).
REFRESH_MARGIN_S = 300.0


@dataclass(frozen=True)
class TokenResponse:
    """A successful token-endpoint answer. ``expires_in`` is in seconds."""

    access_token: str
    expires_in: float
    refresh_token: str | None

    def __repr__(self) -> str:  # never print tokens
        return f"TokenResponse(expires_in={self.expires_in})"


class SnapOAuth:
    """Client of Snap's OAuth endpoints for one OAuth app (client id and secret)."""

    def __init__(
        self,
        accounts_url: str,
        client_id: str,
        client_secret: str,
        *,
        session: requests.Session | None = None,
        timeout_s: float = 30.0,
        retry_budget_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = accounts_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._session = session or requests.Session()
        self._timeout = timeout_s
        self._budget = retry_budget_s
        self._sleep = sleep

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The browser URL that starts "Sign in with Snapchat" for this app."""
        query = urlencode(
            {
                "client_id": self._client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": SCOPE,
                "state": state,
            }
        )
        return f"{self._url}/login/oauth2/authorize?{query}"

    def exchange_code(self, code: str, redirect_uri: str) -> TokenResponse:
        """Trade an authorization code for tokens. :class:`SnapchatAuthError` if refused."""
        return self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )

    def refresh(self, refresh_token: str) -> TokenResponse:
        """A new access token. :class:`SnapchatAuthError` when the refresh token is dead."""
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token(self, form: dict[str, str]) -> TokenResponse:
        body = {**form, "client_id": self._client_id, "client_secret": self._client_secret}
        backoff = Backoff(self._budget, cap_s=30.0, sleep=self._sleep)
        while True:
            try:
                response = self._session.post(
                    f"{self._url}/login/oauth2/access_token",
                    data=body,
                    headers={"Accept": "application/json"},
                    timeout=self._timeout,
                )
                return _token_response(response)
            except requests.RequestException as exc:
                error: SnapchatError = SnapchatTransientError(
                    f"token endpoint unreachable ({exc.__class__.__name__})"
                )
            except SnapchatTransientError as exc:
                error = exc
            backoff.wait(error)


def _token_response(response: requests.Response) -> TokenResponse:
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if response.status_code == 429 or response.status_code >= 500 or not isinstance(data, dict):
        raise SnapchatTransientError(
            "token endpoint answered without a usable JSON body", status=response.status_code
        )
    if response.status_code >= 400 or "access_token" not in data:
        error = str(data.get("error") or "unknown_error")
        description = str(data.get("error_description") or "no description")[:300]
        auth = error in ("invalid_grant", "invalid_client") or response.status_code in (400, 401)
        cls: type[SnapchatError] = SnapchatAuthError if auth else SnapchatRequestError
        raise cls(
            f"Snapchat refused the token request: {error}: {description}",
            status=response.status_code,
        )
    try:
        expires_in = float(data.get("expires_in") or 3600)
    except (TypeError, ValueError):
        expires_in = 3600.0
    refresh = data.get("refresh_token")
    return TokenResponse(
        access_token=str(data["access_token"]),
        expires_in=expires_in,
        refresh_token=str(refresh) if refresh else None,
    )


class RefreshTokenStore:
    """Reads and writes one connection's refresh token (a named secret)."""

    def __init__(self, get: Callable[[], str | None], put: Callable[[str], None]) -> None:
        self.get = get
        self.put = put


class AccessTokenCache:
    """One connection's access token, refreshed shortly before it expires.

    Thread-safe: concurrent callers share one refresh. ``invalidate`` (after a 401) forces
    the next :meth:`token` to refresh. When the refresh token is refused, the stored one is
    re-read once in case another instance rotated it meanwhile.
    """

    def __init__(
        self,
        oauth: SnapOAuth,
        refresh_tokens: RefreshTokenStore,
        *,
        margin_s: float = REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._oauth = oauth
        self._store = refresh_tokens
        self._margin = margin_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.refreshes = 0

    def token(self) -> str:
        """A valid access token (refreshing when within the margin of expiry)."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (it was answered with 401)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _refresh(self) -> None:
        used = self._store.get()
        if not used:
            raise SnapchatAuthError("the connection has no Snapchat sign-in (no refresh token)")
        try:
            answer = self._oauth.refresh(used)
        except SnapchatAuthError:
            current = self._store.get()
            if not current or current == used:
                raise
            answer = self._oauth.refresh(current)
            used = current
        self.refreshes += 1
        if answer.refresh_token and answer.refresh_token != used:
            self._store.put(answer.refresh_token)
        margin = min(self._margin, answer.expires_in / 2)
        self._token = answer.access_token
        self._refresh_at = self._clock() + answer.expires_in - margin
