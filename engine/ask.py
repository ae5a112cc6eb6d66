# SPDX-License-Identifier: Apache-2.0
"""What to ask next: the unknown facts whose rules would most change a candidate's score.

DXplain and QMR's critique mode offered this; here it is computed from the rules themselves. For
a candidate, every evidence rule for its cause that did not fire is examined branch by branch
(disjunctive normal form). A branch whose literals are all either satisfied by the patient's facts
or about a fact the input does not state (a lab not measured, a finding, condition or history item
not recorded, ancestry not given) would fire if those facts turned out a certain way. Each such
unknown fact is credited with the largest weight it could add and the largest it could remove.
Derived facts and medication courses count as known (absence of a course is a fact).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.backends.base import Firing
from engine.backends.predicates import test_predicate
from engine.facts import FactSet
from engine.kb.catalog import INPUT_VALUES
from engine.kb.load import KnowledgeBase
from engine.kb.schema import AddEvidence, Atom, Derive, Literal

#: How many unknown facts to list per candidate.
LIMIT = 5
_SATISFIED, _UNSATISFIED, _UNKNOWN = "satisfied", "unsatisfied", "unknown"


@dataclass
class Lead:
    """An unknown fact and how far knowing it could move one cause's score."""

    fact: str
    could_add: float = 0.0
    could_remove: float = 0.0
    rules: set[str] = field(default_factory=set)


def ask_next(kb: KnowledgeBase, known: KnownFacts, cause: str) -> list[Lead]:
    """The unknown facts with the largest possible effect on ``cause``, largest first."""
    leads: dict[str, Lead] = {}
    for rule in kb.evidence_for(cause):
        if rule.id in known.fired:
            continue
        assert isinstance(rule.then, AddEvidence)
        for branch in rule.branches:
            unknown = _unknown_facts(branch, known)
            for name in unknown or ():
                lead = leads.setdefault(name, Lead(name))
                lead.rules.add(rule.id)
                if rule.then.weight > 0:
                    lead.could_add = max(lead.could_add, rule.then.weight)
                else:
                    lead.could_remove = min(lead.could_remove, rule.then.weight)
    ranked = sorted(leads.values(), key=lambda x: (-max(x.could_add, -x.could_remove), x.fact))
    return ranked[:LIMIT]


class KnownFacts:
    """What one patient's run established, built once and shared by every candidate: evaluates
    atoms as satisfied, unsatisfied or unknown."""

    def __init__(self, kb: KnowledgeBase, facts: FactSet, firings: list[Firing]) -> None:
        self.fired = {f.rule_id for f in firings}
        effects = [kb.rule(f.rule_id).then for f in firings]
        self.derived = {(e.fact, e.value) for e in effects if isinstance(e, Derive)}
        self.values = {v.name: v.value for v in facts.values}
        self.members: dict[tuple[str, str], list[Any]] = {}
        for m in facts.members:
            self.members.setdefault((m.kind, m.name), []).append(m)
        self.courses = facts.courses
        self._memo: dict[Atom, str] = {}

    def atom(self, atom: Atom) -> str:
        """An atom's state for this patient, evaluated once (atoms recur across the rules of
        every candidate)."""
        state = self._memo.get(atom)
        if state is None:
            state = self._memo[atom] = self._evaluate(atom)
        return state

    def _evaluate(self, atom: Atom) -> str:
        if atom.kind == "fact":
            return self._value(atom)
        if atom.kind == "medication":
            ok = any(atom.name in c.agents and _passes(atom, c.fields) for c in self.courses)
            return _SATISFIED if ok else _UNSATISFIED
        matches = self.members.get((atom.kind, atom.name), [])
        if any(_passes(atom, m.fields) for m in matches):
            return _SATISFIED
        return _UNSATISFIED if matches else _UNKNOWN

    def _value(self, atom: Atom) -> str:
        if atom.name not in INPUT_VALUES:  # a derived fact: known from the firings
            values = [v for name, v in self.derived if name == atom.name]
            ok = any(_passes(atom, {"value": v}) for v in values)
            return _SATISFIED if ok else _UNSATISFIED
        if atom.name not in self.values:
            return _UNKNOWN
        return _SATISFIED if _passes(atom, {"value": self.values[atom.name]}) else _UNSATISFIED


def _passes(atom: Atom, fields: Mapping[str, object]) -> bool:
    return all(test_predicate(t)(fields.get(t.field)) for t in atom.tests)


def _unknown_facts(branch: tuple[Literal, ...], known: KnownFacts) -> list[str] | None:
    """The unknown facts of a branch that could still fire; None if it cannot fire."""
    unknown: list[str] = []
    for lit in branch:
        state = known.atom(lit.atom)
        if state == _UNKNOWN:
            unknown.append(_describe(lit.atom))
        elif (state == _SATISFIED) == lit.negated:
            return None
    return unknown or None


def _describe(atom: Atom) -> str:
    return atom.name if atom.kind == "fact" else f"{atom.kind} {atom.name}"
