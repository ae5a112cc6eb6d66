# SPDX-License-Identifier: Apache-2.0
"""The patient timeline as inline SVG: WBC, ANC and ALC on one log axis, the reference lines
and severity bands, drug exposures as dated bars, dated findings as markers.

Drawn for a given width (the report draws a wide and a narrow layout and lets CSS show the one
that fits, since the page runs no script). Everything a reader needs is written, not hidden in a
tooltip: the value at each count's nadir and latest result, each drug's start and stop dates, each
finding's date, and the words of each line and band, placed in a right-hand column where they
cannot overprint one another. Every mark carries its data in ``data-*`` attributes so that a test
can check what is drawn against the data it came from.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from engine.report.axes import Box, DateAxis, LogAxis, place, spread, text_width
from engine.report.limits import Band, Limit, number

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
SMALL = 11.0
COLOURS = {"wbc": "#2f6f9f", "anc": "#b9570b", "alc": "#2e8b57"}
BAND_SHADES = ("#c0392b", 0.16, 0.10, 0.05)  # colour, then opacity from the lowest band up
DRUG = "#6c4f96"
MARKER = {"fever": "#c0392b"}
OTHER_MARKER = "#555"
HALO = ' stroke="#fff" stroke-width="3" paint-order="stroke" stroke-linejoin="round"'


@dataclass(frozen=True)
class Point:
    date: dt.date
    value: float
    computed: bool = False
    how: str = ""
    comparator: str | None = None  # a result reported as a bound ("<0.1") keeps its sign

    @property
    def shown(self) -> str:
        """The value as reported: ``0.4``, or the bound ``<0.1``."""
        return f"{self.comparator or ''}{self.value:g}"


@dataclass(frozen=True)
class Series:
    test: str
    name: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Exposure:
    """A medication course; ``start`` or ``stop`` None when not given (stop None: ongoing)."""

    name: str
    start: dt.date | None
    stop: dt.date | None


@dataclass(frozen=True)
class Marker:
    """A dated finding, condition or history item (``kind``), from ``since`` to ``until``."""

    name: str
    text: str
    since: dt.date
    until: dt.date | None
    kind: str


@dataclass(frozen=True)
class Timeline:
    series: tuple[Series, ...]
    limits: tuple[Limit, ...]
    bands: tuple[Band, ...]
    exposures: tuple[Exposure, ...]
    markers: tuple[Marker, ...]
    first: dt.date
    last: dt.date
    unit: str = "x 10^9/L"


@dataclass(frozen=True)
class Layout:
    """Sizes of one layout of the timeline, in pixels."""

    name: str
    width: float
    gutter: float  # the right-hand column for the words of the lines and bands
    plot_height: float
    left: float = 52.0


WIDE = Layout("wide", 960.0, 200.0, 320.0)
NARROW = Layout("narrow", 560.0, 142.0, 280.0)


def timeline_svg(tl: Timeline, layout: Layout) -> str:
    """The timeline drawn at ``layout``'s width."""
    return _Drawing(tl, layout).svg()


