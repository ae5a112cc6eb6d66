# SPDX-License-Identifier: Apache-2.0
"""A clozapine patient whose latest ANC is older than the label's monitoring interval is told
so: with the ANC 82 days old the note read "No alert" (the third probe's F14), although every
count alert had only that old count to read."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

AS_OF = dt.date(2025, 6, 1)
OVERDUE = "clozapine_anc_monitoring_overdue"


def alerts(kb: KnowledgeBase, weeks_on_drug: int, anc_days_old: int | None) -> set[str]:
    labs = [{"test": "wbc", "value": 6.0, "unit": "10^9/L", "date": AS_OF}]
    if anc_days_old is not None:
        drawn = AS_OF - dt.timedelta(days=anc_days_old)
        labs.append({"test": "anc", "value": 2.5, "unit": "10^9/L", "date": drawn})
    start = AS_OF - dt.timedelta(weeks=weeks_on_drug)
    data = {"as_of": AS_OF, "labs": labs, "medications": [{"name": "clozapine", "start": start}]}
    return {a.id for a in diagnose(data, kb=kb, today=AS_OF).alerts}


@pytest.mark.parametrize(
    ("weeks", "fresh", "stale"),
    [(10, 7, 8), (40, 14, 15), (120, 31, 32)],
    ids=["weekly to 6 months", "every 2 weeks to 12 months", "monthly after"],
)
def test_an_anc_older_than_the_label_s_interval_is_overdue(
    real_kb: KnowledgeBase, weeks: int, fresh: int, stale: int
) -> None:
    assert OVERDUE not in alerts(real_kb, weeks, fresh)
    assert OVERDUE in alerts(real_kb, weeks, stale)


def test_a_white_count_without_an_anc_on_clozapine_is_said(real_kb: KnowledgeBase) -> None:
    """Today's WBC with no differential: the ANC table cannot be applied at all."""
    assert OVERDUE in alerts(real_kb, 10, None)


def test_the_82_day_old_anc_of_the_probe_no_longer_reads_as_no_alert(
    real_kb: KnowledgeBase,
) -> None:
    assert OVERDUE in alerts(real_kb, 200, 82)


def test_no_overdue_alert_without_clozapine(real_kb: KnowledgeBase) -> None:
    labs = [
        {"test": "anc", "value": 2.5, "unit": "10^9/L", "date": AS_OF - dt.timedelta(days=90)},
        {"test": "wbc", "value": 6.0, "unit": "10^9/L", "date": AS_OF},
    ]
    found = {a.id for a in diagnose({"as_of": AS_OF, "labs": labs}, kb=real_kb).alerts}
    assert OVERDUE not in found


def _alerts_of(
    kb: KnowledgeBase, labs: list[dict[str, object]], course: dict[str, object]
) -> set[str]:
    data = {"as_of": AS_OF, "labs": labs, "medications": [course]}
    return {a.id for a in diagnose(data, kb=kb, today=AS_OF).alerts}


def _anc(value: float, days_ago: int) -> dict[str, object]:
    return {"test": "anc", "value": value, "unit": "10^9/L",
            "date": AS_OF - dt.timedelta(days=days_ago)}  # fmt: skip


def test_with_no_start_date_the_shortest_interval_applies(real_kb: KnowledgeBase) -> None:
    """The fifth probe: with no start date no overdue rule could fire (an ANC 151 days old
    gave no alert); the stage is unknown, so the weekly interval applies."""
    wbc = {"test": "wbc", "value": 6.0, "unit": "10^9/L", "date": AS_OF}
    assert OVERDUE in _alerts_of(real_kb, [wbc, _anc(2.5, 151)], {"name": "clozapine"})
    assert OVERDUE in _alerts_of(real_kb, [wbc, _anc(2.5, 8)], {"name": "clozapine"})
    assert OVERDUE not in _alerts_of(real_kb, [wbc, _anc(2.5, 7)], {"name": "clozapine"})


def test_after_a_recent_neutropenia_weekly_monitoring_is_checked(real_kb: KnowledgeBase) -> None:
    """The fifth probe: 22 days after an ANC of 0.7 on clozapine, an 18-day-old ANC raised
    nothing, though the label monitors at least weekly for weeks after a moderate neutropenia."""
    course = {"name": "clozapine", "start": AS_OF - dt.timedelta(days=400)}  # monthly stage
    wbc = {"test": "wbc", "value": 6.0, "unit": "10^9/L", "date": AS_OF}
    found = _alerts_of(real_kb, [wbc, _anc(0.7, 22), _anc(1.6, 18)], course)
    assert OVERDUE in found
    assert OVERDUE not in _alerts_of(real_kb, [wbc, _anc(2.1, 22), _anc(1.6, 18)], course)


def test_one_overdue_alert_even_when_two_reasons_hold(real_kb: KnowledgeBase) -> None:
    course = {"name": "clozapine", "start": AS_OF - dt.timedelta(days=60)}
    labs = [{"test": "wbc", "value": 6.0, "unit": "10^9/L", "date": AS_OF}, _anc(1.2, 20)]
    data = {"as_of": AS_OF, "labs": labs, "medications": [course]}
    ids = [a.id for a in diagnose(data, kb=real_kb, today=AS_OF).alerts]
    assert ids.count(OVERDUE) == 1


def test_a_dose_change_written_as_a_new_order_is_no_new_start(real_kb: KnowledgeBase) -> None:
    """The sixth probe: 200 mg for four years, then 300 mg from a day later, gave "the label
    monitors weekly for the first 6 months" on an ANC of 20 days (monthly applies); with a
    second dose line, two overdue alerts disagreed."""
    wbc = {"test": "wbc", "value": 6.0, "unit": "10^9/L", "date": AS_OF}
    old = {"name": "clozapine 200 mg", "start": AS_OF - dt.timedelta(days=1500),
           "stop": AS_OF - dt.timedelta(days=64)}  # fmt: skip
    new = {"name": "clozapine 300 mg", "start": AS_OF - dt.timedelta(days=63)}
    data = {"as_of": AS_OF, "labs": [wbc, _anc(3.0, 20)], "medications": [old, new]}
    assert OVERDUE not in {a.id for a in diagnose(data, kb=real_kb, today=AS_OF).alerts}
    data["labs"] = [wbc, _anc(3.0, 40)]
    ids = [a.id for a in diagnose(data, kb=real_kb, today=AS_OF).alerts]
    assert ids.count(OVERDUE) == 1
    # a gap of 30 days or more starts the schedule again, as for a new patient
    gap = {**new, "start": AS_OF - dt.timedelta(days=30)}
    data = {"as_of": AS_OF, "labs": [wbc, _anc(3.0, 10)], "medications": [old, gap]}
    assert OVERDUE in {a.id for a in diagnose(data, kb=real_kb, today=AS_OF).alerts}


def test_a_low_latest_anc_is_checked_weekly_however_old(real_kb: KnowledgeBase) -> None:
    """The sixth probe: after 12 months, a 49-day-old ANC of 0.3 got "the label monitors
    monthly" beside the severe row's "ANC daily"."""
    course = {"name": "clozapine", "start": AS_OF - dt.timedelta(days=800)}
    wbc = {"test": "wbc", "value": 6.0, "unit": "10^9/L", "date": AS_OF}
    d = diagnose({"as_of": AS_OF, "labs": [wbc, _anc(0.3, 49)], "medications": [course]},
                 kb=real_kb, today=AS_OF)  # fmt: skip
    overdue = [a for a in d.alerts if a.id == OVERDUE]
    assert len(overdue) == 1 and overdue[0].rule_id.endswith("after_recent_neutropenia")
