"""The records a step reads and changes: its run, export and connection, and completion records.

**Compare-and-swap.** A run or export record is changed only through :func:`update_run` and
:func:`update_export`, typed wrappers of :meth:`~shared.state_store.StateStore.update` (an
ETag loop, ``If-Match``), whose rule applies: the ``change`` function gets the record as
stored now and, when another writer got in first, is called again on the newer record, so
**it may run more than once and must assign, not accumulate** (``r.phase = ...``,
``r.counts.update({...})`` with values fixed before the update; never an append to a list of
the enclosing function). ``finish.succeed`` collects what it settles with ``settled[:] =``
for that reason, and :func:`update_run` returns the run as the last attempt stored it.

**Completion records** ``steps/<run>/<phase>/<item>.json`` are written once
(``If-None-Match: *``) when a step's work is done; a redelivered message whose record exists
does not do it again (see :mod:`shared.pipeline.steps`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from shared import layout, source_fingerprint
from shared.identifiers import SCHEMAS
from shared.models import Connection, Export, Phase, Run
from shared.services import Services

Record = TypeVar("Record", bound=BaseModel)


class RunFailed(Exception):
    """Ends the run ``failed`` without retrying. ``code`` is stable, ``message`` is safe to
    show (no personal data). Raised by any step; :func:`shared.pipeline.steps.guarded`
    records it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- the run -------------------------------------------------------------------------------


def load_run(services: Services, run_id: str) -> Run | None:
    """The run, or ``None`` when it was deleted (a run start that lost its export lock)."""
    document = services.state.get(layout.run(run_id))
    return Run.model_validate(document) if document else None


def update_run(services: Services, run_id: str, change: Callable[[Run], bool | None]) -> Run:
    """Change a run (compare-and-swap; see the module notes) and return it as stored.

    ``change`` mutates the :class:`Run` it gets and returns ``False`` to leave the stored
    record as it is (the run is then returned as stored). :class:`RunFailed` when the run
    does not exist.
    """

    stored = _update(services, layout.run(run_id), Run, change)
    if stored is None:
        raise RunFailed("run_not_found", f"run {run_id} does not exist")
    return stored


def mark_sending(services: Services, run: Run) -> None:
    """Record, before the run's first request that changes the audience, that it has begun
    (a failure after that leaves the audience unsettled: see ``models.Unsettled``)."""
    if run.sending:
        return

    def change(r: Run) -> bool:
        if r.sending:
            return False
        r.sending = True
        return True

    update_run(services, run.id, change)
    run.sending = True


# -- its export and connection -------------------------------------------------------------


def load_export(services: Services, export_id: str) -> Export:
    """The export record; :class:`RunFailed` ``export_not_found`` when it was deleted."""
    document = services.state.get(layout.export(export_id))
    if document is None:
        raise RunFailed("export_not_found", f"export {export_id} was deleted")
    return Export.model_validate(document)


def update_export(
    services: Services, export_id: str, change: Callable[[Export], bool | None]
) -> Export | None:
    """Change an export record (compare-and-swap; see the module notes); returns it as stored.

    ``change`` mutates the :class:`Export` it gets and returns ``False`` to leave the stored
    record as it is. ``None`` when the export does not exist (nothing is changed then).
    """

    return _update(services, layout.export(export_id), Export, change)


def _update(
    services: Services, name: str, model: type[Record], change: Callable[[Record], bool | None]
) -> Record | None:
    """The compare-and-swap of one record as ``model``; ``None`` when it does not exist."""

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        record = model.model_validate(document)
        if change(record) is False:
            return None
        return record.model_dump(mode="json")

    stored = services.state.update(name, mutate)
    return model.model_validate(stored) if stored is not None else None


def load_connection(services: Services, export: Export) -> Connection:
    """The export's connection, ready to use; :class:`RunFailed` ``connection_deleted`` or
    ``connection_not_ready`` (consent, Snapchat sign-in or export user missing)."""
    document = services.state.get(layout.connection(export.connection_id))
    if document is None:
        raise RunFailed(
            "connection_deleted",
            f"export '{export.display_name}': its connection was deleted",
        )
    connection = Connection.model_validate(document)
    if connection.missing:
        raise RunFailed(
            "connection_not_ready",
            f"export '{export.display_name}': connection '{connection.display_name}' is not "
            f"ready ({connection.status})",
        )
    return connection


def audience_view(audience: dict[str, Any]) -> dict[str, Any]:
    """What a run and an export record show of a Snap audience (Snap's segment object): id,
    name, ``approximate_number_users``, ``upload_status``, ``targetable_status``."""
    keys = ("id", "name", "approximate_number_users", "upload_status", "targetable_status")
    return {k: audience.get(k) for k in keys}


def matching_key(services: Services, export: Export) -> str:
    """A key of everything besides the files that decides what a run of ``export`` sends
    (data matching, segments, sync mode, default phone region): the unchanged-source check
    of :mod:`~shared.pipeline.plan` compares it with the one the last run stored."""
    return source_fingerprint.matching_key(
        {
            "data_matching": export.data_matching.model_dump(),
            "segments": export.segments,
            "sync_mode": export.sync_mode.value,
            "default_phone_region": services.settings.default_phone_region,
        }
    )


# -- completion records --------------------------------------------------------------------


def done(services: Services, run_id: str, phase: Phase, item: int | str) -> bool:
    """True when item ``item`` of ``phase`` has its completion record."""
    return services.state.get(layout.step(run_id, phase, item)) is not None


def write_done(
    services: Services, run_id: str, phase: Phase, item: int | str, record: dict[str, Any]
) -> bool:
    """Write the completion record of ``item`` once; ``False`` when it already existed."""
    return services.state.create(layout.step(run_id, phase, item), record)


def done_count(services: Services, run_id: str, phase: Phase) -> int:
    """How many items of ``phase`` have their completion record (names only: cheap)."""
    return sum(1 for _ in services.state.names(layout.steps_prefix(run_id, phase)))


def done_records(services: Services, run_id: str, phase: Phase) -> list[dict[str, Any]]:
    """Every completion record of ``phase``, in name order."""
    prefix = layout.steps_prefix(run_id, phase)
    return [record for _, record in services.state.documents(prefix)]


#: Per schema, per hash partition, the numbers a diff step recorded.
DiffCounts = dict[str, dict[int, dict[str, int]]]


def diff_counts(services: Services, run_id: str) -> DiffCounts:
    """The diff completion records by schema and partition: what the upload batches pack."""
    per: DiffCounts = {s.value: {} for s in SCHEMAS}
    for name, record in services.state.documents(layout.steps_prefix(run_id, Phase.DIFF)):
        partition = int(layout.step_item(name))
        for schema, numbers in record.items():
            per[schema][partition] = numbers
    return per


def upload_totals(services: Services, run_id: str) -> dict[str, int]:
    """Upload batches recorded so far: ``batches_done``, ``batches_failed``, and the
    identifiers in done batches, ``identifiers_uploaded`` (adds), ``identifiers_removed``."""
    totals = {
        "batches_done": 0,
        "batches_failed": 0,
        "identifiers_uploaded": 0,
        "identifiers_removed": 0,
    }
    for record in done_records(services, run_id, Phase.UPLOAD):
        if record.get("status") == "done":
            totals["batches_done"] += 1
            key = "identifiers_uploaded" if record.get("op") == "add" else "identifiers_removed"
            totals[key] += int(record.get("identifiers", 0))
        else:
            totals["batches_failed"] += 1
    return totals
