# SPDX-License-Identifier: Apache-2.0
"""Canonical units, conversions, qualitative result words and plausibility limits (contract 1.1).

A value is converted only through an explicit entry of :data:`CONVERSIONS`; a unit that is not
listed is an error, never a guess. UCUM spellings (``10*9/L``, ``10*3/uL``, ``{cells}/uL``) and
common lab spellings (``10^9/L``, ``K/uL``, ``x10E3/uL``, ``cells/mm3``) are accepted. ``K/uL`` is
not UCUM (``K`` is kelvin there) and is accepted only as the lab convention for 10^3/uL.
Conversion factors for molar units are arithmetic from molar masses, stated beside each entry.

A result reported as a bound (``<0.1``, ``>100``; FHIR ``valueQuantity.comparator``) is kept as
a bound: :func:`bound_value` gives the value the engine compares, which decides every threshold
that the bound decides exactly as the true value would (see its docstring for the cases a bound
leaves open).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from engine.errors import InputError
from engine.vocab import NUMERIC_TESTS, QUALITATIVE_TESTS, suggest

_COUNT = "10^9/L"
#: Spellings of a count per litre, by factor to 10^9/L (keys as :func:`_key` normalises them:
#: lower case, no spaces, micro as u, mcL as uL, superscript digits as ^N, UCUM {annotations}
#: dropped). Where a spelling is used, beside it; a spelling not listed here is an error.
_COUNT_UNITS: dict[str, float] = {
    # SI and UCUM: 10^9/L (ICSH, most of Europe), 10*9/L (UCUM, FHIR Quantity.code)
    "10^9/l": 1.0, "x10^9/l": 1.0, "10*9/l": 1.0, "10e9/l": 1.0, "x10e9/l": 1.0,
    "x10(9)/l": 1.0, "10(9)/l": 1.0,  # Mayo Clinic Laboratories style, x10(9)/L
    "g/l": 1.0,  # "G/L", giga per litre (France, Switzerland); a count test, so never grams
    "gpt/l": 1.0,  # "Gpt/l", Gigapartikel per litre (German laboratory reports)
    "/nl": 1.0,  # per nanolitre (German reports: "Leukozyten 4,4 - 11,3 /nl")
    "10*6/ml": 1.0, "10^6/ml": 1.0,  # per millilitre: 10^6/mL is 10^9/L
    # Thousands per microlitre (US conventional units)
    "10^3/ul": 1.0, "x10^3/ul": 1.0, "10*3/ul": 1.0,  # 10*3/uL is UCUM; "10³/µL" normalises here
    "10e3/ul": 1.0, "x10e3/ul": 1.0,  # "x10E3/uL" (Labcorp reports)
    "x10(3)/ul": 1.0, "10(3)/ul": 1.0,  # "x10(3)/uL", "x10(3)/mcL" (US reference-lab catalogues)
    "10^3/mm3": 1.0, "10*3/mm3": 1.0, "10e3/mm3": 1.0,  # "10E3/mm3" (US hospital catalogues)
    "k/ul": 1.0,  # "K/uL", "K/mcL" (US analyser and EHR displays; K is kelvin in UCUM)
    "k/mm3": 1.0, "k/cumm": 1.0,  # "K/cumm" (US hospital test catalogues)
    "thou/ul": 1.0, "thousand/ul": 1.0,  # "Thousand/uL" (Quest Diagnostics reports)
    "th/ul": 1.0, "th/mm3": 1.0,  # "TH/uL" (US hospital laboratory systems)
    "x1000/ul": 1.0,
    # Cells per microlitre (US conventional units; "cells/cumm" in Indian reports)
    "/ul": 0.001, "cells/ul": 0.001, "/mm3": 0.001, "cells/mm3": 0.001, "/mm^3": 0.001,
    "/cumm": 0.001, "cells/cumm": 0.001, "cells/mm^3": 0.001,
    "/cmm": 0.001, "cells/cmm": 0.001,  # "cmm", cubic millimetre (South Asian reports; probe 15)
    "1/ul": 0.001, "1/mm3": 0.001,  # UCUM spells "per microlitre" 1/uL as well as /uL
}  # fmt: skip

#: A count in the flat shorthand (``{"anc": 0.4}``) carries no unit. It is read as 10^9/L only
#: below these bounds, where the 10^9/L reading is ordinary and a reading per microlitre would
#: be a count no laboratory writes that way (a WBC under 100 cells/uL is reported as 0.1 x10^9/L
#: or less). At or above the bound the number is ambiguous (ANC 400 is 400 cells/uL, not 400
#: x10^9/L) and the caller is asked for the unit. Reticulocytes, a count just as often given in %
#: (1.2 % or 1.2 x10^9/L?), always need one. Every other test is read in its canonical unit
#: (contract 1.1: haemoglobin g/dL, B12 pg/mL, ...), as the contract's shorthand always was.
SHORTHAND_MAX: dict[str, float] = {
    "wbc": 100.0, "anc": 30.0, "alc": 30.0, "amc": 20.0, "lgl_count": 20.0, "platelets": 1000.0,
}  # fmt: skip

#: The differential percentages of one blood count. Each is checked for the fraction mistake
#: (0.62 for 62 %: each becomes an absolute count, ANC or ALC, which a fraction would divide by
#: 100), and together they cannot add up to more than the whole (:func:`_check_differential`).
DIFFERENTIAL_PCT: tuple[str, ...] = ("neutrophil_pct", "band_pct", "lymphocyte_pct")

#: The comparators of a result that is a bound (FHIR R4 QuantityComparator): the true value is
#: below, at most, at least or above the number given.
COMPARATORS: tuple[str, ...] = ("<", "<=", ">=", ">")
#: How far inside a strict bound its compared value lies. Canonical values are kept to 1e-6
#: (:func:`to_canonical`) and the knowledge base's thresholds have fewer decimals, so an offset
#: a thousand times smaller changes no comparison with a threshold other than the bound itself,
#: and still prints as the bound (``0.1`` for ``<0.1``, 6 significant digits).
BOUND_OFFSET = 1e-9
_ABSOLUTE_OF = {"neutrophil_pct": "anc", "band_pct": "anc", "lymphocyte_pct": "alc"}


@dataclass(frozen=True)
class UnitRule:
    """How one test is stored: its canonical unit, accepted units with factors, and limits."""

    canonical: str
    factors: dict[str, float]
    low: float
    high: float


def _rule(canonical: str, factors: dict[str, float], low: float, high: float) -> UnitRule:
    return UnitRule(canonical, {_key(k): v for k, v in factors.items()}, low, high)


_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


@functools.lru_cache(maxsize=1024)
def _key(unit: str) -> str:
    """Normalise a unit spelling for lookup: micro signs, annotations, spaces and case (memoised:
    a batch repeats the same few spellings millions of times, and this runs two regexes)."""
    text = unit.strip().replace("µ", "u").replace("μ", "u").replace("×", "x").replace(" ", "")
    text = re.sub("[⁰¹²³⁴⁵⁶⁷⁸⁹]+", lambda m: "^" + m.group().translate(_SUPERSCRIPTS), text)
    text = re.sub(r"\{[^}]*\}", "", text)  # UCUM annotations carry no meaning: {cells}/uL == /uL
    text = text.replace("mcl", "ul").replace("mcL", "uL")
    return text.lower().replace("[iu]", "iu")  # UCUM writes the international unit [IU]


#: A percentage: "%", or UCUM's "per hundred" with its annotation ("/100{WBCs}", valid UCUM
#: that FHIR servers send for differentials; refused, it lost a clozapine alert; probe 13).
_PCT = {"%": 1.0, "/100": 1.0}
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
    # below 30 U/L is no LDH in U/L but a European value in ukat/L (1 ukat/L = 60 U/L; normal
    # about 2-4) labelled U/L: read as U/L it would be a normal LDH (see UNIT_SLIPS)
    "ldh": _rule("U/L", {"U/L": 1.0, "IU/L": 1.0}, 30.0, 100000.0),
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

#: What a value below a test's limit most likely is, said with the error: the unit is never
#: guessed, so the value is refused, but the reader is told where to look.
UNIT_SLIPS = {
    "ldh": "below 30 U/L it is most likely in ukat/L (1 ukat/L = 60 U/L), as European "
    "laboratories report it; give it in U/L",
}

#: Reticulocytes reported as a percentage are kept as a percentage under this fact name
#: (contract 1.1: "% (with RBC unknown: kept as %)").
RETICULOCYTE_PCT = "reticulocytes_pct"

assert set(CONVERSIONS) == set(NUMERIC_TESTS), "every numeric test needs a unit rule"


#: The factor of the per-microlitre count units (``/uL``, ``cells/mm3`` ...).
PER_MICROLITRE = 0.001

#: The lowest non-zero count a blood counter reports, in the canonical unit: a WBC below 0.01 and
#: platelets below 1 x 10^9/L are misread values (European exports write 4500 /uL as "4.500",
#: which reads as 4.5 cells/uL and raised false critical alerts), never results. An ANC may be
#: far lower (a WBC of 0.1 with 4% neutrophils), so it has no floor.
REPORTED_FLOOR: dict[str, float] = {"wbc": 0.01, "platelets": 1.0}


def factor_of(test: str, unit: str) -> float | None:
    """The factor that converts ``unit`` to the test's canonical unit, or None when the unit
    table does not know that spelling for that test (reticulocytes in % aside)."""
    rule = CONVERSIONS.get(test)
    if rule is None or not unit.strip():
        return None
    return rule.factors.get(_key(unit))


def canonical_unit(test: str) -> str:
    """The unit a numeric test is stored and compared in."""
    return CONVERSIONS[test].canonical


def fact_unit(name: str) -> str | None:
    """The unit of a lab value fact: the test's canonical unit, or % for a reticulocyte count
    kept as a percentage (:data:`RETICULOCYTE_PCT`); None for a name that is no numeric test."""
    if name == RETICULOCYTE_PCT:
        return "%"
    return CONVERSIONS[name].canonical if name in CONVERSIONS else None


def to_canonical(
    test: str, value: float, unit: str | None, *, field: str, bound: bool = False
) -> tuple[str, float]:
    """Convert ``value`` in ``unit`` to the test's canonical unit.

    Returns ``(test_name, canonical_value)``; the name differs from ``test`` only for
    reticulocytes given in %, which are kept as ``reticulocytes_pct``. Raises :class:`InputError`
    naming ``field`` for a missing or unknown unit, a non-finite number or an impossible value.
    A ``bound`` (the number of ``<1 %``) is not checked for the fraction mistake: a differential
    reported below a detection limit is a bound, not a fraction.
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
    if test == "reticulocytes" and key in _PCT:
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
    if test in DIFFERENTIAL_PCT and 0 < value < 1 and not bound:
        raise InputError(
            f"{field}.value",
            f"{value:g} with unit % looks like a fraction, not a percentage",
            got=value,
            expected=f"a percentage ({value * 100:g} for {value * 100:g} %); a differential under "
            f"1 % is given as the absolute count ({_ABSOLUTE_OF[test]}) instead",
        )
    # Decimal arithmetic, so that 2900 /uL and 2.9 10^9/L give the same float (unit invariance).
    exact = Decimal(repr(float(value))) * Decimal(repr(factor))
    if exact < Decimal(repr(low)) or exact > Decimal(repr(high)):
        slip = UNIT_SLIPS.get(name) if exact < Decimal(repr(low)) else None
        raise InputError(
            f"{field}.value",
            f"impossible value for {test}" + (f": {slip}" if slip else ""),
            got=value,
            expected=f"{_fmt(low)} to {_fmt(high)} {rule.canonical if name == test else '%'}",
        )
    canonical = float(exact.quantize(Decimal("0.000001")))
    if factor == PER_MICROLITRE and 0 < value < 10 and value != int(value) and not bound:
        raise InputError(
            f"{field}.value",
            f"{value:g} cells per microlitre is not a count (a count per microlitre is a whole "
            "number); a count written with a thousands separator ('4.500 /uL') reads as 4.5",
            got=f"{value:g} {unit}",
            expected=f"a whole number per microlitre (4500 /uL), or the count in {rule.canonical}",
        )
    floor = REPORTED_FLOOR.get(test)
    if floor is not None and 0 < canonical < floor and not bound:
        raise InputError(
            f"{field}.value",
            f"a {test} of {_fmt(canonical)} x {rule.canonical} is below any count a blood counter "
            f"reports ({_fmt(floor)} x {rule.canonical}); a count per microlitre written with a "
            "thousands separator ('4.500 /uL') reads as 4.5",
            got=f"{value:g} {unit}",
            expected=f"a whole number per microlitre (4500 /uL), or the count in {rule.canonical}",
        )
    return name, canonical


