# SPDX-License-Identifier: Apache-2.0
"""engine/units.py: every accepted spelling converts, nothing else does, limits hold."""

from __future__ import annotations

import pytest

from engine import units, vocab
from engine.errors import InputError


@pytest.mark.parametrize(
    ("test", "value", "unit", "expected"),
    [
        ("wbc", 2900, "/uL", 2.9),
        ("wbc", 2900, "cells/uL", 2.9),
        ("wbc", 2900, "{cells}/uL", 2.9),
        ("wbc", 2900, "/mm3", 2.9),
        ("wbc", 2.9, "10^9/L", 2.9),
        ("wbc", 2.9, "10*9/L", 2.9),
        ("wbc", 2.9, "10*3/uL", 2.9),
        ("wbc", 2.9, "K/uL", 2.9),
        ("wbc", 2.9, "x10E3/uL", 2.9),
        ("wbc", 2.9, "10^3/µL", 2.9),
        ("anc", 500, "/uL", 0.5),
        ("platelets", 150, "10*3/uL", 150.0),
        ("hemoglobin", 95, "g/L", 9.5),
        ("hemoglobin", 6.2, "mmol/L", 9.99068),
        ("vitamin_b12", 150, "pmol/L", 203.31),
        ("copper", 10, "umol/L", 63.546),
        ("crp", 1.2, "mg/dL", 12.0),
        ("igg", 5, "g/L", 500.0),
        ("mcv", 101, "fL", 101.0),
    ],
)
def test_accepted_units_convert(test: str, value: float, unit: str, expected: float) -> None:
    assert units.to_canonical(test, value, unit, field="labs[0]") == (test, pytest.approx(expected))


def test_every_numeric_test_has_a_rule() -> None:
    assert set(units.CONVERSIONS) == set(vocab.NUMERIC_TESTS)


def test_reticulocytes_in_percent_keep_percent() -> None:
    assert units.to_canonical("reticulocytes", 1.5, "%", field="x") == ("reticulocytes_pct", 1.5)


def test_unknown_unit_names_field_and_suggests() -> None:
    with pytest.raises(InputError) as err:
        units.to_canonical("wbc", 3.1, "10^9/dL", field="labs[3]")
    assert str(err.value).startswith("labs[3].unit: unknown unit for wbc (got '10^9/dL'; expected")
    assert err.value.field == "labs[3].unit"
    assert str(err.value).endswith("did you mean '10^9/L'?")  # shown as written, not normalised


def test_missing_unit_is_never_guessed() -> None:
    with pytest.raises(InputError, match=r"^labs\[0\]\.unit: a unit is required for anc"):
        units.to_canonical("anc", 0.8, None, field="labs[0]")


@pytest.mark.parametrize(
    ("test", "value", "unit"),
    [
        ("wbc", 3100, "10^9/L"),
        ("wbc", -1, "/uL"),
        ("neutrophil_pct", 101, "%"),
        ("hemoglobin", 95, "g/dL"),
    ],
)
def test_impossible_values_rejected(test: str, value: float, unit: str) -> None:
    with pytest.raises(InputError, match=r"impossible value"):
        units.to_canonical(test, value, unit, field="labs[0]")


def test_booleans_and_nan_are_not_numbers() -> None:
    for bad in (True, float("nan"), float("inf")):
        with pytest.raises(InputError, match="not a finite number"):
            units.to_canonical("wbc", bad, "10^9/L", field="labs[0]")


def test_per_microlitre_equals_giga_per_litre_exactly() -> None:
    for n in range(0, 20000, 37):
        assert (
            units.to_canonical("anc", n, "/uL", field="f")[1]
            == units.to_canonical("anc", n / 1000, "10^9/L", field="f")[1]
        )


def test_huge_values_are_impossible_not_a_crash() -> None:
    """Regression (found by hypothesis): 1e22 overflowed the Decimal quantize step."""
    with pytest.raises(InputError, match="impossible value"):
        units.to_canonical("wbc", 1e22, "10^9/L", field="labs[0]")
