# SPDX-License-Identifier: Apache-2.0
"""One file per cause (rules/causes/<cause>.yaml): the bundled knowledge base keeps each cause in
its own file, the loader reads the layout with every problem at its file:line, and a knowledge
base left in the five-file layout is refused with a message that says how to migrate."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from engine import diagnose, vocab
from engine.errors import KnowledgeBaseError
from engine.kb.load import KnowledgeBase, lint, load_knowledge_base
from engine.kb.schema import AddEvidence
from tests.cli.test_cli import leukodx
from tests.conftest import RULES
from tests.unit.test_engine_mini import clozapine_patient

TODAY = dt.date(2026, 11, 21)
HEADER = """title: Mini sle
version: 0.0.1
status: active
review_status: approved
authors: [tests]
reviewers: []
last_reviewed: 2026-11-21
review_by: 2099-01-01
"""
RULE = """rules:
  - id: mini.sle_flag
    statement: "Test rule for sle."
    when:
      - {fact: neutropenia, eq: true}
    then: {cause: sle, lr: 1.6}
    weight_basis: test only
    origin: judgement
    cite: [ctcae5]
"""


def errors(kb_dir: Path) -> list[str]:
    return [str(p) for p in lint(kb_dir, today=TODAY) if p.severity == "error"]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


# --- the bundled knowledge base ----------------------------------------------------------------


def test_every_contract_cause_has_exactly_one_file(real_kb: KnowledgeBase) -> None:
    assert sorted(p.stem for p in (RULES / "causes").glob("*.yaml")) == sorted(vocab.CAUSES)
    assert list(real_kb.causes) == list(vocab.CAUSES)  # contract order, not file order
    for old in ("causes.yaml", "considerations.yaml", "evidence"):
        assert not (RULES / old).exists(), old
    assert sorted(p.name for p in (RULES / "plain").glob("*.yaml")) == [
        "alerts.yaml",
        "findings.yaml",
    ]


def test_a_causes_evidence_lives_in_its_file(real_kb: KnowledgeBase) -> None:
    """Every evidence rule is in the file of the cause it weighs, and every rule of a cause file
    is evidence for that cause: the file is the whole of what the KB says about it."""
    for rule in real_kb.rules:
        in_cause_file = rule.file.startswith("rules/causes/")
        if isinstance(rule.then, AddEvidence):
            assert rule.file == f"rules/causes/{rule.then.cause}.yaml", rule.id
        else:
            assert not in_cause_file, rule.id


# --- the old layout ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "leftover",
    ["causes.yaml", "considerations.yaml", "evidence/sle.yaml", "plain/evidence.yaml"],
)
def test_a_five_file_layout_is_refused_with_how_to_migrate(kb_dir: Path, leftover: str) -> None:
    path = kb_dir / leftover
    path.parent.mkdir(exist_ok=True)
    path.write_text("causes: []\n")
    name = leftover.removesuffix("/sle.yaml")
    got = errors(kb_dir)
    assert len(got) == 1, got
    assert got[0].startswith(f"kb/{name}: left over from the five-file layout (causes.yaml, ")
    for words in ("causes/<cause>.yaml", "To migrate", "'Migrating from the five-file layout'"):
        assert words in got[0]
    with pytest.raises(KnowledgeBaseError, match="five-file layout"):
        load_knowledge_base(kb_dir)


def test_the_migration_is_explained_once(kb_dir: Path) -> None:
    for name in ("causes.yaml", "considerations.yaml"):
        (kb_dir / name).write_text("x: 1\n")
    got = errors(kb_dir)
    assert [m.split(":")[0] for m in got] == ["kb/causes.yaml", "kb/considerations.yaml"]
    assert "To migrate" in got[0] and "To migrate" not in got[1]


def test_lint_and_diagnose_name_the_old_layout(kb_dir: Path) -> None:
    (kb_dir / "considerations.yaml").write_text("considerations: {}\n")
    for args in (("lint", str(kb_dir)), ("diagnose", "--rules", str(kb_dir), "-")):
        result = leukodx(*args, stdin="wbc: 2.0\n")
        assert result.returncode == 2, result.stderr
        assert "kb/considerations.yaml: left over from the five-file layout" in result.stderr
        assert "Traceback" not in result.stderr


def test_cause_files_sit_directly_in_causes(kb_dir: Path) -> None:
    (kb_dir / "causes" / "more").mkdir()
    shutil.move(kb_dir / "causes" / "fmf.yaml", kb_dir / "causes" / "more" / "fmf.yaml")
    assert errors(kb_dir) == [
        "kb/causes/more/fmf.yaml: cause files sit directly in causes/ as <cause>.yaml"
    ]


def test_a_knowledge_base_without_causes_says_so_once(kb_dir: Path) -> None:
    shutil.rmtree(kb_dir / "causes")
    got = errors(kb_dir)
    assert (
        "kb/causes: no causes/ directory: each cause of contract section 2 has a file "
        "causes/<cause>.yaml"
    ) in got
    assert not [m for m in got if "has no file" in m]


# --- the cause mapping -------------------------------------------------------------------------


def test_cause_mapping_problems_point_at_their_lines(kb_dir: Path) -> None:
    (kb_dir / "causes" / "sle.yaml").write_text(
        HEADER
        + """cause:
  label: "sle"
  prior_probability: 1.5
  prior_basis: test
  prior_cite: [ctcae6]
  names_agent: yes
  prior: 0.1
  next_steps:
    - {text: "a step", cite: [clozaril-labl]}
    - cite: [ctcae5]
  considerations:
    - text: "no citation"
  plain: {summary: "no label"}
