# SPDX-License-Identifier: Apache-2.0
"""Unit tests of engine/courses.py: one course fact per medication, against the real drug lexicon.

The date arithmetic of a single course (:func:`engine.courses.exposure`) is tested with the series
functions in test_series.py; here, what only a list of courses shows: rechallenge, numbering,
unknown names, the pre-start ANC baseline and independence from input order.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from engine.courses import CourseFact, course_facts
from engine.kb.load import KnowledgeBase
from engine.patient import Medication
from engine.series import Point

D = dt.date.fromisoformat
AS_OF = D("2024-08-01")


def med(name: str, start: str | None = None, stop: str | None = None) -> Medication:
    return Medication(name=name, start=D(start) if start else None, stop=D(stop) if stop else None)


def run(
    kb: KnowledgeBase, meds: list[Medication], low: list[str], normal: list[str],
    anc: list[Point] | None = None,
) -> tuple[tuple[CourseFact, ...], tuple[str, ...]]:  # fmt: skip
    return course_facts(
        meds, kb.lexicon, AS_OF, [D(d) for d in low], [D(d) for d in normal], None, anc or []
    )


TWO_COURSES = [med("clozapine", "2024-01-01", "2024-03-01"), med("Clozaril", "2024-06-01")]


def test_a_low_on_a_second_course_after_a_low_on_the_first_is_a_positive_rechallenge(
    real_kb: KnowledgeBase,
) -> None:
    facts, unknown = run(
        real_kb, TWO_COURSES, low=["2024-02-01", "2024-07-01"], normal=["2024-04-01"]
    )
    assert unknown == ()
    first, second = facts
    assert (first.fid, second.fid) == ("x:clozapine#1", "x:clozapine#2")
    assert (first.given, second.given) == ("clozapine", "Clozaril")
    assert first.fields["on_drug_at_onset"] is True
    assert "low_on_rechallenge" not in first.fields  # a first course is no rechallenge
    assert second.fields["onset_days"] == 30
    assert second.fields["baseline_low"] is False  # normal on 2024-04-01, before the restart
    assert second.fields["low_on_rechallenge"] is True


def test_no_low_on_the_first_course_makes_the_rechallenge_negative(
    real_kb: KnowledgeBase,
) -> None:
    facts, _ = run(real_kb, TWO_COURSES, low=["2024-07-01"], normal=["2024-02-01"])
    assert facts[0].fields["on_drug_at_onset"] is False  # its first low came after the stop
    assert facts[1].fields["low_on_rechallenge"] is False


def test_a_second_course_with_no_low_result_says_nothing_of_rechallenge(
    real_kb: KnowledgeBase,
) -> None:
    """Unknown, not false: no low result after the restart means no onset to compare."""
    facts, _ = run(real_kb, TWO_COURSES, low=["2024-02-01"], normal=["2024-07-01"])
    assert "low_on_rechallenge" not in facts[1].fields


def test_a_name_the_lexicon_does_not_know_is_kept_and_reported(real_kb: KnowledgeBase) -> None:
    facts, unknown = run(
        real_kb, [med("notadrug-xyz", "2024-05-01"), med("notadrug-xyz")], low=[], normal=[]
    )
    assert unknown == ("notadrug-xyz",)
    assert [f.fid for f in facts] == ["x:notadrug-xyz#1", "x:notadrug-xyz#2"]
    assert all(f.how.startswith("notadrug-xyz (not in the lexicon): ") for f in facts)


def test_the_anc_baseline_is_the_last_result_on_or_before_the_start(
    real_kb: KnowledgeBase,
) -> None:
    anc = [Point(D("2023-12-01"), 3.0), Point(D("2024-06-01"), 2.1), Point(D("2024-06-02"), 0.4)]
    facts, _ = run(real_kb, [med("clozapine", "2024-06-01")], low=[], normal=[], anc=anc)
    assert facts[0].fields["baseline_anc"] == 2.1
    assert "Last ANC on or before start 2024-06-01: 2.1 on 2024-06-01" in facts[0].how


def test_a_course_starting_after_as_of_is_only_not_active(real_kb: KnowledgeBase) -> None:
    anc = [Point(D("2024-07-01"), 2.0)]
    facts, _ = run(real_kb, [med("clozapine", "2024-09-01")], low=[], normal=[], anc=anc)
    assert facts[0].fields == {"active": False}


MIXED = [*TWO_COURSES, med("notadrug-xyz", "2024-05-01"), med("imatinib")]


@given(st.permutations(MIXED))
def test_the_facts_do_not_depend_on_input_order(
    real_kb: KnowledgeBase, meds: list[Medication]
) -> None:
    low, normal = ["2024-02-01"], ["2024-04-01"]
    assert run(real_kb, meds, low, normal) == run(real_kb, MIXED, low, normal)
