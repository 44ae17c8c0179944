"""The HTTP API under ``/api`` (FastAPI): served by the Functions host through
``AsgiFunctionApp`` in Azure and by uvicorn in ``python -m devtools serve``.

Modules: :mod:`~shared.api.entra` (token checks), :mod:`~shared.api.principal` (who calls),
:mod:`~shared.api.access` (authentication and role rules),
:mod:`~shared.api.errors` (error shape, documented on every operation),
:mod:`~shared.api.schemas` (bodies) with :mod:`~shared.api.names` (what a name may hold),
:mod:`~shared.api.cursors` (paging cursors), one router per resource
(``me_routes``, ``connections_routes`` with ``ad_accounts_routes``, ``oauth_callback``,
``export_folders_routes``, ``exports_routes`` with ``export_records`` and
:mod:`~shared.api.export_checks`, ``runs_routes``, ``erasures_routes``,
``diagnostics_routes``). The OpenAPI document is served at ``/api/openapi.json``; the
console's pages and the API reference (``/api/docs``) by :mod:`shared.console.pages`.
"""

from __future__ import annotations

from fastapi import FastAPI

from shared.api import (
    ad_accounts_routes,
    connections_routes,
    diagnostics_routes,
    erasures_routes,
    export_folders_routes,
    exports_routes,
    me_routes,
    oauth_callback,
    runs_routes,
)
from shared.api.errors import document_errors, install_error_handlers
from shared.console import pages

API_VERSION = "1.0.0"


def create_api() -> FastAPI:
    """The FastAPI app. Creating it touches no setting and no network: handlers get the
    services (:func:`~shared.services.get_services`) when a request comes."""
    api = FastAPI(
        title="Snap audience sync",
        version=API_VERSION,
        description=(
            "Management API: Snapchat connections, exports of Customer Insights segments to "
            "Snapchat Customer List audiences, runs and erasures. Callers prove who they are "
            "with a Microsoft Entra ID token the app verifies, and hold one of the app roles "
            'Admin, Contributor and Viewer; errors are `{"error": {"code", "message"}}`.'
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(api)
    routers = [
        module.router
        for module in (
            me_routes,
            connections_routes,
            ad_accounts_routes,
            oauth_callback,
            export_folders_routes,
            exports_routes,
            runs_routes,
            erasures_routes,
            diagnostics_routes,
            pages,
        )
    ]
    document_errors(api, routers)
    for router in routers:
        api.include_router(router)
    return api
