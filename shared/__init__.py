"""Snap audience sync: Customer Insights segment exports to Snapchat Customer List audiences.

All logic of the function app lives in this package; ``function_app.py`` only binds
triggers to it. Read in this order to follow one export from the timer to Snap's API:
``config`` -> ``runs_api``/``run_control`` (start a run) -> ``pipeline`` (plan, read, diff,
upload, finalize) -> ``cdm_export``/``csv_source`` (find and read the files) ->
``identifiers``/``profile_hashes`` (normalise and hash) -> ``hash_spool``/``snapshots`` (diff)
-> ``snapchat`` (the Snap Marketing API client).
"""
