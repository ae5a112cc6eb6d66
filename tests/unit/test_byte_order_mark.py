# SPDX-License-Identifier: Apache-2.0
"""A UTF-8 byte order mark (Windows editors, PowerShell ``Out-File -Encoding utf8``, EHR exports
write one) is dropped wherever a JSON, NDJSON or JSONL file is read, as the YAML, CSV, stdin and
service readers already dropped it: a JSON case file, a FHIR Bundle and an ``.ndjson`` file failed
with "Unexpected UTF-8 BOM", and the first line of a batch JSONL became an error record that lost
its patient id and its febrile-neutropenia alert."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from engine.api import diagnose
from engine.batch.cases import count_cases, iter_cases
from tests.cli.test_cli import leukodx
from tests.conftest import MINI_KB, ROOT
from tests.unit.test_ndjson_input import NDJSON

BOM = "\ufeff"
FEBRILE = {
    "id": "J1", "as_of": "2025-02-10",
    "labs": [{"test": "wbc", "value": 2.0, "unit": "10^9/L", "date": "2025-02-10"},
             {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": "2025-02-10"}],
    "findings": [{"name": "fever", "since": "2025-02-10"}],
}  # fmt: skip


def test_a_json_case_file_and_a_fhir_bundle_with_a_bom_are_read(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    case.write_text(BOM + json.dumps(FEBRILE), encoding="utf-8")
    d = diagnose(case, kb=MINI_KB)
    assert d.patient_id == "J1" and "febrile_neutropenia" in {a.id for a in d.alerts}
    bundle = tmp_path / "bundle.json"
    source = ROOT / "examples" / "fhir" / "clozapine-patient-bundle.json"
    bundle.write_text(BOM + source.read_text(encoding="utf-8"), encoding="utf-8")
    today = dt.date(2025, 3, 1)
    assert diagnose(bundle, kb=MINI_KB, today=today) == diagnose(source, kb=MINI_KB, today=today)


def test_an_ndjson_file_and_ndjson_on_stdin_with_a_bom_are_read(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    path.write_text(BOM + NDJSON + "\n", encoding="utf-8")
    severe = ("neutropenia_severity", "severe")
    assert severe in {(f.fact, f.value) for f in diagnose(path, kb=MINI_KB).findings}
    run = leukodx("diagnose", "-", "--json", "--rules", str(MINI_KB), stdin=BOM + NDJSON)
    assert run.returncode == 0, run.stderr
    assert severe in {(f["fact"], f["value"]) for f in json.loads(run.stdout)["findings"]}


def test_the_first_jsonl_line_after_a_bom_keeps_its_id(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    second = {**FEBRILE, "id": "J2"}
    path.write_bytes((BOM + json.dumps(FEBRILE) + "\r\n" + json.dumps(second) + "\r\n").encode())
    cases = list(iter_cases([path]))
    assert [(c.id, c.error) for c in cases] == [("J1", None), ("J2", None)]
    assert count_cases([path]) == 2


def test_the_cli_reads_a_json_case_file_with_a_bom(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    case.write_text(BOM + json.dumps(FEBRILE), encoding="utf-8")
    run = leukodx("diagnose", str(case), "--json", "--rules", str(MINI_KB))
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["patient_id"] == "J1"
