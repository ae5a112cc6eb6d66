# SPDX-License-Identifier: Apache-2.0
"""The seed statements encoded in issue 20, on the bundled KB and the rule-test backends.

Each rule counts in its setting and stays silent outside it; none of them adds to a score (they
are findings and alerts: the ranking is pinned elsewhere). Also the clozapine label's BEN table
for documented benign ethnic neutropenia without a Duffy result."""

from __future__ import annotations

from typing import Any

import pytest

from engine import diagnose
from engine.differential import Differential
from engine.kb.schema import AddEvidence
from tests.conftest import RULE_TEST_BACKENDS, RULES

BACKENDS = RULE_TEST_BACKENDS
NEW_RULES = (
    "context.ben_documented",
    "context.cll_autoimmune_cytopenia_possible",
    "context.extrinsic_factor_recorded",
    "context.chronic_neutropenia_extrinsic",
    "context.chronic_neutropenia_intrinsic_pattern",
    "clozapine.cyp2d6_cyp3a4_inhibitor",
    "clozapine.anemia_on_clozapine",
    "neutropenia.treated_haematological_malignancy_infection_risk",
)


def run(patient: dict[str, Any], backend: str) -> Differential:
    return diagnose({"as_of": "2025-03-01", **patient}, kb=str(RULES), backend=backend)


def labs(*rows: tuple[str, float, str]) -> list[dict[str, Any]]:
    return [{"test": t, "value": v, "unit": "10^9/L" if t != "hemoglobin" else "g/dL", "date": d}
            for t, v, d in rows]  # fmt: skip


def alerts(d: Differential) -> set[str]:
    return {a.id for a in d.alerts}


def finding(d: Differential, fact: str) -> object:
    values = [f.value for f in d.findings if f.fact == fact]
    return values[0] if values else None


def test_the_new_rules_are_findings_and_alerts_not_ranking_evidence(real_kb: Any) -> None:
    for rule_id in NEW_RULES:
        assert not isinstance(real_kb.rule(rule_id).then, AddEvidence), rule_id


CLOZAPINE = {"name": "clozapine", "start": "2024-12-01"}


