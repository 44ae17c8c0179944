"""Names a request may hold: what Customer Insights writes and what people type.

Two kinds of name reach this app:

* **Names Customer Insights writes** into an export folder's ``model.json`` (CDM
  model.json, https://learn.microsoft.com/common-data-model/model-json): a segment's output
  table is an entity ``name``, the columns of data matching are attribute ``name`` s. A
  segment name is also part of blob names (``<prefix>/<Segment>/<YYYY>/.../<Segment>_<n>.csv``)
  and the export folder (``source.prefix``) is a blob-name prefix. Azure Storage refuses
  control characters (U+0000 to U+001F, U+0081...) and code points that are not valid
  characters (such as private-use U+E000) in blob names ("Naming and Referencing Containers,
  Blobs, and Metadata",
  https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata).
  These names may hold no character of the Unicode general categories (Unicode Standard
  Annex #44, https://www.unicode.org/reports/tr44/#General_Category_Values) **Cc**
  (controls, NUL included), **Cf** (invisible format characters: zero-width spaces,
  direction overrides, the byte order mark), **Cs** (surrogates), **Co** (private use),
  **Zl** and **Zp** (line and paragraph separators): none is typed into a table or column
  name, and each would make a name that looks like another.
* **Names people type** (display names of connections and exports, the audience name and
  description sent to Snap): no character of **Cc**, **Cs**, **Zl** or **Zp**, and none of
  the bidirectional embedding, override and isolate controls U+202A to U+202E and U+2066 to
  U+2069 (Unicode Standard Annex #9, https://www.unicode.org/reports/tr9/#Explicit_Directional_Embeddings;
  they make text display in another order than it is stored, CVE-2021-42574). Other format
  characters stay allowed: the zero-width joiner and non-joiner are part of Persian words
  and of emoji.

Lengths (characters, after surrounding whitespace is stripped):

* segment name 1 to 200: a blob name holds it twice (folder and file name) within Azure's
  1,024-character limit on blob names, with room for the export folder;
* export folder (``source.prefix``) up to 512, for the same limit;
* attribute (column) name 1 to 256, display name 1 to 256, description up to 1,000;
* audience name 1 to 375: Snap's limit on a segment name
  (https://developers.snap.com/api/marketing-api/Ads-API/customer-lists).

A refused name answers 422 naming the field and the character's position and code point
(``U+0000``), never the character itself.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

SEGMENT_NAME_MAX = 200
PREFIX_MAX = 512
ATTRIBUTE_NAME_MAX = 256
DISPLAY_NAME_MAX = 256
DESCRIPTION_MAX = 1000
AUDIENCE_NAME_MAX = 375

#: General categories a name Customer Insights writes may not hold.
CDM_NAME_EXCLUDED = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
#: General categories a typed name may not hold.
TEXT_EXCLUDED = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: Bidirectional embedding, override and isolate controls (UAX #9), refused in typed names.
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))

_CATEGORY_WORDS = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a surrogate code point",
    "Co": "a private-use character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def code_point(char: str) -> str:
    """``U+0000`` notation of one character (how errors show a character, never raw)."""
    return f"U+{ord(char):04X}"


def first_refused(
    value: str, categories: frozenset[str], also: frozenset[str] = frozenset()
) -> tuple[int, str, str] | None:
    """``(position counted from 1, U+XXXX, what it is)`` of the first character of
    ``value`` in one of ``categories`` or in ``also``; ``None`` when there is none."""
    for index, char in enumerate(value):
        category = unicodedata.category(char)
        if category in categories:
            return index + 1, code_point(char), _CATEGORY_WORDS.get(category, category)
        if char in also:
            return index + 1, code_point(char), "a bidirectional control character"
    return None


def _checker(
    what: str, categories: frozenset[str], also: frozenset[str] = frozenset()
) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # the str schema answers for other types
        found = first_refused(value, categories, also)
        if found is not None:
            position, point, kind = found
            raise PydanticCustomError(
                "name_character",
                "character {position} is {point} ({kind}), which {what} may not hold",
                {"position": position, "point": point, "kind": kind, "what": what},
            )
        return value

    return check


def _not_blank(what: str) -> Callable[[Any], Any]:
    """A check that ``value`` holds more than whitespace. ``StringConstraints`` checks
    ``min_length`` before it strips (pydantic 2.14), so ``" "`` would pass as ``""``."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise PydanticCustomError(
                "name_blank", "{what} may not be empty or blank", {"what": what}
            )
        return value

    return check