"""
        + RULE
    )
    assert errors(kb_dir) == [
        "kb/causes/sle.yaml:10: cause.category: required text is missing",
        "kb/causes/sle.yaml:11: cause.prior_probability: expected a probability between 0 and 1 "
        "(exclusive)",
        "kb/causes/sle.yaml:13: cause.prior_cite: cites 'ctcae6', which is not in the citations "
        "registry (did you mean 'ctcae5'?)",
        "kb/causes/sle.yaml:14: cause.names_agent: expected true or false",
        "kb/causes/sle.yaml:15: cause.prior: unknown cause key (expected one of label, category, "
        "prior_probability, prior_basis, prior_cite, names_agent, next_steps, considerations, "
        "plain)",
        "kb/causes/sle.yaml:17: cause.next_steps[0].cite: cites 'clozaril-labl', which is not in "
        "the citations registry (did you mean 'clozaril-label'?)",
        "kb/causes/sle.yaml:18: cause.next_steps[1]: expected {text, cite}",
        "kb/causes/sle.yaml:20: cause.considerations[0].cite: a consideration needs a citation",
        "kb/causes/sle.yaml:21: cause.plain: expected {label, summary}",
        "kb/causes/sle.yaml:23: mini.sle_flag: unknown cause 'sle'",  # the cause did not parse
    ]


def test_a_cause_file_needs_its_cause_mapping(kb_dir: Path) -> None:
    (kb_dir / "causes" / "sle.yaml").write_text(HEADER + RULE)
    got = errors(kb_dir)
    assert got[0].startswith("kb/causes/sle.yaml:1: cause: expected the cause mapping {label, ")
    assert "kb/causes: sle: cause 'sle' of contract section 2 has no file" not in "\n".join(got)


def test_the_cause_mapping_reaches_the_differential(kb_dir: Path) -> None:
    edit(
        kb_dir / "causes" / "clozapine_induced.yaml",
        "prior_probability: 0.02",
        "prior_probability: 0.2",
    )
    kb = load_knowledge_base(kb_dir)
    cause = kb.causes["clozapine_induced"]
    assert (cause.prior_probability, cause.plain_label) == (
        0.2,
        "A side effect of the medicine clozapine",
    )
    top = diagnose(clozapine_patient(), kb=kb, today=TODAY).candidates[0]
    assert top.cause == "clozapine_induced"
    assert [s.text for s in top.considerations] == [
        "Follow the clozapine label's ANC table; interrupt when it says so."
    ]


# --- sections and plain texts in their one place -----------------------------------------------


@pytest.mark.parametrize("section", ["cause", "profile"])
def test_cause_sections_only_in_cause_files(kb_dir: Path, section: str) -> None:
    edit(kb_dir / "rules" / "findings.yaml", "rules:\n", f"{section}: []\nrules:\n")
    assert errors(kb_dir) == [
        f"kb/rules/findings.yaml:9: {section}: only a cause file (causes/<cause>.yaml) has "
        f"'{section}:'"
    ]


def test_a_rules_own_plain_text_is_read_from_its_cause_file(kb_dir: Path) -> None:
    edit(
        kb_dir / "causes" / "clozapine_induced.yaml",
        "    statement: The ANC was already low before clozapine.\n",
        "    statement: The ANC was already low before clozapine.\n"
        '    plain: "  Your count was already low before clozapine.  "\n',
    )
    kb = load_knowledge_base(kb_dir)
    assert kb.rule("cloz.baseline_low").plain == "Your count was already low before clozapine."
    assert kb.rule("cloz.early").plain and kb.rule("find.severe").plain  # inline and plain/


def test_plain_texts_of_finding_rules_stay_in_plain(kb_dir: Path) -> None:
    edit(
        kb_dir / "rules" / "findings.yaml",
        "    statement: Neutropenia without severe ANC.\n",
        '    statement: Neutropenia without severe ANC.\n    plain: "Low, not very low."\n',
    )
    assert errors(kb_dir) == [
        "kb/rules/findings.yaml:24: rules[2].plain: only the rules of a cause file "
        "(causes/<cause>.yaml) carry their own plain text; word this rule in plain/*.yaml"
    ]


def test_a_cause_files_rule_is_not_worded_in_plain(kb_dir: Path) -> None:
    edit(kb_dir / "plain" / "texts.yaml", "rules:\n", 'rules:\n  cloz.baseline_low: "Was low."\n')
    assert errors(kb_dir) == [
        "kb/plain/texts.yaml:2: cloz.baseline_low: the rule is in a cause file "
        "(kb/causes/clozapine_induced.yaml:44), which carries its plain text itself: move this "
        "text there as 'plain:'"
    ]


def test_cause_wording_in_plain_is_the_old_layout(kb_dir: Path) -> None:
    edit(kb_dir / "plain" / "texts.yaml", "rules:\n", 'causes:\n  sle: {label: "Lupus"}\nrules:\n')
    assert errors(kb_dir) == [
        "kb/plain/texts.yaml:1: causes: a cause's plain label and summary live in its file, "
        "causes/<cause>.yaml, as cause.plain: {label, summary}"
    ]


@pytest.mark.parametrize("text", ['""', "[a, b]"])
def test_a_plain_text_is_a_sentence(kb_dir: Path, text: str) -> None:
    edit(
        kb_dir / "causes" / "clozapine_induced.yaml",
        "    statement: The ANC was already low before clozapine.\n",
        f"    statement: The ANC was already low before clozapine.\n    plain: {text}\n",
    )
    assert errors(kb_dir) == [
        "kb/causes/clozapine_induced.yaml:46: rules[2].plain: expected a sentence"
    ]


def test_a_profile_problem_points_at_the_cause_file(tmp_path: Path) -> None:
    kb = tmp_path / "rules"
    shutil.copytree(RULES, kb)
    path = kb / "causes" / "hypersplenism.yaml"
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, ln in enumerate(lines) if "present_counted_by" in ln)
    entry = max(i for i in range(at) if lines[i].startswith("  - finding:"))
    path.write_text("".join(lines[:at] + lines[at + 1 :]))
    got = [m for m in errors(kb) if "already counted by" in m]
    assert len(got) == 1 and got[0].startswith(f"rules/causes/hypersplenism.yaml:{entry + 1}: ")
