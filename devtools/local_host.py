"""``python -m devtools serve``: the function app on this machine, against Azurite.

It does what the Functions host does for this app, calling the very functions declared in
``function_app.py``:

* serves the ASGI app of ``http_app_func`` (all of ``/api``) with uvicorn on 127.0.0.1 only;
* polls the run and batch queues and their poison queues (base64 messages), hands each
  message to its queue-triggered function as an ``azure.functions.queue.QueueMessage`` with
  its ``dequeue_count``, deletes it on success, makes it visible again after a failure, and
  moves it to ``<queue>-poison`` after ``maxDequeueCount`` attempts (read from host.json);
  ``batchSize`` messages run at once per queue, also from host.json;
* fires the timer on ``REFRESH_SCHEDULE`` (6-field NCRONTAB, UTC).

:class:`QueuePump` is also what the tests use to drive runs to completion.
"""

from __future__ import annotations

import base64
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueServiceClient

from shared.config import Settings
from shared.services import Services

log = logging.getLogger(__name__)

Handler = Callable[[QueueMessage], None]
HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"


def host_queue_settings(path: Path = HOST_JSON) -> dict[str, Any]:
    """``extensions.queues`` of host.json (batchSize, maxDequeueCount, visibilityTimeout)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return dict(data.get("extensions", {}).get("queues", {}))


def _seconds(text: str | None, default: float) -> float:
    if not text:
        return default
    hours, minutes, seconds = (float(x) for x in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


class QueuePump:
    """Delivers queue messages to handlers the way the Functions host does (at least once)."""

    def __init__(
        self,
        service: QueueServiceClient,
        handlers: dict[str, Handler],
        *,
        max_dequeue_count: int | None = None,
        batch_size: int | None = None,
        retry_delay_s: float | None = None,
        lease_s: float = 60.0,
    ) -> None:
        settings = host_queue_settings()
        self._service = service
        self._handlers = handlers
        self.max_dequeue_count = max_dequeue_count or int(settings.get("maxDequeueCount", 5))
        self.batch_size = batch_size or int(settings.get("batchSize", 4))
        self.retry_delay_s = (
            retry_delay_s
            if retry_delay_s is not None
            else _seconds(settings.get("visibilityTimeout"), 30.0)
        )
        self._lease_s = lease_s
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.batch_size) * len(handlers))
        self._stop = threading.Event()
        self.processed = 0
        self.failures = 0

    def _deliver(self, queue: str, raw: Any) -> bool:
        client = self._service.get_queue_client(queue)
        body = base64.b64decode(raw.content)
        message = QueueMessage(
            id=raw.id,
            body=body,
            dequeue_count=raw.dequeue_count,
            pop_receipt=raw.pop_receipt,
            insertion_time=raw.inserted_on,
            expiration_time=raw.expires_on,
            time_next_visible=raw.next_visible_on,
        )
        renewer = _LeaseRenewer(client, raw, self._lease_s)
        try:
            self._handlers[queue](message)
        except Exception as exc:
            self.failures += 1
            receipt = renewer.stop()
            # As the Functions host does: the function's exception with its stack trace.
            log.warning(
                "%s: attempt %s failed: %s",
                queue,
                raw.dequeue_count,
                exc.__class__.__name__,
                exc_info=exc,
            )
            try:
                if raw.dequeue_count >= self.max_dequeue_count and not queue.endswith("-poison"):
                    self._service.get_queue_client(f"{queue}-poison").send_message(raw.content)
                    client.delete_message(raw.id, receipt)
                else:
                    client.update_message(
                        raw.id, receipt, visibility_timeout=int(self.retry_delay_s)
                    )
            except ResourceNotFoundError:
                pass
            return False
        receipt = renewer.stop()
        try:
            client.delete_message(raw.id, receipt)
        except ResourceNotFoundError:
            pass
        self.processed += 1
        return True

    def run_once(self) -> int:
        """Deliver what is visible now on every queue (in parallel); returns how many."""
        futures = []
        for queue in self._handlers:
            client = self._service.get_queue_client(queue)
            try:
                received = list(
                    client.receive_messages(
                        messages_per_page=self.batch_size,
                        visibility_timeout=int(self._lease_s),
                        max_messages=self.batch_size,
                    )
                )
            except ResourceNotFoundError:
                continue
            futures += [self._pool.submit(self._deliver, queue, raw) for raw in received]
        for future in futures:
            future.result()
        return len(futures)

    def pending(self) -> int:
        """Messages still in the queues (visible or not)."""
        total = 0
        for queue in self._handlers:
            try:
                props = self._service.get_queue_client(queue).get_queue_properties()
            except ResourceNotFoundError:
                continue
            total += int(props.approximate_message_count or 0)
        return total

    def drain(self, timeout_s: float = 120.0) -> None:
        """Deliver until every queue is empty; ``TimeoutError`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.run_once() == 0:
                if self.pending() == 0:
                    return
                time.sleep(0.05)
        raise TimeoutError(f"queues not empty after {timeout_s} s ({self.pending()} left)")

    def serve_forever(self, idle_sleep_s: float = 0.5) -> None:
        """Poll until :meth:`stop` (used by ``serve``)."""
        while not self._stop.is_set():
            try:
                if self.run_once() == 0:
                    self._stop.wait(idle_sleep_s)
            except Exception:
                log.exception("queue polling failed")
                self._stop.wait(2.0)

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)


class _LeaseRenewer:
    """Keeps a message invisible while its handler runs (the host renews its lease too)."""

    def __init__(self, client: Any, raw: Any, lease_s: float) -> None:
        self._client = client
        self._id = raw.id
        self._receipt = raw.pop_receipt
        self._lease = lease_s
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self._lease / 2):
            with self._lock:
                try:
                    answer = self._client.update_message(
                        self._id, self._receipt, visibility_timeout=int(self._lease)
                    )
                    self._receipt = answer.pop_receipt
                except Exception:
                    return

    def stop(self) -> str:
        self._done.set()
        self._thread.join()
        with self._lock:
            return str(self._receipt)


def function_handlers(services: Services) -> dict[str, Handler]:
    """Queue name -> the queue-triggered function of ``function_app.py`` bound to it."""
    import function_app

    run_queue = services.settings.run_queue
    batch_queue = services.settings.batch_queue
    return {
        run_queue: function_app.run_step,
        batch_queue: function_app.upload_batch,
        f"{run_queue}-poison": function_app.run_step_poison,
        f"{batch_queue}-poison": function_app.upload_batch_poison,
    }


#: Where the Functions host records a timer's schedule (``useMonitor``), as
#: ``shared.diagnostics`` reads it: ``timers/<host id>/<function id>/status`` in this container.
TIMER_STATUS = "timers/local/Host.Functions.scheduled_refresh/status"


class TimerThread(threading.Thread):
    """Calls ``function_app.scheduled_refresh`` on the NCRONTAB schedule (UTC), and records
    the schedule status (``Last``, ``Next``, ``LastUpdated``) in host storage as the Functions
    host's ``StorageScheduleMonitor`` does, when ``status_container`` is given."""

    def __init__(self, schedule: str, status_container: Any | None = None) -> None:
        super().__init__(daemon=True)
        from croniter import croniter

        self._cron = croniter(schedule, datetime.now(UTC), second_at_beginning=True)
        self._stop = threading.Event()
        self._status = status_container
        self._last: datetime | None = None

    def _record(self, due: datetime) -> None:
        if self._status is None:
            return
        status = {
            "Last": (self._last or datetime.min.replace(tzinfo=UTC)).isoformat(),
            "Next": due.isoformat(),
            "LastUpdated": datetime.now(UTC).isoformat(),
        }
        try:
            if not self._status.exists():
                self._status.create_container()
            self._status.upload_blob(TIMER_STATUS, json.dumps(status), overwrite=True)
        except Exception:  # the status is for diagnostics only
            log.warning("could not record the timer's schedule status", exc_info=True)

    def run(self) -> None:
        from azure.functions.timer import TimerRequest

        import function_app

        while not self._stop.is_set():
            due = self._cron.get_next(datetime)
            self._record(due)
            if self._stop.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
                return
            self._last = due
            try:
                function_app.scheduled_refresh(TimerRequest(past_due=False))
            except Exception:
                log.exception("scheduled refresh failed")

    def stop(self) -> None:
        self._stop.set()


def worker_process_count(settings: Settings | None = None, default: int = 1) -> int:
    """Language worker processes per instance: the Functions host's own setting
    ``FUNCTIONS_WORKER_PROCESS_COUNT`` (1 to 10), which lets one instance use several cores.

    Read like every setting: the environment first, then ``local.settings.json`` ``Values``
    (through ``settings``), then ``default``.
    """
    name = "FUNCTIONS_WORKER_PROCESS_COUNT"
    raw = os.environ.get(name) or (settings.get(name) if settings else None) or str(default)
    try:
        return max(1, min(10, int(raw)))
    except ValueError:
        return default


_child_handlers: dict[str, Handler] = {}


def _init_worker_process(values: dict[str, str]) -> None:
    """Initializer of a worker process: services for the given settings, handlers by queue."""
    from shared.services import build_services, set_services
    from shared.telemetry import configure

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings(values=values)
    configure(settings)
    services = build_services(settings, create_resources=False)
    set_services(services)
    _child_handlers.update(function_handlers(services))


def _invoke_in_worker(queue: str, fields: dict[str, Any]) -> None:
    _child_handlers[queue](QueueMessage(**fields))


class WorkerProcesses:
    """Hands invocations to ``count`` language worker processes, as the Functions host does
    with ``FUNCTIONS_WORKER_PROCESS_COUNT``: the host polls the queues once and spreads the
    deliveries over its worker processes, so one instance uses several cores."""

    def __init__(self, values: dict[str, str], count: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker_process,
            initargs=(values,),
        )

    def handler(self, queue: str) -> Handler:
        """A handler that runs the queue's function in a worker process and waits for it."""

        def run(message: QueueMessage) -> None:
            fields = {
                "id": message.id,
                "body": message.get_body(),
                "dequeue_count": getattr(message, "dequeue_count", None),
                "pop_receipt": message.pop_receipt,
            }
            self._pool.submit(_invoke_in_worker, queue, fields).result()

        return run

    def handlers(self, queues: list[str]) -> dict[str, Handler]:
        """Handlers for every queue name."""
        return {queue: self.handler(queue) for queue in queues}

    def pids(self) -> list[int]:
        """Process ids of the started worker processes."""
        return [int(p) for p in getattr(self._pool, "_processes", {}) or {}]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(port: int = 7071, host: str = "127.0.0.1", processes: int | None = None) -> int:
    """Run the API, the queue triggers and the timer until interrupted.

    ``processes`` (default ``FUNCTIONS_WORKER_PROCESS_COUNT``, else 1): with more than one,
    queue-triggered functions run in that many worker processes.
    """
    import uvicorn

    from shared.config import get_settings
    from shared.services import build_services, set_services
    from shared.storage_clients import host_queue_service
    from shared.telemetry import configure

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("serve binds loopback only")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    configure(settings)
    services = build_services(settings, create_resources=True)
    set_services(services)
    count = processes or worker_process_count(settings)
    handlers = function_handlers(services)
    workers = WorkerProcesses(dict(settings.values), count) if count > 1 else None
    if workers is not None:
        handlers = workers.handlers(list(handlers))
    pump = QueuePump(host_queue_service(settings), handlers)
    worker = threading.Thread(target=pump.serve_forever, daemon=True)
    worker.start()
    from shared.diagnostics import HOST_CONTAINER
    from shared.storage_clients import host_blob_service

    hosts = host_blob_service(settings).get_container_client(HOST_CONTAINER)
    timer = TimerThread(settings.require("REFRESH_SCHEDULE"), hosts)
    timer.start()
    import function_app

    log.info("serving http://%s:%d/api (queues and timer running)", host, port)
    # uvicorn stops on SIGTERM and then raises the signal again; as KeyboardInterrupt it lets
    # the block below stop the worker processes instead of leaving them orphaned.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        uvicorn.run(function_app.api, host=host, port=port, log_level="warning")
    except KeyboardInterrupt:
        pass
    finally:
        timer.stop()
        pump.stop()
        if workers is not None:
            workers.shutdown()
    return 0
