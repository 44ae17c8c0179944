"""The steps of a run, from the newest export folder in Blob Storage to the Snapchat audience.

A run moves through phases, each fanned out through a Storage queue::

    plan (1)      pre-flight the audience, find the newest complete export folder, plan parts
    read (n)      one per CSV part: stream, normalise, hash -> staging, partitioned by hash
    diff (2^b)    one per hash partition: dedupe, compare with the snapshot -> adds/removes;
                  then the mass-removal rail, a dry run ends, the audience is created
    [clear (1)]   only for full_refresh "clear_first": empty the audience, wait until empty
    upload (k)    batch queue: one Snap request of <= 100,000 identifiers, one schema, one op
    finish        by the last batch: swap the snapshot, read the audience back, end the run

Nothing is sent to Snap before every diff is done and the rail has passed; the snapshot
changes only when every batch succeeded.

Modules, in the order a run takes them. Read them in this order: the first five are the
vocabulary every stage uses; a stage calls only stages after it, except ``poison``, which
re-enters the stage whose message it settles.

``messages``  what travels on the queues        ``handlers``  entry points of the triggers
``records``   run, export, completion records   ``claims``    one worker moves a run on
``steps``     the step skeleton, error mapping
``plan``      step 1                            ``read``      step 2
``diff``      step 3                            ``rails``     the mass-removal rail
``audience``  create or adopt the audience      ``clear``     step 4 (clear_first only)
``batches``   packing the upload batches        ``upload``    step 5
``finish``    succeed, fail, release            ``poison``    messages that kept failing
"""

from shared.pipeline.handlers import (
    handle_batch_message,
    handle_poison_message,
    handle_run_message,
)

__all__ = ["handle_batch_message", "handle_poison_message", "handle_run_message"]
