# SPDX-License-Identifier: Apache-2.0
"""The batch and patient reports and their charts: content, escaping, thresholds."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from engine.api import diagnose
from engine.batch.cases import CaseError, CaseInput, error_record, ok_record
from engine.batch.metrics import iter_records, summarize
from engine.report import charts
from engine.report.batch import write_batch_report
from engine.report.limits import bands, lower_limit
from engine.report.patient import patient_report
from tests.unit.test_batch_support import patient

EVIL = "<script>alert(1)</script>"


def make_results(path: Path, kb: Any) -> Path:
    """A small batch output: hits, a miss with a hostile id, an error."""
    cases = [
        ({**patient(1)}, ("clozapine_induced",)),
        ({**patient(2), "id": EVIL}, ("tki_myelosuppression",)),
        ({**patient(3, anc=0.9)}, ("clozapine_induced",)),
    ]
    lines = []
    for data, expected in cases:
        case = CaseInput(str(data["id"]), "in.jsonl", 1, data, expected)
        lines.append(ok_record(case, diagnose(data, kb=kb).to_json(indent=None)))
    lines.append(
        error_record(
            CaseInput("broken", "in.jsonl", 4, None, ("sle",)),
            CaseError("labs[0].unit", "unknown unit <b>"),
        )
    )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def batch_html(tmp_path: Path, mini_kb: Any) -> tuple[str, dict[str, Any]]:
    results = make_results(tmp_path / "r.jsonl", mini_kb)
    summary = summarize(iter_records(results))
    buf = io.StringIO()
    write_batch_report(summary, results, buf)
    return buf.getvalue(), summary.as_dict()


def test_batch_report_shows_the_summary_numbers(batch_html: tuple[str, dict[str, Any]]) -> None:
    html, d = batch_html
    for key in ("n", "top1", "top3", "mrr", "top1_acceptable", "n_failed"):
        shown = re.search(rf'data-metric="{key}" data-value="([^"]*)"', html)
        assert shown is not None and shown.group(1) == str(d[key]), key
    for name in ("per-cause", "confusion", "ranks"):
        assert f'data-chart="{name}"' in html
    assert html.count('data-role="disclaimer"') == 2


def test_batch_report_escapes_text_and_links_misses(batch_html: tuple[str, dict[str, Any]]) -> None:
    html, _ = batch_html
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "unknown unit &lt;b&gt;" in html
    assert '<a href="#case-0">' in html and 'id="case-0"' in html
    assert "<script" not in html.lower()
    assert 'http-equiv="Content-Security-Policy"' in html


def test_patient_report_thresholds_come_from_the_knowledge_base(mini_kb: Any) -> None:
    from engine.patient import parse_patient

    general = parse_patient({"wbc": 2.0, "anc": 0.4})
    duffy = parse_patient({"wbc": 2.0, "anc": 0.4, "duffy_null": True})
    anc = lower_limit(mini_kb, "anc", general)
    assert anc is not None and (anc.value, anc.text) == (1.5, "ANC lower limit 1.5")
    assert [(b.low, b.high, b.text) for b in bands(mini_kb, "anc", general, anc)] == [
        (None, 0.5, "severe neutropenia")
    ]
    duffy_anc = lower_limit(mini_kb, "anc", duffy)
    assert duffy_anc is not None and (duffy_anc.value, duffy_anc.note) == (1.21, "Duffy-null range")
    assert getattr(lower_limit(mini_kb, "wbc", general), "value", None) == 4.0
    assert lower_limit(mini_kb, "platelets", general) is None


def test_patient_report_page(mini_kb: Any) -> None:
    data = {
        **patient(7),
        "id": EVIL,
        "findings": ["fever"],
        "labs": [
            *patient(7)["labs"],
            {"test": "anc", "value": 2.5, "unit": "10^9/L", "date": "2025-01-01"},
            {"test": "platelets", "value": 90, "unit": "10^9/L", "date": "2025-02-20"},
        ],
    }
    html = patient_report(data, kb=mini_kb)
    assert EVIL not in html and "<script" not in html.lower()
    assert html.count('data-chart="timeline"') == 2  # the wide and the narrow layout
    assert 'class="exposure"' in html and 'class="marker"' not in html  # fever has no date
    assert 'class="limit"' in html and 'data-high="0.5"' in html
    assert html.index('data-role="alert"') < html.index('data-chart="timeline"')
    assert html.index('data-chart="timeline"') < html.index("Every listed cause")
    assert 'data-role="evidence-for"' in html and '<details class="chain">' in html
    assert "https://dailymed.nlm.nih.gov/" in html and 'id="p-ref-1"' in html
    assert "not a medical device" in html


def test_patient_report_without_dated_results(mini_kb: Any) -> None:
    html = patient_report({"wbc": 2.0, "anc": 0.4}, kb=mini_kb)
    assert 'data-chart="timeline"' in html  # shorthand: one result dated today


def test_citation_links_are_made_only_for_http() -> None:
    from engine.differential import Citation
    from engine.report.html import citation_html

    c = Citation(id="x", kind="cohort", title="T <i>", pmid="123", doi="10.1/x")
    html = citation_html(c)
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/123/"' in html
    assert 'href="https://doi.org/10.1/x"' in html and "T &lt;i&gt;" in html
    js = citation_html(Citation(id="y", kind="cohort", title="t", url="javascript:alert(1)"))
    assert "href" not in js


def test_charts_carry_their_numbers() -> None:
    svg = charts.hbar_chart("c", "label", [("a", 0.25, "(4)"), ("b", None, "")])
    assert 'data-value="0.2500"' in svg and "n/a" in svg
    heat = charts.heatmap("h", "l", ["r"], ["c1", "c2"], [[0, 3]])
    assert heat.count('class="cell"') == 2 and 'data-value="3"' in heat
    assert charts.vbar_chart("v", "l", [("1", 5)]).count('class="bar"') == 1


def test_patient_report_from_a_fhir_bundle(mini_kb: Any) -> None:
    from tests.conftest import ROOT

    bundle = ROOT / "examples" / "fhir" / "clozapine-patient-bundle.json"
    if not bundle.exists():
        pytest.skip("no FHIR example bundle")
    html = patient_report(bundle, kb=mini_kb)
    assert 'data-chart="timeline"' in html and 'class="exposure"' in html
