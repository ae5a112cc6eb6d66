# SPDX-License-Identifier: Apache-2.0
"""Case files written as long-format tables (results, patients, medications, conditions), for
the tests of tabular input and for building ``examples/tables/``."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RESULTS = ["patient_id", "test", "value", "unit", "date"]
PATIENTS = ["patient_id", "as_of", "age", "sex", "duffy_null", "ancestry", "bmi", "wbc_trend",
            "leukopenia_duration_days", "expected", "acceptable"]  # fmt: skip
MEDICATIONS = ["patient_id", "name", "start", "stop", "dose"]
CONDITIONS = ["patient_id", "kind", "name", "since", "until", "present"]
KINDS = {"conditions": "condition", "findings": "finding", "history": "history"}


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def case_rows(case: dict[str, Any], pid: str) -> dict[str, list[list[str]]]:
    """The rows of one case in each table (``pid`` replaces its id)."""
    out: dict[str, list[list[str]]] = {"results": [], "patients": [], "medications": [],
                                       "conditions": []}  # fmt: skip
    for lab in case.get("labs", []):
        out["results"].append([pid, *(text(lab.get(c)) for c in RESULTS[1:])])
    out["patients"].append([pid, *(text(case.get(c)) for c in PATIENTS[1:])])
    for med in case.get("medications", []):
        med = {"name": med} if isinstance(med, str) else med
        out["medications"].append([pid, *(text(med.get(c)) for c in MEDICATIONS[1:])])
    for key, kind in KINDS.items():
        for entry in case.get(key, []):
            entry = {"name": entry} if isinstance(entry, str) else entry
            row = [pid, kind, *(text(entry.get(c)) for c in CONDITIONS[2:])]
            out["conditions"].append(row)
    return out


def write_tables(
    cases: Iterable[tuple[str, dict[str, Any]]], root: Path, *, delimiter: str = ","
) -> dict[str, Path]:
    """Write ``(patient id, case dict)`` pairs as the four tables under ``root``, the results
    in the order given (grouped by patient)."""
    suffix = ".tsv" if delimiter == "\t" else ".csv"
    headers = {"results": RESULTS, "patients": PATIENTS, "medications": MEDICATIONS,
               "conditions": CONDITIONS}  # fmt: skip
    paths = {name: root / f"{name}{suffix}" for name in headers}
    handles = {name: paths[name].open("w", newline="", encoding="utf-8") for name in headers}
    try:
        writers = {name: csv.writer(fh, delimiter=delimiter) for name, fh in handles.items()}
        for name, writer in writers.items():
            writer.writerow(headers[name])
        for pid, case in cases:
            for name, rows in case_rows(case, pid).items():
                writers[name].writerows(rows)
    finally:
        for fh in handles.values():
            fh.close()
    return paths