def bound_value(test: str, value: float, comparator: str | None, *, field: str) -> float:
    """The value the engine compares for a result reported as a bound (``value`` canonical).

    ``<x`` is compared as just below x, ``>x`` as just above it (:data:`BOUND_OFFSET`), ``<=x``
    and ``>=x`` as x. So every threshold t that the bound decides is decided right, whatever the
    comparison (``lt``, ``le``, ``ge``, ``gt``): ``<0.1`` is below 0.5 and below 0.1, and not at
    or above either; ``>100`` is above 100. A threshold the bound does not decide (``<600``
    against "above 500") is neither met nor unmet in the rules (:class:`engine.series.UpperBound`),
    except for the WBC and ANC, whose bound rules read it as if the value were at its bound
    (``<2.0`` is not below 1.5: the mildest reading the report allows). The output shows the
    bound as reported. A bound outside the test's possible range (``<0`` for a count) is an
    :class:`InputError` naming ``field``.
    """
    if comparator is None:
        return value
    if comparator not in COMPARATORS:
        raise InputError(
            f"{field}.comparator", "unknown comparator", got=comparator,
            expected="one of " + ", ".join(COMPARATORS),
        )  # fmt: skip
    rule = CONVERSIONS[test]
    if (comparator == "<" and value <= rule.low) or (comparator == ">" and value >= rule.high):
        raise InputError(
            f"{field}.value",
            f"no {test} is {comparator}{value:g} {rule.canonical}",
            got=f"{comparator}{value:g}",
            expected=f"a bound inside {_fmt(rule.low)} to {_fmt(rule.high)} {rule.canonical}",
        )
    if comparator == "<":
        return value - BOUND_OFFSET
    return value + BOUND_OFFSET if comparator == ">" else value


