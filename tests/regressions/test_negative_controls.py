# SPDX-License-Identifier: Apache-2.0
"""Published patients whose white count was normal: the engine must not invent a leukopenia.

These files were once in ``cases/`` with the cause of their *other* cytopenia as ``expected``.
A differential of low white counts has nothing to rank for them, so they counted as misses in
the accuracy figure while testing something else: that a normal count stays normal. They live
here, as real files from real reports, and that is what they test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import diagnose
from engine.kb.yamlio import load_yaml

CONTROLS = sorted((Path(__file__).parent.parent / "fixtures" / "negative_controls").glob("*.yaml"))
LOW_WHITE = {"leukopenia", "neutropenia", "lymphopenia"}


def test_there_are_controls() -> None:
    assert CONTROLS


@pytest.mark.parametrize("path", CONTROLS, ids=[p.stem for p in CONTROLS])
def test_normal_white_count_gives_no_low_count_and_no_candidates(path: Path) -> None:
    data = load_yaml(path)
    assert str(data.get("source", "")).strip(), "a control is a published patient and cites it"
    d = diagnose(path)
    derived = {f.fact for f in d.findings if f.value is True}
    assert not derived & LOW_WHITE
    assert d.candidates == []
    assert d.alerts == []


def test_the_other_cytopenia_is_still_recognised() -> None:
    # The control is not an empty patient: its platelet count is low and the engine says so.
    d = diagnose(CONTROLS[0])
    assert any(f.fact == "thrombocytopenia" and f.value is True for f in d.findings)
