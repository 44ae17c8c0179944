"""The skeleton every step of a run shares, and what an error in a step does to the run.

Delivery is at-least-once, so every step is safe to run twice. A fanned-out step (read one
part, diff one partition, clear the audience, upload one batch) goes through
:func:`run_step`:

1. load the run; a run that has ended (or has no audience yet, for clear and upload) is left
   alone;
2. unless the item's completion record exists, do the work and write the record, once;
3. advance: the message that finds every item of its phase recorded moves the run on
   (:func:`fan_in`).

Moving on is claimed (:mod:`shared.pipeline.claims`) so that exactly one worker does it:
:func:`move_past` claims the transition, does it (sends the next phase's messages, or ends
the run) and marks the claim sent. A redelivery after a crash re-sends the next phase's
messages, which are idempotent too.

Errors (:func:`guarded`, around every step): :class:`~shared.pipeline.records.RunFailed`, a
``ConfigError`` and a permanent Snap error end the run ``failed`` with a message naming the
export and the audience; anything else is noted on the run (``last_error``: the step and the
cause, :func:`failure_text`) and raised, so the queue retries the message and, after
``maxDequeueCount`` attempts, moves it to the poison queue (:mod:`shared.pipeline.poison`),
which fails the run with that note. An error that is not one of ours is logged with its stack
trace (the Functions host also logs a function's exception; the local host does the same).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared import layout
from shared.config import ConfigError
from shared.csv_source import SourceError
from shared.models import Phase, Run
from shared.pipeline import claims, finish, records
from shared.pipeline.records import RunFailed
from shared.services import Services
from shared.snapchat import (
    SnapchatAuthError,
    SnapchatError,
    SnapchatNotFoundError,
    SnapchatPermissionError,
)

log = logging.getLogger(__name__)


# -- the skeleton --------------------------------------------------------------------------


def run_step(
    services: Services,
    run_id: str,
    phase: Phase,
    item: int | str,
    work: Callable[[Run], dict[str, Any]],
    advance: Callable[[Run], None],
    *,
    needs_audience: bool = False,
) -> None:
    """Run item ``item`` of ``phase`` once: ``work(run)`` returns its completion record,
    ``advance(run)`` moves the run on when the phase is complete (see the module notes)."""
    run = records.load_run(services, run_id)
    if run is None or run.status.terminal or (needs_audience and run.audience_id is None):
        return
    if not records.done(services, run_id, phase, item):
        records.write_done(services, run_id, phase, item, work(run))
    advance(run)


def fan_in(
    services: Services, run_id: str, phase: Phase, expected: int, move: Callable[[], None]
) -> None:
    """Once ``expected`` items of ``phase`` are recorded, move the run past it (once)."""
    if records.done_count(services, run_id, phase) < expected:
        return
    move_past(services, run_id, phase, move)


def move_past(services: Services, run_id: str, phase: Phase, move: Callable[[], None]) -> None:
    """Claim the move past ``phase``, ``move()``, and mark the claim sent.

    Does nothing when another worker already made the move; raises
    :class:`~shared.pipeline.claims.TransitionPending` while another live worker is making it
    (the message is retried later). An error in ``move`` that a retry may get past gives the
    claim back at once.
    """
    with _transition(services, run_id, phase) as ours:
        if not ours:
            return
        move()
        claims.mark_sent(services.state, run_id, phase)


@contextmanager
def _transition(services: Services, run_id: str, phase: Phase) -> Iterator[bool]:
    owner = claims.claim(services.state, run_id, phase)
    if owner is None:
        yield False
        return
    with claims.holding(services.state, run_id, phase, owner, release_on=retryable):
        yield True


# -- errors --------------------------------------------------------------------------------


def retryable(exc: BaseException) -> bool:
    """True for an error a redelivery may get past (the run does not end with it)."""
    if isinstance(exc, RunFailed | ConfigError):
        return False
    return not (isinstance(exc, SnapchatError) and not exc.transient)


def guarded(
    services: Services,
    run_id: str,
    work: Callable[[], None],
    dequeue_count: int | None,
    *,
    step: str = "step",
) -> None:
    """Run ``work`` (the ``step``, in words: ``"read step (part 3)"``); end the run on a
    permanent error, note and re-raise a transient one."""
    try:
        work()
    except RunFailed as exc:
        finish.fail(services, run_id, exc.code, exc.message)
    except ConfigError as exc:
        finish.fail(services, run_id, "configuration", str(exc))
    except SnapchatError as exc:
        if exc.transient:
            _note_error(services, run_id, f"{step}: {exc}", dequeue_count)
            raise
        code, message = _snap_failure(services, run_id, exc)
        finish.fail(services, run_id, code, message)
    except claims.TransitionPending:
        raise  # another worker is on it: retry later, nothing went wrong
    except Exception as exc:
        if not isinstance(exc, SourceError | AzureError):
            log.error("%s of run %s raised %s", step, run_id, exc.__class__.__name__, exc_info=exc)
        _note_error(services, run_id, f"{step}: {failure_text(exc)}", dequeue_count)
        raise


def failure_text(exc: BaseException) -> str:
    """The cause of a failed step, fit for the run record and for anyone who reads it: our own
    errors carry safe messages; an Azure service's answer is named by service, HTTP status and
    error code (``Azure Storage answered HTTP 503 ServerBusy``); a connection failure by kind;
    anything else by its type only, since its text may hold anything (a value read from a file
    included): the stack trace is in the function logs."""
    if isinstance(exc, SourceError | SnapchatError | RunFailed):
        return str(exc)
    if isinstance(exc, HttpResponseError):
        code = getattr(exc, "error_code", None) or (exc.reason or "")
        return f"{_azure_service(exc)} answered HTTP {exc.status_code} {code}".rstrip()
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return f"{_azure_service(exc)} could not be reached ({exc.__class__.__name__})"
    if isinstance(exc, TimeoutError):
        return "a call timed out (TimeoutError)"
    if isinstance(exc, claims.TransitionPending):
        return "another worker was still moving the run on"
    return (
        f"an unexpected {exc.__class__.__name__} (an error in this app: its stack trace is in "
        "the function logs)"
    )


def _azure_service(exc: AzureError) -> str:
    """Which Azure service an SDK error came from, by the request's host name."""
    response = getattr(exc, "response", None)
    request = getattr(response, "request", None)
    url = str(getattr(request, "url", "") or "")
    return "Azure Key Vault" if ".vault." in url else "Azure Storage"


