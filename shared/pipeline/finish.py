"""How a run ends: it succeeds, succeeds without sending, or fails; then its export is released.

* :func:`end_after_uploads`: the move past the last upload batch. Counts the batches; any
  given up (poison queue) fails the run, else it succeeds.
* :func:`succeed`: the snapshot the run wrote becomes the export's (unless a dry run), the
  previous one is deleted, erasures made meanwhile are applied again, the audience is read
  back (size, statuses, a warning under Snap's targeting minimum), the run ends
  ``succeeded`` and the export is released.
* :func:`succeed_unchanged`: a run whose export files are byte-identical to the last
  successful run's (seen by the plan step) ends ``succeeded`` with nothing sent.
* :func:`fail`: the run ends ``failed`` (once) and keeps the previous snapshot. When it had
  started sending, where it was taking the audience is kept on the export as *unsettled*
  (``models.Unsettled``), so the next run diffs against everything the audience may hold.
* :func:`release_export`: the export's run lock is freed and its ``last_run`` written.

Staging files are deleted in every case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared import erasures, layout, run_events
from shared.identifiers import SCHEMAS
from shared.models import (
    Export,
    Phase,
    Run,
    RunError,
    RunStatus,
    Snapshot,
    SyncMode,
    Unsettled,
    utc_now,
)
from shared.pipeline import records
from shared.pipeline.records import RunFailed
from shared.services import Services
from shared.snapchat import SnapchatError

log = logging.getLogger(__name__)

#: Matched users Snap needs before an audience can be targeted (``targetable_status``
#: ``TOO_FEW_USERS`` below it: https://developers.snap.com/api/marketing-api/Ads-API/customer-lists;
#: the 1,000 figure: https://www.braze.com/docs/partners/canvas_audience_sync/snapchat_audience_sync).
MIN_TARGETABLE_USERS = 1000


def end_after_uploads(services: Services, run_id: str) -> None:
    """Record the batch totals; fail the run if a batch was given up, else succeed."""
    run = records.load_run(services, run_id)
    if run is None or run.status.terminal:
        return
    totals = records.upload_totals(services, run_id)

    def record(r: Run) -> bool:
        r.counts.update(totals)
        return True

    run = records.update_run(services, run_id, record)
    if totals["batches_failed"]:
        fail(
            services,
            run_id,
            "batches_failed",
            f"{totals['batches_failed']} of {run.counts.get('batches_total')} batches failed "
            "after retries; the previous snapshot is kept and the next run repairs the "
            "difference",
        )
        return
    succeed(services, run, dry_run=False)


def succeed(services: Services, run: Run, *, dry_run: bool, keep_previous: bool = False) -> None:
    """End the run ``succeeded``: swap the snapshot (unless ``dry_run``, or ``keep_previous``
    for an unchanged export), read the audience back, remember the source's fingerprints,
    release the export, clean up."""
    previous = run.base_snapshot
    if keep_previous and not dry_run:

        def mark(export: Export) -> None:
            export.last_exported_version = run.source_version

        records.update_export(services, run.export_id, mark)
    elif not dry_run:
        snapshot_counts = dict(run.counts.get("snapshot", {}))
        new = Snapshot(
            run_id=run.id, bits=run.bits, audience_id=run.audience_id, counts=snapshot_counts
        )
        files = [r.get("file") for r in records.done_records(services, run.id, Phase.READ)]
        oldest_export = min((p["exported_at"] for p in run.parts), default=None)
        counted = (
            *("rows", "profiles_with_identifier", "identifiers", "invalid", "missing"),
            *("prehashed", "erased", "duplicates", "snapshot"),
        )

        settled: list[Snapshot] = []
        exact = run.sync_mode is SyncMode.MIRROR or run.clears_first

        def swap(export: Export) -> None:
            export.snapshot = new
            # Mirror (or a clear): the audience holds exactly `new` now. Append: at least
            # `new`; what a failed run may have added stays unsettled, so that a later mirror
            # run still removes it.
            keep = [
                u
                for u in export.unsettled
                if not exact and not u.cleared and u.snapshot.audience_id == run.audience_id
            ]
            settled[:] = [u.snapshot for u in export.unsettled if u not in keep]  # assign
            export.unsettled = keep
            export.last_exported_version = run.source_version
            export.last_source = None
            if files and all(files):
                export.last_source = {
                    "key": records.matching_key(services, export),
                    "oldest_export": oldest_export,
                    "parts": files,
                    "counts": {k: run.counts[k] for k in counted if k in run.counts},
                }

        records.update_export(services, run.export_id, swap)
        late = _reapply_erasures(services, run, new)
        if late:

            def recount(export: Export) -> None:
                if export.snapshot is not None and export.snapshot.run_id == run.id:
                    for schema, removed in late.items():
                        held = export.snapshot.counts.get(schema, 0)
                        export.snapshot.counts[schema] = max(0, held - removed)

            records.update_export(services, run.export_id, recount)
        for old in ([previous] if previous is not None else []) + settled:
            if old.run_id != run.id:
                services.state.delete_prefix(layout.snapshot_prefix(run.export_id, old.run_id))
    read_back, warnings = _read_back(services, run)

    def change(r: Run) -> bool:
        if r.status.terminal:
            return False
        r.status = RunStatus.SUCCEEDED
        r.phase = Phase.DONE
        r.ended_at = utc_now()
        r.counts["dry_run"] = dry_run
        if read_back:
            r.audience = read_back
        r.warnings.extend(warnings)  # onto the record as stored: warnings are fixed above
        return True

    run = records.update_run(services, run.id, change)
    if dry_run:
        release_export(services, run)
    else:

        def show(export: Export) -> None:
            if read_back:
                export.audience = read_back

        release_export(services, run, show)
    _cleanup(services, run, keep_snapshot=not dry_run)
    log.info("run succeeded (%s)", "dry run" if dry_run else "sent")
    run_events.emit_run_event(services, run.id)


def succeed_unchanged(services: Services, run: Run, export: Export) -> None:
    """End a run whose export is byte-identical to the last one: nothing is sent."""
    last = export.last_source or {}
    empty = {s.value: 0 for s in SCHEMAS}

    def change(r: Run) -> bool:
        r.counts.update(last.get("counts", {}))
        r.counts.update(
            adds=dict(empty),
            removes=dict(empty),
            batches_total=0,
            batches_done=0,
            batches_failed=0,
            identifiers_uploaded=0,
            identifiers_removed=0,
            unchanged_source=True,
        )
        return True

    run = records.update_run(services, run.id, change)
    succeed(services, run, dry_run=run.options.dry_run, keep_previous=True)


def fail(services: Services, run_id: str, code: str, message: str) -> None:
    """End a run ``failed`` (once), keep the old snapshot, release the export.

    ``code`` is stable (``mass_removal_blocked``, ``audience_not_found``...); ``message``
    names the export and audience and holds no personal data.
    """

    def change(run: Run) -> bool:
        if run.status.terminal:
            return False
        run.status = RunStatus.FAILED
        run.error = RunError(code=code, message=message[:1000])
        run.ended_at = utc_now()
        return True

    try:
        run = records.update_run(services, run_id, change)
    except RunFailed:
        return
    if run.error is None or run.error.code != code:
        return  # it had already ended
    log.error("run failed: %s: %s", code, message)
    if not run.sending:
        release_export(services, run)
        _cleanup(services, run, keep_snapshot=False)
        run_events.emit_run_event(services, run.id)
        return
    # Requests may have reached Snap: remember where this run was taking the audience, so
    # that the next run diffs against the whole range of what the audience may now hold.
    unsettled = Unsettled(
        snapshot=Snapshot(
            run_id=run.id,
            bits=run.bits,
            audience_id=run.audience_id,
            counts=dict(run.counts.get("snapshot", {})),
        ),
        cleared=bool(
            (services.state.get(layout.step(run.id, Phase.CLEAR, "requested")) or {}).get(
                "users_before"
            )
        ),
    )

    def remember(export: Export) -> None:
        if all(u.snapshot.run_id != run.id for u in export.unsettled):
            export.unsettled.append(unsettled)  # at most once, checked on the stored record

    release_export(services, run, remember)
    _cleanup(services, run, keep_snapshot=True)
    _reapply_erasures(services, run, unsettled.snapshot)
    run_events.emit_run_event(services, run.id)


def release_export(
    services: Services, run: Run, change: Callable[[Export], None] | None = None
) -> None:
    """Free the export's run lock (``active_run_id``, if still ``run``'s), apply ``change``
    and record ``last_run`` (id, status, end, trigger), in one compare-and-swap."""

    def release(export: Export) -> None:
        if export.active_run_id == run.id:
            export.active_run_id = None
        if change is not None:
            change(export)
        export.last_run = {
            "run_id": run.id,
            "status": run.status.value,
            "ended_at": run.ended_at,
            "trigger": run.trigger,
        }

    records.update_export(services, run.export_id, release)


def _reapply_erasures(services: Services, run: Run, snapshot: Snapshot) -> dict[str, int]:
    """Apply erasures made while the run was sending to its audience and ``snapshot``."""
    if not run.started_at or not run.audience_id:
        return {}
    export = records.load_export(services, run.export_id)
    since = datetime.fromisoformat(run.started_at)
    late = erasures.reapply_since(services, export, run.audience_id, snapshot, since)
    if late:
        log.info("applied erasures made during the run: %s", late)
    return late


def _cleanup(services: Services, run: Run, *, keep_snapshot: bool) -> None:
    services.staging.delete_prefix(layout.staging_prefix(run.id))
    if not keep_snapshot:
        services.state.delete_prefix(layout.snapshot_prefix(run.export_id, run.id))


def _read_back(services: Services, run: Run) -> tuple[dict[str, Any] | None, list[str]]:
    """The audience as Snap shows it after the run, and warnings about it."""
    if run.audience_id is None:
        return None, []
    export_doc = services.state.get(layout.export(run.export_id))
    if export_doc is None:
        return None, []
    try:
        found = services.snapchat(export_doc["connection_id"]).get_audience(run.audience_id)
    except SnapchatError as exc:
        return None, [f"could not read the audience back: {exc}"]
    size = int(found.get("approximate_number_users") or 0)
    warnings = []
    if found.get("targetable_status") == "TOO_FEW_USERS" or size < MIN_TARGETABLE_USERS:
        warnings.append(
            f"the audience has about {size} matched users; Snapchat needs at least "
            f"{MIN_TARGETABLE_USERS} before it can be targeted"
        )
    return records.audience_view(found), warnings
