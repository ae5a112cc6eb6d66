# SPDX-License-Identifier: Apache-2.0
"""Nothing critical is guessed: shorthand counts without a unit, ANC or ALC above the WBC, a
percentage given as a fraction, the lab spellings of units, undated results, and the bounds of
dates and durations (engine/patient.py, engine/units.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import InputError
from engine.patient import parse_patient
from engine.units import SHORTHAND_MAX, to_canonical

TODAY = dt.date(2025, 3, 1)


def error_of(data: Any) -> str:
    with pytest.raises(InputError) as err:
        parse_patient(data, today=TODAY)
    return str(err.value)


def lab(test: str, value: Any, unit: str | None, date: str = "2025-02-10") -> dict[str, Any]:
    return {"test": test, "value": value, "unit": unit, "date": date}


def values(data: Any) -> dict[str, float | str]:
    return {x.test: x.value for x in parse_patient(data, today=TODAY).labs}


# --- the flat shorthand -------------------------------------------------------------------------


def test_the_reported_case_is_refused_with_the_unit_asked_for() -> None:
    assert error_of({"wbc": 2.1, "anc": 400}) == (
        "anc: anc 400 without a unit is ambiguous: a count without a unit is read as 10^9/L only "
        "below 30, and 400 looks like cells/uL (got 400; expected the value with its unit, e.g. "
        '{"anc": {"value": 400, "unit": "/uL"}})'
    )


@pytest.mark.parametrize("test", sorted(SHORTHAND_MAX))
def test_shorthand_bounds(test: str) -> None:
    bound = SHORTHAND_MAX[test]
    wbc = {"value": 500, "unit": "10^9/L"}  # a WBC with its unit, above any part of it
    assert values({"wbc": wbc, test: bound - 0.1})[test] == bound - 0.1
    msg = error_of({"wbc": wbc, test: bound})
    assert msg.startswith(f"{test}: {test} {bound:g} without a unit is ambiguous")


def test_a_shorthand_count_too_large_for_any_unit_says_so() -> None:
    """1e308 is not "cells/uL" either: the message says no reading of it is a count."""
    assert error_of({"wbc": 1e308}).startswith(
        "wbc: wbc 1e+308 is not a plausible count in 10^9/L or in cells/uL"
    )
    assert "looks like cells/uL" in error_of({"wbc": 2500})


def test_a_shorthand_value_may_carry_its_unit() -> None:
    short = parse_patient({"wbc": 2.1, "anc": {"value": 400, "unit": "/uL"}}, today=TODAY)
    long = parse_patient(
        {"as_of": "2025-03-01", "labs": [lab("wbc", 2.1, "10^9/L", "2025-03-01"),
                                         lab("anc", 400, "/uL", "2025-03-01")]}, today=TODAY,
    )  # fmt: skip
    assert [(x.test, x.value, x.date) for x in short.labs] == [
        (x.test, x.value, x.date) for x in long.labs
    ]
    assert "a shorthand value with its unit" in error_of({"anc": {"value": 1, "units": "/uL"}})


def test_reticulocytes_need_a_unit_and_other_tests_read_the_canonical_unit() -> None:
    assert error_of({"wbc": 3, "reticulocytes": 1.2}).startswith(
        "reticulocytes: reticulocytes are given in % or as a count, so a value needs its unit"
    )
    assert values({"wbc": 3, "reticulocytes": {"value": 1.2, "unit": "%"}}) == {
        "wbc": 3.0, "reticulocytes_pct": 1.2
    }  # fmt: skip
    canonical = {"wbc": 3, "hemoglobin": 9, "mcv": 101, "vitamin_b12": 300, "neutrophil_pct": 40}
    assert values(canonical) == {k: float(v) for k, v in canonical.items()}
    assert values({"wbc": 3, "hemoglobin": {"value": 90, "unit": "g/L"}})["hemoglobin"] == 9


def test_shorthand_dates_its_labs_and_the_long_form_needs_dates() -> None:
    p = parse_patient({"wbc": 3, "labs": [{"test": "hiv", "value": "negative"}]}, today=TODAY)
    assert {x.date for x in p.labs} == {TODAY}
    assert error_of({"labs": [{"test": "wbc", "value": 3, "unit": "K/uL"}]}) == (
        "labs[0].date: a lab result needs its date; an undated result is not assumed current "
        "(expected a date YYYY-MM-DD)"
    )
    assert error_of({"labs": [lab("wbc", 3, "K/uL", None)]}).startswith("labs[0].date: ")  # type: ignore[arg-type]


# --- ANC and ALC within the WBC -----------------------------------------------------------------


def test_anc_above_the_same_day_wbc_names_both_values() -> None:
    msg = error_of({"labs": [lab("wbc", 2.1, "10^9/L"), lab("anc", 5200, "/uL")]})
    assert msg == (
        "labs[1].value: anc 5.2 x10^9/L is above the wbc of the same day, 2.1 x10^9/L (labs[0], "
        "given '2.1 10^9/L') (got '5200.0 /uL'; expected an anc no larger than the wbc it is part "
        "of; check both units)"
    )
    assert error_of({"labs": [lab("wbc", 1.0, "K/uL"), lab("alc", 1.5, "K/uL")]}).startswith(
        "labs[1].value: alc 1.5 x10^9/L is above the wbc of the same day"
    )


def test_a_differential_above_100_percent_is_refused_naming_each_part() -> None:
    """62% neutrophils and 50% bands would compute an ANC above the WBC: refused, not computed."""
    msg = error_of(
        {
            "labs": [
                lab("wbc", 2.0, "10^9/L"),
                lab("neutrophil_pct", 62, "%"),
                lab("band_pct", 50, "%"),
            ]
        }
    )
    assert msg.startswith(
        "labs[2].value: the differential of 2025-02-10 adds up to 112% (neutrophil_pct 62 + "
        "band_pct 50), more than the whole count"
    )
    three = [
        lab("neutrophil_pct", 60, "%"),
        lab("band_pct", 10, "%"),
        lab("lymphocyte_pct", 40, "%"),
    ]
    assert "adds up to 110%" in error_of({"labs": [lab("wbc", 2.0, "10^9/L"), *three]})


def test_a_differential_within_100_percent_and_rounding_is_accepted() -> None:
    rounded = [lab("wbc", 2.0, "10^9/L"), lab("neutrophil_pct", 62.4, "%"),
               lab("band_pct", 8.3, "%"), lab("lymphocyte_pct", 30.2, "%")]  # fmt: skip
    assert values({"labs": rounded})["band_pct"] == 8.3  # 100.9%: within rounding
    other_days = [lab("wbc", 2.0, "10^9/L"), lab("neutrophil_pct", 70, "%"),
                  lab("lymphocyte_pct", 70, "%", "2025-02-11")]  # fmt: skip
    assert values({"labs": other_days})["lymphocyte_pct"] == 70


def test_parts_within_the_wbc_are_accepted() -> None:
    same = [lab("wbc", 2.1, "10^9/L"), lab("anc", 2100, "/uL"), lab("alc", 0.0, "10^9/L")]
    assert values({"labs": same})["anc"] == 2.1
    other_day = [lab("wbc", 2.1, "10^9/L"), lab("anc", 5.0, "10^9/L", "2025-02-11")]
    assert values({"labs": other_day})["anc"] == 5.0
    # several WBCs on one day: a part is compared with the highest of them
    twice = [lab("wbc", 1.5, "10^9/L"), lab("wbc", 3.0, "10^9/L"), lab("anc", 2.0, "10^9/L")]
    assert values({"labs": twice})["anc"] == 2.0


@given(st.floats(0, 50), st.floats(0, 50))
def test_the_anc_check_is_exactly_anc_above_wbc_beyond_rounding(wbc: float, anc: float) -> None:
    """An ANC above the WBC by more than the 0.05 rounding slack is refused; within it (0.45
    beside a WBC printed as 0.4) it is rounding."""
    wbc, anc = round(wbc, 2), round(anc, 2)
    data = {"labs": [lab("wbc", wbc, "10^9/L"), lab("anc", anc, "10^9/L")]}
    if anc > wbc + 0.05 + 1e-9:
        assert "is above the wbc of the same day" in error_of(data)
    else:
        assert values(data)["anc"] == anc


# --- percentages given as fractions -------------------------------------------------------------


@pytest.mark.parametrize("test", ["neutrophil_pct", "lymphocyte_pct", "band_pct"])
def test_a_fraction_with_unit_percent_is_refused(test: str) -> None:
    msg = error_of({"labs": [lab("wbc", 3.0, "K/uL"), lab(test, 0.62, "%")]})
    assert msg.startswith("labs[1].value: 0.62 with unit % looks like a fraction")
    assert "(62 for 62 %)" in msg and "absolute count" in msg
    for ok in (0, 1, 1.5, 62, 100):
        assert values({"labs": [lab("wbc", 3.0, "K/uL"), lab(test, ok, "%")]})[test] == ok


def test_other_percentages_below_one_are_kept() -> None:
    assert values({"wbc": 3.0, "labs": [lab("blasts_pct", 0.5, "%")]})["blasts_pct"] == 0.5


# --- unit spellings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    ["10^9/L", "10*9/L", "x10(9)/L", "Gpt/L", "G/L", "/nL", "10^3/uL", "10³/µL", "10³/μL",
     "x10E3/uL", "x10(3)/mcL", "x10(3)/uL", "10E3/mm3", "K/uL", "K/mcL", "K/µL", "K/cumm",
     "Thousand/uL", "TH/uL", "thou/uL", "10*3/uL", "10*3{cells}/uL", "× 10⁹/L", "10^6/mL"],
)  # fmt: skip
def test_count_spellings_of_10_9_per_litre(unit: str) -> None:
    assert to_canonical("wbc", 2.5, unit, field="labs[0]") == ("wbc", 2.5)


@pytest.mark.parametrize(
    "unit",
    [
        "/uL",
        "cells/uL",
        "/mm3",
        "cells/mm3",
        "/mcL",
        "cells/cumm",
        "1/uL",
        "1/mm3",
        "/cmm",
        "cells/cmm",
        "cells/mm³",
    ],
)
def test_count_spellings_per_microlitre(unit: str) -> None:
    assert to_canonical("wbc", 2500, unit, field="labs[0]") == ("wbc", 2.5)


def test_an_unknown_spelling_is_still_an_error_with_a_suggestion() -> None:
    with pytest.raises(InputError) as err:
        to_canonical("wbc", 2.5, "Thousand-uL", field="labs[0]")
    assert str(err.value).startswith("labs[0].unit: unknown unit for wbc (got 'Thousand-uL'")
    assert "did you mean" in str(err.value)


def test_a_unit_of_another_magnitude_gets_no_suggestion() -> None:
    """Thousand/dL is a tenth of Thousand/uL's count: no accepted spelling is the same unit."""
    with pytest.raises(InputError) as err:
        to_canonical("wbc", 2.5, "Thousand/dL", field="labs[0]")
    assert str(err.value).startswith("labs[0].unit: unknown unit for wbc (got 'Thousand/dL'")
    assert "did you mean" not in str(err.value)


