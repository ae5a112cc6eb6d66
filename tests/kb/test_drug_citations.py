# SPDX-License-Identifier: Apache-2.0
"""A lexicon drug's own citations travel with the evidence that used it, and the timing rule for
a signal drug stopped shortly before the first low count (bundled knowledge base)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine import diagnose

TODAY = dt.date(2024, 3, 1)


def _patient(medication: dict[str, Any]) -> dict[str, Any]:
    return {
        "as_of": "2024-03-01",
        "age": 40,
        "sex": "female",
        "labs": [
            {"test": "wbc", "value": 2.1, "unit": "10^9/L", "date": "2024-03-01"},
            {"test": "anc", "value": 0.4, "unit": "10^9/L", "date": "2024-03-01"},
        ],
        "medications": [medication],
    }


def _evidence(d: Any, cause: str) -> dict[str, Any]:
    cand = next(c for c in d.candidates if c.cause == cause)
    return {e.rule_id: e for e in cand.evidence_for}


def test_drug_citations_join_the_rule_citations() -> None:
    d = diagnose(_patient({"name": "Pentasa", "start": "2024-01-20"}), today=TODAY)
    item = _evidence(d, "drug_induced_other")["drug_induced_other.on_signal_drug"]
    assert item.citations[0] == "andersohn2007"  # the rule's own source first
    assert {"ko2019-mesalazine", "mesalazine-white-cell-aplasia-2013"} <= set(item.citations)
    assert {"ko2019-mesalazine", "mesalazine-white-cell-aplasia-2013"} <= {
        c.id for c in d.citations
    }
    assert "mesalazine" in next(c for c in d.candidates if c.cause == "drug_induced_other").label


def test_a_drug_without_citations_adds_none() -> None:
    d = diagnose(_patient({"name": "sulfasalazine", "start": "2024-01-20"}), today=TODAY)
    item = _evidence(d, "drug_induced_other")["drug_induced_other.on_signal_drug"]
    assert item.citations == ["andersohn2007"]


def test_signal_drug_stopped_within_two_weeks_still_counts() -> None:
    stopped = _patient({"name": "mesalamine", "start": "2024-02-01", "stop": "2024-02-20"})
    rules = _evidence(diagnose(stopped, today=TODAY), "drug_induced_other")
    assert "drug_induced_other.recently_stopped_signal_drug" in rules
    assert "drug_induced_other.on_signal_drug" not in rules  # not taking it when the count fell


def test_signal_drug_stopped_long_before_does_not() -> None:
    stopped = _patient({"name": "mesalamine", "start": "2023-10-01", "stop": "2024-01-10"})
    d = diagnose(stopped, today=TODAY)
    assert "drug_induced_other" not in {c.cause for c in d.candidates}
