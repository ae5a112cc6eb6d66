# SPDX-License-Identifier: Apache-2.0
"""Unit tests of engine/series.py: each function, its edges, and the sentences clinicians read."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import pytest

from engine.courses import began_in_episode, exposure
from engine.errors import InputError
from engine.series import (
    Computed,
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

D = dt.date.fromisoformat
AS_OF = D("2025-03-01")


def pts(*pairs: tuple[str, float]) -> list[Point]:
    """Points from ``("YYYY-MM-DD", value)`` pairs, in the order given."""
    return [Point(D(day), value) for day, value in pairs]


def daily(start: str, values: list[float], step: int = 1) -> list[Point]:
    """Points ``step`` days apart from ``start``."""
    base = D(start)
    return [Point(base + dt.timedelta(days=i * step), v) for i, v in enumerate(values)]


# --- collapse ---------------------------------------------------------------------------------


def test_collapse_empty() -> None:
    assert collapse([], AS_OF) == []


def test_collapse_sorts_filters_and_takes_same_day_minimum() -> None:
    series = pts(("2025-02-01", 2.0), ("2025-01-01", 3.0), ("2025-02-01", 1.5), ("2025-03-02", 0.1))
    assert collapse(series, AS_OF) == pts(("2025-01-01", 3.0), ("2025-02-01", 1.5))


def test_collapse_keeps_a_result_dated_on_as_of() -> None:
    assert collapse(pts(("2025-03-01", 1.0)), AS_OF) == pts(("2025-03-01", 1.0))


def test_collapse_same_day_minimum_is_order_independent() -> None:
    a = pts(("2025-01-01", 2.0), ("2025-01-01", 1.0))
    assert collapse(a, AS_OF) == collapse(list(reversed(a)), AS_OF) == pts(("2025-01-01", 1.0))


# --- latest / nadir / first -------------------------------------------------------------------

SERIES = pts(("2025-02-10", 2.9), ("2025-01-02", 3.1), ("2025-01-20", 2.5), ("2025-04-01", 0.2))


@pytest.mark.parametrize("func", [latest, nadir, first])
def test_none_without_results_on_or_before_as_of(
    func: Callable[[list[Point], dt.date], Computed | None],
) -> None:
    assert func([], AS_OF) is None
    assert func(pts(("2025-03-02", 1.0)), AS_OF) is None


def test_latest_ignores_results_after_as_of() -> None:
    got = latest(SERIES, AS_OF)
    assert got == Computed(
        2.9,
        "Latest result 2.9 on 2025-02-10, of 3 dated result(s) from 2025-01-02 to 2025-02-10 "
        "(as of 2025-03-01)",
        (D("2025-02-10"),),
    )


def test_latest_same_day_duplicates_give_the_minimum() -> None:
    got = latest(pts(("2025-02-10", 2.9), ("2025-02-10", 2.1)), AS_OF)
    assert got is not None and got.value == 2.1


def test_nadir_is_the_lowest_and_the_earliest_on_ties() -> None:
    got = nadir([*SERIES, Point(D("2025-02-20"), 2.5)], AS_OF)
    assert got is not None
    assert (got.value, got.dates) == (2.5, (D("2025-01-20"),))
    assert got.how.startswith("Lowest result 2.5 on 2025-01-20")


def test_first_is_the_earliest() -> None:
    got = first(SERIES, AS_OF)
    assert got is not None
    assert (got.value, got.dates) == (3.1, (D("2025-01-02"),))
    assert got.how.startswith("Earliest result 3.1 on 2025-01-02")


def test_single_point_is_latest_nadir_and_first() -> None:
    one = pts(("2025-01-05", 1.2))
    results = [f(one, AS_OF) for f in (latest, nadir, first)]
    assert all(r is not None and r.value == 1.2 and r.dates == (D("2025-01-05"),) for r in results)


# --- absolute_from_percent --------------------------------------------------------------------

WBC = pts(("2025-01-02", 3.1))
NEUT = pts(("2025-01-02", 22.0))
BANDS = pts(("2025-01-02", 4.0))


def test_anc_from_wbc_neutrophils_and_bands() -> None:
    got = absolute_from_percent(WBC, [NEUT, BANDS], "ANC", names=("neutrophils", "bands"))
    assert got == {
        D("2025-01-02"): Computed(
            0.806,
            "ANC computed as WBC 3.1 x (22% neutrophils + 4% bands) / 100 on 2025-01-02",
            (D("2025-01-02"),),
        )
    }


def test_anc_without_bands_says_so() -> None:
    got = absolute_from_percent(WBC, [NEUT, []], "ANC", names=("neutrophils", "bands"))
    only = got[D("2025-01-02")]
    assert only.value == 0.682
    assert only.how == (
        "ANC computed as WBC 3.1 x 22% neutrophils / 100 on 2025-01-02 "
        "(bands not reported that day, not included)"
    )


def test_without_names_the_sentence_shows_numbers_only() -> None:
    got = absolute_from_percent(WBC, [NEUT, BANDS], "ANC")[D("2025-01-02")]
    assert got.how == "ANC computed as WBC 3.1 x (22% + 4%) / 100 on 2025-01-02"
    missing = absolute_from_percent(WBC, [NEUT, []], "ANC")[D("2025-01-02")]
    assert "percentage 2 not reported" in missing.how


def test_dates_need_a_wbc_and_the_first_percentage() -> None:
    wbc = pts(("2025-01-02", 3.1), ("2025-01-03", 4.0))
    neut = pts(("2025-01-02", 22.0), ("2025-01-04", 50.0))
    bands = pts(("2025-01-03", 5.0), ("2025-01-04", 5.0))
    got = absolute_from_percent(wbc, [neut, bands], "ANC")
    assert list(got) == [D("2025-01-02")]


def test_single_percent_series_and_rounding() -> None:
    got = absolute_from_percent(pts(("2025-01-02", 3.333)), [pts(("2025-01-02", 33.3))], "ALC")
    assert got[D("2025-01-02")].value == round(3.333 * 33.3 / 100, 3) == 1.11
    assert got[D("2025-01-02")].how == "ALC computed as WBC 3.333 x 33.3% / 100 on 2025-01-02"


def test_absolute_uses_same_day_minimum_and_is_sorted() -> None:
    wbc = pts(("2025-02-01", 5.0), ("2025-01-02", 4.0), ("2025-01-02", 3.0))
    neut = pts(("2025-01-02", 50.0), ("2025-02-01", 40.0))
    got = absolute_from_percent(wbc, [neut], "ANC")
    assert [(d, c.value) for d, c in got.items()] == [(D("2025-01-02"), 1.5), (D("2025-02-01"), 2)]


def test_absolute_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="1 series"):
        absolute_from_percent(WBC, [NEUT], "ANC", names=("neutrophils", "bands"))
    with pytest.raises(ValueError, match="0 series"):
        absolute_from_percent(WBC, [], "ANC")


# --- trend ------------------------------------------------------------------------------------


def run_trend(points: list[Point], fraction: float = 0.1, window_days: int = 90) -> Computed | None:
    return trend(points, AS_OF, window_days=window_days, stable_fraction_per_30d=fraction)


def trend_value(points: list[Point], fraction: float = 0.1) -> object:
    got = run_trend(points, fraction)
    return None if got is None else got.value


def test_trend_falling_rising_stable() -> None:
    assert trend_value(daily("2025-01-01", [3.0, 2.7, 2.4, 2.1, 1.8], step=7)) == "falling"
    assert trend_value(daily("2025-01-01", [1.8, 2.1, 2.4, 2.7, 3.0], step=7)) == "rising"
    assert trend_value(daily("2025-01-01", [3.0, 3.02, 2.98, 3.01], step=7)) == "stable"


def test_a_count_recovering_from_its_nadir_is_not_falling() -> None:
    """4.0, 3.0, 0.3, 0.8, 1.4: the slope over the window points down, but the count has risen
    steadily since its nadir; "falling" made acute leukaemia the top cause "because the count
    keeps falling". A rebound that falls again, or one within the stable band, stays falling."""
    v_shape = run_trend(daily("2025-01-01", [4.0, 3.0, 0.3, 0.8, 1.4], step=10))
    assert v_shape is not None and v_shape.value == "rising"
    assert "pairwise slopes): falling" in v_shape.how
    assert "rising since the lowest result, 0.3 on 2025-01-21" in v_shape.how
    assert trend_value(daily("2025-01-01", [4.0, 3.0, 0.3, 1.4, 0.9], step=10)) == "falling"
    assert trend_value(daily("2025-01-01", [3.0, 2.7, 2.4, 2.1, 2.15], step=7)) == "falling"


