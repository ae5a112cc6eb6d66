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
from engine.backends.predicates import Predicate, test_predicate
from engine.facts import FactSet
from engine.kb.catalog import INPUT_VALUES
from engine.kb.load import KnowledgeBase
from engine.kb.schema import AddEvidence, Atom, Derive

#: How many unknown facts to list per candidate.
LIMIT = 5
#: A weight (log LR) too small to move a score: a fitted LR of 1.00 (|log LR| < 0.005).
NEGLIGIBLE = 0.005
_SATISFIED, _UNSATISFIED, _UNKNOWN = "satisfied", "unsatisfied", "unknown"
_Checks = tuple[tuple[str, Predicate], ...]
_AtomKey = tuple[str, str, tuple[Any, ...]]
#: An evidence rule in a plan: id, weight, its branches as (atom index, negated) pairs, and the
#: rules that count its finding instead when they fire (``Rule.counted_by``).
_Entry = tuple[str, float, tuple[tuple[tuple[int, bool], ...], ...], tuple[str, ...]]


@dataclass
class Lead:
    """An unknown fact and how far knowing it could move one cause's score."""

    fact: str
    could_add: float = 0.0
    could_remove: float = 0.0
    rules: set[str] = field(default_factory=set)


def ask_next(kb: KnowledgeBase, known: KnownFacts, cause: str) -> list[Lead]:
    """The unknown facts with the largest possible effect on ``cause``, largest first."""
    plan = _plan(kb)
    state = known.state
    leads: dict[str, Lead] = {}
    for rule_id, weight, branches, counted_by in plan.by_cause.get(cause, ()):
        if rule_id in known.fired or any(c in known.fired for c in counted_by):
            continue  # it counts already, or could add nothing: its finding is counted
        if abs(weight) < NEGLIGIBLE:
            continue  # a rule the fit left at LR 1: knowing its facts would move nothing
        for branch in branches:
            unknown: list[int] = []
            for index, negated in branch:
                s = state(index)
                if s == _UNKNOWN:
                    unknown.append(index)
                elif (s == _SATISFIED) == negated:
                    break
            else:
                for index in unknown:
                    name = plan.labels[index]
                    lead = leads.get(name)
                    if lead is None:
                        lead = leads[name] = Lead(name)
                    lead.rules.add(rule_id)
                    if weight > 0:
                        lead.could_add = max(lead.could_add, weight)
                    else:
                        lead.could_remove = min(lead.could_remove, weight)
    ranked = sorted(leads.values(), key=lambda x: (-max(x.could_add, -x.could_remove), x.fact))
    return ranked[:LIMIT]


@dataclass(frozen=True)
class _Plan:
    """The evidence rules of every cause with their atoms numbered, built once per knowledge base:
    ask-next then walks integer-indexed branches and a per-patient state list, instead of hashing
    atom objects and rebuilding predicates for every branch of every candidate."""

    atoms: tuple[Atom, ...]
    index: dict[_AtomKey, int]  # an atom's number, by what it tests (not where it is written)
    labels: tuple[str, ...]  # the fact each atom asks about, as ask-next names it
    checks: tuple[tuple[tuple[str, Predicate], ...], ...]  # per atom: (field, predicate) tests
    by_cause: dict[str, tuple[_Entry, ...]]


def _build_plan(kb: KnowledgeBase) -> _Plan:
    index: dict[_AtomKey, int] = {}
    atoms: list[Atom] = []

    def number(atom: Atom) -> int:
        key = _key(atom)
        found = index.get(key)
        if found is None:
            found = index[key] = len(atoms)
            atoms.append(atom)
        return found

    by_cause: dict[str, tuple[_Entry, ...]] = {}
    for cause in kb.causes:
        entries: list[_Entry] = []
        for rule in kb.evidence_for(cause):
            assert isinstance(rule.then, AddEvidence)
            branches = tuple(
                tuple((number(lit.atom), lit.negated) for lit in branch) for branch in rule.branches
            )
            entries.append((rule.id, rule.then.weight, branches, rule.counted_by))
        by_cause[cause] = tuple(entries)
    return _Plan(
        atoms=tuple(atoms),
        index=index,
        labels=tuple(_describe(a) for a in atoms),
        checks=tuple(tuple((t.field, test_predicate(t)) for t in a.tests) for a in atoms),
        by_cause=by_cause,
    )


#: Content hash -> (the knowledge base, its plan): a handful at most per process.
_PLANS: dict[str, tuple[KnowledgeBase, _Plan]] = {}


def _plan(kb: KnowledgeBase) -> _Plan:
    """The knowledge base's plan, built on first use (keyed by content hash and identity)."""
    found = _PLANS.get(kb.content_hash)
    if found is None or found[0] is not kb:
        found = _PLANS[kb.content_hash] = (kb, _build_plan(kb))
    return found[1]


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
        self._plan = _plan(kb)
        self._states: list[str | None] = [None] * len(self._plan.atoms)

    def state(self, index: int) -> str:
        """The state of the plan's atom ``index`` for this patient, evaluated once."""
        found = self._states[index]
        if found is None:
            plan = self._plan
            found = self._states[index] = self._evaluate(plan.atoms[index], plan.checks[index])
        return found

    def atom(self, atom: Atom) -> str:
        """An atom's state for this patient, evaluated once (atoms recur across the rules of
        every candidate); an atom of an evidence rule shares ask-next's evaluation."""
        index = self._plan.index.get(_key(atom))
        if index is not None:
            return self.state(index)
        state = self._memo.get(atom)
        if state is None:
            checks = tuple((t.field, test_predicate(t)) for t in atom.tests)
            state = self._memo[atom] = self._evaluate(atom, checks)
        return state

    def _evaluate(self, atom: Atom, checks: _Checks) -> str:
        if atom.kind == "fact":
            return self._value(atom, checks)
        if atom.kind == "medication":
            ok = any(atom.name in c.agents and _passes(checks, c.fields) for c in self.courses)
            return _SATISFIED if ok else _UNSATISFIED
        matches = self.members.get((atom.kind, atom.name), [])
        if any(_passes(checks, m.fields) for m in matches):
            return _SATISFIED
        return _UNSATISFIED if matches else _UNKNOWN

    def _value(self, atom: Atom, checks: _Checks) -> str:
        if atom.name not in INPUT_VALUES:  # a derived fact: known from the firings
            values = [v for name, v in self.derived if name == atom.name]
            ok = any(_passes(checks, {"value": v}) for v in values)
            return _SATISFIED if ok else _UNSATISFIED
        if atom.name not in self.values:
            return _UNKNOWN
        return _SATISFIED if _passes(checks, {"value": self.values[atom.name]}) else _UNSATISFIED


def _passes(checks: _Checks, fields: Mapping[str, object]) -> bool:
    return all(predicate(fields.get(name)) for name, predicate in checks)


def _key(atom: Atom) -> _AtomKey:
    return (atom.kind, atom.name, atom.tests)


def _describe(atom: Atom) -> str:
    return atom.name if atom.kind == "fact" else f"{atom.kind} {atom.name}"
