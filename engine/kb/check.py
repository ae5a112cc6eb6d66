# SPDX-License-Identifier: Apache-2.0
"""Cross-checks of a parsed knowledge base: names, types, citations, reachability, strata.

Each check appends :class:`~engine.errors.Problem` objects; nothing is raised here. Also turns
each rule's ``when`` into disjunctive normal form and assigns strata so that every rule fires
after all rules that derive a fact it uses (negation over derived facts is then well defined).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterator
from dataclasses import replace

from engine import vocab
from engine.errors import Problem
from engine.kb.catalog import INPUT_VALUES, MEDICATION_FIELDS, MEMBERSHIP_FIELDS, FactType
from engine.kb.parse import is_number
from engine.kb.schema import (
    AddEvidence,
    AllOf,
    AnyOf,
    Atom,
    Condition,
    Derive,
    Literal,
    Not,
    Rule,
    Scalar,
)

MAX_BRANCHES = 64


def to_dnf(cond: Condition, negate: bool = False) -> list[tuple[Literal, ...]]:
    """Disjunctive normal form: a list of branches, each a conjunction of (negated) atoms."""
    if isinstance(cond, Atom):
        return [(Literal(cond, negate),)]
    if isinstance(cond, Not):
        return to_dnf(cond.child, not negate)
    conjunctive = isinstance(cond, AllOf) != negate  # De Morgan
    parts = [to_dnf(child, negate) for child in cond.children]
    if not conjunctive:
        return [branch for part in parts for branch in part]
    return [tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*parts)]


def derived_types(rules: list[Rule], problems: list[Problem]) -> dict[str, FactType]:
    """The facts rules derive, each with the words/values it can take."""
    values: dict[str, set[Scalar]] = {}
    for rule in rules:
        if isinstance(rule.then, Derive):
            if rule.then.fact in INPUT_VALUES:
                problems.append(
                    Problem(
                        rule.file,
                        rule.line,
                        rule.id,
                        f"derives '{rule.then.fact}', which is an input fact",
                    )
                )
                continue
            values.setdefault(rule.then.fact, set()).add(rule.then.value)
    out: dict[str, FactType] = {}
    for name, seen in values.items():
        kinds = {_kind_of(v) for v in seen}
        kind = kinds.pop() if len(kinds) == 1 else "word"
        words = tuple(sorted(str(v) for v in seen)) if kind in ("word", "bool") else ()
        out[name] = FactType(kind, words)
    return out


def _kind_of(value: Scalar) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else "word"


class RuleChecker:
    """Checks every atom and effect of the rules against the catalogue and the KB's names."""

    def __init__(
        self, derived: dict[str, FactType], agents: frozenset[str], causes: frozenset[str],
        citations: frozenset[str], problems: list[Problem],
    ) -> None:  # fmt: skip
        self.values = {**INPUT_VALUES, **derived}
        self.derived = derived
        self.agents = agents
        self.causes = causes
        self.citations = citations
        self.problems = problems

    def error(self, rule: Rule, line: int, message: str) -> None:
        self.problems.append(Problem(rule.file, line or rule.line, rule.id, message))

    def check(self, rule: Rule) -> Rule | None:
        before = len(self.problems)
        for cid in rule.cite:
            if cid not in self.citations:
                self.error(
                    rule,
                    rule.line,
                    f"cites '{cid}', which is not in the citations registry"
                    + dym(cid, self.citations),
                )
        self._effect(rule)
        for atom in _atoms(rule.when):
            self._atom(rule, atom)
        if len(self.problems) > before:
            return None
        branches = to_dnf(rule.when)
        if len(branches) > MAX_BRANCHES:
            self.error(
                rule,
                rule.line,
                f"'when' expands to {len(branches)} alternatives "
                f"(at most {MAX_BRANCHES}); split the rule",
            )
            return None
        possible = tuple(b for b in branches if _satisfiable(b))
        if not possible:
            self.error(rule, rule.line, "can never fire: its conditions contradict each other")
            return None
        return replace(rule, branches=possible)

    def _effect(self, rule: Rule) -> None:
        if isinstance(rule.then, AddEvidence):
            if rule.then.cause not in self.causes:
                self.error(
                    rule,
                    rule.line,
                    f"unknown cause '{rule.then.cause}'" + dym(rule.then.cause, self.causes),
                )
            if not rule.weight_basis:
                self.error(
                    rule,
                    rule.line,
                    "an evidence rule needs a weight_basis (the figure "
                    "from the source, or 'expert judgement')",
                )
            else:
                self._weight_basis_cites(rule, rule.weight_basis, rule.then.origin)

    def _weight_basis_cites(self, rule: Rule, basis: str, origin: str) -> None:
        """A weight's basis names its sources in brackets (``[alvir1993]``); each named reference
        must be one the rule cites, so that the figure behind a weight can be looked up in the
        rule's own citations. A ``literature`` weight quotes a source, so it must name one."""
        named = weight_basis_refs(basis, self.citations)
        for token in _ref_like(basis):
            if token not in self.citations:
                self.error(
                    rule, rule.line,
                    f"weight_basis names [{token}], which is not in the citations registry"
                    + dym(token, self.citations),
                )  # fmt: skip
        for cid in named:
            if cid not in rule.cite:
                self.error(
                    rule, rule.line,
                    f"weight_basis cites [{cid}], which the rule does not cite (add it to cite: "
                    "or name the source the figure comes from)",
                )  # fmt: skip
        if origin == "literature" and not any(cid in rule.cite for cid in named):
            self.error(
                rule, rule.line,
                "a literature weight_basis must name the cited source of its figure in brackets, "
                f"e.g. [{rule.cite[0] if rule.cite else 'ref2020'}]",
            )  # fmt: skip

    def _atom(self, rule: Rule, atom: Atom) -> None:
        if atom.kind == "fact":
            ftype = self.values.get(atom.name)
            if ftype is None:
                self.error(
                    rule,
                    atom.line,
                    f"unknown fact '{atom.name}'; no input or rule "
                    "provides it" + dym(atom.name, self.values),
                )
                return
            fields = {"value": ftype}
        elif atom.kind == "medication":
            if atom.name not in self.agents:
                self.error(
                    rule,
                    atom.line,
                    f"unknown drug or class '{atom.name}' (not in the "
                    "lexicon)" + dym(atom.name, self.agents),
                )
            fields = MEDICATION_FIELDS
        else:
            # a suspected drug names a lexicon drug or class, like a medication condition
            known = self.agents if atom.kind == "suspected_drug" else vocab.MEMBERSHIP[atom.kind]
            if atom.name not in known:
                self.error(
                    rule,
                    atom.line,
                    f"unknown {atom.kind} '{atom.name}'; the rule can "
                    "never fire" + dym(atom.name, known),
                )
            fields = MEMBERSHIP_FIELDS
        for test in atom.tests:
            ftype = fields.get(test.field)
            if ftype is None:
                self.error(
                    rule,
                    atom.line,
                    f"unknown field '{test.field}' for {atom.kind} "
                    f"(expected one of {', '.join(fields)})" + dym(test.field, fields),
                )
                continue
            self._test_type(rule, atom, test.field, test.op, test.value, ftype)

    def _test_type(
        self, rule: Rule, atom: Atom, fld: str, op: str, value: object, ftype: FactType
    ) -> None:
        values = value if isinstance(value, tuple) else (value,)
        what = atom.name if fld == "value" else f"{atom.name}.{fld}"
        for v in values:
            if ftype.kind == "number" and not is_number(v):
                self.error(rule, atom.line, f"{what} is a number; cannot compare with {v!r}")
            elif ftype.kind == "bool" and not isinstance(v, bool):
                self.error(rule, atom.line, f"{what} is true/false; cannot compare with {v!r}")
            elif ftype.kind in ("word", "bool") and op in ("lt", "le", "gt", "ge"):
                self.error(
                    rule, atom.line, f"'{op}' needs a number, but {what} is {ftype.describe()}"
                )
            elif ftype.kind == "word" and ftype.words and str(v) not in ftype.words:
                self.error(
                    rule,
                    atom.line,
                    f"{what} is never {v!r} ({ftype.describe()}); the "
                    "rule can never fire" + dym(str(v), ftype.words),
                )
            elif ftype.kind == "bool" and ftype.words and str(v) not in ftype.words and op == "eq":
                self.error(
                    rule, atom.line, f"no rule derives {what} = {v!r}; the rule can never fire"
                )


