# SPDX-License-Identifier: Apache-2.0
"""The knowledge base compiled to an experta ``KnowledgeEngine`` (the default backend).

Each rule becomes one experta rule whose LHS is an OR of its DNF branches; every branch's
action calls :meth:`_LeukodxEngine.leukodx_fire`, which records the firing once per rule id and,
for derive rules, declares the derived value fact (forward chaining). Salience follows the rule's
stratum, so derivations complete before the rules that use them. The engine class is built once
per knowledge base; each thread gets its own instance, reset between patients.
"""

from __future__ import annotations

import bisect
import threading
from typing import TYPE_CHECKING, Any

from engine.backends.base import Firing, derived_fid
from engine.backends.experta_compat import import_experta
from engine.backends.predicates import Predicate, all_of, test_predicate
from engine.kb.catalog import MEDICATION_FIELDS, MEMBERSHIP_FIELDS
from engine.kb.schema import Atom, Derive, Literal

if TYPE_CHECKING:
    from engine.facts import FactSet
    from engine.kb.load import KnowledgeBase

experta: Any = import_experta()
_Fact: Any = experta.Fact
_KnowledgeEngine: Any = experta.KnowledgeEngine

NAME = "experta"


class V(_Fact):  # type: ignore[misc]
    """A value fact: fid, name, value."""


class M(_Fact):  # type: ignore[misc]
    """A membership fact: fid, kind, name and the timing fields."""


class X(_Fact):  # type: ignore[misc]
    """A medication course, once per agent (the drug and each of its classes)."""


class _ExactRemovalStrategy(experta.strategies.DepthStrategy):  # type: ignore[misc]
    """experta's depth strategy with a correct removal of withdrawn activations.

    experta 1.9.4 removes a withdrawn activation by bisecting to the first activation with an
    equal key and looking only there and at its two neighbours; with three or more activations
    sharing a key (same salience, same facts) the withdrawn one can sit further right, stays on
    the agenda and fires although its rule no longer matches (a ``not`` that became false). Found
    by the experta/CLIPS equivalence property; see tests/regressions/test_experta_agenda_removal.
    This version searches the whole run of equal keys.
    """

    def _update_agenda(self, agenda: Any, added: list[Any], removed: list[Any]) -> None:
        activations = agenda.activations
        for act in removed:
            act.key = self.get_key(act)
            low = bisect.bisect_left(activations, act)
            high = bisect.bisect_right(activations, act)
            for index in range(low, high):
                if activations[index] == act:
                    del activations[index]
                    break
        for act in added:
            act.key = self.get_key(act)
            bisect.insort(activations, act)


class _LeukodxEngine(_KnowledgeEngine):  # type: ignore[misc]
    __strategy__ = _ExactRemovalStrategy
    effects: dict[str, Any] = {}

    def leukodx_start(self) -> None:
        self.leukodx_order: list[str] = []
        self.leukodx_matched: dict[str, set[str]] = {}
        self.leukodx_asserted: dict[str, tuple[str, ...]] = {}

    def leukodx_fire(self, rule_id: str, bound: dict[str, Any]) -> None:
        fids = {fact["fid"] for fact in bound.values() if isinstance(fact, experta.Fact)}
        if rule_id in self.leukodx_matched:
            self.leukodx_matched[rule_id] |= fids
            return
        self.leukodx_order.append(rule_id)
        self.leukodx_matched[rule_id] = fids
        effect = self.effects[rule_id]
        if isinstance(effect, Derive):
            fid = derived_fid(rule_id)
            self.declare(V(fid=fid, name=effect.fact, value=effect.value))
            self.leukodx_asserted[rule_id] = (fid,)


def _field_patterns(atom: Atom) -> dict[str, Any]:
    by_field: dict[str, list[Predicate]] = {}
    for test in atom.tests:
        by_field.setdefault(test.field, []).append(test_predicate(test))
    return {fld: experta.P(all_of(preds)) for fld, preds in by_field.items()}


def _pattern(atom: Atom) -> Any:
    fields = _field_patterns(atom)
    if atom.kind == "fact":
        value = fields.get("value")
        return V(name=atom.name, value=value) if value is not None else V(name=atom.name)
    if atom.kind == "medication":
        return X(agent=atom.name, **fields)
    return M(kind=atom.kind, name=atom.name, **fields)


def _branch_patterns(branch: tuple[Literal, ...]) -> list[Any]:
    patterns = []
    for i, lit in enumerate(branch):
        pattern = _pattern(lit.atom)
        patterns.append(
            experta.NOT(pattern) if lit.negated else getattr(experta.AS, f"f{i}") << pattern
        )
    return patterns


def _action(rule_id: str) -> Any:
    def fire(self: _LeukodxEngine, **bound: Any) -> None:
        self.leukodx_fire(rule_id, bound)

    fire.__name__ = "fire_" + rule_id.replace(".", "_")
    return fire


def engine_class(kb: KnowledgeBase) -> type[_LeukodxEngine]:
    """A KnowledgeEngine subclass with one experta rule per rule branch."""
    top = max((r.stratum for r in kb.rules), default=0)
    attrs: dict[str, Any] = {"effects": {r.id: r.then for r in kb.rules}}
    for index, rule in enumerate(kb.rules):
        branches = []
        for branch in rule.branches:
            patterns = _branch_patterns(branch)
            if all(isinstance(p, experta.NOT) for p in patterns):
                patterns.insert(0, experta.InitialFact())
            branches.append(experta.AND(*patterns))
        lhs = branches[0] if len(branches) == 1 else experta.OR(*branches)
        attrs[f"r{index:04d}"] = experta.Rule(lhs, salience=top - rule.stratum)(_action(rule.id))
    return type("CompiledKnowledgeBase", (_LeukodxEngine,), attrs)


class ExpertaMatcher:
    """Runs patients on per-thread instances of one compiled engine class."""

    backend = NAME

    def __init__(self, kb: KnowledgeBase) -> None:
        self._cls = engine_class(kb)
        self._local = threading.local()

    def _engine(self) -> _LeukodxEngine:
        engine: _LeukodxEngine | None = getattr(self._local, "engine", None)
        if engine is None:
            engine = self._cls()
            self._local.engine = engine
        return engine

    def run(self, facts: FactSet) -> list[Firing]:
        engine = self._engine()
        engine.reset()
        engine.leukodx_start()
        engine.declare(*experta_facts(facts))  # one agenda update for all input facts
        engine.run()
        return [
            Firing(
                rid,
                tuple(sorted(engine.leukodx_matched[rid])),
                engine.leukodx_asserted.get(rid, ()),
            )
            for rid in engine.leukodx_order
        ]


def experta_facts(facts: FactSet) -> list[Any]:
    """The patient's facts as experta facts, in canonical order; absent fields are None."""
    out: list[Any] = [V(fid=v.fid, name=v.name, value=v.value) for v in facts.values]
    for m in facts.members:
        fields = {k: m.fields.get(k) for k in MEMBERSHIP_FIELDS}
        out.append(M(fid=m.fid, kind=m.kind, name=m.name, **fields))
    for c in facts.courses:
        fields = {k: c.fields.get(k) for k in MEDICATION_FIELDS}
        out.extend(X(fid=c.fid, agent=agent, drug=c.drug, **fields) for agent in c.agents)
    return out


def compile(kb: KnowledgeBase) -> ExpertaMatcher:  # noqa: A001 - the seam's verb (backends/base.py)
    return ExpertaMatcher(kb)
