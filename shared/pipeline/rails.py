"""The mass-removal rail: whether a run must stop before it sends anything (a pure rule).

Checked by :mod:`~shared.pipeline.diff` once every partition is diffed, unless the run was
started with ``allow_mass_removal``. A source gone wrong (an empty or truncated export, a
mapping that matches nothing) looks exactly like everyone leaving the segment; in mirror mode
that would empty the audience, so the run stops ``failed`` with ``mass_removal_blocked``
instead and the audience is left as it is.
"""

from __future__ import annotations

#: An identifier type that vanishes from the source blocks a mirror run when the last
#: snapshot held at least this many of it: the smallest audience Snap can target
#: (``targetable_status`` ``TOO_FEW_USERS`` below it;
#: https://developers.snap.com/api/marketing-api/Ads-API/customer-lists,
#: https://www.braze.com/docs/partners/canvas_audience_sync/snapchat_audience_sync) ...
VANISHED_TYPE_MIN = 1000
#: ... or at least this share of all its identifiers.
VANISHED_TYPE_SHARE = 0.1

#: Per-schema totals of the diff: ``totals[key][schema]`` for the keys of a diff record
#: (``distinct``, ``previous``, ``held``, ``dropped``, ...).
Totals = dict[str, dict[str, int]]


def mass_removal(totals: Totals, threshold: float, *, mirror: bool) -> str | None:
    """Why the run must not send, or None.

    Blocked when the source has no valid identifier at all; in mirror mode when an
    identifier type that made up a real part of the last snapshot (:data:`VANISHED_TYPE_MIN`
    or :data:`VANISHED_TYPE_SHARE`) has none left in the source (a mapping or export gone
    wrong, more likely than all those people leaving); or when the run would take away more
    than ``threshold`` (a share, 0 to 1) of what the audience may hold of ours (``dropped``
    counts what a ``clear_first`` run drops by emptying the audience, too).
    """
    distinct = sum(totals["distinct"].values())
    previous = sum(totals["previous"].values())
    dropped = sum(totals["dropped"].values())
    if distinct == 0:
        return "the source has no valid identifiers"
    all_held = sum(totals["held"].values())
    for schema, held in totals["held"].items():
        substantial = held >= VANISHED_TYPE_MIN or held >= VANISHED_TYPE_SHARE * all_held
        if mirror and held and substantial and not totals["distinct"][schema]:
            return f"the source has no valid {schema} identifiers; the audience holds {held}"
    if previous and dropped / previous > threshold:
        return (
            f"the run would remove {dropped} of {previous} identifiers "
            f"({dropped / previous:.0%}, more than {threshold:.0%})"
        )
    return None
