# SPDX-License-Identifier: Apache-2.0
"""FHIR R4 input (engine/fhir/convert.py, engine/fhir/read.py, engine/fhir/terms.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api import diagnose
from engine.errors import InputError, KnowledgeBaseError
from engine.fhir.convert import FhirConversion, IgnoredInput, from_fhir, is_fhir, parse_ndjson
from engine.fhir.terms import load_terminology, parse_date
from engine.kb.yamlio import load_yaml
from engine.units import to_canonical

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "fhir"
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
D = dt.date


# --- builders -------------------------------------------------------------------------------


def cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def obs(oid: str | None, loinc: str, when: str = "2025-01-02", **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Observation", "status": "final"}
    if oid:
        res["id"] = oid
    res.update(code=cc(LOINC, loinc), effectiveDateTime=when, **extra)
    return res


def qty(value: Any, code: str | None = None, unit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value, "system": UCUM}
    if code is not None:
        out["code"] = code
    if unit is not None:
        out["unit"] = unit
    return out


def cond(cid: str, system: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "code": cc(system, code), **extra}


def status(system: str, code: str) -> dict[str, Any]:
    return cc(system, code)


def bundle(*resources: dict[str, Any], kind: str = "collection") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [{"resource": r} for r in resources]}


def convert(*resources: dict[str, Any], **kwargs: Any) -> FhirConversion:
    return from_fhir(bundle(*resources), **kwargs)


def reasons(result: FhirConversion) -> dict[str, str]:
    return {i.resource: i.reason for i in result.ignored}


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


# --- labs -----------------------------------------------------------------------------------


def test_an_effective_period_with_only_an_end_dates_the_result() -> None:
    """A period with only its end is valid R4; the result was dropped as undated."""
    anc = obs("a", "751-8", valueQuantity=qty(0.3, "10*9/L"))
    del anc["effectiveDateTime"]
    anc["effectivePeriod"] = {"end": "2025-02-10T08:00:00Z"}
    assert [lab["date"] for lab in convert(anc).facts["labs"]] == [D(2025, 2, 10)]


def test_loinc_by_its_oid_is_loinc() -> None:
    anc = {"resourceType": "Observation", "id": "a", "status": "final",
           "effectiveDateTime": "2025-01-02",
           "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": "751-8"}]},
           "valueQuantity": qty(0.3, "10*9/L")}  # fmt: skip
    assert [lab["test"] for lab in convert(anc).facts["labs"]] == ["anc"]


def test_a_code_and_unit_that_disagree_are_not_used() -> None:
    """``code: 10*3/uL`` with ``unit: /uL``: which one holds is not guessed (the first spelling
    that passed the limits was kept, so a WBC of 2000 became 2.0 and an ANC of 1.8 "/uL" with the
    text K/uL raised a false critical alert). Two spellings of one unit are fine."""
    clash = {"value": 2000, "system": UCUM, "code": "10*3/uL", "unit": "/uL"}
    result = convert(obs("a", "6690-2", valueQuantity=clash))
    assert result.facts["labs"] == []
    assert "code and unit disagree" in reasons(result)["Observation/a"]
    same = {"value": 2.0, "system": UCUM, "code": "10*9/L", "unit": "10^9/L"}
    assert [
        lab["value"] for lab in convert(obs("b", "6690-2", valueQuantity=same)).facts["labs"]
    ] == [2.0]


def test_loinc_codes_map_to_contract_tests_and_ucum_units_pass_through() -> None:
    result = convert(
        obs("w", "6690-2", valueQuantity=qty(3.1, "10*3/uL", "K/uL")),
        obs("n", "26499-4", valueQuantity=qty(800, "{cells}/uL")),
        obs("h", "59260-0", valueQuantity=qty(6.1, "mmol/L")),
    )
    assert result.facts["labs"] == [
        {"test": "anc", "value": 800, "unit": "{cells}/uL", "date": D(2025, 1, 2)},
        {"test": "hemoglobin", "value": 6.1, "unit": "mmol/L", "date": D(2025, 1, 2)},
        {"test": "wbc", "value": 3.1, "unit": "10*3/uL", "date": D(2025, 1, 2)},
    ]
    assert result.ignored == ()
    for lab in result.facts["labs"]:  # the engine's unit table accepts every passed-through unit
        to_canonical(lab["test"], lab["value"], lab["unit"], field="labs")


def test_free_text_unit_is_used_only_without_a_ucum_code() -> None:
    result = convert(obs("w", "6690-2", valueQuantity={"value": 2.9, "unit": "K/uL"}))
    assert result.facts["labs"][0]["unit"] == "K/uL"
    assert to_canonical("wbc", 2.9, "K/uL", field="labs[0]") == ("wbc", 2.9)


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [
        ({"value": 3.1}, "wbc: no valueQuantity.code (UCUM) or unit"),
        ({"value": "3.1", "code": "10*9/L"}, "wbc: valueQuantity.value '3.1' is not a number"),
        ({"value": True, "code": "10*9/L"}, "wbc: valueQuantity.value True is not a number"),
        (
            {"value": 0.5, "comparator": "ad", "code": "10*9/L"},
            "wbc: valueQuantity.comparator 'ad' is not one of <, <=, >=, >",
        ),
        (
            {"value": 3.1, "system": "http://example.org/lab-units", "code": "KUL"},
            "wbc: valueQuantity.code 'KUL' is of http://example.org/lab-units, not UCUM, "
            "and no unit is given",
        ),
    ],
)
def test_unreadable_quantities_are_ignored_with_the_reason(
    quantity: dict[str, Any], reason: str
) -> None:
    result = convert(obs("w", "6690-2", valueQuantity=quantity))
    assert result.facts["labs"] == []
    assert reasons(result) == {"Observation/w": reason}


def test_missing_values_say_what_was_there() -> None:
    absent: dict[str, Any] = {"dataAbsentReason": {"text": "specimen clotted"}}
    result = convert(obs("a", "751-8", **absent), obs("b", "751-8", valueString="low"))
    assert reasons(result) == {
        "Observation/a": "anc: no value (dataAbsentReason: specimen clotted)",
        "Observation/b": "anc: no valueQuantity (valueString 'low' not understood)",
    }


def test_unknown_loinc_and_the_hiv_panel_trap_are_ignored() -> None:
    result = convert(
        obs("g", "2345-7", valueQuantity=qty(96, "mg/dL")),
        obs("p", "75622-1", valueString="negative"),
        {"resourceType": "Observation", "id": "s", "status": "final", "code": cc(SCT, "1"),
         "effectiveDateTime": "2025-01-02"},
    )  # fmt: skip
    found = reasons(result)
    assert found["Observation/g"] == "LOINC 2345-7 is not a test leukodx uses"
    assert "75622-1" in found["Observation/p"] and "panel" in found["Observation/p"]
    assert found["Observation/s"] == f"no code leukodx uses: {SCT}|1"


def test_segmented_neutrophil_counts_are_not_read_as_the_anc() -> None:
    """A segs-only count leaves the bands out: reading it as the ANC would overcall neutropenia."""
    result = convert(
        obs("m", "768-2", valueQuantity=qty(0.9, "10*9/L")),
        obs("a", "30451-9", valueQuantity=qty(0.9, "10*9/L")),
        obs("x", "768-3", valueQuantity=qty(0.9, "10*9/L")),  # not a valid LOINC code
    )
    assert result.facts["labs"] == []
    found = reasons(result)
    assert "leaves out band neutrophils" in found["Observation/m"]
    assert "leaves out band neutrophils" in found["Observation/a"]
    assert found["Observation/x"] == "LOINC 768-3 is not a test leukodx uses"


@pytest.mark.parametrize("state", ["entered-in-error", "cancelled"])
def test_observation_status_filtering(state: str) -> None:
    result = convert(
        obs("x", "6690-2", status=state, valueQuantity=qty(9.0, "10*9/L")),
        obs("y", "6690-2", "2025-01-03", status="preliminary", valueQuantity=qty(3.0, "10*9/L")),
    )
    assert [lab["value"] for lab in result.facts["labs"]] == [3.0]
    assert reasons(result) == {"Observation/x": f"status {state}"}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("effectiveDateTime", "2025-02-10T23:30:00-05:00", D(2025, 2, 10)),
        ("effectiveDateTime", "2025-02-10T00:30:00+09:00", D(2025, 2, 10)),
        ("effectiveDateTime", "2025-02-10T07:00:00.000Z", D(2025, 2, 10)),
        ("effectivePeriod", {"start": "2025-02-11T08:00:00Z"}, D(2025, 2, 11)),
        ("effectiveInstant", "2025-02-12T08:00:00.123+01:00", D(2025, 2, 12)),
        ("issued", "2025-02-13T08:00:00Z", D(2025, 2, 13)),
    ],
)
def test_dates_are_the_calendar_day_as_written(field: str, value: Any, expected: D) -> None:
    res = obs("w", "6690-2", valueQuantity=qty(3.0, "10*9/L"))
    del res["effectiveDateTime"]
    res[field] = value
    assert convert(res).facts["labs"][0]["date"] == expected


def anc_at(oid: str, value: float, when: str) -> dict[str, Any]:
    return obs(oid, "751-8", when, valueQuantity=qty(value, "10*9/L"))


def test_a_later_lower_result_written_the_day_before_is_not_hidden_by_an_earlier_one() -> None:
    """Results are dated as written (no time-zone shift). An ANC of 0.3 drawn at 23:00 -05:00 on
    the 9th (04:00 UTC on the 10th) is dated the 9th; an ANC of 3.5 drawn two hours before it but
    written in UTC is dated the 10th, and was read as the latest count. The dates stay as
    written; the earlier, higher result that a later, lower one overtakes is not used."""
    result = convert(
        anc_at("low", 0.3, "2025-02-09T23:00:00-05:00"),
        anc_at("high", 3.5, "2025-02-10T02:00:00Z"),
    )
    assert [(lab["value"], lab["date"]) for lab in result.facts["labs"]] == [(0.3, D(2025, 2, 9))]
    why = reasons(result)["Observation/high"]
    assert why.startswith("anc 3.5 10*9/L dated 2025-02-10 was drawn at 2025-02-10 02:00 UTC,")
    assert "lower anc of Observation/low (drawn at 2025-02-10 04:00 UTC, dated 2025-02-09:" in why
    assert why.endswith("it would hide that later result as the latest, so it is not used")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # the earlier draw dated later is the lower: read as the latest, the conservative way
        (("early", 0.3, "2025-02-10T02:00:00Z"), ("late", 3.5, "2025-02-09T23:00:00-05:00")),
        # one written date, two offsets: the lowest of the day is read whatever the times
        (("a", 0.3, "2025-02-10T23:00:00-05:00"), ("b", 3.5, "2025-02-10T02:00:00Z")),
        # dates and instants agree
        (("a", 3.5, "2025-02-09T23:00:00-05:00"), ("b", 0.3, "2025-02-10T06:00:00Z")),
        # no offset: no instant to order by
        (("a", 0.3, "2025-02-09T23:00:00"), ("b", 3.5, "2025-02-10T02:00:00")),
        # more than 26 hours apart: dates and instants cannot disagree
        (("a", 3.5, "2025-02-08T02:00:00Z"), ("b", 0.3, "2025-02-09T23:00:00-05:00")),
    ],
)
def test_results_whose_dates_and_instants_agree_or_that_are_lower_all_stay(
    first: tuple[str, float, str], second: tuple[str, float, str]
) -> None:
    result = convert(anc_at(*first), anc_at(*second))
    assert sorted(lab["value"] for lab in result.facts["labs"]) == [0.3, 3.5]
    assert result.ignored == ()


def test_results_are_compared_in_their_canonical_unit() -> None:
    """3500 /uL drawn before 0.3 x 10^9/L is the higher; 300 /uL is not above 0.3."""
    late = anc_at("late", 0.3, "2025-02-09T23:00:00-05:00")
    high = obs("high", "751-8", "2025-02-10T02:00:00Z", valueQuantity=qty(3500, "/uL"))
    same = obs("same", "751-8", "2025-02-10T02:00:00Z", valueQuantity=qty(300, "/uL"))
    assert set(reasons(convert(late, high))) == {"Observation/high"}
    assert reasons(convert(late, same)) == {}


def test_lab_dates_must_be_full_dates() -> None:
    result = convert(
        obs("p", "6690-2", "2025-02", valueQuantity=qty(3.0, "10*9/L")),
        {**obs("n", "6690-2", valueQuantity=qty(3.0, "10*9/L")), "effectiveDateTime": None},
    )
    assert result.facts["labs"] == []
    assert reasons(result) == {
        "Observation/p": "wbc: effective date '2025-02' is not a full date (value 3 10*9/L)",
        "Observation/n": "wbc: no effective date (value 3 10*9/L)",
    }


def test_parse_date_forms() -> None:
    assert parse_date("2019", partial=True) == D(2019, 1, 1)
    assert parse_date("2019-04", partial=True) == D(2019, 4, 1)
    assert parse_date("2019-04") is None
    assert parse_date("2019-02-30") is None
    assert parse_date("yesterday") is None
    assert parse_date(20190401) is None


# --- qualitative results --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loinc", "value", "expected"),
    [
        ("56888-1", {"valueCodeableConcept": cc(LOINC, "LA6577-6")}, "negative"),
        ("7918-6", {"valueCodeableConcept": cc(SCT, "10828004")}, "positive"),
        ("49539-0", {"valueCodeableConcept": {"text": "Not detected"}}, "negative"),
        ("5159-9", {"valueString": " Reactive "}, "positive"),
        ("8061-4", {"valueString": "1 : 160"}, "1:160"),
        ("5048-4", {"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 320}}},
         "1:320"),
        ("5126-8", {"valueQuantity": qty(2.4, "[arb'U]/mL"),
                    "interpretation": [cc(V3, "POS")]}, "positive"),
        ("5274-6", {"interpretation": [cc(V3, "NEG")]}, "negative"),
    ],
)  # fmt: skip
def test_qualitative_results(loinc: str, value: dict[str, Any], expected: str) -> None:
    result = convert(obs("q", loinc, **value))
    assert [lab["value"] for lab in result.facts["labs"]] == [expected]
    assert "unit" not in result.facts["labs"][0]
    assert result.ignored == ()


@pytest.mark.parametrize(
    ("loinc", "test"),
    [
        ("4996-5", "cmv_pcr"), ("30246-3", "cmv_pcr"), ("5002-1", "ebv_pcr"),
        ("94500-6", "sars_cov_2"), ("94309-2", "sars_cov_2"), ("94759-8", "sars_cov_2"),
        ("95406-5", "sars_cov_2"), ("25835-0", "hiv_rna"), ("5017-9", "hiv_rna"),
    ],
)  # fmt: skip
def test_nucleic_acid_presence_codes_are_read(loinc: str, test: str) -> None:
    """A CMV PCR sent as FHIR could not reach the rules that read it (session 21)."""
    result = convert(
        obs("d", loinc, "2025-01-03", valueCodeableConcept=cc(LOINC, "LA11882-0")),  # Detected
        obs("n", loinc, "2025-01-02", valueString="Not detected"),
    )
    found = sorted((str(lab["date"]), lab["test"], lab["value"]) for lab in result.facts["labs"])
    assert found == [("2025-01-02", test, "negative"), ("2025-01-03", test, "positive")]
    assert result.ignored == ()


def test_a_viral_load_is_not_read_as_a_qualitative_result() -> None:
    """Copies per mL are not positive or negative: a viral-load code stays unread, with a reason,
    rather than being guessed into a detected result."""
    result = convert(obs("v", "29604-6", valueQuantity=qty(5400, "{copies}/mL")))
    assert result.facts.get("labs", []) == []
    assert "Observation/v" in reasons(result)


def test_unreadable_qualitative_results_are_ignored() -> None:
    result = convert(
        obs("a", "7917-8", valueString="see comment"),
        obs("b", "5126-8", valueQuantity=qty(2.4, "[arb'U]/mL")),
        obs("c", "56888-1", valueString="1:160"),  # a titer is only read for titer tests
    )
    found = reasons(result)
    assert found["Observation/a"] == (
        "hiv: no positive/negative (valueString 'see comment' not understood)"
    )
    assert found["Observation/b"] == "cmv_igm: no positive/negative (valueQuantity not understood)"
    assert found["Observation/c"].startswith("hiv: no positive/negative")


# --- components, panels, findings from Observations -----------------------------------------


def test_components_are_read_like_observations() -> None:
    panel = obs("cbc", "58410-2")
    panel["component"] = [
        {"code": cc(LOINC, "6690-2"), "valueQuantity": qty(3.3, "10*9/L")},
        {"code": cc(LOINC, "5905-5"), "valueQuantity": qty(12, "%")},
    ]
    result = convert(panel, {**obs("grp", "58410-2"), "hasMember": [{"reference": "x"}]})
    assert result.facts["labs"] == [
        {"test": "wbc", "value": 3.3, "unit": "10*9/L", "date": D(2025, 1, 2)}
    ]
    assert reasons(result) == {
        "Observation/cbc component[1]": "LOINC 5905-5 is not a test leukodx uses",
        "Observation/grp": "a panel: its members are read on their own",
    }


def test_observations_coded_as_findings() -> None:
    present = {**obs("s", "x"), "code": cc(SCT, "16294009"), "valueBoolean": True}
    absent = {
        **obs("h", "x"),
        "code": cc(ICD, "R16.0"),
        "valueCodeableConcept": cc(SCT, "260385009"),
    }
    exam = {**obs("e", "29545-1"), "valueCodeableConcept": cc(ICD, "R59.1")}
    result = convert(present, absent, exam)
    assert result.facts["findings"] == [
        {"name": "lymphadenopathy", "since": D(2025, 1, 2)},
        {"name": "splenomegaly", "since": D(2025, 1, 2)},
    ]
    assert reasons(result) == {
        "Observation/h": "hepatomegaly recorded as absent; facts cannot say so"
    }


def test_an_observed_fever_is_a_fever_of_that_day_while_a_spleen_stays() -> None:
    """A fever Observation (SNOMED 386661006, valueBoolean true) is a state of its day; a
    splenomegaly seen that day stays, open-ended."""
    fever = {**obs("f", "x", "2022-05-01"), "code": cc(SCT, "386661006"), "valueBoolean": True}
    spleen = {**obs("s", "x", "2022-05-01"), "code": cc(SCT, "16294009"), "valueBoolean": True}
    result = convert(fever, spleen)
    assert result.facts["findings"] == [
        {"name": "fever", "since": D(2022, 5, 1), "until": D(2022, 5, 1)},
        {"name": "splenomegaly", "since": D(2022, 5, 1)},
    ]


def test_of_two_versions_of_one_result_the_newer_is_used_and_the_older_listed() -> None:
    """A result corrected from 1.6 to 0.3 (status amended) must not lose to the original because
    of how the two texts sort; an identical second copy is no version at all."""
    first = obs("a1", "751-8", "2025-03-01", status="final",
                valueQuantity=qty(1.6, "10*3/uL"))  # fmt: skip
    amended = {**first, "status": "amended", "valueQuantity": qty(0.3, "10*3/uL")}
    for order in ((first, amended), (amended, first)):
        result = convert(*order)
        assert [lab["value"] for lab in result.facts["labs"]] == [0.3]
        assert reasons(result) == {
            "Observation/a1": "an older version (status final) of a resource given twice; the "
            "newer one (status amended) is used"
        }
    updated = {**first, "meta": {"lastUpdated": "2025-03-02T08:00:00Z"}}
    assert [lab["value"] for lab in convert(amended, updated).facts["labs"]] == [1.6]
    assert reasons(convert(first, dict(first))) == {}
    # lastUpdated is compared as an instant: 09:00 +01:00 is half an hour before 08:30 UTC
    original = {**first, "meta": {"lastUpdated": "2025-03-02T09:00:00+01:00"}}
    corrected = {**amended, "meta": {"lastUpdated": "2025-03-02T08:30:00Z"}}
    for order in ((original, corrected), (corrected, original)):
        assert [lab["value"] for lab in convert(*order).facts["labs"]] == [0.3]


# --- fever ----------------------------------------------------------------------------------


def spans(findings: list[Any]) -> list[Any]:
    """The findings without the ``source`` text a fever carries (its readings, tested above)."""
    return [{k: v for k, v in f.items() if k != "source"} if isinstance(f, dict) else f
            for f in findings]  # fmt: skip


def temperature(oid: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return obs(oid, "8310-5", when, valueQuantity=qty(value, unit))


def test_fever_from_body_temperature() -> None:
    result = convert(
        temperature("t1", 37.2, "Cel", "2025-02-08T09:00:00Z"),
        temperature("t2", 38.0, "Cel", "2025-02-09T22:00:00-05:00"),
        temperature("t3", 36.9, "Cel", "2025-02-09T06:00:00-05:00"),  # same day: still febrile
        temperature("t4", 99.1, "[degF]", "2025-02-12"),
        temperature("t5", 100.4, "[degF]", "2025-03-01"),
    )
    # each fever names the febrile readings it rests on (shown where the fever is explained)
    assert result.facts["findings"] == [
        {"name": "fever", "since": D(2025, 2, 9), "until": D(2025, 2, 9),
         "source": "febrile body temperature 38 Cel (Observation/t2) on 2025-02-09"},
        {"name": "fever", "since": D(2025, 3, 1), "until": D(2025, 3, 1),
         "source": "febrile body temperature 100.4 [degF] (Observation/t5) on 2025-03-01"},
    ]  # fmt: skip
    assert result.facts["labs"] == [] and result.ignored == ()


def test_a_fever_names_at_most_three_of_its_readings_latest_first() -> None:
    result = convert(
        *(temperature(f"t{day}", 38.0 + day / 10, "Cel", f"2025-02-0{day}") for day in range(1, 6))
    )
    (fever,) = result.facts["findings"]
    assert fever["source"] == (
        "febrile body temperatures 38.5 Cel (Observation/t5) on 2025-02-05, 38.4 Cel "
        "(Observation/t4) on 2025-02-04, 38.3 Cel (Observation/t3) on 2025-02-03 and 2 more"
    )


def test_afebrile_temperatures_and_unknown_units() -> None:
    result = convert(
        temperature("t1", 37.9, "Cel", "2025-02-08"),
        temperature("t2", 311.0, "K", "2025-02-09"),
        temperature("t3", 101.0, "deg", "2025-02-09"),
    )
    assert result.facts["findings"] == []
    assert reasons(result) == {
        "Observation/t2": "body temperature unit 'K' is not one of Cel, [degF]",
        "Observation/t3": "body temperature unit 'deg' is not one of Cel, [degF]",
    }


def test_plain_spellings_of_celsius_and_fahrenheit_and_site_codes_are_temperatures() -> None:
    oral = obs("t3", "8331-1", "2025-02-10", valueQuantity={"value": 38.5, "unit": "°C"})
    result = convert(
        temperature("t1", 101.0, "degF", "2025-02-08"),
        temperature("t2", 37.0, "°C", "2025-02-09"),
        oral,
    )
    assert spans(result.facts["findings"]) == [
        {"name": "fever", "since": D(2025, 2, 8), "until": D(2025, 2, 8)},
        {"name": "fever", "since": D(2025, 2, 10), "until": D(2025, 2, 10)},
    ]
    assert result.ignored == ()


@pytest.mark.parametrize(("value", "unit"), [(38.9, "[degF]"), (389.0, "Cel"), (-5.0, "Cel")])
def test_an_implausible_body_temperature_is_not_used_and_says_why(value: float, unit: str) -> None:
    result = convert(temperature("t1", value, unit, "2025-02-08"))
    assert result.facts["findings"] == []
    (why,) = reasons(result).values()
    assert why.startswith(f"body temperature {value:g} {unit} is not a plausible body temperature")
    assert why.endswith("check the unit")


def test_a_temperature_bound_counts_when_it_decides_fever() -> None:
    """``>38.6`` is febrile and ``<37.5`` is not; ``>37.5`` does not say, and is not used."""

    def bound(oid: str, comparator: str, value: float, when: str) -> dict[str, Any]:
        return obs(
            oid, "8310-5", when, valueQuantity={**qty(value, "Cel"), "comparator": comparator}
        )

    result = convert(
        bound("t1", ">", 38.6, "2025-02-08"),
        bound("t2", "<", 37.5, "2025-02-09"),
        bound("t3", ">", 37.5, "2025-02-10"),
        bound("t4", ">=", 38.0, "2025-02-11"),
    )
    assert spans(result.facts["findings"]) == [
        {"name": "fever", "since": D(2025, 2, 8), "until": D(2025, 2, 8)},
        {"name": "fever", "since": D(2025, 2, 11), "until": D(2025, 2, 11)},
    ]
    assert reasons(result) == {
        "Observation/t3": "body temperature given as a bound (>37.5 Cel) that does not say "
        "whether it was 38 or more"
    }
    assert result.facts["findings"][0]["source"].startswith("febrile body temperature >38.6 Cel")


def test_the_fever_threshold_is_cited_data() -> None:
    terms = load_terminology()
    assert terms.fever_at_or_above == {"Cel": 38.0, "[degF]": 100.4}
    cited = load_yaml(ROOT / "rules" / "terminology" / "fhir.yaml")["fever"]["cite"]
    known = {
        ref["id"]
        for path in sorted((ROOT / "rules" / "citations").glob("*.yaml"))
        for ref in load_yaml(path)["references"]
    }
    assert cited == ["freifeld2011"] and set(cited) <= known


# --- medications ----------------------------------------------------------------------------


def statement(mid: str, medication: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationStatement", "id": mid, "status": "active",
            **medication, **extra}  # fmt: skip


def request(mid: str, medication: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": mid, "status": "active",
            "intent": "order", **medication, **extra}  # fmt: skip


def test_medication_names_and_dates() -> None:
    rx = {"medicationCodeableConcept": cc(RX, "2626", "clozapine")}
    text = {"medicationCodeableConcept": {"text": "Clozaril 100 mg tablet"}}
    result = convert(
        statement("a", rx, effectivePeriod={"start": "2024-12-01", "end": "2025-02-11"}),
        statement("b", text, effectiveDateTime="2025-01-15T10:00:00+02:00"),
        request("c", {"medicationCodeableConcept": cc(RX, "42355")}, authoredOn="2025-01-20"),
    )
    assert result.facts["medications"] == [
        {"name": "Clozaril 100 mg tablet", "start": D(2025, 1, 15)},
        {"name": "rxnorm:2626", "start": D(2024, 12, 1), "stop": D(2025, 2, 11)},
        {"name": "rxnorm:42355", "start": D(2025, 1, 20)},
    ]


def test_medication_references_resolve_to_contained_or_bundled_medications() -> None:
    med = {"resourceType": "Medication", "id": "m1", "code": cc(RX, "282388")}
    contained = {"resourceType": "Medication", "id": "c1", "code": cc(RX, "1256")}
    spare = {"resourceType": "Medication", "id": "m9", "code": cc(RX, "2002")}
    result = convert(
        med, spare,
        statement("a", {"medicationReference": {"reference": "Medication/m1"}}),
        statement("b", {"medicationReference": {"reference": "#c1"}}, contained=[contained]),
        statement("c", {"medicationReference": {"reference": "Medication/nope"}}),
        statement("d", {"medicationCodeableConcept": cc("http://example.org", "1")}),
    )  # fmt: skip
    assert [m["name"] for m in result.facts["medications"]] == ["rxnorm:1256", "rxnorm:282388"]
    assert reasons(result) == {
        "Medication/m9": "Medication not referenced by a MedicationStatement, MedicationRequest, "
        "MedicationAdministration or -Dispense",
        "MedicationStatement/c": "medicationReference 'Medication/nope' is not a Medication "
        "in the input",
        "MedicationStatement/d": "no RxNorm code or name (http://example.org|1)",
    }


def test_medication_status_filtering_and_request_stop_dates() -> None:
    rx = {"medicationCodeableConcept": cc(RX, "2626")}
    validity = {"validityPeriod": {"start": "2024-01-01", "end": "2024-06-30"}}
    result = convert(
        request("draft", rx, status="draft", authoredOn="2025-01-01"),
        request("gone", rx, status="cancelled"),
        statement("no", rx, status="not-taken"),
        statement("err", rx, status="entered-in-error"),
        request("done", rx, status="completed", dispenseRequest=validity),
        request("open", {"medicationCodeableConcept": cc(RX, "6851")}, dispenseRequest=validity),
    )
    assert result.facts["medications"] == [
        {"name": "rxnorm:2626", "start": D(2024, 1, 1), "stop": D(2024, 6, 30)},
        {"name": "rxnorm:6851", "start": D(2024, 1, 1)},
    ]
    assert reasons(result) == {
        "MedicationRequest/draft": "status draft",
        "MedicationRequest/gone": "status cancelled",
        "MedicationStatement/no": "status not-taken",
        "MedicationStatement/err": "status entered-in-error",
    }


def test_overlapping_courses_of_one_drug_merge_and_separate_courses_stay() -> None:
    rx = {"medicationCodeableConcept": cc(RX, "2626")}
    result = convert(
        statement("a", rx, effectivePeriod={"start": "2024-01-01", "end": "2024-03-01"}),
        statement("b", rx, effectivePeriod={"start": "2024-02-01", "end": "2024-04-01"}),
        statement("c", rx, effectivePeriod={"start": "2024-09-01"}),
        statement("d", rx),
    )
    assert result.facts["medications"] == [
        {"name": "rxnorm:2626", "start": D(2024, 1, 1), "stop": D(2024, 4, 1)},
        {"name": "rxnorm:2626", "start": D(2024, 9, 1)},
    ]


# --- conditions and procedures --------------------------------------------------------------


def test_condition_codes_map_to_the_vocabularies() -> None:
    result = convert(
        cond("a", SCT, "92814006"),
        cond("b", ICD, "C92.11", onsetDateTime="2023-05-04T10:00:00Z"),
        cond("c", ICD, "m3210", onsetPeriod={"start": "2019"}),  # no dot, lower case
        cond("d", ICD, "R16.1"),
        cond("e", ICD, "Z92.21"),
    )
    assert result.facts["conditions"] == [
        "cll",
        {"name": "cml", "since": D(2023, 5, 4)},
        {"name": "sle", "since": D(2019, 1, 1)},
    ]
    assert result.facts["findings"] == ["splenomegaly"]
    assert result.facts["history"] == ["chemotherapy"]


def test_condition_clinical_and_verification_status() -> None:
    inactive = status(CLINICAL, "resolved")
    result = convert(
        cond("a", ICD, "B20", clinicalStatus=inactive, abatementDateTime="2024-01-02"),
        cond("b", SCT, "19943007", clinicalStatus=status(CLINICAL, "inactive")),
        cond("c", SCT, "55464009", verificationStatus=status(VERIFICATION, "refuted")),
        cond("d", SCT, "55464009", verificationStatus=status(VERIFICATION, "provisional")),
        cond("e", SCT, "69896004", clinicalStatus=status(CLINICAL, "remission")),
        cond("f", SCT, "69896004", clinicalStatus=status(CLINICAL, "bogus")),
    )
    assert result.facts["conditions"] == [
        {"name": "hiv", "until": D(2024, 1, 2)},
        "rheumatoid_arthritis",
    ]
    assert reasons(result) == {
        "Condition/b": "clinicalStatus inactive with no abatement date",
        "Condition/c": "verificationStatus refuted",
        "Condition/d": "verificationStatus provisional",
        "Condition/f": "clinicalStatus bogus is not understood",
    }


def test_a_condition_that_ends_before_it_began_is_set_aside_not_the_patient() -> None:
    """Probe 7, D14: an abatement before the onset failed the whole patient, naming
    ``findings[0].until``; now that Condition alone is listed, by its resource, with both dates."""
    resolved = status(CLINICAL, "resolved")
    result = convert(
        obs("w", "6690-2", valueQuantity=qty(2.1, "10*9/L")),
        cond("c1", ICD, "R53.83", clinicalStatus=resolved, onsetDateTime="2026-11-10",
             abatementDateTime="2019-01-01"),
        cond("c2", ICD, "B20", clinicalStatus=resolved, onsetDateTime="2020-01-01",
             abatementPeriod={"end": "2024-01-02"}),
        cond("c3", ICD, "R53.83", clinicalStatus=resolved, onsetDateTime="2026-11-10",
             abatementDateTime="2026-11"),
    )  # fmt: skip
    assert reasons(result) == {
        "Condition/c1": "abatement date 2019-01-01 is before its onset date 2026-11-10; which "
        "one is wrong is not guessed, so not used"
    }
    assert result.facts["conditions"] == [
        {"name": "hiv", "since": D(2020, 1, 1), "until": D(2024, 1, 2)}
    ]
    # an abatement written as the onset's month is not before it: it ends on the onset day
    assert result.facts["findings"] == [
        {"name": "fatigue", "since": D(2026, 11, 10), "until": D(2026, 11, 10)}
    ]


def test_the_patient_with_a_misdated_condition_is_still_diagnosed() -> None:
    resolved = status(CLINICAL, "resolved")
    data = bundle(
        {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1980-01-01"},
        obs("w", "6690-2", "2026-11-19", valueQuantity=qty(2.1, "10*9/L")),
        obs("n", "751-8", "2026-11-19", valueQuantity=qty(0.3, "10*9/L")),
        cond("c1", ICD, "R53.83", clinicalStatus=resolved, onsetDateTime="2026-11-10",
             abatementDateTime="2019-01-01"),
    )  # fmt: skip
    d = diagnose(data)
    assert d.candidates and {f.fact: f.value for f in d.findings}["neutropenia_severity"] == (
        "severe"
    )
    [ignored] = [i for i in d.ignored_inputs if i.item == "Condition/c1"]
    assert "before its onset date" in ignored.reason


def test_a_procedure_that_ends_before_it_began_is_set_aside() -> None:
    period = {"start": "2024-06-01", "end": "2014-09-30"}
    result = convert(procedure("a", "367336001", performedPeriod=period))
    assert "history" not in result.facts or result.facts["history"] == []
    assert reasons(result) == {
        "Procedure/a": "end date 2014-09-30 is before its start date 2024-06-01; which one is "
        "wrong is not guessed, so not used"
    }


def test_codes_that_are_not_inputs_and_unknown_codes() -> None:
    result = convert(
        cond("a", ICD, "D70.9"),
        cond("b", ICD, "D70.4"),
        {**cond("c", SCT, "1234"), "code": {"coding": [], "text": "odd thing"}},
    )
    found = reasons(result)
    assert (
        found["Condition/a"] == f"{ICD}|D70.9: describes the low count itself; leukodx "
        "derives it from the counts"
    )
    assert "a final diagnosis is not an input fact" in found["Condition/b"]
    assert found["Condition/c"] == "no code leukodx uses: no coding (text 'odd thing')"


def test_timed_entries_of_one_word_merge() -> None:
    result = convert(
        cond("a", SCT, "92814006"),
        cond("b", ICD, "C91.10", onsetDateTime="2020-03-01"),
        cond("c", ICD, "C91.12", onsetDateTime="2021-03-01"),
    )
    assert result.facts["conditions"] == [{"name": "cll", "since": D(2020, 3, 1)}]


def procedure(pid: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Procedure", "id": pid, "status": "completed",
            "code": cc(SCT, code), **extra}  # fmt: skip


def test_procedures_become_history() -> None:
    result = convert(
        procedure("a", "367336001", performedPeriod={"start": "2024-06-01", "end": "2024-09-30"}),
        procedure("b", "234319005", performedDateTime="2010-05-05T12:00:00Z"),
        procedure("c", "108290001", status="in-progress", performedPeriod={"start": "2025-01-05"}),
        procedure("d", "430715008", status="not-done"),
        procedure("e", "80146002"),
    )
    assert result.facts["history"] == [
        {"name": "chemotherapy", "since": D(2024, 6, 1), "until": D(2024, 9, 30)},
        {"name": "radiotherapy", "since": D(2025, 1, 5)},
        {"name": "splenectomy", "since": D(2010, 5, 5), "until": D(2010, 5, 5)},
    ]
    assert reasons(result) == {
        "Procedure/d": "status not-done",
        "Procedure/e": f"no code leukodx uses: {SCT}|80146002",
    }


# --- patient, as_of, subjects ---------------------------------------------------------------


def patient(born: str | None = None, **extra: Any) -> dict[str, Any]:
    res = {"resourceType": "Patient", "id": "p1", "gender": "female", **extra}
    if born:
        res["birthDate"] = born
    return res


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        ("1990-05-01", D(2025, 4, 30), 34),
        ("1990-05-01", D(2025, 5, 1), 35),
        ("2024-05-10", D(2025, 2, 10), 0.75),  # 9 completed months
        ("2024-05-10", D(2025, 2, 9), 0.67),  # 8 completed months: 0.666.. -> 0.67
        ("2023-03-01", D(2025, 2, 28), 1.92),  # 23 months
        ("2023-03-01", D(2025, 3, 1), 2),
        ("2024-02-29", D(2025, 2, 28), 0.92),
        ("1950", D(2025, 6, 1), 74),  # 74 or 75: the age certainly reached (probe 11)
    ],
)
def test_age_at_as_of(born: str, on: D, age: float) -> None:
    facts = convert(patient(born), as_of=on).facts
    assert facts["age"] == age and facts["as_of"] == on
    assert isinstance(facts["age"], int) == (age >= 2)


def test_age_nine_months_is_three_quarters() -> None:
    assert convert(patient("2024-05-01"), as_of=D(2025, 2, 1)).facts["age"] == 0.75


def test_as_of_defaults_to_the_latest_dated_fact() -> None:
    result = convert(
        patient("1990-05-01"),
        obs("w", "6690-2", "2025-02-10", valueQuantity=qty(2.9, "10*9/L")),
        cond("c", ICD, "C91.10", onsetDateTime="2025-03-01"),
    )
    assert result.facts["as_of"] == D(2025, 3, 1)
    assert result.facts["id"] == "p1" and result.facts["sex"] == "female"
    assert result.facts["age"] == 34


@pytest.mark.parametrize(
    ("deceased", "said"),
    [({"deceasedDateTime": "2024-12-20"}, " on 2024-12-20"), ({"deceasedBoolean": True}, "")],
)
def test_a_deceased_patient_is_said_so_in_the_unused_inputs(
    deceased: dict[str, Any], said: str
) -> None:
    """No rule reads it, but a reader of the results must not miss it."""
    result = convert(patient("1990-05-01", **deceased), as_of=D(2025, 1, 1))
    assert reasons(result) == {
        "Patient/p1": f"the patient is recorded as deceased{said}; the results are computed as "
        "for a living patient"
    }
    assert result.facts["age"] == 34
    assert reasons(convert(patient("1990-05-01", deceasedBoolean=False))) == {}


def test_patient_problems_are_reported() -> None:
    result = convert(patient("2030-01-01", gender="f"), as_of=D(2025, 1, 1))
    assert "age" not in result.facts and "sex" not in result.facts
    assert result.ignored == (
        IgnoredInput("Patient/p1", "birthDate 2030-01-01 is after as_of 2025-01-01"),
        IgnoredInput("Patient/p1", "gender 'f' is not one of female, male, other, unknown"),
    )
    bad = convert(patient("01/02/1990"))
    assert reasons(bad) == {"Patient/p1": "birthDate '01/02/1990' is not a date"}


def test_resources_of_several_patients_without_a_patient_resource_are_refused() -> None:
    """A bulk export or a search without ``patient=`` mixed two patients into one, in silence."""
    a = obs("a", "751-8", valueQuantity=qty(0.3, "10*9/L"), subject={"reference": "Patient/A"})
    b = obs("b", "751-8", valueQuantity=qty(3.0, "10*9/L"), subject={"reference": "Patient/B"})
    with pytest.raises(
        InputError, match=r"belong to 2 patients \(Patient/A, Patient/B\)"
    ) as caught:
        convert(a, b)
    assert caught.value.field == "subject"
    same = {"reference": "https://fhir.example.org/r4/Patient/A/_history/3"}
    assert convert(a, {**b, "subject": same}).facts["labs"]  # one patient, however referenced


def test_a_versioned_subject_reference_is_the_patient() -> None:
    versioned = obs("a", "751-8", valueQuantity=qty(0.3, "10*9/L"),
                    subject={"reference": "Patient/p1/_history/2"})  # fmt: skip
    result = convert(patient("1980-01-01"), versioned)
    assert [lab["test"] for lab in result.facts["labs"]] == ["anc"] and result.ignored == ()


def test_other_patients_and_other_resource_types_are_ignored() -> None:
    other = {**patient("1980-01-01"), "id": "p2"}
    mine = obs("a", "6690-2", valueQuantity=qty(3.0, "10*9/L"), subject={"reference": "Patient/p1"})
    url = obs("b", "751-8", valueQuantity=qty(1.0, "10*9/L"),
              subject={"reference": "https://fhir.example.org/r4/Patient/p1"})  # fmt: skip
    theirs = obs(
        "c", "6690-2", valueQuantity=qty(9.0, "10*9/L"), subject={"reference": "Patient/p2"}
    )
    result = convert(patient("1990-01-01"), other, mine, url, theirs, {"resourceType": "Encounter"})
    assert [lab["value"] for lab in result.facts["labs"]] == [1.0, 3.0]
    assert reasons(result) == {
        "Patient/p2": "a second patient; the facts describe Patient/p1",
        "Observation/c": "subject Patient/p2 is not the patient Patient/p1",
        "entry[5]": "resource type Encounter is not used",
    }


# --- input shapes ---------------------------------------------------------------------------


def test_is_fhir() -> None:
    assert is_fhir(bundle())
    assert is_fhir({"resourceType": "Observation"})
    assert is_fhir([{"resourceType": "Patient"}])
    assert is_fhir({"patient": {"resourceType": "Patient"}, "labs": None})
    assert not is_fhir({"wbc": 3.1, "anc": 0.9})
    assert not is_fhir({"labs": None})
    assert not is_fhir([])
    assert not is_fhir([{"resourceType": "Patient"}, {"test": "wbc"}])
    assert not is_fhir("Bundle")


def test_non_fhir_and_unsupported_bundles_are_errors() -> None:
    with pytest.raises(InputError, match="not FHIR R4 data"):
        from_fhir({"wbc": 3.1})
    with pytest.raises(InputError, match=r"type: unsupported Bundle type \(got 'history'"):
        from_fhir(bundle(kind="history"))


def test_a_single_resource_and_a_list() -> None:
    one = from_fhir(obs(None, "6690-2", valueQuantity=qty(3.0, "10*9/L")))
    assert one.facts["labs"][0]["value"] == 3.0
    listed = from_fhir([patient("1990-01-01"), {"resourceType": "Flag"}])
    assert reasons(listed) == {"entry[1]": "resource type Flag is not used"}


def test_batch_response_with_nested_searchsets_and_missing_entries() -> None:
    inner = bundle(obs("w", "6690-2", valueQuantity=qty(3.0, "10*9/L")), kind="searchset")
    batch = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"resource": inner, "response": {"status": "200 OK"}},
        {"response": {"status": "404 Not Found"}},
    ]}  # fmt: skip
    result = from_fhir(batch)
    assert [lab["test"] for lab in result.facts["labs"]] == ["wbc"]
    assert reasons(result) == {"entry[1]": "entry has no resource (response status 404 Not Found)"}


def test_prefetch_map_with_the_same_resource_twice() -> None:
    wbc = obs("w", "6690-2", valueQuantity=qty(3.0, "10*9/L"))
    prefetch = {
        "patient": patient("1990-01-01"),
        "wbc": bundle(wbc, kind="searchset"),
        "labs": bundle(wbc, obs(None, "751-8", valueQuantity=qty(1.0, "10*9/L")), kind="searchset"),
        "missing": None,
    }
    result = from_fhir(prefetch)
    assert [lab["test"] for lab in result.facts["labs"]] == ["anc", "wbc"]
    assert result.ignored == ()


def test_ndjson() -> None:
    lines = [json.dumps(patient("1990-01-01")), "",
             json.dumps(obs("w", "6690-2", valueQuantity=qty(3.0, "10*9/L")))]  # fmt: skip
    resources = parse_ndjson("\n".join(lines) + "\n")
    assert [r["resourceType"] for r in resources] == ["Patient", "Observation"]
    assert from_fhir(resources).facts["labs"][0]["value"] == 3.0
    with pytest.raises(InputError, match="^line 2: not valid JSON"):
        parse_ndjson('{"resourceType": "Patient"}\n{oops\n')
    with pytest.raises(InputError, match="^line 1: not a FHIR resource"):
        parse_ndjson("[1, 2]\n")


# --- terminology data -----------------------------------------------------------------------


def test_terminology_content() -> None:
    terms = load_terminology()
    assert terms.tests["6690-2"] == "wbc" and terms.tests["751-8"] == "anc"
    assert "75622-1" not in terms.tests and "75622-1" in terms.loinc_not_used
    assert terms.concept("icd10cm", "C91.19") is not None  # prefix C91.1
    assert terms.concept("icd10cm", "C91.2") is None
    assert load_terminology() is terms  # cached


def test_a_bad_terminology_file_is_a_knowledge_base_error(tmp_path: Path) -> None:
    text = (ROOT / "rules" / "terminology" / "fhir.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "fhir.yaml"
    bad.write_text(text.replace("test: wbc,", "test: wbcc,", 1), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="observations\\[0\\].test: unknown word 'wbcc'"):
        load_terminology(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="duplicate key"):
        load_terminology(dup)
    empty = tmp_path / "empty.yaml"
    empty.write_text("[]\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="expected a mapping"):
        load_terminology(empty)


# --- examples and the contract --------------------------------------------------------------


def test_clozapine_example() -> None:
    result = from_fhir(example("clozapine-patient-bundle.json"))
    facts = result.facts
    assert (facts["id"], facts["sex"], facts["age"]) == ("case-017", "female", 34)
    assert facts["as_of"] == D(2025, 2, 10)
    assert [m["name"] for m in facts["medications"]] == ["rxnorm:2626", "rxnorm:42355"]
    assert facts["conditions"] == ["cll"]
    assert spans(facts["findings"]) == [
        {"name": "fever", "since": D(2025, 2, 9), "until": D(2025, 2, 9)}
    ]
    wbc = [
        (lab["date"], lab["value"], lab["unit"]) for lab in facts["labs"] if lab["test"] == "wbc"
    ]
    assert wbc[-1] == (D(2025, 2, 10), 2900, "{cells}/uL")
    assert result.ignored == ()


@pytest.mark.parametrize(
    "name", ["clozapine-patient-bundle.json", "cml-tki-bundle.json", "patient-view-prefetch.json"]
)
def test_examples_give_valid_patient_facts(name: str) -> None:
    patient_module = pytest.importorskip("engine.patient")
    result = from_fhir(example(name))
    assert patient_module.parse_patient(result.facts).labs
    if name == "patient-view-prefetch.json":
        assert {i.resource for i in result.ignored} == {
            "Condition/pv-neutropenia", "Observation/pv-anc-x", "Observation/pv-glucose",
            "OperationOutcome/pv-outcome",
        }  # fmt: skip
    else:
        assert result.ignored == ()


# --- order does not matter ------------------------------------------------------------------

_ALL_EXAMPLE_ENTRIES = (
    example("clozapine-patient-bundle.json")["entry"]
    + [{"resource": r} for r in (
        cond("x1", ICD, "C91.10", onsetDateTime="2020-01-01"),
        cond("x2", SCT, "92814006"),
        statement("x3", {"medicationCodeableConcept": cc(RX, "2626")},
                  effectivePeriod={"start": "2024-11-01", "end": "2024-12-15"}),
        obs("x4", "6690-2", "2025-01-02", valueQuantity=qty(3.1, "10*9/L")),
        obs(None, "2345-7", valueQuantity=qty(96, "mg/dL")),
        {"resourceType": "Medication", "id": "x5", "code": {"text": "AC"}, "ingredient": [
            {"itemCodeableConcept": cc(RX, "3002")}, {"itemCodeableConcept": {"text": "x"}},
            {"itemCodeableConcept": {"text": "y"}, "isActive": False}]},
        {"resourceType": "MedicationAdministration", "id": "x6", "status": "completed",
         "medicationReference": {"reference": "Medication/x5"},
         "effectiveDateTime": "2024-12-20"},
        {"resourceType": "MedicationDispense", "id": "x7", "status": "completed",
         "medicationCodeableConcept": cc(RX, "197535", "clozapine 100 MG Oral Tablet"),
         "whenHandedOver": "2024-11-01"},
    )]
)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.permutations(_ALL_EXAMPLE_ENTRIES))
def test_shuffled_entries_give_the_same_facts(entries: list[dict[str, Any]]) -> None:
    reference = from_fhir({"resourceType": "Bundle", "type": "collection",
                           "entry": list(_ALL_EXAMPLE_ENTRIES)})  # fmt: skip
    shuffled = from_fhir({"resourceType": "Bundle", "type": "collection", "entry": entries})
    assert shuffled.facts == reference.facts
    assert {i.reason for i in shuffled.ignored} == {i.reason for i in reference.ignored}


def test_every_terminology_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (ROOT / "rules" / "terminology" / "fhir.yaml").read_text(encoding="utf-8")
    edits = {
        'loinc: "http://loinc.org"': "loinc: 5",
        '{loinc: "26464-8", test: wbc': '{loinc: "6690-2", test: anc',
        'at_or_above: {Cel: 38.0, "[degF]": 100.4}': "at_or_above: {Cel: high}",
        "cite: [freifeld2011]": "cite: []",
        'snomed: ["92818009"]': 'snomed: ["92814006"]',
        'icd10cm: ["B18.1"]': "icd10cm: [18]",
        "titer_tests: [ana]": "titer_tests: [wbc]",
    }
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new, 1)
    bad = tmp_path / "fhir.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as caught:
        load_terminology(bad)
    message = str(caught.value)
    for expected in (
        "systems.loinc: expected str",
        "LOINC 6690-2 is mapped to two tests",
        "fever.at_or_above: expected unit: number pairs",
        "fever.cite: the fever threshold needs a citation id",
        "snomed 92814006 is mapped to two words",
        ".icd10cm: expected a list of quoted strings",
        "titer_tests: 'wbc' is not a qualitative test",
    ):
        assert expected in message


def test_odd_medication_and_temperature_resources() -> None:
    display_only = {"coding": [{"system": "http://example.org/ndc", "code": "1",
                                "display": "Fluvoxamine 50 mg"}]}  # fmt: skip
    result = convert(
        statement("a", {"medicationCodeableConcept": display_only}),
        statement("b", {"medicationReference": {"display": "Mirtazapine 15 mg"}}),  # its text
        statement("c", {"medicationReference": {"reference": "#gone"}}, contained=["x"]),
        obs("t", "8310-5", valueString="warm"),
    )
    assert result.facts["medications"] == [{"name": "Fluvoxamine 50 mg"},
                                           {"name": "Mirtazapine 15 mg"}]  # fmt: skip
    assert reasons(result) == {
        "MedicationStatement/c": "medicationReference '#gone' is not a Medication in the input",
        "Observation/t": "body temperature: no valueQuantity (valueString 'warm' not understood)",
    }


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, (dict, list)):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            found += _paths(child, (*prefix, key))
    return found


_JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=4),
    st.builds(list), st.builds(dict), st.sampled_from(["2025-13-45", "2025-01-02T25:00Z", "#x"]),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_malformed_resources_are_ignored_not_crashed_on(data: st.DataObject) -> None:
    entries = json.loads(json.dumps(list(_ALL_EXAMPLE_ENTRIES), default=str))
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.sampled_from([p for p in _paths(entries) if p[-1] != "resourceType"]))
        node = entries
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = data.draw(_JUNK)
    try:
        result = from_fhir({"resourceType": "Bundle", "type": "collection", "entry": entries})
    except InputError:
        return  # e.g. an entry list that is no longer FHIR
    assert isinstance(result.facts["labs"], list)


# --- probe 11 (2026-12-07): FHIR as EHR sandboxes write it --------------------------------------


def test_blasts_are_read_from_their_loinc_codes_and_raise_the_critical_alert() -> None:
    counts = [
        obs("w", "6690-2", valueQuantity=qty(1.9, "10*3/uL")),
        obs("a", "751-8", valueQuantity=qty(0.3, "10*3/uL")),
    ]
    for code in ("26446-5", "709-6"):
        result = convert(*counts, obs("b", code, valueQuantity=qty(30, "%")))
        assert {lab["test"]: lab["value"] for lab in result.facts["labs"]}["blasts_pct"] == 30
        d = diagnose(result.facts, today=D(2025, 1, 3))
        assert "blasts_with_low_count" in {a.id for a in d.alerts}
    absolute = convert(*counts, obs("n", "30376-8", valueQuantity=qty(0.6, "10*3/uL")))
    assert "percentage" in reasons(absolute)["Observation/n"]


def test_a_status_is_read_from_hl7s_coding_wherever_it_stands() -> None:
    local = {"system": "http://example.org/status", "code": "3", "display": "Refuted"}
    hl7 = {"system": VERIFICATION, "code": "refuted"}
    fever = ("c", SCT, "386661006")
    second = convert(cond(*fever, verificationStatus={"coding": [local, hl7]}))
    assert reasons(second) == {"Condition/c": "verificationStatus refuted"}
    # no HL7 coding: a code or text that is a status word is read; a local number is not one
    worded = convert(cond(*fever, verificationStatus={"text": "Entered in error"}))
    assert reasons(worded) == {"Condition/c": "verificationStatus entered-in-error"}
    resolved = {"coding": [{"system": "http://example.org/s", "code": "res"},
                           {"system": CLINICAL, "code": "resolved"}]}  # fmt: skip
    ended = convert(cond(*fever, clinicalStatus=resolved, abatementDateTime="2024-01-01"))
    assert ended.facts["findings"] == [{"name": "fever", "until": D(2024, 1, 1)}]


def test_codes_with_spaces_around_them_are_read() -> None:
    result = convert(obs("a", " 751-8 ", valueQuantity=qty(0.3, "10*3/uL")))
    assert [lab["test"] for lab in result.facts["labs"]] == ["anc"]


def test_a_bound_sent_as_text_is_refused_with_how_to_send_it() -> None:
    result = convert(obs("a", "751-8", valueString="<0.5"))
    reason = reasons(result)["Observation/a"]
    assert "valueString '<0.5' not understood" in reason and "comparator" in reason


def test_a_bundle_whose_entry_is_not_a_list_is_refused_naming_it() -> None:
    broken = {"resourceType": "Bundle", "type": "searchset", "entry": {"resource": {}}}
    with pytest.raises(InputError) as caught:
        from_fhir(broken)
    assert caught.value.field == "entry" and "list" in str(caught.value)
    with pytest.raises(InputError) as keyed:
        from_fhir({"labs": broken})
    assert keyed.value.field == "labs.entry"


FEVER_SCT = ("c", SCT, "386661006")


def test_an_encounter_diagnosis_of_fever_is_a_fever_of_that_day() -> None:
    category = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                             "code": "encounter-diagnosis"}]}]  # fmt: skip
    result = convert(cond(*FEVER_SCT, category=category, onsetDateTime="2020-01-01"))
    assert result.facts["findings"] == [
        {"name": "fever", "since": D(2020, 1, 1), "until": D(2020, 1, 1)}
    ]


def test_an_open_fever_ends_at_a_later_afebrile_temperature() -> None:
    result = convert(
        cond(*FEVER_SCT, onsetDateTime="2026-11-01"),
        temperature("t1", 38.9, "Cel", "2026-11-02"),
        temperature("t2", 36.8, "Cel", "2026-12-06"),
        as_of=D(2026, 12, 6),
    )
    (fever,) = [f for f in result.facts["findings"] if f["name"] == "fever" and "until" in f]
    assert fever["since"] == D(2026, 11, 1) and fever["until"] == D(2026, 11, 2)
    assert "read as ended on 2026-11-02" in reasons(result)["Condition/c"]


def test_an_old_open_fever_with_no_temperature_since_is_not_a_current_fever() -> None:
    old = convert(cond(*FEVER_SCT, onsetDateTime="2021-03-01"), as_of=D(2026, 12, 6))
    assert old.facts["findings"] == []
    assert "not read as a current fever" in reasons(old)["Condition/c"]
    recent = convert(cond(*FEVER_SCT, onsetDateTime="2026-11-20"), as_of=D(2026, 12, 6))
    assert recent.facts["findings"] == [{"name": "fever", "since": D(2026, 11, 20)}]


def test_an_open_orders_dosage_end_is_its_stop_but_not_its_validity_end() -> None:
    def order(**extra: Any) -> dict[str, Any]:
        return {"resourceType": "MedicationRequest", "id": "m", "status": "active",
                "intent": "order", "authoredOn": "2025-01-01",
                "medicationCodeableConcept": cc(RX, "2626"), **extra}  # fmt: skip

    ended = convert(order(dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {
        "start": "2025-01-01", "end": "2025-03-01"}}}}]))  # fmt: skip
    ((course,),) = [ended.facts["medications"]]
    assert (course["start"], course["stop"]) == (D(2025, 1, 1), D(2025, 3, 1))
    supply = convert(order(dispenseRequest={"validityPeriod": {"end": "2025-03-01"}}))
    ((course,),) = [supply.facts["medications"]]
    assert course["start"] == D(2025, 1, 1) and "stop" not in course


def test_a_partial_birth_date_gives_an_adults_certain_age_and_no_childs() -> None:
    def patient(born: str) -> dict[str, Any]:
        return {"resourceType": "Patient", "id": "p", "birthDate": born}

    baby = from_fhir(bundle(patient("2026")), as_of=D(2026, 12, 6))
    assert "age" not in baby.facts and "too imprecise" in reasons(baby)["Patient/p"]
    adult = from_fhir(bundle(patient("1961")), as_of=D(2026, 12, 6))
    assert adult.facts["age"] == 64 and "read as 64" in reasons(adult)["Patient/p"]
    month = from_fhir(bundle(patient("2026-12")), as_of=D(2026, 12, 6))
    assert month.facts["age"] == 0.0 and reasons(month) == {}  # 0 completed months either way
    full = from_fhir(bundle(patient("2026-01-15")), as_of=D(2026, 12, 6))
    assert full.facts["age"] == 0.83 and reasons(full) == {}


# --- probe 13 (2026-12-07): the probe-11 fixes re-tested ---------------------------------------


def test_statuses_in_other_cases_and_shapes_are_read_and_unknown_ones_set_aside() -> None:
    fever = FEVER_SCT
    capital = convert(cond(*fever, verificationStatus=status(VERIFICATION, "Refuted")))
    assert reasons(capital) == {"Condition/c": "verificationStatus refuted"}
    stu3 = convert(cond(*fever, verificationStatus="refuted"))
    assert reasons(stu3) == {"Condition/c": "verificationStatus refuted"}
    ruled_out = {"coding": [{"system": "http://example.org/v", "code": "r"}], "text": "Ruled out"}
    unknown = convert(cond(*fever, verificationStatus=ruled_out))
    assert "verificationStatus r ('Ruled out') is not understood" in reasons(unknown)["Condition/c"]
    malformed = convert(cond(*fever, verificationStatus=["refuted"]))
    assert "not understood" in reasons(malformed)["Condition/c"]
    active = convert(cond(*fever, clinicalStatus=status(CLINICAL, "Active"),
                          onsetDateTime="2026-12-01"), as_of=D(2026, 12, 6))  # fmt: skip
    assert active.facts["findings"] == [{"name": "fever", "since": D(2026, 12, 1)}]


def test_an_abatement_ends_a_condition_whatever_its_status_says_unless_it_is_ongoing() -> None:
    ended = convert(cond(*FEVER_SCT, onsetDateTime="2026-11-01", abatementDateTime="2026-11-05"))
    assert ended.facts["findings"] == [
        {"name": "fever", "since": D(2026, 11, 1), "until": D(2026, 11, 5)}
    ]
    stu3 = convert(cond(*FEVER_SCT, clinicalStatus="resolved", abatementDateTime="2026-11-05"))
    assert stu3.facts["findings"] == [{"name": "fever", "until": D(2026, 11, 5)}]
    conflict = convert(cond(*FEVER_SCT, clinicalStatus=status(CLINICAL, "active"),
                            abatementDateTime="2026-11-05"))  # fmt: skip
    assert conflict.facts["findings"] == []
    assert "which is right is not guessed" in reasons(conflict)["Condition/c"]
    undated = convert(cond(*FEVER_SCT, clinicalStatus=status(CLINICAL, "active"),
                           abatementString="last winter"))  # fmt: skip
    assert undated.facts["findings"] == [] and "abatementString" in reasons(undated)["Condition/c"]


def test_a_fever_known_only_by_its_recorded_date_is_timed_from_it_and_an_undated_one_not_read() -> (
    None
):
    recorded = convert(cond(*FEVER_SCT, recordedDate="2020-01-01"), as_of=D(2026, 12, 6))
    assert recorded.facts["findings"] == []  # open for years, no temperature since
    assert "more than 90 days" in reasons(recorded)["Condition/c"]
    undated = convert(cond(*FEVER_SCT, onsetString="a while ago"), as_of=D(2026, 12, 6))
    assert undated.facts["findings"] == []
    assert "no onset or recorded date" in reasons(undated)["Condition/c"]
    other = convert(cond("h", SCT, "86406008"), as_of=D(2026, 12, 6))  # HIV, undated: read
    assert other.facts["conditions"] == ["hiv"]


def test_a_misdated_order_an_implausible_birth_date_and_a_capital_status_are_set_aside() -> None:
    bounds = {"timing": {"repeat": {"boundsPeriod": {"end": "2026-02-01"}}}}
    order = {"resourceType": "MedicationRequest", "id": "m", "status": "active", "intent": "order",
             "authoredOn": "2026-03-01", "medicationCodeableConcept": cc(RX, "6851"),
             "dosageInstruction": [bounds]}  # fmt: skip
    misdated = convert(order)
    assert misdated.facts["medications"] == []
    assert "is before its start" in reasons(misdated)["MedicationRequest/m"]
    born = from_fhir(bundle({"resourceType": "Patient", "id": "p", "birthDate": "1900-01-01"}),
                     as_of=D(2026, 12, 6))  # fmt: skip
    assert "age" not in born.facts and "placeholder" in reasons(born)["Patient/p"]
    stopped = {"resourceType": "MedicationStatement", "id": "s", "status": "Stopped",
               "medicationCodeableConcept": cc(RX, "2626")}  # fmt: skip
    assert convert(stopped).facts["medications"] == []
    assert "status stopped with no end date" in reasons(convert(stopped))["MedicationStatement/s"]


def test_loinc_over_https_per_hundred_units_and_results_seconds_apart() -> None:
    https = {"resourceType": "Observation", "id": "b", "status": "final",
             "code": {"coding": [{"system": "https://loinc.org", "code": "26446-5"}]},
             "effectiveDateTime": "2025-01-02", "valueQuantity": qty(30, "/100{WBCs}")}  # fmt: skip
    result = convert(https)
    assert [(lab["test"], lab["value"]) for lab in result.facts["labs"]] == [("blasts_pct", 30)]
    wbc = obs("w", "6690-2", "2026-12-06T23:55:00.000-05:00", valueQuantity=qty(1.9, "10*3/uL"))
    pct = obs("n", "770-8", "2026-12-07T04:55:30.123Z", valueQuantity=qty(10, "%"))
    paired = convert(wbc, pct)
    assert {lab["date"] for lab in paired.facts["labs"]} == {D(2026, 12, 6)}