def shorthand_unit(test: str, value: object, *, field: str) -> str:
    """The unit a flat-shorthand value given without one is read in (the canonical unit), or an
    :class:`InputError` naming ``field`` that asks for the unit (see :data:`SHORTHAND_MAX`)."""
    canonical = CONVERSIONS[test].canonical
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return canonical  # not a number: validation names it
    shown, bound = f"{value:g}", SHORTHAND_MAX.get(test)
    if test == "reticulocytes":
        unit = "%"
        problem = "reticulocytes are given in % or as a count, so a value needs its unit"
    elif bound is not None and value >= bound:
        unit = "/uL"
        rule = CONVERSIONS[test]
        per_ul = value * rule.factors.get(_key("/uL"), 1e-3)
        if per_ul > rule.high:  # too large for cells/uL too: no reading of it is a count
            raise InputError(
                field, f"{test} {shown} is not a plausible count in 10^9/L or in cells/uL",
                got=value, expected=f"a count below {rule.high:g} x10^9/L, with its unit",
            )  # fmt: skip
        problem = (
            f"{test} {shown} without a unit is ambiguous: a count without a unit is read as "
            f"10^9/L only below {bound:g}, and {shown} looks like cells/uL"
        )
    else:
        return canonical
    example = f'{{"{test}": {{"value": {shown}, "unit": "{unit}"}}}}'
    raise InputError(field, problem, got=value, expected=f"the value with its unit, e.g. {example}")


