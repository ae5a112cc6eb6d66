# SPDX-License-Identifier: Apache-2.0
"""What the case tests share: one cached diagnosis per file, the checks every case file must
pass, and rank/accuracy arithmetic (used by test_cases.py and test_holdout.py alike)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from engine import Differential, diagnose
from engine.kb.yamlio import load_yaml
from engine.vocab import CAUSES


@cache
def result(path: Path) -> Differential:
    return diagnose(path)


def expected_of(path: Path) -> tuple[set[str], set[str]]:
    data = load_yaml(path)
    return set(data.get("expected") or []), set(data.get("acceptable") or [])


def check_case_file(path: Path) -> None:
    """Id matches the file name, a source is cited, causes are known, scores add up."""
    data = load_yaml(path)
    assert data["id"] == path.stem
    assert str(data.get("source", "")).strip(), "every case cites where it comes from"
    expected, acceptable = expected_of(path)
    assert expected and expected | acceptable <= set(CAUSES)
    for c in result(path).candidates:
        weights = [e.weight for e in (*c.evidence_for, *c.evidence_against)]
        assert round(c.prior + math.fsum(weights), 4) == c.score


def rank_of(path: Path) -> int | None:
    expected, _ = expected_of(path)
    causes = [c.cause for c in result(path).candidates]
    return next((i + 1 for i, c in enumerate(causes) if c in expected), None)


def accuracy(ranks: Sequence[int | None]) -> tuple[float, float]:
    """(top-1, top-3) over ``ranks``; None is a miss."""
    top1 = sum(r == 1 for r in ranks) / len(ranks)
    top3 = sum(r is not None and r <= 3 for r in ranks) / len(ranks)
    return top1, top3
