"""schemathesis against the real app: the FastAPI app of ``function_app`` wired to Azurite
and the Snap sandbox (the ``services`` fixture), called in process through its ASGI
interface, authenticated as an administrator.

Checks (https://schemathesis.readthedocs.io/en/stable/reference/checks/):
``not_a_server_error`` (no 5xx), ``response_schema_conformance`` (bodies match the OpenAPI
document), ``status_code_conformance`` (every status answered is documented for its
operation) and ``content_type_conformance`` (the documented media type). Any failure fails
the test. The run is bounded and repeatable: Hypothesis derandomized (a fixed seed, no
example database), schemathesis' explicit-example, coverage and fuzzing phases with at most
100 fuzzed examples per operation, then 100 stateful scenarios of at most 8 calls (about
45 s on two cores; a hunt with 600 examples per operation and 400 scenarios, randomized,
found nothing more).

* **Stateless**: every operation, positive and negative data (schemathesis' default
  modes), called once as generated and, for an operation whose path holds an id, once more
  with the id of a seeded record (a ready connection shared with contributors, an export
  whose folder and audience exist, a finished run, the sandbox's ad account), so the handlers
  behind the 404 are exercised too.
* **Stateful**: sequences following the links schemathesis infers from the document
  (create a connection, then read, change, sign in, add the export user, delete it...).

Exclusions: none of the operations or checks. Redirects are not followed (the sign-in
redirect goes to the Snap sandbox, another host; its 302 is what the document describes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

import function_app
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.models import Run, RunStatus
from shared.services import Services
from tests.conftest import exports_container
from tests.support import ADMIN, export_folder, seed_export, shared_connection, write_ci_export

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
#: Hypothesis settings shared by both runs: derandomized (fixed seed), no deadline (the
#: app calls Azurite and the sandbox), health checks about slow data generation off.
BOUNDED: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}
#: Keyword arguments of every call: the administrator's principal (built by the one helper
#: ``tests.support.principal``), and no redirects followed.
CALL: dict[str, Any] = {"headers": ADMIN, "allow_redirects": False}

schema = schemathesis.openapi.from_asgi("/api/openapi.json", function_app.api)


@dataclass
class World:
    """Seeded records whose ids replace generated ones (path parameter name -> id)."""

    ids: dict[str, str]


@pytest.fixture
def world(services: Services, sandbox: SnapSandbox, ad_account_id: str) -> World:
    connection_id = shared_connection(services, sandbox)
    export_folder(services)
    write_ci_export(exports_container(services), "HighValue", [[["c1", "a@example.com", "", ""]]])
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Fuzzed")
    export_id = seed_export(services, connection_id, audience)
    run = Run(id="20261128T030000Z-000000000001", export_id=export_id, trigger="schedule")
    run.status = RunStatus.SUCCEEDED
    services.state.put(layout.run(run.id), run.model_dump(mode="json"))
    return World(
        {
            "connection_id": connection_id,
            "export_id": export_id,
            "run_id": run.id,
            "ad_account_id": ad_account_id,
        }
    )


def with_seeded_ids(case: Any, world: World) -> bool:
    """Point ``case`` at the seeded records; ``False`` when its path holds no id."""
    parameters = case.path_parameters or {}
    if not parameters:
        return False
    case.path_parameters = {k: world.ids.get(k, v) for k, v in parameters.items()}
    return True


@schema.parametrize()
@settings(max_examples=100, **BOUNDED)
def test_every_operation_answers_as_documented(case: Any, world: World) -> None:
    case.call_and_validate(checks=CHECKS, **CALL)
    if with_seeded_ids(case, world):
        case.call_and_validate(checks=CHECKS, **CALL)


#: The state records right after seeding, restored before every stateful scenario.
_BASELINE: dict[str, Any] = {}


class Workflows(schema.as_state_machine()):  # type: ignore[misc]
    """Stateful scenarios along the inferred links, as an administrator.

    Each scenario starts from the seeded records alone (:meth:`setup`): what one scenario
    creates (an export mirroring an audience makes a second one a 409 ``audience_in_use``)
    would otherwise change the answers a later scenario's replayed steps get, which
    Hypothesis rejects as inconsistent data generation.
    """

    def setup(self) -> None:
        services: Services = _BASELINE["services"]
        kept = _BASELINE["names"]
        for name in list(services.state.names("")):
            if name not in kept:
                services.state.delete(name)

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return dict(CALL)

    def validate_response(
        self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
    ) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)


def test_linked_operations_answer_as_documented(world: World, services: Services) -> None:
    _BASELINE.update(services=services, names=set(services.state.names("")))
    Workflows.run(settings=settings(max_examples=100, stateful_step_count=8, **BOUNDED))
