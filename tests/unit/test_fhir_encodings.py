# SPDX-License-Identifier: Apache-2.0
"""Real FHIR encodings (issue 16 item 3): HL7's own CBC example (Bundle 101, results dated by
their DiagnosticReport), comparator values, units whose code is not UCUM, one bad resource
dropped with its reason (never the whole patient), statuses that are not results, the LOINC
table's codes, and what was dropped shown in the exit-2 error and in a batch error record."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine import diagnose
from engine.errors import InputError
from engine.fhir.convert import FhirConversion, from_fhir
from engine.fhir.terms import load_terminology
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "fhir"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
D = dt.date


def bundle_101() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "Bundle-101.json").read_text())
    return data


def obs(oid: str, loinc: str, quantity: dict[str, Any], when: str | None = "2025-01-02",
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": "Patient/p1"}, "valueQuantity": quantity,
    }  # fmt: skip
    if when:
        res["effectiveDateTime"] = when
    res.update(extra)
    return res


def collection(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-05-01"}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in (patient, *resources)]}  # fmt: skip


def reasons(result: FhirConversion) -> dict[str, str]:
    return {i.resource: i.reason for i in result.ignored}


def count(value: float, unit: str = "10*9/L", **extra: Any) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit, **extra}


# --- HL7's CBC example ----------------------------------------------------------------------


def test_hl7_cbc_bundle_101_converts_with_its_report_date() -> None:
    result = from_fhir(bundle_101())
    labs = {lab["test"]: lab for lab in result.facts["labs"]}
    assert set(labs) == {"hemoglobin", "mcv", "platelets", "wbc", "neutrophil_pct", "anc",
                         "lymphocyte_pct", "alc", "amc"}  # fmt: skip
    assert {lab["date"] for lab in labs.values()} == {D(2011, 3, 4)}  # the report's effective
    assert labs["anc"]["value"] == 0.9 and labs["wbc"]["value"] == 4.6
    ignored = reasons(result)
    assert "DiagnosticReport/101" not in ignored  # used: it dates its results
    assert ignored["Observation/r2"] == "LOINC 789-8 is not a test leukodx uses"
    assert len(ignored) == 8  # RBC, Hct, MCH, monocyte %, eosinophils and basophils


def test_hl7_cbc_bundle_101_diagnoses_a_moderate_neutropenia() -> None:
    d = diagnose(str(FIXTURES / "Bundle-101.json"))
    findings = {f.fact: f.value for f in d.findings}
    assert findings["neutropenia_severity"] == "moderate"
    assert findings["ctcae_neutrophil_grade"] == 3
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert anc.value == 0.9 and "2011-03-04" in anc.how


def test_an_own_date_wins_and_a_report_in_error_dates_nothing() -> None:
    data = bundle_101()
    report = data["entry"][0]["resource"]
    r7 = next(e["resource"] for e in data["entry"] if e["resource"]["id"] == "r7")
    r7["effectiveDateTime"] = "2011-03-01"
    labs = {lab["test"]: lab["date"] for lab in from_fhir(copy.deepcopy(data)).facts["labs"]}
    assert labs["wbc"] == D(2011, 3, 1) and labs["anc"] == D(2011, 3, 4)
    report["status"] = "entered-in-error"
    result = from_fhir(data)
    assert [lab["test"] for lab in result.facts["labs"]] == ["wbc"]
    assert reasons(result)["Observation/r9"] == "anc: no effective date (value 0.9 x10*9/L)"


def test_a_panel_dates_its_members() -> None:
    panel = {
        "resourceType": "Observation",
        "id": "cbc",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "58410-2"}]},
        "effectiveDateTime": "2025-02-10",
        "hasMember": [{"reference": "Observation/w"}],
    }
    member = obs("w", "6690-2", count(2.9), when=None)
    result = from_fhir(collection(panel, member))
    assert result.facts["labs"] == [
        {"test": "wbc", "value": 2.9, "unit": "10*9/L", "date": D(2025, 2, 10)}
    ]


# --- a manual differential; results written with different offsets -------------------------

CLOZAPINE = {
    "resourceType": "MedicationRequest", "id": "cloz", "status": "active", "intent": "order",
    "subject": {"reference": "Patient/p1"}, "authoredOn": "2024-12-01",
    "medicationCodeableConcept": {"coding": [{
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2626"}]},
}  # fmt: skip


def alert_ids(data: dict[str, Any]) -> set[str]:
    return {a.id for a in diagnose(data).alerts}


def test_segmented_and_band_percentages_of_a_manual_differential_make_the_anc() -> None:
    """A manual differential reported as segmented neutrophils % (769-0) and bands % (764-1)
    gave no ANC ("LOINC 769-0 is not a test leukodx uses"), so no clozapine alert fired."""
    wbc = obs("w", "6690-2", count(1.5))
    manual = collection(CLOZAPINE, wbc, obs("s", "769-0", count(20, unit="%")),
                        obs("b", "764-1", count(2, unit="%")))  # fmt: skip
    automated = collection(CLOZAPINE, wbc, obs("n", "770-8", count(20, unit="%")),
                           obs("b", "764-1", count(2, unit="%")))  # fmt: skip
    assert reasons(from_fhir(manual)) == {}
    d = diagnose(manual)
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert anc.value == pytest.approx(0.33)
    assert "WBC 1.5 x (20% neutrophils + 2% bands)" in anc.how
    assert "clozapine_severe_neutropenia" in alert_ids(manual)
    assert alert_ids(manual) == alert_ids(automated)


def test_a_later_lower_anc_written_the_day_before_raises_the_alerts() -> None:
    """ANC 0.3 drawn at 23:00 -05:00 (04:00 UTC) is dated the 9th as written; ANC 3.5 drawn two
    hours earlier but written in UTC is dated the 10th and was read as the latest: the febrile
    clozapine patient got no alert at all."""
    counts = [
        obs("w1", "6690-2", count(2.0), when="2025-02-09T23:00:00-05:00"),
        obs("a1", "751-8", count(0.3), when="2025-02-09T23:00:00-05:00"),
        obs("w2", "6690-2", count(6.0), when="2025-02-10T02:00:00Z"),
        obs("a2", "751-8", count(3.5), when="2025-02-10T02:00:00Z"),
    ]
    febrile = obs("t", "8310-5", count(38.6, unit="Cel"), when="2025-02-10T01:00:00Z")
    d = diagnose(collection(febrile, *counts))
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert anc.value == 0.3 and "on 2025-02-09" in anc.how  # its date as written
    assert {"febrile_neutropenia", "severe_neutropenia"} <= {a.id for a in d.alerts}
    assert {i.item for i in d.ignored_inputs} == {"Observation/w2", "Observation/a2"}
    assert "clozapine_severe_neutropenia" in alert_ids(collection(CLOZAPINE, *counts))


# --- comparators ----------------------------------------------------------------------------


def test_a_comparator_is_kept_as_a_bound() -> None:
    result = from_fhir(collection(obs("a", "751-8", count(0.1, comparator="<"))))
    assert result.facts["labs"] == [{"test": "anc", "value": 0.1, "unit": "10*9/L",
                                     "date": D(2025, 1, 2), "comparator": "<"}]  # fmt: skip


def test_an_anc_below_a_bound_drives_the_severe_alert_not_an_older_value() -> None:
    data = collection(
        obs("w1", "6690-2", count(4.0), when="2025-01-01"),
        obs("a1", "751-8", count(1.2), when="2025-01-01"),
        obs("w2", "6690-2", count(1.1), when="2025-01-20"),
        obs("a2", "751-8", count(0.1, comparator="<"), when="2025-01-20"),
    )
    d = diagnose(data)
    findings = {f.fact: f.value for f in d.findings}
    assert findings["neutropenia_severity"] == "severe"
    assert findings["ctcae_neutrophil_grade"] == 4
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert anc.how.startswith("Latest result <0.1 on 2025-01-20")
    assert "reported as a bound (<0.1)" in anc.how
    assert any("0.5" in a.message for a in d.alerts)


def test_a_bound_that_does_not_decide_a_threshold_is_read_at_its_number() -> None:
    # <2.0 may be 1.9 or 0.3: against "below 1.5" it decides nothing, and is read as 2.0
    d = diagnose(collection(obs("w", "6690-2", count(5.0)),
                            obs("a", "751-8", count(2.0, comparator="<"))))  # fmt: skip
    findings = {f.fact: f.value for f in d.findings}
    assert "neutropenia" not in findings and "neutropenia_severity" not in findings
    anc = next(f for f in d.facts if f.id == "v:anc")
    assert "a threshold it does not decide is read as if the value were 2" in anc.how


def test_an_above_bound_counts_as_above() -> None:
    d = diagnose(collection(obs("w", "6690-2", count(100.0, comparator=">")),
                            obs("a", "751-8", count(0.4))))  # fmt: skip
    wbc = next(f for f in d.facts if f.id == "v:wbc")
    assert isinstance(wbc.value, float) and wbc.value > 100
    assert wbc.how.startswith("Latest result >100 on")


# --- units, statuses, one resource at a time ------------------------------------------------


def test_a_unit_code_of_another_system_is_not_read_as_ucum() -> None:
    local = {"value": 3.1, "unit": "K/uL", "system": "http://lab.example.org/units", "code": "G/L"}
    result = from_fhir(collection(obs("w", "6690-2", local)))
    assert result.facts["labs"][0]["unit"] == "K/uL"


def test_one_unknown_unit_drops_that_resource_not_the_patient() -> None:
    data = collection(
        obs("w1", "6690-2", {"value": 3.0, "unit": "bananas/uL"}, when="2024-01-01"),
        obs("w2", "6690-2", count(2.5)),
        obs("n", "770-8", count(0.62, unit="%")),  # a fraction written with %
        obs("r", "6690-2", count(2.0), status="registered"),
    )
    result = from_fhir(data)
    assert [lab["value"] for lab in result.facts["labs"]] == [2.5]
    why = reasons(result)
    assert why["Observation/w1"].startswith("wbc: valueQuantity.unit: unknown unit for wbc")
    assert "looks like a fraction" in why["Observation/n"]
    assert why["Observation/r"] == "status registered"
    d = diagnose(data)
    assert {i.item for i in d.ignored_inputs} >= {
        "Observation/w1",
        "Observation/n",
        "Observation/r",
    }


@pytest.mark.parametrize("status", ["registered", "cancelled", "entered-in-error"])
def test_statuses_that_are_not_results(status: str) -> None:
    result = from_fhir(collection(obs("w", "6690-2", count(2.5), status=status)))
    assert result.facts["labs"] == [] and reasons(result) == {"Observation/w": f"status {status}"}


def test_every_loinc_code_of_the_table_has_a_valid_check_digit() -> None:
    """LOINC's check digit is the mod-10 (Luhn) digit of the number (LOINC Users' Guide):
    "768-3" fails it, "768-2" passes; a typo in the table cannot slip through."""

    def check(number: str) -> int:
        total = 0
        for i, digit in enumerate(int(c) for c in reversed(number)):
            total += sum(divmod(digit * 2, 10)) if i % 2 == 0 else digit
        return (10 - total % 10) % 10

    terms = load_terminology()
    codes = [*terms.tests, *terms.loinc_not_used, terms.fever_loinc]
    for code in codes:
        number, digit = code.split("-")
        assert check(number) == int(digit), code
    assert check("768") != 3 and "768-3" not in codes
    for code, test in {"751-8": "anc", "753-4": "anc", "26499-4": "anc", "770-8": "neutrophil_pct",
                       "26511-6": "neutrophil_pct", "769-0": "neutrophil_pct",
                       "764-1": "band_pct", "731-0": "alc"}.items():  # fmt: skip
        assert terms.tests[code] == test


# --- what was dropped, where the user sees it -----------------------------------------------


def unusable(tmp_path: Path) -> Path:
    path = tmp_path / "bundle.json"
    data = collection(obs("w1", "6690-2", {"value": 3.1, "unit": "bananas/uL"}),
                      obs("w2", "6690-2", count(2.0), status="registered"))  # fmt: skip
    path.write_text(json.dumps(data))
    return path


def test_the_input_error_of_fhir_names_what_was_dropped() -> None:
    data = collection(obs("w1", "6690-2", {"value": 3.1, "unit": "bananas/uL"}))
    with pytest.raises(InputError) as caught:
        diagnose(data)
    message = str(caught.value)
    assert message.startswith("labs: at least one WBC or ANC value is required [FHIR input not")
    assert "Observation/w1: wbc: valueQuantity.unit: unknown unit for wbc" in message


def test_the_cli_exit_2_error_and_the_batch_error_record_name_what_was_dropped(
    tmp_path: Path,
) -> None:
    path = unusable(tmp_path)
    run = subprocess.run([sys.executable, "-m", "engine", "diagnose", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert "FHIR input not used (2): Observation/w1: wbc:" in run.stderr
    assert "Observation/w2: status registered" in run.stderr
    out = tmp_path / "out.jsonl"
    run = subprocess.run([sys.executable, "-m", "engine", "batch", str(path), "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert run.returncode == 3
    record = json.loads(out.read_text().splitlines()[0])
    assert (
        record["ok"] is False and "Observation/w2: status registered" in record["error"]["message"]
    )


def test_an_undated_anc_is_given_but_not_used_not_unmeasured() -> None:
    """The fifth probe: an ANC Observation with a month-only date was listed only as
    "Observation/r9: effective date '2011-03' is not a full date", and the note called the ANC
    "not measured"."""
    from engine.api import diagnose
    from engine.render import consult_note

    data = bundle_101()
    report = data["entry"][0]["resource"]
    report["status"] = "entered-in-error"  # the report no longer dates its results
    r9 = next(e["resource"] for e in data["entry"] if e["resource"]["id"] == "r9")
    r9["effectiveDateTime"] = "2011-03"
    r7 = next(e["resource"] for e in data["entry"] if e["resource"]["id"] == "r7")
    r7["effectiveDateTime"] = "2011-03-04"
    d = diagnose(data)
    assert "ANC (given, but not used: see below)" in consult_note(d)
    why = {i.item: i.reason for i in d.ignored_inputs}["Observation/r9"]
    assert why == "anc: effective date '2011-03' is not a full date (value 0.9 x10*9/L)"
