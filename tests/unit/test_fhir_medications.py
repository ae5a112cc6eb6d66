# SPDX-License-Identifier: Apache-2.0
"""Medications from FHIR as real feeds send them (engine/fhir/medication.py): RxNorm product codes,
Medication resources with ingredients, MedicationAdministration and MedicationDispense, and the
drug names that come out resolved by the bundled lexicon, up to the clozapine alert."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine import diagnose
from engine.fhir.convert import from_fhir
from engine.fhir.terms import known_rxnorm
from engine.kb.load import load_knowledge_base
from tests.unit.test_fhir import ROOT, RX, bundle, cc, convert, reasons

D = dt.date
LEXICON = load_knowledge_base().lexicon


def use(kind: str, mid: str, medication: dict[str, Any], **extra: Any) -> dict[str, Any]:
    res = {"resourceType": kind, "id": mid, "status": "completed", **medication, **extra}
    if kind == "MedicationRequest":
        res.update(status=extra.get("status", "active"), intent="order")
    if kind == "MedicationStatement":  # completed without an end date is not used (see below)
        res.update(status=extra.get("status", "active"))
    return res


def coded(code: str, display: str | None = None) -> dict[str, Any]:
    return {"medicationCodeableConcept": cc(RX, code, display)}


def ref(reference: str) -> dict[str, Any]:
    return {"medicationReference": {"reference": reference}}


def names(result: Any) -> list[str]:
    return [m["name"] for m in result.facts["medications"]]


def generic(name: str) -> str:
    return LEXICON.resolve(name).name


def test_a_statement_or_order_that_ended_without_an_end_date_is_not_used() -> None:
    """Stopped, but not when: read as ongoing, clozapine stopped in 2015 raised "interrupt
    clozapine" in 2025. It is listed as not used, with why; an end date keeps it."""
    stopped = use("MedicationStatement", "s1", {"medicationCodeableConcept": {"text": "clozapine"}},
                  status="stopped", effectiveDateTime="2015-06-01")  # fmt: skip
    ended = use("MedicationRequest", "r1", {"medicationCodeableConcept": {"text": "imatinib"}},
                status="completed", authoredOn="2015-06-01")  # fmt: skip
    result = convert(stopped, ended)
    assert names(result) == []
    assert reasons(result) == {
        "MedicationStatement/s1": "clozapine: status stopped with no end date, so when it was "
        "stopped is unknown; the course is not used",
        "MedicationRequest/r1": "imatinib: status completed with no end date, so when it was "
        "stopped is unknown; the course is not used",
    }
    period = {"start": "2015-06-01", "end": "2016-01-01"}
    dated = use("MedicationStatement", "s2", {"medicationCodeableConcept": {"text": "clozapine"}},
                status="stopped", effectivePeriod=period)  # fmt: skip
    assert convert(dated).facts["medications"] == [
        {"name": "clozapine", "start": D(2015, 6, 1), "stop": D(2016, 1, 1)}
    ]


