# SPDX-License-Identifier: Apache-2.0
"""Inline SVG charts of the batch report: no JavaScript, no network, every text escaped (the
patient timeline is :mod:`engine.report.timeline`).

Pure functions from numbers to an ``<svg>`` string. Every mark carries its number in a
``data-value`` attribute and a ``<title>`` tooltip, so a reader can hover and a test can check
what is drawn against the data it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
BAR = "#2f6f9f"
HOT = (47, 111, 159)


def _svg(name: str, width: float, height: float, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(name)}" role="img" '
        f'aria-label="{escape(label)}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def hbar_chart(name: str, label: str, rows: Sequence[tuple[str, float | None, str]]) -> str:
    """Horizontal bars of ratios 0..1: ``rows`` are (label, ratio or None, note)."""
    left, width, step = 230.0, 320.0, 20.0
    body = [_text(left + width * t, 12, f"{t:.0%}", "middle", ' fill="#666"') for t in (0, 0.5, 1)]
    for i, (text, value, note) in enumerate(rows):
        y = 20 + i * step
        body.append(_text(left - 6, y + 13, text, "end"))
        if value is None:
            body.append(_text(left + 4, y + 13, "n/a", extra=' fill="#999"'))
            continue
        body.append(
            f'<rect class="bar" x="{left:.1f}" y="{y + 3:.1f}" '
            f'width="{max(width * value, 0.5):.1f}" height="{step - 6:.1f}" fill="{BAR}" '
            f'data-label="{escape(text)}" data-value="{value:.4f}">'
            f"<title>{escape(text)}: {value:.1%} {escape(note)}</title></rect>"
        )
        body.append(_text(left + width * value + 4, y + 13, f"{value:.0%} {note}"))
    return _svg(name, left + width + 110, 30 + step * len(rows), label, body)


def heatmap(
    name: str, label: str, rows: Sequence[str], cols: Sequence[str], counts: Sequence[Sequence[int]]
) -> str:
    """A matrix of counts as shaded cells, rows down the left, columns rotated along the top."""
    cell, left, top = 22.0, 200.0, 170.0
    peak = max((v for row in counts for v in row), default=0) or 1
    body = []
    for j, col in enumerate(cols):
        x = left + j * cell + cell / 2
        body.append(
            f'<text transform="translate({x + 4:.1f},{top - 6:.1f}) rotate(-60)">'
            f"{escape(col)}</text>"
        )
    for i, row in enumerate(rows):
        y = top + i * cell
        body.append(_text(left - 6, y + 15, row, "end"))
        for j, value in enumerate(counts[i]):
            shade = 1 - value / peak
            rgb = ",".join(str(round(c + (255 - c) * shade)) for c in HOT)
            body.append(
                f'<rect class="cell" x="{left + j * cell:.1f}" y="{y:.1f}" '
                f'width="{cell - 1:.1f}" height="{cell - 1:.1f}" fill="rgb({rgb})" '
                f'data-row="{escape(row)}" data-col="{escape(cols[j])}" '
                f'data-value="{value}"><title>expected {escape(row)}, ranked first '
                f"{escape(cols[j])}: {value}</title></rect>"
            )
            if value:
                colour = "#fff" if shade < 0.5 else "#000"
                body.append(
                    _text(
                        left + j * cell + cell / 2,
                        y + 15,
                        str(value),
                        "middle",
                        f' fill="{colour}" font-size="10"',
                    )
                )
    return _svg(name, left + cell * len(cols) + 130, top + cell * len(rows) + 10, label, body)


def vbar_chart(name: str, label: str, bars: Sequence[tuple[str, int]]) -> str:
    """Vertical bars of counts (a histogram with named bins)."""
    step, base, height = 70.0, 190.0, 150.0
    peak = max((v for _, v in bars), default=0) or 1
    body = [f'<line x1="30" y1="{base}" x2="{30 + step * len(bars)}" y2="{base}" stroke="#999"/>']
    for i, (text, value) in enumerate(bars):
        x, h = 40 + i * step, height * value / peak
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" width="{step - 20:.1f}" '
            f'height="{max(h, 0.5):.1f}" fill="{BAR}" data-label="{escape(text)}" '
            f'data-value="{value}"><title>{escape(text)}: {value}</title></rect>'
        )
        body.append(_text(x + (step - 20) / 2, base - h - 4, str(value), "middle"))
        body.append(_text(x + (step - 20) / 2, base + 15, text, "middle"))
    return _svg(name, 50 + step * len(bars), base + 25, label, body)
