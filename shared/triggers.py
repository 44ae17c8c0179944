"""What each trigger in ``function_app.py`` does, kept out of it so tests and the local host
reach it without the Functions host. Each function adapts the binding's objects and calls
the logic in :mod:`shared.run_control`, :mod:`shared.pipeline` or :mod:`shared.api`.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared import pipeline, run_control, run_events
from shared.services import Services, get_services

log = logging.getLogger(__name__)


def _services() -> Services:
    return get_services()


def on_schedule(timer: func.TimerRequest) -> dict[str, str]:
    """Timer (``%REFRESH_SCHEDULE%``, UTC): start a run of every ``with_refresh`` export,
    then write one schedule event per such export (:func:`shared.run_events.emit_schedule_events`:
    the heartbeat the "no successful run for N days" alert reads).

    A catch-up occurrence after downtime (``past_due``) still runs: a scheduled run whose
    newest export was already sent ends ``skipped`` at once, so running late is harmless.
    """
    if timer.past_due:
        log.info("the refresh timer is past due; starting the runs now")
    services = _services()
    outcomes = run_control.start_scheduled_runs(services)
    run_events.emit_schedule_events(services, outcomes)
    return outcomes


def on_run_message(message: func.QueueMessage) -> None:
    """Run queue: one step of a run (plan, read a part, diff a partition, clear)."""
    pipeline.handle_run_message(_services(), message.get_body(), _dequeue_count(message))


def on_batch_message(message: func.QueueMessage) -> None:
    """Batch queue: upload one batch of at most 100,000 identifiers."""
    pipeline.handle_batch_message(_services(), message.get_body(), _dequeue_count(message))


def on_poison_message(message: func.QueueMessage, queue: str) -> None:
    """Poison queues: record a message that failed ``maxDequeueCount`` times."""
    pipeline.handle_poison_message(_services(), message.get_body(), queue)


def _dequeue_count(message: func.QueueMessage) -> int | None:
    return getattr(message, "dequeue_count", None)
