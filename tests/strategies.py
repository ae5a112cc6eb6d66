# SPDX-License-Identifier: Apache-2.0
"""Hypothesis strategies for patient facts (contract section 1), shared by the property tests.

``patients()`` draws valid long-form patients that exercise every kind of fact rules can use:
dated WBC/ANC/ALC/Hb/platelet series, qualitative tests, drugs from the lexicon (by generic name,
brand, RxNorm id and class), conditions, findings and history with timing. ``junk()`` draws
arbitrary JSON-like values for the "no exception but InputError" property.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from hypothesis import strategies as st

from engine import vocab
from engine.kb.load import load_knowledge_base

AS_OF = dt.date(2025, 3, 1)

_COUNT_RANGES = {
    "wbc": (0.2, 15.0), "anc": (0.0, 9.0), "alc": (0.1, 6.0), "platelets": (5.0, 450.0),
    "hemoglobin": (5.0, 17.0), "mcv": (60.0, 130.0), "vitamin_b12": (50.0, 900.0),
    "lgl_count": (0.0, 3.0), "blasts_pct": (0.0, 60.0), "copper": (10.0, 150.0),
    "igg": (200.0, 1600.0), "reticulocytes": (5.0, 150.0), "crp": (0.0, 250.0),
    "folate": (1.0, 25.0), "neutrophil_pct": (0.0, 90.0), "band_pct": (0.0, 15.0),
    "ldh": (100.0, 3000.0), "ferritin": (10.0, 5000.0),
}  # fmt: skip
#: Tests whose results a laboratory may report as a bound (``<600``, ``>1000``): the rules read
#: them three-valued (engine.series.UpperBound). The white counts have bound rules of their own.
_BOUNDABLE = ("platelets", "hemoglobin", "vitamin_b12", "copper", "reticulocytes", "crp",
              "folate", "ldh", "ferritin")  # fmt: skip
_UNITS = {
    "wbc": "10^9/L",
    "anc": "10^9/L",
    "alc": "10^9/L",
    "platelets": "10^9/L",
    "hemoglobin": "g/dL",
    "mcv": "fL",
    "vitamin_b12": "pg/mL",
    "lgl_count": "10^9/L",
    "blasts_pct": "%",
    "copper": "ug/dL",
    "igg": "mg/dL",
    "reticulocytes": "10^9/L",
    "crp": "mg/L",
    "folate": "ng/mL",
    "neutrophil_pct": "%",
    "band_pct": "%",
    "ldh": "U/L",
    "ferritin": "ug/L",
}


@functools.cache
def _drug_names() -> list[str]:
    """Lexicon names, read once (a strategy must not depend on state that can change)."""
    kb = load_knowledge_base()
    names = sorted(kb.lexicon.drugs) + sorted(kb.lexicon.classes)
    brands = sorted({b for d in kb.lexicon.drugs.values() for b in d.brands})[:20]
    ids = sorted(f"rxnorm:{d.rxnorm}" for d in kb.lexicon.drugs.values() if d.rxnorm)[:10]
    return names + brands + ids + ["notarealdrug"]


def dates(days_back: int = 400) -> st.SearchStrategy[dt.date]:
    return st.integers(0, days_back).map(lambda n: AS_OF - dt.timedelta(days=n))


@st.composite
def lab(draw: st.DrawFn, tests: tuple[str, ...] = tuple(_COUNT_RANGES)) -> dict[str, Any]:
    test = draw(st.sampled_from(tests))
    low, high = _COUNT_RANGES[test]
    value = round(draw(st.floats(low, high, allow_nan=False)), 2)
    if test.endswith("_pct") and 0 < value < 1:
        value = 1.0  # under 1 % reads as a fraction given with unit %: an input error
    out = {"test": test, "value": value, "unit": _UNITS[test], "date": draw(dates()).isoformat()}
    if test in _BOUNDABLE and value > 0 and draw(st.integers(0, 5)) == 0:
        out["comparator"] = draw(st.sampled_from(["<", "<=", ">", ">="]))
    return out


@st.composite
def entry(draw: st.DrawFn, words: tuple[str, ...]) -> Any:
    word = draw(st.sampled_from(words))
    if draw(st.booleans()):
        return word
    since = draw(dates(3000))
    out: dict[str, Any] = {"name": word, "since": since.isoformat()}
    if draw(st.booleans()):
        out["until"] = (since + dt.timedelta(days=draw(st.integers(0, 200)))).isoformat()
    return out


@st.composite
def medication(draw: st.DrawFn, names: list[str]) -> Any:
    name = draw(st.sampled_from(names))
    if draw(st.integers(0, 4)) == 0:
        return name
    start = draw(dates(500))
    out: dict[str, Any] = {"name": name, "start": start.isoformat()}
    if draw(st.booleans()):
        out["stop"] = (start + dt.timedelta(days=draw(st.integers(0, 300)))).isoformat()
    return out


@st.composite
def patients(draw: st.DrawFn) -> dict[str, Any]:
    """A valid long-form patient with at least one WBC and one ANC."""
    names = _drug_names()
    labs = draw(st.lists(lab(), max_size=12))
    labs.append(draw(lab(("wbc",))))
    labs.append(draw(lab(("anc",))))
    qual = draw(st.lists(st.sampled_from(sorted(vocab.QUALITATIVE_TESTS)), max_size=3, unique=True))
    for test in qual:
        word = draw(st.sampled_from(vocab.QUALITATIVE_TESTS[test]))
        labs.append({"test": test, "value": word, "date": draw(dates()).isoformat()})
    _parts_within_wbc(labs)
    patient: dict[str, Any] = {
        "schema_version": 1, "id": "gen", "as_of": AS_OF.isoformat(), "labs": labs,
        "medications": draw(st.lists(medication(names), max_size=4)),
        "conditions": draw(st.lists(entry(vocab.CONDITIONS), max_size=3)),
        "findings": draw(st.lists(entry(vocab.FINDINGS), max_size=4)),
        "history": draw(st.lists(entry(vocab.HISTORY), max_size=2)),
    }  # fmt: skip
    optional = {
        "age": st.floats(0.1, 95, allow_nan=False).map(lambda a: round(a, 2)),
        "sex": st.sampled_from(vocab.SEXES), "duffy_null": st.booleans(),
        "ancestry": st.lists(st.sampled_from(vocab.ANCESTRIES), max_size=2, unique=True),
        "bmi": st.floats(11, 45, allow_nan=False).map(lambda b: round(b, 1)),
    }  # fmt: skip
    for key, strategy in optional.items():
        if draw(st.booleans()):
            patient[key] = draw(strategy)
    return patient


def _parts_within_wbc(labs: list[dict[str, Any]]) -> None:
    """An ANC or ALC above the WBC of its day is an input error: lower it to that WBC."""
    top: dict[str, float] = {}
    for lab in labs:
        if lab["test"] == "wbc":
            top[lab["date"]] = max(top.get(lab["date"], 0.0), lab["value"])
    for lab in labs:
        if lab["test"] in ("anc", "alc") and lab["date"] in top:
            lab["value"] = min(lab["value"], top[lab["date"]])


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["wbc", "anc", "10^9/L", "/uL", "2025-01-01", "clozapine", "1:40", "fever"]),
)  # fmt: skip


def junk() -> st.SearchStrategy[Any]:
    """Arbitrary JSON-like values, biased toward keys and words of the contract."""
    keys = st.one_of(
        st.sampled_from(
            [
                "labs",
                "medications",
                "conditions",
                "findings",
                "history",
                "age",
                "sex",
                "wbc",
                "anc",
                "as_of",
                "test",
                "value",
                "unit",
                "date",
                "name",
                "start",
                "stop",
                "since",
                "ancestry",
            ]
        ),
        st.text(max_size=8),
    )
    return st.recursive(
        _scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)
        ),
        max_leaves=20,
    )