def test_an_order_is_timed_by_its_dosage_bounds_before_its_authored_date() -> None:
    """``authoredOn`` is when the order was written; the dosage schedule's boundsPeriod is when
    the drug is taken (earliest start, latest end over the instructions when every one has an
    end; the end is the stop of an open order too since probe 11: an "active" order whose
    schedule ended in 2025 was read as taken now; a boundsDuration ends it after that long)."""

    def dosage(start: str, end: str | None = None) -> dict[str, Any]:
        period = {"start": start, **({"end": end} if end else {})}
        return {"timing": {"repeat": {"boundsPeriod": period}}}

    text = {"medicationCodeableConcept": {"text": "clozapine"}}
    both = [dosage("2024-12-10"), dosage("2024-12-01", "2025-06-01")]
    active = use("MedicationRequest", "r1", text, authoredOn="2024-11-01", dosageInstruction=both)
    # one instruction has no end (a maintenance dose after a titration): the schedule has none
    assert convert(active).facts["medications"] == [{"name": "clozapine", "start": D(2024, 12, 1)}]
    ended_schedule = [dosage("2024-12-01", "2024-12-14"), dosage("2024-12-15", "2025-06-01")]
    closed = use("MedicationRequest", "r5", text, authoredOn="2024-11-01",
                 dosageInstruction=ended_schedule)  # fmt: skip
    assert convert(closed).facts["medications"] == [
        {"name": "clozapine", "start": D(2024, 12, 1), "stop": D(2025, 6, 1)}
    ]
    unbounded = use(
        "MedicationRequest",
        "r6",
        text,
        authoredOn="2024-11-01",
        dosageInstruction=[dosage("2024-12-01", "2024-12-14"), {"text": "daily"}],
    )
    assert "stop" not in convert(unbounded).facts["medications"][0]
    lasting = use("MedicationRequest", "r7", text, authoredOn="2025-01-01", dosageInstruction=[
        {"timing": {"repeat": {"boundsDuration": {"value": 2, "code": "wk"}}}}])  # fmt: skip
    assert convert(lasting).facts["medications"] == [
        {"name": "clozapine", "start": D(2025, 1, 1), "stop": D(2025, 1, 15)}
    ]
    ended = use("MedicationRequest", "r2", text, status="completed", authoredOn="2024-11-01",
                dosageInstruction=[dosage("2024-12-01", "2025-01-15")])  # fmt: skip
    assert convert(ended).facts["medications"] == [
        {"name": "clozapine", "start": D(2024, 12, 1), "stop": D(2025, 1, 15)}
    ]
    plain = use("MedicationRequest", "r3", text, authoredOn="2024-11-01")
    assert convert(plain).facts["medications"] == [{"name": "clozapine", "start": D(2024, 11, 1)}]
    # a renewal was started under an earlier order: its own date is not the start
    renewal = use("MedicationRequest", "r4", text, authoredOn="2024-11-01",
                  priorPrescription={"reference": "MedicationRequest/r0"})  # fmt: skip
    assert convert(renewal).facts["medications"] == [{"name": "clozapine"}]


def test_an_order_not_to_give_a_drug_is_not_a_course() -> None:
    """``doNotPerform: true`` (often "never rechallenge clozapine") was read as taking it."""
    text = {"medicationCodeableConcept": {"text": "clozapine"}}
    result = convert(
        use("MedicationRequest", "r1", text, authoredOn="2024-11-01", doNotPerform=True)
    )
    assert names(result) == []
    assert reasons(result) == {
        "MedicationRequest/r1": "clozapine: doNotPerform, an order not to give it"
    }


def test_rxnorm_by_its_oid_or_with_a_trailing_slash_is_rxnorm() -> None:
    """FHIR converted from C-CDA codes RxNorm by its HL7 OID: a clozapine order coded so was
    "no RxNorm code or name", and its alerts were lost."""
    for system in ("urn:oid:2.16.840.1.113883.6.88", f"{RX}/"):
        concept = {"coding": [{"system": system, "code": "2626"}]}
        result = convert(use("MedicationRequest", "r1", {"medicationCodeableConcept": concept},
                             authoredOn="2024-12-01"))  # fmt: skip
        assert [generic(n) for n in names(result)] == ["clozapine"], system


def test_a_reference_to_a_medication_not_in_the_input_is_read_by_its_display() -> None:
    """A clozapine order whose Medication was not prefetched vanished (the fourth probe)."""
    pointer = {"reference": "Medication/m9", "display": "Clozapine 100 MG"}
    order = use(
        "MedicationRequest", "r1", {"medicationReference": pointer}, authoredOn="2024-12-01"
    )
    assert [generic(n) for n in names(convert(order))] == ["clozapine"]
    bare = use("MedicationRequest", "r2", ref("Medication/m9"), authoredOn="2024-12-01")
    assert "is not a Medication in the input" in reasons(convert(bare))["MedicationRequest/r2"]


# --- names ----------------------------------------------------------------------------------


def test_a_product_coded_request_resolves_to_its_ingredient() -> None:
    result = convert(
        use("MedicationRequest", "r", coded("197535", "clozapine 100 MG Oral Tablet"),
            authoredOn="2024-12-01"),
    )  # fmt: skip
    assert result.facts["medications"] == [{"name": "rxnorm:197535", "start": D(2024, 12, 1)}]
    found = LEXICON.resolve("rxnorm:197535")
    assert (found.name, found.known) == ("clozapine", True)
    assert "197535" in found.how and "clozapine 100 MG Oral Tablet" in found.how


