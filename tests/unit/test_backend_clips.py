# SPDX-License-Identifier: Apache-2.0
"""engine/backends/clips.py and clips_compile.py: the CLIPS backend against the semantics of
engine/backends/base.py, with engine/backends/predicates.py (what experta runs) as the oracle."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.backends import base, clips_compile, predicates
from engine.backends.base import Firing, get_matcher
from engine.errors import BackendUnavailableError, LeukodxError
from engine.facts import CourseFact, FactSet, MemberFact, ValueFact
from engine.kb.catalog import MEDICATION_FIELDS, MEMBERSHIP_FIELDS
from engine.kb.load import KnowledgeBase, load_knowledge_base
from tests.conftest import MINI_KB, ROOT

AS_OF = dt.date(2025, 3, 1)
HEADER = """\
title: clips backend unit tests
version: 0.0.1
status: active
authors: [tests]
reviewers: []
last_reviewed: 2026-11-21
review_by: 2099-01-01
rules:
"""
#: One rule per (fact, operator, operand); ids are t.<fact>.<n>.
OPERATOR_RULES: dict[str, list[tuple[str, Any]]] = {
    "age": [("eq", 1), ("ne", 1), ("lt", 1.5), ("le", 1), ("gt", 1), ("ge", 1),
            ("in", [1, 2.5]), ("not_in", [1, 2.5])],
    "sex": [("eq", "female"), ("ne", "female"), ("in", ["female", "other"]),
            ("not_in", ["female"])],
    "duffy_null": [("eq", True), ("eq", False), ("ne", True), ("in", [True]),
                   ("not_in", [False])],
    "tpmt_genotype": [("eq", '*3A"x\\é'), ("eq", "\\xe9"), ("eq", "true"), ("ne", "true")],
}  # fmt: skip
#: Fact values each operator rule is tried on: right and wrong types, missing, edge values.
TRIED: dict[str, list[Any]] = {
    "age": [1, 1.0, 0.5, 1.5, 2.5, 3, -0.0, True, False, "1", 10**30, float("inf")],
    "sex": ["female", "male", "other", True, 1, "Female"],
    "duffy_null": [True, False, "true", 1, 0, "false"],
    "tpmt_genotype": ['*3A"x\\é', "\\xe9", "é", "true", True, "*3A", "a\x00b", "line\nbreak"],
}
EXTRA_RULES = """\
  - id: t.neg.no_b12
    statement: Negation is true when no fact matches.
    when:
      - {fact: sex}
      - not: {fact: vitamin_b12, lt: 200}
    then: {derive: t_no_low_b12, value: true}
    cite: [ctcae5]
  - id: t.any.two
    statement: Either finding; both matching gives one firing with both facts.
    when:
      - any:
          - {finding: fever}
          - {finding: sepsis}
    then: {alert: t_alert, level: warning, message: "either finding"}
    cite: [ctcae5]
  - id: t.all.course
    statement: Any course of the class, several courses union into one firing.
    when:
      - all:
          - {medication: tki}
          - {fact: age, ge: 0}
    then: {derive: t_on_class, value: true}
    cite: [ctcae5]
  - id: t.chain.second
    statement: Uses the derived fact.
    when:
      - {fact: t_on_class, eq: true}
    then: {derive: t_chain, value: second}
    cite: [ctcae5]
  - id: t.chain.third
    statement: Uses the second derived fact.
    when:
      - {fact: t_chain, eq: second}
    then: {alert: t_chain_alert, level: info, message: "chain"}
    cite: [ctcae5]
  - id: t.chain.blocked
    statement: Fires only when the class rule did not derive its fact.
    when:
      - {fact: sex}
      - not: {fact: t_on_class}
    then: {derive: t_blocked, value: true}
    cite: [ctcae5]
  - id: t.member.timing
    statement: Timing fields; a missing field never satisfies a test.
    when:
      - {condition: pregnancy, days_since: {ne: 5}}
    then: {derive: t_timed, value: true}
    cite: [ctcae5]
  - id: t.member.not_timing
    statement: Negated timing test with the field missing is true.
    when:
      - {condition: pregnancy}
      - not: {condition: pregnancy, days_since: {lt: 5}}
    then: {derive: t_not_timed, value: true}
    cite: [ctcae5]
  - id: t.course.fields
    statement: Course fields compare like values.
    when:
      - {medication: tki, active: true, onset_days: {ge: 0, le: 126}}
    then: {derive: t_course_fields, value: true}
    cite: [ctcae5]
