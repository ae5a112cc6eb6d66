# SPDX-License-Identifier: Apache-2.0
"""YAML documents -> rule-language objects (:mod:`engine.kb.schema`), collecting every problem.

Parsing checks shape only (keys, types, operators); names are cross-checked against the fact
catalogue, vocabularies, lexicon and citations by :mod:`engine.kb.check`. Problems are collected,
never raised one at a time, so ``leukodx lint`` can show them all with ``file:line``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

from engine.errors import Problem
from engine.kb.reviewers import parse_reviewers
from engine.kb.schema import (
    MAX_LR,
    OPERATORS,
    WEIGHT_ORIGINS,
    AddEvidence,
    AllOf,
    AnyOf,
    Atom,
    Condition,
    Derive,
    Effect,
    Not,
    RaiseAlert,
    Rule,
    RuleFile,
    Scalar,
    Test,
)
from engine.kb.yamlio import YamlList, YamlMap
from engine.vocab import MEMBERSHIP

ATOM_KINDS: tuple[str, ...] = ("fact", "medication", *MEMBERSHIP)
RULE_KEYS: tuple[str, ...] = (
    "id", "statement", "plain", "when", "then", "cite", "weight_basis", "origin", "note",
)  # fmt: skip
HEADER_KEYS: tuple[str, ...] = (
    "title", "version", "status", "review_status", "authors", "reviewers", "last_reviewed",
    "last_updated", "review_by", "cause", "rules", "profile",
)  # fmt: skip
STATUSES: tuple[str, ...] = ("draft", "active", "retired")
#: Clinical review status of a rule file (``lint --strict`` rejects ``draft``).
REVIEW_STATUSES: tuple[str, ...] = ("draft", "under_review", "approved")
ALERT_LEVELS: tuple[str, ...] = ("critical", "warning", "info")
ID_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


@dataclass
class Ctx:
    """Where we are (file) and what went wrong so far."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, where, message))

    def warn(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, where, message, "warning"))

    def reject_unknown_keys(
        self, node: YamlMap, allowed: tuple[str, ...], where: str = "", what: str = "key"
    ) -> None:
        """One error per key of ``node`` outside ``allowed``, naming the keys that are allowed."""
        for key in node:
            if key not in allowed:
                self.error(
                    node.line_of(key),
                    f"{where}.{key}" if where else key,
                    f"unknown {what} (expected one of {', '.join(allowed)})",
                )

    def require_keys(self, node: YamlMap, required: tuple[str, ...], where: str, what: str) -> None:
        """An error for each key of ``required`` that ``node`` lacks."""
        for key in required:
            if key not in node:
                self.error(node.line, f"{where}.{key}", f"required {what} is missing")


def line_of(node: Any, key: str | int) -> int:
    if isinstance(node, YamlMap) and isinstance(key, str):
        return node.line_of(key)
    if isinstance(node, YamlList) and isinstance(key, int):
        return node.line_of(key)
    return getattr(node, "line", 0)


def is_scalar(value: object) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (
        isinstance(value, float) and not math.isfinite(value)
    )


