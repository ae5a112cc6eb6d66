# SPDX-License-Identifier: Apache-2.0
"""Shared data and worker stand-ins for the batch tests (importable by worker processes)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from engine.batch.worker import Evaluator, Outcome


def patient(i: int, *, anc: float = 0.3, expected: str = "clozapine_induced") -> dict[str, Any]:
    """A small valid patient for the mini knowledge base (clozapine with a low ANC)."""
    return {
        "id": f"p{i:04d}", "as_of": "2025-03-01",
        "labs": [{"test": "wbc", "value": 2.0, "unit": "10^9/L", "date": "2025-02-20"},
                 {"test": "anc", "value": anc, "unit": "10^9/L", "date": "2025-02-20"}],
        "medications": [{"name": "clozapine", "start": "2025-01-10"}],
        "expected": [expected],
    }  # fmt: skip


def write_jsonl(path: Path, items: list[Any]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in items), encoding="utf-8")
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class Misbehaving(Evaluator):
    """Crashes its process on a case with id ``crash``; never returns on id ``hang``."""

    def evaluate(self, seq: int, data: Any) -> Outcome:
        if data.get("id") == "crash":
            os._exit(7)
        if data.get("id") == "hang":
            while True:
                time.sleep(0.05)
        return super().evaluate(seq, data)


class FailsToStart:
    """A worker whose knowledge base cannot be made."""

    def __init__(self) -> None:
        raise RuntimeError("no knowledge base here")


def test_patient_helper_is_valid(mini_kb: Any) -> None:
    from engine.api import diagnose

    assert diagnose(patient(1), kb=mini_kb).candidates[0].cause == "clozapine_induced"
