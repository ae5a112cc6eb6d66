# SPDX-License-Identifier: Apache-2.0
"""Very low platelets (10 x 10^9/L or less: AABB prophylactic-transfusion level) raise a critical
alert and a haemoglobin below 7 g/dL (AABB restrictive threshold) a warning, whatever the white
cells: a leukopenia work-up receives the whole blood count, and a platelet count of 5 passed
unremarked before."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

AS_OF = dt.date(2025, 3, 1)


def alerts(kb: KnowledgeBase, test: str, value: float, unit: str) -> dict[str, str]:
    labs = [
        {"test": "wbc", "value": 3.1, "unit": "10^9/L", "date": AS_OF},
        {"test": test, "value": value, "unit": unit, "date": AS_OF},
    ]
    d = diagnose({"as_of": AS_OF, "age": 60, "labs": labs}, kb=kb, today=AS_OF)
    return {a.id: a.level for a in d.alerts}


@pytest.mark.parametrize(("value", "fires"), [(4, True), (10, True), (11, False), (150, False)])
def test_very_low_platelets_is_critical(real_kb: KnowledgeBase, value: float, fires: bool) -> None:
    found = alerts(real_kb, "platelets", value, "10^9/L")
    assert (found.get("very_low_platelets") == "critical") is fires


def test_the_platelet_alert_reads_any_unit(real_kb: KnowledgeBase) -> None:
    assert "very_low_platelets" in alerts(real_kb, "platelets", 8000, "/uL")


@pytest.mark.parametrize(("value", "fires"), [(5.9, True), (6.99, True), (7.0, False)])
def test_very_low_haemoglobin_is_a_warning(
    real_kb: KnowledgeBase, value: float, fires: bool
) -> None:
    found = alerts(real_kb, "hemoglobin", value, "g/dL")
    assert (found.get("very_low_haemoglobin") == "warning") is fires
    assert (alerts(real_kb, "hemoglobin", value * 10, "g/L").get("very_low_haemoglobin")
            == "warning") is fires  # fmt: skip


def test_the_patient_view_words_both(real_kb: KnowledgeBase) -> None:
    labs = [
        {"test": "wbc", "value": 1.1, "unit": "10^9/L", "date": AS_OF},
        {"test": "platelets", "value": 6, "unit": "10^9/L", "date": AS_OF},
        {"test": "hemoglobin", "value": 6.1, "unit": "g/dL", "date": AS_OF},
    ]
    d = diagnose({"as_of": AS_OF, "labs": labs}, kb=real_kb, today=AS_OF, audience="patient")
    messages = {a.id: a.message for a in d.alerts}
    assert "platelets" in messages["very_low_platelets"]
    assert "haemoglobin" in messages["very_low_haemoglobin"]
