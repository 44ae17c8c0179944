"""``make serve`` (``python -m devtools up``): everything a new user needs, in one terminal.

Starts Azurite (in memory, free ports), the Snap sandbox and the app (``python -m devtools
serve``: the API, the console, the queue triggers and the timer) with settings that work
out of the box, writes a sample Customer Insights export into Azurite when the export folder
has none, prints where the console is, and stops everything on Ctrl-C. Nothing leaves the
machine and nothing is kept: every start is a fresh, empty app.

Settings given to the app (they win over ``local.settings.json``; the environment wins over
these): Azurite's connection string, ``EXPORTS_CONTAINER`` / ``EXPORTS_PREFIX`` of the sample
folder, the sandbox's URL and OAuth client, ``PUBLIC_BASE_URL`` (the sandbox accepts its
callback as redirect URI), a throw-away secrets file, ``AUTH_MODE=local`` and
``LOCAL_DEV_ROLES=Admin`` (so the browser acts as a local administrator; ``make serve
LOCAL_DEV_ROLES=Viewer`` to try another role), ``DEFAULT_PHONE_REGION=NO`` (the sample's phone
numbers are Norwegian).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite, free_port, stop_process
from devtools.sample_export import SAMPLE_PREFIX, SAMPLE_SEGMENTS, write_sample_folder

ROOT = Path(__file__).resolve().parent.parent
EXPORTS_CONTAINER = "customer-insights"
DEFAULT_PORT = 7071


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port``."""
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for(url: str, process: subprocess.Popen[Any], timeout_s: float = 60.0) -> None:
    """Return once ``url`` answers; ``RuntimeError`` if ``process`` ends or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process ended (exit code {process.returncode})")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def app_settings(storage: str, sandbox: str, base: str, work: Path) -> dict[str, str]:
    """The settings the app runs with (see the module docstring)."""
    return {
        "AzureWebJobsStorage": storage,
        "EXPORTS_CONTAINER": EXPORTS_CONTAINER,
        "EXPORTS_PREFIX": SAMPLE_PREFIX,
        "SNAPCHAT_API_URL": sandbox,
        "SNAPCHAT_ACCOUNTS_URL": sandbox,
        "SNAPCHAT_CLIENT_ID": "sandbox-client-id",
        "SNAPCHAT_CLIENT_SECRET": "sandbox-client-secret",
        "PUBLIC_BASE_URL": base,
        "LOCAL_SECRETS_FILE": str(work / "secrets.json"),
        "DEFAULT_PHONE_REGION": "NO",
        "AUTH_MODE": "local",
        "LOCAL_DEV_ROLES": "Admin",
    }


def write_sample_export(storage: str) -> bool:
    """Write the sample export folder unless its model.json exists; True when written."""
    service = BlobServiceClient.from_connection_string(storage)
    container = service.get_container_client(EXPORTS_CONTAINER)
    if not container.exists():
        container.create_container()
    if container.get_blob_client(f"{SAMPLE_PREFIX}/model.json").exists():
        return False
    write_sample_folder(container)
    return True


def _banner(base: str, sandbox: str, roles: str, wrote: bool) -> str:
    segments = ", ".join(SAMPLE_SEGMENTS)
    sample = "written now" if wrote else "already there"
    return f"""
  Snap audience sync is running on this machine.

    Console         {base}/api/console
    API reference   {base}/api/docs
    Snap sandbox    {sandbox}  (stands in for Snapchat; its sign-in page signs you in at once)

  A sample Customer Insights export ({sample}):
    container {EXPORTS_CONTAINER}, folder {SAMPLE_PREFIX}
    segments {segments}

  You act as a local user with the roles {roles} (LOCAL_DEV_ROLES).
  Everything is in memory: Ctrl-C stops it all and forgets it.
"""


def up(port: int = DEFAULT_PORT, environ: Mapping[str, str] | None = None) -> int:
    """Run the stack until Ctrl-C (or until the app or the sandbox stops); the exit status."""
    env_in = dict(os.environ if environ is None else environ)
    if not port_is_free(port):
        print(
            f"error: port {port} is in use (another `make serve`?). Stop it, or choose "
            f"another port: make serve PORT=7072",
            file=sys.stderr,
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="snap-serve-"))
    base = f"http://127.0.0.1:{port}"
    sandbox_port = free_port()
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        print("Starting Azurite, the Snap sandbox and the app…", flush=True)
        storage = stack.enter_context(Azurite(work / "azurite.log")).connection_string
        settings = app_settings(storage, sandbox, base, work)
        env = {**settings, **{k: v for k, v in env_in.items() if k in settings}}
        env = {**env_in, **env, "PYTHONUNBUFFERED": "1"}
        callbacks = [f"{base}/api/oauth/snapchat/callback"]
        callbacks.append(callbacks[0].replace("127.0.0.1", "localhost"))
        sandbox_log = stack.enter_context(open(work / "sandbox.log", "wb"))
        command = [sys.executable, "-m", "devtools.snap_sandbox", "--port", str(sandbox_port)]
        sandbox_process = subprocess.Popen(
            [*command, "--redirect-uri", *callbacks],
            cwd=ROOT,
            env=env,
            stdout=sandbox_log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop_process, sandbox_process)
        wait_for(f"{sandbox}/_sandbox/config", sandbox_process)
        wrote = write_sample_export(storage)
        app = subprocess.Popen(
            [sys.executable, "-m", "devtools", "serve", "--port", str(port)], cwd=ROOT, env=env
        )
        stack.callback(stop_process, app)
        wait_for(f"{base}/api/openapi.json", app)
        print(_banner(base, sandbox, env["LOCAL_DEV_ROLES"], wrote), flush=True)
        try:
            while app.poll() is None and sandbox_process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nStopping…", flush=True)
            return 0
        print("The app or the sandbox stopped; stopping the rest.", file=sys.stderr)
        return 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(port: int = DEFAULT_PORT) -> int:
    """Entry point: Ctrl-C (SIGINT) and SIGTERM both stop the stack cleanly (SIGINT is set
    explicitly: a shell starting this in the background would have it ignored)."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return up(port)
    except KeyboardInterrupt:
        print("\nStopped.", flush=True)
        return 0