"""


def _yaml(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _operator_rules() -> str:
    out = []
    for fact, ops in OPERATOR_RULES.items():
        for n, (op, operand) in enumerate(ops):
            out.append(
                f"  - id: t.{fact}.{n}\n    statement: {fact} {op}.\n"
                f"    when:\n      - {{fact: {fact}, {op}: {_yaml(operand)}}}\n"
                f"    then: {{derive: t_{fact}_{n}, value: true}}\n    cite: [ctcae5]\n"
            )
    return "".join(out)


@pytest.fixture(scope="module")
def cb() -> ModuleType:
    """engine.backends.clips (tests that need clipspy skip without it)."""
    module: ModuleType = pytest.importorskip("engine.backends.clips")
    return module


@pytest.fixture(scope="module")
def kb(cb: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The mini KB plus the rules above (the mini rules need anc, which no test here has)."""
    root = tmp_path_factory.mktemp("kb") / "kb"
    shutil.copytree(MINI_KB, root)
    (root / "rules" / "clips_tests.yaml").write_text(HEADER + _operator_rules() + EXTRA_RULES)
    return load_knowledge_base(root)


def _facts(values: dict[str, Any] | None = None, members: tuple[MemberFact, ...] = (),
           courses: tuple[CourseFact, ...] = ()) -> FactSet:  # fmt: skip
    vals = tuple(ValueFact(f"v:{k}", k, v, "test") for k, v in sorted((values or {}).items()))
    return FactSet(AS_OF, vals, members, courses)


def _run(kb: KnowledgeBase, facts: FactSet, backend: str = "clips") -> dict[str, Firing]:
    return {f.rule_id: f for f in get_matcher(kb, backend).run(facts) if f.rule_id.startswith("t.")}


def _course(n: int, agents: tuple[str, ...], **fields: Any) -> CourseFact:
    return CourseFact(f"x:drug{n}#1", f"drug{n}", f"drug{n}", agents, fields, "test")


@pytest.mark.parametrize("fact", sorted(OPERATOR_RULES))
def test_each_operator_agrees_with_the_predicate_oracle(kb: KnowledgeBase, fact: str) -> None:
    for value in TRIED[fact]:
        fired = _run(kb, _facts({fact: value}))
        for n, (op, operand) in enumerate(OPERATOR_RULES[fact]):
            rule = kb.rule(f"t.{fact}.{n}")
            test = rule.branches[0][0].atom.tests[0]
            assert test.op == op
            expected = predicates.test_predicate(test)(value)
            assert (rule.id in fired) == expected, (fact, op, operand, value)
            if expected:
                assert fired[rule.id] == Firing(rule.id, (f"v:{fact}",), (f"d:{rule.id}",))


def test_missing_fact_satisfies_no_test(kb: KnowledgeBase) -> None:
    assert not any(r.startswith(("t.age.", "t.sex.", "t.duffy")) for r in _run(kb, _facts()))


def test_negation_is_true_when_nothing_matches(kb: KnowledgeBase) -> None:
    assert "t.neg.no_b12" in _run(kb, _facts({"sex": "male"}))
    assert "t.neg.no_b12" in _run(kb, _facts({"sex": "male", "vitamin_b12": 350.0}))
    assert "t.neg.no_b12" not in _run(kb, _facts({"sex": "male", "vitamin_b12": 150.0}))


def _member(name: str, kind: str = "finding", **fields: Any) -> MemberFact:
    return MemberFact(f"m:{kind}:{name}", kind, name, fields, "test")


def test_any_branches_fire_once_with_the_union_of_matched_facts(kb: KnowledgeBase) -> None:
    one = _run(kb, _facts(members=(_member("fever"),)))
    assert one["t.any.two"] == Firing("t.any.two", ("m:finding:fever",), ())
    both = _run(kb, _facts(members=(_member("fever"), _member("sepsis"))))
    assert both["t.any.two"].matched == ("m:finding:fever", "m:finding:sepsis")


def test_several_courses_union_into_one_firing(kb: KnowledgeBase) -> None:
    courses = (_course(1, ("imatinib", "tki")), _course(2, ("dasatinib", "tki")))
    fired = _run(kb, _facts({"age": 50.0}, courses=courses))
    assert fired["t.all.course"].matched == ("v:age", "x:drug1#1", "x:drug2#1")
    assert fired["t.all.course"].asserted == ("d:t.all.course",)


