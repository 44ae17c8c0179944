"""Queue messages between the steps of a run, and sending them.

Two Storage queues (names from app settings ``RUN_QUEUE_NAME`` and ``BATCH_QUEUE_NAME``):
the run queue carries the steps ``plan``, ``read``, ``diff`` and ``clear``; the batch
queue carries ``upload`` batches. A message is JSON with references only (run id, part
index, hash-partition index, blob ranges), never identifiers: Storage queue messages are at
most 64 KiB after base64 (``research/azure-functions.md`` section 3.1). Messages are
base64-encoded, the Functions host's default ``messageEncoding``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any, Protocol

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueServiceClient

#: Largest encoded message Azure Storage accepts.
MAX_MESSAGE_BYTES = 64 * 1024
MESSAGE_VERSION = 1


class MessageTooLarge(ValueError):
    """A message would exceed 64 KiB after base64 (a bug: messages hold references only)."""


def encode(message: dict[str, Any]) -> str:
    """The queue text of a message: base64 of compact JSON. :class:`MessageTooLarge`."""
    text = base64.b64encode(
        json.dumps({"v": MESSAGE_VERSION, **message}, separators=(",", ":")).encode()
    ).decode("ascii")
    if len(text) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"{message.get('kind')} message is {len(text)} bytes encoded")
    return text


def decode(body: bytes) -> dict[str, Any]:
    """A message from its body as the Functions host hands it over (already base64-decoded)."""
    data = json.loads(body)
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError("not a message of this app")
    return data


class QueueSender(Protocol):
    """Sends messages to a named queue."""

    def send(self, queue: str, messages: Iterable[dict[str, Any]]) -> int:
        """Send each message; returns how many were sent."""
        ...


class StorageQueueSender:
    """A :class:`QueueSender` over Azure Storage queues (Azurite locally)."""

    def __init__(self, service: QueueServiceClient, *, create: bool = False) -> None:
        self._service = service
        self._create = create
        self._created: set[str] = set()

    def ensure(self, queue: str) -> None:
        """Create the queue and its poison queue if missing (locally; Bicep does it in Azure)."""
        for name in (queue, f"{queue}-poison"):
            if name in self._created:
                continue
            try:
                self._service.get_queue_client(name).create_queue()
            except ResourceExistsError:
                pass
            self._created.add(name)

    def send(self, queue: str, messages: Iterable[dict[str, Any]]) -> int:
        if self._create:
            self.ensure(queue)
        client = self._service.get_queue_client(queue)
        sent = 0
        for message in messages:
            client.send_message(encode(message))
            sent += 1
        return sent
