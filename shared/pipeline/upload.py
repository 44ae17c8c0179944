"""Step 5, upload (one message per batch, on the batch queue): one Snap request each.

:func:`upload_batch` reads the batch's digest ranges from the diff files, sends them in one
users request (``POST`` to add, ``DELETE`` with a JSON body to remove; one schema, at most
100,000 identifiers: :class:`~shared.snapchat.SnapchatClient`) and records the batch done.
A redelivered batch whose record exists is not sent again. Before its first request that
changes the audience, the run is marked ``sending`` (``records.mark_sending``).

A batch still failing after ``maxDequeueCount`` deliveries lands in the poison queue, which
records it failed (:mod:`~shared.pipeline.poison`). When every batch has a record
(:func:`advance`), the run ends (:func:`shared.pipeline.finish.end_after_uploads`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from shared import layout
from shared.hash_spool import DIGEST_BYTES
from shared.models import Phase, Run
from shared.pipeline import finish, records, steps
from shared.pipeline.messages import UploadMessage
from shared.services import Services

log = logging.getLogger(__name__)


def upload_batch(services: Services, message: UploadMessage) -> None:
    """Send batch ``message.batch`` to Snap once, then check whether every batch is done."""
    steps.run_step(
        services,
        message.run_id,
        Phase.UPLOAD,
        message.batch,
        lambda run: _send(services, run, message),
        lambda run: advance(services, run.id),
        needs_audience=True,
    )


def _send(services: Services, run: Run, message: UploadMessage) -> dict[str, Any]:
    assert run.audience_id is not None  # run_step(needs_audience=True)
    data = b"".join(
        services.staging.read_bytes(
            layout.diff_file(run.id, message.schema, partition, message.op),
            offset=first * DIGEST_BYTES,
            length=count * DIGEST_BYTES,
        )
        for partition, first, count in message.ranges
    )
    text = data.hex()
    hashes = [text[i : i + 64] for i in range(0, len(text), 64)]
    if len(hashes) != message.identifiers:
        raise RuntimeError(f"staging returned {len(hashes)} of {message.identifiers} identifiers")
    export = records.load_export(services, run.export_id)
    client = services.snapchat(export.connection_id)
    send = client.add_users if message.op == "add" else client.remove_users
    records.mark_sending(services, run)
    started = time.perf_counter()
    accepted = send(run.audience_id, message.schema, hashes)
    record = {
        "status": "done",
        "op": message.op,
        "schema": message.schema.value,
        "identifiers": len(hashes),
        "number_uploaded_users": accepted,
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info("batch %d: %s %d %s", message.batch, message.op, len(hashes), message.schema.value)
    return record


def advance(services: Services, run_id: str) -> None:
    """When every batch has a record (done, or failed by the poison queue): end the run."""
    run = records.load_run(services, run_id)
    if run is None or run.status.terminal:
        return
    expected = int(run.counts.get("batches_total", 0))
    steps.fan_in(
        services, run_id, Phase.UPLOAD, expected, lambda: finish.end_after_uploads(services, run_id)
    )
