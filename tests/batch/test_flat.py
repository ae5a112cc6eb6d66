# SPDX-License-Identifier: Apache-2.0
"""The flat row of a case (``Differential.to_record``, ``engine.batch.flat``) and the per-drug
figures of a batch summary."""

from __future__ import annotations

import json
from collections import Counter

from engine.api import diagnose
from engine.batch.flat import columns, flat_row
from engine.batch.metrics import median, summarize
from tests.conftest import CASES


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
