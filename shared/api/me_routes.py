"""``GET /api/me``: who the caller is, as the app sees them (every role).

The console reads it to show the signed-in user and only the controls their role allows;
the API enforces the roles whatever a page shows.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.api.access import Caller
from shared.api.errors import errors
from shared.api.principal import Role
from shared.services import get_services

router = APIRouter(tags=["identity"])


class Me(BaseModel):
    """The caller: Entra object id (``local-developer`` for the ``LOCAL_DEV_ROLES`` user),
    display name, app roles, and how the app authenticates callers (``entra`` in Azure,
    ``local`` on a developer's machine)."""

    id: str
    name: str | None
    roles: list[Role] = Field(description="App roles, sorted: Admin, Contributor, Viewer")
    auth_mode: Literal["entra", "local"]


@router.get(
    "/api/me",
    response_model=Me,
    summary="Who is calling: id, name, app roles, authentication mode (any role)",
    responses=errors(),
)
def get_me(principal: Caller) -> Me:
    order = list(Role)
    roles = sorted(principal.roles, key=order.index)
    mode = get_services().settings.auth_mode
    return Me(
        id=principal.id,
        name=principal.name,
        roles=roles,
        auth_mode="local" if mode == "local" else "entra",
    )
