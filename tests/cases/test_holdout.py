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
from pathlib import Path

import pytest

from engine.kb.yamlio import load_yaml
from tests.cases.scoring import accuracy, check_case_file, rank_of
from tests.conftest import ROOT

HOLDOUT = ROOT / "evaluation" / "holdout"
README = ROOT / "evaluation" / "README.md"
FILES = sorted(HOLDOUT.glob("*.yaml"))


def test_there_is_a_holdout_set() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_holdout_case_is_valid_and_sourced(path: Path) -> None:
    check_case_file(path)


def test_holdout_sources_are_not_reused_from_the_development_set() -> None:
    dev = {str(load_yaml(p).get("source", "")).strip() for p in (ROOT / "cases").glob("*.yaml")}
    reused = [p.stem for p in FILES if str(load_yaml(p).get("source", "")).strip() in dev]
    assert not reused


def test_readme_states_the_current_holdout_figures() -> None:
    top1, top3 = accuracy([rank_of(p) for p in FILES])
    text = README.read_text()
    stated = re.search(r"held-out: (\d+) cases, top-1 ([\d.]+), top-3 ([\d.]+)", text)
    assert stated, "evaluation/README.md must state 'held-out: N cases, top-1 X, top-3 Y'"
    assert (int(stated[1]), stated[2], stated[3]) == (len(FILES), f"{top1:.2f}", f"{top3:.2f}")
