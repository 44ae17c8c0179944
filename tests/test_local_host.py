"""The local host's reading of host settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.config import Settings
from shared.local_host import worker_process_count


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