def test_trend_fluctuating_needs_two_large_reversals_and_no_clear_slope() -> None:
    zigzag = daily("2025-01-01", [3.0, 1.5, 3.0, 1.5, 3.0, 1.5, 3.0], step=7)
    got = run_trend(zigzag)
    assert got is not None and got.value == "fluctuating"
    assert "reversals each larger than" in got.how
    one_reversal = daily("2025-01-01", [3.0, 1.5, 1.5, 3.0, 3.0], step=7)
    assert trend_value(one_reversal) == "stable"
    small = daily("2025-01-01", [3.0, 2.9, 3.0, 2.9, 3.0, 2.9, 3.0], step=7)
    assert trend_value(small) == "stable"


def test_a_clear_slope_wins_over_reversals() -> None:
    sawtooth = daily("2025-01-01", [4.0, 3.0, 3.6, 2.4, 3.0, 1.8, 2.2, 1.0], step=5)
    assert trend_value(sawtooth) == "falling"


def test_one_outlier_does_not_set_the_direction() -> None:
    steady = daily("2025-01-01", [3.0, 3.0, 0.5, 3.0, 3.0, 3.0], step=7)
    assert trend_value(steady) == "stable"


def test_trend_needs_three_results_over_seven_days() -> None:
    assert run_trend(daily("2025-02-01", [3.0, 2.0], step=10)) is None
    assert run_trend(daily("2025-02-20", [3.0, 2.5, 2.0], step=3)) is None  # 6-day span
    assert run_trend(daily("2025-02-20", [3.0, 2.5, 2.0], step=4)) is not None  # 8-day span
    assert run_trend([]) is None


