"""Reading and hashing one export part in a native columnar engine, byte for byte as Python.

:func:`read_part` is what the pipeline's read step and ``dry-run`` call per CSV file. It
gives exactly what the Python reference (:func:`shared.csv_source.iter_columns` then
:func:`shared.profile_hashes.hash_profiles`) gives: the same digests in the same
(schema, hash partition) buffers, the same :class:`~shared.profile_hashes.ReadCounts`, the
same errors. ``tests/test_native_reader.py`` proves it with a property test over generated
exports and every handed case.

How: DuckDB (https://duckdb.org, an in-process columnar SQL engine; the wheel has no runtime
dependencies) parses the CSV and runs the identifier rules of :mod:`shared.identifier_sql`
(trim, lowercase, validate, SHA-256, hash partition) in native code. The part's bytes reach
it through a pipe fed by a thread that also takes the part's SHA-256 fingerprint, one piece
of about :data:`PIECE_BYTES` at a time (one query each, cut at a line break outside quotes:
DuckDB holds what it reads from a pipe until its query ends), so memory stays bounded
(about 160 MiB per part being read, measured) whatever the part's size.
Batches come back through the Arrow C stream interface, read with nanoarrow
(https://arrow.apache.org/nanoarrow/); a second, per-batch query groups their digests by
(column, partition) so they reach the spool as a few long byte strings. Python handles what
the SQL leaves to it (non-ASCII values, phone numbers needing ``phonenumbers``), a batch at
a time.

Where DuckDB's CSV reader and Python's ``csv`` module could disagree on what a file means,
the Python reader decides: the part is read again by the reference path, which either
succeeds (DuckDB was only stricter) or raises the precise :class:`SourceError` (file, row,
column, never a cell's value). That happens when DuckDB fails (quoting, mixed line ends,
a line over Python's field size limit, and, made to fail, a row with more or fewer fields
than the file's columns, which DuckDB would pad or drop when trailing and empty, and an
unterminated quote at the very end, which DuckDB would drop), when the bytes hold something
Python reads differently (a space beside a quote, which DuckDB skips; bytes that are not
UTF-8, which DuckDB only checks in the columns it reads; a byte-order mark after a header
row), when a header row is not one plain line, or when the engine cannot be used at all.
Digests of an abandoned attempt are discarded with its writer (``new_writer`` is called
again). ``tests/test_native_reader.py`` pins each of these cases.

DuckDB is configured never to install or load an extension at run time
(``autoinstall_known_extensions``/``autoload_known_extensions`` off, configuration locked;
https://duckdb.org/docs/stable/configuration/overview), and never to spill to disk (no
temporary directory: raw values stay in memory).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, TypeVar

from shared.csv_source import CsvFile, SourceError, iter_columns, resolve_columns
from shared.hash_spool import DIGEST_BYTES, HashSpool, PartitionWriter
from shared.identifier_sql import (
    PHONE_RULES_TABLE,
    REASON_OF,
    Code,
    phone_rules_table,
    select_identifiers,
)
from shared.identifier_sql import literal as sql_literal
from shared.identifiers import InvalidReason, Result, Schema, digest_function, is_prehashed
from shared.profile_hashes import FieldMapping, ReadCounts, hash_profiles, record_column
from shared.source_fingerprint import HashingReader
from shared.source_fingerprint import buffered as buffered_hashing

log = logging.getLogger(__name__)

#: Bytes read from the part and written to the engine at a time.
CHUNK_BYTES = 1 << 20
#: Bytes of a part one engine query reads (DuckDB holds them until the query ends).
PIECE_BYTES = 8 << 20
#: The engine's null string: text no CSV cell is taken to hold (a cell that does is NULL,
#: which makes the part's read fall back to Python, see ``_Query._source``).
NO_NULL = "\x1fsnap-audience-sync: not a null\x1f"
#: The first cell of the row the feeder adds after the part's last byte (a per-process
#: nonce, so no export holds it): see ``_Feeder.feed``.
END_ROW = f"snap-audience-sync-end-{secrets.token_hex(12)}"
#: Results of Python-settled values remembered per column while a part is read.
KNOWN_VALUES = 1 << 16
#: Delimiters the engine reads like Python's ``csv`` (others take the Python reader).
NATIVE_DELIMITERS = frozenset(",;|\t:")
#: Engine settings (https://duckdb.org/docs/stable/configuration/overview).
ENGINE_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "temp_directory": "",
    "memory_limit": "512MB",
    "threads": max(1, min(4, os.cpu_count() or 1)),
}

W = TypeVar("W", bound=PartitionWriter)


@dataclass
class PartRead(Generic[W]):
    """What :func:`read_part` read: counts, the writer holding the digests, the file's
    size in bytes and SHA-256 (hex), and which reader produced it (``native``/``python``)."""

    counts: ReadCounts
    writer: W
    size: int
    sha256: str
    reader: str


class _Fallback(Exception):
    """The engine's reading may differ from Python's: read the part with the reference."""


def read_part(
    open_stream: Callable[[], BinaryIO],
    file: CsvFile,
    mappings: Sequence[FieldMapping],
    new_writer: Callable[[], W],
    bits: int,
    *,
    default_region: str,
    erased: Mapping[Schema, Collection[bytes]] | None = None,
    native: bool = True,
    fingerprint: bool = True,
) -> PartRead[W]:
    """Read one CSV part: normalise and hash every mapped value into a spool over a writer.

    ``open_stream()`` opens the part from its first byte (it is called again when the
    Python reader takes over); ``new_writer()`` gives an empty writer for the digests (the
    spool partitions them by their leading ``bits`` bits, see :mod:`shared.hash_spool`);
    the returned writer has every digest (flushed). ``erased[schema]`` are digests to drop
    (an erasure newer than the export covers them). ``native=False`` reads with the Python
    reference only; ``fingerprint=False`` skips the file's SHA-256 (``sha256`` is then
    "", natively). Raises :class:`SourceError` for an unusable file, as
    :func:`shared.csv_source.iter_columns` does.
    """
    if native and _engine() is not None:
        try:
            return _read_native(
                open_stream,
                file,
                mappings,
                new_writer,
                bits,
                default_region,
                erased or {},
                fingerprint,
            )
        except _Fallback as why:
            log.info("%s: read with the Python reader (%s)", file.name, why)
    return _read_python(open_stream, file, mappings, new_writer, bits, default_region, erased)


def _read_python(
    open_stream: Callable[[], BinaryIO],
    file: CsvFile,
    mappings: Sequence[FieldMapping],
    new_writer: Callable[[], W],
    bits: int,
    default_region: str,
    erased: Mapping[Schema, Collection[bytes]] | None,
) -> PartRead[W]:
    """The reference: Python's ``csv`` and :func:`hash_profiles`."""
    check = None
    if erased and any(erased.values()):
        sets = {schema: frozenset(digests) for schema, digests in erased.items()}

        def check(schema: Schema, digest: bytes) -> bool:
            return digest in sets.get(schema, ())

    writer = new_writer()
    spool = HashSpool(writer, bits)
    with open_stream() as stream:
        hashing = HashingReader(stream)
        rows = iter_columns(buffered_hashing(hashing), file, [m.column for m in mappings])
        counts = hash_profiles(rows, mappings, spool, default_region=default_region, erased=check)
        hashing.drain()
    spool.flush()
    return PartRead(counts, writer, hashing.size, hashing.hexdigest(), "python")


