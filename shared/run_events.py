"""Run events: one Application Insights custom event per finished run, one per scheduled export
on every timer tick. Ids and counts only: never a raw identifier, a hash or a token.

Two events, each with a fixed field list (the single source the alert and workbook queries in
``infra/ops/`` are tested against):

``SnapAudienceRun`` (:data:`RUN_EVENT_FIELDS`)
    Emitted by :func:`emit_run_event` when a run reaches a terminal status (``succeeded``,
    ``failed``, ``skipped``): export, run, trigger, status, error, duration, rows, identifiers
    per schema, invalid values per column and reason, adds and removes per schema, batches, and
    the audience size and targetable status Snap reported, with the size the export's previous
    run saw (so an alert can spot a drop without reading more than one event).
``SnapAudienceSchedule`` (:data:`SCHEDULE_EVENT_FIELDS`)
    Emitted by :func:`emit_schedule_events` on every timer tick, one per active export
    scheduled ``with_refresh``, whatever happened to its run: it says which exports the timer
    still serves and since when each has had no successful run. Log search alerts read at
    most two days of data, so "no success for N days" must travel in the event itself.

How they reach Azure Monitor. Each event is a log record of the logger
``snap_audience_sync.events`` whose attribute ``microsoft.custom_event.name`` names the
event; the Azure Monitor OpenTelemetry exporter sends such a record as a custom event
("Send custom events", https://learn.microsoft.com/azure/azure-monitor/app/opentelemetry-add-modify?tabs=python#send-custom-events),
its other attributes becoming custom dimensions. With a workspace-based Application Insights
resource (``infra/core/monitoring.bicep``) custom events land in the Log Analytics table
``AppEvents``: the event name in the ``Name`` column, the dimensions in the dynamic
``Properties`` column (https://learn.microsoft.com/azure/azure-monitor/reference/tables/appevents;
``customEvents`` -> ``AppEvents``: https://learn.microsoft.com/azure/azure-monitor/app/data-model-complete).
Locally the same record is an ordinary log line (its message summarises the run). The
worker's own exporter sends it, so the host's sampling (``host.json``) does not apply, and the
distro samples logs only when asked to (``enable_trace_based_sampling_for_logs``, off here).

Every value is a string (Application Insights stores custom dimensions as strings, at most
8,192 characters each: longer values are cut, so JSON breakdowns are kept under that size
here); an unknown value is ``""``. Counts are decimal integers, booleans ``true``/``false``,
times ISO-8601 UTC. Free text (export name, error message) passes :func:`shared.telemetry.redact`.

Telemetry must never fail a run: :func:`emit_run_event` and :func:`emit_schedule_events` log
and swallow every error.
"""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from shared import layout
from shared.identifiers import SCHEMAS
from shared.models import Export, Run, RunStatus
from shared.services import Services
from shared.telemetry import redact

log = logging.getLogger(__name__)

#: The logger the events are written to (INFO, whatever the root level is).
EVENT_LOGGER: Final = "snap_audience_sync.events"
#: Log record attribute the Azure Monitor exporter reads as the custom event's name
#: (azure-monitor-opentelemetry-exporter ``_constants._MICROSOFT_CUSTOM_EVENT_NAME``).
CUSTOM_EVENT_NAME_ATTRIBUTE: Final = "microsoft.custom_event.name"
#: Application Insights keeps at most this many characters of a custom dimension value.
MAX_PROPERTY_CHARS: Final = 8192
#: Bumped when a field changes meaning (queries can tell old events from new ones).
EVENT_VERSION: Final = "1"

RUN_EVENT: Final = "SnapAudienceRun"
SCHEDULE_EVENT: Final = "SnapAudienceSchedule"

