# SPDX-License-Identifier: Apache-2.0
"""The patient report's timeline as a browser draws it (headless Chromium over the DevTools
protocol), at a desktop and a phone-sized width, for the three shapes of tests/report: a computed
ANC, a hundredfold range, a single date.

Measured on the rendered page, not estimated: the layout that fits the window is the one shown;
the page does not scroll sideways; no written label (values, lines and bands, dates, drugs,
findings) overlaps another or leaves the chart; the text stays at a readable size. A screenshot
of each is kept in the test's temporary directory (``LEUKODX_DOCS_SCREENSHOTS=1`` also writes
the desktop ones to docs/ for the README).
"""

from __future__ import annotations

import os
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from engine.report.patient import patient_report
from tests.browser.cdp import CHROMIUM, Browser
from tests.conftest import ROOT
from tests.report.timelines import COMPUTED_CASE, SINGLE_DATE, WIDE_RANGE_CASE

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
SOURCES: dict[str, Path | dict[str, Any]] = {
    "computed-anc": COMPUTED_CASE,
    "wide-range": WIDE_RANGE_CASE,
    "single-date": SINGLE_DATE,
}
WIDTHS = {"desktop": (1280, "wide"), "phone": (600, "narrow")}
#: Rendered height of the smallest text (11 px labels) must stay at least this tall.
MIN_TEXT_PX = 10.0
MEASURE = """(() => {
  const svgs = [...document.querySelectorAll('svg[data-chart="timeline"]')]
    .filter(s => s.getBoundingClientRect().width > 0);
  const svg = svgs[0], box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')].map(t => {
    const r = t.getBoundingClientRect();
    return {cls: t.getAttribute('class') || '', text: t.textContent,
            x: r.left, y: r.top, w: r.width, h: r.height,
            size: parseFloat(getComputedStyle(t).fontSize) * box.width / svg.viewBox.baseVal.width};
  });
  const points = [...svg.querySelectorAll('circle.point')].map(c => c.getBoundingClientRect())
    .map(r => ({x: r.left + r.width / 2, y: r.top + r.height / 2}));
  return {shown: svgs.length, layout: svg.dataset.layout,
          svg: {x: box.left, y: box.top, w: box.width, h: box.height},
          texts, points, scroll: document.documentElement.scrollWidth, inner: innerWidth};
})()"""


@pytest.fixture(scope="module")
def browser() -> Any:
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("timeline-pages")
    out = {}
    for name, source in SOURCES.items():
        out[name] = folder / f"{name}.html"
        out[name].write_text(patient_report(source), encoding="utf-8")
    return out


def overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """The area two boxes share (glyph boxes include some leading, so touching is allowed)."""
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(w, 0) * max(h, 0) if w > 1 and h > 2.5 else 0.0


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_timeline_is_readable(
    browser: Browser, pages: dict[str, Path], tmp_path: Path, name: str, width: str
) -> None:
    pixels, layout = WIDTHS[width]
    browser.resize(pixels, 1000)
    browser.open(pages[name].resolve().as_uri())
    m = browser.evaluate(MEASURE)
    shot = tmp_path / f"timeline-{name}-{width}.png"
    frame = m["svg"]
    top = frame["y"] + browser.evaluate("scrollY") - 40
    browser.screenshot(shot, {"x": 0, "y": top, "width": pixels, "height": frame["h"] + 60})
    assert shot.stat().st_size > 10_000
    if os.environ.get("LEUKODX_DOCS_SCREENSHOTS") == "1":
        (ROOT / "docs" / f"timeline-{name}-{width}.png").write_bytes(shot.read_bytes())
    assert m["shown"] == 1 and m["layout"] == layout
    assert m["scroll"] <= m["inner"], "the page scrolls sideways"
    labels = [t for t in m["texts"] if t["text"].strip()]
    for t in labels:
        assert t["x"] >= frame["x"] - 0.5 and t["x"] + t["w"] <= frame["x"] + frame["w"] + 0.5, t
        assert t["y"] >= frame["y"] - 0.5 and t["y"] + t["h"] <= frame["y"] + frame["h"] + 0.5, t
        assert t["size"] >= MIN_TEXT_PX, t
    clashes = [(a["text"], b["text"]) for a, b in combinations(labels, 2) if overlap(a, b) > 0]
    assert clashes == []
    for p in m["points"]:
        assert frame["x"] < p["x"] < frame["x"] + frame["w"]
    assert browser.problems() == []
    assert all(u.startswith("file://") for u in browser.requests())
