"""Exports over HTTP: validation, connection rules, saving without running, PATCH, DELETE."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.models import Run, Snapshot
from shared.services import Services
from shared.storage_clients import host_queue_service
from tests.support import (
    ADMIN,
    CONTRIBUTOR,
    api_client,
    export_body,
    export_folder,
    ready_connection,
    shared_connection,
)


def queued(services: Services) -> int:
    queue = host_queue_service(services.settings).get_queue_client(services.settings.run_queue)
    return len(queue.peek_messages(max_messages=32))


@pytest.fixture
def connection_id(services: Services, sandbox: SnapSandbox) -> str:
    """A ready connection shared with contributors; the export folder holds HighValue and
    Lapsed."""
    export_folder(services)
    return shared_connection(services, sandbox)


@pytest.fixture
def audience(sandbox: SnapSandbox, ad_account_id: str) -> str:
    return sandbox.create_segment(ad_account_id=ad_account_id, name="High value")


def test_saving_an_export_does_not_run_it(services: Services, connection_id: str) -> None:
    client = api_client()
    container = services.settings.exports_containers[1]  # other-<tag>
    export_folder(services, container=container, prefix="CI/BlobExport")
    body = export_body(
        connection_id,
        None,
        create_audience={"name": "High value", "retention_in_days": 30},
        data_matching={"email": "Email", "phone": "Phone", "mobile_ad_id": "MAID"},
        segments=["HighValue", "Lapsed"],
        source={"container": container, "prefix": "CI/BlobExport"},
        sync_mode="append",
    )
    answer = client.post("/api/exports", json=body, headers=CONTRIBUTOR)
    assert answer.status_code == 201, answer.text
    export = answer.json()
    assert export["create_audience"]["retention_in_days"] == 30
    assert export["audience_id"] is None
    assert export["schedule"] == "with_refresh" and export["sync_mode"] == "append"
    assert export["source"] == {"container": container, "prefix": "CI/BlobExport"}
    assert export["validation"]["status"] == "passed" and export["validation"]["warnings"] == []
    assert export["created"]["id"] == "oid-contributor"
    assert export["status"] == "active" and export["snapshot"] is None
    assert list(services.state.names(layout.RUNS_PREFIX)) == [] and queued(services) == 0
    listed = client.get("/api/exports", headers=ADMIN).json()["exports"]
    assert [e["id"] for e in listed] == [export["id"]]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"data_matching": {"phone": "Phone"}}, ["data_matching.email"]),
        ({"data_matching": {"email": "Email", "fax": "F"}}, ["data_matching.fax"]),
        ({"segments": []}, ["segments"]),
        ({"segments": ["HighValue", " "]}, ["segments.1"]),
        ({"segments": ["a/b"]}, ["segments.0"]),
        ({"schedule": "hourly"}, ["schedule"]),
        ({"audience_id": "12/../34"}, ["audience_id"]),
        ({"create_audience": {"name": "x"}}, ["audience_id", "create_audience"]),
        ({"audience_id": None}, ["audience_id", "create_audience"]),
        ({"unknown": 1}, ["unknown"]),
        ({"connection_id": "missing"}, ["connection_id"]),
        ({"connection_id": "../x"}, ["connection_id"]),
        ({"segments": ["HighValue", "HighValue"]}, ["segments"]),
        ({"source": {"container": "Bad_Name"}}, ["source.container"]),
        ({"source": {"container": "elsewhere", "prefix": "a/../b"}}, ["source.prefix"]),
        (
            {"audience_id": None, "create_audience": {"name": "A", "ad_account_id": "../x"}},
            ["create_audience.ad_account_id"],
        ),
    ],
)
def test_invalid_exports_are_refused_naming_the_field(
    services: Services, connection_id: str, change: dict[str, Any], fields: list[str]
) -> None:
    body = {**export_body(connection_id), **change}
    body = {k: v for k, v in body.items() if not (k == "audience_id" and v is None)}
    answer = api_client().post("/api/exports", json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == fields
    assert all(f in error["message"] for f in fields)
    assert list(services.state.names(layout.EXPORTS_PREFIX)) == []


def test_connection_not_ready_or_not_shared(services: Services, sandbox: SnapSandbox) -> None:
    client = api_client()
    created = client.post(
        "/api/connections",
        json={
            "display_name": "Half",
            "usable_by": "admins_and_contributors",
            "privacy_consent": True,
        },
        headers=ADMIN,
    ).json()
    answer = client.post("/api/exports", json=export_body(created["id"]), headers=CONTRIBUTOR)
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "connection_not_ready"
    assert "snapchat_sign_in" in error["message"] and "export_user" in error["message"]

    admins_only = ready_connection(client, name="Admins only")
    refused = client.post("/api/exports", json=export_body(admins_only), headers=CONTRIBUTOR)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "connection_not_usable"
    assert "Admins only" in refused.json()["error"]["message"]
    assert list(services.state.names(layout.EXPORTS_PREFIX)) == []


def test_one_mirror_export_per_audience(
    services: Services, connection_id: str, audience: str, sandbox: SnapSandbox
) -> None:
    client = api_client()
    first = client.post("/api/exports", json=export_body(connection_id, audience), headers=ADMIN)
    assert first.status_code == 201
    second = client.post("/api/exports", json=export_body(connection_id, audience), headers=ADMIN)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "audience_in_use"
    assert second.json()["error"]["fields"] == ["audience_id"]
    another = sandbox.create_segment(name="Another")
    other = client.post("/api/exports", json=export_body(connection_id, another), headers=ADMIN)
    assert other.status_code == 201, other.text
    moved = client.patch(
        f"/api/exports/{other.json()['id']}", json={"audience_id": audience}, headers=ADMIN
    )
    assert moved.status_code == 409


def test_patch_changes_only_given_fields_and_never_run_state(
    services: Services, connection_id: str, audience: str
) -> None:
    client = api_client()
    export_id = client.post(
        "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
    ).json()["id"]

    def set_run_state(document: dict[str, Any]) -> dict[str, Any]:
        document["snapshot"] = Snapshot(
            run_id="r1", bits=0, counts={"EMAIL_SHA256": 3}
        ).model_dump()
        document["last_exported_version"] = "v1"
        return document

    services.state.update(layout.export(export_id), set_run_state)
    answer = client.patch(
        f"/api/exports/{export_id}",
        json={
            "display_name": "Renamed",
            "segments": ["Lapsed"],
            "create_audience": {"name": "New audience"},
            "snapshot": None,
        },
        headers=CONTRIBUTOR,
    )
    assert answer.status_code == 422 and answer.json()["error"]["fields"] == ["snapshot"]
    answer = client.patch(
        f"/api/exports/{export_id}",
        json={"display_name": "Renamed", "segments": ["Lapsed"], "create_audience": {"name": "N"}},
        headers=CONTRIBUTOR,
    )
    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["display_name"] == "Renamed" and export["segments"] == ["Lapsed"]
    assert export["audience_id"] is None and export["create_audience"]["name"] == "N"
    assert export["data_matching"] == {"email": "Email", "phone": None, "mobile_ad_id": None}
    assert export["snapshot"] == {"run_id": "r1", "counts": {"EMAIL_SHA256": 3}}
    stored = services.state.get(layout.export(export_id))
    assert stored is not None and stored["last_exported_version"] == "v1"
    assert stored["snapshot"]["bits"] == 0

    for body, fields in (
        ({"segments": None}, ["segments"]),
        (
            {"audience_id": "1", "create_audience": {"name": "x"}},
            ["audience_id", "create_audience"],
        ),
        ({"connection_id": "nope"}, ["connection_id"]),
    ):
        bad = client.patch(f"/api/exports/{export_id}", json=body, headers=ADMIN)
        assert bad.status_code == 422 and bad.json()["error"]["fields"] == fields, bad.text
    assert client.patch("/api/exports/nope", json={}, headers=ADMIN).status_code == 404


def test_a_running_run_blocks_input_changes_and_deletion(
    services: Services, connection_id: str, audience: str
) -> None:
    client = api_client()
    export_id = client.post(
        "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
    ).json()["id"]
    run_id = client.post(f"/api/exports/{export_id}/runs", headers=ADMIN).json()["run_id"]

    changed = client.patch(f"/api/exports/{export_id}", json={"segments": ["Other"]}, headers=ADMIN)
    assert changed.status_code == 409
    assert changed.json()["error"] == {
        "code": "run_in_progress",
        "message": "a run of this export is in progress; change segments after it ends",
        "run_id": run_id,
    }
    renamed = client.patch(
        f"/api/exports/{export_id}", json={"display_name": "Still fine"}, headers=ADMIN
    )
    assert renamed.status_code == 200
    deleted = client.delete(f"/api/exports/{export_id}", headers=ADMIN)
    assert deleted.status_code == 409 and deleted.json()["error"]["run_id"] == run_id

    # Once the run has ended, the export and its snapshots can go; the run stays readable.
    run_document = services.state.get(layout.run(run_id))
    assert run_document is not None
    services.state.put(layout.run(run_id), {**run_document, "status": "failed"})
    services.state.write_bytes(
        layout.snapshot_prefix(export_id, "old") + "EMAIL_SHA256/000.bin", b""
    )
    deleted = client.delete(f"/api/exports/{export_id}", headers=CONTRIBUTOR)
    assert deleted.status_code == 204, deleted.text
    assert services.state.get(layout.export(export_id)) is None
    assert list(services.state.names(layout.snapshot_prefix(export_id))) == []
    assert client.get(f"/api/exports/{export_id}", headers=ADMIN).status_code == 404
    assert client.get(f"/api/runs/{run_id}", headers=ADMIN).json()["status"] == "failed"
    assert Run.model_validate(services.state.get(layout.run(run_id))).export_id == export_id


def test_the_source_is_never_a_container_of_this_app(
    services: Services, connection_id: str, audience: str
) -> None:
    client = api_client()
    for container in (services.settings.state_container, services.settings.staging_container):
        body = export_body(connection_id, source={"container": container, "prefix": ""})
        answer = client.post("/api/exports", json=body, headers=ADMIN)
        assert answer.status_code == 422
        assert answer.json()["error"]["fields"] == ["source.container"]
    export_id = client.post(
        "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
    ).json()["id"]
    patched = client.patch(
        f"/api/exports/{export_id}",
        json={"source": {"container": services.settings.state_container}},
        headers=ADMIN,
    )
    assert patched.status_code == 422


def test_the_source_is_one_of_the_exports_containers_the_app_is_told_of(
    services: Services, connection_id: str, audience: str
) -> None:
    # The app's identity may read every container of host storage (where the exports live by
    # default): the Functions host's secrets, deployment packages, another instance's exports.
    # A saved export and the folder browser name only EXPORTS_CONTAINER and
    # EXPORTS_OTHER_CONTAINERS; nothing else is even looked up (no existence oracle).
    client = api_client()
    allowed = services.settings.exports_containers
    assert allowed[0] == services.settings.get("EXPORTS_CONTAINER")
    for container in ("azure-webjobs-secrets", "azure-webjobs-hosts", "app-package-abc"):
        body = export_body(connection_id, audience, source={"container": container, "prefix": ""})
        answer = client.post("/api/exports", json=body, headers=ADMIN)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["fields"] == ["source.container"]
        assert "not an exports container of this app" in error["message"]
        assert all(f"'{name}'" in error["message"] for name in allowed)
        for url in ("/api/export-folders", "/api/export-folders/segments"):
            browsed = client.get(url, params={"container": container}, headers=CONTRIBUTOR)
            assert browsed.status_code == 422, browsed.text
            assert browsed.json()["error"]["fields"] == ["container"]
    assert list(services.state.names("exports/")) == []
