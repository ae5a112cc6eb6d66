# SPDX-License-Identifier: Apache-2.0
"""The whole pipeline on the mini knowledge base: chaining, negation, once-per-rule firing,
alerts, evidence against, score = prior + weights, derivation chains, determinism."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from engine import diagnose
from engine.differential import Differential
from tests.conftest import MINI_KB

TODAY = dt.date(2025, 3, 1)


def run(patient: dict[str, Any]) -> Differential:
    return diagnose(patient, kb=MINI_KB, today=TODAY)


def clozapine_patient(**extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "id": "c1", "as_of": "2025-03-01",
        "labs": [
            {"test": "wbc", "value": 6.1, "unit": "10^9/L", "date": "2024-11-20"},
            {"test": "anc", "value": 3.8, "unit": "10^9/L", "date": "2024-11-20"},
            {"test": "wbc", "value": 2900, "unit": "/uL", "date": "2025-02-10"},
            {"test": "anc", "value": 300, "unit": "/uL", "date": "2025-02-10"},
        ],
        "medications": [{"name": "Clozaril", "start": "2024-12-01"}],
    }  # fmt: skip
    p.update(extra)
    return p


def test_chaining_from_derived_fact_to_evidence() -> None:
    d = run(clozapine_patient())
    top = d.candidates[0]
    assert top.cause == "clozapine_induced"
    assert [e.rule_id for e in top.evidence_for] == ["cloz.early", "cloz.on_drug"]
    chain = top.evidence_for[0].chain
    assert chain[0].rule_id == "find.neutropenia"
    assert chain[0].used[0].id == "v:anc" and chain[0].used[0].value == 0.3
    assert "2025-02-10" in chain[0].used[0].how


def test_score_is_prior_plus_listed_weights() -> None:
    d = run(clozapine_patient())
    for c in d.candidates:
        weights = [e.weight for e in (*c.evidence_for, *c.evidence_against)]
        assert round(c.prior + math.fsum(weights), 4) == c.score


def test_negation_waits_for_derivations() -> None:
    severe = run(clozapine_patient())
    assert not any(f.fact == "neutropenia_mild_or_moderate" for f in severe.findings)
    mild = run({"anc": 1.2})
    assert any(f.fact == "neutropenia_mild_or_moderate" for f in mild.findings)


def test_alerts_any_branch_fires_once() -> None:
    d = run(
        clozapine_patient(
            findings=["fever", "sepsis"],
            medications=[
                {"name": "clozapine", "start": "2024-12-01"},
                {"name": "fluvoxamine", "start": "2025-01-15"},
            ],
        )
    )
    assert [(a.id, a.level) for a in d.alerts] == [
        ("febrile_neutropenia", "critical"),
        ("clozapine_cyp1a2", "warning"),
    ]
    febrile = [t for t in d.trace if t.rule_id == "alert.febrile"]
    assert len(febrile) == 1
    assert set(febrile[0].matched) >= {"m:finding:fever", "m:finding:sepsis"}


def test_evidence_against_from_low_baseline() -> None:
    p = clozapine_patient()
    p["labs"][1]["value"] = 1.1  # ANC already low before clozapine
    c = run(p).candidate("clozapine_induced")
    assert c is not None
    assert [e.rule_id for e in c.evidence_against] == ["cloz.baseline_low"]


def test_class_name_stands_for_a_drug_and_unknown_drugs_are_reported() -> None:
    d = run({"anc": 1.0, "medications": ["tki", "zzzdrug"]})
    assert d.candidates[0].cause == "tki_myelosuppression"
    assert d.unknown_medications == ["zzzdrug"]


def test_no_evidence_no_candidates_but_findings() -> None:
    d = run({"anc": 0.4})
    assert d.candidates == []
    assert {f.fact for f in d.findings} >= {"neutropenia", "neutropenia_severity"}


def test_citations_resolve_and_are_all_used() -> None:
    d = run(clozapine_patient(findings=["fever"]))
    cited = {c for f in d.findings for c in f.citations}
    cited |= {c for a in d.alerts for c in a.citations}
    cited |= {c for cand in d.candidates for e in cand.evidence_for for c in e.citations}
    cited |= {c for cand in d.candidates for s in cand.next_steps for c in s.citations}
    assert cited == {c.id for c in d.citations}


def test_identical_input_gives_identical_bytes() -> None:
    assert run(clozapine_patient()).to_json() == run(clozapine_patient()).to_json()


def test_trace_rebuilds_every_score() -> None:
    d = run(clozapine_patient())
    fired = {t.rule_id for t in d.trace}
    for c in d.candidates:
        assert {e.rule_id for e in (*c.evidence_for, *c.evidence_against)} <= fired


def test_shorthand_is_dated_today() -> None:
    assert run({"wbc": 2.0}).as_of == "2025-03-01"
