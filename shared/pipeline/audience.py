"""The Snapchat audience of a run: created (or adopted) when the export asks for one.

Snap calls an audience a *segment* (``/v1/adaccounts/{id}/segments``, a ``FIRST_PARTY``
customer list: https://developers.snap.com/api/marketing-api/Ads-API/customer-lists); this
code says audience. An export names its audience by id, or asks this app to create one
(``create_audience``). Creation happens at the end of the diff (:mod:`~shared.pipeline.diff`),
once the source has been read and the run is about to send, so a broken export or a
blocked or dry run leaves no empty audience behind.

A worker can die between Snap's answer to a create and the write of the new id. So the
audience's description ends with :func:`audience_marker`, and the export records which run is
creating one (``Export.audience_creation``) before asking Snap: a retried step finds the
audience the dead attempt created and adopts it instead of creating a second one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from shared.models import Connection, Export, Run
from shared.pipeline import records
from shared.pipeline.records import RunFailed
from shared.services import Services
from shared.snapchat import SnapchatError

log = logging.getLogger(__name__)

_MARKER = re.compile(r"\[export (?P<export>[^\s\]]+) run (?P<run>[^\s\]]+)\]$")


def audience_marker(export_id: str, run_id: str) -> str:
    """The tag that ends the description of an audience this app created.

    ``"[export <export_id> run <run_id>]"``: it lets a retried step find the audience that an
    earlier attempt created and did not record (a worker can die between Snap's answer and
    the write of the id), so the retry adopts it instead of creating a second one.
    """
    return f"[export {export_id} run {run_id}]"


def create_for_run(services: Services, run: Run) -> Run:
    """Create the audience the export asks for and record its id on the run (and export)."""
    export = records.load_export(services, run.export_id)
    connection = records.load_connection(services, export)
    audience_id = ensure_audience(services, export, connection, run.id)
    found = services.snapchat(connection.id).get_audience(audience_id)

    def change(r: Run) -> bool:
        if r.status.terminal:
            return False
        r.audience_id = audience_id
        r.audience = records.audience_view(found)
        return True

    return records.update_run(services, run.id, change)


def ensure_audience(services: Services, export: Export, connection: Connection, run_id: str) -> str:
    """The audience id for run ``run_id``, creating the audience when the export asks for it.

    Adopts an audience an earlier attempt created and did not record
    (:func:`unrecorded_audiences`), else creates one tagged with :func:`audience_marker`.
    The id is stored on the export unless it already holds one; then that one wins and an
    audience created here is deleted. Raises :class:`RunFailed` when there is no audience to
    use or the ad account is ambiguous; Snap errors as :mod:`shared.snapchat` raises them.
    """
    if export.audience_id:
        return export.audience_id
    spec = export.create_audience
    if spec is None:
        raise RunFailed("no_audience", f"export '{export.display_name}' has no audience")
    client = services.snapchat(connection.id)
    ad_account = spec.ad_account_id
    if not ad_account:
        accounts = [
            a["id"]
            for org in client.organizations(with_ad_accounts=True)
            for a in org.get("ad_accounts") or []
            if a.get("id")
        ]
        if len(accounts) != 1:
            raise RunFailed(
                "ad_account_ambiguous",
                f"export '{export.display_name}': the signed-in user has {len(accounts)} ad "
                "accounts; set create_audience.ad_account_id",
            )
        ad_account = accounts[0]
    adoptable, left = unrecorded_audiences(client.list_audiences(ad_account), export, run_id)
    if left:
        log.warning(
            "export %s: audiences %s were created for an earlier create_audience setting and "
            "never used; delete them in Snapchat if unwanted",
            export.id,
            ", ".join(left),
        )
    created = not adoptable
    if adoptable:
        audience_id = adoptable[0]
        log.warning(
            "adopting Snapchat audience %s, created for export %s by an attempt that did not "
            "record it%s",
            audience_id,
            export.id,
            f"; also unrecorded: {', '.join(adoptable[1:])}" if adoptable[1:] else "",
        )
    else:

        def pending(current: Export) -> bool:
            if current.audience_id:
                return False  # recorded meanwhile: use it, create nothing
            current.audience_creation = run_id
            return True

        now = records.update_export(services, export.id, pending)
        if now is not None and now.audience_id:
            return now.audience_id
        description = spec.description or f"Customer Insights export '{export.display_name}'"
        made = client.create_audience(
            ad_account,
            spec.name,
            description=f"{description} {audience_marker(export.id, run_id)}",
            retention_in_days=spec.retention_in_days,
        )
        audience_id = str(made["id"])

    def store(current: Export) -> None:
        current.audience_id = current.audience_id or audience_id
        current.audience_creation = None

    stored = records.update_export(services, export.id, store)
    winner = (stored.audience_id if stored else None) or audience_id
    if winner != audience_id and created:
        log.warning(
            "export %s got audience %s meanwhile; deleting %s", export.id, winner, audience_id
        )
        try:
            client.delete_audience(audience_id)
        except SnapchatError as exc:  # ours to tidy, not the run's concern
            log.warning(
                "could not delete audience %s (delete it in Snapchat): %s", audience_id, exc
            )
    elif created:
        log.info("created Snapchat audience %s for export %s", audience_id, export.id)
    return winner


def unrecorded_audiences(
    audiences: Iterable[dict[str, Any]], export: Export, run_id: str
) -> tuple[list[str], list[str]]:
    """Audiences a dead attempt created for ``export`` and never recorded: ``(adoptable,
    left)``, ids sorted.

    An audience is one when its description ends with :func:`audience_marker` for this
    export and this run or the run still named in ``export.audience_creation`` (cleared once
    an id is stored, so an audience a run recorded and filled is never adopted again). It is
    adoptable when its name and retention are still what the export asks for and Snap shows
    it empty; otherwise it is left (``create_audience`` changed since) and only reported.
    """
    spec = export.create_audience
    runs = {run_id, export.audience_creation}
    adoptable: list[str] = []
    left: list[str] = []
    for audience in audiences:
        match = _MARKER.search(str(audience.get("description") or ""))
        if not match or match["export"] != export.id or match["run"] not in runs:
            continue
        same = (
            spec is not None
            and (audience.get("name"), audience.get("retention_in_days"))
            == (spec.name, spec.retention_in_days)
            and not audience.get("approximate_number_users")
        )
        (adoptable if same else left).append(str(audience["id"]))
    return sorted(adoptable), sorted(left)
