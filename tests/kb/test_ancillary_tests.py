# SPDX-License-Identifier: Apache-2.0
"""A result of an ancillary test (``vocab.ANCILLARY_TESTS``) that cannot be read is set aside and
the patient evaluated; any other unreadable result fails the patient. Probe 8 (and 7, D15): an
LDH in IU/dL failed a clozapine patient whose ANC was 0.4, and the critical alert went with it.

Setting a result aside is safe only while no alert depends on it: the first test walks every
alert rule of the bundled knowledge base, through the derived facts it reads, down to the input
facts, and fails if an ancillary test is among them."""

from __future__ import annotations

from typing import Any

import pytest

from engine.api import diagnose
from engine.errors import InputError
from engine.kb.load import load_knowledge_base
from engine.kb.schema import Derive, RaiseAlert, Rule
from engine.vocab import ANCILLARY_TESTS, TESTS

DAY = "2026-03-01"


def _names(rule: Rule) -> set[str]:
    return {lit.atom.name for branch in rule.branches for lit in branch}


#: Ancillary tests that a "consider this today" warning may read, with the only rules that do.
#: The HLH prompt needs the ferritin (one of the HLH-2004 criteria); an unreadable ferritin is
#: set aside and named in ``ignored_inputs`` and the prompt may not fire, whereas failing the
#: patient over it would cost the critical alerts the counts raise (session 20).
CONSIDER_ONLY: dict[str, set[str]] = {"ferritin": {"cytopenias.hlh_criteria"}}


def test_no_alert_reads_an_ancillary_test() -> None:
    kb = load_knowledge_base()
    derivers: dict[str, list[Rule]] = {}
    for rule in kb.rules:
        if isinstance(rule.then, Derive):
            derivers.setdefault(rule.then.fact, []).append(rule)
    alerts = [r for r in kb.rules if isinstance(r.then, RaiseAlert)]
    assert alerts
    read: set[str] = set()
    todo = [name for rule in alerts for name in _names(rule)]
    while todo:
        name = todo.pop()
        if name in read:
            continue
        read.add(name)
        todo += [n for rule in derivers.get(name, []) for n in _names(rule)]
    assert ANCILLARY_TESTS <= set(TESTS)
    assert not (read - set(CONSIDER_ONLY)) & ANCILLARY_TESTS, sorted(read & ANCILLARY_TESTS)
    for test, rule_ids in CONSIDER_ONLY.items():
        readers = {r.id for r in alerts if test in _names(r)}
        assert readers == rule_ids, (test, readers)
        assert all(r.then.level == "warning" for r in alerts if r.id in rule_ids)
    assert {"anc", "wbc", "platelets", "hemoglobin"} <= read  # the walk reaches the counts


def clozapine_patient(*labs: dict[str, Any]) -> dict[str, Any]:
    return {
        "as_of": DAY,
        "age": 35,
        "labs": [
            {"test": "wbc", "value": 1.9, "unit": "10^9/L", "date": DAY},
            {"test": "anc", "value": 0.4, "unit": "10^9/L", "date": DAY},
            *labs,
        ],
        "medications": [{"name": "clozapine", "start": "2025-12-01"}],
    }


@pytest.mark.parametrize("backend", ["clips", "experta"])
def test_unreadable_ancillary_results_are_set_aside_and_the_alert_stands(backend: str) -> None:
    d = diagnose(
        clozapine_patient(
            {"test": "ldh", "value": 300, "unit": "IU/dL", "date": DAY},
            {"test": "ldh", "value": 5, "unit": "U/L", "date": "2026-02-01"},  # ukat/L, surely
            {"test": "ferritin", "value": "high", "unit": "ng/mL", "date": DAY},
            {"test": "hiv", "value": "postive", "date": DAY},
            {"test": "crp", "value": 80, "unit": "mg/L"},  # no date
            {"test": "ferritin", "value": 2400, "unit": "ng/mL", "date": DAY},
        ),
        backend=backend,
    )
    assert "clozapine_severe_neutropenia" in {a.id for a in d.alerts}
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert "labs[2].unit: unknown unit for ldh (got 'IU/dL'" in reasons["labs (ldh on 2026-03-01)"]
    assert "ukat/L" in reasons["labs (ldh on 2026-02-01)"]
    assert "labs[4].value: ferritin needs a number" in reasons["labs (ferritin on 2026-03-01)"]
    assert "did you mean 'positive'?" in reasons["labs (hiv on 2026-03-01)"]
    assert "labs[6].date" in reasons["labs (crp)"]
    assert all(r.endswith("the patient is evaluated without it") for r in reasons.values())
    assert [f.value for f in d.facts if f.id == "v:ferritin"] == [2400.0]  # the readable one


@pytest.mark.parametrize(
    ("lab", "field"),
    [
        ({"test": "anc", "value": 0.4, "unit": "IU/dL", "date": DAY}, "labs[2].unit"),
        ({"test": "platelets", "value": "low", "unit": "10^9/L", "date": DAY}, "labs[2].value"),
        ({"test": "tpmt_activity", "value": "lowish", "date": DAY}, "labs[2].value"),
        ({"test": "ldhh", "value": 300, "unit": "U/L", "date": DAY}, "labs[2].test"),
    ],
)
def test_a_count_a_test_an_alert_reads_or_an_unknown_test_still_fails(
    lab: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        diagnose(clozapine_patient(lab))
    assert caught.value.field == field


def test_ancillary_results_of_the_wrong_shape_are_set_aside_too() -> None:
    """Probe 9: an impossible date, or no value, failed the whole patient (pydantic's shape
    check comes before the units); the labs after it keep the positions they were given at."""
    d = diagnose(
        clozapine_patient(
            {"test": "ldh", "value": 300, "unit": "U/L", "date": "2026-02-30"},
            {"test": "crp", "unit": "mg/L", "date": DAY},
            {"test": "ferritin", "value": None, "unit": "ng/mL", "date": DAY},
        )
    )
    assert "clozapine_severe_neutropenia" in {a.id for a in d.alerts}
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert "labs[2].date: " in reasons["labs (ldh)"]
    assert "labs[3].value: field required" in reasons["labs (crp)"]
    assert "labs[4].value: " in reasons["labs (ferritin)"]
    with pytest.raises(InputError) as caught:  # after a set-aside lab, named as given
        diagnose(
            clozapine_patient(
                {"test": "ldh", "value": 300, "unit": "U/L", "date": "notadate"},
                {"test": "platelets", "value": None, "unit": "10^9/L", "date": DAY},
            )
        )
    assert caught.value.field == "labs[3].value"
    with pytest.raises(InputError) as caught:
        diagnose(
            clozapine_patient(
                {"test": "ldh", "value": 300, "unit": "U/L", "date": "notadate"},
                {"test": "platelets", "value": "low", "unit": "10^9/L", "date": DAY},
            )
        )
    assert caught.value.field == "labs[3].value"
