# SPDX-License-Identifier: Apache-2.0
"""The acute-fever laboratory patterns and the neonatal immune pattern, on the rule-test backends.

Fever with a low white count, thrombocytopenia and raised transaminases is the picture of the
tick-borne ehrlichioses (and, after travel, of dengue); a tick bite makes it presumptive. An
isolated neutropenia in the first month of life raises alloimmune or maternal-antibody
neutropenia. Each rule must count in its setting and stay silent outside it (a long fever, a
periodic fever, an older child, a multilineage count)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose
from engine.differential import Differential
from engine.errors import InputError
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.differential_reading import fired_rules, kb_weight, rule_weights

TODAY = dt.date(2024, 6, 3)
BACKENDS = RULE_TEST_BACKENDS
TRIAD = "infection_other.fever_cytopenias_raised_transaminases"
TICK = "infection_other.tick_bite_fever"
DENGUE = "viral_infection.febrile_traveller_dengue_pattern"
NEONATAL = "autoimmune_neutropenia.neonatal_isolated"


def _lab(test: str, value: float, unit: str, date: str = "2024-06-03") -> dict[str, Any]:
    return {"test": test, "value": value, "unit": unit, "date": date}


ACUTE_LABS = [
    _lab("wbc", 2.1, "10^9/L"),
    _lab("platelets", 60, "10^9/L"),
    _lab("hemoglobin", 13.0, "g/dL"),
    _lab("alt", 95, "U/L"),
]


def _run(backend: str, **facts: Any) -> Differential:
    patient: dict[str, Any] = {"as_of": "2024-06-03", "age": 55, "sex": "male"}
    patient.update(facts)
    return diagnose(patient, today=TODAY, backend=backend)


def _fever(days: int) -> dict[str, str]:
    return {"name": "fever", "since": (TODAY - dt.timedelta(days=days)).isoformat()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_acute_fever_cytopenias_and_raised_alt_count_for_tick_borne_infection(backend: str) -> None:
    fired = fired_rules(_run(backend, labs=ACUTE_LABS, findings=[_fever(3)]))
    assert TRIAD in fired
    assert TICK not in fired  # no tick bite on record
    assert DENGUE not in fired  # no travel or endemic residence on record


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_triad_needs_every_part(backend: str) -> None:
    normal_alt = [lab for lab in ACUTE_LABS if lab["test"] != "alt"] + [_lab("alt", 30, "U/L")]
    normal_plt = [lab for lab in ACUTE_LABS if lab["test"] != "platelets"] + [
        _lab("platelets", 250, "10^9/L")
    ]
    assert TRIAD not in fired_rules(_run(backend, labs=normal_alt, findings=[_fever(3)]))
    assert TRIAD not in fired_rules(_run(backend, labs=normal_plt, findings=[_fever(3)]))
    assert TRIAD not in fired_rules(_run(backend, labs=ACUTE_LABS))  # no fever


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_long_or_periodic_fever_is_not_the_acute_pattern(backend: str) -> None:
    travel = {"name": "recent_travel", "since": "2024-05-01", "until": "2024-05-20"}
    long_fever = _run(backend, labs=ACUTE_LABS, findings=[_fever(42)], history=[travel])
    assert not {TRIAD, DENGUE} & fired_rules(long_fever)
    periodic = _run(
        backend, labs=ACUTE_LABS, findings=[_fever(3), "periodic_fevers"], history=[travel]
    )
    assert not {TRIAD, DENGUE} & fired_rules(periodic)


@pytest.mark.parametrize("backend", BACKENDS)
def test_travel_adds_dengue_to_the_acute_pattern(backend: str) -> None:
    travel = {"name": "recent_travel", "since": "2024-05-01", "until": "2024-05-20"}
    fired = fired_rules(_run(backend, labs=ACUTE_LABS, findings=[_fever(3)], history=[travel]))
    assert {TRIAD, DENGUE} <= fired


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tick_bite_with_fever_and_a_low_count_is_presumptive(backend: str) -> None:
    labs = [_lab("wbc", 3.2, "10^9/L")]
    d = _run(backend, labs=labs, findings=[_fever(2)], history=["tick_bite"])
    assert rule_weights(d, "infection_other").get(TICK) == pytest.approx(kb_weight(TICK), abs=1e-4)
    # without the bite the same patient gets no tick-borne evidence
    assert TICK not in fired_rules(_run(backend, labs=labs, findings=[_fever(2)]))


def test_tick_bite_is_in_the_history_vocabulary_and_typos_are_named() -> None:
    with pytest.raises(InputError) as err:
        diagnose({"wbc": 3.0, "history": ["tick_bites"]}, today=TODAY)
    assert "tick_bite" in str(err.value)


def _neonate(backend: str, age: float, labs: list[dict[str, Any]]) -> Differential:
    patient = {"as_of": "2017-01-03", "age": age, "sex": "male", "labs": labs}
    return diagnose(patient, today=dt.date(2017, 1, 3), backend=backend)


NEONATE_ANC = [
    {"test": "anc", "value": 0.4, "unit": "10^9/L", "date": "2017-01-01"},
    {"test": "anc", "value": 0.1, "unit": "10^9/L", "date": "2017-01-03"},
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolated_neutropenia_in_a_neonate_raises_immune_neonatal_neutropenia(backend: str) -> None:
    d = _neonate(backend, 0.008, NEONATE_ANC)
    assert NEONATAL in fired_rules(d)
    # the congenital rule for the same age window still counts: both are on the list
    assert "congenital_neutropenia.neonatal_onset" in fired_rules(d)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_neonatal_rule_is_limited_to_the_first_month_and_to_one_line(backend: str) -> None:
    assert NEONATAL not in fired_rules(_neonate(backend, 0.5, NEONATE_ANC))
    multilineage = NEONATE_ANC + [
        {"test": "platelets", "value": 40, "unit": "10^9/L", "date": "2017-01-03"},
        {"test": "hemoglobin", "value": 9.0, "unit": "g/dL", "date": "2017-01-03"},
    ]
    assert NEONATAL not in fired_rules(_neonate(backend, 0.008, multilineage))
