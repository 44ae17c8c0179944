"""The native reader gives, byte for byte, what the Python reference gives.

The reference is ``csv_source.iter_columns`` + ``profile_hashes.hash_profiles`` (what
``native_reader.read_part(..., native=False)`` runs). Every test compares the two on the
same bytes: digests per (schema, hash partition), counts, the file's size and SHA-256, and
the error text of an unusable file.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from shared import identifier_sql, native_reader
from shared.csv_source import CsvFile, SourceError
from shared.identifiers import SCHEMAS, Schema, digest_function, is_prehashed
from shared.profile_hashes import FieldMapping

ROOT = Path(__file__).parent.parent
CASES = Path(__file__).parent / "cases"


class Digests:
    """A PartitionWriter that keeps what it is given, per (schema, partition)."""

    def __init__(self) -> None:
        self.data: dict[tuple[Schema, int], bytearray] = {}

    def write(self, schema: Schema, partition: int, data: bytes) -> None:
        self.data.setdefault((schema, partition), bytearray()).extend(data)

    def multiset(self) -> dict[tuple[str, int], Counter[bytes]]:
        return {
            (schema.value, partition): Counter(bytes(d[i : i + 32]) for i in range(0, len(d), 32))
            for (schema, partition), d in self.data.items()
            if d
        }


def read(
    data: bytes,
    file: CsvFile,
    mappings: list[FieldMapping],
    *,
    native: bool,
    bits: int = 3,
    region: str = "US",
    erased: dict[Schema, set[bytes]] | None = None,
) -> tuple[str, Any]:
    """("ok", result) or ("error", message) of one read."""
    try:
        result = native_reader.read_part(
            lambda: io.BytesIO(data),
            file,
            mappings,
            Digests,
            bits,
            default_region=region,
            erased=erased,
            native=native,
        )
    except SourceError as exc:
        return "error", str(exc)
    return "ok", result


def assert_same(
    data: bytes,
    file: CsvFile,
    mappings: list[FieldMapping],
    *,
    expect_native: bool | None = None,
    **options: Any,
) -> Any:
    """Read ``data`` both ways; assert equal outcomes; return the native result."""
    native = read(data, file, mappings, native=True, **options)
    python = read(data, file, mappings, native=False, **options)
    assert native[0] == python[0], (native, python)
    if native[0] == "error":
        assert native[1] == python[1]
        return native[1]
    ours, reference = native[1], python[1]
    assert reference.reader == "python"
    assert json.dumps(ours.counts.to_json()) == json.dumps(reference.counts.to_json())
    assert ours.writer.multiset() == reference.writer.multiset()
    assert (ours.size, ours.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (reference.size, reference.sha256) == (ours.size, ours.sha256)
    if expect_native is not None:
        assert (ours.reader == "native") is expect_native, ours.reader
    return ours


# -- generated exports ---------------------------------------------------------------------

_LETTERS = "abcxyzABCXYZ019._-+"
_UNICODE = [
    "é",
    "e\u0301",  # decomposed: NFC matters
    "ß",
    "İ",  # lowercases to two code points
    "\u212a",  # Kelvin sign: NFC makes it K
    "Ω",
    "ﬁ",
    "\u00a0",  # no-break space: Python strips it, DuckDB's trim does not
    "\u2003",
    "\u3000",
    "\u0085",
    "\u200b",
    "\ufeff",
    "日本",
    "😀",
]
_WHITESPACE = [" ", "  ", "\t", "\x0b", "\x0c", "\x1c", "\x1f", "\u00a0", "\u2003", ""]
_PLACEHOLDERS = ["NULL", "null", "N/A", "n/a", "none", "-", "--", "?", "#N/A", "nan", "NIL"]


@st.composite
def emails(draw: st.DrawFn) -> str:
    local = "".join(draw(st.lists(st.sampled_from([*_LETTERS, *_UNICODE[:7]]), max_size=8)))
    domain = draw(st.sampled_from(["example.com", "EXAMPLE.no", "b.co", "localhost", "x.", ""]))
    shape = draw(st.sampled_from(["plain", "plain", "plain", "two_at", "no_at", "space", "ctrl"]))
    if shape == "two_at":
        value = f"{local}@{local}@{domain}"
    elif shape == "no_at":
        value = f"{local}{domain}"
    elif shape == "space":
        value = f"{local} x@{domain}"
    elif shape == "ctrl":
        control = draw(st.sampled_from(["\x01", "\x7f", "\t", "\x1c"]))
        value = f"{local}{control}@{domain}"
    else:
        value = f"{local}@{domain}"
    return value


@st.composite
def phones(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["", "+", "00", "+00", "0", "011", "1", "1-", "+1 ", "+44 "]))
    groups = draw(st.lists(st.text("0123456789", min_size=1, max_size=4), min_size=1, max_size=5))
    sep = draw(st.sampled_from(["", " ", "-", ".", "/", "\t"]))
    body = sep.join(groups)
    if draw(st.booleans()) and len(groups) > 1:
        body = f"({groups[0]}) " + sep.join(groups[1:])
    suffix = draw(st.sampled_from(["", "", "", " x12", " ext. 7", "#"]))
    return prefix + body + suffix


@st.composite
def mobile_ad_ids(draw: st.DrawFn) -> str:
    hexes = draw(st.text("0123456789abcdefABCDEF", min_size=32, max_size=32))
    value = "-".join((hexes[:8], hexes[8:12], hexes[12:16], hexes[16:20], hexes[20:]))
    return draw(
        st.sampled_from([value, value.replace("-", ""), "0" * 8 + "-0000-0000-0000-" + "0" * 12])
    )


@st.composite
def cells(draw: st.DrawFn, schema: Schema | None) -> str:
    """One cell's text: an identifier of ``schema`` (or filler), made messy."""
    kind = draw(st.sampled_from(["id", "id", "id", "empty", "placeholder", "digest", "text"]))
    if kind == "id" and schema is Schema.EMAIL:
        value = draw(emails())
    elif kind == "id" and schema is Schema.PHONE:
        value = draw(phones())
    elif kind == "id" and schema is Schema.MOBILE_AD_ID:
        value = draw(mobile_ad_ids())
    elif kind == "empty":
        value = ""
    elif kind == "placeholder":
        value = draw(st.sampled_from(_PLACEHOLDERS))
    elif kind == "digest":
        value = draw(st.text("0123456789abcdefABCDEF", min_size=63, max_size=65))
    else:
        pieces = st.sampled_from(
            [*_LETTERS, *_UNICODE, ",", '"', "\n", "\r", "\r\n", " ", ";", "\x00"]
        )
        value = "".join(draw(st.lists(pieces, max_size=12)))
    if draw(st.integers(0, 4)) == 0:
        value = draw(st.sampled_from(_UNICODE)) + value
    if draw(st.integers(0, 3)) == 0:
        value = draw(st.sampled_from(_WHITESPACE)) + value + draw(st.sampled_from(_WHITESPACE))
    if draw(st.integers(0, 5)) == 0:
        value = unicodedata.normalize(draw(st.sampled_from(["NFD", "NFC", "NFKC"])), value)
    if draw(st.integers(0, 9)) == 0:
        value = value.upper()
    return value


