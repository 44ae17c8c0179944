"""The floor: the least work any implementation must do, timed as one tight loop.

Per row of every part file (headerless CSV, UTF-8): parse with Python's ``csv`` module,
take the email column, trim and lowercase it, SHA-256 it. Nothing else: no validation, no
phone, no partitioning, no storage, no network. Run as ``python -m benchmarks.floor
--column N FILE...`` (a process of its own, so nothing else shares its interpreter); prints
one JSON line ``{"seconds", "rows", "peak_rss_bytes"}``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import resource
import sys
import time


def floor(paths: list[str], column: int) -> tuple[float, int]:
    """Seconds and rows of the tight loop over ``paths``."""
    sha256 = hashlib.sha256
    rows = 0
    started = time.perf_counter()
    for path in paths:
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                sha256(row[column].strip().lower().encode()).digest()
                rows += 1
    return time.perf_counter() - started, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor")
    parser.add_argument("--column", type=int, required=True, help="0-based email column")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    seconds, rows = floor(args.paths, args.column)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_bytes": peak}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
