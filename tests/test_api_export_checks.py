"""Saving an export checks what its runs will read: model.json and Snap (issue: exports were
saved as active that could never run).

Definite problems are a 422 naming the field and listing what exists; an export folder or
Snap that cannot be reached at that moment saves the export with a warning, recorded in
``validation`` (which GET returns), after one attempt.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.azurite import ACCOUNT_KEY
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.config import Settings
from shared.services import Services
from tests.conftest import exports_container
from tests.support import (
    ADMIN,
    api_client,
    csv_bytes,
    export_body,
    export_folder,
    shared_connection,
)

COLUMNS = "'CustomerId', 'Email', 'Phone', 'MAID', 'MobileAdId'"


@pytest.fixture
def connection_id(services: Services, sandbox: SnapSandbox) -> str:
    export_folder(services)
    return shared_connection(services, sandbox)


@pytest.fixture
def audience(sandbox: SnapSandbox, ad_account_id: str) -> str:
    return sandbox.create_segment(ad_account_id=ad_account_id, name="High value")


def refused(answer: Any, fields: list[str]) -> str:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error" and error["fields"] == fields, error
    return str(error["message"])


def saved_nothing(services: Services) -> None:
    assert list(services.state.names("exports/")) == []


def snap_calls(sandbox: SnapSandbox, path_start: str) -> int:
    return sum(1 for r in sandbox.requests() if str(r["path"]).startswith(path_start))


def test_a_segment_model_json_does_not_hold_is_refused_listing_its_entities(
    services: Services, connection_id: str, audience: str
) -> None:
    body = export_body(connection_id, audience, segments=["HighValue", "Churned"])
    message = refused(api_client().post("/api/exports", json=body, headers=ADMIN), ["segments.1"])
    prefix = services.settings.get("EXPORTS_PREFIX")
    assert message == (
        f"segments.1: 'Churned' is not a segment (entity) of {prefix}/model.json "
        "(its entities: 'HighValue', 'Lapsed')"
    )
    saved_nothing(services)


def test_a_column_the_segment_lacks_is_refused_listing_its_attributes(
    services: Services, connection_id: str, audience: str
) -> None:
    body = export_body(
        connection_id,
        audience,
        data_matching={"email": "EmailAddress", "phone": "Phone", "mobile_ad_id": "Maid"},
        segments=["HighValue", "Lapsed"],
    )
    message = refused(
        api_client().post("/api/exports", json=body, headers=ADMIN), ["data_matching.email"]
    )
    prefix = services.settings.get("EXPORTS_PREFIX")
    for segment in ("HighValue", "Lapsed"):
        assert (
            f"data_matching.email: column 'EmailAddress' is not an attribute of segment "
            f"'{segment}' in {prefix}/model.json (its attributes: {COLUMNS})"
        ) in message
    saved_nothing(services)


def test_every_problem_is_named_at_once(
    services: Services, connection_id: str, sandbox: SnapSandbox
) -> None:
    body = export_body(
        connection_id,
        "5000000000000001",
        data_matching={"email": "Email", "phone": "Mobile"},
        segments=["Lapsed", "Gone"],
    )
    message = refused(
        api_client().post("/api/exports", json=body, headers=ADMIN),
        ["data_matching.phone", "segments.1", "audience_id"],
    )
    assert "column 'Mobile' is not an attribute of segment 'Lapsed'" in message
    assert "'Gone' is not a segment (entity)" in message
    assert "Snap has no audience (segment) 5000000000000001 that connection" in message
    assert "its ad accounts: 'Sandbox Ad Account' (" in message
    saved_nothing(services)


def test_column_and_segment_names_match_as_runs_match_them(
    services: Services, sandbox: SnapSandbox, audience: str
) -> None:
    connection_id = shared_connection(services, sandbox)
    export_folder(services, ("HighValue",), columns=("Email", "EMAIL", "Phone"))
    client = api_client()
    # Letter case alone is forgiven when one attribute matches, as the run forgives it...
    body = export_body(
        connection_id,
        audience,
        data_matching={"email": "Email", "phone": "PHONE"},
        segments=["highvalue"],
    )
    answer = client.post("/api/exports", json=body, headers=ADMIN)
    assert answer.status_code == 201, answer.text
    assert answer.json()["validation"]["status"] == "passed"
    # ...but not when several do.
    other = sandbox.create_segment(name="Other")
    ambiguous = export_body(connection_id, other, data_matching={"email": "email"})
    message = refused(
        client.post("/api/exports", json=ambiguous, headers=ADMIN), ["data_matching.email"]
    )
    assert "matches attributes 'Email', 'EMAIL' of segment 'HighValue'" in message


def test_an_export_folder_without_model_json_or_container_is_refused(
    services: Services, connection_id: str, audience: str
) -> None:
    client = api_client()
    container = services.settings.exports_containers[1]  # other-<tag>
    body = export_body(connection_id, audience, source={"container": container, "prefix": "CI/X"})
    message = refused(client.post("/api/exports", json=body, headers=ADMIN), ["source.container"])
    assert f"container '{container}' does not exist" in message

    export_folder(services, container=container, prefix="CI/Elsewhere")
    message = refused(client.post("/api/exports", json=body, headers=ADMIN), ["source.prefix"])
    assert message.startswith(f"source.prefix: no CI/X/model.json in container '{container}'")
    assert "CustomerInsights_<instanceId>/<ExportName>" in message

    exports_container(services).delete_blob(f"{services.settings.get('EXPORTS_PREFIX')}/model.json")
    default = export_body(connection_id, audience)
    refused(client.post("/api/exports", json=default, headers=ADMIN), ["source"])
    saved_nothing(services)


def test_an_unusable_model_json_is_refused(
    services: Services, connection_id: str, audience: str
) -> None:
    name = f"{services.settings.get('EXPORTS_PREFIX')}/model.json"
    exports_container(services).upload_blob(name, b'{"entities": [', overwrite=True)
    answer = api_client().post(
        "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
    )
    message = refused(answer, ["source"])
    assert "not valid JSON" in message
    saved_nothing(services)


def test_a_flat_file_segment_is_accepted_with_a_warning(
    services: Services, sandbox: SnapSandbox, audience: str
) -> None:
    connection_id = shared_connection(services, sandbox)
    prefix = str(services.settings.get("EXPORTS_PREFIX"))
    parent, _, export_name = prefix.rpartition("/")
    flat = f"{parent}/{export_name}_HighValue_1764300000.csv"
    exports_container(services).upload_blob(
        flat, csv_bytes([["c1", "a@example.com"]], ["CustomerId", "Email"])
    )
    answer = api_client().post(
        "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["validation"]["status"] == "incomplete"
    assert answer.json()["validation"]["warnings"] == [
        f"segment 'HighValue' is read from the flat file {flat}: its columns are checked when "
        "a run reads its header row"
    ]


def test_an_audience_that_is_not_the_connections_to_fill_is_refused(
    services: Services, connection_id: str, sandbox: SnapSandbox
) -> None:
    client = api_client()
    # An ad account the signed-in Snapchat user holds no role on.
    foreign = sandbox.add_ad_account(name="Someone else's", grant={})["id"]
    theirs = sandbox.create_segment(ad_account_id=foreign, name="Theirs")
    message = refused(
        client.post("/api/exports", json=export_body(connection_id, theirs), headers=ADMIN),
        ["audience_id"],
    )
    assert "lacks Admin or Data Manager on the ad account of audience" in message
    # A lookalike is not a customer list: Snap takes no uploaded identifiers into it.
    lookalike = sandbox.create_segment(name="Lookalike")
    with sandbox.state.lock:
        sandbox.state.segments[lookalike].source_type = "LOOKALIKE"
    message = refused(
        client.post("/api/exports", json=export_body(connection_id, lookalike), headers=ADMIN),
        ["audience_id"],
    )
    assert f"audience {lookalike} is a LOOKALIKE audience, not a customer list" in message
    saved_nothing(services)


def test_create_audience_needs_an_ad_account_the_connection_sees(
    services: Services, connection_id: str, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    client = api_client()

    def create(**spec: Any) -> Any:
        body = export_body(connection_id, None, create_audience={"name": "New", **spec})
        return client.post("/api/exports", json=body, headers=ADMIN)

    unknown = str(uuid.UUID(int=7))
    message = refused(create(ad_account_id=unknown), ["create_audience.ad_account_id"])
    assert message == (
        f"create_audience.ad_account_id: ad account {unknown} is not one connection "
        f"'Test connection' sees (its ad accounts: 'Sandbox Ad Account' ({ad_account_id}))"
    )
    second = sandbox.add_ad_account(name="Second")["id"]
    message = refused(create(), ["create_audience.ad_account_id"])
    assert "connection 'Test connection' sees 2 ad accounts (" in message
    assert f"'Second' ({second})" in message and "name the one to create the audience in" in message
    saved_nothing(services)
    answer = create(ad_account_id=second)
    assert answer.status_code == 201, answer.text
    assert answer.json()["validation"]["status"] == "passed"
    # Nothing was created in Snapchat by saving.
    assert [
        r for r in sandbox.requests() if r["method"] != "GET" and r["path"].startswith("/v1")
    ] == []


def test_snap_unreachable_saves_with_a_warning_after_one_attempt(
    services: Services, connection_id: str, sandbox: SnapSandbox, audience: str
) -> None:
    client = api_client()
    sandbox.set_faults([{"kind": "status", "status": 503, "path": "^/v1/segments/", "times": -1}])
    sandbox.clear_requests()
    answer = client.post("/api/exports", json=export_body(connection_id, audience), headers=ADMIN)
    assert answer.status_code == 201, answer.text
    validation = answer.json()["validation"]
    assert validation["status"] == "incomplete"
    assert len(validation["warnings"]) == 1
    assert validation["warnings"][0].startswith("Snapchat could not be reached (")
    assert validation["warnings"][0].endswith("): the audience was not checked")
    assert snap_calls(sandbox, "/v1/segments/") == 1
    export_id = answer.json()["id"]
    shown = client.get(f"/api/exports/{export_id}", headers=ADMIN).json()
    assert shown["validation"] == validation and shown["status"] == "active"

    # Renaming checks nothing; saving the audience again, with Snap back, clears the warning.
    sandbox.clear_faults()
    sandbox.clear_requests()
    renamed = client.patch(f"/api/exports/{export_id}", json={"display_name": "X"}, headers=ADMIN)
    assert renamed.json()["validation"] == validation and sandbox.requests() == []
    again = client.patch(f"/api/exports/{export_id}", json={"audience_id": audience}, headers=ADMIN)
    assert again.status_code == 200, again.text
    assert again.json()["validation"]["status"] == "passed"
    assert again.json()["validation"]["warnings"] == []


@pytest.fixture
def dead_storage() -> Iterator[tuple[str, list[int]]]:
    """A TCP port that accepts connections and closes them at once, counting them."""
    accepted = [0]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted[0] += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    try:
        yield conn, accepted
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_an_unreachable_export_folder_saves_with_a_warning_after_one_attempt(
    services: Services, connection_id: str, audience: str, dead_storage: tuple[str, list[int]]
) -> None:
    conn, accepted = dead_storage
    original = services.settings
    services.settings = Settings(values={**original.values, "EXPORTS_CONNECTION_STRING": conn})
    try:
        answer = api_client().post(
            "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
        )
    finally:
        services.settings = original
    assert answer.status_code == 201, answer.text
    validation = answer.json()["validation"]
    assert validation["status"] == "incomplete"
    assert len(validation["warnings"]) == 1
    assert validation["warnings"][0].startswith("the export folder could not be read (")
    assert validation["warnings"][0].endswith("segments and data matching were not checked")
    assert accepted[0] == 1
    stored = services.state.get(layout.export(answer.json()["id"]))
    assert stored is not None and stored["validation"] == validation


def test_a_changed_segment_is_checked_again(
    services: Services, connection_id: str, audience: str
) -> None:
    client = api_client()
    export_id = client.post(
        "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
    ).json()["id"]
    message = refused(
        client.patch(f"/api/exports/{export_id}", json={"segments": ["Nope"]}, headers=ADMIN),
        ["segments.0"],
    )
    assert "'Nope' is not a segment (entity)" in message
    stored = services.state.get(layout.export(export_id))
    assert stored is not None and stored["segments"] == ["HighValue"]


def test_a_connection_whose_sign_in_snap_refuses_is_409(
    services: Services, connection_id: str, sandbox: SnapSandbox, audience: str
) -> None:
    sandbox.revoke(user_id="sandbox-admin", access_tokens=True)
    answer = api_client().post(
        "/api/exports", json=export_body(connection_id, audience), headers=ADMIN
    )
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "connection_not_ready"
    assert error["message"].startswith("connection 'Test connection': Snapchat refused its sign-in")
    saved_nothing(services)
