# SPDX-License-Identifier: Apache-2.0
"""engine.batch.metrics: figures computed by hand on a handful of records."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from engine.batch.metrics import format_summary, iter_misses, summarize, write_summary


def rec(
    case_id: str,
    expected: list[str],
    ranked: list[str],
    *,
    ok: bool = True,
    acceptable: list[str] | None = None,
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "id": case_id,
        "source_file": "f",
        "expected": expected,
        "acceptable": acceptable or [],
        "ok": ok,
    }
    if ok:
        r["differential"] = {
            "knowledge_base": {"name": "kb", "version": "1"},
            "candidates": [{"cause": c, "rank": i} for i, c in enumerate(ranked, start=1)],
        }
    else:
        r["error"] = {"field": "labs[0].unit", "message": "bad unit"}
    return r


RECORDS = [
    rec("hit", ["sle"], ["sle", "hiv"]),
    rec("second", ["hiv", "viral_infection"], ["sepsis", "viral_infection", "hiv"]),
    rec("third", ["mds"], ["cll", "lymphoma", "mds"], acceptable=["cll"]),
    rec("absent", ["fmf"], ["sle"]),
    rec("empty", ["fmf"], []),
    rec("error", ["sle"], [], ok=False),
    rec("no-expected", [], ["sle"]),
]


def test_headline_figures() -> None:
    d = summarize(RECORDS).as_dict()
    assert d["disclaimer"].startswith("Decision support")
    assert (d["n"], d["n_cases"], d["n_ok"], d["n_failed"]) == (6, 7, 6, 1)
    assert d["top1"] == round(1 / 6, 4)
    assert d["top3"] == round(3 / 6, 4)
    assert d["mrr"] == round((1 + 1 / 2 + 1 / 3) / 6, 4)
    assert d["top1_acceptable"] == round(2 / 6, 4)
    assert d["hits"] == {"top1": 1, "top3": 3, "top1_acceptable": 2, "misses": 4}
    assert d["rank_distribution"] == {"1": 1, "2": 1, "3": 1, "not ranked": 2, "error": 1}
    assert d["knowledge_base"] == {"name": "kb", "version": "1"}
    assert "acceptable" in d["definitions"]["top1_acceptable"]


def test_per_cause_and_confusion() -> None:
    d = summarize(RECORDS).as_dict()
    pc = d["per_cause"]
    assert pc["sle"] == {
        "support": 2,
        "recall_at_1": 0.5,
        "predicted_at_1": 2,
        "precision_at_1": 0.5,
    }  # the case without 'expected' is not counted
    assert pc["fmf"]["recall_at_1"] == 0.0 and pc["fmf"]["support"] == 2
    assert pc["sepsis"] == {
        "support": 0,
        "recall_at_1": None,
        "predicted_at_1": 1,
        "precision_at_1": 0.0,
    }
    conf = d["confusion"]
    cell = {
        (r, c): conf["counts"][i][j]
        for i, r in enumerate(conf["rows"])
        for j, c in enumerate(conf["columns"])
    }
    assert cell[("sle", "sle")] == 1 and cell[("hiv", "sepsis")] == 1
    assert cell[("fmf", "sle")] == 1 and cell[("fmf", "(none)")] == 1
    assert conf["columns"][-1] == "(none)"
    assert sum(map(sum, conf["counts"])) == 5  # ok cases with expected; the error is left out


def test_empty_batch_has_no_ratios() -> None:
    d = summarize([]).as_dict()
    assert d["n"] == 0 and d["top1"] is None and d["mrr"] is None


def test_summary_json_streams_misses_and_errors(tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    buf = io.StringIO()
    write_summary(summarize(RECORDS), results, buf)
    doc = json.loads(buf.getvalue())
    assert [m["id"] for m in doc["misses"]] == ["second", "third", "absent", "empty"]
    assert doc["misses"][0] == {
        "id": "second",
        "source_file": "f",
        "expected": ["hiv", "viral_infection"],
        "top1": "sepsis",
        "rank": 2,
    }
    assert doc["errors"] == [
        {"id": "error", "source_file": "f", "field": "labs[0].unit", "message": "bad unit"}
    ]
    assert doc["top3"] == 0.5


def test_table_for_the_terminal() -> None:
    text = format_summary(summarize(RECORDS), misses=iter_misses(RECORDS), max_misses=2)
    assert "top-1 16.7%  top-3 50.0%  MRR 0.306" in text
    assert "misses (first 2 of 4):" in text and "absent" not in text
