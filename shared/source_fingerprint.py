"""Content fingerprints of export files, to recognise an export that did not change.

Customer Insights writes a new dated run folder on every refresh, even when a segment's
members are the same. A run compares the SHA-256 of each part file's bytes (and the export's
data-matching settings) with those of the last successful run: when every part is the same,
the audience already holds exactly this export, so the run ends at once without reading,
hashing, diffing or sending anything. Fingerprints are computed while parts are read (no
extra pass); the check itself reads the parts only when their sizes all match the last run's.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from typing import Any, BinaryIO

CHUNK_BYTES = 1 << 20


class HashingReader(io.RawIOBase):
    """A raw stream that passes bytes through from ``source`` and hashes them (SHA-256)."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source = source
        self._hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._source.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._hash.update(data)
        self.size += size
        return size

    def drain(self) -> None:
        """Hash whatever the consumer did not read."""
        while chunk := self._source.read(CHUNK_BYTES):
            self._hash.update(chunk)
            self.size += len(chunk)

    def hexdigest(self) -> str:
        """SHA-256 of every byte that passed through."""
        return self._hash.hexdigest()


def buffered(reader: HashingReader) -> BinaryIO:
    """A buffered stream over ``reader`` (what the CSV reader expects)."""
    return io.BufferedReader(reader, buffer_size=CHUNK_BYTES)


def fingerprint(stream: BinaryIO) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a whole stream."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def matching_key(settings: dict[str, Any]) -> str:
    """A key for everything besides the bytes that decides which digests a file yields."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def same_parts(a: Iterable[Iterable[Any]], b: Iterable[Iterable[Any]]) -> bool:
    """True when two ``[size, fingerprint]`` collections hold the same files."""
    return sorted(map(tuple, a)) == sorted(map(tuple, b))
