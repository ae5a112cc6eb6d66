# SPDX-License-Identifier: Apache-2.0
"""The reference lines and bands of the patient timeline, read from the knowledge base.

No threshold is written here: each comes from the knowledge base the differential used.

* The **lower limit** of a count is its ``<test>_lln`` parameter of ``kb.yaml`` for the patient's
  age (``<test>_lln_duffy_null`` when the patient is Duffy-null: the Duffy-null reference range),
  the same limit the series facts use to call a count low. A count with no such parameter (the
  ALC) takes the highest ``lt`` cut-off among the rules that call it low (derive a true fact from
  it) and whose other conditions are on the patient's age, sex or Duffy-null status and hold
  for this patient (``counts.lymphopenia_adult`` for an adult).
* The **severity bands** of a count are the ranges of the rules that grade it in words: rules
  that derive a word (not a number such as a CTCAE grade, not true/false) from a range of the
  count (for the ANC: mild, moderate, severe neutropenia), each capped at the count's lower
  limit, so that a Duffy-null patient's mild band ends at 1.21 where their neutropenia begins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.kb.load import KnowledgeBase
from engine.kb.schema import Atom, Derive, Literal, Rule
from engine.patient import PatientFacts
from engine.wording import words

#: Patient attributes a rule condition may test for the report to decide whether it applies.
DEMOGRAPHIC: tuple[str, ...] = ("age", "sex", "duffy_null")


@dataclass(frozen=True)
class Limit:
    """A count's lower reference limit and the words for it."""

    test: str
    value: float
    text: str
    note: str = ""  # "Duffy-null range", "rule counts.lymphopenia_adult"


@dataclass(frozen=True)
class Band:
    """A graded range of a count, ``low`` (None: down to zero) to ``high``."""

    test: str
    low: float | None
    high: float
    text: str  # "severe neutropenia"


def lower_limit(kb: KnowledgeBase, test: str, patient: PatientFacts) -> Limit | None:
    """The count's lower reference limit for this patient, or None when the knowledge base has
    none."""
    name = words(test)
    params = kb.manifest.parameters
    if patient.duffy_null is True and f"{test}_lln_duffy_null" in params:
        value = kb.parameter(f"{test}_lln_duffy_null", age=patient.age)
        return Limit(test, value, f"{name} lower limit {number(value)}", "Duffy-null range")
    if f"{test}_lln" in params:
        value = kb.parameter(f"{test}_lln", age=patient.age)
        return Limit(test, value, f"{name} lower limit {number(value)}")
    found = [
        (cut, rule.id, rule.then.fact)
        for rule in kb.rules
        if isinstance(rule.then, Derive) and rule.then.value is True
        for cut in _cut_offs(rule, test, patient, allow_derived=False)
    ]
    if not found:
        return None
    value, rule_id, fact = max(found)
    return Limit(test, value, f"{words(fact)} below {number(value)}", f"rule {rule_id}")


def bands(kb: KnowledgeBase, test: str, patient: PatientFacts, limit: Limit | None) -> list[Band]:
    """The severity bands of ``test`` for this patient, lowest first."""
    out: dict[tuple[float | None, float], Band] = {}
    for rule in sorted(kb.rules, key=lambda r: r.id):
        effect = rule.then
        if not isinstance(effect, Derive) or not isinstance(effect.value, str):
            continue
        fact = effect.fact
        for branch in rule.branches:
            span = _range(branch, test, patient)
            if span is None:
                continue
            low, high = span
            if limit is not None:
                high = min(high, limit.value)
            if low is None or low < high:
                text = f"{effect.value} {words(fact.removesuffix('_severity'))}"
                out.setdefault((low, high), Band(test, low, high, text))
    return sorted(out.values(), key=lambda b: b.high)


def _cut_offs(rule: Rule, test: str, patient: PatientFacts, *, allow_derived: bool) -> list[float]:
    """The ``lt`` cut-offs on ``test`` of the rule's branches that apply to this patient."""
    out = []
    for branch in rule.branches:
        span = _range(branch, test, patient, allow_derived=allow_derived)
        if span is not None and span[0] is None:
            out.append(span[1])
    return out


def _range(
    branch: tuple[Literal, ...], test: str, patient: PatientFacts, *, allow_derived: bool = True
) -> tuple[float | None, float] | None:
    """(ge or None, lt) of the branch's condition on ``test``, when the branch tests ``test``
    only that way and its demographic conditions hold for the patient; ``allow_derived`` lets
    other conditions (on derived facts such as ``neutropenia``) pass unexamined."""
    span: tuple[float | None, float] | None = None
    for literal in branch:
        atom = literal.atom
        if atom.kind == "fact" and atom.name == test and not literal.negated:
            tests = {t.op: t.value for t in atom.tests if t.field == "value"}
            if set(tests) - {"lt", "ge"} or not _number(tests.get("lt")):
                return None
            ge = tests.get("ge")
            span = (float(ge) if _number(ge) else None, float(tests["lt"]))  # type: ignore[arg-type]
        elif atom.kind == "fact" and atom.name in DEMOGRAPHIC:
            if _holds(atom, getattr(patient, atom.name)) == literal.negated:
                return None
        elif not allow_derived:
            return None
    return span


def number(value: float) -> str:
    """A limit as clinicians write it: ``4.0``, ``1.5``, ``1.21``, ``0.5``."""
    return f"{value:.1f}" if round(value, 1) == value else f"{value:g}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "in": lambda a, b: a in b,
}  # fmt: skip


def _holds(atom: Atom, value: Any) -> bool:
    """Whether a demographic fact with ``value`` (None: not recorded, so no such fact) matches
    the atom; an operator the report does not know counts as not matching."""
    if value is None:
        return False
    try:
        return all(t.field == "value" and _OPS[t.op](value, t.value) for t in atom.tests)
    except (KeyError, TypeError):
        return False