def _field(value: str, style: str, delimiter: str) -> str:
    """A cell as Customer Insights' writer would quote it (``all``, ``minimal``), or not at
    all (``raw``: quotes and line breaks stay as they are, which Python reads its way)."""
    needs = any(c in value for c in f'{delimiter}"\r\n')
    if style == "all" or (style == "minimal" and needs):
        return '"' + value.replace('"', '""') + '"'
    return value


#: What may be wrong with one generated file (at most one thing, so most files are fine).
FAULTS = (
    *["none"] * 12,
    "space_outside_quotes",
    "short_row",
    "long_row",
    "trailing_delimiters",
    "whitespace_line",
    "not_utf8",
    "not_utf8_in_header",
    "mixed_newlines",
    "raw_quotes",
    "bom_after_header",
    "duplicate_header",
)


@st.composite
def exports(draw: st.DrawFn) -> tuple[bytes, CsvFile, list[FieldMapping], bool]:
    """(bytes, file, mappings, clean): a CSV part of a generated export.

    All three identifier types (some columns mapped twice, some unmapped), messy values,
    digests, placeholders, Unicode, quoting, embedded line breaks, CRLF/LF/CR, BOM, header
    row or not (model.json columns), and at most one fault. ``clean`` when nothing in it
    needs Python's reader, so the native reader must read it itself.
    """
    width = draw(st.integers(1, 5))
    names = [f"Col{i}" for i in range(width)]
    schemas = draw(st.permutations(SCHEMAS))[: draw(st.integers(1, 3))]
    targets = [draw(st.integers(0, width - 1)) for _ in schemas]
    mappings = [FieldMapping(s, names[t]) for s, t in zip(schemas, targets, strict=True)]
    schema_of = {t: s for s, t in zip(schemas, targets, strict=True)}
    header = draw(st.booleans())
    delimiter = draw(st.sampled_from([",", ",", ",", ";", "\t", "|"]))
    style = draw(st.sampled_from(["minimal", "minimal", "all", "all"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    fault = draw(st.sampled_from(FAULTS))
    rows = [
        [draw(cells(schema_of.get(c))).replace(delimiter, ",") for c in range(width)]
        for _ in range(draw(st.integers(0, 12)))
    ]
    lines = []
    if header:
        header_names = (
            [*names[:-1], names[0]] if fault == "duplicate_header" and width > 1 else names
        )
        lines.append(delimiter.join(_field(n, "minimal", delimiter) for n in header_names))
    for row in rows:
        lines.append(
            delimiter.join(
                _field(v, "raw" if fault == "raw_quotes" else style, delimiter) for v in row
            )
        )
        if draw(st.integers(0, 10)) == 0:  # a blank line: skipped by every reader
            lines.append("")
    first_row = 1 if header else 0
    if len(lines) > first_row:
        at = draw(st.integers(first_row, len(lines) - 1))
        if fault == "space_outside_quotes":
            cell = '"' + draw(st.sampled_from(["a@b.co", "", "x"])) + '"'
            spaced = draw(st.sampled_from([" " + cell, cell + " ", "  " + cell, cell + "  "]))
            cells_ = lines[at].split(delimiter) if lines[at] else [""]
            cells_[draw(st.integers(0, len(cells_) - 1))] = spaced
            lines[at] = delimiter.join(cells_)
        elif fault == "short_row" and delimiter in lines[at]:
            lines[at] = lines[at].rpartition(delimiter)[0]
        elif fault == "long_row":
            lines[at] = lines[at] + delimiter + draw(st.sampled_from(["", "x", '""']))
        elif fault == "trailing_delimiters":
            lines[at] = lines[at] + delimiter * draw(st.integers(1, 3))
        elif fault == "whitespace_line":
            lines.insert(at, draw(st.sampled_from([" ", "  ", "\t"])))
    ends = [newline] * len(lines)
    if fault == "mixed_newlines" and len(ends) > 1:
        ends[draw(st.integers(0, len(ends) - 1))] = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if lines and draw(st.booleans()):
        text = text[: -len(ends[-1])]  # no line break at the end
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 4)) == 0:
        data = codecs.BOM_UTF8 + data
    if fault == "bom_after_header" and header:
        end = data.find(newline.encode()) + len(newline)
        data = data[:end] + codecs.BOM_UTF8 + data[end:]
    if fault in ("not_utf8", "not_utf8_in_header") and data:
        at = 0 if fault == "not_utf8_in_header" else draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[at:]
    file = CsvFile(
        "CustomerInsights/Seg/2026/11/28/0300/Seg_1.csv",
        has_header=header,
        columns=None if header else tuple(names),
        delimiter=delimiter,
    )
    values = [v for row in rows for v in row]
    mark = re.escape(delimiter.encode())
    spaced = re.compile(rb"(?:^|[\r\n" + mark + rb']) +"|" +(?:[\r\n' + mark + rb"]|$)")
    clean = (
        fault in ("none", "duplicate_header")
        and not spaced.search(data)
        and not any("\r" in v or "\n" in v or v.startswith("\ufeff") for v in values)
    )
    return data, file, mappings, clean


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    export=exports(), bits=st.sampled_from([0, 3, 8]), region=st.sampled_from(["US", "GB", "NO"])
)
def test_generated_exports_read_the_same_natively_and_in_python(
    export: tuple[bytes, CsvFile, list[FieldMapping], bool], bits: int, region: str
) -> None:
    data, file, mappings, clean = export
    note(repr((data, file, mappings, clean)))
    assert_same(data, file, mappings, bits=bits, region=region, expect_native=clean or None)


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(export=exports(), chunk=st.integers(8, 300), piece=st.integers(1, 400))
def test_chunk_and_piece_boundaries_do_not_matter(
    export: tuple[bytes, CsvFile, list[FieldMapping], bool],
    chunk: int,
    piece: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Patterns and UTF-8 sequences split across the feeder's chunks are still seen, and a
    part read as many pieces (one engine query each) reads as a whole."""
    data, file, mappings, _clean = export
    note(repr((data, file, mappings, chunk, piece)))
    with monkeypatch.context() as patch:
        patch.setattr(native_reader, "CHUNK_BYTES", chunk)
        patch.setattr(native_reader, "PIECE_BYTES", piece)
        assert_same(data, file, mappings)


def test_a_large_part_is_read_in_pieces_natively(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows, quoted cells with line breaks and quotes across many pieces."""
    rows = [
        f'{i},"Name {i}\r\nline two ""quoted""",user{i}@example.com,+1 201 555 {i % 10000:04d}\r\n'
        for i in range(3000)
    ]
    data = "".join(rows).encode()
    file = CsvFile("exp/Seg_1.csv", False, ("Id", "Note", "Email", "Phone"))
    monkeypatch.setattr(native_reader, "PIECE_BYTES", 4096)
    monkeypatch.setattr(native_reader, "CHUNK_BYTES", 1000)
    result = assert_same(data, file, EMAIL_PHONE, expect_native=True)
    assert result.counts.rows == 3000
    assert result.counts.identifiers == {"EMAIL_SHA256": 3000, "PHONE_SHA256": 3000}


# -- the identifier rules in SQL ------------------------------------------------------------


def _sql_results(schema: Schema, values: list[str], region: str) -> list[tuple[Any, ...]]:
    engine = native_reader._engine()
    query = identifier_sql.select_identifiers(
        "SELECT unnest($values::VARCHAR[]) AS r0, unnest(range(len($values))) AS ix",
        [schema],
        region,
        5,
        keep=["ix"],
    )
    cursor = engine.cursor()
    try:
        return sorted(cursor.execute(query, {"values": values}).fetchall())
    finally:
        cursor.close()


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    values=st.lists(
        st.one_of(cells(Schema.EMAIL), cells(Schema.PHONE), cells(Schema.MOBILE_AD_ID)),
        min_size=1,
        max_size=60,
    ),
    region=st.sampled_from(["US", "GB", "NO", "DE", "FR", "IN", "BR", "JP", "AU"]),
)
def test_sql_rules_settle_values_exactly_as_python(values: list[str], region: str) -> None:
    """Every value the SQL settles gets Python's digest or reason; the rest go to Python."""
    for schema in SCHEMAS:
        reference = digest_function(schema, region)
        for ix, code, digest, partition, left, _any in _sql_results(schema, values, region):
            value = values[ix]
            expected = reference(value)
            code = identifier_sql.Code(code)
            if code is identifier_sql.Code.PYTHON:
                assert left == value
                continue
            assert left is None
            if isinstance(expected, bytes):
                assert (digest, partition) == (expected, expected[0] >> 3), (value, code)
                assert (code is identifier_sql.Code.PREHASHED) == is_prehashed(value)
            else:
                assert identifier_sql.REASON_OF.get(code) == expected, (value, code)


