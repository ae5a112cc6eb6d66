# SPDX-License-Identifier: Apache-2.0
"""A batch whose workers read the cases and hand back bytes: same files, same figures.

Real worker processes and the bundled knowledge base and cases: the figures added up during the
run from the workers' small records (:mod:`engine.batch.slim`) equal those computed from the
results file; a case whose reading runs out of time costs that case only; the directory walk
finds what ``sorted(rglob("*"))`` found."""

from __future__ import annotations

import json
import os
import shutil
from itertools import islice
from pathlib import Path

import pytest

from engine.batch.cases import CASE_SUFFIXES, JSONL_SUFFIXES, iter_sources
from engine.batch.metrics import Tally, iter_misses, iter_records, summarize
from engine.batch.run import BatchOptions, read_done_ids, run_batch
from tests.conftest import CASES, MINI_KB
from tests.unit.test_batch_support import patient, write_jsonl


def test_figures_added_up_during_the_run_equal_those_of_the_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    stats = run_batch([CASES], out, BatchOptions(workers=2, chunk_size=7))
    records = list(iter_records(out))
    assert len(records) == len(list(CASES.glob("*.yaml"))) == stats.written
    assert any(r.get("drugs") for r in records)  # the per-drug view is exercised
    expected = summarize(records)
    assert stats.tally.summary.as_dict() == expected.as_dict()
    assert expected.misses and stats.tally.misses == list(islice(iter_misses(records), 10))
    # resumed: the lines already there are counted from the file
    part = tmp_path / "part.jsonl"
    part.write_bytes(b"".join(out.read_bytes().splitlines(keepends=True)[:40]))
    tally = Tally()
    assert len(read_done_ids(part, tally)) == 40
    resumed = run_batch([CASES], part, BatchOptions(workers=2), resume=True)
    assert resumed.skipped == 40 and resumed.written == len(records) - 40
    assert resumed.tally.summary.as_dict() == summarize(iter_records(part)).as_dict()


def test_a_case_file_too_slow_to_read_costs_only_itself(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    for i in range(5):
        (root / f"case-{i}.json").write_text(json.dumps(patient(i)))
    # a flow sequence of 1.5 million items: seconds of reading, far past the limit below
    (root / "case-2-big.yaml").write_text("id: big\nnotes: [" + "1, " * 1_500_000 + "1]\n")
    write_jsonl(root / "more.jsonl", [patient(i) for i in range(10, 14)])
    out = tmp_path / "out.jsonl"
    opts = BatchOptions(rules=str(MINI_KB), workers=2, chunk_size=4, timeout=1.0)
    stats = run_batch([root], out, opts)
    records = {r["id"]: r for r in iter_records(out)}
    big = str(root / "case-2-big.yaml")
    assert stats.written == 10 == len(records) and stats.failed == 1
    assert records[big]["error"]["field"] == "(timeout)" and records[big]["source_file"] == big
    assert all(r["ok"] for k, r in records.items() if k != big)


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_the_directory_walk_finds_what_rglob_found(tmp_path: Path) -> None:
    def reference(paths: list[Path], exclude: list[Path]) -> list[Path]:
        seen, out = {x.resolve() for x in exclude}, []
        suffixes = CASE_SUFFIXES + JSONL_SUFFIXES
        for p in paths:
            found = sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in suffixes)
            for f in found if p.is_dir() else [p]:
                if f.resolve() not in seen:
                    seen.add(f.resolve())
                    out.append(f)
        return out

    t = tmp_path / "t"
    for folder in ("a/b", "a-c", "z"):
        (t / folder).mkdir(parents=True)
    names = ("a/x.yaml", "a/b/y.JSON", "a-c/q.yml", ".h.yaml", ".yaml", "x.yaml.", "n.jsonl",
             "z/m.ndjson", "a/b/notes.txt", "A.yaml")  # fmt: skip
    for name in names:
        (t / name).write_text("id: x\n")
    (t / "link_dir").symlink_to(t / "a")
    (t / "link.yaml").symlink_to(t / "a" / "x.yaml")
    (t / "broken.yaml").symlink_to(t / "nowhere.yaml")
    shutil.copy(t / "A.yaml", t / "z" / "A.yaml")
    for paths, exclude in (
        ([t], []), ([t / "a", t], []), ([t, t / "link.yaml"], []), ([t], [t / "a" / "x.yaml"]),
        ([t / "z", t / "link_dir"], [t / "z" / "A.yaml"]),
    ):  # fmt: skip
        assert list(iter_sources(paths, exclude)) == reference(paths, exclude)
