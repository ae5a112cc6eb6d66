# SPDX-License-Identifier: Apache-2.0
"""Hostile input against the real command line (``python -m engine ...`` in a subprocess): a
billion-laughs file, a self-referencing alias, 100,000-deep nesting, a 10,000-digit integer,
1e400, an overflowing duration, a year-1 date, a lone surrogate, invalid UTF-8, an 11 MB file,
the same on standard input, and a billion-laughs rule file under ``lint``. Each must exit 2 with a
message naming the line or the field: never 1, never a traceback, never gigabytes of memory."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MINI_KB

#: A child may use at most this much memory: a reader that expands a billion laughs fails loudly.
MEMORY_LIMIT = 1 << 30

LAUGHS = 'lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)
)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def leukodx(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-m", "engine", *args], input=stdin, capture_output=True, timeout=120,
        check=False, preexec_fn=_limit_memory,
    )  # fmt: skip
    return subprocess.CompletedProcess(run.args, run.returncode, run.stdout.decode(),
                                       run.stderr.decode("utf-8", "replace"))  # fmt: skip


def assert_refused(run: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    for phrase in phrases:
        assert phrase in run.stderr, run.stderr[-2000:]


HOSTILE: dict[str, tuple[str, bytes, tuple[str, ...]]] = {
    "billion laughs": ("p.yaml", LAUGHS.encode(), ("line", "aliases expand to more than 10000")),
    "self-referencing alias": ("p.yaml", b"wbc: 3\nlabs: &a [*a]\n", ("line 2", "contains it")),
    "deep YAML": ("p.yaml", b"wbc: 3\nx: " + b"[" * 100_000 + b"]" * 100_000,
                  ("line 2", "nested deeper than 64 levels")),
    "deep JSON": ("p.json", b'{"wbc": 3,\n"labs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                  ("line 2", "nested deeper than 64 levels")),
    "huge integer": ("p.yaml", b"wbc: 3\nage: " + b"9" * 10_000 + b"\n",
                     ("line 2", "a 10000-digit integer")),
    "huge JSON integer": ("p.json", b'{"wbc": 3,\n"age": ' + b"9" * 10_000 + b"}",
                          ("line 2", "a 10000-digit integer")),
    "1e400": ("p.yaml", b"wbc: 3\nbmi: 1e400\n", ("line 2", "number out of range: 1e400")),
    "NaN in JSON": ("p.json", b'{"wbc": 3,\n"bmi": NaN}', ("line 2", "NaN is not a number")),
    "overflowing duration": ("p.yaml", b"wbc: 3\nleukopenia_duration_days: " + b"1" + b"0" * 23,
                             ("leukopenia_duration_days:", "36525")),
    "year-1 date": ("p.yaml", b"wbc: 3\nas_of: 0001-01-01\n",
                    ("as_of: date out of range", "1900-01-01")),
    "year-1 lab date": ("p.yaml", b"labs:\n- {test: wbc, value: 3, unit: K/uL, date: 0001-01-01}\n",
                        ("labs[0].date: date out of range",)),
    "lone surrogate id": ("p.json", b'{"wbc": 3,\n"id": "\\ud800"}', ("line 2", "lone surrogate")),
    "invalid UTF-8": ("p.yaml", b"wbc: 3\nid: caf\xe9\n", ("line 2", "not UTF-8")),
    "too large": ("p.yaml", b"wbc: 3\n" + b"#" * (11 * 1024 * 1024), ("file too large",)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_diagnose_refuses_hostile_files(name: str, tmp_path: Path) -> None:
    filename, content, phrases = HOSTILE[name]
    path = tmp_path / filename
    path.write_bytes(content)
    assert_refused(leukodx("diagnose", str(path), "--rules", str(MINI_KB)), str(path), *phrases)


@pytest.mark.parametrize("name", ["billion laughs", "deep JSON", "huge integer", "year-1 date"])
def test_stdin_is_read_with_the_same_limits(name: str) -> None:
    _, content, phrases = HOSTILE[name]
    run = leukodx("diagnose", "-", "--rules", str(MINI_KB), stdin=content)
    reader = name != "year-1 date"  # errors of the reader name the source; of the facts, the field
    assert_refused(run, *(("<stdin>",) if reader else ()), *phrases)


def test_report_refuses_a_hostile_file(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS)
    assert_refused(leukodx("report", str(path), "--rules", str(MINI_KB)), "aliases expand")


def test_lint_refuses_a_billion_laughs_rule_file(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(MINI_KB, kb)
    (kb / "rules" / "laughs.yaml").write_text(LAUGHS)
    run = leukodx("lint", str(kb))
    assert_refused(run, "rules/laughs.yaml:", "aliases expand to more than 10000 nodes")


def test_the_shorthand_asks_for_the_unit_of_an_ambiguous_count(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"wbc": 2.1, "anc": 400}')
    run = leukodx("diagnose", str(path), "--rules", str(MINI_KB))
    assert_refused(run, "anc: anc 400 without a unit is ambiguous", '"unit": "/uL"')
