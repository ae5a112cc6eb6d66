# SPDX-License-Identifier: Apache-2.0
"""The batch report: one self-contained HTML file for a whole run.

Headline metrics, per-cause recall at rank 1, the confusion matrix as a heat map, the rank
distribution, the per-drug view (cases exposed, how often the drug's cause ranked first, alerts
resting on it, median onset), the misses and errors, and for each listed miss its full
explanation in the same file (anchors ``#case-N``). The page is written in a streaming pass over
the result lines, so a large batch does not have to fit in memory; the listed cases are capped
(``max_cases``) to keep the file readable, and the summary JSON has them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from engine.batch.metrics import NONE, Summary, iter_errors, iter_misses, iter_records, pct, score
from engine.differential import DISCLAIMER, Differential
from engine.report import charts
from engine.report.html import differential_html, head

TITLE = "leukodx batch evaluation"
HEADLINE: tuple[tuple[str, str], ...] = (
    ("n", "cases with expected"), ("top1", "top-1"), ("top3", "top-3"), ("mrr", "MRR"),
    ("top1_acceptable", "top-1 incl. acceptable"), ("n_failed", "errors"),
)  # fmt: skip


def write_batch_report(
    summary: Summary, results: str | Path, out: TextIO, *, max_cases: int = 500
) -> None:
    """Write the report for ``results`` (a batch JSONL) and its ``summary``."""
    note = f'<p class="disclaimer" data-role="disclaimer">{escape(DISCLAIMER)}</p>'
    out.write("<!DOCTYPE html>\n" + head(TITLE) + note)
    figures = summary.as_dict()
    out.write(_headline(figures) + _alerts(figures, max_cases) + _charts(figures))
    out.write(_drugs_table(figures))
    out.write(_misses_table(iter_misses(iter_records(results)), summary.misses, max_cases))
    out.write(_errors_table(iter_errors(iter_records(results)), summary.n_failed, max_cases))
    out.write(_definitions(figures))
    out.write("<h2>Explanations of the listed misses</h2>")
    for k, record in enumerate(islice(_missed_records(results), max_cases)):
        out.write(_case_section(k, record))
    out.write(note + "</body></html>\n")


def _headline(d: dict[str, Any]) -> str:
    kb = d.get("knowledge_base") or {}
    boxes = []
    for key, text in HEADLINE:
        value = d[key]
        shown = (
            pct(value)
            if key in ("top1", "top3", "top1_acceptable")
            else ("-" if value is None else (f"{value:.3f}" if key == "mrr" else str(value)))
        )
        raw = "" if value is None else str(value)
        boxes.append(
            f'<div class="metric" data-metric="{key}" data-value="{escape(raw)}">'
            f'<div class="v">{escape(shown)}</div><div class="k">{escape(text)}</div>'
            "</div>"
        )
    source = f"knowledge base {kb.get('name')} {kb.get('version')}" if kb else "no result"
    return (
        f'<p class="muted">{d["n_cases"]} case(s): {d["n_ok"]} ok, {d["n_failed"]} failed; '
        f"{escape(source)}. Definitions are below the tables and in the summary JSON."
        f'</p><div class="metrics">{"".join(boxes)}</div>'
    )


def _alerts(d: dict[str, Any], max_cases: int) -> str:
    """Cases by their most urgent alert, and the critical cases by id: a batch over a lab export
    is a screening, and a febrile neutropenia must not hide among the evaluation figures."""
    a = d["alerts"]
    levels = ", ".join(f"{n} {level}" for level, n in a["cases_by_level"].items())
    parts = [f'<h2>Alerts</h2><p data-role="alert-levels">Cases by their most urgent alert: '
             f"{escape(levels)}.</p>"]  # fmt: skip
    critical = a["critical_cases"][:max_cases]
    if critical:
        rows = "".join(
            f'<tr data-case="{escape(str(c["id"]))}"><td>{escape(str(c["id"]))}</td>'
            f"<td>{escape(', '.join(c['alerts']))}</td></tr>"
            for c in critical
        )
        total = a["cases_by_level"]["critical"]
        shown = f" (the first {len(critical)} of {total})" if total > len(critical) else ""
        parts.append(
            f'<h3>Cases with a critical alert{escape(shown)}</h3><table data-table="critical">'
            f"<thead><tr><th>case</th><th>critical alerts</th></tr></thead><tbody>{rows}"
            "</tbody></table>"
        )
    return "".join(parts)


def _charts(d: dict[str, Any]) -> str:
    rows = [
        (cause, row["recall_at_1"], f"({row['support']})")
        for cause, row in d["per_cause"].items()
        if row["support"]
    ]
    conf = d["confusion"]
    ranks = list(d["rank_distribution"].items())
    parts = ["<h2>Recall at rank 1 by expected cause</h2>"]
    parts.append(
        charts.hbar_chart("per-cause", "recall at rank 1 per cause", rows)
        if rows
        else '<p class="muted">No case has an expected cause.</p>'
    )
    parts.append("<h2>Confusion: expected cause (rows) vs rank-1 cause (columns)</h2>")
    parts.append(
        charts.heatmap(
            "confusion", "confusion matrix", conf["rows"], conf["columns"], conf["counts"]
        )
        if conf["rows"]
        else '<p class="muted">Empty.</p>'
    )
    parts.append("<h2>Rank of the best-ranked expected cause</h2>")
    parts.append(
        charts.vbar_chart("ranks", "rank distribution", ranks)
        if ranks
        else '<p class="muted">Empty.</p>'
    )
    return "".join(parts)


def _drugs_table(d: dict[str, Any]) -> str:
    """One row per known drug (see ``per_drug`` in the definitions), most exposed first."""
    drugs = d.get("per_drug") or {}
    if not drugs:
        return '<h2>Drugs</h2><p class="muted">No case takes a drug the knowledge base knows.</p>'
    rows = []
    for drug, x in drugs.items():
        alerts = ", ".join(f"{escape(k)} ({n})" for k, n in x["alerts"].items()) or "-"
        onset = x["median_onset_days"]
        shown = "-" if onset is None else f"{onset:g} days ({x['onset_cases']})"
        rows.append(
            f'<tr data-role="drug" data-drug="{escape(drug)}"><td>{escape(drug)}</td>'
            f"<td>{x['exposed']}</td><td>{x['ranked_first']} "
            f"({escape(pct(x['ranked_first_share']))})</td><td>{x['cases_with_alert']}</td>"
            f"<td>{alerts}</td><td>{escape(shown)}</td></tr>"
        )
    return (
        "<h2>Drugs</h2><table><tr><th>drug</th><th>cases exposed</th><th>its cause ranked "
        "first</th><th>cases with an alert on it</th><th>alerts</th><th>median onset (cases)"
        f"</th></tr>{''.join(rows)}</table>"
    )


def _misses_table(misses: Iterator[dict[str, Any]], total: int, cap: int) -> str:
    rows = []
    for k, m in enumerate(islice(misses, cap)):
        rows.append(
            f'<tr data-role="miss"><td><a href="#case-{k}">{escape(m["id"])}</a></td>'
            f"<td>{escape(', '.join(m['expected']))}</td>"
            f"<td>{escape(m['top1'] or NONE)}</td>"
            f"<td>{m['rank'] if m['rank'] else 'not ranked'}</td></tr>"
        )
    more = f'<p class="muted">{total - cap} more in the summary JSON.</p>' if total > cap else ""
    if not rows:
        return "<h2>Misses</h2><p>No miss.</p>"
    return (
        f"<h2>Misses ({total})</h2><table><tr><th>case</th><th>expected</th><th>rank 1</th>"
        f"<th>rank of expected</th></tr>{''.join(rows)}</table>{more}"
    )


def _errors_table(errors: Iterator[dict[str, Any]], total: int, cap: int) -> str:
    rows = [
        f'<tr data-role="error"><td>{escape(e["id"])}</td><td>{escape(str(e["field"]))}</td>'
        f"<td>{escape(str(e['message']))}</td></tr>"
        for e in islice(errors, cap)
    ]
    if not rows:
        return "<h2>Errors</h2><p>No error.</p>"
    return (
        f"<h2>Errors ({total})</h2><table><tr><th>case</th><th>field</th><th>message</th>"
        f"</tr>{''.join(rows)}</table>"
    )


def _missed_records(results: str | Path) -> Iterator[dict[str, Any]]:
    for record in iter_records(results):
        sc = score(record)
        if record.get("ok") and sc.expected and sc.rank != 1:
            yield record


def _case_section(k: int, record: dict[str, Any]) -> str:
    d = Differential.model_validate(record["differential"])
    expected = ", ".join(record.get("expected") or [])
    return (
        f'<section class="case" id="case-{k}" data-case="{escape(record["id"])}">'
        f"<h2>{escape(record['id'])}</h2><p>Source {escape(str(record.get('source_file')))}; "
        f"expected <b>{escape(expected)}</b></p>{differential_html(d, f'case-{k}-', level=3)}"
        "</section>"
    )


def _definitions(d: dict[str, Any]) -> str:
    items = "".join(
        f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in d["definitions"].items()
    )
    return f'<h2>Definitions</h2><dl class="definitions">{items}</dl>'
