"""The steps of a run, from the newest export in Blob Storage to the Snapchat audience.

A run moves through phases, each fanned out through a Storage queue::

    plan (1)      pre-flight the audience, find the newest complete export, plan the parts
    read (n)      one per CSV part: stream, normalise, hash -> staging, partitioned by hash
    diff (2^b)    one per hash partition: dedupe, compare with the snapshot -> adds/removes
    [clear (1)]   only for full_refresh "clear_first": empty the audience, wait until empty
    upload (k)    batch queue: one Snap request of <= 100,000 identifiers, one schema, one op
    finalize      by the last batch: swap the snapshot, read the audience back, finish

Delivery is at-least-once: each item writes a completion record once (``If-None-Match``)
and a redelivered message whose record exists only re-checks the fan-in. The worker that
completes a phase *claims* the transition (a create-once blob) and starts the next phase;
a redelivery after a crash re-sends the next phase's messages, which are idempotent too.

Safety: nothing is sent before every diff is done and the mass-removal rail has passed;
the snapshot changes only when every batch succeeded. Permanent errors (no such audience,
no permission, sign-in revoked, an unusable export) end the run ``failed`` with a message
naming the export and audience; transient ones raise so the queue retries the message,
and the poison-queue handlers record a message that kept failing.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from shared import claims, erasures, layout, native_reader, snapshots, source_fingerprint
from shared.cdm_export import SegmentExport, resolve_segment
from shared.config import ConfigError
from shared.csv_source import CsvFile, SourceError
from shared.hash_spool import DIGEST_BYTES, partition_bits, split_digests
from shared.identifiers import SCHEMA_OF_FIELD, SCHEMAS, Schema
from shared.models import (
    Connection,
    Export,
    Run,
    RunError,
    RunStatus,
    Snapshot,
    SyncMode,
    Unsettled,
    utc_now,
)
from shared.profile_hashes import FieldMapping, ReadCounts
from shared.queues import decode
from shared.services import Services
from shared.snapchat import (
    MAX_IDENTIFIERS_PER_REQUEST,
    SnapchatAuthError,
    SnapchatError,
    SnapchatNotFoundError,
    SnapchatPermissionError,
)
from shared.state_store import BlockWriter
from shared.telemetry import run_context

log = logging.getLogger(__name__)

#: Snap's documented minimum before an audience can be targeted (peers: 1,000 matched).
MIN_TARGETABLE_USERS = 1000
#: How long the ``clear`` step waits for ``all_users`` removal to show, in seconds.
CLEAR_WAIT_S = 120.0


class RunFailed(Exception):
    """Ends the run as ``failed`` without retrying. ``code`` is stable, ``message`` is safe."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- entry points (called by the queue triggers) -------------------------------------------


def handle_run_message(services: Services, body: bytes, dequeue_count: int | None = None) -> None:
    """Run one step from the run queue (``plan``/``read``/``diff``/``clear``)."""
    message = decode(body)
    run_id = str(message["run_id"])
    steps: dict[str, Callable[[], None]] = {
        "plan": lambda: plan(services, run_id),
        "read": lambda: read_part(services, run_id, int(message["part"])),
        "diff": lambda: diff_partition(services, run_id, int(message["partition"])),
        "clear": lambda: clear_audience(services, run_id),
    }
    step = steps.get(str(message["kind"]))
    if step is None:
        raise ValueError(f"unknown run step {message['kind']!r}")
    with run_context(run_id=run_id, step=str(message["kind"])):
        _guarded(services, run_id, step, dequeue_count)


def handle_batch_message(services: Services, body: bytes, dequeue_count: int | None = None) -> None:
    """Upload one batch from the batch queue."""
    message = decode(body)
    run_id = str(message["run_id"])
    with run_context(run_id=run_id, batch_id=str(message.get("batch"))):
        _guarded(services, run_id, lambda: upload_batch(services, message), dequeue_count)


def handle_poison_message(services: Services, body: bytes, queue: str) -> None:
    """A message that kept failing (``maxDequeueCount``): record it against its run."""
    try:
        message = decode(body)
    except ValueError:
        log.error("unreadable message in %s-poison", queue)
        return
    run_id = str(message.get("run_id"))
    with run_context(run_id=run_id, step=str(message.get("kind"))):
        found = services.state.get(layout.run(run_id))
        last_error = (found or {}).get("last_error") or "no error recorded"
        kind = str(message.get("kind"))
        if kind == "upload":
            batch = int(message["batch"])
            if services.state.create(
                layout.step(run_id, "upload", batch),
                {"status": "failed", "error": f"gave up after retries: {last_error}"},
            ):
                log.error("batch %s of run %s moved to the poison queue", batch, run_id)
            _advance_after_poison(services, run_id, "upload")
        elif _own_part_done(services, run_id, message):
            # Its own part is recorded: it failed while moving the run on, or waiting for
            # another worker to. Make sure the transition happens, or is in live hands.
            _advance_after_poison(services, run_id, kind)
        else:
            _fail(
                services,
                run_id,
                "step_failed",
                f"the {kind} step failed on every retry: {last_error}",
            )


