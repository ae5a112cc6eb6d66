# SPDX-License-Identifier: Apache-2.0
"""Review state of a knowledge base, and the lint checks that keep it honest.

A review date or an ``approved`` status means something only when a recorded review stands
behind it: a ``reviewers:`` entry naming who reviewed (name, role), when, what (the whole file or
listed rule ids) and what they decided. This module says, for every rule, which review covers it
and what it decided, and adds to :func:`engine.kb.load.lint` the checks that need a loaded
knowledge base: a ``last_reviewed`` date with no recorded review, an ``approved`` file with rules
no review approved, a review scope naming rules the file does not have, journal articles cited
by URL only (a warning), and, for deployments that must run approved knowledge only
(``leukodx lint --require-approved``), every file that is not approved.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.errors import KnowledgeBaseError, Problem
from engine.kb import load as kb_load
from engine.kb.load import KnowledgeBase, load_knowledge_base
from engine.kb.registry import display
from engine.kb.schema import Citation, Reviewer, Rule, RuleFile

#: Codes of the review checks; ``leukodx lint`` reports them as errors.
REVIEW_CODES: frozenset[str] = frozenset({"review-unrecorded", "review-scope", "not-approved"})
#: A journal article's source reads "Journal Year;Volume..." (e.g. "Blood 2010;116(23):4771").
_JOURNAL_SOURCE = re.compile(r"\b(1[89]|20)\d\d\s*;")
#: Identifiers that let a reader find an article without trusting a URL.
_IDENTIFIERS = ("pmid", "doi", "pmcid")


@dataclass(frozen=True)
class RuleReview:
    """A rule's review state: ``approved``, ``changes_requested`` or ``not_reviewed``, with the
    review that decided it (None when no recorded review covers the rule)."""

    rule_id: str
    state: str
    review: Reviewer | None


def rule_review(header: RuleFile | None, rule_id: str) -> RuleReview:
    """The decision of the latest recorded review covering ``rule_id`` in its file."""
    review = header.decision_for(rule_id) if header is not None else None
    return RuleReview(rule_id, review.decision if review else "not_reviewed", review)


def rules_by_file(kb: KnowledgeBase) -> dict[str, list[Rule]]:
    """The rules of each rule file (profile rules with their cause's file), by file path."""
    out: dict[str, list[Rule]] = {h.path: [] for h in kb.files}
    for rule in kb.rules:
        out.setdefault(rule.file, []).append(rule)
    return out


def file_is_approved(header: RuleFile, rules: Iterable[Rule]) -> bool:
    """Approved: the header says so and a recorded review approves every one of its rules."""
    return header.review_status == "approved" and all(
        rule_review(header, r.id).state == "approved" for r in rules
    )


def review_problems(kb: KnowledgeBase) -> list[Problem]:
    """Review metadata that a recorded review does not back (errors under ``leukodx lint``)."""
    problems: list[Problem] = []
    grouped = rules_by_file(kb)
    for header in kb.files:
        rules = grouped.get(header.path, [])
        dates = {r.date for r in header.reviewers}
        if header.last_reviewed is not None and header.last_reviewed not in dates:
            recorded = ", ".join(sorted(d.isoformat() for d in dates)) or "none"
            problems.append(Problem(
                header.path, 0, "last_reviewed",
                f"{header.last_reviewed.isoformat()} is not the date of a recorded review "
                f"(recorded reviews: {recorded}); record the review under reviewers: (name, role, "
                "date, scope, decision) or remove the date",
                "error", "review-unrecorded",
            ))  # fmt: skip
        ids = {r.id for r in rules}
        for review in header.reviewers:
            for rid in (r for r in review.rules if r not in ids):
                problems.append(Problem(
                    header.path, review.line, "reviewers",
                    f"{review.name}'s review names rule '{rid}', which is not a rule of this file",
                    "error", "review-scope",
                ))  # fmt: skip
        if header.review_status == "approved" and not file_is_approved(header, rules):
            pending = [r.id for r in rules if rule_review(header, r.id).state != "approved"]
            problems.append(Problem(
                header.path, 0, "review_status",
                f"says approved, but no recorded review approves {_some(pending)}",
                "error", "not-approved",
            ))  # fmt: skip
    return problems


def approval_problems(kb: KnowledgeBase) -> list[Problem]:
    """One error per rule file that is not approved (``lint --require-approved``), saying why."""
    problems: list[Problem] = []
    grouped = rules_by_file(kb)
    for header in kb.files:
        rules = grouped.get(header.path, [])
        if file_is_approved(header, rules):
            continue
        pending = [r.id for r in rules if rule_review(header, r.id).state != "approved"]
        why = f"review_status is {header.review_status}"
        if pending:
            why += f"; no recorded review approves {_some(pending)}"
        problems.append(
            Problem(header.path, 0, "not approved", why, "error", "not-approved")
        )  # fmt: skip
    return problems


def is_journal_article(citation: Citation) -> bool:
    """A reference to an article in a journal (its source reads "Journal Year;Volume...")."""
    return citation.kind != "drug_label" and bool(_JOURNAL_SOURCE.search(citation.source or ""))


def url_only_problems(kb: KnowledgeBase) -> list[Problem]:
    """Journal articles with neither PMID, DOI nor PMC id: a URL can move or change, an
    identifier cannot, so a reviewer should be able to look the article up by one (a warning:
    some identifiers could not be seen yet; each entry's ``verified`` says what was seen)."""
    where = display(Path(kb.root), Path(kb.root) / "citations")
    return [
        Problem(
            where,
            0,
            c.id,
            "journal article cited by URL only: add its PMID or DOI (where seen, in verified:)",
            "warning",
            "url-only",
        )  # fmt: skip
        for c in kb.citations.values()
        if is_journal_article(c) and not any(getattr(c, k) for k in _IDENTIFIERS)
    ]


def lint(
    path: str | Path | None = None,
    *,
    today: dt.date | None = None,
    strict: bool = False,
    require_approved: bool = False,
) -> list[Problem]:
    """Everything :func:`engine.kb.load.lint` reports, plus the review and identifier checks.

    The review checks are errors; ``require_approved`` also makes every file that is not
    approved an error, for deployments that must run only knowledge a clinician signed off."""
    problems = kb_load.lint(path, today=today, strict=strict)
    if any(p.severity == "error" for p in problems):
        return problems
    try:
        kb = load_knowledge_base(path, today=today)
    except KnowledgeBaseError as exc:  # pragma: no cover - lint() just loaded it
        return exc.problems
    extra = review_problems(kb) + url_only_problems(kb)
    if require_approved:
        extra += approval_problems(kb)
    return sorted(problems + extra)


def _some(ids: list[str], limit: int = 3) -> str:
    shown = ", ".join(ids[:limit])
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return f"{len(ids)} rule(s): {shown}{more}"
