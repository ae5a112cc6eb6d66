# SPDX-License-Identifier: Apache-2.0
"""The per-patient report: the page a clinician opens first.

Alerts on top; a timeline of WBC and ANC (and haemoglobin and platelets when present) with the
knowledge base's thresholds drawn in; one bar per medication course; the ranked differential with
each candidate's evidence for and against and its derivation chain; the numbered references
with PubMed/DOI links; the disclaimer. The thresholds are read from the knowledge base, never
from Python: the lower limits of normal from ``kb.yaml`` parameters (``<test>_lln``, and the
Duffy-null ones when the patient is Duffy-null) and the cut-offs from the ``lt`` tests of the
rules that derive a level (a grade or a severity: any derived value that is not a plain
true/false) from the count.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from engine.api import diagnose
from engine.backends.base import DEFAULT_BACKEND
from engine.differential import Differential
from engine.fhir import convert as fhir
from engine.kb.load import KnowledgeBase, load_knowledge_base
from engine.kb.schema import Derive
from engine.kb.yamlio import load_patient_file
from engine.patient import PatientFacts, parse_patient
from engine.report import charts
from engine.report.html import differential_parts, page

#: Lab tests drawn on the timeline, in panel order (the first two always, when dated).
TIMELINE_TESTS: tuple[str, ...] = ("wbc", "anc", "hemoglobin", "platelets")


def thresholds(
    kb: KnowledgeBase, test: str, *, duffy_null: bool = False, age: float | None = None
) -> list[charts.Line]:
    """The reference lines for ``test``: its LLN parameter (for the patient's age) and the
    grade/severity cut-offs."""
    lines: dict[float, list[str]] = {}
    suffix = "_duffy_null" if duffy_null else ""
    for name in (f"{test}_lln{suffix}", f"{test}_lln"):
        if name in kb.manifest.parameters:
            lines.setdefault(kb.parameter(name, age=age), []).append(f"LLN ({name})")
            break
    for rule in sorted(kb.rules, key=lambda r: r.id):
        effect = rule.then
        if not isinstance(effect, Derive) or isinstance(effect.value, bool):
            continue
        for value in _cut_offs(rule.branches, test):
            text = f"{effect.fact} {effect.value}"
            if text not in lines.setdefault(value, []):
                lines[value].append(text)
    return [charts.Line(v, "; ".join(t)) for v, t in sorted(lines.items(), reverse=True)]


def _cut_offs(branches: Any, test: str) -> list[float]:
    out = []
    for branch in branches:
        for literal in branch:
            atom = literal.atom
            if literal.negated or atom.kind != "fact" or atom.name != test:
                continue
            out += [
                float(t.value)
                for t in atom.tests
                if t.op == "lt"
                and t.field == "value"
                and isinstance(t.value, (int, float))
                and not isinstance(t.value, bool)
            ]
    return out


def patient_report(
    facts: dict[str, Any] | str | Path, *, kb: KnowledgeBase | str | Path | None = None,
    backend: str = DEFAULT_BACKEND, today: dt.date | None = None,
) -> str:  # fmt: skip
    """The HTML page for one patient or case file (raises like :func:`engine.api.diagnose`)."""
    knowledge = kb if isinstance(kb, KnowledgeBase) else load_knowledge_base(kb)
    today = today or dt.date.today()
    data = load_patient_file(facts) if isinstance(facts, (str, Path)) else facts
    if fhir.is_fhir(data):  # a FHIR Bundle: draw the contract facts it converts to
        data = fhir.from_fhir(data).facts
    d = diagnose(data, kb=knowledge, backend=backend, today=today)
    patient = parse_patient(data, today=today)
    return render_patient(d, patient, knowledge)


def render_patient(d: Differential, patient: PatientFacts, kb: KnowledgeBase) -> str:
    """Alerts, timeline, differential with evidence and chains, findings, references."""
    parts = differential_parts(d, "p-", level=2)
    body = [
        parts["meta"],
        parts["alerts"],
        "<h2>Timeline</h2>",
        timeline_html(patient, kb, dt.date.fromisoformat(d.as_of)),
        parts["candidates"],
        parts["findings"],
        parts["references"],
    ]
    return page(f"leukodx patient report: {d.patient_id or 'patient'}", body)


def timeline_html(patient: PatientFacts, kb: KnowledgeBase, as_of: dt.date) -> str:
    """Lab panels and medication bars on one shared date axis."""
    series = {t: _points(patient, t) for t in TIMELINE_TESTS}
    series = {t: pts for t, pts in series.items() if pts}
    if not series:
        return '<p class="muted">No dated results to draw.</p>'
    dates = [d for pts in series.values() for d, _ in pts] + [as_of]
    dates += [x for m in patient.medications for x in (m.start, m.stop) if x is not None]
    axis = charts.TimeAxis(min(dates), max(dates), left=150.0, width=560.0)
    duffy = patient.duffy_null is True
    units = {lab.test: lab.unit for lab in patient.labs}
    parts = []
    for test, pts in series.items():
        s = charts.Series(test.upper() if len(test) <= 3 else test, units.get(test, ""), tuple(pts))
        lines = thresholds(kb, test, duffy_null=duffy, age=patient.age)
        parts.append(
            charts.line_panel(
                axis, [s], lines, f"timeline-{test}", f"{test} over time with thresholds"
            )
        )
    spans = [charts.Span(m.name, m.start, m.stop) for m in patient.medications]
    if spans:
        parts.append("<h3>Medications</h3>")
        parts.append(charts.span_panel(axis, spans, "medications", "medication exposure"))
    return "".join(parts)


def _points(patient: PatientFacts, test: str) -> list[tuple[dt.date, float]]:
    pts = [
        (lab.date, float(lab.value))
        for lab in patient.labs
        if lab.test == test and lab.date is not None and isinstance(lab.value, (int, float))
    ]
    return sorted(pts)
