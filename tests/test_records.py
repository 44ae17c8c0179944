"""Unit: the compare-and-swap helpers of shared/pipeline/records.py under a lost race."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from shared.models import Phase, Run
from shared.pipeline import records
from shared.state_store import StateStore


class RacingStore(StateStore):
    """Serves ``documents`` one read after another; every write loses to another writer."""

    def __init__(self, *documents: dict[str, Any] | None) -> None:
        self._documents = list(documents)
        self.calls = 0

    def read(self, name: str) -> tuple[dict[str, Any], str] | None:
        document = self._documents.pop(0)
        return (
            (json.loads(json.dumps(document)), f"etag-{len(self._documents)}") if document else None
        )

    def replace(self, name: str, document: dict[str, Any], etag: str) -> bool:
        return False


RUN = Run(id="run-1", export_id="export-1", trigger="schedule").model_dump(mode="json")


def test_a_run_deleted_between_two_attempts_is_not_returned_from_the_first() -> None:
    services = SimpleNamespace(state=RacingStore(RUN, None))

    def change(run: Run) -> bool:
        run.phase = Phase.READ
        return True

    with pytest.raises(records.RunFailed) as failed:
        records.update_run(services, "run-1", change)  # type: ignore[arg-type]
    assert failed.value.code == "run_not_found"


def test_a_change_that_runs_twice_sees_the_newer_record_each_time() -> None:
    newer = {**RUN, "counts": {"parts": 2}}
    seen: list[dict[str, Any]] = []

    def change(run: Run) -> bool:
        seen.append(dict(run.counts))
        run.counts.update(batches_total=3)
        return len(seen) == 1  # the second attempt leaves the record as it is

    stored = records.update_run(
        SimpleNamespace(state=RacingStore(RUN, newer)),  # type: ignore[arg-type]
        "run-1",
        change,
    )
    assert seen == [{}, {"parts": 2}]
    assert stored.counts == {"parts": 2}