# -- the engine --------------------------------------------------------------------------

_engine_lock = threading.Lock()
_engine_state: list[Any] = []


def _engine() -> Any:
    """The process's DuckDB database (created once), or ``None`` when it cannot be used."""
    with _engine_lock:
        if not _engine_state:
            _engine_state.append(_open_engine())
        return _engine_state[0]


def _open_engine() -> Any:
    if not os.path.exists("/dev/fd"):
        return None  # the part reaches the engine through /dev/fd/N (Linux, macOS)
    try:
        import duckdb
        import nanoarrow  # noqa: F401
    except ImportError:
        log.warning("duckdb/nanoarrow not installed: exports are read with the Python reader")
        return None
    database = duckdb.connect(":memory:", config=dict(ENGINE_CONFIG))
    database.execute(phone_rules_table())
    database.execute("SET lock_configuration = true")
    return database


def engine_settings() -> dict[str, str]:
    """The engine's settings that keep it offline and in memory (``{}`` without engine)."""
    database = _engine()
    if database is None:
        return {}
    names = (*ENGINE_CONFIG, "lock_configuration")
    rows = database.cursor().execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        f"({', '.join(sql_literal(n) for n in names)})"
    )
    return {name: value for name, value in rows.fetchall()}


# -- the native read ---------------------------------------------------------------------


