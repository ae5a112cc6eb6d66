# SPDX-License-Identifier: Apache-2.0
"""An item recorded present and later absent (or absent, then present) is a timeline, read as its
latest state: the seventh probe's petechiae of 1-5 November, recorded absent from 18 November,
were refused as "recorded both present and absent" and the whole patient failed. Records that
overlap still contradict each other, and a record dated after ``as_of`` is not used (it was
listed as not used, yet still read)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.api import diagnose
from engine.errors import InputError

DAY = "2026-11-20"
LABS = [
    {"test": "wbc", "value": 2.0, "unit": "10^9/L", "date": "2026-11-09"},
    {"test": "anc", "value": 0.9, "unit": "10^9/L", "date": "2026-11-09"},
]
ENDED = {"name": "splenomegaly", "since": "2026-11-01", "until": "2026-11-05"}
LATER_ABSENT = {"name": "splenomegaly", "present": False, "since": "2026-11-18"}


def patient(*findings: dict[str, Any], as_of: str = DAY) -> dict[str, Any]:
    return {"age": 60, "as_of": as_of, "labs": LABS, "findings": list(findings)}


@pytest.mark.parametrize("backend", ["clips", "experta"])
def test_the_later_record_of_a_timeline_is_read(backend: str) -> None:
    d = diagnose(patient(ENDED, LATER_ABSENT), backend=backend)
    assert [r.id for r in d.facts if "splenomegaly" in r.id] == ["m:absent_finding:splenomegaly"]
    assert not [t for t in d.trace if t.rule_id.endswith(".profile.splenomegaly")]
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert reasons["findings (splenomegaly until 2026-11-05)"] == (
        "superseded by the later record of it absent from 2026-11-18; not used"
    )


def test_absent_then_present_reads_the_finding() -> None:
    earlier = {
        "name": "lymphadenopathy",
        "present": False,
        "since": "2026-10-01",
        "until": "2026-10-20",
    }
    later = {"name": "lymphadenopathy", "since": "2026-11-02"}
    d = diagnose(patient(earlier, later))
    assert [r.id for r in d.facts if "lymphadenopathy" in r.id] == ["m:finding:lymphadenopathy"]


def test_overlapping_present_and_absent_records_are_refused() -> None:
    still = {"name": "splenomegaly", "since": "2026-11-01"}
    with pytest.raises(InputError, match="splenomegaly is recorded both present and absent"):
        diagnose(patient(still, LATER_ABSENT))


def test_a_record_after_as_of_is_not_read() -> None:
    d = diagnose(patient(ENDED, LATER_ABSENT, as_of="2026-11-10"))
    assert [r.id for r in d.facts if "splenomegaly" in r.id] == ["m:finding:splenomegaly"]
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert (
        reasons["findings (splenomegaly since 2026-11-18)"]
        == "dated after as_of 2026-11-10; not used"
    )


@pytest.mark.parametrize("backend", ["clips", "experta"])
def test_a_finding_that_ended_long_before_as_of_is_history_not_presentation(backend: str) -> None:
    """The seventh probe's D06: a bleed of January 2019 was "present" in a 2026 differential,
    for the profiles and for authored rules alike (and a resolved FHIR Condition the same)."""
    old_bleed = {"name": "bleeding", "since": "2019-01-01", "until": "2019-01-05"}
    d = diagnose(patient(old_bleed), backend=backend)
    assert not [r.id for r in d.facts if "bleeding" in r.id]
    assert not [t for t in d.trace if "bleeding" in t.rule_id]
    reasons = {i.item: i.reason for i in d.ignored_inputs}
    assert reasons["findings (bleeding until 2019-01-05)"].startswith(
        "ended 2876 days before as_of, more than the 90 days a finding counts as current"
    )
    same_without = diagnose(patient(), backend=backend)
    assert [c.cause for c in d.candidates] == [c.cause for c in same_without.candidates]
    assert [c.score for c in d.candidates] == [c.score for c in same_without.candidates]


@pytest.mark.parametrize(
    ("until", "read"),
    [("2026-08-22", True), ("2026-08-21", False), ("2026-11-19", True)],
)
def test_a_finding_counts_until_ninety_days_after_it_ended(until: str, read: bool) -> None:
    """The boundary (kb.yaml finding_current_days, 90): ended 90 days before as_of is still
    read, 91 days is not; an ongoing finding and one ended yesterday are read."""
    d = diagnose(patient({"name": "bleeding", "since": "2026-08-01", "until": until}))
    assert any(r.id == "m:finding:bleeding" for r in d.facts) is read
    assert any(
        r.id == "m:finding:bleeding"
        for r in diagnose(patient({"name": "bleeding", "since": "2019-01-01"})).facts
    )
