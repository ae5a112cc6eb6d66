# SPDX-License-Identifier: Apache-2.0
"""Clinical corrections after probe 16 (2026-12-07, session 19: an oncologist's, an infectious
diseases physician's and a GP's vignettes).

A regimen acronym the lexicon cannot read no longer passes as "no chemotherapy" in silence; a
febrile traveller gets a malaria alert; a negative HIV antibody beside a positive RNA is acute
HIV, not evidence against it; a falling count on a drug that lowers it is left to the drug; a
drug's timing is read on the ANC where one was counted; a drug the lexicon does not know counts
as exposure only inside a plausible window; Sjogren syndrome is a cause of neutropenia.

Run on the backends of tests/conftest.py's RULE_TEST_BACKENDS (CLIPS; experta too in the slow
profile)."""

from __future__ import annotations

from typing import Any

import pytest

from engine import diagnose
from engine.differential import Differential
from engine.kb.load import load_knowledge_base
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.differential_reading import fired_rules
from tests.kb.patient_data import lab as _l

BACKENDS = RULE_TEST_BACKENDS


def _alerts(d: Differential) -> dict[str, str]:
    return {a.id: a.level for a in d.alerts}


def _fever_after_cycle(medication: str) -> dict[str, Any]:
    """Day 10 after a cycle: fever and an ANC of 0.7 (probe 16's regimen loop)."""
    return {
        "as_of": "2025-03-13", "age": 52, "sex": "female",
        "labs": [_l("wbc", 1.6, "10^9/L", "2025-03-13"), _l("anc", 0.7, "10^9/L", "2025-03-13")],
        "medications": [{"name": medication, "start": "2025-03-03", "stop": "2025-03-03"}],
        "findings": [{"name": "fever", "since": "2025-03-13"}],
    }  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("regimen", ["FCR", "FLOT", "TCH", "Pola-R-CHP", "Ibrance", "Revlimid"])
def test_regimens_and_drugs_read_since_probe_16_give_the_critical_alert(
    backend: str, regimen: str
) -> None:
    d = diagnose(_fever_after_cycle(regimen), backend=backend)
    assert _alerts(d).get("febrile_neutropenia") == "critical", regimen
    assert not d.unknown_medications


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("regimen", ["AC", "EC", "ddAC", "7+3"])
def test_an_unread_name_is_said_to_be_possible_chemotherapy(backend: str, regimen: str) -> None:
    """The acronyms left out as ambiguous stay unknown, and the warning says what follows if the
    name is chemotherapy, instead of the general moderate-neutropenia warning."""
    d = diagnose(_fever_after_cycle(regimen), backend=backend)
    alerts = _alerts(d)
    assert alerts.get("fever_with_unread_medication") == "warning", regimen
    assert "fever_with_moderate_neutropenia" not in alerts
    assert "febrile_neutropenia" not in alerts
    fired = fired_rules(d)
    assert "chemotherapy_radiation.no_chemotherapy_unread_name" in fired
    assert "chemotherapy_radiation.no_chemotherapy_or_radiotherapy" not in fired
    alert = next(a for a in d.alerts if a.id == "fever_with_unread_medication")
    assert any("(not in the lexicon)" in f.how for f in alert.facts)  # the unread name is shown


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_an_unread_name_the_moderate_warning_stays(backend: str) -> None:
    patient = _fever_after_cycle("AC")
    del patient["medications"]
    d = diagnose(patient, backend=backend)
    assert _alerts(d).get("fever_with_moderate_neutropenia") == "warning"
    assert "fever_with_unread_medication" not in _alerts(d)
    assert "chemotherapy_radiation.no_chemotherapy_or_radiotherapy" in fired_rules(d)


def _traveller(until: str, *, fever: bool = True) -> dict[str, Any]:
    labs = [_l("wbc", 3.0, "10^9/L", "2025-01-12"), _l("anc", 2.0, "10^9/L", "2025-01-12"),
            _l("platelets", 41, "10^9/L", "2025-01-12")]  # fmt: skip
    patient: dict[str, Any] = {
        "as_of": "2025-01-12", "age": 52, "sex": "male", "labs": labs,
        "history": [{"name": "recent_travel", "since": "2024-12-10", "until": until}],
    }  # fmt: skip
    if fever:
        patient["findings"] = [{"name": "fever", "since": "2025-01-09"}]
    return patient


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_febrile_traveller_is_told_to_exclude_malaria_today(backend: str) -> None:
    assert _alerts(diagnose(_traveller("2025-01-03"), backend=backend)) == {
        "fever_after_travel": "warning"
    }
    old = _traveller("2023-10-01")
    old["history"][0]["since"] = "2023-09-01"
    assert "fever_after_travel" not in _alerts(diagnose(old, backend=backend))
    afebrile = _traveller("2025-01-03", fever=False)
    assert "fever_after_travel" not in _alerts(diagnose(afebrile, backend=backend))


