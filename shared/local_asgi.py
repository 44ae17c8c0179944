"""The ASGI app that ``python -m shared serve`` runs: the API, plus the OAuth callback
function of ``function_app.py`` adapted from ASGI to ``func.HttpRequest``/``HttpResponse``
(in Azure the Functions host routes the callback to that function itself).

Every request but ``GET`` of the callback path goes to the API app as it is, so every answer
(a 404 for a path holding a newline included) is the API's JSON error shape."""

from __future__ import annotations

import azure.functions as func
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

CALLBACK_PATH = "/api/oauth/snapchat/callback"


async def _callback(request: Request) -> Response:
    import function_app

    body = await request.body()
    req = func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        params=dict(request.query_params),
        body=body,
    )
    answer = function_app.snapchat_oauth_callback(req)
    return Response(
        content=answer.get_body(),
        status_code=answer.status_code,
        headers=dict(answer.headers),
        media_type=answer.mimetype,
    )


def local_app() -> ASGIApp:
    """ASGI app: ``GET`` of the callback path to the callback function, the rest to the API
    app of ``function_app``."""
    import function_app

    api = function_app.api

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == CALLBACK_PATH and scope["method"] == "GET":
            answer = await _callback(Request(scope, receive))
            await answer(scope, receive, send)
            return
        await api(scope, receive, send)

    return app