_BRACKETS = re.compile(r"\[([^\[\]]+)\]")


def weight_basis_refs(basis: str, citations: Collection[str]) -> tuple[str, ...]:
    """The reference ids a weight_basis names in brackets (``[a]``, ``[a; b]``, ``[a, b]``),
    in order; bracketed text that is not a registered reference id is ordinary prose."""
    found = (part.strip() for m in _BRACKETS.findall(basis) for part in re.split(r"[;,]", m))
    return tuple(dict.fromkeys(cid for cid in found if cid in citations))


def _ref_like(basis: str) -> Iterator[str]:
    """Bracketed tokens shaped like a reference id (lower case, with a digit, no spaces)."""
    for m in _BRACKETS.findall(basis):
        for part in re.split(r"[;,]", m):
            token = part.strip()
            if _REF_ID.match(token) and any(ch.isdigit() for ch in token):
                yield token


_REF_ID = re.compile(r"^[a-z][a-z0-9-]*$")


def dym(word: str, known: object) -> str:
    """A " (did you mean ...?)" suffix for a lint message, or "" when nothing is close."""
    hint = vocab.suggest(word, list(known))  # type: ignore[call-overload]
    return f" (did you mean '{hint}'?)" if hint else ""


def _atoms(cond: Condition) -> Iterator[Atom]:
    if isinstance(cond, Atom):
        yield cond
    elif isinstance(cond, Not):
        yield from _atoms(cond.child)
    elif isinstance(cond, (AnyOf, AllOf)):
        for child in cond.children:
            yield from _atoms(child)


