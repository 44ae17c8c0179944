"""Every handed case in tests/cases (copied from the team kit) through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "cases"
ROOT = Path(__file__).parent.parent


def _case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "expected.json").is_file())


def test_every_case_is_collected() -> None:
    assert len(_case_dirs()) >= 9


@pytest.mark.parametrize("case", _case_dirs(), ids=lambda p: p.name)
def test_case(case: Path, tmp_path: Path) -> None:
    expected = json.loads((case / "expected.json").read_text())
    hashes_out = tmp_path / "hashes.tsv"
    command = [
        sys.executable,
        "-m",
        "shared",
        "dry-run",
        str(case / expected["source"]),
        *expected["args"],
        "--hashes-out",
        str(hashes_out),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == expected["exit"], done.stderr
    if expected["exit"] != 0:
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dry-run: ")
        return
    summary = json.loads(done.stdout)
    for name, value in expected.get("counts", {}).items():
        assert summary[name] == value, name
    written: dict[str, list[str]] = {}
    lines = hashes_out.read_text().splitlines()
    assert lines == sorted(lines)
    for line in lines:
        schema, digest = line.split("\t")
        written.setdefault(schema, []).append(digest)
    for schema, digests in expected.get("hashes", {}).items():
        assert sorted(written.get(schema, [])) == sorted(digests), schema
        assert summary["identifiers"][schema] == len(digests)
