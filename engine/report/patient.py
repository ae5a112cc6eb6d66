# SPDX-License-Identifier: Apache-2.0
"""The per-patient report: the page a clinician opens first.

Top to bottom: the alerts with the dated values they rest on; the counts that matter (latest and
lowest, with dates, and how the ANC was obtained); the timeline (:mod:`engine.report.timeline`:
WBC, ANC and ALC on a log axis with the knowledge base's reference lines and bands, drug
exposures, dated findings); the differential as the consult note gives it (top three causes with
their probability in words and two strongest reasons, next steps); the derived findings; then
every listed cause with all its evidence and derivation chains, and the numbered references;
the disclaimer at the top and the bottom.

The drawn counts are the engine's own series: results after ``as_of`` are left out, several
results on one date count as their minimum, and an ANC or ALC not measured on a date with a WBC
and a differential is computed as WBC x percentage (``engine.series``), drawn as an open circle.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path
from typing import Any

from engine import series as arithmetic
from engine.api import diagnose, read_patient_source
from engine.backends.base import DEFAULT_BACKEND
from engine.differential import Differential
from engine.errors import InputError
from engine.fhir import convert as fhir
from engine.kb.load import KnowledgeBase, load_knowledge_base
from engine.kb.yamlio import describe_shape
from engine.patient import Entry, PatientFacts, parse_patient
from engine.report import limits, summary
from engine.report.html import differential_parts, page
from engine.report.timeline import (
    NARROW,
    WIDE,
    Exposure,
    Marker,
    Point,
    Series,
    Timeline,
    timeline_svg,
)
from engine.wording import words

#: The counts on the timeline, in legend order.
TIMELINE_TESTS: tuple[str, ...] = ("wbc", "anc", "alc")
#: Counts computed from the WBC and a differential percentage when not measured that day (the
#: same arithmetic as engine/facts.py: ANC = WBC x (neutrophil% + band%) / 100).
COMPUTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "anc": (("neutrophil_pct", "band_pct"), ("neutrophils", "bands")),
    "alc": (("lymphocyte_pct",), ("lymphocytes",)),
}
#: Events within this many days of the dated counts (or the counts' own span, if longer) widen
#: the time axis; events further away are drawn at its edge, so that a drug started years
#: earlier does not squash the counts into a corner.
SLACK_DAYS = 28


def patient_report(
    facts: dict[str, Any] | list[Any] | str | Path, *, kb: KnowledgeBase | str | Path | None = None,
    backend: str = DEFAULT_BACKEND, today: dt.date | None = None, back: str | None = None,
) -> str:  # fmt: skip
    """The HTML page for one patient or case file, a FHIR Bundle or NDJSON (a path is read as
    :func:`engine.api.diagnose` reads it; raises like it); ``back`` is a link to the page the
    patient came from."""
    knowledge = kb if isinstance(kb, KnowledgeBase) else load_knowledge_base(kb)
    today = today or dt.date.today()
    data = read_patient_source(facts) if isinstance(facts, (str, Path)) else facts
    if not isinstance(data, (dict, list)):  # a file of one word: not a path to read again
        source = str(facts) if isinstance(facts, (str, Path)) else None
        raise InputError("(top level)", "patient facts must be a mapping",
                         got=describe_shape(data),
                         expected="a dict / YAML mapping / JSON object", source=source)  # fmt: skip
    d = diagnose(data, kb=knowledge, backend=backend, today=today)
    if fhir.is_fhir(data):  # a FHIR Bundle: draw the contract facts it converts to
        data = fhir.from_fhir(data, today=today).facts
    patient = parse_patient(data, today=today)
    return render_patient(d, patient, knowledge, back=back)


def render_patient(
    d: Differential, patient: PatientFacts, kb: KnowledgeBase, *, back: str | None = None
) -> str:
    """The report of :func:`patient_report` from a differential and the patient it came from."""
    parts = differential_parts(d, "p-", level=2)
    nav = (
        f'<p class="nav"><a href="{escape(back, quote=True)}" data-role="back">&larr; Try another '
        "patient</a></p>"
        if back
        else ""
    )
    body = [
        nav,
        parts["meta"],
        parts["alerts"],
        summary.counts_html(d),
        "<h2>Timeline</h2>",
        timeline_html(patient, kb, dt.date.fromisoformat(d.as_of)),
        summary.differential_html(d),
        summary.findings_html(d),
        parts["candidates"].replace(
            "Ranked differential", "Every listed cause, with all its evidence", 1
        ),
        parts["findings"].replace("Derived findings", "How each finding was derived", 1),
        parts["references"],
    ]
    return page(f"leukodx patient report: {d.patient_id or 'patient'}", body)


def build_timeline(patient: PatientFacts, kb: KnowledgeBase, as_of: dt.date) -> Timeline | None:
    """The data of the timeline (None when no WBC, ANC or ALC result is dated by ``as_of``)."""
    drawn = [s for s in (_series(patient, t, as_of) for t in TIMELINE_TESTS) if s.points]
    if not drawn:
        return None
    dates = [p.date for s in drawn for p in s.points]
    first, last = min(dates), max(dates)
    slack = dt.timedelta(days=max(SLACK_DAYS, (last - first).days))
    exposures = tuple(
        Exposure(_drug_label(kb, m.name), m.start, m.stop) for m in patient.medications
    )
    markers = tuple(_markers(patient, as_of))
    events = [x for e in exposures for x in (e.start, e.stop) if x is not None]
    events += [x for m in markers for x in (m.since, m.until) if x is not None]
    near = [x for x in events if first - slack <= x <= last + slack]
    first, last = min([first, *near]), max([last, *near])
    lims = {t: limits.lower_limit(kb, t, patient) for t in (s.test for s in drawn)}
    bands = [b for t in lims for b in limits.bands(kb, t, patient, lims[t])]
    return Timeline(
        series=tuple(drawn),
        limits=tuple(lim for lim in lims.values() if lim is not None),
        bands=tuple(bands),
        exposures=exposures,
        markers=markers,
        first=first,
        last=last,
    )


def timeline_html(patient: PatientFacts, kb: KnowledgeBase, as_of: dt.date) -> str:
    """The timeline in its wide and narrow layouts (CSS shows the one that fits the window),
    then the drawn values as a table for reading and copying."""
    tl = build_timeline(patient, kb, as_of)
    if tl is None:
        return '<p class="muted">No dated WBC, ANC or ALC result to draw.</p>'
    note = ""
    if any(p.computed for s in tl.series for p in s.points):
        note = (
            '<p class="muted">Open circles and values marked * are computed as WBC x '
            "(neutrophil % + band %) / 100 (ANC) or WBC x lymphocyte % / 100 (ALC) on dates "
            "without a measured count, as the engine computes them.</p>"
        )
    return (
        f'<div class="tl-wide">{timeline_svg(tl, WIDE)}</div>'
        f'<div class="tl-narrow">{timeline_svg(tl, NARROW)}</div>{note}{_values_table(tl)}'
    )


def _drug_label(kb: KnowledgeBase, name: str) -> str:
    """A drug bar's label: the generic name the lexicon reads (``rxnorm:2626`` is clozapine),
    or the name as given when the lexicon does not know it."""
    found = kb.lexicon.resolve(name)
    return found.name if found.known else name


def _series(patient: PatientFacts, test: str, as_of: dt.date) -> Series:
    by_test: dict[str, list[arithmetic.Point]] = {}
    for lab in patient.labs:
        if lab.date is not None and isinstance(lab.value, (int, float)):
            point = arithmetic.Point(lab.date, float(lab.value), lab.comparator)
            by_test.setdefault(lab.test, []).append(point)
    measured = arithmetic.collapse(by_test.get(test, []), as_of)
    points = [Point(p.date, p.value, comparator=p.comparator) for p in measured]
    if test in COMPUTED and "wbc" in by_test:
        pcts, names = COMPUTED[test]
        if pcts[0] in by_test:
            wbc = arithmetic.collapse(by_test["wbc"], as_of)
            computed = arithmetic.absolute_from_percent(
                wbc, [by_test.get(p, []) for p in pcts], test.upper(), names=names
            )
            have = {p.date for p in measured}
            points += [
                Point(day, float(c.value), computed=True, how=c.how)
                for day, c in computed.items()
                if day not in have and day <= as_of
            ]
    return Series(test, words(test), tuple(sorted(points, key=lambda p: p.date)))


def _markers(patient: PatientFacts, as_of: dt.date) -> list[Marker]:
    entries: list[tuple[str, Entry]] = [("finding", e) for e in patient.findings]
    entries += [("condition", e) for e in patient.conditions]
    entries += [("history", e) for e in patient.history]
    out = []
    for kind, e in entries:
        if e.present and e.since is not None and e.since <= as_of:
            until = f" to {e.until.isoformat()}" if e.until else ""
            text = f"{words(e.name)} {e.since.isoformat()}{until}"
            out.append(Marker(e.name, text, e.since, e.until, kind))
    return out


def _values_table(tl: Timeline) -> str:
    rows = "".join(
        f"<tr><td>{p.date.isoformat()}</td><td>{escape(s.name)}</td><td>{escape(p.shown)}</td>"
        f"<td>{escape(p.how) if p.computed else 'given'}</td></tr>"
        for s in tl.series
        for p in s.points
    )
    return (
        '<details class="values"><summary>The drawn values</summary><table><tr><th>date</th>'
        f"<th>count</th><th>x 10^9/L</th><th>how</th></tr>{rows}</table></details>"
    )
