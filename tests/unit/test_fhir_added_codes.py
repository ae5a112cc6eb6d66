# SPDX-License-Identifier: Apache-2.0
"""Reticulocyte and LDH codes of the FHIR reader (rules/terminology/fhir.yaml, engine/fhir/read.py).

Probe 7 (D13): reticulocytes by 17849-1, 4679-7, 60474-4 and 14196-0, and LDH by 14804-9, were
dropped as "not a test leukodx uses", so from FHIR and CDS Hooks a low reticulocyte count could
never be present. Each code is read with the unit kind it reports: the % codes as
``reticulocytes_pct``, the count codes as ``reticulocytes`` in 10^9/L; a value whose unit says the
other kind is not read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine.api import diagnose
from engine.fhir.convert import FhirConversion, from_fhir
from engine.fhir.terms import load_terminology
from engine.units import to_canonical

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
D = dt.date


def observation(oid: str, loinc: str, value: float, code: str, unit: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-11-19",
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": code},
    }  # fmt: skip


def cbc_bundle(*extra: dict[str, Any]) -> dict[str, Any]:
    """A whole patient: a Patient, a pancytopenic blood count, and the results under test."""
    resources = [
        {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1980-01-01"},
        observation("wbc", "6690-2", 2.1, "10*9/L", "10^9/L"),
        observation("anc", "751-8", 0.8, "10*9/L", "10^9/L"),
        observation("hb", "718-7", 8.1, "g/dL", "g/dL"),
        observation("plt", "777-3", 40, "10*9/L", "10^9/L"),
        *extra,
    ]
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}  # fmt: skip


def labs_of(result: FhirConversion, test: str) -> list[dict[str, Any]]:
    return [lab for lab in result.facts["labs"] if lab["test"] == test]


def reasons(result: FhirConversion) -> dict[str, str]:
    return {i.resource: i.reason for i in result.ignored}


@pytest.mark.parametrize(
    ("loinc", "value", "code", "unit", "fact", "canonical"),
    [
        ("17849-1", 0.2, "%", "%", "reticulocytes_pct", 0.2),
        ("4679-7", 0.3, "%", "%", "reticulocytes_pct", 0.3),
        ("60474-4", 12, "10*9/L", "x10^9/L", "reticulocytes", 12.0),
        ("14196-0", 15, "10*3/uL", "K/uL", "reticulocytes", 15.0),
    ],
)
def test_reticulocyte_codes_are_read_with_their_units(
    loinc: str, value: float, code: str, unit: str, fact: str, canonical: float
) -> None:
    result = from_fhir(cbc_bundle(observation("r", loinc, value, code, unit)))
    [lab] = labs_of(result, "reticulocytes")
    assert lab == {"test": "reticulocytes", "value": value, "unit": code, "date": D(2026, 11, 19)}
    assert "Observation/r" not in reasons(result)
    assert to_canonical(lab["test"], lab["value"], lab["unit"], field="labs") == (fact, canonical)


@pytest.mark.parametrize(
    ("loinc", "value", "code"),
    [("17849-1", 1.2, "10*9/L"), ("4679-7", 0.8, "10*3/uL"), ("60474-4", 45, "%")],
)
def test_a_reticulocyte_unit_of_the_other_kind_is_not_read(
    loinc: str, value: float, code: str
) -> None:
    """A percentage code with a count unit (1.2 % filed as 1.2 x10^9/L would be a very low
    count, and marrow failure evidence) is set aside with its reason, the rest is read."""
    result = from_fhir(cbc_bundle(observation("r", loinc, value, code, code)))
    assert labs_of(result, "reticulocytes") == []
    reason = reasons(result)["Observation/r"]
    assert reason.startswith("reticulocytes: its code reports a ")
    assert f"but the unit is {code!r}" in reason and reason.endswith("not used")
    read = {lab["test"] for lab in result.facts["labs"]}
    assert read == {"wbc", "anc", "hemoglobin", "platelets"}


def test_a_reticulocyte_unit_the_table_does_not_know_is_not_read() -> None:
    """Per mille ([ppth], sent by some systems under 17849-1) is no percent: refused, no hint."""
    result = from_fhir(cbc_bundle(observation("r", "17849-1", 8, "[ppth]", "[ppth]")))
    assert labs_of(result, "reticulocytes") == []
    reason = reasons(result)["Observation/r"]
    assert "unknown unit for reticulocytes" in reason and "did you mean" not in reason


@pytest.mark.parametrize("code", ["U/L", "[IU]/L"])
def test_ldh_by_the_lactate_to_pyruvate_code_is_ldh(code: str) -> None:
    result = from_fhir(cbc_bundle(observation("l", "14804-9", 820, code, "U/L")))
    [lab] = labs_of(result, "ldh")
    assert lab["value"] == 820 and "Observation/l" not in reasons(result)
    assert to_canonical("ldh", lab["value"], lab["unit"], field="labs") == ("ldh", 820.0)


def test_an_ldh_in_microkatal_is_not_read_and_no_unit_is_suggested() -> None:
    """8.5 ukat/L is 510 U/L: 'did you mean U/L' would have invited reading it as 8.5 U/L."""
    result = from_fhir(cbc_bundle(observation("l", "14804-9", 8.5, "ukat/L", "ukat/L")))
    assert labs_of(result, "ldh") == []
    reason = reasons(result)["Observation/l"]
    assert "unknown unit for ldh" in reason and "did you mean" not in reason


def test_the_bundle_reaches_the_reticulocyte_and_ldh_facts() -> None:
    """End to end: a pancytopenic Bundle with a low reticulocyte % and a raised LDH gives the
    reticulocyte and LDH facts that the profiles and the aplastic-anaemia rule read."""
    bundle = cbc_bundle(
        observation("r", "17849-1", 0.2, "%", "%"),
        observation("l", "14804-9", 820, "U/L", "U/L"),
    )
    d = diagnose(bundle, today=D(2026, 11, 20))
    facts = {f.id: f.value for f in d.facts}
    assert facts["v:reticulocytes_pct"] == pytest.approx(0.2)
    assert facts["v:ldh"] == pytest.approx(820.0)
    assert not [i for i in d.ignored_inputs if i.item in ("Observation/r", "Observation/l")]


def test_the_unit_kinds_are_data_and_only_for_reticulocytes() -> None:
    terms = load_terminology()
    assert terms.unit_kinds == {
        "17849-1": "percent", "4679-7": "percent", "60474-4": "count", "14196-0": "count",
    }  # fmt: skip
    assert {terms.tests[c] for c in terms.unit_kinds} == {"reticulocytes"}
    assert terms.tests["14804-9"] == terms.tests["2532-0"] == "ldh"
