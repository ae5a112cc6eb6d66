# SPDX-License-Identifier: Apache-2.0
"""A WBC below 0.01 or platelets below 1 x 10^9/L is a misread value, not a result: European
exports write 4500 /uL as "4.500", which read as 4.5 cells/uL and raised false critical clozapine
and platelet alerts. An ANC has no floor (a WBC of 0.1 with 4% neutrophils is 0.004)."""

from __future__ import annotations

import pytest

from engine.api import diagnose
from engine.errors import InputError


def lab(test: str, value: float, unit: str) -> dict[str, object]:
    return {"test": test, "value": value, "unit": unit, "date": "2025-02-10"}


@pytest.mark.parametrize(
    ("test", "value", "unit"),
    [
        ("wbc", 4, "/uL"),
        ("wbc", 0.005, "10^9/L"),
        ("platelets", 210.0, "/uL"),
        ("platelets", 0.5, "10^9/L"),
    ],
)
def test_a_count_below_what_a_counter_reports_is_refused(
    test: str, value: float, unit: str
) -> None:
    with pytest.raises(InputError, match="below any count a blood counter reports") as caught:
        diagnose({"labs": [lab("wbc", 3.0, "10^9/L"), lab(test, value, unit)]})
    assert caught.value.field == "labs[1].value"
    assert "4500 /uL" in str(caught.value)


def test_zero_a_bound_and_a_tiny_anc_are_results() -> None:
    d = diagnose(
        {"labs": [lab("wbc", 0.1, "10^9/L"), lab("anc", 4.0, "/uL"), lab("platelets", 1, "10^9/L")]}
    )
    assert {f.id: f.value for f in d.facts}["v:anc"] == 0.004
    bound = {
        "test": "wbc",
        "value": 0.01,
        "unit": "10^9/L",
        "comparator": "<",
        "date": "2025-02-10",
    }
    assert diagnose({"labs": [bound]}).facts
    assert diagnose({"labs": [lab("wbc", 0, "10^9/L")]}).facts


def test_a_fraction_of_a_cell_per_microlitre_is_refused() -> None:
    """An ANC written "1.200 /uL" (1200 with a thousands separator) read as 1.2 cells/uL and said
    "interrupt clozapine"; a whole or larger count per microlitre is a count."""
    with pytest.raises(InputError, match="cells per microlitre is not a count"):
        diagnose({"labs": [lab("wbc", 3.0, "10^9/L"), lab("anc", 1.2, "/uL")]})
    assert diagnose({"labs": [lab("wbc", 3.0, "10^9/L"), lab("anc", 6, "/uL")]}).facts
