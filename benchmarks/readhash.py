"""The read-and-hash stage alone: ``dry-run`` over the benchmark's export, against the floor.

Run as ``python -m benchmarks.readhash --export DIR --email-column Email [--python-reader]``
(a process of its own, like :mod:`benchmarks.floor`). It imports the app and opens the
native engine first (what the floor's ``import csv, hashlib`` is to it), then times one
:func:`shared.dry_run.dry_run` call: every part read, normalised, validated and hashed,
digests spooled by hash partition and counted distinct (no ``--hashes-out``, as the floor
writes nothing). Prints one JSON line ``{"seconds", "startup_seconds", "rows",
"identifiers", "peak_rss_bytes"}``.

:func:`export_folder` lays the generated parts out as Customer Insights does (``model.json``
plus a dated run folder), with symbolic links, so ``dry-run`` reads them as it reads an
export.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import datagen  # noqa: E402

RUN_FOLDER = "2026/11/28/0300"


def export_folder(paths: Sequence[Path], folder: Path) -> Path:
    """``folder`` holding ``model.json`` and links to ``paths`` in one run folder."""
    parts = folder / datagen.SEGMENT / RUN_FOLDER
    parts.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(paths):
        link = parts / f"{datagen.SEGMENT}_{index + 1}.csv"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path.resolve())
    (folder / "model.json").write_bytes(datagen.model_json(RUN_FOLDER, len(paths)))
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readhash")
    parser.add_argument("--export", type=Path, required=True, help="folder of model.json")
    parser.add_argument("--email-column", default="Email")
    parser.add_argument("--python-reader", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from shared import native_reader
    from shared.dry_run import DryRunOptions, dry_run

    if not args.python_reader:
        native_reader.engine_settings()  # imports DuckDB and opens the engine
    startup = time.perf_counter() - started
    options = DryRunOptions(
        source=args.export, email_column=args.email_column, native=not args.python_reader
    )
    started = time.perf_counter()
    summary = dry_run(options)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "startup_seconds": startup,
                "rows": summary["rows"],
                "identifiers": summary["identifiers"]["EMAIL_SHA256"],
                "peak_rss_bytes": peak,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
