"""API errors: every error answer is ``{"error": {"code": str, "message": str, ...}}``.

Validation errors (422) have code ``validation_error``, a message naming each field path
(``data_matching.email: Field required``) and ``fields`` (the paths). A refused run start
(409) adds ``run_id``. Messages never carry submitted values, tokens or identifiers:
pydantic's ``input`` is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.config import ConfigError
from shared.state_store import ConcurrencyError

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
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


def error_json(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The JSON answer of an error."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status)


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


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields: list[str] = []
    messages: list[str] = []
    for error in exc.errors():
        path = _field_path(error.get("loc", ()))
        if path not in fields:
            fields.append(path)
        messages.append(f"{path}: {error.get('msg', 'invalid')}")
    return error_json(422, "validation_error", "; ".join(messages), fields=fields)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_json(exc.status_code, code, message)


async def _config_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("configuration error: %s", exc)
    return error_json(500, "configuration_error", str(exc))


async def _concurrency_error(_: Request, exc: Exception) -> JSONResponse:
    log.warning("%s", exc)
    return error_json(409, "concurrent_update", "the record is being changed; try again")


def install_error_handlers(api: FastAPI) -> None:
    """Register the handlers that turn exceptions into the error shape above."""
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


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` documenting :data:`COMMON_ERRORS` plus ``statuses``."""
    described = {
        400: "Bad request",
        404: "Not found",
        409: "Conflict (see the error code)",
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
