"""What the tests share: writing Customer Insights exports, seeding records, API callers.

One module for every test file (the fixtures that start Azurite and the Snap sandbox are in
``conftest.py``):

* exports: :func:`write_ci_export` (a CDM ``model.json`` and its headerless parts),
  :func:`person` / :func:`person_hashes` (rows and the hashes Snap must then hold, computed
  without our code), :func:`exports_container`;
* records: :func:`seed_connection`, :func:`seed_export`, :func:`export_to_new_audience`,
  :func:`services_with` (services with other settings);
* runs: :func:`run_to_end`, :func:`start_run_holding_batches`;
* the HTTP API: principal headers (:data:`ADMIN`, :data:`CONTRIBUTOR`...), :func:`api_client`,
  the "Sign in with Snapchat" flow (:func:`ready_connection`), :func:`export_body`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import requests
from fastapi.testclient import TestClient

import function_app
from devtools.cdm_model import headerless_entity, model_json
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.api.principal import PRINCIPAL_HEADER
from shared.config import Settings
from shared.models import Actor, Connection, DataMatching, Export, RunOptions, UsableBy
from shared.run_control import get_run, start_run
from shared.secrets import refresh_token_secret_name
from shared.services import Services, build_services, set_services
from shared.storage_clients import BlobExportStore

PREFIX = "CustomerInsights_00000000-0000-0000-0000-000000000001/BlobExport"


# -- Customer Insights exports ---------------------------------------------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def exports_container(services: Services) -> Any:
    """The blob container client of the exports (for writing test exports)."""
    store = services.exports_store()
    assert isinstance(store, BlobExportStore)
    return store.container


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


# -- records ---------------------------------------------------------------------------------


def seed_connection(
    services: Services,
    sandbox: SnapSandbox,
    *,
    user: str = "sandbox-admin",
    usable_by: UsableBy = UsableBy.ADMINS,
) -> str:
    """A ready connection whose refresh token comes from the sandbox; returns its id."""
    connection = Connection(
        id=uuid.uuid4().hex,
        display_name="Test connection",
        usable_by=usable_by,
        privacy_consent=Actor(id="admin-1"),
        signed_in=Actor(id="admin-1"),
        export_user=Actor(id="admin-1"),
        created=Actor(id="admin-1"),
    )
    services.state.put(layout.connection(connection.id), connection.model_dump(mode="json"))
    tokens = sandbox.issue_tokens(user)
    services.secrets.set(refresh_token_secret_name(connection.id), tokens["refresh_token"])
    return connection.id


def shared_connection(services: Services, sandbox: SnapSandbox) -> str:
    """A ready connection usable by contributors, seeded directly (faster than over HTTP)."""
    return seed_connection(services, sandbox, usable_by=UsableBy.ADMINS_AND_CONTRIBUTORS)


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


def export_to_new_audience(
    services: Services, sandbox: SnapSandbox, ad_account_id: str, name: str, **fields: Any
) -> tuple[str, str]:
    """A ready connection, a new empty sandbox audience ``name`` and an export into it
    (``fields`` as for :func:`seed_export`): ``(export_id, audience_id)``."""
    connection = seed_connection(services, sandbox)
    audience = sandbox.create_segment(ad_account_id=ad_account_id, name=name)
    return seed_export(services, connection, audience, **fields), audience


def services_with(settings: Settings, **overrides: str) -> Services:
    """Services for ``settings`` with some settings changed, made the process-wide ones."""
    services = build_services(
        Settings.from_env({}, local_settings=None, overrides={**settings.values, **overrides}),
        create_resources=True,
    )
    set_services(services)
    return services


# -- runs ------------------------------------------------------------------------------------


def run_to_end(services: Services, pump: Any, export_id: str, **options: Any) -> dict[str, Any]:
    """Start an on-demand run with ``options``, deliver every message, return the run view."""
    trigger = options.pop("trigger", "on_demand")
    run = start_run(services, export_id, trigger=trigger, options=RunOptions(**options))
    pump.drain(120)
    view = get_run(services, run.id)
    assert view is not None
    return view


def start_run_holding_batches(
    services: Services, pump: Any, export_id: str, **options: Any
) -> tuple[Any, list[Any]]:
    """Start an on-demand run and deliver every message but the upload batches.

    Returns the run and the batch messages (``UploadMessage``), which the host has not
    delivered yet: a test delivers them itself (``function_app.upload_batch``) or sends them
    to the batch queue.
    """
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


# -- the HTTP API ----------------------------------------------------------------------------

ROLE_TYP = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
OID_TYP = "http://schemas.microsoft.com/identity/claims/objectidentifier"
CALLBACK = "/api/oauth/snapchat/callback"


def principal(
    *roles: str, oid: str | None = "oid-admin", name: str = "Ada Admin", role_typ: str = "roles"
) -> dict[str, str]:
    """Headers carrying an App Service Authentication principal with ``roles``."""
    claims: list[dict[str, str]] = [{"typ": "name", "val": name}]
    if oid:
        claims.append({"typ": OID_TYP, "val": oid})
    claims += [{"typ": role_typ, "val": role} for role in roles]
    document = {"auth_typ": "aad", "name_typ": "name", "role_typ": ROLE_TYP, "claims": claims}
    return {PRINCIPAL_HEADER: base64.b64encode(json.dumps(document).encode()).decode()}


ADMIN = principal("Admin", oid="oid-admin", name="Ada Admin")
OTHER_ADMIN = principal("Admin", oid="oid-admin-2", name="Bo Admin")
CONTRIBUTOR = principal("Contributor", oid="oid-contributor", name="Cy Contributor")
VIEWER = principal("Viewer", oid="oid-viewer", name="Vi Viewer")
NO_ROLE = principal(oid="oid-nobody", name="No Role")


#: Where test clients send requests: local mode answers only loopback names (not the
#: TestClient's default "testserver").
LOCAL_BASE_URL = "http://127.0.0.1"


def api_client() -> TestClient:
    """A client of the very ASGI app the Functions host serves."""
    return TestClient(function_app.api, base_url=LOCAL_BASE_URL)


def snap_redirect(client: TestClient, connection_id: str, headers: dict[str, str]) -> str:
    """Start "Sign in with Snapchat"; returns the authorize URL the API redirected to."""
    answer = client.get(
        f"/api/connections/{connection_id}/authorize", headers=headers, follow_redirects=False
    )
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def code_and_state(authorize_url: str) -> dict[str, str]:
    """Let the sandbox's authorize page consent; the ``code`` and ``state`` it sends back."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "http://127.0.0.1:7071" + CALLBACK
    )
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def call_callback(params: dict[str, str], headers: dict[str, str]) -> httpx.Response:
    """Finish a sign-in at ``/api/oauth/snapchat/callback`` as Snap's redirect does (through
    ``http_app_func``, the one HTTP function, as in Azure)."""
    return api_client().get(CALLBACK, params=params, headers=headers)


