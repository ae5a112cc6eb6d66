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


def test_an_unbalanced_quote_on_the_last_line_costs_only_its_patient(tmp_path: Path) -> None:
    """The probe's case: patient B's complete rows, then patient A's row with an unbalanced quote
    on the last line. The whole table was one error record ("not a valid CSV record: unexpected
    end of data") and B's severe neutropenia was reported nowhere."""
    results = tmp_path / "quote2.csv"
    results.write_text(
        "patient_id,test,value,unit,date\n"
        "B,wbc,1.0,10^9/L,2025-03-01\nB,anc,0.3,10^9/L,2025-03-01\n"
        'A,wbc,"2.0,10^9/L,2025-03-01\n'
    )
    out = tmp_path / "o.jsonl"
    stats = run_batch([results], out, BatchOptions(workers=1))
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {"A", "B"} and stats.failed == 1  # exit 3, as for any error record
    assert "severe_neutropenia" in {a["id"] for a in records["B"]["differential"]["alerts"]}
    error = records["A"]["error"]
    assert (error["file"], error["line"]) == (str(results), 4)
    assert error["message"].startswith(f"{results}:4: not a valid CSV record: unexpected end")
    assert "expected a closing '\"'" in error["message"]


def test_a_broken_record_fails_every_patient_it_spans_and_the_rows_after_it_are_read(
    tmp_path: Path,
) -> None:
    """A quote opened on line 4 runs on to line 6, where it closes before junk: lines 4-6 are
    not read. A (a row before, one inside) fails rather than being read on its WBC alone; B
    and C, whose rows start lines of the record, fail; F (rows before and after the record) and
    D (after) are read whole. A quote that opens in the patient id leaves that line's patient
    unknown: one error record of its own, and the patients after it still fail or are read."""
    results = tmp_path / "r.csv"
    results.write_text(
        "patient_id,test,value,unit,date\n"
        "A,wbc,2.0,10^9/L,2025-03-01\nF,wbc,3.0,10^9/L,2025-03-01\n"
        'B,wbc,"1.0,10^9/L,2025-03-01\nA,anc,0.3,10^9/L,2025-03-01\n'  # lines 4, 5
        'C,wbc,"2.0"x,10^9/L,2025-03-01\n'  # line 6: the quote closes, then junk
        "D,wbc,2.0,10^9/L,2025-03-01\nF,anc,1.2,10^9/L,2025-03-01\n"
        '"G,wbc,2.0,10^9/L,2025-03-01\nH,wbc,2.0,10^9/L,2025-03-01\n'  # lines 9, 10: to the end
    )
    records = _run(results)
    assert set(records) == {"A", "B", "C", "D", "F", "H", f"{results}:9"}
    assert {k for k, r in records.items() if r["ok"]} == {"D", "F"}
    facts = {f["name"]: f["value"] for f in records["F"]["differential"]["facts"]}
    assert (facts["wbc"], facts["anc"]) == (3.0, 1.2)
    lines = {k: (r["error"]["line"], r["error"]["message"]) for k, r in records.items()
             if not r["ok"]}  # fmt: skip
    assert lines["B"][0] == 4 and lines["B"][1].endswith("; lines 4-6 not read")
    assert "',' expected after '\"'" in lines["B"][1]
    assert lines["A"][0] == 5 and "inside the record of lines 4-6" in lines["A"][1]
    assert lines["C"][0] == 6 and "inside the record of lines 4-6" in lines["C"][1]
    orphan = records[f"{results}:9"]["error"]
    assert orphan["column"] == "patient_id" and "patient id cannot be read" in orphan["message"]
    assert "lines 9-10 not read" in orphan["message"]
    assert lines["H"][0] == 10 and "inside the record of lines 9-10" in lines["H"][1]


def test_a_quote_closed_lines_later_fails_the_patients_whose_rows_it_swallowed(
    tmp_path: Path,
) -> None:
    """A quote left open on line 4 and closed on line 7 is valid CSV: one record whose value
    holds lines 4-7. A failed on its value and B's rows (a severe neutropenia) were gone without
    a word. Now every patient of those lines fails; a comment over two lines stays a comment."""
    results = tmp_path / "r.csv"
    results.write_text(
        "patient_id,test,value,unit,date,comment\n"
        'E,wbc,2.0,10^9/L,2025-03-01,"drawn late\nrepeat sent"\n'  # lines 2-3: a real comment
        'A,wbc,"2.0,10^9/L,2025-03-01,\nB,wbc,1.0,10^9/L,2025-03-01,\n'
        'B,anc,0.3,10^9/L,2025-03-01,\nC,wbc,2.0",10^9/L,2025-03-01,\n'  # line 7 closes it
        "D,wbc,2.0,10^9/L,2025-03-01,\n"
    )
    records = _run(results)
    assert {k for k, r in records.items() if r["ok"]} == {"D", "E"} and len(records) == 5
    errors = {k: r["error"] for k, r in records.items() if not r["ok"]}
    assert errors["A"]["line"] == 4 and errors["A"]["message"].endswith(
        "holds a line break in column 'value' (expected a closing '\"' on the line where the "
        "quote opens); lines 4-7 not read"
    )
    assert errors["B"]["line"] == 5 and "inside the record of lines 4-7" in errors["B"]["message"]
    assert errors["C"]["line"] == 7


def test_timestamps_must_be_real_and_digits_ascii() -> None:
    # a result's timestamp with an offset is kept whole: its instant orders it (engine.instants)
    assert cell("date", "2025-03-05T10:00:00Z") == "2025-03-05T10:00:00Z"
    assert cell("date", "2025-03-05T10:00:00.123+0100") == "2025-03-05T10:00:00.123+0100"
    assert cell("date", "2025-03-05T10:00:00") == "2025-03-05"
    assert cell("start", "2025-03-05T10:00:00Z") == "2025-03-05"
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
    # the id appears only in the patients table: its row is named, and how ids are matched
    error = records["p9"]["error"]
    assert error["message"].startswith(f"{patients}:3: patient 'p9' appears in {patients}")
    assert (error["file"], error["line"]) == (str(patients), 3)
    assert "matched exactly as written" in error["message"]
