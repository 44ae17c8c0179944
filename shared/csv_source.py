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

import csv
import io
import operator
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


def _resolve_columns(file: CsvFile, header: Sequence[str], wanted: Sequence[str]) -> list[int]:
    names = [h.strip() for h in header]
    exact = {n: i for i, n in enumerate(names)}
    folded: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        folded.setdefault(n.casefold(), []).append(i)
    indexes = []
    for column in wanted:
        if column in exact:
            indexes.append(exact[column])
            continue
        candidates = folded.get(column.casefold(), [])
        if len(candidates) == 1:
            indexes.append(candidates[0])
            continue
        shown = ", ".join(names[:50]) + (", ..." if len(names) > 50 else "")
        where = "header row" if file.has_header else "model.json attributes"
        raise SourceError(f"{file.name}: column '{column}' not found in its {where} ({shown})")
    return indexes


def iter_columns(
    stream: BinaryIO, file: CsvFile, wanted: Sequence[str]
) -> Iterator[tuple[str, ...]]:
    """Yield, for each data row, the values of the ``wanted`` columns (in that order).

    Blank lines are skipped. Raises :class:`SourceError` for a missing header or column,
    malformed quoting, a row whose field count differs from the column count, or bytes
    that are not UTF-8.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors="strict")
    reader = csv.reader(text, delimiter=file.delimiter, strict=True)
    row_number = 0
    try:
        if file.has_header:
            header = next(reader, None)
            while header is not None and not header:
                header = next(reader, None)
            if header is None:
                raise SourceError(f"{file.name}: the file is empty, so it has no header row")
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
            if len(row) != width:
                if len(row) == 1 and not row[0].strip():
                    row_number -= 1
                    continue
                raise SourceError(
                    f"{file.name}: row {row_number} (line {reader.line_num}) has {len(row)} "
                    f"fields, expected {width} ({'header' if file.has_header else 'model.json'})"
                )
            yield getter(row)
    except UnicodeDecodeError:
        raise SourceError(
            f"{file.name}: not valid UTF-8 at or after row {row_number + 1} "
            f"(line {reader.line_num + 1})"
        ) from None
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