class _Drawing:
    """One drawing of a timeline: builds the SVG body top to bottom."""

    def __init__(self, tl: Timeline, layout: Layout) -> None:
        self.tl, self.lay = tl, layout
        self.body: list[str] = []
        self.plot_w = layout.width - layout.left - layout.gutter
        self.y = 0.0

    def svg(self) -> str:
        self._legend()
        top = self.y + 22
        values = [p.value for s in self.tl.series for p in s.points]
        values += [lim.value for lim in self.tl.limits]
        values += [v for b in self.tl.bands for v in (b.low, b.high) if v]
        self.ax = LogAxis(values, top, self.lay.plot_height)
        self.dx = DateAxis(self.tl.first, self.tl.last, self.lay.left, self.plot_w)
        self.frame = Box(self.lay.left, top, self.plot_w, self.lay.plot_height)
        self.body.append(
            f'<text x="4" y="{top - 8:.1f}" fill="#555" font-size="{SMALL:g}">'
            f"{escape(self.tl.unit)}, log scale</text>"
        )
        self._bands_and_grid()
        self._marker_lines()
        self._series()
        self._gutter()
        self.y = top + self.lay.plot_height
        self._date_ticks()
        self._exposures()
        self._markers()
        f = self.frame
        return (
            f'<svg class="chart timeline" data-chart="timeline" data-layout="{self.lay.name}" '
            f'data-plot="{f.x:.1f} {f.y:.1f} {f.w:.1f} {f.h:.1f}" '
            f'data-log-min="{self.ax.log_low:.6f}" data-log-max="{self.ax.log_high:.6f}" '
            f'role="img" aria-label="Counts over time with reference limits, drug exposures '
            f'and dated findings" width="{self.lay.width:.0f}" height="{self.y + 8:.0f}" '
            f'viewBox="0 0 {self.lay.width:.0f} {self.y + 8:.0f}" '
            f'xmlns="http://www.w3.org/2000/svg" {FONT}>{"".join(self.body)}</svg>'
        )

    # --- top: the legend ----------------------------------------------------------------

    def _legend(self) -> None:
        items = []
        for s in self.tl.series:
            items.append((s, s.name))
            if any(p.computed for p in s.points):
                items.append((s, f"open circle: {s.name} computed from WBC x %"))
        x, row = 4.0, 0
        for s, text in items:
            w = 26 + text_width(text, 12)
            if x + w > self.lay.width - 4 and x > 4:
                x, row = 4.0, row + 1
            y = 14 + 18 * row
            colour = COLOURS.get(s.test, "#333")
            hollow = text.startswith("open circle")
            self.body.append(
                f'<g class="legend" data-series="{escape(s.name)}">'
                + (
                    ""
                    if hollow
                    else f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 18:.1f}" y2="{y - 4:.1f}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
                + f'<circle cx="{x + 9:.1f}" cy="{y - 4:.1f}" r="3.5" '
                f'fill="{"#fff" if hollow else colour}" stroke="{colour}" stroke-width="1.5"/>'
                f'<text x="{x + 24:.1f}" y="{y:.1f}">{escape(text)}</text></g>'
            )
            x += w + 10
        self.y = 14 + 18 * row

    # --- the plot -------------------------------------------------------------------------

    def _bands_and_grid(self) -> None:
        f, ax = self.frame, self.ax
        colour, *shades = BAND_SHADES
        for i, band in enumerate(self.tl.bands):
            top, bottom = ax.y(band.high), ax.y(band.low) if band.low else f.y + f.h
            self.body.append(
                f'<rect class="band" x="{f.x:.1f}" y="{top:.1f}" width="{f.w:.1f}" '
                f'height="{max(bottom - top, 0):.1f}" fill="{colour}" '
                f'fill-opacity="{shades[min(i, len(shades) - 1)]}" data-test="{band.test}" '
                f'data-low="{band.low if band.low is not None else 0:g}" '
                f'data-high="{band.high:g}" data-text="{escape(band.text)}">'
                f"<title>{escape(_band_words(band))}</title></rect>"
            )
        for tick in ax.ticks():
            y = ax.y(tick)
            self.body.append(
                f'<line class="grid" x1="{f.x:.1f}" x2="{f.x + f.w:.1f}" y1="{y:.1f}" '
                f'y2="{y:.1f}" stroke="#e3e3e3"/>'
                f'<text class="tick" x="{f.x - 5:.1f}" y="{y + 4:.1f}" text-anchor="end" '
                f'fill="#555" font-size="{SMALL:g}">{tick:g}</text>'
            )
        self.body.append(
            f'<rect x="{f.x:.1f}" y="{f.y:.1f}" width="{f.w:.1f}" height="{f.h:.1f}" '
            'fill="none" stroke="#999"/>'
        )
        for lim in self.tl.limits:
            y = ax.y(lim.value)
            self.body.append(
                f'<line class="limit" x1="{f.x:.1f}" x2="{f.x + f.w:.1f}" y1="{y:.1f}" '
                f'y2="{y:.1f}" stroke="{COLOURS.get(lim.test, "#333")}" stroke-width="1.5" '
                f'stroke-dasharray="6 4" data-test="{lim.test}" data-value="{lim.value:g}">'
                f"<title>{escape(_limit_words(lim))}</title></line>"
            )

    def _marker_lines(self) -> None:
        f = self.frame
        for m in self.tl.markers:
            if self.dx.contains(m.since):
                x = self.dx.x(m.since)
                self.body.append(
                    f'<line class="marker-line" x1="{x:.1f}" x2="{x:.1f}" y1="{f.y:.1f}" '
                    f'y2="{f.y + f.h:.1f}" stroke="{_marker_colour(m)}" stroke-opacity="0.55" '
                    f'stroke-dasharray="2 3"/>'
                )

    def _series(self) -> None:
        ax, dx = self.ax, self.dx
        taken: list[Box] = []
        radius = 3.5 if max((len(s.points) for s in self.tl.series), default=0) <= 60 else 2.5
        for s in self.tl.series:
            for p in s.points:
                taken.append(
                    Box(dx.x(p.date) - radius, ax.y(p.value) - radius, 2 * radius, 2 * radius)
                )
        for s in self.tl.series:
            colour = COLOURS.get(s.test, "#333")
            pts = " ".join(f"{dx.x(p.date):.1f},{ax.y(p.value):.1f}" for p in s.points)
            self.body.append(
                f'<polyline class="series" data-series="{escape(s.name)}" points="{pts}" '
                f'fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"/>'
            )
            for p in s.points:
                how = f" ({p.how})" if p.how else ""
                self.body.append(
                    f'<circle class="point" cx="{dx.x(p.date):.1f}" cy="{ax.y(p.value):.1f}" '
                    f'r="{radius:g}" fill="{"#fff" if p.computed else colour}" stroke="{colour}" '
                    f'stroke-width="1.5" data-series="{escape(s.name)}" data-test="{s.test}" '
                    f'data-date="{p.date.isoformat()}" data-value="{p.value:g}" '
                    f'data-computed="{str(p.computed).lower()}"><title>{escape(s.name)} '
                    f"{escape(p.shown)} {escape(self.tl.unit)} on {p.date.isoformat()}"
                    f"{escape(how)}</title></circle>"
                )
        for s, p, kind in _labelled(self.tl.series):
            self._value_label(s, p, kind, taken)

    def _value_label(self, s: Series, p: Point, kind: str, taken: list[Box]) -> None:
        px, py = self.dx.x(p.date), self.ax.y(p.value)
        text = f"{p.shown}{'*' if p.computed else ''}"
        w, h = text_width(text, SMALL) + 2, SMALL + 3
        spots = [
            (px - w / 2, py + 6) if kind == "nadir" else (px - w / 2, py - 6 - h),
            (px - w / 2, py - 6 - h) if kind == "nadir" else (px - w / 2, py + 6),
            (px + 7, py - h / 2), (px - 7 - w, py - h / 2),
            (px + 5, py + 4), (px + 5, py - 4 - h), (px - 5 - w, py - 4 - h), (px - 5 - w, py + 4),
        ]  # fmt: skip
        box = place([Box(x, y, w, h) for x, y in spots], taken, self.frame)
        weight = ' font-weight="bold"' if kind == "nadir" else ""
        self.body.append(
            f'<text class="value-label" data-series="{escape(s.name)}" data-kind="{kind}" '
            f'data-date="{p.date.isoformat()}" x="{box.x + w / 2:.1f}" y="{box.y + h - 3:.1f}" '
            f'text-anchor="middle" fill="{COLOURS.get(s.test, "#333")}" font-size="{SMALL:g}"'
            f"{weight}{HALO}>{escape(text)}</text>"
        )

    # --- right: the words of the lines and bands -----------------------------------------------

    def _gutter(self) -> None:
        f, ax = self.frame, self.ax
        x = f.x + f.w + 12
        room = self.lay.gutter - 16
        items: list[tuple[float, list[str], str, str]] = []
        for lim in self.tl.limits:
            lines = _wrap([lim.text] + ([lim.note] if lim.note.endswith("range") else []), room)
            items.append((ax.y(lim.value), lines, COLOURS.get(lim.test, "#333"), "limit"))
        for band in self.tl.bands:
            top, bottom = ax.y(band.high), ax.y(band.low) if band.low else f.y + f.h
            lines = _wrap([band.text, _band_range(band)], room)
            items.append(((top + bottom) / 2, lines, BAND_SHADES[0], "band"))
        items.sort(key=lambda item: item[0])
        heights = [len(lines) * (SMALL + 1) + 3 for _, lines, _, _ in items]
        tops = spread([i[0] for i in items], heights, f.y - 10, f.y + f.h + 10)
        for (wanted, lines, colour, kind), top, h in zip(items, tops, heights, strict=True):
            centre = top + h / 2
            if abs(centre - wanted) > 3:
                self.body.append(
                    f'<polyline class="leader" points="{f.x + f.w:.1f},{wanted:.1f} '
                    f'{x - 8:.1f},{wanted:.1f} {x - 3:.1f},{centre:.1f}" fill="none" '
                    f'stroke="{colour}" stroke-opacity="0.6"/>'
                )
            spans = "".join(
                f'<tspan x="{x:.1f}" dy="{0 if i == 0 else SMALL + 1:g}">{escape(line)}</tspan>'
                for i, line in enumerate(lines)
            )
            self.body.append(
                f'<text class="threshold-label" data-kind="{kind}" x="{x:.1f}" '
                f'y="{top + SMALL:.1f}" fill="{colour}" font-size="{SMALL:g}">{spans}</text>'
            )

    # --- below: dates, drugs, findings ---------------------------------------------------------

    def _date_ticks(self) -> None:
        dx, y = self.dx, self.y
        days = dx.ticks(min_gap=text_width("2025-01-01", SMALL) + 24) or [dx.first]
        for day in days:
            x = dx.x(day)
            self.body.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y:.1f}" y2="{y + 4:.1f}" stroke="#999"/>'
                f'<text class="date-tick" x="{x:.1f}" y="{y + 16:.1f}" text-anchor="middle" '
                f'fill="#555" font-size="{SMALL:g}">{day.isoformat()}</text>'
            )
        self.y += 24

    def _exposures(self) -> None:
        if not self.tl.exposures:
            return
        self._lane_title("Drug exposures")
        dx, f = self.dx, self.frame
        for e in self.tl.exposures:
            x0 = dx.x(e.start) if e.start and e.start >= dx.first else f.x
            x1 = dx.x(e.stop) if e.stop and e.stop <= dx.last else f.x + f.w
            outside = (e.stop is not None and e.stop < dx.first) or (
                e.start is not None and e.start > dx.last
            )
            text = fit_text(f"{e.name}: {_course_dates(e, dx)}", self.lay.width - 8)
            w = text_width(text, SMALL)
            tx = min(max(x0, 4.0), self.lay.width - 4 - w)
            self.body.append(
                f'<text class="exposure-label" x="{max(tx, 4.0):.1f}" y="{self.y + 11:.1f}" '
                f'font-size="{SMALL:g}">{escape(text)}</text>'
            )
            if not outside:
                known = e.start is not None
                self.body.append(
                    f'<rect class="exposure" x="{x0:.1f}" y="{self.y + 15:.1f}" '
                    f'width="{max(x1 - x0, 3):.1f}" height="9" rx="2" fill="{DRUG}" '
                    f'fill-opacity="{0.8 if known else 0.35}" data-drug="{escape(e.name)}" '
                    f'data-start="{e.start.isoformat() if e.start else ""}" '
                    f'data-stop="{e.stop.isoformat() if e.stop else ""}">'
                    f"<title>{escape(text)}</title></rect>"
                )
            self.y += 30

    def _markers(self) -> None:
        if not self.tl.markers:
            return
        self._lane_title("Findings and conditions with a date")
        dx, f = self.dx, self.frame
        rows: list[list[Box]] = []
        row_h = 18.0
        start = self.y
        for m in sorted(self.tl.markers, key=lambda m: (m.since, m.text)):
            inside = dx.contains(m.since)
            x = dx.x(m.since) if inside else (f.x if m.since < dx.first else f.x + f.w)
            text = fit_text(m.text + ("" if inside else " (off the chart)"), self.lay.width - 24)
            w = text_width(text, SMALL) + 12
            bx = x - 5 if x + w <= self.lay.width - 4 else x - w + 5
            row = next(
                (i for i, r in enumerate(rows) if not any(Box(bx, 0, w, 1).overlaps(b) for b in r)),
                len(rows),
            )
            if row == len(rows):
                rows.append([])
            rows[row].append(Box(bx, 0, w, 1))
            y = start + row * row_h
            colour = _marker_colour(m)
            if m.until is not None and inside:
                x1 = dx.x(min(m.until, dx.last))
                self.body.append(
                    f'<line x1="{x:.1f}" x2="{x1:.1f}" y1="{y + 6:.1f}" y2="{y + 6:.1f}" '
                    f'stroke="{colour}" stroke-width="3" stroke-opacity="0.5"/>'
                )
            anchor, tx = ("start", x + 7) if bx == x - 5 else ("end", x - 7)
            self.body.append(
                f'<path class="marker" d="M{x:.1f},{y + 1:.1f} l5,9 h-10 z" fill="{colour}" '
                f'data-finding="{escape(m.name)}" data-kind="{m.kind}" '
                f'data-date="{m.since.isoformat()}"><title>{escape(text)}</title></path>'
                f'<text class="marker-label" x="{tx:.1f}" y="{y + 10:.1f}" text-anchor="{anchor}" '
                f'fill="{colour}" font-size="{SMALL:g}">{escape(text)}</text>'
            )
        self.y = start + len(rows) * row_h

    def _lane_title(self, text: str) -> None:
        self.y += 8
        self.body.append(
            f'<text class="lane-title" x="4" y="{self.y + 10:.1f}" fill="#555" '
            f'font-size="{SMALL:g}" font-weight="bold">{escape(text)}</text>'
        )
        self.y += 16


