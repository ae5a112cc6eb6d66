# SPDX-License-Identifier: Apache-2.0
"""Regression: experta's agenda order among rules of equal salience varies with PYTHONHASHSEED,
which made the trace (and so the JSON) differ between runs of the same input. The trace is now
ordered by (stratum, rule id); the output must be byte-identical across hash seeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli import PATIENT
from tests.conftest import MINI_KB


def test_json_identical_across_hash_seeds(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PATIENT)
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine",
                "diagnose",
                str(path),
                "--json",
                "--rules",
                str(MINI_KB),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
