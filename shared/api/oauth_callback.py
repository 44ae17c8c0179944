"""``GET /api/oauth/snapchat/callback``: where Snap sends the browser after sign-in.

Served by the app's one HTTP function (ANONYMOUS at the Functions host, so Snap's ``code``
query parameter is never read as a function key). The caller must be an administrator,
proven as for every request (:mod:`shared.api.access`: the browser's App Service
Authentication session), and the one who started the sign-in: the ``state`` is bound to them.

Answers: 200 with a small HTML page on success; when the sign-in was started with a
``return_to`` console page (``GET /api/connections/{id}/authorize?return_to=``), a 303 back
to it with ``?signin=complete`` (or ``refused``, ``unavailable``, ``invalid_state``,
``connection_deleted``) instead, also for the errors below that happen once the state is
known; otherwise errors as JSON ``{"error": {...}}``:
400 for a bad, reused, expired or foreign state, or a sign-in Snap refused (nothing is
stored), 401/403 without an administrator, 404 when the connection was deleted meanwhile,
502 when Snap's token endpoint keeps failing.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Request, Security
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from shared import connections
from shared.api.access import actor, entra_bearer, principal_from
from shared.api.connections_routes import RETURN_TO_PATTERN
from shared.api.errors import ApiError, json_errors
from shared.services import get_services

CALLBACK_PATH = "/api/oauth/snapchat/callback"

router = APIRouter(tags=["connections"])


@dataclass(frozen=True)
class Outcome:
    """An HTTP answer independent of the web framework (``location`` for a redirect)."""

    status: int
    media_type: str
    body: str
    location: str | None = None


def _error(status: int, code: str, message: str) -> Outcome:
    body = json.dumps({"error": {"code": code, "message": message}})
    return Outcome(status, "application/json", body)


def _page(display_name: str) -> Outcome:
    name = html.escape(display_name)
    body = (
        '<!doctype html><html><head><meta charset="utf-8"><title>Snapchat sign-in'
        "</title></head><body><p>Snapchat sign-in complete for "
        f"{name}. You can close this window.</p></body></html>"
    )
    return Outcome(200, "text/html", body)


def _back(return_to: str, outcome: str) -> Outcome:
    """A 303 to the console page the sign-in started from, saying how it ended."""
    return Outcome(303, "text/plain", "", location=f"{return_to}?signin={outcome}")


def callback_outcome(headers: Mapping[str, str], params: Mapping[str, str]) -> Outcome:
    """Finish a sign-in from request ``headers`` and query ``params`` (``code``, ``state``,
    or ``error``); see the module docstring for the answers."""
    try:
        principal = principal_from(headers)
    except ApiError as exc:
        return _error(exc.status, exc.code, exc.message)
    if not principal.is_admin:
        return _error(403, "forbidden", "only administrators may sign a connection in")
    services = get_services()
    return_to = connections.sign_in_return_to(services, params.get("state"))
    if return_to is not None and not re.fullmatch(RETURN_TO_PATTERN, return_to):
        return_to = None
    try:
        connection = connections.complete_sign_in(
            services,
            state=params.get("state"),
            code=params.get("code"),
            error=params.get("error"),
            caller=actor(principal),
        )
    except connections.InvalidOAuthState as exc:
        if return_to:
            return _back(return_to, "invalid_state")
        return _error(400, "invalid_state", str(exc))
    except connections.SignInRefused as exc:
        if return_to:
            return _back(return_to, "refused")
        return _error(400, "sign_in_refused", str(exc))
    except connections.ConnectionNotFound:
        if return_to:
            return _back(return_to, "connection_deleted")
        return _error(404, "not_found", "the connection was deleted during the sign-in")
    except connections.SignInUnavailable as exc:
        if return_to:
            return _back(return_to, "unavailable")
        return _error(502, "snapchat_unavailable", str(exc))
    if return_to:
        return _back(return_to, "complete")
    return _page(connection.display_name)


@router.get(
    CALLBACK_PATH,
    response_class=HTMLResponse,
    summary="Snap's OAuth redirect target: finish Sign in with Snapchat (Admin who started it)",
    responses={
        200: {"description": "Sign-in complete (HTML page)"},
        303: {
            "description": "Back to the console page the sign-in started from "
            "(authorize's return_to), with ?signin=complete, refused, unavailable, "
            "invalid_state or connection_deleted"
        },
        **json_errors(
            {
                400: "Bad, reused, expired or foreign state; Snap refused the sign-in",
                401: "No proven identity",
                503: "Microsoft Entra ID's signing keys cannot be read now",
                403: "Not an administrator",
                404: "The connection was deleted",
                422: "Invalid query parameters",
                502: "Snap's token endpoint is failing",
            }
        ),
    },
)
def snapchat_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(entra_bearer)] = None,
) -> Response:
    outcome = callback_outcome(request.headers, request.query_params)
    headers = {"Location": outcome.location} if outcome.location else None
    return Response(
        outcome.body, status_code=outcome.status, media_type=outcome.media_type, headers=headers
    )
