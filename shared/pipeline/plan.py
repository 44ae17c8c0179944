"""Step 1, plan (one message per run): pre-flight, find the newest export, plan the reads.

:func:`plan` checks that the export is active, its connection ready and its audience (when
named by id) still exists at Snap; finds the newest complete export folder of each segment
(:mod:`shared.cdm_export`); and then either

* ends the run ``skipped``: a scheduled run whose newest folders were already sent;
* ends it ``succeeded`` without reading: every part file has the bytes of the last
  successful run's parts (:func:`_source_unchanged`, then ``finish.succeed_unchanged``);
* or moves it to ``read`` with one part per CSV file and ``bits`` of hash partitioning,
  and sends one :class:`~shared.pipeline.messages.ReadMessage` per part.

An audience the export asks to create is not created here but once the source has been
read and the run is about to send (after the diff: :mod:`shared.pipeline.audience`), so a
broken export or a blocked or dry run leaves no empty audience behind.
"""

from __future__ import annotations

import logging
from datetime import datetime

from shared import erasures, run_events, source_fingerprint
from shared.cdm_export import SegmentExport, resolve_segment
from shared.csv_source import SourceError
from shared.hash_spool import partition_bits
from shared.models import Export, Phase, Run, RunStatus, utc_now
from shared.pipeline import finish, records
from shared.pipeline.messages import ReadMessage
from shared.pipeline.records import RunFailed
from shared.services import Services

log = logging.getLogger(__name__)


def plan(services: Services, run_id: str) -> None:
    """Plan run ``run_id`` (see the module notes). A redelivered plan message of a run that
    is already past planning re-sends the reads, which are idempotent."""
    run = records.load_run(services, run_id)
    if run is None or run.status.terminal:
        return
    if run.phase != Phase.PLAN:
        return _send_reads(services, run)
    export = records.load_export(services, run.export_id)
    if export.status != "active":
        raise RunFailed("export_inactive", f"export '{export.display_name}' is inactive")
    connection = records.load_connection(services, export)
    if not export.audience_id and export.create_audience is None:
        raise RunFailed("no_audience", f"export '{export.display_name}' has no audience")
    # Pre-flight: an audience named by id must still exist (SnapchatNotFoundError otherwise).
    audience_id = export.audience_id
    client = services.snapchat(connection.id)
    found = client.get_audience(audience_id) if audience_id else None
    sources = _sources(services, export)
    version = "|".join(s.version for s in sources)
    started = utc_now()
    parts = [
        {
            "segment": s.segment,
            "name": f.name,
            "size": f.size,
            "has_header": f.csv.has_header,
            "columns": list(f.csv.columns or ()),
            "delimiter": f.csv.delimiter,
            "exported_at": s.exported_at.isoformat(),
        }
        for s in sources
        for f in s.files
    ]
    skip = (
        run.trigger == "schedule"
        and not run.options.full_refresh
        and version == export.last_exported_version
        and not export.unsettled
    )

    def change(r: Run) -> bool:
        if r.status.terminal or r.phase != Phase.PLAN:
            return False
        r.audience_id = audience_id
        r.sync_mode = export.sync_mode
        r.source = [
            {
                "segment": s.segment,
                "version": s.version,
                "exported_at": s.exported_at.isoformat(),
                "files": len(s.files),
                "bytes": sum(f.size for f in s.files),
            }
            for s in sources
        ]
        r.source_version = version
        r.started_at = r.started_at or started
        r.audience = records.audience_view(found) if found is not None else None
        if skip:
            r.status = RunStatus.SKIPPED
            r.ended_at = utc_now()
            r.phase = Phase.DONE
            return True
        r.status = RunStatus.RUNNING
        r.phase = Phase.READ
        r.parts = parts
        r.bits = partition_bits(sum(int(f.size) for s in sources for f in s.files))
        snapshot = export.snapshot
        if snapshot is not None and snapshot.audience_id not in (None, audience_id):
            snapshot = None  # the export now targets another audience: start afresh
        r.base_snapshot = snapshot
        r.base_unsettled = [
            u for u in export.unsettled if audience_id and u.snapshot.audience_id == audience_id
        ]
        r.counts = {"parts": len(parts), "partitions": 1 << r.bits}
        return True

    run = records.update_run(services, run_id, change)
    if run.status is RunStatus.SKIPPED:
        log.info("skipped: the newest export %s was already sent", version)
        finish.release_export(services, run)
        run_events.emit_run_event(services, run.id)
        return
    if _source_unchanged(services, export, run, sources):
        log.info("the export's files are identical to the last run's: nothing to send")
        finish.succeed_unchanged(services, run, export)
        return
    log.info("planned %d part(s), %d hash partition(s)", len(parts), 1 << run.bits)
    _send_reads(services, run)


def _sources(services: Services, export: Export) -> list[SegmentExport]:
    """The newest complete export folder of each of the export's segments."""
    container = export.source.container if export.source else None
    prefix = export.source.prefix if export.source else services.settings.get("EXPORTS_PREFIX")
    try:
        store = services.exports_store(container)
        return [resolve_segment(store, prefix or "", segment) for segment in export.segments]
    except SourceError as exc:
        raise RunFailed("source_unusable", f"export '{export.display_name}': {exc}") from None


def _source_unchanged(
    services: Services, export: Export, run: Run, sources: list[SegmentExport]
) -> bool:
    """True when every part file has the bytes of the last successful run's parts.

    Only checked when nothing else could change the result (no full refresh, a snapshot of
    this very audience, the same data-matching settings) and every size already matches,
    so a changed export costs nothing here. ``Export.last_source`` is written by
    ``finish.succeed``.
    """
    last = export.last_source
    if run.options.full_refresh or last is None or run.base_snapshot is None:
        return False
    if run.base_unsettled:
        return False  # a failed run may have changed the audience: diff and repair
    if last.get("key") != records.matching_key(services, export):
        return False
    oldest = min(
        [s.exported_at for s in sources]
        + [datetime.fromisoformat(last.get("oldest_export") or "9999-12-31T00:00:00+00:00")]
    )
    newest_erasure = max(
        (when for index in erasures.load_index(services).values() for when in index.values()),
        default=None,
    )
    if newest_erasure is not None and newest_erasure > oldest:
        return False  # an erasure may drop digests from one read and not the other
    sizes = sorted(f.size for s in sources for f in s.files)
    if sizes != sorted(int(size) for size, _ in last.get("parts", [])):
        return False
    container = export.source.container if export.source else None
    store = services.exports_store(container)
    parts = []
    for source in sources:
        for file in source.files:
            with store.open(file.name) as stream:
                parts.append(list(source_fingerprint.fingerprint(stream)))
    return source_fingerprint.same_parts(parts, last.get("parts", []))


def _send_reads(services: Services, run: Run) -> None:
    if run.phase != Phase.READ:
        return
    services.queues.send(
        services.settings.run_queue, (ReadMessage(run.id, i) for i in range(len(run.parts)))
    )
