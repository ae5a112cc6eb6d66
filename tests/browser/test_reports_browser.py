# SPDX-License-Identifier: Apache-2.0
"""The HTML reports in a real browser (headless Chromium, Debian package ``chromium``).

Each report is loaded from a file, rendered, and checked: no console error or blocked request,
the charts are in the rendered DOM and not empty, the numbers shown equal the summary JSON.
A screenshot of each page is written to ``artifacts/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from engine.batch.metrics import iter_records, pct, summarize, write_summary
from engine.report.batch import write_batch_report
from engine.report.patient import patient_report
from tests.browser.cdp import BASE_FLAGS
from tests.conftest import ROOT
from tests.unit.test_batch_support import patient
from tests.unit.test_report_html import make_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "artifacts"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
FLAGS = [*BASE_FLAGS, "--enable-logging=stderr", "--v=0"]


def chromium(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="leukodx-chromium-") as profile:
        return subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def console_problems(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line or "Refused to" in line or "Uncaught" in line
    ]


class Dom(HTMLParser):
    """The rendered DOM: each chart's marks, each metric box, and all text."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[dict[str, str]]] = {}
        self.metrics: dict[str, str] = {}
        self.metric_text: dict[str, list[str]] = {}
        self._chart: str | None = None
        self._metric: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "svg" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.charts[self._chart] = []
        elif self._chart and tag in ("rect", "circle", "polyline", "line") and "class" in a:
            self.charts[self._chart].append({"tag": tag, **a})
        if "data-metric" in a:
            self._metric = a["data-metric"]
            self.metrics[self._metric] = a["data-value"]
            self.metric_text[self._metric] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = None

    def handle_data(self, data: str) -> None:
        if self._metric and data.strip():
            self.metric_text[self._metric].append(data.strip())
            if len(self.metric_text[self._metric]) == 2:
                self._metric = None


def render(page: Path, shot: str) -> Dom:
    dumped = chromium(page, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert console_problems(dumped.stderr) == []
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / shot
    target.unlink(missing_ok=True)
    shot_run = chromium(page, f"--screenshot={target}", "--window-size=1200,2600")
    assert shot_run.returncode == 0 and target.stat().st_size > 20_000, shot_run.stderr[-2000:]
    dom = Dom()
    dom.feed(dumped.stdout)
    return dom


def visible(marks: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        m
        for m in marks
        if m["tag"] != "rect" or float(m.get("width", 0)) > 0 and float(m.get("height", 0)) > 0
    ]


def test_batch_report_renders_with_the_summary_numbers(tmp_path: Path, mini_kb: Any) -> None:
    results = make_results(tmp_path / "r.jsonl", mini_kb)
    summary = summarize(iter_records(results))
    buf = io.StringIO()
    write_summary(summary, results, buf)
    doc = json.loads(buf.getvalue())
    page = tmp_path / "report.html"
    with page.open("w", encoding="utf-8") as fh:
        write_batch_report(summary, results, fh)
    dom = render(page, "batch-report.png")
    assert set(dom.charts) == {"per-cause", "confusion", "ranks"}
    for name, marks in dom.charts.items():
        assert visible(marks), f"chart {name} is empty"
    for key in ("n", "top1", "top3", "mrr", "top1_acceptable", "n_failed"):
        assert dom.metrics[key] == str(doc[key])
    for key in ("top1", "top3", "top1_acceptable"):
        assert dom.metric_text[key][0] == pct(doc[key])
    assert dom.metric_text["mrr"][0] == f"{doc['mrr']:.3f}"
    assert dom.metric_text["n"][0] == str(doc["n"])
    cells = {(m["data-row"], m["data-col"]): int(m["data-value"]) for m in dom.charts["confusion"]}
    conf = doc["confusion"]
    for i, row in enumerate(conf["rows"]):
        for j, col in enumerate(conf["columns"]):
            assert cells[(row, col)] == conf["counts"][i][j]
    bars = {m["data-label"]: int(m["data-value"]) for m in dom.charts["ranks"]}
    assert bars == doc["rank_distribution"]
    recall = {
        m["data-label"]: float(m["data-value"])
        for m in dom.charts["per-cause"]
        if m["tag"] == "rect"
    }
    assert recall == {
        c: row["recall_at_1"] for c, row in doc["per_cause"].items() if row["support"]
    }


def test_patient_report_renders_timeline_and_thresholds(tmp_path: Path, mini_kb: Any) -> None:
    data = {
        **patient(9),
        "findings": ["fever"],
        "labs": [
            *patient(9)["labs"],
            {"test": "anc", "value": 2.4, "unit": "10^9/L", "date": "2025-01-05"},
            {"test": "wbc", "value": 5.1, "unit": "10^9/L", "date": "2025-01-05"},
            {"test": "hemoglobin", "value": 11.2, "unit": "g/dL", "date": "2025-02-20"},
        ],
    }
    page = tmp_path / "patient.html"
    page.write_text(patient_report(data, kb=mini_kb), encoding="utf-8")
    dom = render(page, "patient-report.png")
    assert set(dom.charts) == {"timeline"}  # the last drawn layout (both have the same marks)
    marks = dom.charts["timeline"]
    anc = [m for m in marks if m["tag"] == "circle" and m.get("data-series") == "ANC"]
    assert sorted(float(m["data-value"]) for m in anc) == [0.3, 2.4]
    limits = {m["data-test"]: float(m["data-value"]) for m in marks if m["class"] == "limit"}
    assert limits == {"wbc": 4.0, "anc": 1.5}  # the mini knowledge base's lower limits
    assert visible([m for m in marks if m["class"] == "exposure"])


def test_the_console_check_sees_errors(tmp_path: Path) -> None:
    """The check above is not vacuous: a page that logs an error is caught."""
    page = tmp_path / "noisy.html"
    page.write_text('<html><body><script>console.error("boom")</script></body></html>')
    assert any("boom" in line for line in console_problems(chromium(page, "--dump-dom").stderr))
