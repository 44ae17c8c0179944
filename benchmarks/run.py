"""Throughput benchmark: exports of N profiles end to end against the hashing floor.

``make bench`` runs ``benchmarks/run.py --sizes 1000000,10000000``; ``make bench-small`` (CI)
runs 50,000 profiles into ``benchmarks/results-small.md``. Nothing here asserts a time: the
run checks only that every run succeeded and that the audience holds what the run counted.

For each size:

1. generate a Customer Insights export (CDM ``model.json`` + headerless part files, fixed
   seed, messy emails and phones; :mod:`benchmarks.datagen`) into a local folder (timed
   apart, not part of any figure);
2. time the *floor* (:mod:`benchmarks.floor`) over those files, in a process of its own,
   and the *read-and-hash stage alone* (:mod:`benchmarks.readhash`: ``dry-run`` on the email
   column with the native reader, and once with the Python reader), each in its own process;
3. start our own Azurite (in memory, loopback, free ports) and the Snap sandbox
   (``python -m devtools.snap_sandbox``, its own process, rate limits on), upload the export;
4. run it three times as on-demand runs, each through a fresh worker process
   (:mod:`benchmarks.worker`: the queue triggers of ``function_app.py`` through
   ``QueuePump``, one local instance): *first* (empty audience, no snapshot), *no change*
   (the same rows in a new run folder), *1% changed* (1% of rows with a new email and phone);
5. read each stage's wall time from the worker's delivery timeline, the counts from the run
   record, peak RSS (``VmHWM``) of every process, and optionally a py-spy profile.

Results go to ``--out`` (Markdown) and the same name with ``.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from benchmarks import datagen, readhash  # noqa: E402
from benchmarks.profile import summarize  # noqa: E402
from devtools.azurite import (  # noqa: E402
    Azurite,
    ChildProcess,
    free_port,
    stop_process,
    wait_for_port,
)

PY = sys.executable
EMAIL_COLUMN = datagen.COLUMNS.index("Email")
FOLDERS = ("2026/11/28/0300", "2026/11/29/0300", "2026/11/30/0300")
GIB = 1 << 30
MIB = 1 << 20
#: Worker processes of the one local instance (``--processes``; default: one per core, as
#: FUNCTIONS_WORKER_PROCESS_COUNT would be set on a 2-vCPU instance).
WORKER_PROCESSES = max(1, min(os.cpu_count() or 1, 4))
#: Snap requests per second in all: each worker process limits itself to its share.
TOTAL_RATE_PER_S = 8.0


def rate_per_process() -> float:
    return TOTAL_RATE_PER_S / WORKER_PROCESSES


# -- processes -----------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS``/``VmHWM`` (bytes) of a live process from ``/proc/<pid>/status``."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (``/proc/<pid>/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    values += [0] * (8 - len(values))
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (children, grandchildren, ...) from ``/proc``."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                text = Path(f"/proc/{parent}/task/{task}/children").read_text()
            except OSError:
                continue
            for child in map(int, text.split()):
                if child not in found:
                    found.append(child)
                    pending.append(child)
    return found


def peak_rss(pid: int) -> int:
    return proc_status(pid).get("VmHWM", 0)


def reset_peak_rss(pid: int) -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs`` 5); False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


@dataclass
class Sandbox(ChildProcess):
    """``python -m devtools.snap_sandbox`` in a process of its own (rate limits on)."""

    log: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self) -> Sandbox:
        port = free_port()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [PY, "-m", "devtools.snap_sandbox", "--port", str(port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(port)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def control(self, method: str, path: str, body: Any = None) -> Any:
        answer = requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=60)
        answer.raise_for_status()
        return answer.json()


@dataclass
class Worker(ChildProcess):
    """A fresh :mod:`benchmarks.worker` process (one local function-app instance)."""

    env: dict[str, str]
    timeline: Path
    log: Path
    process: subprocess.Popen[str] | None = None

    def start(self) -> Worker:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [PY, "-m", "benchmarks.worker", "--timeline", str(self.timeline)],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            stop_process(self.process)
            raise RuntimeError(f"the worker did not start; see {self.log}")
        return self


class Profiler:
    """``py-spy record`` on a process (non-blocking sampling, collapsed stacks), if installed."""

    def __init__(self, pid: int, output: Path, rate: int) -> None:
        binary = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None
        if binary is None:
            return
        with open(output.with_suffix(".log"), "wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(rate),
                    "--nonblocking",
                    "--subprocesses",
                    "--format",
                    "raw",
                    "--output",
                    str(output),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def stop(self) -> Path | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output if self.output.exists() else None


def py_spy_available() -> bool:
    return bool(shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy"))


# -- the app's side: settings, seeding, runs ------------------------------------------------


def app_settings(work: Path, azurite: Azurite, sandbox: Sandbox) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": azurite.connection_string,
        "RUN_QUEUE_NAME": "bench-runs",
        "BATCH_QUEUE_NAME": "bench-batches",
        "STATE_CONTAINER": "bench-state",
        "STAGING_CONTAINER": "bench-staging",
        "EXPORTS_CONTAINER": "customer-insights",
        "EXPORTS_PREFIX": datagen.PREFIX,
        "SNAPCHAT_API_URL": sandbox.url,
        "SNAPCHAT_ACCOUNTS_URL": sandbox.url,
        "SNAPCHAT_CLIENT_ID": "sandbox-client-id",
        "SNAPCHAT_CLIENT_SECRET": "sandbox-client-secret",
        "LOCAL_SECRETS_FILE": str(work / "secrets.json"),
        "PUBLIC_BASE_URL": "http://127.0.0.1:7071",
        "DEFAULT_PHONE_REGION": "US",
        "REFRESH_SCHEDULE": "0 0 3 * * *",
        "SNAPCHAT_MAX_REQUESTS_PER_SECOND": f"{rate_per_process():g}",
    }


def seed(services: Any, sandbox: Sandbox) -> tuple[str, str]:
    """A ready connection (sandbox refresh token), an audience and an export: ids."""
    from shared import layout
    from shared.models import Actor, Connection, DataMatching, Export
    from shared.secrets import refresh_token_secret_name

    admin = Actor(id="bench-admin")
    connection = Connection(
        id=uuid.uuid4().hex,
        display_name="Benchmark connection",
        privacy_consent=admin,
        signed_in=admin,
        export_user=admin,
        created=admin,
    )
    services.state.put(layout.connection(connection.id), connection.model_dump(mode="json"))
    tokens = sandbox.control("POST", "/tokens", {"user_id": "sandbox-admin"})
    services.secrets.set(refresh_token_secret_name(connection.id), tokens["refresh_token"])
    audience = str(sandbox.control("POST", "/segments", {"name": "Benchmark audience"})["id"])
    export = Export(
        id=uuid.uuid4().hex,
        display_name="Benchmark export",
        connection_id=connection.id,
        audience_id=audience,
        data_matching=DataMatching(email="Email", phone="Phone"),
        segments=[datagen.SEGMENT],
        created=admin,
    )
    services.state.put(layout.export(export.id), export.model_dump(mode="json"))
    return export.id, audience


def upload_export(container: Any, paths: Sequence[Path], folder: str) -> float:
    """Upload local part files as run folder ``folder`` with a model.json naming them."""
    started = time.perf_counter()
    for part, path in enumerate(paths):
        with open(path, "rb") as handle:
            name = datagen.part_name(folder, part)
            container.upload_blob(name, handle, overwrite=True, max_concurrency=4)
    model = datagen.model_json(folder, len(paths))
    container.upload_blob(f"{datagen.PREFIX}/model.json", model, overwrite=True)
    return time.perf_counter() - started


def run_folders(repetition: int) -> tuple[str, str, str]:
    """Run folders (base, same rows again, 1% changed) of a repetition, newest last."""
    day = 1 + 3 * repetition
    return tuple(f"2026/12/{day + i:02d}/0300" for i in range(3))  # type: ignore[return-value]


def delete_folder(container: Any, folder: str) -> None:
    names = list(container.list_blob_names(name_starts_with=datagen.folder_path(folder) + "/"))
    if names:
        container.delete_blobs(*names)


@dataclass
class RunResult:
    label: str
    repetition: int
    status: str
    e2e_s: float
    stages: dict[str, float]
    gaps: dict[str, float]
    counts: dict[str, Any]
    read_part_s: list[float]
    upload_batch_s: list[float]
    worker_peak_rss: int
    sandbox_peak_rss: int
    azurite_peak_rss: int
    sandbox_requests: dict[str, int]
    cpu_s: dict[str, float] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    error: Any = None


def stage_spans(timeline: list[dict[str, Any]], started: float) -> tuple[dict, dict, float]:
    """Wall time per stage (first start to last end of its deliveries), gaps, last end."""
    spans: dict[str, tuple[float, float]] = {}
    for entry in timeline:
        kind = str(entry.get("kind"))
        first, last = spans.get(kind, (entry["start"], entry["end"]))
        spans[kind] = (min(first, entry["start"]), max(last, entry["end"]))
    stages = {k: round(b - a, 3) for k, (a, b) in spans.items()}
    order = [k for k in ("plan", "read", "diff", "clear", "upload") if k in spans]
    gaps: dict[str, float] = {}
    previous_end = started
    previous = "start"
    for kind in order:
        gaps[f"{previous}->{kind}"] = round(spans[kind][0] - previous_end, 3)
        previous_end, previous = spans[kind][1], kind
    last_end = max((e["end"] for e in timeline), default=started)
    return stages, gaps, last_end


def run_once(
    label: str,
    repetition: int,
    services: Any,
    export_id: str,
    env: dict[str, str],
    work: Path,
    azurite: Azurite,
    sandbox: Sandbox,
    profile: bool,
    profile_rate: int,
) -> RunResult:
    """One on-demand run through a fresh worker; every figure of one table row."""
    from shared import layout
    from shared.run_control import get_run, start_run

    slug = label.replace(" ", "-").replace("%", "pct") + f"-{repetition + 1}"
    timeline_path = work / f"timeline-{slug}.jsonl"
    timeline_path.unlink(missing_ok=True)
    worker = Worker(env, timeline_path, work / f"worker-{slug}.log").start()
    profilers: list[tuple[str, Profiler]] = []
    try:
        sandbox.control("DELETE", "/requests")
        for pid in (sandbox.pid, azurite.pid):
            reset_peak_rss(pid)
        if profile:
            profilers.append(
                ("worker", Profiler(worker.pid, work / f"profile-{slug}-worker.txt", profile_rate))
            )
            profilers.append(
                (
                    "sandbox",
                    Profiler(sandbox.pid, work / f"profile-{slug}-sandbox.txt", profile_rate),
                )
            )
            time.sleep(1.0)  # let py-spy attach before the clock starts
        profiler_pids = [p.process.pid for _, p in profilers if p.process is not None]
        ours = [worker.pid, sandbox.pid, azurite.pid, *profiler_pids]
        cpu_before = {pid: cpu_seconds(pid) for pid in ours}
        busy_before, steal_before = system_cpu()
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.time()
        run = start_run(services, export_id, trigger="on_demand")
        while True:
            document = services.state.get(layout.run(run.id)) or {}
            if document.get("status") in ("succeeded", "failed", "skipped"):
                break
            # Poll often at first, then every 0.5 s: the end is taken from the timeline.
            time.sleep(0.05 if time.time() - started < 10 else 0.5)
        polled_end = time.time()
        time.sleep(0.3)  # the last handler may still be cleaning up; its end is the end
        # The worker and its language worker processes (FUNCTIONS_WORKER_PROCESS_COUNT),
        # which start during the run: their CPU so far is all this run's.
        worker_pids = [worker.pid, *descendants(worker.pid)]
        worker_peak = max(peak_rss(pid) for pid in worker_pids)
        sandbox_peak = peak_rss(sandbox.pid)
        azurite_peak = peak_rss(azurite.pid)
        used = {pid: cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in ours + worker_pids}
        busy_after, steal_after = system_cpu()
        self_after = resource.getrusage(resource.RUSAGE_SELF)
        harness = (self_after.ru_utime - self_before.ru_utime) + (
            self_after.ru_stime - self_before.ru_stime
        )
        cpu = {
            "worker": sum(used[pid] for pid in worker_pids),
            "sandbox": used[sandbox.pid],
            "azurite": used[azurite.pid],
            "harness": harness,
            "profiler": sum(used[pid] for pid in profiler_pids),
        }
        cpu["other"] = max(0.0, busy_after - busy_before - sum(cpu.values()))
        cpu["steal"] = steal_after - steal_before
        cpu = {k: round(v, 1) for k, v in cpu.items()}
    finally:
        profiles = {name: p.stop() for name, p in profilers}
        worker.stop()
    timeline = [json.loads(line) for line in timeline_path.read_text().splitlines() if line]
    stages, gaps, last_end = stage_spans(timeline, started)
    view = get_run(services, run.id) or {}
    read_s = [
        float((services.state.get(n) or {}).get("seconds", 0))
        for n in services.state.names(layout.steps_prefix(run.id, "read"))
    ]
    upload_s = [
        float((services.state.get(n) or {}).get("seconds", 0))
        for n in services.state.names(layout.steps_prefix(run.id, "upload"))
    ]
    log = sandbox.control("GET", "/requests")
    user_requests = [r for r in log if str(r.get("path", "")).endswith("/users")]
    summary: dict[str, Any] | None = None
    if profile:
        summary = {
            name: summarize(path, top=15) for name, path in profiles.items() if path is not None
        }
    return RunResult(
        label=label,
        repetition=repetition,
        status=str(view.get("status")),
        e2e_s=round((last_end if last_end > started else polled_end) - started, 3),
        stages=stages,
        gaps=gaps,
        counts=dict(view.get("counts") or {}),
        read_part_s=read_s,
        upload_batch_s=upload_s,
        worker_peak_rss=worker_peak,
        sandbox_peak_rss=sandbox_peak,
        azurite_peak_rss=azurite_peak,
        sandbox_requests={
            "users_requests": len(user_requests),
            "rows": sum(int(r.get("rows") or 0) for r in user_requests),
            "429": sum(1 for r in log if r.get("status") == 429),
            "total": len(log),
        },
        cpu_s=cpu,
        profile=summary,
        error=view.get("error"),
    )


# -- one size ------------------------------------------------------------------------------


@dataclass
class SizeResult:
    rows: int
    parts: int
    source_bytes: int
    generate_s: float
    upload_s: float
    floor_s: list[float]
    floor_peak_rss: int
    #: ``dry-run`` on the email column: native reader (each repeat), Python reader (once).
    readhash_s: list[float] = field(default_factory=list)
    readhash_python_s: list[float] = field(default_factory=list)
    readhash_peak_rss: int = 0
    readhash_startup_s: float = 0.0
    #: 1-minute load averages (os.getloadavg) when the size started and when it ended.
    load: list[float] = field(default_factory=list)
    runs: list[RunResult] = field(default_factory=list)
    audience: dict[str, int] = field(default_factory=dict)

    @property
    def floor(self) -> float:
        return statistics.median(self.floor_s)

    @property
    def readhash(self) -> float:
        return statistics.median(self.readhash_s)

    def median_run(self, label: str) -> RunResult:
        """The run of ``label`` with the median end-to-end time (the lower middle one)."""
        runs = sorted((r for r in self.runs if r.label == label), key=lambda r: r.e2e_s)
        return runs[(len(runs) - 1) // 2]

    def first_of(self, run: RunResult) -> RunResult:
        """The first run of the repetition ``run`` belongs to."""
        return next(r for r in self.runs if r.repetition == run.repetition)


def measure_floor(paths: Sequence[Path], repeats: int) -> tuple[list[float], int, int]:
    times, rows, peak = [], 0, 0
    for _ in range(repeats):
        out = subprocess.run(
            [PY, "-m", "benchmarks.floor", "--column", str(EMAIL_COLUMN), *map(str, paths)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        answer = json.loads(out.stdout)
        times.append(round(float(answer["seconds"]), 3))
        rows, peak = int(answer["rows"]), max(peak, int(answer["peak_rss_bytes"]))
    return times, rows, peak


def measure_readhash(export: Path, python_reader: bool) -> dict[str, Any]:
    """One ``benchmarks.readhash`` process over ``export`` (see that module)."""
    out = subprocess.run(
        [
            PY,
            "-m",
            "benchmarks.readhash",
            "--export",
            str(export),
            *(["--python-reader"] if python_reader else []),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def load_average() -> float:
    with contextlib.suppress(OSError):
        return round(os.getloadavg()[0], 2)
    return -1.0


def bench_size(rows: int, work: Path, args: argparse.Namespace) -> SizeResult:
    from shared.config import Settings
    from shared.services import build_services

    parts = datagen.parts_for(rows)
    say(f"== {rows:,} profiles in {parts} parts")
    data = work / "data"
    base = datagen.ExportSpec(rows, parts, seed=args.seed)
    started = time.perf_counter()
    paths = datagen.write_export(base, data / "base", "local")
    generate_s = time.perf_counter() - started
    changed = datagen.ExportSpec(rows, parts, seed=args.seed, variant="changed")
    changed_paths = datagen.write_export(changed, data / "changed", "local")
    source_bytes = sum(p.stat().st_size for p in paths)
    say(f"   generated {source_bytes / MIB:,.0f} MiB in {generate_s:.1f} s (not measured)")
    floor_repeats = args.floor_repeats or (3 if rows <= 2_000_000 else 1)
    floor_s, floor_rows, floor_peak = measure_floor(paths, floor_repeats)
    if floor_rows != rows:
        raise RuntimeError(f"the floor read {floor_rows} rows, expected {rows}")
    say(f"   floor: {statistics.median(floor_s):.2f} s ({floor_s})")
    result = SizeResult(rows, parts, source_bytes, generate_s, 0.0, floor_s, floor_peak)
    result.load.append(load_average())
    export = readhash.export_folder(paths, data / "export")
    for _ in range(floor_repeats):
        native = measure_readhash(export, python_reader=False)
        if native["rows"] != rows:
            raise RuntimeError(f"dry-run read {native['rows']} rows, expected {rows}")
        result.readhash_s.append(round(float(native["seconds"]), 3))
        result.readhash_peak_rss = max(result.readhash_peak_rss, int(native["peak_rss_bytes"]))
        result.readhash_startup_s = max(result.readhash_startup_s, native["startup_seconds"])
    python = measure_readhash(export, python_reader=True)
    if python["identifiers"] != native["identifiers"]:
        raise RuntimeError(f"dry-run counts differ between readers: {python} vs {native}")
    result.readhash_python_s.append(round(float(python["seconds"]), 3))
    say(
        f"   read & hash alone (dry-run, email): native {result.readhash_s} s, "
        f"Python reader {result.readhash_python_s} s"
    )
    repetitions = args.repeats or (3 if rows <= 2_000_000 else 1)

    azurite = Azurite(work / "azurite.log")
    sandbox = Sandbox(work / "sandbox.log")
    try:
        azurite.start()
        sandbox.start()
        values = app_settings(work, azurite, sandbox)
        settings = Settings.from_env({}, local_settings=None, overrides=values)
        services = build_services(settings, create_resources=True)
        container = services.exports_store().container
        with contextlib.suppress(Exception):
            container.create_container()
        env = {
            **os.environ,
            **values,
            "PYTHONPATH": str(ROOT),
            "FUNCTIONS_WORKER_PROCESS_COUNT": str(WORKER_PROCESSES),
        }
        for key in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"):
            env.pop(key, None)
        previous: str | None = None
        audience = ""
        for repetition in range(repetitions):
            folders = run_folders(repetition)
            upload_s = upload_export(container, paths, folders[0])
            result.upload_s = max(result.upload_s, upload_s)
            if previous is not None:
                delete_folder(container, previous)
            if audience:
                sandbox.control("DELETE", f"/segments/{audience}")  # frees the sandbox's memory
            export_id, audience = seed(services, sandbox)

            def run(
                label: str,
                export_id: str = export_id,
                audience: str = audience,
                repetition: int = repetition,
            ) -> None:
                outcome = run_once(
                    label,
                    repetition,
                    services,
                    export_id,
                    env,
                    work,
                    azurite,
                    sandbox,
                    profile=args.profile_mode == "on",
                    profile_rate=args.profile_rate,
                )
                if outcome.status != "succeeded":
                    raise RuntimeError(f"run '{label}' ended {outcome.status}: {outcome.error}")
                members = sandbox.control("GET", f"/segments/{audience}/members?counts=true")
                expected = outcome.counts.get("snapshot", {})
                if {k: v for k, v in members.items() if v} != {
                    k: v for k, v in expected.items() if v
                }:
                    raise RuntimeError(
                        f"run '{label}': the audience holds {members}, the snapshot says {expected}"
                    )
                result.audience = members
                result.runs.append(outcome)
                say(
                    f"   {label} ({repetition + 1}/{repetitions}): {outcome.e2e_s:.2f} s end to "
                    f"end; stages {outcome.stages}; worker peak "
                    f"{outcome.worker_peak_rss / MIB:,.0f} MiB; CPU s {outcome.cpu_s}"
                )

            run("first")
            upload_export(container, paths, folders[1])
            delete_folder(container, folders[0])
            run("no change")
            upload_export(container, changed_paths, folders[2])
            delete_folder(container, folders[1])
            run("1% changed")
            previous = folders[2]
        after, _, _ = measure_floor(paths, 1)
        result.floor_s += after
        say(f"   floor again after the runs: {after[0]:.2f} s")
        result.readhash_s.append(round(float(measure_readhash(export, False)["seconds"]), 3))
        result.load.append(load_average())
    finally:
        sandbox.stop()
        azurite.stop()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    return result


# -- report --------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, flush=True)


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    azurite = "?"
    with contextlib.suppress(OSError, ValueError):
        package = ROOT / "node_modules" / "azurite" / "package.json"
        azurite = json.loads(package.read_text())["version"]
    commit = "?"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "shared", "function_app.py", "host.json"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        commit += " (with local changes)" if dirty else ""
    from devtools.local_host import host_queue_settings

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "azurite": azurite,
        "commit": commit,
        "batch_size": host_queue_settings().get("batchSize"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def mib(value: int) -> str:
    return f"{value / MIB:,.0f} MiB"


def seconds(value: float) -> str:
    return f"{value:,.1f} s" if value >= 10 else f"{value:,.2f} s"


def stage(run: RunResult, name: str) -> float:
    return float(run.stages.get(name, 0.0))


def sent(run: RunResult) -> tuple[int, int]:
    counts = run.counts
    return int(counts.get("identifiers_uploaded", 0)), int(counts.get("identifiers_removed", 0))


def targets(sizes: list[SizeResult]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each performance target this run can judge."""
    rows: list[tuple[str, str, bool | None]] = []
    by_rows = {s.rows: s for s in sizes}
    for size in sizes:
        if not size.readhash_s:
            continue
        ratio = size.readhash / size.floor
        every = ", ".join(f"{r / size.floor:.2f}" for r in size.readhash_s)
        rows.append(
            (
                f"{size.rows:,}: read & hash alone (dry-run, email) <= 1.0 x floor "
                "(moonshot 0.5 x)",
                f"{ratio:.2f} x ({seconds(size.readhash)} vs {seconds(size.floor)}; runs: "
                f"{every})"
                + ("" if ratio <= 1 else f"; missed by {ratio:.2f} x")
                + ("; moonshot met" if ratio <= 0.5 else ""),
                ratio <= 1,
            )
        )
    for size in sizes:
        first = size.median_run("first")
        ratio = first.e2e_s / size.floor
        every = ", ".join(f"{r.e2e_s / size.floor:.1f}" for r in size.runs if r.label == "first")
        rows.append(
            (
                f"{size.rows:,}: end to end <= 3 x floor",
                f"{ratio:.1f} x ({seconds(first.e2e_s)} vs {seconds(size.floor)}; runs: {every}); "
                + ("met" if ratio <= 3 else f"missed by {ratio / 3:.1f} x"),
                ratio <= 3,
            )
        )
    largest = max(sizes, key=lambda s: s.rows)
    peaks = {
        "worker": max(r.worker_peak_rss for r in largest.runs),
        "sandbox": max(r.sandbox_peak_rss for r in largest.runs),
        "Azurite": max(r.azurite_peak_rss for r in largest.runs),
    }
    worker_ok = peaks["worker"] < GIB
    rows.append(
        (
            f"{largest.rows:,}: peak RSS < 1 GiB in every process",
            "; ".join(f"{k} {mib(v)}" for k, v in peaks.items())
            + f" (our worker {'under' if worker_ok else 'over'} 1 GiB; the sandbox and Azurite "
            "are test doubles)",
            worker_ok and peaks["sandbox"] < GIB,
        )
    )
    if 1_000_000 in by_rows and 10_000_000 in by_rows:
        growth = (
            by_rows[10_000_000].median_run("first").e2e_s
            / by_rows[1_000_000].median_run("first").e2e_s
        )
        rows.append(
            (
                "10M end to end <= 12 x 1M",
                f"{growth:.1f} x",
                growth <= 12,
            )
        )
    for size in sizes:
        first, changed = size.median_run("first"), size.median_run("1% changed")
        share = changed.e2e_s / size.first_of(changed).e2e_s
        rows.append(
            (
                f"{size.rows:,}: 1%-changed rerun <= 0.3 of first run",
                f"{share:.2f} ({seconds(changed.e2e_s)} vs "
                f"{seconds(size.first_of(changed).e2e_s)})"
                + ("" if share <= 0.3 else f"; missed by {share / 0.3:.1f} x"),
                share <= 0.3,
            )
        )
    for size in sizes:
        first, same = size.median_run("first"), size.median_run("no change")
        share = same.e2e_s / first.e2e_s
        rows.append(
            (
                f"{size.rows:,}: no-change rerun <= 1/3 of first run",
                f"{share:.2f} ({seconds(same.e2e_s)} vs {seconds(first.e2e_s)})"
                + ("" if share <= 1 / 3 else f"; missed by {share * 3:.1f} x"),
                share <= 1 / 3,
            )
        )
    return rows


