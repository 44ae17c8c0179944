"""Shared fixtures: a real Azurite (Blob and Queue), the Snap sandbox, and services wired to both.

Azurite: when ``TEST_STORAGE_CONNECTION_STRING`` is set (``.ci/run`` starts Azurite and
sets it), that one is used; otherwise the tests start ``node_modules/.bin/azurite`` on free
ports with in-memory storage and stop it at the end. Every test gets its own containers and
queues, so tests never see each other's data.

Two kinds of tests, one suite (``make test`` runs both):

* **unit** tests of pure rules (the rail, batch packing, snapshot re-partitioning, queue
  messages, normalisation, CSV and CDM parsing, Bicep checks...): no server, a few seconds
  in all: ``pytest -m "not integration"`` (``make test-fast``);
* **integration** tests, marked ``integration`` here by the fixtures they use: anything that
  needs Azurite or the Snap sandbox (the pipeline end to end, the API over HTTP, the sandbox
  itself).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.azurite import AZURITE, Azurite
from devtools.local_host import QueuePump, function_handlers
from devtools.snap_sandbox import DEFAULT_AD_ACCOUNT_ID, SnapSandbox
from shared.config import Settings
from shared.services import Services, build_services, set_services
from shared.storage_clients import host_queue_service
from tests.support import exports_container

#: Fixtures that start a server: a test that uses one (directly or through another) is an
#: integration test.
SERVER_FIXTURES = frozenset({"storage_connection_string", "sandbox_server"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need Azurite or the Snap sandbox ``integration``."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Keep each phase's report on the test item (``item.report_call``...), so a fixture's
    teardown knows whether its test failed (the browser tests save a screenshot then)."""
    report: pytest.TestReport = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def storage_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("TEST_STORAGE_CONNECTION_STRING")
    if given:
        yield given
        return
    if not AZURITE.exists():
        pytest.exit("Azurite is not installed: run `make test` (it runs npm ci first)", 2)
    with Azurite(tmp_path_factory.mktemp("azurite") / "azurite.log") as azurite:
        yield azurite.connection_string


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SnapSandbox]:
    with SnapSandbox() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SnapSandbox) -> SnapSandbox:
    """The Snap sandbox, reset to its seeded state for this test."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def settings(storage_connection_string: str, sandbox: SnapSandbox, tmp_path: Path) -> Settings:
    """Settings for one test: its own containers and queues, the sandbox, a local secret file."""
    tag = uuid.uuid4().hex[:10]
    values = {
        "AzureWebJobsStorage": storage_connection_string,
        "RUN_QUEUE_NAME": f"runs-{tag}",
        "BATCH_QUEUE_NAME": f"batches-{tag}",
        "STATE_CONTAINER": f"state-{tag}",
        "STAGING_CONTAINER": f"staging-{tag}",
        "EXPORTS_CONTAINER": f"exports-{tag}",
        "EXPORTS_OTHER_CONTAINERS": f"other-{tag},elsewhere,nosuch",
        "EXPORTS_PREFIX": "CustomerInsights_00000000-0000-0000-0000-000000000001/BlobExport",
        "SNAPCHAT_API_URL": sandbox.url,
        "SNAPCHAT_ACCOUNTS_URL": sandbox.url,
        "SNAPCHAT_CLIENT_ID": "sandbox-client-id",
        "SNAPCHAT_CLIENT_SECRET": "sandbox-client-secret",
        "SNAPCHAT_RETRY_BUDGET_SECONDS": "20",
        "SNAPCHAT_REQUEST_TIMEOUT_SECONDS": "10",
        "SNAPCHAT_MAX_REQUESTS_PER_SECOND": "8",
        "LOCAL_SECRETS_FILE": str(tmp_path / "secrets.json"),
        "PUBLIC_BASE_URL": "http://127.0.0.1:7071",
        "DEFAULT_PHONE_REGION": "US",
        "REFRESH_SCHEDULE": "0 0 3 * * *",
        # The API tests identify callers with X-MS-CLIENT-PRINCIPAL headers (tests/support),
        # trusted only in the local mode; tests/test_api_entra.py covers AUTH_MODE=entra.
        "AUTH_MODE": "local",
    }
    return Settings.from_env({}, local_settings=None, overrides=values)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings, create_resources=True)
    exports_container(built).create_container()
    set_services(built)
    try:
        yield built
    finally:
        set_services(None)


@pytest.fixture
def pump(services: Services) -> Iterator[QueuePump]:
    """Delivers queue messages to the functions of function_app.py, like the host."""
    worker = QueuePump(
        host_queue_service(services.settings),
        function_handlers(services),
        retry_delay_s=0,
        lease_s=30,
    )
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def ad_account_id() -> str:
    return DEFAULT_AD_ACCOUNT_ID
