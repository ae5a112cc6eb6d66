# SPDX-License-Identifier: Apache-2.0
"""A fever raises the febrile-neutropenia alert only when it is current (context.fever_present):
ongoing on the assessment date, or ended at most two days before it. A fever of last year is
history; before this rule asked for timing, it raised the critical alert on every later count."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

AS_OF = dt.date(2025, 2, 11)


def patient(fever: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "as_of": AS_OF,
        "labs": [
            {"test": "wbc", "value": 1.5, "unit": "10^9/L", "date": dt.date(2025, 2, 10)},
            {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": dt.date(2025, 2, 10)},
        ],
        "findings": [fever],
    }


def febrile(kb: KnowledgeBase, fever: dict[str, Any] | str) -> bool:
    d = diagnose(patient(fever), kb=kb, today=AS_OF)
    return any(a.id == "febrile_neutropenia" for a in d.alerts)


def day(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


@pytest.mark.parametrize(
    "fever",
    [
        "fever",  # no dates: ongoing
        {"name": "fever", "since": day(1)},
        {"name": "fever", "since": day(5), "until": AS_OF},
        {"name": "fever", "since": day(5), "until": day(2)},
        {"name": "sepsis", "since": day(3), "until": day(1)},
    ],
)
def test_a_current_or_just_ended_fever_is_febrile_neutropenia(
    real_kb: KnowledgeBase, fever: dict[str, Any] | str
) -> None:
    assert febrile(real_kb, fever)


@pytest.mark.parametrize(
    "fever",
    [
        {"name": "fever", "since": dt.date(2024, 1, 1), "until": dt.date(2024, 1, 5)},
        {"name": "fever", "since": day(10), "until": day(3)},
        {"name": "sepsis", "since": day(40), "until": day(30)},
    ],
)
def test_a_fever_that_ended_days_or_months_ago_is_not(
    real_kb: KnowledgeBase, fever: dict[str, Any]
) -> None:
    assert not febrile(real_kb, fever)
    d = diagnose(patient(fever), kb=real_kb, today=AS_OF)
    assert any(a.id == "severe_neutropenia" for a in d.alerts)  # the count alert stays


def test_fever_with_a_moderate_neutropenia_the_critical_alert_cannot_decide_is_a_warning(
    real_kb: KnowledgeBase,
) -> None:
    """1.4, 1.1, 0.9 over three days with fever raised nothing: too short for a trend, and no
    chemotherapy. A warning now says to assess and repeat; with a falling trend (four results
    over nine days) the critical alert fires instead, never both."""
    fever = [{"name": "fever", "since": dt.date(2025, 2, 10)}]

    def anc(value: float, day: int) -> dict[str, object]:
        return {"test": "anc", "value": value, "unit": "10^9/L", "date": dt.date(2025, 2, day)}

    short = [anc(1.4, 8), anc(1.1, 9), anc(0.9, 10)]
    found = {a.id: a.level for a in diagnose({"labs": short, "findings": fever}, kb=real_kb).alerts}
    assert found == {"fever_with_moderate_neutropenia": "warning"}
    longer = [anc(1.8, 1), *short]
    found = {a.id for a in diagnose({"labs": longer, "findings": fever}, kb=real_kb).alerts}
    assert "febrile_neutropenia" in found and "fever_with_moderate_neutropenia" not in found
