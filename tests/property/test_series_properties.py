# SPDX-License-Identifier: Apache-2.0
"""Invariants of engine/series.py that must hold for every series, checked with hypothesis."""

from __future__ import annotations

import datetime as dt
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.courses import exposure
from engine.series import (
    Point,
    absolute_from_percent,
    collapse,
    cycle,
    first,
    latest,
    low_dates,
    low_episode_days,
    nadir,
    trend,
)

FAST = settings(max_examples=200, deadline=None)
START = dt.date(2024, 1, 1)
END = dt.date(2025, 12, 31)

dates = st.dates(min_value=START, max_value=END)
counts = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)
points = st.lists(st.builds(Point, dates, counts), max_size=25)
fractions = st.floats(min_value=0.01, max_value=1.0)


def run_trend(series: list[Point], as_of: dt.date, fraction: float) -> str | None:
    got = trend(series, as_of, window_days=400, stable_fraction_per_30d=fraction)
    return None if got is None else str(got.value)


@FAST
@given(points, dates, fractions, st.data())
def test_results_do_not_depend_on_input_order(
    series: list[Point], as_of: dt.date, fraction: float, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(series))
    for func in (collapse, latest, nadir, first):
        assert func(series, as_of) == func(shuffled, as_of)
    assert run_trend(series, as_of, fraction) == run_trend(shuffled, as_of, fraction)
    in_full = trend(series, as_of, window_days=400, stable_fraction_per_30d=fraction)
    assert in_full == trend(shuffled, as_of, window_days=400, stable_fraction_per_30d=fraction)
    cycles = [cycle(s, as_of, threshold=2.0, min_days=14, max_days=35) for s in (series, shuffled)]
    assert cycles[0] == cycles[1]
    assert low_episode_days([series], [2.0], as_of) == low_episode_days([shuffled], [2.0], as_of)
    assert low_dates([series], [2.0], as_of) == low_dates([shuffled], [2.0], as_of)


@FAST
@given(points, points, st.data())
def test_absolute_counts_do_not_depend_on_input_order(
    wbc: list[Point], pct: list[Point], data: st.DataObject
) -> None:
    got = absolute_from_percent(wbc, [pct, pct], "ANC")
    again = absolute_from_percent(
        data.draw(st.permutations(wbc)), [data.draw(st.permutations(pct)), pct], "ANC"
    )
    assert got == again


@FAST
@given(points, dates)
def test_nadir_is_at_most_latest_and_first(series: list[Point], as_of: dt.date) -> None:
    low, last, earliest = nadir(series, as_of), latest(series, as_of), first(series, as_of)
    if low is None:
        assert last is None and earliest is None
        return
    assert last is not None and earliest is not None
    assert float(low.value) <= float(last.value) and float(low.value) <= float(earliest.value)


@st.composite
def falling_series(draw: st.DrawFn) -> tuple[list[Point], float]:
    """A strictly decreasing positive series and a stable band it clearly leaves.

    Every pairwise slope is a weighted mean of the consecutive ones, so it is at least as steep as
    the gentlest consecutive slope; the median level is at most the first value. A band below
    ``gentlest x 30 / first`` is therefore always left, whatever the Theil-Sen median is.
    """
    gaps = draw(st.lists(st.integers(1, 20), min_size=2, max_size=12))
    drops = draw(st.lists(st.floats(0.01, 2.0), min_size=len(gaps), max_size=len(gaps)))
    last = draw(st.floats(0.05, 5.0))
    gaps[0] += max(7 - sum(gaps), 0)  # at least 7 days between the first and the last result
    values = [last + sum(drops[i:]) for i in range(len(drops) + 1)]
    start = dt.date(2025, 1, 1)
    days = [0] + [sum(gaps[: i + 1]) for i in range(len(gaps))]
    series = [Point(start + dt.timedelta(days=d), v) for d, v in zip(days, values, strict=True)]
    gentlest = min(drop / gap for drop, gap in zip(drops, gaps, strict=True))
    band = draw(st.floats(0.01, 0.99)) * gentlest * 30 / values[0]
    return series, band


