"""Raw identifiers never leave the reader: not in logs, queue messages, staging, records."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from devtools.local_host import QueuePump
from devtools.snap_sandbox import SnapSandbox
from shared import state_store
from shared.run_events import (
    CUSTOM_EVENT_NAME_ATTRIBUTE,
    EVENT_FIELDS,
    RUN_EVENT,
    emit_run_event,
    emit_schedule_events,
)
from shared.services import Services
from shared.telemetry import ContextFilter, RedactingFilter, run_context
from tests.support import (
    exports_container,
    run_to_end,
    seed_connection,
    seed_export,
    write_ci_export,
)

RAW = ["Secret.Person@Example.com", "secret.person@example.com", "+47 22 99 88 77", "4722998877"]
MAID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_no_raw_identifier_anywhere(
    services: Services,
    sandbox: SnapSandbox,
    pump: QueuePump,
    ad_account_id: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[bytes] = []
    original_write = state_store.StateStore.write_bytes
    original_append = state_store.BlockWriter.append

    def write_bytes(self: Any, name: str, data: bytes) -> None:
        seen.append(name.encode() + b"\n" + data)
        original_write(self, name, data)

    def append(self: Any, name: str, data: bytes) -> None:
        seen.append(name.encode() + b"\n" + data)
        original_append(self, name, data)

    monkeypatch.setattr(state_store.StateStore, "write_bytes", write_bytes)
    monkeypatch.setattr(state_store.BlockWriter, "append", append)
    messages: list[str] = []
    send = services.queues.send

    def spy(queue: str, batch: Any) -> int:
        batch = list(batch)
        messages.extend(m.body().decode() for m in batch)
        return send(queue, batch)

    monkeypatch.setattr(services.queues, "send", spy)
    rows = [["c1", RAW[0], RAW[2], MAID.upper()], ["c2", "broken@nodot", "0", "nope"]]
    write_ci_export(exports_container(services), "HighValue", [rows])
    connection = seed_connection(services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="Privacy")
    export_id = seed_export(services, connection, audience)
    view = run_to_end(services, pump, export_id)
    assert view["status"] == "succeeded"
    assert seen and messages
    # The run event and the timer's schedule event: ids, counts and enum values only.
    run_event = emit_run_event(services, view["id"])
    assert run_event is not None and run_event["rows"] == "2" and run_event["invalid_total"] == "3"
    assert emit_schedule_events(services, {export_id: view["id"]})
    events = [r for r in caplog.records if hasattr(r, CUSTOM_EVENT_NAME_ATTRIBUTE)]
    # (The pipeline may have written the run event too: every event is checked.)
    assert {getattr(r, CUSTOM_EVENT_NAME_ATTRIBUTE) for r in events} == {
        RUN_EVENT,
        "SnapAudienceSchedule",
    }
    event_values = [
        str(getattr(r, name))
        for r in events
        for name in EVENT_FIELDS[getattr(r, CUSTOM_EVENT_NAME_ATTRIBUTE)]
    ]
    # No digest either: a 64-hex value would be a hash of someone's identifier.
    assert not [v for v in event_values if re.search(r"[0-9a-fA-F]{64}", v)]
    haystacks = [r.getMessage() for r in caplog.records] + messages + [json.dumps(view)]
    haystacks += event_values
    documents = [services.state.get(n) for n in services.state.names("") if n.endswith(".json")]
    assert len(documents) > 5
    haystacks += [json.dumps(d) for d in documents]
    for needle in [*RAW, MAID, MAID.upper(), "broken@nodot", "nodot"]:
        assert not any(needle.lower() in h.lower() for h in haystacks), needle
        assert not any(needle.encode() in blob for blob in seen), needle
    # Staged files are concatenated 32-byte digests only.
    for blob in seen:
        name, _, data = blob.partition(b"\n")
        if name.endswith(b".bin") or b"/read/" in name:
            assert len(data) % 32 == 0


def test_log_records_carry_run_ids_and_mask_identifiers() -> None:
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "mail %s phone %s",
        ("a.b@example.com", "+47 22 12 34 56"),
        None,
    )
    with run_context(run_id="r1", batch_id="7"):
        ContextFilter().filter(record)
        RedactingFilter().filter(record)
    assert record.run_id == "r1" and record.batch_id == "7"  # type: ignore[attr-defined]
    assert record.getMessage() == "mail [email] phone [phone]"


def test_azure_monitor_is_configured_with_the_managed_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.monitor.opentelemetry as monitor

    from shared import telemetry
    from shared.config import Settings

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(monitor, "configure_azure_monitor", lambda **kw: calls.append(kw))
    monkeypatch.setattr(telemetry, "_configured", False)
    settings = Settings.from_env(
        {},
        local_settings=None,
        overrides={
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=0000",
            "AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
        },
    )
    telemetry.configure(settings)
    telemetry.configure(settings)  # once per process
    assert len(calls) == 1
    assert calls[0]["connection_string"].startswith("InstrumentationKey=")
    assert type(calls[0]["credential"]).__name__ == "ManagedIdentityCredential"
    monkeypatch.setattr(telemetry, "_configured", False)
    telemetry.configure(Settings.from_env({}, local_settings=None))
    assert len(calls) == 1  # no connection string: nothing sent anywhere
