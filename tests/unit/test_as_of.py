# SPDX-License-Identifier: Apache-2.0
"""The assessment date of an input without ``as_of`` (engine.facts.as_of_date and the FHIR
reader): the latest result or start, never an end date, never after today.

A mistyped future year made ``as_of`` 2031 and hid a current severe neutropenia behind a
"future" normal count; a prescription's planned end date made the results' own day look old,
and the fever of that day too old to count."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.api import diagnose

TODAY = dt.date(2026, 12, 7)


def lab(test: str, value: float, date: str) -> dict[str, Any]:
    return {"test": test, "value": value, "unit": "10^9/L", "date": date}


def alerts(data: Any) -> set[str]:
    return {a.id for a in diagnose(data, today=TODAY).alerts}


def test_a_result_dated_after_today_does_not_move_the_assessment() -> None:
    data = {"labs": [lab("wbc", 3.0, "2025-03-01"), lab("anc", 0.3, "2025-03-01"),
                     lab("wbc", 7.0, "2031-03-01"), lab("anc", 4.0, "2031-03-01")]}  # fmt: skip
    d = diagnose(data, today=TODAY)
    assert d.as_of == TODAY.isoformat()
    assert "severe_neutropenia" in {a.id for a in d.alerts}
    assert [i.reason for i in d.ignored_inputs if "2031" in i.item] == [
        "dated after as_of 2026-12-07; not used"
    ] * 2


def test_a_planned_stop_date_does_not_move_the_assessment() -> None:
    data = {
        "labs": [lab("wbc", 3.0, "2025-03-01"), lab("anc", 0.3, "2025-03-01")],
        "medications": [{"name": "methimazole", "start": "2025-01-01", "stop": "2025-12-31"}],
        "findings": [{"name": "fever", "since": "2025-03-01"}],
    }
    d = diagnose(data, today=TODAY)
    assert d.as_of == "2025-03-01"
    assert {"febrile_neutropenia", "antithyroid_agranulocytosis"} <= {a.id for a in d.alerts}


def _obs(code: str, value: float, unit: str, date: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                          "code": unit},
    }  # fmt: skip


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1980-01-01"}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in (patient, *resources)]}  # fmt: skip


def test_fhir_the_same_two_rules() -> None:
    future = _bundle(
        _obs("6690-2", 3.0, "10*3/uL", "2025-03-01"), _obs("751-8", 0.3, "10*3/uL", "2025-03-01"),
        _obs("6690-2", 7.0, "10*3/uL", "2031-03-01"), _obs("751-8", 4.0, "10*3/uL", "2031-03-01"),
    )  # fmt: skip
    d = diagnose(future, today=TODAY)
    assert d.as_of == TODAY.isoformat() and "severe_neutropenia" in {a.id for a in d.alerts}
    statement = {
        "resourceType": "MedicationStatement", "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "methimazole"},
        "effectivePeriod": {"start": "2025-01-01", "end": "2025-12-31"},
    }  # fmt: skip
    planned = _bundle(
        _obs("6690-2", 3.0, "10*3/uL", "2025-03-01"), _obs("751-8", 0.3, "10*3/uL", "2025-03-01"),
        _obs("8310-5", 38.9, "Cel", "2025-03-01"), statement,
    )  # fmt: skip
    d = diagnose(planned, today=TODAY)
    assert d.as_of == "2025-03-01"
    assert {"febrile_neutropenia", "antithyroid_agranulocytosis"} <= {a.id for a in d.alerts}
