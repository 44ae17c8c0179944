"""Phase-transition claims: exactly one worker moves a run past a phase.

Queue delivery is at-least-once and the last messages of a phase can finish at the same
time, so the step that sends the next phase's messages (read → diff → clear/upload →
finalize) is guarded by a claim document ``steps/<run>/claims/<phase>.json``:

- :func:`claim` creates it with ``If-None-Match: *`` and an owner token; a worker that loses
  waits up to :data:`CLAIM_WAIT_S` for the winner to mark it sent, then raises
  :class:`TransitionPending` so its message is retried later.
- :func:`holding` wraps the transition: it renews the claim every :data:`CLAIM_HEARTBEAT_S`
  while the owner works (a transition may make several Snap calls, each retried for up to
  the retry budget), and gives the claim back at once when the transition raises an error
  that a retry may get past, so the redelivered message does not wait for staleness.
- A claim not renewed for :data:`CLAIM_STALE_S` belongs to a worker that died; the next
  :func:`claim` takes it over with a compare-and-swap.
- :func:`mark_sent` records that the next phase's messages went out; the claim is final.

Every write is conditional on the blob's ETag and every renewal or release on the owner
token, so a slow worker never renews or deletes a claim someone else took over.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared import layout
from shared.state_store import StateStore

log = logging.getLogger(__name__)

#: A claim not renewed for this many seconds was abandoned by a worker that died.
CLAIM_STALE_S = 60.0
#: How often the owner renews its claim while it works, in seconds.
CLAIM_HEARTBEAT_S = 15.0
#: How long a worker that lost a transition race waits for the winner, in seconds.
CLAIM_WAIT_S = 10.0
#: How long a finished transition waits for its heartbeat thread (stuck in storage retries).
_JOIN_S = 5.0


class TransitionPending(RuntimeError):
    """Another worker is moving the run to its next phase; retry this message later."""


def claim(state: StateStore, run_id: str, phase: str) -> str | None:
    """Claim the transition past ``phase``: the owner token, or ``None`` if it was sent.

    Raises :class:`TransitionPending` when another live worker holds it after
    :data:`CLAIM_WAIT_S`. A claim not renewed for :data:`CLAIM_STALE_S` is taken over.
    """
    name = layout.claim(run_id, phase)
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        if state.create(name, {"claimed_at": time.time(), "sent": False, "owner": owner}):
            return owner
        found = state.read(name)
        if found is None:
            continue
        document, etag = found
        if document.get("sent"):
            return None
        if document.get("owner") == owner:
            return owner  # our own write, whose answer was lost and retried by the SDK
        if time.time() - float(document.get("claimed_at", 0)) > CLAIM_STALE_S:
            taken = {"claimed_at": time.time(), "sent": False, "owner": owner, "taken_over": True}
            if state.replace(name, taken, etag):
                log.warning("took over the %s transition of an unfinished worker", phase)
                return owner
            continue
        if time.monotonic() > deadline:
            raise TransitionPending(f"the {phase} transition is still in progress")
        time.sleep(0.2)


def settle(state: StateStore, run_id: str, phase: str) -> str:
    """Wait until the transition past ``phase`` is no longer in doubt.

    Returns ``"sent"`` (done), ``"free"`` (no claim, or a stale one: :func:`claim` would get
    it) or, after :data:`CLAIM_STALE_S` + :data:`CLAIM_HEARTBEAT_S` of a claim kept renewed,
    ``"live"`` (a live worker is still on it and will finish or give it back).
    """
    deadline = time.monotonic() + CLAIM_STALE_S + CLAIM_HEARTBEAT_S
    while True:
        document = state.get(layout.claim(run_id, phase))
        if document is None:
            return "free"
        if document.get("sent"):
            return "sent"
        if time.time() - float(document.get("claimed_at", 0)) > CLAIM_STALE_S:
            return "free"
        if time.monotonic() > deadline:
            return "live"
        time.sleep(min(1.0, CLAIM_HEARTBEAT_S))


def mark_sent(state: StateStore, run_id: str, phase: str) -> None:
    """Record that the messages of the phase after ``phase`` were sent: the claim is final."""
    state.put(layout.claim(run_id, phase), {"claimed_at": time.time(), "sent": True})


@contextmanager
def holding(
    state: StateStore,
    run_id: str,
    phase: str,
    owner: str,
    *,
    release_on: Callable[[BaseException], bool] = lambda exc: True,
) -> Iterator[None]:
    """Hold the claim ``owner`` took while the ``with`` body moves the run past ``phase``.

    Renews it every :data:`CLAIM_HEARTBEAT_S` in a background thread; when the body raises
    an exception for which ``release_on`` is true, deletes the claim (still ours and unsent
    only) so a redelivery can claim at once. The exception is re-raised.
    """
    stop = threading.Event()
    beat = threading.Thread(
        target=_renew,
        args=(state, layout.claim(run_id, phase), owner, stop),
        name=f"claim-{phase}",
        daemon=True,
    )
    beat.start()
    failed: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        failed = exc
        raise
    finally:
        stop.set()
        beat.join(timeout=_JOIN_S)
        if failed is not None and release_on(failed):
            _release(state, layout.claim(run_id, phase), owner)


def _ours(state: StateStore, name: str, owner: str) -> str | None:
    """The claim's ETag when it is still ``owner``'s and unsent, else ``None``."""
    found = state.read(name)
    if found is None:
        return None
    document, etag = found
    if document.get("sent") or document.get("owner") != owner:
        return None
    return etag


def _renew(state: StateStore, name: str, owner: str, stop: threading.Event) -> None:
    while not stop.wait(CLAIM_HEARTBEAT_S):
        try:
            etag = _ours(state, name, owner)
            if etag is None:
                return
            renewed = {"claimed_at": time.time(), "sent": False, "owner": owner}
            state.replace(name, renewed, etag)
        except Exception:  # the next beat tries again; staleness is the backstop
            log.warning("could not renew the claim %s", name, exc_info=True)


def _release(state: StateStore, name: str, owner: str) -> None:
    try:
        etag = _ours(state, name, owner)
        if etag is not None:
            state.delete(name, etag=etag)
    except Exception:  # the original error matters more; the claim goes stale anyway
        log.warning("could not release the claim %s", name, exc_info=True)
