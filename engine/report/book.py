# SPDX-License-Identifier: Apache-2.0
"""The knowledge book: the whole knowledge base as one page a clinical reviewer can work through.

``leukodx kb book -o book.html`` writes it. Every cause with its prior, next steps,
considerations, evidence rules and profile; every finding and alert rule; each rule's statement,
conditions, weight with its origin (literature, judgement, or fitted by ``leukodx calibrate``,
with the authored value beside it) and citations with links; every file's review state and
recorded reviews; and, per rule, a place to record a decision. The decisions never leave the
page: a small inline script turns them into ``reviewers:`` entries (YAML that ``leukodx lint``
accepts) to copy or download, with no network access (the page's Content-Security-Policy
forbids every fetch). The page is self-contained: inline CSS and script, no external resource.
"""

from __future__ import annotations

from html import escape

from engine.differential import DISCLAIMER
from engine.differential import Citation as OutCitation
from engine.kb.load import KnowledgeBase
from engine.kb.profiles import is_profile_rule
from engine.kb.review import file_is_approved, is_journal_article, rule_review, rules_by_file
from engine.kb.schema import (
    AddEvidence,
    AllOf,
    AnyOf,
    Atom,
    Cause,
    Condition,
    Derive,
    Not,
    RaiseAlert,
    Rule,
    RuleFile,
)
from engine.report.book_script import SCRIPT
from engine.report.html import CSS, citation_html

#: Extra style: decision controls, review badges and the sticky export panel.
BOOK_CSS = """
.rule{border:1px solid #ddd;border-radius:6px;padding:.4em .8em;margin:.5em 0}
.rule .id{font-family:monospace;color:#444}.when{font-size:.9em;color:#444}
.badge{display:inline-block;border-radius:3px;padding:0 .4em;font-size:.85em}
.approved{background:#e3f4e8;color:#1e6b34}.changes_requested{background:#fdecea;color:#9b2c2c}
.not_reviewed{background:#f0f0f0;color:#555}.origin{font-size:.85em;color:#555}
.decision{margin-top:.3em;font-size:.9em}.decision textarea{width:60%;height:2.2em}
#reviewer input{margin-right:1em}
#export-panel textarea{width:100%;height:14em;font-family:monospace}
nav.toc{columns:3;font-size:.9em}
"""


def knowledge_book(kb: KnowledgeBase) -> str:
    """The knowledge book of ``kb`` as one self-contained HTML document."""
    headers = {h.path: h for h in kb.files}
    grouped = rules_by_file(kb)
    cause_files = {r.then.cause: r.file for r in kb.rules if isinstance(r.then, AddEvidence)}
    title = f"Knowledge book: {kb.name} {kb.version}"
    body = [
        _intro(kb, headers, grouped),
        _reviewer_form(),
        _toc(kb, headers, cause_files),
    ]
    body.append('<h2 id="causes">Causes</h2>')
    for cause in kb.causes.values():
        path = cause_files.get(cause.id, "")
        body.append(_cause_html(kb, cause, headers.get(path), grouped.get(path, [])))
    body.append('<h2 id="finding-alert-files">Findings and alerts</h2>')
    for header in kb.files:
        if header.path not in cause_files.values():
            body.append(_file_html(kb, header, grouped.get(header.path, [])))
    body += [_references(kb), _export_panel()]
    return _page(title, body)


def _page(title: str, body: list[str]) -> str:
    note = f'<p class="disclaimer" data-role="disclaimer">{escape(DISCLAIMER)}</p>'
    head = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        '</title><meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<style>{CSS}{BOOK_CSS}</style></head><body><h1>{escape(title)}</h1>"
    )
    return head + note + "".join(body) + note + f"<script>{SCRIPT}</script></body></html>\n"


