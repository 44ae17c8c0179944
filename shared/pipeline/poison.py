"""The poison queues: a message that failed ``maxDequeueCount`` times is settled against its run.

The Functions host moves such a message to ``<queue>-poison``
(https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages),
whose trigger calls :func:`settle`:

* an upload batch is recorded ``failed``, then the run is moved on as usual: with a failed
  batch it ends ``failed`` and keeps its snapshot (``finish.end_after_uploads``);
* a read, diff or clear message whose own item is recorded failed while moving the run on,
  or waiting for another worker to: the move past its phase is made here (its claim taken
  over once stale), or left to the live worker that holds it;
* any other message (its work never got done) fails the run, naming its step.
"""

from __future__ import annotations

import logging

from shared.models import Phase
from shared.pipeline import claims, clear, diff, finish, read, records, steps, upload
from shared.pipeline.messages import Message, UploadMessage
from shared.services import Services

log = logging.getLogger(__name__)


def settle(services: Services, message: Message) -> None:
    """Settle a poisoned ``message`` against its run (see the module notes)."""
    run_id = message.run_id
    run = records.load_run(services, run_id)
    last_error = (run.last_error if run else None) or f"{message.step}: no error recorded"
    if isinstance(message, UploadMessage):
        if records.write_done(
            services,
            run_id,
            Phase.UPLOAD,
            message.batch,
            {"status": "failed", "error": f"gave up after retries: {last_error}"},
        ):
            log.error("batch %s of run %s moved to the poison queue", message.batch, run_id)
        _move_on(services, run_id, Phase.UPLOAD)
    elif message.item is not None and records.done(
        services, run_id, Phase(message.kind), message.item
    ):
        # Its own item is recorded: it failed while moving the run on, or waiting for
        # another worker to. Make sure the transition happens, or is in live hands.
        _move_on(services, run_id, Phase(message.kind))
    else:
        finish.fail(
            services,
            run_id,
            "step_failed",
            f"gave up after every retry: {last_error}",
        )


def _move_on(services: Services, run_id: str, phase: Phase) -> None:
    """Move the run past ``phase`` for a poisoned message whose own item is done.

    The message may have been the claim holder that died, so wait for its claim to go stale
    (:func:`claims.settle`) and take it over; when a live worker holds it, leave it to that
    worker. A transition that fails here fails the run (its message is spent).
    """

    def advance() -> None:
        if phase is Phase.UPLOAD:
            upload.advance(services, run_id)
            return
        if phase is Phase.CLEAR:
            clear.clear_audience(services, run_id)  # skips the clear itself, recorded done
            return
        run = records.load_run(services, run_id)
        if run is None or run.status.terminal:
            return
        (read.advance if phase is Phase.READ else diff.advance)(services, run)

    def settled() -> str:
        try:
            return claims.settle(services.state, run_id, phase)
        except Exception:  # storage trouble: try to claim once more, then give up below
            log.warning("run %s: could not read the %s claim", run_id, phase, exc_info=True)
            return "free"

    for attempt in range(2):
        try:
            steps.guarded(services, run_id, advance, None, step=f"moving the run past {phase}")
            return
        except claims.TransitionPending:
            if attempt or settled() == "live":
                log.warning("run %s: another worker is moving the run past %s", run_id, phase)
                return
        except Exception as exc:
            reason = steps.failure_text(exc)
            try:
                finish.fail(services, run_id, "step_failed", f"the {phase} step failed: {reason}")
            except Exception:  # nothing more to do here; the stale-run cutoff ends it
                log.error("run %s: could not record the failure of %s", run_id, phase)
            return
