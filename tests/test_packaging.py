# SPDX-License-Identifier: Apache-2.0
"""The built wheel is complete: every sub-package of engine/, ``py.typed`` and the whole
knowledge base are inside, and the unpacked wheel diagnoses a case from outside the checkout.

Editable installs find ``rules/`` beside ``engine/`` and so cannot show a package left out of
the wheel; this test builds the real thing with the project's own build backend.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.fail(f"the wheel did not build:\n{done.stderr[-3000:]}")
    (built,) = out.glob("leukodx-*.whl")
    return built


def test_the_wheel_holds_every_sub_package_py_typed_and_the_rules(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {
        p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "engine").rglob("__init__.py")
    }
    assert packages, "no packages found under engine/"
    for package in sorted(packages):
        assert f"{package}/__init__.py" in names, f"{package} is missing from the wheel"
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "engine").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert "engine/py.typed" in names
    rules = {"engine/" + p.relative_to(ROOT).as_posix() for p in (ROOT / "rules").rglob("*.yaml")}
    assert rules and rules <= names, sorted(rules - names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_unpacked_wheel_runs_with_its_own_rules(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    case = ROOT / "cases" / "clozapine_induced-01.yaml"
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r});"
        "import engine, engine.kb.paths as p;"
        "print(p.default_rules_dir());"
        f"print(engine.diagnose({str(case)!r}).candidates[0].cause)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rules_dir, top = done.stdout.split()
    assert Path(rules_dir).is_relative_to(site), rules_dir
    assert top == "clozapine_induced"
