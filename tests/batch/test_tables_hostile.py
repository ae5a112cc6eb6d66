# SPDX-License-Identifier: Apache-2.0
"""Results tables a hostile world writes: invalid UTF-8 in a patient id of an unsorted file, a
cell longer than csv's default limit, a line longer than any cell may be, broken timestamps,
digits of other scripts, a semicolon-separated file, a typo in ``--columns``, a row without a
patient id given to ``diagnose``. Each costs its own patient (or names the problem), never the
others; every run here is a real batch over real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.batch.grouping import single_patient
from engine.batch.run import BatchOptions, run_batch
from engine.batch.tables import MAX_LINE_BYTES, Table, TableError, TableSpec, cell

HEADER = b"patient_id,test,value,unit,date\n"


def _run(results: Path, spec: TableSpec | None = None) -> dict[str, dict[str, Any]]:
    """Every record of a real batch run (one worker process), by id."""
    out = results.with_suffix(".jsonl")
    run_batch([results], out, BatchOptions(workers=1), tables=spec)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return {r["id"]: r for r in records}


def test_invalid_utf8_patient_id_in_an_unsorted_table_fails_that_patient_only(
    tmp_path: Path,
) -> None:
    # unsorted, so the rows go through the SQLite spill, which cannot store lone surrogates as text
    results = tmp_path / "r.csv"
    results.write_bytes(HEADER + b"p\xff1,wbc,2100,/uL,2025-03-05\np2,wbc,2100,/uL,2025-03-05\n"
                        b"p\xff1,anc,400,/uL,2025-03-05\np2,anc,400,/uL,2025-03-05\n")  # fmt: skip
    meds = tmp_path / "m.csv"
    meds.write_bytes(b"patient_id,name,start\np\xff3,clozapine,2025-01-01\n")
    records = _run(results, TableSpec(medications=meds))
    assert records["p2"]["ok"]
    bad = records["p\udcff1"]
    assert not bad["ok"] and bad["error"]["line"] == 2 and bad["error"]["column"] == "patient_id"
    assert "not valid UTF-8" in bad["error"]["message"]
    assert "not valid UTF-8" in records["p\udcff3"]["error"]["message"]  # a companion's patient


def test_a_long_cell_costs_its_patient_and_a_too_long_line_is_not_read(tmp_path: Path) -> None:
    results = tmp_path / "r.csv"
    with results.open("wb") as fh:
        fh.write(b"patient_id,test,value,unit,date,comment\n")
        fh.write(b"p1,wbc,2100,/uL,2025-03-05,\n")
        fh.write(b"p2,wbc,2100,/uL,2025-03-05,\n")
        fh.write(b"p2,anc,400,/uL,2025-03-05," + b"x" * (MAX_LINE_BYTES + 10) + b"\n")  # line 4
        fh.write(b"p3,wbc,2100,/uL," + b"9" * 200_000 + b",long comment\n")  # over 128 KiB
        fh.write(b"p4,wbc,2100,/uL,2025-03-05," + b"y" * 200_000 + b"\n")  # an unread column
        fh.write(b'"' + b"z" * (MAX_LINE_BYTES + 10) + b'",wbc,1,/uL,2025-03-05\n')  # line 7
        fh.write(b"p5,wbc,2100,/uL,2025-03-05,\n")
    records = _run(results)
    assert records["p1"]["ok"] and records["p4"]["ok"] and records["p5"]["ok"]
    p2 = records["p2"]["error"]
    assert not records["p2"]["ok"] and p2["line"] == 4 and "longer than" in p2["message"]
    p3 = records["p3"]["error"]
    assert (p3["line"], p3["column"]) == (5, "date")
    orphan = records[f"{results}:7"]["error"]
    assert orphan["column"] == "patient_id" and "longer than" in orphan["message"]
    assert len(records) == 6


def test_timestamps_must_be_real_and_digits_ascii() -> None:
    assert cell("date", "2025-03-05T10:00:00Z") == "2025-03-05"
    assert cell("date", "2025-03-05T10:00:00.123+0100") == "2025-03-05"
    assert cell("date", "2025-03-05T25:00") == "2025-03-05T25:00"  # left whole, then refused
    assert cell("date", "2025-02-30T10:00") == "2025-02-30T10:00"
    assert cell("value", "４００") == "４００" and cell("value", "٤٠٠") == "٤٠٠"
    assert cell("value", "+400") == 400 and cell("value", "2.5e3") == 2500.0


def test_broken_timestamp_is_refused_naming_the_cell(tmp_path: Path) -> None:
    results = tmp_path / "r.csv"
    results.write_bytes(HEADER + b"p1,wbc,2100,/uL,2025-03-05T25:00\np2,wbc,2100,/uL,2025-03-05\n")
    records = _run(results)
    assert records["p2"]["ok"]
    error = records["p1"]["error"]
    assert (error["line"], error["column"]) == (2, "date")
    assert "2025-03-05T25:00" in error["message"]


def test_header_errors_say_what_is_wrong(tmp_path: Path) -> None:
    semi = tmp_path / "semi.csv"
    semi.write_text("patient_id;test;value;unit;date\np1;wbc;2100;/uL;2025-03-05\n")
    with pytest.raises(TableError, match="separated by ';', not ','"):
        Table(semi, "results")
    renamed = tmp_path / "mrn.csv"
    renamed.write_text("MRN,test,value,unit,date\np1,wbc,2100,/uL,2025-03-05\n")
    with pytest.raises(TableError, match="--columns renames 'MRNX', which this header does not"):
        Table(renamed, "results", {"MRNX": "patient_id"})
    cr_only = tmp_path / "cr.csv"
    cr_only.write_bytes(HEADER.rstrip(b"\n") + b"\rp1,wbc,2100,/uL,2025-03-05\r")
    with pytest.raises(TableError, match="CR-only line ends"):
        Table(cr_only, "results")


def test_diagnose_table_with_a_row_without_id_names_that_row(tmp_path: Path) -> None:
    results = tmp_path / "r.csv"
    results.write_bytes(HEADER + b",wbc,2100,/uL,2025-03-05\np1,anc,400,/uL,2025-03-05\n")
    with pytest.raises(TableError, match=r"r\.csv:2, column 'patient_id'.*without a patient id"):
        single_patient(results)


def test_a_patient_only_in_a_companion_table_is_named(tmp_path: Path) -> None:
    results = tmp_path / "r.csv"
    results.write_bytes(HEADER + b"p1,wbc,2100,/uL,2025-03-05\n")
    patients = tmp_path / "p.csv"
    patients.write_text("patient_id,age\np1,40\np9,50\n")
    records = _run(results, TableSpec(patients=patients))
    assert records["p1"]["ok"]
    assert records["p9"]["error"]["message"].startswith("patient 'p9': labs: at least one WBC")
