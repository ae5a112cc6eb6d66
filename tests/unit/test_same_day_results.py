# SPDX-License-Identifier: Apache-2.0
"""Two results of one test on one day that disagree: the lowest is used (the conservative
reading of a count, and independent of the order results arrive in), and each other value is
listed in ``ignored_inputs``. The seventh probe's D17: a reticulocyte count of 20 and 150 on one
day gave no sign that one of them had been set aside."""

from __future__ import annotations

from typing import Any

from engine.api import diagnose

DAY = "2026-03-01"


def patient(*labs: dict[str, Any]) -> dict[str, Any]:
    base = [
        {"test": "wbc", "value": 2.1, "unit": "10^9/L", "date": DAY},
        {"test": "hemoglobin", "value": 8.0, "unit": "g/dL", "date": DAY},
    ]
    return {"age": 45, "as_of": DAY, "labs": base + list(labs)}


def lab(test: str, value: float, unit: str) -> dict[str, Any]:
    return {"test": test, "value": value, "unit": unit, "date": DAY}


def test_a_disagreeing_repeat_is_listed_and_the_abnormal_end_is_used() -> None:
    d = diagnose(patient(lab("ldh", 900, "U/L"), lab("ldh", 300, "U/L")))
    assert [f.value for f in d.facts if f.id == "v:ldh"] == [900.0]  # a high LDH is abnormal
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert reasons["labs (ldh 300 on 2026-03-01)"] == (
        "another ldh result of the same day is higher (900): the highest result of a day is "
        "used; not used"
    )
    again = diagnose(patient(lab("ldh", 300, "U/L"), lab("ldh", 900, "U/L")))
    assert again.to_json() == d.to_json()  # the order results come in changes nothing
    low = diagnose(patient(lab("reticulocytes", 150, "10^9/L"), lab("reticulocytes", 10, "10^9/L")))
    assert [f.value for f in low.facts if f.id == "v:reticulocytes"] == [10.0]


def test_blasts_of_one_day_keep_the_highest_and_the_alert() -> None:
    """Probe 9: a blast count of 25% beside 0% on one day kept the 0% and lost the critical
    blasts alert (the lowest of a day was kept for every test)."""
    d = diagnose(
        patient(lab("anc", 0.4, "10^9/L"), lab("blasts_pct", 25, "%"), lab("blasts_pct", 0, "%"))
    )
    assert "blasts_with_low_count" in {a.id for a in d.alerts}
    assert [i.item for i in d.ignored_inputs] == ["labs (blasts_pct 0 on 2026-03-01)"]


def test_an_identical_repeat_loses_nothing_and_is_not_listed() -> None:
    d = diagnose(patient(lab("ferritin", 1900, "ng/mL"), lab("ferritin", 1900, "ng/mL")))
    assert not d.ignored_inputs


def test_a_higher_anc_of_the_same_day_is_listed_and_the_alert_stands() -> None:
    d = diagnose(
        {
            **patient(lab("anc", 1.6, "10^9/L"), lab("anc", 0.4, "10^9/L")),
            "medications": [{"name": "clozapine", "start": "2025-01-01"}],
        }
    )
    assert "clozapine_severe_neutropenia" in {a.id for a in d.alerts}
    assert [i.item for i in d.ignored_inputs] == ["labs (anc 1.6 on 2026-03-01)"]
