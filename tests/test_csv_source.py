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
    assert str(err.value) == (
        "exp/Seg_1.csv: row 1 (line 2), column 2 ('Email'): not valid UTF-8 "
        "(export files must be UTF-8)"
    )


@pytest.mark.parametrize("chunk", [0, 1, 7])
def test_invalid_utf8_names_the_exact_row_and_column_far_into_the_file(chunk: int) -> None:
    # The decoder reads ahead of the CSV parser; the row named must still be the one with the
    # byte, in a column that is not even read.
    body = b"".join(b"%d,u%d@example.com\r\n" % (i, i) for i in range(1, 3001))
    body = body.replace(b"2345,u2345@", b"23\xc345,u2345@")
    with pytest.raises(SourceError) as err:
        rows(b"\xef\xbb\xbfId,Email\r\n" + body, ["Email"], chunk=chunk)
    assert str(err.value).startswith("exp/Seg_1.csv: row 2345 (line 2346), column 1 ('Id'):")


def test_invalid_utf8_in_the_header_row_or_a_headerless_file() -> None:
    with pytest.raises(SourceError, match=r"header row \(line 1\), column 2: not valid UTF-8"):
        rows(b"Id,E\xffmail\n1,a@example.com\n", ["Email"])
    with pytest.raises(SourceError, match=r"row 2 \(line 2\), column 2 \('Email'\): not valid"):
        rows(b"1,a@example.com\n2,\xff\n", ["Email"], header=False, columns=("Id", "Email"))


def test_a_data_row_read_as_header_never_shows_its_values() -> None:
    data = b"alice.secret@example.com,+47 22 12 34 56,2029ae7b-8d5c-4b1e-9f3a-1c2d3e4f5a6b\n"
    with pytest.raises(SourceError) as err:
        rows(data, ["Email"])
    message = str(err.value)
    assert message.startswith("exp/Seg_1.csv: column 'Email' not found in its header row (3 col")
    assert "does the file have no header row?" in message
    for secret in ("alice", "secret@", "22 12", "2029ae7b"):
        assert secret not in message


def test_a_column_that_differs_only_in_case_is_ambiguous() -> None:
    with pytest.raises(SourceError, match=r"column 'EMAIL' is ambiguous .*'Email', 'email'"):
        rows(b"Email,email\na@example.com,b@example.com\n", ["EMAIL"])
    assert rows(b"Email,email\na@example.com,b@example.com\n", ["email"]) == [("b@example.com",)]


def test_empty_file_with_header_expected() -> None:
    with pytest.raises(SourceError, match="empty"):
        rows(b"", ["Email"])
    assert rows(b"", ["Email"], header=False, columns=("Email",)) == []
