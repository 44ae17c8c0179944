"""Step 4, clear (only for ``full_refresh: "clear_first"``): empty the audience, then upload.

:func:`clear_audience` asks Snap to remove every member (``DELETE
/v1/segments/{id}/all_users``: https://developers.snap.com/api/marketing-api/Ads-API/customer-lists)
and waits until Snap shows the audience empty. Snap removes asynchronously and shows the old
count until it has, so an audience that is empty already (one just created) is not cleared:
"shows 0" could not then tell that the removal has landed. Its completion records are
``requested`` (with the member count before) and ``done``; a redelivery does not ask again.

A run also clears when an earlier ``clear_first`` run failed after asking (its removal may
still be landing: ``Run.clears_first``). Once cleared, the upload batches go out
(:mod:`~shared.pipeline.batches`), packed from the diff records as the diff step would.
"""

from __future__ import annotations

import time
from typing import Any

from shared import layout
from shared.models import Phase, Run, utc_now
from shared.pipeline import batches, finish, records, steps
from shared.services import Services

#: How long the ``clear`` step waits for ``all_users`` removal to show, in seconds.
CLEAR_WAIT_S = 120.0


def clear_audience(services: Services, run_id: str) -> None:
    """Empty the audience with ``all_users``, wait until Snap shows it empty, then upload."""
    steps.run_step(
        services,
        run_id,
        Phase.CLEAR,
        "done",
        lambda run: _clear(services, run),
        lambda run: steps.move_past(
            services, run.id, Phase.CLEAR, lambda: _start_uploads(services, run)
        ),
        needs_audience=True,
    )


def _clear(services: Services, run: Run) -> dict[str, Any]:
    assert run.audience_id is not None  # run_step(needs_audience=True)
    export = records.load_export(services, run.export_id)
    client = services.snapchat(export.connection_id)
    requested = services.state.get(layout.step(run.id, Phase.CLEAR, "requested"))
    if requested is None:
        users = int(client.get_audience(run.audience_id).get("approximate_number_users") or 0)
        if users:
            records.mark_sending(services, run)
            client.remove_all_users(run.audience_id)
        requested = {"requested_at": utc_now(), "users_before": users}
        records.write_done(services, run.id, Phase.CLEAR, "requested", requested)
    deadline = time.monotonic() + CLEAR_WAIT_S
    while requested.get("users_before"):
        found = client.get_audience(run.audience_id)
        if int(found.get("approximate_number_users") or 0) == 0:
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the audience was not empty yet after all_users removal")
        time.sleep(2.0)
    return {"cleared_at": utc_now()}


def _start_uploads(services: Services, run: Run) -> None:
    per = records.diff_counts(services, run.id)
    upload = batches.pack(run.id, per, services.settings.remove_chunk_size)
    if upload:
        services.queues.send(services.settings.batch_queue, upload)
    else:
        finish.end_after_uploads(services, run.id)
