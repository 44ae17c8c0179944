"""JSON documents and binary files in a blob container, with optimistic concurrency.

Configuration (connections, exports), run records and completion records live as JSON
blobs; concurrent writers never lose updates because every read-modify-write goes through
:meth:`StateStore.update`, a compare-and-swap loop on the blob's ETag (``If-Match``).
Records that must be written once (completion records, claims) use ``If-None-Match: *``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, ContainerClient

JsonDict = dict[str, Any]


class ConcurrencyError(RuntimeError):
    """A compare-and-swap kept losing to other writers."""


class StateStore:
    """One blob container used as a document and file store."""

    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    def ensure(self) -> None:
        """Create the container when it does not exist (locally; Bicep creates it in Azure)."""
        try:
            self.container.create_container()
        except ResourceExistsError:
            pass

    # -- JSON documents -------------------------------------------------------------------
    def read(self, name: str) -> tuple[JsonDict, str] | None:
        """The document and its ETag, or ``None``."""
        try:
            downloader = self.container.get_blob_client(name).download_blob()
            data = downloader.readall()
        except ResourceNotFoundError:
            return None
        return json.loads(data), str(downloader.properties.etag)

    def get(self, name: str) -> JsonDict | None:
        """The document, or ``None``."""
        found = self.read(name)
        return found[0] if found else None

    def create(self, name: str, document: JsonDict) -> bool:
        """Write only if absent; ``False`` when it already exists."""
        try:
            self.container.upload_blob(name, _dump(document), overwrite=False)
        except ResourceExistsError:
            return False
        return True

    def put(self, name: str, document: JsonDict) -> None:
        """Write unconditionally."""
        self.container.upload_blob(name, _dump(document), overwrite=True)

    def replace(self, name: str, document: JsonDict, etag: str) -> bool:
        """Write only if the ETag still matches; ``False`` when someone else wrote first."""
        try:
            self.container.get_blob_client(name).upload_blob(
                _dump(document),
                overwrite=True,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def update(
        self, name: str, mutate: Callable[[JsonDict], JsonDict | None], *, attempts: int = 20
    ) -> JsonDict | None:
        """Read-modify-write with ETags. ``mutate`` gets a copy and returns the new document,
        or ``None`` to leave it unchanged. Returns what is stored afterwards, ``None`` if the
        document does not exist. :class:`ConcurrencyError` after ``attempts`` lost races.

        After a lost race ``mutate`` is called again on the newer document, so it may run
        more than once for one update: it must *assign*, not accumulate (set fields of the
        copy it gets; never append to or add into anything outside it, nor count on running
        once). The typed wrappers for runs and exports are in :mod:`shared.pipeline.records`.
        """
        for attempt in range(attempts):
            found = self.read(name)
            if found is None:
                return None
            document, etag = found
            changed = mutate(json.loads(json.dumps(document)))
            if changed is None:
                return document
            if self.replace(name, changed, etag):
                return changed
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
        raise ConcurrencyError(f"{name}: too many concurrent updates")

    def delete(self, name: str, *, etag: str | None = None) -> bool:
        """Delete if present (and, given ``etag``, only if unchanged since it was read).

        ``False`` when it was absent or, with ``etag``, someone else wrote it first.
        """
        try:
            if etag is None:
                self.container.delete_blob(name)
            else:
                self.container.delete_blob(
                    name, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceNotFoundError, ResourceModifiedError):
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``prefix``; returns how many."""
        names = list(self.names(prefix))
        for start in range(0, len(names), 256):
            chunk = names[start : start + 256]
            try:
                self.container.delete_blobs(*chunk)
            except Exception:
                for name in chunk:
                    self.delete(name)
        return len(names)

    def names(self, prefix: str) -> Iterator[str]:
        """Blob names under ``prefix`` in name order."""
        yield from self.container.list_blob_names(name_starts_with=prefix)

    def documents(self, prefix: str) -> Iterator[tuple[str, JsonDict]]:
        """``(name, document)`` of every JSON document under ``prefix``, in name order.

        The names are listed first; a document deleted after that is skipped.
        """
        for name in list(self.names(prefix)):
            document = self.get(name)
            if document is not None:
                yield name, document

    # -- binary files ---------------------------------------------------------------------
    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a whole file."""
        self.container.upload_blob(name, data, overwrite=True)

    def read_bytes(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """A file or a byte range of it; ``b""`` when it does not exist."""
        try:
            blob = self.container.get_blob_client(name)
            if length == 0:
                return b""
            if length is None and not offset:
                return blob.download_blob().readall()
            return blob.download_blob(offset=offset, length=length).readall()
        except ResourceNotFoundError:
            return b""


class BlockWriter:
    """Builds block blobs from appended pieces; :meth:`commit` makes them visible.

    Re-running with the same names replaces the previous content (the committed block list
    is rewritten), which keeps redelivered queue messages idempotent.
    """

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._blocks: dict[str, list[str]] = {}

    def append(self, name: str, data: bytes) -> None:
        """Stage ``data`` as the next block of ``name``."""
        blocks = self._blocks.setdefault(name, [])
        block_id = f"{len(blocks):08d}"
        self._store.container.get_blob_client(name).stage_block(block_id, data)
        blocks.append(block_id)

    def commit(self) -> dict[str, int]:
        """Commit every blob written; returns blob name -> number of blocks."""
        for name, blocks in self._blocks.items():
            self._store.container.get_blob_client(name).commit_block_list(
                [BlobBlock(block_id=b) for b in blocks]
            )
        return {name: len(blocks) for name, blocks in self._blocks.items()}


def _dump(document: JsonDict) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