def test_sql_settles_the_common_shapes_itself() -> None:
    """Common emails, ids and phone formats never reach Python (what makes it fast)."""
    emails_ = ["ola@example.no", " KARI@Example.NO ", "@example.com", "a@@b.co", "n/a", ""]
    phones_ = [
        "(201) 555-0123",
        "201-555-0123",
        "+1 201 555 0123",
        "001 201 555 0123",
        "1-201-555-0123",
        " +12015550123 ",
        "+44 20 7946 0958",
        "0044 20 7946 0958",
        "+47 22 12 34 56",
        "ab" * 32,
        "N/A",
    ]
    ids = ["6D92078A-8246-4BA4-AE5B-76104861E7DC", "not-an-id", "ab" * 32]
    for schema, values in (
        (Schema.EMAIL, emails_),
        (Schema.PHONE, phones_),
        (Schema.MOBILE_AD_ID, ids),
    ):
        codes = [code for _, code, *_ in _sql_results(schema, values, "US")]
        assert identifier_sql.Code.PYTHON not in codes, (schema, codes)


def test_values_python_must_settle_are_left_to_it() -> None:
    """Unicode case mapping, NFC, Unicode whitespace and edge control characters."""
    tricky = [
        "JOSE\u0301@example.com",  # NFC
        "\u212a@example.com",  # Kelvin sign: lowercases to ASCII k
        "İ@example.com",  # lowercases to two code points
        "a@example.com\u0085",  # NEL: str.strip removes it, DuckDB's trim does not
        "\u2003a b@example.com",
        "\ta@b",  # ASCII whitespace DuckDB's trim keeps: str.strip decides
        "a@b\x1f",
    ]
    for ix, code, *_ in _sql_results(Schema.EMAIL, tricky, "US"):
        assert code == identifier_sql.Code.PYTHON, tricky[ix]
    phones_ = ["(201) 555-0123 x12", "+44 (0)20 7946 0958", "\u0663\u0664\u0665"]
    for ix, code, *_ in _sql_results(Schema.PHONE, phones_, "US"):
        assert code == identifier_sql.Code.PYTHON, phones_[ix]
    # Settled in SQL, exactly: DuckDB's trim removes Unicode spaces, which str.strip
    # removes too.
    spaced = ["\u00a0a@example.com\u3000", " a@example.com  "]
    expected = hashlib.sha256(b"a@example.com").digest()
    for _, code, digest, *_ in _sql_results(Schema.EMAIL, spaced, "US"):
        assert (code, digest) == (identifier_sql.Code.HASHED, expected)


