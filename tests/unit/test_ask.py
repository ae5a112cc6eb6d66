# SPDX-License-Identifier: Apache-2.0
"""engine/ask.py: the unknown facts that would most change a candidate, from the rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose, load_knowledge_base
from engine.kb.schema import AddEvidence
from engine.wording import asked

TODAY = dt.date(2025, 3, 1)
MACROCYTIC: dict[str, Any] = {
    "as_of": "2025-03-01", "age": 70, "sex": "female",
    "labs": [
        {"test": "wbc", "value": 2.4, "unit": "10^9/L", "date": "2025-03-01"},
        {"test": "anc", "value": 0.9, "unit": "10^9/L", "date": "2025-03-01"},
        {"test": "hemoglobin", "value": 8.1, "unit": "g/dL", "date": "2025-03-01"},
        {"test": "platelets", "value": 90, "unit": "10^9/L", "date": "2025-03-01"},
        {"test": "mcv", "value": 118, "unit": "fL", "date": "2025-03-01"},
    ],
    "findings": ["glossitis"],
}  # fmt: skip


def test_unmeasured_lab_is_asked_and_measured_one_is_not() -> None:
    d = diagnose(MACROCYTIC, today=TODAY)
    c = d.candidate("megaloblastic")
    assert c is not None and c.rank <= 3
    asked = {a.fact: a for a in c.ask_next}
    assert "vitamin_b12" in asked and asked["vitamin_b12"].could_add > 0
    measured = {
        **MACROCYTIC,
        "labs": [
            *MACROCYTIC["labs"],
            {"test": "vitamin_b12", "value": 450, "unit": "pg/mL", "date": "2025-03-01"},
        ],
    }
    again = diagnose(measured, today=TODAY).candidate("megaloblastic")
    assert again is None or "vitamin_b12" not in {a.fact for a in again.ask_next}


def test_leads_point_at_evidence_rules_of_the_cause_that_did_not_fire() -> None:
    kb = load_knowledge_base()
    d = diagnose(MACROCYTIC, today=TODAY)
    fired = {t.rule_id for t in d.trace}
    for c in d.candidates:
        assert len(c.ask_next) <= 5
        if c.rank > 3:
            assert c.ask_next == []
        for a in c.ask_next:
            assert a.could_add > 0 or a.could_remove < 0
            for rid in a.rules:
                rule = kb.rule(rid)
                assert isinstance(rule.then, AddEvidence) and rule.then.cause == c.cause
                assert rid not in fired
        order = [max(a.could_add, -a.could_remove) for a in c.ask_next]
        assert order == sorted(order, reverse=True)


def test_consult_note_lists_them() -> None:
    from engine.render import consult_note

    assert "unknown facts that would change this most: " in consult_note(
        diagnose(MACROCYTIC, today=TODAY)
    )


@pytest.mark.parametrize(
    ("fact", "said"),
    [
        ("absent_finding fever", "no fever"),
        ("finding hepatomegaly", "hepatomegaly"),
        ("condition pregnancy", "pregnancy"),
        ("condition mds", "known MDS"),
        ("condition rheumatoid_arthritis", "known rheumatoid arthritis"),
        ("history chemotherapy", "history of chemotherapy"),
        ("ldh", "LDH"),
    ],
)
def test_an_asked_fact_reads_as_words(fact: str, said: str) -> None:
    """The seventh probe: the note listed "absent finding fever" among the unknown facts, as if
    an absent fever were what is unknown; recording fever absent is what would move the score."""
    assert asked(fact) == said
