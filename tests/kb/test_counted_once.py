# SPDX-License-Identifier: Apache-2.0
"""A finding that an authored rule counts is counted once: by that rule when it fires, by the
cause's profile when it does not.

Acute leukaemia's profile counts anaemia and thrombocytopenia (about 90% and 85% of
presentations), and five authored rules count them too (new adult pancytopenia, cytopenias with
fever...). Before, the profile's present side was left out altogether, so an anaemia that none
of those rules used counted for nothing. Now the side is compiled with the authored rules as its
``counted_by``: it fires, but adds nothing when one of them fired (the trace says so), and the
differential, why-not, ask-next and calibration all leave it out alike."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from engine import diagnose
from engine.calibrate.features import load_cases
from engine.kb.load import load_knowledge_base
from engine.kb.schema import AddEvidence
from engine.patient import parse_patient
from engine.why_not import explain_cause, why_not
from tests.conftest import RULE_TEST_BACKENDS

TODAY = dt.date(2025, 3, 1)
BACKENDS = RULE_TEST_BACKENDS
ANEMIA = "acute_leukemia.profile.anemia"
THROMBO = "acute_leukemia.profile.thrombocytopenia"
PANCYTOPENIA = "acute_leukemia.adult_new_pancytopenia"


def _patient(platelets: float) -> dict[str, Any]:
    labs = [
        ("wbc", 2.4, "10^9/L"), ("hemoglobin", 8.1, "g/dL"), ("platelets", platelets, "10^9/L"),
    ]  # fmt: skip
    return {
        "as_of": TODAY.isoformat(), "age": 55, "sex": "male",
        "labs": [{"test": t, "value": v, "unit": u, "date": TODAY.isoformat()} for t, v, u in labs],
    }  # fmt: skip


ANAEMIA_ONLY = _patient(platelets=250)
PANCYTOPENIA_PATIENT = _patient(platelets=40)


def test_the_profile_side_of_a_counted_finding_is_compiled_and_names_its_counters() -> None:
    kb = load_knowledge_base()
    rule = kb.rule(ANEMIA)
    assert PANCYTOPENIA in rule.counted_by
    assert "Counted only when none of" in (rule.weight_basis or "")
    assert kb.uncounted({ANEMIA}) == {}
    assert kb.uncounted({ANEMIA, PANCYTOPENIA, "sle.profile.fever"}) == {ANEMIA: (PANCYTOPENIA,)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_anaemia_no_authored_rule_uses_counts_through_the_profile(backend: str) -> None:
    d = diagnose(ANAEMIA_ONLY, backend=backend, today=TODAY)
    leukaemia = next(c for c in d.candidates if c.cause == "acute_leukemia")
    listed = {e.rule_id for e in (*leukaemia.evidence_for, *leukaemia.evidence_against)}
    assert ANEMIA in listed and PANCYTOPENIA not in listed
    assert "not counted" not in next(t.effect for t in d.trace if t.rule_id == ANEMIA)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_pancytopenia_counts_its_anaemia_once_through_the_authored_rule(backend: str) -> None:
    d = diagnose(PANCYTOPENIA_PATIENT, backend=backend, today=TODAY)
    leukaemia = next(c for c in d.candidates if c.cause == "acute_leukemia")
    listed = [e.rule_id for e in (*leukaemia.evidence_for, *leukaemia.evidence_against)]
    assert ANEMIA not in listed and THROMBO not in listed
    # The authored rule is listed as evidence unless the fit left it at LR 1 (weight 0: neither
    # for nor against); either way it, and not the profile, is what counts the finding.
    authored = load_knowledge_base().rule(PANCYTOPENIA).then
    assert isinstance(authored, AddEvidence)
    assert (PANCYTOPENIA in listed) == (authored.weight != 0)
    effects = {t.rule_id: t.effect for t in d.trace}
    assert effects[ANEMIA].endswith(f"(not counted: {PANCYTOPENIA} counts this finding)")
    assert THROMBO in effects and "not counted" in effects[THROMBO]
    evidence = (*leukaemia.evidence_for, *leukaemia.evidence_against)
    total = leukaemia.prior + sum(e.weight for e in evidence)
    assert leukaemia.score == pytest.approx(total, abs=1e-3)


def test_why_not_scores_a_cause_as_the_differential_does() -> None:
    kb = load_knowledge_base()
    d = diagnose(PANCYTOPENIA_PATIENT, backend="clips", today=TODAY)
    leukaemia = next(c for c in d.candidates if c.cause == "acute_leukemia")
    patient = parse_patient(PANCYTOPENIA_PATIENT, today=TODAY)
    w = why_not(kb, patient, d, "acute_leukemia", backend="clips", today=TODAY)
    assert w.score == pytest.approx(leukaemia.score)


def test_calibration_sees_the_rules_that_count(tmp_path: Path) -> None:
    import yaml

    case = tmp_path / "acute_leukemia-t01.yaml"
    case.write_text(yaml.safe_dump({**PANCYTOPENIA_PATIENT, "schema_version": 1,
                                    "id": "acute_leukemia-t01", "expected": ["acute_leukemia"],
                                    "source": "test"}))  # fmt: skip
    cases, skipped = load_cases([case], load_knowledge_base(), "clips", today=TODAY)
    assert not skipped
    assert PANCYTOPENIA in cases[0].fired and ANEMIA not in cases[0].fired


def test_explain_names_what_fired_but_was_not_counted() -> None:
    d = diagnose(PANCYTOPENIA_PATIENT, backend="clips", today=TODAY)
    text = explain_cause(d, "acute_leukemia")
    assert "Fired but not counted" in text
    assert f"{ANEMIA}: {PANCYTOPENIA} counts this finding" in text
