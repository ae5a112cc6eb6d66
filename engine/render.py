# SPDX-License-Identifier: Apache-2.0
"""Plain-text renderings of a :class:`~engine.differential.Differential`; only the CLI prints.

:func:`consult_note` is what a clinician reads in thirty seconds (at most :data:`NOTE_LINES`
lines): the dated counts, the alerts with the dated values they rest on, the findings, the top
three causes with their probability and two strongest reasons, the top cause's next steps, the
disclaimer. :func:`full_note` is the complete note. The helpers that word a fact (its unit, its
date: :func:`value_text`, :func:`finding_text`, :func:`inputs_of`) are shared with the CDS cards
and the HTML report, so that every output words a fact the same way.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from engine.differential import (
    Alert,
    Candidate,
    Citation,
    Differential,
    FactRef,
)
from engine.wording import (
    asked,
    count_rows,
    dated_number,
    finding_text,
    inputs_of,
    likelihood,
    lr_brief,
    lr_text,
    percent,
    resulted_text,
    unit_of,
    value_text,
    words,
)

WIDTH = 100
#: The short note never runs longer than this (a test holds it over every bundled case).
NOTE_LINES = 40
TOP_CAUSES, REASONS = 3, 2


@dataclass(frozen=True)
class _Room:
    """How many lines each part of the short note may take; tried from the roomiest to the
    tightest until the note fits in :data:`NOTE_LINES` lines (blank lines between sections go
    first, then the reasons of the lower causes, then the rest)."""

    blanks: bool
    alert: int
    findings: int
    top_reason: int
    reason: int
    steps: int
    step: int


_ROOMS = tuple(_Room(*r) for r in (
    (True, 3, 3, 2, 2, 3, 2), (False, 3, 3, 2, 2, 3, 2), (False, 3, 2, 2, 1, 3, 2),
    (False, 2, 2, 2, 1, 3, 1), (False, 2, 2, 1, 1, 2, 1), (False, 1, 1, 1, 1, 1, 1),
))  # fmt: skip


def consult_note(d: Differential) -> str:
    """The thirty-second note (``leukodx diagnose``): at most :data:`NOTE_LINES` lines for every
    bundled case; ``--full`` gives :func:`full_note`, ``--explain`` the whole chain."""
    for room in _ROOMS:
        lines = _short_note(d, room)
        if len(lines) <= NOTE_LINES:
            break
    return "\n".join(lines)


def _short_note(d: Differential, room: _Room) -> list[str]:
    kb = d.knowledge_base
    head = (
        f"leukodx {d.engine.version}: {d.patient_id or 'patient'} as of {d.as_of} "
        f"(knowledge base {kb.name} {kb.version})"
    )
    sections = [_clip(head, "", "", 2, "  "), _counts(d)]
    if d.alerts:
        sections.append(["ALERTS", *(x for a in d.alerts for x in _alert(d, a, room))])
    if d.findings:
        text = "; ".join(finding_text(f) for f in d.findings)
        sections.append(_clip("FINDINGS: ", text, "", room.findings, "  "))
    sections.append(_differential(d, room))
    if d.top is not None:
        sections.append(_next_steps(d.top, room, unread=d.unknown_medications))
    tail = []
    if d.unknown_medications:
        tail += _clip("Not in the drug lexicon (not used): ", ", ".join(d.unknown_medications),
                      "", 2, "  ")  # fmt: skip
    if d.ignored_inputs:
        tail += _unused(d, limit=3, more="--json or --full")
    tail.append("More: --full (every reason, step and reference); --explain CAUSE (its chain).")
    sections.append([*tail, *textwrap.wrap(d.disclaimer, WIDTH)])
    out: list[str] = []
    for section in sections:
        out += ([""] if out and room.blanks else []) + section
    return out


def _unused(d: Differential, *, limit: int, more: str) -> list[str]:
    """The inputs that were not used, each with why (the first ``limit`` of them): a count or
    a temperature given but unusable is named, not hidden behind a number."""
    n = len(d.ignored_inputs)
    out = [f"Inputs not used ({n}):"]
    for item in d.ignored_inputs[:limit]:
        out += _clip(f"  - {item.item}: {item.reason}", "", "", 2, "    ")
    if n > limit:
        out.append(f"  ... and {n - limit} more ({more})")
    return out


def _counts(d: Differential) -> list[str]:
    out = [f"{'COUNTS':<22}{'latest':<21}{'lowest':<21}results"]
    rows, missing = count_rows(d)
    for r in rows:
        label = f"{words(r.test)} ({unit_of(r.test)})"
        shown = [_dated(x) for x in (r.latest, r.lowest)]
        n = "" if r.results is None else r.results
        row = f"  {label:<20}{shown[0]:<21}{shown[1]:<21}{n:<3}"
        out += _clip(f"{row} {r.how}".rstrip(), "", "", 3, " " * 24)
    if missing:
        out += wrap(f"  not measured: {', '.join(missing)}", "    ").split("\n")
    return out


def _dated(ref: FactRef | None) -> str:
    if ref is None:
        return ""
    value, date = dated_number(ref)
    return value + (f" on {date}" if date else "")


def _alert(d: Differential, a: Alert, room: _Room) -> list[str]:
    """An alert with the values it rests on, then its message. With one line to spare the values
    go (the counts table above gives them): cut to one line, a line of values said nothing of
    what the alert is or what to do."""
    # each value once: two course rows of one drug read "clozapine; clozapine" (probe 10)
    on = "; ".join(dict.fromkeys(value_text(r) for r in inputs_of(d, [f.id for f in a.facts])))
    # the values take at most the first line, so that the message keeps the rest: five values
    # of a travel alert left "exclude malaria today" cut off (probe 16)
    room_for_values = WIDTH - len(a.level) - 6
    if len(on) > room_for_values:
        on = on[: room_for_values - 3].rsplit("; ", 1)[0] + "; …"
    head = f"  {a.level.upper()} " + (f"[{on}] " if on and room.alert > 1 else "")
    return _clip(head, a.message, "", room.alert, "    ")


def _differential(d: Differential, room: _Room) -> list[str]:
    if not d.candidates:
        low = {f.fact for f in d.findings if f.value is True}
        if not low & {"leukopenia", "neutropenia"}:
            # a recovered or normal series read only "no cause has supporting evidence", as if
            # a low count were unexplained (probe 16)
            alone = " (a low lymphocyte count alone is not ranked)" if "lymphopenia" in low else ""
            text = (
                "none: the latest white count and ANC are not low by leukodx's limits for this "
                f"age, so no cause is ranked{alone}"
            )  # "for this age": a newborn's alert may call a count low that these limits do not
            if not {"v:wbc", "v:anc"} & {f.id for f in d.facts}:
                # a case with no count at all read "are not low", as if one had been measured
                text = "none: no white count or ANC is on file, so no cause is ranked"
            return _clip("DIFFERENTIAL: ", text, "", 2, "  ")
        return ["DIFFERENTIAL: no cause has supporting evidence"]
    shown = d.candidates[:TOP_CAUSES]
    out = [f"DIFFERENTIAL (top {len(shown)} of {len(d.candidates)} listed; strongest reasons)"]
    for c in shown:
        chance = f": {likelihood(c.probability)} ({percent(c.probability)})"
        out += _clip(f"  {c.rank}. ", c.label, chance, 1, "     ")
        reasons = sorted(c.evidence_for, key=lambda e: (-abs(e.weight), e.rule_id))[:REASONS]
        lines = room.top_reason if c is d.top else room.reason
        for e in reasons:
            out += _clip("     + ", e.statement, f" ({lr_brief(e)})", lines, "       ")
        if not reasons:
            out.append("     (no rule for it fired: listed on its probability alone)")
    return out


def _next_steps(top: Candidate, room: _Room, unread: Sequence[str] = ()) -> list[str]:
    asks = [asked(a.fact) for a in top.ask_next]
    if not top.evidence_for:
        # a cause first on its prior alone has no claim to its own tests: a lone white count of
        # 3.6 led with Duffy genotyping (probe 16); the facts that would rank the causes come first
        head = "NEXT STEPS: no cause has supporting evidence yet; first find out: "
        asks.sort(key=lambda a: a != asked("anc"))  # without a differential nothing is graded
        # a medication name that could not be read may be the cause; naming it comes before a
        # ferritin or an LDH (probe 17: "Xeljanz", then unread, led to "splenomegaly, ferritin")
        asks[:0] = [f"what '{name}' is (not in the drug lexicon)" for name in unread[:2]]
        body = ", ".join(asks) if asks else "more of the patient's results and history"
        tail = f" (steps for {top.label}: --full)"
        return _clip(head, body, tail, 3, "  ")
    n = len(top.next_steps)
    more = f" ({room.steps} of {n}; --full lists all)" if n > room.steps else ""
    out = _clip("NEXT STEPS for ", top.label, more, 2, "  ")
    for s in top.next_steps[: room.steps]:
        out += _clip("  - ", s.text, resulted_text(s), room.step, "    ")
    head = "  unknown facts that would change this most: "
    while len(asks) > 1 and len(head + ", ".join(asks)) > WIDTH:
        asks.pop()  # the least telling: they come most telling first
    out += _clip(head, ", ".join(asks), "", 1, "    ") if asks else []
    return out


def _clip(head: str, body: str, tail: str, lines: int, indent: str) -> list[str]:
    """``head + body + tail`` wrapped to at most ``lines`` lines: when longer, ``body`` is cut at
    a clause if one ends late enough, else at a word, and marked with an ellipsis, so that the
    head and the tail (a level, a likelihood ratio) always show."""

    def wrapped(text: str) -> list[str]:
        return textwrap.wrap(head + text + tail, WIDTH, subsequent_indent=indent,
                             break_on_hyphens=False)  # fmt: skip

    out = wrapped(body)
    kept = body.split(" ")
    while len(out) > lines and kept:
        kept.pop()
        cut = " ".join(kept).rstrip(" ,;:")
        clause = cut.rfind("; ")
        cut = cut[:clause] if clause > 0.6 * len(cut) else cut
        out = wrapped(f"{cut} …")
    return out[:lines]


class Refs:
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
            wrap(f"[{i}] {cite_text(self.by_id[cid])}", "    ")
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


def wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, WIDTH, subsequent_indent=indent, break_on_hyphens=False)


def full_note(d: Differential) -> str:
    """The complete note (``leukodx diagnose --full``)."""
    refs = Refs(d.citations)
    out = [
        f"leukodx {d.engine.version}: differential for {d.patient_id or 'patient'} as of "
        f"{d.as_of} (knowledge base {d.knowledge_base.name} {d.knowledge_base.version}, "
        f"backend {d.engine.backend})",
        wrap(d.disclaimer, ""),
        "",
    ]
    if d.alerts:
        out.append("ALERTS")
        for a in d.alerts:
            out.append(wrap(f"  [{a.level.upper()}] {a.message}{refs.mark(a.citations)}", "    "))
        out.append("")
    out.append("FINDINGS")
    for f in d.findings:
        out.append(wrap(f"  - {finding_text(f)} ({f.statement}){refs.mark(f.citations)}", "    "))
    out.append("")
    out.append("DIFFERENTIAL" if d.candidates else "DIFFERENTIAL: no cause has supporting evidence")
    for c in d.candidates:
        out.extend(_candidate_lines(c, refs))
    out.append("")
    out.extend(_considerations(d, refs))
    if d.unknown_medications:
        out.append(f"Not in the drug lexicon (not used): {', '.join(d.unknown_medications)}")
    if d.ignored_inputs:
        out += _unused(d, limit=len(d.ignored_inputs), more="")
    out += ["", "REFERENCES", *refs.lines(), "", wrap(_currency(d), "")]
    return "\n".join(out)


GROUP_TITLES = {
    "guidelines": "from the guidelines",
    "drug_label": "from the drug label",
    "research": "from the research",
}


def _candidate_lines(c: Candidate, refs: Refs) -> list[str]:
    out = [
        f"  {c.rank}. {c.label}  (probability {percent(c.probability)}; score {c.score:+.2f} "
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
                out.append(wrap(text, "         "))
    for s in c.next_steps:
        out.append(
            wrap(f"     next: {s.text}{refs.mark(s.citations)}{resulted_text(s)}", "       ")
        )
    if c.ask_next:
        asks = ", ".join(
            f"{asked(a.fact)} ({_span(a.could_add, a.could_remove)})" for a in c.ask_next
        )
        out.append(wrap(f"     unknown facts that would change this most: {asks}", "       "))
    return out


def _span(add: float, remove: float) -> str:
    parts = [f"up to {add:+.2f}" if add else "", f"down to {remove:+.2f}" if remove else ""]
    return " / ".join(p for p in parts if p)


def _considerations(d: Differential, refs: Refs) -> list[str]:
    out = []
    for c in d.candidates:
        if c.considerations:
            out.append(f"  {c.label}:")
            out += [
                wrap(f"    - {s.text}{refs.mark(s.citations)}", "      ") for s in c.considerations
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


PATIENT_MIN_PROBABILITY = 0.05
"""A cause the fitted model puts below 5% is not read out to a patient: in the calibration
report's out-of-fold reliability table, causes given under 10% were the expected cause about 1.6%
of the time, and a list of 20 rare diseases alarms more than it informs."""

PATIENT_MAX_CAUSES = 5
#: Below this, the first cause is "unlikely" in the likelihood words, and the note says that
#: none stands out (a patient read "myelodysplastic syndrome" first, at 18%, as the answer).
UNCLEAR_BELOW = 0.33


def patient_candidates(candidates: list[Candidate]) -> list[Candidate]:
    """The causes a patient reads: those with supporting evidence at or above 5%, at most five,
    and the first that has supporting evidence. A cause listed on its probability alone is not
    read out: a well 50-year-old with one white count of 3.6 was shown myelodysplastic syndrome
    and a congenital neutropenia "usually found in babies" (probe 16)."""
    supported = [c for c in candidates if c.evidence_for]
    shown = [c for c in supported if c.probability >= PATIENT_MIN_PROBABILITY]
    return (shown or supported[:1])[:PATIENT_MAX_CAUSES]


def patient_note(d: Differential) -> str:
    """The plain-language summary for ``audience="patient"``: no scores, numbers or references."""
    out = [d.disclaimer, ""]
    if d.alerts:
        out.append("Needs attention now:")
        out += [wrap(f"  - {a.message}", "    ") for a in d.alerts]
        out.append("")
    if d.findings:
        out.append("What the results show:")
        out += [wrap(f"  - {f.statement}", "    ") for f in d.findings]
        out.append("")
    shown = patient_candidates(d.candidates)
    if d.candidates and not shown:
        out.append(
            wrap(
                "No explanation has support yet from the information given: more tests are "
                f"needed before a cause can be named. {len(d.candidates)} possible explanations "
                "were weighed; your clinician can see the list and explain it.",
                "",
            )
        )
    elif d.candidates:
        out.append("Possible explanations, the most likely first:")
        if shown[0].probability < UNCLEAR_BELOW:
            out.append(wrap("  None of these stands out: each is less likely than not, and more "
                            "tests are needed to find the cause.", "  "))  # fmt: skip
        for i, c in enumerate(shown, start=1):  # reading order: unsupported causes are left out
            out.append(wrap(f"  {i}. {c.label} ({likelihood(c.probability)})", "     "))
            if c.summary:
                out.append(wrap(f"     {c.summary}", "     "))
            for e in c.evidence_for:
                out.append(wrap(f"     - {e.statement}", "       "))
        if hidden := len(d.candidates) - len(shown):
            out.append(
                wrap(
                    f"  {hidden} other {'explanation was' if hidden == 1 else 'explanations were'}"
                    " also weighed and found less likely; your clinician can see the full list and"
                    " explain it.",
                    "    ",
                )
            )
    else:
        out.append("No particular explanation stands out from the information given.")
    out += ["", "Please talk these results over with your clinician before making any decision."]
    return "\n".join(out)
