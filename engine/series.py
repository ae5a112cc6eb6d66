# SPDX-License-Identifier: Apache-2.0
"""Pure functions over dated lab series: value as of a date, trend, cycles, low episodes.

The series facts of ``docs/rule-language.md`` (``<count>_nadir``, ``wbc_trend``,
``leukopenia_duration_days``, ``cycle_period_days``) from the dated results of contract section 1.
They live in one module of plain functions so that each can be tested alone and every number can
be checked against the chart by hand: each is a :class:`Computed` whose ``how`` sentence the
clinician sees. No medicine here: every clinical threshold is an argument, because thresholds live
in the knowledge base. Results after ``as_of`` are ignored, and several results on one date count
as their minimum (conservative, and independent of input order). The timing of medication courses
against these series is :mod:`engine.courses`.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise

Day = dt.date

#: Fewest results, and days from first to last, for a slope to mean anything (method, not clinic).
MIN_TREND_RESULTS = 3
MIN_TREND_SPAN_DAYS = 7
#: A cycle needs this many nadirs, and intervals whose max - min is at most this share of median.
MIN_CYCLE_NADIRS = 3
CYCLE_CONSISTENCY = 0.4
_PER_DAYS = 30  # trend slopes are reported per 30 days


@dataclass(frozen=True, slots=True)
class Point:
    """One dated numeric result, already in its canonical unit. A result reported as a bound
    (``<0.1``) carries its ``comparator``, and ``value`` is the value compared with thresholds
    (:func:`engine.units.bound_value`); sentences show the bound as reported."""

    date: Day
    value: float
    comparator: str | None = None


def shown(point: Point) -> str:
    """A result as a sentence shows it: ``0.4``, or the bound ``<0.1`` as it was reported (the
    compared value of a bound lies within 1e-9 of its number, so rounding gives the number)."""
    return f"{point.comparator or ''}{_num(point.value)}"


@dataclass(frozen=True, slots=True)
class Computed:
    """A derived value with the sentence that says how it was obtained and from which dates."""

    value: float | int | str | bool
    how: str
    dates: tuple[Day, ...]


def _num(value: float) -> str:
    """Format a number for a sentence: at most 3 decimals, no trailing zeros, no ``-0``."""
    if value != 0 and abs(value) < 0.001:
        return f"{value:.3g}"
    return f"{round(value, 3) + 0.0:.3f}".rstrip("0").rstrip(".")  # + 0.0 turns -0.0 into 0.0


def _low_first(point: Point) -> tuple[float, Day]:
    """Sort key: lowest value first, and the earliest date among equal values."""
    return (point.value, point.date)


def collapse(points: Iterable[Point], as_of: Day, *, highest: bool = False) -> list[Point]:
    """Results dated on or before ``as_of``, ascending, one per date (the minimum of that date,
    or with ``highest`` the maximum).

    The minimum is the conservative reading of a repeated count; ``highest`` is for a test whose
    high results are the abnormal ones (``vocab.HIGHEST_OF_DAY``: a blast count of 25% beside a
    0% of the same day). Either keeps the answer independent of the order results arrive in.
    """
    kept_of: dict[Day, Point] = {}
    for point in points:
        kept = kept_of.get(point.date)
        if point.date <= as_of and (
            kept is None or (point.value > kept.value if highest else point.value < kept.value)
        ):
            kept_of[point.date] = point
    return [kept_of[date] for date in sorted(kept_of)]


def _one(
    points: Iterable[Point], as_of: Day, pick: Callable[[list[Point]], Point], word: str,
    *, bounds: bool = False,
) -> Computed | None:  # fmt: skip
    """One chosen result of the collapsed series, with the span of results it was chosen from."""
    series = collapse(points, as_of)
    if not series:
        return None
    chosen = pick(series)
    how = (
        f"{word} result {shown(chosen)} on {chosen.date}, of {len(series)} dated result(s) "
        f"from {series[0].date} to {series[-1].date} (as of {as_of})"
    )
    value: float = chosen.value
    if chosen.comparator is not None and bounds:
        upper = chosen.comparator.startswith("<")
        value = UpperBound(value) if upper else LowerBound(value)
        how += (
            f"; reported as a bound ({shown(chosen)}): a threshold it does not decide is taken "
            "as neither met nor unmet"
        )
    elif chosen.comparator is not None:
        how += (
            f"; reported as a bound ({shown(chosen)}): a threshold it does not decide is read as "
            f"if the value were {_num(chosen.value)}"
        )
    return Computed(value, how, (chosen.date,))


class UpperBound(float):
    """A result known only as at most its value (``<x``, ``<=x``), as the rules see it: a test
    it decides is met (``<0.1`` is below 0.5), and one it does not decide (``<600`` against
    "above 500") is not met either way, exactly as for a value not measured
    (:mod:`engine.backends.predicates`, and the ``bound`` slot of the CLIPS value facts)."""


class LowerBound(float):
    """A result known only as at least its value (``>x``, ``>=x``); see :class:`UpperBound`."""


#: The two kinds of bounded reading (``type(value) in BOUNDS``: a value that is only a bound).
BOUNDS = (UpperBound, LowerBound)


def latest(points: Iterable[Point], as_of: Day, *, bounds: bool = False) -> Computed | None:
    """The last result on or before ``as_of`` (the value a rule sees as ``<test>``). With
    ``bounds``, a result reported as a bound is an :class:`UpperBound` or :class:`LowerBound`
    (a threshold it does not decide is not met); without, it is read at its number (the white
    counts, whose bounds have rules of their own)."""
    return _one(points, as_of, lambda series: series[-1], "Latest", bounds=bounds)


def nadir(points: Iterable[Point], as_of: Day) -> Computed | None:
    """The lowest result on or before ``as_of``; the earliest date wins a tie."""
    return _one(points, as_of, lambda series: min(series, key=_low_first), "Lowest")


def nadir_since(points: Iterable[Point], first_day: Day, as_of: Day) -> Computed | None:
    """The lowest result from ``first_day`` to ``as_of`` (the recent nadir a label manages)."""
    return nadir((p for p in points if p.date >= first_day), as_of)


def first(points: Iterable[Point], as_of: Day) -> Computed | None:
    """The earliest result, the nearest thing to a baseline the series holds."""
    return _one(points, as_of, lambda series: series[0], "Earliest")


def absolute_from_percent(
    wbc: Iterable[Point],
    percents: Sequence[Iterable[Point]],
    label: str,
    *,
    names: Sequence[str] | None = None,
) -> dict[Day, Computed]:
    """Absolute counts from WBC x percentages, e.g. ANC = WBC x (neutrophil% + band%) / 100.

    A date gets a value when it has a WBC and a result of the first percentage; later ones (bands)
    are added when present that day, and the sentence says whether they were. ``names`` labels the
    percentages in that sentence (``("neutrophils", "bands")``); without it only the numbers show.
    """
    if not percents or (names is not None and len(names) != len(percents)):
        raise ValueError(f"absolute_from_percent: {len(percents)} series, names {names!r}")
    wbc_by_date = {p.date: p.value for p in collapse(wbc, dt.date.max)}
    pct_by_date = [{p.date: p.value for p in collapse(s, dt.date.max)} for s in percents]
    shown = list(names) if names is not None else [""] * len(percents)
    return {
        date: _absolute(label, date, count, pct_by_date, shown)
        for date, count in wbc_by_date.items()
        if date in pct_by_date[0]
    }


def _absolute(
    label: str, date: Day, count: float, pct_by_date: list[dict[Day, float]], names: list[str]
) -> Computed:
    """One date's absolute count; a later percentage missing that day is named as not included."""
    series = list(zip(pct_by_date, names, strict=True))
    present = [(by_date[date], name) for by_date, name in series if date in by_date]
    missing = [
        name or f"percentage {i + 1}" for i, (by, name) in enumerate(series) if date not in by
    ]
    terms = [f"{_num(value)}%{' ' + name if name else ''}" for value, name in present]
    factor = f"({' + '.join(terms)})" if len(terms) > 1 else terms[0]
    how = f"{label} computed as WBC {_num(count)} x {factor} / 100 on {date}"
    if missing:
        how += f" ({', '.join(missing)} not reported that day, not included)"
    return Computed(round(count * sum(value for value, _ in present) / 100, 3), how, (date,))


