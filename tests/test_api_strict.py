"""Request booleans and integers are JSON booleans and integers, nothing that looks like one.

Pydantic's lax mode turns ``"yes"``, ``1`` and ``"180"`` into ``True`` and ``180``; a flag
that removes people from an audience must be a JSON ``true``. Each case answers 422 naming
the field and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.services import Services
from tests.support import (
    ADMIN,
    api_client,
    export_body,
    seed_connection,
    seed_export,
    shared_connection,
)


def assert_refused(answer: Any, field: str) -> None:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == [field]
    assert error["message"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    "options",
    [
        {"allow_mass_removal": "yes"},
        {"allow_mass_removal": 1},
        {"allow_mass_removal": "true"},
        {"full_refresh": "yes"},
        {"full_refresh": 1},
        {"full_refresh": "true"},
        {"dry_run": 1},
        {"dry_run": "false"},
    ],
)
def test_run_options_are_json_booleans(
    services: Services, sandbox: SnapSandbox, options: dict[str, Any]
) -> None:
    export_id = seed_export(services, seed_connection(services, sandbox), "1")
    answer = api_client().post(f"/api/exports/{export_id}/runs", json=options, headers=ADMIN)
    assert_refused(answer, next(iter(options)))
    assert list(services.state.names("runs/")) == []
    stored = services.state.get(layout.export(export_id))
    assert stored is not None and stored["active_run_id"] is None


def test_true_and_clear_first_still_start_runs(services: Services, sandbox: SnapSandbox) -> None:
    export_id = seed_export(services, seed_connection(services, sandbox), "1")
    answer = api_client().post(
        f"/api/exports/{export_id}/runs",
        json={"allow_mass_removal": True, "full_refresh": "clear_first", "dry_run": False},
        headers=ADMIN,
    )
    assert answer.status_code == 202, answer.text
    run = services.state.get(layout.run(answer.json()["run_id"]))
    assert run is not None
    assert run["options"] == {
        "allow_mass_removal": True,
        "full_refresh": "clear_first",
        "dry_run": False,
    }


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_run_all_needs_a_json_true(services: Services, sandbox: SnapSandbox, value: Any) -> None:
    seed_export(services, seed_connection(services, sandbox), "1")
    answer = api_client().post("/api/runs", json={"all": value}, headers=ADMIN)
    assert_refused(answer, "all")
    assert list(services.state.names("runs/")) == []


@pytest.mark.parametrize("value", ["180", 180.0, True, "9999"])
def test_retention_in_days_is_a_json_integer(
    services: Services, sandbox: SnapSandbox, value: Any
) -> None:
    connection_id = shared_connection(services, sandbox)
    body = export_body(
        connection_id, None, create_audience={"name": "High value", "retention_in_days": value}
    )
    answer = api_client().post("/api/exports", json=body, headers=ADMIN)
    assert_refused(answer, "create_audience.retention_in_days")
    assert list(services.state.names("exports/")) == []


@pytest.mark.parametrize("value", [1, 1.0, "true"])
def test_privacy_consent_is_a_json_true(services: Services, value: Any) -> None:
    answer = api_client().post(
        "/api/connections",
        json={"display_name": "Snap", "privacy_consent": value},
        headers=ADMIN,
    )
    assert_refused(answer, "privacy_consent")
    assert list(services.state.names("connections/")) == []
