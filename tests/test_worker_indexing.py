"""``function_app.py`` through the Python worker's own indexing and validation.

The worker (not the ``azure.functions`` library alone) decides whether the host gets any
function at all: it imports the app, requires exactly one ``FunctionApp``, checks every
function's parameters against its bindings and sends the host the raw bindings checked here.
See ``tests/worker_indexing.py`` for how the worker's code runs here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_host_routing import HttpFunction, documented_requests, routing_problems

ROOT = Path(__file__).resolve().parent.parent
INDEXER = ROOT / "tests" / "worker_indexing.py"
EVERY_METHOD = ["GET", "POST", "DELETE", "HEAD", "PATCH", "PUT", "OPTIONS"]


def run_indexer(app_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(INDEXER), str(app_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def raw_bindings() -> dict[str, list[dict[str, Any]]]:
    done = run_indexer(ROOT)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _queue(name: str, queue: str) -> list[dict[str, Any]]:
    return [
        {
            "direction": "IN",
            "type": "queueTrigger",
            "name": "message",
            "queueName": queue,
            "connection": "AzureWebJobsStorage",
        }
    ]


def test_the_host_receives_exactly_these_bindings(
    raw_bindings: dict[str, list[dict[str, Any]]],
) -> None:
    assert raw_bindings == {
        "http_app_func": [
            {
                "direction": "IN",
                "type": "httpTrigger",
                "name": "req",
                "methods": EVERY_METHOD,
                "authLevel": "ANONYMOUS",
                "route": "/{*route}",
            },
            {"direction": "OUT", "type": "http", "name": "$return"},
        ],
        "scheduled_refresh": [
            {
                "direction": "IN",
                "type": "timerTrigger",
                "name": "timer",
                "schedule": "%REFRESH_SCHEDULE%",
                "runOnStartup": False,
                "useMonitor": True,
            }
        ],
        "run_step": _queue("run_step", "%RUN_QUEUE_NAME%"),
        "upload_batch": _queue("upload_batch", "%BATCH_QUEUE_NAME%"),
        "run_step_poison": _queue("run_step_poison", "%RUN_QUEUE_NAME%-poison"),
        "upload_batch_poison": _queue("upload_batch_poison", "%BATCH_QUEUE_NAME%-poison"),
    }


def test_the_host_routes_documented_requests_as_meant_from_the_raw_bindings(
    raw_bindings: dict[str, list[dict[str, Any]]],
) -> None:
    functions = [
        HttpFunction(
            name=name,
            route=bindings[0]["route"],
            methods=frozenset(bindings[0]["methods"]),
            auth_level=bindings[0]["authLevel"],
        )
        for name, bindings in raw_bindings.items()
        if bindings[0]["type"] == "httpTrigger"
    ]
    assert routing_problems(functions, documented_requests()) == []


def test_the_worker_refuses_a_function_whose_parameter_does_not_match_its_binding(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "shared", tmp_path / "shared")
    source = (ROOT / "function_app.py").read_text()
    broken = source.replace(
        "def run_step(message: func.QueueMessage)", "def run_step(msg: func.QueueMessage)"
    )
    assert broken != source
    (tmp_path / "function_app.py").write_text(broken)
    done = run_indexer(tmp_path)
    assert done.returncode != 0
    assert "FunctionLoadError: cannot load the run_step function" in done.stderr
    assert "{'msg'}" in done.stderr
