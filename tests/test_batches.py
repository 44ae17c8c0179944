"""Unit: packing the diff's adds and removes into upload batches."""

from __future__ import annotations

from shared.identifiers import Schema
from shared.pipeline.batches import pack
from shared.pipeline.records import DiffCounts
from shared.snapchat import MAX_IDENTIFIERS_PER_REQUEST

E, P, M = "EMAIL_SHA256", "PHONE_SHA256", "MOBILE_AD_ID_SHA256"


def per(**schemas: dict[int, tuple[int, int]]) -> DiffCounts:
    """``per(EMAIL={partition: (adds, removes)})`` as the diff records hold them."""
    names = {"EMAIL": E, "PHONE": P, "MAID": M}
    counts: DiffCounts = {E: {}, P: {}, M: {}}
    for short, partitions in schemas.items():
        for partition, (adds, removes) in partitions.items():
            counts[names[short]][partition] = {"adds": adds, "removes": removes}
    return counts


def shape(run_id: str, counts: DiffCounts, chunk: int) -> list[tuple]:
    return [
        (b.batch, b.schema.value, b.op, [list(r) for r in b.ranges])
        for b in pack(run_id, counts, chunk)
    ]


def test_removes_come_first_then_adds_each_of_one_schema() -> None:
    counts = per(EMAIL={0: (2, 1), 1: (1, 0)}, PHONE={1: (3, 2)})
    assert shape("run-1", counts, 10) == [
        (0, E, "remove", [[0, 0, 1]]),
        (1, P, "remove", [[1, 0, 2]]),
        (2, E, "add", [[0, 0, 2], [1, 0, 1]]),
        (3, P, "add", [[1, 0, 3]]),
    ]
    assert {b.run_id for b in pack("run-1", counts, 10)} == {"run-1"}


def test_removes_are_cut_at_the_chunk_size_across_partitions() -> None:
    counts = per(EMAIL={0: (0, 4), 1: (0, 3), 2: (0, 3)})
    assert shape("r", counts, 4) == [
        (0, E, "remove", [[0, 0, 4]]),
        (1, E, "remove", [[1, 0, 3], [2, 0, 1]]),
        (2, E, "remove", [[2, 1, 2]]),
    ]


def test_adds_are_cut_at_snaps_request_limit() -> None:
    limit = MAX_IDENTIFIERS_PER_REQUEST
    counts = per(MAID={0: (limit - 1, 0), 3: (2, 0)})
    assert shape("r", counts, 10) == [
        (0, M, "add", [[0, 0, limit - 1], [3, 0, 1]]),
        (1, M, "add", [[3, 1, 1]]),
    ]
    batches = pack("r", counts, 10)
    assert [b.identifiers for b in batches] == [limit, 1]
    assert all(b.schema is Schema.MOBILE_AD_ID for b in batches)


def test_nothing_to_send_is_no_batch() -> None:
    assert pack("r", per(EMAIL={0: (0, 0), 1: (0, 0)}), 10) == []
