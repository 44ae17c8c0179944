"""Spooling 32-byte digests into partitions by hash prefix, so any export size fits in memory.

Digests are partitioned by their leading bits (``2**bits`` partitions, ``bits`` in 0..8);
each partition is later loaded alone, deduplicated and sorted. Because partitions follow
the digest order, concatenating sorted partitions gives a globally sorted list. Files hold
raw concatenated digests (32 bytes each), never raw identifiers.
"""

from __future__ import annotations

import itertools
import math
import operator
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from shared.identifiers import SCHEMAS, Schema

DIGEST_BYTES = 32
#: Source bytes per partition that :func:`partition_bits` aims for (memory per diff step:
#: a diff step of a 24 MiB partition peaks near 150 MB, and host.json runs 4 at once, so a
#: worker stays under 1 GiB; 48 MiB took a 10M-profile rerun to 1.2 GiB).
TARGET_SOURCE_BYTES_PER_PARTITION = 24 * 1024 * 1024
MAX_PARTITION_BITS = 8


def partition_bits(source_bytes: int) -> int:
    """Prefix bits for an export of ``source_bytes``: 0 (one partition) up to 8 (256)."""
    if source_bytes <= TARGET_SOURCE_BYTES_PER_PARTITION:
        return 0
    return min(
        MAX_PARTITION_BITS, math.ceil(math.log2(source_bytes / TARGET_SOURCE_BYTES_PER_PARTITION))
    )


def partition_of(digest: bytes, bits: int) -> int:
    """Partition index of a digest: its first ``bits`` bits."""
    return digest[0] >> (8 - bits) if bits else 0


_DIGEST = struct.Struct(f"{DIGEST_BYTES}s")


def split_digests(data: bytes) -> list[bytes]:
    """A concatenation of digests as a list of 32-byte values."""
    if len(data) % DIGEST_BYTES:
        raise ValueError(f"digest data of {len(data)} bytes is not a multiple of 32")
    return [digest for (digest,) in _DIGEST.iter_unpack(data)]


def sorted_unique(chunks: Iterable[bytes]) -> tuple[list[bytes], int]:
    """Sorted distinct digests of concatenated digest data, and how many were duplicates."""
    values: list[bytes] = []
    for data in chunks:
        values += split_digests(data)
    total = len(values)
    # Sorting the list (objects in allocation order) is much faster than sorting a set
    # (hash order, scattered in memory); duplicates are then neighbours, and the C-level
    # pass below keeps the last of each run of equal values.
    values.sort()
    following = itertools.islice(values, 1, None)
    if any(map(operator.eq, values, following)):
        last = map(operator.ne, values, itertools.chain(itertools.islice(values, 1, None), [b""]))
        values = list(itertools.compress(values, last))
    return values, total - len(values)


class PartitionWriter(Protocol):
    """Where a :class:`HashSpool` writes: appends ``data`` to (schema, partition)."""

    def write(self, schema: Schema, partition: int, data: bytes) -> None: ...


class HashSpool:
    """Buffers digests per (schema, partition) and hands full buffers to a writer.

    ``buffer_bytes`` bounds the memory held across all buffers. Call :meth:`flush` at the
    end. ``counts[schema]`` is the number of digests added.
    """

    def __init__(self, writer: PartitionWriter, bits: int, buffer_bytes: int = 32 << 20) -> None:
        self.bits = bits
        self._writer = writer
        self._shift = 8 - bits
        self.buffers: dict[Schema, list[bytearray]] = {
            s: [bytearray() for _ in range(1 << bits)] for s in SCHEMAS
        }
        self._limit = max(DIGEST_BYTES, buffer_bytes // (len(SCHEMAS) << bits))
        self._buffered = 0
        self._budget = buffer_bytes
        self.counts: dict[Schema, int] = {s: 0 for s in SCHEMAS}

    def add(self, schema: Schema, digest: bytes) -> None:
        """Add one digest (used by code outside the hot loop)."""
        self.buffers[schema][digest[0] >> self._shift if self.bits else 0] += digest
        self.counts[schema] += 1
        self._buffered += DIGEST_BYTES
        if self._buffered >= self._budget:
            self.flush(partial=True)

    def note_added(self, schema: Schema, count: int) -> None:
        """Account for ``count`` digests appended directly to :attr:`buffers`."""
        self.counts[schema] += count
        self._buffered += count * DIGEST_BYTES
        if self._buffered >= self._budget:
            self.flush(partial=True)

    def flush(self, partial: bool = False) -> None:
        """Write buffered digests; with ``partial`` only buffers above their share."""
        for schema, buffers in self.buffers.items():
            for partition, buffer in enumerate(buffers):
                if buffer and (not partial or len(buffer) >= self._limit):
                    self._writer.write(schema, partition, bytes(buffer))
                    self._buffered -= len(buffer)
                    buffer.clear()
        if partial and self._buffered >= self._budget // 2:
            self.flush(partial=False)


class LocalPartitionFiles:
    """Digests of several parts in temporary local files (used by ``dry-run``).

    :meth:`part` gives one part's :class:`PartitionWriter`; :meth:`read` concatenates a
    (schema, partition) over every part, in part order.
    """

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="snap-hashes-")
        self.root = Path(self._dir.name)

    def part(self, index: int) -> PartFiles:
        """An empty writer for part ``index`` (anything it wrote before is dropped)."""
        for stale in self.root.glob(f"*-{index:05d}.bin"):
            stale.unlink()
        return PartFiles(self.root, index)

    def read(self, schema: Schema, partition: int) -> bytes:
        """Every digest written to (``schema``, ``partition``), part after part."""
        paths = sorted(self.root.glob(f"{schema.value}-{partition:03d}-*.bin"))
        return b"".join(path.read_bytes() for path in paths)

    def close(self) -> None:
        self._dir.cleanup()


class PartFiles:
    """One part's :class:`PartitionWriter` of :class:`LocalPartitionFiles`."""

    def __init__(self, root: Path, index: int) -> None:
        self._root = root
        self._index = index

    def write(self, schema: Schema, partition: int, data: bytes) -> None:
        name = f"{schema.value}-{partition:03d}-{self._index:05d}.bin"
        with open(self._root / name, "ab") as handle:
            handle.write(data)
