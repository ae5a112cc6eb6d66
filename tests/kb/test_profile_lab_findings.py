# SPDX-License-Identifier: Apache-2.0
"""The profile findings read from labs beside the white count (raised LDH, low reticulocytes with
an anaemia, a ferritin of 1000 or more): read at their thresholds, only when current, and the
reticulocytes only where they mean something (a user probe found a normal 0.8% counted as low in
a patient who was not anaemic, and an LDH of 2019 read with a neutropenia of 2026)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.api import diagnose
from engine.differential import Differential
from engine.errors import Problem
from engine.kb.load import KnowledgeBase
from engine.kb.profiles import CATALOGUE_FILE, finding_keys, parse_catalogue, present_keys
from engine.kb.registry import read_doc

WHITE = [
    {"test": "wbc", "value": 2.0, "unit": "10^9/L", "date": "2025-02-10"},
    {"test": "anc", "value": 0.9, "unit": "10^9/L", "date": "2025-02-10"},
]


def lab(test: str, value: float, unit: str, date: str = "2025-02-10") -> dict[str, Any]:
    return {"test": test, "value": value, "unit": unit, "date": date}


def fired(d: Differential, suffix: str) -> set[str]:
    """The causes whose profile rule ``<cause>.profile.<suffix>`` fired."""
    return {t.rule_id.split(".")[0] for t in d.trace if t.rule_id.endswith(f".profile.{suffix}")}


def run(kb: KnowledgeBase, *labs: dict[str, Any], age: float = 60) -> Differential:
    return diagnose({"age": age, "labs": [*labs, *WHITE]}, kb=kb)


@pytest.mark.parametrize(
    ("ldh", "present", "absent"), [(500.1, True, False), (500, False, True), (240, False, True)]
)
def test_ldh_is_raised_above_500(
    real_kb: KnowledgeBase, ldh: float, present: bool, absent: bool
) -> None:
    d = run(real_kb, lab("ldh", ldh, "U/L"))
    assert bool(fired(d, "high_ldh")) is present
    assert bool(fired(d, "no_high_ldh")) is absent


def test_ldh_is_not_read_in_the_first_year(real_kb: KnowledgeBase) -> None:
    d = run(real_kb, lab("ldh", 900, "U/L"), age=0.5)
    assert not fired(d, "high_ldh") and not fired(d, "no_high_ldh")


@pytest.mark.parametrize(
    ("retic", "unit"), [(0.8, "%"), (45, "10^9/L")], ids=["percent", "absolute"]
)
def test_a_low_reticulocyte_count_counts_only_with_an_anaemia(
    real_kb: KnowledgeBase, retic: float, unit: str
) -> None:
    normal_hb = run(real_kb, lab("reticulocytes", retic, unit), lab("hemoglobin", 14.0, "g/dL"))
    assert not fired(normal_hb, "reticulocytopenia")
    assert not fired(normal_hb, "no_reticulocytopenia")
    anaemic = run(real_kb, lab("reticulocytes", retic, unit), lab("hemoglobin", 8.0, "g/dL"))
    assert "aplastic_anemia" in fired(anaemic, "reticulocytopenia")
    assert not fired(anaemic, "no_reticulocytopenia")


def test_a_reticulocyte_response_to_an_anaemia_is_recorded_absence(real_kb: KnowledgeBase) -> None:
    d = run(real_kb, lab("reticulocytes", 150, "10^9/L"), lab("hemoglobin", 8.0, "g/dL"))
    assert "aplastic_anemia" in fired(d, "no_reticulocytopenia")
    assert not fired(d, "reticulocytopenia")


@pytest.mark.parametrize(("ferritin", "present"), [(1000, True), (999.9, False)])
def test_ferritin_is_high_from_1000(real_kb: KnowledgeBase, ferritin: float, present: bool) -> None:
    d = run(real_kb, lab("ferritin", ferritin, "ug/L"))
    assert bool(fired(d, "hyperferritinemia")) is present
    assert bool(fired(d, "no_hyperferritinemia")) is not present


@pytest.mark.parametrize(
    ("test", "value", "unit"),
    [("ldh", 900, "U/L"), ("ferritin", 5000, "ug/L"), ("reticulocytes", 0.2, "%")],
)
def test_a_result_of_another_episode_is_not_read(
    real_kb: KnowledgeBase, test: str, value: float, unit: str
) -> None:
    old = lab(test, value, unit, date="2019-05-01")
    d = run(real_kb, old, lab("hemoglobin", 8.0, "g/dL"))
    assert not [t for t in d.trace if ".profile." in t.rule_id and t.rule_id.split(".")[-1]
                in {"high_ldh", "no_high_ldh", "hyperferritinemia", "no_hyperferritinemia",
                    "reticulocytopenia", "no_reticulocytopenia"}]  # fmt: skip
    name = "reticulocytes_pct" if unit == "%" else test
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert reasons[f"labs ({name} on 2019-05-01)"].startswith("more than 30 days before")


def test_the_anaemia_qualifying_the_reticulocytes_is_not_the_finding(
    real_kb: KnowledgeBase,
) -> None:
    """``context``: a rule about the anaemia does not count the reticulocytopenia (lint)."""
    problems: list[Problem] = []
    root = Path(real_kb.root)
    finding = parse_catalogue(*read_doc(root, root / CATALOGUE_FILE, problems)).findings[
        "reticulocytopenia"
    ]
    assert not problems
    assert finding.context == ("fact:anemia",)
    assert "fact:anemia" not in finding_keys(finding) | present_keys(finding)
    assert "fact:reticulocytes" in finding_keys(finding)
