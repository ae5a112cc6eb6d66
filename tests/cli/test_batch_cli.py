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


def leukodx(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BASE, *args], capture_output=True, text=True, timeout=timeout, check=False
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
