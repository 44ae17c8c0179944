"""Sending messages to the Storage queues of a run.

Two queues (names from app settings ``RUN_QUEUE_NAME`` and ``BATCH_QUEUE_NAME``) and their
``-poison`` queues; the message types are in :mod:`shared.pipeline.messages`. A queue message
is at most 64 KiB (https://learn.microsoft.com/azure/storage/queues/storage-queues-introduction)
and the queue trigger expects it base64-encoded, the default ``messageEncoding``
(https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue#host-json).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Protocol

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueServiceClient

#: Largest encoded message Azure Storage accepts.
MAX_MESSAGE_BYTES = 64 * 1024


class OutgoingMessage(Protocol):
    """A message to send: its kind and its body (see :mod:`shared.pipeline.messages`)."""

    @property
    def kind(self) -> str: ...

    def body(self) -> bytes: ...


class MessageTooLarge(ValueError):
    """A message would exceed 64 KiB after base64 (a bug: messages hold references only)."""


def encode(message: OutgoingMessage) -> str:
    """The queue text of a message: base64 of its body. :class:`MessageTooLarge`."""
    text = base64.b64encode(message.body()).decode("ascii")
    if len(text) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"{message.kind} message is {len(text)} bytes encoded")
    return text


class QueueSender(Protocol):
    """Sends messages to a named queue."""

    def send(self, queue: str, messages: Iterable[OutgoingMessage]) -> int:
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

    def send(self, queue: str, messages: Iterable[OutgoingMessage]) -> int:
        if self._create:
            self.ensure(queue)
        client = self._service.get_queue_client(queue)
        sent = 0
        for message in messages:
            client.send_message(encode(message))
            sent += 1
        return sent
