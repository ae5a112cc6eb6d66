# SPDX-License-Identifier: Apache-2.0
"""The bundled knowledge base's age-banded lower limits (rules/findings/counts.yaml): leukopenia,
lymphopenia and anaemia in children, through the real engine.

For every band, a value just below its lower limit is low and the limit itself is not; the bands
meet without gaps or overlaps (exactly one rule derives the finding at each band edge); and an
adult, or a patient whose age is not recorded, keeps the adult limits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

TODAY = dt.date(2026, 11, 21)
NORMAL_WBC = 8.0  # every patient needs a WBC or ANC; 8.0 is above every band's limit

# (age, WBC lower limit, rule that derives leukopenia below it); age None = not recorded.
WBC_BANDS = [
    (0.02, 5.0, "counts.leukopenia_neonate"),
    (0.0833, 6.0, "counts.leukopenia_infant"),
    (1.5, 6.0, "counts.leukopenia_infant"),
    (2, 4.5, "counts.leukopenia_child"),
    (3, 4.5, "counts.leukopenia_child"),
    (10.9, 4.5, "counts.leukopenia_child"),
    (11, 4.0, "counts.leukopenia_general"),
    (17, 4.0, "counts.leukopenia_general"),
    (45, 4.0, "counts.leukopenia_general"),
    (None, 4.0, "counts.leukopenia_general"),
]

# (age, absolute lymphocyte count lower limit, rule that derives lymphopenia below it).
ALC_BANDS = [
    (1, 3.0, "counts.lymphopenia_under_two"),
    (2, 1.5, "counts.lymphopenia_child"),
    (6, 1.5, "counts.lymphopenia_child"),
    (10.9, 1.5, "counts.lymphopenia_child"),
    (11, 1.0, "counts.lymphopenia_adult"),
    (45, 1.0, "counts.lymphopenia_adult"),
    (None, 1.0, "counts.lymphopenia_adult"),
]

# (age, sex, haemoglobin cut-off in g/dL, rule that derives anaemia below it).
HB_BANDS = [
    (0.5, "female", 11.0, "counts.anemia_child_under_5"),
    (4.9, "male", 11.0, "counts.anemia_child_under_5"),
    (5, "male", 11.5, "counts.anemia_child_5_to_11"),
    (11.9, "female", 11.5, "counts.anemia_child_5_to_11"),
    (12, "male", 12.0, "counts.anemia_child_12_to_14"),
    (14.9, "male", 12.0, "counts.anemia_child_12_to_14"),
    (15, "male", 13.0, "counts.anemia_male"),
    (15, "female", 12.0, "counts.anemia_female"),
]


def patient(age: float | None, **values: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"wbc": NORMAL_WBC, **values}
    if age is not None:
        p["age"] = age
    return p


def rules_deriving(kb: KnowledgeBase, p: dict[str, Any], fact: str) -> set[str]:
    """The ids of the rules whose finding set ``fact`` to true for patient ``p``."""
    d = diagnose(p, kb=kb, today=TODAY)
    return {f.rule_id or "" for f in d.findings if f.fact == fact and f.value is True}


def below(limit: float) -> float:
    return round(limit - 0.01, 2)


@pytest.mark.parametrize(("age", "limit", "rule"), WBC_BANDS)
def test_wbc_just_below_each_limit_is_leukopenia(
    real_kb: KnowledgeBase, age: float | None, limit: float, rule: str
) -> None:
    assert rules_deriving(real_kb, patient(age, wbc=below(limit)), "leukopenia") == {rule}


@pytest.mark.parametrize(("age", "limit", "rule"), WBC_BANDS)
def test_wbc_at_each_limit_is_not_leukopenia(
    real_kb: KnowledgeBase, age: float | None, limit: float, rule: str
) -> None:
    assert rules_deriving(real_kb, patient(age, wbc=limit), "leukopenia") == set()


@pytest.mark.parametrize(("age", "limit", "rule"), ALC_BANDS)
def test_alc_just_below_each_limit_is_lymphopenia(
    real_kb: KnowledgeBase, age: float | None, limit: float, rule: str
) -> None:
    assert rules_deriving(real_kb, patient(age, alc=below(limit)), "lymphopenia") == {rule}


@pytest.mark.parametrize(("age", "limit", "rule"), ALC_BANDS)
def test_alc_at_each_limit_is_not_lymphopenia(
    real_kb: KnowledgeBase, age: float | None, limit: float, rule: str
) -> None:
    assert rules_deriving(real_kb, patient(age, alc=limit), "lymphopenia") == set()


@pytest.mark.parametrize(("age", "sex", "limit", "rule"), HB_BANDS)
def test_hemoglobin_just_below_each_cutoff_is_anaemia(
    real_kb: KnowledgeBase, age: float, sex: str, limit: float, rule: str
) -> None:
    p = patient(age, sex=sex, hemoglobin=below(limit))
    assert rules_deriving(real_kb, p, "anemia") == {rule}


@pytest.mark.parametrize(("age", "sex", "limit", "rule"), HB_BANDS)
def test_hemoglobin_at_each_cutoff_is_not_anaemia(
    real_kb: KnowledgeBase, age: float, sex: str, limit: float, rule: str
) -> None:
    p = patient(age, sex=sex, hemoglobin=limit)
    assert rules_deriving(real_kb, p, "anemia") == set()


@pytest.mark.parametrize("age", [0, 0.0832, 0.0833, 1.99, 2, 10.99, 11, 17.99, 18, 80, None])
def test_exactly_one_leukopenia_rule_at_every_band_edge(
    real_kb: KnowledgeBase, age: float | None
) -> None:
    assert len(rules_deriving(real_kb, patient(age, wbc=1.0), "leukopenia")) == 1


@pytest.mark.parametrize("age", [1.99, 2, 10.99, 11, 17.99, 18, None])
def test_exactly_one_lymphopenia_rule_at_every_band_edge(
    real_kb: KnowledgeBase, age: float | None
) -> None:
    assert len(rules_deriving(real_kb, patient(age, alc=0.5), "lymphopenia")) == 1


@pytest.mark.parametrize("age", [0.49, 0.5, 4.99, 5, 11.99, 12, 14.99])
def test_exactly_one_anaemia_rule_at_every_child_band_edge(
    real_kb: KnowledgeBase, age: float
) -> None:
    assert len(rules_deriving(real_kb, patient(age, hemoglobin=7.0), "anemia")) == 1


def test_a_wbc_normal_for_an_adult_is_low_for_a_young_child(real_kb: KnowledgeBase) -> None:
    assert rules_deriving(real_kb, patient(3, wbc=4.2), "leukopenia") == {"counts.leukopenia_child"}
    assert rules_deriving(real_kb, patient(35, wbc=4.2), "leukopenia") == set()
    assert rules_deriving(real_kb, patient(1, wbc=5.5), "leukopenia") == {
        "counts.leukopenia_infant"
    }
    assert rules_deriving(real_kb, patient(35, wbc=5.5), "leukopenia") == set()


def test_a_lymphocyte_count_normal_for_an_adult_is_low_for_a_child(real_kb: KnowledgeBase) -> None:
    assert rules_deriving(real_kb, patient(6, alc=1.2), "lymphopenia") == {
        "counts.lymphopenia_child"
    }
    assert rules_deriving(real_kb, patient(35, alc=1.2), "lymphopenia") == set()


def test_a_haemoglobin_normal_for_a_young_child_is_low_for_an_older_one(
    real_kb: KnowledgeBase,
) -> None:
    assert rules_deriving(real_kb, patient(3, hemoglobin=11.2), "anemia") == set()
    assert rules_deriving(real_kb, patient(8, hemoglobin=11.2), "anemia") == {
        "counts.anemia_child_5_to_11"
    }
    assert rules_deriving(real_kb, patient(13, hemoglobin=11.7), "anemia") == {
        "counts.anemia_child_12_to_14"
    }


@pytest.mark.parametrize("age", [0.0, 0.02, 0.08, 0.17, 0.3, 0.49])
def test_under_six_months_only_a_haemoglobin_below_every_age_limit_is_anaemia(
    real_kb: KnowledgeBase, age: float
) -> None:
    """Dallman's lower limits fall from 13.5 g/dL at birth to 9.0 at two months: below 9.0 is
    low at every age under six months, 9.0 itself is not flagged at any of them."""
    assert rules_deriving(real_kb, patient(age, hemoglobin=8.99), "anemia") == {
        "counts.anemia_infant_under_6_months"
    }
    assert rules_deriving(real_kb, patient(age, hemoglobin=9.0), "anemia") == set()


def test_an_infants_red_line_is_low_below_nine_and_unknown_above(real_kb: KnowledgeBase) -> None:
    """A 4-month-old with three low lines is a pancytopenia; with a haemoglobin of 10 (normal at
    four months, low in the first weeks) the red line stays unknown: at least a bicytopenia."""
    low = diagnose(patient(0.33, wbc=3.5, hemoglobin=5.5, platelets=36), kb=real_kb, today=TODAY)
    assert {f.value for f in low.findings if f.fact == "lineage"} == {"pancytopenia"}
    mid = diagnose(patient(0.33, wbc=3.5, hemoglobin=10.0, platelets=36), kb=real_kb, today=TODAY)
    assert {(f.value, f.rule_id) for f in mid.findings if f.fact == "lineage"} == {
        ("bicytopenia", "lineage.bicytopenia_red_line_unknown")
    }


def test_a_large_red_cell_volume_is_macrocytosis_only_from_six_months(
    real_kb: KnowledgeBase,
) -> None:
    """A healthy infant's mean MCV is 104 fL at one month, so 105 is not macrocytosis then (nor
    its recorded absence at 90); from six months the adult limit applies."""
    assert rules_deriving(real_kb, patient(0.1, wbc=3.0, mcv=105), "macrocytosis") == set()
    assert rules_deriving(real_kb, patient(0.5, wbc=3.0, mcv=105), "macrocytosis") == {
        "counts.macrocytosis"
    }
    infant = fired_rules(real_kb, patient(0.1, wbc=3.0, mcv=90))
    assert not {r for r in infant if r.endswith(".profile.no_macrocytosis")}
    child = fired_rules(real_kb, patient(0.5, wbc=3.0, mcv=90))
    assert "megaloblastic.profile.no_macrocytosis" in child


def fired_rules(kb: KnowledgeBase, p: dict[str, Any]) -> set[str]:
    """The ids of every rule that fired for patient ``p`` (evidence rules included)."""
    return {step.rule_id for step in diagnose(p, kb=kb, today=TODAY).trace}


def test_a_haemoglobin_under_six_months_is_not_recorded_absence_of_anaemia(
    real_kb: KnowledgeBase,
) -> None:
    """No threshold is graded under six months, so even a haemoglobin of 5.5 g/dL (a clear
    anaemia at four months) must not fire the profiles' "anaemia recorded absent" weight; from
    six months, a haemoglobin above the cut-off does."""
    infant = fired_rules(real_kb, patient(0.33, wbc=3.5, hemoglobin=5.5))
    assert not {r for r in infant if r.endswith(".profile.no_anemia")}
    older = fired_rules(real_kb, patient(0.5, wbc=3.5, hemoglobin=12.0))
    assert "sepsis.profile.no_anemia" in older


def test_a_lymphocyte_count_under_two_is_not_recorded_absence_of_lymphocytosis(
    real_kb: KnowledgeBase,
) -> None:
    """Under two the lymphocytosis limit is a conservative one: a toddler's 7.3 x 10^9/L is
    neither lymphocytosis nor its recorded absence; a 5-year-old's 3.0 and an adult's 2.0 are
    recorded absence."""
    child = fired_rules(real_kb, patient(1.67, wbc=9.4, anc=0.8, alc=7.3))
    assert not {r for r in child if r.endswith(".profile.no_lymphocytosis")}
    older = fired_rules(real_kb, patient(5, wbc=3.0, alc=3.0))
    assert "viral_infection.profile.no_lymphocytosis" in older
    adult = fired_rules(real_kb, patient(40, wbc=3.0, alc=2.0))
    assert "cll.profile.no_lymphocytosis" in adult


# (age, absolute lymphocyte count upper limit, rule that derives lymphocytosis above it).
ALC_UPPER_BANDS = [
    (0.1, 10.7, "counts.lymphocytosis_under_two"),
    (1.99, 10.7, "counts.lymphocytosis_under_two"),
    (2, 5.1, "counts.lymphocytosis_child"),
    (10.99, 5.1, "counts.lymphocytosis_child"),
    (11, 4.0, "counts.lymphocytosis_adolescent"),
    (17.99, 4.0, "counts.lymphocytosis_adolescent"),
    (18, 4.0, "counts.lymphocytosis_adult"),
    (None, 4.0, "counts.lymphocytosis_adult"),
]


@pytest.mark.parametrize(("age", "limit", "rule"), ALC_UPPER_BANDS)
def test_a_lymphocyte_count_just_above_each_upper_limit_is_lymphocytosis(
    real_kb: KnowledgeBase, age: float | None, limit: float, rule: str
) -> None:
    wbc = limit + 2  # a lymphocyte count is part of the white count
    high = patient(age, wbc=wbc, alc=round(limit + 0.01, 2))
    assert rules_deriving(real_kb, high, "lymphocytosis") == {rule}
    assert rules_deriving(real_kb, patient(age, wbc=wbc, alc=limit), "lymphocytosis") == set()


def test_a_pregnant_girl_uses_the_pregnancy_cutoff(real_kb: KnowledgeBase) -> None:
    p = patient(14, sex="female", conditions=["pregnancy"], hemoglobin=11.5)
    assert rules_deriving(real_kb, p, "anemia") == set()
    p["hemoglobin"] = 10.9
    assert rules_deriving(real_kb, p, "anemia") == {"counts.anemia_pregnancy"}


def test_a_duffy_null_child_keeps_the_duffy_null_limit(real_kb: KnowledgeBase) -> None:
    """No paediatric Duffy-null reference interval was found, so the adult 3.0 applies."""
    p = patient(5, duffy_null=True, wbc=3.5)
    assert rules_deriving(real_kb, p, "leukopenia") == set()
    p["wbc"] = 2.9
    assert rules_deriving(real_kb, p, "leukopenia") == {"counts.leukopenia_duffy_null"}


def test_every_paediatric_rule_cites_a_registered_reference(real_kb: KnowledgeBase) -> None:
    ids = {rule for *_, rule in (*WBC_BANDS, *ALC_BANDS, *HB_BANDS, *ALC_UPPER_BANDS)}
    ids.add("counts.anemia_infant_under_6_months")
    rules = {r.id: r for r in real_kb.rules}
    for rid in ids:
        assert rid in rules, rid
        assert rules[rid].cite and all(c in real_kb.citations for c in rules[rid].cite), rid
        assert rules[rid].plain, rid


# --- the series limits (kb.yaml parameters) agree with the rules ----------------------------
# Duration, chronicity, drug onset and dechallenge come from the dated series, which calls a
# count low with the age-banded `wbc_lln` / `anc_lln` parameters. If those disagreed with the
# rules, a child could be leukopenic by the rule and never "low" in the series (no duration, no
# chronicity). Every threshold the rules use, +-0.01, at ages on both sides of every band edge.
EDGE_AGES = [0.0, 0.05, 0.0832, 0.0833, 0.5, 0.99, 1.0, 1.99, 2.0, 10.99, 11.0, 17.0, 40.0, None]
WBC_VALUES = sorted({round(v + d, 2) for v in (3.0, 4.0, 4.5, 5.0, 6.0) for d in (-0.01, 0, 0.01)})
ANC_VALUES = sorted({round(v + d, 2) for v in (1.0, 1.21, 1.5) for d in (-0.01, 0, 0.01)})


def series_patient(
    test: str, value: float, age: float | None, duffy: bool | None
) -> dict[str, Any]:
    labs = [
        {"test": test, "value": value, "unit": "10^9/L", "date": day}
        for day in ("2026-06-01", "2026-10-01")
    ]
    p: dict[str, Any] = {"labs": labs, "as_of": "2026-10-01"}
    if age is not None:
        p["age"] = age
    if duffy is not None:
        p["duffy_null"] = duffy
    return p


def low_by_rule_and_by_series(kb: KnowledgeBase, p: dict[str, Any], fact: str) -> tuple[bool, bool]:
    d = diagnose(p, kb=kb, today=TODAY)
    by_rule = any(f.fact == fact and f.value is True for f in d.findings)
    by_series = any(f.fact == "leukopenia_duration_days" for f in d.findings)
    return by_rule, by_series


@pytest.mark.parametrize("duffy", [None, True])
@pytest.mark.parametrize("age", EDGE_AGES)
def test_wbc_series_limit_matches_the_leukopenia_rules(
    real_kb: KnowledgeBase, age: float | None, duffy: bool | None
) -> None:
    for value in WBC_VALUES:
        by_rule, by_series = low_by_rule_and_by_series(
            real_kb, series_patient("wbc", value, age, duffy), "leukopenia"
        )
        assert by_rule == by_series, f"WBC {value} at age {age} (duffy_null {duffy})"


@pytest.mark.parametrize("duffy", [None, True])
@pytest.mark.parametrize("age", EDGE_AGES)
def test_anc_series_limit_matches_the_neutropenia_rules(
    real_kb: KnowledgeBase, age: float | None, duffy: bool | None
) -> None:
    for value in ANC_VALUES:
        by_rule, by_series = low_by_rule_and_by_series(
            real_kb, series_patient("anc", value, age, duffy), "neutropenia"
        )
        assert by_rule == by_series, f"ANC {value} at age {age} (duffy_null {duffy})"