def _hiv_tests(*results: tuple[str, str]) -> dict[str, Any]:
    labs = [_l("wbc", 3.1, "10^9/L", "2025-06-10"), _l("anc", 1.4, "10^9/L", "2025-06-10"),
            _l("alc", 0.8, "10^9/L", "2025-06-10")]  # fmt: skip
    labs += [{"test": test, "value": value, "date": "2025-06-10"} for test, value in results]
    return {
        "as_of": "2025-06-10", "age": 27, "sex": "male", "labs": labs,
        "findings": [{"name": "fever", "since": "2025-06-03"}, "lymphadenopathy", "rash"],
    }  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_antibody_with_positive_rna_is_acute_hiv(backend: str) -> None:
    d = diagnose(_hiv_tests(("hiv", "negative"), ("hiv_rna", "positive")), backend=backend)
    fired = fired_rules(d)
    assert "hiv.negative_test" not in fired
    assert "hiv.known_or_positive_hiv" in fired
    assert "infection_other.hiv_opportunistic_infection" not in fired
    negative = fired_rules(diagnose(_hiv_tests(("hiv", "negative")), backend=backend))
    assert "hiv.negative_test" in negative
    known = fired_rules(diagnose(_hiv_tests(("hiv", "positive")), backend=backend))
    assert "infection_other.hiv_opportunistic_infection" in known


def _falling(medications: list[dict[str, Any]]) -> dict[str, Any]:
    labs = [
        _l("anc", v, "10^9/L", day)
        for v, day in (
            (4.6, "2025-01-05"),
            (2.5, "2025-02-05"),
            (1.2, "2025-03-05"),
            (0.42, "2025-04-05"),
        )
    ]
    labs += [_l("hemoglobin", 10.4, "g/dL", "2025-04-05"),
             _l("platelets", 145, "10^9/L", "2025-04-05")]  # fmt: skip
    return {"as_of": "2025-04-05", "age": 58, "sex": "male", "labs": labs,
            "medications": medications}  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fall_on_a_drug_that_lowers_the_count_is_left_to_the_drug(backend: str) -> None:
    on_drugs = [{"name": "Valcyte 900 mg daily", "start": "2024-12-20"},
                {"name": "CellCept 1 g bid", "start": "2024-12-20"}]  # fmt: skip
    d = diagnose(_falling(on_drugs), backend=backend)
    assert "acute_leukemia.falling_count" not in fired_rules(d)
    assert d.candidates[0].cause != "acute_leukemia"
    assert "acute_leukemia.falling_count" in fired_rules(diagnose(_falling([]), backend=backend))


def _ganciclovir(wbc_before: float) -> dict[str, Any]:
    """Probe 16 D4: a white count of 3.9 beside a normal ANC two days before ganciclovir."""
    labs = [_l("wbc", wbc_before, "10^9/L", "2025-03-01"), _l("anc", 2.6, "10^9/L", "2025-03-01"),
            _l("wbc", 0.9, "10^9/L", "2025-03-21"), _l("anc", 0.3, "10^9/L", "2025-03-21"),
            _l("platelets", 40, "10^9/L", "2025-03-21")]  # fmt: skip
    return {"as_of": "2025-03-21", "age": 45, "sex": "female", "labs": labs,
            "medications": [{"name": "ganciclovir", "start": "2025-03-03"}]}  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_drugs_timing_is_read_on_the_anc_where_it_was_counted(backend: str) -> None:
    for wbc_before in (3.9, 4.3):
        d = diagnose(_ganciclovir(wbc_before), backend=backend)
        drug = d.candidate("drug_induced_other")
        assert drug is not None and drug.agents == ["ganciclovir"], wbc_before
        assert "drug_induced_other.baseline_low" not in fired_rules(d)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_leukopenia_with_a_normal_anc_keeps_the_white_count_dates(backend: str) -> None:
    """A lymphopenic leukopenia four days after an overdose: the white count dates the onset."""
    patient = {
        "as_of": "2019-01-05", "age": 16, "sex": "female",
        "labs": [_l("wbc", 2.8, "10^9/L", "2019-01-05"), _l("anc", 2.1, "10^9/L", "2019-01-05")],
        "medications": [{"name": "colchicine", "start": "2019-01-01"}],
    }  # fmt: skip
    assert "drug_induced_other.no_medication_recorded" not in fired_rules(
        diagnose(patient, backend=backend)
    )


