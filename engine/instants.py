# SPDX-License-Identifier: Apache-2.0
"""Results whose written dates and drawing instants disagree.

A result is dated as written, with no time-zone shift (days are the engine's resolution, and the
patient's own day is the one its record shows). So of two results of one test written with
different UTC offsets, the one drawn first can carry the later date: an ANC of 3.5 drawn at
2025-02-10T02:00:00Z is dated the 10th, an ANC of 0.3 drawn two hours later at
2025-02-09T23:00:00-05:00 the 9th, and the 3.5 was read as the latest count (no alert). Merged
exports mix ``Z`` and local offsets. When the instants of two results order them the other way
round from their dates, the one with the later date is not used if it is the higher, with the
reason: the later, lower result stands as the latest, as the lowest result of one day is read (a
result the dates cannot order is read the conservative way). A lower one stays, and no date is
changed.

Used by the FHIR reader (:mod:`engine.fhir.convert`) and by the patient reader for results
whose ``date`` is a timestamp with an offset (a results table, a YAML or JSON case).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

#: How far apart two results can be drawn and still be ordered one way by their instants and the
#: other by their written dates: UTC offsets run from -12:00 to +14:00.
OFFSET_SPAN = dt.timedelta(hours=26)


@dataclass(frozen=True)
class Timed:
    """A result with its drawing instant: its test, its value in the test's canonical unit, its
    written date, the instant (UTC), and how to name it (``ANC 3.5 10^9/L``, its place)."""

    test: str
    value: float
    date: dt.date
    instant: dt.datetime
    shown: str
    where: str


def instant_of(value: object) -> dt.datetime | None:
    """The moment (in UTC) of a timestamp that gives a time and its offset
    (``2025-02-09T23:00:00-05:00`` is 2025-02-10 04:00 UTC; a ``datetime`` with a time zone
    too); None for a date alone, a time without an offset, or anything unreadable."""
    moment: dt.datetime | None = None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and "T" in value:
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(dt.UTC)


def overtaken(results: Sequence[Timed]) -> dict[int, str]:
    """The results to set aside (by index in ``results``), each with its reason: drawn before a
    lower result of the same test that carries an earlier written date."""
    by_test: dict[str, list[int]] = {}
    for i, r in enumerate(results):
        by_test.setdefault(r.test, []).append(i)
    out: dict[int, str] = {}
    for indices in by_test.values():
        indices.sort(key=lambda i: results[i].instant)
        for k, i in enumerate(indices):
            first = results[i]
            for j in indices[k + 1 :]:
                later = results[j]
                if later.instant - first.instant > OFFSET_SPAN:
                    break
                if (later.instant > first.instant and later.date < first.date
                        and later.value < first.value):  # fmt: skip
                    out[i] = _reason(first, later)
                    break
    return out


def _reason(first: Timed, later: Timed) -> str:
    def utc(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M UTC")

    return (
        f"{first.shown} dated {first.date} was drawn at {utc(first.instant)}, before the lower "
        f"{first.test} of {later.where} (drawn at {utc(later.instant)}, dated {later.date}: dates "
        "are as written, with no time-zone shift); by its later date it would hide that later "
        "result as the latest, so it is not used"
    )
