# SPDX-License-Identifier: Apache-2.0
"""A result reported as a bound (``<600``, ``>5``) meets only the thresholds it decides, on both
backends: a user probe found platelets ``>5`` raising the critical "platelets 10 or less" alert
and LDH ``<600`` read as a raised LDH, because a bound was read at its number. A threshold it
does not decide is neither met nor unmet, as if the value were not measured. The white counts
keep their own bound rules (read at the number, with ``<test>_is_upper_bound``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.api import diagnose
from engine.differential import Differential
from engine.kb.load import KnowledgeBase
from tests.conftest import RULE_TEST_BACKENDS

BACKENDS = RULE_TEST_BACKENDS
DAY = "2025-02-10"


def lab(test: str, value: float, unit: str, comparator: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"test": test, "value": value, "unit": unit, "date": DAY}
    return out | ({"comparator": comparator} if comparator else {})


WHITE = [lab("wbc", 2.0, "10^9/L"), lab("anc", 0.9, "10^9/L")]


def run(kb: KnowledgeBase, backend: str, *labs: dict[str, Any]) -> Differential:
    return diagnose({"age": 60, "as_of": DAY, "labs": [*WHITE, *labs]}, kb=kb, backend=backend)


def profile(d: Differential, finding: str) -> set[str]:
    """Which sides of a profile finding fired: "present", "absent" (any cause)."""
    sides = set()
    for t in d.trace:
        if t.rule_id.endswith(f".profile.{finding}"):
            sides.add("present")
        elif t.rule_id.endswith(f".profile.no_{finding}"):
            sides.add("absent")
    return sides


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lower_bound_does_not_make_a_low_platelet_count(
    real_kb: KnowledgeBase, backend: str
) -> None:
    d = run(real_kb, backend, lab("platelets", 5, "10^9/L", ">"))
    assert "very_low_platelets" not in {a.id for a in d.alerts}
    assert "thrombocytopenia" not in {f.fact for f in d.findings}


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_upper_bound_below_the_threshold_decides_it(
    real_kb: KnowledgeBase, backend: str
) -> None:
    d = run(real_kb, backend, lab("platelets", 10, "10^9/L", "<"))
    assert "very_low_platelets" in {a.id for a in d.alerts}
    assert "thrombocytopenia" in {f.fact for f in d.findings}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("comparator", "value", "sides"),
    [
        ("<", 600, set()),  # may be 300 or 590: neither raised nor normal
        ("<", 400, {"absent"}),
        ("<=", 500, {"absent"}),
        (">", 600, {"present"}),
        (">", 400, set()),
        (">=", 500.5, {"present"}),
    ],
)
def test_ldh_bounds_meet_only_what_they_decide(
    real_kb: KnowledgeBase, backend: str, comparator: str, value: float, sides: set[str]
) -> None:
    d = run(real_kb, backend, lab("ldh", value, "U/L", comparator))
    assert profile(d, "high_ldh") == sides


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bound_is_shown_as_reported_and_said_to_be_one(
    real_kb: KnowledgeBase, backend: str
) -> None:
    d = run(real_kb, backend, lab("ferritin", 500, "ug/L", ">"))
    assert profile(d, "hyperferritinemia") == set()
    ref = next(r for r in d.facts if r.name == "ferritin")
    assert "reported as a bound (>500)" in ref.how
    assert "neither met nor unmet" in ref.how
    value = next(f["value"] for f in json.loads(d.to_json())["facts"] if f["name"] == "ferritin")
    assert isinstance(value, float) and round(value) == 500


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_anc_keeps_its_own_bound_reading(real_kb: KnowledgeBase, backend: str) -> None:
    """``<0.5`` proves a severe neutropenia, and the ANC's bound rules say it is a bound."""
    labs = [lab("wbc", 1.8, "10^9/L"), lab("anc", 0.5, "10^9/L", "<")]
    d = diagnose({"age": 60, "as_of": DAY, "labs": labs}, kb=real_kb, backend=backend)
    facts = {f.fact: f.value for f in d.findings}
    assert facts["ctcae_neutrophil_grade"] == 4 and facts["agranulocytosis"] is True
    assert any(r.name == "anc_is_upper_bound" for r in d.facts)
