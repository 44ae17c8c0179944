"""``make serve`` (``python -m devtools up``): one command starts Azurite, the Snap sandbox, a
sample export and the app with a usable console, and Ctrl-C stops all of it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools.azurite import AZURITE, free_port
from devtools.sample_export import SAMPLE_PREFIX, SAMPLE_SEGMENTS

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


def test_the_example_settings_point_at_the_sample_export() -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert example["EXPORTS_PREFIX"] == SAMPLE_PREFIX
    assert example["LOCAL_DEV_ROLES"] == "Admin"


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_make_serve_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    if not AZURITE.exists():
        pytest.fail("Azurite is not installed: run `make deps`")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_DEV_ROLES", "AUTH_MODE")}
    out = open(tmp_path / "up.log", "w+b")
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools", "up", "--port", str(port)],
        cwd=tmp_path,  # no local.settings.json here: the defaults must do
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        text = ""
        while "Ctrl-C" not in text:
            assert process.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.3)
            out.seek(0)
            text = out.read().decode()
        base = f"http://127.0.0.1:{port}"
        assert f"{base}/api/console" in text and f"{base}/api/docs" in text
        sandbox_port = int(re.search(r"Snap sandbox\s+http://127.0.0.1:(\d+)", text).group(1))
        page = requests.get(f"{base}/api/console/exports", timeout=10)
        assert page.status_code == 200 and "app.js" in page.text
        me = requests.get(f"{base}/api/me", timeout=10).json()
        assert me["roles"] == ["Admin"] and me["auth_mode"] == "local"
        folder = requests.get(f"{base}/api/export-folders/segments", timeout=10).json()
        assert folder["prefix"] == SAMPLE_PREFIX
        assert [s["name"] for s in folder["segments"]] == list(SAMPLE_SEGMENTS)
        assert "EmailAddress" in folder["segments"][0]["attributes"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert not _listening(port) and not _listening(sandbox_port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        out.close()


def test_make_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "devtools", "up", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"port {port} is in use" in done.stderr
