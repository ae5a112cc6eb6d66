# SPDX-License-Identifier: Apache-2.0
"""engine/kb: load_knowledge_base collects every problem with file:line; lint exit codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.errors import KnowledgeBaseError
from engine.kb.load import lint, load_knowledge_base
from tests.conftest import MINI_KB

HEADER = """title: Broken
version: 0.0.1
status: active
review_status: approved
authors: [tests]
reviewers: []
last_reviewed: 2026-11-21
review_by: 2099-01-01
rules:
"""


def add_rules(kb_dir: Path, body: str, name: str = "broken.yaml") -> Path:
    path = kb_dir / "rules" / name
    path.write_text(HEADER + body)
    return path


def messages(kb_dir: Path) -> list[str]:
    return [str(p) for p in lint(kb_dir, today=dt.date(2026, 11, 21)) if p.severity == "error"]


def test_mini_kb_is_clean() -> None:
    problems = lint(MINI_KB, today=dt.date(2026, 11, 21))
    assert [p.code for p in problems] == ["plain-missing"]  # the fixture words only a few rules


def test_unknown_fact_with_suggestion(kb_dir: Path) -> None:
    add_rules(
        kb_dir,
        """  - id: x.one
    statement: s.
    when:
      - {fact: anc_count, lt: 1}
    then: {cause: sle, lr: 2.718}
    weight_basis: test
    origin: judgement
    cite: [ctcae5]
""",
    )
    assert messages(kb_dir) == [
        "kb/rules/broken.yaml:13: x.one: unknown fact 'anc_count'; no input or rule provides it "
        "(did you mean 'anc'?)"
    ]


def test_dangling_citation_and_missing_keys(kb_dir: Path) -> None:
    add_rules(
        kb_dir,
        """  - id: x.one
    statement: s.
    when:
      - {fact: anc, lt: 1}
    then: {cause: sle, lr: 2.718}
    weight_basis: test
    origin: judgement
    cite: [ctcae6]
  - id: x.two
    when:
      - {fact: anc, lt: 1}
    then: {cause: sle, lr: 2.718}
    cite: []
""",
    )
    got = messages(kb_dir)
    assert (
        "kb/rules/broken.yaml:10: x.one: cites 'ctcae6', which is not in the citations "
        "registry (did you mean 'ctcae5'?)"
    ) in got
    assert "kb/rules/broken.yaml:18: rules[1].statement: required rule key is missing" in got
    assert "kb/rules/broken.yaml:22: rules[1].cite: a rule needs at least one citation" in got


def test_never_fire_rules(kb_dir: Path) -> None:
    add_rules(
        kb_dir,
        """  - id: x.vocab
    statement: s.
    when: [{condition: clll}]
    then: {cause: sle, lr: 2.718}
    weight_basis: test
    origin: judgement
    cite: [ctcae5]
  - id: x.range
    statement: s.
    when: [{fact: anc, lt: 0.5, gt: 1.0}]
    then: {cause: sle, lr: 2.718}
    weight_basis: test
    origin: judgement
    cite: [ctcae5]
  - id: x.value
    statement: s.
    when: [{fact: neutropenia_severity, eq: extreme}]
    then: {cause: sle, lr: 2.718}
    weight_basis: test
    origin: judgement
    cite: [ctcae5]
  - id: x.drug
    statement: s.
    when: [{medication: clozapin, active: yes}]
    then: {cause: sle, lr: 2.718}
    weight_basis: test
    origin: judgement
    cite: [ctcae5]
""",
    )
    got = "\n".join(messages(kb_dir))
    assert "x.vocab: unknown condition 'clll'; the rule can never fire (did you mean 'cll'?)" in got
    assert "x.range: can never fire: its conditions contradict each other" in got
    assert (
        "x.value: neutropenia_severity is never 'extreme' (one of severe); the rule can never fire"
    ) in got
    assert (
        "x.drug: unknown drug or class 'clozapin' (not in the lexicon) (did you mean "
        "'clozapine'?)" in got
    )
    assert "clozapin.active is true/false; cannot compare with 'yes'" in got


def test_duplicate_ids_cycles_and_types(kb_dir: Path) -> None:
    add_rules(
        kb_dir,
        """  - id: find.neutropenia
    statement: dup.
    when: [{fact: anc, lt: 1}]
    then: {derive: neutropenia, value: true}
    cite: [ctcae5]
  - id: x.a
    statement: a.
    when: [{fact: b_fact}]
    then: {derive: a_fact, value: true}
    cite: [ctcae5]
  - id: x.b
    statement: b.
    when: [{fact: a_fact}]
    then: {derive: b_fact, value: true}
    cite: [ctcae5]
  - id: x.t
    statement: t.
    when: [{fact: sex, lt: 3}]
    then: {derive: anc, value: 1}
    cite: [ctcae5]