def _intro(kb: KnowledgeBase, headers: dict[str, RuleFile], grouped: dict[str, list[Rule]]) -> str:
    rows = []
    for path, header in headers.items():
        rules = grouped.get(path, [])
        states = [rule_review(header, r.id).state for r in rules]
        approved = file_is_approved(header, rules)
        reviews = "; ".join(
            f"{r.name} ({r.role}), {r.date.isoformat()}, {r.decision}, "
            + ("whole file" if r.whole_file else f"{len(r.rules)} rule(s)")
            for r in header.reviewers
        )
        rows.append(
            f'<tr data-file="{escape(path)}" data-approved="{str(approved).lower()}">'
            f"<td>{escape(path)}</td><td>{escape(header.review_status)}</td>"
            f"<td>{len(rules)}</td><td>{states.count('approved')}</td>"
            f"<td>{escape(reviews) or '<span class=muted>no recorded review</span>'}</td>"
            f"<td>{header.review_by.isoformat() if header.review_by else ''}</td></tr>"
        )
    n_approved = sum(file_is_approved(h, grouped.get(p, [])) for p, h in headers.items())
    return (
        f"<p>{len(kb.causes)} causes, {len(kb.rules)} rules, {len(kb.citations)} references. "
        f"Content hash <code>{escape(kb.content_hash[:16])}</code>. "
        f'<span data-summary="approved-files">{n_approved}</span> of {len(headers)} rule files '
        "are approved by a recorded review.</p>"
        "<p>How to review: read each rule with its sources, record a decision (approve, or "
        "request changes with a note), then export the decisions at the bottom of the page. The "
        "export is YAML: append each file's entries to that file's <code>reviewers:</code> list, "
        "set <code>review_status: approved</code> when every rule of the file is approved, and "
        "run <code>leukodx lint --require-approved</code> (CONTRIBUTING.md, "
        "'Reviewing the knowledge base'). Nothing on this page is sent anywhere.</p>"
        '<h2 id="review-state">Review state by file</h2><table><tr><th>file</th>'
        "<th>review status</th><th>rules</th><th>approved rules</th><th>recorded reviews</th>"
        "<th>review by</th></tr>" + "".join(rows) + "</table>"
    )


def _reviewer_form() -> str:
    return (
        '<h2 id="reviewer-section">Reviewer</h2><form id="reviewer" onsubmit="return false">'
        '<label>Name <input id="rev-name" required></label>'
        '<label>Role <input id="rev-role" placeholder="e.g. consultant haematologist" required>'
        '</label><label>Date <input id="rev-date" type="date" required></label></form>'
    )


def _toc(kb: KnowledgeBase, headers: dict[str, RuleFile], cause_files: dict[str, str]) -> str:
    causes = "".join(
        f'<li><a href="#cause-{c.id}">{escape(c.label)}</a></li>' for c in kb.causes.values()
    )
    others = "".join(
        f'<li><a href="#file-{_anchor(p)}">{escape(h.title)}</a></li>'
        for p, h in headers.items()
        if p not in cause_files.values()
    )
    return (
        f'<nav class="toc"><ul>{causes}{others}<li><a href="#references">References</a></li>'
        '<li><a href="#export-panel">Export decisions</a></li></ul></nav>'
    )


def _tests(tests: tuple[str, ...]) -> str:
    """The lab tests that complete a next step, for the reviewer to check against its text."""
    return (
        f' <span class="muted">(completed by: {escape(", ".join(tests))})</span>' if tests else ""
    )


def _cause_html(kb: KnowledgeBase, cause: Cause, header: RuleFile | None, rules: list[Rule]) -> str:
    evidence = [r for r in rules if not is_profile_rule(r.id)]
    profile = [r for r in rules if is_profile_rule(r.id)]
    steps = "".join(
        f"<li>{escape(s.text)} {_cites(s.cite)}{_tests(s.tests)}</li>" for s in cause.next_steps
    )
    cons = "".join(f"<li>{escape(s.text)} {_cites(s.cite)}</li>" for s in cause.considerations)
    return (
        f'<section class="case" id="cause-{cause.id}" data-cause="{cause.id}">'
        f'<h3>{escape(cause.label)} <span class="muted">({cause.id}, {escape(cause.category)})'
        f"</span></h3>{_file_line(header)}"
        f"<p>Prior probability {cause.prior_probability:g} (log-odds in use {cause.prior:+.2f}). "
        f"{escape(cause.prior_basis)} {_cites(cause.prior_cite)}</p>"
        f"<h4>Next steps</h4><ul>{steps}</ul><h4>Clinical considerations</h4><ul>{cons}</ul>"
        f"<h4>Evidence rules ({len(evidence)})</h4>"
        + "".join(_rule_html(kb, r, header) for r in evidence)
        + f"<h4>Profile ({len(profile)})</h4>"
        + "".join(_rule_html(kb, r, header) for r in profile)
        + "</section>"
    )


def _file_html(kb: KnowledgeBase, header: RuleFile, rules: list[Rule]) -> str:
    return (
        f'<section class="case" id="file-{_anchor(header.path)}"><h3>{escape(header.title)}</h3>'
        + _file_line(header)
        + "".join(_rule_html(kb, r, header) for r in rules)
        + "</section>"
    )


def _file_line(header: RuleFile | None) -> str:
    if header is None:
        return ""
    reviewed = header.last_reviewed.isoformat() if header.last_reviewed else "never"
    return (
        f'<p class="muted">File <code>{escape(header.path)}</code>, version '
        f"{escape(header.version)}, review status {escape(header.review_status)}, last reviewed "
        f"{reviewed}.</p>"
    )


