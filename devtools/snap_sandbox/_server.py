"""Run the sandbox app under uvicorn: :class:`SnapSandbox` (background thread) and ``serve``."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI

from ._app import create_app
from ._state import (
    AUTHORIZE_PATH,
    DEFAULT_AD_ACCOUNT_ID,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_USER_ID,
    LIFETIME_RETENTION_DAYS,
    SCOPE,
    SandboxState,
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (the sandbox never binds anything else)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket on a loopback ``host``; ``port`` 0 picks a free port."""
    if not is_loopback(host):
        raise ValueError(f"the Snap sandbox binds loopback addresses only, not {host!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections; without it
    # keep-alive clients wait ~40 ms per response (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: FastAPI, *, quiet_logging_setup: bool) -> uvicorn.Config:
    """uvicorn settings shared by the thread runner and the CLI (h11 for predictable drops)."""
    extra: dict[str, Any] = {"log_config": None} if quiet_logging_setup else {}
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
        **extra,
    )


class SnapSandbox:
    """The sandbox on ``127.0.0.1`` in a background thread; a context manager.

    ``with SnapSandbox() as sb: requests.get(sb.url + "/v1/me", ...)``. ``sb.url`` serves both
    the API (``/v1/...``, [patterns]: adsapi.snapchat.com) and OAuth
    (``/login/oauth2/...``, accounts.snapchat.com). ``config`` keys are those of
    ``/_sandbox/config``. The helpers below act on the state directly (no HTTP, no auth, no
    rate limits, no faults, not logged).
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        startup_timeout: float = 10.0,
        **config: Any,
    ) -> None:
        self.app: FastAPI = create_app(**config)
        self.state: SandboxState = self.app.state.sandbox
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SnapSandbox:
        """Start serving and wait until the port accepts connections."""
        if self._thread is not None:
            return self
        sock = bind_socket(self._host, self._port)
        url = base_url(sock)
        server = uvicorn.Server(uvicorn_config(self.app, quiet_logging_setup=True))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="snap-sandbox", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("the Snap sandbox did not start")
            time.sleep(0.01)
        host, port = sock.getsockname()[:2]
        with socket.create_connection((host, port), timeout=self._startup_timeout):
            pass
        self._server, self._thread, self._url = server, thread, url
        return self

    def stop(self) -> None:
        """Stop the server and join its thread (idempotent)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> SnapSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (API and OAuth paths both live here)."""
        if self._url is None:
            raise RuntimeError("the Snap sandbox is not running; use start() or 'with'")
        return self._url

    @property
    def api_url(self) -> str:
        """``{url}/v1``, the equivalent of ``https://adsapi.snapchat.com/v1`` ([patterns])."""
        return self.url + "/v1"

    def authorize_url(
        self,
        *,
        state: str | None = "sandbox-state",
        redirect_uri: str | None = None,
        user_id: str = DEFAULT_USER_ID,
        scope: str = SCOPE,
        response_type: str = "code",
        client_id: str | None = None,
    ) -> str:
        """A ready-made ``/login/oauth2/authorize`` URL ([auth])."""
        cfg = self.state.get_config()
        params = {
            "client_id": client_id if client_id is not None else cfg["client_id"],
            "redirect_uri": redirect_uri if redirect_uri is not None else cfg["redirect_uris"][0],
            "response_type": response_type,
            "scope": scope,
            "sandbox_user": user_id,
        }
        if state is not None:
            params["state"] = state
        return f"{self.url}{AUTHORIZE_PATH}?{urlencode(params)}"

    # ------------------------------------------------------------------ control helpers

    def reset(self, **config: Any) -> dict[str, Any]:
        """Back to the seeded state; config = startup config + ``config``. Returns the config."""
        return self.state.reset(config)

    def configure(self, **config: Any) -> dict[str, Any]:
        """Merge ``config`` into the live config; returns the new config."""
        return self.state.update_config(config)

    def config(self) -> dict[str, Any]:
        """The live config (same JSON as ``GET /_sandbox/config``)."""
        return self.state.get_config()

    def set_faults(self, faults: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Replace the fault rules (shape in the package docstring)."""
        return self.state.set_faults(list(faults))

    def faults(self) -> list[dict[str, Any]]:
        """Current fault rules with ``seen``/``fired``/``remaining``."""
        return self.state.get_faults()

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.state.set_faults([])

    def members(self, segment_id: str) -> dict[str, set[str]]:
        """``{schema: {lowercase hex, ...}}`` for all three schemas of a live segment."""
        return {
            schema: {v.hex() for v in values}
            for schema, values in self.state.member_sets(segment_id).items()
        }

    def member_counts(self, segment_id: str) -> dict[str, int]:
        """``{schema: count}`` of a live segment."""
        return self.state.member_counts(segment_id)

    def add_members(
        self, segment_id: str, hashes: Iterable[str], schema: str = "EMAIL_SHA256"
    ) -> int:
        """Seed members directly; returns the schema's new size."""
        return self.state.add_members_direct(segment_id, schema, hashes)

    def segment(self, segment_id: str) -> dict[str, Any]:
        """The segment object as ``GET /v1/segments/{id}`` would show it (no auth)."""
        with self.state.lock:
            seg = self.state.segments.get(segment_id)
            if seg is None:
                raise KeyError(segment_id)
            return self.state.render_segment(seg)

    def requests(self) -> list[dict[str, Any]]:
        """The request log (see ``GET /_sandbox/requests``)."""
        return self.state.log_snapshot()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.state.log_clear()

    def issue_tokens(self, user_id: str = DEFAULT_USER_ID) -> dict[str, Any]:
        """Fresh ``{"access_token","refresh_token","expires_in",...}`` without the browser."""
        return self.state.issue_tokens(user_id)

    def revoke(
        self,
        user_id: str | None = None,
        refresh_token: str | None = None,
        *,
        access_tokens: bool = False,
    ) -> int:
        """Revoke a user's refresh tokens and/or one refresh token; returns how many."""
        return self.state.revoke(user_id, refresh_token, access_tokens)

    def expire_access_tokens(self) -> int:
        """Expire every current access token now."""
        return self.state.expire_access_tokens()

    def advance_clock(self, seconds: float) -> float:
        """Run the sandbox clock ``seconds`` ahead (codes, tokens, processing)."""
        return self.state.advance_clock(seconds)

    def add_user(self, user_id: str, roles: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Add/replace a user; ``roles`` = {ad_account_id: "admin"|"data_manager"|"none"}."""
        return self.state.add_user(user_id, roles or {})

    def add_ad_account(
        self,
        ad_account_id: str | None = None,
        *,
        organization_id: str = DEFAULT_ORGANIZATION_ID,
        name: str | None = None,
        status: str = "ACTIVE",
        grant: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add an ad account (``grant`` None = sandbox-admin is admin); returns the object."""
        return self.state.add_ad_account(ad_account_id, organization_id, name, status, grant)

    def create_segment(
        self,
        ad_account_id: str = DEFAULT_AD_ACCOUNT_ID,
        name: str = "Sandbox segment",
        description: str = "",
        retention_in_days: int = LIFETIME_RETENTION_DAYS,
    ) -> str:
        """Create a FIRST_PARTY segment directly; returns its id."""
        seg = self.state.create_segment_direct(ad_account_id, name, description, retention_in_days)
        return str(seg["id"])

    def delete_segment(self, segment_id: str) -> bool:
        """Delete a segment directly; returns whether it existed."""
        return self.state.delete_segment_direct(segment_id)


def serve(host: str, port: int, config: Mapping[str, Any]) -> None:
    """Run in the foreground until interrupted; prints one line with the URL first."""
    app = create_app(**config)
    app.state.sandbox.freeze_gc = True
    sock = bind_socket(host, port)
    url = base_url(sock)
    print(
        f"Snap sandbox listening on {url} (API {url}/v1, OAuth {url}/login/oauth2, "
        f"control {url}/_sandbox)",
        flush=True,
    )
    uvicorn.Server(uvicorn_config(app, quiet_logging_setup=False)).run(sockets=[sock])
