# SPDX-License-Identifier: Apache-2.0
"""Results whose written dates and drawing instants disagree (engine/instants.py): the patient
reader (a case, a results table) and the FHIR reader set aside a higher result that a later,
lower one overtakes; the FHIR reader reads results of one instant on one date (probes 10, 11)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api import diagnose
from engine.batch.grouping import single_patient
from engine.fhir.convert import from_fhir
from engine.instants import Timed, instant_of, overtaken
from engine.patient import parse_patient
from tests.batch.test_tables import write_csv
from tests.unit.test_fhir import bundle, obs, qty

EARLY, LATE = "2025-02-11T03:00:00Z", "2025-02-10T23:00:00-05:00"  # LATE is drawn an hour later


def lab(test: str, value: float, date: str) -> dict[str, object]:
    return {"test": test, "value": value, "unit": "10^9/L", "date": date}


def test_instants_are_read_only_with_an_offset() -> None:
    assert instant_of("2025-02-10T23:00:00-05:00") == dt.datetime(2025, 2, 11, 4, tzinfo=dt.UTC)
    assert instant_of("2025-02-10T23:00:00") is None and instant_of("2025-02-10") is None
    assert instant_of("garbage T") is None and instant_of(3) is None


def test_a_case_with_offsets_sets_aside_the_higher_result_the_lower_overtakes() -> None:
    facts = parse_patient({"labs": [lab("wbc", 4.5, EARLY), lab("anc", 2.0, EARLY),
                                    lab("wbc", 1.9, LATE), lab("anc", 0.3, LATE)]})  # fmt: skip
    assert sorted((x.test, x.value) for x in facts.labs) == [("anc", 0.3), ("wbc", 1.9)]
    reasons = dict(facts.set_aside)
    assert (
        "was drawn at 2025-02-11 03:00 UTC, before the lower anc"
        in reasons["labs[1] (anc on 2025-02-11)"]
    )
    d = diagnose({"labs": [lab("wbc", 4.5, EARLY), lab("anc", 2.0, EARLY),
                           lab("wbc", 1.9, LATE), lab("anc", 0.3, LATE)]})  # fmt: skip
    assert "severe_neutropenia" in {a.id for a in d.alerts}


def test_dates_alone_and_a_lower_result_first_change_nothing() -> None:
    plain = parse_patient({"labs": [lab("anc", 2.0, "2025-02-11"), lab("anc", 0.3, "2025-02-10")]})
    assert len(plain.labs) == 2 and not plain.set_aside
    lower_first = parse_patient({"labs": [lab("anc", 0.3, EARLY), lab("anc", 2.0, LATE)]})
    assert len(lower_first.labs) == 2 and not lower_first.set_aside


def test_a_results_table_with_mixed_offsets_is_read_the_same_way(tmp_path: Path) -> None:
    rows = [["patient_id", "test", "value", "unit", "date"],
            ["p1", "anc", "2.0", "10^9/L", EARLY],
            ["p1", "anc", "0.3", "10^9/L", LATE]]  # fmt: skip
    data, _ = single_patient(write_csv(tmp_path / "r.csv", rows))
    assert [x.value for x in parse_patient(data).labs] == [0.3]


def test_fhir_results_of_one_instant_are_read_on_one_date() -> None:
    wbc = obs("w", "6690-2", "2026-12-06T23:55:00-05:00", valueQuantity=qty(1.9, "10*3/uL"))
    pct = obs("n", "770-8", "2026-12-07T04:55:00Z", valueQuantity=qty(10, "%"))
    result = from_fhir(bundle(wbc, pct))
    assert {x["date"] for x in result.facts["labs"]} == {dt.date(2026, 12, 6)}
    assert "same instant" in {i.resource: i.reason for i in result.ignored}["Observation/n"]
    d = diagnose(result.facts)
    assert "severe_neutropenia" in {a.id for a in d.alerts}  # the ANC is computed


moments = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2025, 1, 4),
                       timezones=st.just(dt.UTC))  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(moments, st.floats(0.1, 10), st.integers(-1, 1)), min_size=1,
                max_size=6))  # fmt: skip
def test_what_is_kept_is_never_overtaken_and_never_empty(
    draws: list[tuple[dt.datetime, float, int]],
) -> None:
    results = [Timed("anc", v, (m + dt.timedelta(days=shift)).date(), m, f"anc {v}", f"r{i}")
               for i, (m, v, shift) in enumerate(draws)]  # fmt: skip
    dropped = overtaken(results)
    assert len(dropped) < len(results)  # the lowest result of the span is never set aside
    kept = [r for i, r in enumerate(results) if i not in dropped]
    assert min(r.value for r in kept) == min(r.value for r in results)
