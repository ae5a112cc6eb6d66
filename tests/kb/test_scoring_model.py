# SPDX-License-Identifier: Apache-2.0
"""The ranking model of issue 15 on the bundled knowledge base, on the rule-test backends:

* recorded absences (``{name: X, present: false}``) are known negatives that profile rules weigh,
  while an unmentioned finding adds nothing;
* each profile finding contributes once per cause (groups: only the strongest member);
* every evidence weight has an origin, authored as a likelihood ratio;
* the fitted overlay replaces weights and priors and records what they were;
* lint refuses a profile that counts a finding twice or alongside one it implies.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine import diagnose, load_knowledge_base
from engine.errors import InputError, KnowledgeBaseError
from engine.kb.load import lint
from engine.kb.schema import AddEvidence
from tests.conftest import ROOT, RULE_TEST_BACKENDS

TODAY = dt.date(2025, 3, 1)
BACKENDS = RULE_TEST_BACKENDS
RULES = ROOT / "rules"


def patient(**extra: Any) -> dict[str, Any]:
    labs = [{"test": "wbc", "value": 2.4, "unit": "10^9/L", "date": "2025-03-01"}]
    return {"as_of": "2025-03-01", "age": 55, "sex": "male", "labs": labs, **extra}


def weights(facts: dict[str, Any], backend: str) -> dict[str, float]:
    """Every evidence rule that fired (listed or not), from the trace, with its weight."""
    kb = load_knowledge_base(None)
    d = diagnose(facts, backend=backend, today=TODAY)
    out = {}
    for entry in d.trace:
        effect = kb.rule(entry.rule_id).then
        if isinstance(effect, AddEvidence):
            out[entry.rule_id] = effect.weight
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_recorded_absence_counts_and_an_unmentioned_finding_does_not(backend: str) -> None:
    silent = weights(patient(), backend)
    absent = weights(patient(findings=[{"name": "splenomegaly", "present": False}]), backend)
    present = weights(patient(findings=["splenomegaly"]), backend)
    assert not any("splenomegaly" in r for r in silent)
    assert absent["hypersplenism.profile.no_splenomegaly"] < -1.5  # LR- about 1/18
    assert "hypersplenism.profile.no_splenomegaly" not in present
    assert "felty_syndrome.profile.no_splenomegaly" in absent
    assert not any(r.endswith(".profile.no_splenomegaly") for r in present)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_normal_measured_value_is_a_recorded_absence(backend: str) -> None:
    labs = patient()["labs"] + [
        {"test": "platelets", "value": 250, "unit": "10^9/L", "date": "2025-03-01"},
        {"test": "hemoglobin", "value": 14.5, "unit": "g/dL", "date": "2025-03-01"},
    ]
    fired = weights(patient(labs=labs), backend)
    assert fired["aplastic_anemia.profile.no_thrombocytopenia"] < 0
    assert fired["aplastic_anemia.profile.no_anemia"] < 0
    assert "aplastic_anemia.profile.no_thrombocytopenia" not in weights(patient(), backend)


GROUP = ("fever", "night_sweats", "weight_loss")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_group_counts_only_its_strongest_member(backend: str) -> None:
    """All three constitutional findings present (or all absent): per cause, one rule counts."""
    for facts in (
        patient(findings=list(GROUP)),
        patient(findings=[{"name": n, "present": False} for n in GROUP]),
    ):
        per_cause: dict[str, list[str]] = {}
        for rule_id in weights(facts, backend):
            cause, _, rest = rule_id.partition(".profile.")
            if rest.removeprefix("no_") in GROUP:
                per_cause.setdefault(cause, []).append(rule_id)
        assert per_cause, "no constitutional profile rule fired"
        assert all(len(rules) == 1 for rules in per_cause.values()), per_cause
    kb = load_knowledge_base(None)
    # lymphoma counts the three by its own rules: their present sides yield to those rules
    assert {r.id for r in kb.rules if r.id.startswith("lymphoma.profile.")} >= {
        "lymphoma.profile.no_fever",
        "lymphoma.profile.no_night_sweats",
    }
    assert kb.rule("lymphoma.profile.night_sweats").counted_by


def _authored_lr(rule_id: str) -> float:
    effect = load_knowledge_base(None).rule(rule_id).then
    assert isinstance(effect, AddEvidence)
    return effect.prior_lr if effect.origin == "fitted" and effect.prior_lr else effect.lr


def test_a_profile_side_counts_whichever_way_it_points() -> None:
    """A finding rarer in a cause than across work-ups argues against the cause when present,
    and its recorded absence argues for it: both sides are compiled, not only the sides with a
    likelihood ratio above 1 (aplastic anaemia: hepatomegaly in about 2% of presentations)."""
    assert _authored_lr("aplastic_anemia.profile.hepatomegaly") < 1
    assert _authored_lr("aplastic_anemia.profile.no_hepatomegaly") > 1
    kb = load_knowledge_base(None)
    for rule in kb.rules:
        if ".profile." in rule.id and isinstance(rule.then, AddEvidence):
            assert abs(math.log(_authored_lr(rule.id))) >= 0.05, rule.id


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_argues_against_rule_counts_the_finding_instead_of_the_profile(backend: str) -> None:
    """Aplastic anaemia's own rule says splenomegaly argues against it; its profile declares that
    rule (present_counted_by), so the spleen is counted against it once: the profile side fires
    with it and adds nothing (tests/kb/test_counted_once.py has the rule in general)."""
    kb = load_knowledge_base(None)
    assert kb.rule("aplastic_anemia.profile.splenomegaly").counted_by == (
        "aplastic_anemia.splenomegaly",
    )
    assert "aplastic_anemia.profile.no_splenomegaly" in {r.id for r in kb.rules}
    d = diagnose(patient(findings=["splenomegaly"]), backend=backend, today=TODAY)
    counted = {
        e.rule_id
        for c in d.candidates
        if c.cause == "aplastic_anemia"
        for e in (*c.evidence_for, *c.evidence_against)
    }
    fired = {t.rule_id for t in d.trace}
    assert "aplastic_anemia.profile.splenomegaly" in fired
    assert "aplastic_anemia.profile.splenomegaly" not in counted


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rare_finding_present_lowers_the_cause(backend: str) -> None:
    fired = weights(patient(findings=["hepatomegaly"]), backend)
    assert fired["aplastic_anemia.profile.hepatomegaly"] <= 0
    assert "aplastic_anemia.profile.no_hepatomegaly" not in fired
    absent = weights(patient(findings=[{"name": "hepatomegaly", "present": False}]), backend)
    assert absent["aplastic_anemia.profile.no_hepatomegaly"] >= 0


def test_profile_ratios_come_from_the_frequency_pair() -> None:
    kb = load_knowledge_base(None)
    rule = kb.rule("hypersplenism.profile.no_splenomegaly")
    assert isinstance(rule.then, AddEvidence)
    # the authored ratio (kept as prior_lr when calibration has moved the weight)
    assert _authored_lr(rule.id) == pytest.approx((1 - 0.95) / (1 - 0.12), rel=0.05)
    assert rule.then.origin in ("judgement", "fitted")
    assert "frequency pair" in (rule.weight_basis or "")


def test_every_evidence_weight_has_an_origin_and_its_log_is_the_weight() -> None:
    kb = load_knowledge_base(None)
    evidence = [r for r in kb.rules if isinstance(r.then, AddEvidence)]
    assert len(evidence) > 400
    for rule in evidence:
        assert isinstance(rule.then, AddEvidence)
        assert rule.then.origin in ("literature", "fitted", "judgement"), rule.id
        assert rule.then.weight == pytest.approx(math.log(rule.then.lr), abs=1e-5), rule.id


def test_the_explanation_shows_each_weights_origin() -> None:
    d = diagnose(ROOT / "cases" / "clozapine_induced-01.yaml", today=TODAY)
    top = d.candidates[0]
    assert top.evidence_for and all(e.origin in ("judgement", "fitted") for e in top.evidence_for)
    assert 0 < top.probability <= 1


def test_contradictory_presence_is_an_input_error() -> None:
    with pytest.raises(InputError, match="findings: splenomegaly is recorded both present"):
        diagnose(patient(findings=["splenomegaly", {"name": "splenomegaly", "present": False}]))


# --- knowledge-base files: a copy of rules/ per test ------------------------------------------


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def _problems(root: Path) -> list[str]:
    return [f"{p.where}: {p.message}" for p in lint(root) if p.severity == "error"]


def test_an_evidence_rule_without_an_origin_is_refused(kb_copy: Path) -> None:
    path = kb_copy / "causes" / "sle.yaml"
    path.write_text(path.read_text().replace("    origin: judgement\n", "", 1))
    assert any("needs an origin" in p for p in _problems(kb_copy))


def test_a_likelihood_ratio_outside_the_range_is_refused(kb_copy: Path) -> None:
    path = kb_copy / "causes" / "sle.yaml"
    path.write_text(path.read_text().replace("lr: 10}", "lr: 5000}", 1))
    assert any(
        "expected a likelihood ratio between 0.001 and 1000" in p for p in _problems(kb_copy)
    )


def test_a_log_weight_is_refused_with_the_new_form_named(kb_copy: Path) -> None:
    path = kb_copy / "causes" / "sle.yaml"
    path.write_text(
        path.read_text().replace("then: {cause: sle, lr: 10}", "then: {cause: sle, weight: 2.3}", 1)
    )
    assert any("{cause, lr}" in p for p in _problems(kb_copy))


def test_a_finding_counted_by_an_authored_rule_must_be_declared(kb_copy: Path) -> None:
    path = kb_copy / "causes" / "hypersplenism.yaml"
    text = path.read_text()
    start = text.index("\n  - finding: splenomegaly\n", text.index("\nprofile:")) + 1
    block_end = text.index("\n  - finding:", start) + 1
    block = text[start:block_end]
    stripped = "\n".join(line for line in block.splitlines() if "present_counted_by" not in line)
    path.write_text(text[:start] + stripped + "\n" + text[block_end:])
    assert any("already counted by hypersplenism." in p for p in _problems(kb_copy))


def test_an_argues_against_rule_beside_a_rare_finding_must_be_declared(kb_copy: Path) -> None:
    """The profile says splenomegaly is rare in aplastic anaemia (its present side argues
    against it) and an authored rule says the same: undeclared, the spleen would count twice."""
    path = kb_copy / "causes" / "aplastic_anemia.yaml"
    text = path.read_text()
    declared = "    present_counted_by: [aplastic_anemia.splenomegaly]\n"
    assert declared in text
    path.write_text(text.replace(declared, ""))
    assert any(
        "splenomegaly is already counted by aplastic_anemia.splenomegaly" in p
        for p in _problems(kb_copy)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_absence_an_authored_rule_counts_is_not_counted_again(backend: str) -> None:
    """A differential with 0% blasts: acute leukaemia's own rule counts the absence of blasts
    (LR 1/3), and the profile's absent side fires beside it but adds nothing
    (``absent_counted_by``); with the film alone recording no blasts, the profile counts it."""
    kb = load_knowledge_base(None)
    assert kb.rule("acute_leukemia.profile.no_smear_blasts").counted_by == (
        "acute_leukemia.no_circulating_blasts",
    )
    labs = [
        {"test": "wbc", "value": 2.4, "unit": "10^9/L", "date": "2025-03-01"},
        {"test": "blasts_pct", "value": 0, "unit": "%", "date": "2025-03-01"},
    ]
    counted_by_rule = diagnose(patient(labs=labs), backend=backend, today=TODAY)
    film_only = diagnose(
        patient(findings=[{"name": "smear_blasts", "present": False}]), backend=backend,
        today=TODAY,
    )  # fmt: skip

    def counted(d: Any) -> set[str]:
        return {
            e.rule_id
            for c in d.candidates
            if c.cause == "acute_leukemia"
            for e in (*c.evidence_for, *c.evidence_against)
        }

    assert "acute_leukemia.profile.no_smear_blasts" in {t.rule_id for t in counted_by_rule.trace}
    assert "acute_leukemia.no_circulating_blasts" in counted(counted_by_rule)
    assert "acute_leukemia.profile.no_smear_blasts" not in counted(counted_by_rule)
    assert "acute_leukemia.profile.no_smear_blasts" in counted(film_only)


def test_an_absence_counted_by_an_authored_rule_must_be_declared(kb_copy: Path) -> None:
    """Acute leukaemia's isolated-cytopenia rule reads normal haemoglobin and platelets; its
    profile's absent anaemia side argues against it too: undeclared, it would count twice."""
    path = kb_copy / "causes" / "acute_leukemia.yaml"
    text = path.read_text()
    declared = "    absent_counted_by: [acute_leukemia.isolated_cytopenia]\n"
    assert declared in text
    path.write_text(text.replace(declared, "", 1))
    assert any(
        "the absence of anemia is already counted by acute_leukemia.isolated_cytopenia" in p
        for p in _problems(kb_copy)
    )