def _own_part_done(services: Services, run_id: str, message: dict[str, Any]) -> bool:
    """True when a read or diff message's own part, or a clear message's clear, is done."""
    kind = message.get("kind")
    if kind == "clear":
        return _done(services, run_id, "clear", "done")
    item = message.get("part") if kind == "read" else message.get("partition")
    if kind not in ("read", "diff") or item is None:
        return False
    return _done(services, run_id, str(kind), int(item))


def _advance_after_poison(services: Services, run_id: str, phase: str) -> None:
    """Move the run past ``phase`` for a poisoned message whose own part is done.

    The message may have been the claim holder that died, so wait for its claim to go stale
    (:func:`claims.settle`) and take it over; when a live worker holds it, leave it to that
    worker. A transition that fails here fails the run (its message is spent).
    """

    def advance() -> None:
        if phase == "upload":
            _advance_upload(services, run_id)
            return
        if phase == "clear":
            clear_audience(services, run_id)  # skips the clear itself, recorded done
            return
        run = _load_run(services, run_id)
        if run is None or run.status.terminal:
            return
        (_advance_read if phase == "read" else _advance_diff)(services, run)

    def settled() -> str:
        try:
            return claims.settle(services.state, run_id, phase)
        except Exception:  # storage trouble: try to claim once more, then give up below
            log.warning("run %s: could not read the %s claim", run_id, phase, exc_info=True)
            return "free"

    for attempt in range(2):
        try:
            _guarded(services, run_id, advance, None)
            return
        except claims.TransitionPending:
            if attempt or settled() == "live":
                log.warning("run %s: another worker is moving the run past %s", run_id, phase)
                return
        except Exception as exc:
            reason = f"{exc.__class__.__name__}: {_safe(exc)}"
            try:
                _fail(services, run_id, "step_failed", f"the {phase} step failed: {reason}")
            except Exception:  # nothing more to do here; the stale-run cutoff ends it
                log.error("run %s: could not record the failure of %s", run_id, phase)
            return


def _guarded(
    services: Services, run_id: str, step: Callable[[], None], dequeue_count: int | None
) -> None:
    try:
        step()
    except RunFailed as exc:
        _fail(services, run_id, exc.code, exc.message)
    except ConfigError as exc:
        _fail(services, run_id, "configuration", str(exc))
    except SnapchatError as exc:
        if exc.transient:
            _note_error(services, run_id, str(exc), dequeue_count)
            raise
        code, message = _snap_failure(services, run_id, exc)
        _fail(services, run_id, code, message)
    except claims.TransitionPending:
        raise  # another worker is on it: retry later, nothing went wrong
    except Exception as exc:
        _note_error(services, run_id, f"{exc.__class__.__name__}: {_safe(exc)}", dequeue_count)
        raise


def _safe(exc: Exception) -> str:
    # Our own errors carry safe messages; others are named by type only.
    if isinstance(exc, SourceError | SnapchatError | RunFailed):
        return str(exc)
    return "see the function logs for the stack trace"


def _note_error(services: Services, run_id: str, text: str, dequeue_count: int | None) -> None:
    log.warning("run step failed (attempt %s): %s", dequeue_count or "?", text)

    def note(doc: dict[str, Any]) -> dict[str, Any]:
        doc["last_error"] = text[:500]
        return doc

    services.state.update(layout.run(run_id), note)


def _snap_failure(services: Services, run_id: str, exc: SnapchatError) -> tuple[str, str]:
    run = _load_run(services, run_id)
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


# -- records -------------------------------------------------------------------------------


def _load_run(services: Services, run_id: str) -> Run | None:
    document = services.state.get(layout.run(run_id))
    return Run.model_validate(document) if document else None


def _update_run(services: Services, run_id: str, change: Callable[[Run], bool | None]) -> Run:
    """CAS-update a run; ``change`` mutates it and returns False to skip writing."""
    result: dict[str, Run] = {}

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        run = Run.model_validate(document)
        if change(run) is False:
            result["run"] = run
            return None
        result["run"] = run
        return run.model_dump(mode="json")

    services.state.update(layout.run(run_id), mutate)
    if "run" not in result:
        raise RunFailed("run_not_found", f"run {run_id} does not exist")
    return result["run"]


def _load_export(services: Services, export_id: str) -> Export:
    document = services.state.get(layout.export(export_id))
    if document is None:
        raise RunFailed("export_not_found", f"export {export_id} was deleted")
    return Export.model_validate(document)


def _release_export(
    services: Services, run: Run, change: Callable[[Export], None] | None = None
) -> None:
    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        export = Export.model_validate(document)
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
        return export.model_dump(mode="json")

    services.state.update(layout.export(run.export_id), mutate)


def _fail(services: Services, run_id: str, code: str, message: str) -> None:
    """End a run as failed (once), keep the old snapshot, release the export."""

    def change(run: Run) -> bool:
        if run.status.terminal:
            return False
        run.status = RunStatus.FAILED
        run.error = RunError(code=code, message=message[:1000])
        run.ended_at = utc_now()
        return True

    try:
        run = _update_run(services, run_id, change)
    except RunFailed:
        return
    if run.error is None or run.error.code != code:
        return  # it had already ended
    log.error("run failed: %s: %s", code, message)
    if not run.sending:
        _release_export(services, run)
        _cleanup(services, run, keep_snapshot=False)
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
            (services.state.get(layout.step(run.id, "clear", "requested")) or {}).get(
                "users_before"
            )
        ),
    )

    def remember(export: Export) -> None:
        if all(u.snapshot.run_id != run.id for u in export.unsettled):
            export.unsettled.append(unsettled)

    _release_export(services, run, remember)
    _cleanup(services, run, keep_snapshot=True)
    _reapply_erasures(services, run, unsettled.snapshot)


