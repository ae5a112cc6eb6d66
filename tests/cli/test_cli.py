# SPDX-License-Identifier: Apache-2.0
"""The leukodx command in real processes: exit codes 0/1/2, messages without tracebacks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.differential import DISCLAIMER
from engine.version import __version__
from tests.conftest import CASES, MINI_KB, ROOT

PATIENT = """\
id: cli-1
as_of: 2025-03-01
labs:
  - {test: wbc, value: 6.1, unit: "10^9/L", date: 2024-11-20}
  - {test: anc, value: 3.8, unit: "10^9/L", date: 2024-11-20}
  - {test: wbc, value: 2900, unit: /uL, date: 2025-02-10}
  - {test: anc, value: 300, unit: /uL, date: 2025-02-10}
medications:
  - {name: clozapine, start: 2024-12-01}
findings: [fever]
expected: [clozapine_induced]
source: "test"
"""


def leukodx(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture()
def patient_file(tmp_path: Path) -> Path:
    path = tmp_path / "patient.yaml"
    path.write_text(PATIENT)
    return path


def test_version() -> None:
    result = leukodx("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"leukodx {__version__}"


def test_console_script_is_installed() -> None:
    exe = shutil.which("leukodx") or str(Path(sys.executable).parent / "leukodx")
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and __version__ in result.stdout


def test_diagnose_text_is_the_short_note_and_full_the_complete_one(patient_file: Path) -> None:
    result = leukodx("diagnose", str(patient_file), "--rules", str(MINI_KB))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    order = [out.index(h) for h in ("COUNTS", "ALERTS", "FINDINGS: ", "DIFFERENTIAL", "NEXT STEP")]
    assert order == sorted(order)
    assert re.search(r"ANC \(10\^9/L\)\s+0\.3 on 2025-02-10\s+0\.3 on 2025-02-10\s+2\s+given", out)
    assert "CRITICAL [finding fever; ANC 0.3 x 10^9/L on 2025-02-10] Febrile neutropenia" in out
    assert "1. clozapine_induced (test label): unlikely (21%)" in out
    assert "+ Neutropenia began within 18 weeks of clozapine. (LR 7.4, judgement)" in out
    assert " ".join(out.split()).endswith(" ".join(DISCLAIMER.split()))
    assert len(out.splitlines()) <= 40 and "True" not in out and "REFERENCES" not in out
    full = leukodx("diagnose", str(patient_file), "--full", "--rules", str(MINI_KB)).stdout
    assert "not a diagnosis and not a medical device" in full
    assert full.index("ALERTS") < full.index("FINDINGS") < full.index("DIFFERENTIAL")
    assert "1. clozapine_induced" in full and "because, from the drug label:" in full
    assert "Neutropenia began within 18 weeks of clozapine." in full
    assert "REFERENCES" in full and "[1]" in full


def test_diagnose_json_and_stdin(patient_file: Path) -> None:
    from_file = leukodx("diagnose", str(patient_file), "--json", "--rules", str(MINI_KB))
    from_stdin = leukodx("diagnose", "-", "--json", "--rules", str(MINI_KB), stdin=PATIENT)
    assert from_file.returncode == from_stdin.returncode == 0
    assert from_file.stdout == from_stdin.stdout
    data = json.loads(from_file.stdout)
    assert data["candidates"][0]["cause"] == "clozapine_induced"


def test_explain_keeps_the_whole_chain_and_the_disclaimer(patient_file: Path) -> None:
    result = leukodx(
        "diagnose", str(patient_file), "--explain", "clozapine_induced", "--rules", str(MINI_KB)
    )
    assert result.returncode == 0
    assert "<- neutropenia = True by rule find.neutropenia" in result.stdout
    assert "Score = " in result.stdout and "REFERENCES" in result.stdout
    assert " ".join(result.stdout.split()).endswith(" ".join(DISCLAIMER.split()))


def test_explain_a_cause_that_is_not_listed_says_why_not(patient_file: Path) -> None:
    """From a file and from stdin (the why-not reruns the patient's facts from either)."""
    args = ("--explain", "sle", "--rules", str(MINI_KB))
    for result in (
        leukodx("diagnose", str(patient_file), *args),
        leukodx("diagnose", "-", *args, stdin=PATIENT),
    ):
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert out.startswith("sle (test label) [sle] is not listed in this differential.")
        assert "Its probability, " in out and "26th of the 29 causes by score" in out
        assert "+ Test rule for sle. (rule mini.sle_flag; LR 1.6, judgement)" in out
        assert "lacks: condition pregnancy (unknown: not in the input)" in out
        assert "- pregnancy: up to +0.47 (rules mini.sle_flag)" in out
        assert " ".join(out.split()).endswith(" ".join(DISCLAIMER.split()))


def test_explain_on_a_fhir_bundle_reads_the_bundle_again() -> None:
    bundle = ROOT / "examples" / "fhir" / "clozapine-patient-bundle.json"
    result = leukodx("diagnose", str(bundle), "--explain", "hypersplenism")
    assert result.returncode == 0, result.stderr
    assert "[hypersplenism] is not listed" in result.stdout
    assert "lacks: finding splenomegaly (unknown: not in the input)" in result.stdout


@pytest.mark.parametrize(("word", "message"), [
    ("clozapin_induced", "--explain: unknown cause (got 'clozapin_induced'; expected a cause id "
     f"of knowledge base mini-kb; each cause is a file {MINI_KB}/causes/<cause id>.yaml); did "
     "you mean 'clozapine_induced'?"),
    ("clozapine", "--explain: clozapine is a medication (clozapine), not a cause (expected a "
     "cause id; the causes whose rules name it: clozapine_induced); did you mean "
     "'clozapine_induced'?"),
    ("Clozaril", "--explain: Clozaril is a medication (clozapine), not a cause"),
    ("fever", "--explain: fever is a finding, not a cause (expected a cause id)"),
    ("SLE", "did you mean 'sle'?"),
])  # fmt: skip
def test_explain_refuses_what_is_not_a_cause(patient_file: Path, word: str, message: str) -> None:
    result = leukodx("diagnose", str(patient_file), "--explain", word, "--rules", str(MINI_KB))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("leukodx: --explain: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    if "<cause id>.yaml" in message:  # the file it points to exists (causes.yaml did not)
        assert (MINI_KB / "causes" / "clozapine_induced.yaml").is_file()


def test_report_carries_the_disclaimer(patient_file: Path) -> None:
    result = leukodx("report", str(patient_file), "--rules", str(MINI_KB))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('data-role="disclaimer"') == 2 and DISCLAIMER in result.stdout
    assert ">True<" not in result.stdout and "neutropenia severity: severe" in result.stdout


def test_a_clinician_view_with_the_patient_audience_is_refused_not_ignored() -> None:
    case = str(CASES / "clozapine_induced-01.yaml")
    run = leukodx("diagnose", case, "--explain", "clozapine_induced", "--audience", "patient")
    assert run.returncode == 2 and run.stdout == ""
    assert "--explain is a clinician's view" in run.stderr
    run = leukodx("diagnose", case, "--full", "--audience", "patient")
    assert run.returncode == 2 and "--full is a clinician's view" in run.stderr


def test_report_of_a_file_holding_one_word_says_so(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("hello world\n")
    run = leukodx("report", str(path), "-o", str(tmp_path / "x.html"))
    assert run.returncode == 2
    assert "patient facts must be a mapping" in run.stderr and "No such file" not in run.stderr


def test_invalid_input_exits_2_with_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("labs:\n  - {test: wbc, value: 3.1, unit: 10^9/dL, date: 2025-01-01}\n")
    result = leukodx("diagnose", str(bad), "--rules", str(MINI_KB))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"leukodx: {bad}: labs[0].unit: unknown unit for wbc")
    assert "Traceback" not in result.stderr


def test_misspelt_key_and_yaml_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("wbc: 3\nmedicatons: [clozapine]\n")
    result = leukodx("diagnose", str(bad), "--rules", str(MINI_KB))
    assert result.returncode == 2
    assert (
        "medicatons: unknown field" in result.stderr
        and "did you mean 'medications'" in result.stderr
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("wbc: 3\nwbc: 4\n")
    result = leukodx("diagnose", str(broken), "--rules", str(MINI_KB))
    assert result.returncode == 2 and "line 2: duplicate key 'wbc'" in result.stderr
    result = leukodx("diagnose", str(tmp_path / "nope.yaml"), "--rules", str(MINI_KB))
    assert result.returncode == 2 and "cannot read file" in result.stderr


def test_lint_ok_and_broken(tmp_path: Path) -> None:
    ok = leukodx("lint", str(MINI_KB))
    assert ok.returncode == 0 and ok.stdout.startswith("knowledge base OK")
    broken = tmp_path / "kb"
    shutil.copytree(MINI_KB, broken)
    rules = broken / "rules" / "findings.yaml"
    rules.write_text(
        rules.read_text().replace("{fact: anc, lt: 1.5}", "{fact: anc_count, lt: 1.5}")
    )
    result = leukodx("lint", str(broken))
    assert result.returncode == 2
    assert "kb/rules/findings.yaml:13: find.neutropenia: unknown fact 'anc_count'" in result.stderr
    assert "Traceback" not in result.stderr


def test_lint_checks_the_fhir_terminology_tables(tmp_path: Path) -> None:
    """A mistyped SNOMED CT code in the descendants table fails lint, not a later FHIR call."""
    kb = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", kb)
    table = kb / "terminology" / "snomed_descendants.yaml"
    text = table.read_text(encoding="utf-8")
    code = re.search(r"code: \"?(\d{6,18})\"?", text)
    assert code is not None
    wrong = code.group(1)[:-1] + str((int(code.group(1)[-1]) + 1) % 10)  # check digit broken
    table.write_text(text.replace(code.group(1), wrong, 1), encoding="utf-8")
    result = leukodx("lint", str(kb))
    assert result.returncode == 2, result.stdout
    assert "snomed_descendants.yaml" in result.stderr and "Traceback" not in result.stderr


def test_unknown_backend_exits_2(patient_file: Path) -> None:
    result = leukodx("diagnose", str(patient_file), "--backend", "nope", "--rules", str(MINI_KB))
    assert result.returncode == 2 and "backend: unknown backend (got 'nope'" in result.stderr


def test_internal_error_exits_1_without_traceback() -> None:
    code = (
        "import sys, engine.cli.main as c, engine.kb.review as r\n"
        "def boom(*a, **k):\n    raise RuntimeError('kaput')\n"
        "r.lint = boom\n"
        "sys.exit(c.main(['lint']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "leukodx: internal error: RuntimeError: kaput (please report this)"
    )