""",
    )
    got = "\n".join(messages(kb_dir))
    assert "find.neutropenia: duplicate rule id (first at kb/rules/broken.yaml:10)" in got
    assert "derivation cycle" in got
    assert "derives 'anc', which is an input fact" in got
    assert "'lt' needs a number, but sex is one of female, male, other, unknown" in got


def test_cause_without_evidence_and_missing_cause(kb_dir: Path) -> None:
    (kb_dir / "causes" / "fmf.yaml").rename(kb_dir / "causes" / "fmff.yaml")
    path = kb_dir / "causes" / "sle.yaml"
    path.write_text(path.read_text().split("rules:\n")[0] + "rules: []\n")
    got = messages(kb_dir)
    assert (
        "kb/causes/fmff.yaml: 'fmff' is not a contract cause id: a cause file is named "
        "<cause>.yaml after a cause of contract section 2 (did you mean 'fmf.yaml'?)"
    ) in got
    assert "kb/causes: fmf: cause 'fmf' of contract section 2 has no file causes/fmf.yaml" in got
    assert (
        "kb/causes/sle.yaml:9: sle: no evidence-for rule: the cause can never appear in a "
        "differential"
    ) in got


def test_yaml_errors_have_lines(kb_dir: Path) -> None:
    (kb_dir / "rules" / "bad.yaml").write_text(HEADER + "  - id: a\n    id: b\n")
    assert "kb/rules/bad.yaml:11: duplicate key 'id' (first defined on line 10)" in messages(kb_dir)


def test_review_by_in_the_past_is_a_warning(kb_dir: Path) -> None:
    path = kb_dir / "rules" / "findings.yaml"
    path.write_text(path.read_text().replace("review_by: 2099-01-01", "review_by: 2020-01-01"))
    problems = [p for p in lint(kb_dir, today=dt.date(2026, 11, 21)) if p.code != "plain-missing"]
    assert [str(p) for p in problems] == [
        "kb/rules/findings.yaml: warning: review_by: review was due 2020-01-01"
    ]
    assert load_knowledge_base(kb_dir).name == "mini-kb"


def test_load_raises_with_all_problems(kb_dir: Path) -> None:
    add_rules(kb_dir, "  - id: Bad Id\n    statement: s.\n")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(kb_dir)
    assert len(err.value.problems) >= 4
    assert str(err.value).startswith("knowledge base has")


def test_cache_by_content(kb_dir: Path) -> None:
    first = load_knowledge_base(kb_dir)
    assert load_knowledge_base(kb_dir) is first
    (kb_dir / "rules" / "findings.yaml").write_text(
        (kb_dir / "rules" / "findings.yaml").read_text().replace("0.0.1", "0.0.2")
    )
    assert load_knowledge_base(kb_dir) is not first


def _with_wbc_lln(kb_dir: Path, body: str) -> None:
    path = kb_dir / "kb.yaml"
    text = path.read_text()
    old = '  wbc_lln: {value: 4.0, unit: "10^9/L", cite: [ctcae5]}\n'
    assert old in text
    path.write_text(text.replace(old, body))


def test_age_banded_parameter_is_read_and_applied(kb_dir: Path) -> None:
    _with_wbc_lln(
        kb_dir,
        '  wbc_lln:\n    value: 4.0\n    unit: "10^9/L"\n    cite: [ctcae5]\n'
        "    by_age:\n      - {below: 2, value: 6.0}\n      - {below: 11, value: 4.5}\n",
    )
    kb = load_knowledge_base(kb_dir)
    assert [kb.parameter("wbc_lln", age=a) for a in (0.5, 2, 10.9, 11, None)] == [
        6.0, 4.5, 4.5, 4.0, 4.0,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        (
            "[{below: 11, value: 4.5}, {below: 2, value: 6.0}]",
            "by_age[1].below: must be greater than 11",
        ),
        ("[{below: 2}]", "by_age[0]: expected {below: years, value: number}"),
        ("[{below: 2, value: 6.0, above: 1}]", "by_age[0]: unknown key(s) above"),
        ("{below: 2, value: 6.0}", "by_age: expected a list"),
        ("[{below: true, value: 6.0}]", "by_age[0]: expected {below: years, value: number}"),
    ],
)
def test_bad_age_bands_are_errors(kb_dir: Path, bands: str, message: str) -> None:
    _with_wbc_lln(
        kb_dir, f'  wbc_lln: {{value: 4.0, unit: "10^9/L", cite: [ctcae5], by_age: {bands}}}\n'
    )
    assert any(message in m for m in messages(kb_dir)), messages(kb_dir)


def test_lexicon_drug_citations_must_resolve(kb_dir: Path) -> None:
    """A drug's ``cite:`` (sources for its class membership) is checked like a rule's."""
    lexicon = kb_dir / "lexicon" / "drugs.yaml"
    lexicon.write_text(
        lexicon.read_text()
        + "  - {name: mesalazine, brands: [mesalamine], classes: [], cite: [ctcae6]}\n"
    )
    got = messages(kb_dir)
    assert got == [
        "kb/lexicon/drugs.yaml:8: mesalazine: cites 'ctcae6', which is not in the citations "
        "registry (did you mean 'ctcae5'?)"
    ]


def test_parameter_citations_must_resolve(kb_dir: Path) -> None:
    """A kb.yaml parameter's ``cite:`` gets the same message (and hint) as a rule's."""
    _with_wbc_lln(kb_dir, '  wbc_lln: {value: 4.0, unit: "10^9/L", cite: [ctcae6]}\n')
    assert (
        "kb/kb.yaml: parameters.wbc_lln: cites 'ctcae6', which is not in the citations "
        "registry (did you mean 'ctcae5'?)"
    ) in messages(kb_dir)