def _reapply_erasures(services: Services, run: Run, snapshot: Snapshot) -> dict[str, int]:
    """Apply erasures made while the run was sending to its audience and ``snapshot``."""
    if not run.started_at or not run.audience_id:
        return {}
    export = _load_export(services, run.export_id)
    since = datetime.fromisoformat(run.started_at)
    late = erasures.reapply_since(services, export, run.audience_id, snapshot, since)
    if late:
        log.info("applied erasures made during the run: %s", late)
    return late


def _cleanup(services: Services, run: Run, *, keep_snapshot: bool) -> None:
    services.staging.delete_prefix(layout.staging_prefix(run.id))
    if not keep_snapshot:
        services.state.delete_prefix(layout.snapshot_prefix(run.export_id, run.id))


def _done(services: Services, run_id: str, phase: str, item: int | str) -> bool:
    return services.state.get(layout.step(run_id, phase, item)) is not None


def _completed(services: Services, run_id: str, phase: str) -> list[dict[str, Any]]:
    records = []
    for name in services.state.names(layout.steps_prefix(run_id, phase)):
        document = services.state.get(name)
        if document is not None:
            records.append(document)
    return records


def _retryable(exc: BaseException) -> bool:
    """True for an error a redelivery may get past (the run does not end with it)."""
    if isinstance(exc, RunFailed | ConfigError):
        return False
    return not (isinstance(exc, SnapchatError) and not exc.transient)


@contextmanager
def _transition(services: Services, run_id: str, phase: str) -> Iterator[bool]:
    """Claim the move past ``phase`` (see :mod:`shared.claims`); yields False when another
    worker already made it. Raises :class:`~shared.claims.TransitionPending` while another
    live worker is making it."""
    owner = claims.claim(services.state, run_id, phase)
    if owner is None:
        yield False
        return
    with claims.holding(services.state, run_id, phase, owner, release_on=_retryable):
        yield True


# -- plan ----------------------------------------------------------------------------------


def _mappings(export: Export) -> list[FieldMapping]:
    matching = export.data_matching.model_dump()
    return [
        FieldMapping(SCHEMA_OF_FIELD[field], column) for field, column in matching.items() if column
    ]


def _connection(services: Services, export: Export) -> Connection:
    document = services.state.get(layout.connection(export.connection_id))
    if document is None:
        raise RunFailed(
            "connection_deleted",
            f"export '{export.display_name}': its connection was deleted",
        )
    connection = Connection.model_validate(document)
    if connection.missing:
        raise RunFailed(
            "connection_not_ready",
            f"export '{export.display_name}': connection '{connection.display_name}' is not "
            f"ready ({connection.status})",
        )
    return connection


def audience_marker(export_id: str, run_id: str) -> str:
    """The tag that ends the description of an audience this app created.

    ``"[export <export_id> run <run_id>]"``: it lets a retried step find the audience that an
    earlier attempt created and did not record (a worker can die between Snap's answer and
    the write of the id), so the retry adopts it instead of creating a second one.
    """
    return f"[export {export_id} run {run_id}]"


_MARKER = re.compile(r"\[export (?P<export>[^\s\]]+) run (?P<run>[^\s\]]+)\]$")


def _unrecorded_audiences(
    segments: Iterable[dict[str, Any]], export: Export, run_id: str
) -> tuple[list[str], list[str]]:
    """Segments a dead attempt created for ``export`` and never recorded: ``(adoptable, left)``.

    A segment is one when its description ends with :func:`audience_marker` for this export
    and this run or the run still named in ``export.audience_creation`` (cleared once an id
    is stored, so an audience a run recorded and filled is never adopted again). It is
    adoptable when its name and retention are still what the export asks for and Snap shows
    it empty; otherwise it is left (``create_audience`` changed since) and only reported.
    """
    spec = export.create_audience
    runs = {run_id, export.audience_creation}
    adoptable: list[str] = []
    left: list[str] = []
    for segment in segments:
        match = _MARKER.search(str(segment.get("description") or ""))
        if not match or match["export"] != export.id or match["run"] not in runs:
            continue
        same = (
            spec is not None
            and (segment.get("name"), segment.get("retention_in_days"))
            == (spec.name, spec.retention_in_days)
            and not segment.get("approximate_number_users")
        )
        (adoptable if same else left).append(str(segment["id"]))
    return sorted(adoptable), sorted(left)


