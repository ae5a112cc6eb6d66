# SPDX-License-Identifier: Apache-2.0
"""Clinical corrections of session 22 (probe 19: an acute and geriatric physician's and a
clinical pharmacologist's vignettes).

Possible septic shock (fever or sepsis, hypotension and a low count) is a critical alert; a name
resembling a drug whose label warns of agranulocytosis says its rules were not applied; German,
Spanish and Italian drops and salt words are read; a kidney transplant is not suggested as a stem
cell transplant; and with a documented benign ethnic neutropenia a fall on a drug below the BEN
range is the drug's (a fall from 1.2 to 0.8 on methimazole had no alert and the trait first).

Run on the backends of tests/conftest.py's RULE_TEST_BACKENDS (CLIPS; experta too in the slow
profile)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose
from engine.differential import Differential
from engine.errors import InputError
from engine.kb.load import load_knowledge_base
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.patient_data import lab as _l

BACKENDS = RULE_TEST_BACKENDS
DAY = "2026-03-02"
TODAY = dt.date(2026, 3, 2)


def _run(patient: dict[str, Any], backend: str = "clips") -> Differential:
    return diagnose({"as_of": DAY, "age": 67, "sex": "male", **patient}, backend=backend,
                    today=TODAY)  # fmt: skip


def _alerts(d: Differential) -> set[str]:
    return {a.rule_id for a in d.alerts}


def _septic(findings: list[Any], wbc: float = 2.1) -> dict[str, Any]:
    return {"labs": [_l("wbc", wbc, "10^9/L", DAY)], "findings": findings}


FEVER = {"name": "fever", "since": "2026-03-01"}
HYPOTENSION = {"name": "hypotension", "since": DAY}


@pytest.mark.parametrize("backend", BACKENDS)
def test_fever_hypotension_and_a_low_count_is_possible_septic_shock(backend: str) -> None:
    d = _run(_septic([FEVER, HYPOTENSION]), backend)
    [alert] = [a for a in d.alerts if a.rule_id == "infection.possible_septic_shock"]
    assert alert.level == "critical" and "within one hour" in alert.message
    assert "infection.possible_septic_shock" in _alerts(_run(_septic(["sepsis", HYPOTENSION])))


@pytest.mark.parametrize(
    "patient",
    [
        _septic([FEVER]),  # no hypotension
        _septic([HYPOTENSION]),  # no fever or sepsis
        _septic([FEVER, HYPOTENSION], wbc=6.5),  # a normal count
        _septic([FEVER, {"name": "hypotension", "since": "2026-01-02", "until": "2026-01-05"}]),
    ],
    ids=["no-hypotension", "no-fever", "normal-count", "hypotension-ended"],
)
def test_possible_septic_shock_needs_all_three(patient: dict[str, Any]) -> None:
    assert "infection.possible_septic_shock" not in _alerts(_run(patient))


def _on(name: str, anc: float = 1.2) -> dict[str, Any]:
    return {
        "labs": [_l("wbc", 3.0, "10^9/L", DAY), _l("anc", anc, "10^9/L", DAY)],
        "medications": [{"name": name, "start": "2026-02-01"}],
    }


@pytest.mark.parametrize(
    "name", ["Feriprox", "Deferipron", "Dapson", "Tiklid", "Sulfasalazin", "Dipirona"]
)
def test_a_name_resembling_an_agranulocytosis_warning_drug_is_named(name: str) -> None:
    d = _run(_on(name))
    [alert] = [a for a in d.alerts if a.rule_id == "names.suspected_agranulocytosis_warning_drug"]
    assert alert.level == "warning" and "was not recognised" in alert.message
    assert name in d.unknown_medications


def test_a_clozapine_typo_keeps_its_own_warning_only() -> None:
    rules = _alerts(_run(_on("clozapin")))
    assert "names.suspected_clozapine" in rules
    assert "names.suspected_agranulocytosis_warning_drug" not in rules


def test_a_known_drug_raises_no_suspected_name_warning() -> None:
    assert "names.suspected_agranulocytosis_warning_drug" not in _alerts(_run(_on("Ferriprox")))


@pytest.mark.parametrize(
    "name",
    ["Novaminsulfon 500 mg/ml Tropfen", "Metamizol sódico", "Metamizol magnésico 575 mg"],
)
def test_drops_and_salt_words_of_other_languages_are_read(name: str) -> None:
    lexicon = load_knowledge_base(None).lexicon
    assert lexicon.resolve(name).name == "metamizole"


@pytest.mark.parametrize(
    ("given", "suggested"),
    [
        ("kidney_transplant", "solid_organ_transplant"),
        ("renal_transplant", "solid_organ_transplant"),
        ("heart_transplant", "solid_organ_transplant"),
        ("bone_marrow_transplant", "stem_cell_transplant"),
        ("hsct", "stem_cell_transplant"),
    ],
)
def test_a_transplant_is_suggested_by_what_was_transplanted(given: str, suggested: str) -> None:
    with pytest.raises(InputError) as err:
        _run({"labs": [_l("wbc", 2.0, "10^9/L", DAY)], "history": [given]})
    assert f"did you mean '{suggested}'" in str(err.value)


def test_a_bare_transplant_suggests_neither_kind() -> None:
    with pytest.raises(InputError) as err:
        _run({"labs": [_l("wbc", 2.0, "10^9/L", DAY)], "history": ["transplant"]})
    assert "did you mean" not in str(err.value)


def test_a_solid_organ_transplant_is_not_a_stem_cell_transplant() -> None:
    counts = [
        _l("wbc", 1.1, "10^9/L", DAY), _l("anc", 0.3, "10^9/L", DAY),
        _l("hemoglobin", 7.4, "g/dL", DAY), _l("platelets", 18, "10^9/L", DAY),
    ]  # fmt: skip
    rules = _alerts(_run({"labs": counts, "history": ["solid_organ_transplant"]}))
    assert "cytopenias.low_count_after_stem_cell_transplant" not in rules
    assert "cytopenias.severe_multilineage_cytopenia" in rules


def _ben_on_methimazole(latest_anc: float, *, documented: bool = True) -> dict[str, Any]:
    """Documented BEN at an ANC of 1.2 for years; methimazole from 23 January."""
    labs = [
        _l("wbc", 3.2, "10^9/L", "2024-06-01"), _l("anc", 1.2, "10^9/L", "2024-06-01"),
        _l("wbc", 3.3, "10^9/L", "2026-01-20"), _l("anc", 1.2, "10^9/L", "2026-01-20"),
        _l("wbc", 2.9, "10^9/L", "2026-02-16"), _l("anc", 1.0, "10^9/L", "2026-02-16"),
        _l("wbc", 2.5, "10^9/L", DAY), _l("anc", latest_anc, "10^9/L", DAY),
        _l("hemoglobin", 12.8, "g/dL", DAY), _l("platelets", 250, "10^9/L", DAY),
    ]  # fmt: skip
    conditions = ["hyperthyroidism"] + (["benign_ethnic_neutropenia"] if documented else [])
    return {
        "sex": "female", "age": 42, "ancestry": ["afro_caribbean"], "labs": labs,
        "medications": [{"name": "methimazole", "start": "2026-01-23"}],
        "conditions": conditions, "findings": [{"name": "fever", "present": False}],
    }  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_documented_ben_falling_on_methimazole_is_the_drug(backend: str) -> None:
    d = _run(_ben_on_methimazole(0.8), backend)
    assert "drug_holds.antithyroid_neutropenia" in _alerts(d)
    assert d.candidates[0].cause == "drug_induced_other"
    course = next(c for c in d.facts if c.id.startswith("x:methimazole"))
    assert "2026-03-02" in course.how  # the fall below the BEN range, not the 2024 baseline


def test_documented_ben_steady_on_methimazole_is_not_the_drug() -> None:
    """At 1.2 and 1.0 (the BEN range) the drug did not lower the count: no alert."""
    d = _run(_ben_on_methimazole(1.1))
    assert "drug_holds.antithyroid_neutropenia" not in _alerts(d)
    assert d.candidates[0].cause != "drug_induced_other"


def test_without_documented_ben_the_general_limits_still_apply() -> None:
    """Ancestry alone does not move the limits: the episode began in 2024, before the drug."""
    d = _run(_ben_on_methimazole(0.8, documented=False))
    assert "drug_holds.antithyroid_neutropenia" not in _alerts(d)


def _low_baseline_then(drug: str, start: str, anc_after: float, **course: str) -> dict[str, Any]:
    """An ANC of 1.3-1.4 for a year (never investigated), then ``anc_after`` today."""
    labs = [
        _l("wbc", 3.4, "10^9/L", "2025-06-01"), _l("anc", 1.3, "10^9/L", "2025-06-01"),
        _l("wbc", 3.6, "10^9/L", "2026-02-16"), _l("anc", 1.4, "10^9/L", "2026-02-16"),
        _l("wbc", 2.0, "10^9/L", DAY), _l("anc", anc_after, "10^9/L", DAY),
        _l("hemoglobin", 12.2, "g/dL", DAY), _l("platelets", 260, "10^9/L", DAY),
    ]  # fmt: skip
    return {
        "age": 63, "labs": labs, "medications": [{"name": drug, "start": start, **course}],
        "findings": [{"name": "fever", "present": False}],
    }  # fmt: skip


def _course(d: Differential, drug: str) -> Any:
    return next(f for f in d.facts if f.id.startswith(f"x:{drug}"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_new_fall_on_a_drug_from_a_mildly_low_baseline_is_its_onset(backend: str) -> None:
    """Halved on day 14 of piperacillin-tazobactam: the drug is first (it was 18th)."""
    d = _run(_low_baseline_then("piperacillin-tazobactam", "2026-02-16", 0.6), backend)
    assert d.candidates[0].cause == "drug_induced_other"
    assert "a new fall on the drug" in _course(d, "piperacillin-tazobactam").how


@pytest.mark.parametrize(
    ("anc_after", "course"),
    [
        (0.9, {}),  # not half the pre-start 1.4
        (0.6, {"stop": "2026-02-20"}),  # the fall came after the drug was stopped
    ],
    ids=["small-fall", "fall-after-stop"],
)
def test_no_new_fall_on_the_drug_keeps_the_old_episode(
    anc_after: float, course: dict[str, str]
) -> None:
    d = _run(_low_baseline_then("piperacillin-tazobactam", "2026-02-16", anc_after, **course))
    assert "a new fall on the drug" not in _course(d, "piperacillin-tazobactam").how


def test_a_new_fall_on_an_antithyroid_drug_raises_its_alert() -> None:
    """Already low before carbimazole (1.3), more than halved in week 3: the low-baseline
    exclusion no longer silences the antithyroid neutropenia warning."""
    d = _run(_low_baseline_then("carbimazole", "2026-02-09", 0.6))
    assert "drug_holds.antithyroid_neutropenia" in _alerts(d)
    steady = _run(_low_baseline_then("carbimazole", "2026-02-09", 1.2))
    assert "drug_holds.antithyroid_neutropenia" not in _alerts(steady)
