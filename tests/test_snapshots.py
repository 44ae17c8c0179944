"""Unit: reading a snapshot partition when the run partitions by more or fewer bits."""

from __future__ import annotations

import hashlib

from shared import layout, snapshots
from shared.hash_spool import partition_of
from shared.identifiers import Schema
from shared.models import Snapshot


class Files:
    """The part of a StateStore that ``read_partition`` uses: files by name, in memory."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def read_bytes(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        return self.files.get(name, b"")


DIGESTS = [hashlib.sha256(f"person{i}".encode()).digest() for i in range(400)]


def written(bits: int) -> tuple[Files, Snapshot]:
    """The 400 digests stored as a snapshot of ``bits`` bits (as the diff step writes it)."""
    files = Files()
    for partition in range(1 << bits):
        kept = [d for d in DIGESTS if partition_of(d, bits) == partition]
        name = layout.snapshot_file("export-1", "run-1", Schema.EMAIL, partition)
        files.files[name] = b"".join(kept)
    return files, Snapshot(run_id="run-1", bits=bits)


def expected(partition: int, bits: int) -> set[bytes]:
    return {d for d in DIGESTS if partition_of(d, bits) == partition}


def read(files: Files, snapshot: Snapshot | None, partition: int, bits: int) -> list[bytes]:
    return snapshots.read_partition(
        files,  # type: ignore[arg-type]
        "export-1",
        snapshot,
        Schema.EMAIL,
        partition,
        bits,
    )


def test_same_bits_reads_the_one_file() -> None:
    files, snapshot = written(2)
    for partition in range(4):
        assert set(read(files, snapshot, partition, 2)) == expected(partition, 2)


def test_more_bits_now_splits_an_old_partition() -> None:
    files, snapshot = written(1)  # 2 files, read as 8 partitions
    for partition in range(8):
        got = read(files, snapshot, partition, 3)
        assert set(got) == expected(partition, 3)
        assert len(got) == len(expected(partition, 3))
    assert sum(len(read(files, snapshot, p, 3)) for p in range(8)) == len(DIGESTS)


def test_fewer_bits_now_joins_old_partitions() -> None:
    files, snapshot = written(3)  # 8 files, read as 2 partitions
    for partition in range(2):
        got = read(files, snapshot, partition, 1)
        assert sorted(got) == sorted(expected(partition, 1))
    files_zero, snapshot_zero = written(2)  # 4 files, read as one partition
    assert sorted(read(files_zero, snapshot_zero, 0, 0)) == sorted(DIGESTS)


def test_no_snapshot_or_an_absent_file_is_empty() -> None:
    files, snapshot = written(1)
    assert read(files, None, 0, 1) == []
    assert read(Files(), snapshot, 1, 1) == []
    assert read(Files(), snapshot, 5, 3) == []