def _ensure_audience(
    services: Services, export: Export, connection: Connection, run_id: str
) -> str:
    """The audience id for run ``run_id``, creating the audience when the export asks for it.

    Adopts a segment an earlier attempt created and did not record
    (:func:`_unrecorded_audiences`), else creates one tagged with :func:`audience_marker`.
    The id is stored on the export unless it already holds one; then that one wins and an
    audience created here is deleted. Raises :class:`RunFailed` when there is no audience to
    use or the ad account is ambiguous; Snap errors as :mod:`shared.snapchat` raises them.
    """
    if export.audience_id:
        return export.audience_id
    spec = export.create_audience
    if spec is None:
        raise RunFailed("no_audience", f"export '{export.display_name}' has no audience")
    client = services.snapchat(connection.id)
    ad_account = spec.ad_account_id
    if not ad_account:
        accounts = [
            a["id"]
            for org in client.organizations(with_ad_accounts=True)
            for a in org.get("ad_accounts") or []
            if a.get("id")
        ]
        if len(accounts) != 1:
            raise RunFailed(
                "ad_account_ambiguous",
                f"export '{export.display_name}': the signed-in user has {len(accounts)} ad "
                "accounts; set create_audience.ad_account_id",
            )
        ad_account = accounts[0]
    adoptable, left = _unrecorded_audiences(client.list_segments(ad_account), export, run_id)
    if left:
        log.warning(
            "export %s: audiences %s were created for an earlier create_audience setting and "
            "never used; delete them in Snapchat if unwanted",
            export.id,
            ", ".join(left),
        )
    created = not adoptable
    if adoptable:
        audience_id = adoptable[0]
        log.warning(
            "adopting Snapchat audience %s, created for export %s by an attempt that did not "
            "record it%s",
            audience_id,
            export.id,
            f"; also unrecorded: {', '.join(adoptable[1:])}" if adoptable[1:] else "",
        )
    else:

        def pending(document: dict[str, Any]) -> dict[str, Any] | None:
            if document.get("audience_id"):
                return None  # recorded meanwhile: use it, create nothing
            document["audience_creation"] = run_id
            return document

        now = services.state.update(layout.export(export.id), pending) or {}
        if now.get("audience_id"):
            return str(now["audience_id"])
        description = spec.description or f"Customer Insights export '{export.display_name}'"
        segment = client.create_segment(
            ad_account,
            spec.name,
            description=f"{description} {audience_marker(export.id, run_id)}",
            retention_in_days=spec.retention_in_days,
        )
        audience_id = str(segment["id"])

    def store(document: dict[str, Any]) -> dict[str, Any]:
        document["audience_id"] = document.get("audience_id") or audience_id
        document["audience_creation"] = None
        return document

    stored = services.state.update(layout.export(export.id), store) or {}
    winner = str(stored.get("audience_id") or audience_id)
    if winner != audience_id and created:
        log.warning(
            "export %s got audience %s meanwhile; deleting %s", export.id, winner, audience_id
        )
        try:
            client.delete_segment(audience_id)
        except SnapchatError as exc:  # ours to tidy, not the run's concern
            log.warning(
                "could not delete audience %s (delete it in Snapchat): %s", audience_id, exc
            )
    elif created:
        log.info("created Snapchat audience %s for export %s", audience_id, export.id)
    return winner


def _sources(services: Services, export: Export) -> list[SegmentExport]:
    container = export.source.container if export.source else None
    prefix = export.source.prefix if export.source else services.settings.get("EXPORTS_PREFIX")
    store = services.exports_store(container)
    try:
        return [resolve_segment(store, prefix or "", segment) for segment in export.segments]
    except SourceError as exc:
        raise RunFailed("source_unusable", f"export '{export.display_name}': {exc}") from None


def plan(services: Services, run_id: str) -> None:
    """Pre-flight, locate the newest complete export of each segment, start the reads."""
    run = _load_run(services, run_id)
    if run is None or run.status.terminal:
        return
    if run.phase != "plan":
        return _resend_reads(services, run)
    export = _load_export(services, run.export_id)
    if export.status != "active":
        raise RunFailed("export_inactive", f"export '{export.display_name}' is inactive")
    connection = _connection(services, export)
    if not export.audience_id and export.create_audience is None:
        raise RunFailed("no_audience", f"export '{export.display_name}' has no audience")
    # Pre-flight: an audience named by id must still exist. One the export asks us to create
    # is created only once the source has been read and the run is about to send (see
    # _advance_diff), so a broken export or a blocked or dry run leaves no empty audience.
    audience_id = export.audience_id
    client = services.snapchat(connection.id)
    segment = client.get_segment(audience_id) if audience_id else None
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
        if r.status.terminal or r.phase != "plan":
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
        r.audience = _audience_view(segment) if segment is not None else None
        if skip:
            r.status = RunStatus.SKIPPED
            r.ended_at = utc_now()
            r.phase = "done"
            return True
        r.status = RunStatus.RUNNING
        r.phase = "read"
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

    run = _update_run(services, run_id, change)
    if run.status is RunStatus.SKIPPED:
        log.info("skipped: the newest export %s was already sent", version)
        _release_export(services, run)
        return
    if _source_unchanged(services, export, run, sources):
        log.info("the export's files are identical to the last run's: nothing to send")
        _finish_unchanged(services, run, export)
        return
    log.info("planned %d part(s), %d hash partition(s)", len(parts), 1 << run.bits)
    _resend_reads(services, run)