def test_trend_limits_of_the_method_are_arguments() -> None:
    two = daily("2025-02-01", [3.0, 2.0], step=10)
    got = trend(two, AS_OF, window_days=90, stable_fraction_per_30d=0.1, min_results=2)
    assert got is not None and got.value == "falling"
    short = daily("2025-02-20", [3.0, 2.5, 2.0], step=1)
    got = trend(short, AS_OF, window_days=90, stable_fraction_per_30d=0.1, min_span_days=2)
    assert got is not None


def test_trend_window_and_as_of() -> None:
    old = daily("2024-06-01", [9.0, 8.0, 7.0], step=10)
    recent = daily("2025-02-01", [3.0, 3.0, 3.0], step=7)
    future = daily("2025-03-10", [0.1, 0.1, 0.1], step=7)
    got = run_trend(old + recent + future)
    assert got is not None and got.value == "stable"
    assert got.dates == (D("2025-02-01"), D("2025-02-08"), D("2025-02-15"))
    assert run_trend(old + recent, window_days=30) is not None
    assert run_trend(recent, window_days=14) is None  # only 2025-02-15 is in the last 14 days


def test_trend_window_includes_its_first_day() -> None:
    edge = daily("2025-01-30", [3.0, 2.0, 1.0], step=10)  # 2025-01-30 is 30 days before as_of
    got = run_trend(edge, window_days=30)
    assert got is not None and len(got.dates) == 3


def test_trend_boundary_of_the_stable_band() -> None:
    series = daily("2024-12-05", [10.0, 9.0, 8.0], step=32)  # slope -1/32 per day, median 9
    exact = (1 / 32) * 30 / 9
    assert trend_value(series, exact) == "falling"
    assert trend_value(series, math.nextafter(exact, 1.0)) == "stable"


def test_trend_how_states_method_slope_unit_n_window_and_dates() -> None:
    series = daily("2025-01-01", [3.0, 2.7, 2.4, 2.1, 1.8], step=7)
    got = trend(series, AS_OF, window_days=90, stable_fraction_per_30d=0.1, unit="10^9/L")
    assert got is not None
    assert got.how == (
        "Theil-Sen trend (median of pairwise slopes): falling, slope -1.286 10^9/L per 30 days "
        "(-54% of the median 2.4; stable within 10%), from 5 results in the 90 days before "
        "2025-03-01 (2025-01-01 to 2025-01-29)"
    )


