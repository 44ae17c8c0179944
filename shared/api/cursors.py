"""Cursors of paged lists: made by the server from the last item it answered, checked whole.

A run-history cursor is the unpadded base64url (RFC 4648 section 5) of
``h1/<export id>/<history entry>``, where the entry is the last run's name in the history
(``<13-digit inverted time>-<run id>``, see :func:`shared.layout.history_entry`). The next
page lists the history after that entry, so a run started between two pages never shifts
them. A cursor is checked before any storage call: only the exact text this module makes,
for the same export, is taken; anything else is :class:`InvalidCursor`, answered as a 422.
The storage service's own continuation tokens never leave the server, and nothing a caller
sends reaches a storage call.
"""

from __future__ import annotations

import base64
import binascii
import re

_VERSION = "h1"
#: A history entry's name below the export's history prefix, without ``.json``.
ENTRY = re.compile(r"[0-9]{13}-[A-Za-z0-9_-]{1,100}")
_TEXT = re.compile(r"[A-Za-z0-9_-]{1,400}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


class InvalidCursor(ValueError):
    """The cursor was not made by this server for this list."""


def encode_history_cursor(export_id: str, entry: str) -> str:
    """The cursor that continues ``export_id``'s history after ``entry``."""
    if not _ID.fullmatch(export_id) or not ENTRY.fullmatch(entry):
        raise ValueError("not an export id and history entry")
    raw = f"{_VERSION}/{export_id}/{entry}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_history_cursor(cursor: str, export_id: str) -> str:
    """The history entry ``cursor`` continues after; :class:`InvalidCursor` unless it is
    exactly a cursor :func:`encode_history_cursor` made for ``export_id``."""
    if not _TEXT.fullmatch(cursor):
        raise InvalidCursor("cursor: not a cursor of this history")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidCursor("cursor: not a cursor of this history") from None
    version, _, rest = raw.partition("/")
    owner, _, entry = rest.partition("/")
    if version != _VERSION or owner != export_id or not ENTRY.fullmatch(entry):
        raise InvalidCursor("cursor: not a cursor of this history")
    if encode_history_cursor(owner, entry) != cursor:  # one spelling per cursor
        raise InvalidCursor("cursor: not a cursor of this history")
    return entry