def _theil_sen(series: Sequence[Point]) -> float:
    """Median of the slopes (per day) between every pair of results; robust to one outlier."""
    pairs = combinations(series, 2)  # (earlier, later), since the series is ascending
    return statistics.median((b.value - a.value) / (b.date - a.date).days for a, b in pairs)


def _swings(values: Sequence[float], tolerance: float) -> int:
    """Count moves larger than ``tolerance`` that alternate in direction (a zig-zag filter)."""
    low = high = extreme = values[0]
    direction = swings = 0
    for value in values[1:]:
        if direction == 0:
            low, high = min(low, value), max(high, value)
            if value - low > tolerance or high - value > tolerance:
                direction, extreme, swings = (1 if value - low > tolerance else -1), value, 1
        elif (value - extreme) * direction > 0:
            extreme = value
        elif abs(extreme - value) > tolerance:
            direction, extreme, swings = -direction, value, swings + 1
    return swings


def _relative(slope: float, level: float) -> float:
    """Slope per 30 days as a fraction of the median level, so that the unit cancels out."""
    if level == 0:
        return 0.0 if slope == 0 else math.copysign(math.inf, slope)
    return slope * _PER_DAYS / abs(level)


def _classify(relative: float, stable_fraction: float, reversals: int) -> str:
    """A clear slope wins; otherwise two large reversals make the series fluctuating."""
    if relative < 0 and relative <= -stable_fraction:
        return "falling"
    if relative > 0 and relative >= stable_fraction:
        return "rising"
    return "fluctuating" if reversals >= 2 else "stable"


