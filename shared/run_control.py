"""Starting runs (scheduled and on demand), reading their status and history.

Starting a run only writes records and one queue message, so the HTTP trigger answers in
well under 2 s (the 230 s HTTP limit never matters); all reading, hashing and uploading
happens in queue-triggered steps (:mod:`shared.pipeline`, which the plan message starts).

One export never has two runs at once: the export record's ``active_run_id`` is set by a
compare-and-swap; a second start gets :class:`RunInProgress` with the running run's id. A
lock whose run has ended, or is older than :data:`STALE_RUN_HOURS`, is taken over.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from shared import layout, run_events
from shared.models import Export, Phase, Run, RunOptions, RunStatus, Schedule, utc_now
from shared.pipeline.messages import PlanMessage
from shared.pipeline.records import done, done_count, upload_totals
from shared.services import Services

log = logging.getLogger(__name__)

#: A run that has not ended after this long is considered abandoned.
STALE_RUN_HOURS = 24


class ExportNotFound(LookupError):
    """No export with that id."""


class RunInProgress(RuntimeError):
    """The export already has a run in progress (``run_id``)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} of this export is still in progress")
        self.run_id = run_id


class ExportNotRunnable(RuntimeError):
    """The export is inactive (its connection was deleted) and cannot run."""


def new_run_id(now: datetime | None = None) -> str:
    """A unique, time-sortable run id, e.g. ``20261129T031500Z-1f3a...``."""
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _lock_is_free(services: Services, active_run_id: str | None) -> bool:
    if not active_run_id:
        return True
    document = services.state.get(layout.run(active_run_id))
    if document is None:
        return True
    run = Run.model_validate(document)
    if run.status.terminal:
        return True
    created = _parse(run.created_at)
    if created and datetime.now(UTC) - created > timedelta(hours=STALE_RUN_HOURS):
        _abandon(services, run)
        return True
    return False


def _abandon(services: Services, run: Run) -> None:
    ended: list[bool] = []

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        ended.clear()  # a mutator may run again after a lost race: assign, never accumulate
        if RunStatus(document["status"]).terminal:
            return None
        ended.append(True)
        document["status"] = RunStatus.FAILED.value
        document["ended_at"] = utc_now()
        document["error"] = {
            "code": "abandoned",
            "message": f"the run did not finish within {STALE_RUN_HOURS} hours",
        }
        return document

    services.state.update(layout.run(run.id), mutate)
    if ended:
        run_events.emit_run_event(services, run.id)


def run_in_progress(services: Services, active_run_id: str | None) -> str | None:
    """``active_run_id`` of an export if that run is still in progress, else ``None``.

    A run that has ended does not count; one older than :data:`STALE_RUN_HOURS` is marked
    failed (abandoned) and does not count either (the same rule :func:`start_run` applies).
    """
    return None if _lock_is_free(services, active_run_id) else active_run_id


def start_run(
    services: Services,
    export_id: str,
    *,
    trigger: Literal["schedule", "on_demand"],
    options: RunOptions | None = None,
    requested_by: str | None = None,
) -> Run:
    """Create a queued run, lock the export, enqueue the ``plan`` step; return the run.

    Raises :class:`ExportNotFound`, :class:`ExportNotRunnable` or :class:`RunInProgress`.
    """
    document = services.state.get(layout.export(export_id))
    if document is None:
        raise ExportNotFound(export_id)
    export = Export.model_validate(document)
    if export.status != "active":
        raise ExportNotRunnable(
            f"export '{export.display_name}' is inactive: {export.inactive_reason or 'no reason'}"
        )
    created = datetime.now(UTC)
    run = Run(
        id=new_run_id(created),
        export_id=export_id,
        trigger=trigger,
        options=options or RunOptions(),
        requested_by=requested_by,
        sync_mode=export.sync_mode,
        audience_id=export.audience_id,
    )
    services.state.put(layout.run(run.id), run.model_dump(mode="json"))
    blocked: dict[str, str] = {}

    def lock(current: dict[str, Any]) -> dict[str, Any] | None:
        active = current.get("active_run_id")
        if not _lock_is_free(services, active):
            blocked["run_id"] = str(active)
            return None
        current["active_run_id"] = run.id
        return current

    locked = services.state.update(layout.export(export_id), lock)
    if locked is None or blocked:
        services.state.delete(layout.run(run.id))
        if locked is None:
            raise ExportNotFound(export_id)
        raise RunInProgress(blocked["run_id"])
    services.state.put(
        layout.history_entry(export_id, run.id, created),
        {"run_id": run.id, "created_at": run.created_at, "trigger": trigger},
    )
    services.queues.send(services.settings.run_queue, [PlanMessage(run.id)])
    log.info("run %s of export %s queued (%s)", run.id, export_id, trigger)
    return run