# -- errors, fall-backs, erasures, the engine -------------------------------------------------


HEADERLESS = CsvFile("exp/Seg/2026/11/28/0300/Seg_1.csv", False, ("Id", "Email", "Phone"))
EMAIL_PHONE = [FieldMapping(Schema.EMAIL, "Email"), FieldMapping(Schema.PHONE, "Phone")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'1,a@b.co,1\n2,"b@b.co\n', r"malformed CSV at row 2 \(line 2\): unexpected end of data"),
        (b'1,"a@b.co"x,1\n', r"malformed CSV at row 1 \(line 1\): ',' expected after '\"'"),
        (b'1,"a@b.co" ,1\n', r"malformed CSV at row 1 \(line 1\): ',' expected after '\"'"),
        (b"1,a@b.co,1\n2,b@b.co\n", r"row 2 \(line 2\) has 2 fields, expected 3"),
        (b"1,a@b.co,1,\n", r"row 1 \(line 1\) has 4 fields, expected 3"),
        (b"1,a@b.co,1,,\n2,c@d.co,2\n", r"row 1 \(line 1\) has 5 fields, expected 3"),
        # An unterminated quote in a field past the last column, at the very end.
        (b'1,a@b.co,1\n2,b@b.co,2,"\n\n', r"malformed CSV at row 2 \(line 3\): unexpected end"),
        (
            b"1,a@b.co,1\n2,b@b.co,\xff\n",
            r"row 2 \(line 2\), column 3 \('Phone'\): not valid UTF-8",
        ),
        (b"\xc3,a@b.co,1\n", r"row 1 \(line 1\), column 1 \('Id'\): not valid UTF-8"),
    ],
)
def test_malformed_files_fail_with_file_row_and_column_never_a_value(
    data: bytes, message: str
) -> None:
    error = assert_same(data, HEADERLESS, EMAIL_PHONE)
    assert isinstance(error, str)
    assert error.startswith("exp/Seg/2026/11/28/0300/Seg_1.csv: ")
    assert re.search(message, error), error
    assert "a@b.co" not in error and "b@b.co" not in error


