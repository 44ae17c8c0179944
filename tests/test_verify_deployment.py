"""``python -m shared verify-deployment`` against the app served over HTTP (Entra mode, keys
from the local double), complete and broken, and against hosts that get it wrong."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import function_app
from shared import verify_deployment
from shared.config import Settings
from shared.diagnostics import HOST_CONTAINER
from shared.services import Services, build_services, set_services
from shared.storage_clients import host_blob_service
from tests.entra_double import EntraDouble
from tests.live_server import serve_asgi

TOKEN_ENV = "SNAP_SYNC_TEST_ADMIN_TOKEN"


@pytest.fixture(scope="module")
def entra() -> Iterator[EntraDouble]:
    with EntraDouble() as double:
        yield double


def _services(settings: Settings, entra: EntraDouble, **broken: str) -> Services:
    """Services of a deployment whose resources exist, then ``broken`` settings changed."""
    merged = {**settings.values, **entra.settings()}
    built = build_services(
        Settings.from_env({}, local_settings=None, overrides=merged), create_resources=True
    )
    built.exports_store().container.create_container()  # type: ignore[attr-defined]
    if not broken:
        return built
    changed = Settings.from_env({}, local_settings=None, overrides={**merged, **broken})
    return build_services(changed, create_resources=False)


def _forget_timer(services: Services) -> None:
    container = host_blob_service(services.settings).get_container_client(HOST_CONTAINER)
    if container.exists():
        for blob in container.list_blobs(name_starts_with="timers/"):
            container.delete_blob(blob.name)


def _record_timer(services: Services) -> None:
    """What the Functions host writes when it starts the timer (useMonitor)."""
    container = host_blob_service(services.settings).get_container_client(HOST_CONTAINER)
    if not container.exists():
        container.create_container()
    status = {"Last": "0001-01-01T00:00:00", "Next": "2026-12-03T03:00:00+00:00"}
    container.upload_blob(
        "timers/snap-sync-host/Host.Functions.scheduled_refresh/status",
        json.dumps(status),
        overwrite=True,
    )


def _verify(url: str, token: str | None, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    if token:
        monkeypatch.setenv(TOKEN_ENV, token)
    out = io.StringIO()
    with redirect_stdout(out):
        status = verify_deployment.main(url, token_env=TOKEN_ENV if token else None)
    return status, out.getvalue()


def test_a_complete_deployment_passes_every_line(
    settings: Settings, entra: EntraDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = _services(settings, entra)
    _forget_timer(services)  # other tests (a local host) may have recorded theirs
    _record_timer(services)
    set_services(services)
    token = entra.token("Admin")
    try:
        with serve_asgi(function_app.api) as url:
            status, report = _verify(url, token, monkeypatch)
    finally:
        set_services(None)
    lines = report.splitlines()
    assert status == 0, report
    assert lines.pop() == "14 passed, 0 failed, 0 skipped: the deployment checks out"
    assert len(lines) == 14, report
    assert all(line.startswith("PASS") for line in lines), report
    names = [line.split(":")[0][6:] for line in lines]
    assert names == [
        "unauthenticated call to /api/exports",
        "forged identity header (X-MS-CLIENT-PRINCIPAL claiming Admin)",
        "OAuth callback path",
        "app setting SNAPCHAT_CLIENT_SECRET",
        f"container {settings.state_container}",
        f"container {settings.staging_container}",
        f"queue {settings.run_queue}",
        f"queue {settings.run_queue}-poison",
        f"queue {settings.batch_queue}",
        f"queue {settings.batch_queue}-poison",
        "Customer Insights export container",
        "Key Vault (refresh tokens)",
        "timer scheduled_refresh",
        "Microsoft Entra ID signing keys",
    ]
    assert "next occurrence 2026-12-03T03:00:00+00:00" in report
    assert token not in report and "sandbox-client-secret" not in report


def test_a_broken_deployment_says_what_failed_and_what_to_do(
    settings: Settings, entra: EntraDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = "@Microsoft.KeyVault(VaultName=cfg;SecretName=snapchat-client-secret)"
    services = _services(
        settings, entra, SNAPCHAT_CLIENT_SECRET=reference, RUN_QUEUE_NAME="never-created"
    )
    _forget_timer(services)
    set_services(services)
    try:
        with serve_asgi(function_app.api) as url:
            status, report = _verify(url, entra.token("Admin"), monkeypatch)
            _, viewer_report = _verify(url, entra.token("Viewer"), monkeypatch)
    finally:
        set_services(None)
    assert status == 1
    failed = [line for line in report.splitlines() if line.startswith("FAIL")]
    assert [line.split(":")[0][6:] for line in failed] == [
        "app setting SNAPCHAT_CLIENT_SECRET",
        "queue never-created",
        "queue never-created-poison",
        "timer scheduled_refresh",
    ]
    assert "the Key Vault reference is not resolved" in report
    assert "what to do: put the Snap client secret in the config vault" in report
    assert "SecretName" not in report
    assert "FAIL  diagnostics from inside the app: answered 403 forbidden" in viewer_report
    assert "the token must carry the Admin app role" in viewer_report


def test_without_a_token_only_the_outside_checks_run(
    settings: Settings, entra: EntraDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_services(_services(settings, entra))
    try:
        with serve_asgi(function_app.api) as url:
            status, report = _verify(url, None, monkeypatch)
    finally:
        set_services(None)
    assert status == 2
    assert [line[:4] for line in report.splitlines()[:-1]] == ["PASS", "PASS", "SKIP", "SKIP"]
    assert report.splitlines()[-1] == "2 passed, 0 failed, 2 skipped"
    assert "from the app (token required)" in report


def _host(answers: dict[str, tuple[int, str | None]]) -> Starlette:
    """A fake host answering each path with (status, JSON error code or None)."""

    async def answer(request: Request) -> Response:
        status, code = answers.get(request.url.path, (404, None))
        if code is None:
            return Response(status_code=status)
        return JSONResponse({"error": {"code": code, "message": "x"}}, status)

    return Starlette(routes=[Route("/{path:path}", answer)])


def test_a_shadowed_callback_and_an_open_door_are_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shadowed = _host(
        {
            "/api/exports": (401, None),
            "/api/oauth/snapchat/callback": (401, None),  # the host's function-key 401
            "/api/diagnostics": (200, None),
        }
    )
    with serve_asgi(shadowed) as url:
        status, report = _verify(url, "a-token", monkeypatch)
    assert status == 1
    assert "FAIL  OAuth callback path: answered 401 (no JSON error)" in report
    assert "the HTTP function must be ANONYMOUS" in report
    open_door = _host({"/api/exports": (200, None)})
    with serve_asgi(open_door) as url:
        status, report = _verify(url, None, monkeypatch)
    assert status == 1
    assert "FAIL  unauthenticated call to /api/exports: answered 200" in report
    assert "FAIL  forged identity header" in report
