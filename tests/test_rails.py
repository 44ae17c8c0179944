"""Unit: the mass-removal rail (what stops a run before it sends anything)."""

from __future__ import annotations

from shared.pipeline.rails import VANISHED_TYPE_MIN, mass_removal

E, P, M = "EMAIL_SHA256", "PHONE_SHA256", "MOBILE_AD_ID_SHA256"


def totals(
    distinct: dict[str, int], held: dict[str, int], dropped: dict[str, int] | None = None
) -> dict[str, dict[str, int]]:
    """Diff totals for a run: ``previous`` is what the audience may hold (here: ``held``)."""
    zero = {E: 0, P: 0, M: 0}
    return {
        "distinct": {**zero, **distinct},
        "held": {**zero, **held},
        "previous": {**zero, **held},
        "dropped": {**zero, **(dropped or {})},
    }


def test_a_source_without_any_valid_identifier_is_blocked_in_every_mode() -> None:
    for mirror in (True, False):
        assert mass_removal(totals({}, {}), 0.5, mirror=mirror) == (
            "the source has no valid identifiers"
        )


def test_removing_more_than_the_threshold_is_blocked_and_up_to_it_is_not() -> None:
    held = {E: 1000}
    assert mass_removal(totals({E: 500}, held, {E: 500}), 0.5, mirror=True) is None
    assert mass_removal(totals({E: 499}, held, {E: 501}), 0.5, mirror=True) == (
        "the run would remove 501 of 1000 identifiers (50%, more than 50%)"
    )
    assert mass_removal(totals({E: 900}, held, {E: 100}), 0.05, mirror=False) == (
        "the run would remove 100 of 1000 identifiers (10%, more than 5%)"
    )
    assert mass_removal(totals({E: 10}, {}, {}), 0.0, mirror=True) is None  # a first run


def test_an_identifier_type_that_vanished_blocks_a_mirror_run_only() -> None:
    held = {E: 100_000, P: VANISHED_TYPE_MIN}
    gone = totals({E: 100_000}, held, {P: VANISHED_TYPE_MIN})
    assert mass_removal(gone, 0.5, mirror=True) == (
        f"the source has no valid {P} identifiers; the audience holds {VANISHED_TYPE_MIN}"
    )
    assert mass_removal(gone, 0.5, mirror=False) is None  # append never removes


def test_a_vanished_type_counts_when_it_was_a_tenth_of_the_snapshot() -> None:
    small = totals({E: 90}, {E: 90, M: 10}, {M: 10})  # 10 of 100: a tenth
    assert mass_removal(small, 0.5, mirror=True) == (
        f"the source has no valid {M} identifiers; the audience holds 10"
    )
    tiny = totals({E: 991}, {E: 991, M: 9}, {M: 9})  # 9 of 1000, under both bars
    assert mass_removal(tiny, 0.5, mirror=True) is None