def is_number(value: object) -> TypeGuard[int | float]:
    """A YAML number: ``true``/``false`` are booleans here, not 1 and 0."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def str_list(ctx: Ctx, node: Any, where: str, line: int) -> tuple[str, ...]:
    if node is None:
        return ()
    if isinstance(node, str):
        return (node,)
    if not isinstance(node, list) or not all(isinstance(x, str) for x in node):
        ctx.error(line, where, "expected a list of words")
        return ()
    return tuple(node)


def parse_rule_file(
    ctx: Ctx, doc: Any, *, cause_file: bool = False
) -> tuple[RuleFile | None, list[Rule]]:
    """A rule file: provenance header plus ``rules:``. A cause file (``causes/<cause>.yaml``) also
    has ``cause:`` and ``profile:``, and its rules carry their own plain text (``plain:``)."""
    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "a rule file must be a mapping with a provenance header and 'rules'")
        return None, []
    ctx.reject_unknown_keys(doc, HEADER_KEYS)
    for key in (k for k in ("cause", "profile") if k in doc and not cause_file):
        ctx.error(doc.line_of(key), key, f"only a cause file (causes/<cause>.yaml) has '{key}:'")
    header = _header(ctx, doc)
    rules_node = doc.get("rules")
    if not isinstance(rules_node, YamlList):
        ctx.error(doc.line_of("rules"), "rules", "expected a list of rules")
        return header, []
    status = header.status if header else "active"
    review = header.review_status if header else "draft"
    rules = [
        replace(r, review_status=review)
        for i, node in enumerate(rules_node)
        if (r := parse_rule(ctx, node, f"rules[{i}]", rules_node.line_of(i), status, cause_file))
        is not None
    ]
    return header, rules


def _header(ctx: Ctx, doc: YamlMap) -> RuleFile | None:
    missing = [k for k in ("title", "version", "status", "authors") if k not in doc]
    for key in missing:
        ctx.error(doc.line, key, "provenance field is required")
    status = doc.get("status", "active")
    if status not in STATUSES:
        ctx.error(doc.line_of("status"), "status", f"expected one of {', '.join(STATUSES)}")
    review = doc.get("review_status", "draft")
    if review not in REVIEW_STATUSES:
        ctx.error(
            doc.line_of("review_status"),
            "review_status",
            f"expected one of {', '.join(REVIEW_STATUSES)}",
        )
    dates = {}
    for key in ("last_reviewed", "review_by", "last_updated"):
        value = doc.get(key)
        if value is not None and not isinstance(value, dt.date):
            ctx.error(doc.line_of(key), key, "expected a date YYYY-MM-DD")
            value = None
        dates[key] = value
    if missing:
        return None
    reviewers = parse_reviewers(ctx, doc.get("reviewers"), doc.line_of("reviewers"))
    latest = max((r.date for r in reviewers), default=None)
    return RuleFile(
        path=ctx.file,
        title=str(doc["title"]),
        version=str(doc["version"]),
        status=str(status),
        authors=str_list(ctx, doc.get("authors"), "authors", doc.line_of("authors")),
        reviewers=reviewers,
        last_reviewed=dates["last_reviewed"] or latest,
        review_by=dates["review_by"],
        review_status=str(review),
        last_updated=dates["last_updated"] or dates["last_reviewed"],
    )


def parse_rule(
    ctx: Ctx, node: Any, where: str, line: int, status: str, plain_allowed: bool = False
) -> Rule | None:
    if not isinstance(node, YamlMap):
        ctx.error(line, where, "a rule must be a mapping")
        return None
    before = len(ctx.problems)
    ctx.reject_unknown_keys(node, RULE_KEYS, where, "rule key")
    ctx.require_keys(node, ("id", "statement", "when", "then", "cite"), where, "rule key")
    rule_id = node.get("id")
    if "id" in node and (not isinstance(rule_id, str) or not ID_PATTERN.match(rule_id)):
        ctx.error(
            node.line_of("id"), f"{where}.id", "expected an id of [a-z0-9_] words joined by '.'"
        )
    statement = node.get("statement")
    if "statement" in node and (not isinstance(statement, str) or not statement.strip()):
        ctx.error(node.line_of("statement"), f"{where}.statement", "expected one sentence")
    plain = _plain(ctx, node, where, plain_allowed)
    when = parse_when(ctx, node.get("when"), f"{where}.when", node.line_of("when"))
    then = parse_effect(ctx, node.get("then"), f"{where}.then", node.line_of("then"))
    cite = str_list(ctx, node.get("cite"), f"{where}.cite", node.line_of("cite"))
    if "cite" in node and not cite:
        ctx.error(node.line_of("cite"), f"{where}.cite", "a rule needs at least one citation")
    if isinstance(then, AddEvidence):
        then = _with_origin(ctx, node, then, where)
    elif "origin" in node:
        ctx.error(node.line_of("origin"), f"{where}.origin", "only evidence rules have an origin")
    if len(ctx.problems) > before or when is None or then is None:
        return None
    return Rule(
        id=str(rule_id), statement=str(statement).strip(), when=when, then=then, cite=cite,
        file=ctx.file, line=node.line, status=status, plain=plain,
        weight_basis=_opt_text(node.get("weight_basis")), note=_opt_text(node.get("note")),
    )  # fmt: skip


def _plain(ctx: Ctx, node: YamlMap, where: str, allowed: bool) -> str | None:
    """A rule's own patient-audience sentence, beside its clinical statement (cause files only:
    the texts of finding and alert rules live in ``plain/``)."""
    text, line = node.get("plain"), node.line_of("plain")
    if "plain" in node and not allowed:
        ctx.error(line, f"{where}.plain", "only the rules of a cause file (causes/<cause>.yaml) "
                  "carry their own plain text; word this rule in plain/*.yaml")  # fmt: skip
    elif "plain" in node and (not isinstance(text, str) or not text.strip()):
        ctx.error(line, f"{where}.plain", "expected a sentence")
    return text.strip() if allowed and isinstance(text, str) and text.strip() else None


def _with_origin(ctx: Ctx, node: YamlMap, then: AddEvidence, where: str) -> AddEvidence:
    origin = node.get("origin")
    if origin is None:
        ctx.error(node.line, f"{where}.origin", "an evidence rule needs an origin: literature "
                  "(a figure quoted from a cited source), fitted or judgement")  # fmt: skip
        return then
    if origin not in WEIGHT_ORIGINS or origin == "fitted":
        ctx.error(
            node.line_of("origin"),
            f"{where}.origin",
            f"expected literature or judgement (got {origin!r}; fitted weights live in "
            "fitted.yaml, written by leukodx calibrate)",
        )
        return then
    return replace(then, origin=str(origin))


def _opt_text(value: object) -> str | None:
    return None if value is None else str(value)


def parse_when(ctx: Ctx, node: Any, where: str, line: int) -> AllOf | None:
    if not isinstance(node, YamlList) or not node:
        ctx.error(line, where, "expected a non-empty list of conditions")
        return None
    children = [
        parse_condition(ctx, c, f"{where}[{i}]", node.line_of(i)) for i, c in enumerate(node)
    ]
    if any(c is None for c in children):
        return None
    return AllOf(tuple(c for c in children if c is not None))


def parse_condition(ctx: Ctx, node: Any, where: str, line: int) -> Condition | None:
    if not isinstance(node, YamlMap) or not node:
        ctx.error(line, where, "a condition must be a mapping such as {fact: anc, lt: 0.5}")
        return None
    heads = [k for k in node if k in (*ATOM_KINDS, "not", "any", "all")]
    if len(heads) != 1:
        ctx.error(
            node.line,
            where,
            f"a condition needs exactly one of {', '.join((*ATOM_KINDS, 'not', 'any', 'all'))}",
        )
        return None
    head = heads[0]
    if head in ("not", "any", "all"):
        return _compound(ctx, node, head, where)
    return _atom(ctx, node, head, where)


def _compound(ctx: Ctx, node: YamlMap, head: str, where: str) -> Condition | None:
    if len(node) != 1:
        ctx.error(node.line, where, f"'{head}' takes no other keys")
        return None
    body, line = node[head], node.line_of(head)
    if head == "not":
        child = parse_condition(ctx, body, f"{where}.not", line)
        return None if child is None else Not(child)
    if not isinstance(body, YamlList) or not body:
        ctx.error(line, f"{where}.{head}", "expected a non-empty list of conditions")
        return None
    kids = [
        parse_condition(ctx, c, f"{where}.{head}[{i}]", body.line_of(i)) for i, c in enumerate(body)
    ]
    if any(k is None for k in kids):
        return None
    items = tuple(k for k in kids if k is not None)
    return AnyOf(items) if head == "any" else AllOf(items)


def _atom(ctx: Ctx, node: YamlMap, kind: str, where: str) -> Atom | None:
    name = node[kind]
    if not isinstance(name, str) or not name:
        ctx.error(node.line_of(kind), f"{where}.{kind}", "expected a name")
        return None
    tests: list[Test] = []
    ok = True
    for key, value in node.items():
        if key == kind:
            continue
        line = node.line_of(key)
        if kind == "fact":
            ok &= _add_test(ctx, tests, "value", key, value, f"{where}.{key}", line)
        elif isinstance(value, YamlMap):
            for op, operand in value.items():
                ok &= _add_test(
                    ctx, tests, key, op, operand, f"{where}.{key}.{op}", value.line_of(op)
                )
        else:
            ok &= _add_test(ctx, tests, key, "eq", value, f"{where}.{key}", line)
    return Atom(kind, name, tuple(sorted(tests)), node.line) if ok else None


def _add_test(
    ctx: Ctx, tests: list[Test], fld: str, op: str, value: Any, where: str, line: int
) -> bool:
    if op not in OPERATORS:
        ctx.error(line, where, f"unknown operator '{op}' (expected one of {', '.join(OPERATORS)})")
        return False
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or not all(is_scalar(v) for v in value):
            ctx.error(line, where, f"'{op}' takes a non-empty list of values")
            return False
        tests.append(Test(fld, op, tuple(value)))
        return True
    if not is_scalar(value):
        ctx.error(line, where, f"'{op}' takes one value (a number, word or true/false)")
        return False
    if op in ("lt", "le", "gt", "ge") and not is_number(value):
        ctx.error(line, where, f"'{op}' compares numbers; got {value!r}")
        return False
    tests.append(Test(fld, op, value))
    return True


def parse_effect(ctx: Ctx, node: Any, where: str, line: int) -> Effect | None:
    if not isinstance(node, YamlMap):
        ctx.error(
            line,
            where,
            "expected one effect: {derive, value}, {alert, level, message} or {cause, lr}",
        )
        return None
    shapes: dict[str, tuple[str, ...]] = {
        "derive": ("derive", "value"), "alert": ("alert", "level", "message"),
        "cause": ("cause", "lr"),
    }  # fmt: skip
    kinds = [k for k in shapes if k in node]
    if len(kinds) != 1 or set(node) != set(shapes[kinds[0]]):
        ctx.error(
            node.line,
            where,
            "expected exactly one of {derive, value}, {alert, level, message} or {cause, lr}",
        )
        return None
    kind = kinds[0]
    if kind == "derive":
        return _derive(ctx, node, where)
    if kind == "alert":
        level = node["level"]
        if level not in ALERT_LEVELS:
            ctx.error(
                node.line_of("level"),
                f"{where}.level",
                f"expected one of {', '.join(ALERT_LEVELS)}",
            )
            return None
        return RaiseAlert(str(node["alert"]), str(level), str(node["message"]).strip())
    lr = node["lr"]
    if not is_number(lr) or not (1 / MAX_LR <= lr <= MAX_LR) or lr == 1:
        ctx.error(
            node.line_of("lr"),
            f"{where}.lr",
            f"expected a likelihood ratio between {1 / MAX_LR:g} and {MAX_LR:g}, not 1 "
            "(above 1 is evidence for, below 1 evidence against)",
        )
        return None
    return AddEvidence(str(node["cause"]), round(math.log(lr), 6), lr=float(lr))


def _derive(ctx: Ctx, node: YamlMap, where: str) -> Derive | None:
    value: Scalar = node["value"]
    if not is_scalar(value):
        ctx.error(node.line_of("value"), f"{where}.value", "expected a number, word or true/false")
        return None
    if not isinstance(node["derive"], str) or not ID_PATTERN.match(node["derive"]):
        ctx.error(node.line_of("derive"), f"{where}.derive", "expected a fact name [a-z0-9_]")
        return None
    return Derive(node["derive"], value)