def trend(
    points: Iterable[Point],
    as_of: Day,
    *,
    window_days: int,
    stable_fraction_per_30d: float,
    unit: str | None = None,
    min_results: int = MIN_TREND_RESULTS,
    min_span_days: int = MIN_TREND_SPAN_DAYS,
) -> Computed | None:
    """Trend class (falling, rising, stable, fluctuating) over the last ``window_days``.

    Theil-Sen rather than least squares, because one outlying count must not set the direction.
    The slope is judged relative to the median level so that the class does not depend on the
    unit. "fluctuating" needs two reversals, each larger than the stable band, and no clear slope.
    """
    start = as_of - dt.timedelta(days=window_days)
    series = [p for p in collapse(points, as_of) if p.date >= start]
    if len(series) < min_results or (series[-1].date - series[0].date).days < min_span_days:
        return None
    slope = _theil_sen(series)
    level = statistics.median(p.value for p in series)
    relative = _relative(slope, level)
    tolerance = stable_fraction_per_30d * abs(level)
    reversals = _swings([p.value for p in series], tolerance) - 1
    sloped = _classify(relative, stable_fraction_per_30d, reversals)
    recovery = _recovery(series, tolerance) if sloped == "falling" else None
    value = "rising" if recovery is not None else sloped
    share = f"{relative:+.0%}" if math.isfinite(relative) else "undefined"
    how = (
        f"Theil-Sen trend (median of pairwise slopes): {sloped}, slope {_num(slope * _PER_DAYS)}"
        f"{' ' + unit if unit else ''} per {_PER_DAYS} days ({share} of the median "
        f"{_num(level)}; stable within {stable_fraction_per_30d:.0%}), from {len(series)} "
        f"results in the {window_days} days before {as_of} ({series[0].date} to {series[-1].date})"
    )
    if sloped == "fluctuating":
        how += f"; {reversals} reversals each larger than {_num(tolerance)}"
    if recovery is not None:
        how += (
            f"; rising since the lowest result, {shown(recovery)} on {recovery.date}, to "
            f"{shown(series[-1])} on {series[-1].date}: recovering, so called rising"
        )
    return Computed(value, how, tuple(p.date for p in series))


def fall_from_normal(
    points: Iterable[Point], as_of: Day, limit: float, window_days: int
) -> Computed | None:
    """How far (in % of it) a low latest result fell from the latest normal result of the
    ``window_days`` before it; None when the latest result is not low or no normal one precedes
    it in the window. Two results are no trend (:func:`trend` needs three), yet a normal ANC of
    3.4 and one of 1.2 ten weeks later are a new drop, not a lifelong low count (probe 17)."""
    known = collapse(points, as_of)
    if not known or known[-1].value >= limit:
        return None
    low = known[-1]
    start = low.date - dt.timedelta(days=window_days)
    normal = [p for p in known[:-1] if p.date >= start and p.value >= limit]
    if not normal:
        return None
    before = normal[-1]
    pct = round(100 * (1 - low.value / before.value))
    how = (
        f"Fell from {shown(before)} on {before.date} (normal) to {shown(low)} on {low.date}: "
        f"{pct}% in {(low.date - before.date).days} days"
    )
    return Computed(pct, how, (before.date, low.date))


def _recovery(series: Sequence[Point], tolerance: float) -> Point | None:
    """The window's lowest result when the count has risen steadily since it (never falling from
    one result to the next) and ends more than ``tolerance`` above it: the slope over the whole
    window still points down, but a count that recovers from its nadir is not "falling" (the
    rules reading it speak of a count that keeps falling)."""
    low = min(series, key=_low_first)
    after = [p for p in series if p.date > low.date]
    if not after or after[-1].value - low.value <= tolerance:
        return None
    steps = [low, *after]
    rising = all(b.value >= a.value for a, b in zip(steps, steps[1:], strict=False))
    return low if rising else None


