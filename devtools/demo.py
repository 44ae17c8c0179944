"""``make demo``: one realistic export through the real functions into the Snap sandbox.

Starts (and at the end stops) Azurite, the Snap sandbox and ``python -m devtools serve``; writes
a messy Customer Insights export of 120,000 profiles in 4 headerless partitions; then, over
the app's HTTP API as an administrator: creates a connection (with privacy consent), signs
in with Snapchat through the sandbox's authorize page, adds the export user, creates an
export that asks for a new audience, runs it on demand and polls the run. It prints the run
report and the audience size and exits 0 only when

    identifiers uploaded == sandbox audience members == distinct valid identifiers of the sample

(the last computed from the generated people, not by the app).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite, free_port, stop_process
from devtools.sample_export import generate, model_json

ROOT = Path(__file__).resolve().parent.parent

PROFILES = 120_000
PARTS = 4
SEGMENT = "HighValueCustomers"
PREFIX = "CustomerInsights_6f1c2a9e-0d41-4c55-9a3e-2b7d8c1e5f00/SnapDemo"
FOLDER = time.strftime("%Y/%m/%d/%H%M", time.gmtime())


def wait_for(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def principal(user_id: str, name: str, role: str) -> str:
    claims = [
        {"typ": "name", "val": name},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": user_id},
        {"typ": "roles", "val": role},
    ]
    body = {
        "auth_typ": "aad",
        "name_typ": "name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "claims": claims,
    }
    return base64.b64encode(json.dumps(body).encode()).decode()


def start(stack: ExitStack, command: list[str], env: dict[str, str], log: Path) -> None:
    handle = stack.enter_context(open(log, "wb"))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)

    stack.callback(stop_process, process)


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="snap-demo-"))
    sandbox_port, api_port = free_port(), free_port()
    stack = ExitStack()
    step(f"starting Azurite, the Snap sandbox and the app (logs in {work})")
    storage = stack.enter_context(Azurite(work / "azurite.log")).connection_string
    api = f"http://127.0.0.1:{api_port}"
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    env = {
        **os.environ,
        "AzureWebJobsStorage": storage,
        "EXPORTS_CONTAINER": "customer-insights",
        "EXPORTS_PREFIX": PREFIX,
        "SNAPCHAT_API_URL": sandbox,
        "SNAPCHAT_ACCOUNTS_URL": sandbox,
        "SNAPCHAT_CLIENT_ID": "sandbox-client-id",
        "SNAPCHAT_CLIENT_SECRET": "sandbox-client-secret",
        "PUBLIC_BASE_URL": api,
        "LOCAL_SECRETS_FILE": str(work / "secrets.json"),
        "DEFAULT_PHONE_REGION": "NO",
        "REFRESH_SCHEDULE": "0 0 3 * * *",
        # Local development identity: the demo names its admin in X-MS-CLIENT-PRINCIPAL.
        "AUTH_MODE": "local",
        "PYTHONUNBUFFERED": "1",
    }
    with stack:
        start(
            stack,
            [
                sys.executable,
                "-m",
                "devtools.snap_sandbox",
                "--port",
                str(sandbox_port),
                "--redirect-uri",
                f"{api}/api/oauth/snapchat/callback",
            ],
            env,
            work / "sandbox.log",
        )
        wait_for(f"{sandbox}/_sandbox/config")
        start(
            stack,
            [sys.executable, "-m", "devtools", "serve", "--port", str(api_port)],
            env,
            work / "app.log",
        )
        wait_for(f"{api}/api/openapi.json")

        step(f"writing a Customer Insights export: {PROFILES:,} profiles in {PARTS} part files")
        writers, truth = generate(PROFILES, PARTS)
        container = BlobServiceClient.from_connection_string(storage).get_container_client(
            "customer-insights"
        )
        container.create_container()
        container.upload_blob(f"{PREFIX}/model.json", model_json(SEGMENT, PARTS, PREFIX, FOLDER))
        for number, writer in enumerate(writers, start=1):
            name = f"{PREFIX}/{SEGMENT}/{FOLDER}/{SEGMENT}_{number}.csv"
            container.upload_blob(name, b"".join(writer()))

        admin = {"X-MS-CLIENT-PRINCIPAL": principal("demo-admin-1", "Demo Admin", "Admin")}
        http = requests.Session()
        http.headers.update(admin)

        step("creating the Snapchat connection (privacy consent given)")
        answer = http.post(
            f"{api}/api/connections",
            json={
                "display_name": "Snapchat (demo)",
                "usable_by": "admins_and_contributors",
                "privacy_consent": True,
            },
            timeout=30,
        )
        answer.raise_for_status()
        connection = answer.json()
        print(f"    connection {connection['id']}: {connection['status']}")

        step("signing in with Snapchat (the sandbox consents as its admin user)")
        to_snap = http.get(
            f"{api}/api/connections/{connection['id']}/authorize", allow_redirects=False, timeout=30
        )
        assert to_snap.status_code == 302, to_snap.text
        back = requests.get(to_snap.headers["Location"], allow_redirects=False, timeout=30)
        callback = urlparse(back.headers["Location"])
        query = {k: v[0] for k, v in parse_qs(callback.query).items()}
        done = http.get(f"{api}/api/oauth/snapchat/callback", params=query, timeout=60)
        assert done.status_code == 200, done.text
        http.post(
            f"{api}/api/connections/{connection['id']}/export-user", timeout=30
        ).raise_for_status()
        connection = http.get(f"{api}/api/connections/{connection['id']}", timeout=30).json()
        print(f"    connection status: {connection['status']}")

        step("creating the export (email, phone and mobile ad id; a new audience)")
        answer = http.post(
            f"{api}/api/exports",
            json={
                "display_name": "High value customers to Snapchat",
                "connection_id": connection["id"],
                "create_audience": {"name": "CI High value customers", "retention_in_days": 9999},
                "data_matching": {
                    "email": "EmailAddress",
                    "phone": "MobilePhone",
                    "mobile_ad_id": "MobileAdId",
                },
                "segments": [SEGMENT],
                "schedule": "with_refresh",
            },
            timeout=30,
        )
        answer.raise_for_status()
        export = answer.json()

        step("running it on demand")
        started = time.monotonic()
        answer = http.post(f"{api}/api/exports/{export['id']}/runs", json={}, timeout=30)
        answer.raise_for_status()
        status_url = api + answer.json()["status_url"]
        run: dict[str, Any] = {}
        while time.monotonic() - started < 600:
            run = http.get(status_url, timeout=30).json()
            if run["status"] in ("succeeded", "failed", "skipped"):
                break
            time.sleep(1)
        elapsed = time.monotonic() - started
        export = http.get(f"{api}/api/exports/{export['id']}", timeout=30).json()
        audience = export.get("audience_id")
        members = requests.get(
            f"{sandbox}/_sandbox/segments/{audience}/members", params={"counts": "true"}, timeout=30
        ).json()

        print("\nRun report")
        print(
            json.dumps(
                {
                    k: run.get(k)
                    for k in (
                        "id",
                        "status",
                        "started_at",
                        "ended_at",
                        "audience",
                        "warnings",
                        "error",
                    )
                },
                indent=2,
            )
        )
        print(json.dumps(run.get("counts"), indent=2))
        uploaded = int(run.get("counts", {}).get("identifiers_uploaded", -1))
        in_audience = sum(members.values())
        expected = sum(truth.counts().values())
        print(f"\nrun took {elapsed:.1f} s")
        print(f"identifiers uploaded:            {uploaded:,}")
        print(f"sandbox audience members:        {in_audience:,}  {members}")
        print(f"distinct valid in the sample:    {expected:,}  {truth.counts()}")
        ok = run.get("status") == "succeeded" and uploaded == in_audience == expected
        ok = ok and members == truth.counts()
        print("\nDEMO OK" if ok else f"\nDEMO FAILED (logs kept in {work})")
    if ok:
        # The logs and the sandbox's refresh token are of no use once the demo passed.
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
