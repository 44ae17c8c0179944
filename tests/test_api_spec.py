"""The OpenAPI document describes what the server does, and every error has one JSON shape.

Nullable only where ``null`` is accepted; a body that is not UTF-8 JSON is a documented 400
``invalid_json`` (malformed JSON names no character position as a field); 405 carries
``Allow``; an id holding a newline is a JSON 404 locally too and never reaches storage; an
unexpected error is a JSON 500, logged with its stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import function_app
from devtools.snap_sandbox import SnapSandbox
from shared.api import export_records
from shared.services import Services
from shared.state_store import StateStore
from tests.conftest import exports_container
from tests.support import ADMIN, api_client, seed_connection, seed_export, write_ci_export


def spec() -> dict[str, Any]:
    return function_app.api.openapi()


def nullable(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(
        s.get("type") == "null" for s in schema.get("anyOf", [])
    )


def error_shape(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return dict(body["error"])


def test_patch_bodies_are_nullable_only_where_null_is_accepted(
    services: Services, sandbox: SnapSandbox, ad_account_id: str
) -> None:
    schemas = spec()["components"]["schemas"]
    export_patch = schemas["ExportPatch"]["properties"]
    assert {f for f, s in export_patch.items() if nullable(s)} == {"source"}
    connection_patch = schemas["ConnectionPatch"]["properties"]
    assert {f for f, s in connection_patch.items() if nullable(s)} == set()

    audience = sandbox.create_segment(ad_account_id=ad_account_id, name="A")
    write_ci_export(exports_container(services), "HighValue", [[["c1", "a@x.com", "", ""]]])
    export_id = seed_export(services, seed_connection(services, sandbox), audience)
    client = api_client()
    for field in sorted(export_patch):
        answer = client.patch(f"/api/exports/{export_id}", json={field: None}, headers=ADMIN)
        if field == "source":
            assert answer.status_code == 200, answer.text
            assert answer.json()["source"] is None
        else:
            error = error_shape(answer, 422, "validation_error")
            assert error["fields"] == [field], (field, error)


def test_a_body_that_is_not_utf8_json_is_a_documented_400(services: Services) -> None:
    client = api_client()
    headers = {**ADMIN, "content-type": "application/json"}
    for body in (b'{"display_name": "\xff", "privacy_consent": true}', b"{\xc3\x28}"):
        answer = client.post("/api/connections", content=body, headers=headers)
        error = error_shape(answer, 400, "invalid_json")
        assert error["fields"] == ["body"]
        assert "UTF-8" in error["message"]
    documented = spec()["paths"]["/api/connections"]["post"]["responses"]
    assert documented["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    assert list(services.state.names("connections/")) == []


def test_malformed_json_names_the_body_not_a_character_position(services: Services) -> None:
    answer = api_client().post(
        "/api/connections",
        content=b'{"display_name": "Snap", "privacy_consent": tru',
        headers={**ADMIN, "content-type": "application/json"},
    )
    error = error_shape(answer, 400, "invalid_json")
    assert error["fields"] == ["body"]
    assert error["message"].startswith("body: not valid JSON (")
    assert "line 1, column 45" in error["message"]
    assert "Snap" not in error["message"]


def test_405_lists_the_allowed_methods() -> None:
    client = api_client()
    for method, path, allowed in (
        ("PUT", "/api/exports", "GET, POST"),
        ("POST", "/api/exports/abc", "DELETE, GET, PATCH"),
        ("DELETE", "/api/runs", "POST"),
        ("GET", "/api/erasures", "POST"),
    ):
        answer = client.request(method, path, headers=ADMIN)
        error_shape(answer, 405, "method_not_allowed")
        assert answer.headers["allow"] == allowed, (method, path)


@pytest.mark.parametrize(
    "path",
    [
        "/api/exports/abc%0A",
        "/api/exports/a%0Ab",
        "/api/runs/abc%0A",
        "/api/connections/abc%0A",
        "/api/exports/abc%0A/runs",
    ],
)
def test_ids_with_newlines_are_json_404s_that_reach_no_storage(
    services: Services, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    read: list[str] = []
    original = StateStore.read

    def spy(self: StateStore, name: str) -> Any:
        read.append(name)
        return original(self, name)

    monkeypatch.setattr(StateStore, "read", spy)
    # The local server serves this very app (devtools.local_host), so one client covers both.
    error_shape(api_client().get(path, headers=ADMIN), 404, "not_found")
    assert [n for n in read if "\n" in n] == []


def test_an_unexpected_error_is_a_json_500_logged_with_its_stack_trace(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: Services) -> list[Any]:
        raise RuntimeError("the exports could not be listed")

    monkeypatch.setattr(export_records, "list_exports", broken)
    with caplog.at_level(logging.ERROR):
        answer = api_client().get("/api/exports", headers=ADMIN)
    error = error_shape(answer, 500, "internal_error")
    assert "could not be listed" not in error["message"]
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "GET /api/exports" in logged[0].getMessage()
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is RuntimeError


def test_every_operation_documents_the_errors_it_can_answer() -> None:
    for path, operations in spec()["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            expected = {"401", "403", "422", "500"}
            if "requestBody" in operation:
                expected.add("400")
            if "{" in path:
                expected.add("404")
            assert expected <= statuses, (method, path, sorted(expected - statuses))
            for status in statuses - {"200", "201", "202", "204", "302", "303"}:
                content = operation["responses"][status]["content"]
                assert content["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorResponse"
                }, (method, path, status)
