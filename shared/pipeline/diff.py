"""Step 3, diff (one message per hash partition): dedupe, compare with the snapshot.

:func:`diff_partition` reads, per schema, every part's staged digests of one hash partition
(deduplicating them) and the same partition of the last snapshot
(:func:`shared.snapshots.read_partition`, which re-partitions a snapshot written with other
``bits``), and writes:

* ``<run>/diff/<SCHEMA>/<partition>.add.bin`` and ``.remove.bin`` to staging, what to send;
* the partition of the run's own snapshot (``snapshots/<export>/<run>/...``), what the
  audience will hold once every batch succeeded.

What the audience holds of ours is known within bounds: at least ``lower`` and at most
``upper``, both the last snapshot when every run since it succeeded; a run that failed while
sending widens them (``models.Unsettled``). Mirror mode adds ``current - lower`` and removes
``upper - current``; append mode only adds; a full refresh re-adds everything current; a
``clear_first`` run (or one owed a clear) adds everything and removes nothing, since the
audience is emptied first.

When every partition is diffed (:func:`advance`) the totals are recorded and, in this order,
the mass-removal rail may stop the run (:mod:`~shared.pipeline.rails`), a dry run ends, the
audience is created if the export asks for one (:mod:`~shared.pipeline.audience`), and the
run goes on to clear (:mod:`~shared.pipeline.clear`) or straight to the upload batches
(:mod:`~shared.pipeline.batches`, :mod:`~shared.pipeline.upload`). Nothing has been sent to
Snap before this point.
"""

from __future__ import annotations

from typing import Any

from shared import layout, snapshots
from shared.hash_spool import split_digests
from shared.identifiers import SCHEMAS
from shared.models import Phase, Run, SyncMode
from shared.pipeline import audience, batches, finish, rails, records, steps
from shared.pipeline.messages import ClearMessage
from shared.services import Services


def diff_partition(services: Services, run_id: str, partition: int) -> None:
    """Diff hash partition ``partition`` of run ``run_id`` once, then check the fan-in."""
    steps.run_step(
        services,
        run_id,
        Phase.DIFF,
        partition,
        lambda run: _diff(services, run, partition),
        lambda run: advance(services, run),
    )


def _diff(services: Services, run: Run, partition: int) -> dict[str, Any]:
    full = run.options.full_refresh
    clearing = run.clears_first
    record: dict[str, Any] = {}
    for schema in SCHEMAS:
        prefix = layout.read_prefix(run.id, schema, partition)
        current: set[bytes] = set()
        read = 0
        for name in services.staging.names(prefix):
            digests = split_digests(services.staging.read_bytes(name))
            read += len(digests)
            current.update(digests)
            del digests
        previous = set(
            snapshots.read_partition(
                services.state, run.export_id, run.base_snapshot, schema, partition, run.bits
            )
        )
        held = len(previous)
        # What the audience holds of ours: at least `lower`, at most `upper` (both the
        # last snapshot when every run since it succeeded; see models.Unsettled).
        lower = upper = previous
        for unsettled in run.base_unsettled:
            source = unsettled.snapshot
            target = set(
                snapshots.read_partition(
                    services.state, run.export_id, source, schema, partition, run.bits
                )
            )
            lower = set() if unsettled.cleared else lower & target
            upper = upper | target
        mirror = run.sync_mode is SyncMode.MIRROR
        if clearing:
            lower = set()  # the audience is emptied first: everyone is added again
        # Set algebra in C; order does not matter to Snap or to the next diff.
        adds = current if full else current - lower
        dropped = upper - current if mirror or clearing else set()
        removes = dropped if mirror and not clearing else set()
        kept = current if mirror or clearing else current | lower
        for op, values in (("add", adds), ("remove", removes)):
            if values:
                name = layout.diff_file(run.id, schema, partition, op)
                services.staging.write_bytes(name, b"".join(values))
        if kept:
            name = layout.snapshot_file(run.export_id, run.id, schema, partition)
            services.state.write_bytes(name, b"".join(kept))
        record[schema.value] = {
            "distinct": len(current),
            "duplicates": read - len(current),
            "previous": len(upper),
            "held": held,
            "adds": len(adds),
            "removes": len(removes),
            "dropped": len(dropped),
            "snapshot": len(kept),
        }
        del current, previous, lower, upper, adds, removes, dropped, kept
    return record


def advance(services: Services, run: Run) -> None:
    """When every partition is diffed: record the totals and start sending (module notes)."""
    steps.fan_in(services, run.id, Phase.DIFF, 1 << run.bits, lambda: _start_sending(services, run))


def _start_sending(services: Services, run: Run) -> None:
    per = records.diff_counts(services, run.id)
    totals = {
        key: {s: sum(n.get(key, 0) for n in per[s].values()) for s in per}
        for key in (
            *("distinct", "duplicates", "previous", "held"),
            *("adds", "removes", "dropped", "snapshot"),
        )
    }
    upload = batches.pack(run.id, per, services.settings.remove_chunk_size)
    blocked = None
    if not run.options.allow_mass_removal:
        threshold = services.settings.mass_removal_threshold
        blocked = rails.mass_removal(totals, threshold, mirror=run.sync_mode is SyncMode.MIRROR)

    def change(r: Run) -> bool:
        if r.status.terminal:
            return False
        r.counts.update(
            {
                "identifiers": totals["distinct"],
                "duplicates": sum(totals["duplicates"].values()),
                "previous_snapshot": totals["previous"],
                "adds": totals["adds"],
                "removes": totals["removes"],
                "snapshot": totals["snapshot"],
                "batches_total": len(upload),
            }
        )
        r.phase = Phase.UPLOAD
        return True

    run = records.update_run(services, run.id, change)
    if run.status.terminal:
        return
    if blocked:
        finish.fail(
            services,
            run.id,
            "mass_removal_blocked",
            f"{blocked}; nothing was sent. Start the run with allow_mass_removal to proceed",
        )
        return
    if run.options.dry_run:
        finish.succeed(services, run, dry_run=True)
        return
    if run.audience_id is None:
        run = audience.create_for_run(services, run)
        if run.status.terminal:
            return
    if run.clears_first:
        services.queues.send(services.settings.run_queue, [ClearMessage(run.id)])
    elif upload:
        services.queues.send(services.settings.batch_queue, upload)
    else:
        finish.end_after_uploads(services, run.id)
