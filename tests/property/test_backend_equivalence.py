# SPDX-License-Identifier: Apache-2.0
"""The CLIPS backend gives the same differential as the experta backend.

Compared: the whole ``Differential.to_json()`` (candidates, ranks, scores, evidence, findings,
alerts, citations, facts, trace) after two normalisations, and nothing else:

* ``engine.backend`` is removed (it names the backend, so it differs by design);
* the trace is re-ordered by (stratum, rule id) and renumbered. Both engines fire a rule of
  stratum n only after every rule of a lower stratum (salience; this is asserted separately,
  before normalising), but among rules of the *same* stratum each engine's conflict resolution
  picks its own order, and that order carries no meaning: rules of one stratum cannot see each
  other's derived facts, and every output list other than the trace is sorted.

Inputs: every case file in ``cases/`` (globbed at test time; files that raise InputError are
skipped), on both the bundled knowledge base and ``tests/fixtures/mini_kb``, and hypothesis
patients from ``tests/strategies.py``: at least 250 on the bundled knowledge base and 500 on the
mini one (more with ``HYPOTHESIS_PROFILE=slow``).
A disagreement is a compiler bug: keep the example in ``tests/regressions/``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.api import diagnose
from engine.differential import Differential
from engine.errors import InputError, KnowledgeBaseError
from engine.kb.load import KnowledgeBase, load_knowledge_base
from tests.conftest import CASES, MINI_KB, RULES
from tests.strategies import patients

pytest.importorskip("engine.backends.clips")

TODAY = dt.date(2025, 3, 1)
EXAMPLES = max(500, settings().max_examples)  # the loaded profile's count, if larger
#: The bundled knowledge base costs experta about 180 ms a patient (about 700 rules), twice that
#: under coverage, so it gets the profile's count of generated patients (100 in CI, 2000 with
#: HYPOTHESIS_PROFILE=slow) within the suite's 10-minute budget; every case file is compared on it
#: as well (above), and the mini knowledge base gets 500.
EXAMPLES_BUNDLED = settings().max_examples


@functools.cache
def _load_bundled() -> KnowledgeBase | str:
    try:
        return load_knowledge_base(RULES)
    except KnowledgeBaseError as exc:  # rules/ is written concurrently; mini_kb still runs
        return str(exc)


def _bundled() -> KnowledgeBase:
    kb = _load_bundled()
    if isinstance(kb, str):
        pytest.skip(f"the bundled knowledge base does not load yet: {kb}")
    return kb


def normalised(diff: Differential, kb: KnowledgeBase) -> dict[str, Any]:
    """``to_json()`` without the backend name, trace sorted by (stratum, rule id)."""
    data: dict[str, Any] = json.loads(diff.to_json())
    del data["engine"]["backend"]
    strata = {r.id: r.stratum for r in kb.rules}
    fired = [strata[t["rule_id"]] for t in data["trace"]]
    assert fired == sorted(fired), f"{diff.engine.backend}: a rule fired before a lower stratum"
    trace = sorted(data["trace"], key=lambda t: (strata[t["rule_id"]], t["rule_id"]))
    data["trace"] = [{**t, "seq": seq} for seq, t in enumerate(trace, start=1)]
    return data


def assert_same(patient: Any, kb: KnowledgeBase) -> None:
    """Both backends agree on ``patient`` (a dict or a file path) under ``kb``."""
    slow = diagnose(patient, kb=kb, backend="experta", today=TODAY)
    fast = diagnose(patient, kb=kb, backend="clips", today=TODAY)
    assert fast.engine.backend == "clips" and slow.engine.backend == "experta"
    assert normalised(fast, kb) == normalised(slow, kb)


def _case_files() -> list[Path]:
    return sorted(p for ext in ("yaml", "yml", "json") for p in CASES.glob(f"*.{ext}"))


@pytest.mark.parametrize("which", ["bundled", "mini_kb"])
@pytest.mark.parametrize("case", _case_files(), ids=lambda p: p.name)
def test_case_files_agree(case: Path, which: str) -> None:
    kb = _bundled() if which == "bundled" else load_knowledge_base(MINI_KB)
    try:
        assert_same(case, kb)
    except InputError as exc:
        pytest.skip(f"not a valid case file: {exc}")


@pytest.mark.skipif(
    isinstance(_load_bundled(), str),
    reason="tests/strategies.py reads the "
    "bundled lexicon, and the bundled knowledge base does not load yet",
)
@settings(
    max_examples=EXAMPLES_BUNDLED, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(patient=st.deferred(patients))
def test_generated_patients_agree_on_the_bundled_kb(patient: dict[str, Any]) -> None:
    assert_same(patient, _bundled())


@pytest.mark.skipif(
    isinstance(_load_bundled(), str),
    reason="tests/strategies.py reads the "
    "bundled lexicon, and the bundled knowledge base does not load yet",
)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patient=st.deferred(patients))
def test_generated_patients_agree_on_the_mini_kb(patient: dict[str, Any]) -> None:
    assert_same(patient, load_knowledge_base(MINI_KB))
