# SPDX-License-Identifier: Apache-2.0
"""``leukodx batch`` and ``leukodx report`` in real processes: exit codes, a corrupt file, a real
SIGKILL followed by ``--resume``, results on stdout, progress on stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.differential import DISCLAIMER
from tests.conftest import CASES, MINI_KB, RULES
from tests.unit.test_batch_support import patient, read_lines, write_jsonl

BASE = [sys.executable, "-m", "engine"]


def leukodx(
    *args: str, timeout: float = 180, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BASE, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture()
def cases_dir(tmp_path: Path) -> Path:
    root = tmp_path / "cases"
    root.mkdir()
    for i in range(3):
        (root / f"case-{i}.json").write_text(json.dumps(patient(i)))
    (root / "corrupt.yaml").write_text("id: corrupt\nlabs: [\n")
    write_jsonl(root / "more.jsonl", [patient(i, anc=1.2) for i in range(10, 16)])
    return root


def test_batch_with_a_corrupt_file(cases_dir: Path, tmp_path: Path) -> None:
    out, summary, report = tmp_path / "r.jsonl", tmp_path / "s.json", tmp_path / "r.html"
    run = leukodx(
        "batch",
        str(cases_dir),
        "--rules",
        str(MINI_KB),
        "--out",
        str(out),
        "--summary",
        str(summary),
        "--report",
        str(report),
        "--workers",
        "2",
    )
    assert run.returncode == 3, run.stderr
    records = read_lines(out)
    assert Counter(r["id"] for r in records) == Counter(
        [*(f"p{i:04d}" for i in (0, 1, 2, *range(10, 16))), f"{cases_dir}/corrupt.yaml"]
    )
    doc = json.loads(summary.read_text())
    assert (doc["n_cases"], doc["n_failed"], doc["n"]) == (10, 1, 9)
    assert doc["errors"][0]["field"] == "line 3"
    assert "top-1" in run.stdout and "Traceback" not in run.stderr
    assert run.stdout.rstrip().endswith(DISCLAIMER)  # the table ends with the disclaimer
    assert "leukodx batch:" in run.stderr  # plain progress lines: stderr is not a terminal
    assert report.read_text().count('data-role="disclaimer"') == 2


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.02)
    raise AssertionError("the batch did not get going")


def test_sigkill_then_resume_records_every_case_once(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", [patient(i) for i in range(60)])
    out = tmp_path / "out.jsonl"
    args = ["batch", str(inputs), "--rules", str(MINI_KB), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(
        [*BASE, *args, "--workers", "2"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_lines(out, 5, proc)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only: workers must go by themselves
        proc.wait(30)
        _wait_for_group_exit(proc.pid)
    finally:
        _kill_group(proc.pid)
    before = out.read_bytes().count(b"\n")
    assert 5 <= before < 60
    run = leukodx(*args, "--resume", "--workers", "2")
    assert run.returncode == 0, run.stderr
    ids = Counter(r["id"] for r in read_lines(out))
    assert ids == Counter(f"p{i:04d}" for i in range(60))


def _wait_for_group_exit(pgid: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("worker processes outlived the killed batch")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_results_go_to_stdout_without_out(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", [patient(1), patient(2)])
    run = leukodx("batch", str(inputs), "--rules", str(MINI_KB), "--workers", "1", "--quiet")
    assert run.returncode == 0, run.stderr
    assert [json.loads(line)["id"] for line in run.stdout.splitlines()] == ["p0001", "p0002"]
    assert run.stderr == ""


def test_a_repeated_id_is_still_evaluated_and_its_alerts_kept(tmp_path: Path) -> None:
    """A line list repeats MRNs: the second case of an id runs under its position and keeps its
    urgent alerts (it used to become an error record with no differential)."""
    inputs = tmp_path / "in.jsonl"
    febrile = {"id": "MRN1", "wbc": 1.5, "anc": {"value": 300, "unit": "/uL"},
               "medications": ["clozapine"], "findings": ["fever"]}  # fmt: skip
    inputs.write_text(
        json.dumps({"id": "MRN1", "wbc": 6.0, "anc": 3.0}) + "\n" + json.dumps(febrile)
    )
    out = tmp_path / "out.jsonl"
    run = leukodx("batch", str(inputs), "--out", str(out), "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert "1 with a duplicate id (run under their position)" in run.stdout
    first, second = read_lines(out)
    assert (first["id"], first["ok"]) == ("MRN1", True) and "duplicate_of" not in first
    assert (second["id"], second["duplicate_of"], second["ok"]) == (f"{inputs}:2", "MRN1", True)
    alerts = {a["id"] for a in second["differential"]["alerts"]}
    assert {"febrile_neutropenia", "clozapine_severe_neutropenia"} <= alerts


@pytest.mark.parametrize("args, message", [
    (["--resume"], "--resume: needs --out"),
    (["--workers", "-1"], "--workers: must be a positive number"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler: only applies with --executor dask"),
    (["--rules", "/nonexistent"], "knowledge base directory not found"),
])  # fmt: skip
def test_invalid_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", [patient(1)])
    run = leukodx("batch", str(inputs), "--rules", str(MINI_KB), *args)
    assert run.returncode == 2 and message in run.stderr, run.stderr


def test_a_missing_input_exits_2(tmp_path: Path) -> None:
    missing = leukodx("batch", str(tmp_path / "missing"), "--rules", str(MINI_KB))
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr


def test_sigterm_stops_cleanly_and_resume_finishes(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", [patient(i) for i in range(60)])
    out = tmp_path / "out.jsonl"
    args = ["batch", str(inputs), "--rules", str(MINI_KB), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(
        [*BASE, *args],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_lines(out, 3, proc)
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    finally:
        _kill_group(proc.pid)
    assert proc.returncode == 130 and "run again with --resume" in stderr, stderr
    assert all(json.loads(line) for line in out.read_text().splitlines())  # complete lines only
    assert leukodx(*args, "--resume", "--quiet").returncode == 0
    assert Counter(r["id"] for r in read_lines(out)) == Counter(f"p{i:04d}" for i in range(60))


def test_patient_report_command(tmp_path: Path) -> None:
    case = tmp_path / "p.json"
    case.write_text(json.dumps(patient(5)))
    out = tmp_path / "p.html"
    run = leukodx("report", str(case), "-o", str(out), "--rules", str(MINI_KB))
    assert run.returncode == 0, run.stderr
    html = out.read_text()
    assert "leukodx patient report: p0005" in html and 'data-chart="timeline"' in html
    bad = leukodx("report", str(tmp_path / "nope.yaml"), "--rules", str(MINI_KB))
    assert bad.returncode == 2


def test_report_reads_what_diagnose_reads(tmp_path: Path) -> None:
    """One patient's results table with its companion tables, and standard input: ``report``
    read only YAML/JSON files (a CSV was parsed as YAML, ``-`` was a missing file)."""
    one, meds = tmp_path / "one.csv", tmp_path / "meds.csv"
    one.write_text("patient_id,test,value,unit,date\nP1,wbc,1.9,10^9/L,2025-02-20\n"
                   "P1,anc,0.3,10^9/L,2025-02-20\n")  # fmt: skip
    meds.write_text("patient_id,name,start\nP1,clozapine,2025-01-10\n")
    out = tmp_path / "one.html"
    args = ("--rules", str(MINI_KB))
    run = leukodx("report", str(one), "--medications", str(meds), "-o", str(out), *args)
    assert run.returncode == 0, run.stderr
    html = out.read_text()
    assert "leukodx patient report: P1" in html and "clozapine" in html.lower()
    run = leukodx("report", "-", *args, stdin=json.dumps(patient(7)))
    assert run.returncode == 0, run.stderr
    assert "leukodx patient report: p0007" in run.stdout
    one.write_text(one.read_text() + "P1,anc,0.1,10^9/dL,2025-02-20\n")  # placed in the table
    run = leukodx("report", str(one), *args)
    assert run.returncode == 2 and f"{one}:4, column 'unit': " in run.stderr, run.stderr


def test_report_reads_a_fhir_ndjson_file(tmp_path: Path) -> None:
    from engine.report.patient import patient_report
    from tests.unit.test_ndjson_input import NDJSON

    path = tmp_path / "Observation.ndjson"
    path.write_text(NDJSON + "\n", encoding="utf-8")
    assert "severe neutropenia" in patient_report(path, kb=MINI_KB).lower()


def test_batch_reads_jsonl_from_standard_input(tmp_path: Path) -> None:
    """``zcat export.jsonl.gz | leukodx batch -``: one case per line, each bad line its own
    error record (``-`` was "no such file", ``/dev/stdin`` one YAML document)."""
    lines = "\ufeff" + json.dumps(patient(1)) + "\r\n{broken\n" + json.dumps(patient(2)) + "\n"
    out = tmp_path / "out.jsonl"
    run = leukodx("batch", "-", "--rules", str(MINI_KB), "--out", str(out), "--workers", "1",
                  stdin=lines)  # fmt: skip
    assert run.returncode == 3, run.stderr
    records = {r["id"]: r for r in read_lines(out)}
    assert set(records) == {"p0001", "<stdin>:2", "p0002"}
    assert records["p0001"]["ok"] and records["p0002"]["ok"]
    assert records["p0002"]["source_file"] == "<stdin>" and records["p0002"]["line"] == 3
    assert records["<stdin>:2"]["error"]["field"] == "json"
    assert "3/? cases" in run.stderr  # stdin is not counted ahead (it can be read only once)
    twice = leukodx("batch", "-", "-", "--rules", str(MINI_KB), stdin="")
    assert twice.returncode == 2 and "standard input is given more than once" in twice.stderr


@pytest.mark.parametrize("option, target, problem", [
    ("--summary", ".", "it is a directory"),
    ("--report", "missing/r.html", "does not exist"),
    ("--table", "t.csv/", "it ends with '/'"),
    ("--out", "missing/o.jsonl", "does not exist"),
])  # fmt: skip
def test_an_output_that_cannot_be_written_stops_the_run_before_it_starts(
    tmp_path: Path, option: str, target: str, problem: str
) -> None:
    """An unwritable ``--summary`` (a directory) was found after the whole batch had run (exit 4,
    no summary): every output path is checked first, naming its option, and nothing runs."""
    inputs = write_jsonl(tmp_path / "in.jsonl", [patient(1)])
    out = tmp_path / "o.jsonl"
    outputs = {"--out": str(out), option: f"{tmp_path}/{target}"}  # a str keeps a last '/'
    run = leukodx("batch", str(inputs), "--rules", str(MINI_KB),
                  *(x for pair in outputs.items() for x in pair))  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(f"leukodx: {option}: cannot write ") and problem in run.stderr
    assert not out.exists()  # nothing ran
    report = leukodx("report", str(inputs), "-o", str(tmp_path), "--rules", str(MINI_KB))
    assert report.returncode == 2
    assert report.stderr.startswith(f"leukodx: --output: cannot write {tmp_path}: it is a dir")


def _rules_lint() -> bool:
    from engine.kb.load import lint

    return not any(p.severity == "error" for p in lint(RULES))


@pytest.mark.skipif(not _rules_lint(), reason="rules/ does not lint yet (KB being written)")
def test_smoke_over_the_bundled_cases(tmp_path: Path) -> None:
    run = leukodx(
        "batch",
        str(CASES),
        "--out",
        str(tmp_path / "r.jsonl"),
        "--summary",
        str(tmp_path / "s.json"),
        "--report",
        str(tmp_path / "r.html"),
        timeout=580,
    )
    assert run.returncode in (0, 3), run.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["n_cases"] == len(list(CASES.glob("*.yaml")))
