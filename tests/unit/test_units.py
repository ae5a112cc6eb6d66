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
        units.to_canonical("wbc", 3.1, "10^9L", field="labs[3]")
    assert str(err.value).startswith("labs[3].unit: unknown unit for wbc (got '10^9L'; expected")
    assert err.value.field == "labs[3].unit"
    assert str(err.value).endswith("did you mean '10^9/L'?")  # shown as written, not normalised


@pytest.mark.parametrize(
    ("test", "unit"),
    [
        ("ldh", "ukat/L"),  # x 60 to U/L: the hint was 'U/L'
        ("ldh", "µkat/L"),
        ("ldh", "kU/L"),
        ("ldh", "mU/mL"),
        ("reticulocytes", "x10^6/uL"),  # x 1000: the hint was 'x10^3/ul'
        ("reticulocytes", "10^12/L"),  # the hint was '10^9/L'
        ("reticulocytes", "‰"),  # per mille is no percent
        ("ferritin", "mg/L"),  # the hint was 'ug/L'
        ("ferritin", "ug/dL"),
        ("wbc", "10^9/dL"),
        ("hemoglobin", "mg/dL"),
    ],
)
def test_no_suggestion_names_a_unit_of_another_magnitude(test: str, unit: str) -> None:
    """Probe 7, D12: a did-you-mean that a user follows must not change the value's magnitude;
    the error still lists the accepted units."""
    with pytest.raises(InputError) as err:
        units.to_canonical(test, 5.0, unit, field="labs[0]")
    assert "did you mean" not in str(err.value)
    assert "expected a unit among" in str(err.value)


@pytest.mark.parametrize(
    ("test", "unit", "hint"),
    [
        ("wbc", "10^9L", "10^9/L"),
        ("wbc", "x10E3uL", "10^3/uL"),
        ("hemoglobin", "gdL", "g/dL"),
        ("ldh", "U L", "U/L"),
        ("ldh", "IU_L", "IU/L"),  # shown as written, not as the lower-case key 'iu/l'
    ],
)
def test_a_spelling_slip_of_an_accepted_unit_is_suggested(test: str, unit: str, hint: str) -> None:
    with pytest.raises(InputError) as err:
        units.to_canonical(test, 5.0, unit, field="labs[0]")
    assert str(err.value).endswith(f"did you mean {hint!r}?")


def test_ldh_lists_iu_among_its_units() -> None:
    with pytest.raises(InputError, match=r"expected a unit among U/L, IU/L\)"):
        units.to_canonical("ldh", 8.5, "ukat/L", field="labs[0]")


@pytest.mark.parametrize("test", ["ldh", "alt", "ast"])
@pytest.mark.parametrize("unit", ["[IU]/L", "[iU]/L", "IU/L"])
def test_ucum_international_units_are_accepted(test: str, unit: str) -> None:
    """UCUM writes the international unit ``[IU]``: ``[IU]/L`` is IU/L (probe 7, D12)."""
    assert units.to_canonical(test, 250, unit, field="labs[0]") == (test, 250.0)


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


def test_an_ldh_in_ukat_per_litre_labelled_u_per_litre_is_refused_and_explained() -> None:
    """The seventh probe: LDH 8.5 "U/L" (8.5 ukat/L = 510 U/L, raised) was read as a normal LDH.
    Below 30 U/L no LDH is in U/L; the unit is not guessed, the error says where to look."""
    with pytest.raises(InputError, match=r"labs\[0\]\.value: impossible value for ldh: below 30"):
        units.to_canonical("ldh", 8.5, "U/L", field="labs[0]")
    assert units.to_canonical("ldh", 120, "U/L", field="labs[0]") == ("ldh", 120.0)
