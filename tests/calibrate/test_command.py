# SPDX-License-Identifier: Apache-2.0
"""``leukodx calibrate`` as a real process on 20 bundled cases: outputs written (with the
``--headroom`` section), figures in [0, 1], byte-identical on a second run, a broken case file
reported and skipped, bad arguments exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.kb.yamlio import load_yaml
from tests.conftest import CASES

BASE = [sys.executable, "-m", "engine"]


def leukodx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASE, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("calibrate") / "cases"
    root.mkdir()
    for path in sorted(CASES.glob("*.yaml"))[::5][:20]:
        shutil.copy(path, root / path.name)
    (root / "zz-broken.yaml").write_text("id: broken\nlabs: [\n")
    return root


def run(case_dir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    out.mkdir()
    return leukodx(
        "calibrate",
        str(case_dir),
        "--folds",
        "2",
        "--report",
        str(out / "calibration.md"),
        "--json",
        str(out / "calibration.json"),
        "--write",
        str(out / "fitted.yaml"),
        "--headroom",
    )


def test_calibrate_writes_reproducible_outputs(case_dir: Path, tmp_path: Path) -> None:
    first, second = run(case_dir, tmp_path / "a"), run(case_dir, tmp_path / "b")
    assert first.returncode == 0, first.stderr
    assert "zz-broken.yaml" in first.stderr and "skipped" in first.stdout
    assert "out-of-fold CV" in first.stdout and "in-sample" in first.stdout
    assert "headroom" in first.stdout and "per doubling" in first.stdout
    for name in ("calibration.md", "calibration.json", "fitted.yaml"):
        a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert a and a == b, name
    assert first.stdout == second.stdout

    doc = json.loads((tmp_path / "a" / "calibration.json").read_text())
    assert doc["cases"] == 20 and [Path(s["file"]).name for s in doc["skipped"]] == [
        "zz-broken.yaml"
    ]
    for figures in doc["metrics"].values():
        for key in ("top1", "top3", "mrr", "listed"):
            assert 0.0 <= figures[key] <= 1.0
    for cal in doc["calibration"].values():
        assert 0.0 <= cal["brier"] <= 2.0
        assert sum(b["count"] for b in cal["bins"]) > 0
        for b in cal["bins"]:
            for key in ("mean_predicted", "observed"):
                assert b[key] is None or 0.0 <= b[key] <= 1.0

    room = doc["headroom"]
    assert [p["fraction"] for p in room["learning_curve"]] == [0.25, 0.5, 0.75, 1.0]
    assert [p["penalty"] for p in room["residual"]] == [None, 3.0, 10.0, 30.0]
    for point in room["learning_curve"] + room["residual"]:
        assert 0.0 <= point["top1"] <= point["top3"] <= 1.0
    assert room["observations"] > 0 and room["lambda"] == doc["lambda"]
    assert "## Headroom" in (tmp_path / "a" / "calibration.md").read_text()

    fitted = load_yaml(tmp_path / "a" / "fitted.yaml")
    assert fitted["cases"] == 20 and fitted["lambda"] == doc["lambda"]
    assert set(fitted) == {
        "cases", "fitted_on", "groups", "lambda", "method", "other_log_odds",
        "other_log_odds_prior", "priors", "rules",
    }  # fmt: skip
    for rule in fitted["rules"].values():
        assert set(rule) == {"cases", "lr", "prior_lr"} and rule["cases"] >= 1
        assert (rule["lr"] >= 1) == (rule["prior_lr"] >= 1) or rule["lr"] == 1
    text = (tmp_path / "a" / "fitted.yaml").read_text()
    assert text.startswith("# Written by `leukodx calibrate`")


def test_bad_arguments_exit_2(case_dir: Path, tmp_path: Path) -> None:
    assert leukodx("calibrate", str(case_dir), "--folds", "1").returncode == 2
    missing = leukodx("calibrate", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    too_many = leukodx("calibrate", str(case_dir), "--folds", "50")
    assert too_many.returncode == 2 and "--folds" in too_many.stderr


def test_missing_extra_names_the_extra(case_dir: Path, tmp_path: Path) -> None:
    """Without numpy (hidden by a sitecustomize on the path) the command exits 2 with the hint."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'scipy'):\n"
        "            raise ImportError(name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    result = subprocess.run(
        [*BASE, "calibrate", str(case_dir), "--folds", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PYTHONPATH": f"{hide}:{Path(__file__).resolve().parents[2]}", "PATH": ""},
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'leukodx[calibrate]'" in result.stderr
