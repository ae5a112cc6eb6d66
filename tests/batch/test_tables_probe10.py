# SPDX-License-Identifier: Apache-2.0
"""Results tables as real exports write them (probe 10, 2026-12-07): a bound given in an
operator column of its own, tests named by LOINC code, body temperatures among the results, a
count per microlitre with a thousands separator, and tables inside an input folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.api import diagnose
from engine.batch.grouping import iter_patients, single_patient
from engine.batch.tables import TableError, TableSpec
from tests.batch.test_tables import write_csv
from tests.cli.test_batch_cli import leukodx

HEAD = ["patient_id", "test", "value", "unit", "date"]


def _only(path: Path, spec: TableSpec | None = None) -> dict[str, object]:
    data, _ = single_patient(path, spec)
    return data


@pytest.mark.parametrize(("column", "cell"), [
    ("operator_concept_id", "4171756"),  # OMOP's "<"
    ("Operator", "LT"),
    ("result_qualifier", "less than"),
])  # fmt: skip
def test_a_bound_in_an_operator_column_is_refused_not_read_as_exact(
    tmp_path: Path, column: str, cell: str
) -> None:
    rows = [[*HEAD, column], ["p1", "wbc", "2.0", "10^9/L", "2025-02-10", ""],
            ["p1", "anc", "0.5", "10^9/L", "2025-02-10", cell]]  # fmt: skip
    with pytest.raises(TableError) as caught:
        _only(write_csv(tmp_path / "r.csv", rows))
    message = str(caught.value)
    assert f"r.csv:3, column '{column}'" in message and "comparator" in message


def test_an_operator_column_of_equal_signs_is_read(tmp_path: Path) -> None:
    rows = [[*HEAD, "operator_concept_id"], ["p1", "anc", "0.5", "10^9/L", "2025-02-10", "4172703"],
            ["p1", "wbc", "2.0", "10^9/L", "2025-02-10", "="]]  # fmt: skip
    data = _only(write_csv(tmp_path / "r.csv", rows))
    assert sorted(lab["test"] for lab in data["labs"]) == ["anc", "wbc"]  # type: ignore[index]


def test_loinc_codes_name_their_tests_and_give_the_same_alerts(tmp_path: Path) -> None:
    named = write_csv(
        tmp_path / "named.csv",
        [
            HEAD,
            ["p1", "wbc", "2.1", "10*3/uL", "2025-02-10"],
            ["p1", "anc", "0.3", "10*3/uL", "2025-02-10"],
        ],
    )
    coded = write_csv(
        tmp_path / "coded.csv",
        [
            HEAD,
            ["p1", "6690-2", "2.1", "10*3/uL", "2025-02-10"],
            ["p1", " 751-8 ", "0.3", "10*3/uL", "2025-02-10"],
        ],
    )
    a, b = diagnose(_only(named)), diagnose(_only(coded))
    assert [x.id for x in a.alerts] == [x.id for x in b.alerts] and a.alerts


@pytest.mark.parametrize("test", ["8310-5", "Temperature", "body temp oral"])
def test_a_body_temperature_row_fails_its_patient_even_when_unknown_tests_are_skipped(
    tmp_path: Path, test: str
) -> None:
    rows = [HEAD, ["p1", "anc", "0.3", "10^9/L", "2025-02-10"],
            ["p1", test, "39.2", "Cel", "2025-02-10"]]  # fmt: skip
    path = write_csv(tmp_path / "r.csv", rows)
    spec = TableSpec(None, None, None, {}, skip_unknown_tests=True)
    (patient,) = list(iter_patients(path, spec))
    assert patient.error is not None and "febrile neutropenia" in patient.error.problem
    assert "--conditions" in patient.error.problem
    assert patient.error.where == f"{path}:3, column 'test'"


def test_count_names_with_dots_and_local_stems_are_not_skipped(tmp_path: Path) -> None:
    for name in ("A.N.C.", "PMN abs", "Polys, absolute"):
        rows = [HEAD, ["p1", "wbc", "2.0", "10^9/L", "2025-02-10"],
                ["p1", name, "0.3", "10^9/L", "2025-02-10"]]  # fmt: skip
        spec = TableSpec(None, None, None, {}, skip_unknown_tests=True)
        (patient,) = list(iter_patients(write_csv(tmp_path / "r.csv", rows), spec))
        assert not patient.data.get("ignored_inputs"), name  # not skipped: it fails, named


@pytest.mark.parametrize("value", ["12.000", "8.000", "1.500.000"])
def test_a_count_per_microlitre_with_a_thousands_separator_is_refused(
    tmp_path: Path, value: str
) -> None:
    rows = [HEAD, ["p1", "wbc", value, "/µl", "2025-02-10"]]
    with pytest.raises(TableError) as caught:
        _only(write_csv(tmp_path / "r.csv", rows))
    assert "thousands separator" in str(caught.value) and "column 'value'" in str(caught.value)
    fine = write_csv(
        tmp_path / "ok.csv",
        [
            HEAD,
            ["p1", "wbc", "12000", "/µl", "2025-02-10"],
            ["p1", "hemoglobin", "12.000", "g/dL", "2025-02-10"],
        ],
    )
    assert len(_only(fine)["labs"]) == 2  # type: ignore[arg-type]


def test_an_anc_too_high_for_any_count_without_its_wbc_is_refused(tmp_path: Path) -> None:
    rows = [HEAD, ["p1", "anc", "400", "10^9/L", "2025-02-10"]]
    with pytest.raises(Exception) as caught:
        diagnose(_only(write_csv(tmp_path / "r.csv", rows)))
    assert "no wbc of the same day" in str(caught.value)
    with_wbc = [HEAD, ["p1", "wbc", "450", "10^9/L", "2025-02-10"],
                ["p1", "anc", "400", "10^9/L", "2025-02-10"]]  # fmt: skip
    assert diagnose(_only(write_csv(tmp_path / "w.csv", with_wbc))).alerts is not None


def test_a_folder_of_tables_is_named_not_read_in_silence(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    write_csv(folder / "results.csv", [HEAD, ["p1", "anc", "0.3", "10^9/L", "2025-02-10"]])
    run = leukodx("batch", str(folder), "--out", str(tmp_path / "r.jsonl"), "--quiet")
    assert run.returncode == 2, run.stderr
    assert "results.csv" in run.stderr and "not read" in run.stderr
    (folder / "case.json").write_text(
        json.dumps(
            {
                "id": "c1",
                "labs": [{"test": "anc", "value": 0.3, "unit": "10^9/L", "date": "2025-02-10"}],
            }
        )
    )
    run = leukodx("batch", str(folder), "--out", str(tmp_path / "r.jsonl"), "--quiet")
    assert run.returncode == 0 and "results.csv" in run.stderr  # named, and the case runs


def test_a_row_with_too_many_fields_says_what_usually_causes_it(tmp_path: Path) -> None:
    rows = [HEAD, ["p1", "wbc", "2.0", "10^9/L", "2025-02-10", ""]]  # a trailing comma
    (patient,) = list(iter_patients(write_csv(tmp_path / "r.csv", rows)))
    assert patient.error is not None
    assert "6 fields where the header has 5; an extra separator" in patient.error.problem
