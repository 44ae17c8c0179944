"""Blob names of everything this app stores, in one place.

State container (``STATE_CONTAINER``; kept)::

    connections/<id>.json            exports/<id>.json            runs/<run_id>.json
    history/<export_id>/<inverted time>-<run_id>.json                 (run history, newest first)
    steps/<run_id>/<phase>/<item>.json                                (completion records)
    steps/<run_id>/claims/<phase>.json                                (phase transitions)
    snapshots/<export_id>/<run_id>/<SCHEMA>/<partition>.bin           (hashes last sent)
    erasures/<SCHEMA>/<hex digest>.json                               (erasures, by hash only)
    oauth-states/<state>.json                                         (pending sign-ins)
    rate-limits/snapchat.json                      (next Snap send time per connection and app)

Staging container (``STAGING_CONTAINER``; deleted after each run, lifecycle rule after 7 days)::

    <run_id>/read/<SCHEMA>/<partition>/<part>.bin                     (digests read from a part)
    <run_id>/diff/<SCHEMA>/<partition>.<add|remove>.bin               (sorted digests to send)

``.bin`` files hold concatenated 32-byte SHA-256 digests, never raw identifiers.

This module is the only place that spells these names: it builds them and parses them back
(:func:`step_item`, :func:`history_run_id`, :func:`erasure_of`). Other modules list a
folder through its ``*_PREFIX`` constant or prefix function, never a literal.
"""

from __future__ import annotations

from datetime import datetime

from shared.identifiers import Schema

_MAX_TIME = 10**13

#: Folders of the state container that hold one JSON record per entity.
CONNECTIONS_PREFIX = "connections/"
EXPORTS_PREFIX = "exports/"
RUNS_PREFIX = "runs/"
ERASURES_PREFIX = "erasures/"
OAUTH_STATES_PREFIX = "oauth-states/"


def connection(connection_id: str) -> str:
    return f"{CONNECTIONS_PREFIX}{connection_id}.json"


def export(export_id: str) -> str:
    return f"{EXPORTS_PREFIX}{export_id}.json"


def run(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}.json"


def history_prefix(export_id: str) -> str:
    return f"history/{export_id}/"


def history_entry(export_id: str, run_id: str, created: datetime) -> str:
    """Names sort newest first: the millisecond time is subtracted from a constant."""
    inverted = _MAX_TIME - int(created.timestamp() * 1000)
    return f"{history_prefix(export_id)}{inverted:013d}-{run_id}.json"


def history_run_id(name: str) -> str:
    """The run id of a :func:`history_entry` name."""
    return _leaf(name).split("-", 1)[1]


def step(run_id: str, phase: str, item: int | str) -> str:
    return f"steps/{run_id}/{phase}/{item}.json"


def step_item(name: str) -> str:
    """The item of a :func:`step` name (a part, partition or batch number, or a word)."""
    return _leaf(name)


def steps_prefix(run_id: str, phase: str | None = None) -> str:
    return f"steps/{run_id}/{phase}/" if phase else f"steps/{run_id}/"


def claim(run_id: str, phase: str) -> str:
    return f"steps/{run_id}/claims/{phase}.json"


def snapshot_prefix(export_id: str, run_id: str | None = None) -> str:
    return f"snapshots/{export_id}/{run_id}/" if run_id else f"snapshots/{export_id}/"


def snapshot_file(export_id: str, run_id: str, schema: Schema, partition: int) -> str:
    return f"{snapshot_prefix(export_id, run_id)}{schema.value}/{partition:03d}.bin"


def erasure(schema: Schema, digest_hex: str) -> str:
    return f"{ERASURES_PREFIX}{schema.value}/{digest_hex}.json"


def erasure_of(name: str) -> tuple[Schema, str] | None:
    """``(schema, hex digest)`` of an :func:`erasure` name; ``None`` for any other name."""
    parts = name.split("/")
    if len(parts) != 3 or f"{parts[0]}/" != ERASURES_PREFIX or not parts[2].endswith(".json"):
        return None
    try:
        return Schema(parts[1]), parts[2][: -len(".json")]
    except ValueError:
        return None


#: The send times of every Snap request (:class:`shared.snapchat.rate_limit.SharedRateLimiter`).
SNAPCHAT_RATE_SCHEDULE = "rate-limits/snapchat.json"


def oauth_state(state: str) -> str:
    return f"{OAUTH_STATES_PREFIX}{state}.json"


def read_prefix(run_id: str, schema: Schema, partition: int) -> str:
    return f"{run_id}/read/{schema.value}/{partition:03d}/"


def read_file(run_id: str, schema: Schema, partition: int, part: int) -> str:
    return f"{read_prefix(run_id, schema, partition)}{part:05d}.bin"


def diff_file(run_id: str, schema: Schema, partition: int, op: str) -> str:
    return f"{run_id}/diff/{schema.value}/{partition:03d}.{op}.bin"


def staging_prefix(run_id: str) -> str:
    return f"{run_id}/"


def _leaf(name: str) -> str:
    """The last part of a blob name without ``.json`` (or ``.bin``)."""
    return name.rsplit("/", 1)[-1].split(".", 1)[0]
