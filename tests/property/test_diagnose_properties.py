# SPDX-License-Identifier: Apache-2.0
"""Properties of diagnose() on the bundled knowledge base: determinism, unit invariance, input
order invariance, score = prior + listed weights, monotonic evidence, and no exception other
than InputError on any generated input."""

from __future__ import annotations

import copy
import datetime as dt
import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import InputError, diagnose, load_knowledge_base
from engine.kb.schema import AddEvidence, AllOf, AnyOf, Atom, Condition, Derive, Not, RaiseAlert
from tests.strategies import junk, patients

TODAY = dt.date(2025, 3, 1)
#: Each example runs the full engine twice; the "slow" profile (HYPOTHESIS_PROFILE=slow) runs more.
HEAVY = settings(max_examples=max(25, settings.default.max_examples // 4), deadline=None)


def run(p: Any) -> Any:
    return diagnose(p, today=TODAY)


@HEAVY
@given(patients())
def test_deterministic(patient: dict[str, Any]) -> None:
    assert run(patient).to_json() == run(copy.deepcopy(patient)).to_json()


@HEAVY
@given(patients(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(patient: dict[str, Any], rnd: random.Random) -> None:
    shuffled = copy.deepcopy(patient)
    for key in ("labs", "medications", "conditions", "findings", "history"):
        rnd.shuffle(shuffled[key])
    assert run(patient).to_json() == run(shuffled).to_json()


_PER_UL = {"wbc", "anc", "alc", "platelets", "lgl_count", "reticulocytes"}


@HEAVY
@given(patients())
def test_units_do_not_matter(patient: dict[str, Any]) -> None:
    """The same counts in /uL (x1000) and 10^9/L give identical output."""
    converted = copy.deepcopy(patient)
    for lab in converted["labs"]:
        if lab.get("unit") == "10^9/L" and lab["test"] in _PER_UL:
            lab["value"] = round(lab["value"] * 1000)
            lab["unit"] = "/uL"
    for lab in patient["labs"]:
        if lab.get("unit") == "10^9/L" and lab["test"] in _PER_UL:
            lab["value"] = round(lab["value"] * 1000) / 1000
    assert run(patient).to_json() == run(converted).to_json()


@HEAVY
@given(patients())
def test_score_is_prior_plus_listed_weights(patient: dict[str, Any]) -> None:
    d = run(patient)
    ranks = [c.rank for c in d.candidates]
    assert ranks == list(range(1, len(ranks) + 1))
    floor = load_knowledge_base().manifest.model.list_floor
    for c in d.candidates:
        # listed by evidence for it, or by a probability at or above the listing floor
        assert c.evidence_for or c.probability >= floor - 1e-4, c.cause
        listed = [e.weight for e in (*c.evidence_for, *c.evidence_against)]
        assert round(c.prior + math.fsum(listed), 4) == c.score
    scores = [(-c.score, c.cause) for c in d.candidates]
    assert scores == sorted(scores)


def _atoms(cond: Condition, negated: bool = False) -> list[tuple[Atom, bool]]:
    if isinstance(cond, Atom):
        return [(cond, negated)]
    if isinstance(cond, Not):
        return _atoms(cond.child, not negated)
    assert isinstance(cond, (AnyOf, AllOf))
    return [a for child in cond.children for a in _atoms(child, negated)]


def monotone_words() -> list[tuple[str, str]]:
    """(kind, word) pairs that only ever appear un-negated in positive-weight evidence rules:
    adding one to a patient can only add evidence for, never remove any or change a finding."""
    kb = load_knowledge_base()
    seen: dict[tuple[str, str], bool] = {}
    for rule in kb.rules:
        for atom, negated in _atoms(rule.when):
            if atom.kind not in ("condition", "finding", "history") or atom.tests:
                key = (atom.kind, atom.name)
                seen[key] = False
                continue
            key = (atom.kind, atom.name)
            ok = isinstance(rule.then, AddEvidence) and rule.then.weight > 0 and not negated
            seen[key] = seen.get(key, True) and ok
            if isinstance(rule.then, (Derive, RaiseAlert)):
                seen[key] = False
    return sorted(k for k, ok in seen.items() if ok)


MONOTONE = monotone_words()
_FIELD = {"condition": "conditions", "finding": "findings", "history": "history"}


@HEAVY
@given(patients(), st.sampled_from(MONOTONE or [("finding", "fever")]))
def test_more_evidence_never_lowers_a_score(patient: dict[str, Any], word: tuple[str, str]) -> None:
    kind, name = word
    before = run(patient)
    more = copy.deepcopy(patient)
    more[_FIELD[kind]].append(name)
    after = run(more)
    after_scores = {c.cause: c.score for c in after.candidates}
    for c in before.candidates:
        if c.evidence_for:  # listed by its evidence: still listed (a cause listed only by its
            assert c.cause in after_scores  # probability may drop out as another rises)
        if c.cause in after_scores:
            assert after_scores[c.cause] >= c.score


def test_monotone_words_exist() -> None:
    assert len(MONOTONE) >= 5


@settings(max_examples=300, deadline=None)
@given(junk())
def test_junk_raises_only_input_error(data: Any) -> None:
    try:
        run(data)
    except InputError as exc:
        assert str(exc)
        assert exc.field


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["wbc", "anc", "alc", "hemoglobin", "platelets", "mcv"]),
        st.one_of(st.floats(allow_nan=True), st.integers(), st.booleans(), st.text(max_size=5)),
        min_size=1,
    )
)
def test_shorthand_junk_raises_only_input_error(data: dict[str, Any]) -> None:
    try:
        run(data)
    except InputError as exc:
        assert exc.field
