# SPDX-License-Identifier: Apache-2.0
"""The ``reviewers:`` list of a rule file's header: recorded reviews, validated at load.

A review date means something only when it is someone's review: each entry names who reviewed
(name, role), when (date), what (scope: ``file`` or a list of rule ids) and what they decided
(``approved`` or ``changes_requested``), with optional notes. Shape only: whether the dates and
approvals of a file agree with its reviews is checked by :mod:`engine.kb.review`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from engine.kb.schema import REVIEW_DECISIONS, Reviewer
from engine.kb.yamlio import YamlList, YamlMap

if TYPE_CHECKING:  # parse.py imports this module; Ctx is only a type here
    from engine.kb.parse import Ctx

#: Keys of one ``reviewers:`` entry; ``notes`` is optional.
REVIEWER_KEYS: tuple[str, ...] = ("name", "role", "date", "scope", "decision", "notes")


def parse_reviewers(ctx: Ctx, node: Any, line: int) -> tuple[Reviewer, ...]:
    """The recorded reviews of a file: each names who reviewed (name, role), when, what (scope:
    ``file`` or a list of rule ids) and the decision, so that a review date is never bare."""
    if node is None:
        return ()
    if not isinstance(node, YamlList):
        ctx.error(line, "reviewers", "expected a list of reviews ({name, role, date, scope, "
                  "decision}), or [] when the file has not been reviewed")  # fmt: skip
        return ()
    found = (
        _reviewer(ctx, entry, f"reviewers[{i}]", node.line_of(i)) for i, entry in enumerate(node)
    )
    return tuple(r for r in found if r is not None)


def _reviewer(ctx: Ctx, node: Any, where: str, line: int) -> Reviewer | None:
    if not isinstance(node, YamlMap):
        ctx.error(line, where, "a review is a mapping {name, role, date, scope, decision} "
                  "(optionally notes), not a bare name")  # fmt: skip
        return None
    before = len(ctx.problems)
    ctx.reject_unknown_keys(node, REVIEWER_KEYS, where, "review key")
    ctx.require_keys(node, ("name", "role", "date", "scope", "decision"), where, "review key")
    for key in ("name", "role", "notes"):
        value = node.get(key)
        if key in node and (not isinstance(value, str) or not value.strip()):
            ctx.error(node.line_of(key), f"{where}.{key}", "expected text")
    date = node.get("date")
    if "date" in node and not isinstance(date, dt.date):
        ctx.error(node.line_of("date"), f"{where}.date", "expected a date YYYY-MM-DD")
    decision = node.get("decision")
    if "decision" in node and decision not in REVIEW_DECISIONS:
        ctx.error(node.line_of("decision"), f"{where}.decision",
                  f"expected one of {', '.join(REVIEW_DECISIONS)}")  # fmt: skip
    scope = node.get("scope")
    rules: tuple[str, ...] = ()
    if isinstance(scope, list) and scope and all(isinstance(x, str) for x in scope):
        rules = tuple(scope)
    elif "scope" in node and scope != "file":
        ctx.error(node.line_of("scope"), f"{where}.scope",
                  "expected 'file' (the whole file) or a non-empty list of rule ids")  # fmt: skip
    if len(ctx.problems) > before or not isinstance(date, dt.date):
        return None
    notes = node.get("notes")
    return Reviewer(
        name=str(node["name"]).strip(), role=str(node["role"]).strip(), date=date,
        decision=str(decision), rules=rules, line=node.line,
        notes=notes.strip() if isinstance(notes, str) else None,
    )  # fmt: skip
