# SPDX-License-Identifier: Apache-2.0
"""The console script starts a batch's fork server before it loads the command line
(engine/batch/forkserver.py), and only for a run that will start local workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.batch.forkserver import wants_local_workers
from tests.conftest import CASES, ROOT


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["batch", "cases"], True),
        (["batch", "cases", "--workers", "2", "--out", "r.jsonl"], True),
        (["batch", "cases", "--executor", "local"], True),
        (["batch", "cases", "--executor", "dask"], False),
        (["batch", "cases", "--executor=dask"], False),
        (["batch", "--help"], False),
        (["batch", "-h"], False),
        (["diagnose", "case.yaml"], False),
        ([], False),
    ],
)
def test_which_command_lines_start_the_fork_server_early(args: list[str], expected: bool) -> None:
    assert wants_local_workers(args) is expected


_PROBE = (
    "import sys\n"
    "from multiprocessing import forkserver\n"
    "from engine.cli import entry\n"
    "sys.argv = ['leukodx', *sys.argv[1:]]\n"
    "code = entry.main()\n"
    "import gc\n"
    "running = forkserver._forkserver._forkserver_pid is not None\n"
    "print(code, running, gc.get_threshold()[0], gc.get_freeze_count() > 0, file=sys.stderr)\n"
)


def _console(*args: str) -> tuple[int, bool]:
    """Run the console script's ``main`` in a fresh process: its exit code, and whether a fork
    server is running when it returns. A batch also leaves Python's collector threshold alone
    and freezes the heap when it ends (engine/cli/entry.py)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    code, running, threshold, frozen = done.stderr.strip().splitlines()[-1].split()
    if args[0] == "batch":
        assert (threshold, frozen) == ("700", "True")
    return int(code), running == "True"


def test_a_batch_that_fails_before_its_pool_has_started_the_fork_server_all_the_same(
    tmp_path: Path,
) -> None:
    # The input is missing (exit 2): the pool never starts, yet the server was started first.
    assert _console("batch", str(tmp_path / "missing"), "--out", str(tmp_path / "r.jsonl")) == (
        2,
        True,
    )


def test_no_fork_server_for_help_or_a_dask_run(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    assert _console("batch", missing, "--executor", "dask") == (2, False)
    assert _console("diagnose", missing) == (2, False)


def test_a_batch_from_the_console_script_gives_the_same_lines_as_in_process(tmp_path: Path) -> None:
    from engine.batch.run import BatchOptions, run_batch

    cases = sorted(CASES.glob("*.yaml"))[:6]
    for case in cases:
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / case.name).write_bytes(case.read_bytes())
    here, there = tmp_path / "here.jsonl", tmp_path / "there.jsonl"
    run_batch([tmp_path / "in"], here, BatchOptions(workers=1))
    done = subprocess.run(
        [sys.executable, "-m", "engine", "batch", str(tmp_path / "in"), "--out", str(there),
         "--workers", "2", "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    def by_id(path: Path) -> dict[str, dict[str, object]]:
        return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}

    assert by_id(here) == by_id(there) and len(by_id(here)) == len(cases)
