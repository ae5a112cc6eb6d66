# SPDX-License-Identifier: Apache-2.0
"""engine.batch.run_batch: every case recorded exactly once, resume, executors agree."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from engine.batch.run import BatchOptions, run_batch
from engine.errors import InputError, KnowledgeBaseError
from tests.conftest import MINI_KB
from tests.unit.test_batch_support import patient, read_lines, write_jsonl

OPTS = BatchOptions(rules=str(MINI_KB), workers=2, chunk_size=4)


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    root.mkdir()
    write_jsonl(root / "many.jsonl", [patient(i, anc=0.2 + 0.1 * (i % 15)) for i in range(24)])
    (root / "corrupt.yaml").write_text("id: broken\nlabs: [\n")
    (root / "invalid.yaml").write_text(
        "id: bad-unit\nlabs:\n  - {test: anc, value: 1, unit: furlongs, date: 2025-01-01}\n"
    )
    (root / "dup.json").write_text(json.dumps(patient(3)))
    return root


def test_every_case_is_recorded_once_and_errors_name_the_field(
    inputs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    seen: list[bool] = []
    stats = run_batch([inputs], out, OPTS, on_record=lambda line, ok: seen.append(ok))
    records = read_lines(out)
    ids = Counter(r["id"] for r in records)
    assert len(records) == 27 == stats.written == len(seen) and max(ids.values()) == 1
    errors = {r["id"]: r["error"] for r in records if not r["ok"]}
    assert stats.failed == len(errors) == 2 == seen.count(False)
    assert errors[f"{inputs}/corrupt.yaml"]["field"] == "line 3"
    assert errors["bad-unit"]["field"] == "labs[0].unit"
    again = next(r for r in records if r["id"] == f"{inputs}/many.jsonl:4")
    assert again["ok"] and again["duplicate_of"] == "p0003"  # p0003 again, in dup.json first
    ok = next(r for r in records if r["id"] == "p0000")
    assert ok["differential"]["candidates"][0]["cause"] == "clozapine_induced"


def test_resume_appends_only_the_missing_cases(inputs: Path, tmp_path: Path) -> None:
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    run_batch([inputs], full, OPTS)
    lines = full.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:10]) + lines[10][:25])  # a kill cut line 11 short
    stats = run_batch([inputs], part, OPTS, resume=True)
    assert stats.skipped == 10 and stats.written == 17
    assert sorted(part.read_text().splitlines()) == sorted(full.read_text().splitlines())


def test_one_worker_and_two_workers_agree(inputs: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    run_batch([inputs / "many.jsonl"], one, BatchOptions(rules=str(MINI_KB), workers=1))
    run_batch([inputs / "many.jsonl"], two, OPTS)
    assert one.read_text().splitlines() == sorted(one.read_text().splitlines())  # input order
    assert sorted(one.read_text().splitlines()) == sorted(two.read_text().splitlines())


def test_bad_arguments_raise_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="executor"):
        run_batch([tmp_path], tmp_path / "o.jsonl", BatchOptions(executor="spark"))
    with pytest.raises(KnowledgeBaseError):
        run_batch([tmp_path], tmp_path / "o.jsonl", BatchOptions(rules=str(tmp_path)))
    assert not (tmp_path / "o.jsonl").exists()


def test_dask_local_cluster_gives_identical_results(inputs: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    local, dask = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    run_batch([inputs], local, OPTS)
    opts = BatchOptions(rules=str(MINI_KB), workers=2, chunk_size=4, executor="dask")
    stats = run_batch([inputs], dask, opts)
    assert stats.written == 27 and stats.failed == 2
    assert sorted(local.read_text().splitlines()) == sorted(dask.read_text().splitlines())
