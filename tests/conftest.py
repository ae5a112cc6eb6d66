# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: paths to the bundled and the test knowledge bases, hypothesis profiles."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
MINI_KB = ROOT / "tests" / "fixtures" / "mini_kb"
RULES = ROOT / "rules"
CASES = ROOT / "cases"

#: The tests (and the CLI processes they start, which inherit the environment) keep the on-disk
#: knowledge-base cache in a folder of their own, never in the user's cache.
os.environ["LEUKODX_CACHE_DIR"] = tempfile.mkdtemp(prefix="leukodx-test-cache-")

#: The default profile is derandomized so that CI is reproducible; "slow" explores at random.
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "slow", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: The backends the knowledge-base rule tests run on: CLIPS, the default, always; experta, the
#: pure-Python reference, too with HYPOTHESIS_PROFILE=slow or LEUKODX_TEST_EXPERTA=1. Every run
#: compares the two on every case file and on generated patients
#: (tests/property/test_backend_equivalence.py); experta costs about 180 ms a patient, twice that
#: under coverage, and running each rule test on it too took the suite past its 10-minute budget.
BOTH_BACKENDS = (
    os.environ.get("HYPOTHESIS_PROFILE") == "slow" or os.environ.get("LEUKODX_TEST_EXPERTA") == "1"
)
RULE_TEST_BACKENDS: list[str] = ["clips", "experta"] if BOTH_BACKENDS else ["clips"]


@pytest.fixture(scope="session")
def mini_kb():  # type: ignore[no-untyped-def]
    from engine.kb.load import load_knowledge_base

    return load_knowledge_base(MINI_KB)


@pytest.fixture(scope="session")
def real_kb():  # type: ignore[no-untyped-def]
    from engine.kb.load import load_knowledge_base

    return load_knowledge_base(RULES)