#: Fields of :data:`RUN_EVENT`, in order. Per-schema and per-column breakdowns are JSON
#: objects in a string (``parse_json(tostring(Properties.adds))`` in KQL).
RUN_EVENT_FIELDS: Final[tuple[str, ...]] = (
    "event_version",
    # The export, as it is now.
    "export_id",
    "export_name",
    "schedule",
    "export_status",
    "sync_mode",
    # The run.
    "run_id",
    "trigger",
    "dry_run",
    "full_refresh",
    "status",
    "error_code",
    "error_message",
    "created_at",
    "started_at",
    "ended_at",
    "duration_seconds",
    "unchanged_source",
    # What was read.
    "rows",
    "profiles_with_identifier",
    "identifiers_total",
    "identifiers",
    "invalid_total",
    "invalid",
    "invalid_percent",
    "invalid_worst_column",
    # What was sent.
    "adds_total",
    "adds",
    "removes_total",
    "removes",
    "batches_total",
    "batches_failed",
    "identifiers_uploaded",
    "identifiers_removed",
    # The audience Snap reported.
    "audience_id",
    "audience_size",
    "targetable_status",
    "previous_audience_size",
    "audience_drop_percent",
)

#: Fields of :data:`SCHEDULE_EVENT`, in order.
SCHEDULE_EVENT_FIELDS: Final[tuple[str, ...]] = (
    "event_version",
    "tick_id",
    "export_id",
    "export_name",
    "export_created_at",
    "outcome",
    "active_run_id",
    "last_run_status",
    "last_run_ended_at",
    "last_success_at",
    "last_success_run_id",
    "no_success_since",
)

#: Event name -> its fields.
EVENT_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    RUN_EVENT: RUN_EVENT_FIELDS,
    SCHEDULE_EVENT: SCHEDULE_EVENT_FIELDS,
}

#: How many earlier runs of an export are read to find the previous audience size / the
#: last success (newest first; each is one small blob read).
PREVIOUS_SIZE_LOOKBACK: Final = 20
LAST_SUCCESS_LOOKBACK: Final = 50

#: ``outcome`` of a schedule event: what the timer did with the export on this tick.
OUTCOMES: Final = ("started", "already_running", "not_started")

_events = logging.getLogger(EVENT_LOGGER)
_events.setLevel(logging.INFO)


# -- building ------------------------------------------------------------------------------


def build_run_event(
    run: Run, export: Export | None, *, previous_audience_size: int | None = None
) -> dict[str, str]:
    """The :data:`RUN_EVENT` fields of a finished ``run`` (keys: :data:`RUN_EVENT_FIELDS`).

    ``export`` is the export record as it is now (``None`` when it was deleted: its fields
    are then ``""``). ``previous_audience_size`` is the ``approximate_number_users`` the
    export's previous run recorded for the same audience, if any; ``audience_drop_percent``
    is how much smaller, in percent, this run's size is (``0`` when it grew, ``""`` when
    either size is unknown or the previous one was 0).

    ``invalid_percent`` is the share of rows, in percent, holding an invalid value in the
    worst profile column (``invalid_worst_column``): each column counts at most one value
    per row, so it stays within 0..100, unlike a sum over columns. ``""`` when no row was read.
    """
    counts = run.counts
    rows = _int(counts.get("rows"))
    invalid = _nested_counts(counts.get("invalid"))
    per_column = {column: sum(reasons.values()) for column, reasons in invalid.items()}
    worst = max(sorted(per_column), key=lambda c: per_column[c], default="")
    size = _audience_size(run)
    fields = {
        "event_version": EVENT_VERSION,
        "export_id": run.export_id,
        "export_name": redact(export.display_name) if export else "",
        "schedule": export.schedule.value if export else "",
        "export_status": export.status if export else "",
        "sync_mode": run.sync_mode.value,
        "run_id": run.id,
        "trigger": run.trigger,
        "dry_run": _bool(run.options.dry_run),
        "full_refresh": _full_refresh(run.options.full_refresh),
        "status": run.status.value,
        "error_code": run.error.code if run.error else "",
        "error_message": redact(run.error.message) if run.error else "",
        "created_at": run.created_at,
        "started_at": run.started_at or "",
        "ended_at": run.ended_at or "",
        "duration_seconds": _duration(run.started_at, run.ended_at),
        "unchanged_source": _bool(bool(counts.get("unchanged_source"))),
        "rows": _text(rows),
        "profiles_with_identifier": _text(_int(counts.get("profiles_with_identifier"))),
        **_per_schema("identifiers", counts.get("identifiers")),
        "invalid_total": _text(sum(per_column.values()) if rows is not None else None),
        "invalid": _bounded_json(invalid),
        "invalid_percent": _percent(per_column.get(worst, 0), rows) if rows else "",
        "invalid_worst_column": worst if per_column.get(worst) else "",
        **_per_schema("adds", counts.get("adds")),
        **_per_schema("removes", counts.get("removes")),
        "batches_total": _text(_int(counts.get("batches_total"))),
        "batches_failed": _text(_int(counts.get("batches_failed"))),
        "identifiers_uploaded": _text(_int(counts.get("identifiers_uploaded"))),
        "identifiers_removed": _text(_int(counts.get("identifiers_removed"))),
        "audience_id": run.audience_id or "",
        "audience_size": _text(size),
        "targetable_status": str((run.audience or {}).get("targetable_status") or ""),
        "previous_audience_size": _text(previous_audience_size),
        "audience_drop_percent": _drop(previous_audience_size, size),
    }
    return {name: fields[name] for name in RUN_EVENT_FIELDS}