def _nadirs(series: Sequence[Point], threshold: float) -> list[Point]:
    """The lowest result of each run below ``threshold``; runs are split by a result at or above.

    The first and the last result of the series cannot be a nadir: what came before or after
    them is unknown, so the count may have gone lower (a dip still in progress on ``as_of``).
    """
    found: list[Point] = []
    run: list[Point] = []
    for point in [*series, None]:
        if point is not None and point.value < threshold:
            run.append(point)
        elif run:
            found.append(min(run, key=_low_first))
            run = []
    return [p for p in found if p.date not in (series[0].date, series[-1].date)]


def cycle(
    points: Iterable[Point],
    as_of: Day,
    *,
    threshold: float,
    min_days: int,
    max_days: int,
    consistency: float = CYCLE_CONSISTENCY,
    min_nadirs: int = MIN_CYCLE_NADIRS,
) -> Computed | None:
    """Median days between nadirs when the count falls below ``threshold`` at regular intervals.

    Needs ``min_nadirs`` nadirs, each pair separated by a recovery to ``threshold`` or above, every
    interval in ``[min_days, max_days]``, and max - min interval <= ``consistency`` x median.
    """
    lows = _nadirs(collapse(points, as_of), threshold)
    if len(lows) < max(min_nadirs, 2):
        return None
    intervals = [(b.date - a.date).days for a, b in pairwise(lows)]
    middle = statistics.median(intervals)
    regular = max(intervals) - min(intervals) <= consistency * middle
    if not regular or not all(min_days <= days <= max_days for days in intervals):
        return None
    dates = tuple(p.date for p in lows)
    how = (
        f"Cyclic pattern: {len(lows)} nadirs below {_num(threshold)}, separated by recoveries to "
        f"{_num(threshold)} or above, on {', '.join(map(str, dates))}; intervals "
        f"{', '.join(map(str, intervals))} days (median {_num(middle)})"
    )
    return Computed(round(middle), how, dates)


def low_dates(
    series: Sequence[Iterable[Point]], thresholds: Sequence[float], as_of: Day,
    *, decides: int | None = None,
) -> tuple[list[Day], list[Day]]:  # fmt: skip
    """Split result dates on or before ``as_of`` into (low dates, normal dates), both ascending.

    A date is low when any series is below its own threshold that day (e.g. WBC or ANC), and
    normal when it has results and none is low. With ``decides`` (a series' position), a date on
    which that series has a result is low or normal by that result alone: a drug's timing is
    read on the neutrophils where they were counted, so that a white count of 3.9 beside a
    normal ANC of 2.6 is not the start of the neutropenia a drug began two days later (probe 16).
    """
    if len(series) != len(thresholds):
        raise ValueError(f"low_dates: {len(series)} series but {len(thresholds)} thresholds")
    low: set[Day] = set()
    seen: set[Day] = set()
    ruled: dict[Day, bool] = {}
    for position, (points, limit) in enumerate(zip(series, thresholds, strict=True)):
        for point in collapse(points, as_of):
            seen.add(point.date)
            if point.value < limit:
                low.add(point.date)
            if position == decides:
                ruled[point.date] = point.value < limit
    low = {d for d in low if ruled.get(d, True)}
    return sorted(low), sorted(seen - low)


def low_episode_days(
    series: Sequence[Iterable[Point]], thresholds: Sequence[float], as_of: Day
) -> Computed | None:
    """Days the current unbroken low run is documented: from its first low date to its last.

    The run ends at the latest result; any normal result resets it, since a count that recovered
    in between makes the current episode a new one. The days after the latest result are not
    counted: nothing shows the count stayed low then, and a single low result of four months ago
    documents no duration at all (counting to ``as_of`` made it a "chronic" neutropenia, and in a
    CDS hook, answered as of today, every low count older than 90 days did the same).
    """
    return episode_of(*low_dates(series, thresholds, as_of), as_of)


def episode_of(low: Sequence[Day], normal: Sequence[Day], as_of: Day) -> Computed | None:
    """:func:`low_episode_days` of dates already split by :func:`low_dates` (ascending)."""
    if not low or (normal and normal[-1] > low[-1]):
        return None
    last_normal = normal[-1] if normal else None
    run = [d for d in low if last_normal is None or d > last_normal]
    days = (run[-1] - run[0]).days
    how = f"Low on {len(run)} consecutive result date(s), {run[0]} to {run[-1]}: {days} days"
    if run[-1] < as_of:
        how += f"; no result from then to {as_of} ({(as_of - run[-1]).days} days), not counted"
    if last_normal is not None:
        how += f"; last normal result before that on {last_normal}"
    return Computed(days, how, tuple(run))
