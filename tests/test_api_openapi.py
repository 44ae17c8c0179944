"""The OpenAPI document: valid OpenAPI 3, every route of the API, the principal scheme."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.support import api_client

ROUTES = {
    ("get", "/api/me"),
    ("post", "/api/connections"),
    ("get", "/api/connections"),
    ("get", "/api/connections/{connection_id}"),
    ("patch", "/api/connections/{connection_id}"),
    ("delete", "/api/connections/{connection_id}"),
    ("get", "/api/connections/{connection_id}/authorize"),
    ("post", "/api/connections/{connection_id}/export-user"),
    ("get", "/api/connections/{connection_id}/ad-accounts"),
    ("get", "/api/connections/{connection_id}/ad-accounts/{ad_account_id}/audiences"),
    ("get", "/api/export-folders"),
    ("get", "/api/export-folders/segments"),
    ("get", "/api/oauth/snapchat/callback"),
    ("post", "/api/exports"),
    ("get", "/api/exports"),
    ("get", "/api/exports/{export_id}"),
    ("patch", "/api/exports/{export_id}"),
    ("delete", "/api/exports/{export_id}"),
    ("post", "/api/exports/{export_id}/runs"),
    ("get", "/api/exports/{export_id}/runs"),
    ("post", "/api/runs"),
    ("get", "/api/runs/{run_id}"),
    ("get", "/api/runs/{run_id}/progress"),
    ("post", "/api/erasures"),
    ("get", "/api/diagnostics"),
}


def test_openapi_document_is_valid_and_lists_every_route() -> None:
    answer = api_client().get("/api/openapi.json")
    assert answer.status_code == 200
    spec = answer.json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    listed = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert listed == ROUTES
    scheme = spec["components"]["securitySchemes"]["EntraID"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            assert operation.get("summary") and operation.get("tags"), (method, path)
            assert operation["security"] == [{"EntraID": []}], (method, path)
            errors = {s: r for s, r in operation["responses"].items() if s.startswith("4")}
            assert "401" in errors and "403" in errors, (method, path)
            for status, response in errors.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (status, path)


def test_unknown_routes_and_methods_answer_the_error_shape() -> None:
    client = api_client()
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    wrong = client.put("/api/exports")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
