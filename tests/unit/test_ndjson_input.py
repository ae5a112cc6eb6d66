# SPDX-License-Identifier: Apache-2.0
"""FHIR Bulk Data NDJSON, documented as an input: a ``.ndjson`` file (read as YAML, it failed at
its second line), NDJSON text given to ``diagnose()`` (read as a path), and standard input; and a
batch JSONL line holding one bare resource is refused (it was evaluated as a patient)."""

from __future__ import annotations

import json
from pathlib import Path

from engine.api import diagnose
from engine.batch.cases import iter_cases
from tests.cli.test_cli import leukodx


def _resource(oid: str, loinc: str, value: float) -> dict[str, object]:
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "subject": {"reference": "Patient/A"}, "effectiveDateTime": "2025-02-10",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    }  # fmt: skip


NDJSON = "\n".join(
    json.dumps(r) for r in (_resource("w", "6690-2", 1.2), _resource("a", "751-8", 0.3))
)


def test_ndjson_text_and_files_are_read_as_fhir(tmp_path: Path) -> None:
    assert "severe_neutropenia" in {a.id for a in diagnose(NDJSON).alerts}
    path = tmp_path / "Observation.ndjson"
    path.write_text(NDJSON + "\n", encoding="utf-8")
    assert "severe_neutropenia" in {a.id for a in diagnose(path).alerts}
    by_file = leukodx("diagnose", str(path), "--json")
    assert by_file.returncode == 0, by_file.stderr
    by_stdin = leukodx("diagnose", "-", "--json", stdin=NDJSON)
    assert by_stdin.returncode == 0, by_stdin.stderr
    assert json.loads(by_stdin.stdout)["alerts"] == json.loads(by_file.stdout)["alerts"]


def test_a_batch_line_holding_one_bare_resource_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bulk.jsonl"
    path.write_text(NDJSON + "\n", encoding="utf-8")
    cases = list(iter_cases([path]))
    assert len(cases) == 2 and all(c.error is not None for c in cases)
    assert "single FHIR Observation resource is not a patient" in (
        cases[0].error.message if cases[0].error else ""
    )
