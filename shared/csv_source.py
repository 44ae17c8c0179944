"""Streaming CSV rows from Customer Insights export files (RFC 4180, UTF-8 with or without BOM).

Reading is a pull over a binary stream: bytes -> incremental UTF-8 decoding (``utf-8-sig``
drops a byte-order mark) -> ``csv.reader`` with ``newline=""`` so quoted commas and
newlines, CRLF and LF all parse as RFC 4180 says. Memory is one buffer plus one row,
whatever the file size.

A structurally broken file (bad quoting, wrong number of fields, invalid UTF-8, a missing
column) raises :class:`SourceError`, whose message names the file, the row and the column
but never a cell's value.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import operator
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

#: Bytes read from the underlying stream at a time.
READ_BUFFER_BYTES = 1 << 20


class SourceError(Exception):
    """An export cannot be used. ``str(error)`` is safe to log and show (no cell values)."""


@dataclass(frozen=True)
class CsvFile:
    """One CSV file of an export.

    ``name`` is the blob name or local path shown in messages. ``columns`` are the column
    names in order when the file has no header row (from CDM ``model.json``); when
    ``has_header`` is true the first row names the columns instead.
    """

    name: str
    has_header: bool
    columns: tuple[str, ...] | None = None
    delimiter: str = ","


#: A header cell that looks like a person's value, not a column name: an email address, a
#: phone number or id (a run of 5 digits, spaced or not), a UUID or a hex digest.
_VALUE_LIKE = re.compile(r"@|\d[\d\s().+-]{3,}\d|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}|[0-9A-Fa-f]{32}")


#: Name of the decode error handler of :func:`iter_columns` (registered below).
_UTF8_ERRORS = "shared.csv_source.note_invalid_utf8"
_surrogateescape = codecs.lookup_error("surrogateescape")
#: How many undecodable byte runs the handler has met so far, in this process. A global,
#: not per thread: a row generator may be resumed on another thread, and a change made by
#: another file's bad byte only makes a read search its rows (and find nothing) for a while.
_invalid_utf8 = [0]
#: What ``surrogateescape`` turns an undecodable byte into.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _note_invalid_utf8(error: UnicodeError) -> tuple[str | bytes, int]:
    """Decode error handler: count the bad bytes, keep them as lone surrogates, go on.

    The text decoder runs a chunk ahead of the CSV parser, so raising here could name only
    the row being parsed, not the one holding the byte. Instead :func:`iter_columns` sees
    the count change and looks for the escaped byte in the rows that follow, which gives
    the exact row and column.
    """
    _invalid_utf8[0] += 1
    return _surrogateescape(error)


codecs.register_error(_UTF8_ERRORS, _note_invalid_utf8)


def _undecodable(file: CsvFile, row: Sequence[str], where: str, columns: Sequence[str]) -> None:
    """Raise :class:`SourceError` naming the first cell of ``row`` with an undecodable byte."""
    for index, value in enumerate(row):
        if _ESCAPED_BYTE.search(value):
            name = columns[index].strip() if index < len(columns) else ""
            shown = f" ('{name}')" if name and not _VALUE_LIKE.search(name) else ""
            raise SourceError(
                f"{file.name}: {where}, column {index + 1}{shown}: not valid UTF-8 "
                "(export files must be UTF-8)"
            )


def _shown_columns(file: CsvFile, names: Sequence[str], column: str) -> str:
    """What the error says about the available columns.

    ``model.json`` attribute names are metadata and are listed. The cells of a header row
    are not: in a file without a header row they are a person's values (an email, a phone,
    a name). Only a cell that is close to the wanted name (a misspelt column) is shown.
    """
    if not file.has_header:
        return ", ".join(names[:50]) + (", ..." if len(names) > 50 else "")
    close = difflib.get_close_matches(column.casefold(), [n.casefold() for n in names], 1, 0.75)
    found = [n for n in names if close and n.casefold() == close[0]][:1]
    if found and not _VALUE_LIKE.search(found[0]):
        return f"{len(names)} columns; did you mean '{found[0]}'?"
    return (
        f"{len(names)} columns, none close to it; its cells are not shown, since in a file "
        "without a header row they would be a person's values: does the file have no header row?"
    )


def match_column(names: Sequence[str], column: str) -> list[int]:
    """Indexes of ``names`` that column ``column`` names: the exact match, else the only
    case-insensitive one (``[i]``); every case-insensitive match when several differ only in
    letter case (ambiguous); ``[]`` when none. Runs and saving an export use this rule."""
    exact = [i for i, n in enumerate(names) if n == column]
    if exact:
        return exact[-1:]  # a repeated name: its last column, as before
    return [i for i, n in enumerate(names) if n.casefold() == column.casefold()]


def _resolve_columns(file: CsvFile, header: Sequence[str], wanted: Sequence[str]) -> list[int]:
    names = [h.strip() for h in header]
    indexes = []
    for column in wanted:
        candidates = match_column(names, column)
        if len(candidates) == 1:
            indexes.append(candidates[0])
            continue
        where = "header row" if file.has_header else "model.json attributes"
        shown = _shown_columns(file, names, column)
        if candidates:
            same = ", ".join(f"'{names[i]}'" for i in candidates)
            raise SourceError(
                f"{file.name}: column '{column}' is ambiguous in its {where}: {same} differ "
                "only in letter case; name one exactly"
            )
        raise SourceError(f"{file.name}: column '{column}' not found in its {where} ({shown})")
    return indexes


def resolve_columns(file: CsvFile, header: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """Indexes in ``header`` (a header row, or model.json's names) of the ``wanted`` columns.

    Exact names first, then a case-insensitive match that is unique. Raises
    :class:`SourceError` naming a missing or ambiguous column (never a header cell that
    looks like a person's value).
    """
    return _resolve_columns(file, header, wanted)


def iter_columns(
    stream: BinaryIO, file: CsvFile, wanted: Sequence[str]
) -> Iterator[tuple[str, ...]]:
    """Yield, for each data row, the values of the ``wanted`` columns (in that order).

    Blank lines are skipped. Raises :class:`SourceError` for a missing header or column,
    malformed quoting, a row whose field count differs from the column count, or bytes
    that are not UTF-8.
    """
    invalid = _invalid_utf8
    seen = invalid[0]
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors=_UTF8_ERRORS)
    reader = csv.reader(text, delimiter=file.delimiter, strict=True)
    row_number = 0
    try:
        if file.has_header:
            header = next(reader, None)
            while header is not None and not header:
                header = next(reader, None)
            if header is None:
                raise SourceError(f"{file.name}: the file is empty, so it has no header row")
            if invalid[0] != seen:
                _undecodable(file, header, f"header row (line {reader.line_num})", ())
            columns: Sequence[str] = header
        else:
            if not file.columns:
                raise SourceError(f"{file.name}: no column names (model.json has no attributes)")
            columns = file.columns
        indexes = _resolve_columns(file, columns, wanted)
        width = len(columns)
        getter = _getter(indexes)
        for row in reader:
            if not row:
                continue
            row_number += 1
            if invalid[0] != seen:
                # A bad byte was decoded (in this file, or in another read): from here on
                # every row is searched for it.
                _undecodable(file, row, f"row {row_number} (line {reader.line_num})", columns)
            if len(row) != width:
                if len(row) == 1 and not row[0].strip():
                    row_number -= 1
                    continue
                raise SourceError(
                    f"{file.name}: row {row_number} (line {reader.line_num}) has {len(row)} "
                    f"fields, expected {width} ({'header' if file.has_header else 'model.json'})"
                )
            yield getter(row)
    except csv.Error as exc:
        raise SourceError(
            f"{file.name}: malformed CSV at row {row_number + 1} (line {reader.line_num}): "
            f"{_csv_reason(exc)}"
        ) from None


def _csv_reason(exc: csv.Error) -> str:
    # csv error texts describe structure ("unexpected end of data", "',' expected after
    # '\"'"), never cell contents, except "field larger than field limit (N)": also safe.
    return str(exc).split("\n")[0][:200]


def _getter(indexes: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    if len(indexes) == 1:
        (only,) = indexes
        return lambda row: (row[only],)
    return operator.itemgetter(*indexes)


class ChunkReader(io.RawIOBase):
    """A raw binary stream over an iterator of ``bytes`` chunks (e.g. a blob download)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._view:
            try:
                self._view = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._view))
        buffer[:size] = self._view[:size]
        self._view = self._view[size:]
        return size


def buffered(chunks: Iterator[bytes]) -> BinaryIO:
    """Wrap a chunk iterator as a buffered binary stream for :func:`iter_columns`."""
    return io.BufferedReader(ChunkReader(chunks), buffer_size=READ_BUFFER_BYTES)