def build_schedule_event(
    export: Export,
    *,
    tick_id: str,
    outcome: str,
    recent_runs: list[Run],
    lookback: int = LAST_SUCCESS_LOOKBACK,
) -> dict[str, str]:
    """The :data:`SCHEDULE_EVENT` fields of ``export`` on one timer tick.

    ``recent_runs`` are the export's latest runs, newest first (at most ``lookback``).
    ``last_success_*`` name the newest run that ended ``succeeded`` and was not a dry run.
    ``no_success_since`` is when the export's time without a success began: the end of that
    run; with none among ``recent_runs``, the creation of the oldest of them when there are
    ``lookback`` (a later bound than the truth, so an alert never fires early), else the
    creation of the export (it has never succeeded).
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    success = next(
        (r for r in recent_runs if r.status is RunStatus.SUCCEEDED and not r.options.dry_run),
        None,
    )
    if success is not None:
        since = success.ended_at or success.created_at
    elif len(recent_runs) >= lookback:
        since = recent_runs[-1].created_at
    else:
        since = export.created.at
    last = export.last_run or {}
    fields = {
        "event_version": EVENT_VERSION,
        "tick_id": tick_id,
        "export_id": export.id,
        "export_name": redact(export.display_name),
        "export_created_at": export.created.at,
        "outcome": outcome,
        "active_run_id": export.active_run_id or "",
        "last_run_status": str(last.get("status") or ""),
        "last_run_ended_at": str(last.get("ended_at") or ""),
        "last_success_at": (success.ended_at or "") if success else "",
        "last_success_run_id": success.id if success else "",
        "no_success_since": since,
    }
    return {name: fields[name] for name in SCHEDULE_EVENT_FIELDS}


def timer_outcome(result: str) -> str:
    """The :data:`OUTCOMES` value of one entry of
    :func:`shared.run_control.start_scheduled_runs`' result (a run id when it started)."""
    if result.startswith("already running"):
        return "already_running"
    if result.startswith("not started"):
        return "not_started"
    return "started"


# -- emitting ------------------------------------------------------------------------------


def log_event(name: str, fields: Mapping[str, str], message: str) -> None:
    """Write one event: a log record of :data:`EVENT_LOGGER` whose attributes are ``fields``
    plus :data:`CUSTOM_EVENT_NAME_ATTRIBUTE` = ``name``; ``message`` is its log line."""
    expected = EVENT_FIELDS[name]
    if tuple(fields) != expected:
        raise ValueError(f"{name} needs exactly the fields {expected}")
    _events.info(message, extra={CUSTOM_EVENT_NAME_ATTRIBUTE: name, **fields})


