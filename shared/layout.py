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
"""

from __future__ import annotations

from datetime import datetime

from shared.identifiers import Schema

_MAX_TIME = 10**13


def connection(connection_id: str) -> str:
    return f"connections/{connection_id}.json"


def export(export_id: str) -> str:
    return f"exports/{export_id}.json"


def run(run_id: str) -> str:
    return f"runs/{run_id}.json"


def history_prefix(export_id: str) -> str:
    return f"history/{export_id}/"


def history_entry(export_id: str, run_id: str, created: datetime) -> str:
    """Names sort newest first: the millisecond time is subtracted from a constant."""
    inverted = _MAX_TIME - int(created.timestamp() * 1000)
    return f"{history_prefix(export_id)}{inverted:013d}-{run_id}.json"


def step(run_id: str, phase: str, item: int | str) -> str:
    return f"steps/{run_id}/{phase}/{item}.json"


def steps_prefix(run_id: str, phase: str | None = None) -> str:
    return f"steps/{run_id}/{phase}/" if phase else f"steps/{run_id}/"


def claim(run_id: str, phase: str) -> str:
    return f"steps/{run_id}/claims/{phase}.json"


def snapshot_prefix(export_id: str, run_id: str | None = None) -> str:
    return f"snapshots/{export_id}/{run_id}/" if run_id else f"snapshots/{export_id}/"


def snapshot_file(export_id: str, run_id: str, schema: Schema, partition: int) -> str:
    return f"{snapshot_prefix(export_id, run_id)}{schema.value}/{partition:03d}.bin"


def erasure(schema: Schema, digest_hex: str) -> str:
    return f"erasures/{schema.value}/{digest_hex}.json"


ERASURES_PREFIX = "erasures/"


#: The send times of every Snap request (:class:`shared.snapchat.rate_limit.SharedRateLimiter`).
SNAPCHAT_RATE_SCHEDULE = "rate-limits/snapchat.json"


def oauth_state(state: str) -> str:
    return f"oauth-states/{state}.json"


def read_prefix(run_id: str, schema: Schema, partition: int) -> str:
    return f"{run_id}/read/{schema.value}/{partition:03d}/"


def read_file(run_id: str, schema: Schema, partition: int, part: int) -> str:
    return f"{read_prefix(run_id, schema, partition)}{part:05d}.bin"


def diff_file(run_id: str, schema: Schema, partition: int, op: str) -> str:
    return f"{run_id}/diff/{schema.value}/{partition:03d}.{op}.bin"


def staging_prefix(run_id: str) -> str:
    return f"{run_id}/"
