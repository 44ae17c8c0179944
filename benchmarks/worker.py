"""One local instance of the function app for the benchmark (a child process of ``run.py``).

It runs the queue-triggered functions of ``function_app.py`` through
:class:`devtools.local_host.QueuePump`, exactly as ``python -m devtools serve`` does (host.json
``batchSize``, lease renewal, poison queues; no HTTP server, no timer), with settings from
the environment. The only addition is a timeline: every delivery appends one JSON line
``{"queue","kind","item","start","end","ok"}`` (epoch seconds) to ``--timeline``, which is
how ``run.py`` measures each stage. Run as ``python -m benchmarks.worker --timeline FILE``
from the repository root; it prints ``ready`` once it polls, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from azure.functions.queue import QueueMessage

from devtools.local_host import QueuePump, WorkerProcesses, function_handlers, worker_process_count
from shared.config import Settings
from shared.pipeline.messages import decode
from shared.services import build_services, set_services
from shared.storage_clients import host_queue_service
from shared.telemetry import configure

Handler = Callable[[QueueMessage], None]


class Timeline:
    """Appends one JSON line per delivery (thread-safe, flushed at once)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()


def timed(handler: Handler, queue: str, timeline: Timeline) -> Handler:
    """``handler`` with its start, end and outcome written to ``timeline``."""

    def run(message: QueueMessage) -> None:
        entry: dict[str, Any] = {"queue": queue, "kind": None, "item": None}
        try:
            decoded = decode(message.get_body())
            entry.update(kind=decoded.kind, item=decoded.item)
        except ValueError:
            pass
        entry["start"] = time.time()
        try:
            handler(message)
        except BaseException:
            entry.update(end=time.time(), ok=False)
            timeline.record(entry)
            raise
        entry.update(end=time.time(), ok=True)
        timeline.record(entry)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("--timeline", type=Path, required=True)
    parser.add_argument("--idle-sleep", type=float, default=0.5, help="as serve (0.5 s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env(local_settings=None)
    configure(settings)
    services = build_services(settings, create_resources=True)
    set_services(services)
    timeline = Timeline(args.timeline)
    functions = function_handlers(services)
    count = worker_process_count()
    if count > 1:  # the functions run in language worker processes, as on the host
        functions = WorkerProcesses(dict(settings.values), count).handlers(list(functions))
    handlers = {queue: timed(handler, queue, timeline) for queue, handler in functions.items()}
    pump = QueuePump(host_queue_service(settings), handlers)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    try:
        pump.serve_forever(idle_sleep_s=args.idle_sleep)
    except SystemExit:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
