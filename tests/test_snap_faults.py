"""The whole pipeline against the Snap sandbox with each fault switched on.

After every fault the audience must hold exactly the expected hashes: nothing lost,
nothing raw (the sandbox rejects anything but 64 lowercase hex), no request over 100,000
rows, and never more than Snap's request rate. Permanent faults end the run ``failed``
with their own message and are not retried.
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.local_host import QueuePump
from devtools.snap_sandbox import SnapSandbox
from shared.config import Settings
from shared.services import Services
from tests.support import (
    export_to_new_audience,
    exports_container,
    person,
    person_hashes,
    run_to_end,
    seed_connection,
    seed_export,
    services_with,
    write_ci_export,
)

PEOPLE = list(range(0, 1200))
USERS = r"/v1/segments/\d+/users$"


def faulty_services(settings: Settings, **overrides: str) -> Services:
    values = {
        "SNAPCHAT_RETRY_BUDGET_SECONDS": "15",
        # Generous: a pause on a loaded CI machine must not turn into an extra call that
        # the exact call counts below would see. "slow beyond timeout" sets its own.
        "SNAPCHAT_REQUEST_TIMEOUT_SECONDS": "10",
        # Below Snap's 10/s with room for thread and GIL jitter: the limiter spaces
        # slots, the sandbox counts arrivals, and the checks allow no refusal at all.
        "SNAPCHAT_MAX_REQUESTS_PER_SECOND": "6",
        "REMOVE_CHUNK_SIZE": "100",
    }
    return services_with(settings, **{**values, **overrides})


def prepare(services: Services, sandbox: SnapSandbox, ad_account_id: str) -> tuple[str, str]:
    rows = [person(i) for i in PEOPLE]
    write_ci_export(exports_container(services), "HighValue", [rows[:600], rows[600:]])
    return export_to_new_audience(services, sandbox, ad_account_id, "Faults")


def assert_protocol_respected(sandbox: SnapSandbox) -> None:
    log = [r for r in sandbox.requests() if r["path"].startswith("/v1/")]
    assert all((r["rows"] or 0) <= 100_000 for r in log)
    # Nothing raw and nothing malformed: the sandbox answers 400 to any such request.
    assert not [r for r in log if r["status"] == 400]
    # The sandbox's own limiter (not injected faults) never had to refuse us.
    assert not [r for r in log if r["status"] == 429 and not r["fault"]]
    admitted = sorted(r["time"] for r in log if not r["fault"])
    window = max((sum(1 for t in admitted if s <= t < s + 1.0) for s in admitted), default=0)
    assert window <= 10


FAULTS: dict[str, list[dict[str, Any]]] = {
    "429 burst": [{"kind": "status", "status": 429, "path": USERS, "times": 4}],
    "500s": [{"kind": "status", "status": 500, "path": USERS, "times": 2}],
    "503 html": [{"kind": "status", "status": 503, "body": "html", "path": USERS, "times": 2}],
    "dropped connection": [{"kind": "drop", "path": USERS, "times": 2}],
    "dropped after applying": [{"kind": "drop", "apply": True, "path": USERS, "times": 2}],
    "slow beyond timeout": [{"kind": "slow", "delay_s": 3.0, "path": USERS, "times": 1}],
    "non-JSON token answer": [{"kind": "token_non_json", "status": 502, "times": 2}],
    "200 with ERROR": [{"kind": "error_200", "path": USERS, "times": 2}],
    "200 with sub-request ERROR": [
        {
            "kind": "sub_request_error_200",
            "path": USERS,
            "times": 1,
            "sub_request_error_reason": "Error code: E5001, message: temporarily unavailable",
        }
    ],
    "token expires mid-run": [{"kind": "expire_tokens", "path": USERS, "after": 2, "times": 1}],
}
FAULT_SETTINGS: dict[str, dict[str, str]] = {
    "slow beyond timeout": {"SNAPCHAT_REQUEST_TIMEOUT_SECONDS": "1"},
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_transient_fault_still_converges(
    name: str, settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    services = faulty_services(settings, **FAULT_SETTINGS.get(name, {}))
    export_id, audience = prepare(services, sandbox, ad_account_id)
    sandbox.set_faults(FAULTS[name])
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded", view
    assert sandbox.members(audience) == person_hashes(PEOPLE)
    assert all(f["fired"] >= 1 for f in sandbox.faults()), sandbox.faults()
    assert_protocol_respected(sandbox)


def test_many_small_removals_stay_under_the_rate_limit(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    services = faulty_services(settings)
    export_id, audience = prepare(services, sandbox, ad_account_id)
    assert run_to_end(services, pump, export_id)["status"] == "succeeded"
    rows = [person(i) for i in PEOPLE[:600]]  # remove 600 per schema in chunks of 100
    write_ci_export(
        exports_container(services), "HighValue", [rows[:300], rows[300:]], folder="2026/11/29/0300"
    )
    view = run_to_end(services, pump, export_id, allow_mass_removal=True)
    assert view["status"] == "succeeded"
    assert view["counts"]["batches_total"] == 18
    assert sandbox.members(audience) == person_hashes(PEOPLE[:600])
    assert_protocol_respected(sandbox)


def test_401_mid_run_refreshes_once_and_continues(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    services = faulty_services(settings)
    export_id, audience = prepare(services, sandbox, ad_account_id)
    sandbox.set_faults([{"kind": "expire_tokens", "path": USERS, "after": 1, "times": 1}])
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    assert sandbox.members(audience) == person_hashes(PEOPLE)
    token_calls = [r for r in sandbox.requests() if r["path"] == "/login/oauth2/access_token"]
    assert len(token_calls) == 2  # the first token, and one refresh after the 401
    assert len([r for r in sandbox.requests() if r["status"] == 401]) >= 1


def test_revoked_refresh_token_fails_the_run_without_retries(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    services = faulty_services(settings)
    export_id, audience = prepare(services, sandbox, ad_account_id)
    sandbox.revoke("sandbox-admin")
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "snapchat_sign_in_invalid"
    assert "sign in again" in view["error"]["message"]
    assert "Test export" in view["error"]["message"] and audience in view["error"]["message"]
    token_calls = [r for r in sandbox.requests() if r["path"] == "/login/oauth2/access_token"]
    assert len(token_calls) == 1
    assert pump.failures == 0  # no message was retried


def test_deleted_audience_fails_the_run_without_retries(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    services = faulty_services(settings)
    export_id, audience = prepare(services, sandbox, ad_account_id)
    sandbox.delete_segment(audience)
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "audience_not_found"
    assert audience in view["error"]["message"] and "Test export" in view["error"]["message"]
    assert [r["method"] for r in sandbox.requests() if r["path"].startswith("/v1/")] == ["GET"]
    assert pump.failures == 0


def test_audience_deleted_mid_run_fails_with_its_message(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    services = faulty_services(settings)
    export_id, _ = prepare(services, sandbox, ad_account_id)
    sandbox.set_faults([{"kind": "delete_segment", "path": USERS, "after": 1, "times": 1}])
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "audience_not_found"
    not_found = [r for r in sandbox.requests() if r["status"] == 404]
    assert 1 <= len(not_found) <= 2  # each batch in flight tried once, none retried
    assert pump.failures == 0


def test_no_permission_fails_with_e3002(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    services = faulty_services(settings)
    rows = [person(i) for i in PEOPLE[:10]]
    write_ci_export(exports_container(services), "HighValue", [rows])
    sandbox.add_user("viewer-user", {ad_account_id: "none"})
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Locked")
    connection = seed_connection(services, sandbox, user="viewer-user")
    export_id = seed_export(services, connection, audience)
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] in ("permission_denied", "audience_not_found")
    assert "E3002" in view["error"]["message"] or "E3003" in view["error"]["message"]
    assert pump.failures == 0


def test_sub_request_e3004_is_permanent(
    settings: Settings, sandbox: SnapSandbox, pump: QueuePump, ad_account_id: str
) -> None:
    services = faulty_services(settings)
    export_id, _ = prepare(services, sandbox, ad_account_id)
    sandbox.set_faults([{"kind": "sub_request_error_200", "path": USERS, "times": 1}])
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "failed"
    assert view["error"]["code"] == "audience_not_found"
    assert "E3004" in view["error"]["message"]
