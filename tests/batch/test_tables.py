# SPDX-License-Identifier: Apache-2.0
"""Reading results tables: one case per patient from real CSV, TSV and Parquet files, bounded
memory (a counting reader), and every bad row reported with its file, line and column."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import engine.batch.grouping as grouping
from engine.api import diagnose
from engine.batch.cases import CaseInput, iter_cases
from engine.batch.grouping import group_rows, iter_patients, single_patient
from engine.batch.run import BatchOptions, run_batch
from engine.batch.tables import Row, Table, TableError, TableSpec, parse_renames
from engine.errors import InputError
from engine.kb.yamlio import load_patient_file
from tests.batch.tablegen import RESULTS, write_tables
from tests.conftest import CASES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tables"
SOME = ["clozapine_induced-01", "thiopurine_toxicity-01", "tki_myelosuppression-01",
        "duffy_null-01", "megaloblastic-01", "viral_infection-02"]  # fmt: skip


def bundled(names: list[str]) -> list[tuple[str, dict[str, Any]]]:
    return [(n, load_patient_file(CASES / f"{n}.yaml")) for n in names]


def spec_of(paths: dict[str, Path], **renames: str) -> TableSpec:
    return TableSpec(paths["patients"], paths["medications"], paths["conditions"], renames)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_tables_give_the_same_patients_as_the_case_files(tmp_path: Path) -> None:
    """Every bundled case written as four tables reads back as a patient whose differential is
    identical to the case file's, in sorted and in shuffled order."""
    cases = dict(bundled(sorted(p.stem for p in CASES.glob("*.yaml"))))
    paths = write_tables(cases.items(), tmp_path)
    with paths["results"].open() as fh:
        head, *body = list(csv.reader(fh))
    random.Random(7).shuffle(body)
    shuffled = write_csv(tmp_path / "shuffled.csv", [head, *body])
    for results in (paths["results"], shuffled):
        got = {c.id: c for c in iter_cases([results], tables=spec_of(paths))}
        assert set(got) == set(cases)
        for pid, case in cases.items():
            assert got[pid].error is None, got[pid].error
            assert got[pid].expected == tuple(case["expected"])
            assert diagnose(got[pid].data).to_json() == diagnose(case).to_json(), pid


