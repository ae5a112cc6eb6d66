# SPDX-License-Identifier: Apache-2.0
"""Plain-text renderings of a :class:`~engine.differential.Differential`.

:func:`consult_note` reads like a short consult note (alerts first, then derived findings, the
ranked causes with their "because" lines, next steps and numbered references);
:func:`explain_cause` walks one candidate's evidence back to the input, link by link, with the
citation of every step. Pure functions returning strings: only the CLI prints.
"""

from __future__ import annotations

import textwrap

from engine.differential import Candidate, Citation, Differential, Evidence, FactRef, Link

WIDTH = 100


class _Refs:
    """Numbers citations in order of first use, so the note reads [1], [2], ..."""

    def __init__(self, citations: list[Citation]) -> None:
        self.by_id = {c.id: c for c in citations}
        self.order: list[str] = []

    def mark(self, ids: list[str]) -> str:
        nums = []
        for cid in ids:
            if cid not in self.order:
                self.order.append(cid)
            nums.append(str(self.order.index(cid) + 1))
        return f" [{','.join(nums)}]" if nums else ""

    def lines(self) -> list[str]:
        return [
            _wrap(f"[{i}] {cite_text(self.by_id[cid])}", "    ")
            for i, cid in enumerate(self.order, start=1)
        ]


def cite_text(c: Citation) -> str:
    """One reference in a readable form with its identifiers."""
    parts = [p.strip().rstrip(".") for p in (c.authors, c.title, c.source) if p]
    ids = [
        f"PMID {c.pmid}" if c.pmid else "",
        f"doi:{c.doi}" if c.doi else "",
        c.pmcid or "",
        f"section {c.label_section}" if c.label_section else "",
        c.url if c.url and not (c.pmid or c.doi) else "",
    ]
    return ". ".join(parts) + ". " + "; ".join(i for i in ids if i) + f" ({c.kind})"


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, WIDTH, subsequent_indent=indent, break_on_hyphens=False)


def _value(ref: FactRef) -> str:
    return f"{ref.name} = {ref.value}"


def consult_note(d: Differential) -> str:
    refs = _Refs(d.citations)
    out = [
        f"leukodx {d.engine.version}: differential for {d.patient_id or 'patient'} as of "
        f"{d.as_of} (knowledge base {d.knowledge_base.name} {d.knowledge_base.version}, "
        f"backend {d.engine.backend})",
        _wrap(d.disclaimer, ""),
        "",
    ]
    if d.alerts:
        out.append("ALERTS")
        for a in d.alerts:
            out.append(_wrap(f"  [{a.level.upper()}] {a.message}{refs.mark(a.citations)}", "    "))
        out.append("")
    out.append("FINDINGS")
    for f in d.findings:
        text = f"{f.fact.replace('_', ' ')}: {f.value}"
        out.append(_wrap(f"  - {text} ({f.statement}){refs.mark(f.citations)}", "    "))
    out.append("")
    out.append("DIFFERENTIAL" if d.candidates else "DIFFERENTIAL: no cause has supporting evidence")
    for c in d.candidates:
        out.extend(_candidate_lines(c, refs))
    out.append("")
    out.extend(_considerations(d, refs))
    if d.unknown_medications:
        out.append(f"Not in the drug lexicon (not used): {', '.join(d.unknown_medications)}")
    if d.ignored_inputs:
        out.append(f"Inputs not used: {len(d.ignored_inputs)} (see the JSON output)")
    out += ["", "REFERENCES", *refs.lines(), "", _wrap(_currency(d), "")]
    return "\n".join(out)


GROUP_TITLES = {
    "guidelines": "from the guidelines",
    "drug_label": "from the drug label",
    "research": "from the research",
}


def _candidate_lines(c: Candidate, refs: _Refs) -> list[str]:
    out = [
        f"  {c.rank}. {c.label}  (probability {_percent(c.probability)}; score {c.score:+.2f} "
        f"= prior {c.prior:+.2f} + evidence {c.score - c.prior:+.2f})"
    ]
    for word, items in (("because", c.evidence_for), ("against", c.evidence_against)):
        for group in GROUP_TITLES:
            chosen = [e for e in items if e.group == group]
            if chosen:
                out.append(f"     {word}, {GROUP_TITLES[group]}:")
            for e in chosen:
                text = (
                    f"       {e.statement} ({lr_text(e)}; {e.source_kind}){refs.mark(e.citations)}"
                )
                out.append(_wrap(text, "         "))
    for s in c.next_steps:
        out.append(_wrap(f"     next: {s.text}{refs.mark(s.citations)}", "       "))
    if c.ask_next:
        asks = ", ".join(
            f"{a.fact.replace('_', ' ')} ({_span(a.could_add, a.could_remove)})" for a in c.ask_next
        )
        out.append(_wrap(f"     unknown facts that would change this most: {asks}", "       "))
    return out