@functools.lru_cache(maxsize=4)
def _excluded_bmp_class(categories: frozenset[str], also: frozenset[str]) -> str:
    """A regular-expression character class body (``\\u0000-\\u001f...``) of the Basic
    Multilingual Plane characters in ``categories`` or ``also``, for the OpenAPI document
    (computed when the document is first built, from this Python's Unicode database)."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        char = chr(code)
        if unicodedata.category(char) in categories or char in also:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


def _documented(
    description: str, categories: frozenset[str], also: frozenset[str] = frozenset()
) -> Any:
    """``Field`` metadata: the description, and a ``pattern`` documenting the refused
    characters of the Basic Multilingual Plane (the server checks every plane)."""

    def add_pattern(schema: dict[str, Any]) -> None:
        schema["pattern"] = f"^[^{_excluded_bmp_class(categories, also)}]*$"

    return Field(description=description, json_schema_extra=add_pattern)


def _not_a_dot_segment(value: Any) -> Any:
    if isinstance(value, str) and value.strip() in (".", ".."):
        raise PydanticCustomError("name_dot", "'.' and '..' are not segment names")
    return value


#: A Customer Insights segment (output table) name: an entity of the export's model.json.
SegmentName = Annotated[
    str,
    BeforeValidator(_not_blank("a segment name")),
    BeforeValidator(_not_a_dot_segment),
    BeforeValidator(_checker("a segment name", CDM_NAME_EXCLUDED)),
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=SEGMENT_NAME_MAX, pattern=r"^[^/\\]+$"
    ),
    _documented(
        "A segment's output table name as in the export's model.json: no '/', '\\', control "
        "or invisible format characters; not '.' or '..'",
        CDM_NAME_EXCLUDED,
    ),
]

#: An attribute (column) name of a segment, as in model.json.
AttributeName = Annotated[
    str,
    BeforeValidator(_not_blank("a column name")),
    BeforeValidator(_checker("a column name", CDM_NAME_EXCLUDED)),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=ATTRIBUTE_NAME_MAX),
    _documented(
        "A column (attribute) of the segment as in the export's model.json: no control or "
        "invisible format characters",
        CDM_NAME_EXCLUDED,
    ),
]

#: The export folder below the container (``CustomerInsights_<instanceId>/<ExportName>``).
ExportPrefix = Annotated[
    str,
    BeforeValidator(_checker("an export folder", CDM_NAME_EXCLUDED)),
    StringConstraints(strip_whitespace=True, max_length=PREFIX_MAX),
    _documented(
        "The export folder holding model.json, e.g. CustomerInsights_<instanceId>/<ExportName>: "
        "no control or invisible format characters, no '.' or '..' segment, no leading '/'",
        CDM_NAME_EXCLUDED,
    ),
]

#: A name people type (connections and exports).
DisplayName = Annotated[
    str,
    BeforeValidator(_not_blank("a display name")),
    BeforeValidator(_checker("a display name", TEXT_EXCLUDED, BIDI_CONTROLS)),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX),
    _documented(
        "A display name: no control characters, line separators or bidirectional controls",
        TEXT_EXCLUDED,
        BIDI_CONTROLS,
    ),
]

#: The name of an audience the app creates in Snapchat (Snap: at most 375 characters).
AudienceName = Annotated[
    str,
    BeforeValidator(_not_blank("an audience name")),
    BeforeValidator(_checker("an audience name", TEXT_EXCLUDED, BIDI_CONTROLS)),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=AUDIENCE_NAME_MAX),
    _documented(
        "The Snapchat audience's name (Snap allows 375 characters): no control characters, "
        "line separators or bidirectional controls",
        TEXT_EXCLUDED,
        BIDI_CONTROLS,
    ),
]

#: A description people type.
Description = Annotated[
    str,
    BeforeValidator(_checker("a description", TEXT_EXCLUDED, BIDI_CONTROLS)),
    StringConstraints(strip_whitespace=True, max_length=DESCRIPTION_MAX),
    _documented(
        "A description: no control characters, line separators or bidirectional controls",
        TEXT_EXCLUDED,
        BIDI_CONTROLS,
    ),
]

#: Longest raw value an erasure request may hold: an email address is at most 254 characters
#: (RFC 5321 section 4.5.3.1.3, https://www.rfc-editor.org/rfc/rfc5321#section-4.5.3.1.3),
#: a phone number or an advertising id far fewer.
ERASURE_VALUE_MAX = 320


def _erasure_length(value: Any) -> Any:
    if isinstance(value, str) and len(value) > ERASURE_VALUE_MAX:
        raise PydanticCustomError(
            "value_too_long",
            "an erasure value has at most {limit} characters (this one has {length})",
            {"limit": ERASURE_VALUE_MAX, "length": len(value)},
        )
    return value


#: A raw identifier to erase (hashed at once, never stored): typed or pasted by a person.
ErasureValue = Annotated[
    str,
    BeforeValidator(_not_blank("an erasure value")),
    BeforeValidator(_checker("an erasure value", TEXT_EXCLUDED, BIDI_CONTROLS)),
    BeforeValidator(_erasure_length),
    _documented(
        "A raw value to erase (hashed at once, never stored or echoed): no control "
        "characters, line separators or bidirectional controls",
        TEXT_EXCLUDED,
        BIDI_CONTROLS,
    ),
]