# --- dates and durations ------------------------------------------------------------------------


@pytest.mark.parametrize("day, ok", [
    ("1899-12-31", False), ("1900-01-01", True), ("2200-12-31", True), ("2201-01-01", False),
    ("0001-01-01", False), ("9999-12-31", False),
])  # fmt: skip
def test_dates_are_bounded_everywhere(day: str, ok: bool) -> None:
    places = {
        "as_of": {"wbc": 3, "as_of": day},
        "labs[0].date": {"labs": [lab("wbc", 3, "K/uL", day)]},
        "medications[0].start": {"wbc": 3, "medications": [{"name": "x", "start": day}]},
        "findings[0].since": {"wbc": 3, "findings": [{"name": "fever", "since": day}]},
        "as_of ": {"wbc": 3, "as_of": dt.date.fromisoformat(day)},  # a YAML date object
    }
    for field, data in places.items():
        if ok:
            parse_patient(data, today=TODAY)
        else:
            assert error_of(data).startswith(f"{field.strip()}: date out of range (got '{day}'; "
                                             "expected a date YYYY-MM-DD from 1900-01-01 to "
                                             "2200-12-31)")  # fmt: skip


@pytest.mark.parametrize("days", [36526, 10**23, 2**63])
def test_durations_are_bounded(days: int) -> None:
    assert error_of({"wbc_trend": "stable", "leukopenia_duration_days": days}).startswith(
        "leukopenia_duration_days: input should be less than or equal to 36525"
    )
    p = parse_patient({"wbc_trend": "stable", "leukopenia_duration_days": 36525}, today=TODAY)
    assert p.leukopenia_duration_days == 36525


# --- values handed in directly ------------------------------------------------------------------


def test_hostile_values_in_a_dict_are_input_errors() -> None:
    assert error_of({"wbc": 3, "id": "\ud800"}).startswith("id: text holds a lone surrogate")
    assert error_of({"wbc": 3, "medications": ["cloz\udc80"]}).startswith("medications[0]: ")
    assert error_of({"wbc": 3, "age": 10**5000}).startswith("age: number too large")
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert "nested deeper than 64 levels" in error_of({"wbc": 3, "ancestry": deep})
    assert len(error_of({"wbc": 3, "sex": "x" * 100_000})) < 1000  # the value is shortened