def test_absent_counted_by_must_name_an_argues_against_rule(kb_copy: Path) -> None:
    path = kb_copy / "causes" / "acute_leukemia.yaml"
    text = path.read_text()
    path.write_text(
        text.replace(
            "absent_counted_by: [acute_leukemia.no_circulating_blasts]",
            "absent_counted_by: [acute_leukemia.circulating_blasts]",
        )
    )
    assert any(
        "absent_counted_by names 'acute_leukemia.circulating_blasts'" in p
        for p in _problems(kb_copy)
    )


def test_a_finding_beside_one_it_implies_is_refused(kb_copy: Path) -> None:
    catalogue = kb_copy / "profiles.yaml"
    text = catalogue.read_text()
    catalogue.write_text(
        text.replace(
            "  - id: hepatomegaly\n", "  - id: hepatomegaly\n    implies: [anemia]\n"
        ).replace(
            '    group: organomegaly\n    atoms: ["finding:hepatomegaly"]',
            '    atoms: ["finding:hepatomegaly"]',
        )
    )
    assert any("which it implies" in p for p in _problems(kb_copy))


def test_the_fitted_overlay_replaces_weights_and_priors_and_keeps_the_authored(
    kb_copy: Path,
) -> None:
    (kb_copy / "fitted.yaml").write_text(
        "fitted_on: 2026-12-06\nmethod: test\ncases: 12\nother_log_odds: -1.5\n"
        "rules:\n  sle.ana_positive: {lr: 4.5, prior_lr: 3.0, cases: 7}\n"
        "priors:\n  sle: {log_odds: -3.1, prior_log_odds: -3.89}\n"
    )
    kb = load_knowledge_base(kb_copy)
    effect = kb.rule("sle.ana_positive").then
    assert isinstance(effect, AddEvidence)
    assert (effect.origin, effect.lr, effect.prior_lr, effect.fitted_cases) == (
        "fitted",
        4.5,
        3.0,
        7,
    )
    assert effect.weight == pytest.approx(math.log(4.5), abs=1e-6)
    assert kb.causes["sle"].prior == -3.1
    assert kb.manifest.model.other_log_odds == -1.5


def test_a_fitted_overlay_naming_an_unknown_rule_is_an_error(kb_copy: Path) -> None:
    (kb_copy / "fitted.yaml").write_text(
        "cases: 1\nrules:\n  sle.no_such_rule: {lr: 2, prior_lr: 3, cases: 1}\n"
    )
    with pytest.raises(KnowledgeBaseError, match="not an evidence rule of this knowledge base"):
        load_knowledge_base(kb_copy)
