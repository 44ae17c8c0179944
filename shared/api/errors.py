"""API errors: every error answer is ``{"error": {"code": str, "message": str, ...}}``.

Validation errors (422) have code ``validation_error``, a message naming each field path
(``data_matching.email: Field required``) and ``fields`` (the paths). A body that is not
UTF-8 JSON (RFC 8259 section 8.1) is a 400 ``invalid_json`` naming the line and column,
with ``fields: ["body"]``. A refused run start (409) adds ``run_id``. A 405 carries
``Allow`` (RFC 9110 section 15.5.6) listing the methods of that path. An unexpected error is
a 500 ``internal_error``, logged with its stack trace; its message says nothing of the cause.
Messages never carry submitted values, tokens or identifiers: pydantic's ``input`` is
dropped.

:func:`document_errors` makes the OpenAPI document list these answers on every operation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.config import ConfigError
from shared.state_store import ConcurrencyError

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "invalid_json",
    401: "unauthenticated",
    503: "unavailable",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
}


class ApiError(Exception):
    """An error answer: HTTP ``status``, stable ``code``, human ``message``, extra fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


class ErrorDetail(BaseModel):
    """The body of an error (OpenAPI documentation of :class:`ErrorResponse`)."""

    code: str
    message: str
    fields: list[str] | None = None
    run_id: str | None = None


class ErrorResponse(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


def field_error(fields: Sequence[str], message: str) -> ApiError:
    """A 422 ``validation_error`` about ``fields`` (their paths, e.g. ``data_matching.email``)."""
    return ApiError(422, "validation_error", message, fields=list(fields))


def error_json(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The JSON answer of an error."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status, headers)


#: What a body must be: JSON text in UTF-8 (RFC 8259 section 8.1).
NOT_JSON = "body: not UTF-8 JSON (a JSON body is UTF-8 text, RFC 8259 section 8.1)"


#: Names pydantic puts in an error's ``loc`` for the member of a union, not a field.
_UNION_MEMBER_TAGS = frozenset({"bool", "int", "float", "str", "dict", "list", "none"})


def _field_path(location: Sequence[Any]) -> str:
    """``("body", "data_matching", "email")`` -> ``data_matching.email``; union member tags
    (``bool``, ``literal['clear_first']``, ``function-after[...]``) are left out."""
    parts = [str(p) for p in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    kept = [
        p
        for p in parts
        if p not in _UNION_MEMBER_TAGS and "[" not in p and not p.startswith("function-")
    ]
    return ".".join(kept) or "body"


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_json(exc.status, exc.code, exc.message, **exc.extra)


def _json_position(document: Any, position: Any) -> str:
    """``line L, column C`` (from 1) of character ``position`` of ``document``."""
    if not isinstance(document, str) or not isinstance(position, int):
        return "at an unknown position"
    line = document.count("\n", 0, position) + 1
    column = position - (document.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            location = error.get("loc", ())
            reason = str((error.get("ctx") or {}).get("error") or "JSON decode error")
            where = _json_position(exc.body, location[1] if len(location) > 1 else None)
            return error_json(
                400, "invalid_json", f"body: not valid JSON ({reason} at {where})", fields=["body"]
            )
    fields: list[str] = []
    messages: list[str] = []
    for error in exc.errors():
        path = _field_path(error.get("loc", ()))
        if path not in fields:
            fields.append(path)
        messages.append(f"{path}: {error.get('msg', 'invalid')}")
    return error_json(422, "validation_error", "; ".join(messages), fields=fields)


def allowed_methods(request: Request) -> str:
    """The ``Allow`` value for the request's path: the methods of every route matching it
    (recorded by :func:`document_errors`)."""
    path = request.scope.get("path", "")
    table: list[tuple[Any, set[str]]] = getattr(request.app.state, "route_methods", [])
    methods = {m for regex, route_methods in table if regex.match(path) for m in route_methods}
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it could not decode (not UTF-8); our own 400s are ApiErrors.
        return error_json(400, "invalid_json", NOT_JSON, fields=["body"])
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return error_json(exc.status_code, code, message, headers=headers or None)


async def _config_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("configuration error: %s", exc)
    return error_json(500, "configuration_error", str(exc))


async def _concurrency_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("%s", exc)
    return error_json(409, "concurrent_update", "the record is being changed; try again")


class UnexpectedErrors:
    """ASGI middleware: an exception no handler answered becomes a JSON 500
    ``internal_error`` and is logged with its stack trace, here and in Azure alike (left to
    the Functions host, it would fail the invocation and answer an empty 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise
            answer = error_json(
                500, "internal_error", "an unexpected error occurred; it is in the app's log"
            )
            await answer(scope, receive, send)


def install_error_handlers(api: FastAPI) -> None:
    """Register the handlers that turn exceptions into the error shape above."""
    api.add_middleware(UnexpectedErrors)
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(ConfigError, _config_error)
    api.add_exception_handler(ConcurrencyError, _concurrency_error)


#: ``responses=`` for routes: the error shape under the codes every route can answer.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No proven identity (Entra ID token)"},
    403: {"model": ErrorResponse, "description": "The caller's role does not allow this"},
    422: {"model": ErrorResponse, "description": "Invalid request (names the fields)"},
    503: {
        "model": ErrorResponse,
        "description": "Microsoft Entra ID's signing keys cannot be read now (try again)",
    },
}

_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorResponse"}
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def document_errors(api: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Before ``routers`` are included in ``api``: add to every operation the error answers
    the handlers above can give it, unless the route documents them itself (400
    ``invalid_json`` when it takes a body, 404 when its path holds an id, 409 when it changes
    records, 500 always), and record each route's methods for ``Allow``."""
    table: list[tuple[Any, set[str]]] = []
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            methods = set(route.methods or ())
            table.append((route.path_regex, methods))
            answers = {500: "Unexpected error (internal_error) or missing configuration"}
            if route.body_field is not None:
                answers[400] = "The body is not UTF-8 JSON (invalid_json)"
            if route.param_convertors:
                answers[404] = "Not found"
            if methods & _MUTATING:
                answers[409] = "Conflict (see the error code)"
            for status, text in answers.items():
                if status not in route.responses and str(status) not in route.responses:
                    route.responses[status] = {
                        "description": text,
                        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                    }
    api.state.route_methods = table


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` documenting :data:`COMMON_ERRORS` plus ``statuses``."""
    described = {
        400: "Bad request",
        404: "Not found",
        409: "Conflict (see the error code)",
        502: "A service the app depends on (Snapchat, storage) cannot be reached now",
    }
    extra: dict[int | str, dict[str, Any]] = {
        s: {"model": ErrorResponse, "description": described.get(s, "Error")} for s in statuses
    }
    return {**COMMON_ERRORS, **extra}


def json_errors(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose success is not JSON (its errors still are)."""
    schema = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        status: {"description": text, "content": {"application/json": {"schema": schema}}}
        for status, text in described.items()
    }
