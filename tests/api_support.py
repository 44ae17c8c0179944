"""Helpers for the API tests: principal headers, a client, and the connection set-up flow."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import requests
from fastapi.testclient import TestClient

import function_app
from devtools.snap_sandbox import SnapSandbox
from shared import layout
from shared.api.principal import PRINCIPAL_HEADER
from shared.services import Services
from tests.helpers import seed_connection

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


def api_client() -> TestClient:
    """A client of the very ASGI app the Functions host serves."""
    return TestClient(function_app.api)


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


def call_function_callback(params: dict[str, str], headers: dict[str, str]) -> func.HttpResponse:
    """Call the Functions route ``snapchat_oauth_callback`` as the host would."""
    request = func.HttpRequest(
        method="GET",
        url="http://127.0.0.1:7071" + CALLBACK,
        headers=headers,
        params=params,
        body=b"",
    )
    return function_app.snapchat_oauth_callback(request)


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


def shared_connection(services: Services, sandbox: SnapSandbox) -> str:
    """A ready connection usable by contributors, seeded directly (faster than over HTTP)."""
    connection_id = seed_connection(services, sandbox)
    document = services.state.get(layout.connection(connection_id))
    assert document is not None
    document["usable_by"] = "admins_and_contributors"
    services.state.put(layout.connection(connection_id), document)
    return connection_id