@pytest.mark.parametrize(
    "data",
    [
        b'1, "a@b.co",1\n',  # Python: the cell is ' "a@b.co"'; DuckDB would skip the space
        b'1,a@b.co,1\n2,b@b.co,"2\n\n',  # an unterminated quote at the end
        b"1,a@b.co,1\n   \n2,b@b.co,2\n",  # a line of spaces: Python skips it
        b"1,a@b.co,1\r\n2,b@b.co,2\n",  # mixed line breaks
        b"1,a@b.co,\xff\n",  # not UTF-8 in a column DuckDB would not check
    ],
)
def test_what_duckdb_reads_otherwise_is_read_by_python(data: bytes) -> None:
    result = assert_same(data, HEADERLESS, EMAIL_PHONE)
    assert isinstance(result, str) or result.reader == "python"


def test_a_plain_export_is_read_natively_with_quotes_crlf_bom_and_header() -> None:
    data = (
        b'\xef\xbb\xbf"Id","Email","Phone"\r\n'
        b'"1","Ola@Example.NO ","+47 22 12 34 56"\r\n'
        b'"2","say ""hi"", a, b","(201) 555-0123 x12"\r\n'
        b'"3","line1\r\nline2","N/A"\r\n'
        b'"4","JOSE\xcc\x81@example.com",""\r\n'
        b"\r\n"
        b'"5","' + b"AB" * 32 + b'","0047 22 12 34 57"'
    )
    file = CsvFile("exp/Seg_1.csv", has_header=True)
    result = assert_same(data, file, EMAIL_PHONE, expect_native=True, region="NO")
    assert result.counts.rows == 5
    assert result.counts.prehashed == {"Email": 1}
    assert result.counts.invalid == {
        "Email": {"missing_at_sign": 2},
        "Phone": {"placeholder": 1, "not_a_possible_number": 1},
    }
    assert result.counts.missing == {"Phone": 1}
    assert result.counts.identifiers == {"EMAIL_SHA256": 3, "PHONE_SHA256": 2}


