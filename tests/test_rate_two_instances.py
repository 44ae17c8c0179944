"""One Snap rate per connection at any scale: two app instances (``python -m devtools serve
--processes 2``, each with two worker processes) on one Azurite, two exports on one connection
running at once, each run making dozens of Snap requests (``REMOVE_CHUNK_SIZE=1`` makes every
removed identifier a request). The Snap sandbox (which answers 429 above 10 requests/s per
access token and 20 per app, https://developers.snap.com/api/marketing-api/Ads-API/rate-limits)
must see at most 10 requests in any one-second window for the connection, no 429, and both
audiences exact. The figures (requests, seconds, rate) are printed for the README.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.azurite import free_port, stop_process, wait_for_port
from devtools.snap_sandbox import DEFAULT_AD_ACCOUNT_ID, SnapSandbox
from shared.config import Settings
from shared.services import Services, build_services
from tests.support import (
    ADMIN,
    PREFIX,
    VIEWER,
    exports_container,
    person,
    person_hashes,
    seed_connection,
    seed_export,
    write_ci_export,
)

ROOT = Path(__file__).resolve().parent.parent
RATE = 8
KEEP, REMOVE = 10, 15  # per export: 45 removals (3 identifier types) = 45 DELETE requests


@pytest.fixture
def two_instances(
    settings: Settings, sandbox: SnapSandbox, tmp_path: Path
) -> Iterator[tuple[Services, list[str]]]:
    """The test's settings (its own queues and containers, the sandbox, a secrets file both
    instances share), with many small removals, and two instances serving them."""
    values = {
        **settings.values,
        "SNAPCHAT_MAX_REQUESTS_PER_SECOND": str(RATE),
        "REMOVE_CHUNK_SIZE": "1",
        "MASS_REMOVAL_THRESHOLD": "0.9",
        "REFRESH_SCHEDULE": "0 0 3 1 1 *",
    }
    services = build_services(
        Settings.from_env({}, local_settings=None, overrides=values), create_resources=True
    )
    exports_container(services).create_container()
    env = {**os.environ, **values, "PYTHONPATH": str(ROOT)}
    for marker in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"):
        env.pop(marker, None)
    processes: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for index in range(2):
            port = free_port()
            log = open(tmp_path / f"instance-{index}.log", "wb")
            command = [sys.executable, "-m", "devtools", "serve", "--port", str(port)]
            processes.append(
                subprocess.Popen(
                    [*command, "--processes", "2"],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            wait_for_port(port, 60)
            urls.append(f"http://127.0.0.1:{port}")
        yield services, urls
    finally:
        children = [c for p in processes for c in descendants(p.pid)]
        for process in processes:
            stop_process(process)  # SIGTERM, as a host or a supervisor stops it
        deadline = time.monotonic() + 20
        while any(alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [c for c in children if alive(c)]
        for pid in left:
            os.kill(pid, 9)
        assert left == [], "worker processes outlived their instance"


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(url: str, export_id: str) -> str:
    answer = requests.post(
        f"{url}/api/exports/{export_id}/runs", json={}, headers=ADMIN, timeout=30
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run_id"])


def _wait(url: str, run_ids: list[str], timeout_s: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        views = [
            requests.get(f"{url}/api/runs/{run_id}", headers=VIEWER, timeout=30).json()
            for run_id in run_ids
        ]
        if all(v["status"] in ("succeeded", "failed") for v in views):
            return views
        assert time.monotonic() < deadline, views
        time.sleep(0.5)


def most_in_one_second(times: list[float]) -> int:
    """The largest number of ``times`` in any half-open one-second window."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.slow
def test_two_instances_hold_one_rate_for_one_connection(
    two_instances: tuple[Services, list[str]], sandbox: SnapSandbox
) -> None:
    services, urls = two_instances
    container = exports_container(services)
    connection = seed_connection(services, sandbox)
    people = {"SegA": range(1, 1 + KEEP + REMOVE), "SegB": range(101, 101 + KEEP + REMOVE)}
    exports, audiences = {}, {}
    for segment, ids in people.items():
        write_ci_export(
            container, segment, [[person(i) for i in ids]], prefix=f"{PREFIX}-{segment}"
        )
        audiences[segment] = sandbox.create_segment(
            ad_account_id=DEFAULT_AD_ACCOUNT_ID, name=segment
        )
        exports[segment] = seed_export(
            services,
            connection,
            audiences[segment],
            segments=(segment,),
            source={
                "container": services.settings.get("EXPORTS_CONTAINER"),
                "prefix": f"{PREFIX}-{segment}",
            },
        )
    first = _wait(urls[0], [_start(urls[0], exports["SegA"]), _start(urls[1], exports["SegB"])])
    assert [v["status"] for v in first] == ["succeeded", "succeeded"], first

    # Shrink both segments in a newer run folder; run both at once, one on each instance.
    for segment, ids in people.items():
        kept = list(ids)[:KEEP]
        write_ci_export(
            container,
            segment,
            [[person(i) for i in kept]],
            prefix=f"{PREFIX}-{segment}",
            folder="2026/11/29/0300",
        )
    sandbox.clear_requests()
    started = time.time()
    runs = [_start(urls[0], exports["SegA"]), _start(urls[1], exports["SegB"])]
    second = _wait(urls[1], runs)
    assert [v["status"] for v in second] == ["succeeded", "succeeded"], second

    log = [e for e in sandbox.requests() if e["path"].startswith("/v1/") and e["time"] >= started]
    deletes = [e for e in log if e["method"] == "DELETE" and e["path"].endswith("/users")]
    by_audience = {a: [e for e in deletes if a in e["path"]] for a in audiences.values()}
    assert all(len(calls) >= 3 * REMOVE for calls in by_audience.values()), by_audience.keys()
    assert [e for e in log if e["status"] == 429] == []
    times = [e["time"] for e in log]
    per_token: dict[str, list[float]] = {}
    for entry in log:
        per_token.setdefault(str(entry["token"]), []).append(entry["time"])
    assert most_in_one_second(times) <= 10  # one connection: every token of it together
    assert all(most_in_one_second(t) <= 10 for t in per_token.values())
    for segment, ids in people.items():
        assert sandbox.members(audiences[segment]) == person_hashes(list(ids)[:KEEP])
    span = max(times) - min(times)
    print(
        f"\ntwo instances x 2 worker processes, one connection: {len(log)} Snap requests "
        f"({len(deletes)} removals) in {span:.1f} s = {len(log) / span:.2f} requests/s "
        f"(schedule {RATE}/s); most in one second {most_in_one_second(times)}; "
        f"{len(per_token)} access tokens; no 429"
    )
