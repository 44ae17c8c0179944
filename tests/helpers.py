"""Helpers for tests: writing Customer Insights exports to Azurite, seeding records."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Sequence
from typing import Any

from devtools.cdm_model import headerless_entity, model_json
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.models import Actor, Connection, DataMatching, Export
from shared.secrets import refresh_token_secret_name
from shared.services import Services

PREFIX = "CustomerInsights_00000000-0000-0000-0000-000000000001/BlobExport"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def csv_bytes(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def write_ci_export(
    container: Any,
    segment: str,
    parts: Sequence[Sequence[Sequence[str]]],
    *,
    columns: Sequence[str] = ("CustomerId", "Email", "Phone", "MobileAdId"),
    folder: str = "2026/11/28/0300",
    prefix: str = PREFIX,
    model_parts: int | None = None,
    write_model: bool = True,
    extra_entities: Sequence[dict[str, Any]] = (),
) -> None:
    """Write a CDM model.json (headerless partitions) and the part files of one run folder."""
    count = model_parts if model_parts is not None else len(parts)
    if write_model:
        base = f"https://someaccount.blob.core.windows.net/othercontainer/{prefix}/{segment}"
        locations = [f"{base}/{folder}/{segment}_{i}.csv" for i in range(1, count + 1)]
        entity = headerless_entity(segment, columns, locations)
        model = model_json("BlobExport", [entity, *extra_entities])
        container.upload_blob(f"{prefix}/model.json", model, overwrite=True)
    for i, rows in enumerate(parts, start=1):
        name = f"{prefix}/{segment}/{folder}/{segment}_{i}.csv"
        container.upload_blob(name, csv_bytes(rows), overwrite=True)


def seed_connection(
    services: Services, sandbox: SnapSandbox, *, user: str = "sandbox-admin"
) -> str:
    """A ready connection whose refresh token comes from the sandbox; returns its id."""
    connection = Connection(
        id=uuid.uuid4().hex,
        display_name="Test connection",
        privacy_consent=Actor(id="admin-1"),
        signed_in=Actor(id="admin-1"),
        export_user=Actor(id="admin-1"),
        created=Actor(id="admin-1"),
    )
    services.state.put(layout.connection(connection.id), connection.model_dump(mode="json"))
    tokens = sandbox.issue_tokens(user)
    services.secrets.set(refresh_token_secret_name(connection.id), tokens["refresh_token"])
    return connection.id


def seed_export(
    services: Services,
    connection_id: str,
    audience_id: str | None,
    *,
    segments: Sequence[str] = ("HighValue",),
    phone: str | None = "Phone",
    mobile_ad_id: str | None = "MobileAdId",
    **fields: Any,
) -> str:
    export = Export(
        id=uuid.uuid4().hex,
        display_name="Test export",
        connection_id=connection_id,
        audience_id=audience_id,
        data_matching=DataMatching(email="Email", phone=phone, mobile_ad_id=mobile_ad_id),
        segments=list(segments),
        created=Actor(id="admin-1"),
        **fields,
    )
    services.state.put(layout.export(export.id), export.model_dump(mode="json"))
    return export.id


def run_to_end(services: Services, pump: Any, export_id: str, **options: Any) -> dict[str, Any]:
    """Start an on-demand run with ``options``, deliver every message, return the run view."""
    from shared.models import RunOptions
    from shared.run_control import get_run, start_run

    trigger = options.pop("trigger", "on_demand")
    run = start_run(services, export_id, trigger=trigger, options=RunOptions(**options))
    pump.drain(120)
    view = get_run(services, run.id)
    assert view is not None
    return view


def person(i: int) -> list[str]:
    """A profile row with all three identifiers (distinct per ``i``)."""
    return [
        f"c{i}",
        f"Person{i}@Example.com",
        f"+1 201 555 {i:04d}",
        str(uuid.UUID(int=i + 1)),
    ]


def person_hashes(ids: Sequence[int]) -> dict[str, set[str]]:
    """The hashes Snap must hold for these people (computed without our code)."""
    return {
        "EMAIL_SHA256": {sha(f"person{i}@example.com") for i in ids},
        "PHONE_SHA256": {sha(f"1201555{i:04d}") for i in ids},
        "MOBILE_AD_ID_SHA256": {sha(str(uuid.UUID(int=i + 1))) for i in ids},
    }


def start_run_holding_batches(
    services: Services, pump: Any, export_id: str, **options: Any
) -> tuple[Any, list[dict[str, Any]]]:
    """Start an on-demand run and deliver every message but the upload batches.

    Returns the run and the batch messages, which the host has not delivered yet: a test
    delivers them itself (``function_app.upload_batch``) or sends them to the batch queue.
    """
    from shared.models import RunOptions
    from shared.run_control import start_run

    original = services.queues.send
    held: list[Any] = []

    def hold(queue: str, messages: Any) -> None:
        if queue == services.settings.batch_queue:
            held.extend(messages)
            return None
        return original(queue, messages)

    services.queues.send = hold  # type: ignore[method-assign]
    try:
        run = start_run(services, export_id, trigger="on_demand", options=RunOptions(**options))
        pump.drain(60)
    finally:
        services.queues.send = original  # type: ignore[method-assign]
    return run, held
