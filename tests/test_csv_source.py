"""RFC 4180 streaming, BOM, chunk boundaries and clear errors for broken files."""

from __future__ import annotations

import io

import pytest

from shared.csv_source import CsvFile, SourceError, buffered, iter_columns


def rows(data: bytes, wanted: list[str], *, header: bool = True, chunk: int = 0, **kw: object):
    file = CsvFile(name="exp/Seg_1.csv", has_header=header, **kw)  # type: ignore[arg-type]
    if chunk:
        pieces = iter([data[i : i + chunk] for i in range(0, len(data), chunk)])
        stream = buffered(pieces)
    else:
        stream = io.BytesIO(data)
    return list(iter_columns(stream, file, wanted))


def test_quoted_commas_newlines_crlf_and_bom_across_one_byte_chunks() -> None:
    data = (
        b"\xef\xbb\xbfId,Note,Email\r\n"
        b'1,"line1\r\nline2, with comma",a@example.com\r\n'
        b'2,"say ""hi""",b@example.com\n'
        b"3,,\xc3\xa9@example.com\n"
    )
    expected = [("1", "a@example.com"), ("2", "b@example.com"), ("3", "é@example.com")]
    assert rows(data, ["Id", "Email"]) == expected
    assert rows(data, ["Id", "Email"], chunk=1) == expected


def test_headerless_file_uses_model_columns_and_case_insensitive_lookup() -> None:
    data = b"c1,x@example.com\nc2,y@example.com"
    got = rows(data, ["email"], header=False, columns=("CustomerId", "Email"))
    assert got == [("x@example.com",), ("y@example.com",)]


def test_blank_lines_are_skipped() -> None:
    assert rows(b"Email\n\na@example.com\n\n", ["Email"]) == [("a@example.com",)]


def test_missing_column_names_file_and_column() -> None:
    with pytest.raises(SourceError, match=r"exp/Seg_1.csv: column 'Mail' not found .*Email"):
        rows(b"Id,Email\n1,a@example.com\n", ["Mail"])


def test_wrong_field_count_names_row_and_line() -> None:
    with pytest.raises(SourceError, match=r"row 2 \(line 3\) has 3 fields, expected 2"):
        rows(b"Id,Email\n1,a@example.com\n2,b@example.com,extra\n", ["Email"])


def test_bad_quoting_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match=r"exp/Seg_1.csv: malformed CSV at row 2"):
        rows(b'Id,Email\n1,a@example.com\n2,"b@example.com\n', ["Email"])


def test_invalid_utf8_is_a_clear_error_without_the_value() -> None:
    with pytest.raises(SourceError) as err:
        rows(b"Id,Email\n1,secret\xff@example.com\n", ["Email"])
    assert "not valid UTF-8" in str(err.value)
    assert "secret" not in str(err.value)


def test_empty_file_with_header_expected() -> None:
    with pytest.raises(SourceError, match="empty"):
        rows(b"", ["Email"])
    assert rows(b"", ["Email"], header=False, columns=("Email",)) == []
