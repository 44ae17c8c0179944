"""Runs: start one ("Run") or several ("Run all"), read a run and an export's history.

Starting only queues a run (:func:`shared.run_control.start_run`); the queue functions do
the work. One export never runs twice at once: a second start answers 409
``run_in_progress`` with the running run's ``run_id``. Administrators may run any export,
contributors those whose connection is shared with them; every role may read runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from shared import connections, run_control
from shared.api import export_records
from shared.api.access import Caller, EditorCaller, may_use
from shared.api.cursors import InvalidCursor, decode_history_cursor, encode_history_cursor
from shared.api.errors import ApiError, errors, field_error
from shared.api.principal import Principal
from shared.api.schemas import (
    RunHistory,
    RunProgress,
    RunRefused,
    RunRefusedError,
    RunRequest,
    RunsRequest,
    RunsStarted,
    RunStarted,
    RunStartedFor,
)
from shared.models import Export, RunOptions, Schedule
from shared.services import Services, get_services

router = APIRouter(tags=["runs"])


def status_url(run_id: str) -> str:
    return f"/api/runs/{run_id}"


def start_export_run(
    services: Services, export: Export, principal: Principal, options: RunOptions
) -> RunStarted:
    """Queue an on-demand run of ``export`` for ``principal``; :class:`ApiError` 403 (not
    the caller's to run), 404, or 409 (``export_inactive``, ``connection_not_ready``,
    ``run_in_progress`` with ``run_id``)."""
    export_records.require_export_access(services, export, principal)
    if export.status != "active":
        raise ApiError(
            409,
            "export_inactive",
            f"export '{export.display_name}' is inactive: {export.inactive_reason or 'no reason'}",
        )
    connection = connections.get_connection(services, export.connection_id)
    if connection is not None:
        export_records.require_ready(connection)
    try:
        run = run_control.start_run(
            services, export.id, trigger="on_demand", options=options, requested_by=principal.id
        )
    except run_control.ExportNotFound:
        raise ApiError(404, "not_found", "no such export") from None
    except run_control.ExportNotRunnable as exc:
        raise ApiError(409, "export_inactive", str(exc)) from None
    except run_control.RunInProgress as exc:
        raise ApiError(
            409, "run_in_progress", "a run of this export is in progress", run_id=exc.run_id
        ) from None
    return RunStarted(run_id=run.id, status_url=status_url(run.id))


@router.post(
    "/api/exports/{export_id}/runs",
    status_code=202,
    response_model=RunStarted,
    summary="Run an export now (Admin; Contributor with a shared connection)",
    responses=errors(404, 409),
)
def start_run(
    export_id: str, principal: EditorCaller, options: RunRequest | None = None
) -> RunStarted:
    """Optional body: ``full_refresh`` (false, true or ``"clear_first"``),
    ``allow_mass_removal``, ``dry_run``. 409 ``run_in_progress`` carries ``run_id``."""
    services = get_services()
    export = export_records.load_export(services, export_id)
    return start_export_run(services, export, principal, (options or RunRequest()).options())


@router.post(
    "/api/runs",
    status_code=202,
    response_model=RunsStarted,
    summary='Run several exports, or "Run all" active scheduled ones (Admin, Contributor)',
    responses=errors(),
)
def start_runs(body: RunsRequest, principal: EditorCaller) -> RunsStarted:
    """Each export gets a run or an ``error`` (``forbidden``, ``not_found``,
    ``run_in_progress``...). ``all`` runs every active export scheduled ``with_refresh``
    that the caller may run."""
    if (body.export_ids is None) == (not body.all):
        raise field_error(["export_ids", "all"], 'give either "export_ids" or "all": true')
    services = get_services()
    loaded = _runnable_on_schedule(services, principal) if body.all else {}
    export_ids = list(loaded) if body.all else list(dict.fromkeys(body.export_ids or []))
    outcomes: list[RunStartedFor | RunRefused] = []
    for export_id in export_ids:
        try:
            export = loaded.get(export_id) or export_records.load_export(services, export_id)
            started = start_export_run(services, export, principal, RunOptions())
            outcomes.append(RunStartedFor(export_id=export_id, **started.model_dump()))
        except ApiError as exc:
            error = RunRefusedError(code=exc.code, message=exc.message, **exc.extra)
            outcomes.append(RunRefused(export_id=export_id, error=error))
    return RunsStarted(runs=outcomes)


def _runnable_on_schedule(services: Services, principal: Principal) -> dict[str, Export]:
    """Active exports scheduled ``with_refresh`` that ``principal`` may run, by id."""
    usable: dict[str, bool] = {}
    found: dict[str, Export] = {}
    for export in export_records.list_exports(services):
        if export.status != "active" or export.schedule is not Schedule.WITH_REFRESH:
            continue
        if export.connection_id not in usable:
            connection = connections.get_connection(services, export.connection_id)
            usable[export.connection_id] = may_use(principal, connection)
        if usable[export.connection_id]:
            found[export.id] = export
    return found


@router.get(
    "/api/exports/{export_id}/runs",
    response_model=RunHistory,
    summary="Run history of an export, newest first, paged (any role)",
    responses=errors(404),
)
def run_history(
    export_id: str,
    principal: Caller,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=400, description="next_cursor of the previous page")
    ] = None,
) -> RunHistory:
    """``next_cursor`` continues after this page's last run; a cursor the server did not
    make for this export is refused (422) before anything is read."""
    export_records.check_id(export_id, "export")
    try:
        after = decode_history_cursor(cursor, export_id) if cursor is not None else None
    except InvalidCursor as exc:
        raise field_error(["cursor"], str(exc)) from None
    services = get_services()
    export_records.load_export(services, export_id)
    page = run_control.run_history(services, export_id, limit=limit, after=after)
    last = page["last"]
    return RunHistory(
        runs=page["runs"],
        next_cursor=encode_history_cursor(export_id, last) if last else None,
    )


@router.get(
    "/api/runs/{run_id}",
    response_model=dict[str, Any],
    summary="A run: status, phase, counts, warnings, error (any role)",
    responses=errors(404),
)
def get_run(run_id: str, principal: Caller) -> dict[str, Any]:
    view = run_control.get_run(get_services(), export_records.check_id(run_id, "run"))
    if view is None:
        raise ApiError(404, "not_found", "no such run")
    return view


@router.get(
    "/api/runs/{run_id}/progress",
    response_model=RunProgress,
    summary="A run's live progress: phase, parts read, batches sent (any role)",
    responses=errors(404),
)
def get_run_progress(run_id: str, principal: Caller) -> RunProgress:
    """Cheap to poll while a run is in progress (one record read and at most one listing)."""
    progress = run_control.run_progress(get_services(), export_records.check_id(run_id, "run"))
    if progress is None:
        raise ApiError(404, "not_found", "no such run")
    return RunProgress.model_validate(progress)