@FAST
@given(falling_series())
def test_a_strictly_decreasing_series_with_enough_change_is_falling(
    case: tuple[list[Point], float],
) -> None:
    series, band = case
    assert run_trend(series, series[-1].date, band) == "falling"


@FAST
@given(
    points,
    fractions,
    st.sampled_from([2.0**k for k in range(-10, 11) if k != 0]),
)
def test_scaling_values_does_not_change_the_trend_class(
    series: list[Point], fraction: float, factor: float
) -> None:
    """A change of unit must not change the class. Powers of two scale every float operation
    exactly, so any difference would be a real unit dependence, not rounding at the band edge."""
    scaled = [Point(p.date, p.value * factor) for p in series]
    assert run_trend(scaled, END, fraction) == run_trend(series, END, fraction)


def test_scaling_by_a_unit_conversion_factor_keeps_the_class() -> None:
    values = [3.1, 2.9, 3.4, 2.2, 2.6, 1.9, 2.0]
    series = [
        Point(dt.date(2025, 1, 1) + dt.timedelta(days=9 * i), v) for i, v in enumerate(values)
    ]
    per_ul = [Point(p.date, p.value * 1000) for p in series]
    for fraction in (0.05, 0.1, 0.2, 0.4):
        assert run_trend(series, END, fraction) == run_trend(per_ul, END, fraction)


@st.composite
def cyclic_series(draw: st.DrawFn) -> tuple[list[Point], float]:
    """Four 21-day cycles dipping below the threshold, sampled daily or every other day."""
    threshold = draw(st.floats(0.2, 2.0))
    low = threshold * draw(st.floats(0.05, 0.8))
    high = threshold * draw(st.floats(1.5, 5.0))
    phase = draw(st.integers(0, 20))
    step = draw(st.sampled_from([1, 2]))
    offset = draw(st.integers(0, step - 1))
    start = draw(st.dates(min_value=START, max_value=dt.date(2025, 6, 1)))
    mid, amp = (high + low) / 2, (high - low) / 2
    series = [
        Point(start + dt.timedelta(days=t), mid - amp * math.cos(2 * math.pi * (t - phase) / 21))
        for t in range(offset, 4 * 21, step)
    ]
    return series, threshold


@FAST
@given(cyclic_series())
def test_a_21_day_cycle_is_found(case: tuple[list[Point], float]) -> None:
    series, threshold = case
    got = cycle(series, END, threshold=threshold, min_days=14, max_days=35)
    assert got is not None
    assert isinstance(got.value, int) and abs(got.value - 21) <= 1


@FAST
@given(st.lists(points, min_size=1, max_size=3), st.data(), dates)
def test_low_episode_days_is_never_negative(
    series: list[list[Point]], data: st.DataObject, as_of: dt.date
) -> None:
    limits = data.draw(st.lists(counts, min_size=len(series), max_size=len(series)))
    got = low_episode_days(series, limits, as_of)
    if got is not None:
        assert isinstance(got.value, int) and got.value >= 0
        assert all(d <= as_of for d in got.dates)


@FAST
@given(points, dates, st.integers(0, 400), st.one_of(st.none(), st.integers(0, 400)))
def test_exposure_counts_are_never_negative(
    series: list[Point], as_of: dt.date, start_offset: int, length: int | None
) -> None:
    start = as_of - dt.timedelta(days=start_offset)
    stop = None if length is None else start + dt.timedelta(days=length)
    low, normal = low_dates([series], [2.0], as_of)
    got = exposure(start, stop, as_of, low, normal)
    for key in ("days_since_start", "days_on_drug", "days_since_stop", "onset_days"):
        days = got[key].value if key in got else 0
        assert isinstance(days, int) and days >= 0
    assert got["active"].value == (stop is None or stop >= as_of)