def _matching_key(services: Services, export: Export) -> str:
    return source_fingerprint.matching_key(
        {
            "data_matching": export.data_matching.model_dump(),
            "segments": export.segments,
            "sync_mode": export.sync_mode.value,
            "default_phone_region": services.settings.default_phone_region,
        }
    )


def _source_unchanged(
    services: Services, export: Export, run: Run, sources: list[SegmentExport]
) -> bool:
    """True when every part file has the bytes of the last successful run's parts.

    Only checked when nothing else could change the result (no full refresh, a snapshot of
    this very audience, the same data-matching settings) and every size already matches,
    so a changed export costs nothing here.
    """
    last = export.last_source
    if run.options.full_refresh or last is None or run.base_snapshot is None:
        return False
    if run.base_unsettled:
        return False  # a failed run may have changed the audience: diff and repair
    if last.get("key") != _matching_key(services, export):
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


def _finish_unchanged(services: Services, run: Run, export: Export) -> None:
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

    run = _update_run(services, run.id, change)
    _finish(services, run, dry_run=run.options.dry_run, keep_previous=True)


def _resend_reads(services: Services, run: Run) -> None:
    if run.phase != "read":
        return
    services.queues.send(
        services.settings.run_queue,
        ({"kind": "read", "run_id": run.id, "part": i} for i in range(len(run.parts))),
    )


def _audience_view(segment: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "approximate_number_users", "upload_status", "targetable_status")
    return {k: segment.get(k) for k in keys}


# -- read ----------------------------------------------------------------------------------


class _StagingPartitions:
    """Writes a part's digests to staging block blobs, one per (schema, partition)."""

    def __init__(self, services: Services, run_id: str, part: int) -> None:
        self._writer = BlockWriter(services.staging)
        self._run = run_id
        self._part = part

    def write(self, schema: Schema, partition: int, data: bytes) -> None:
        self._writer.append(layout.read_file(self._run, schema, partition, self._part), data)

    def commit(self) -> None:
        self._writer.commit()


def read_part(services: Services, run_id: str, part: int) -> None:
    """Read one CSV part: normalise and hash every mapped value into staging."""
    run = _load_run(services, run_id)
    if run is None or run.status.terminal:
        return
    if not _done(services, run_id, "read", part):
        export = _load_export(services, run.export_id)
        info = run.parts[part]
        csv = CsvFile(
            name=info["name"],
            has_header=info["has_header"],
            columns=tuple(info["columns"]) or None,
            delimiter=info["delimiter"],
        )
        exported_at = datetime.fromisoformat(info["exported_at"])
        index = erasures.load_index(services)
        erased = {s: {d for d, when in index[s].items() if when > exported_at} for s in index}
        store = services.exports_store(export.source.container if export.source else None)
        started = time.perf_counter()
        try:
            read = native_reader.read_part(
                lambda: store.open(csv.name),
                csv,
                _mappings(export),
                lambda: _StagingPartitions(services, run_id, part),
                run.bits,
                default_region=services.settings.default_phone_region,
                erased=erased,
            )
        except SourceError as exc:
            raise RunFailed("source_unusable", f"export '{export.display_name}': {exc}") from None
        read.writer.commit()
        counts = read.counts
        record = counts.to_json()
        record["seconds"] = round(time.perf_counter() - started, 3)
        record["file"] = [read.size, read.sha256]
        services.state.create(layout.step(run_id, "read", part), record)
        log.info("read part %d: %d rows in %.2f s", part, counts.rows, record["seconds"])
    _advance_read(services, run)


def _advance_read(services: Services, run: Run) -> None:
    records = _completed(services, run.id, "read")
    if len(records) < len(run.parts):
        return
    with _transition(services, run.id, "read") as ours:
        if not ours:
            return
        total = ReadCounts()
        for record in records:
            total.merge(ReadCounts.from_json(record))
        seconds = max((r.get("seconds", 0) for r in records), default=0)

        def change(r: Run) -> bool:
            if r.status.terminal:
                return False
            r.counts.update(total.to_json())
            r.counts["read_seconds_max_part"] = seconds
            r.phase = "diff"
            return True

        run = _update_run(services, run.id, change)
        if run.status.terminal:
            return
        services.queues.send(
            services.settings.run_queue,
            ({"kind": "diff", "run_id": run.id, "partition": p} for p in range(1 << run.bits)),
        )
        claims.mark_sent(services.state, run.id, "read")


# -- diff ----------------------------------------------------------------------------------


def diff_partition(services: Services, run_id: str, partition: int) -> None:
    """Deduplicate one hash partition and diff it against the snapshot."""
    run = _load_run(services, run_id)
    if run is None or run.status.terminal:
        return
    if not _done(services, run_id, "diff", partition):
        full = run.options.full_refresh
        clearing = _clears(run)
        record: dict[str, Any] = {}
        for schema in SCHEMAS:
            prefix = layout.read_prefix(run_id, schema, partition)
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
                    name = layout.diff_file(run_id, schema, partition, op)
                    services.staging.write_bytes(name, b"".join(values))
            if kept:
                name = layout.snapshot_file(run.export_id, run_id, schema, partition)
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
        services.state.create(layout.step(run_id, "diff", partition), record)
    _advance_diff(services, run)


