"""Unit: queue messages, their wire format (byte for byte) and decoding old bodies."""

from __future__ import annotations

import base64
import json

import pytest

from shared.identifiers import Schema
from shared.pipeline.messages import (
    ClearMessage,
    DiffMessage,
    PlanMessage,
    ReadMessage,
    UploadMessage,
    decode,
)
from shared.queues import encode

RUN = "20261129T031500Z-1f3a5b7c9d0e"

#: Bodies exactly as the first release wrote them (json.dumps({"v": 1, **message}) with
#: compact separators), for each kind.
WIRE = {
    PlanMessage(RUN): b'{"v":1,"kind":"plan","run_id":"%s"}',
    ReadMessage(RUN, 3): b'{"v":1,"kind":"read","run_id":"%s","part":3}',
    DiffMessage(RUN, 255): b'{"v":1,"kind":"diff","run_id":"%s","partition":255}',
    ClearMessage(RUN): b'{"v":1,"kind":"clear","run_id":"%s"}',
    UploadMessage(RUN, 7, Schema.PHONE, "remove", ((0, 10, 5), (1, 0, 3))): (
        b'{"v":1,"kind":"upload","run_id":"%s","batch":7,"schema":"PHONE_SHA256",'
        b'"op":"remove","ranges":[[0,10,5],[1,0,3]]}'
    ),
}


@pytest.mark.parametrize("message", list(WIRE), ids=lambda m: m.kind)
def test_each_kind_is_written_as_before_and_read_back(message: object) -> None:
    body = WIRE[message] % RUN.encode()  # type: ignore[index]
    assert message.body() == body  # type: ignore[attr-defined]
    assert decode(body) == message
    assert base64.b64decode(encode(message)) == body  # type: ignore[arg-type]


def test_bodies_without_a_version_or_with_extra_fields_still_decode() -> None:
    assert decode(json.dumps({"kind": "diff", "run_id": RUN, "partition": 0}).encode()) == (
        DiffMessage(RUN, 0)
    )
    old = {"v": 1, "kind": "upload", "run_id": RUN, "batch": "2", "schema": "EMAIL_SHA256"}
    old |= {"op": "add", "ranges": [[4, 0, 100]], "note": "ignored"}
    assert decode(json.dumps(old).encode()) == UploadMessage(
        RUN, 2, Schema.EMAIL, "add", ((4, 0, 100),)
    )


def test_items_name_the_completion_record_of_each_kind() -> None:
    assert [m.item for m in WIRE] == [None, 3, 255, "done", 7]
    assert UploadMessage(RUN, 0, Schema.EMAIL, "add", ((0, 0, 7), (1, 3, 5))).identifiers == 12


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"run_id": "r"}',
        b'{"kind": "explode", "run_id": "r"}',
        b'{"kind": "read", "run_id": "r"}',
        b'{"kind": "read", "run_id": "r", "part": "x"}',
        b'{"kind": "upload", "run_id": "r", "batch": 1, "schema": "EMAIL", "op": "add",'
        b' "ranges": []}',
        b'{"kind": "upload", "run_id": "r", "batch": 1, "schema": "EMAIL_SHA256",'
        b' "op": "replace", "ranges": []}',
        b'{"kind": "upload", "run_id": "r", "batch": 1, "schema": "EMAIL_SHA256",'
        b' "op": "add", "ranges": [[1, 2]]}',
    ],
)
def test_anything_else_is_not_a_message_of_this_app(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode(body)
