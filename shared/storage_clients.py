"""Azure Storage clients and export stores, created in one place.

Locally (and in tests) host storage is a connection string (``UseDevelopmentStorage=true``
for Azurite); in Azure it is identity-based (``AzureWebJobsStorage__*`` app settings and
the user-assigned identity named by ``AZURE_CLIENT_ID``). Clients are cached per process,
as the Functions connection guidance recommends.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import QueueServiceClient

from shared.cdm_export import ContainerNotFound, StoredFile
from shared.config import Settings
from shared.csv_source import SourceError, buffered

#: Blob download sizes: bounded memory per open file (the SDK's default first GET,
#: ``max_single_get_size``, buffers 32 MiB:
#: https://learn.microsoft.com/python/api/azure-storage-blob/azure.storage.blob.blobclient).
DOWNLOAD_CHUNK_BYTES = 4 * 1024 * 1024

_BLOB_OPTIONS: dict[str, Any] = {
    "max_single_get_size": DOWNLOAD_CHUNK_BYTES,
    "max_chunk_get_size": DOWNLOAD_CHUNK_BYTES,
    "max_block_size": DOWNLOAD_CHUNK_BYTES,
    "retry_total": 5,
    "initial_backoff": 2,
    "increment_base": 2,
}


#: For checks inside an HTTP request (saving an export): one attempt, bounded waits (seconds).
_QUICK_OPTIONS: dict[str, Any] = {
    **_BLOB_OPTIONS,
    "retry_total": 0,
    "connection_timeout": 5,
    "read_timeout": 10,
}


@functools.lru_cache(maxsize=1)
def azure_credential() -> TokenCredential:
    """``DefaultAzureCredential`` (managed identity in Azure, developer login locally)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def host_blob_service(settings: Settings) -> BlobServiceClient:
    """Blob service of host storage (state, staging)."""
    return _blob_service(settings.storage_connection_string, _host_blob_url(settings))


def host_queue_service(settings: Settings) -> QueueServiceClient:
    """Queue service of host storage (run and batch queues)."""
    conn = settings.storage_connection_string
    if conn:
        return _queue_from_conn(conn)
    return _queue_from_url(settings.queue_service_url)


def exports_blob_service(settings: Settings, *, quick: bool = False) -> BlobServiceClient:
    """Blob service of the account Customer Insights exports to (default: host storage).

    ``quick``: no retry, connect within 5 s, each read within 10 s (for checks made while
    an HTTP request waits); otherwise the SDK's retries with backoff.
    """
    conn = settings.get("EXPORTS_CONNECTION_STRING")
    url = settings.get("EXPORTS_ACCOUNT_URL")
    if conn or url:
        return _blob_service(conn, url, quick) if quick else _blob_service(conn, url)
    if not quick:
        return host_blob_service(settings)
    return _blob_service(settings.storage_connection_string, _host_blob_url(settings), True)


def _host_blob_url(settings: Settings) -> str | None:
    return None if settings.storage_connection_string else settings.blob_service_url


@functools.lru_cache(maxsize=8)
def _blob_service(conn: str | None, url: str | None, quick: bool = False) -> BlobServiceClient:
    options = _QUICK_OPTIONS if quick else _BLOB_OPTIONS
    if conn:
        return BlobServiceClient.from_connection_string(conn, **options)
    assert url is not None
    return BlobServiceClient(url, credential=azure_credential(), **options)


@functools.lru_cache(maxsize=4)
def _queue_from_conn(conn: str) -> QueueServiceClient:
    return QueueServiceClient.from_connection_string(conn)


@functools.lru_cache(maxsize=4)
def _queue_from_url(url: str) -> QueueServiceClient:
    return QueueServiceClient(url, credential=azure_credential())


class BlobExportStore:
    """An :class:`~shared.cdm_export.ExportStore` over one blob container."""

    def __init__(self, container: ContainerClient) -> None:
        self.container = container

    def list(self, prefix: str) -> Iterator[StoredFile]:
        try:
            for blob in self.container.list_blobs(name_starts_with=prefix):
                yield StoredFile(blob.name, int(blob.size or 0))
        except ResourceNotFoundError:
            raise ContainerNotFound(
                f"container '{self.container.container_name}' does not exist"
            ) from None

    def open(self, name: str) -> BinaryIO:
        try:
            downloader = self.container.get_blob_client(name).download_blob(max_concurrency=1)
        except ResourceNotFoundError:
            raise SourceError(f"{name}: not found (deleted while the run started?)") from None
        return buffered(downloader.chunks())

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return self.container.get_blob_client(name).download_blob().readall()
        except ResourceNotFoundError:
            return None


class LocalExportStore:
    """An :class:`~shared.cdm_export.ExportStore` over a local folder (for ``dry-run``)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def list(self, prefix: str) -> Iterator[StoredFile]:
        paths = sorted(p for p in self._root.rglob("*") if p.is_file())
        for path in paths:
            name = path.relative_to(self._root).as_posix()
            if name.startswith(prefix):
                yield StoredFile(name, path.stat().st_size)

    def open(self, name: str) -> BinaryIO:
        try:
            return open(self._root / name, "rb")
        except OSError as exc:
            raise SourceError(f"{name}: cannot be read ({exc.strerror})") from None

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self._root / name).read_bytes()
        except FileNotFoundError:
            return None
