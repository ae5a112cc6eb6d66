# SPDX-License-Identifier: Apache-2.0
"""An ANC known only as an upper bound (a white count below 1.5 with no differential, or a
laboratory's "<") is said to be one, and no alert reads it as an exact count: the sixth probe
found a febrile patient 9 days after R-CHOP with a WBC of 1.2 and no alert at all, a clozapine
ANC reported as "<2.0" with none, and the antithyroid "obtain a differential now" alert
silenced by a bound."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.api import diagnose
from engine.kb.load import KnowledgeBase
from engine.kb.schema import RaiseAlert

DAY = dt.date(2025, 3, 10)


def alerts(kb: KnowledgeBase, labs: list[dict[str, Any]], **extra: Any) -> dict[str, str]:
    data = {"as_of": DAY, "labs": labs, **extra}
    return {a.id: a.level for a in diagnose(data, kb=kb, today=DAY).alerts}


def wbc(value: float) -> dict[str, Any]:
    return {"test": "wbc", "value": value, "unit": "10^9/L", "date": DAY}


FEVER = [{"name": "fever", "since": DAY}]


def test_fever_after_chemotherapy_with_a_low_white_count_alone_is_critical(
    real_kb: KnowledgeBase,
) -> None:
    chemo = [{"name": "R-CHOP", "start": DAY - dt.timedelta(days=9)}]
    found = alerts(real_kb, [wbc(1.2)], medications=chemo, findings=FEVER)
    assert found.get("febrile_neutropenia_not_excluded") == "critical"
    found = alerts(real_kb, [wbc(0.8)], medications=chemo, findings=FEVER)
    assert found.get("febrile_neutropenia") == "critical"  # below 1.0 after chemotherapy


def test_fever_with_a_low_white_count_alone_asks_for_the_anc(real_kb: KnowledgeBase) -> None:
    found = alerts(real_kb, [wbc(0.8)], findings=FEVER)
    assert found.get("fever_with_unknown_anc") == "warning"
    assert "fever_with_moderate_neutropenia" not in found  # "ANC 0.5-0.99" is not known
    assert "fever_with_unknown_anc" not in alerts(real_kb, [wbc(1.6)], findings=FEVER)


def test_fever_with_a_low_white_count_and_no_differential_asks_for_one(
    real_kb: KnowledgeBase,
) -> None:
    """Probe 15: a febrile toddler with a WBC of 1.6 and no differential raised no alert."""
    for value in (1.6, 3.0):
        found = alerts(real_kb, [wbc(value)], findings=FEVER, age=2)
        assert found.get("fever_with_leukopenia_no_differential") == "warning", value
    assert "fever_with_leukopenia_no_differential" not in alerts(real_kb, [wbc(1.6)], age=2)
    exact = [wbc(1.6), {"test": "anc", "value": 1.0, "unit": "10^9/L", "date": DAY}]
    assert "fever_with_leukopenia_no_differential" not in alerts(real_kb, exact, findings=FEVER)
    bounded = alerts(real_kb, [wbc(0.8)], findings=FEVER)  # the bound speaks, not this
    assert "fever_with_leukopenia_no_differential" not in bounded
    assert "fever_with_leukopenia_no_differential" not in alerts(
        real_kb, [wbc(6.0)], findings=FEVER
    )


def test_antithyroid_fever_still_asks_for_a_differential_beside_a_bound(
    real_kb: KnowledgeBase,
) -> None:
    meds = [{"name": "methimazole", "start": DAY - dt.timedelta(days=50)}]
    assert "antithyroid_fever" in alerts(real_kb, [wbc(0.8)], medications=meds, findings=FEVER)
    exact = [wbc(4.0), {"test": "anc", "value": 2.5, "unit": "10^9/L", "date": DAY}]
    assert "antithyroid_fever" not in alerts(real_kb, exact, medications=meds, findings=FEVER)


def test_a_laboratory_bound_on_clozapine_is_never_silent(real_kb: KnowledgeBase) -> None:
    meds = [{"name": "clozapine", "start": DAY - dt.timedelta(days=400)}]
    for value in (1.5, 2.0):
        anc = {"test": "anc", "value": value, "unit": "10^9/L", "date": DAY, "comparator": "<"}
        found = alerts(real_kb, [wbc(4.0), anc], medications=meds)
        assert found.get("clozapine_anc_unknown") == "warning"
        assert "clozapine_mild_neutropenia" not in found


def test_an_antithyroid_agranulocytosis_of_last_week_is_not_forgotten(
    real_kb: KnowledgeBase,
) -> None:
    meds = [{"name": "carbimazole", "start": DAY - dt.timedelta(days=60),
             "stop": DAY - dt.timedelta(days=18)}]  # fmt: skip
    labs = [{"test": "anc", "value": 0.2, "unit": "10^9/L", "date": DAY - dt.timedelta(days=18)},
            {"test": "anc", "value": 0.9, "unit": "10^9/L", "date": DAY}]  # fmt: skip
    found = alerts(real_kb, labs, medications=meds, findings=FEVER)
    assert found.get("antithyroid_recent_agranulocytosis") == "warning"


def test_every_alert_id_has_one_level(real_kb: KnowledgeBase) -> None:
    """An alert id is what a receiving system files and filters on: one id, one level."""
    levels: dict[str, set[str]] = {}
    for rule in real_kb.rules:
        if isinstance(rule.then, RaiseAlert):
            levels.setdefault(rule.then.alert, set()).add(rule.then.level)
    assert {k: v for k, v in levels.items() if len(v) > 1} == {}
