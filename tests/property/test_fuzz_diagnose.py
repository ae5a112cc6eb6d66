# SPDX-License-Identifier: Apache-2.0
"""A fuzz run of ``diagnose``: valid generated patients, each damaged in a few places with the
values a hostile world sends (huge and non-finite numbers, dates at the ends of the calendar,
lone surrogates and control characters, deep nesting, unit spellings, shorthand counts, wrong
types). Whatever comes in, ``diagnose`` returns a serialisable differential or raises
:class:`InputError` naming a field; nothing else may escape (no OverflowError, RecursionError,
UnicodeError, KeyError...).

A small example count by default; ``HYPOTHESIS_PROFILE=slow`` runs at least 20,000 examples."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import InputError, KnowledgeBase, diagnose, load_knowledge_base
from tests.strategies import patients

TODAY = dt.date(2025, 3, 1)
EXAMPLES = 20_000 if os.environ.get("HYPOTHESIS_PROFILE") == "slow" else 60


def _deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = [value]
    return value


HOSTILE: list[Any] = [
    None, True, False, 0, -1, -0.0, 1e-320, 1e308, -1e308, float("inf"), float("nan"),
    10**18, 10**29, 10**30, -(10**40), 2**63, 36525, 36526, 10**23, 120.0001,
    "", " ", "\x00", "\ud800", "a\udc80b", "\u200bclozapine", "ｃｌｏｚａｐｉｎｅ", "x" * 10_000,
    "0001-01-01", "9999-12-31", "1899-12-31", "2200-12-31", "2201-01-01", "2025-02-30",
    "2025-03-01T10:00:00", dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2025, 3, 1),
    dt.datetime(2025, 3, 1, 10, 0),
    "K/uL", "Thousand/uL", "10³/µL", "x10(3)/mcL", "/uL", "%", "10^9/dL", "g/L", "mmol/L",
    "1:40", "1:0", "positive", "*3A/*3C", "wbc", "anc", "clozapine", "fever",
    [], {}, [[]], {"value": 400, "unit": "/uL"}, {"value": 0.4}, {"name": "fever"},
    _deep(70), _deep(10), {"a": {"b": {"c": [1, 2, 3]}}},
]  # fmt: skip
TOP_KEYS = ["id", "as_of", "age", "sex", "duffy_null", "ancestry", "labs", "medications",
            "conditions", "findings", "history", "bmi", "wbc_trend", "leukopenia_duration_days",
            "schema_version", "wbc", "anc", "alc", "neutrophil_pct", "hemoglobin", "platelets",
            "expected", "notes", "unknown_key"]  # fmt: skip
FIELD_KEYS = ["test", "value", "unit", "date", "name", "start", "stop", "dose", "since", "until",
              "present"]  # fmt: skip


def _containers(value: Any, out: list[Any]) -> list[Any]:
    """Every dict and list inside ``value`` (each a place a hostile value can go)."""
    if isinstance(value, (dict, list)):
        out.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, out)
    return out


@st.composite
def damaged_patients(draw: st.DrawFn) -> dict[str, Any]:
    patient = copy.deepcopy(draw(patients()))
    hostile = st.one_of(  # copies: a shared [] must not grow from one example to the next
        st.sampled_from(HOSTILE).map(copy.deepcopy), st.integers(), st.floats(), st.text(max_size=8)
    )
    for _ in range(draw(st.integers(1, 4))):
        places = _containers(patient, [])
        place = draw(st.sampled_from(places))
        if isinstance(place, dict):
            # mostly a value of a field the place has (deeper reach); sometimes a new field
            known = sorted(place) or TOP_KEYS
            new = TOP_KEYS if place is patient else FIELD_KEYS
            key = draw(st.sampled_from(known if draw(st.integers(0, 4)) else new))
            if draw(st.integers(0, 5)) == 0:
                place.pop(key, None)
            else:
                place[key] = draw(hostile)
        elif place and draw(st.booleans()):
            place[draw(st.integers(0, len(place) - 1))] = draw(hostile)
        else:
            place.append(draw(hostile))
    return patient


@functools.cache
def _kb() -> KnowledgeBase:
    """Loaded once: a long run neither re-reads rules/ nor sees it change mid-run."""
    return load_knowledge_base()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(damaged_patients())
def test_only_input_errors_escape(patient: dict[str, Any]) -> None:
    try:
        result = diagnose(patient, kb=_kb(), today=TODAY)
    except InputError as exc:
        assert exc.field and str(exc)
        str(exc).encode("utf-8")  # printable: the CLI writes it to stderr
        return
    result.to_json().encode("utf-8")
