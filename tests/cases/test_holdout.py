# SPDX-License-Identifier: Apache-2.0
"""The held-out case sets in evaluation/: valid, sourced, and reported honestly.

The weights were calibrated while looking at cases/, so accuracy there is in-sample. Each
held-out set was collected before the knowledge-base changes it is used to judge, and nobody
tunes against it; once a set has been analysed and acted on it counts as development data, and
a new set takes its place. No threshold is asserted here: a figure is whatever it is. What is
asserted is that evaluation/README.md states the figure the current knowledge base actually gets
on every set, so a rule change that moves one must also update the document (and is seen doing
so).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.kb.yamlio import load_yaml
from tests.cases.scoring import accuracy, check_case_file, rank_of
from tests.conftest import ROOT

EVALUATION = ROOT / "evaluation"
README = EVALUATION / "README.md"
#: Set number -> directory, in the order the sets were collected.
SETS = {
    1: EVALUATION / "holdout",
    2: EVALUATION / "holdout2",
    3: EVALUATION / "holdout3",
    4: EVALUATION / "holdout4",
    5: EVALUATION / "holdout5",
    6: EVALUATION / "holdout6",
    7: EVALUATION / "holdout7",
    8: EVALUATION / "holdout8",
}
#: Development cases from open case-report corpora: collected like a held-out set (measured once
#: before being pooled), so the same checks apply; they come after set 7.
CORPUS = EVALUATION / "corpus"
FILES = {n: sorted(d.glob("*.yaml")) for n, d in SETS.items()}
CORPUS_FILES = sorted(CORPUS.glob("*.yaml"))
ALL = [p for files in FILES.values() for p in files] + CORPUS_FILES


@pytest.mark.parametrize("number", SETS)
def test_there_is_a_holdout_set(number: int) -> None:
    assert len(FILES[number]) >= 10


@pytest.mark.parametrize("path", ALL, ids=[f"{p.parent.name}/{p.stem}" for p in ALL])
def test_holdout_case_is_valid_and_sourced(path: Path) -> None:
    check_case_file(path)


def _source(path: Path) -> str:
    return str(load_yaml(path).get("source", "")).strip()


def test_corpus_sources_are_not_reused() -> None:
    """The corpus cases come from publications used nowhere else in the repository (set 8 was
    collected after them, and its own test checks it against them)."""
    earlier = list((ROOT / "cases").glob("*.yaml")) + [
        p for n, f in FILES.items() if n < 8 for p in f
    ]
    seen = {_source(p) for p in earlier}
    assert CORPUS_FILES
    assert not [p.stem for p in CORPUS_FILES if _source(p) in seen]


@pytest.mark.parametrize("number", SETS)
def test_sources_are_not_reused_from_earlier_sets(number: int) -> None:
    """A later set must not reuse a source of the development set or of an earlier set."""
    earlier = list((ROOT / "cases").glob("*.yaml"))
    earlier += [p for n, files in FILES.items() if n < number for p in files]
    earlier += CORPUS_FILES if number == 8 else []
    seen = {_source(p) for p in earlier}
    reused = [p.stem for p in FILES[number] if _source(p) in seen]
    assert not reused


def test_case_ids_are_unique_across_sets() -> None:
    stems = [p.stem for p in ALL]
    assert len(stems) == len(set(stems))


@pytest.mark.parametrize("number", SETS)
def test_readme_states_the_current_figures(number: int) -> None:
    top1, top3 = accuracy([rank_of(p) for p in FILES[number]])
    pattern = rf"held-out set {number}: (\d+) cases, top-1 ([\d.]+), top-3 ([\d.]+)"
    stated = re.search(pattern, README.read_text())
    assert stated, f"evaluation/README.md must state 'held-out set {number}: N cases, ...'"
    got = (int(stated[1]), stated[2], stated[3])
    assert got == (len(FILES[number]), f"{top1:.2f}", f"{top3:.2f}")


def test_readme_states_the_corpus_figures() -> None:
    top1, top3 = accuracy([rank_of(p) for p in CORPUS_FILES])
    stated = re.search(
        r"corpus set: (\d+) cases, top-1 ([\d.]+), top-3 ([\d.]+)", README.read_text()
    )
    assert stated, "evaluation/README.md must state 'corpus set: N cases, ...'"
    assert (int(stated[1]), stated[2], stated[3]) == (
        len(CORPUS_FILES),
        f"{top1:.2f}",
        f"{top3:.2f}",
    )
