"""The local host's reading of host settings."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from devtools.local_host import TimerThread, worker_process_count
from shared import diagnostics
from shared.config import Settings
from shared.services import Services
from shared.storage_clients import host_blob_service


def test_worker_process_count_from_environment_then_local_settings_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local.settings.json"
    local.write_text(json.dumps({"Values": {"FUNCTIONS_WORKER_PROCESS_COUNT": "3"}}))
    monkeypatch.delenv("FUNCTIONS_WORKER_PROCESS_COUNT", raising=False)
    settings = Settings.from_env({}, local_settings=local)
    assert worker_process_count(settings) == 3
    assert worker_process_count(Settings.from_env({}, local_settings=None)) == 1
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "2")
    assert worker_process_count(settings) == 2
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "99")
    assert worker_process_count(settings) == 10
    monkeypatch.setenv("FUNCTIONS_WORKER_PROCESS_COUNT", "many")
    assert worker_process_count(settings) == 1


def test_settings_come_from_environment_then_local_settings_then_defaults(
    tmp_path: Path,
) -> None:
    local = tmp_path / "local.settings.json"
    values = {"DEFAULT_PHONE_REGION": "NO", "REMOVE_CHUNK_SIZE": "500", "RUN_QUEUE_NAME": "q"}
    local.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    settings = Settings.from_env({"RUN_QUEUE_NAME": "from-env"}, local_settings=local)
    assert settings.run_queue == "from-env"  # environment wins
    assert settings.default_phone_region == "NO"  # then local.settings.json
    assert settings.remove_chunk_size == 500
    assert settings.batch_queue == "upload-batches"  # then the default
    assert Settings.from_env({}, local_settings=tmp_path / "absent.json").run_queue == (
        "export-runs"
    )


def test_serve_refuses_to_bind_beyond_loopback() -> None:
    from devtools.local_host import serve

    with pytest.raises(SystemExit, match="loopback only"):
        serve(port=0, host="0.0.0.0")


def test_the_local_timer_records_its_schedule_as_the_host_does(services: Services) -> None:
    hosts = host_blob_service(services.settings).get_container_client(
        f"hosts-{services.settings.state_container}"
    )
    timer = TimerThread("0 0 3 * * *", hosts)
    assert diagnostics.timer_check_in(hosts).ok is False
    timer.start()
    try:
        deadline = time.monotonic() + 10
        while not diagnostics.timer_check_in(hosts).ok and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        timer.stop()
    check = diagnostics.timer_check_in(hosts)
    assert check.ok and "T03:00:00+00:00" in check.detail
