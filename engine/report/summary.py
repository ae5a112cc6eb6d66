# SPDX-License-Identifier: Apache-2.0
"""The parts of the patient report that read like the consult note: the counts that matter with
their dates, the top three causes with their probability in words and two strongest reasons, the
top cause's next steps, and the derived findings on one line.

The HTML counterpart of :func:`engine.render.consult_note`, worded by the same helpers
(:mod:`engine.wording`), so that the page and the terminal say the same thing the same way.
"""

from __future__ import annotations

from html import escape

from engine.differential import Candidate, Differential, FactRef
from engine.wording import (
    asked,
    count_rows,
    dated_number,
    finding_text,
    likelihood,
    lr_text,
    percent,
    resulted_text,
    unit_of,
    words,
)

TOP_CAUSES, REASONS = 3, 2


def counts_html(d: Differential) -> str:
    """Latest and lowest of each count with their dates, the number of results, and how the ANC
    and ALC were obtained (given, or computed from the WBC and the differential)."""
    found, missing = count_rows(d)
    rows = [
        f'<tr data-count="{r.test}"><th>{escape(words(r.test))} '
        f'<span class="muted">{escape(unit_of(r.test))}</span></th>'
        f"<td>{_dated(r.latest)}</td><td>{_dated(r.lowest)}</td>"
        f"<td>{'' if r.results is None else escape(str(r.results))}</td>"
        f"<td>{escape(r.how)}</td></tr>"
        for r in found
    ]
    if not rows:
        return ""
    absent = f'<p class="muted">Not measured: {escape(", ".join(missing))}.</p>' if missing else ""
    return (
        '<h2>Counts</h2><table class="counts"><tr><th></th><th>latest</th><th>lowest</th>'
        f"<th>results</th><th>how obtained</th></tr>{''.join(rows)}</table>{absent}"
        + unused_html(d)
    )


def unused_html(d: Differential) -> str:
    """The inputs that were not used, each with why: a count or a temperature that was given but
    could not be used must be visible where the counts are read, not only in the JSON."""
    if not d.ignored_inputs:
        return ""
    items = "".join(
        f"<li><b>{escape(i.item)}</b>: {escape(i.reason)}</li>" for i in d.ignored_inputs
    )
    n = len(d.ignored_inputs)
    return (f'<div class="unused" data-role="unused"><h3>Inputs not used ({n})</h3>'
            f"<ul>{items}</ul></div>")  # fmt: skip


def _dated(ref: FactRef | None) -> str:
    if ref is None:
        return ""
    value, date = dated_number(ref)
    return f"<b>{escape(value)}</b>" + (
        f' <span class="muted">on {escape(date)}</span>' if date else ""
    )


def differential_html(d: Differential) -> str:
    """The top three causes, each with its probability in words and percent and its two strongest
    reasons (likelihood ratio and where it comes from), then the top cause's next steps."""
    if not d.candidates:
        return '<h2>Differential</h2><p class="muted">No cause has supporting evidence.</p>'
    shown = d.candidates[:TOP_CAUSES]
    items = "".join(_cause_html(c) for c in shown)
    head = (
        f'<h2>Differential</h2><p class="muted">Top {len(shown)} of {len(d.candidates)} listed '
        "causes, each with its strongest reasons; every cause and reason is listed below.</p>"
    )
    return head + f'<ol class="top-causes">{items}</ol>' + _next_steps_html(d.candidates[0])


def _cause_html(c: Candidate) -> str:
    reasons = sorted(c.evidence_for, key=lambda e: (-abs(e.weight), e.rule_id))[:REASONS]
    lines = (
        "".join(
            f'<li class="for">{escape(e.statement)} <span class="muted">({escape(lr_text(e))})'
            "</span></li>"
            for e in reasons
        )
        or '<li class="muted">No rule for it fired: listed on its probability alone.</li>'
    )
    return (
        f'<li data-cause="{escape(c.cause)}"><b>{escape(c.label)}</b>: '
        f"{escape(likelihood(c.probability))} ({escape(percent(c.probability))})"
        f"<ul>{lines}</ul></li>"
    )


def _next_steps_html(top: Candidate) -> str:
    steps = "".join(f"<li>{escape(s.text + resulted_text(s))}</li>" for s in top.next_steps)
    asks = ", ".join(asked(a.fact) for a in top.ask_next)
    ask = f"<p>Unknown facts that would change this most: {escape(asks)}.</p>" if asks else ""
    if not steps and not ask:
        return ""
    return (
        f"<h3>Next steps for {escape(top.label)}</h3>"
        + (f'<ul class="next-steps">{steps}</ul>' if steps else "")
        + ask
    )


def findings_html(d: Differential) -> str:
    """The derived findings on one line."""
    if not d.findings:
        return ""
    text = "; ".join(finding_text(f) for f in d.findings)
    return f'<h2>Findings</h2><p class="findings-line">{escape(text)}</p>'
