"""Unit: the stage modules of shared/pipeline/ read in run order without jumping back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import shared.pipeline

PIPELINE = Path(shared.pipeline.__file__).parent
#: The vocabulary every stage uses, then the stages in the order a run takes them.
VOCABULARY = ["messages", "handlers", "records", "claims", "steps"]
STAGES = ["plan", "read", "diff", "rails", "audience", "clear", "batches", "upload", "finish"]
#: Settles a poisoned message of any stage, so it re-enters them all.
LAST = "poison"


def pipeline_imports(module: str) -> set[str]:
    tree = ast.parse((PIPELINE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "shared.pipeline":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "shared.pipeline."
        ):
            found.add(str(node.module).rsplit(".", 1)[1])
    return found


def test_every_module_is_in_the_reading_order_of_the_package_docstring() -> None:
    order = [*VOCABULARY, *STAGES, LAST]
    on_disk = {p.stem for p in PIPELINE.glob("*.py")} - {"__init__"}
    assert on_disk == set(order)
    listed = re.findall(r"``(\w+)``  ", shared.pipeline.__doc__ or "")
    assert listed == order


def test_a_stage_calls_the_vocabulary_and_later_stages_only() -> None:
    for index, stage in enumerate(STAGES):
        earlier = set(STAGES[:index])
        assert not pipeline_imports(stage) & earlier, stage
    for module in VOCABULARY[2:]:  # records, claims, steps: no stage but the way out
        assert pipeline_imports(module) <= {*VOCABULARY, "finish"}, module