#: How far a part may exceed the WBC of its day before it is refused (10^9/L): half the 0.1
#: step a WBC is often printed in, so that an ANC of 0.45 beside a WBC printed as 0.4 is rounding,
#: not a mix-up (in the CDS service it set the day's counts aside and lost a critical alert).
ROUNDING_SLACK = 0.05

#: Words each cross-result check of one day's blood count puts in its problem: the CDS service
#: sets such a day aside (engine/service/hooks.py) rather than fail the whole hook.
_SAME_DAY_PROBLEMS = (
    "above the wbc of the same day", "more than the whole count", "no wbc of the same day",
)  # fmt: skip
#: An ANC above this (10^9/L) is believed only beside a WBC of its day that holds it: counts so
#: high come with a WBC as high (chronic myeloid leukaemia), while alone they are nearly always
#: a count per microlitre sent as 10^3/uL, a thousand times too high (an ANC of 300 "10*3/uL"
#: read as normal hid a clozapine patient's severe neutropenia; probes 10 and 11).
ANC_ALONE_LIMIT = 100.0


def is_same_day_conflict(exc: InputError) -> bool:
    """Whether ``exc`` is one of :func:`check_same_day`'s: results of one day that contradict
    each other (an ANC above its WBC, a differential above 100%)."""
    return any(words in exc.problem for words in _SAME_DAY_PROBLEMS)


