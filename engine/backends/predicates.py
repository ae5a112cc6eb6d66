# SPDX-License-Identifier: Apache-2.0
"""Rule-language tests as Python predicates, for backends that match in Python (experta).

Every predicate is built by a factory function, so each closure captures its own operands
(a lambda written in a loop would see only the loop's last value). A missing value (None) never
satisfies a test, booleans never compare equal to numbers, and a result known only as a bound
satisfies only the tests it decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.kb.schema import Test
from engine.series import BOUNDS, LowerBound, UpperBound

Predicate = Callable[[Any], bool]


def _same_kind(a: object, b: object) -> bool:
    return isinstance(a, bool) == isinstance(b, bool)


def _exact(v: object) -> bool:
    """Not missing and not only a bound (:class:`~engine.series.UpperBound`): a bound meets an
    ordered test only in the direction it decides, and never an equality or membership test."""
    return v is not None and type(v) not in BOUNDS


def _eq(expected: object) -> Predicate:
    return lambda v: _exact(v) and _same_kind(v, expected) and v == expected


def _ordered(op: str, bound: float) -> Predicate:
    compare: dict[str, Callable[[float], bool]] = {
        "lt": lambda v: v < bound, "le": lambda v: v <= bound,
        "gt": lambda v: v > bound, "ge": lambda v: v >= bound,
    }  # fmt: skip
    check = compare[op]
    undecided = LowerBound if op in ("lt", "le") else UpperBound  # at least x: never below T
    return lambda v: (
        isinstance(v, (int, float)) and not isinstance(v, bool) and type(v) is not undecided
        and check(v)
    )  # fmt: skip


def _member(options: tuple[object, ...]) -> Predicate:
    return lambda v: _exact(v) and any(_same_kind(v, o) and v == o for o in options)


def test_predicate(test: Test) -> Predicate:
    """One test (``op``, ``value``) as a predicate on a field value."""
    value = test.value
    if test.op == "eq":
        return _eq(value)
    if test.op == "ne":
        eq = _eq(value)
        return lambda v: _exact(v) and not eq(v)
    if test.op in ("in", "not_in"):
        options = value if isinstance(value, tuple) else (value,)
        member = _member(options)
        return member if test.op == "in" else (lambda v: _exact(v) and not member(v))
    assert isinstance(value, (int, float)) and not isinstance(value, bool)
    return _ordered(test.op, float(value))


def all_of(predicates: list[Predicate]) -> Predicate:
    """Conjunction of predicates on one field."""
    frozen = tuple(predicates)
    return lambda v: all(p(v) for p in frozen)