def _read_native(
    open_stream: Callable[[], BinaryIO],
    file: CsvFile,
    mappings: Sequence[FieldMapping],
    new_writer: Callable[[], W],
    bits: int,
    region: str,
    erased: Mapping[Schema, Collection[bytes]],
    fingerprint: bool,
) -> PartRead[W]:
    if file.delimiter not in NATIVE_DELIMITERS:
        raise _Fallback(f"delimiter {file.delimiter!r}")
    with open_stream() as stream:
        feeder = _Feeder(stream, fingerprint)
        columns, start = feeder.header(file)
        indexes = resolve_columns(file, columns, [m.column for m in mappings])
        writer = new_writer()
        spool = HashSpool(writer, bits)
        counts = _Query(file, mappings, indexes, len(columns), bits, region, erased).run(
            feeder, start, spool
        )
    spool.flush()
    digest = feeder.sha256.hexdigest() if feeder.sha256 is not None else ""
    return PartRead(counts, writer, feeder.size, digest, "native")


class _Feeder:
    """Reads the part, fingerprints it, checks what Python reads differently, pipes it on."""

    def __init__(self, stream: BinaryIO, fingerprint: bool = True) -> None:
        self._stream = stream
        self.sha256 = hashlib.sha256() if fingerprint else None
        self.size = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._last = b""
        self._spaced: tuple[bytes, ...] = ()
        self.problem: str | None = None
        self.error: BaseException | None = None
        self.first = b""
        #: Read but not yet written; whether the part has more after the last piece.
        self._pending = b""
        self._ended = False
        self.more = True
        self._newline = b"\n"
        self._end = b""
        self._pieces = 0

    def _read(self) -> bytes:
        chunk = self._stream.read(CHUNK_BYTES)
        if self.sha256 is not None:
            self.sha256.update(chunk)
        self.size += len(chunk)
        return chunk

    def _read_full(self) -> tuple[bytes, bool]:
        """A whole chunk (fewer bytes only at the end of the part) and whether it ended."""
        parts = [self._read()]
        size = len(parts[0])
        while parts[-1] and size < CHUNK_BYTES:
            parts.append(self._read())
            size += len(parts[-1])
        return b"".join(parts), not parts[-1]

    def header(self, file: CsvFile) -> tuple[Sequence[str], int]:
        """Column names and where the data rows start in :attr:`first`, the first chunk.

        A header row is taken here only when it is the first line, whole in the first
        chunk and parsed alike by ``csv`` on its own; anything else is left to Python.
        """
        first, eof = self._read_full()
        self.first = first
        if not file.has_header:
            if not file.columns:
                raise _Fallback("no column names")
            return file.columns, 0
        start = len(codecs.BOM_UTF8) if first.startswith(codecs.BOM_UTF8) else 0
        ends = [i for i in (first.find(b"\n", start), first.find(b"\r", start)) if i >= 0]
        if not ends:
            if not eof:
                raise _Fallback("header row longer than a chunk")
            ends = [len(first)]
        end = min(ends)
        data = end + 2 if first[end : end + 2] == b"\r\n" else end + 1
        if not eof and data + len(codecs.BOM_UTF8) > len(first):
            raise _Fallback("header row at the end of a chunk")
        if first.startswith(codecs.BOM_UTF8, data):
            raise _Fallback("byte-order mark after the header row")
        try:
            line = first[start:end].decode("utf-8")
            cells = next(csv.reader([line], delimiter=file.delimiter, strict=True), None)
        except (UnicodeDecodeError, csv.Error):
            raise _Fallback("header row not plain") from None
        if not line or not cells:
            raise _Fallback("header row not on the first line")
        return cells, min(data, len(first))

    def _check(self, chunk: bytes, first: bool, last: bool) -> None:
        """Note in :attr:`problem` what DuckDB would read otherwise than Python.

        Spaces between a delimiter (or a line's start) and an opening quote, or between a
        closing quote and a delimiter (or a line's end): DuckDB skips them, Python keeps
        the first as data and rejects the second. Checked on runs of spaces squeezed to
        one (inside quoted cells the same bytes only cost a fall-back).
        """
        head = self._last + chunk[:2]
        if (b'"' in chunk or b'"' in self._last) and (
            b'" ' in chunk or b' "' in chunk or b'" ' in head or b' "' in head
        ):
            probe = self._last + chunk
            while b"  " in probe:
                probe = probe.replace(b"  ", b" ")
            if any(pattern in probe for pattern in self._spaced) or (
                (first and probe.lstrip(b" ").startswith(b'"') and probe.startswith(b" "))
                or (last and probe.rstrip(b" ").endswith(b'"') and probe.endswith(b" "))
            ):
                self.problem = "a space beside a quote"
                return
        if not chunk.isascii() or self._utf8.getstate()[0]:
            try:
                self._utf8.decode(chunk)
            except UnicodeDecodeError:
                self.problem = "bytes that are not UTF-8"
                return
        # What a pattern may need from this chunk: its last byte that is not a space,
        # and one space for a run of them.
        kept = chunk.rstrip(b" ")
        self._last = (kept[-1:] if kept else self._last.rstrip(b" ")) + (
            b" " if len(kept) < len(chunk) else b""
        )

    def begin(self, start: int, delimiter: str, width: int) -> None:
        """Set up the feed of the part from ``start`` of the first chunk on."""
        mark = delimiter.encode()
        self._spaced = (mark + b' "', b'\n "', b'\r "', b'" ' + mark, b'" \n', b'" \r')
        self._pending, self.first = self.first[start:], b""
        self._newline = _line_break(self._pending)
        self._end = f'"{END_ROW}"'.encode() + mark * (width - 1)

    def _next(self) -> bytes:
        """The next bytes to write (empty at the end of the part)."""
        if not self._pending and not self._ended:
            self._pending = self._read()
            self._ended = not self._pending
        chunk, self._pending = self._pending, b""
        return chunk

    def _split(self, chunk: bytes, quotes: int) -> int | None:
        """Where a piece may end in ``chunk``: just after a line break outside quotes
        (an even number of quotes since the piece began), or None."""
        mark = self._newline[-1:]
        at = chunk.find(mark)
        seen = 0
        while at >= 0:
            quotes_before = quotes + chunk.count(b'"', seen, at)
            if quotes_before % 2 == 0:
                return at + 1
            quotes, seen = quotes_before, at
            at = chunk.find(mark, at + 1)
        return None

    def feed_piece(self, fd: int) -> None:
        """Write the next piece of the part (about :data:`PIECE_BYTES`, ending at a line
        break outside quotes) to ``fd``, then the end row, and close it; :attr:`more`
        says whether pieces follow.

        DuckDB keeps in memory every byte it reads from a pipe until its query ends
        (https://github.com/duckdb/duckdb/issues/25165), so the part goes through one
        query per piece. The end row (``"END_ROW"`` then empty cells, on a line of its own,
        with the file's line break) is where an unterminated quoted cell at the end of a
        piece shows: a quote inside a quoted cell followed by a letter, which DuckDB
        rejects. Without it DuckDB drops such a last row silently where Python reports
        "unexpected end of data"; and a piece cut inside a quoted cell (when a stray quote
        in an unquoted cell made the count odd) fails the same way, so Python reads the part.
        """
        try:
            with open(fd, "wb") as pipe:
                written = quotes = 0
                first = True
                cut: int | None = None
                while True:
                    chunk = self._next()
                    if not chunk:
                        self.more = False
                        break
                    if written >= PIECE_BYTES:
                        cut = self._split(chunk, quotes)
                        if cut is not None:
                            chunk, self._pending = chunk[:cut], chunk[cut:]
                    if first and self._pieces and chunk.startswith(codecs.BOM_UTF8):
                        self.problem = "a byte-order mark where a piece starts"
                    else:
                        last = not self._pending and self._peek_end()
                        self._check(chunk, first, last)
                    if self.problem is not None:
                        break
                    pipe.write(chunk)
                    written += len(chunk)
                    quotes += chunk.count(b'"')
                    first = False
                    if cut is not None:
                        break  # the rest goes to the next piece
                self._pieces += 1
                if self.problem is None and not self.more:
                    try:
                        self._utf8.decode(b"", final=True)
                    except UnicodeDecodeError:
                        self.problem = "bytes that are not UTF-8"
                if self.problem is None:
                    pipe.write(self._newline + self._end + self._newline)
        except BrokenPipeError:
            pass  # the engine stopped reading (it failed): the reader falls back
        except BaseException as exc:  # a failed download: re-raised by the reader
            self.error = exc
            self.more = False

    def _peek_end(self) -> bool:
        """True when nothing follows what was taken last (reads ahead one chunk)."""
        if self._ended:
            return True
        self._pending = self._read()
        self._ended = not self._pending
        return self._ended