#: field, test, canonical value (a bound's compared value), date, given, comparator
Row = tuple[str, str, float, dt.date | None, str, str | None]


def check_same_day(rows: Iterable[Row]) -> None:
    """An ANC or ALC above the WBC of the same day is impossible (each is a part of the WBC); it
    is nearly always a unit or a column mix-up, so it is an :class:`InputError` naming both
    values. So is an ANC above :data:`ANC_ALONE_LIMIT` with no WBC of its day. Several results
    of one test on one date are allowed: a part is compared with the highest WBC of its date, so
    only a count above every WBC of that day is refused. A bound
    proves nothing here when it leaves the truth open: a part given as ``<x`` may be far below any
    WBC, and a WBC given as ``>x`` may be far above any part, so those are not compared."""
    rows = list(rows)
    days_with_wbc = {date for _, test, _, date, _, _ in rows if test == "wbc"}  # bounds too
    wbc: dict[dt.date | None, tuple[float, str, str]] = {}
    for field, test, value, date, given, comparator in rows:
        if comparator in (">", ">="):
            continue
        if test == "wbc" and (date not in wbc or value > wbc[date][0]):
            wbc[date] = (value, field, given)
    _check_differential(rows)
    for field, test, value, date, given, comparator in rows:
        if comparator in ("<", "<="):
            continue
        if test == "anc" and date not in days_with_wbc and value > ANC_ALONE_LIMIT:
            raise InputError(
                f"{field}.value",
                f"anc {value:g} x10^9/L has no wbc of the same day to hold it; a count this high "
                "is nearly always a count per microlitre sent in 10^3/uL (1000 times too high)",
                got=given,
                expected=f"an anc of at most {ANC_ALONE_LIMIT:g} x10^9/L, or the wbc of the same "
                "day; check the unit",
            )
        if test in ("anc", "alc") and date in wbc and value > wbc[date][0] + ROUNDING_SLACK:
            top, where, shown = wbc[date]
            raise InputError(
                f"{field}.value",
                f"{test} {value:g} x10^9/L is above the wbc of the same day, {top:g} x10^9/L "
                f"({where}, given {shown!r})",
                got=given,
                expected=f"an {test} no larger than the wbc it is part of; check both units",
            )


#: Rounding slack: each percentage is reported rounded, so three of them may add up to 100.x.
_PCT_SLACK = 1.0


def _check_differential(rows: list[Row]) -> None:
    """The neutrophil, band and lymphocyte percentages of one date are parts of one differential:
    together above 100% (beyond rounding) they are a column mix-up or a typing slip, and an ANC
    computed from them would exceed the WBC, so it is an :class:`InputError` naming each value.
    Of several results of one test on one date the lowest counts (as for the series); a bound is
    not compared."""
    lowest: dict[tuple[dt.date | None, str], tuple[float, str]] = {}
    for field, test, value, date, _given, comparator in rows:
        if test in DIFFERENTIAL_PCT and comparator is None:
            key = (date, test)
            if key not in lowest or value < lowest[key][0]:
                lowest[key] = (value, field)
    for date in {date for date, _ in lowest}:
        parts = [
            (test, *lowest[(date, test)]) for test in DIFFERENTIAL_PCT if (date, test) in lowest
        ]
        total = sum(value for _, value, _ in parts)
        if len(parts) > 1 and total > 100 + _PCT_SLACK:
            shown = " + ".join(f"{test} {value:g}" for test, value, _ in parts)
            raise InputError(
                f"{parts[-1][2]}.value",
                f"the differential of {date.isoformat() if date else 'one date'} adds up to "
                f"{total:g}% ({shown}), more than the whole count",
                got=f"{total:g}%",
                expected="neutrophil, band and lymphocyte percentages of one count adding up to "
                "at most 100%; check the columns and the units",
            )