def emit_run_event(services: Services, run_id: str) -> dict[str, str] | None:
    """Build and write the :data:`RUN_EVENT` of run ``run_id``; return its fields.

    Call it once a run has reached a terminal status and its export record has been updated
    (``succeeded``, ``failed`` or ``skipped``); a run that has not ended emits nothing and
    ``None`` is returned. Reads the run, its export and up to
    :data:`PREVIOUS_SIZE_LOOKBACK` earlier runs of the export. Never raises: a failure is
    logged as a warning and ``None`` returned (telemetry must not fail a run). Calling it
    twice writes the event twice; the workbook keeps one row per ``run_id``.
    """
    try:
        document = services.state.get(layout.run(run_id))
        if document is None:
            log.warning("run event: run %s does not exist", run_id)
            return None
        run = Run.model_validate(document)
        if not run.status.terminal:
            log.warning("run event: run %s has not ended (%s)", run_id, run.status.value)
            return None
        export_document = services.state.get(layout.export(run.export_id))
        export = Export.model_validate(export_document) if export_document else None
        previous = _previous_audience_size(services, run)
        fields = build_run_event(run, export, previous_audience_size=previous)
        log_event(RUN_EVENT, fields, _run_message(fields))
        return fields
    except Exception as exc:
        log.warning("run event of run %s not written: %s: %s", run_id, type(exc).__name__, exc)
        return None


def emit_schedule_events(
    services: Services, outcomes: Mapping[str, str], *, tick_id: str | None = None
) -> list[dict[str, str]]:
    """Write one :data:`SCHEDULE_EVENT` per export of this timer tick; return their fields.

    ``outcomes`` is :func:`shared.run_control.start_scheduled_runs`' result (export id ->
    run id, or why no run started): exactly the active exports scheduled ``with_refresh``.
    Never raises; an export that cannot be read is skipped with a warning.
    """
    tick = tick_id or uuid.uuid4().hex
    written = []
    for export_id, result in outcomes.items():
        try:
            document = services.state.get(layout.export(export_id))
            if document is None:
                continue  # deleted since the timer started its run
            export = Export.model_validate(document)
            recent = list(itertools.islice(_history(services, export_id), LAST_SUCCESS_LOOKBACK))
            fields = build_schedule_event(
                export, tick_id=tick, outcome=timer_outcome(result), recent_runs=recent
            )
            log_event(SCHEDULE_EVENT, fields, _schedule_message(fields))
            written.append(fields)
        except Exception as exc:
            log.warning(
                "schedule event of export %s not written: %s: %s",
                export_id,
                type(exc).__name__,
                exc,
            )
    return written


# -- reading earlier runs --------------------------------------------------------------------


def _history(services: Services, export_id: str, after: str | None = None) -> Iterator[Run]:
    """The export's runs, newest first (``layout.history_entry`` names sort that way); with
    ``after``, only those older than run ``after``."""
    skipping = after is not None
    for name in services.state.names(layout.history_prefix(export_id)):
        # <inverted time>-<run id>.json, the run id itself holding one "-".
        run_id = name.rsplit("/", 1)[1].split("-", 1)[1].removesuffix(".json")
        if skipping:
            skipping = run_id != after
            continue
        document = services.state.get(layout.run(run_id))
        if document is not None:
            yield Run.model_validate(document)


def _previous_audience_size(services: Services, run: Run) -> int | None:
    """The audience size the export's latest earlier run recorded for the same audience."""
    for earlier in itertools.islice(
        _history(services, run.export_id, after=run.id), PREVIOUS_SIZE_LOOKBACK
    ):
        size = _audience_size(earlier)
        if size is None:
            continue
        if earlier.audience_id and run.audience_id and earlier.audience_id != run.audience_id:
            return None  # the export moved to another audience: nothing to compare
        return size
    return None