def _line_break(data: bytes) -> bytes:
    """The first line break of ``data`` (CRLF, CR or LF), LF when it has none."""
    cr, lf = data.find(b"\r"), data.find(b"\n")
    if cr >= 0 and (lf < 0 or cr < lf):
        return b"\r\n" if lf == cr + 1 else b"\r"
    return b"\n"


def _u8(view: Any) -> bytes:
    """The values of a uint8 Arrow array view as bytes."""
    if view.offset:
        raise _Fallback("unexpected Arrow offset")
    return memoryview(view.buffer(1)).cast("B")[: view.length].tobytes()


def _i32(view: Any, buffer: int) -> memoryview:
    """An int32 buffer (offsets or values) of an Arrow array view."""
    return memoryview(view.buffer(buffer)).cast("B").cast("i")


class _Query:
    """The engine's read of one part and its per-batch handling."""

    def __init__(
        self,
        file: CsvFile,
        mappings: Sequence[FieldMapping],
        indexes: Sequence[int],
        width: int,
        bits: int,
        region: str,
        erased: Mapping[Schema, Collection[bytes]],
    ) -> None:
        self.file = file
        self.mappings = mappings
        self.indexes = indexes
        self.width = width
        self.bits = bits
        self.shift = 8 - bits
        self.region = region
        self.erased = {m.schema: frozenset(erased.get(m.schema, ())) for m in mappings}
        self.functions = [digest_function(m.schema, region) for m in mappings]
        # Results of values left to Python, per column, while this part is read (the same
        # invalid phone, say "N/A ext", costs one phonenumbers.parse, not thousands).
        self.known: list[dict[str, Result]] = [{} for _ in mappings]
        n = len(mappings)
        self.valid = [0] * n
        self.prehashed = [0] * n
        self.invalid: list[dict[str, int]] = [{} for _ in mappings]
        self.rows = 0
        self.with_identifier = 0
        self.dropped = 0

    def _source(self, path: str) -> str:
        """The part's mapped columns (``r0``...), as Python's ``csv`` reads them, or an error.

        One column more than the file has is declared, with ``null_padding`` and a null
        string no cell can hold, so an empty cell is '' and a missing one NULL: a row with
        fewer fields than the file's columns has NULL in the last one, a row with more has
        a value in the extra one. Both are errors to Python (DuckDB would otherwise ignore
        a trailing empty field, https://duckdb.org/docs/stable/data/csv/overview), so the
        query fails and Python reads the part. Blank lines are skipped by both.
        """
        width = self.width
        names = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width + 1))
        options = (
            f"header = false, auto_detect = false, columns = {{{names}}}, "
            f"delim = {sql_literal(self.file.delimiter)}, quote = '\"', escape = '\"', "
            f"strict_mode = true, null_padding = true, nullstr = {sql_literal(NO_NULL)}, "
            f"parallel = false, max_line_size = {csv.field_size_limit()}, encoding = 'utf-8'"
        )
        picked = ", ".join(f"c{index} AS r{i}" for i, index in enumerate(self.indexes))
        shape = (
            f"CASE WHEN c{width - 1} IS NULL OR c{width} IS NOT NULL "
            "THEN error('a row whose field count differs from the columns') ELSE true END"
        )
        end = f"c0 IS DISTINCT FROM {sql_literal(END_ROW)}"
        return (
            f"SELECT {picked} FROM read_csv({sql_literal(path)}, {options}) WHERE {end} AND {shape}"
        )

    def run(self, feeder: _Feeder, start: int, spool: HashSpool) -> ReadCounts:
        """Read the part a piece at a time (one query each); the counts of every row."""
        database = _engine()
        with _engine_lock:
            connection = database.cursor()
            batches = database.cursor()
        feeder.begin(start, self.file.delimiter, self.width)
        try:
            tables = self._erasure_tables(connection)
            while feeder.more:
                self._piece(feeder, connection, batches, tables, spool)
        finally:
            connection.close()
            batches.close()
        counts = ReadCounts(
            rows=self.rows, profiles_with_identifier=self.with_identifier, erased=self.dropped
        )
        for i, mapping in enumerate(self.mappings):
            record_column(counts, mapping, self.valid[i], self.invalid[i], self.prehashed[i])
        return counts

    def _piece(
        self,
        feeder: _Feeder,
        connection: Any,
        batches: Any,
        tables: list[str | None],
        spool: HashSpool,
    ) -> None:
        import duckdb
        import nanoarrow

        read_fd, write_fd = os.pipe()
        thread = threading.Thread(
            target=feeder.feed_piece, args=(write_fd,), name="native-reader-feed", daemon=True
        )
        failure: str | None = None
        completed = False
        try:
            sql = select_identifiers(
                self._source(f"/dev/fd/{read_fd}"),
                [m.schema for m in self.mappings],
                self.region,
                self.bits,
                tables,
            )
            thread.start()
            relation = connection.sql(sql)
            for batch in nanoarrow.c_array_stream(relation):
                if feeder.problem is not None:
                    break
                self._batch(batch, batches, spool, nanoarrow)
            completed = True
        except duckdb.Error as exc:
            # The message may quote a line of the file: only the error's kind is kept.
            failure = f"the engine failed: {type(exc).__name__}"
            if not isinstance(exc, duckdb.InvalidInputException):
                log.warning("%s: unexpected engine error %s", self.file.name, type(exc).__name__)
            feeder.more = False
        finally:
            if not completed:
                # Closing the connection ends its query and DuckDB's end of the pipe, so a
                # feeder blocked on a full pipe gets a broken pipe and stops.
                with contextlib.suppress(Exception):
                    connection.close()
                feeder.more = False
            os.close(read_fd)
            if thread.ident is None:
                os.close(write_fd)
            else:
                thread.join()
        if feeder.error is not None:
            raise feeder.error
        if feeder.problem is not None:
            raise _Fallback(feeder.problem)
        if failure is not None:
            raise _Fallback(failure)

    def _erasure_tables(self, connection: Any) -> list[str | None]:
        tables: list[str | None] = []
        for i, mapping in enumerate(self.mappings):
            digests = self.erased[mapping.schema]
            if not digests:
                tables.append(None)
                continue
            name = f"snap_erased_{i}"
            connection.execute(
                f"CREATE TEMP TABLE {name} AS SELECT unnest($digests::BLOB[]) AS d",
                {"digests": sorted(digests)},
            )
            tables.append(name)
        return tables

    def _batch(self, batch: Any, batches: Any, spool: HashSpool, nanoarrow: Any) -> None:
        view = batch.view()
        if view.offset or view.null_count:
            raise _Fallback("unexpected Arrow batch")
        n = len(self.mappings)
        self.rows += view.length
        any_valid = _u8(view.child(4 * n))
        self.with_identifier += any_valid.count(1)
        python = False
        for i in range(n):
            codes = _u8(view.child(4 * i))
            self.valid[i] += codes.count(Code.HASHED) + codes.count(Code.PREHASHED)
            self.prehashed[i] += codes.count(Code.PREHASHED)
            self.dropped += codes.count(Code.ERASED)
            python = python or Code.PYTHON in codes
            reasons = self.invalid[i]
            for code, reason in REASON_OF.items():
                found = codes.count(code)
                if found:
                    reasons[reason] = reasons.get(reason, 0) + found
        table = batches.from_arrow(nanoarrow.Array(batch))
        self._digests(table, spool, nanoarrow)
        if python:
            self._python(table, spool)

    def _digests(self, table: Any, spool: HashSpool, nanoarrow: Any) -> None:
        """Append the batch's digests to the spool, grouped per (column, partition)."""
        selects = " UNION ALL ".join(
            f"SELECT {i}::INTEGER AS col, p{i} AS p, list(d{i}) AS ds FROM batch "
            f"WHERE c{i} <= {Code.PREHASHED} GROUP BY p{i}"
            for i in range(len(self.mappings))
        )
        result = table.query("batch", selects)
        for group in nanoarrow.c_array_stream(result):
            view = group.view()
            if view.offset or view.child(0).offset or view.child(2).offset:
                raise _Fallback("unexpected Arrow offset")
            cols = _i32(view.child(0), 1)
            partitions = _u8(view.child(1))
            lists = view.child(2)
            starts = _i32(lists, 1)
            values = lists.child(0)
            if values.offset:
                raise _Fallback("unexpected Arrow offset")
            ends = _i32(values, 1)
            data = memoryview(values.buffer(2)).cast("B")
            for row in range(view.length):
                schema = self.mappings[cols[row]].schema
                first, last = starts[row], starts[row + 1]
                chunk = data[ends[first] : ends[last]]
                if len(chunk) != (last - first) * DIGEST_BYTES:
                    raise _Fallback("a digest that is not 32 bytes")
                spool.buffers[schema][partitions[row] if self.bits else 0] += chunk
                spool.note_added(schema, last - first)

    def _python(self, table: Any, spool: HashSpool) -> None:
        """Settle the values the SQL left to Python (reference digest functions)."""
        n = len(self.mappings)
        columns = ", ".join(f"v{i}" for i in range(n))
        where = " OR ".join(f"c{i} = {Code.PYTHON}" for i in range(n))
        rows = table.query("batch", f"SELECT a, {columns} FROM batch WHERE {where}").fetchall()
        for row in rows:
            found = False
            for i in range(n):
                value = row[i + 1]
                if value is None:
                    continue
                known = self.known[i]
                result = known.get(value)
                if result is None:
                    if len(known) >= KNOWN_VALUES:
                        known.clear()
                    result = known[value] = self.functions[i](value)
                if isinstance(result, bytes):
                    schema = self.mappings[i].schema
                    if result in self.erased[schema]:
                        self.dropped += 1
                        continue
                    spool.add(schema, result)
                    self.valid[i] += 1
                    found = True
                    if len(value) >= 64 and is_prehashed(value):
                        self.prehashed[i] += 1
                else:
                    reasons = self.invalid[i]
                    reason = InvalidReason(result)
                    reasons[reason] = reasons.get(reason, 0) + 1
            if found and row[0] == 2:
                self.with_identifier += 1


__all__ = ["PHONE_RULES_TABLE", "PartRead", "SourceError", "engine_settings", "read_part"]
