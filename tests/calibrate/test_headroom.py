# SPDX-License-Identifier: Apache-2.0
"""``leukodx calibrate --headroom`` diagnostics on synthetic cases: free residual weights find
information no rule reads (and find nothing when there is none), the learning curve keeps the
fractions it is asked for, the slope is a least-squares slope, and observations name what the
engine read."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from engine.calibrate.features import Case, Model, group_cases, observations
from engine.calibrate.fit import design
from engine.calibrate.headroom import (
    CurvePoint,
    Setting,
    learning_curve,
    residual_headroom,
    slope_per_doubling,
)
from engine.patient import parse_patient

CLASSES = ("a", "b", "c", "other")
RULES = ("a.one", "b.one", "c.one")


def model() -> Model:
    return Model(
        classes=CLASSES,
        prior=(-1.0, -1.0, -1.0, -3.0),
        rules=RULES,
        rule_class=(0, 1, 2),
        weight=(0.2, 0.2, 0.2),
        list_floor=0.0,
    )


def cases_with_hidden_clue(n: int = 90, clue: bool = True) -> list[Case]:
    """Weak rules fire at random; when ``clue``, an observation no rule reads names the truth."""
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        truth = CLASSES[i % 3]
        fired = tuple(r for r in RULES if rng.random() < 0.5)
        seen = [f"rule:{r}" for r in fired] + ["sex:female" if rng.random() < 0.5 else "sex:male"]
        if clue:
            seen.append(f"finding:clue_{truth}")
        out.append(
            Case(f"s{i}", f"s{i}.yaml", f"PMID {i}", (truth,), fired, True, tuple(sorted(seen)))
        )
    return out


def setting(cases: list[Case]) -> Setting:
    m = model()
    return Setting(design(cases, m), m, cases, group_cases(cases), folds=3, seed=0, lam=1.0)


def test_residual_weights_find_a_clue_no_rule_reads() -> None:
    cases = cases_with_hidden_clue()
    used, points = residual_headroom(setting(cases))
    alone, *free = points
    assert alone.penalty is None and [p.penalty for p in free] == [3.0, 10.0, 30.0]
    assert used == 3 + 2 + 3  # three rules, two sexes, three clues
    assert alone.top1 < 0.4
    assert free[0].top1 == 1.0  # the lightest penalty learns the clue outright
    assert all(p.top1 > alone.top1 + 0.4 for p in free)


def test_no_clue_no_headroom() -> None:
    cases = cases_with_hidden_clue(clue=False)
    _, points = residual_headroom(setting(cases))
    alone, *free = points
    assert all(p.top3 == 1.0 for p in points)  # three causes: every one is in the top 3
    assert all(p.top1 <= alone.top1 + 0.1 for p in free)


def test_learning_curve_keeps_the_fraction_of_publications() -> None:
    cases = cases_with_hidden_clue()
    curve = learning_curve(setting(cases), fractions=(0.5, 1.0))
    assert [p.fraction for p in curve] == [0.5, 1.0]
    assert curve[1].training_cases == 60.0  # 90 cases, one publication each, 3 folds
    assert curve[0].training_cases == 30.0
    again = learning_curve(setting(cases), fractions=(0.5, 1.0))
    assert again == curve


def test_slope_per_doubling() -> None:
    line = [CurvePoint(1.0, n, 0.0, 0.5 + 0.02 * math.log2(n)) for n in (100.0, 200.0, 400.0)]
    assert math.isclose(slope_per_doubling(line), 0.02)
    assert slope_per_doubling(line[:1]) == 0.0


def test_observations_name_what_the_engine_read() -> None:
    patient = parse_patient(
        {
            "age": 0.02,
            "sex": "female",
            "labs": [{"test": "wbc", "value": 2.0, "unit": "10^9/L", "date": "2026-01-02"}],
            "findings": ["fever", {"name": "splenomegaly", "present": False}],
            "conditions": ["sle"],
        },
        today=dt.date(2026, 1, 2),
    )
    got = observations(patient, ["sle.known_sle"])
    assert got == (
        "age:under 1 month",
        "condition:sle",
        "finding:fever",
        "finding:splenomegaly:absent",
        "lab:wbc",
        "rule:sle.known_sle",
        "sex:female",
    )
