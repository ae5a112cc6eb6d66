# SPDX-License-Identifier: Apache-2.0
"""With no neutrophil count, the ANC is at most the WBC (less the lymphocytes and monocytes when
given): a WBC of 0.4 with fever raised no alert at all, though it proves an ANC below 0.5. The
bound is added only when it proves a severe neutropenia: read at its mildest, a WBC of 1.4 said
"mild neutropenia: continue clozapine" while the true ANC may be 0.1."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.api import diagnose
from engine.kb.load import KnowledgeBase
from engine.render import consult_note

DAY = dt.date(2025, 2, 10)


def run(kb: KnowledgeBase, wbc: float, **extra: Any) -> Any:
    labs = [{"test": "wbc", "value": wbc, "unit": "10^9/L", "date": DAY}, *extra.pop("labs", [])]
    return diagnose({"as_of": DAY, "labs": labs, **extra}, kb=kb, today=DAY)


def test_a_very_low_wbc_alone_raises_the_neutropenia_alerts(real_kb: KnowledgeBase) -> None:
    d = run(real_kb, 0.4, findings=["fever"])
    assert {"febrile_neutropenia", "severe_neutropenia"} <= {a.id for a in d.alerts}
    clozapine = run(
        real_kb, 0.4, medications=[{"name": "clozapine", "start": dt.date(2024, 12, 1)}]
    )
    assert "clozapine_severe_neutropenia" in {a.id for a in clozapine.alerts}
    chemo = [{"name": "cyclophosphamide", "start": DAY - dt.timedelta(days=7)}]
    assert "febrile_neutropenia" in {a.id for a in run(real_kb, 0.8, findings=["fever"],
                                                       medications=chemo).alerts}  # fmt: skip


def test_the_bound_is_shown_as_one_and_says_how(real_kb: KnowledgeBase) -> None:
    d = run(real_kb, 0.4, findings=["fever"])
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert "an upper bound (<=0.4)" in anc.how and "no neutrophil count" in anc.how
    note = consult_note(d)
    assert "<=0.4 on 2025-02-10" in note and "ANC <=0.4 x 10^9/L" in note


def test_a_normal_wbc_or_a_measured_anc_adds_no_bound(real_kb: KnowledgeBase) -> None:
    assert not any(f.id == "v:anc" for f in run(real_kb, 1.5).facts)
    measured = run(
        real_kb, 1.2, labs=[{"test": "anc", "value": 0.9, "unit": "10^9/L", "date": DAY}]
    )
    anc = next(f for f in measured.facts if f.id == "v:anc")
    assert anc.value == 0.9 and "upper bound" not in anc.how


def test_a_bound_never_reads_a_threshold_table_at_its_mildest_row(real_kb: KnowledgeBase) -> None:
    """A WBC of 1.4 or 0.6 with no differential bounds the ANC; read at the bound, the clozapine
    table said "mild: continue clozapine" (1.4) or "moderate: may be resumed" (0.6) while the
    true ANC may be 0.1. The rows are not read on a bound; the bound alerts say what is known."""
    clozapine = [{"name": "clozapine", "start": dt.date(2024, 1, 1)}]
    for wbc, alert in ((1.4, "clozapine_anc_unknown"), (0.6, "clozapine_anc_bound_only")):
        d = run(real_kb, wbc, medications=clozapine)
        found = {a.id for a in d.alerts}
        assert not {"clozapine_mild_neutropenia", "clozapine_moderate_neutropenia"} & found
        assert alert in found
        assert next(f for f in d.facts if f.id == "v:anc").value == wbc


def test_the_lymphocytes_of_the_day_tighten_the_bound(real_kb: KnowledgeBase) -> None:
    """A WBC of 1.8 with 90% lymphocytes proves an ANC of at most 0.18."""
    pct = {"test": "lymphocyte_pct", "value": 90, "unit": "%", "date": DAY}
    d = run(real_kb, 1.8, labs=[pct], findings=["fever"])
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert anc.value == 0.18 and "the WBC 1.8 less the lymphocytes" in anc.how
    assert "febrile_neutropenia" in {a.id for a in d.alerts}


def test_a_given_anc_contradicted_by_the_differential_is_read_at_the_lower(
    real_kb: KnowledgeBase,
) -> None:
    """A given ANC of 1.8 beside a WBC of 2.0 with 20% neutrophils (0.4) was used in silence;
    the lower of the two results of the day is read, and its how says why. Close values (within
    a fifth) keep the given count."""
    pct = {"test": "neutrophil_pct", "value": 20, "unit": "%", "date": DAY}
    contradicted = run(
        real_kb, 2.0, labs=[{"test": "anc", "value": 1.8, "unit": "10^9/L", "date": DAY}, pct]
    )
    anc = next(f for f in contradicted.facts if f.id == "v:anc")
    assert anc.value == 0.4 and "contradicts" in anc.how
    assert "severe_neutropenia" in {a.id for a in contradicted.alerts}
    near = run(
        real_kb, 2.0, labs=[{"test": "anc", "value": 0.42, "unit": "10^9/L", "date": DAY}, pct]
    )
    kept = next(f for f in near.facts if f.id == "v:anc")
    assert kept.value == 0.42 and "contradicts" not in kept.how


def test_an_anc_computed_from_a_bound_is_a_bound(real_kb: KnowledgeBase) -> None:
    """WBC <1.0 x 60% neutrophils was read as an exact ANC of 0.6; it is <0.6, shown and read as
    a bound. Factors bounded in opposite directions leave no ANC at all."""
    pct = {"test": "neutrophil_pct", "value": 60, "unit": "%", "date": DAY}
    bounded = {"test": "wbc", "value": 1.0, "unit": "10^9/L", "date": DAY, "comparator": "<"}
    d = diagnose({"as_of": DAY, "labs": [bounded, pct]}, kb=real_kb, today=DAY)
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert "the count is <0.6" in anc.how
    row = next(line for line in consult_note(d).splitlines() if line.startswith("  ANC ("))
    assert row.count("<0.6 on 2025-02-10") == 2  # latest and lowest alike
    opposite = {**pct, "value": 20, "comparator": ">"}
    d = diagnose(
        {"as_of": DAY, "labs": [{**bounded, "value": 2.0}, opposite]}, kb=real_kb, today=DAY
    )
    assert not any(f.id == "v:anc" for f in d.facts)


def test_an_anc_the_day_s_lymphocytes_leave_no_room_for_is_read_at_the_lower(
    real_kb: KnowledgeBase,
) -> None:
    """WBC 2.0, ANC 1.8 and ALC 1.5: the neutrophils are at most 0.5, and the ANC given was used
    in silence (the fourth probe); a consistent day keeps its ANC."""
    labs = [{"test": "anc", "value": 1.8, "unit": "10^9/L", "date": DAY},
            {"test": "alc", "value": 1.5, "unit": "10^9/L", "date": DAY}]  # fmt: skip
    anc = next(f for f in run(real_kb, 2.0, labs=labs).facts if f.id == "v:anc")
    assert anc.value == 0.5 and "contradicts the ANC given that day (1.8)" in anc.how
    labs[1] = {**labs[1], "value": 0.2}
    anc = next(f for f in run(real_kb, 2.0, labs=labs).facts if f.id == "v:anc")
    assert anc.value == 1.8 and "upper bound" not in anc.how


def test_a_lower_bound_anc_that_the_differential_contradicts_is_read_at_the_lower(
    real_kb: KnowledgeBase,
) -> None:
    """The fourth probe's P10: an ANC reported as ">1.0" beside a WBC of 2.0 with 20%
    neutrophils (0.4) was used as given, and a febrile patient raised no alert. A lower bound
    contradicts the differential as an exact value does; an upper bound ("<1.0") does not."""
    diff = [{"test": "neutrophil_pct", "value": 20, "unit": "%", "date": DAY}]
    above = [{"test": "anc", "value": 1.0, "unit": "10^9/L", "date": DAY, "comparator": ">"}]
    d = run(real_kb, 2.0, labs=[*diff, *above], findings=["fever"])
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert anc.value == 0.4 and "which it contradicts" in anc.how
    assert "febrile_neutropenia" in {a.id for a in d.alerts}
    below = [{**above[0], "comparator": "<"}]
    d = run(real_kb, 2.0, labs=[*diff, *below], findings=["fever"])
    anc = next(f for f in d.facts if f.id == "v:anc")  # the exact 0.4 within "<1.0" is read
    assert anc.value == 0.4 and "within the bound given that day (<1)" in anc.how
    assert "contradicts" not in anc.how and "febrile_neutropenia" in {a.id for a in d.alerts}
