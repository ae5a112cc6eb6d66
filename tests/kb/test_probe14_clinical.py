# SPDX-License-Identifier: Apache-2.0
"""Clinical corrections after probes 12 and 14 (2026-12-07, session 18).

A blast percentage is blasts on the film for every cause (vitamin B12 deficiency ranked above
acute leukaemia at 8% blasts); methotrexate's multilineage toxicity is weighed for its cause (B12
deficiency ranked first for the textbook patient); a low count soon after stopping clozapine
counts for clozapine; a known Duffy-null patient's ANC of 0.4 is not explained by the genotype; a
chemotherapy course that ended a week ago explains a falling count; a drug the lexicon does not
know counts in the agranulocytosis onset window only for an ANC below 1.0.

Run on the backends of tests/conftest.py's RULE_TEST_BACKENDS (CLIPS; experta too in the slow
profile)."""

from __future__ import annotations

from typing import Any

import pytest

from engine import diagnose
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.differential_reading import fired_rules
from tests.kb.patient_data import lab as _l

BACKENDS = RULE_TEST_BACKENDS
DAY = "2025-09-01"


def _rank(d: Any, cause: str) -> int:
    return next((c.rank for c in d.candidates if c.cause == cause), 99)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_blast_percentage_counts_against_megaloblastic_anaemia(backend: str) -> None:
    patient = {
        "as_of": DAY, "age": 74, "sex": "male",
        "labs": [_l("wbc", 1.8, "10^9/L", DAY), _l("anc", 0.6, "10^9/L", DAY),
                 _l("hemoglobin", 8.4, "g/dL", DAY), _l("platelets", 42, "10^9/L", DAY),
                 _l("mcv", 104, "fL", DAY), _l("blasts_pct", 8, "%", DAY)],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert "megaloblastic.profile.smear_blasts" in fired_rules(d)
    assert _rank(d, "acute_leukemia") < _rank(d, "megaloblastic")
    # a differential reporting 0% blasts is their recorded absence
    patient["labs"][-1] = _l("blasts_pct", 0, "%", DAY)
    assert "acute_leukemia.no_circulating_blasts" in fired_rules(diagnose(patient, backend=backend))


def _methotrexate_patient(name: str = "methotrexate") -> dict[str, Any]:
    return {
        "as_of": "2025-08-10", "age": 81, "sex": "female",
        "conditions": ["rheumatoid_arthritis"],
        "labs": [_l("wbc", 1.5, "10^9/L", "2025-08-09"), _l("anc", 0.7, "10^9/L", "2025-08-09"),
                 _l("hemoglobin", 8.9, "g/dL", "2025-08-09"),
                 _l("platelets", 35, "10^9/L", "2025-08-09"), _l("mcv", 106, "fL", "2025-08-09"),
                 _l("creatinine", 2.1, "mg/dL", "2025-08-09")],
        "medications": [{"name": name, "start": "2019-01-01"},
                        {"name": "trimethoprim-sulfamethoxazole", "start": "2025-07-28"}],
    }  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["methotrexate", "MTX", "Metoject 15 mg", "Nordimet"])
def test_methotrexate_pancytopenia_is_weighed_for_the_drug(backend: str, name: str) -> None:
    d = diagnose(_methotrexate_patient(name), backend=backend)
    fired = fired_rules(d)
    assert {"drug_induced_other.methotrexate_multilineage",
            "drug_induced_other.methotrexate_toxicity_risk_factor"} <= fired  # fmt: skip
    assert d.candidates[0].cause == "drug_induced_other"
    assert "methotrexate_marrow_toxicity" in {a.id for a in d.alerts}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("stop", "fires"), [("2025-05-08", True), ("2025-04-20", False)])
def test_a_low_count_soon_after_stopping_clozapine_counts_for_it(
    backend: str, stop: str, fires: bool
) -> None:
    patient = {
        "as_of": "2025-05-20", "age": 34, "sex": "male",
        "labs": [_l("wbc", 1.6, "10^9/L", "2025-05-19"), _l("anc", 0.3, "10^9/L", "2025-05-19")],
        "medications": [{"name": "clozapine", "start": "2025-01-10", "stop": stop}],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert ("clozapine_induced.recently_stopped" in fired_rules(d)) is fires
    if fires:
        assert d.candidates[0].cause == "clozapine_induced"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_duffy_null_genotype_does_not_explain_an_anc_below_0_5(backend: str) -> None:
    patient = {
        "as_of": "2025-09-10", "age": 38, "sex": "female", "duffy_null": True,
        "labs": [_l("wbc", 3.4, "10^9/L", "2024-09-10"), _l("anc", 1.3, "10^9/L", "2024-09-10"),
                 _l("wbc", 2.2, "10^9/L", "2025-09-10"), _l("anc", 0.4, "10^9/L", "2025-09-10"),
                 _l("hemoglobin", 13.1, "g/dL", "2025-09-10"),
                 _l("platelets", 250, "10^9/L", "2025-09-10")],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    fired = fired_rules(d)
    assert "duffy_null.anc_below_0_5" in fired
    assert "duffy_null.genotype_with_low_standard_count" not in fired
    assert d.candidates[0].cause != "duffy_null"
    # the same patient at her usual count: the genotype explains it
    patient["labs"] = patient["labs"][:2]
    patient["as_of"] = "2024-09-10"
    assert diagnose(patient, backend=backend).candidates[0].cause == "duffy_null"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_count_falling_after_a_finished_chemotherapy_course_is_not_leukaemia_s(
    backend: str,
) -> None:
    patient = {
        "as_of": "2025-02-15", "age": 62, "sex": "male",
        "labs": [_l("anc", 4.0, "10^9/L", "2025-02-05"), _l("wbc", 6.1, "10^9/L", "2025-02-05"),
                 _l("anc", 1.4, "10^9/L", "2025-02-11"), _l("wbc", 2.9, "10^9/L", "2025-02-11"),
                 _l("anc", 0.6, "10^9/L", "2025-02-15"), _l("wbc", 1.9, "10^9/L", "2025-02-15")],
        "medications": [{"name": "FOLFOX", "start": "2025-02-06", "stop": "2025-02-08"}],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert "acute_leukemia.falling_count" not in fired_rules(d)
    assert d.candidates[0].cause == "chemotherapy_radiation"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("anc", "fires"), [(1.3, False), (0.8, True)])
def test_an_unknown_drug_s_onset_window_counts_only_below_an_anc_of_1(
    backend: str, anc: float, fires: bool
) -> None:
    patient = {
        "as_of": "2025-03-12", "age": 58, "sex": "male",
        "labs": [_l("wbc", 3.0, "10^9/L", "2025-03-12"), _l("anc", anc, "10^9/L", "2025-03-12")],
        "medications": [{"name": "amlodipine", "start": "2025-02-01"}],
    }  # fmt: skip
    rule = "drug_induced_other.unlisted_drug_in_onset_window"
    assert (rule in fired_rules(diagnose(patient, backend=backend))) is fires


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["hydroxychloroquine", "Plaquenil 200 mg"])
def test_hydroxychloroquine_is_a_drug_with_a_neutropenia_signal(backend: str, name: str) -> None:
    patient = {
        "as_of": "2025-03-12", "age": 45, "sex": "female",
        "labs": [_l("wbc", 2.4, "10^9/L", "2025-03-12"), _l("anc", 0.9, "10^9/L", "2025-03-12")],
        "medications": [{"name": name, "start": "2024-06-01"}],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert not d.unknown_medications
    assert "drug_induced_other.on_signal_drug" in fired_rules(d)
