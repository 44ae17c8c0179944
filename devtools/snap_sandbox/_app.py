"""HTTP layer of the Snap sandbox: the FastAPI app, the gateway middleware and the routes.

Sources are cited by tag (``[auth]``, ``[lists]``...): the tags are listed in
:mod:`devtools.snap_sandbox`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._state import (
    AUTHORIZE_PATH,
    DEFAULT_AD_ACCOUNT_ID,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_USER_ID,
    E_INVALID_REQUEST,
    E_NOT_FOUND,
    E_RATE_LIMITED,
    E_SERVER,
    LIFETIME_RETENTION_DAYS,
    TOKEN_PATH,
    AuthorizeRedirectError,
    ControlError,
    FaultRule,
    OAuthError,
    Page,
    Principal,
    SandboxConfig,
    SandboxState,
    SnapError,
    build_config,
    error_envelope,
    new_request_id,
    parse_limit,
    parse_users_envelope,
    parse_users_rows,
)

CONTROL_PREFIX = "/_sandbox"
_HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>{status} Error</title></head>"
    "<body><h1>{status}</h1><p>The server encountered a temporary error.</p></body></html>"
)
_HTML_LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Snapchat</title></head>"
    "<body><p>Something went wrong. Please try again later.</p></body></html>"
)
_SUB_REQUEST_REASON = (
    "Error code: E3004, message: Entity does not exist or you do not have permission to access it"
)


# --------------------------------------------------------------------------- dropped connections


class SandboxDroppedConnection(Exception):
    """Raised to make uvicorn abort a half-sent response (the ``drop`` fault)."""


def _is_drop(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, SandboxDroppedConnection):
            return True
        if isinstance(exc, BaseExceptionGroup):
            return any(_is_drop(e) for e in exc.exceptions)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class _DropLogFilter(logging.Filter):
    """Hide uvicorn's "Exception in ASGI application" report for deliberate drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_drop(record.exc_info[1]))


_DROP_FILTER = _DropLogFilter()


