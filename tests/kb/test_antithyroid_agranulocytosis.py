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


def _antithyroid(
    kb: KnowledgeBase, anc: float, drawn: dt.date, stop: dt.date | None = None
) -> set[str]:
    course: dict[str, object] = {"name": "carbimazole", "start": DAY - dt.timedelta(days=100)}
    if stop is not None:
        course["stop"] = stop
    data = {
        "as_of": DAY,
        "labs": [
            {"test": "anc", "value": anc, "unit": "10^9/L", "date": drawn},
            {"test": "wbc", "value": 4.0, "unit": "10^9/L", "date": DAY},
        ],
        "medications": [course],
        "findings": [{"name": "fever", "since": DAY}],
    }
    return {a.id for a in diagnose(data, kb=kb, today=DAY).alerts}


def test_the_antithyroid_fever_alert_asks_for_a_count_only_when_none_is_current(
    real_kb: KnowledgeBase,
) -> None:
    """The fourth probe's P15: beside the agranulocytosis alert, the fever alert asked for "a
    blood count now" on a count already on file and below 0.5."""
    today = _antithyroid(real_kb, 0.2, DAY)
    assert "antithyroid_agranulocytosis" in today and "antithyroid_fever" not in today
    assert "antithyroid_fever" not in _antithyroid(real_kb, 2.5, DAY)
    assert "antithyroid_fever" in _antithyroid(real_kb, 2.5, DAY - dt.timedelta(days=3))


def test_antithyroid_agranulocytosis_stays_an_alert_after_the_drug_is_stopped(
    real_kb: KnowledgeBase,
) -> None:
    stopped = _antithyroid(real_kb, 0.2, DAY, stop=DAY - dt.timedelta(days=1))
    assert "antithyroid_agranulocytosis" in stopped
    long_ago = _antithyroid(real_kb, 0.2, DAY, stop=DAY - dt.timedelta(days=45))
    assert "antithyroid_agranulocytosis" not in long_ago
