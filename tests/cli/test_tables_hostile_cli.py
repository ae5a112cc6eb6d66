# SPDX-License-Identifier: Apache-2.0
"""The new table outputs and tools as a careless user drives them, in real processes: two outputs
of one run named the same file (the table used to overwrite the results it is read from), an
escape sequence in a patient id reaching the terminal, and a knowledge book cut short by a full
disk."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_batch_cli import BASE, leukodx

RESULTS = "patient_id,test,value,unit,date\np1,wbc,2100,/uL,2025-03-05\np1,anc,400,/uL,2025-03-05\n"


@pytest.mark.parametrize(
    ("first", "second"),
    [("--out", "--table"), ("--out", "--summary"), ("--report", "--table")],
)
def test_two_outputs_in_one_file_are_refused_before_the_run(
    tmp_path: Path, first: str, second: str
) -> None:
    results = tmp_path / "r.csv"
    results.write_text(RESULTS)
    same = tmp_path / "same.csv"
    done = leukodx("batch", str(results), first, str(same), second, f"{tmp_path}/./same.csv",
                   "--quiet")  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{second}: is the same file as {first}" in done.stderr
    assert not same.exists() and "Traceback" not in done.stderr


def test_distinct_outputs_and_dev_null_still_work(tmp_path: Path) -> None:
    results = tmp_path / "r.csv"
    results.write_text(RESULTS)
    out, table = tmp_path / "r.jsonl", tmp_path / "t.csv"
    done = leukodx("batch", str(results), "--out", str(out), "--table", str(table),
                   "--summary", "/dev/null", "--report", "/dev/null", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["ok"]
    assert table.read_text().splitlines()[1].startswith("p1,")


def test_an_escape_sequence_in_a_patient_id_is_shown_escaped(tmp_path: Path) -> None:
    pid = "p\x1b[2Jred"
    results = tmp_path / "r.csv"
    results.write_text(RESULTS.replace("p1,", f'"{pid}",'))
    patients = tmp_path / "p.csv"
    patients.write_text(f'patient_id,expected\n"{pid}",aplastic_anemia\n')
    done = leukodx("batch", str(results), "--patients", str(patients),
                   "--out", str(tmp_path / "o.jsonl"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "p\\x1b[2Jred: expected aplastic_anemia" in done.stdout


def _file_size_limit(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_book_cut_short_is_not_left_behind(tmp_path: Path) -> None:
    book = tmp_path / "book.html"
    done = subprocess.run(
        [*BASE, "kb", "book", "-o", str(book)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        preexec_fn=lambda: _file_size_limit(20_000),
    )
    assert done.returncode == 4, done.stderr
    assert "cannot write" in done.stderr and not book.exists()


def test_diagnose_stdin_refuses_a_table_and_never_reads_text_as_a_path(tmp_path: Path) -> None:
    table = "patient_id,test,value,unit,date\np1,wbc,2.1,10^9/L,2025-03-05\n"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "diagnose", "-"],
        input=table, capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout
    assert "standard input takes one patient as YAML or JSON" in done.stderr
    assert "No such file" not in done.stderr and "Traceback" not in done.stderr


def test_diagnose_names_the_companion_option_given_without_a_table(tmp_path: Path) -> None:
    meds = tmp_path / "m.csv"
    meds.write_text("patient_id,name,start,stop\np1,clozapine,2025-01-01,\n", encoding="utf-8")
    case = tmp_path / "p.yaml"
    case.write_text("wbc: 2.1\nanc: 0.4\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "diagnose", str(case), "--medications", str(meds)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--medications" in done.stderr and "--patients" not in done.stderr


def test_a_table_with_a_bad_header_among_other_inputs_is_its_error_record(tmp_path: Path) -> None:
    """A header without a value column stopped the whole batch (exit 2, nothing written), so the
    good inputs beside it were never evaluated; alone it still stops the run before writing."""
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,test\np1,wbc\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text(RESULTS, encoding="utf-8")
    out = tmp_path / "o.jsonl"
    done = leukodx("batch", str(bad), str(good), "--out", str(out), "--quiet")
    assert done.returncode == 3, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    failed = [r for r in records if not r["ok"]]
    assert [r["id"] for r in failed] == [str(bad)] and any(r["ok"] for r in records)
    assert "no column 'value'" in failed[0]["error"]["message"]
    alone = leukodx("batch", str(bad), "--out", str(tmp_path / "alone.jsonl"), "--quiet")
    assert alone.returncode == 2 and not (tmp_path / "alone.jsonl").exists()
