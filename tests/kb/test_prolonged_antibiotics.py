# SPDX-License-Identifier: Apache-2.0
"""Beta-lactams and vancomycin count for drug-induced neutropenia only after a prolonged course.

Their neutropenia follows high-dose courses of 10 days or more (5% to more than 15% of them,
under 0.1% of shorter ones) and recovers within days of stopping; the same antibiotics are given
for the infections that lower counts themselves. So the lexicon knows them (they are no longer
"a drug this knowledge base has no entry for") but they are not ``neutropenia_signal_drug``:
a count that falls three days into a course, or that was already low when the course began,
gets nothing from them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose
from engine.kb.load import load_knowledge_base
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.differential_reading import fired_rules

TODAY = dt.date(2026, 3, 30)
BACKENDS = RULE_TEST_BACKENDS
COURSE = "drug_induced_other.prolonged_antibiotic_course"
RECOVERED = "drug_induced_other.recovered_after_prolonged_antibiotic"
UNLISTED = "drug_induced_other.unlisted_drug_in_onset_window"


def _patient(drug: str, start: str, labs: list[tuple[str, float, float]],
             stop: str | None = None) -> dict[str, Any]:  # fmt: skip
    med: dict[str, Any] = {"name": drug, "start": start}
    if stop:
        med["stop"] = stop
    return {
        "as_of": TODAY.isoformat(),
        "age": 58,
        "labs": [
            lab
            for date, wbc, anc in labs
            for lab in (
                {"test": "wbc", "value": wbc, "unit": "10^9/L", "date": date},
                {"test": "anc", "value": anc, "unit": "10^9/L", "date": date},
            )
        ],
        "medications": [med],
    }


#: Normal on day 0 of the course, neutropenic on day 24 (2026-02-25).
FALL_ON_DAY_24 = [("2026-02-01", 7.2, 4.6), ("2026-02-25", 2.0, 0.4)]


@pytest.mark.parametrize(
    "name, generic",
    [
        ("ceftriaxone", "ceftriaxone"),
        ("Rocephin", "ceftriaxone"),
        ("piperacillin/tazobactam", "piperacillin-tazobactam"),
        ("Zosyn 4.5 g IV", "piperacillin-tazobactam"),
        ("co-amoxiclav", "amoxicillin-clavulanate"),
        ("imipenem", "imipenem-cilastatin"),
        ("vancomycin", "vancomycin"),
        ("cefalexin", "cephalexin"),
    ],
)
def test_the_lexicon_knows_the_prolonged_course_antibiotics(name: str, generic: str) -> None:
    drug = load_knowledge_base().lexicon.resolve(name)
    assert drug.known and drug.name == generic
    assert {"antibiotic", "prolonged_course_antibiotic"} <= set(drug.classes)
    assert "neutropenia_signal_drug" not in drug.classes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("drug", ["ceftriaxone", "vancomycin", "piperacillin-tazobactam"])
def test_a_count_that_falls_after_24_days_of_the_course_is_weighed(drug: str, backend: str) -> None:
    result = diagnose(_patient(drug, "2026-02-01", FALL_ON_DAY_24), backend=backend, today=TODAY)
    fired = fired_rules(result)
    assert COURSE in fired and UNLISTED not in fired
    assert result.unknown_medications == []
    assert result.candidates[0].cause == "drug_induced_other"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_count_that_falls_three_days_into_the_course_gets_nothing_from_it(backend: str) -> None:
    result = diagnose(_patient("ceftriaxone", "2026-02-22", FALL_ON_DAY_24), backend=backend,
                      today=TODAY)  # fmt: skip
    assert COURSE not in fired_rules(result)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_count_already_low_when_the_course_began_gets_nothing_from_it(backend: str) -> None:
    labs = [("2026-01-20", 2.1, 0.6), ("2026-02-25", 2.0, 0.5)]
    result = diagnose(_patient("cefepime", "2026-01-25", labs), backend=backend, today=TODAY)
    assert COURSE not in fired_rules(result)


@pytest.mark.parametrize("backend", BACKENDS)
def test_recovery_after_a_long_course_stops_is_weighed(backend: str) -> None:
    labs = [*FALL_ON_DAY_24, ("2026-03-06", 6.1, 3.8)]
    patient = _patient("vancomycin", "2026-02-01", labs, stop="2026-02-26")
    assert RECOVERED in fired_rules(diagnose(patient, backend=backend, today=TODAY))


@pytest.mark.parametrize("backend", BACKENDS)
def test_recovery_after_a_short_course_stops_is_not(backend: str) -> None:
    labs = [*FALL_ON_DAY_24, ("2026-03-06", 6.1, 3.8)]
    patient = _patient("vancomycin", "2026-02-22", labs, stop="2026-02-26")
    assert RECOVERED not in fired_rules(diagnose(patient, backend=backend, today=TODAY))
