# SPDX-License-Identifier: Apache-2.0
"""``leukodx batch`` and ``leukodx diagnose`` over results tables, in real processes: a table of
more than 10,000 results for 300 patients gives the same top causes as the same patients written
as case files (YAML, and JSON for nine in ten, which PyYAML would take half a minute to read);
``--table`` opens in pandas with one row per case; the per-drug view."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.kb.yamlio import load_patient_file
from tests.batch.tablegen import write_tables
from tests.cli.test_batch_cli import leukodx
from tests.conftest import CASES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "tables"
PATIENTS = 300
EXTRA_RESULTS = 32  # per patient, so that the table has more than 10,000 results


def _patients() -> list[tuple[str, dict[str, Any]]]:
    """300 patients from the bundled cases (each case three times, under distinct ids), each with
    32 extra dated creatinine results, so that the results table is long."""
    bundled = [load_patient_file(p) for p in sorted(CASES.glob("*.yaml"))]
    out = []
    for k in range(PATIENTS):
        case = dict(bundled[k % len(bundled)])
        as_of = case["as_of"]
        extra = [{"test": "creatinine", "value": round(0.7 + 0.01 * (j % 9), 2),
                  "unit": "mg/dL", "date": as_of - dt.timedelta(days=7 * j + 1)}
                 for j in range(EXTRA_RESULTS)]  # fmt: skip
        case["labs"] = [*case.get("labs", []), *extra]
        pid = f"{case['id']}~{k // len(bundled)}"
        case["id"] = pid
        out.append((pid, case))
    return out


def _plain(value: Any) -> Any:
    """The reader's line-keeping mappings and lists as plain ones, which yaml can write."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _top(out: Path) -> dict[str, str | None]:
    tops: dict[str, str | None] = {}
    for line in out.read_text().splitlines():
        record = json.loads(line)
        assert record["ok"], record
        candidates = record["differential"]["candidates"]
        tops[record["id"]] = candidates[0]["cause"] if candidates else None
    return tops


