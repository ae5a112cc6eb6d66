# SPDX-License-Identifier: Apache-2.0
"""A medication name the lexicon does not know, but that resembles an alert-driving drug, is not
used as that drug (nothing is guessed) and raises a warning naming the suspected drug, so the
missing alert is never silent. End to end, on the rule-test backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import diagnose
from tests.conftest import RULE_TEST_BACKENDS

TODAY = dt.date(2025, 3, 1)
BACKENDS = RULE_TEST_BACKENDS
#: drug -> the rule id of its warning when the name is only suspected
DRIVERS = {
    "clozapine": "names.suspected_clozapine",
    "imatinib": "names.suspected_tki",
    "azathioprine": "names.suspected_thiopurine",
    "methimazole": "names.suspected_antithyroid",
    "cyclophosphamide": "names.suspected_chemotherapy",
}


def patient(drug: str) -> dict[str, Any]:
    return {
        "as_of": "2025-03-01",
        "age": 45,
        "sex": "female",
        "labs": [
            {"test": "wbc", "value": 1.9, "unit": "10^9/L", "date": "2025-03-01"},
            {"test": "anc", "value": 0.4, "unit": "10^9/L", "date": "2025-03-01"},
        ],
        "medications": [{"name": drug, "start": "2025-01-10"}],
    }


def alert_rules(drug: str, backend: str = "clips") -> set[str]:
    return {a.rule_id for a in diagnose(patient(drug), backend=backend, today=TODAY).alerts}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_misspelt_clozapine_warns_and_is_not_used_as_clozapine(backend: str) -> None:
    d = diagnose(patient("clozapin"), backend=backend, today=TODAY)
    warnings = [a for a in d.alerts if a.rule_id == "names.suspected_clozapine"]
    assert len(warnings) == 1 and warnings[0].level == "warning"
    assert (
        "clozapin" in warnings[0].facts[0].how and "resembles clozapine" in warnings[0].facts[0].how
    )
    assert d.unknown_medications == ["clozapin"]
    assert not any(a.rule_id.startswith("clozapine.") for a in d.alerts)  # nothing guessed


def test_a_correct_name_gets_no_warning() -> None:
    assert not any(r.startswith("names.") for r in alert_rules("clozapine"))
    assert not any(r.startswith("names.") for r in alert_rules("Clozaril 100 mg"))


def _one_edit(word: str) -> st.SearchStrategy[str]:
    """Names one deletion, substitution or transposition away from ``word``."""
    positions = st.integers(0, len(word) - 2)
    letters = st.sampled_from("abcdefghijklmnopqrstuvwxyz")
    deletion = positions.map(lambda i: word[:i] + word[i + 1 :])
    substitution = st.tuples(positions, letters).map(
        lambda t: word[: t[0]] + t[1] + word[t[0] + 1 :]
    )
    transposition = positions.map(lambda i: word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return st.one_of(deletion, substitution, transposition)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(sorted(DRIVERS)).flatmap(lambda d: st.tuples(st.just(d), _one_edit(d))))
def test_a_one_letter_variant_of_an_alert_driving_drug_is_never_silent(
    pair: tuple[str, str],
) -> None:
    """The variant resolves to the drug (its own rules apply), or the warning names it."""
    drug, variant = pair
    d = diagnose(patient(variant), backend="clips", today=TODAY)
    if variant.lower() == drug or not d.unknown_medications:
        return  # the lexicon resolved it (its alerts are tested elsewhere)
    assert DRIVERS[drug] in {a.rule_id for a in d.alerts}, (variant, d.unknown_medications)


# --- probe 5, finding 5: names that lost their critical alert with no warning ------------------


@pytest.mark.parametrize(
    ("name", "alert"),
    [
        ("Clozapine-ratiopharm 100 mg", "clozapine_severe_neutropenia"),
        ("clozapine; fluvoxamine", "clozapine_severe_neutropenia"),
        ("Clozapine 100mg nocte", "clozapine_severe_neutropenia"),
        ("Clozapine 25 mg 0-0-1", "clozapine_severe_neutropenia"),
        ("clozapine orodispersible", "clozapine_severe_neutropenia"),
        ("Leponex 25 mg Tabletten", "clozapine_severe_neutropenia"),
        ("Thyrozol", "antithyroid_agranulocytosis"),
        ("Strumazol 10 mg", "antithyroid_agranulocytosis"),
        ("Favistan", "antithyroid_agranulocytosis"),
        ("carbimazole 5 mg OD", "antithyroid_agranulocytosis"),
        ("thiamazole 10 mg 1-0-0", "antithyroid_agranulocytosis"),
        ("Carbimazole Tablets BP 5mg", "antithyroid_agranulocytosis"),
    ],
)
def test_names_as_prescriptions_write_them_keep_the_critical_alert(name: str, alert: str) -> None:
    d = diagnose(patient(name), backend="clips", today=TODAY)
    assert d.unknown_medications == []
    assert {a.id: a.level for a in d.alerts}.get(alert) == "critical"
    assert not any(a.rule_id.startswith("names.") for a in d.alerts)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("Clozapin-ratiopharm 100 mg", "names.suspected_clozapine"),
        ("Clozaril-ratiopharm", "names.suspected_clozapine"),
        ("clozapine-fluvoxamin", "names.suspected_clozapine"),
        ("Clozapine Teva", "names.suspected_clozapine"),
        ("Thiamazol-Henning 20 mg", "names.suspected_antithyroid"),
    ],
)
def test_a_name_holding_an_alert_drug_that_is_not_read_warns(name: str, rule: str) -> None:
    d = diagnose(patient(name), backend="clips", today=TODAY)
    assert d.unknown_medications == [name]
    assert rule in {a.rule_id for a in d.alerts}


def test_the_unread_part_of_a_combination_is_reported_not_dropped() -> None:
    """``rituximab + clozapin`` was read as rituximab alone, and the clozapine typo vanished
    without the suspected-name warning the same typo gets on its own line."""
    d = diagnose(patient("rituximab + clozapin"), today=TODAY)
    assert d.unknown_medications == ["clozapin"]
    assert "suspected_drug_name" in {a.id for a in d.alerts}
    assert diagnose(patient("clozapine; paroxetin"), today=TODAY).unknown_medications == [
        "paroxetin"
    ]
