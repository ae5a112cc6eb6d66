# SPDX-License-Identifier: Apache-2.0
"""Scoring, probabilities and ranking (pure).

Each evidence weight is a natural-log likelihood ratio and each cause's prior is log-odds:
``score = prior + sum(weights)`` over the evidence rules that fired for the cause, for and
against. Every cause of the knowledge base is scored, not only those with evidence for it.

The probability of a cause is the softmax of the scores over all causes plus one "other"
class (none of the causes the knowledge base knows), whose log-odds the knowledge base states
(and ``leukodx calibrate`` fits). It treats the causes as mutually exclusive, which they are
not always; how far to trust it is measured by the calibration report.

A cause is listed (a candidate) when an evidence-for rule fired for it or when its probability
is at least the knowledge base's listing floor: a cause whose presentation is compatible stays
in the list even when no rule written for its typical pattern fired, and a cause that the
evidence argues against (no exposure to its drug, say) drops out. Candidates are ordered by
score, highest first, ties broken by cause id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Scores are rounded to this many decimals (and compared at this precision in tests).
SCORE_DECIMALS = 4
#: Probabilities are rounded to this many decimals.
PROBABILITY_DECIMALS = 4


@dataclass(frozen=True)
class Contribution:
    cause: str
    rule_id: str
    weight: float


@dataclass(frozen=True)
class Ranked:
    cause: str
    rank: int
    score: float
    prior: float
    evidence_for: tuple[Contribution, ...]
    evidence_against: tuple[Contribution, ...]
    probability: float = 0.0


def score(prior: float, weights: Iterable[float]) -> float:
    """prior + the sum of the weights, rounded to :data:`SCORE_DECIMALS`."""
    return round(prior + math.fsum(weights), SCORE_DECIMALS)


def probabilities(scores: Mapping[str, float], other: float) -> dict[str, float]:
    """Softmax of ``scores`` with an extra "other" class of log-odds ``other`` (not returned)."""
    top = max([other, *scores.values()])
    exps = {cause: math.exp(s - top) for cause, s in scores.items()}
    total = math.fsum([math.exp(other - top), *exps.values()])
    return {cause: e / total for cause, e in exps.items()}


def rank(
    contributions: Iterable[Contribution],
    priors: Mapping[str, float],
    *,
    other: float,
    list_floor: float,
    presentation: bool = True,
) -> list[Ranked]:
    """The listed causes, best first, each with its score and probability. Without the
    ``presentation`` (no low count to explain) only causes with evidence for them are listed."""
    by_cause: dict[str, list[Contribution]] = {cause: [] for cause in priors}
    for c in contributions:
        by_cause[c.cause].append(c)
    scores = {
        cause: score(priors[cause], (c.weight for c in items)) for cause, items in by_cause.items()
    }
    probs = probabilities(scores, other)
    listed = []
    for cause, items in by_cause.items():
        items.sort(key=lambda c: (-abs(c.weight), c.rule_id))
        pro = tuple(c for c in items if c.weight > 0)
        con = tuple(c for c in items if c.weight < 0)
        if pro or (presentation and probs[cause] >= list_floor):
            listed.append((scores[cause], cause, pro, con))
    listed.sort(key=lambda s: (-s[0], s[1]))
    return [
        Ranked(
            cause, i + 1, value, priors[cause], pro, con,
            round(probs[cause], PROBABILITY_DECIMALS),
        )
        for i, (value, cause, pro, con) in enumerate(listed)
    ]  # fmt: skip