def test_a_long_table_gives_the_same_top_causes_as_case_files(tmp_path: Path) -> None:
    patients = _patients()
    tables = write_tables(patients, tmp_path)
    with tables["results"].open() as fh:
        n_results = sum(1 for _ in fh) - 1
    assert n_results >= 10_000
    case_dir = tmp_path / "cases"
    case_dir.mkdir()
    for k, (pid, case) in enumerate(patients):  # YAML, and JSON where PyYAML would be slow
        if k % 10 == 0:
            (case_dir / f"{pid}.yaml").write_text(yaml.safe_dump(_plain(case), sort_keys=False))
        else:
            (case_dir / f"{pid}.json").write_text(json.dumps(case, default=str))
    from_tables, from_yaml = tmp_path / "tables.jsonl", tmp_path / "yaml.jsonl"
    table_csv = tmp_path / "table.csv"
    run = leukodx(
        "batch", str(tables["results"]), "--patients", str(tables["patients"]),
        "--medications", str(tables["medications"]), "--conditions", str(tables["conditions"]),
        "--out", str(from_tables), "--table", str(table_csv), "--workers", "2", "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    run = leukodx("batch", str(case_dir), "--out", str(from_yaml), "--workers", "2", "--quiet")
    assert run.returncode == 0, run.stderr
    assert _top(from_tables) == _top(from_yaml)
    assert len(_top(from_tables)) == PATIENTS

    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(table_csv)
    assert len(frame) == PATIENTS and frame["id"].is_unique
    tops = _top(from_tables)
    assert dict(zip(frame["id"], frame["top1_cause"], strict=True)) == tops
    assert frame["hit_top1"].sum() == sum(
        1 for pid, case in patients if tops[pid] in case["expected"]
    )


def test_table_parquet_and_per_drug_view_of_the_examples(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out, table, summary, report = (tmp_path / n for n in ("r.jsonl", "t.parquet", "s.json",
                                                          "r.html"))  # fmt: skip
    run = leukodx(
        "batch", str(EXAMPLES / "results.csv"), "--patients", str(EXAMPLES / "patients.csv"),
        "--medications", str(EXAMPLES / "medications.csv"),
        "--conditions", str(EXAMPLES / "conditions.csv"), "--out", str(out),
        "--table", str(table), "--summary", str(summary), "--report", str(report),
        "--workers", "1",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    frame = pd.read_parquet(table)
    assert len(frame) == 8 and frame["ok"].all() and frame["id"].is_unique
    assert {"top3_probability", "expected", "hit_top1", "alerts"} <= set(frame.columns)
    assert frame["top1_probability"].between(0, 1).all()
    drugs = json.loads(summary.read_text())["per_drug"]
    clozapine = drugs["clozapine"]
    assert clozapine["exposed"] == 2 and clozapine["ranked_first"] == 2
    assert clozapine["alerts"].get("clozapine_severe_neutropenia", 0) >= 1
    assert clozapine["median_onset_days"] is not None
    assert "exposed" in run.stdout and "clozapine" in run.stdout  # the terminal's per-drug table
    html = report.read_text()
    assert 'data-role="drug" data-drug="clozapine"' in html

    from engine.batch.frame import to_dataframe

    same = to_dataframe(out)
    assert list(same["id"]) == list(frame["id"]) and len(same.columns) == len(frame.columns)


def test_a_bad_row_fails_only_its_patient_naming_file_line_and_column(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    text = (EXAMPLES / "results.csv").read_text().splitlines()
    bad = text[1].split(",")
    bad[3] = "10^9/dL" if bad[1] in ("wbc", "anc") else bad[3]
    text[1] = ",".join(bad)
    results.write_text("\n".join(text) + "\n")
    out = tmp_path / "r.jsonl"
    run = leukodx("batch", str(results), "--out", str(out), "--workers", "1")
    assert run.returncode == 3, run.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    failed = [r for r in records if not r["ok"]]
    assert len(records) == 8 and len(failed) == 1
    error = failed[0]["error"]
    assert (error["file"], error["line"], error["column"]) == (str(results), 2, "unit")
    assert "Traceback" not in run.stderr


def test_diagnose_reads_a_one_patient_table(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    one.write_text("patient_id,test,value,unit,date\np1,wbc,2700,/uL,2020-01-25\n"
                   "p1,neutrophil_pct,4,%,2020-01-25\n")  # fmt: skip
    meds = tmp_path / "meds.csv"
    meds.write_text("patient_id,name,start,stop\np1,clozapine,2020-01-01,\n")
    run = leukodx("diagnose", str(one), "--medications", str(meds))
    assert run.returncode == 0, run.stderr
    assert "clozapine" in run.stdout.lower() and "p1" in run.stdout
    one.write_text(one.read_text() + "p1,anc,0.1,10^9/dL,2020-01-25\n")
    run = leukodx("diagnose", str(one))
    assert run.returncode == 2
    assert f"{one}:4, column 'unit': labs[2].unit: unknown unit" in run.stderr
    run = leukodx("diagnose", str(EXAMPLES / "results.csv"))
    assert run.returncode == 2 and "more than one patient" in run.stderr


def test_table_arguments_are_checked_before_anything_runs(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    results = str(EXAMPLES / "results.csv")
    for args, message in (
        ([results, "--columns", "MRN=patient_idd"], "did you mean 'patient_id'"),
        ([results, "--columns", "MRN=patient_id"], "no table has a column 'MRN'"),
        ([results, "--patients", str(tmp_path / "nope.csv")], "--patients: no such file"),
        ([results, results, "--patients", str(EXAMPLES / "patients.csv")], "exactly one"),
        ([results, "--table", str(tmp_path / "t.xlsx")], "--table: unknown table format"),
    ):
        run = leukodx("batch", *args, "--out", str(out))
        assert run.returncode == 2 and message in run.stderr, (args, run.stderr)
        assert not out.exists()


def test_a_screening_batch_names_its_critical_patients(tmp_path: Path) -> None:
    """A batch over a lab export printed only "cases 2: 2 ok", and neither the summary JSON nor
    the report said which patient had febrile neutropenia."""
    (tmp_path / "r.csv").write_text(
        "patient_id,test,value,unit,date\n"
        "F1,wbc,1.1,10^9/L,2025-02-10\nF1,anc,0.3,10^9/L,2025-02-10\n"
        "N1,wbc,3.5,10^9/L,2025-02-10\nN1,anc,1.4,10^9/L,2025-02-10\n"
    )
    (tmp_path / "c.csv").write_text("patient_id,kind,name,since\nF1,finding,fever,2025-02-10\n")
    summary, report = tmp_path / "s.json", tmp_path / "r.html"
    result = leukodx("batch", str(tmp_path / "r.csv"), "--conditions", str(tmp_path / "c.csv"),
                     "--out", str(tmp_path / "o.jsonl"), "--summary", str(summary),
                     "--report", str(report))  # fmt: skip
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "alerts: 1 case(s) critical, 0 warning" in said
    assert (
        "critical: F1 (febrile_neutropenia, " in said
        or "critical: F1 (febrile_neutropenia)" in said
    )
    alerts = json.loads(summary.read_text())["alerts"]
    assert alerts["cases_by_level"] == {"critical": 1, "warning": 0, "info": 0, "none": 1}
    assert alerts["critical_cases"][0]["id"] == "F1"
    assert 'data-case="F1"' in report.read_text()


def test_skip_unknown_tests_lists_the_rows_instead_of_failing_the_patient(tmp_path: Path) -> None:
    """An export with CBC components leukodx does not read (RDW, MCHC) failed every patient, so
    their febrile neutropenias were reported nowhere; with --skip-unknown-tests the rows are
    listed in the case's ignored_inputs. Without the option the patient still fails."""
    results = tmp_path / "r.csv"
    results.write_text(
        "patient_id,test,value,unit,date\n"
        "R2,wbc,1.2,K/uL,2025-02-10\nR2,anc,0.3,K/uL,2025-02-10\nR2,rdw,14.1,%,2025-02-10\n"
    )
    out = tmp_path / "o.jsonl"
    done = leukodx("batch", str(results), "--skip-unknown-tests", "--out", str(out))
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    ignored = record["differential"]["ignored_inputs"]
    reason = "test 'rdw' is not one leukodx reads (--skip-unknown-tests)"
    assert ignored == [{"item": f"{results}:4 (rdw)", "reason": reason}]
    strict = leukodx("batch", str(results), "--out", str(tmp_path / "o2.jsonl"))
    assert strict.returncode == 3
    # a name that may be a count leukodx reads (an ANC called "Neut#") still fails its patient
    local = tmp_path / "local.csv"
    local.write_text("patient_id,test,value,unit,date\nR3,wbc,1.2,K/uL,2025-02-10\n"
                     "R3,Neut#,0.3,K/uL,2025-02-10\n")  # fmt: skip
    out3 = tmp_path / "o3.jsonl"
    named = leukodx("batch", str(local), "--skip-unknown-tests", "--out", str(out3))
    assert named.returncode == 3 and "Neut#" in json.loads(out3.read_text())["error"]["message"]
