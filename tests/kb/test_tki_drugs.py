# SPDX-License-Identifier: Apache-2.0
"""The TKI cause covers every tyrosine kinase inhibitor of the lexicon, on the rule-test backends.

Sunitinib (a VEGFR/KIT multi-kinase inhibitor) lowers neutrophils in about half of treated
patients on its label, as the BCR-ABL inhibitors do, so a count that falls on it is weighed as
TKI myelosuppression rather than as an unknown drug; a patient not taking any of them keeps the
cause's exposure penalty."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose
from engine.kb.load import load_knowledge_base
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.differential_reading import fired_rules

TODAY = dt.date(2026, 3, 2)
BACKENDS = RULE_TEST_BACKENDS
ON_TKI = "tki_myelosuppression.on_tki"
NO_TKI = "tki_myelosuppression.no_tki_exposure"


def _patient(drug: str) -> dict[str, Any]:
    return {
        "as_of": "2026-03-02",
        "age": 61,
        "labs": [
            {"test": "wbc", "value": 5.8, "unit": "10^9/L", "date": "2026-01-05"},
            {"test": "wbc", "value": 2.1, "unit": "10^9/L", "date": "2026-03-02"},
            {"test": "anc", "value": 0.7, "unit": "10^9/L", "date": "2026-03-02"},
        ],
        "medications": [{"name": drug, "start": "2026-01-10"}],
    }


def test_the_lexicon_puts_sunitinib_and_its_brand_in_the_tki_class() -> None:
    kb = load_knowledge_base()
    for name in ("sunitinib", "Sutent", "SUNITINIB"):
        drug = kb.lexicon.resolve(name)
        assert drug.known and drug.name == "sunitinib", name
        assert "tki" in drug.classes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("drug", ["imatinib", "sunitinib", "Sutent"])
def test_a_count_that_falls_on_a_tki_ranks_tki_myelosuppression_first(
    drug: str, backend: str
) -> None:
    result = diagnose(_patient(drug), backend=backend, today=TODAY)
    assert ON_TKI in fired_rules(result) and NO_TKI not in fired_rules(result)
    assert result.candidates[0].cause == "tki_myelosuppression"
    assert result.unknown_medications == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_another_drug_leaves_the_tki_cause_its_exposure_penalty(backend: str) -> None:
    result = diagnose(_patient("lisinopril"), backend=backend, today=TODAY)
    assert NO_TKI in fired_rules(result) and ON_TKI not in fired_rules(result)
    assert "tki_myelosuppression" not in [c.cause for c in result.candidates[:3]]
