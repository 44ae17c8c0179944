"""``python -m shared verify-deployment https://<app>``: check a deployed app from outside.

Run after each deployment (``docs/deploy.md``, last step). It confirms what no offline test can:

1. a call without credentials is refused (by App Service Authentication, or by the app);
2. a forged ``X-MS-CLIENT-PRINCIPAL`` header claiming Admin is refused;
3. Snap's OAuth redirect path reaches the app's own callback (its answer to a missing
   ``state``), not a function-key check of the Functions host;
4. from inside the app (``GET /api/diagnostics``, Admin): the Key Vault references of the app
   settings resolved, the managed identity reaches the queues, containers, export container
   and Key Vault, the host loaded the timer, Entra ID's keys are reachable.

Steps 3 and 4 need an Entra ID access token of an Admin for the app's API: from
``--token-env NAME`` (an environment variable holding it), else from the Azure CLI login
(``az login``) through ``azure-identity``'s ``AzureCliCredential`` for
``api://<--client-id>/.default``. The token is sent to the app only and never printed.

Exit status: 0 when every check passes, 1 when one fails, 2 when some could not run.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import requests

TIMEOUT_S = 120
CALLBACK_PATH = "/api/oauth/snapchat/callback"
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

#: What to do when a line fails, by the start of its name.
REMEDIES = {
    "unauthenticated call": "App Service Authentication and the app both let an anonymous "
    "caller in: check AUTH_MODE is 'entra' (or unset) and ENTRA_* app settings are set.",
    "forged identity header": "the app trusted X-MS-CLIENT-PRINCIPAL: AUTH_MODE must be "
    "'entra' and LOCAL_DEV_ROLES unset in Azure (the app refuses to start otherwise: redeploy "
    "the current version).",
    "OAuth callback": "Snap's redirect does not reach the app's callback: the HTTP function "
    "must be ANONYMOUS and the only one (redeploy function_app.py as released).",
    "app setting SNAPCHAT_CLIENT_SECRET": "put the Snap client secret in the config vault as "
    "'snapchat-client-secret' and give the app's identity 'Key Vault Secrets User' on it; "
    "then restart the app so the reference is read again.",
    "app setting MICROSOFT_PROVIDER_AUTHENTICATION_SECRET": "store the Entra registration's "
    "client secret in the config vault as 'entra-auth-client-secret', or deploy with "
    "authClientCredentialInVault=false.",
    "container": "the app's identity needs 'Storage Blob Data Contributor' on host storage; "
    "the containers are created by the Bicep deployment (re-run it).",
    "queue": "the app's identity needs 'Storage Queue Data Contributor' on host storage; the "
    "queues are created by the Bicep deployment (re-run it).",
    "Customer Insights export container": "check EXPORTS_ACCOUNT_URL, EXPORTS_CONTAINER and that "
    "the identity has 'Storage Blob Data Reader' on the export account (infra/app/"
    "exports-access.bicep).",
    "Key Vault": "check KEY_VAULT_URI and that the identity has 'Key Vault Secrets Officer' on "
    "the token vault; a firewall on the vault must let the app in.",
    "timer": "open the app once (any request) and run this again; if it stays missing, check "
    "the function app's log stream for a timer error (6-field REFRESH_SCHEDULE).",
    "Microsoft Entra ID": "the app cannot fetch the tenant's signing keys: check "
    "ENTRA_TENANT_ID and outbound access to login.microsoftonline.com.",
    "diagnostics": "the token must carry the Admin app role of the app registration.",
}


@dataclass(frozen=True)
class Line:
    """One result: ``PASS``/``FAIL``/``SKIP``, what was checked and what was seen."""

    outcome: str
    name: str
    detail: str


def _remedy(name: str) -> str | None:
    return next((text for start, text in REMEDIES.items() if name.startswith(start)), None)


def _error_code(answer: requests.Response) -> str | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code")) if isinstance(error, dict) else None


def _refused(name: str, answer: requests.Response) -> Line:
    """PASS when a request without proof of identity did not get in."""
    location = answer.headers.get("Location", "")
    if answer.status_code in (301, 302, 307) and "/.auth/login" in location:
        return Line(PASS, name, "redirected to sign-in by App Service Authentication")
    if answer.status_code in (401, 403):
        if _error_code(answer) == "unauthenticated":
            return Line(PASS, name, f"{answer.status_code} from the app (token required)")
        return Line(PASS, name, f"{answer.status_code} from App Service Authentication")
    return Line(FAIL, name, f"answered {answer.status_code}: the caller got in")


def _forged_principal() -> str:
    claims = [
        {"typ": "roles", "val": "Admin"},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "forged"},
    ]
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


def check_deployment(
    base_url: str, token: str | None, *, session: requests.Session | None = None
) -> list[Line]:
    """Every check against ``base_url`` (``https://<app>``); ``token`` enables steps 3-4."""
    http = session or requests.Session()
    base = base_url.rstrip("/")

    def get(path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return http.get(base + path, headers=headers, allow_redirects=False, timeout=TIMEOUT_S)

    lines = [
        _refused("unauthenticated call to /api/exports", get("/api/exports")),
        _refused(
            "forged identity header (X-MS-CLIENT-PRINCIPAL claiming Admin)",
            get("/api/exports", {"X-MS-CLIENT-PRINCIPAL": _forged_principal()}),
        ),
    ]
    if token is None:
        reason = (
            "no token: pass --token-env NAME, or --client-id with the Azure CLI installed and "
            "signed in (`az login`)"
        )
        lines.append(Line(SKIP, "OAuth callback path", reason))
        lines.append(Line(SKIP, "diagnostics from inside the app", reason))
        return lines
    auth = {"Authorization": f"Bearer {token}"}
    callback = get(CALLBACK_PATH, auth)
    if callback.status_code == 400 and _error_code(callback) == "invalid_state":
        lines.append(
            Line(PASS, "OAuth callback path", "reaches the app's callback (400 invalid_state)")
        )
    else:
        seen = f"{callback.status_code} {_error_code(callback) or '(no JSON error)'}"
        lines.append(Line(FAIL, "OAuth callback path", f"answered {seen}"))
    answer = get("/api/diagnostics", auth)
    if answer.status_code != 200:
        seen = f"{answer.status_code} {_error_code(answer) or ''}".strip()
        lines.append(Line(FAIL, "diagnostics from inside the app", f"answered {seen}"))
        return lines
    try:
        checks = answer.json().get("checks")
    except (ValueError, AttributeError):
        checks = None
    if not isinstance(checks, list) or not checks:
        lines.append(Line(FAIL, "diagnostics from inside the app", "answered without checks"))
        return lines
    for check in checks:
        outcome = PASS if check.get("ok") else FAIL
        lines.append(Line(outcome, str(check.get("name")), str(check.get("detail"))))
    return lines


def cli_token(client_id: str) -> str | None:
    """An access token for ``api://<client_id>`` from the Azure CLI login, or None (the
    credential's own warning is kept out of the report: :func:`main` says what to do)."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import AzureCliCredential, CredentialUnavailableError

    quiet = logging.getLogger("azure.identity")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return AzureCliCredential().get_token(f"api://{client_id}/.default").token
    except (ClientAuthenticationError, CredentialUnavailableError):
        return None
    finally:
        quiet.setLevel(level)


def print_report(lines: list[Line], out: TextIO | None = None) -> int:
    """Print one line per check (and what to do for each failure) to ``out`` (standard
    output); returns the exit status."""
    out = out or sys.stdout
    for line in lines:
        print(f"{line.outcome:4}  {line.name}: {line.detail}", file=out)
        remedy = _remedy(line.name) if line.outcome == FAIL else None
        if remedy:
            print(f"      what to do: {remedy}", file=out)
    counts = {o: sum(1 for line in lines if line.outcome == o) for o in (PASS, FAIL, SKIP)}
    print(
        f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped"
        + ("" if counts[FAIL] else (": the deployment checks out" if not counts[SKIP] else "")),
        file=out,
    )
    if counts[FAIL]:
        return 1
    return 2 if counts[SKIP] else 0


def main(
    base_url: str,
    *,
    token_env: str | None = None,
    client_id: str | None = None,
    get_cli_token: Callable[[str], str | None] = cli_token,
) -> int:
    """Run every check and print the report; returns the exit status."""
    token = os.environ.get(token_env) if token_env else None
    if token_env and not token:
        print(f"verify-deployment: environment variable {token_env} is empty", file=sys.stderr)
        return 2
    if token is None and client_id:
        token = get_cli_token(client_id)
    try:
        lines = check_deployment(base_url, token)
    except requests.RequestException as exc:
        print(f"verify-deployment: {base_url} cannot be reached ({exc.__class__.__name__})")
        return 1
    return print_report(lines)
