# SPDX-License-Identifier: Apache-2.0
"""The knowledge base as CLIPS source text (used by :mod:`engine.backends.clips`).

Pure text generation, no clipspy: every construct is derived from ``kb.rules`` and the fact
catalogue (:mod:`engine.kb.catalog`), so nothing is written twice by hand.

Facts (one deftemplate each): ``v`` value facts (fid, name, value); ``m`` memberships (fid, kind,
name + :data:`~engine.kb.catalog.MEMBERSHIP_FIELDS`); ``x`` medication courses, once per agent
(fid, agent, drug + :data:`~engine.kb.catalog.MEDICATION_FIELDS`); ``firing``, the trace the
rules write (seq, rule indices, matched fact ids).

Values keep their rule-language type in distinct CLIPS types, so the semantics of
:mod:`engine.backends.predicates` carry over: words are STRINGs, booleans the SYMBOLs ``TRUE`` and
``FALSE``, numbers INTEGER or FLOAT, and a missing field is the SYMBOL ``nil`` (which no test
accepts). A word ``"true"`` is therefore never the boolean ``TRUE``, and a boolean never a number.
Numbers compare with ``=``/``<``, which is numeric across INTEGER and FLOAT (``1 = 1.0``), like
Python; ``eq`` is only used for words and booleans.

Each distinct DNF branch becomes one defrule with salience ``top - stratum`` (as in the experta
backend), shared by every rule that has that branch at that salience. Its action asserts one
``firing`` fact per activation, naming those rules, and, for each derive rule among them, the
value fact it derives; CLIPS ignores a duplicate assert, so a derived fact exists once however
often its rule matches. The matcher reads the firing facts back once per patient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import LeukodxError
from engine.kb.catalog import MEDICATION_FIELDS, MEMBERSHIP_FIELDS
from engine.kb.schema import Atom, Derive, Literal, Rule, Scalar, Test

VALUE, MEMBER, COURSE, FIRING = "v", "m", "x", "firing"
#: The patient fact templates and their slots, in template order. The slots rules discriminate
#: on come first (CLIPS tests slots in this order); ``fid`` is only bound, so it comes last.
TEMPLATES: dict[str, tuple[str, ...]] = {
    VALUE: ("name", "value", "bound", "fid"),
    MEMBER: ("kind", "name", *MEMBERSHIP_FIELDS, "fid"),
    COURSE: ("agent", "drug", *MEDICATION_FIELDS, "fid"),
}
#: What the loader reads per fact, after ``fid`` (which it numbers itself, from 0): a course
#: is one record (agents first, as a count and the names) and becomes one ``x`` fact per agent.
RECORDS: dict[str, tuple[str, ...]] = {
    VALUE: ("name", "value", "bound"),
    MEMBER: ("kind", "name", *MEMBERSHIP_FIELDS),
    COURSE: ("drug", *MEDICATION_FIELDS),
}
#: Deffunction asserting a patient's facts from one flat argument list: for each template in
#: RECORDS order, a count and then that many records.
LOAD_FACTS = "leukodx-assert"
#: Deffunction returning the firings as a multifield of strings, one per firing fact:
#: ``seq k rule-index... matched...`` (rule indices into ``kb.rules``; matched fids are patient
#: fact numbers, or :func:`derived_number` of the rule that derived the fact). One string per
#: fact, and not one multifield of every token, because growing a multifield copies it whole:
#: with some 120 firing facts a case, the one-multifield version took three times as long.
READ_FIRINGS = "leukodx-firings"
SEQ = "?*leukodx-seq*"

_ORDER = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def content(text: str) -> str:
    """An injective, printable-ASCII image of ``text``: what a word is inside CLIPS.

    Non-ASCII and control characters (and backslashes) are escaped Python-style, so that no
    input (quotes, NUL, newlines, unicode) can break a literal, be cut short by the C API or
    collide with another word. Rule literals and patient values both go through it.
    """
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # what unicode_escape would return, only faster
    return text.encode("unicode_escape").decode("ascii")


def string(text: str) -> str:
    """A CLIPS STRING literal whose content is :func:`content` of ``text``."""
    return '"' + content(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value) if abs(value) < 2**63 else number(float(value))
    if math.isnan(value):
        raise LeukodxError("clips backend: NaN cannot be represented")
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"  # CLIPS reads these as FLOAT +/-inf
    text = repr(value)
    return text if any(c in text for c in ".e") else text + ".0"


def literal(value: Scalar) -> str:
    """A rule-language scalar as a CLIPS constant of its own type."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return string(value)
    return number(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equals(var: str, value: Scalar) -> str:
    if _is_number(value):
        assert not isinstance(value, (bool, str))
        return f"(and (numberp {var}) (= {var} {number(value)}))"
    return f"(eq {var} {literal(value)})"


def test_expression(var: str, test: Test) -> str:
    """One test on the field bound to ``var`` as a CLIPS boolean expression."""
    value = test.value
    if test.op == "eq":
        assert not isinstance(value, tuple)
        return _equals(var, value)
    if test.op == "ne":
        assert not isinstance(value, tuple)
        return f"(and (neq {var} nil) (not {_equals(var, value)}))"
    if test.op in ("in", "not_in"):
        options = value if isinstance(value, tuple) else (value,)
        tests = [_equals(var, o) for o in options]
        member = tests[0] if len(tests) == 1 else "(or " + " ".join(tests) + ")"
        return member if test.op == "in" else f"(and (neq {var} nil) (not {member}))"
    if test.op in _ORDER and _is_number(value):
        assert not isinstance(value, (bool, str, tuple))
        return f"(and (numberp {var}) ({_ORDER[test.op]} {var} {number(float(value))}))"
    raise LeukodxError(f"clips backend: cannot compile test {test.field} {test.op} {value!r}")


def _slot(field: str, var: str, tests: list[Test]) -> str:
    """A slot constraint: a literal for a single word/boolean ``eq``, else a predicate."""
    if len(tests) == 1 and tests[0].op == "eq" and isinstance(tests[0].value, (str, bool)):
        return f"({field} {literal(tests[0].value)})"
    exprs = [test_expression(var, t) for t in tests]
    joined = exprs[0] if len(exprs) == 1 else "(and " + " ".join(exprs) + ")"
    return f"({field} {var}&:{joined})"


def pattern(atom: Atom, index: int, bind: bool) -> str:
    """The pattern of one atom; ``bind`` binds its fid to ``?f<index>``."""
    if atom.kind == "fact":
        head = [VALUE, f"(name {string(atom.name)})"]
    elif atom.kind == "medication":
        head = [COURSE, f"(agent {string(atom.name)})"]
    else:
        head = [MEMBER, f"(kind {string(atom.kind)})", f"(name {string(atom.name)})"]
    if bind:
        head.insert(1, f"(fid ?f{index})")
    by_field: dict[str, list[Test]] = {}
    for test in atom.tests:
        by_field.setdefault(test.field, []).append(test)
    slots = [
        _slot(fld, f"?x{index}_{n}", tests)
        for n, (fld, tests) in enumerate(sorted(by_field.items()))
    ]
    if atom.kind == "fact" and "value" in by_field:
        slots += _bound_slot(by_field["value"])
    return "(" + " ".join(head + slots) + ")"


#: The ``bound`` slot of a value fact: nil for an exact value, "upper" for a result known only
#: as at most its value (``<x``), "lower" for at least (``>x``); see engine/series.UpperBound.
UPPER, LOWER = "upper", "lower"


def _bound_slot(tests: list[Test]) -> list[str]:
    """The constraint on the ``bound`` slot that keeps a bound from meeting a test it does not
    decide: an upper bound meets only "below" tests (at its number), a lower bound only "above"
    tests, and neither an equality or membership test."""
    allowed = {UPPER, LOWER}
    for test in tests:
        if test.op in ("lt", "le"):
            allowed.discard(LOWER)
        elif test.op in ("gt", "ge"):
            allowed.discard(UPPER)
        else:
            allowed.clear()
    if allowed == {UPPER, LOWER}:
        return []
    if not allowed:
        return ["(bound nil)"]
    (forbidden,) = {UPPER, LOWER} - allowed
    return [f"(bound ~{string(forbidden)})"]


def _lhs(branch: tuple[Literal, ...]) -> tuple[list[str], list[str]]:
    """One branch's patterns, and the variables holding the fids of the facts it matches."""
    lhs = []
    matched = []
    for i, lit in enumerate(branch):
        if lit.negated:
            lhs.append(f"(not {pattern(lit.atom, i, bind=False)})")
        else:
            lhs.append(pattern(lit.atom, i, bind=True))
            matched.append(f"?f{i}")
    return lhs, matched


def defrule(
    members: list[tuple[int, Rule]], name: str, branch: tuple[list[str], list[str]], salience: int
) -> str:
    """One defrule for ``branch`` (its patterns and matched variables, :func:`_lhs`), which every
    rule of ``members`` (index in ``kb.rules``, rule) has as one of its branches: one activation
    records the firing of them all. Its action asserts one ``firing`` fact (the rules' indices
    and the fids matched) and, for each derive rule among them, the value fact whose fid is
    :func:`derived_number` of the rule's index."""
    lhs, matched = branch
    indices = " ".join(str(index) for index, _ in members)
    rhs = [
        f"(bind {SEQ} (+ {SEQ} 1))",
        f"(assert ({FIRING} (seq {SEQ}) (rules {indices}) (matched {' '.join(matched)})))",
    ]
    for index, rule in members:
        if isinstance(rule.then, Derive):
            rhs.append(
                f"(assert ({VALUE} (fid {derived_number(index)}) (name {string(rule.then.fact)}) "
                f"(value {literal(rule.then.value)})))"
            )
    return (
        f"(defrule {name} (declare (salience {salience}))\n  "
        + "\n  ".join(lhs)
        + "\n  =>\n  "
        + "\n  ".join(rhs)
        + ")"
    )


def derived_number(index: int) -> int:
    """The fid, inside CLIPS, of the fact derived by rule ``index`` of ``kb.rules``: negative,
    so that it never meets a patient fact's fid (0, 1, ...); the matcher maps it back to
    :func:`~engine.backends.base.derived_fid` of the rule's id."""
    return -1 - index


def _template(name: str, slots: tuple[str, ...], multi: tuple[str, ...] = ()) -> str:
    parts = [f"(slot {s} (default nil))" for s in slots]
    parts += [f"(multislot {s})" for s in multi]
    return f"(deftemplate {name} " + " ".join(parts) + ")"


def _loader() -> str:
    """The loader deffunction (one call through the C API costs far less than one per fact).
    ``?i`` walks the arguments, ``?id`` numbers the facts in the order the caller listed them."""
    body = []
    for name, slots in RECORDS.items():
        if name == COURSE:  # ?k agents, then the course's fields from ?c on
            put = " ".join(f"({s} (nth$ (+ ?c {n}) ?d))" for n, s in enumerate(slots))
            each = (
                f"(bind ?k (nth$ ?i ?d)) (bind ?c (+ ?i ?k 1))"
                f" (loop-for-count (?a 1 ?k) (assert ({name} (agent (nth$ (+ ?i ?a) ?d))"
                f" {put} (fid ?id)))) (bind ?i (+ ?c {len(slots)}))"
            )
        else:
            put = " ".join(f"({s} (nth$ (+ ?i {n}) ?d))" for n, s in enumerate(slots))
            each = f"(assert ({name} {put} (fid ?id))) (bind ?i (+ ?i {len(slots)}))"
        body.append(
            f"(bind ?n (nth$ ?i ?d)) (bind ?i (+ ?i 1))"
            f" (loop-for-count ?n {each} (bind ?id (+ ?id 1)))"
        )
    return f"(deffunction {LOAD_FACTS} ($?d) (bind ?i 1) (bind ?id 0) " + " ".join(body) + " TRUE)"


@dataclass(frozen=True)
class Mentioned:
    """What the rules mention. A fact outside this cannot match any pattern (every pattern
    names its fact, membership or agent), so the matcher need not assert it."""

    values: frozenset[str]
    members: frozenset[tuple[str, str]]
    agents: frozenset[str]


def mentioned(rules: tuple[Rule, ...]) -> Mentioned:
    atoms = [lit.atom for rule in rules for branch in rule.branches for lit in branch]
    return Mentioned(
        frozenset(a.name for a in atoms if a.kind == "fact"),
        frozenset((a.kind, a.name) for a in atoms if a.kind not in ("fact", "medication")),
        frozenset(a.name for a in atoms if a.kind == "medication"),
    )


def support_constructs() -> list[str]:
    """Templates, the firing counter, the fact loader and the function reading firings back."""
    return [
        *(_template(name, slots) for name, slots in TEMPLATES.items()),
        _template(FIRING, ("seq",), ("rules", "matched")),
        f"(defglobal {SEQ} = 0)",
        _loader(),
        f"(deffunction {READ_FIRINGS} () (bind ?out (create$))"
        f" (do-for-all-facts ((?f {FIRING})) TRUE"
        " (bind ?out (create$ ?out (implode$ (create$ ?f:seq (length$ ?f:rules) ?f:rules"
        " ?f:matched))))) ?out)",
    ]


def rule_constructs(rules: tuple[Rule, ...]) -> list[str]:
    """The defrules of every rule: one per distinct DNF branch and salience (``top - stratum``).
    Branches that are the same patterns at the same salience (the profile rules of one finding
    for each of some 29 causes, for instance) become one defrule recording all their rules, so
    CLIPS matches and fires them once: 2,160 branches made 922 defrules (2026-12-07), and a
    patient's firing facts to read back fell to about a third."""
    top = max((r.stratum for r in rules), default=0)
    Members = list[tuple[int, Rule]]
    groups: dict[tuple[int, tuple[str, ...]], tuple[tuple[list[str], list[str]], Members]] = {}
    for index, rule in enumerate(rules):
        salience = top - rule.stratum
        for branch in rule.branches:
            lhs, matched = _lhs(branch)
            _, members = groups.setdefault((salience, tuple(lhs)), ((lhs, matched), []))
            if not members or members[-1][0] != index:  # two branches of one rule alike
                members.append((index, rule))
    return [
        defrule(members, f"g{n:04d}", branch, salience)
        for n, ((salience, _), (branch, members)) in enumerate(groups.items())
    ]