def clozapine_patient(anc: float, **extra: Any) -> dict[str, Any]:
    return {
        "age": 40,
        "sex": "male",
        "labs": labs(("wbc", 3.0, "2025-02-20"), ("anc", anc, "2025-02-20")),
        "medications": [CLOZAPINE],
        **extra,
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_documented_ben_without_a_duffy_result_selects_the_ben_table(backend: str) -> None:
    d = run(clozapine_patient(0.7, conditions=["benign_ethnic_neutropenia"]), backend)
    assert "clozapine_ben_neutropenia" in alerts(d)
    assert "clozapine_moderate_neutropenia" not in alerts(d)  # the label says continue
    ben = next(a for a in d.alerts if a.id == "clozapine_ben_neutropenia")
    assert ben.level == "warning" and "continue clozapine" in ben.message
    assert finding(d, "ben_documented") is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_duffy_null_still_selects_the_ben_table_and_nothing_else_does(backend: str) -> None:
    assert "clozapine_ben_neutropenia" in alerts(
        run(clozapine_patient(0.7, duffy_null=True), backend)
    )
    general = alerts(run(clozapine_patient(0.7, ancestry=["african"]), backend))
    assert (
        "clozapine_moderate_neutropenia" in general and "clozapine_ben_neutropenia" not in general
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_duffy_test_is_a_next_step_not_a_precondition(backend: str) -> None:
    undocumented = alerts(run(clozapine_patient(1.2, ancestry=["african"]), backend))
    assert "clozapine_duffy_status_unknown" in undocumented
    assert "clozapine_ben_normal_range" not in undocumented
    documented = run(
        clozapine_patient(1.2, ancestry=["african"], conditions=["benign_ethnic_neutropenia"]),
        backend,
    )
    assert "clozapine_ben_normal_range" in alerts(documented)
    assert "clozapine_duffy_status_unknown" not in alerts(documented)
    assert "clozapine_mild_neutropenia" not in alerts(documented)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cyp2d6_or_cyp3a4_inhibitor_with_clozapine(backend: str) -> None:
    on = clozapine_patient(2.0, medications=[CLOZAPINE, {"name": "Zoloft", "start": "2025-01-10"}])
    assert "clozapine_cyp2d6_cyp3a4_inhibitor" in alerts(run(on, backend))
    stopped = clozapine_patient(
        2.0,
        medications=[
            CLOZAPINE,
            {"name": "sertraline", "start": "2024-06-01", "stop": "2024-09-01"},
        ],
    )
    assert "clozapine_cyp2d6_cyp3a4_inhibitor" not in alerts(run(stopped, backend))


def test_interaction_partners_keep_the_ranking_class_of_unassessed_drugs(real_kb: Any) -> None:
    """Listing a drug for the interaction alert must not change how the ranking reads it: like a
    drug the lexicon does not know, it is "some other drug" (unlisted_drug)."""
    for name in ("sertraline", "Prozac", "terbinafine", "erythromycin"):
        resolved = real_kb.lexicon.resolve(name)
        assert resolved.known and "unlisted_drug" in resolved.classes, name
        assert "cyp2d6_cyp3a4_inhibitor" in resolved.classes


@pytest.mark.parametrize("backend", BACKENDS)
def test_anaemia_on_clozapine(backend: str) -> None:
    anaemic = clozapine_patient(2.0)
    anaemic["labs"] += labs(("hemoglobin", 10.2, "2025-02-20"))
    assert "clozapine_associated_anemia" in alerts(run(anaemic, backend))
    without = {**anaemic, "medications": []}
    assert "clozapine_associated_anemia" not in alerts(run(without, backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_cll_autoimmune_cytopenia_context(backend: str) -> None:
    cll = {
        "age": 70,
        "sex": "female",
        "conditions": ["cll"],
        "labs": labs(
            ("wbc", 25.0, "2025-02-20"),
            ("anc", 2.5, "2025-02-20"),
            ("hemoglobin", 9.0, "2025-02-20"),
        ),  # fmt: skip
    }
    assert finding(run(cll, backend), "cll_autoimmune_cytopenia_possible") is True
    assert (
        finding(run({**cll, "conditions": []}, backend), "cll_autoimmune_cytopenia_possible")
        is None
    )


def chronic(anc: float, **extra: Any) -> dict[str, Any]:
    return {
        "age": 30,
        "sex": "female",
        "labs": labs(("anc", anc, "2024-06-01"), ("anc", anc, "2025-02-20")),
        **extra,
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_intrinsic_and_extrinsic_chronic_neutropenia(backend: str) -> None:
    intrinsic = run(chronic(0.4, history=["childhood_onset"]), backend)
    assert finding(intrinsic, "chronic_neutropenia_class") == "intrinsic_suspected"
    extrinsic = run(chronic(0.9, conditions=["sle"], history=["childhood_onset"]), backend)
    assert finding(extrinsic, "chronic_neutropenia_class") == "extrinsic"
    unclassed = run(chronic(0.9), backend)
    assert finding(unclassed, "chronic_neutropenia_class") is None
    transient = {
        **chronic(0.4, history=["childhood_onset"]),
        "labs": labs(("anc", 0.4, "2025-02-20")),
    }
    assert finding(run(transient, backend), "chronic_neutropenia_class") is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_infection_risk_of_a_treated_haematological_malignancy(backend: str) -> None:
    treated = {
        "age": 68,
        "sex": "male",
        "conditions": ["cll"],
        "medications": [{"name": "fludarabine", "start": "2024-03-01", "stop": "2024-08-01"}],
        "labs": labs(("wbc", 2.0, "2025-02-20"), ("anc", 0.8, "2025-02-20")),
    }
    d = run(treated, backend)
    risk = [a for a in d.alerts if a.id == "malignancy_infection_risk"]
    assert risk and "fludarabine-refractory" in risk[0].message
    untreated = {**treated, "medications": []}
    assert "malignancy_infection_risk" not in alerts(run(untreated, backend))
