"""Wiring of function_app.py: bindings, auth levels, settings, schedule format."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter

from shared.config import APP_SETTINGS
from tests.function_index import app_functions

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bindings() -> dict[str, list[dict[str, Any]]]:
    return {f.get_function_name(): f.get_bindings_dict()["bindings"] for f in app_functions()}


def test_triggers_and_auth_levels(bindings: dict[str, list[dict[str, Any]]]) -> None:
    assert set(bindings) == {
        "http_app_func",
        "scheduled_refresh",
        "run_step",
        "upload_batch",
        "run_step_poison",
        "upload_batch_poison",
    }
    # Identity is verified by the app (shared.api.entra), not by a shared function key.
    assert str(bindings["http_app_func"][0]["authLevel"].value).lower() == "anonymous"
    timer = bindings["scheduled_refresh"][0]
    assert timer["schedule"] == "%REFRESH_SCHEDULE%" and timer["runOnStartup"] is False
    queues = {
        name: b[0]["queueName"] for name, b in bindings.items() if b[0]["type"] == "queueTrigger"
    }
    assert queues == {
        "run_step": "%RUN_QUEUE_NAME%",
        "upload_batch": "%BATCH_QUEUE_NAME%",
        "run_step_poison": "%RUN_QUEUE_NAME%-poison",
        "upload_batch_poison": "%BATCH_QUEUE_NAME%-poison",
    }
    assert all(
        b[0].get("connection") == "AzureWebJobsStorage" for n, b in bindings.items() if n in queues
    )


def test_every_binding_setting_is_in_the_example_settings() -> None:
    source = (ROOT / "function_app.py").read_text()
    names = set(re.findall(r"%([A-Za-z0-9_]+)%", source))
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert names and names <= set(example)
    assert example["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert set(example) - {"FUNCTIONS_WORKER_RUNTIME"} <= set(APP_SETTINGS)


def test_default_schedule_is_six_field_ncrontab() -> None:
    schedule = str(APP_SETTINGS["REFRESH_SCHEDULE"])
    assert len(schedule.split()) == 6
    nxt = croniter(schedule, datetime(2026, 1, 1, tzinfo=UTC), second_at_beginning=True).get_next(
        datetime
    )
    assert (nxt.hour, nxt.minute, nxt.second) == (3, 0, 0)


def test_importing_function_app_needs_no_settings_and_no_network() -> None:
    code = "import function_app; print(len(function_app.app.get_functions()))"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"


def test_host_json_queue_settings() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    queues = host["extensions"]["queues"]
    assert queues["messageEncoding"] == "base64"
    assert queues["maxDequeueCount"] >= 3
    assert queues["batchSize"] + queues["newBatchThreshold"] <= 8
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
