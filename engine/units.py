# SPDX-License-Identifier: Apache-2.0
"""Canonical units, conversions and plausibility limits (contract section 1.1).

A value is converted only through an explicit entry of :data:`CONVERSIONS`; a unit that is not
listed is an error, never a guess. UCUM spellings (``10*9/L``, ``10*3/uL``, ``{cells}/uL``) and
common lab spellings (``10^9/L``, ``K/uL``, ``x10E3/uL``, ``cells/mm3``) are accepted. ``K/uL`` is
not UCUM (``K`` is kelvin there) and is accepted only as the lab convention for 10^3/uL.
Conversion factors for molar units are arithmetic from molar masses, stated beside each entry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from engine.errors import InputError
from engine.vocab import NUMERIC_TESTS, suggest

_COUNT = "10^9/L"
#: Spellings of a count per litre, by factor to 10^9/L.
_COUNT_UNITS: dict[str, float] = {
    "10^9/l": 1.0, "x10^9/l": 1.0, "10*9/l": 1.0, "10e9/l": 1.0, "x10e9/l": 1.0, "g/l": 1.0,
    "10^3/ul": 1.0, "x10^3/ul": 1.0, "10*3/ul": 1.0, "10e3/ul": 1.0, "x10e3/ul": 1.0,
    "10^3/mm3": 1.0, "10*3/mm3": 1.0, "k/ul": 1.0, "thou/ul": 1.0, "10*6/ml": 1.0, "/nl": 1.0,
    "/ul": 0.001, "cells/ul": 0.001, "/mm3": 0.001, "cells/mm3": 0.001, "/mm^3": 0.001,
}  # fmt: skip
# "G/L" (giga per litre) is common in Europe; it only applies to count tests, where the mass
# reading (grams per litre) is impossible.


@dataclass(frozen=True)
class UnitRule:
    """How one test is stored: its canonical unit, accepted units with factors, and limits."""

    canonical: str
    factors: dict[str, float]
    low: float
    high: float


def _rule(canonical: str, factors: dict[str, float], low: float, high: float) -> UnitRule:
    return UnitRule(canonical, {_key(k): v for k, v in factors.items()}, low, high)


def _key(unit: str) -> str:
    """Normalise a unit spelling for lookup: micro signs, annotations, spaces and case."""
    text = unit.strip().replace("µ", "u").replace("μ", "u").replace("×", "x").replace(" ", "")
    text = re.sub(r"\{[^}]*\}", "", text)  # UCUM annotations carry no meaning: {cells}/uL == /uL
    text = text.replace("mcl", "ul").replace("mcL", "uL")
    return text.lower()


_PCT = {"%": 1.0}
#: Contract 1.1, one entry per numeric test.
CONVERSIONS: dict[str, UnitRule] = {
    "wbc": _rule(_COUNT, _COUNT_UNITS, 0.0, 500.0),
    "anc": _rule(_COUNT, _COUNT_UNITS, 0.0, 500.0),
    "alc": _rule(_COUNT, _COUNT_UNITS, 0.0, 500.0),
    "amc": _rule(_COUNT, _COUNT_UNITS, 0.0, 500.0),
    "lgl_count": _rule(_COUNT, _COUNT_UNITS, 0.0, 500.0),
    "platelets": _rule(_COUNT, _COUNT_UNITS, 0.0, 5000.0),
    "reticulocytes": _rule(_COUNT, _COUNT_UNITS, 0.0, 2000.0),
    "neutrophil_pct": _rule("%", _PCT, 0.0, 100.0),
    "lymphocyte_pct": _rule("%", _PCT, 0.0, 100.0),
    "band_pct": _rule("%", _PCT, 0.0, 100.0),
    "blasts_pct": _rule("%", _PCT, 0.0, 100.0),
    "atypical_lymphocytes_pct": _rule("%", _PCT, 0.0, 100.0),
    # Hb monomer 16 114.5 g/mol: 1 mmol/L = 1.6114 g/dL
    "hemoglobin": _rule("g/dL", {"g/dL": 1.0, "g/L": 0.1, "mmol/L": 1.6114}, 0.5, 25.0),
    "mcv": _rule("fL", {"fL": 1.0, "um3": 1.0}, 40.0, 200.0),
    # cobalamin 1355.4 g/mol: 1 pmol/L = 1.3554 pg/mL
    "vitamin_b12": _rule("pg/mL", {"pg/mL": 1.0, "ng/L": 1.0, "pmol/L": 1.3554}, 0.0, 50000.0),
    # folic acid 441.4 g/mol: 1 nmol/L = 0.4414 ng/mL
    "folate": _rule("ng/mL", {"ng/mL": 1.0, "ug/L": 1.0, "nmol/L": 0.4414}, 0.0, 200.0),
    # Cu 63.546 g/mol: 1 umol/L = 6.3546 ug/dL
    "copper": _rule("ug/dL", {"ug/dL": 1.0, "umol/L": 6.3546}, 0.0, 1000.0),
    "ceruloplasmin": _rule("mg/dL", {"mg/dL": 1.0, "g/L": 100.0, "mg/L": 0.1}, 0.0, 300.0),
    "igg": _rule("mg/dL", {"mg/dL": 1.0, "g/L": 100.0}, 0.0, 20000.0),
    "crp": _rule("mg/L", {"mg/L": 1.0, "mg/dL": 10.0}, 0.0, 1000.0),
    "ldh": _rule("U/L", {"U/L": 1.0, "IU/L": 1.0}, 0.0, 100000.0),
    # bilirubin 584.7 g/mol: 1 mg/dL = 17.104 umol/L
    "bilirubin": _rule("mg/dL", {"mg/dL": 1.0, "umol/L": 1 / 17.104}, 0.0, 100.0),
    "haptoglobin": _rule("mg/dL", {"mg/dL": 1.0, "g/L": 100.0}, 0.0, 1000.0),
    "methylmalonic_acid": _rule("nmol/L", {"nmol/L": 1.0, "umol/L": 1000.0}, 0.0, 1e6),
    "homocysteine": _rule("umol/L", {"umol/L": 1.0}, 0.0, 1000.0),
    "ferritin": _rule("ng/mL", {"ng/mL": 1.0, "ug/L": 1.0}, 0.0, 1e6),
    # Zn 65.38 g/mol: 1 umol/L = 6.538 ug/dL
    "zinc": _rule("ug/dL", {"ug/dL": 1.0, "umol/L": 6.538}, 0.0, 1000.0),
    "alt": _rule("U/L", {"U/L": 1.0, "IU/L": 1.0}, 0.0, 100000.0),
    "ast": _rule("U/L", {"U/L": 1.0, "IU/L": 1.0}, 0.0, 100000.0),
    # creatinine 113.12 g/mol: 1 mg/dL = 88.42 umol/L
    "creatinine": _rule("mg/dL", {"mg/dL": 1.0, "umol/L": 1 / 88.42}, 0.0, 50.0),
    "esr": _rule("mm/h", {"mm/h": 1.0, "mm/hr": 1.0}, 0.0, 200.0),
    "c3": _rule("mg/dL", {"mg/dL": 1.0, "g/L": 100.0}, 0.0, 1000.0),
    "c4": _rule("mg/dL", {"mg/dL": 1.0, "g/L": 100.0}, 0.0, 1000.0),
}

#: Reticulocytes reported as a percentage are kept as a percentage under this fact name
#: (contract 1.1: "% (with RBC unknown: kept as %)").
RETICULOCYTE_PCT = "reticulocytes_pct"

assert set(CONVERSIONS) == set(NUMERIC_TESTS), "every numeric test needs a unit rule"


def canonical_unit(test: str) -> str:
    """The unit a numeric test is stored and compared in."""
    return CONVERSIONS[test].canonical


def to_canonical(test: str, value: float, unit: str | None, *, field: str) -> tuple[str, float]:
    """Convert ``value`` in ``unit`` to the test's canonical unit.

    Returns ``(test_name, canonical_value)``; the name differs from ``test`` only for
    reticulocytes given in %, which are kept as ``reticulocytes_pct``. Raises :class:`InputError`
    naming ``field`` for a missing or unknown unit, a non-finite number or an impossible value.
    """
    rule = CONVERSIONS[test]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{field}.value", "not a finite number", got=value, expected="a number")
    if unit is None or not unit.strip():
        raise InputError(
            f"{field}.unit",
            f"a unit is required for {test}; units are never guessed",
            expected=_expected(test),
        )
    name = test
    key = _key(unit)
    if test == "reticulocytes" and key == "%":
        name, factor, low, high = RETICULOCYTE_PCT, 1.0, 0.0, 100.0
    elif key in rule.factors:
        factor, low, high = rule.factors[key], rule.low, rule.high
    else:
        hint = _suggest_unit(test, unit)
        raise InputError(
            f"{field}.unit",
            f"unknown unit for {test}",
            got=unit,
            expected=_expected(test),
            suggestion=hint,
        )
    # Decimal arithmetic, so that 2900 /uL and 2.9 10^9/L give the same float (unit invariance).
    exact = Decimal(repr(float(value))) * Decimal(repr(factor))
    if exact < Decimal(repr(low)) or exact > Decimal(repr(high)):
        raise InputError(
            f"{field}.value",
            f"impossible value for {test}",
            got=value,
            expected=f"{_fmt(low)} to {_fmt(high)} {rule.canonical if name == test else '%'}",
        )
    return name, float(exact.quantize(Decimal("0.000001")))


def _suggest_unit(test: str, unit: str) -> str | None:
    """The closest accepted spelling, shown as people write it (``10^9/L``, not ``10^9/l``)."""
    shown = {_key(u): u for u in (CONVERSIONS[test].canonical, *_DISPLAY.get(test, ()))}
    for key in CONVERSIONS[test].factors:
        shown.setdefault(key, key)
    hint = suggest(_key(unit), list(shown))
    return shown[hint] if hint is not None else None


def _expected(test: str) -> str:
    rule = CONVERSIONS[test]
    shown = [rule.canonical, *_DISPLAY.get(test, ())]
    return "a unit among " + ", ".join(dict.fromkeys(shown))


def _fmt(x: float) -> str:
    return f"{x:g}"


#: Human-readable accepted units, for error messages.
_DISPLAY: dict[str, tuple[str, ...]] = {
    **{
        t: ("10*9/L", "10^3/uL", "10*3/uL", "K/uL", "/uL", "cells/uL", "/mm3")
        for t in ("wbc", "anc", "alc", "amc", "lgl_count", "platelets", "reticulocytes")
    },
    "reticulocytes": ("10^3/uL", "K/uL", "/uL", "%"),
    "hemoglobin": ("g/L", "mmol/L"),
    "vitamin_b12": ("pmol/L", "ng/L"),
    "folate": ("nmol/L", "ug/L"),
    "copper": ("umol/L",),
    "ceruloplasmin": ("g/L",),
    "igg": ("g/L",),
    "crp": ("mg/dL",),
    "bilirubin": ("umol/L",),
    "haptoglobin": ("g/L",),
    "methylmalonic_acid": ("umol/L",),
    "ferritin": ("ug/L",),
    "zinc": ("umol/L",),
    "creatinine": ("umol/L",),
    "c3": ("g/L",),
    "c4": ("g/L",),
}
