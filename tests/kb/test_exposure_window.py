# SPDX-License-Identifier: Apache-2.0
"""The "no exposure" rules of the drug causes look at recent exposure: a drug taken on as_of or
stopped within 30 days blocks them; one stopped long ago does not (an amoxicillin course of 2010
made "other drug-induced" the top cause of a 2025 count), except an anti-CD20 antibody, whose
neutropenia comes months after the last dose."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

AS_OF = dt.date(2025, 3, 1)
LABS = [{"test": "anc", "value": 0.3, "unit": "10^9/L", "date": AS_OF}]


def fired(kb: KnowledgeBase, medication: dict[str, Any]) -> set[str]:
    d = diagnose({"as_of": AS_OF, "labs": LABS, "medications": [medication]}, kb=kb, today=AS_OF)
    return {t.rule_id for t in d.trace}


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("amoxicillin", "drug_induced_other.no_medication_recorded"),
        ("clozapine", "clozapine_induced.no_clozapine_exposure"),
        ("azathioprine", "thiopurine_toxicity.no_thiopurine_exposure"),
        ("imatinib", "tki_myelosuppression.no_tki_exposure"),
    ],
)
def test_a_drug_stopped_long_ago_is_no_exposure_and_a_recent_one_is(
    real_kb: KnowledgeBase, name: str, rule: str
) -> None:
    old = {"name": name, "start": dt.date(2010, 1, 1), "stop": dt.date(2010, 1, 7)}
    assert rule in fired(real_kb, old)
    recent = {"name": name, "start": dt.date(2025, 1, 1), "stop": dt.date(2025, 2, 10)}
    assert rule not in fired(real_kb, recent)
    ongoing = {"name": name, "start": dt.date(2025, 1, 1)}
    assert rule not in fired(real_kb, ongoing)


def test_an_anti_cd20_antibody_counts_however_long_ago(real_kb: KnowledgeBase) -> None:
    rituximab = {"name": "rituximab", "start": dt.date(2024, 6, 1), "stop": dt.date(2024, 6, 22)}
    assert "drug_induced_other.no_medication_recorded" not in fired(real_kb, rituximab)