def test_a_code_the_lexicon_lacks_falls_back_to_the_name_and_then_to_the_code() -> None:
    """A product the table lacks still arrives by its RxNorm name; with no name, by its code."""
    result = convert(
        use("MedicationRequest", "a", coded("403879", "imatinib 400 MG Oral Tablet")),
        use("MedicationRequest", "b", coded("999999001")),
        use("MedicationStatement", "c", {"medicationCodeableConcept": {
            "text": "Clozaril 100 mg tablet",
            "coding": [{"system": RX, "code": "999999002", "display": "ignored: text first"}]}}),
    )  # fmt: skip
    assert names(result) == ["Clozaril 100 mg tablet", "imatinib 400 MG Oral Tablet",
                             "rxnorm:999999001"]  # fmt: skip
    assert [generic(n) for n in names(result)] == ["clozapine", "imatinib", "rxnorm:999999001"]


def test_the_rxnorm_display_is_preferred_to_another_systems_display() -> None:
    concept = {"coding": [
        {"system": "http://hl7.org/fhir/sid/ndc", "code": "0078-0401", "display": "GLEEVEC 400MG"},
        {"system": RX, "code": "999999003", "display": "imatinib 400 MG Oral Tablet"},
    ]}  # fmt: skip
    result = convert(use("MedicationStatement", "a", {"medicationCodeableConcept": concept}))
    assert names(result) == ["imatinib 400 MG Oral Tablet"]


def test_a_medication_resource_with_ingredients() -> None:
    combination = {
        "resourceType": "Medication", "id": "smx", "code": {"text": "Septra DS"},
        "ingredient": [
            {"itemCodeableConcept": {"text": "sulfamethoxazole"}, "isActive": True},
            {"itemCodeableConcept": {"text": "trimethoprim"}},
            {"itemCodeableConcept": {"text": "magnesium stearate"}, "isActive": False},
        ],
    }  # fmt: skip
    regimen = {
        "resourceType": "Medication", "id": "ac",
        "code": cc(RX, "999999004", "AC regimen"),
        "ingredient": [{"itemCodeableConcept": cc(RX, "3002", "cyclophosphamide")},
                       {"itemCodeableConcept": cc(RX, "3639", "doxorubicin")},
                       {"itemCodeableConcept": cc(RX, "3639")}],
    }  # fmt: skip
    known_code = {
        "resourceType": "Medication", "id": "k", "code": cc(RX, "197536"),
        "ingredient": [{"itemCodeableConcept": {"text": "something else"}}],
    }  # fmt: skip
    result = convert(
        combination, regimen, known_code,
        use("MedicationStatement", "a", ref("Medication/smx")),
        use("MedicationAdministration", "b", ref("Medication/ac"), effectiveDateTime="2025-01-02"),
        use("MedicationRequest", "c", ref("Medication/k")),
    )  # fmt: skip
    assert sorted(names(result)) == ["rxnorm:197536", "rxnorm:3002 / rxnorm:3639",
                                     "sulfamethoxazole / trimethoprim"]  # fmt: skip
    assert reasons(result) == {}
    regimen_drug = LEXICON.resolve("rxnorm:3002 / rxnorm:3639")
    assert regimen_drug.components == ("cyclophosphamide", "doxorubicin")
    assert generic("sulfamethoxazole / trimethoprim") == "trimethoprim-sulfamethoxazole"
    assert generic("rxnorm:197536") == "clozapine"


def test_a_contained_medication_of_an_administration() -> None:
    contained = {"resourceType": "Medication", "id": "m", "code": cc(RX, "1369825")}
    result = convert(
        use("MedicationAdministration", "a", ref("#m"), contained=[contained],
            effectiveDateTime="2025-01-05T08:00:00Z"),
    )  # fmt: skip
    assert result.facts["medications"] == [
        {"name": "rxnorm:1369825", "start": D(2025, 1, 5), "stop": D(2025, 1, 5)}
    ]
    assert generic("rxnorm:1369825") == "clozapine"


def test_without_a_lexicon_beside_the_terminology_names_come_before_codes(
    tmp_path: Path,
) -> None:
    terminology = tmp_path / "terminology" / "fhir.yaml"
    terminology.parent.mkdir()
    shutil.copy(ROOT / "rules" / "terminology" / "fhir.yaml", terminology)
    assert known_rxnorm(terminology) == frozenset()
    assert {"2626", "197535"} <= known_rxnorm()
    result = from_fhir(
        bundle(use("MedicationStatement", "a", coded("2626", "clozapine")),
               use("MedicationStatement", "b", coded("2626"))),
        terminology=terminology,
    )  # fmt: skip
    assert names(result) == ["clozapine", "rxnorm:2626"]


# --- dates of administrations and dispenses -------------------------------------------------


