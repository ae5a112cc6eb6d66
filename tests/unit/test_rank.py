# SPDX-License-Identifier: Apache-2.0
"""The scoring model (engine/rank.py): scores, probabilities, and which causes are listed."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from engine.rank import Contribution, probabilities, rank

PRIORS = {"a": -2.0, "b": -3.0, "c": -4.0}


def test_every_cause_is_scored_and_probabilities_include_other() -> None:
    probs = probabilities({"a": 0.0, "b": 0.0}, other=0.0)
    assert probs == {"a": 1 / 3, "b": 1 / 3}  # the other third is "none of them"


def test_a_cause_without_evidence_is_listed_above_the_floor_and_ranked_by_score() -> None:
    ranked = rank([Contribution("c", "c.x", 1.5)], PRIORS, other=-1.0, list_floor=0.1)
    listed = {r.cause: r for r in ranked}
    assert set(listed) == {"a", "c"}  # b: no evidence, probability below the floor
    assert [r.cause for r in ranked] == ["a", "c"]  # a: -2.0 beats c: -2.5
    assert listed["a"].evidence_for == ()
    assert listed["c"].score == -2.5
    assert 0 < listed["c"].probability < listed["a"].probability < 1


def test_evidence_for_always_lists_and_evidence_against_can_unlist() -> None:
    against = [Contribution("a", "a.no_exposure", -math.log(50))]
    ranked = rank(against, PRIORS, other=-3.0, list_floor=0.05)
    assert "a" not in {r.cause for r in ranked}
    weak = [Contribution("c", "c.x", 0.1)]
    assert "c" in {r.cause for r in rank(weak, PRIORS, other=10.0, list_floor=0.5)}


def test_without_the_presentation_only_evidence_lists() -> None:
    ranked = rank([], PRIORS, other=-5.0, list_floor=0.01, presentation=False)
    assert ranked == []


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.floats(-5, 5, allow_nan=False),
        min_size=1,
    ),
    st.floats(-10, 10, allow_nan=False),
)
def test_probabilities_are_a_distribution_with_other(
    scores: dict[str, float], other: float
) -> None:
    probs = probabilities(scores, other)
    assert all(0 <= p <= 1 for p in probs.values())
    assert math.fsum(probs.values()) < 1 + 1e-9
    order = sorted(scores, key=lambda c: scores[c])
    assert [probs[c] for c in order] == sorted(probs[c] for c in order)  # monotone in the score


@given(st.floats(0.01, 3, allow_nan=False))
def test_more_evidence_for_a_cause_never_lowers_its_score_or_probability(extra: float) -> None:
    base = rank([Contribution("b", "b.x", 0.5)], PRIORS, other=0.0, list_floor=0.01)
    more = rank(
        [Contribution("b", "b.x", 0.5), Contribution("b", "b.y", extra)],
        PRIORS,
        other=0.0,
        list_floor=0.01,
    )
    b0 = next(r for r in base if r.cause == "b")
    b1 = next(r for r in more if r.cause == "b")
    assert b1.score > b0.score and b1.probability >= b0.probability and b1.rank <= b0.rank