def test_erased_digests_are_dropped_alike_whoever_settles_them() -> None:
    data = b"1,a@b.co,+4722123456\n2,\xc3\xa9@b.co,(201) 555-0123 x12\n3,c@d.co,\n"
    erased = {
        Schema.EMAIL: {
            hashlib.sha256(b"a@b.co").digest(),
            hashlib.sha256("é@b.co".encode()).digest(),
        },
        Schema.PHONE: {hashlib.sha256(b"12015550123").digest()},
    }
    result = assert_same(data, HEADERLESS, EMAIL_PHONE, erased=erased, expect_native=True)
    assert result.counts.erased == 3
    assert result.counts.profiles_with_identifier == 2
    assert result.counts.identifiers == {"EMAIL_SHA256": 1, "PHONE_SHA256": 1}


def test_the_engine_never_installs_or_loads_extensions_and_keeps_its_settings() -> None:
    settings_ = native_reader.engine_settings()
    assert settings_["autoinstall_known_extensions"] == "false"
    assert settings_["autoload_known_extensions"] == "false"
    assert settings_["allow_community_extensions"] == "false"
    assert settings_["temp_directory"] == ""
    assert settings_["lock_configuration"] == "true"
    cursor = native_reader._engine().cursor()
    with pytest.raises(Exception, match="configuration"):
        cursor.execute("SET autoinstall_known_extensions = true")


# -- the handed cases ----------------------------------------------------------------------------


def _case_dirs() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "expected.json").is_file())


@pytest.mark.parametrize("case", _case_dirs(), ids=lambda p: p.name)
def test_handed_cases_give_the_same_summary_and_hashes_natively(case: Path) -> None:
    from shared.dry_run import DryRunOptions, dry_run

    expected = json.loads((case / "expected.json").read_text())
    args = expected["args"]
    option = {args[i].lstrip("-").replace("-", "_"): args[i + 1] for i in range(0, len(args), 2)}
    outcomes = []
    for native in (True, False):
        options = DryRunOptions(
            source=case / expected["source"],
            email_column=option["email_column"],
            phone_column=option.get("phone_column"),
            mobile_ad_id_column=option.get("mobile_ad_id_column"),
            default_region=option.get("default_region", "US"),
            native=native,
        )
        out = io.StringIO()
        try:
            outcomes.append((json.dumps(dry_run(options, out)), out.getvalue()))
        except SourceError as exc:
            outcomes.append(("error", str(exc)))
    assert outcomes[0] == outcomes[1]
    assert (outcomes[0][0] == "error") == (expected["exit"] != 0)


def test_dry_run_cli_reports_the_same_with_the_python_reader(tmp_path: Path) -> None:
    case = CASES / "ci-export-headerless"
    outputs = []
    for flag in ([], ["--python-reader"]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "shared",
                "dry-run",
                str(case / "export"),
                "--email-column",
                "EmailAddress",
                "--phone-column",
                "MobilePhone",
                "--default-region",
                "NO",
                *flag,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["rows"] == 4
