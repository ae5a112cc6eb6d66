# SPDX-License-Identifier: Apache-2.0
"""Clozapine label section 2.1: initiation is not recommended below a baseline ANC of 1500/uL
(1000/uL in benign ethnic neutropenia). The alert reads the latest ANC on or before the start
date (course field ``baseline_anc``), on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose

TODAY = dt.date(2024, 3, 1)
ALERT = "clozapine_low_baseline_anc"


def _patient(
    baseline: float | None, *, on: str = "2024-01-05", duffy_null: bool = False
) -> dict[str, Any]:
    labs = [{"test": "anc", "value": 1.8, "unit": "10^9/L", "date": "2024-03-01"}]
    if baseline is not None:
        labs.append({"test": "anc", "value": baseline, "unit": "10^9/L", "date": on})
    patient: dict[str, Any] = {
        "as_of": "2024-03-01", "age": 35, "sex": "male", "labs": labs,
        "medications": [{"name": "clozapine", "start": "2024-01-10"}],
    }  # fmt: skip
    if duffy_null:
        patient["duffy_null"] = True
    return patient


def _alerts(patient: dict[str, Any], backend: str) -> dict[str, str]:
    return {a.id: a.rule_id for a in diagnose(patient, today=TODAY, backend=backend).alerts}


@pytest.mark.parametrize("backend", ["experta", "clips"])
def test_general_population_threshold_is_1500(backend: str) -> None:
    assert _alerts(_patient(1.4), backend)[ALERT] == "clozapine.general_low_baseline"
    assert ALERT not in _alerts(_patient(1.5), backend)


@pytest.mark.parametrize("backend", ["experta", "clips"])
def test_duffy_null_threshold_is_1000(backend: str) -> None:
    assert ALERT not in _alerts(_patient(1.2, duffy_null=True), backend)
    got = _alerts(_patient(0.9, duffy_null=True), backend)
    assert got[ALERT] == "clozapine.ben_low_baseline"


def test_a_count_on_the_start_day_is_the_baseline() -> None:
    assert ALERT in _alerts(_patient(1.0, on="2024-01-10"), "clips")


def test_no_count_before_the_start_means_no_baseline() -> None:
    assert ALERT not in _alerts(_patient(None), "clips")
    assert ALERT not in _alerts(_patient(1.0, on="2024-01-11"), "clips")  # after the start


def test_the_baseline_is_explained() -> None:
    d = diagnose(_patient(1.4), today=TODAY)
    alert = next(a for a in d.alerts if a.id == ALERT)
    course = next(f for f in alert.facts if f.id.startswith("x:clozapine"))
    assert "Last ANC on or before start 2024-01-10: 1.4 on 2024-01-05" in course.how