def start_scheduled_runs(services: Services) -> dict[str, str]:
    """Start a run of every active export scheduled ``with_refresh``: export id -> outcome."""
    outcomes: dict[str, str] = {}
    for _, document in services.state.documents(layout.EXPORTS_PREFIX):
        export = Export.model_validate(document)
        if export.status != "active" or export.schedule is not Schedule.WITH_REFRESH:
            continue
        try:
            run = start_run(services, export.id, trigger="schedule")
            outcomes[export.id] = run.id
        except RunInProgress as exc:
            outcomes[export.id] = f"already running ({exc.run_id})"
            log.warning("export %s: run %s still in progress; not started", export.id, exc.run_id)
        except (ExportNotFound, ExportNotRunnable) as exc:
            outcomes[export.id] = f"not started: {exc}"
    return outcomes


def get_run(services: Services, run_id: str) -> dict[str, Any] | None:
    """A run as shown by ``GET /api/runs/{id}``, with live batch progress while uploading."""
    document = services.state.get(layout.run(run_id))
    if document is None:
        return None
    run = Run.model_validate(document)
    view = run.model_dump(mode="json", exclude={"parts", "base_snapshot", "last_error"})
    counts = view["counts"]
    if not run.status.terminal and run.phase == Phase.UPLOAD:
        totals = upload_totals(services, run_id)  # live progress while batches land
        live = ("batches_done", "batches_failed", "identifiers_uploaded")
        counts.update({key: totals[key] for key in live})
    if run.last_error and not run.status.terminal:
        view["last_retryable_error"] = run.last_error
    return view


#: The phases of a run in order (``clear`` runs inside ``upload``).
_ORDER = (Phase.PLAN, Phase.READ, Phase.DIFF, Phase.UPLOAD, Phase.DONE)


def run_progress(services: Services, run_id: str) -> dict[str, Any] | None:
    """How far a run is, cheaply (``GET /api/runs/{id}/progress``): ``None`` without the run.

    ``{"run_id", "export_id", "status", "phase", "step", "parts_read", "partitions_diffed",
    "batches_sent"}``: ``step`` is the phase now at work, ``clear`` while a ``clear_first``
    run empties the audience; each of the last three is ``{"done", "total"}``, or ``None``
    until the plan (parts, partitions) or the diff (batches) has counted them, and for the
    batches of a dry run (it sends none). A phase behind the run counts all its items; only
    the phase at work is counted from its completion records, by listing their names (one
    listing, no record read); a batch given up on (poison queue) counts as sent.
    """
    document = services.state.get(layout.run(run_id))
    if document is None:
        return None
    run = Run.model_validate(document)
    at = _ORDER.index(run.phase) if run.phase in _ORDER else 0

    def progress(phase: Phase, total_key: str) -> dict[str, int] | None:
        total = run.counts.get(total_key)
        if not isinstance(total, int):
            return None
        mine = _ORDER.index(phase)
        if at > mine:
            finished = total
        elif at < mine:
            finished = 0
        else:
            finished = min(total, done_count(services, run_id, phase))
        return {"done": finished, "total": total}

    step = run.phase
    if (
        run.phase == Phase.UPLOAD
        and not run.status.terminal
        and run.clears_first
        and not done(services, run_id, Phase.CLEAR, "done")
    ):
        step = Phase.CLEAR
    return {
        "run_id": run.id,
        "export_id": run.export_id,
        "status": run.status.value,
        "phase": run.phase.value,
        "step": step.value,
        "parts_read": progress(Phase.READ, "parts"),
        "partitions_diffed": progress(Phase.DIFF, "partitions"),
        # A dry run packs the batches it would send, and sends none.
        "batches_sent": None if run.options.dry_run else progress(Phase.UPLOAD, "batches_total"),
    }


def run_history(
    services: Services, export_id: str, *, limit: int = 20, after: str | None = None
) -> dict[str, Any]:
    """Runs of an export, newest first, at most ``limit``, after history entry ``after``
    (``<inverted time>-<run id>``, as :func:`shared.layout.history_entry` names it).

    Returns ``{"runs": [run view, ...], "last": entry | None}``; ``last`` is the page's last
    entry when more runs follow. History names sort newest first, so the page is the first
    ``limit`` names after ``after``; the listing's arguments are this app's own (the
    prefix), never a caller's continuation token.
    """
    prefix = layout.history_prefix(export_id)
    entries: list[str] = []
    more = False
    for name in services.state.names(prefix):
        entry = name[len(prefix) :].removesuffix(".json")
        if after is not None and entry <= after:
            continue
        if len(entries) == limit:
            more = True
            break
        entries.append(entry)
    runs = []
    for entry in entries:
        view = get_run(services, layout.history_run_id(entry))
        if view is not None:
            runs.append(view)
    return {"runs": runs, "last": entries[-1] if more and entries else None}
