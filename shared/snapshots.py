"""Reading and pruning hash snapshots (the set of hashes last sent, per export and schema).

A snapshot is written by a run into ``snapshots/<export>/<run>/`` partition by partition
and becomes current only when the run succeeds (``Export.snapshot`` points at it). A later
run may partition differently (``bits`` follows the export size), so reading partition
``p`` of ``bits`` from a snapshot of other ``bits`` filters or concatenates its files.
"""

from __future__ import annotations

from shared import layout
from shared.hash_spool import DIGEST_BYTES, partition_of, split_digests
from shared.identifiers import Schema
from shared.models import Snapshot
from shared.state_store import StateStore


def read_partition(
    state: StateStore,
    export_id: str,
    snapshot: Snapshot | None,
    schema: Schema,
    partition: int,
    bits: int,
) -> list[bytes]:
    """Digests of ``snapshot`` that fall in ``partition`` of ``bits`` (in no order); [] if none."""
    if snapshot is None:
        return []
    old_bits = snapshot.bits
    if old_bits == bits:
        data = state.read_bytes(layout.snapshot_file(export_id, snapshot.run_id, schema, partition))
        return split_digests(data)
    if old_bits < bits:
        source = partition >> (bits - old_bits)
        name = layout.snapshot_file(export_id, snapshot.run_id, schema, source)
        return [
            d for d in split_digests(state.read_bytes(name)) if partition_of(d, bits) == partition
        ]
    shift = old_bits - bits
    digests = []
    for source in range(partition << shift, (partition + 1) << shift):
        name = layout.snapshot_file(export_id, snapshot.run_id, schema, source)
        digests.extend(split_digests(state.read_bytes(name)))
    return digests


def remove_digests(
    state: StateStore, export_id: str, snapshot: Snapshot, schema: Schema, digests: set[bytes]
) -> int:
    """Remove ``digests`` from a stored snapshot (erasure); returns how many were present."""
    removed = 0
    by_partition: dict[int, set[bytes]] = {}
    for digest in digests:
        by_partition.setdefault(partition_of(digest, snapshot.bits), set()).add(digest)
    for partition, wanted in by_partition.items():
        name = layout.snapshot_file(export_id, snapshot.run_id, schema, partition)
        data = state.read_bytes(name)
        if not data:
            continue
        kept = [d for d in split_digests(data) if d not in wanted]
        gone = len(data) // DIGEST_BYTES - len(kept)
        if gone:
            state.write_bytes(name, b"".join(kept))
            removed += gone
    return removed
