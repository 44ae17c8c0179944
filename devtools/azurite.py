"""Azurite for development: the one way the tests, ``make demo`` and ``make bench`` start it.

Azurite comes from ``package.json`` (``npm ci`` puts it in ``node_modules/.bin``). It runs
in memory on free 127.0.0.1 ports with ``--skipApiVersionCheck`` (the Python blob SDK speaks
a newer storage API version than Azurite 3.x knows) and ``--loose``. The connection string
uses Azurite's well-known development account (``devstoreaccount1``), which is public and
documented by Microsoft, so it is not a secret.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The Azurite executable installed by ``npm ci``.
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
#: Azurite's published development account key (not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``.

    Raises ``RuntimeError`` after ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s} s")


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 15.0) -> None:
    """Terminate ``process`` (if still running); kill it if it has not ended in ``timeout_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


def connection_string(blob_port: int, queue_port: int) -> str:
    """The storage connection string of an Azurite on 127.0.0.1 (Blob and Queue endpoints)."""
    base = "http://127.0.0.1"
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/devstoreaccount1;"
        f"QueueEndpoint={base}:{queue_port}/devstoreaccount1;"
    )


class ChildProcess:
    """Mixin for a helper that owns one child ``process``: its ``pid`` and ``stop()``."""

    process: subprocess.Popen[Any] | None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


class Azurite(ChildProcess):
    """One Azurite process on free ports, in memory; ``start()`` returns once it listens.

    ``log`` receives its output. ``connection_string`` is set by ``start()``; ``stop()``
    terminates it (and kills it if it does not end within 15 s).
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.connection_string = ""

    def start(self) -> Azurite:
        if not AZURITE.exists():
            raise RuntimeError("Azurite is not installed: run `make deps` (npm ci) first")
        blob, queue, table = free_port(), free_port(), free_port()
        command = [str(AZURITE), "--silent", "--inMemoryPersistence", "--skipApiVersionCheck"]
        command += ["--loose", "--disableTelemetry"]
        for service, port in (("blob", blob), ("queue", queue), ("table", table)):
            command += [f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port)]
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, cwd=self.log.parent
            )
        try:
            wait_for_port(blob)
            wait_for_port(queue)
        except RuntimeError:
            self.stop()
            raise
        self.connection_string = connection_string(blob, queue)
        return self

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