def test_administrations_on_consecutive_days_are_one_course() -> None:
    rx = coded("2626")
    result = convert(
        *(use("MedicationAdministration", f"d{day}", rx, effectiveDateTime=f"2025-01-0{day}")
          for day in (1, 2, 3)),
        use("MedicationAdministration", "later", rx, effectiveDateTime="2025-01-09"),
        use("MedicationAdministration", "drip", rx,
            effectivePeriod={"start": "2025-02-01T22:00:00Z", "end": "2025-02-03T06:00:00Z"}),
        use("MedicationAdministration", "running", rx, status="in-progress",
            effectivePeriod={"start": "2025-03-01"}),
        use("MedicationAdministration", "skipped", rx, status="not-done",
            effectiveDateTime="2025-01-20"),
    )  # fmt: skip
    assert result.facts["medications"] == [
        {"name": "rxnorm:2626", "start": D(2025, 1, 1), "stop": D(2025, 1, 3)},
        {"name": "rxnorm:2626", "start": D(2025, 1, 9), "stop": D(2025, 1, 9)},
        {"name": "rxnorm:2626", "start": D(2025, 2, 1), "stop": D(2025, 2, 3)},
        {"name": "rxnorm:2626", "start": D(2025, 3, 1)},
    ]
    assert reasons(result) == {"MedicationAdministration/skipped": "status not-done"}


def test_dispenses_start_a_course_when_handed_over() -> None:
    rx = coded("282388")
    result = convert(
        use("MedicationDispense", "a", rx, whenHandedOver="2024-06-01T15:30:00-04:00"),
        use("MedicationDispense", "b", rx, whenHandedOver="2024-07-01"),
        use("MedicationDispense", "no", rx, status="declined", whenHandedOver="2024-05-01"),
        use("MedicationDispense", "prep", rx, status="preparation"),
    )
    assert result.facts["medications"] == [{"name": "rxnorm:282388", "start": D(2024, 6, 1)}]
    assert reasons(result) == {
        "MedicationDispense/no": "status declined",
        "MedicationDispense/prep": "status preparation",
    }


# --- end to end -----------------------------------------------------------------------------


def _patient_bundle(*medications: dict[str, Any]) -> dict[str, Any]:
    def count(oid: str, loinc: str, value: float) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": oid, "status": "final",
                "code": cc("http://loinc.org", loinc), "effectiveDateTime": "2025-02-10",
                "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                                  "code": "10*9/L"}}  # fmt: skip

    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1990-01-01"}
    return bundle(patient, count("w", "6690-2", 2.9), count("a", "751-8", 0.3), *medications)


@pytest.mark.parametrize(
    "medication",
    [
        use("MedicationRequest", "m", coded("197535", "clozapine 100 MG Oral Tablet"),
            authoredOn="2024-12-01"),
        use("MedicationAdministration", "m", coded("476179"), status="in-progress",
            effectivePeriod={"start": "2024-12-01"}),
        use("MedicationDispense", "m", coded("999999005", "Clozaril 100 MG Oral Tablet"),
            whenHandedOver="2024-12-01"),
    ],
    ids=["SCD request", "ODT administration", "unknown SBD dispensed"],
)  # fmt: skip
def test_a_product_coded_clozapine_order_keeps_its_alert(medication: dict[str, Any]) -> None:
    d = diagnose(_patient_bundle(medication))
    assert d.unknown_medications == []
    assert any("clozapine" in a.message.lower() for a in d.alerts), [a.message for a in d.alerts]


def test_a_proposal_plan_or_option_is_no_course_and_says_so() -> None:
    """Probe 11: a MedicationRequest with intent proposal or plan raised "interrupt clozapine" as
    though the drug were taken; an order of any kind is read."""
    text = {"medicationCodeableConcept": {"text": "clozapine"}}
    for intent in ("proposal", "plan", "option"):
        request = {
            **use("MedicationRequest", "r1", text, authoredOn="2024-11-01"),
            "intent": intent,
        }
        result = convert(request)
        assert result.facts["medications"] == []
        assert f"intent {intent}, not an order" in result.ignored[0].reason
    for intent in ("order", "original-order", "instance-order"):
        request = {
            **use("MedicationRequest", "r1", text, authoredOn="2024-11-01"),
            "intent": intent,
        }
        assert convert(request).facts["medications"] == [
            {"name": "clozapine", "start": D(2024, 11, 1)}
        ]