class Counting:
    """A row source that counts what has been pulled from it."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows, self.pulled = rows, 0

    def __iter__(self) -> Iterator[Row]:
        for row in self.rows:
            self.pulled += 1
            yield row


def test_sorted_rows_are_grouped_holding_one_patient() -> None:
    """When a patient's rows are yielded, the reader has pulled that patient's rows and at most
    one row of the next patient: nothing else is held."""
    rows = [Row(i, {"patient_id": f"p{i // 40}"}) for i in range(40 * 250)]
    source = Counting(rows)
    done = 0
    for pid, held in group_rows(source):
        done += len(held)
        assert len(held) == 40 and {r.patient_id for r in held} == {pid}
        assert source.pulled - done <= 1
    assert done == len(rows)


def test_a_sorted_table_is_streamed_without_a_spill(tmp_path: Path, monkeypatch: Any) -> None:
    paths = write_tables(bundled(SOME), tmp_path)

    def no_spill() -> None:
        raise AssertionError("a sorted results table without companions must not be spilled")

    monkeypatch.setattr(grouping, "Spill", no_spill)
    assert [p.id for p in iter_patients(paths["results"])] == SOME
    with pytest.raises(AssertionError, match="must not be spilled"):  # companions are spilled
        list(iter_patients(paths["results"], spec_of(paths)))


def test_tsv_and_parquet_read_like_csv(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    cases = bundled(SOME)
    (tmp_path / "csv").mkdir()
    (tmp_path / "tsv").mkdir()
    csvs = write_tables(cases, tmp_path / "csv")
    tsvs = write_tables(cases, tmp_path / "tsv", delimiter="\t")
    # Parquet as pandas-like tools write it: typed columns, dates as dates, missing as null
    rows = [(pid, lab) for pid, case in cases for lab in case.get("labs", [])]
    table = pa.table({
        "patient_id": [pid for pid, _ in rows],
        "test": [lab["test"] for _, lab in rows],
        "value": [str(lab["value"]) for _, lab in rows],
        "unit": [lab.get("unit") for _, lab in rows],
        "date": [dt.datetime.combine(lab["date"], dt.time(8, 30)) for _, lab in rows],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "results.parquet")
    want = {c.id: c.data for c in iter_cases([csvs["results"]], tables=spec_of(csvs))}
    for results, spec in ((tsvs["results"], spec_of(tsvs)),
                          (tmp_path / "results.parquet", spec_of(csvs))):  # fmt: skip
        got = {c.id: c.data for c in iter_cases([results], tables=spec)}
        assert got.keys() == want.keys()
        for pid in want:
            assert diagnose(got[pid]).to_json() == diagnose(want[pid]).to_json()


def _errors(results: Path, spec: TableSpec | None = None) -> dict[str, dict[str, Any]]:
    """The error of every failed patient of a real batch run (one worker process)."""
    out = results.with_suffix(".jsonl")
    run_batch([results], out, BatchOptions(workers=1), tables=spec)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return {r["id"]: r["error"] for r in records if not r["ok"]}


def test_a_bad_row_is_its_patients_error_naming_file_line_and_column(tmp_path: Path) -> None:
    results = write_csv(tmp_path / "r.csv", [
        RESULTS,
        ["a", "wbc", "2.1", "10^9/L", "2025-02-10"],
        ["b", "wbc", "2.1", "10^9/L", "2025-02-10"],
        ["b", "anc", "0.4", "10^9/dL", "2025-02-10"],  # line 4: unknown unit
        ["c", "wbc", "3,1", "10^9/L", "2025-02-10"],  # line 5: not a number (decimal comma)
        ["d", "wbc", "2.1", "10^9/L"],  # line 6: a field short
        ["", "wbc", "2.1", "10^9/L", "2025-02-10"],  # line 7: no patient id
        ["e", "wbc", "2.1", "10^9/L", "2025-02-10T08:15:00+01:00"],  # a timestamp is a date
    ])  # fmt: skip
    meds = write_csv(
        tmp_path / "m.csv",
        [["patient_id", "name", "start", "stop"], ["a", "clozapine", "2025-01-05", "2024-12-01"]],
    )
    conditions = write_csv(tmp_path / "c.csv", [["patient_id", "kind", "name"],
                                                ["e", "symptom", "fever"]])  # fmt: skip
    errors = _errors(results, TableSpec(medications=meds, conditions=conditions))
    assert errors["a"]["file"].endswith("m.csv") and errors["a"]["line"] == 2
    assert errors["a"]["column"] == "stop" and errors["a"]["field"] == "medications[0].stop"
    b = errors["b"]
    assert (b["line"], b["column"]) == (4, "unit") and b["file"].endswith("r.csv")
    assert b["message"].startswith(f"{results}:4, column 'unit': labs[1].unit: unknown unit")
    assert (errors["c"]["line"], errors["c"]["column"]) == (5, "value")
    assert errors["d"]["line"] == 6 and "4 fields where the header has 5" in errors["d"]["message"]
    assert errors[f"{results}:7"]["column"] == "patient_id"
    assert errors["e"]["column"] == "kind" and "unknown kind 'symptom'" in errors["e"]["message"]
    assert len(list(iter_cases([results]))) == 6  # a, b, c, d, the row without id, e


def test_renamed_columns_and_their_typos(tmp_path: Path) -> None:
    results = write_csv(tmp_path / "r.csv", [
        ["MRN", "Analyte", "Result", "Units", "Collected"],
        ["a", "wbc", "2.1", "10^9/L", "2025-02-10"],
        ["a", "anc", "0.4", "10^9/dL", "2025-02-10"],
    ])  # fmt: skip
    renames = parse_renames(["MRN=patient_id,Analyte=test", "Result=value", "Units=unit",
                             "Collected=date"])  # fmt: skip
    error = _errors(results, TableSpec(renames=renames))["a"]
    assert (error["line"], error["column"]) == (3, "Units")  # the file's own column name
    with pytest.raises(InputError, match="did you mean 'patient_id'"):
        parse_renames(["MRN=patient_idd"])
    with pytest.raises(TableError, match="no column 'patient_id'"):
        Table(results, "results")
    with pytest.raises(TableError, match="no table has a column 'mrn'"):
        grouping.open_tables(results, TableSpec(renames={**renames, "mrn": "patient_id"}))


def test_broken_files_are_one_error_record_each(tmp_path: Path) -> None:
    """An empty file is one error record; a broken quote is the error of the patient whose row
    holds it (it was the whole table's), naming the line and the closing quote expected."""
    quote = tmp_path / "quote.csv"
    quote.write_text('patient_id,test,value,unit,date\na,wbc,"2.1,10^9/L,2025-02-10\n')
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    bad_utf8 = tmp_path / "bytes.csv"
    bad_utf8.write_bytes(b"patient_id,test,value,unit,date\na,wbc,2.1,10^9/L\xff,2025-02-10\n")
    cases = list(iter_cases([quote, empty, bad_utf8]))
    assert [c.id for c in cases] == ["a", str(empty), "a"]
    assert cases[0].error is not None and cases[0].error.line == 2
    assert cases[0].error.message.startswith(f"{quote}:2: not a valid CSV record: ")
    assert "expected a closing '\"'" in cases[0].error.message
    assert "empty file" in cases[1].error.message  # type: ignore[union-attr]
    assert cases[2].error.column == "unit"  # type: ignore[union-attr]
    assert "not valid UTF-8" in cases[2].error.message  # type: ignore[union-attr]


def test_single_patient_table_and_its_errors(tmp_path: Path) -> None:
    one = write_csv(
        tmp_path / "one.csv",
        [
            RESULTS,
            ["p", "wbc", "2700", "/uL", "2020-01-25"],
            ["p", "anc", "0.5", "10^9/dL", "2020-01-25"],
        ],
    )
    data, located = single_patient(one)
    assert data["labs"][0] == {"test": "wbc", "value": 2700, "unit": "/uL", "date": "2020-01-25"}
    with pytest.raises(InputError) as caught:
        diagnose(data)
    assert str(located(caught.value)).startswith(f"{one}:3, column 'unit': labs[1].unit:")
    two = write_csv(
        tmp_path / "two.csv",
        [
            RESULTS,
            ["p", "wbc", "2", "10^9/L", "2020-01-25"],
            ["q", "wbc", "2", "10^9/L", "2020-01-25"],
        ],
    )
    with pytest.raises(InputError, match="more than one patient"):
        single_patient(two)


def test_a_comparator_column_bounds_the_result_as_in_a_case_file(tmp_path: Path) -> None:
    """ANC "<1.0" on clozapine is a bound below the moderate row (interrupt; severe not
    excluded), not an exact 1.0 (mild, continue): the column is read, never dropped, and a bad
    comparator names its cell."""
    header = [*RESULTS, "comparator"]
    table = write_csv(
        tmp_path / "bound.csv",
        [header, ["z", "wbc", "2.0", "10^9/L", "2025-02-10", ""],
         ["z", "anc", "1.0", "10^9/L", "2025-02-10", "<"]],
    )  # fmt: skip
    data, _ = single_patient(table)
    assert data["labs"][1]["comparator"] == "<" and "comparator" not in data["labs"][0]
    data["medications"] = [{"name": "clozapine", "start": "2025-01-01"}]
    alerts = {a.id for a in diagnose(data).alerts}
    assert "clozapine_anc_bound_only" in alerts and "clozapine_mild_neutropenia" not in alerts
    bad = write_csv(
        tmp_path / "bad.csv", [header, ["z", "anc", "1.0", "10^9/L", "2025-02-10", "~"]]
    )
    data, located = single_patient(bad)
    with pytest.raises(InputError) as caught:
        diagnose(data)
    assert str(located(caught.value)).startswith(f"{bad}:2, column 'comparator':")


def test_headers_match_whatever_their_case_and_spacing(tmp_path: Path) -> None:
    """A ``Comparator`` or ``Present`` column was silently not read: "<0.5" became exactly 0.5
    (no febrile-neutropenia alert) and a fever recorded absent became present."""
    results = write_csv(
        tmp_path / "r.csv",
        [["Patient ID", "Test", "Value", "Unit", "Date", "Comparator"],
         ["z", "anc", "0.5", "10^9/L", "2025-02-10", "<"]],
    )  # fmt: skip
    conditions = write_csv(
        tmp_path / "c.csv",
        [["patient_id", "KIND", "name", "since", "Present"],
         ["z", "finding", "fever", "2025-02-10", "false"]],
    )  # fmt: skip
    table = Table(results, "results")
    assert set(table.columns) == {"patient_id", "test", "value", "unit", "date", "comparator"}
    rows = list(Table(conditions, "conditions").rows())
    assert rows[0].cells["present"] is False


def test_a_column_that_looks_like_an_optional_one_is_refused(tmp_path: Path) -> None:
    for header, meant in ((["Comparater"], "comparator"), (["stop_date"], "stop")):
        kind = "results" if meant == "comparator" else "medications"
        base = RESULTS if kind == "results" else ["patient_id", "name"]
        path = write_csv(tmp_path / f"{meant}.csv", [[*base, *header]])
        with pytest.raises(TableError, match=f"looks like '{meant}'") as caught:
            Table(path, kind)
        assert f"--columns '{header[0]}={meant}'" in str(caught.value)
    fine = write_csv(tmp_path / "fine.csv", [[*RESULTS, "reference_range", "flag"]])
    assert "comparator" not in Table(fine, "results").columns
    # other names of the date columns (a stop left unread made a 2012 course "ongoing")
    for kind, base, header, meant in (
        ("medications", ["patient_id", "name"], "End Date", "stop"),
        ("medications", ["patient_id", "name", "stop"], "Started", "start"),
        ("conditions", ["patient_id", "kind", "name"], "Resolved", "until"),
        ("conditions", ["patient_id", "kind", "name"], "Onset", "since"),
    ):
        path = write_csv(tmp_path / f"{kind}-{meant}.csv", [[*base, header]])
        with pytest.raises(TableError, match=f"looks like '{meant}'"):
            Table(path, kind)


def test_a_comparison_sign_in_an_unread_column_fails_its_patient(tmp_path: Path) -> None:
    """With no comparator column, "<" in another column (``Flag``) would leave "<0.5" read as
    0.5; that patient fails, naming the column, and the others are read."""
    path = write_csv(
        tmp_path / "signs.csv",
        [[*RESULTS, "Flag"], ["a", "anc", "0.5", "10^9/L", "2025-02-10", "<"],
         ["b", "anc", "0.5", "10^9/L", "2025-02-10", "L"]],
    )  # fmt: skip
    rows = list(Table(path, "results").rows())
    assert rows[0].error is not None and rows[0].error[0] == "Flag"
    assert "comparison sign '<'" in rows[0].error[1]
    assert rows[1].error is None
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(
        pa.table({"patient_id": ["a", "b"], "test": ["anc", "anc"], "value": [0.5, 0.5],
                  "unit": ["10^9/L"] * 2, "date": ["2025-02-10"] * 2, "Flag": ["<", "L"]}),
        tmp_path / "signs.parquet",
    )  # fmt: skip
    parquet = list(Table(tmp_path / "signs.parquet", "results").rows())
    assert [r.error[0] if r.error else None for r in parquet] == ["Flag", None]


def test_a_sign_before_another_number_bounds_something_else(tmp_path: Path) -> None:
    """The sixth probe: a reference range in a column named ``RefRange`` (or ``ULN``,
    ``Expected``, ``Referenzbereich``) holding ``<5`` beside a CRP of 40 failed the patient, and
    its ANC of 0.3 went unreported. A sign before a number other than the row's value bounds
    something else; before the value itself (``<0.5`` beside 0.5) it still fails the patient."""
    header = [*RESULTS, "RefRange", "ULN", "Referenzbereich"]
    rows = [
        ["p", "crp", "40", "mg/L", "2025-03-01", "<5", "<10", "< 5"],
        ["p", "anc", "0.3", "10^9/L", "2025-03-01", "1.5-7.0", "", ""],
        ["q", "anc", "0.5", "10^9/L", "2025-03-01", "", "<0.5", ""],
    ]
    read = list(Table(write_csv(tmp_path / "ranges.csv", [header, *rows]), "results").rows())
    assert [r.error[0] if r.error else None for r in read] == [None, None, "ULN"]


def test_a_cell_beginning_with_a_sign_in_an_unread_column_fails_its_patient(
    tmp_path: Path,
) -> None:
    """Only a sign alone was caught: ``<0.5`` in a result-text column, ``< L`` in a flag, or a
    sign beside an empty comparator column left the ANC read as exactly 0.5 (febrile neutropenia
    missed). Text with a sign inside it, a reference range and a row read as a bound pass."""
    header = [*RESULTS, "comparator", "result_text", "flag", "Reference Range", "comment"]
    day = ["10^9/L", "2025-03-01"]
    rows = [
        ["a", "anc", "0.5", *day, "", "<0.5", "", "1.5-7.0", ""],  # line 2: result text
        ["b", "anc", "0.5", *day, "", "0.5", "< L", "", ""],  # 3: a flag with a letter
        ["c", "anc", "0.5", *day, "=", "", "<", "", ""],  # 4: "=" is exact, sign in the flag
        ["d", "anc", "0.5", *day, "", "", "", "", "≤ 0.5 on repeat"],  # 5: a comment, at start
        # read as they should be: a sign inside text, a reference range, bounds given
        ["e", "anc", "1.2", *day, "", "1.2", "L", "1.5-7.0", "ANC was < 1 last week"],
        ["e", "crp", "3", "mg/L", "2025-03-01", "", "3", "", "<5", "CRP <5 is normal"],
        ["e", "anc", "0.5", *day, "<", "<0.5", "<", "", ""],
        ["e", "anc", "<0.5", *day, "", "<0.5", "< L", "", ""],
        ["e", "wbc", "2.0", *day, "", "2.0", "<<", "", "<-- see note"],
    ]
    path = write_csv(tmp_path / "signs.csv", [header, *rows])
    read = list(Table(path, "results").rows())
    assert [r.error[0] if r.error else None for r in read] == [
        "result_text", "flag", "flag", "comment", None, None, None, None, None,
    ]  # fmt: skip
    said = {r.line: r.error[1] for r in read if r.error}
    assert "begins with the comparison sign '<' ('<0.5')" in said[2]
    assert "begins with the comparison sign '<' ('< L')" in said[3]
    assert "its comparator is empty, so the value would be read as exact" in said[4]
    assert "comparison sign '≤'" in said[5]
    # without a comparator column, and in Parquet
    bare = write_csv(tmp_path / "bare.csv", [[*RESULTS, "result_text"], rows[0][:5] + ["<0.5"]])
    (row,) = Table(bare, "results").rows()
    assert row.error is not None and row.error[0] == "result_text"
    assert "the table has no comparator column" in row.error[1]
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(
        pa.table({"patient_id": ["a", "b"], "test": ["anc", "anc"], "value": [0.5, 1.2],
                  "unit": ["10^9/L"] * 2, "date": ["2025-03-01"] * 2,
                  "result_text": ["<0.5", "1.2"], "ref_range": ["", "<5"]}),
        tmp_path / "signs.parquet",
    )  # fmt: skip
    parquet = list(Table(tmp_path / "signs.parquet", "results").rows())
    assert [r.error[0] if r.error else None for r in parquet] == ["result_text", None]


def test_a_result_text_bound_fails_its_patient_in_a_batch(tmp_path: Path) -> None:
    """The probe's case: ANC 0.5 with the result text ``<0.5`` and a fever was "ok" with only a
    moderate-neutropenia warning; now that patient fails naming the cell, the others are read."""
    results = tmp_path / "r.csv"
    results.write_text(
        "patient_id,test,value,unit,date,result_text\n"
        "p1,wbc,2.0,10^9/L,2025-03-01,2.0\np1,anc,0.5,10^9/L,2025-03-01,<0.5\n"
        "p2,wbc,2.0,10^9/L,2025-03-01,2.0\np2,anc,<0.5,10^9/L,2025-03-01,<0.5\n"
    )
    fever = tmp_path / "c.csv"
    fever.write_text("patient_id,kind,name,since\np1,finding,fever,2025-03-01\n"
                     "p2,finding,fever,2025-03-01\n")  # fmt: skip
    out = tmp_path / "o.jsonl"
    stats = run_batch([results], out, BatchOptions(workers=1), tables=TableSpec(conditions=fever))
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert stats.failed == 1 and not records["p1"]["ok"]
    error = records["p1"]["error"]
    assert (error["file"], error["line"], error["column"]) == (str(results), 3, "result_text")
    assert "comparison sign '<' ('<0.5')" in error["message"]
    alerts = {a["id"] for a in records["p2"]["differential"]["alerts"]}
    assert "febrile_neutropenia" in alerts


def test_a_value_written_with_its_sign_is_the_bound_it_says(tmp_path: Path) -> None:
    """``<0.5`` in the value cell was refused as "needs a number"; ``=`` in the comparator column
    (an exact value, as exports write it) was refused as an unknown comparator."""
    table = write_csv(
        tmp_path / "signs.csv",
        [[*RESULTS, "comparator"], ["z", "wbc", "1.1", "10^9/L", "2025-02-10", "="],
         ["z", "anc", "<0.5", "10^9/L", "2025-02-10", ""],
         ["z", "platelets", "≥ 400", "10^9/L", "2025-02-10", ""]],
    )  # fmt: skip
    data, _ = single_patient(table)
    labs = {lab["test"]: lab for lab in data["labs"]}
    assert "comparator" not in labs["wbc"]
    assert (labs["anc"]["value"], labs["anc"]["comparator"]) == (0.5, "<")
    assert (labs["platelets"]["value"], labs["platelets"]["comparator"]) == (400, ">=")
    assert "severe_neutropenia" in {a.id for a in diagnose(data).alerts}


def test_a_utf16_table_says_so_instead_of_showing_noise(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes(
        "patient_id,test,value,unit,date\nz,wbc,2.0,10^9/L,2025-02-10\n".encode("utf-16")
    )
    with pytest.raises(TableError) as caught:
        single_patient(path)
    assert "not UTF-8 text: it looks like UTF-16" in str(caught.value)
    assert "\\udc" not in str(caught.value) and "\udcff" not in str(caught.value)


def test_an_empty_or_list_case_file_is_described_in_words(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    messages = {c.source_file.rsplit("/", 1)[-1]: c.error.message for c in iter_cases([tmp_path])
                if c.error is not None}  # fmt: skip
    assert messages["empty.yaml"].endswith("(got an empty document)")
    assert messages["list.yaml"].endswith("(got a list of 2 items)")


def test_the_example_tables_read_without_error() -> None:
    spec = TableSpec(EXAMPLES / "patients.csv", EXAMPLES / "medications.csv",
                     EXAMPLES / "conditions.csv")  # fmt: skip
    cases: list[CaseInput] = list(iter_cases([EXAMPLES / "results.csv"], tables=spec))
    assert len(cases) == 8 and all(c.error is None and c.expected for c in cases)


def test_a_sign_before_the_value_in_another_unit_fails_its_patient(tmp_path: Path) -> None:
    """The seventh probe: ``<500`` in a result-text column (unit /uL) beside an ANC of 0.5 10^9/L
    is the same count, a bound, but it passed as "another number" and the ANC was read as exactly
    0.5 (moderate, grade 3, where the report says severe). A number that is the row's value times
    a power of ten is the value; any other still bounds something else."""
    header = [*RESULTS, "result_text", "result_unit"]
    rows = [
        ["a", "anc", "0.5", "10^9/L", "2025-03-01", "<500", "/uL"],
        ["b", "hemoglobin", "8.1", "g/dL", "2025-03-01", "<81", "g/L"],
        ["c", "crp", "40", "mg/L", "2025-03-01", "<5", ""],
    ]
    read = list(Table(write_csv(tmp_path / "units.csv", [header, *rows]), "results").rows())
    assert [r.error[0] if r.error else None for r in read] == ["result_text", "result_text", None]
