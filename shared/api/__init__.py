"""The HTTP API under ``/api`` (FastAPI): served by the Functions host through
``AsgiFunctionApp`` in Azure and by uvicorn in ``python -m shared serve``."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from fastapi import FastAPI, HTTPException

from shared import run_control
from shared.models import RunOptions
from shared.services import get_services


def create_api() -> FastAPI:
    """The FastAPI app. Creating it touches no setting and no network."""
    api = FastAPI(title="Snap audience sync", openapi_url="/api/openapi.json", docs_url=None)

    @api.post("/api/exports/{export_id}/runs", status_code=202)
    def start(export_id: str, options: RunOptions | None = None) -> dict[str, Any]:
        services = get_services()
        try:
            run = run_control.start_run(
                services, export_id, trigger="on_demand", options=options or RunOptions()
            )
        except run_control.ExportNotFound:
            raise HTTPException(404, "no such export") from None
        except run_control.RunInProgress as exc:
            raise HTTPException(409, {"run_id": exc.run_id}) from None
        return {"run_id": run.id, "status_url": f"/api/runs/{run.id}"}

    @api.get("/api/runs/{run_id}")
    def get_run(run_id: str) -> dict[str, Any]:
        view = run_control.get_run(get_services(), run_id)
        if view is None:
            raise HTTPException(404, "no such run")
        return view

    return api


def oauth_callback_response(req: func.HttpRequest) -> func.HttpResponse:
    """The Snap OAuth redirect target (implemented with the connections API)."""
    return func.HttpResponse("not implemented", status_code=501)
