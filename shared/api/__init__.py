"""The HTTP API under ``/api`` (FastAPI): served by the Functions host through
``AsgiFunctionApp`` in Azure and by uvicorn in ``python -m devtools serve``.

Modules: :mod:`~shared.api.principal` (who calls), :mod:`~shared.api.access` (role rules),
:mod:`~shared.api.errors` (error shape), :mod:`~shared.api.schemas` (bodies), one router
per resource (``connections_routes``, ``oauth_callback``, ``exports_routes`` with
``export_records``, ``runs_routes``, ``erasures_routes``). The OpenAPI document is served at
``/api/openapi.json``.
"""

from __future__ import annotations

import azure.functions as func
from fastapi import FastAPI

from shared.api import (
    connections_routes,
    erasures_routes,
    exports_routes,
    oauth_callback,
    runs_routes,
)
from shared.api.errors import install_error_handlers

API_VERSION = "1.0.0"


def create_api() -> FastAPI:
    """The FastAPI app. Creating it touches no setting and no network: handlers get the
    services (:func:`~shared.services.get_services`) when a request comes."""
    api = FastAPI(
        title="Snap audience sync",
        version=API_VERSION,
        description=(
            "Management API: Snapchat connections, exports of Customer Insights segments to "
            "Snapchat Customer List audiences, runs and erasures. Callers are authenticated "
            "by App Service Authentication (Entra ID) with the app roles Admin, Contributor "
            'and Viewer; errors are `{"error": {"code", "message"}}`.'
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(api)
    for module in (
        connections_routes,
        oauth_callback,
        exports_routes,
        runs_routes,
        erasures_routes,
    ):
        api.include_router(module.router)
    return api


def oauth_callback_response(req: func.HttpRequest) -> func.HttpResponse:
    """The Snap OAuth redirect target for the Functions route (ANONYMOUS; see
    :mod:`shared.api.oauth_callback`): 200 HTML page, or a JSON error."""
    outcome = oauth_callback.callback_outcome(req.headers, req.params)
    return func.HttpResponse(outcome.body, status_code=outcome.status, mimetype=outcome.media_type)
