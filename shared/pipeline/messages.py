"""What travels on the two queues: one small type per message kind, encoded and decoded here.

The run queue carries :class:`PlanMessage`, :class:`ReadMessage`, :class:`DiffMessage` and
:class:`ClearMessage`; the batch queue carries :class:`UploadMessage`. A message holds
references only (a run id, a part or partition number, ``[partition, first, count]`` ranges
into staging files), never an identifier, so it stays far below Azure's 64 KiB limit
(:mod:`shared.queues` sends it).

Wire format (version 1, unchanged since the first release): the body is compact JSON,
``{"v":1,"kind":...,"run_id":...,<the kind's fields>}`` with the fields in the order the
classes below declare them, e.g. ``{"v":1,"kind":"read","run_id":"2026...","part":0}``.
:func:`decode` also reads a body without ``"v"``, and ignores fields it does not know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from shared.identifiers import Schema

#: The ``"v"`` written into every body.
MESSAGE_VERSION = 1

#: A batch's ranges: ``(partition, first, count)`` each.
Ranges = tuple[tuple[int, int, int], ...]
#: What a batch does to the audience: Snap's ``POST`` or ``DELETE`` of users.
Op = Literal["add", "remove"]


@dataclass(frozen=True)
class _Message:
    kind: ClassVar[str]
    run_id: str

    def body(self) -> bytes:
        """The message as the Functions host hands it to the function (base64-decoded)."""
        wire: dict[str, Any] = {"v": MESSAGE_VERSION, "kind": self.kind}
        wire.update((f.name, getattr(self, f.name)) for f in fields(self))
        return json.dumps(wire, separators=(",", ":")).encode()


@dataclass(frozen=True)
class PlanMessage(_Message):
    """Plan run ``run_id``: the first message of every run (sent by :mod:`shared.run_control`)."""

    kind: ClassVar[str] = "plan"
    #: Plan writes no completion record.
    item: ClassVar[None] = None

    @property
    def step(self) -> str:
        """The step in words, for error messages."""
        return "plan step"


@dataclass(frozen=True)
class ReadMessage(_Message):
    """Read CSV part ``part`` (an index into ``Run.parts``)."""

    kind: ClassVar[str] = "read"
    part: int

    @property
    def step(self) -> str:
        """The step in words, for error messages."""
        return f"read step (part {self.part})"

    @property
    def item(self) -> int:
        """The item of this message's completion record."""
        return self.part


@dataclass(frozen=True)
class DiffMessage(_Message):
    """Diff hash partition ``partition`` (``0 <= partition < 2 ** Run.bits``)."""

    kind: ClassVar[str] = "diff"
    partition: int

    @property
    def step(self) -> str:
        """The step in words, for error messages."""
        return f"diff step (hash partition {self.partition})"

    @property
    def item(self) -> int:
        """The item of this message's completion record."""
        return self.partition


@dataclass(frozen=True)
class ClearMessage(_Message):
    """Empty the run's audience before uploading (``full_refresh: "clear_first"``)."""

    kind: ClassVar[str] = "clear"
    #: The item of this message's completion record.
    item: ClassVar[str] = "done"

    @property
    def step(self) -> str:
        """The step in words, for error messages."""
        return "clear step (emptying the audience)"


@dataclass(frozen=True)
class UploadMessage(_Message):
    """Upload batch number ``batch``: one Snap request, one ``schema``, one ``op``.

    ``ranges`` are ``(partition, first, count)``: ``count`` digests from index ``first`` of
    the diff file of ``partition`` (:func:`shared.layout.diff_file`).
    """

    kind: ClassVar[str] = "upload"
    batch: int
    schema: Schema
    op: Op
    ranges: Ranges

    @property
    def item(self) -> int:
        """The item of this message's completion record."""
        return self.batch

    @property
    def step(self) -> str:
        """The step in words, for error messages."""
        verb = "add to" if self.op == "add" else "remove from"
        return f"upload step (batch {self.batch}: {verb} the audience, {self.schema})"

    @property
    def identifiers(self) -> int:
        """How many digests the batch sends."""
        return sum(count for _, _, count in self.ranges)


RunQueueMessage = PlanMessage | ReadMessage | DiffMessage | ClearMessage
Message = RunQueueMessage | UploadMessage


def decode(body: bytes) -> Message:
    """The message in ``body``; ``ValueError`` when it is not a message of this app."""
    data = json.loads(body)
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError("not a message of this app")
    kind = data["kind"]
    try:
        run_id = str(data["run_id"])
        if kind == "plan":
            return PlanMessage(run_id)
        if kind == "read":
            return ReadMessage(run_id, int(data["part"]))
        if kind == "diff":
            return DiffMessage(run_id, int(data["partition"]))
        if kind == "clear":
            return ClearMessage(run_id)
        if kind == "upload":
            op = data["op"]
            if op not in ("add", "remove"):
                raise ValueError(f"unknown upload op {op!r}")
            return UploadMessage(
                run_id,
                int(data["batch"]),
                Schema(data["schema"]),
                op,
                tuple(_range(r) for r in data["ranges"]),
            )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a {kind} message without a valid {exc}") from None
    raise ValueError(f"unknown message kind {kind!r}")


def _range(item: Any) -> tuple[int, int, int]:
    partition, first, count = item
    return int(partition), int(first), int(count)
