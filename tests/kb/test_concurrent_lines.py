# SPDX-License-Identifier: Apache-2.0
"""The other lines (haemoglobin, platelets, MCV, reticulocytes) are read with the white count
only when measured within 30 days of the latest WBC or ANC: a haemoglobin and platelet count of
2023 made a 2025 neutropenia a "pancytopenia", and aplastic anaemia the top cause."""

from __future__ import annotations

from engine.api import diagnose
from engine.kb.load import KnowledgeBase
from tests.kb.patient_data import lab

WHITE = [lab("wbc", 2.0, "10^9/L", "2025-02-10"), lab("anc", 0.9, "10^9/L", "2025-02-10")]


def test_lines_of_another_episode_are_not_read_with_the_white_count(real_kb: KnowledgeBase) -> None:
    old = [
        lab("hemoglobin", 9.0, "g/dL", "2023-06-01"),
        lab("platelets", 5, "10^9/L", "2023-06-01"),
    ]
    d = diagnose({"age": 60, "labs": [*old, *WHITE]}, kb=real_kb)
    facts = {f.fact for f in d.findings}
    assert not {"anemia", "thrombocytopenia", "lineage"} & facts
    assert "very_low_platelets" not in {a.id for a in d.alerts}
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert reasons["labs (hemoglobin on 2023-06-01)"].startswith(
        "more than 30 days before the latest white count (2025-02-10)"
    )


def test_lines_within_30_days_make_the_pancytopenia(real_kb: KnowledgeBase) -> None:
    recent = [
        lab("hemoglobin", 9.0, "g/dL", "2025-01-15"),
        lab("platelets", 90, "10^9/L", "2025-01-15"),
    ]
    d = diagnose({"age": 60, "labs": [*recent, *WHITE]}, kb=real_kb)
    assert {f.fact: f.value for f in d.findings}.get("lineage") == "pancytopenia"
    assert not d.ignored_inputs


def test_a_white_count_far_older_than_the_other_lines_is_no_pancytopenia(
    real_kb: KnowledgeBase,
) -> None:
    """A WBC of four months ago with today's haemoglobin and platelets made a pancytopenia."""
    old_white = [lab("wbc", 2.0, "10^9/L", "2024-10-10"), lab("anc", 0.9, "10^9/L", "2024-10-10")]
    today = [
        lab("hemoglobin", 9.0, "g/dL", "2025-02-10"),
        lab("platelets", 90, "10^9/L", "2025-02-10"),
    ]
    d = diagnose({"age": 60, "labs": [*old_white, *today]}, kb=real_kb)
    assert not {"anemia", "thrombocytopenia", "lineage"} & {f.fact for f in d.findings}
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert "after the latest white count" in reasons["labs (hemoglobin on 2025-02-10)"]