def _advance_diff(services: Services, run: Run) -> None:
    partitions = 1 << run.bits
    names = list(services.state.names(layout.steps_prefix(run.id, "diff")))
    if len(names) < partitions:
        return
    with _transition(services, run.id, "diff") as ours:
        if not ours:
            return
        per: dict[str, dict[int, dict[str, int]]] = {s.value: {} for s in SCHEMAS}
        for name in names:
            partition = int(name.rsplit("/", 1)[1].split(".")[0])
            record = services.state.get(name) or {}
            for schema, numbers in record.items():
                per[schema][partition] = numbers
        totals = {
            key: {s: sum(n.get(key, 0) for n in per[s].values()) for s in per}
            for key in (
                *("distinct", "duplicates", "previous", "held"),
                *("adds", "removes", "dropped", "snapshot"),
            )
        }
        batches = _plan_batches(run, per, services.settings.remove_chunk_size)
        blocked = None
        if not run.options.allow_mass_removal:
            mirror = run.sync_mode is SyncMode.MIRROR
            blocked = _mass_removal(totals, services.settings.mass_removal_threshold, mirror=mirror)

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
                    "batches_total": len(batches),
                }
            )
            r.phase = "upload"
            return True

        run = _update_run(services, run.id, change)
        if run.status.terminal:
            return
        if blocked:
            _fail(
                services,
                run.id,
                "mass_removal_blocked",
                f"{blocked}; nothing was sent. Start the run with allow_mass_removal to proceed",
            )
            return
        if run.options.dry_run:
            _finish(services, run, dry_run=True)
            return
        if run.audience_id is None:
            run = _create_run_audience(services, run)
            if run.status.terminal:
                return
        if _clears(run):
            services.queues.send(services.settings.run_queue, [{"kind": "clear", "run_id": run.id}])
        elif batches:
            services.queues.send(services.settings.batch_queue, batches)
        else:
            _finalize(services, run.id)
        claims.mark_sent(services.state, run.id, "diff")


#: An identifier type that vanishes from the source blocks a mirror run (the rail) when the
#: last snapshot held at least this many of it (Snap's smallest targetable audience) ...
VANISHED_TYPE_MIN = 1000
#: ... or at least this share of all its identifiers.
VANISHED_TYPE_SHARE = 0.1


def _mass_removal(
    totals: dict[str, dict[str, int]], threshold: float, *, mirror: bool
) -> str | None:
    """Why the run must not send (the safety rail), or None.

    Blocked when the source has no valid identifier at all; in mirror mode when an
    identifier type that made up a real part of the last snapshot (:data:`VANISHED_TYPE_MIN`
    or :data:`VANISHED_TYPE_SHARE`) has none left in the source (a mapping or export gone
    wrong, more likely than all those people leaving); or when the run would take away more
    than ``threshold`` of what the audience may hold of ours (``dropped`` counts what a
    ``clear_first`` run drops by emptying the audience, too).
    """
    distinct = sum(totals["distinct"].values())
    previous = sum(totals["previous"].values())
    dropped = sum(totals["dropped"].values())
    if distinct == 0:
        return "the source has no valid identifiers"
    all_held = sum(totals["held"].values())
    for schema, held in totals["held"].items():
        substantial = held >= VANISHED_TYPE_MIN or held >= VANISHED_TYPE_SHARE * all_held
        if mirror and held and substantial and not totals["distinct"][schema]:
            return f"the source has no valid {schema} identifiers; the audience holds {held}"
    if previous and dropped / previous > threshold:
        return (
            f"the run would remove {dropped} of {previous} identifiers "
            f"({dropped / previous:.0%}, more than {threshold:.0%})"
        )
    return None


def _create_run_audience(services: Services, run: Run) -> Run:
    """Create the audience the export asks for and record its id on the run (and export)."""
    export = _load_export(services, run.export_id)
    connection = _connection(services, export)
    audience_id = _ensure_audience(services, export, connection, run.id)
    segment = services.snapchat(connection.id).get_segment(audience_id)

    def change(r: Run) -> bool:
        if r.status.terminal:
            return False
        r.audience_id = audience_id
        r.audience = _audience_view(segment)
        return True

    return _update_run(services, run.id, change)


def _clears(run: Run) -> bool:
    """True when the run empties the audience before adding: asked for (``clear_first``), or
    owed by an earlier run whose ``all_users`` removal may still be landing."""
    return run.options.full_refresh == "clear_first" or any(u.cleared for u in run.base_unsettled)


def _mark_sending(services: Services, run: Run) -> None:
    """Record, before the run's first request that changes the audience, that it has begun."""
    if run.sending:
        return

    def change(r: Run) -> bool:
        if r.sending:
            return False
        r.sending = True
        return True

    _update_run(services, run.id, change)
    run.sending = True


