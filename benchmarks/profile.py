"""Summaries of ``py-spy record --format raw`` output (collapsed stacks with sample counts).

A line is ``frame;frame;...;frame COUNT`` with frames ``function (file:line)``, outermost
first. Time spent in C (``hashlib``, ``csv``, ``json``, sockets) is charged to the Python
function that called it (py-spy runs without ``--native``).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")

#: Stage of a sample: the first of these functions found on its stack (pipeline steps, the
#: sandbox's handlers), else "other" (queue polling, lease renewal, the event loop...).
STAGE_MARKERS = (
    ("read_part", "read"),
    ("diff_partition", "diff"),
    ("_start_sending", "diff"),
    ("upload_batch", "upload"),
    ("end_after_uploads", "finalize"),
    ("plan", "plan"),
    ("change_users", "sandbox users"),
    ("parse_users_envelope", "sandbox users"),
    ("parse_users_rows", "sandbox users"),
    ("apply_users", "sandbox users"),
)


def frame_name(frame: str) -> str:
    """``function (file)`` without the line number, the file shortened to its package path."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match.group("file")
    for anchor in ("site-packages/", "/lib/python3"):
        if anchor in path:
            path = path.split(anchor, 1)[1]
            break
    return f"{match.group('function')} ({path})"


def stage_of(names: list[str]) -> str:
    functions = [n.split(" (", 1)[0] for n in names]
    for marker, stage in STAGE_MARKERS:
        if marker in functions:
            return stage
    return "other"


def summarize(path: Path | str, *, top: int = 15) -> dict[str, Any]:
    """Samples, share per stage, and the ``top`` functions by self time (with total time)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    samples = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            names = [frame_name(f) for f in stack.split(";")]
            samples += count
            own[names[-1]] += count
            for name in set(names):
                total[name] += count
            stages[stage_of(names)] += count
    if not samples:
        return {"samples": 0, "stages": {}, "top": []}
    return {
        "samples": samples,
        "stages": {k: v / samples for k, v in stages.most_common()},
        "top": [
            {"function": name, "self": value / samples, "total": total[name] / samples}
            for name, value in own.most_common(top)
        ],
        "top_total_own_code": [
            {"function": name, "total": value / samples, "self": own[name] / samples}
            for name, value in total.most_common()
            if "shared/" in name or "benchmarks/" in name
        ][:top],
    }