def _labelled(series: Sequence[Series]) -> list[tuple[Series, Point, str]]:
    """Which values are written on the chart: every value of a short series, else each series'
    nadir (the earliest of equal lows) and its latest value; nadirs first, so they get the
    best spots."""
    nadirs, others = [], []
    for s in series:
        if not s.points:
            continue
        low = min(s.points, key=lambda p: (p.value, p.date))
        nadirs.append((s, low, "nadir"))
        rest = list(s.points) if len(s.points) <= 3 else [s.points[-1]]
        others += [(s, p, "latest" if p is s.points[-1] else "value") for p in rest if p is not low]
    return nadirs + others


def _wrap(parts: list[str], room: float) -> list[str]:
    width = max(8, int(room / (SMALL * 0.62)))
    return [line for part in parts for line in textwrap.wrap(part, width)]


def _band_range(band: Band) -> str:
    name = band.test.upper()
    if band.low is None:
        return f"{name} below {number(band.high)}"
    return f"{name} {number(band.low)} to {number(band.high)}"


def _band_words(band: Band) -> str:
    return f"{band.text}: {_band_range(band)} x 10^9/L"


def _limit_words(lim: Limit) -> str:
    return f"{lim.text} x 10^9/L" + (f" ({lim.note})" if lim.note else "")


def _marker_colour(m: Marker) -> str:
    return MARKER.get(m.name, OTHER_MARKER)


def _course_dates(e: Exposure, dx: DateAxis) -> str:
    if e.start is None:
        return "start unknown, " + (f"stopped {e.stop.isoformat()}" if e.stop else "ongoing")
    stop = e.stop.isoformat() if e.stop else "ongoing"
    before = " (began before the chart)" if e.start < dx.first else ""
    return f"{e.start.isoformat()} to {stop}{before}"


def fit_text(text: str, room: float, size: float = SMALL) -> str:
    """``text`` cut with an ellipsis to fit ``room`` pixels."""
    if text_width(text, size) <= room:
        return text
    keep = max(1, int(room / (size * 0.62)) - 1)
    return text[:keep].rstrip() + "…"