def _span(add: float, remove: float) -> str:
    parts = [f"up to {add:+g}" if add else "", f"down to {remove:+g}" if remove else ""]
    return " / ".join(p for p in parts if p)


def _considerations(d: Differential, refs: _Refs) -> list[str]:
    out = []
    for c in d.candidates:
        if c.considerations:
            out.append(f"  {c.label}:")
            out += [
                _wrap(f"    - {s.text}{refs.mark(s.citations)}", "      ") for s in c.considerations
            ]
    return ["CLINICAL CONSIDERATIONS", *out, ""] if out else []


def _currency(d: Differential) -> str:
    kb = d.knowledge_base
    statuses = [r.review_status for r in d.rules_used]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
    return (
        f"Knowledge base {kb.name} {kb.version}, last updated {kb.last_updated or 'unknown'}; "
        f"{len(statuses)} rules contributed ({counts or 'none'})."
    )


def explain_cause(d: Differential, cause: str) -> str:
    """Every step from input to this candidate's score, each with its sources."""
    c = d.candidate(cause)
    if c is None:
        return (
            f"{cause} is not in this differential: no evidence-for rule fired for it.\n"
            f"Candidates: {', '.join(x.cause for x in d.candidates) or 'none'}"
        )
    refs = _Refs(d.citations)
    out = [
        f"{c.label}: rank {c.rank}, score {c.score:+.4f}, probability {_percent(c.probability)}",
        f"  prior log-odds {c.prior:+.2f} (prior probability {c.prior_probability:g})",
    ]
    for title, items in (
        ("Evidence for", c.evidence_for),
        ("Evidence against", c.evidence_against),
    ):
        if items:
            out.append(f"{title}:")
            for e in items:
                out.extend(_evidence_lines(e, refs))
    total = c.prior + sum(e.weight for e in (*c.evidence_for, *c.evidence_against))
    out.append(
        f"Score = {c.prior:+.2f} "
        + " ".join(f"{e.weight:+.4f}" for e in (*c.evidence_for, *c.evidence_against))
        + f" = {total:+.4f}"
    )
    out += ["", "REFERENCES", *refs.lines()]
    return "\n".join(out)


def lr_text(e: Evidence) -> str:
    """The likelihood ratio with where it comes from: 'LR 3 (judgement)', 'LR 4.1 (fitted on 12
    cases; authored 3)'."""
    text = f"LR {e.lr:.3g} ({e.origin}"
    if e.origin == "fitted" and e.prior_lr is not None:
        text += f" on {e.fitted_cases} cases; authored {e.prior_lr:.3g}"
    return text + ")"


def _percent(p: float) -> str:
    return "<0.1%" if p < 0.001 else f"{100 * p:.1f}%" if p < 0.1 else f"{100 * p:.0f}%"


def _evidence_lines(e: Evidence, refs: _Refs) -> list[str]:
    out = [
        _wrap(
            f"  {e.weight:+.4f}  {e.statement}  (rule {e.rule_id}; {lr_text(e)})"
            f"{refs.mark(e.citations)}",
            "         ",
        )
    ]
    for f in e.facts:
        out.append(_wrap(f"         uses {_value(f)}: {f.how}", "           "))
    for link in reversed(e.chain):
        out.extend(_link_lines(link, refs))
    return out


def _link_lines(link: Link, refs: _Refs) -> list[str]:
    used = "; ".join(f"{_value(u)} ({u.how})" for u in link.used)
    return [
        _wrap(
            f"         <- {_value(link.fact)} by rule {link.rule_id}: {link.statement}"
            f"{refs.mark(link.citations)} <- {used}",
            "            ",
        )
    ]


def patient_note(d: Differential) -> str:
    """The plain-language summary for ``audience="patient"``: no scores, numbers or references."""
    out = [d.disclaimer, ""]
    if d.alerts:
        out.append("Needs attention now:")
        out += [_wrap(f"  - {a.message}", "    ") for a in d.alerts]
        out.append("")
    if d.findings:
        out.append("What the results show:")
        out += [_wrap(f"  - {f.statement}", "    ") for f in d.findings]
        out.append("")
    if d.candidates:
        out.append("Possible explanations, the most likely first:")
        for c in d.candidates:
            out.append(_wrap(f"  {c.rank}. {c.label}", "     "))
            if c.summary:
                out.append(_wrap(f"     {c.summary}", "     "))
            for e in c.evidence_for:
                out.append(_wrap(f"     - {e.statement}", "       "))
    else:
        out.append("No particular explanation stands out from the information given.")
    out += ["", "Please talk these results over with your clinician before making any decision."]
    return "\n".join(out)
