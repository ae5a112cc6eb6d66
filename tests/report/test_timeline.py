# SPDX-License-Identifier: Apache-2.0
"""The patient timeline read back from the SVG the report writes: one point per dated value per
count at its place on the log axis, computed counts marked, drug bars from start to stop, dated
findings as markers, nadir values written, words instead of rule ids, a single date centred."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from engine.report.axes import DateAxis, LogAxis
from engine.report.patient import patient_report
from tests.report.timelines import (
    COMPUTED_CASE,
    SINGLE_DATE,
    WIDE_RANGE_CASE,
    Drawn,
    drawn,
)

D = dt.date.fromisoformat
#: What each patient's file says, written out by hand: (count, date, value in 10^9/L, computed).
EXPECTED: dict[str, list[tuple[str, str, float, bool]]] = {
    "computed": [("WBC", "2020-01-25", 2.7, False), ("ANC", "2020-01-25", 0.108, True)],
    "wide": [
        ("WBC", "2022-12-01", 384, False), ("WBC", "2023-05-15", 17, False),
        ("WBC", "2023-10-15", 2.98, False), ("ANC", "2022-12-01", 246, False),
        ("ANC", "2023-05-15", 14, False), ("ANC", "2023-10-15", 0.5, False),
    ],
    "single": [
        ("WBC", "2025-02-20", 2.6, False), ("ANC", "2025-02-20", 1.1, False),
        ("ALC", "2025-02-20", 1.3, False),
    ],
}  # fmt: skip
SOURCES: dict[str, Path | dict[str, Any]] = {
    "computed": COMPUTED_CASE,
    "wide": WIDE_RANGE_CASE,
    "single": SINGLE_DATE,
}


@pytest.fixture(scope="module")
def pages() -> dict[str, dict[str, Drawn]]:
    return {name: drawn(patient_report(source)) for name, source in SOURCES.items()}


def layouts(pages: dict[str, dict[str, Drawn]], name: str) -> list[Drawn]:
    found = list(pages[name].values())
    assert {d.layout for d in found} == {"wide", "narrow"}
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_point_per_dated_value_at_its_place_on_the_log_axis(
    pages: dict[str, dict[str, Drawn]], name: str
) -> None:
    for d in layouts(pages, name):
        points = d.all("circle", "point")
        seen = sorted(
            (p.get("data-series"), p.get("data-date"), float(p.get("data-value", "nan")),
             p.get("data-computed") == "true")
            for p in points
        )  # fmt: skip
        assert seen == sorted(EXPECTED[name]), d.layout
        for p in points:
            assert float(p.get("cy", "nan")) == pytest.approx(
                d.y_of(float(p.get("data-value", "nan"))), abs=0.11
            )
        by_value = sorted(points, key=lambda p: -float(p.get("data-value", "nan")))
        heights = [float(p.get("cy", "nan")) for p in by_value]
        assert heights == sorted(heights)  # higher count, higher on the page
        by_series = defaultdict(list)
        for p in points:
            by_series[p.get("data-series")].append(p)
        for series in by_series.values():
            xs = [
                float(p.get("cx", "nan")) for p in sorted(series, key=lambda p: p.get("data-date"))
            ]
            assert xs == sorted(xs) and len(set(xs)) == len(xs)
            x, _, w, _ = d.plot
            assert all(x < v < x + w for v in xs)


def test_a_hundredfold_range_keeps_the_low_counts_apart(pages: dict[str, dict[str, Drawn]]) -> None:
    for d in layouts(pages, "wide"):
        _, _, _, h = d.plot
        assert d.y_of(2.98) - d.y_of(384) > 0.4 * h  # a linear axis would put them 1% apart
        assert d.y_of(0.5) - d.y_of(2.98) > 0.12 * h


def test_a_computed_anc_is_drawn_and_marked(pages: dict[str, dict[str, Drawn]]) -> None:
    for d in layouts(pages, "computed"):
        anc = [p for p in d.all("circle", "point") if p.get("data-series") == "ANC"]
        assert [p.get("fill") for p in anc] == ["#fff"]  # an open circle
        assert "ANC computed" in (anc[0].findtext(f"{{{_ns()}}}title") or "")
        legend = "".join(t for g in d.all("g", "legend") for t in g.itertext())
        assert "computed from WBC" in legend
        assert "0.108*" in d.texts("value-label")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_nadir_of_every_count_is_written(pages: dict[str, dict[str, Drawn]], name: str) -> None:
    lows: dict[str, float] = {}
    for series, _, value, _ in EXPECTED[name]:
        lows[series] = min(value, lows.get(series, value))
    for d in layouts(pages, name):
        nadirs = {
            e.get("data-series"): "".join(e.itertext()).rstrip("*")
            for e in d.all("text", "value-label")
            if e.get("data-kind") == "nadir"
        }
        assert nadirs == {s: f"{v:g}" for s, v in lows.items()}


def test_drug_courses_are_bars_from_start_to_stop(pages: dict[str, dict[str, Drawn]]) -> None:
    for d in layouts(pages, "wide"):
        bars = d.all("rect", "exposure")
        assert [(b.get("data-drug"), b.get("data-start"), b.get("data-stop")) for b in bars] == [
            ("hydroxyurea", "2022-12-01", "2022-12-15"),
            ("imatinib", "2022-12-15", "2023-02-06"),
            ("imatinib", "2023-05-15", "2023-10-15"),
        ]
        x_of = {p.get("data-date"): float(p.get("cx", "nan")) for p in d.all("circle", "point")}
        first, last = bars[0], bars[2]
        assert float(first.get("x", "nan")) == pytest.approx(x_of["2022-12-01"], abs=0.11)
        end = float(last.get("x", "nan")) + float(last.get("width", "nan"))
        assert end == pytest.approx(x_of["2023-10-15"], abs=0.2)
        assert float(bars[1].get("x", "nan")) == pytest.approx(
            float(first.get("x", "nan")) + float(first.get("width", "nan")), abs=0.2
        )
        labels = d.texts("exposure-label")
        assert "imatinib: 2022-12-15 to 2023-02-06" in labels
        assert "hydroxyurea: 2022-12-01 to 2022-12-15" in labels


def test_fever_is_a_marker_on_its_date(pages: dict[str, dict[str, Drawn]]) -> None:
    for d in layouts(pages, "computed"):
        fever = [m for m in d.all("path", "marker") if m.get("data-finding") == "fever"]
        assert [m.get("data-date") for m in fever] == ["2020-01-26"]
        lab_x = float(d.all("circle", "point")[0].get("cx", "nan"))
        fever_x = float((fever[0].get("d") or "M0,").removeprefix("M").split(",")[0])
        assert fever_x > lab_x  # the day after the count
        bar = d.all("rect", "exposure")[0]
        assert (bar.get("data-start"), bar.get("data-stop")) == ("2020-01-01", "2020-01-25")
        assert "fever 2020-01-26" in d.texts("marker-label")


def test_a_single_date_sits_in_the_middle(pages: dict[str, dict[str, Drawn]]) -> None:
    for d in layouts(pages, "single"):
        x, _, w, _ = d.plot
        for p in d.all("circle", "point"):
            assert float(p.get("cx", "nan")) == pytest.approx(x + w / 2, abs=1)
        ticks = d.texts("date-tick")
        assert "2025-02-20" in ticks


def test_the_duffy_null_range_is_drawn_where_it_applies(pages: dict[str, dict[str, Drawn]]) -> None:
    for d in layouts(pages, "single"):
        limits = {
            e.get("data-test"): float(e.get("data-value", "nan")) for e in d.all("line", "limit")
        }
        assert limits == {"wbc": 3.0, "anc": 1.21, "alc": 1.0}  # kb.yaml, counts.yaml
        words = " ".join(d.texts("threshold-label"))
        assert "ANC lower limit 1.21" in words and "Duffy-null range" in words
        mild = [b for b in d.all("rect", "band") if b.get("data-text") == "mild neutropenia"]
        assert [(b.get("data-low"), b.get("data-high")) for b in mild] == [("1", "1.21")]
    for d in layouts(pages, "wide"):  # not Duffy-null: the general limits
        limits = {
            e.get("data-test"): float(e.get("data-value", "nan")) for e in d.all("line", "limit")
        }
        assert limits == {"wbc": 4.0, "anc": 1.5}
        assert "Duffy-null" not in " ".join(d.texts("threshold-label"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_lines_and_bands_are_labelled_in_words(
    pages: dict[str, dict[str, Drawn]], name: str
) -> None:
    for d in layouts(pages, name):
        words = d.texts("threshold-label")
        assert any("lower limit" in w for w in words)
        assert any("severe neutropenia" in w for w in words)
        for w in words:
            assert "_" not in w and "ctcae" not in w.lower() and "lln" not in w.lower(), w


def test_the_axes_scale_as_documented() -> None:
    axis = LogAxis([384, 2.98], top=0, height=300)
    assert axis.y(384) < axis.y(2.98) and axis.y(0) == axis.y(axis.low) == 300
    assert {2, 5, 10, 20, 50, 100, 200, 500} <= set(axis.ticks())
    single = DateAxis(D("2025-02-20"), D("2025-02-20"), left=0, width=200)
    assert single.x(D("2025-02-20")) == 100
    assert single.first < D("2025-02-20") < single.last


def _ns() -> str:
    return "http://www.w3.org/2000/svg"


def test_a_bound_keeps_its_sign_in_the_drawing_and_the_values_table() -> None:
    """An ANC reported as <0.1 was labelled and listed as a plain 0.1."""
    day = "2025-02-10"
    page = patient_report({
        "as_of": day,
        "labs": [{"test": "wbc", "value": 1.0, "unit": "10^9/L", "date": day},
                 {"test": "anc", "value": 0.1, "unit": "10^9/L", "date": day, "comparator": "<"}],
    })  # fmt: skip
    values = page[page.index("The drawn values") :]
    assert "<td>ANC</td><td>&lt;0.1</td>" in values
    assert "&lt;0.1 x 10^9/L on 2025-02-10" in page


def test_a_drug_bar_is_labelled_with_the_generic_name() -> None:
    """A course given by its RxNorm code was labelled ``rxnorm:2626``."""
    day = "2025-02-10"
    page = patient_report({
        "as_of": day,
        "labs": [{"test": "anc", "value": 0.4, "unit": "10^9/L", "date": day}],
        "medications": [{"name": "rxnorm:2626", "start": "2024-12-01"}],
    })  # fmt: skip
    timeline = page[page.index("<svg") : page.index("</svg>")]
    assert "clozapine" in timeline and "rxnorm:2626" not in timeline