def render(
    sizes: list[SizeResult], info: dict[str, Any], args: argparse.Namespace, total_s: float
) -> str:
    lines: list[str] = []
    add = lines.append
    add("# Throughput benchmark")
    add("")
    add(
        f"Written by `benchmarks/run.py --sizes {args.sizes}` on {info['date']}, commit "
        f"{info['commit']}, in {total_s / 60:.1f} min."
    )
    add("")
    add(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_bytes'] / GIB:.1f} GiB "
        f"RAM, {info['os']}, Python {info['python']}. Azurite {info['azurite']} (in memory), "
        "the Snap sandbox with its rate limits on (10 requests/s per token, 20 per app), "
        f"one local instance: the host polls the queues (host.json batchSize "
        f"{info['batch_size']}) and runs the functions in {WORKER_PROCESSES} language worker "
        f"process(es) (FUNCTIONS_WORKER_PROCESS_COUNT {WORKER_PROCESSES}), each limiting "
        f"itself to {rate_per_process():g} Snap requests/s (8 in all)."
    )
    add("")
    add(
        "Load (1-minute average, `os.getloadavg`, the machine is shared): "
        + "; ".join(
            f"{size.rows:,}: {' -> '.join(f'{v:.2f}' for v in size.load)}" for size in sizes
        )
        + ". Ratios are of figures from the same run."
    )
    add("")
    add("## Read and hash alone (dry-run on the email column)")
    add("")
    add(
        "`python -m shared dry-run` work over the same files as the floor (every part read, "
        "normalised, validated, hashed, spooled by hash partition and counted distinct), "
        "timed in its own process after imports and the engine's start "
        "(`benchmarks/readhash.py`); median of the repeats."
    )
    add("")
    add(
        "| profiles | floor | native reader | / floor | Python reader | / floor "
        "| engine start | peak RSS |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        if not size.readhash_s:
            continue
        python = statistics.median(size.readhash_python_s)
        add(
            f"| {size.rows:,} | {seconds(size.floor)} | **{seconds(size.readhash)}** "
            f"| **{size.readhash / size.floor:.2f} x** | {seconds(python)} "
            f"| {python / size.floor:.2f} x | {seconds(size.readhash_startup_s)} "
            f"| {mib(size.readhash_peak_rss)} |"
        )
    add("")
    add("## First run (empty audience)")
    add("")
    add(
        "Sizes up to 2M: the run with the median end-to-end time of "
        f"{args.repeats or 3} repetitions (every run is listed below); larger sizes: one run."
    )
    add("")
    add(
        "| profiles | parts | floor | read & hash | diff | upload | end to end | profiles/s "
        "| end to end / floor | peak RSS worker | sandbox | Azurite |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        first = size.median_run("first")
        add(
            f"| {size.rows:,} | {size.parts} | {seconds(size.floor)} "
            f"| {seconds(stage(first, 'read'))} | {seconds(stage(first, 'diff'))} "
            f"| {seconds(stage(first, 'upload'))} | **{seconds(first.e2e_s)}** "
            f"| {size.rows / first.e2e_s:,.0f} | **{first.e2e_s / size.floor:.1f} x** "
            f"| {mib(first.worker_peak_rss)} | {mib(first.sandbox_peak_rss)} "
            f"| {mib(first.azurite_peak_rss)} |"
        )
    add("")
    add("## Every run")
    add("")
    add(
        "| profiles | run | end to end | vs first | plan | read & hash | diff | upload "
        "| identifiers (distinct) | sent: added / removed | Snap requests (429s) "
        "| peak RSS worker | sandbox | Azurite | CPU s worker / sandbox / Azurite / others |"
    )
    add("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        for run in size.runs:
            first = size.first_of(run)
            added, removed = sent(run)
            distinct = sum(int(v) for v in (run.counts.get("identifiers") or {}).values())
            add(
                f"| {size.rows:,} | {run.label} #{run.repetition + 1} | {seconds(run.e2e_s)} "
                f"| {run.e2e_s / first.e2e_s:.2f} | {seconds(stage(run, 'plan'))} "
                f"| {seconds(stage(run, 'read'))} | {seconds(stage(run, 'diff'))} "
                f"| {seconds(stage(run, 'upload'))} | {distinct:,} | {added:,} / {removed:,} "
                f"| {run.sandbox_requests['users_requests']} ({run.sandbox_requests['429']}) "
                f"| {mib(run.worker_peak_rss)} | {mib(run.sandbox_peak_rss)} "
                f"| {mib(run.azurite_peak_rss)} | {_cpu(run.cpu_s)} |"
            )
    add("")
    add("## Targets")
    add("")
    add("| target | measured | met |")
    add("|---|---|---|")
    for name, measured, met in targets(sizes):
        add(f"| {name} | {measured} | {'yes' if met else 'no'} |")
    add("")
    add("## Details")
    add("")
    for size in sizes:
        add(f"### {size.rows:,} profiles")
        add("")
        add(
            f"* Export: {size.parts} headerless parts, {size.source_bytes / MIB:,.0f} MiB; "
            f"generated in {seconds(size.generate_s)} and uploaded to Azurite in "
            f"{seconds(size.upload_s)} (neither is in any figure)."
        )
        add(
            f"* Floor: {', '.join(seconds(s) for s in size.floor_s)} "
            f"(median {seconds(size.floor)}; {size.rows / size.floor:,.0f} rows/s; "
            f"peak RSS {mib(size.floor_peak_rss)})."
        )
        for run in size.runs:
            reads = sorted(run.read_part_s)
            uploads = sorted(run.upload_batch_s)
            counts = run.counts
            add(
                f"* {run.label} #{run.repetition + 1}: gaps between stages {run.gaps}; "
                f"CPU seconds {run.cpu_s}; read step per part "
                f"{_spread(reads)}; upload per batch {_spread(uploads)} "
                f"({len(uploads)} batches); rows {counts.get('rows', 0):,}, identifiers "
                f"{counts.get('identifiers')}, duplicates {counts.get('duplicates', 0):,}, "
                f"adds {counts.get('adds')}, removes {counts.get('removes')}."
            )
        add(f"* Audience after the last run (sandbox members): {size.audience}.")
        add("")
    profiled = [(s, r) for s in sizes for r in s.runs if r.profile]
    if profiled:
        add("## Where the time goes (py-spy profiles of the same runs)")
        add("")
        add(
            "Sampled with `py-spy record --nonblocking --subprocesses` (the worker and its "
            "language worker processes) at "
            f"{args.profile_rate} Hz while the run was timed (at 25 Hz the cost was within "
            "run-to-run noise: 1M first run 38.2 s without, 39.0 s with). *Stage* shares count "
            "samples "
            "of active threads (threads blocked on I/O or waiting for the GIL are not "
            "sampled) by the step their stack is in; *self* is the function on top of the "
            "stack, *total* counts a function once per sample wherever it is on the stack."
        )
        add("")
        for size, run in profiled:
            if run.repetition or (size.rows != max(s.rows for s in sizes) and run.label != "first"):
                continue
            assert run.profile is not None
            for process, summary in run.profile.items():
                add(
                    f"### {size.rows:,} profiles, {run.label} run: {process} "
                    f"({summary['samples']:,} samples)"
                )
                add("")
                add(
                    "Stages: "
                    + ", ".join(f"{k} {v:.0%}" for k, v in summary["stages"].items())
                    + "."
                )
                add("")
                add("| self | total | function |")
                add("|---:|---:|---|")
                for entry in summary["top"]:
                    add(f"| {entry['self']:.1%} | {entry['total']:.1%} | `{entry['function']}` |")
                add("")
    add("## What each number measures")
    add("")
    add(
        "* **floor**: one process, one tight loop over the same part files on local disk "
        "(page cache warm): `csv.reader`, take the email, `strip().lower()`, SHA-256 "
        "(`benchmarks/floor.py`); timed before the runs (3 times up to 2M rows, else once) "
        "and once more after them; the median of all is used."
    )
    add(
        "* **CPU s**: CPU seconds (user + system) each process used during the run; *others* "
        "is the rest of the machine's busy time plus steal (other tenants of the VM host): "
        "a noise indicator. This machine's speed varies by up to ~30% from minute to minute "
        "(the floor repeats show it)."
    )
    add(
        "* **end to end**: from `start_run` (the run record written, `plan` queued) to the end "
        "of the last queue delivery of the run (the finalize, the read-back of the audience "
        "and the staging cleanup included)."
    )
    add(
        "* **read & hash / diff / upload**: first start to last end of that step's queue "
        "deliveries in the worker (`benchmarks/worker.py` timeline). *upload* includes the "
        "finalize done by the last batch; a run with nothing to send has no upload stage "
        "(its finalize is in *diff*). Gaps are queue pick-up latencies between stages."
    )
    add(
        "* **peak RSS**: `VmHWM` of each process. The worker is a fresh process per run; "
        "the sandbox's and Azurite's peaks are reset (`/proc/<pid>/clear_refs`) at the start "
        "of each run, so each row shows that run's peak. Azurite (Node) and the sandbox are "
        "test doubles, not deployed code: the sandbox keeps every member of the audience in "
        "memory, Azurite every blob."
    )
    add(
        "* **profiles/s**: profiles (rows) of the export divided by the end-to-end time. "
        "The export maps Email and Phone (default region US); the floor hashes the email only."
    )
    add("")
    return "\n".join(lines)


def _cpu(cpu: dict[str, float]) -> str:
    if not cpu:
        return "-"
    others = cpu.get("other", 0.0) + cpu.get("steal", 0.0)
    return (
        f"{cpu.get('worker', 0):.0f} / {cpu.get('sandbox', 0):.0f} / "
        f"{cpu.get('azurite', 0):.0f} / {others:.0f}"
    )


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"min {values[0]:.2f} / median {statistics.median(values):.2f} / max {values[-1]:.2f} s"


def to_json(sizes: list[SizeResult], info: dict[str, Any]) -> dict[str, Any]:
    def run_json(run: RunResult) -> dict[str, Any]:
        return dict(run.__dict__)

    return {
        "machine": info,
        "sizes": [
            {
                **{k: v for k, v in size.__dict__.items() if k != "runs"},
                "floor_median_s": size.floor,
                "readhash_median_s": size.readhash if size.readhash_s else None,
                "runs": [run_json(r) for r in size.runs],
            }
            for size in sizes
        ],
    }


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py", description="End-to-end throughput against the hashing floor."
    )
    parser.add_argument("--sizes", default="1000000,10000000", help="profiles, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.md")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep data, logs and timelines")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--floor-repeats", type=int, help="default 3 up to 2M rows, else 1")
    parser.add_argument(
        "--repeats", type=int, help="runs of each kind per size; default 3 up to 2M rows, else 1"
    )
    parser.add_argument(
        "--profile",
        dest="profile_mode",
        choices=("auto", "on", "off"),
        default="auto",
        help="py-spy profiles of every run: auto = when py-spy is installed",
    )
    parser.add_argument("--profile-rate", type=int, default=25, help="samples/s (25)")
    parser.add_argument(
        "--processes",
        type=int,
        default=WORKER_PROCESSES,
        help="worker processes of the local instance (default: one per core, at most 4)",
    )
    args = parser.parse_args(argv)
    if args.profile_mode == "auto":
        args.profile_mode = "on" if py_spy_available() else "off"
    elif args.profile_mode == "on" and not py_spy_available():
        parser.error("--profile on needs py-spy (.venv/bin/pip install py-spy)")
    return args


@contextlib.contextmanager
def scratch(args: argparse.Namespace) -> Iterator[Path]:
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        yield args.workdir
        return
    path = Path(tempfile.mkdtemp(prefix="snap-bench-"))
    try:
        yield path
    finally:
        if args.keep:
            say(f"scratch kept in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    global WORKER_PROCESSES
    args = parse_args(argv)
    WORKER_PROCESSES = max(1, args.processes)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    started = time.perf_counter()
    info = machine()
    say(
        f"benchmark: sizes {sizes}, {info['cpu']} x{info['cores']}, Python {info['python']}, "
        f"profiles {'on (py-spy)' if args.profile_mode == 'on' else 'off'}"
    )
    results: list[SizeResult] = []
    with scratch(args) as work:
        for rows in sizes:
            folder = work / f"size-{rows}"
            folder.mkdir(parents=True, exist_ok=True)
            results.append(bench_size(rows, folder, args))
    total = time.perf_counter() - started
    text = render(results, info, args, total)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps(to_json(results, info), indent=1, default=str), encoding="utf-8"
    )
    say("")
    say(text)
    harness = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    say(f"harness peak RSS {mib(harness)}; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
