# SPDX-License-Identifier: Apache-2.0
"""Chronicity (context.chronic / context.transient) rests on the span the dated results document:
a single low count of four months ago is not a chronic neutropenia, two low counts 121 days
apart are (CDS hooks are answered as of today: counting to as_of made every old count chronic)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

AS_OF = dt.date(2025, 6, 11)


def lab(test: str, value: float, date: dt.date) -> dict[str, Any]:
    return {"test": test, "value": value, "unit": "10^9/L", "date": date}


def chronicity(kb: KnowledgeBase, labs: list[dict[str, Any]]) -> object:
    d = diagnose({"as_of": AS_OF, "labs": labs}, kb=kb, today=AS_OF)
    return next(f.value for f in d.findings if f.fact == "chronicity")


def test_one_old_low_count_is_not_chronic(real_kb: KnowledgeBase) -> None:
    old = dt.date(2025, 2, 10)
    assert chronicity(real_kb, [lab("wbc", 2.5, old), lab("anc", 0.9, old)]) == "transient"


def test_low_counts_spanning_more_than_90_days_are_chronic(real_kb: KnowledgeBase) -> None:
    labs = [lab("anc", 0.9, dt.date(2025, 2, 10)), lab("anc", 0.8, dt.date(2025, 6, 11))]
    assert chronicity(real_kb, labs) == "chronic"
