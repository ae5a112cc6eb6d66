# SPDX-License-Identifier: Apache-2.0
"""An ANC below 0.5 on an antithyroid drug is agranulocytosis, and the drug is stopped at once
(vicente2017): a critical alert naming it, as clozapine's severe neutropenia is; before, only the
generic severe-neutropenia warning ("review every drug") fired."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

DAY = dt.date(2025, 2, 10)


def levels(kb: KnowledgeBase, drug: str, anc: float) -> dict[str, str]:
    labs = [{"test": "wbc", "value": 2.0, "unit": "10^9/L", "date": DAY},
            {"test": "anc", "value": anc, "unit": "10^9/L", "date": DAY}]  # fmt: skip
    meds = [{"name": drug, "start": DAY - dt.timedelta(days=21)}]
    d = diagnose({"as_of": DAY, "labs": labs, "medications": meds}, kb=kb, today=DAY)
    return {a.id: a.level for a in d.alerts}


@pytest.mark.parametrize("drug", ["methimazole", "carbimazole", "propylthiouracil", "Tapazole"])
def test_agranulocytosis_on_an_antithyroid_drug_is_critical(
    real_kb: KnowledgeBase, drug: str
) -> None:
    assert levels(real_kb, drug, 0.3).get("antithyroid_agranulocytosis") == "critical"


def test_not_below_0_5_or_not_antithyroid_raises_no_such_alert(real_kb: KnowledgeBase) -> None:
    assert "antithyroid_agranulocytosis" not in levels(real_kb, "methimazole", 0.8)
    assert "antithyroid_agranulocytosis" not in levels(real_kb, "sulfasalazine", 0.3)
