"""Every route against every role: no principal (401), Admin, Contributor, Viewer.

Contributors are tried against a connection shared with them (``admins_and_contributors``)
and against an admins-only one; the others against the admins-only one. Each case gets a
fresh world (its own containers), so routes that change things cannot affect other cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.connections import begin_sign_in
from shared.models import Run, RunStatus, UsableBy
from shared.run_control import new_run_id
from shared.services import Services
from tests.support import (
    ADMIN,
    CALLBACK,
    CONTRIBUTOR,
    VIEWER,
    api_client,
    code_and_state,
    export_body,
    export_folder,
    seed_connection,
    seed_export,
)


@dataclass
class World:
    """One connection and one export per target (``shared``, ``admins``), and a run."""

    services: Services
    connections: dict[str, str]
    exports: dict[str, str]
    audiences: dict[str, str]
    run_id: str


def make_world(services: Services, sandbox: SnapSandbox, ad_account_id: str) -> World:
    connections: dict[str, str] = {}
    exports: dict[str, str] = {}
    audiences: dict[str, str] = {}
    for target, usable_by in (
        ("shared", UsableBy.ADMINS_AND_CONTRIBUTORS),
        ("admins", UsableBy.ADMINS),
    ):
        connection_id = seed_connection(services, sandbox, usable_by=usable_by)
        audiences[target] = sandbox.create_segment(ad_account_id=ad_account_id, name=target)
        connections[target] = connection_id
        exports[target] = seed_export(
            services, connection_id, audiences[target], phone=None, mobile_ad_id=None
        )
    audiences["new"] = sandbox.create_segment(ad_account_id=ad_account_id, name="new")
    export_folder(services)
    run = Run(id=new_run_id(), export_id=exports["shared"], trigger="schedule")
    run.status = RunStatus.SUCCEEDED
    services.state.put(layout.run(run.id), run.model_dump(mode="json"))
    return World(services, connections, exports, audiences, run.id)


Request = tuple[str, str, dict[str, Any]]  # method, path, keyword arguments of the client
RequestFor = Callable[[World, str], Request]


def callback(world: World, target: str) -> Request:
    """A real code and a state started by ADMIN for the target connection."""
    url = begin_sign_in(world.services, world.connections[target], "oid-admin")
    return "GET", CALLBACK, {"params": code_and_state(url)}


ROUTES: dict[str, RequestFor] = {
    "create connection": lambda w, t: (
        "POST",
        "/api/connections",
        {"json": {"display_name": "New", "privacy_consent": True}},
    ),
    "list connections": lambda w, t: ("GET", "/api/connections", {}),
    "get connection": lambda w, t: ("GET", f"/api/connections/{w.connections[t]}", {}),
    "patch connection": lambda w, t: (
        "PATCH",
        f"/api/connections/{w.connections[t]}",
        {"json": {"display_name": "Renamed"}},
    ),
    "authorize": lambda w, t: ("GET", f"/api/connections/{w.connections[t]}/authorize", {}),
    "oauth callback": callback,
    "add export user": lambda w, t: (
        "POST",
        f"/api/connections/{w.connections[t]}/export-user",
        {},
    ),
    "delete connection": lambda w, t: ("DELETE", f"/api/connections/{w.connections[t]}", {}),
    "create export": lambda w, t: (
        "POST",
        "/api/exports",
        {"json": export_body(w.connections[t], w.audiences["new"])},
    ),
    "list exports": lambda w, t: ("GET", "/api/exports", {}),
    "get export": lambda w, t: ("GET", f"/api/exports/{w.exports[t]}", {}),
    "patch export": lambda w, t: (
        "PATCH",
        f"/api/exports/{w.exports[t]}",
        {"json": {"schedule": "manual"}},
    ),
    "delete export": lambda w, t: ("DELETE", f"/api/exports/{w.exports[t]}", {}),
    "run export": lambda w, t: ("POST", f"/api/exports/{w.exports[t]}/runs", {"json": {}}),
    "run several": lambda w, t: ("POST", "/api/runs", {"json": {"export_ids": [w.exports[t]]}}),
    "run history": lambda w, t: ("GET", f"/api/exports/{w.exports[t]}/runs", {}),
    "get run": lambda w, t: ("GET", f"/api/runs/{w.run_id}", {}),
    "erase": lambda w, t: ("POST", "/api/erasures", {"json": {"email": "a@example.com"}}),
}

CALLERS: dict[str, tuple[dict[str, str], str]] = {
    "none": ({}, "admins"),
    "admin": (ADMIN, "admins"),
    "contributor-shared": (CONTRIBUTOR, "shared"),
    "contributor-admins-only": (CONTRIBUTOR, "admins"),
    "viewer": (VIEWER, "admins"),
}

# route: (admin, contributor on a shared connection, contributor on an admins-only one, viewer)
EXPECTED: dict[str, tuple[int, int, int, int]] = {
    "create connection": (201, 403, 403, 403),
    "list connections": (200, 200, 200, 403),
    "get connection": (200, 200, 403, 403),
    "patch connection": (200, 403, 403, 403),
    "authorize": (302, 403, 403, 403),
    "oauth callback": (200, 403, 403, 403),
    "add export user": (200, 403, 403, 403),
    "delete connection": (200, 403, 403, 403),
    "create export": (201, 201, 403, 403),
    "list exports": (200, 200, 200, 200),
    "get export": (200, 200, 200, 200),
    "patch export": (200, 200, 403, 403),
    "delete export": (204, 204, 403, 403),
    "run export": (202, 202, 403, 403),
    "run several": (202, 202, 202, 403),
    "run history": (200, 200, 200, 200),
    "get run": (200, 200, 200, 200),
    "erase": (200, 403, 403, 403),
}


def expected_status(route: str, caller: str) -> int:
    if caller == "none":
        return 401
    admin, shared, admins_only, viewer = EXPECTED[route]
    return {
        "admin": admin,
        "contributor-shared": shared,
        "contributor-admins-only": admins_only,
        "viewer": viewer,
    }[caller]


def test_the_table_covers_every_route() -> None:
    assert set(ROUTES) == set(EXPECTED)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("route", list(ROUTES))
def test_role_matrix(
    route: str, caller: str, services: Services, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    world = make_world(services, sandbox, ad_account_id)
    headers, target = CALLERS[caller]
    method, path, kwargs = ROUTES[route](world, target)
    answer = api_client().request(method, path, headers=headers, follow_redirects=False, **kwargs)
    expected = expected_status(route, caller)
    assert answer.status_code == expected, answer.text
    if expected >= 400:
        error = answer.json()["error"]
        assert error["code"] in ("unauthenticated", "forbidden", "connection_not_usable")
    only_shared = [
        {"id": world.connections["shared"], "display_name": "Test connection", "type": "snapchat"}
    ]
    if caller.startswith("contributor") and route == "list connections":
        assert answer.json() == {"connections": only_shared}
    if caller == "contributor-shared" and route == "get connection":
        assert [answer.json()] == only_shared
    if caller == "contributor-admins-only" and route == "run several":
        (refused,) = answer.json()["runs"]
        assert refused["error"]["code"] == "connection_not_usable"
    if expected < 400:
        _nothing_leaked(answer.text, world)


def _nothing_leaked(text: str, world: World) -> None:
    for connection_id in world.connections.values():
        token = world.services.secrets.get(f"snapchat-refresh-token-{connection_id}")
        assert not token or token not in text
