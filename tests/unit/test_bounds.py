# SPDX-License-Identifier: Apache-2.0
"""Results reported as bounds (``comparator``: <, <=, >=, >) in the long form, the shorthand and
the series arithmetic (engine/patient.py, engine/units.py, engine/series.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose
from engine.differential import Differential
from engine.errors import InputError
from engine.patient import parse_patient
from engine.series import Point, collapse, latest, shown
from engine.units import BOUND_OFFSET, bound_value

D = dt.date


def lab(test: str, value: Any, unit: str | None = "10^9/L", day: str = "2025-02-10",
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    out = {"test": test, "value": value, "date": day, **extra}
    if unit is not None:
        out["unit"] = unit
    return out


@pytest.mark.parametrize(
    ("comparator", "threshold", "below"),
    [
        # the bound decides: the compared value falls on the right side of every such threshold
        ("<", 0.5, True), ("<", 0.1, True), ("<=", 0.1, False), ("<=", 0.5, True),
        (">", 0.1, False), (">=", 0.1, False), (">=", 0.05, False),
    ],
)  # fmt: skip
def test_the_compared_value_decides_what_the_bound_decides(
    comparator: str, threshold: float, below: bool
) -> None:
    value = bound_value("anc", 0.1, comparator, field="labs[0]")
    assert (value < threshold) is below


def test_strict_bounds_sit_just_inside_and_print_as_their_number() -> None:
    assert bound_value("anc", 0.1, "<", field="x") == pytest.approx(0.1 - BOUND_OFFSET)
    assert bound_value("wbc", 100.0, ">", field="x") == pytest.approx(100 + BOUND_OFFSET)
    assert f"{bound_value('anc', 0.1, '<', field='x'):g}" == "0.1"
    assert bound_value("anc", 0.1, None, field="x") == 0.1


@pytest.mark.parametrize(
    ("entry", "field", "problem"),
    [
        (lab("anc", 0.0, comparator="<"), "labs[1].value", "no anc is <0 10^9/L"),
        (lab("anc", 0.1, comparator="=="), "labs[1].comparator", "unknown comparator"),
        (lab("anc", 0.1, comparator=1), "labs[1].comparator", "input should be a valid string"),
        (lab("tpmt_activity", "low", None, comparator="<"), "labs[1].comparator",
         "tpmt_activity is qualitative and takes no comparator"),
    ],
)  # fmt: skip
def test_impossible_or_unknown_bounds_are_input_errors(
    entry: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_patient({"labs": [lab("wbc", 3.0), entry]})
    assert caught.value.field == field and problem in caught.value.problem


def test_the_long_form_keeps_the_bound_and_shows_it_as_given() -> None:
    patient = parse_patient({"labs": [lab("wbc", 1.2), lab("anc", 100, "/uL", comparator="<")]})
    anc = patient.labs[1]
    assert anc.comparator == "<" and anc.given.startswith("<100") and anc.given.endswith(" /uL")
    assert anc.value == pytest.approx(0.1 - BOUND_OFFSET)


def test_the_shorthand_takes_a_bound_with_its_unit() -> None:
    patient = parse_patient(
        {
            "as_of": "2025-02-10",
            "wbc": 1.0,
            "anc": {"value": 0.1, "unit": "10^9/L", "comparator": "<"},
        }  # fmt: skip
    )
    anc = next(lab for lab in patient.labs if lab.test == "anc")
    assert anc.comparator == "<" and anc.given == "<0.1 10^9/L"


def test_a_bound_proves_no_anc_above_the_wbc() -> None:
    # ANC <2.0 beside a WBC of 1.5 is consistent (the ANC may be 0.3); WBC >100 beside ANC 120 is
    # consistent too; an ANC >2.0 beside a WBC of 1.5 is not
    parse_patient({"labs": [lab("wbc", 1.5), lab("anc", 2.0, comparator="<")]})
    parse_patient({"labs": [lab("wbc", 100, comparator=">"), lab("anc", 120)]})
    with pytest.raises(InputError, match="above the wbc of the same day"):
        parse_patient({"labs": [lab("wbc", 1.5), lab("anc", 2.0, comparator=">")]})


def test_a_percentage_bound_under_one_is_not_the_fraction_mistake() -> None:
    patient = parse_patient({"labs": [lab("wbc", 3.0), lab("band_pct", 0.5, "%", comparator="<")]})
    assert patient.labs[1].comparator == "<"
    with pytest.raises(InputError, match="looks like a fraction"):
        parse_patient({"labs": [lab("wbc", 3.0), lab("band_pct", 0.5, "%")]})


def test_series_keep_the_bound_and_say_so() -> None:
    points = [Point(D(2025, 1, 1), 1.2), Point(D(2025, 2, 1), 0.1 - BOUND_OFFSET, "<"),
              Point(D(2025, 2, 1), 0.3)]  # fmt: skip
    series = collapse(points, D(2025, 3, 1))
    assert series[-1].comparator == "<"  # the lowest result of its date, a bound
    assert shown(series[-1]) == "<0.1" and shown(series[0]) == "1.2"
    computed = latest(points, D(2025, 3, 1))
    assert computed is not None
    assert computed.how.startswith("Latest result <0.1 on 2025-02-01")
    assert "reported as a bound (<0.1)" in computed.how


def test_a_bound_is_shown_in_the_explanation_of_an_alert() -> None:
    d = diagnose({"as_of": "2025-02-12", "labs": [lab("wbc", 1.1),
                                                  lab("anc", 0.1, comparator="<")]})  # fmt: skip
    findings = {f.fact: f.value for f in d.findings}
    assert findings["neutropenia_severity"] == "severe"
    assert any("<0.1" in f.how for f in d.facts if f.id == "v:anc")


def _bounded_anc_result() -> Differential:
    """A patient whose ANC was reported as ``<0.1``, diagnosed on the day of the count."""
    return diagnose(
        {
            "as_of": "2026-01-10",
            "labs": [
                {"test": "wbc", "value": 1.2, "unit": "10^9/L", "date": "2026-01-10"},
                {"test": "anc", "value": 0.1, "comparator": "<", "unit": "10^9/L",
                 "date": "2026-01-10"},
            ],
        },
        today=dt.date(2026, 1, 10),
    )  # fmt: skip


def test_the_note_shows_a_bound_as_reported() -> None:
    """The consult note's count table and alert brackets show ``<0.1``, not the compared value."""
    from engine.render import consult_note

    note = consult_note(_bounded_anc_result())
    counts = next(line for line in note.splitlines() if line.strip().startswith("ANC"))
    assert "<0.1 on 2026-01-10" in counts
    assert "[ANC <0.1 x 10^9/L on 2026-01-10]" in note


def test_the_patient_report_shows_a_bound_as_reported() -> None:
    """The report's counts table words counts like the note (one helper): ``<0.1``, not 0.1."""
    from engine.report.summary import counts_html

    d = _bounded_anc_result()
    assert "<b>&lt;0.1</b>" in counts_html(d)