def _rule_html(kb: KnowledgeBase, rule: Rule, header: RuleFile | None) -> str:
    review = rule_review(header, rule.id)
    decided = (
        f" by {escape(review.review.name)} on {review.review.date.isoformat()}"
        if review.review
        else ""
    )
    notes = f" ({escape(review.review.notes)})" if review.review and review.review.notes else ""
    return (
        f'<div class="rule" data-rule="{escape(rule.id)}" data-file="{escape(rule.file)}">'
        f'<span class="id">{escape(rule.id)}</span> '
        f'<span class="badge {review.state}" data-state="{review.state}">'
        f"{review.state.replace('_', ' ')}</span>{decided}{notes}"
        f"<p>{escape(rule.statement)}</p>"
        f'<p class="when">When: {escape(_conditions(rule.when))}</p>'
        f"<p>{_effect(rule)}</p>"
        f"<p>Sources: {_cites(rule.cite)}</p>" + _decision(rule) + "</div>"
    )


def _effect(rule: Rule) -> str:
    then = rule.then
    if isinstance(then, Derive):
        return f"Derives <code>{escape(then.fact)} = {escape(str(then.value))}</code>."
    if isinstance(then, RaiseAlert):
        return f"Alert <code>{escape(then.alert)}</code> ({then.level}): {escape(then.message)}"
    side = "for" if then.lr > 1 else "against"
    origin = {
        "literature": "literature (a figure quoted from a cited source)",
        "judgement": "judgement (a clinician's estimate)",
        "fitted": "fitted to the development cases (rules/fitted.yaml)",
    }[then.origin]
    fitted = (
        f"; authored LR {then.prior_lr:g}, fitted on {then.fitted_cases} cases"
        if then.origin == "fitted" and then.prior_lr is not None
        else ""
    )
    return (
        f'Evidence <span class="{side}">{side}</span> <code>{then.cause}</code>: likelihood '
        f'ratio <b data-lr="{then.lr:g}">{then.lr:g}</b> <span class="origin" '
        f'data-origin="{then.origin}">origin: {origin}{fitted}</span>. Basis: '
        f"{escape(rule.weight_basis or '')}"
    )


def _decision(rule: Rule) -> str:
    rid = escape(rule.id)
    return (
        f'<div class="decision"><label>Decision <select data-decision="{rid}">'
        '<option value="">(none)</option><option value="approved">approve</option>'
        '<option value="changes_requested">request changes</option></select></label> '
        f'<label>Notes <textarea data-notes="{rid}"></textarea></label></div>'
    )


def _conditions(cond: Condition) -> str:
    if isinstance(cond, Atom):
        return cond.describe()
    if isinstance(cond, Not):
        return f"not ({_conditions(cond.child)})"
    joined = "; ".join(_conditions(c) for c in cond.children)
    if isinstance(cond, AnyOf):
        return f"any of ({joined})"
    assert isinstance(cond, AllOf)
    return joined


def _cites(ids: tuple[str, ...]) -> str:
    return ", ".join(f'<a href="#ref-{escape(c)}">[{escape(c)}]</a>' for c in ids)


def _references(kb: KnowledgeBase) -> str:
    items = []
    for c in sorted(kb.citations.values(), key=lambda c: c.id):
        flag = (
            ' <span class="badge changes_requested">journal article without PMID or DOI</span>'
            if is_journal_article(c) and not (c.pmid or c.doi or c.pmcid)
            else ""
        )
        grade = f" Evidence grade: {escape(c.evidence_grade)}." if c.evidence_grade else ""
        seen = f'<br><span class="muted">Seen: {escape(c.verified)}</span>' if c.verified else ""
        items.append(
            f'<li id="ref-{escape(c.id)}"><b>{escape(c.id)}</b>: '
            f"{citation_html(OutCitation.model_validate(c.published()))}{flag}{grade}{seen}</li>"
        )
    return f'<h2 id="references">References</h2><ul>{"".join(items)}</ul>'


def _export_panel() -> str:
    return (
        '<section id="export-panel"><h2>Export decisions</h2><p>Fill in the reviewer above, '
        "then export. The YAML lists, for each file, the <code>reviewers:</code> entries to "
        "append: approved rules in one entry (scope <code>file</code> when every rule of the "
        "file is approved), rules needing changes in another, with your notes.</p>"
        '<button type="button" id="export-button">Export decisions as YAML</button> '
        '<a id="download" download="review-decisions.yaml" hidden>Download</a>'
        '<p id="export-error" class="against"></p><textarea id="export" readonly></textarea>'
        "</section>"
    )


def _anchor(path: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in path)
