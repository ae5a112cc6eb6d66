# SPDX-License-Identifier: Apache-2.0
"""The held-out cases in evaluation/holdout/: valid, sourced, and reported honestly.

The weights were calibrated while looking at cases/, so accuracy there is in-sample. The
held-out cases were collected after the rules were frozen for that round and nobody tunes
against them. No threshold is asserted here: the figure is whatever it is. What is asserted is
that evaluation/README.md states the figure the current knowledge base actually gets, so a rule
change that moves it must also update the document (and is seen doing so).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from engine import Differential, diagnose
from engine.kb.yamlio import load_yaml
from engine.vocab import CAUSES
from tests.conftest import ROOT

HOLDOUT = ROOT / "evaluation" / "holdout"
README = ROOT / "evaluation" / "README.md"
FILES = sorted(HOLDOUT.glob("*.yaml"))


@cache
def result(path: Path) -> Differential:
    return diagnose(path)


def test_there_is_a_holdout_set() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_holdout_case_is_valid_and_sourced(path: Path) -> None:
    data = load_yaml(path)
    assert data["id"] == path.stem
    assert str(data.get("source", "")).strip()
    expected = set(data.get("expected") or [])
    assert expected and expected | set(data.get("acceptable") or []) <= set(CAUSES)
    d = result(path)
    for c in d.candidates:
        weights = [e.weight for e in (*c.evidence_for, *c.evidence_against)]
        assert round(c.prior + sum(weights), 4) == c.score


def test_holdout_sources_are_not_reused_from_the_development_set() -> None:
    dev = {str(load_yaml(p).get("source", "")).strip() for p in (ROOT / "cases").glob("*.yaml")}
    reused = [p.stem for p in FILES if str(load_yaml(p).get("source", "")).strip() in dev]
    assert not reused


def rank_of(path: Path) -> int | None:
    expected = set(load_yaml(path).get("expected") or [])
    causes = [c.cause for c in result(path).candidates]
    return next((i + 1 for i, c in enumerate(causes) if c in expected), None)


def test_readme_states_the_current_holdout_figures() -> None:
    ranks = [rank_of(p) for p in FILES]
    top1 = sum(r == 1 for r in ranks) / len(ranks)
    top3 = sum(r is not None and r <= 3 for r in ranks) / len(ranks)
    text = README.read_text()
    stated = re.search(r"held-out: (\d+) cases, top-1 ([\d.]+), top-3 ([\d.]+)", text)
    assert stated, "evaluation/README.md must state 'held-out: N cases, top-1 X, top-3 Y'"
    assert (int(stated[1]), stated[2], stated[3]) == (len(FILES), f"{top1:.2f}", f"{top3:.2f}")
