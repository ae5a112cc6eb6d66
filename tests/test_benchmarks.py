# SPDX-License-Identifier: Apache-2.0
"""The bundled-cases benchmark (``python -m benchmarks.cases``) runs as users run it and writes
the figures it promises. Timings and targets are never asserted: they depend on the machine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.cases import replicate
from tests.conftest import ROOT

STAGES = {"parse", "facts", "infer", "explain", "json"}
CASES = ("clozapine_induced-01.yaml", "cyclic_neutropenia-01.yaml", "hiv-01.yaml")


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.cases", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_floor_ratio_smoke_run_writes_the_figures(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    for name in CASES:
        shutil.copy(ROOT / "cases" / name, cases / name)
    out = tmp_path / "results.json"
    done = _bench(tmp_path, "--quick", "--only", "floor-ratio", "--reps", "1",
                  "--cases", str(cases), "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["sections"] == ["floor-ratio"]
    assert report["cases"]["count"] == len(CASES)
    assert len(report["load_average_before"]) == len(report["load_average_after"]) == 3
    assert report["versions"]["leukodx"] and report["versions"]["clipspy"]
    figures = report["figures"]["floor-ratio"]
    for config in ("floor", "clips"):
        assert figures[config]["cpu_ms_per_case"] > 0
        assert figures[config]["diagnoses"] == len(CASES)
        assert set(figures[config]["stage_ms_per_case"]) == STAGES
    assert figures["floor"]["rules_fired"] == 0  # the floor runs no inference
    assert figures["clips"]["rules_fired"] > 0
    assert figures["clips_over_floor"] > 0
    (target,) = report["targets"]
    assert target["section"] == "floor-ratio" and target["target"] == "<= 2.5"
    assert target["value"] > 0 and isinstance(target["met"], bool)
    assert "CLIPS CPU per case / floor" in done.stdout  # the table


def test_replicated_case_files_have_distinct_ids(tmp_path: Path) -> None:
    sources = [ROOT / "cases" / name for name in CASES]
    assert replicate(sources, 3, tmp_path) == 9
    ids = [
        re.search(r"^id: (\S+)$", p.read_text(), flags=re.M).group(1)  # type: ignore[union-attr]
        for p in sorted(tmp_path.glob("*.yaml"))
    ]
    assert len(ids) == len(set(ids)) == 9
    assert "clozapine_induced-01-r002" in ids


def test_an_unknown_section_or_empty_case_folder_is_refused(tmp_path: Path) -> None:
    bad = _bench(tmp_path, "--only", "nonsense", "-o", str(tmp_path / "r.json"))
    assert bad.returncode == 2 and "nonsense" in bad.stderr
    empty = _bench(tmp_path, "--cases", str(tmp_path), "-o", str(tmp_path / "r.json"))
    assert empty.returncode == 2 and "no YAML case files" in empty.stderr
    assert not (tmp_path / "r.json").exists()
