"""Run events (shared/run_events.py): exact fields of real runs, the schedule heartbeat, the
Application Insights custom event they become, and that telemetry never fails a run."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

import function_app
from devtools.local_host import QueuePump
from devtools.snap_sandbox import SnapSandbox
from shared import layout, run_events
from shared.models import Actor, DataMatching, Export, Run, RunError, RunOptions, RunStatus
from shared.run_control import start_run
from shared.run_events import (
    CUSTOM_EVENT_NAME_ATTRIBUTE,
    EVENT_LOGGER,
    RUN_EVENT,
    RUN_EVENT_FIELDS,
    SCHEDULE_EVENT,
    SCHEDULE_EVENT_FIELDS,
    build_run_event,
    build_schedule_event,
    emit_run_event,
    emit_schedule_events,
)
from shared.services import Services
from shared.telemetry import ContextFilter, RedactingFilter, run_context
from tests.support import (
    exports_container,
    person,
    run_to_end,
    seed_connection,
    seed_export,
    write_ci_export,
)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self, name: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, CUSTOM_EVENT_NAME_ATTRIBUTE, None) == name]


@pytest.fixture
def events() -> Iterator[Collect]:
    handler = Collect()
    logger = logging.getLogger(EVENT_LOGGER)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def fields_of(record: logging.LogRecord, names: tuple[str, ...]) -> dict[str, str]:
    return {name: getattr(record, name) for name in names}


def setup_export(services: Services, sandbox: SnapSandbox, ad_account_id: str) -> tuple[str, str]:
    connection = seed_connection(services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Events")
    return seed_export(services, connection, audience), audience


BROKEN = ["c3", "broken@nodot", "0", "nope"]
EMPTY = ["c4", "", "", ""]


# -- a real run, end to end ------------------------------------------------------------------


def test_run_event_of_a_real_run_and_the_drop_after_it(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    events: Collect,
) -> None:
    container = exports_container(services)
    write_ci_export(container, "HighValue", [[person(1), person(2), BROKEN, EMPTY]])
    export_id, audience = setup_export(services, sandbox, ad_account_id)
    first = run_to_end(services, pump, export_id)
    assert first["status"] == "succeeded"

    events.records.clear()  # whatever the pipeline wrote itself: this test calls the emitter
    fields = emit_run_event(services, first["id"])
    assert fields is not None
    [record] = events.events(RUN_EVENT)
    assert fields_of(record, RUN_EVENT_FIELDS) == fields
    assert list(fields) == list(RUN_EVENT_FIELDS)
    per_schema = {"EMAIL_SHA256": 2, "MOBILE_AD_ID_SHA256": 2, "PHONE_SHA256": 2}
    none = {"EMAIL_SHA256": 0, "MOBILE_AD_ID_SHA256": 0, "PHONE_SHA256": 0}
    expected = {
        "event_version": "1",
        "export_id": export_id,
        "export_name": "Test export",
        "schedule": "with_refresh",
        "export_status": "active",
        "sync_mode": "mirror",
        "run_id": first["id"],
        "trigger": "on_demand",
        "dry_run": "false",
        "full_refresh": "false",
        "status": "succeeded",
        "error_code": "",
        "error_message": "",
        "created_at": first["created_at"],
        "started_at": first["started_at"],
        "ended_at": first["ended_at"],
        "unchanged_source": "false",
        "rows": "4",
        "profiles_with_identifier": "2",
        "identifiers_total": "6",
        "identifiers": json.dumps(per_schema, sort_keys=True),
        "invalid_total": "3",
        "invalid": json.dumps(
            {
                "Email": {"domain_without_dot": 1},
                "MobileAdId": {"not_a_uuid": 1},
                "Phone": {"not_a_phone_number": 1},
            },
            sort_keys=True,
        ),
        # One invalid value in each column of 4 rows; ties go to the first column by name.
        "invalid_percent": "25.00",
        "invalid_worst_column": "Email",
        "adds_total": "6",
        "adds": json.dumps(per_schema, sort_keys=True),
        "removes_total": "0",
        "removes": json.dumps(none, sort_keys=True),
        "batches_total": "3",
        "batches_failed": "0",
        "identifiers_uploaded": "6",
        "identifiers_removed": "0",
        "audience_id": audience,
        "audience_size": "6",
        "targetable_status": "TOO_FEW_USERS",
        "previous_audience_size": "",
        "audience_drop_percent": "",
    }
    duration = fields.pop("duration_seconds")
    assert re.fullmatch(r"\d+\.\d{3}", duration) and float(duration) > 0
    assert fields == expected
    assert record.getMessage().startswith(f"run event: run {first['id']} of export {export_id}")

    # The next run sends person 1 only: the audience shrinks from 6 to 3 (50 %).
    write_ci_export(container, "HighValue", [[person(1)]], folder="2026/11/29/0300")
    second = run_to_end(services, pump, export_id)
    after = emit_run_event(services, second["id"])
    assert after is not None
    assert (after["audience_size"], after["previous_audience_size"]) == ("3", "6")
    assert after["audience_drop_percent"] == "50.00"
    assert (after["removes_total"], after["identifiers_removed"]) == ("3", "3")
    assert (after["invalid_total"], after["invalid_percent"]) == ("0", "0.00")
    assert after["invalid"] == "{}"


def test_run_event_of_a_failed_and_of_a_skipped_run(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    events: Collect,
) -> None:
    write_ci_export(exports_container(services), "HighValue", [[person(1)]])
    export_id, audience = setup_export(services, sandbox, ad_account_id)
    sandbox.delete_segment(audience)
    failed = run_to_end(services, pump, export_id)
    events.records.clear()
    fields = emit_run_event(services, failed["id"])
    assert fields is not None
    assert (fields["status"], fields["error_code"]) == ("failed", failed["error"]["code"])
    assert fields["error_message"] == failed["error"]["message"] != ""
    assert (fields["rows"], fields["adds_total"], fields["audience_size"]) == ("", "", "")

    # A scheduled run of an export already sent ends skipped: no counts, no audience drop.
    export_id, _ = setup_export(services, sandbox, ad_account_id)
    assert run_to_end(services, pump, export_id)["status"] == "succeeded"
    skipped = run_to_end(services, pump, export_id, trigger="schedule")
    assert skipped["status"] == "skipped"
    events.records.clear()
    fields = emit_run_event(services, skipped["id"])
    assert fields is not None
    assert (fields["status"], fields["trigger"], fields["rows"]) == ("skipped", "schedule", "")
    assert fields["audience_size"] == fields["previous_audience_size"] == "3"
    assert fields["audience_drop_percent"] == "0.00"
    [record] = events.events(RUN_EVENT)
    assert fields_of(record, RUN_EVENT_FIELDS) == fields


def test_no_event_for_a_run_that_has_not_ended_and_never_an_exception(
    services: Services,
    sandbox: SnapSandbox,
    ad_account_id: str,
    events: Collect,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    export_id, _ = setup_export(services, sandbox, ad_account_id)
    run = start_run(services, export_id, trigger="on_demand")
    assert emit_run_event(services, run.id) is None
    assert emit_run_event(services, "no-such-run") is None

    def broken(name: str) -> None:
        raise ConnectionError("storage is down")

    monkeypatch.setattr(services.state, "get", broken)
    caplog.set_level(logging.WARNING, logger="shared.run_events")
    assert emit_run_event(services, run.id) is None
    assert emit_schedule_events(services, {export_id: run.id}) == []
    assert events.events(RUN_EVENT) == events.events(SCHEDULE_EVENT) == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "shared.run_events"]
    assert any("ConnectionError: storage is down" in w for w in warnings), warnings


# -- the builder on records made here ----------------------------------------------------------


def make_export(**fields: Any) -> Export:
    return Export(
        id="e1",
        display_name="Newsletter (owner jane.doe@example.com, +44 20 7946 0958)",
        connection_id="c1",
        audience_id="a1",
        data_matching=DataMatching(email="Email", phone="Phone"),
        segments=["S"],
        created=Actor(id="admin", at="2026-11-01T00:00:00.000Z"),
        **fields,
    )


def make_run(**fields: Any) -> Run:
    values: dict[str, Any] = {
        "id": "20261129T030000Z-000000000001",
        "export_id": "e1",
        "trigger": "schedule",
        "status": RunStatus.SUCCEEDED,
        "created_at": "2026-11-29T03:00:00.000Z",
        "started_at": "2026-11-29T03:00:01.500Z",
        "ended_at": "2026-11-29T03:02:03.750Z",
        "audience_id": "a1",
    }
    values.update(fields)
    return Run(**values)


def test_builder_percentages_duration_and_redaction() -> None:
    run = make_run(
        counts={
            "rows": 200,
            "invalid": {
                "Phone": {"not_a_phone_number": 30, "placeholder": 20, "zero": 0},
                "Email": {"missing_at_sign": 45},
            },
            "adds": {"EMAIL_SHA256": 5},
        },
        audience={"approximate_number_users": 700, "targetable_status": "TOO_FEW_USERS"},
        error=RunError(code="boom", message="see mail a.b@example.com"),
        status=RunStatus.FAILED,
        options=RunOptions(full_refresh="clear_first", dry_run=True),
    )
    fields = build_run_event(run, make_export(), previous_audience_size=1000)
    assert fields["duration_seconds"] == "122.250"
    assert (fields["invalid_total"], fields["invalid_percent"]) == ("95", "25.00")
    assert fields["invalid_worst_column"] == "Phone"
    assert json.loads(fields["invalid"]) == {
        "Email": {"missing_at_sign": 45},
        "Phone": {"not_a_phone_number": 30, "placeholder": 20},
    }
    assert (fields["adds_total"], fields["removes_total"], fields["removes"]) == ("5", "", "")
    assert fields["audience_drop_percent"] == "30.00"
    assert (fields["full_refresh"], fields["dry_run"]) == ("clear_first", "true")
    assert fields["export_name"] == "Newsletter (owner [email], [phone])"
    assert fields["error_message"] == "see mail [email]"
    grown = build_run_event(run, None, previous_audience_size=500)
    assert grown["audience_drop_percent"] == "0.00"
    assert grown["export_name"] == grown["schedule"] == grown["export_status"] == ""
    assert build_run_event(run, None, previous_audience_size=0)["audience_drop_percent"] == ""


def test_builder_keeps_breakdowns_within_the_dimension_limit() -> None:
    invalid = {
        f"Column{c:03d}": {f"reason_{r:02d}": c * 100 + r + 1 for r in range(30)} for c in range(20)
    }
    fields = build_run_event(make_run(counts={"rows": 10**6, "invalid": invalid}), None)
    kept = json.loads(fields["invalid"])
    assert len(fields["invalid"]) <= run_events.MAX_PROPERTY_CHARS < len(json.dumps(invalid))
    total = sum(n for reasons in invalid.values() for n in reasons.values())
    assert sum(n for reasons in kept.values() for n in reasons.values()) == total
    assert kept["Column019"]["reason_29"] == 1930  # the largest count is kept as it is
    assert "(other)" in kept["Column000"]
    assert fields["invalid_total"] == str(total)


def test_schedule_event_builder_finds_when_success_stopped() -> None:
    export = make_export(last_run={"status": "failed", "ended_at": "2026-11-29T03:05:00Z"})
    ok = make_run(id="r-ok", ended_at="2026-11-27T03:04:00.000Z")
    dry = make_run(id="r-dry", options=RunOptions(dry_run=True), ended_at="2026-11-28T10:00:00Z")
    bad = make_run(id="r-bad", status=RunStatus.FAILED, created_at="2026-11-28T03:00:00.000Z")
    fields = build_schedule_event(
        export, tick_id="t1", outcome="started", recent_runs=[bad, dry, ok]
    )
    assert list(fields) == list(SCHEDULE_EVENT_FIELDS)
    assert (fields["last_success_run_id"], fields["last_success_at"]) == ("r-ok", ok.ended_at)
    assert fields["no_success_since"] == "2026-11-27T03:04:00.000Z"
    assert fields["last_run_status"] == "failed"
    assert fields["export_name"] == "Newsletter (owner [email], [phone])"
    # No success among the runs read: the oldest one read bounds it when the lookback is full,
    # the export's creation when the export has had fewer runs.
    full = build_schedule_event(
        export, tick_id="t1", outcome="already_running", recent_runs=[bad, dry], lookback=2
    )
    assert (full["last_success_at"], full["no_success_since"]) == ("", dry.created_at)
    fresh = build_schedule_event(export, tick_id="t1", outcome="not_started", recent_runs=[bad])
    assert fresh["no_success_since"] == "2026-11-01T00:00:00.000Z"
    with pytest.raises(ValueError, match="outcome"):
        build_schedule_event(export, tick_id="t1", outcome="maybe", recent_runs=[])


# -- the timer's heartbeat ---------------------------------------------------------------------


def test_timer_writes_one_schedule_event_per_scheduled_active_export(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    events: Collect,
) -> None:
    write_ci_export(exports_container(services), "HighValue", [[person(1)]])
    connection = seed_connection(services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Timer")
    scheduled = seed_export(services, connection, audience)
    seed_export(services, connection, audience, schedule="manual")
    seed_export(services, connection, audience, status="inactive")

    function_app.scheduled_refresh(TimerRequest(past_due=False))
    [tick] = events.events(SCHEDULE_EVENT)
    first = fields_of(tick, SCHEDULE_EVENT_FIELDS)
    export = Export.model_validate(services.state.get(layout.export(scheduled)))
    assert first["export_id"] == scheduled
    assert (first["outcome"], first["active_run_id"]) == ("started", export.active_run_id)
    assert (first["last_success_at"], first["no_success_since"]) == ("", export.created.at)

    # A tick while the run is still queued: the export is reported, its run still running.
    function_app.scheduled_refresh(TimerRequest(past_due=False))
    second = fields_of(events.events(SCHEDULE_EVENT)[1], SCHEDULE_EVENT_FIELDS)
    assert second["outcome"] == "already_running"
    assert second["active_run_id"] == first["active_run_id"]
    assert second["tick_id"] != first["tick_id"]

    pump.drain(60)
    function_app.scheduled_refresh(TimerRequest(past_due=False))
    third = fields_of(events.events(SCHEDULE_EVENT)[2], SCHEDULE_EVENT_FIELDS)
    run = Run.model_validate(services.state.get(layout.run(first["active_run_id"])))
    assert run.status is RunStatus.SUCCEEDED
    assert third["outcome"] == "started"
    assert (third["last_success_run_id"], third["last_success_at"]) == (run.id, run.ended_at)
    assert third["no_success_since"] == run.ended_at
    assert third["last_run_status"] == "succeeded"


# -- what Application Insights receives --------------------------------------------------------


def test_the_event_reaches_the_exporter_as_a_custom_event_with_every_dimension() -> None:
    """Through the app's filters and OpenTelemetry's logging handler to the Azure Monitor
    exporter's own conversion: an EventData item named SnapAudienceRun whose properties are
    the fields unchanged (the run context cannot overwrite them). No network."""
    from azure.monitor.opentelemetry.exporter.export.logs._exporter import (
        _convert_log_to_envelope,
    )
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    root = logging.getLogger()
    handler = LoggingHandler(logger_provider=provider)
    # What telemetry.configure does (install_filters) to the handler configure_azure_monitor
    # puts on the root logger in the Functions worker.
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    run = make_run(
        counts={"rows": 10, "invalid": {"Email": {"placeholder": 2}}},
        audience={"approximate_number_users": 1500, "targetable_status": "READY"},
    )
    fields = build_run_event(run, make_export(), previous_audience_size=2000)
    try:
        with run_context(run_id="another-run", step="finish"):
            run_events.log_event(RUN_EVENT, fields, "run event: test")
    finally:
        root.removeHandler(handler)
        provider.shutdown()
    [record] = memory.get_finished_logs()
    envelope = _convert_log_to_envelope(record)
    assert envelope.name == "Microsoft.ApplicationInsights.Event"
    assert envelope.data is not None and envelope.data.base_type == "EventData"
    data = envelope.data.base_data
    assert data.name == RUN_EVENT
    properties = dict(data.properties)
    assert {k: properties[k] for k in RUN_EVENT_FIELDS} == fields
    assert properties["run_id"] == run.id  # not the context's
    assert set(properties) - set(RUN_EVENT_FIELDS) == {"step", "logger_name"}
    assert CUSTOM_EVENT_NAME_ATTRIBUTE not in properties
    assert all(len(v) <= run_events.MAX_PROPERTY_CHARS for v in properties.values())


def test_log_event_refuses_fields_that_are_not_the_event_s() -> None:
    fields = build_run_event(make_run(), None)
    with pytest.raises(ValueError, match="exactly the fields"):
        run_events.log_event(RUN_EVENT, {**fields, "email": "x"}, "x")
    with pytest.raises(ValueError, match="exactly the fields"):
        run_events.log_event(SCHEDULE_EVENT, fields, "x")


# -- the pipeline's calls (shared/pipeline/finish.py, plan.py, shared/run_control.py) ------


def test_every_run_that_ends_writes_exactly_one_event(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    events: Collect,
) -> None:
    write_ci_export(exports_container(services), "HighValue", [[person(1)]])
    export_id, _ = setup_export(services, sandbox, ad_account_id)
    succeeded = run_to_end(services, pump, export_id)
    skipped = run_to_end(services, pump, export_id, trigger="schedule")
    broken, audience = setup_export(services, sandbox, ad_account_id)
    sandbox.delete_segment(audience)
    failed = run_to_end(services, pump, broken)
    written = [fields_of(r, RUN_EVENT_FIELDS) for r in events.events(RUN_EVENT)]
    assert [(f["run_id"], f["status"]) for f in written] == [
        (succeeded["id"], "succeeded"),
        (skipped["id"], "skipped"),
        (failed["id"], "failed"),
    ]
