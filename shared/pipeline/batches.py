"""Batch packing: the diff's adds and removes as upload messages (a pure rule).

Snap takes at most 100,000 identifiers of one schema per users request
(:data:`~shared.snapchat.MAX_IDENTIFIERS_PER_REQUEST`), and a request either adds
(``POST``) or removes (``DELETE``) users. Removes go first, in smaller requests
(``REMOVE_CHUNK_SIZE``; large DELETE bodies have failed at other platforms:
https://github.com/facebook/facebook-python-business-sdk/issues/367), then adds. A batch names
``(partition, first, count)`` ranges of the diff files instead of the digests, so its queue
message stays small whatever the audience size.
"""

from __future__ import annotations

from shared.identifiers import SCHEMAS
from shared.pipeline.messages import Op, UploadMessage
from shared.pipeline.records import DiffCounts
from shared.snapchat import MAX_IDENTIFIERS_PER_REQUEST


def pack(run_id: str, per: DiffCounts, remove_chunk: int) -> list[UploadMessage]:
    """The upload batches of run ``run_id``, numbered from 0: removes, then adds, each of
    one schema and at most ``remove_chunk`` (removes) or 100,000 (adds) identifiers.

    ``per[schema][partition]`` is a diff record's numbers (``adds``, ``removes``); ranges
    follow partition order and fill each batch before the next one starts.
    """
    packed: list[UploadMessage] = []
    order: tuple[tuple[Op, str, int], ...] = (
        ("remove", "removes", remove_chunk),
        ("add", "adds", MAX_IDENTIFIERS_PER_REQUEST),
    )
    for op, key, limit in order:
        for schema in SCHEMAS:
            ranges: list[tuple[int, int, int]] = []
            size = 0
            for partition in sorted(per[schema.value]):
                count = per[schema.value][partition].get(key, 0)
                start = 0
                while count > 0:
                    take = min(count, limit - size)
                    ranges.append((partition, start, take))
                    size += take
                    start += take
                    count -= take
                    if size == limit:
                        packed.append(UploadMessage(run_id, len(packed), schema, op, tuple(ranges)))
                        ranges, size = [], 0
            if ranges:
                packed.append(UploadMessage(run_id, len(packed), schema, op, tuple(ranges)))
    return packed