def test_strata_order_chains_and_negation_over_derived_facts(kb: KnowledgeBase) -> None:
    courses = (_course(1, ("imatinib", "tki")),)
    firings = [f for f in get_matcher(kb, "clips").run(_facts({"age": 50.0, "sex": "male"},
                                                                courses=courses))
               if f.rule_id.startswith("t.")]  # fmt: skip
    order = [f.rule_id for f in firings]
    assert order.index("t.all.course") < order.index("t.chain.second")
    assert order.index("t.chain.second") < order.index("t.chain.third")
    strata = [kb.rule(r).stratum for r in order]
    assert strata == sorted(strata)
    by_id = {f.rule_id: f for f in firings}
    assert by_id["t.chain.second"].matched == ("d:t.all.course",)
    assert by_id["t.chain.third"].matched == ("d:t.chain.second",)
    assert "t.chain.blocked" not in by_id
    assert "t.chain.blocked" in _run(kb, _facts({"sex": "male"}))


def test_membership_and_course_fields(kb: KnowledgeBase) -> None:
    untimed = _run(kb, _facts(members=(_member("pregnancy", "condition", active=True),)))
    assert "t.member.timing" not in untimed  # days_since missing: 'ne 5' is false
    assert "t.member.not_timing" in untimed  # and the negated 'lt 5' is true
    timed = _run(kb, _facts(members=(_member("pregnancy", "condition", days_since=3),)))
    assert "t.member.timing" in timed and "t.member.not_timing" not in timed
    on = _course(1, ("imatinib", "tki"), active=True, onset_days=30)
    assert "t.course.fields" in _run(kb, _facts(courses=(on,)))
    for fields in (
        {"active": True},
        {"active": False, "onset_days": 30},
        {"active": True, "onset_days": 200},
        {"active": 1, "onset_days": 30},
    ):
        assert "t.course.fields" not in _run(kb, _facts(courses=(_course(1, ("tki",), **fields),)))


def test_every_scenario_agrees_with_experta(kb: KnowledgeBase) -> None:
    scenarios = [
        _facts({"age": 50.0, "sex": "male"}, (_member("fever"), _member("sepsis")),
               (_course(1, ("imatinib", "tki"), active=True, onset_days=10),
                _course(2, ("tki",)))),
        _facts({"sex": "female", "vitamin_b12": 100.0, "duffy_null": True}),
        _facts(members=(_member("pregnancy", "condition", days_since=3),)),
    ]  # fmt: skip
    for facts in scenarios:
        clips_run = get_matcher(kb, "clips").run(facts)
        experta_run = get_matcher(kb, "experta").run(facts)
        assert sorted(clips_run, key=lambda f: f.rule_id) == sorted(
            experta_run, key=lambda f: f.rule_id
        )


