"""Erasure: remove a person from every audience and every snapshot, recorded by hash only.

``POST /api/erasures`` (Admin) with ``email``/``phone``/``mobile_ad_id`` values: each is
normalised and hashed by :mod:`shared.identifiers` (the raw value is dropped at once),
removed with ``DELETE /v1/segments/{id}/users`` from the audience of every export, removed
from every export's snapshot (only where the Snap call succeeded, so a failed removal is
repaired by the next mirror run), and recorded as ``erasures/<SCHEMA>/<digest>.json`` with
its time. A later run drops the digest from any export file written *before* the erasure,
so an older export cannot add the person back; a newer export that lists them again does.
Follows the erasure model of Fides' Snap connector (hash the identifier, remove it from
every audience with ``DELETE /v1/segments/{id}/users``: https://github.com/ethyca/fides,
``snap_request_overrides.py``; the endpoint: https://developers.snap.com/api/marketing-api/Ads-API/customer-lists).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared import layout, snapshots
from shared.identifiers import InvalidReason, Schema, digest_function
from shared.models import Connection, Export, Snapshot, utc_now
from shared.services import Services
from shared.snapchat import SnapchatError

log = logging.getLogger(__name__)

ErasureIndex = dict[Schema, dict[bytes, datetime]]


def hash_erasure_values(values: dict[str, str | None], default_region: str) -> dict[Schema, str]:
    """Digest (hex) per schema of the given raw values; ``ValueError`` naming an invalid field.

    ``values`` keys are data-matching field names (``email``, ``phone``, ``mobile_ad_id``).
    """
    digests: dict[Schema, str] = {}
    for field, schema in (
        ("email", Schema.EMAIL),
        ("phone", Schema.PHONE),
        ("mobile_ad_id", Schema.MOBILE_AD_ID),
    ):
        raw = values.get(field)
        if raw is None:
            continue
        result = digest_function(schema, default_region)(raw)
        if isinstance(result, InvalidReason):
            raise ValueError(f"{field} is not valid ({result.value})")
        digests[schema] = result.hex()
    if not digests:
        raise ValueError("give at least one of email, phone, mobile_ad_id")
    return digests


def load_index(services: Services) -> ErasureIndex:
    """Every recorded erasure: digest -> erasure time, per schema (small: one per person)."""
    index: ErasureIndex = {schema: {} for schema in Schema}
    for name, record in services.state.documents(layout.ERASURES_PREFIX):
        erased = layout.erasure_of(name)
        if erased is not None:
            schema, digest = erased
            index[schema][bytes.fromhex(digest)] = _parse_time(record["erased_at"])
    return index


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def erase(services: Services, digests: dict[Schema, str], requested_by: str) -> dict[str, Any]:
    """Carry out an erasure; returns per-export results (no raw values)."""
    erased_at = utc_now()
    for schema, digest in digests.items():
        services.state.put(
            layout.erasure(schema, digest), {"erased_at": erased_at, "requested_by": requested_by}
        )
    results = []
    for _, document in services.state.documents(layout.EXPORTS_PREFIX):
        export = Export.model_validate(document)
        results.append(_erase_from_export(services, export, digests))
    log.info("erasure recorded for %d schema(s) across %d export(s)", len(digests), len(results))
    return {
        "erased_at": erased_at,
        "hashes": {s.value: d for s, d in digests.items()},
        "exports": results,
    }


def _erase_from_export(
    services: Services, export: Export, digests: dict[Schema, str]
) -> dict[str, Any]:
    result: dict[str, Any] = {"export_id": export.id, "audience_id": export.audience_id}
    connection_doc = services.state.get(layout.connection(export.connection_id))
    removed_from_audience: list[Schema] = []
    if export.audience_id and connection_doc is not None:
        connection = Connection.model_validate(connection_doc)
        if connection.signed_in is not None:
            client = services.snapchat(connection.id)
            for schema, digest in digests.items():
                try:
                    client.remove_users(export.audience_id, schema, [digest])
                    removed_from_audience.append(schema)
                except SnapchatError as exc:
                    result.setdefault("errors", []).append(f"{schema.value}: {exc}")
    result["removed_from_audience"] = [s.value for s in removed_from_audience]
    removed = 0
    if export.snapshot is not None:
        for schema in removed_from_audience:
            removed += snapshots.remove_digests(
                services.state,
                export.id,
                export.snapshot,
                schema,
                {bytes.fromhex(digests[schema])},
            )
    result["removed_from_snapshot"] = removed
    return result


def reapply_since(
    services: Services, export: Export, audience_id: str, snapshot: Snapshot, since: datetime
) -> dict[str, int]:
    """Apply erasures recorded after ``since`` (a run's start) to what that run sent.

    A run reads the erasure index when it reads the export; a person erased later could be
    in its uploads and in ``snapshot`` (its new snapshot, or the target it failed to reach).
    Each such digest is removed from ``audience_id`` and then from ``snapshot`` (only where
    Snap accepted the removal; otherwise a later run removes it, since the export predates
    the erasure). Returns, per schema, how many digests left ``snapshot``.
    """
    late = {
        schema: [digest for digest, when in found.items() if when > since]
        for schema, found in load_index(services).items()
    }
    removed: dict[str, int] = {}
    if not any(late.values()):
        return removed
    client = services.snapchat(export.connection_id)
    for schema, digests in late.items():
        if not digests:
            continue
        try:
            client.remove_users(audience_id, schema, [d.hex() for d in digests])
        except SnapchatError as exc:
            log.warning("an erasure made during the run is left to the next run: %s", exc)
            continue
        removed[schema.value] = snapshots.remove_digests(
            services.state, export.id, snapshot, schema, set(digests)
        )
    return removed
