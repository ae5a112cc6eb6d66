# SPDX-License-Identifier: Apache-2.0
"""A severe neutropenia on clozapine in the last 30 days stays an alert when the latest ANC is
higher: an ANC of 0.3 yesterday and 1.6 today raised nothing, and 1.2 a week after 0.3 raised
the mild-neutropenia alert's "continue clozapine"."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

DAY = dt.date(2025, 2, 10)
CLOZAPINE = [{"name": "clozapine", "start": dt.date(2024, 12, 1)}]


def alerts(
    kb: KnowledgeBase, earlier_days: int, earlier: float, latest: float, **extra: object
) -> set[str]:
    when = DAY - dt.timedelta(days=earlier_days)
    labs = [
        {"test": "anc", "value": earlier, "unit": "10^9/L", "date": when},
        {"test": "anc", "value": latest, "unit": "10^9/L", "date": DAY},
    ]
    data = {"as_of": DAY, "labs": labs, "medications": CLOZAPINE, **extra}
    return {a.id for a in diagnose(data, kb=kb, today=DAY).alerts}


@pytest.mark.parametrize(("days", "latest"), [(1, 1.6), (7, 1.2), (30, 0.8)])
def test_a_recent_severe_count_is_still_an_alert(
    real_kb: KnowledgeBase, days: int, latest: float
) -> None:
    found = alerts(real_kb, days, 0.3, latest)
    assert "clozapine_recent_severe_neutropenia" in found
    assert "clozapine_mild_neutropenia" not in found


def test_a_severe_count_of_long_ago_or_a_mild_one_is_not(real_kb: KnowledgeBase) -> None:
    assert "clozapine_recent_severe_neutropenia" not in alerts(real_kb, 31, 0.3, 1.2)
    assert "clozapine_recent_severe_neutropenia" not in alerts(real_kb, 3, 0.7, 1.2)
    assert "clozapine_severe_neutropenia" in alerts(real_kb, 3, 1.2, 0.3)  # the latest decides


def test_no_resume_message_beside_the_recent_severe_one(real_kb: KnowledgeBase) -> None:
    """0.3 a week ago and 0.7 now showed "moderate: may be resumed once ANC >= 1000" beside
    "recent severe: do not rechallenge" (the fourth probe)."""
    found = alerts(real_kb, 7, 0.3, 0.7)
    assert "clozapine_recent_severe_neutropenia" in found
    assert "clozapine_moderate_neutropenia" not in found


def test_a_documented_ben_patient_gets_the_ben_table_s_targets(real_kb: KnowledgeBase) -> None:
    labs = [
        {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": DAY - dt.timedelta(days=5)},
        {"test": "anc", "value": 1.1, "unit": "10^9/L", "date": DAY},
    ]
    data = {"as_of": DAY, "labs": labs, "medications": CLOZAPINE, "duffy_null": True}
    d = diagnose(data, kb=real_kb, today=DAY)
    recent = [a for a in d.alerts if a.id == "clozapine_recent_severe_neutropenia"]
    assert len(recent) == 1 and "benign ethnic neutropenia" in recent[0].message


def test_a_severe_count_before_the_first_dose_is_the_baseline_not_a_recent_severe_one(
    real_kb: KnowledgeBase,
) -> None:
    """An ANC of 0.3 drawn before clozapine was started (the fourth probe's P4) is the
    baseline the initiation alert reads; it did not happen on clozapine, so the recent-severe
    alert does not apply, while the mild row's "continue clozapine" stays silent after any
    recent severe count."""
    started = DAY - dt.timedelta(days=5)
    labs = [
        {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": DAY - dt.timedelta(days=10)},
        {"test": "anc", "value": 1.2, "unit": "10^9/L", "date": DAY},
    ]
    data = {
        "as_of": DAY,
        "labs": labs,
        "medications": [{"name": "clozapine", "start": started}],
    }
    found = {a.id for a in diagnose(data, kb=real_kb, today=DAY).alerts}
    assert "clozapine_recent_severe_neutropenia" not in found
    assert "clozapine_low_baseline_anc" in found  # a count on the drug exists: the warning
    # nor "continue clozapine" beside "initiation is not recommended" (the sixth probe)
    assert "clozapine_mild_neutropenia" not in found
    # the same count three days after the start is on the drug, and is still managed
    labs[0]["date"] = started + dt.timedelta(days=3)
    found = {a.id for a in diagnose(data, kb=real_kb, today=DAY).alerts}
    assert "clozapine_recent_severe_neutropenia" in found


def test_a_severe_count_on_the_start_day_is_the_baseline(real_kb: KnowledgeBase) -> None:
    labs = [
        {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": DAY - dt.timedelta(days=5)},
        {"test": "anc", "value": 1.6, "unit": "10^9/L", "date": DAY},
    ]
    meds = [{"name": "clozapine", "start": DAY - dt.timedelta(days=5)}]
    data = {"as_of": DAY, "labs": labs, "medications": meds}
    found = {a.id for a in diagnose(data, kb=real_kb, today=DAY).alerts}
    assert "clozapine_recent_severe_neutropenia" not in found
    assert "clozapine_low_baseline_anc" in found


def test_a_course_with_no_start_date_keeps_the_recent_severe_alert(real_kb: KnowledgeBase) -> None:
    """The fifth probe: with no start date the recent nadir was not computed, and 1.2 ten days
    after 0.3 said "mild neutropenia: continue clozapine". An unknown start is not a start
    after the low count."""
    labs = [
        {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": DAY - dt.timedelta(days=10)},
        {"test": "anc", "value": 1.2, "unit": "10^9/L", "date": DAY},
    ]
    data = {"as_of": DAY, "labs": labs, "medications": [{"name": "clozapine"}]}
    found = {a.id for a in diagnose(data, kb=real_kb, today=DAY).alerts}
    assert "clozapine_recent_severe_neutropenia" in found
    assert "clozapine_mild_neutropenia" not in found


def test_a_newer_white_count_below_one_bounds_the_anc(real_kb: KnowledgeBase) -> None:
    """The fifth probe: WBC 0.8 today (no differential) after an ANC of 1.2 three days ago
    said "mild neutropenia: continue clozapine"; the neutrophils are at most the white cells,
    so today's ANC is at most 0.8: the label's moderate row or worse (interrupt clozapine)."""
    labs = [
        {"test": "wbc", "value": 2.9, "unit": "10^9/L", "date": DAY - dt.timedelta(days=3)},
        {"test": "anc", "value": 1.2, "unit": "10^9/L", "date": DAY - dt.timedelta(days=3)},
        {"test": "wbc", "value": 0.8, "unit": "10^9/L", "date": DAY},
    ]
    data = {"as_of": DAY, "labs": labs, "medications": CLOZAPINE}
    d = diagnose(data, kb=real_kb, today=DAY)
    found = {a.id for a in d.alerts}
    assert "clozapine_anc_bound_only" in found  # moderate or severe: not "continue"
    assert not {"clozapine_mild_neutropenia", "clozapine_moderate_neutropenia"} & found
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert "upper bound" in anc.how