def test_trend_with_zero_median_level() -> None:
    assert trend_value(daily("2025-01-01", [0.0, 0.0, 0.0], step=7)) == "stable"
    got = run_trend(daily("2025-01-01", [1.0, 0.0, 0.0, 0.0], step=7))
    assert got is not None and got.value == "falling" and "undefined" in got.how


def test_trend_does_not_depend_on_input_order() -> None:
    series = daily("2025-01-01", [3.0, 1.5, 2.9, 1.4, 3.1, 1.6], step=6)
    assert run_trend(series) == run_trend(list(reversed(series)))


# --- cycle ------------------------------------------------------------------------------------


def cyclic(period: int, cycles: int, step: int = 1, phase: int = 3) -> list[Point]:
    """A count that dips to 0.3 every ``period`` days and recovers to about 3."""
    return [
        Point(
            D("2025-01-01") + dt.timedelta(days=t),
            1.65 - 1.35 * math.cos(2 * math.pi * (t - phase) / period),
        )
        for t in range(0, period * cycles, step)
    ]


LATER = D("2026-01-01")


def run_cycle(points: list[Point], as_of: dt.date = LATER) -> Computed | None:
    return cycle(points, as_of, threshold=0.5, min_days=14, max_days=35)


def test_cycle_of_21_days() -> None:
    got = run_cycle(cyclic(21, 4, phase=3))
    assert got is not None
    assert got.value == 21 and isinstance(got.value, int)
    assert got.dates == tuple(D("2025-01-04") + dt.timedelta(days=21 * k) for k in range(4))
    assert got.how == (
        "Cyclic pattern: 4 nadirs below 0.5, separated by recoveries to 0.5 or above, on "
        "2025-01-04, 2025-01-25, 2025-02-15, 2025-03-08; intervals 21, 21, 21 days (median 21)"
    )


def test_cycle_first_and_last_results_are_not_nadirs() -> None:
    edges = cyclic(21, 4, phase=0)  # starts at a nadir and ends on the way down to the next one
    got = run_cycle(edges)
    assert got is not None and got.dates == (D("2025-01-22"), D("2025-02-12"), D("2025-03-05"))
    assert run_cycle(edges[1:-1]) is not None and run_cycle(edges[:42]) is None


def test_cycle_needs_three_nadirs() -> None:
    assert run_cycle(cyclic(21, 2)) is None
    assert run_cycle([]) is None


def test_cycle_ignores_results_after_as_of() -> None:
    assert run_cycle(cyclic(21, 4), as_of=D("2025-02-10")) is None  # 2 nadirs by then


def test_cycle_needs_a_recovery_between_nadirs() -> None:
    low_all_along = daily("2025-01-01", [0.4, 0.2, 0.45, 0.3] * 20)
    assert run_cycle(low_all_along) is None


