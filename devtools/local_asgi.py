"""The ASGI app that ``python -m devtools serve`` runs: the API, plus the OAuth callback
function of ``function_app.py`` adapted from ASGI to ``func.HttpRequest``/``HttpResponse``
(in Azure the Functions host routes the callback to that function itself)."""

from __future__ import annotations

import azure.functions as func
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

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


def local_app() -> Starlette:
    """Starlette app: the callback route first, then the API app of ``function_app``."""
    import function_app

    return Starlette(
        routes=[
            Route(CALLBACK_PATH, _callback, methods=["GET"]),
            Mount("/", app=function_app.api),
        ]
    )
