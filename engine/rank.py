# SPDX-License-Identifier: Apache-2.0
"""Scoring and ranking (pure).

The scoring model reads each evidence weight as a natural-log likelihood ratio and each cause's
prior as log-odds: ``score = prior + sum(weights)`` over the evidence rules that fired for it, for
and against. It is a naive-Bayes-style ranking score, not a calibrated probability (causes are not
mutually exclusive and rules are not independent). A cause is a candidate only when at least one
evidence-for rule fired. Candidates are ordered by score, highest first, ties broken by cause id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Scores are rounded to this many decimals (and compared at this precision in tests).
SCORE_DECIMALS = 4


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


def score(prior: float, weights: Iterable[float]) -> float:
    """prior + the sum of the weights, rounded to :data:`SCORE_DECIMALS`."""
    return round(prior + math.fsum(weights), SCORE_DECIMALS)


def rank(contributions: Iterable[Contribution], priors: Mapping[str, float]) -> list[Ranked]:
    by_cause: dict[str, list[Contribution]] = {}
    for c in contributions:
        by_cause.setdefault(c.cause, []).append(c)
    scored = []
    for cause, items in by_cause.items():
        items.sort(key=lambda c: (-abs(c.weight), c.rule_id))
        pro = tuple(c for c in items if c.weight > 0)
        con = tuple(c for c in items if c.weight < 0)
        if pro:
            scored.append((score(priors[cause], (c.weight for c in items)), cause, pro, con))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [
        Ranked(cause, i + 1, value, priors[cause], pro, con)
        for i, (value, cause, pro, con) in enumerate(scored)
    ]
