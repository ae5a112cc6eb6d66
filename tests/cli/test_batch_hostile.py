# SPDX-License-Identifier: Apache-2.0
"""``leukodx batch`` in real processes against hostile inputs and a hostile disk: one bad file
among good ones costs that case only, the run never reads its own output files, and a full disk
is exit 4 with every line written so far complete, after which ``--resume`` finishes the run."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.cli.test_hostile_input import LAUGHS
from tests.conftest import MINI_KB
from tests.unit.test_batch_support import patient, read_lines, write_jsonl

GOOD = [f"p{i:04d}" for i in range(4)]


def batch(*args: str, file_size: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if file_size is not None:  # Python ignores SIGXFSZ: a write past it fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return subprocess.run(
        [sys.executable, "-m", "engine", "batch", *args, "--rules", str(MINI_KB), "--workers", "1"],
        capture_output=True, text=True, timeout=180, check=False, preexec_fn=limit,
    )  # fmt: skip


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    for i in range(2):
        (root / f"good-{i}.json").write_text(json.dumps(patient(i)))
    write_jsonl(root / "more.jsonl", [patient(2), patient(3)])
    return root


def test_one_bad_file_among_good_ones_costs_that_case_only(inputs: Path, tmp_path: Path) -> None:
    (inputs / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (inputs / "laughs.yaml").write_text(LAUGHS)
    (inputs / "latin1.yaml").write_bytes(b"id: caf\xe9\nwbc: 3\n")
    (inputs / "huge.yaml").write_text("wbc: " + "9" * 10_000 + "\n")
    (inputs / "surrogate.json").write_text('{"id": "\\ud800", "wbc": 3}')
    with (inputs / "more.jsonl").open("a") as fh:
        fh.write('{"id": "\\udc80", "wbc": 3}\n')  # a lone surrogate id on a JSONL line
        fh.write(json.dumps({**patient(9), "as_of": "0001-01-01"}) + "\n")
    out = tmp_path / "out.jsonl"
    run = batch(str(inputs), "--out", str(out), "--quiet")
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    records = {r["id"].removeprefix(f"{inputs}/"): r for r in read_lines(out)}
    assert all(records[i]["ok"] for i in GOOD)
    errors = {k: r["error"]["message"] for k, r in records.items() if not r["ok"]}
    assert set(errors) == {"deep.json", "laughs.yaml", "latin1.yaml", "huge.yaml",
                           "surrogate.json", "more.jsonl:3", "p0009"}  # fmt: skip
    assert "nested deeper than 64 levels" in errors["deep.json"]
    assert "aliases expand to more than 10000 nodes" in errors["laughs.yaml"]
    assert "not UTF-8" in errors["latin1.yaml"]
    assert "10000-digit integer" in errors["huge.yaml"]
    assert "lone surrogate" in errors["surrogate.json"]
    assert "lone surrogate" in errors["more.jsonl:3"]
    assert "as_of: date out of range" in errors["p0009"]


def test_output_files_inside_the_input_folder_are_never_read(inputs: Path) -> None:
    out, summary, report = inputs / "results.jsonl", inputs / "summary.json", inputs / "r.html"
    args = [str(inputs), "--out", str(out), "--summary", str(summary), "--report", str(report)]
    for _ in range(2):  # the second run finds last run's results and summary in its input
        run = batch(*args, "--quiet")
        assert run.returncode == 0, run.stderr
        assert Counter(r["id"] for r in read_lines(out)) == Counter(GOOD)
    run = batch(*args, "--resume", "--quiet")
    assert run.returncode == 0, run.stderr
    assert Counter(r["id"] for r in read_lines(out)) == Counter(GOOD)
    assert json.loads(summary.read_text())["n_cases"] == len(GOOD)


def test_an_output_named_as_input_is_refused_before_it_is_emptied(inputs: Path) -> None:
    out = inputs / "results.jsonl"
    assert batch(str(inputs), "--out", str(out), "--quiet").returncode == 0
    before = out.read_bytes()
    run = batch(str(inputs), str(out), "--out", str(out), "--quiet")
    assert run.returncode == 2 and "is also an output of the run" in run.stderr, run.stderr
    assert out.read_bytes() == before


def test_a_full_disk_is_exit_4_with_its_own_message(inputs: Path, tmp_path: Path) -> None:
    run = batch(str(inputs), "--out", "/dev/full", "--quiet")
    assert run.returncode == 4, run.stderr
    assert "I/O error: cannot write to /dev/full: No space left on device" in run.stderr
    assert "run again with --resume" in run.stderr and "Traceback" not in run.stderr
    run = batch(str(inputs), "--out", str(tmp_path / "o.jsonl"), "--summary", "/dev/full")
    assert run.returncode == 4 and "cannot write /dev/full" in run.stderr, run.stderr


def test_resume_carries_on_once_space_is_freed(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", [patient(i) for i in range(12)])
    full, out = tmp_path / "full.jsonl", tmp_path / "out.jsonl"
    assert batch(str(inputs), "--out", str(full), "--quiet").returncode == 0
    limit = full.stat().st_size // 3  # room for about a third of the results
    run = batch(str(inputs), "--out", str(out), "--quiet", file_size=limit)
    assert run.returncode == 4, run.stderr
    assert "File too large" in run.stderr and "--resume" in run.stderr
    written = out.read_bytes()
    assert written.endswith(b"\n") and 0 < written.count(b"\n") < 12  # complete lines only
    assert all(json.loads(line)["ok"] for line in written.splitlines())
    run = batch(str(inputs), "--out", str(out), "--resume", "--quiet")
    assert run.returncode == 0, run.stderr
    assert Counter(r["id"] for r in read_lines(out)) == Counter(f"p{i:04d}" for i in range(12))


def test_a_reader_that_closes_stdout_early_is_a_failure_said_out_loud(tmp_path: Path) -> None:
    """Probe 8, D3: ``leukodx batch DIR | head`` stopped after two cases and exited 0 in silence."""
    root = tmp_path / "many"
    root.mkdir()
    write_jsonl(root / "cases.jsonl", [patient(i) for i in range(400)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "batch", str(root), "--rules", str(MINI_KB),
         "--workers", "1", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(50)
    proc.stdout.close()  # the reader goes away, like ``| head -c 50``
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=180) == 4, stderr
    assert "standard output was closed by its reader after" in stderr
    assert "the other cases were not run" in stderr and "Traceback" not in stderr


def test_a_full_temporary_folder_in_stdout_mode_does_not_point_at_resume(inputs: Path) -> None:
    """Probe 8, D2: without ``--out`` the results also go to a temporary file; when it cannot
    grow, the message told the user to ``--resume``, which needs ``--out``."""
    run = batch(str(inputs), "--quiet", file_size=100)
    assert run.returncode == 4, run.stderr
    assert "--resume" not in run.stderr
    assert "results written to stdout are kept in a temporary file" in run.stderr
    assert "or give --out FILE" in run.stderr