def test_cycle_interval_bounds_are_inclusive() -> None:
    def dips(gap: int) -> list[Point]:
        base = D("2025-01-01")
        return [
            Point(base + dt.timedelta(days=k * gap + offset), value)
            for k in range(4)
            for offset, value in ((0, 0.2), (gap // 2, 3.0))
        ]

    assert run_cycle(dips(14)) is not None
    assert run_cycle(dips(35)) is not None
    assert run_cycle(dips(13)) is None
    assert run_cycle(dips(36)) is None


def test_cycle_intervals_must_be_consistent() -> None:
    def at(offsets: list[int]) -> list[Point]:
        base = D("2025-01-01")
        lows = [Point(base + dt.timedelta(days=o), 0.2) for o in offsets]
        highs = [Point(base + dt.timedelta(days=o + 5), 3.0) for o in offsets]
        return [Point(base - dt.timedelta(days=5), 3.0), *lows, *highs]

    irregular = run_cycle(at([0, 15, 40]))  # intervals 15, 25: spread 10 > 0.4 x 20
    regular = run_cycle(at([0, 20, 48]))  # intervals 20, 28: spread 8 <= 0.4 x 24
    assert irregular is None
    assert regular is not None and regular.value == 24


# --- low_dates / low_episode_days -------------------------------------------------------------


def test_low_dates_any_series_below_its_threshold() -> None:
    wbc = pts(("2025-01-01", 4.0), ("2025-01-10", 3.9), ("2025-01-20", 4.5), ("2025-04-01", 1.0))
    anc = pts(("2025-01-01", 1.4), ("2025-01-20", 1.5), ("2025-01-25", 1.6))
    low, normal = low_dates([wbc, anc], [4.0, 1.5], AS_OF)
    assert low == [D("2025-01-01"), D("2025-01-10")]
    assert normal == [D("2025-01-20"), D("2025-01-25")]  # equal to the threshold is not below


def test_low_dates_rejects_mismatched_thresholds() -> None:
    with pytest.raises(ValueError, match="2 series but 1 thresholds"):
        low_dates([[], []], [1.0], AS_OF)


def test_low_episode_single_low_on_as_of_is_zero_days() -> None:
    got = low_episode_days([pts(("2025-03-01", 1.0))], [1.5], AS_OF)
    assert got is not None and got.value == 0


def test_low_episode_counts_from_the_first_low_after_the_last_normal() -> None:
    anc = pts(
        ("2024-12-01", 1.0), ("2025-01-01", 2.0), ("2025-01-15", 1.2), ("2025-02-01", 0.9),
        ("2025-03-05", 3.0),
    )  # fmt: skip
    got = low_episode_days([anc], [1.5], AS_OF)
    assert got == Computed(
        17,
        "Low on 2 consecutive result date(s), 2025-01-15 to 2025-02-01: 17 days; no result from "
        "then to 2025-03-01 (28 days), not counted; last normal result before that on 2025-01-01",
        (D("2025-01-15"), D("2025-02-01")),
    )


def test_low_episode_without_a_normal_result_counts_from_the_first() -> None:
    got = low_episode_days([pts(("2025-01-01", 1.0), ("2025-02-01", 0.9))], [1.5], AS_OF)
    assert got is not None and got.value == 31 and "last normal" not in got.how


def test_low_episode_none_when_latest_is_normal_or_no_results() -> None:
    assert low_episode_days([pts(("2025-01-01", 1.0), ("2025-02-01", 2.0))], [1.5], AS_OF) is None
    assert low_episode_days([[]], [1.5], AS_OF) is None
    assert low_episode_days([], [], AS_OF) is None


def test_low_episode_uses_every_series() -> None:
    wbc = pts(("2025-02-01", 3.0), ("2025-02-15", 4.5))
    anc = pts(("2025-02-01", 2.0), ("2025-02-15", 1.0))
    got = low_episode_days([wbc, anc], [4.0, 1.5], AS_OF)
    assert got is not None and got.value == 14


def test_a_single_old_low_result_documents_no_duration() -> None:
    """One low count four months before as_of is not a chronic neutropenia: the days after the
    latest result are not counted, and the sentence says so."""
    got = low_episode_days([pts(("2024-11-01", 0.9))], [1.5], AS_OF)
    assert got is not None and got.value == 0
    assert got.how.endswith("no result from then to 2025-03-01 (120 days), not counted")


# --- exposure ---------------------------------------------------------------------------------


def values(result: dict[str, Computed]) -> dict[str, object]:
    return {key: c.value for key, c in result.items()}


def test_exposure_ongoing_course() -> None:
    got = exposure(D("2025-01-01"), None, AS_OF, [D("2025-02-01")], [D("2024-12-20")])
    assert values(got) == {
        "active": True,
        "days_since_start": 59,
        "days_on_drug": 59,
        "onset_days": 31,
        "on_drug_at_onset": True,
        "baseline_low": False,
    }
    assert got["onset_days"].how == "First low result 2025-02-01, 31 days after start 2025-01-01"
    assert got["onset_days"].dates == (D("2025-02-01"),)
    assert got["baseline_low"].dates == (D("2024-12-20"),)


def test_exposure_stopped_course_with_dechallenge() -> None:
    low = [D("2025-01-20")]
    normal = [D("2024-12-01"), D("2025-02-10"), D("2025-02-20")]
    got = exposure(D("2025-01-01"), D("2025-01-31"), AS_OF, low, normal)
    assert values(got) == {
        "active": False,
        "days_since_start": 59,
        "days_on_drug": 30,
        "days_since_stop": 29,
        "onset_days": 19,
        "on_drug_at_onset": True,
        "baseline_low": False,
        "recovered_after_stop": True,
    }
    assert got["recovered_after_stop"].dates == (D("2025-01-20"), D("2025-02-20"))
    assert "normal, on 2025-02-20" in got["recovered_after_stop"].how


def test_exposure_still_low_after_stop_is_not_recovered() -> None:
    got = exposure(D("2025-01-01"), D("2025-01-31"), AS_OF, [D("2025-01-20"), D("2025-02-20")], [])
    assert got["recovered_after_stop"].value is False


def test_exposure_no_low_on_drug_is_not_recovered() -> None:
    got = exposure(D("2025-01-01"), D("2025-01-31"), AS_OF, [], [D("2025-01-20"), D("2025-02-20")])
    assert got["recovered_after_stop"].value is False
    assert "No low result on the drug" in got["recovered_after_stop"].how


def test_exposure_unknowable_keys_are_left_out() -> None:
    no_result_after_stop = exposure(D("2025-01-01"), D("2025-01-31"), AS_OF, [D("2025-01-20")], [])
    assert "recovered_after_stop" not in no_result_after_stop
    assert "baseline_low" not in no_result_after_stop
    never_low = exposure(D("2025-01-01"), None, AS_OF, [], [D("2025-02-01")])
    assert "onset_days" not in never_low and "on_drug_at_onset" not in never_low


def test_exposure_onset_after_stop_is_not_on_drug() -> None:
    got = exposure(D("2025-01-01"), D("2025-01-31"), AS_OF, [D("2025-02-15")], [])
    assert got["on_drug_at_onset"].value is False
    assert "after stopping it on 2025-01-31" in got["on_drug_at_onset"].how


def test_a_course_begun_during_the_low_episode_is_shown_so_only_by_its_start() -> None:
    """Probe 15: co-trimoxazole started after three years of an ANC near 1.0 was ranked its
    cause; ``started_in_low_episode`` keeps such a course out of the drug rules, and a course
    with no start date, which may have begun before, stays a candidate."""
    assert began_in_episode(D("2025-02-01"), D("2022-05-01")) is True
    assert began_in_episode(D("2022-01-01"), D("2022-05-01")) is False
    assert began_in_episode(None, D("2022-05-01")) is False
    assert began_in_episode(D("2025-02-01"), None) is False
    got = exposure(D("2025-02-01"), None, AS_OF, [D("2022-05-01"), D("2025-02-20")], [],
                   episode_start=D("2022-05-01"))  # fmt: skip
    assert got["on_drug_at_onset"].value is False


def test_exposure_baseline_low_and_boundaries() -> None:
    got = exposure(D("2025-01-01"), None, AS_OF, [D("2024-12-31"), D("2025-01-01")], [])
    assert got["baseline_low"].value is True
    assert got["onset_days"].value == 0  # a low result on the start date counts from the start


def test_exposure_stop_on_as_of_is_still_active() -> None:
    got = exposure(D("2025-01-01"), AS_OF, AS_OF, [], [])
    assert values(got) == {
        "active": True, "days_since_start": 59, "days_on_drug": 59, "days_since_stop": 0,
    }  # fmt: skip


def test_exposure_course_starting_after_as_of_has_only_active() -> None:
    got = exposure(D("2025-03-02"), None, AS_OF, [D("2025-03-05")], [D("2025-02-01")])
    assert values(got) == {"active": False}


def test_exposure_without_start_date() -> None:
    ongoing = exposure(None, None, AS_OF, [D("2025-02-01")], [])
    assert values(ongoing) == {"active": True}
    assert "unknown start" in ongoing["active"].how
    stopped = exposure(None, D("2025-02-01"), AS_OF, [D("2025-01-20")], [D("2025-02-20")])
    assert values(stopped) == {"active": False, "days_since_stop": 28}


def test_exposure_ignores_dates_after_as_of() -> None:
    got = exposure(D("2025-01-01"), D("2025-01-31"), AS_OF, [D("2025-01-20")], [D("2025-03-10")])
    assert "recovered_after_stop" not in got


def test_exposure_rejects_stop_before_start() -> None:
    with pytest.raises(InputError, match="stop before start"):
        exposure(D("2025-02-01"), D("2025-01-01"), AS_OF, [], [])