def sign_in(client: TestClient, connection_id: str, headers: dict[str, str] = ADMIN) -> None:
    """Sign the connection in with Snapchat through the sandbox and the FastAPI callback."""
    params = code_and_state(snap_redirect(client, connection_id, headers))
    answer = client.get(CALLBACK, params=params, headers=headers)
    assert answer.status_code == 200, answer.text


def ready_connection(
    client: TestClient,
    *,
    usable_by: str = "admins",
    name: str = "Snapchat (marketing)",
    headers: dict[str, str] = ADMIN,
) -> str:
    """Create, sign in and add the export user, all over HTTP; returns the connection id."""
    created = client.post(
        "/api/connections",
        json={"display_name": name, "usable_by": usable_by, "privacy_consent": True},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    connection_id = str(created.json()["id"])
    sign_in(client, connection_id, headers)
    answer = client.post(f"/api/connections/{connection_id}/export-user", headers=headers)
    assert answer.status_code == 200 and answer.json()["status"] == "ready", answer.text
    return connection_id


def export_body(
    connection_id: str, audience_id: str | None = "123", **fields: Any
) -> dict[str, Any]:
    """A valid ``POST /api/exports`` body; ``fields`` override or add."""
    body: dict[str, Any] = {
        "display_name": "High value to Snapchat",
        "connection_id": connection_id,
        "data_matching": {"email": "Email"},
        "segments": ["HighValue"],
    }
    if audience_id is not None:
        body["audience_id"] = audience_id
    body.update(fields)
    return body


#: Columns of the segments :func:`export_folder` describes.
EXPORT_COLUMNS = ("CustomerId", "Email", "Phone", "MAID", "MobileAdId")


def export_folder(
    services: Services,
    segments: tuple[str, ...] = ("HighValue", "Lapsed"),
    *,
    columns: tuple[str, ...] = EXPORT_COLUMNS,
    container: str | None = None,
    prefix: str | None = None,
) -> str:
    """Write an export folder's model.json describing ``segments`` (attributes ``columns``,
    one partition each) to the test's exports container and prefix, or to ``container``
    (created when missing) and ``prefix``; returns the model.json blob name."""
    store = services.exports_store(container)
    assert isinstance(store, BlobExportStore)
    if container is not None and not store.container.exists():
        store.container.create_container()
    folder = services.settings.get("EXPORTS_PREFIX") if prefix is None else prefix
    entities = [
        headerless_entity(s, columns, [f"https://x.invalid/c/{folder}/{s}/{s}_1.csv"])
        for s in segments
    ]
    name = "/".join(p for p in (folder, "model.json") if p)
    store.container.upload_blob(name, model_json("Export", entities), overwrite=True)
    return name