def install_drop_log_filter() -> None:
    """Attach the filter to ``uvicorn.error`` (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if _DROP_FILTER not in logger.filters:
        logger.addFilter(_DROP_FILTER)


# --------------------------------------------------------------------------- helpers


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _envelope_key(path: str) -> str:
    """Which list key a response for ``path`` carries (for ``sub_request_error_200``)."""
    if path.endswith("/users"):
        return "users"
    if "/segments" in path:
        return "segments"
    if path.endswith("/adaccounts") or "/adaccounts/" in path:
        return "adaccounts"
    if "/organizations" in path:
        return "organizations"
    return "me" if path.endswith("/me") else "segments"


def _fault_response(rule: FaultRule, path: str) -> Response:
    """The response a response-replacing fault sends instead of processing the request."""
    spec = rule.spec
    if rule.kind == "status":
        status = int(spec["status"])
        body_kind = spec.get("body", "json")
        if body_kind == "html":
            return HTMLResponse(_HTML_ERROR_PAGE.format(status=status), status_code=status)
        if body_kind == "empty":
            return Response(b"", status_code=status)
        if path.startswith("/login/"):
            error = "temporarily_unavailable" if status in (429, 503) else "server_error"
            return _json({"error": error, "error_description": "Injected fault"}, status)
        code = (
            E_RATE_LIMITED if status == 429 else (E_SERVER if status >= 500 else E_INVALID_REQUEST)
        )
        return _json(
            error_envelope(code, f"Injected HTTP {status}", "Something went wrong."), status
        )
    if rule.kind == "token_non_json":
        return HTMLResponse(_HTML_LOGIN_PAGE, status_code=int(spec.get("status", 200)))
    if rule.kind == "error_200":
        return _json(
            error_envelope(
                str(spec.get("error_code", E_INVALID_REQUEST)),
                str(spec.get("debug_message", "Injected error inside an HTTP 200 response")),
                "Something went wrong.",
            )
        )
    # sub_request_error_200
    return _json(
        {
            "request_status": "SUCCESS",
            "request_id": new_request_id(),
            _envelope_key(path): [
                {
                    "sub_request_status": "ERROR",
                    "sub_request_error_reason": spec.get(
                        "sub_request_error_reason", _SUB_REQUEST_REASON
                    ),
                }
            ],
        }
    )


# --------------------------------------------------------------------------- gateway


class GatewayMiddleware:
    """Pure-ASGI front door for everything outside ``/_sandbox``.

    Order per request: log entry -> faults (the failures Snap's clients report: [clients]) ->
    bearer check on ``/v1`` (401, [auth] "Expired token") -> rate limit (429, [rates]) -> routes.
    """

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state
        method: str = scope["method"]
        path: str = scope["path"]
        entry = state.log_start(method, path, bytes(scope.get("query_string", b"")).decode())
        scope["sandbox.log"] = entry

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state.log_update(entry, status=message["status"])
            await send(message)

        decision = state.select_faults(method, path)
        if decision.names():
            state.log_update(entry, fault=decision.names())
        for action in decision.actions:
            state.run_action_fault(action, path)
        out: Send = logged_send
        fault = decision.response
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(float(fault.spec.get("delay_s", 1.0)))
            elif fault.kind == "drop":
                if not fault.spec.get("apply", False):
                    await self._drop(logged_send)
                    return
                out = self._truncating(logged_send)
            else:
                await _fault_response(fault, path)(scope, receive, logged_send)
                return

        if path == "/v1" or path.startswith("/v1/"):
            principal = state.authenticate(_header(scope, b"authorization"))
            if principal is None:
                body = {
                    "request_status": "ERROR",
                    "request_id": new_request_id(),
                    "msg": "Unauthorized",
                }
                await _json(body, 401)(scope, receive, logged_send)
                return
            state.log_update(entry, user=principal.user_id, token=principal.token_id)
            scope["sandbox.principal"] = principal
            if not state.rate_limit_allows(principal.token_id):
                error = SnapError(
                    429,
                    E_RATE_LIMITED,
                    "Rate limit exceeded (per access token or per app)",
                    "Too many requests. Please slow down.",
                )
                await _json(error.body(), 429)(scope, receive, logged_send)
                return
        await self.app(scope, receive, out)

    @staticmethod
    async def _drop(send: Send) -> None:
        """Start a response that promises more bytes than it sends, then abort."""
        partial = b'{"request_status":"SUCC'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(partial) + 4096).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": partial, "more_body": True})
        raise SandboxDroppedConnection("sandbox fault: connection dropped")

    @staticmethod
    def _truncating(send: Send) -> Send:
        """A ``send`` that forwards the real response's head, half its body, then aborts."""

        async def truncating_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"
                ]
                headers.append((b"content-length", b"1048576"))
                await send({**message, "headers": headers})
                return
            if message["type"] == "http.response.body":
                body = bytes(message.get("body", b""))
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[: len(body) // 2],
                        "more_body": True,
                    }
                )
                raise SandboxDroppedConnection("sandbox fault: connection dropped after applying")
            await send(message)

        return truncating_send


# --------------------------------------------------------------------------- app factory


def _principal(request: Request) -> Principal:
    principal = request.scope.get("sandbox.principal")
    if not isinstance(principal, Principal):  # pragma: no cover - middleware guarantees it
        raise SnapError(401, E_INVALID_REQUEST, "Unauthorized")
    return principal


def _log(request: Request, **values: Any) -> None:
    entry = request.scope.get("sandbox.log")
    state: SandboxState = request.app.state.sandbox
    if isinstance(entry, dict):
        state.log_update(entry, **values)


