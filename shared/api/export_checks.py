"""Checks made when an export is saved (created, or changed in what a run reads).

A run would otherwise find these out hours later, on a schedule. They read what the run
reads, through the same code (:mod:`shared.cdm_export`, :func:`shared.csv_source.match_column`,
:class:`~shared.snapchat.SnapchatClient`):

* **the export folder** (``source``, else the app settings ``EXPORTS_CONTAINER`` /
  ``EXPORTS_PREFIX``): its ``model.json`` (CDM model.json,
  https://learn.microsoft.com/common-data-model/model-json) must hold every segment as an
  entity (same name, or the only one differing in letter case), and each chosen segment
  must have every mapped column of ``data_matching`` among its attributes. Without
  model.json, or for a segment model.json does not describe, the older flat file
  ``<ExportName>_<Segment>_<unixtime>.csv`` beside the folder is accepted, as runs do (its
  columns are then checked by the run, which reads its header row: a warning says so);
* **the audience**: ``audience_id`` must be a Snap segment the connection can read
  (``GET /v1/segments/{id}``), a customer list (``source_type`` ``FIRST_PARTY``; Snap takes
  uploaded identifiers only into those) in an ad account the connection sees
  (``GET /v1/me/organizations?with_ad_accounts=true``). Nothing is written to Snap. For
  ``create_audience`` the ad account must be one the connection sees; left out, the
  connection must see exactly one (the one a run would create the audience in).

A definite problem answers 422 ``validation_error`` naming each field (``source``,
``source.container``, ``source.prefix``, ``segments.<i>``, ``data_matching.<field>``,
``audience_id``, ``create_audience.ad_account_id``) and listing what exists (entities,
attributes, ad accounts). A connection whose Snapchat sign-in Snap refuses answers 409
``connection_not_ready``. When the export folder or Snap cannot be reached at that moment
(transport errors, 5xx, 429, other storage errors), the export is saved and
:class:`~shared.models.ExportValidation` says ``incomplete`` with a warning naming what was
not checked. Each storage call is made once (connect within 5 s, read within 10 s) and each
Snap call once within :data:`SNAP_TIMEOUT_S`, so a save never waits on retries.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError

from shared.api.errors import ApiError, field_error
from shared.api.names import CDM_NAME_EXCLUDED, code_point
from shared.cdm_export import (
    ContainerNotFound,
    find_entity,
    model_json_name,
    newest_flat_file,
    parse_model_json,
)
from shared.csv_source import SourceError, match_column
from shared.models import Connection, Export, ExportValidation
from shared.services import Services
from shared.snapchat import SnapchatClient
from shared.snapchat.client import FIRST_PARTY
from shared.snapchat.errors import (
    SnapchatAuthError,
    SnapchatError,
    SnapchatNotFoundError,
    SnapchatPermissionError,
)

#: Seconds each Snap call of a save may take (one attempt, no retry).
SNAP_TIMEOUT_S = 10.0
#: Names listed in an error before "and N more".
MAX_LISTED = 50
#: Export fields whose change is checked again.
CHECKED_FIELDS = frozenset(
    {"connection_id", "audience_id", "create_audience", "data_matching", "segments", "source"}
)


@dataclass
class _Findings:
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def sign_in_refused(connection_name: str, exc: SnapchatAuthError) -> ApiError:
    """409 ``connection_not_ready``: Snap refused the connection's sign-in (a revoked or
    expired refresh token); the administrator must sign in with Snapchat again."""
    return ApiError(
        409,
        "connection_not_ready",
        f"connection '{connection_name}': Snapchat refused its sign-in "
        f"({shown(exc.message, 300)}); sign in with Snapchat again",
    )


def shown(name: str, limit: int = 100) -> str:
    """A name from model.json or Snap as an error shows it: characters no one types as
    ``U+XXXX``, at most ``limit`` characters."""
    text = "".join(
        code_point(c) if unicodedata.category(c) in CDM_NAME_EXCLUDED else c for c in name
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def listed(names: Iterable[str]) -> str:
    """``'a', 'b', ... and N more`` (``none`` when empty)."""
    every = [f"'{shown(n)}'" for n in names]
    if not every:
        return "none"
    head = ", ".join(every[:MAX_LISTED])
    return head + (f" and {len(every) - MAX_LISTED} more" if len(every) > MAX_LISTED else "")


def validate_export(
    services: Services, export: Export, connection: Connection | None
) -> ExportValidation:
    """Check ``export`` as it is about to be saved (see the module docstring).

    Returns the :class:`ExportValidation` to store. Raises :class:`ApiError` 422 naming
    every field found wrong, or 409 ``connection_not_ready`` when Snap refuses the
    connection's sign-in.
    """
    findings = _Findings()
    _check_source(services, export, findings)
    if connection is None:
        findings.warnings.append(
            "the export's connection was deleted: the audience was not checked"
        )
    else:
        _check_audience(services, export, connection, findings)
    if findings.errors:
        fields = list(dict.fromkeys(f for f, _ in findings.errors))
        raise field_error(fields, "; ".join(f"{f}: {m}" for f, m in findings.errors))
    return ExportValidation(
        status="incomplete" if findings.warnings else "passed", warnings=findings.warnings
    )


# -- the export folder ----------------------------------------------------------------------
def _check_source(services: Services, export: Export, findings: _Findings) -> None:
    given = export.source is not None
    container = (
        export.source.container if export.source else services.settings.get("EXPORTS_CONTAINER")
    )
    prefix = (
        export.source.prefix if export.source else services.settings.get("EXPORTS_PREFIX")
    ) or ""
    if not container:
        findings.errors.append(
            (
                "source",
                "no export folder: give source (container and prefix); the app setting "
                "EXPORTS_CONTAINER is not set",
            )
        )
        return
    store = services.exports_store(container, quick=True)
    model_name = model_json_name(prefix)
    try:
        data = store.read_bytes(model_name)
        entities = parse_model_json(data, model_name) if data is not None else None
        missing: list[tuple[int, str]] = []
        for index, segment in enumerate(export.segments):
            entity = find_entity(entities, segment) if entities is not None else None
            if entity is not None:
                _check_columns(export, entity.name, entity.columns, model_name, findings)
                continue
            flat = newest_flat_file(store, prefix, segment)
            if flat is None:
                missing.append((index, segment))
            else:
                findings.warnings.append(
                    f"segment '{shown(segment)}' is read from the flat file "
                    f"{shown(flat.files[0].name, 300)}: its columns are checked when a run "
                    "reads its header row"
                )
    except ContainerNotFound:
        findings.errors.append(
            (
                "source.container" if given else "source",
                f"container '{shown(container)}' does not exist in the exports storage account",
            )
        )
        return
    except SourceError as exc:  # model.json is not usable
        findings.errors.append(("source.prefix" if given else "source", shown(str(exc), 500)))
        return
    except AzureError as exc:
        findings.warnings.append(
            f"the export folder could not be read ({_azure_reason(exc)}): segments and data "
            "matching were not checked"
        )
        return
    if not missing:
        return
    if entities is None:
        where = "source.prefix" if given else "source"
        findings.errors.append(
            (
                where,
                f"no {shown(model_name, 300)} in container '{shown(container)}' (and no flat file "
                f"of segment {listed(s for _, s in missing)} beside it): the export folder is "
                "CustomerInsights_<instanceId>/<ExportName>, where Customer Insights writes "
                "model.json each time the export runs",
            )
        )
        return
    for index, segment in missing:
        findings.errors.append(
            (
                f"segments.{index}",
                f"'{shown(segment)}' is not a segment (entity) of {shown(model_name, 300)} "
                f"(its entities: {listed(sorted(entities))})",
            )
        )


def _check_columns(
    export: Export,
    segment: str,
    columns: tuple[str, ...],
    model_name: str,
    findings: _Findings,
) -> None:
    names = [c.strip() for c in columns]
    for key, column in export.data_matching.model_dump().items():
        if not column:
            continue
        matches = match_column(names, column)
        if len(matches) == 1:
            continue
        if matches:
            same = listed(names[i] for i in matches)
            message = (
                f"column '{shown(column)}' matches attributes {same} of segment "
                f"'{shown(segment)}', which differ only in letter case; name one exactly"
            )
        else:
            message = (
                f"column '{shown(column)}' is not an attribute of segment '{shown(segment)}' "
                f"in {shown(model_name, 300)} (its attributes: {listed(names)})"
            )
        findings.errors.append((f"data_matching.{key}", message))


def _azure_reason(exc: AzureError) -> str:
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    if status:
        return f"HTTP {status}" + (f" {code}" if code else "")
    return exc.__class__.__name__


# -- the audience ---------------------------------------------------------------------------
def _check_audience(
    services: Services, export: Export, connection: Connection, findings: _Findings
) -> None:
    name = shown(connection.display_name)
    try:
        client = services.snapchat(connection.id).bounded(timeout_s=SNAP_TIMEOUT_S)
        if export.audience_id:
            _check_audience_id(client, export.audience_id, name, findings)
        elif export.create_audience is not None:
            _check_ad_account(client, export.create_audience.ad_account_id, name, findings)
    except SnapchatAuthError as exc:
        raise sign_in_refused(name, exc) from None
    except SnapchatError as exc:
        findings.warnings.append(
            f"Snapchat could not be reached ({shown(str(exc), 300)}): the audience was not checked"
        )
    except AzureError as exc:
        findings.warnings.append(
            f"the connection's Snapchat sign-in could not be read ({_azure_reason(exc)}): the "
            "audience was not checked"
        )


def _ad_accounts(client: SnapchatClient) -> list[dict[str, Any]]:
    """Ad accounts the connection sees, as a run looks for them."""
    return [
        a
        for org in client.organizations(with_ad_accounts=True)
        for a in org.get("ad_accounts") or []
        if isinstance(a, dict) and a.get("id")
    ]


def _accounts_listed(accounts: list[dict[str, Any]]) -> str:
    if not accounts:
        return "none"
    text = ", ".join(
        f"'{shown(str(a.get('name') or ''))}' ({shown(str(a['id']))})"
        for a in accounts[:MAX_LISTED]
    )
    more = len(accounts) - MAX_LISTED
    return text + (f" and {more} more" if more > 0 else "")


def _check_audience_id(
    client: SnapchatClient, audience_id: str, connection: str, findings: _Findings
) -> None:
    try:
        segment = client.get_audience(audience_id)
    except SnapchatNotFoundError:
        try:
            seen = f"; its ad accounts: {_accounts_listed(_ad_accounts(client))}"
        except SnapchatError:
            seen = ""
        findings.errors.append(
            (
                "audience_id",
                f"Snap has no audience (segment) {audience_id} that connection '{connection}' "
                f"can see{seen}",
            )
        )
        return
    except SnapchatPermissionError:
        findings.errors.append(
            (
                "audience_id",
                f"the Snapchat user signed in on connection '{connection}' lacks Admin or Data "
                f"Manager on the ad account of audience {audience_id}",
            )
        )
        return
    source_type = str(segment.get("source_type") or "")
    if source_type.upper() != FIRST_PARTY:
        findings.errors.append(
            (
                "audience_id",
                f"audience {audience_id} is a {shown(source_type or 'untyped')} audience, not a "
                f"customer list ({FIRST_PARTY}): only customer lists take uploaded identifiers",
            )
        )
        return
    account = str(segment.get("ad_account_id") or "")
    accounts = _ad_accounts(client)
    if account not in {str(a["id"]) for a in accounts}:
        findings.errors.append(
            (
                "audience_id",
                f"audience {audience_id} is in ad account {shown(account or 'unknown')}, which "
                f"connection '{connection}' does not see (its ad accounts: "
                f"{_accounts_listed(accounts)})",
            )
        )


def _check_ad_account(
    client: SnapchatClient, ad_account_id: str | None, connection: str, findings: _Findings
) -> None:
    accounts = _ad_accounts(client)
    if ad_account_id:
        if ad_account_id not in {str(a["id"]) for a in accounts}:
            findings.errors.append(
                (
                    "create_audience.ad_account_id",
                    f"ad account {ad_account_id} is not one connection '{connection}' sees "
                    f"(its ad accounts: {_accounts_listed(accounts)})",
                )
            )
        return
    if len(accounts) != 1:
        findings.errors.append(
            (
                "create_audience.ad_account_id",
                f"connection '{connection}' sees {len(accounts)} ad accounts "
                f"({_accounts_listed(accounts)}): name the one to create the audience in",
            )
        )
