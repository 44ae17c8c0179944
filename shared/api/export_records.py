"""Export configuration: create, change and delete export records, with the API's rules.

An export is saved, never run, by these functions (Customer Insights: "saving an export
does not run it"). Rules:

* the connection must exist (422 on ``connection_id``), be usable by the caller (403) and
  be ``ready`` (409 ``connection_not_ready`` naming what is missing);
* exactly one of ``audience_id`` and ``create_audience`` (422);
* the export folder's model.json must hold the segments and their mapped columns, and Snap
  must show the audience (or the ad account to create it in) to the connection
  (:mod:`shared.api.export_checks`: 422 naming what is wrong and listing what exists; saved
  with ``validation.status: incomplete`` and a warning when the folder or Snap cannot be
  reached); checked on create and when a change touches what a run reads;
* one audience is fed by one export when either is ``mirror`` (409 ``audience_in_use``):
  two mirror exports would remove each other's people;
* while a run is in progress, the fields it reads (connection, audience, data matching,
  segments, sync mode, source) cannot change, and the export cannot be deleted (409
  ``run_in_progress`` with ``run_id``);
* run state (``active_run_id``, ``snapshot``, ``last_exported_version``, ``last_run``,
  ``audience``) is written by runs only.

Every change is a compare-and-swap on ``exports/<id>.json``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from shared import connections, layout, run_control
from shared.api import export_checks
from shared.api.access import actor, require_use
from shared.api.errors import ApiError, field_error
from shared.api.principal import Principal
from shared.api.schemas import ID_PATTERN, ExportCreate, ExportPatch
from shared.models import Connection, Export, SyncMode, utc_now
from shared.services import Services

#: Fields a run reads after it started: frozen while one is in progress.
RUN_INPUT_FIELDS = frozenset(
    {"connection_id", "audience_id", "create_audience", "data_matching", "segments"}
    | {"sync_mode", "source"}
)
#: An Azure blob container name.
_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def check_id(value: str, what: str) -> str:
    """``value`` if it looks like an id of ours (all of it: a trailing newline is not an id);
    else :class:`ApiError` 404 ``no such <what>``. Checked before any storage call."""
    if not ID_PATTERN.fullmatch(value):
        raise ApiError(404, "not_found", f"no such {what}")
    return value


def load_export(services: Services, export_id: str) -> Export:
    """The export; :class:`ApiError` 404 when there is none."""
    document = services.state.get(layout.export(check_id(export_id, "export")))
    if document is None:
        raise ApiError(404, "not_found", "no such export")
    return Export.model_validate(document)


def list_exports(services: Services) -> list[Export]:
    """Every export, in id order."""
    return [
        Export.model_validate(document)
        for _, document in services.state.documents(layout.EXPORTS_PREFIX)
    ]


def usable_connection(services: Services, connection_id: str, principal: Principal) -> Connection:
    """The connection an export is saved with: exists (422), usable (403), ready (409)."""
    connection = connections.get_connection(services, connection_id)
    if connection is None:
        raise field_error(["connection_id"], "connection_id: no such connection")
    require_use(principal, connection)
    require_ready(connection)
    return connection


def require_ready(connection: Connection) -> None:
    """409 ``connection_not_ready`` naming what ``connection`` still misses (consent,
    Snapchat sign-in, export user); nothing when it is ready."""
    if connection.missing:
        raise ApiError(
            409,
            "connection_not_ready",
            f"connection '{connection.display_name}' is not ready: missing "
            + ", ".join(connection.missing),
        )


def require_export_access(services: Services, export: Export, principal: Principal) -> None:
    """403 unless the caller may change or run ``export`` (through its connection)."""
    if principal.is_admin:
        return
    require_use(principal, connections.get_connection(services, export.connection_id))


def _check_audience_free(
    services: Services, export_id: str, audience_id: str | None, sync_mode: SyncMode
) -> None:
    if audience_id is None:
        return
    for other in list_exports(services):
        if other.id == export_id or other.audience_id != audience_id:
            continue
        if SyncMode.MIRROR in (sync_mode, other.sync_mode):
            raise ApiError(
                409,
                "audience_in_use",
                f"audience {audience_id} is already fed by export '{other.display_name}'; "
                "a mirror export must be the only one feeding its audience",
                fields=["audience_id"],
            )


def is_exports_container(services: Services, container: str) -> bool:
    """Whether ``container`` may be read as a Customer Insights exports container: a valid
    Azure container name among ``EXPORTS_CONTAINER`` and ``EXPORTS_OTHER_CONTAINERS``
    (:attr:`~shared.config.Settings.exports_containers`)."""
    return bool(_CONTAINER.fullmatch(container)) and (
        container in services.settings.exports_containers
    )


def not_an_exports_container(services: Services) -> str:
    """Why a container is refused, naming the ones this app reads (names, not secrets)."""
    allowed = ", ".join(f"'{c}'" for c in services.settings.exports_containers) or "none"
    return (
        f"not an exports container of this app (it reads {allowed}: EXPORTS_CONTAINER and "
        "EXPORTS_OTHER_CONTAINERS)"
    )


def is_export_prefix(prefix: str) -> bool:
    """Whether ``prefix`` stays inside its container: no leading ``/``, no ``.``/``..``."""
    return not prefix.startswith("/") and not any(p in (".", "..") for p in prefix.split("/"))


def _check_places(services: Services, given: dict[str, Any]) -> None:
    """Where an export reads and writes must stay where it belongs: the source container is
    a Customer Insights one (never this app's state or staging container), its prefix has no
    ``.``/``..`` segments, and an ad account id is a plain id (it goes into Snap URLs)."""
    source = given.get("source")
    if source:
        if not is_exports_container(services, str(source.get("container", ""))):
            raise field_error(
                ["source.container"], f"source.container: {not_an_exports_container(services)}"
            )
        if not is_export_prefix(str(source.get("prefix") or "")):
            raise field_error(["source.prefix"], "source.prefix: no '.', '..' or leading '/'")
    account = (given.get("create_audience") or {}).get("ad_account_id")
    if account is not None and not ID_PATTERN.fullmatch(str(account)):
        raise field_error(
            ["create_audience.ad_account_id"], "create_audience.ad_account_id: not an id"
        )


def create_export(services: Services, body: ExportCreate, principal: Principal) -> Export:
    """Save a new export (not run). Raises :class:`ApiError` per the module rules."""
    if (body.audience_id is None) == (body.create_audience is None):
        raise field_error(
            ["audience_id", "create_audience"],
            "give exactly one of audience_id and create_audience",
        )
    _check_unique_segments(body.segments)
    _check_places(services, body.model_dump(mode="json"))
    connection = usable_connection(services, body.connection_id, principal)
    export_id = uuid.uuid4().hex
    _check_audience_free(services, export_id, body.audience_id, body.sync_mode)
    export = Export(id=export_id, created=actor(principal), **body.model_dump())
    export.validation = export_checks.validate_export(services, export, connection)
    if not services.state.create(layout.export(export.id), export.model_dump(mode="json")):
        raise RuntimeError("export id collision")  # pragma: no cover - uuid4
    return export


def _check_unique_segments(segments: list[str] | None) -> None:
    if segments is not None and len(set(segments)) != len(segments):
        raise field_error(["segments"], "segments: a segment is listed twice")


def patch_export(
    services: Services, export_id: str, patch: ExportPatch, principal: Principal
) -> Export:
    """Change the given fields of an export (compare-and-swap) and return it.

    Pointing an inactive export at a ready connection makes it active again. Raises
    :class:`ApiError` per the module rules (both the current and a new connection must be
    usable by the caller).
    """
    current = load_export(services, export_id)
    require_export_access(services, current, principal)
    # Only ``source`` takes null (the schema refuses it elsewhere); left-out fields are absent.
    given = patch.model_dump(mode="json", include=patch.model_fields_set)
    if "audience_id" in given and "create_audience" in given:
        raise field_error(
            ["audience_id", "create_audience"],
            "give at most one of audience_id and create_audience",
        )
    _check_unique_segments(given.get("segments"))
    _check_places(services, given)
    connection = None
    if "connection_id" in given:
        connection = usable_connection(services, given["connection_id"], principal)
    if "audience_id" in given:
        given["create_audience"] = None
        # Chosen by hand: what an earlier attempt created and never recorded is not adopted
        # later, once this audience has been filled (see pipeline.audience.unrecorded_audiences).
        given["audience_creation"] = None
    elif "create_audience" in given:
        given["audience_id"] = None
    if "audience_id" in given or "sync_mode" in given:
        sync_mode = SyncMode(given.get("sync_mode") or current.sync_mode)
        audience_id = given["audience_id"] if "audience_id" in given else current.audience_id
        _check_audience_free(services, export_id, audience_id, sync_mode)
    if export_checks.CHECKED_FIELDS & given.keys():
        _refuse_while_running(services, current, given)
        proposed = Export.model_validate({**current.model_dump(mode="json"), **given})
        if connection is None:
            connection = connections.get_connection(services, current.connection_id)
        validation = export_checks.validate_export(services, proposed, connection)
        given["validation"] = validation.model_dump(mode="json")
    reactivate = "connection_id" in given

    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        _refuse_while_running(services, document, given)
        document.update(given)
        if reactivate:
            document.update(status="active", inactive_reason=None)
        document["updated_at"] = utc_now()
        return Export.model_validate(document).model_dump(mode="json")

    stored = services.state.update(layout.export(export_id), mutate)
    if stored is None:
        raise ApiError(404, "not_found", "no such export")
    return Export.model_validate(stored)


def _refuse_while_running(
    services: Services, current: Export | dict[str, Any], given: dict[str, Any]
) -> None:
    """409 ``run_in_progress`` when ``given`` changes a field a running run reads."""
    document = current.model_dump(mode="json") if isinstance(current, Export) else current
    changing = {f for f in RUN_INPUT_FIELDS & given.keys() if document.get(f) != given[f]}
    if not changing:
        return
    running = run_control.run_in_progress(services, document.get("active_run_id"))
    if running:
        raise ApiError(
            409,
            "run_in_progress",
            "a run of this export is in progress; change "
            + ", ".join(sorted(changing))
            + " after it ends",
            run_id=running,
        )


def delete_export(services: Services, export_id: str, principal: Principal) -> None:
    """Delete an export record and its snapshots; its run history stays readable.

    The Snapchat audience is left as it is (Customer Insights does the same). 409
    ``run_in_progress`` with ``run_id`` while a run is in progress; the delete is conditional
    on the ETag read, so a run starting meanwhile is never orphaned.
    """
    name = layout.export(check_id(export_id, "export"))
    for _ in range(20):
        found = services.state.read(name)
        if found is None:
            raise ApiError(404, "not_found", "no such export")
        document, etag = found
        export = Export.model_validate(document)
        require_export_access(services, export, principal)
        running = run_control.run_in_progress(services, export.active_run_id)
        if running:
            raise ApiError(
                409,
                "run_in_progress",
                "a run of this export is in progress; delete it after the run ends",
                run_id=running,
            )
        if services.state.delete(name, etag=etag):
            services.state.delete_prefix(layout.snapshot_prefix(export_id))
            return
    raise ApiError(409, "concurrent_update", "the export is being changed; try again")
