# SPDX-License-Identifier: Apache-2.0
"""The count lookback of the knowledge base (``staleness:`` in rules/kb.yaml,
engine/kb/staleness.py): the bundled values and their sources, the choice of lookback, and the
load-time validation that names the field of a bad setting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.errors import KnowledgeBaseError
from engine.kb.load import KnowledgeBase, load_knowledge_base
from engine.kb.parse import Ctx
from engine.kb.staleness import parse_staleness
from engine.kb.yamlio import parse_yaml
from tests.conftest import RULES


def test_the_bundled_lookbacks_and_their_sources(real_kb: KnowledgeBase) -> None:
    staleness = real_kb.staleness
    assert staleness is not None and staleness.days == 84
    assert set(staleness.cite) == {"saag2008", "boxer2012"}
    assert staleness.lookback({}).drug is None
    clozapine = {"clozapine": 0}
    assert staleness.lookback(clozapine).days == 7
    assert staleness.lookback({"clozapine": 200}).days == 14
    assert staleness.lookback({"clozapine": 400}).days == 31
    assert staleness.lookback({"clozapine": None}).days == 7  # start unknown: the strictest
    assert set(staleness.lookback(clozapine).cite) == {"clozaril-label", "correll2022"}
    for cid in staleness.all_cites:
        assert cid in real_kb.citations


def parse(text: str) -> tuple[object, list[str]]:
    ctx = Ctx("kb.yaml")
    doc = parse_yaml(text)
    found = parse_staleness(ctx, doc["staleness"], 1)
    return found, [f"{p.where}: {p.message}" for p in ctx.problems]


@pytest.mark.parametrize(("text", "where"), [
    ("staleness: 30", "staleness"),
    ("staleness: {days: 0, cite: [a]}", "staleness.days"),
    ("staleness: {days: 30.5, cite: [a]}", "staleness.days"),
    ("staleness: {days: 30}", "staleness.cite"),
    ("staleness: {days: 30, cite: [a], weeks: 2}", "staleness.weeks"),
    ("staleness: {days: 30, cite: [a], drugs: {clozapine: {days: 7}}}",
     "staleness.drugs.clozapine.cite"),
    ("staleness: {days: 30, cite: [a], drugs: {x: {days: 7, cite: [a], "
     "by_days_on_drug: [{below: 10, days: 3}, {below: 5, days: 3}]}}}",
     "staleness.drugs.x.by_days_on_drug[1].below"),
    ("staleness: {days: 30, cite: [a], drugs: {x: {days: 7, cite: [a], "
     "by_days_on_drug: [{below: 10}]}}}", "staleness.drugs.x.by_days_on_drug[0]"),
])  # fmt: skip
def test_a_bad_setting_names_its_field(text: str, where: str) -> None:
    _, problems = parse(text)
    assert any(p.startswith(where + ":") for p in problems), problems


def test_load_checks_citations_and_drug_names(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    kb_yaml = rules / "kb.yaml"
    text = kb_yaml.read_text()
    text = text.replace("  cite: [saag2008, boxer2012]", "  cite: [saag2009, boxer2012]", 1)
    text = text.replace("    clozapine:\n      # The label", "    clozapapine:\n      # The label")
    kb_yaml.write_text(text)
    with pytest.raises(KnowledgeBaseError) as exc:
        load_knowledge_base(rules)
    message = str(exc.value)
    assert "staleness: cites 'saag2009'" in message and "did you mean 'saag2008'" in message
    assert "staleness.drugs.clozapapine: not a drug or drug class" in message
