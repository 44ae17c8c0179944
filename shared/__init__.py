"""Snap audience sync: Customer Insights segment exports to Snapchat Customer List audiences.

All logic of the function app lives in this package; ``function_app.py`` only binds
triggers to it (tooling that never runs in Azure is in ``devtools/``).

Reading map: one export from the timer to Snap's API, in call order
--------------------------------------------------------------------
1. ``function_app.py`` -> :mod:`~shared.triggers`: the timer (and the queue triggers) call in.
2. :mod:`~shared.run_control`: start a run of every scheduled export (run record, export
   lock, the first queue message). ``POST /api/exports/{id}/runs`` (:mod:`shared.api`)
   starts one the same way.
3. :mod:`shared.pipeline`, the steps of a run; read its modules in this order:
   ``messages`` (what the queues carry), ``handlers`` (what a queue trigger calls),
   ``records`` (run and export records, compare-and-swap), ``claims`` (one worker moves a
   run on), ``steps`` (the skeleton of every step, the error mapping), then the stages:

   * ``plan``: pre-flight; the newest complete export folder (:mod:`~shared.cdm_export`),
     unchanged files skipped (:mod:`~shared.source_fingerprint`);
   * ``read``: stream each CSV part (:mod:`~shared.csv_source`), normalise and hash
     (:mod:`~shared.profile_hashes`, :mod:`~shared.identifiers`) into staging partitions
     (:mod:`~shared.hash_spool`);
   * ``diff``: each hash partition against the last snapshot (:mod:`~shared.snapshots`);
     then ``rails`` (the mass-removal rail), ``audience`` (create it if asked);
   * ``clear`` (``clear_first`` only), ``batches`` (packing), ``upload`` (one Snap request
     per batch), ``finish`` (snapshot swap, read-back, erasures made meanwhile:
     :mod:`~shared.erasures`; one run event for Azure Monitor: :mod:`~shared.run_events`),
     ``poison`` (messages that kept failing).

4. :mod:`shared.snapchat`: ``SnapchatClient`` (the Snap Marketing API), its OAuth token cache,
   backoff and rate limiter.

Underneath: :mod:`~shared.config` (app settings), :mod:`~shared.services` (clients built
once), :mod:`~shared.models` (the records), :mod:`~shared.layout` (every blob name),
:mod:`~shared.state_store` (JSON records with ETags), :mod:`~shared.queues` (sending),
:mod:`~shared.storage_clients`, :mod:`~shared.secrets`, :mod:`~shared.telemetry`.
Around it: :mod:`shared.api` (the HTTP API; callers verified by :mod:`shared.api.entra`),
:mod:`shared.console` (the admin console's pages, which call that API from the browser),
:mod:`~shared.connections` (Snapchat sign-in), :mod:`~shared.export_folders` (the folders and
segments an export is set up from), :mod:`~shared.erasures`, :mod:`~shared.dry_run` (the file
check), :mod:`~shared.diagnostics` and :mod:`~shared.verify_deployment` (checks of a
deployment, from inside and outside).

Glossary: words with two meanings here
--------------------------------------
export
    (1) a Customer Insights *export*: what Customer Insights writes to Blob Storage, a
    ``model.json`` and dated run folders of CSV parts; in code an *export folder*
    (:class:`~shared.cdm_export.SegmentExport`, one segment's newest complete run folder).
    (2) our :class:`~shared.models.Export` record, *the export*: the configured sync of one
    or more segments to one Snapchat audience (connection, data matching, schedule), which
    each run executes. Customer Insights calls its configured destinations exports too.
segment / audience
    A *segment* is Customer Insights' (a table of unified profiles in the export folder).
    Snap calls its customer-list audiences "segments" too (``/v1/segments``); our code says
    *audience* for those, and "segment" only when quoting Snap's endpoints or fields.
dry run
    (1) ``python -m shared dry-run``, the *file check*: reads a local export folder or CSV,
    counts and hashes it, touches neither Azure nor Snap (:mod:`~shared.dry_run`).
    (2) a run started with ``{"dry_run": true}`` (``RunOptions.dry_run``): the whole run
    up to the diff, counts included, and nothing sent to Snap.
snapshot, unsettled
    The hashes last sent successfully to the audience (:class:`~shared.models.Snapshot`); a
    failed run that had started sending leaves its target *unsettled*
    (:class:`~shared.models.Unsettled`).
"""