def test_mini_kb_end_to_end_matches_experta(cb: ModuleType) -> None:
    from engine.api import diagnose

    patient = {
        "schema_version": 1, "id": "e2e", "as_of": "2025-03-01", "sex": "female", "age": 40,
        "labs": [{"test": "wbc", "value": 2.0, "unit": "10^9/L", "date": "2025-02-01"},
                 {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": "2025-02-01"}],
        "medications": [{"name": "clozapine", "start": "2025-01-01"},
                        {"name": "fluvoxamine", "start": "2025-01-10"}, "imatinib"],
        "findings": ["fever", "sepsis"],
    }  # fmt: skip
    fast = diagnose(patient, kb=MINI_KB, backend="clips", today=AS_OF)
    slow = diagnose(patient, kb=MINI_KB, backend="experta", today=AS_OF)
    assert fast.engine.backend == "clips"
    assert {a.id for a in fast.alerts} == {"febrile_neutropenia", "clozapine_cyp1a2"}
    assert fast.top is not None and fast.top.cause == "clozapine_induced"
    assert fast.model_dump(exclude={"engine", "trace"}) == slow.model_dump(
        exclude={"engine", "trace"}
    )
    assert sorted(t.rule_id for t in fast.trace) == sorted(t.rule_id for t in slow.trace)


def test_threads_get_their_own_environment(cb: ModuleType, kb: KnowledgeBase) -> None:
    facts = _facts({"age": 1, "sex": "female"}, (_member("fever"),))
    expected = get_matcher(kb, "clips").run(facts)
    results: list[list[Firing]] = []
    envs: list[int] = []
    together = threading.Barrier(4)

    def work() -> None:
        matcher = get_matcher(kb, "clips")
        assert isinstance(matcher, cb.ClipsMatcher)
        envs.append(id(matcher.environment()))
        together.wait(timeout=60)  # all four alive at once: a finished thread's id is reused
        results.extend(matcher.run(facts) for _ in range(20))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80 and all(r == expected for r in results)
    assert len(set(envs)) == 4


def test_only_facts_some_rule_mentions_go_into_clips(cb: ModuleType, kb: KnowledgeBase) -> None:
    facts = _facts(
        {"age": 3, "wbc_nadir": 1.0},
        (_member("fever"), _member("glossitis"), _member("pregnancy", "condition")),
        (_course(1, ("imatinib", "tki")), _course(2, ("fluvoxamine",))),
    )
    records, fids = cb.fact_records(facts, cb.compile(kb).mentioned)
    assert fids == ["v:age", "m:finding:fever", "m:condition:pregnancy", "x:drug1#1"]
    nil = [None] * len(MEMBERSHIP_FIELDS)
    course_fields = [None] * len(MEDICATION_FIELDS)
    assert records == [1, "age", 3, None, 2, "finding", "fever", *nil, "condition", "pregnancy",
                       *nil, 1, 1, "tki", "drug1", *course_fields]  # fmt: skip


def test_string_literals_are_injective_and_safe() -> None:
    words = ["a", 'q"uote', "back\\slash", "é", "\\xe9", "nul\x00", "nl\n", "tab\t", "nil"]
    contents = [clips_compile.content(w) for w in words]
    assert len(set(contents)) == len(words)
    assert all(c.isascii() and c.isprintable() for c in contents)
    assert clips_compile.literal(True) == "TRUE" and clips_compile.literal("TRUE") == '"TRUE"'
    assert clips_compile.number(2.0) == "2.0" and clips_compile.number(3) == "3"
    assert clips_compile.number(1e-7) == "1e-07"
    assert clips_compile.number(2**70) == "1.1805916207174113e+21"
    assert clips_compile.number(float("-inf")) == "-1e999"
    with pytest.raises(LeukodxError, match="NaN"):
        clips_compile.number(float("nan"))


def test_a_rejected_construct_is_a_leukodx_error(
    cb: ModuleType, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(LeukodxError, match=r"rejected a generated construct: \[PRNTUTIL2\]"):
        cb.build_environment(["(defrule broken (v (name)) => )"])
    assert capfd.readouterr() == ("", "")  # CLIPS's own message is in the error, not printed


def test_uncompilable_test_is_a_leukodx_error() -> None:
    from engine.kb.schema import Test

    with pytest.raises(LeukodxError, match="cannot compile"):
        clips_compile.test_expression("?x", Test("value", "lt", "word"))


def test_runtime_clips_error_is_a_leukodx_error(
    cb: ModuleType, kb: KnowledgeBase, capfd: pytest.CaptureFixture[str]
) -> None:
    matcher = cb.ClipsMatcher(kb, image=False)  # a bloaded environment takes no new constructs
    matcher.environment().build('(deffunction leukodx-firings () (bind ?x "a") (+ ?x 1))')
    with pytest.raises(LeukodxError, match=r"clips backend: \[ARGACCES"):
        matcher.run(_facts())
    assert capfd.readouterr() == ("", "")


def test_missing_clipspy_raises_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    kb = load_knowledge_base(MINI_KB)
    monkeypatch.setattr(base, "_MATCHERS", {})
    monkeypatch.setitem(sys.modules, "clips", None)  # makes 'import clips' fail
    monkeypatch.delitem(sys.modules, "engine.backends.clips", raising=False)
    with pytest.raises(BackendUnavailableError, match=r"'clipspy'.*pip install 'leukodx\[fast\]'"):
        get_matcher(kb, "clips")
    assert "engine.backends.clips" not in sys.modules


def test_no_clips_messages_at_exit(cb: ModuleType, tmp_path: Path) -> None:
    """CLIPS's ENVRNMNT8 deallocation report must never reach the user."""
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(f"""
        import threading
        from engine.api import diagnose
        from engine.backends.base import get_matcher
        from engine.kb.load import load_knowledge_base
        p = {{"as_of": "2025-03-01", "wbc": 2.0, "anc": 0.3, "findings": ["fever"]}}
        kb = load_knowledge_base({str(MINI_KB)!r})
        t = threading.Thread(target=lambda: diagnose(p, kb=kb, backend="clips"))
        t.start(); t.join()
        diagnose(p, kb=kb, backend="clips")
        # clipspy Facts still alive when the environment goes are what make CLIPS complain
        env = get_matcher(kb, "clips").environment()
        firings = env.find_template("firing")
        seen = [str(f) for f in env.facts()] + [f["matched"] for f in firings.facts()]
        env.reset()
        env.eval('(assert (v (fid 1) (name "anc") (value 0.3)))')
        seen += [str(f) for f in env.facts()]
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ENVRNMNT" not in done.stdout + done.stderr
    assert done.stdout == ""