def _plan_batches(
    run: Run, per: dict[str, dict[int, dict[str, int]]], remove_chunk: int
) -> list[dict[str, Any]]:
    """Pack diff files into requests: one schema and one op each, at most the request limit.

    A batch message lists ``[partition, first, count]`` ranges (digest indexes into the
    diff files), so it stays small whatever the audience size.
    """
    batches: list[dict[str, Any]] = []
    for op, key, limit in (
        ("remove", "removes", remove_chunk),
        ("add", "adds", MAX_IDENTIFIERS_PER_REQUEST),
    ):
        for schema in SCHEMAS:
            ranges: list[list[int]] = []
            size = 0
            for partition in sorted(per[schema.value]):
                count = per[schema.value][partition].get(key, 0)
                start = 0
                while count > 0:
                    take = min(count, limit - size)
                    ranges.append([partition, start, take])
                    size += take
                    start += take
                    count -= take
                    if size == limit:
                        batches.append(_batch(run, len(batches), schema, op, ranges))
                        ranges, size = [], 0
            if ranges:
                batches.append(_batch(run, len(batches), schema, op, ranges))
    return batches


def _batch(
    run: Run, index: int, schema: Schema, op: str, ranges: list[list[int]]
) -> dict[str, Any]:
    return {
        "kind": "upload",
        "run_id": run.id,
        "batch": index,
        "schema": schema.value,
        "op": op,
        "ranges": ranges,
    }


# -- clear (full_refresh "clear_first") ---------------------------------------------------


def clear_audience(services: Services, run_id: str) -> None:
    """Empty the audience with ``all_users``, wait until Snap shows it empty, then upload."""
    run = _load_run(services, run_id)
    if run is None or run.status.terminal or run.audience_id is None:
        return
    export = _load_export(services, run.export_id)
    client = services.snapchat(export.connection_id)
    if not _done(services, run_id, "clear", "done"):
        requested = services.state.get(layout.step(run_id, "clear", "requested"))
        if requested is None:
            # Snap removes asynchronously and shows the old count until it has: an audience
            # that is empty already (e.g. just created) is not cleared, since "shows 0" could
            # not then tell that the removal has landed. A redelivery does not ask again.
            users = int(client.get_segment(run.audience_id).get("approximate_number_users") or 0)
            if users:
                _mark_sending(services, run)
                client.remove_all_users(run.audience_id)
            requested = {"requested_at": utc_now(), "users_before": users}
            services.state.create(layout.step(run_id, "clear", "requested"), requested)
        deadline = time.monotonic() + CLEAR_WAIT_S
        while requested.get("users_before"):
            segment = client.get_segment(run.audience_id)
            if int(segment.get("approximate_number_users") or 0) == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("the audience was not empty yet after all_users removal")
            time.sleep(2.0)
        services.state.create(layout.step(run_id, "clear", "done"), {"cleared_at": utc_now()})
    with _transition(services, run_id, "clear") as ours:
        if not ours:
            return
        per: dict[str, dict[int, dict[str, int]]] = {s.value: {} for s in SCHEMAS}
        for name in services.state.names(layout.steps_prefix(run_id, "diff")):
            partition = int(name.rsplit("/", 1)[1].split(".")[0])
            for schema, numbers in (services.state.get(name) or {}).items():
                per[schema][partition] = numbers
        batches = _plan_batches(run, per, services.settings.remove_chunk_size)
        if batches:
            services.queues.send(services.settings.batch_queue, batches)
        else:
            _finalize(services, run_id)
        claims.mark_sent(services.state, run_id, "clear")


# -- upload --------------------------------------------------------------------------------