async def _json_body(request: Request, *, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise SnapError(400, E_INVALID_REQUEST, "Request body is required")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapError(400, E_INVALID_REQUEST, f"Request body is not valid JSON: {exc}") from exc


async def _control_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ControlError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ControlError("body must be a JSON object")
    return doc


def _success(key: str, items: list[dict[str, Any]], status_word: str = "SUCCESS") -> dict[str, Any]:
    return {"request_status": status_word, "request_id": new_request_id(), key: items}


def _paged(request: Request, key: str, page: Page) -> dict[str, Any]:
    """List envelope with ``paging.next_link`` (a full URL with ``cursor``) when more remain."""
    body = _success(key, page.items)
    if page.next_cursor is not None:
        body["paging"] = {
            "next_link": str(request.url.include_query_params(cursor=page.next_cursor))
        }
    return body


def _segment_items(segments: list[dict[str, Any]], word: str = "SUCCESS") -> list[dict[str, Any]]:
    return [{"sub_request_status": word, "segment": s} for s in segments]


def create_app(
    config: SandboxConfig | Mapping[str, Any] | None = None, **overrides: Any
) -> FastAPI:
    """Build a sandbox app with its own state (``app.state.sandbox``, a :class:`SandboxState`).

    ``config`` and ``overrides`` use the keys of ``GET /_sandbox/config``; together they are the
    startup config that ``POST /_sandbox/reset`` returns to. Raises ``ValueError`` on bad keys.
    """
    base = config if isinstance(config, SandboxConfig) else None
    patch = dict(config) if isinstance(config, Mapping) else {}
    patch.update(overrides)
    try:
        startup = build_config(base, patch)
    except ControlError as exc:
        raise ValueError(exc.detail) from exc
    state = SandboxState(startup)
    install_drop_log_filter()

    app = FastAPI(
        title="Snap Marketing API sandbox", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.sandbox = state
    app.add_middleware(GatewayMiddleware, state=state)

    # ------------------------------------------------------------------ error rendering

    async def snap_error_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SnapError)
        return _json(exc.body(), exc.http_status)

    async def oauth_error_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OAuthError)
        return _json(exc.body(), exc.http_status, {"Cache-Control": "no-store"})

    async def control_error_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ControlError)
        return _json({"detail": exc.detail}, exc.http_status)

    async def http_error_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith("/v1"):
            code = E_NOT_FOUND if exc.status_code == 404 else E_INVALID_REQUEST
            return _json(error_envelope(code, str(exc.detail), str(exc.detail)), exc.status_code)
        return _json({"detail": exc.detail}, exc.status_code)

    app.add_exception_handler(SnapError, snap_error_handler)
    app.add_exception_handler(OAuthError, oauth_error_handler)
    app.add_exception_handler(ControlError, control_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)

    # ------------------------------------------------------------------ OAuth ([auth])

    @app.get(AUTHORIZE_PATH)
    async def authorize(request: Request) -> Response:
        """Auto-consent as ``sandbox_user`` and 302 back with ``code`` + ``state`` ([auth])."""
        q = request.query_params
        user_id = q.get("sandbox_user", DEFAULT_USER_ID)
        try:
            location = state.authorize(
                client_id=q.get("client_id"),
                redirect_uri=q.get("redirect_uri"),
                response_type=q.get("response_type"),
                scope=q.get("scope"),
                state=q.get("state"),
                user_id=user_id,
                deny=q.get("sandbox_deny", "").lower() in ("1", "true", "yes"),
            )
        except AuthorizeRedirectError as exc:
            return RedirectResponse(exc.location, status_code=302)
        _log(request, user=user_id)
        return RedirectResponse(location, status_code=302)

    @app.post(TOKEN_PATH)
    async def access_token(request: Request) -> Response:
        """Form-encoded token endpoint ([auth]); other bodies get 400 ``invalid_request``."""
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError(
                400,
                "invalid_request",
                "The token request must be application/x-www-form-urlencoded",
            )
        raw = await request.body()
        try:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise OAuthError(400, "invalid_request", "Body is not valid UTF-8") from exc
        result = state.token(form)
        token_id = state.token_short_id(result["access_token"])
        principal = state.authenticate(f"Bearer {result['access_token']}")
        _log(request, token=token_id, user=principal.user_id if principal else None)
        return _json(result, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # ------------------------------------------------------------------ directory ([patterns])

    @app.get("/v1/me")
    async def me(request: Request) -> Response:
        return _json(state.me(_principal(request).user_id))

    @app.get("/v1/me/organizations")
    async def my_organizations(request: Request) -> Response:
        q = request.query_params
        page = state.organizations_page(
            _principal(request).user_id,
            q.get("with_ad_accounts", "").lower() == "true",
            parse_limit(q.get("limit")),
            q.get("cursor"),
        )
        return _json(_paged(request, "organizations", page))

    @app.get("/v1/organizations/{org_id}")
    async def organization(request: Request, org_id: str) -> Response:
        org = state.organization(_principal(request).user_id, org_id)
        return _json(
            _success("organizations", [{"sub_request_status": "SUCCESS", "organization": org}])
        )

    @app.get("/v1/organizations/{org_id}/adaccounts")
    async def ad_accounts(request: Request, org_id: str) -> Response:
        q = request.query_params
        page = state.ad_accounts_page(
            _principal(request).user_id, org_id, parse_limit(q.get("limit")), q.get("cursor")
        )
        return _json(_paged(request, "adaccounts", page))

    @app.get("/v1/adaccounts/{ad_account_id}")
    async def ad_account(request: Request, ad_account_id: str) -> Response:
        account = state.ad_account(_principal(request).user_id, ad_account_id)
        return _json(
            _success("adaccounts", [{"sub_request_status": "SUCCESS", "adaccount": account}])
        )

    # ------------------------------------------------------------------ segments ([lists])

    @app.post("/v1/adaccounts/{ad_account_id}/segments")
    async def create_segments(request: Request, ad_account_id: str) -> Response:
        """Create; the envelope uses lowercase ``success`` like Snap's docs example ([lists])."""
        doc = await _json_body(request)
        created = state.create_segments(_principal(request).user_id, ad_account_id, doc)
        return _json(_success("segments", _segment_items(created, "success"), "success"))

    @app.put("/v1/adaccounts/{ad_account_id}/segments")
    async def update_segments(request: Request, ad_account_id: str) -> Response:
        doc = await _json_body(request)
        updated = state.update_segments(_principal(request).user_id, ad_account_id, doc)
        return _json(_success("segments", _segment_items(updated)))

    @app.get("/v1/adaccounts/{ad_account_id}/segments")
    async def list_segments(request: Request, ad_account_id: str) -> Response:
        q = request.query_params
        page = state.segments_page(
            _principal(request).user_id, ad_account_id, parse_limit(q.get("limit")), q.get("cursor")
        )
        return _json(_paged(request, "segments", page))

    @app.get("/v1/segments/{segment_id}")
    async def get_segment(request: Request, segment_id: str) -> Response:
        seg = state.get_segment(_principal(request).user_id, segment_id)
        return _json(_success("segments", _segment_items([seg])))

    @app.delete("/v1/segments/{segment_id}")
    async def delete_segment(request: Request, segment_id: str) -> Response:
        """Delete; answers ``segments: []`` like the mirrored docs example ([lists])."""
        state.delete_segment(_principal(request).user_id, segment_id)
        return _json(_success("segments", []))

    # ------------------------------------------------------------------ users ([lists])

    async def change_users(request: Request, segment_id: str, remove: bool) -> Response:
        principal = _principal(request)
        state.check_segment_access(principal.user_id, segment_id)
        raw = await request.body()
        envelope = await run_in_threadpool(parse_users_envelope, raw)
        _log(request, schema=envelope.schema, rows=len(envelope.data))
        values = await run_in_threadpool(parse_users_rows, envelope.data)
        state.apply_users(principal.user_id, segment_id, envelope.schema, values, remove)
        return _json(
            _success(
                "users",
                [
                    {
                        "sub_request_status": "SUCCESS",
                        "user": {"number_uploaded_users": len(envelope.data)},
                    }
                ],
            )
        )

    @app.post("/v1/segments/{segment_id}/users")
    async def add_users(request: Request, segment_id: str) -> Response:
        return await change_users(request, segment_id, remove=False)

    @app.delete("/v1/segments/{segment_id}/users")
    async def remove_users(request: Request, segment_id: str) -> Response:
        return await change_users(request, segment_id, remove=True)

    @app.delete("/v1/segments/{segment_id}/all_users")
    async def remove_all_users(request: Request, segment_id: str) -> Response:
        seg = state.clear_users(_principal(request).user_id, segment_id)
        return _json(_success("segments", _segment_items([seg])))

    # ------------------------------------------------------------------ control API

    def control(
        path: str, methods: list[str]
    ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
        return app.api_route(CONTROL_PREFIX + path, methods=methods)

    @control("/reset", ["POST"])
    async def reset(request: Request) -> Response:
        body = await _control_body(request)
        patch = body.get("config", body)
        if not isinstance(patch, dict):
            raise ControlError("'config' must be an object")
        return _json({"config": state.reset(patch)})

    @control("/config", ["GET", "POST"])
    async def config_route(request: Request) -> Response:
        if request.method == "GET":
            return _json(state.get_config())
        return _json(state.update_config(await _control_body(request)))

    @control("/faults", ["GET", "POST", "DELETE"])
    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await _control_body(request)
            rules = body.get("faults")
            if not isinstance(rules, list):
                raise ControlError("body must be {'faults': [...]}")
            return _json({"faults": state.set_faults(rules)})
        if request.method == "DELETE":
            state.set_faults([])
        return _json({"faults": state.get_faults()})

    @control("/segments", ["POST"])
    async def control_create_segment(request: Request) -> Response:
        body = await _control_body(request)
        seg = state.create_segment_direct(
            ad_account_id=str(body.get("ad_account_id", DEFAULT_AD_ACCOUNT_ID)),
            name=str(body.get("name", "Sandbox segment")),
            description=str(body.get("description", "")),
            retention_in_days=body.get("retention_in_days", LIFETIME_RETENTION_DAYS),
        )
        return _json(seg)

    @control("/segments/{segment_id}", ["DELETE"])
    async def control_delete_segment(segment_id: str) -> Response:
        if not state.delete_segment_direct(segment_id):
            raise ControlError(f"unknown segment {segment_id}", 404)
        return _json({"deleted": segment_id})

    @control("/segments/{segment_id}/members", ["GET", "POST"])
    async def members(request: Request, segment_id: str) -> Response:
        if request.method == "POST":
            body = await _control_body(request)
            schema, hashes = body.get("schema"), body.get("hashes")
            if not isinstance(schema, str) or not isinstance(hashes, list):
                raise ControlError("body must be {'schema': str, 'hashes': [hex, ...]}")
            state.add_members_direct(segment_id, schema, hashes)
            return _json(state.member_counts(segment_id))
        if request.query_params.get("counts", "").lower() in ("1", "true", "yes"):
            return _json(state.member_counts(segment_id))
        sets = state.member_sets(segment_id)
        return _json({schema: sorted(v.hex() for v in values) for schema, values in sets.items()})

    @control("/requests", ["GET", "DELETE"])
    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            state.log_clear()
            return _json({"requests": []})
        return _json(state.log_snapshot())

    @control("/users", ["POST"])
    async def users(request: Request) -> Response:
        body = await _control_body(request)
        return _json(state.add_user(body.get("user_id", ""), body.get("roles", {})))

    @control("/adaccounts", ["POST"])
    async def control_ad_accounts(request: Request) -> Response:
        body = await _control_body(request)
        account = state.add_ad_account(
            ad_account_id=body.get("id"),
            organization_id=body.get("organization_id") or DEFAULT_ORGANIZATION_ID,
            name=body.get("name"),
            status=str(body.get("status", "ACTIVE")),
            grant=body.get("grant"),
        )
        return _json(account)

    @control("/revoke", ["POST"])
    async def revoke(request: Request) -> Response:
        body = await _control_body(request)
        count = state.revoke(
            user_id=body.get("user_id"),
            refresh_token=body.get("refresh_token"),
            access_tokens=bool(body.get("access_tokens", False)),
        )
        return _json({"revoked": count})

    @control("/tokens", ["POST"])
    async def tokens(request: Request) -> Response:
        body = await _control_body(request)
        return _json(state.issue_tokens(str(body.get("user_id", DEFAULT_USER_ID))))

    @control("/expire_tokens", ["POST"])
    async def expire_tokens() -> Response:
        return _json({"expired": state.expire_access_tokens()})

    @control("/clock", ["GET", "POST"])
    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _control_body(request)
            advance = body.get("advance_s")
            if not isinstance(advance, (int, float)) or isinstance(advance, bool) or advance < 0:
                raise ControlError("body must be {'advance_s': number >= 0}")
            state.advance_clock(float(advance))
        return _json({"now": state.now(), "offset_s": state.clock_offset()})

    return app
