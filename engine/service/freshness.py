# SPDX-License-Identifier: Apache-2.0
"""How current the counts behind a hook's cards are, on the day the hook is answered.

A CDS Hooks 2.0 request carries no time of its own (``hook``, ``hookInstance``, ``fhirServer``,
``fhirAuthorization``, ``context``, ``prefetch``), so the service evaluates the patient as of the
day it receives the call. The latest WBC and ANC are then compared with the knowledge base's
lookback (:mod:`engine.kb.staleness`), the shortest that applies to the drugs the patient takes
that day: a count older than it is *stale*, and the cards say so instead of presenting it as the
patient's current state. A missing ANC (no ANC and no differential to compute one) is the other
reason to suggest a CBC with differential. Pure functions: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.differential import Differential, FactRef
from engine.kb.lexicon import Lexicon
from engine.kb.staleness import Lookback, Staleness
from engine.wording import fact_date, value_text

#: The counts whose age decides whether the cards rest on current values.
COUNTS = ("anc", "wbc")


@dataclass(frozen=True)
class Count:
    """The latest result of one count: its fact, its date and its age on the hook's day."""

    ref: FactRef
    date: dt.date
    age_days: int

    @property
    def text(self) -> str:
        """``ANC 0.4 x 10^9/L on 2025-09-01, 15 months ago``."""
        return f"{value_text(self.ref)}, {age_text(self.age_days)}"


@dataclass(frozen=True)
class Freshness:
    """The latest WBC and ANC on ``as_of`` against the lookback that applies."""

    as_of: dt.date
    counts: dict[str, Count]  # "anc" / "wbc" -> the latest result, when there is one
    lookback: Lookback | None  # None: the knowledge base sets no lookback

    def is_stale(self, count: Count) -> bool:
        return self.lookback is not None and count.age_days > self.lookback.days

    @property
    def stale(self) -> tuple[Count, ...]:
        """The latest counts older than the lookback (ANC first)."""
        return tuple(c for t in COUNTS if (c := self.counts.get(t)) and self.is_stale(c))

    @property
    def anc_missing(self) -> bool:
        return "anc" not in self.counts

    @property
    def needs_cbc(self) -> bool:
        """Whether a CBC with differential should be suggested: a stale count or no ANC."""
        return bool(self.counts) and (self.anc_missing or bool(self.stale))

    @property
    def headline(self) -> Count | None:
        """The count a card names first: the ANC, else the WBC."""
        return self.counts.get("anc") or self.counts.get("wbc")

    def stale_dates(self, facts: Iterable[FactRef]) -> list[Count]:
        """Which of ``facts`` (a card's inputs) are stale latest counts."""
        ids = {f.id for f in facts}
        return [c for c in self.stale if c.ref.id in ids]


def assess(d: Differential, as_of: dt.date, lookback: Lookback | None) -> Freshness:
    """The latest WBC and ANC of ``d`` with their ages on ``as_of``."""
    refs = {f.id: f for f in d.facts}
    counts: dict[str, Count] = {}
    for test in COUNTS:
        ref = refs.get(f"v:{test}")
        date = fact_date(ref) if ref else None
        if ref is not None and date is not None:
            day = dt.date.fromisoformat(date)
            counts[test] = Count(ref, day, (as_of - day).days)
    return Freshness(as_of, counts, lookback)


def taking(facts: Mapping[str, Any], lexicon: Lexicon, as_of: dt.date) -> dict[str, int | None]:
    """Each drug and drug class the patient takes on ``as_of`` (contract section 1
    ``medications``), with the days since its course started (None when the start is unknown)."""
    out: dict[str, int | None] = {}
    for med in facts.get("medications", []):
        name = med.get("name") if isinstance(med, dict) else med
        if not isinstance(name, str):
            continue
        start, stop = _day(med, "start"), _day(med, "stop")
        if (start and start > as_of) or (stop and stop < as_of):
            continue
        days = (as_of - start).days if start else None
        drug = lexicon.resolve(name)
        for agent in (drug.name, *drug.agents, *drug.components):
            known = out.get(agent, days)
            out[agent] = None if days is None or known is None else max(days, known)
    return out


def lookback_for(
    staleness: Staleness | None, facts: Mapping[str, Any], lexicon: Lexicon, as_of: dt.date
) -> Lookback | None:
    """The lookback of a patient on ``as_of`` (None when the knowledge base sets none)."""
    return staleness.lookback(taking(facts, lexicon, as_of)) if staleness else None


def age_text(days: int) -> str:
    """An age in the unit a clinician would say: ``today``, ``3 days ago``, ``15 months ago``."""
    if days <= 0:
        return "today"
    for limit, size, unit in ((14, 1, "day"), (63, 7, "week"), (730, 30.44, "month")):
        if days < limit:
            n = max(1, round(days / size))
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    years = round(days / 365.25)
    return f"{years} years ago"


def _day(med: object, key: str) -> dt.date | None:
    value = med.get(key) if isinstance(med, dict) else None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None
