# SPDX-License-Identifier: Apache-2.0
"""Patterns that must not depend on a test nobody ordered.

Two low cell lines are a multilineage pattern whether or not the third line was measured; an
HIV indicator picture and a chronic low count with fever ask for the test that is missing (HIV,
ANA), and stop counting once its result is on record. Checked on the rule-test backends."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose
from engine.differential import Differential
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.differential_reading import kb_weight, rule_weights

TODAY = dt.date(2024, 3, 1)
BACKENDS = RULE_TEST_BACKENDS


def _lab(
    test: str, value: float | str, unit: str | None, date: str = "2024-03-01"
) -> dict[str, Any]:
    lab: dict[str, Any] = {"test": test, "value": value, "date": date}
    if unit is not None:
        lab["unit"] = unit
    return lab


def _run(labs: list[dict[str, Any]], backend: str, **extra: Any) -> Differential:
    patient: dict[str, Any] = {"as_of": "2024-03-01", "age": 40, "sex": "female", "labs": labs}
    patient.update(extra)
    return diagnose(patient, today=TODAY, backend=backend)


def _finding(d: Differential, fact: str) -> tuple[Any, str | None] | None:
    for f in d.findings:
        if f.fact == fact:
            return f.value, f.rule_id
    return None


WBC_LOW = _lab("wbc", 3.0, "10^9/L")
PLT_LOW = _lab("platelets", 90, "10^9/L")
HB_LOW = _lab("hemoglobin", 9.0, "g/dL")
HB_OK = _lab("hemoglobin", 13.5, "g/dL")


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_low_lines_with_the_red_line_unmeasured_are_a_bicytopenia(backend: str) -> None:
    got = _finding(_run([WBC_LOW, PLT_LOW], backend), "lineage")
    assert got == ("bicytopenia", "lineage.bicytopenia_red_line_unknown")


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_low_lines_with_no_platelet_count_are_a_bicytopenia(backend: str) -> None:
    got = _finding(_run([WBC_LOW, HB_LOW], backend), "lineage")
    assert got == ("bicytopenia", "lineage.bicytopenia_platelets_unknown")


@pytest.mark.parametrize("backend", BACKENDS)
def test_measured_lines_keep_their_exact_pattern(backend: str) -> None:
    assert _finding(_run([WBC_LOW, PLT_LOW, HB_OK], backend), "lineage") == (
        "bicytopenia",
        "lineage.bicytopenia_white_platelets",
    )
    assert _finding(_run([WBC_LOW, PLT_LOW, HB_LOW], backend), "lineage") == (
        "pancytopenia",
        "lineage.pancytopenia",
    )
    # one low line and nothing else measured: no lineage at all, never "isolated"
    assert _finding(_run([WBC_LOW], backend), "lineage") is None


def test_a_young_infant_with_low_white_cells_and_platelets_is_a_bicytopenia() -> None:
    d = diagnose(
        {"as_of": "2024-03-01", "age": 0.2, "labs": [_lab("wbc", 3.0, "10^9/L"), PLT_LOW, HB_OK]},
        today=TODAY,
        backend="clips",
    )
    assert _finding(d, "lineage") == ("bicytopenia", "lineage.bicytopenia_red_line_unknown")


HIV_RULE = "hiv.low_count_with_indicator_features"


@pytest.mark.parametrize("backend", BACKENDS)
def test_hiv_indicator_picture_counts_until_a_result_is_known(backend: str) -> None:
    assert HIV_RULE in rule_weights(_run([WBC_LOW], backend, findings=["weight_loss"]), "hiv")
    tested = _run([WBC_LOW, _lab("hiv", "negative", None)], backend, findings=["weight_loss"])
    assert HIV_RULE not in rule_weights(tested, "hiv")


def test_hiv_indicator_rule_leaves_severe_neutropenia_and_lymphopenia_to_other_rules() -> None:
    severe = _run([WBC_LOW, _lab("anc", 0.4, "10^9/L")], "clips", findings=["weight_loss"])
    assert HIV_RULE not in rule_weights(severe, "hiv")
    lympho = _run([WBC_LOW, _lab("alc", 0.5, "10^9/L")], "clips", findings=["weight_loss"])
    weights = rule_weights(lympho, "hiv")
    assert HIV_RULE not in weights
    assert "hiv.lymphopenia_with_constitutional_features" in weights


SLE_RULE = "sle.chronic_low_count_with_fever_untested"


def _chronic_with_fever(backend: str, *more: dict[str, Any]) -> Differential:
    labs = [_lab("wbc", 3.2, "10^9/L", "2023-06-01"), _lab("wbc", 3.3, "10^9/L"), *more]
    return _run(labs, backend, findings=[{"name": "fever", "since": "2024-02-01"}])


@pytest.mark.parametrize("backend", BACKENDS)
def test_chronic_low_count_with_fever_asks_for_an_ana(backend: str) -> None:
    assert rule_weights(_chronic_with_fever(backend), "sle")[SLE_RULE] == pytest.approx(
        kb_weight(SLE_RULE), abs=1e-4
    )
    negative = _chronic_with_fever(backend, _lab("ana", "negative", None))
    assert SLE_RULE not in rule_weights(negative, "sle")


def test_a_new_low_count_with_fever_is_not_an_sle_pattern() -> None:
    d = _run([WBC_LOW], "clips", findings=[{"name": "fever", "since": "2024-02-25"}])
    assert SLE_RULE not in rule_weights(d, "sle")