def to_word(test: str, value: float | str, unit: str | None, *, field: str) -> str:
    """The canonical word of a qualitative result (contract 1.1: positive/negative, an ANA titer
    ``1:N``, a TPMT phenotype, a genotype or star allele); anything else is an InputError."""
    allowed = QUALITATIVE_TESTS[test]
    if unit:
        message = f"{test} is qualitative and takes no unit"
        raise InputError(f"{field}.unit", message, got=unit, expected="no unit")
    if not isinstance(value, str):
        expected = "one of " + ", ".join(allowed)
        raise InputError(f"{field}.value", f"{test} needs a word", got=value, expected=expected)
    text = value.strip().lower()
    if test == "ana" and _is_titer(text):
        return text
    if text in allowed or test in ("tpmt_genotype", "nudt15_genotype") and text.startswith("*"):
        return text
    raise InputError(
        f"{field}.value",
        f"unknown result for {test}",
        got=value,
        expected="one of " + ", ".join(allowed) + (" or a titer '1:N'" if test == "ana" else ""),
        suggestion=suggest(text, allowed),
    )


def _is_titer(text: str) -> bool:
    left, sep, right = text.partition(":")
    return sep == ":" and left == "1" and right.isdigit() and int(right) > 0


#: What of a normalised unit spelling is punctuation: everything but letters and digits, an
#: ``x`` before a number (``x10^9/l``) and an ``e`` between digits (``10e9/l``).
_PUNCTUATION = re.compile(r"[\W_]|(?<![^\W\d_])x|(?<=\d)e(?=\d)")


def _magnitude(key: str) -> str:
    """The letters and digits of a normalised unit spelling: its prefixes (``m``, ``u``, ``k``),
    units (``kat``, ``g``, ``l``) and powers of ten. Two spellings with the same magnitude text
    differ only in punctuation (``10^9l``, ``10*9/l``, ``[iu]/l``) and so name one unit."""
    return _PUNCTUATION.sub("", key)


def _suggest_unit(test: str, unit: str) -> str | None:
    """An accepted spelling of the same unit as an unknown one, shown as people write it
    (``10^9/L``, not ``10^9/l``), or None.

    Only a spelling that differs from the given one in punctuation alone is offered (``10^9L``
    -> ``10^9/L``): a suggestion that changed a letter or a digit would name a unit of another
    magnitude (``ukat/L`` -> ``U/L`` divides an LDH by 60, ``x10^6/uL`` -> ``x10^3/uL`` and
    ``mg/L`` -> ``ug/L`` by 1000), and a user who follows it loads a wrong value that no check
    can catch. Without such a spelling there is no hint; the error still lists the accepted
    units."""
    rule = CONVERSIONS[test]
    given = _magnitude(_key(unit))
    if not given:
        return None  # "‰", "/": nothing to compare ("‰" is no "%")
    shown = {_key(u): u for u in (rule.canonical, *_DISPLAY.get(test, ()))}
    accepted = {k: rule.factors.get(k, 1.0 if k == "%" else None) for k in (*shown, *rule.factors)}
    same = {k: f for k, f in accepted.items() if f is not None and _magnitude(k) == given}
    if len(set(same.values())) != 1:
        return None
    return next((shown[k] for k in shown if k in same), min(same))


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
    "ldh": ("IU/L",),
    "alt": ("IU/L",),
    "ast": ("IU/L",),
    "bilirubin": ("umol/L",),
    "haptoglobin": ("g/L",),
    "methylmalonic_acid": ("umol/L",),
    "ferritin": ("ug/L",),
    "zinc": ("umol/L",),
    "creatinine": ("umol/L",),
    "c3": ("g/L",),
    "c4": ("g/L",),
}