def _audience_size(run: Run) -> int | None:
    return _int((run.audience or {}).get("approximate_number_users"))


# -- formatting ------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _full_refresh(value: bool | str) -> str:
    return value if isinstance(value, str) else _bool(value)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}"


def _drop(previous: int | None, size: int | None) -> str:
    if previous is None or size is None or previous <= 0:
        return ""
    return _percent(max(0, previous - size), previous)


def _duration(started: str | None, ended: str | None) -> str:
    if not started or not ended:
        return ""
    seconds = (_parse_time(ended) - _parse_time(started)).total_seconds()
    return f"{max(0.0, seconds):.3f}"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _nested_counts(value: Any) -> dict[str, dict[str, int]]:
    """``{column: {reason: count}}`` from a run's ``counts["invalid"]`` (zeros dropped)."""
    result: dict[str, dict[str, int]] = {}
    for column, reasons in (value or {}).items():
        kept = {str(r): n for r, c in (reasons or {}).items() if (n := _int(c))}
        if kept:
            result[str(column)] = kept
    return result


def _per_schema(name: str, value: Any) -> dict[str, str]:
    """``<name>_total`` and ``<name>`` (JSON per schema, every schema present) of a count."""
    if not isinstance(value, Mapping):
        return {f"{name}_total": "", name: ""}
    per = {schema.value: _int(value.get(schema.value)) or 0 for schema in SCHEMAS}
    return {f"{name}_total": str(sum(per.values())), name: json.dumps(per, sort_keys=True)}


def _bounded_json(nested: dict[str, dict[str, int]]) -> str:
    """JSON of ``nested`` within :data:`MAX_PROPERTY_CHARS`: when too long, the largest
    counts are kept and the rest summed under the reason ``"(other)"`` of their column."""
    text = json.dumps(nested, sort_keys=True)
    if len(text) <= MAX_PROPERTY_CHARS:
        return text
    entries = sorted(
        ((n, c, r) for c, reasons in nested.items() for r, n in reasons.items()), reverse=True
    )
    for keep in range(len(entries) - 1, -1, -1):
        kept: dict[str, dict[str, int]] = {}
        for n, c, r in entries[:keep]:
            kept.setdefault(c, {})[r] = n
        for n, c, _ in entries[keep:]:
            column = kept.setdefault(c, {})
            column["(other)"] = column.get("(other)", 0) + n
        text = json.dumps(kept, sort_keys=True)
        if len(text) <= MAX_PROPERTY_CHARS:
            return text
    return json.dumps({"(all columns)": {"(other)": sum(n for n, _, _ in entries)}})


def _run_message(fields: Mapping[str, str]) -> str:
    parts = [
        f"run {fields['run_id']} of export {fields['export_id']} ({fields['trigger']}) "
        f"ended {fields['status']}"
    ]
    if fields["error_code"]:
        parts.append(f"error {fields['error_code']}")
    if fields["duration_seconds"]:
        parts.append(f"{fields['duration_seconds']} s")
    if fields["rows"]:
        parts.append(
            f"{fields['rows']} rows, {fields['invalid_total']} invalid values "
            f"(worst column {fields['invalid_percent'] or '0'}%)"
        )
    if fields["adds_total"]:
        parts.append(f"{fields['adds_total']} adds, {fields['removes_total']} removes")
    if fields["batches_failed"] not in ("", "0"):
        parts.append(f"{fields['batches_failed']} batches failed")
    if fields["audience_size"]:
        parts.append(
            f"audience about {fields['audience_size']} users "
            f"({fields['targetable_status'] or 'status unknown'})"
        )
    return "run event: " + "; ".join(parts)


def _schedule_message(fields: Mapping[str, str]) -> str:
    return (
        f"schedule event: export {fields['export_id']} {fields['outcome']}"
        f" (run {fields['active_run_id'] or '-'}); no success since {fields['no_success_since']}"
    )
