# SPDX-License-Identifier: Apache-2.0
"""Evidence by source type and strength, clinical considerations, review status and currency
(lint --strict), and the patient audience (plain language, no clinician-only terms)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from engine import InputError, diagnose
from engine.differential import EVIDENCE_GROUPS
from engine.kb.load import lint
from engine.kb.registry import CITATION_KINDS
from engine.render import consult_note, patient_note
from tests.cli.test_cli import leukodx
from tests.conftest import MINI_KB
from tests.unit.test_engine_mini import clozapine_patient

TODAY = dt.date(2025, 3, 1)

#: Words a patient should not have to read (units, grading systems, statistics, dosing).
CLINICIAN_ONLY = (
    "ANC", "WBC", "CTCAE", "10^9/L", "/uL", "x 10", "log-odds", "likelihood", "score", "grade",
    "mg", "dose", "titer", "titre", "agranulocytosis", "neutropenia", "leukopenia", "LLN",
    "prior", "weight", "MASCC", "REMS", "ACKR1", "rs2814778",
)  # fmt: skip


def test_evidence_carries_source_kind_and_group_in_reading_order() -> None:
    d = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY)
    items = d.candidates[0].evidence_for
    assert {e.source_kind for e in items} == {"drug_label"}
    assert all(e.group == "drug_label" for e in items)
    keys = [(EVIDENCE_GROUPS.index(e.group), CITATION_KINDS.index(e.source_kind)) for e in items]
    assert keys == sorted(keys)
    note = consult_note(d)
    assert "because, from the drug label:" in note


def test_real_kb_groups_guidelines_before_labels_before_research() -> None:
    d = diagnose("cases/clozapine_induced-01.yaml")
    for c in d.candidates:
        order = [EVIDENCE_GROUPS.index(e.group) for e in c.evidence_for]
        assert order == sorted(order)
        assert all(e.source_kind in CITATION_KINDS for e in c.evidence_for)


def test_considerations_follow_the_ranked_causes() -> None:
    d = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY)
    top = d.candidates[0]
    assert [s.text for s in top.considerations] == [
        "Follow the clozapine label's ANC table; interrupt when it says so."
    ]
    note = consult_note(d)
    assert (
        note.index("DIFFERENTIAL")
        < note.index("CLINICAL CONSIDERATIONS")
        < note.index("REFERENCES")
    )
    assert "clozaril-label" in {c.id for c in d.citations}


def test_output_names_kb_currency_and_rule_status() -> None:
    d = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY)
    assert d.knowledge_base.last_updated == "2026-11-21"
    assert {r.rule_id for r in d.rules_used} == {t.rule_id for t in d.trace}
    assert {r.review_status for r in d.rules_used} == {"approved"}
    assert all(e.review_status == "approved" for e in d.candidates[0].evidence_for)
    assert "rules contributed (" in consult_note(d)


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(MINI_KB, target)
    return target


def test_strict_lint_rejects_drafts_and_overdue_reviews(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "findings.yaml"
    rules.write_text(rules.read_text().replace("review_status: approved", "review_status: draft"))
    assert not [p for p in lint(kb_copy) if p.severity == "error"]
    strict = [str(p) for p in lint(kb_copy, strict=True) if p.severity == "error"]
    assert strict == [
        "kb/rules/findings.yaml: review_status: the rules of this file are a draft (not reviewed)"
    ]
    result = leukodx("lint", "--strict", str(kb_copy))
    assert result.returncode == 2 and "draft" in result.stderr
    assert leukodx("lint", str(kb_copy)).returncode == 0
    rules.write_text(
        rules.read_text()
        .replace("review_status: draft", "review_status: approved")
        .replace("review_by: 2099-01-01", "review_by: 2021-01-01")
    )
    strict = [str(p) for p in lint(kb_copy, strict=True) if p.severity == "error"]
    assert strict == ["kb/rules/findings.yaml: review_by: review was due 2021-01-01"]


def test_patient_view_is_plain(kb_copy: Path) -> None:
    d = diagnose(clozapine_patient(findings=["fever"]), kb=MINI_KB, today=TODAY, audience="patient")
    assert d.audience == "patient"
    assert d.candidates[0].label == "A side effect of the medicine clozapine"
    assert d.alerts[0].message.startswith("A fever with very few")
    text = (
        patient_note(d)
        + "\n"
        + "\n".join(
            [c.label for c in d.candidates]
            + [e.statement for c in d.candidates for e in c.evidence_for]
            + [f.statement for f in d.findings]
            + [a.message for a in d.alerts]
        )
    )
    for term in CLINICIAN_ONLY:
        assert not re.search(rf"(?<![A-Za-z]){re.escape(term)}(?![A-Za-z])", text), term
    assert "discuss these results with your clinician" in d.disclaimer
    assert [c.cause for c in d.candidates] == [
        c.cause
        for c in diagnose(clozapine_patient(findings=["fever"]), kb=MINI_KB, today=TODAY).candidates
    ]


def test_clinician_view_is_the_default_and_unchanged() -> None:
    a = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY)
    b = diagnose(clozapine_patient(), kb=MINI_KB, today=TODAY, audience="clinician")
    assert a.to_json() == b.to_json() and a.audience == "clinician"
    assert "not a diagnosis" in a.disclaimer


def test_unknown_audience_is_an_input_error() -> None:
    with pytest.raises(InputError, match="^audience: unknown audience"):
        diagnose({"wbc": 3.0}, kb=MINI_KB, today=TODAY, audience="public")


def test_cli_patient_audience(tmp_path: Path) -> None:
    from tests.cli.test_cli import PATIENT

    path = tmp_path / "p.yaml"
    path.write_text(PATIENT)
    result = leukodx("diagnose", str(path), "--audience", "patient", "--rules", str(MINI_KB))
    assert result.returncode == 0
    assert "A side effect of the medicine clozapine" in result.stdout
    assert "score" not in result.stdout