def _note_error(services: Services, run_id: str, text: str, dequeue_count: int | None) -> None:
    log.warning("run step failed (attempt %s): %s", dequeue_count or "?", text)

    def note(run: Run) -> None:
        run.last_error = text[:500]

    try:
        records.update_run(services, run_id, note)
    except RunFailed:
        pass  # the run is gone


def _snap_failure(services: Services, run_id: str, exc: SnapchatError) -> tuple[str, str]:
    run = records.load_run(services, run_id)
    export_doc = services.state.get(layout.export(run.export_id)) if run else None
    name = export_doc["display_name"] if export_doc else (run.export_id if run else "?")
    audience = (run.audience_id if run else None) or "(none)"
    where = f"export '{name}', Snapchat audience {audience}"
    if isinstance(exc, SnapchatNotFoundError):
        return (
            "audience_not_found",
            f"{where}: the audience no longer exists or is not visible: {exc}",
        )
    if isinstance(exc, SnapchatPermissionError):
        return "permission_denied", f"{where}: {exc}"
    if isinstance(exc, SnapchatAuthError):
        return (
            "snapchat_sign_in_invalid",
            f"{where}: the connection's Snapchat sign-in is no longer valid; an administrator "
            f"must sign in again ({exc})",
        )
    return "snapchat_request_refused", f"{where}: {exc}"