def upload_batch(services: Services, message: dict[str, Any]) -> None:
    """Send one batch to Snap (add or remove), once, then check the fan-in."""
    run_id = str(message["run_id"])
    batch = int(message["batch"])
    run = _load_run(services, run_id)
    if run is None or run.status.terminal or run.audience_id is None:
        return
    if not _done(services, run_id, "upload", batch):
        schema = Schema(message["schema"])
        op = str(message["op"])
        data = b"".join(
            services.staging.read_bytes(
                layout.diff_file(run_id, schema, int(p), op),
                offset=int(start) * DIGEST_BYTES,
                length=int(count) * DIGEST_BYTES,
            )
            for p, start, count in message["ranges"]
        )
        text = data.hex()
        hashes = [text[i : i + 64] for i in range(0, len(text), 64)]
        expected = sum(int(c) for _, _, c in message["ranges"])
        if len(hashes) != expected:
            raise RuntimeError(f"staging returned {len(hashes)} of {expected} identifiers")
        export = _load_export(services, run.export_id)
        client = services.snapchat(export.connection_id)
        send = client.add_users if op == "add" else client.remove_users
        _mark_sending(services, run)
        started = time.perf_counter()
        accepted = send(run.audience_id, schema, hashes)
        services.state.create(
            layout.step(run_id, "upload", batch),
            {
                "status": "done",
                "op": op,
                "schema": schema.value,
                "identifiers": len(hashes),
                "number_uploaded_users": accepted,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        log.info("batch %d: %s %d %s", batch, op, len(hashes), schema.value)
    _advance_upload(services, run_id)


def _advance_upload(services: Services, run_id: str) -> None:
    run = _load_run(services, run_id)
    if run is None or run.status.terminal:
        return
    total = int(run.counts.get("batches_total", 0))
    names = list(services.state.names(layout.steps_prefix(run_id, "upload")))
    if len(names) < total:
        return
    with _transition(services, run_id, "upload") as ours:
        if not ours:
            return
        _finalize(services, run_id)
        claims.mark_sent(services.state, run_id, "upload")


# -- finalize ------------------------------------------------------------------------------


def _upload_totals(services: Services, run_id: str) -> dict[str, int]:
    totals = {"batches_done": 0, "batches_failed": 0, "uploaded": 0, "removed": 0}
    for record in _completed(services, run_id, "upload"):
        if record.get("status") == "done":
            totals["batches_done"] += 1
            key = "uploaded" if record.get("op") == "add" else "removed"
            totals[key] += int(record.get("identifiers", 0))
        else:
            totals["batches_failed"] += 1
    return totals


def _finalize(services: Services, run_id: str) -> None:
    run = _load_run(services, run_id)
    if run is None or run.status.terminal:
        return
    totals = _upload_totals(services, run_id)

    def record(r: Run) -> bool:
        r.counts.update(
            {
                "batches_done": totals["batches_done"],
                "batches_failed": totals["batches_failed"],
                "identifiers_uploaded": totals["uploaded"],
                "identifiers_removed": totals["removed"],
            }
        )
        return True

    run = _update_run(services, run_id, record)
    if totals["batches_failed"]:
        _fail(
            services,
            run_id,
            "batches_failed",
            f"{totals['batches_failed']} of {run.counts.get('batches_total')} batches failed "
            "after retries; the previous snapshot is kept and the next run repairs the "
            "difference",
        )
        return
    _finish(services, run, dry_run=False)


def _finish(services: Services, run: Run, *, dry_run: bool, keep_previous: bool = False) -> None:
    """Succeed: swap the snapshot (unless dry run or unchanged), read the audience back,
    remember the source's fingerprints, clean up."""
    previous = run.base_snapshot
    if keep_previous and not dry_run:

        def mark(export: Export) -> None:
            export.last_exported_version = run.source_version

        _release_export_after(services, run, mark)
    elif not dry_run:
        snapshot_counts = dict(run.counts.get("snapshot", {}))
        new = Snapshot(
            run_id=run.id, bits=run.bits, audience_id=run.audience_id, counts=snapshot_counts
        )
        files = [r.get("file") for r in _completed(services, run.id, "read")]
        oldest_export = min((p["exported_at"] for p in run.parts), default=None)
        counted = (
            *("rows", "profiles_with_identifier", "identifiers", "invalid", "missing"),
            *("prehashed", "erased", "duplicates", "snapshot"),
        )

        settled: list[Snapshot] = []
        exact = run.sync_mode is SyncMode.MIRROR or _clears(run)

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
            settled[:] = [u.snapshot for u in export.unsettled if u not in keep]
            export.unsettled = keep
            export.last_exported_version = run.source_version
            export.last_source = None
            if files and all(files):
                export.last_source = {
                    "key": _matching_key(services, export),
                    "oldest_export": oldest_export,
                    "parts": files,
                    "counts": {k: run.counts[k] for k in counted if k in run.counts},
                }

        _release_export_after(services, run, swap)
        late = _reapply_erasures(services, run, new)
        if late:

            def recount(export: Export) -> None:
                if export.snapshot is not None and export.snapshot.run_id == run.id:
                    for schema, removed in late.items():
                        held = export.snapshot.counts.get(schema, 0)
                        export.snapshot.counts[schema] = max(0, held - removed)

            _release_export_after(services, run, recount)
        for old in ([previous] if previous is not None else []) + settled:
            if old.run_id != run.id:
                services.state.delete_prefix(layout.snapshot_prefix(run.export_id, old.run_id))
    audience, warnings = _read_back(services, run)

    def change(r: Run) -> bool:
        if r.status.terminal:
            return False
        r.status = RunStatus.SUCCEEDED
        r.phase = "done"
        r.ended_at = utc_now()
        r.counts["dry_run"] = dry_run
        if audience:
            r.audience = audience
        r.warnings.extend(warnings)
        return True

    run = _update_run(services, run.id, change)
    if dry_run:
        _release_export(services, run)
    else:

        def record(export: Export) -> None:
            if audience:
                export.audience = audience

        _release_export(services, run, record)
    _cleanup(services, run, keep_snapshot=not dry_run)
    log.info("run succeeded (%s)", "dry run" if dry_run else "sent")


def _release_export_after(services: Services, run: Run, swap: Callable[[Export], None]) -> None:
    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        export = Export.model_validate(document)
        swap(export)
        return export.model_dump(mode="json")

    services.state.update(layout.export(run.export_id), mutate)


def _read_back(services: Services, run: Run) -> tuple[dict[str, Any] | None, list[str]]:
    if run.audience_id is None:
        return None, []
    export_doc = services.state.get(layout.export(run.export_id))
    if export_doc is None:
        return None, []
    try:
        segment = services.snapchat(export_doc["connection_id"]).get_segment(run.audience_id)
    except SnapchatError as exc:
        return None, [f"could not read the audience back: {exc}"]
    audience = _audience_view(segment)
    warnings = []
    size = int(segment.get("approximate_number_users") or 0)
    if segment.get("targetable_status") == "TOO_FEW_USERS" or size < MIN_TARGETABLE_USERS:
        warnings.append(
            f"the audience has about {size} matched users; Snapchat needs at least "
            f"{MIN_TARGETABLE_USERS} before it can be targeted"
        )
    return audience, warnings
