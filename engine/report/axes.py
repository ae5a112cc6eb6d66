# SPDX-License-Identifier: Apache-2.0
"""Scales and label placement for the patient timeline: a log count axis, a date axis, and
labels that do not overprint.

Counts of one patient can span three decades (a WBC of 384 at a leukaemia's diagnosis, then 2.98
on treatment), so a linear axis would flatten every low count to the floor: the count axis is
logarithmic, with 1-2-5 ticks. A single date sits in the middle of its axis, never on an edge.
Text widths are estimated from the character count (no font metrics without a browser); the
estimate errs wide, and the browser test measures the real boxes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Average advance of a character in the sans-serif faces browsers use, as a share of the font
#: size; a little above the real ~0.55 so that estimated boxes contain the drawn text.
CHAR_EM = 0.62


def text_width(text: str, size: float) -> float:
    """Estimated width in pixels of ``text`` at font ``size``."""
    return len(text) * size * CHAR_EM


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle (x, y is the top left corner)."""

    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Box, gap: float = 1.0) -> bool:
        return not (
            self.x + self.w + gap <= other.x
            or other.x + other.w + gap <= self.x
            or self.y + self.h + gap <= other.y
            or other.y + other.h + gap <= self.y
        )

    def inside(self, outer: Box) -> bool:
        return (
            self.x >= outer.x
            and self.y >= outer.y
            and self.x + self.w <= outer.x + outer.w
            and self.y + self.h <= outer.y + outer.h
        )


class LogAxis:
    """Maps positive counts to y pixels on a log10 scale between ``low`` and ``high``; a count at
    or below zero is drawn at the floor (its label still says 0)."""

    def __init__(self, values: Sequence[float], top: float, height: float) -> None:
        positive = [v for v in values if v > 0] or [1.0]
        low, high = min(positive) / 1.6, max(positive) * 1.6
        if high / low < 10:  # at least one decade, centred on the data
            mid = math.sqrt(low * high)
            low, high = mid / math.sqrt(10), mid * math.sqrt(10)
        self.log_low, self.log_high = math.log10(low), math.log10(high)
        self.top, self.height = top, height

    @property
    def low(self) -> float:
        return float(10**self.log_low)

    def y(self, value: float) -> float:
        v = max(value, self.low)
        share = (math.log10(v) - self.log_low) / (self.log_high - self.log_low)
        return self.top + self.height * (1 - share)

    def ticks(self) -> list[float]:
        """1-2-5 ticks when a decade has room for them, else one tick per decade."""
        per_decade = self.height / (self.log_high - self.log_low)
        steps = (1, 2, 5) if per_decade >= 66 else (1, 3) if per_decade >= 40 else (1,)
        out = []
        for power in range(math.floor(self.log_low), math.ceil(self.log_high) + 1):
            for m in steps:
                value = m * 10.0**power
                if self.log_low <= math.log10(value) <= self.log_high:
                    out.append(float(f"{value:.6g}"))
        return out


#: Tick spacings tried, shortest first: days, then months.
_DAY_STEPS = (1, 2, 7, 14)
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)
#: The axis of a single date spans this many days each side of it.
SINGLE_DATE_HALF_SPAN = 7


class DateAxis:
    """Maps dates to x pixels, with ``pad`` pixels kept free at each end so that no point sits
    on the frame; a single date is centred."""

    def __init__(self, first: dt.date, last: dt.date, left: float, width: float) -> None:
        self.anchor = first  # day ticks fall on it: the single date, or the first
        if last <= first:
            half = dt.timedelta(days=SINGLE_DATE_HALF_SPAN)
            first, last = first - half, first + half
        self.first, self.last = first, last
        self.left, self.width = left, width
        self.pad = min(16.0, width * 0.05)

    def x(self, day: dt.date) -> float:
        span = (self.last - self.first).days
        inner = self.width - 2 * self.pad
        return self.left + self.pad + inner * (day - self.first).days / span

    def contains(self, day: dt.date) -> bool:
        return self.first <= day <= self.last

    def ticks(self, min_gap: float) -> list[dt.date]:
        """Dates for tick labels at least ``min_gap`` pixels apart, on round days or months."""
        span = (self.last - self.first).days
        room = max(1, int((self.width - 2 * self.pad) // min_gap))
        for step in _DAY_STEPS:
            if span / step <= room:
                lead = (self.anchor - self.first).days % step
                return [self.first + dt.timedelta(days=k) for k in range(lead, span + 1, step)]
        for months in _MONTH_STEPS:
            if span / (30.44 * months) <= room:
                return self._month_ticks(months)
        return [self.first, self.last]

    def _month_ticks(self, months: int) -> list[dt.date]:
        out: list[dt.date] = []
        year, month = self.first.year, self.first.month
        while True:
            day = dt.date(year, month, 1)
            if day > self.last:
                return out
            if day >= self.first and (year * 12 + month - 1) % months == 0:
                out.append(day)
            month += 1
            if month > 12:
                year, month = year + 1, 1


def spread(
    wanted: Sequence[float], heights: Sequence[float], low: float, high: float
) -> list[float]:
    """Top positions for stacked labels that want to be centred on ``wanted`` (sorted top to
    bottom), moved apart as little as possible so that none overlaps, kept within low..high."""
    tops = [w - h / 2 for w, h in zip(wanted, heights, strict=True)]
    for i in range(1, len(tops)):  # push down
        tops[i] = max(tops[i], tops[i - 1] + heights[i - 1])
    if tops and tops[-1] + heights[-1] > high:  # then back up from the bottom
        tops[-1] = high - heights[-1]
        for i in range(len(tops) - 2, -1, -1):
            tops[i] = min(tops[i], tops[i + 1] - heights[i])
    return [max(t, low) if i == 0 else t for i, t in enumerate(tops)]


def place(candidates: Sequence[Box], taken: list[Box], frame: Box) -> Box:
    """The first candidate inside ``frame`` that overlaps nothing taken (else the candidate with
    the fewest overlaps), recorded as taken."""

    def clashes(box: Box) -> int:
        return sum(box.overlaps(t) for t in taken) + (0 if box.inside(frame) else 100)

    best = min(candidates, key=clashes)  # min() keeps the first of equals: the preferred spot
    taken.append(best)
    return best
