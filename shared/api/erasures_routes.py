"""``POST /api/erasures`` (Admin): remove a person from every audience and snapshot.

The raw values are hashed at once by :func:`shared.erasures.hash_erasure_values` and only
the hashes go further (:func:`shared.erasures.erase`); the answer holds hashes only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shared import erasures
from shared.api.access import AdminCaller
from shared.api.errors import errors, field_error
from shared.api.schemas import ErasureRequest
from shared.services import get_services

router = APIRouter(tags=["erasures"])

_FIELDS = ("email", "phone", "mobile_ad_id")


@router.post(
    "/api/erasures",
    response_model=dict[str, Any],
    summary="Erase a person (email, phone, mobile ad id) from every audience (Admin)",
    responses=errors(),
)
def erase(body: ErasureRequest, principal: AdminCaller) -> dict[str, Any]:
    """422 when no value is given or one is not valid (the message names the field, never
    the value). Answers ``{"erased_at", "hashes": {schema: hex}, "exports": [...]}``."""
    services = get_services()
    values = body.model_dump()
    try:
        digests = erasures.hash_erasure_values(values, services.settings.default_phone_region)
    except ValueError as exc:
        message = str(exc)
        named = [f for f in _FIELDS if message.startswith(f"{f} ")] or list(_FIELDS)
        raise field_error(named, message) from None
    return erasures.erase(services, digests, requested_by=principal.id)
