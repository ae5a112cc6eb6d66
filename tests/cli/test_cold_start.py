# SPDX-License-Identifier: Apache-2.0
"""What a cold ``leukodx diagnose`` loads, and the console script's collector policy.

A cold start imports only what the asked view needs (no table reader, FHIR reader, why-not
machinery or knowledge-base builder for a case file and a warm cache; no note renderer for
``--json``), while tables, FHIR input and ``--explain`` still get theirs. Timings are measured
by ``python -m benchmarks.cases --only cold-start``, never asserted here.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest

from engine.api import diagnose
from engine.cli import entry
from tests.conftest import CASES, ROOT

CASE = str(CASES / "clozapine_induced-01.yaml")
PREFETCH = ROOT / "examples" / "fhir" / "patient-view-prefetch.json"

_LOADED = (
    "import sys, io, contextlib\n"
    "from engine.cli.main import main\n"
    "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
    "    code = main(sys.argv[1:])\n"
    "assert code == 0 and out.getvalue(), code\n"
    "print(' '.join(sorted(m for m in sys.modules if m.startswith('engine.'))))"
)


def _loaded(*args: str) -> set[str]:
    """The engine modules a fresh process has loaded after ``leukodx ARGS`` (cache warmed by a
    first run, as after any earlier call)."""
    command = [sys.executable, "-c", _LOADED, *args]
    for _ in range(2):
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_a_cold_diagnose_of_a_case_file_loads_no_other_machinery() -> None:
    loaded = _loaded("diagnose", CASE)
    assert {"engine.api", "engine.render", "engine.backends.clips"} <= loaded
    for module in ("engine.batch.tables", "engine.batch.grouping", "engine.why_not",
                   "engine.fhir.convert", "engine.kb.build", "engine.kb.check"):  # fmt: skip
        assert module not in loaded, module


def test_json_output_does_not_load_the_note_renderer() -> None:
    loaded = _loaded("diagnose", CASE, "--json")
    assert "engine.api" in loaded and "engine.render" not in loaded


def test_explain_and_fhir_input_still_load_what_they_need() -> None:
    assert "engine.why_not" in _loaded("diagnose", CASE, "--explain", "clozapine_induced")
    assert "engine.fhir.convert" in _loaded("diagnose", str(PREFETCH))


def test_a_prefetch_map_is_still_read_as_fhir() -> None:
    """A CDS Hooks prefetch map has no ``resourceType`` of its own, only in its values."""
    prefetch = json.loads(PREFETCH.read_text(encoding="utf-8"))
    assert "resourceType" not in prefetch
    result = diagnose(prefetch)
    assert "Observation/pv-glucose" in {i.item for i in result.ignored_inputs}
    assert result.candidates


def test_an_in_process_call_leaves_the_collector_alone(capsys: pytest.CaptureFixture[str]) -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    assert entry.main(["diagnose", CASE, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["candidates"]
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


@pytest.mark.parametrize(("argv", "tuned"), [(["diagnose", CASE], True), (["--help"], False)])
def test_the_console_script_tunes_the_collector_for_one_shot_commands(
    argv: list[str], tuned: bool
) -> None:
    code = (
        "import contextlib, gc, io, sys\n"
        "from engine.cli.entry import main\n"
        "sys.argv = ['leukodx', *sys.argv[1:]]\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert out.getvalue()\n"
        "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT,
        timeout=120, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    threshold, frozen = done.stdout.split()
    expected = (str(entry.GC_THRESHOLD), "True") if tuned else ("700", "False")
    assert (threshold, frozen) == expected
