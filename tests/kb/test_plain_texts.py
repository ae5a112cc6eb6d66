# SPDX-License-Identifier: Apache-2.0
"""The bundled knowledge base's patient-audience texts (each cause file's ``plain:`` wording and
rules/plain/) and clinical considerations (``considerations:`` in rules/causes/<cause>.yaml):
every rule and cause has plain wording, none of it uses a clinician-only word, every cause a case
can put on the patient's differential has a plain label, and every cause has cited
considerations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import diagnose
from engine.audience import OTHER_CAUSE
from engine.kb.load import KnowledgeBase
from engine.vocab import CAUSES as CAUSE_IDS
from tests.conftest import CASES
from tests.unit.test_presentation import CLINICIAN_ONLY

FILES = sorted(CASES.glob("*.yaml"))


def clinician_terms(text: str) -> list[str]:
    """The CLINICIAN_ONLY words in ``text``, matched as in tests/unit/test_presentation.py."""
    return [
        term
        for term in CLINICIAN_ONLY
        if re.search(rf"(?<![A-Za-z]){re.escape(term)}(?![A-Za-z])", text)
    ]


def plain_texts(kb: KnowledgeBase) -> dict[str, str]:
    texts = {f"rule {r.id}": r.plain for r in kb.rules if r.plain}
    for cause in kb.causes.values():
        texts[f"label {cause.id}"] = cause.plain_label or ""
        texts[f"summary {cause.id}"] = cause.plain_summary or ""
    return texts


def test_every_rule_has_a_plain_statement(real_kb: KnowledgeBase) -> None:
    missing = [r.id for r in real_kb.rules if not (r.plain and r.plain.strip())]
    assert not missing, f"rules without a plain-language statement: {missing}"


def test_every_cause_has_a_plain_label_and_summary(real_kb: KnowledgeBase) -> None:
    assert set(real_kb.causes) == set(CAUSE_IDS)
    for cause in real_kb.causes.values():
        assert cause.plain_label and cause.plain_label.strip(), cause.id
        assert cause.plain_summary and cause.plain_summary.strip(), cause.id


def test_no_plain_text_uses_a_clinician_only_word(real_kb: KnowledgeBase) -> None:
    found = {k: terms for k, t in plain_texts(real_kb).items() if (terms := clinician_terms(t))}
    assert not found, found


def test_the_checker_catches_clinician_words() -> None:
    assert clinician_terms("Your ANC is low.") == ["ANC"]
    assert clinician_terms("a neutropenia grade") == ["grade", "neutropenia"]
    assert clinician_terms("weight-loss surgery") == ["weight"]
    assert clinician_terms("Your count of infection-fighting white cells is low.") == []


def test_plain_texts_have_no_units_or_thresholds(real_kb: KnowledgeBase) -> None:
    """Numbers appear only inside names (vitamin B12, NUDT15, COVID-19), never as values."""
    for key, text in plain_texts(real_kb).items():
        bare = re.sub(r"\b(B12|NUDT15|COVID-19)\b", "", text)
        assert not re.search(r"\d", bare), f"{key}: {text}"
        assert not re.search(r"[<>%]|/L\b|/dL\b", text), f"{key}: {text}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_patient_differential_of_every_case_is_plain(path: Path, real_kb: KnowledgeBase) -> None:
    d = diagnose(path, kb=real_kb, audience="patient")
    assert d.audience == "patient"
    for c in d.candidates:
        assert real_kb.causes[c.cause].plain_label, f"{c.cause} has no plain label"
        assert c.label != OTHER_CAUSE, c.cause
    shown = (
        [c.label for c in d.candidates]
        + [c.summary or "" for c in d.candidates]
        + [e.statement for c in d.candidates for e in c.evidence_for + c.evidence_against]
        + [f.statement for f in d.findings]
        + [a.message for a in d.alerts]
    )
    for text in shown:
        assert not clinician_terms(text), text


def test_every_cause_has_cited_considerations(real_kb: KnowledgeBase) -> None:
    for cause in real_kb.causes.values():
        assert 1 <= len(cause.considerations) <= 4, (cause.id, len(cause.considerations))
        for step in cause.considerations:
            assert step.text.strip() and step.cite, cause.id
            assert all(ref in real_kb.citations for ref in step.cite), (cause.id, step.cite)
