"""The entry points the queue triggers call (``shared.triggers``): decode, then run the step.

Each message is decoded into its type (:mod:`~shared.pipeline.messages`) and handed to its
step under the error mapping of :func:`shared.pipeline.steps.guarded`, with the run id (and
step or batch) on every log record of the step (:func:`shared.telemetry.run_context`).
"""

from __future__ import annotations

import logging

from shared.pipeline import clear, diff, messages, plan, poison, read, steps, upload
from shared.pipeline.messages import (
    ClearMessage,
    DiffMessage,
    PlanMessage,
    ReadMessage,
    RunQueueMessage,
    UploadMessage,
)
from shared.services import Services
from shared.telemetry import run_context

log = logging.getLogger(__name__)


def handle_run_message(services: Services, body: bytes, dequeue_count: int | None = None) -> None:
    """Run one step from the run queue (plan, read a part, diff a partition, clear).

    ``ValueError`` for a body that is not a run-queue message (the queue retries it, then
    poisons it).
    """
    message = messages.decode(body)
    if isinstance(message, UploadMessage):
        raise ValueError("an upload message on the run queue")
    with run_context(run_id=message.run_id, step=message.kind):
        steps.guarded(
            services,
            message.run_id,
            lambda: _step(services, message),
            dequeue_count,
            step=message.step,
        )


def _step(services: Services, message: RunQueueMessage) -> None:
    if isinstance(message, PlanMessage):
        plan.plan(services, message.run_id)
    elif isinstance(message, ReadMessage):
        read.read_part(services, message.run_id, message.part)
    elif isinstance(message, DiffMessage):
        diff.diff_partition(services, message.run_id, message.partition)
    elif isinstance(message, ClearMessage):
        clear.clear_audience(services, message.run_id)


def handle_batch_message(services: Services, body: bytes, dequeue_count: int | None = None) -> None:
    """Upload one batch from the batch queue (``ValueError`` for any other body)."""
    message = messages.decode(body)
    if not isinstance(message, UploadMessage):
        raise ValueError(f"a {message.kind} message on the batch queue")
    with run_context(run_id=message.run_id, batch_id=str(message.batch)):
        steps.guarded(
            services,
            message.run_id,
            lambda: upload.upload_batch(services, message),
            dequeue_count,
            step=message.step,
        )


def handle_poison_message(services: Services, body: bytes, queue: str) -> None:
    """A message that kept failing (``maxDequeueCount``): settle it against its run
    (:func:`shared.pipeline.poison.settle`); an unreadable one is logged and dropped."""
    try:
        message = messages.decode(body)
    except ValueError:
        log.error("unreadable message in %s-poison", queue)
        return
    with run_context(run_id=message.run_id, step=message.kind):
        poison.settle(services, message)
