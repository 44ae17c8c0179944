"""Names in requests: what Customer Insights writes and what people type, nothing else.

A segment or column name with a control character (NUL included) or an invisible format
character, or a display name with a control character, a line separator or a bidirectional
override, answers 422 naming the field and saying which character (``U+XXXX``) and where,
without echoing it; nothing is saved.
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.snap_sandbox import SnapSandbox
from shared.services import Services
from tests.support import ADMIN, api_client, export_body, seed_export, shared_connection


@pytest.fixture
def connection_id(services: Services, sandbox: SnapSandbox) -> str:
    return shared_connection(services, sandbox)


def refused(answer: Any, field: str, position: int, char: str) -> str:
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == [field]
    point = f"U+{ord(char):04X}"
    assert f"{field}: character {position} is {point} (" in error["message"], error["message"]
    # The character itself never comes back, raw or JSON-escaped.
    assert char not in answer.text
    assert f"\\u{ord(char):04x}" not in answer.text.lower()
    return str(error["message"])


@pytest.mark.parametrize(
    ("change", "field", "position", "char"),
    [
        ({"segments": ["High\x00Value"]}, "segments.0", 5, "\x00"),
        ({"segments": ["HighValue", "Lap\nsed"]}, "segments.1", 4, "\n"),
        ({"segments": ["High\x14Value"]}, "segments.0", 5, "\x14"),
        ({"segments": ["High\u200bValue"]}, "segments.0", 5, "\u200b"),
        ({"segments": ["\ufeffHighValue"]}, "segments.0", 1, "\ufeff"),
        ({"segments": ["High\u2028Value"]}, "segments.0", 5, "\u2028"),
        ({"segments": ["High\ue000Value"]}, "segments.0", 5, "\ue000"),
        ({"data_matching": {"email": "E\x00mail"}}, "data_matching.email", 2, "\x00"),
        (
            {"data_matching": {"email": "Email", "phone": "Ph\u202eone"}},
            "data_matching.phone",
            3,
            "\u202e",
        ),
        ({"display_name": "High\tvalue"}, "display_name", 5, "\t"),
        ({"display_name": "abc\u202edcba"}, "display_name", 4, "\u202e"),
        ({"display_name": "two\u2029lines"}, "display_name", 4, "\u2029"),
        (
            {"source": {"container": "ci-exports", "prefix": "CI/Blob\x14Export"}},
            "source.prefix",
            8,
            "\x14",
        ),
        (
            {"audience_id": None, "create_audience": {"name": "High\x7fvalue"}},
            "create_audience.name",
            5,
            "\x7f",
        ),
        (
            {"audience_id": None, "create_audience": {"name": "A", "description": "x\x00"}},
            "create_audience.description",
            2,
            "\x00",
        ),
    ],
)
def test_names_with_characters_no_one_types_are_refused(
    services: Services,
    connection_id: str,
    change: dict[str, Any],
    field: str,
    position: int,
    char: str,
) -> None:
    body = {**export_body(connection_id), **change}
    body = {k: v for k, v in body.items() if v is not None}
    answer = api_client().post("/api/exports", json=body, headers=ADMIN)
    refused(answer, field, position, char)
    assert list(services.state.names("exports/")) == []


@pytest.mark.parametrize(
    ("segment", "field"),
    [
        ("x" * 201, "segments.0"),
        ("..", "segments.0"),
        (".", "segments.0"),
        ("a/b", "segments.0"),
        ("a\\b", "segments.0"),
    ],
)
def test_segment_names_are_table_names(
    services: Services, connection_id: str, segment: str, field: str
) -> None:
    body = export_body(connection_id, segments=[segment])
    answer = api_client().post("/api/exports", json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"] == [field]
    assert list(services.state.names("exports/")) == []


def test_display_names_people_type_are_kept(services: Services) -> None:
    client = api_client()
    # A zero-width non-joiner is part of Persian words ("mi-khaham"); emoji use the zero-width
    # joiner.
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    for name in (persian, "Team \U0001f469\u200d\U0001f4bb", "Équipe marketing"):
        answer = client.post(
            "/api/connections",
            json={"display_name": f" {name} ", "privacy_consent": True},
            headers=ADMIN,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["display_name"] == name
    bad = client.post(
        "/api/connections",
        json={"display_name": "Snap\x00", "privacy_consent": True},
        headers=ADMIN,
    )
    refused(bad, "display_name", 5, "\x00")
    renamed = client.patch(
        f"/api/connections/{answer.json()['id']}",
        json={"display_name": "Snap\u2028EU"},
        headers=ADMIN,
    )
    refused(renamed, "display_name", 5, "\u2028")
    assert len(list(services.state.names("connections/"))) == 3


BLANKS = (" ", "\u00a0", "\u3000", " \u2003 ")


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"segments": ["{}"]}, "segments.0"),
        ({"data_matching": {"email": "{}"}}, "data_matching.email"),
        ({"data_matching": {"email": "Email", "phone": "{}"}}, "data_matching.phone"),
        ({"display_name": "{}"}, "display_name"),
        ({"audience_id": None, "create_audience": {"name": "{}"}}, "create_audience.name"),
    ],
)
def test_blank_names_are_refused_not_saved_empty(
    services: Services, connection_id: str, change: dict[str, Any], field: str, blank: str
) -> None:
    # StringConstraints checks min_length before it strips: " " used to pass as "", saved
    # empty (display names) or failing later as a 500 (create_audience.name, phone).
    filled = {
        key: (
            {k: (blank if v == "{}" else v) for k, v in value.items()}
            if isinstance(value, dict)
            else [blank]
            if isinstance(value, list)
            else blank
            if value == "{}"
            else value
        )
        for key, value in change.items()
    }
    body = {k: v for k, v in {**export_body(connection_id), **filled}.items() if v is not None}
    client = api_client()
    answer = client.post("/api/exports", json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["fields"] == [field]
    assert "may not be empty or blank" in error["message"]
    assert list(services.state.names("exports/")) == []
    if field == "display_name":
        named = client.post(
            "/api/connections",
            json={"display_name": blank, "privacy_consent": True},
            headers=ADMIN,
        )
        assert named.status_code == 422, named.text
        renamed = client.patch(
            f"/api/connections/{connection_id}", json={"display_name": blank}, headers=ADMIN
        )
        assert renamed.status_code == 422, renamed.text
        assert (
            client.get(f"/api/connections/{connection_id}", headers=ADMIN)
            .json()["display_name"]
            .strip()
        )


@pytest.mark.parametrize(
    "change",
    [
        {"data_matching": {"email": "Email", "phone": " "}},
        {"create_audience": {"name": "\u00a0"}},
        {"display_name": "\u3000"},
    ],
)
def test_a_change_to_a_blank_name_is_refused(
    services: Services, connection_id: str, change: dict[str, Any]
) -> None:
    client = api_client()
    export_id = seed_export(services, connection_id, "123")
    export = client.get(f"/api/exports/{export_id}", headers=ADMIN).json()
    if "create_audience" in change:
        change = {"audience_id": None, **change}
    answer = client.patch(f"/api/exports/{export['id']}", json=change, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert "may not be empty or blank" in answer.json()["error"]["message"]
    after = client.get(f"/api/exports/{export['id']}", headers=ADMIN).json()
    assert after["display_name"] == export["display_name"]
    assert after["data_matching"] == export["data_matching"]
