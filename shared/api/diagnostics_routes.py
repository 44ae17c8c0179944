"""``GET /api/diagnostics`` (Admin): checks of the deployment made from inside the app.

The answer lists :mod:`shared.diagnostics`' checks (Key Vault references resolved, storage,
the token vault, the timer, Entra ID's keys): names, ok flags and short details, never a
secret. ``python -m shared verify-deployment`` reads it after a deployment.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from shared import diagnostics
from shared.api.access import AdminCaller
from shared.api.errors import errors
from shared.services import get_services

router = APIRouter(tags=["operations"])


class DiagnosticCheck(BaseModel):
    """One check: what was checked, whether it holds, and a detail (no secret, no token)."""

    name: str
    ok: bool
    detail: str


class Diagnostics(BaseModel):
    """Every check; ``ok`` when all hold."""

    ok: bool
    checks: list[DiagnosticCheck]


@router.get(
    "/api/diagnostics",
    response_model=Diagnostics,
    summary="Check the deployment from inside the app (Admin)",
    responses=errors(),
)
def get_diagnostics(_caller: AdminCaller) -> Diagnostics:
    checks = diagnostics.run_checks(get_services())
    return Diagnostics.model_validate(diagnostics.report(checks))