def _influenza(medications: list[dict[str, Any]]) -> dict[str, Any]:
    labs = [_l("wbc", 2.7, "10^9/L", "2025-02-03"), _l("anc", 1.2, "10^9/L", "2025-02-03"),
            _l("hemoglobin", 14.5, "g/dL", "2025-02-03"),
            _l("platelets", 160, "10^9/L", "2025-02-03")]  # fmt: skip
    return {"as_of": "2025-02-03", "age": 44, "sex": "male", "labs": labs,
            "medications": medications}  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("start", "counts"),
    [("2025-02-03", False), ("2019-06-01", False), ("2025-01-02", True), (None, True)],
)
def test_an_unknown_drug_counts_as_exposure_only_in_its_window(
    backend: str, start: str | None, counts: bool
) -> None:
    """Oseltamivir first taken on the day of the count, amlodipine taken since 2019: neither can
    explain the count; one started a month before, or with no start date, still may."""
    course: dict[str, Any] = {"name": "oseltamivir 75 mg bd"}
    if start is not None:
        course["start"] = start
    fired = fired_rules(diagnose(_influenza([course]), backend=backend))
    assert ("drug_induced_other.no_medication_recorded" not in fired) is counts


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_drug_is_not_named_beside_a_signal_drug_of_the_same_window(
    backend: str,
) -> None:
    patient = {
        "as_of": "2025-03-20", "age": 34, "sex": "female", "conditions": ["hyperthyroidism"],
        "labs": [_l("wbc", 1.1, "10^9/L", "2025-03-20"), _l("anc", 0.1, "10^9/L", "2025-03-20")],
        "medications": [{"name": "carbimazole", "start": "2025-02-01"},
                        {"name": "propranolol", "start": "2025-02-01"}],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert "drug_induced_other.unlisted_drug_in_onset_window" not in fired_rules(d)
    drug = d.candidate("drug_induced_other")
    assert drug is not None and drug.agents == ["carbimazole"]


def _isolated(anc: float, conditions: list[str]) -> dict[str, Any]:
    labs = [_l("wbc", 3.4, "10^9/L", "2025-05-15"), _l("anc", anc, "10^9/L", "2025-05-15"),
            _l("alc", 1.3, "10^9/L", "2025-05-15"), _l("hemoglobin", 12.8, "g/dL", "2025-05-15"),
            _l("platelets", 190, "10^9/L", "2025-05-15")]  # fmt: skip
    return {"as_of": "2025-05-15", "age": 55, "sex": "female", "labs": labs,
            "conditions": conditions}  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_sjogren_syndrome_is_a_cause_and_mutes_the_duffy_hint(backend: str) -> None:
    fired = fired_rules(diagnose(_isolated(1.4, ["sjogren"]), backend=backend))
    assert "autoimmune_neutropenia.known_sjogren" in fired
    assert "duffy_null.isolated_neutropenia_ancestry_unrecorded" not in fired
    hint = "duffy_null.isolated_neutropenia_ancestry_unrecorded"
    assert hint in fired_rules(diagnose(_isolated(1.4, []), backend=backend))
    assert hint not in fired_rules(diagnose(_isolated(0.95, []), backend=backend))


@pytest.mark.parametrize(
    ("name", "generic"),
    [
        ("Bactrim DS 800/160 mg", "trimethoprim-sulfamethoxazole"),
        ("Bactrim DS 800/160", "trimethoprim-sulfamethoxazole"),
        ("co-trimoxazole 960 mg three times weekly", "trimethoprim-sulfamethoxazole"),
        ("5-FC", "flucytosine"),
        ("Lonquex", "lipegfilgrastim"),
        ("Neulasta Onpro", "pegfilgrastim"),
        ("Kisqali 600 mg", "ribociclib"),
        ("Prograf", "tacrolimus"),
        ("clozapine 1/2 tab", "clozapine"),
        ("Mycophenolate Sodium 360 mg", "mycophenolic acid"),
        ("mycophenolate", "mycophenolate mofetil"),
    ],
)
def test_names_read_since_probe_16(name: str, generic: str) -> None:
    assert load_knowledge_base().lexicon.resolve(name).name == generic


def test_g_csf_is_the_growth_factor_class_not_a_suspect() -> None:
    resolved = load_knowledge_base().lexicon.resolve("G-CSF")
    assert resolved.classes == ("growth_factor",)
    patient = {
        "as_of": "2025-03-17", "age": 50, "sex": "female",
        "labs": [_l("wbc", 1.5, "10^9/L", "2025-03-17"), _l("anc", 0.4, "10^9/L", "2025-03-17")],
        "medications": [{"name": "epirubicin", "start": "2025-03-03", "stop": "2025-03-03"},
                        {"name": "cyclophosphamide", "start": "2025-03-03", "stop": "2025-03-03"},
                        {"name": "Lonquex", "start": "2025-03-04", "stop": "2025-03-04"}],
    }  # fmt: skip
    d = diagnose(patient)
    drug = d.candidate("drug_induced_other")
    assert drug is None or "lipegfilgrastim" not in drug.agents
    assert d.candidates[0].cause == "chemotherapy_radiation"


@pytest.mark.parametrize("backend", BACKENDS)
def test_signs_of_infection_without_fever_at_a_severe_count_are_critical(backend: str) -> None:
    patient: dict[str, Any] = {
        "as_of": "2025-05-15", "age": 52, "sex": "female", "conditions": ["hyperthyroidism"],
        "labs": [_l("wbc", 1.9, "10^9/L", "2025-05-15"), _l("anc", 0.3, "10^9/L", "2025-05-15")],
        "medications": [{"name": "methimazole", "start": "2025-03-20"}],
        "findings": [{"name": "pharyngitis", "since": "2025-05-14"}],
    }  # fmt: skip
    assert _alerts(diagnose(patient, backend=backend))["infection_signs_without_fever"] == (
        "critical"
    )
    fever = {"name": "fever", "since": "2025-05-15"}
    febrile = {**patient, "findings": [*patient["findings"], fever]}
    assert "infection_signs_without_fever" not in _alerts(diagnose(febrile, backend=backend))
    del patient["findings"]
    assert "infection_signs_without_fever" not in _alerts(diagnose(patient, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_valganciclovir_is_held_at_the_labels_counts_and_its_toxicity_counts(
    backend: str,
) -> None:
    on_drugs = [{"name": "Valcyte 900 mg daily", "start": "2024-12-20"}]
    d = diagnose(_falling(on_drugs), backend=backend)
    assert _alerts(d).get("valganciclovir_low_counts") == "warning"
    assert "drug_induced_other.ganciclovir_marrow_toxicity" in fired_rules(d)
    assert d.candidates[0].cause == "drug_induced_other"
    no_drug = diagnose(_falling([]), backend=backend)
    assert "valganciclovir_low_counts" not in _alerts(no_drug)


def test_one_low_count_is_not_said_to_have_been_low_for_a_short_time() -> None:
    patient = {
        "as_of": "2025-06-01", "age": 50, "sex": "male",
        "labs": [_l("wbc", 3.6, "10^9/L", "2025-06-01")],
    }  # fmt: skip
    d = diagnose(patient)
    chronicity = next(f for f in d.findings if f.fact == "chronicity")
    assert (chronicity.value, chronicity.rule_id) == ("transient", "context.one_day_low")
    two_days = {**patient, "labs": [*patient["labs"], _l("wbc", 3.5, "10^9/L", "2025-05-01")]}
    chronicity = next(f for f in diagnose(two_days).findings if f.fact == "chronicity")
    assert (chronicity.value, chronicity.rule_id) == ("transient", "context.transient")


def _pregnant(platelets: float) -> dict[str, Any]:
    labs = [_l("wbc", 3.6, "10^9/L", "2025-05-15"), _l("anc", 1.25, "10^9/L", "2025-05-15"),
            _l("hemoglobin", 10.6, "g/dL", "2025-05-15"),
            _l("platelets", platelets, "10^9/L", "2025-05-15")]  # fmt: skip
    return {"as_of": "2025-05-15", "age": 31, "sex": "female", "labs": labs,
            "conditions": [{"name": "pregnancy", "since": "2024-12-01"}]}  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_gestational_platelet_count_is_no_second_low_line(backend: str) -> None:
    findings = {f.fact: f.value for f in diagnose(_pregnant(135), backend=backend).findings}
    assert "thrombocytopenia" not in findings
    assert findings["lineage"] == "bicytopenia"  # anaemia for pregnancy, and the neutropenia
    low = {f.fact: f.value for f in diagnose(_pregnant(85), backend=backend).findings}
    assert low["thrombocytopenia"] is True and low["lineage"] == "pancytopenia"
    outside = _pregnant(135)
    del outside["conditions"]
    assert {f.fact: f.value for f in diagnose(outside, backend=backend).findings}.get(
        "thrombocytopenia"
    ) is True


def test_metformin_and_a_ppi_are_named_as_reasons_for_a_low_b12() -> None:
    patient = {
        "as_of": "2025-05-15", "age": 67, "sex": "male",
        "labs": [_l("wbc", 3.4, "10^9/L", "2025-05-15"), _l("anc", 1.4, "10^9/L", "2025-05-15"),
                 _l("hemoglobin", 10.9, "g/dL", "2025-05-15"), _l("mcv", 108, "fL", "2025-05-15"),
                 _l("vitamin_b12", 115, "pg/mL", "2025-05-15")],
        "medications": [{"name": "metformin", "start": "2012-06-01"},
                        {"name": "omeprazole", "start": "2016-02-01"}],
    }  # fmt: skip
    d = diagnose(patient)
    assert not d.unknown_medications
    b12 = d.candidate("megaloblastic")
    assert b12 is not None and d.candidates[0].cause == "megaloblastic"
    assert any("metformin or a proton-pump inhibitor" in s.text for s in b12.considerations)
    without = diagnose({**patient, "medications": []}).candidate("megaloblastic")
    assert without is not None
    assert not any("metformin" in s.text for s in without.considerations)


def test_the_next_step_that_shares_a_source_with_the_evidence_comes_first() -> None:
    patient = {
        "as_of": "2025-07-10", "age": 61, "sex": "male",
        "labs": [_l("wbc", 2.3, "10^9/L", "2025-07-10"), _l("anc", 1.3, "10^9/L", "2025-07-10"),
                 _l("platelets", 58, "10^9/L", "2025-07-10"), _l("alt", 128, "U/L", "2025-07-10")],
        "history": [{"name": "tick_bite", "since": "2025-06-28"}],
        "findings": [{"name": "fever", "since": "2025-07-06"}],
    }  # fmt: skip
    infection = diagnose(patient).candidate("infection_other")
    assert infection is not None
    assert "doxycycline" in infection.next_steps[0].text


def _on_filgrastim(anc_today: float, before: float = 0.6) -> dict[str, Any]:
    labs = [_l("anc", before, "10^9/L", day) for day in ("2025-03-01", "2025-05-01", "2025-07-01")]
    labs.append(_l("anc", anc_today, "10^9/L", "2025-10-01"))
    return {"as_of": "2025-10-01", "age": 66, "sex": "female", "labs": labs,
            "medications": [{"name": "Neupogen", "start": "2025-07-15"}]}  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_counts_on_a_growth_factor_are_said_not_to_be_the_patients_own(backend: str) -> None:
    masked = _alerts(diagnose(_on_filgrastim(7.4), backend=backend))
    assert masked.get("neutropenia_masked_by_growth_factor") == "warning"
    assert masked.get("counts_on_growth_factor") == "info"
    never_low = _alerts(diagnose(_on_filgrastim(7.4, before=3.0), backend=backend))
    assert "neutropenia_masked_by_growth_factor" not in never_low
    assert never_low.get("counts_on_growth_factor") == "info"
    still_low = _alerts(diagnose(_on_filgrastim(0.9), backend=backend))
    assert "neutropenia_masked_by_growth_factor" not in still_low


@pytest.mark.parametrize("backend", BACKENDS)
def test_cotrimoxazole_marrow_suppression_counts_for_the_drug(backend: str) -> None:
    patient: dict[str, Any] = {
        "as_of": "2025-04-20", "age": 71, "sex": "male",
        "labs": [_l("wbc", 2.1, "10^9/L", "2025-04-20"), _l("anc", 0.9, "10^9/L", "2025-04-20"),
                 _l("hemoglobin", 9.1, "g/dL", "2025-04-20"), _l("mcv", 104, "fL", "2025-04-20"),
                 _l("platelets", 62, "10^9/L", "2025-04-20")],
        "medications": [{"name": "co-trimoxazole 960 mg three times daily", "start": "2025-03-25"}],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert "drug_induced_other.cotrimoxazole_marrow_suppression" in fired_rules(d)
    drug = d.candidate("drug_induced_other")
    assert drug is not None
    against = {e.rule_id for e in drug.evidence_against}
    assert "drug_induced_other.profile.anemia" not in against  # counted once, by this rule
    with_mtx = {
        **patient,
        "medications": [*patient["medications"], {"name": "methotrexate", "start": "2020-01-01"}],
    }
    assert "drug_induced_other.cotrimoxazole_marrow_suppression" not in fired_rules(
        diagnose(with_mtx, backend=backend)
    )


def test_a_fluoropyrimidine_brings_the_dpyd_step() -> None:
    d = diagnose(_fever_after_cycle("Xeloda"))
    chemo = d.candidate("chemotherapy_radiation")
    assert chemo is not None
    assert any("DPYD" in s.text for s in chemo.next_steps)
    other = diagnose(_fever_after_cycle("docetaxel")).candidate("chemotherapy_radiation")
    assert other is not None and not any("DPYD" in s.text for s in other.next_steps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stopped_chemotherapy_medication_counts_as_its_history_record(backend: str) -> None:
    labs = [_l("wbc", 1.6, "10^9/L", "2025-06-07"), _l("anc", 0.4, "10^9/L", "2025-06-07"),
            _l("platelets", 12, "10^9/L", "2025-06-07")]  # fmt: skip
    course = {"name": "Temodal", "start": "2025-03-20", "stop": "2025-05-01"}
    patient = {"as_of": "2025-06-07", "age": 58, "sex": "male", "labs": labs,
               "medications": [course]}  # fmt: skip
    rule = "chemotherapy_radiation.chemotherapy_3_to_8_weeks_ago"
    assert rule in fired_rules(diagnose(patient, backend=backend))
    again = {**patient, "medications": [course, {"name": "temozolomide", "start": "2025-06-01"}]}
    assert rule not in fired_rules(diagnose(again, backend=backend))  # a current course instead


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_read_but_unassessed_drug_is_not_called_unrecognised(backend: str) -> None:
    """Re-probe: isoniazid, now read (class unlisted_drug), was called 'not recognised'."""
    alerts = _alerts(diagnose(_fever_after_cycle("isoniazid"), backend=backend))
    assert "fever_with_unread_medication" not in alerts
    assert alerts.get("fever_with_moderate_neutropenia") == "warning"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_ended_pregnancy_gives_the_usual_limits(backend: str) -> None:
    ended = _pregnant(130)
    ended["conditions"] = [{"name": "pregnancy", "since": "2024-06-01", "until": "2025-01-10"}]
    findings = {f.fact: f.value for f in diagnose(ended, backend=backend).findings}
    assert findings.get("thrombocytopenia") is True and findings.get("anemia") is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_growth_factor_for_a_chemotherapy_nadir_masks_nothing(backend: str) -> None:
    patient = _on_filgrastim(7.4)
    patient["history"] = [{"name": "chemotherapy", "since": "2025-06-01", "until": "2025-09-25"}]
    alerts = _alerts(diagnose(patient, backend=backend))
    assert "neutropenia_masked_by_growth_factor" not in alerts
    assert alerts.get("counts_on_growth_factor") == "info"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_drug_is_not_named_beside_current_chemotherapy(backend: str) -> None:
    patient = {
        "as_of": "2025-03-20", "age": 58, "sex": "female",
        "labs": [_l("anc", 3.1, "10^9/L", "2025-02-20"), _l("anc", 0.4, "10^9/L", "2025-03-20")],
        "medications": [{"name": "Kisqali", "start": "2025-02-20"},
                        {"name": "Femara", "start": "2025-02-20"}],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert "drug_induced_other.unlisted_drug_in_onset_window" not in fired_rules(d)
    assert d.candidates[0].cause == "chemotherapy_radiation"


def test_a_febrile_travellers_viral_steps_lead_with_dengue_and_malaria_tests() -> None:
    d = diagnose(_traveller("2025-01-03"))
    viral = d.candidate("viral_infection")
    assert viral is not None
    assert "dengue NS1" in viral.next_steps[0].text