def _satisfiable(branch: tuple[Literal, ...]) -> bool:
    """False when one atom's own tests contradict (lt 0.5 with gt 1.0), or an atom is both
    required and forbidden in the same branch."""
    positives = {lit.atom for lit in branch if not lit.negated}
    if any(lit.negated and lit.atom in positives for lit in branch):
        return False
    return all(_atom_satisfiable(atom) for atom in positives)


def _atom_satisfiable(atom: Atom) -> bool:
    by_field: dict[str, list[tuple[str, object]]] = {}
    for t in atom.tests:
        by_field.setdefault(t.field, []).append((t.op, t.value))
    return all(_interval_ok(tests) for tests in by_field.values())


def _interval_ok(tests: list[tuple[str, object]]) -> bool:
    low, high = float("-inf"), float("inf")
    low_open = high_open = False
    eqs = {v for op, v in tests if op == "eq"}
    if len(eqs) > 1:
        return False
    for op, v in tests:
        if not is_number(v):
            continue
        if op in ("gt", "ge") and (v > low or (v == low and op == "gt")):
            low, low_open = float(v), op == "gt"
        if op in ("lt", "le") and (v < high or (v == high and op == "lt")):
            high, high_open = float(v), op == "lt"
    if low > high or (low == high and (low_open or high_open)):
        return False
    for v in eqs:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v < low or v > high or (v == low and low_open) or (v == high and high_open):
                return False
        if any(op == "ne" and w == v for op, w in tests):
            return False
    return True


def assign_strata(rules: list[Rule], problems: list[Problem]) -> list[Rule]:
    """Stratum = 1 + the highest stratum of any rule deriving a fact this rule uses.
    A cycle (a fact that depends on itself) is an error."""
    producers: dict[str, list[Rule]] = {}
    for rule in rules:
        if isinstance(rule.then, Derive):
            producers.setdefault(rule.then.fact, []).append(rule)
    memo: dict[str, int] = {}
    visiting: set[str] = set()

    def stratum(rule: Rule) -> int:
        if rule.id in memo:
            return memo[rule.id]
        if rule.id in visiting:
            raise _Cycle(rule)
        visiting.add(rule.id)
        uses = {a.name for a in _atoms(rule.when) if a.kind == "fact"}
        deps = [p for name in sorted(uses) for p in producers.get(name, [])]
        memo[rule.id] = 1 + max((stratum(p) for p in deps), default=-1)
        visiting.discard(rule.id)
        return memo[rule.id]

    out = []
    for rule in rules:
        try:
            out.append(replace(rule, stratum=stratum(rule)))
        except _Cycle as cyc:
            problems.append(
                Problem(
                    rule.file,
                    rule.line,
                    rule.id,
                    f"derivation cycle through rule '{cyc.rule.id}': a fact depends on itself",
                )
            )
            visiting.clear()
    return out


class _Cycle(Exception):
    def __init__(self, rule: Rule) -> None:
        self.rule = rule
