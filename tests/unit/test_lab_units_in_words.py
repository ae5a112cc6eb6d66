# SPDX-License-Identifier: Apache-2.0
"""A lab value says its unit: the seventh probe read "Latest result 45 on ..." without knowing
whether a reticulocyte count was a percentage or a count, and a percentage was shown in notes
as "0.8 x 10^9/L"."""

from __future__ import annotations

from engine.api import diagnose
from engine.wording import quantity, unit_of

LABS = [
    {"test": "wbc", "value": 2.0, "unit": "10^9/L", "date": "2025-01-01"},
    {"test": "reticulocytes", "value": 0.8, "unit": "%", "date": "2025-01-01"},
    {"test": "ldh", "value": 640, "unit": "IU/L", "date": "2025-01-01"},
]


def test_each_lab_value_names_its_unit() -> None:
    d = diagnose({"age": 60, "labs": LABS})
    hows = {r.name: r.how for r in d.facts if r.id.startswith("v:")}
    assert hows["wbc"].endswith("; unit 10^9/L")
    assert hows["reticulocytes_pct"].endswith("; unit %")
    assert hows["ldh"].endswith("; unit U/L")


def test_a_reticulocyte_percentage_is_shown_as_one() -> None:
    assert unit_of("reticulocytes_pct") == "%"
    assert unit_of("reticulocytes") == "10^9/L"
    assert quantity("reticulocytes_pct", 0.8) == "reticulocytes 0.8%"
