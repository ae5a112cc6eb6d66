# SPDX-License-Identifier: Apache-2.0
"""Medication courses against the count series: the ``medication:`` facts rules match on.

A drug is suspected of lowering a count by its timing: how long after the start the first low
result came (onset), whether the count was already low before the start (baseline), whether it
recovered after the stop (dechallenge), and whether an earlier course of the same drug was also
followed by a low count (rechallenge). This module does that date arithmetic for each course and
turns it into one :class:`CourseFact` per medication. It lives apart from :mod:`engine.series`
(which knows nothing of drugs) and from :mod:`engine.facts` (which assembles every kind of fact),
because this is the one part of the fact catalogue whose reasoning is about drug exposure.

No medicine here either: "low" and "normal" dates arrive already split by the knowledge base's
limits (:func:`engine.series.low_dates`). A timing field whose value cannot be known is left out
rather than defaulted, so that a rule testing it is false, never false-by-default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.errors import InputError
from engine.kb.lexicon import Lexicon, ResolvedDrug
from engine.kb.schema import Scalar
from engine.patient import Medication
from engine.series import Computed, Point, collapse, nadir_since

Day = dt.date
Dates = Sequence[dt.date]


@dataclass(frozen=True)
class CourseFact:
    """One medication course; rules match it by any of its ``agents`` (drug or class)."""

    fid: str
    drug: str
    given: str
    agents: tuple[str, ...]
    fields: dict[str, Scalar]
    how: str


def course_facts(
    meds: Iterable[Medication], lexicon: Lexicon, as_of: Day, low: list[Day],
    normal: list[Day], episode_start: Day | None, anc: list[Point], recent_days: int = 30,
    gap_days: int = 30, fall_fraction: float | None = None,
) -> tuple[tuple[CourseFact, ...], tuple[str, ...]]:  # fmt: skip
    """One course fact per medication, and the names the lexicon does not know (sorted, once).

    ``episode_start`` is when the current low episode began, ``anc`` the ANC series for the
    pre-start baseline and for the lowest ANC of the last ``recent_days`` taken on the drug.
    Courses are ordered by drug, then start and stop, so that the same patient gives the same
    facts in any input order; a repeated course of one drug is numbered
    (``x:<drug>#2``) and knows whether an earlier course was followed by a low count. Courses of
    one drug less than ``gap_days`` apart are one treatment (``days_on_treatment``): a dose
    change is a new order, not a new start. With ``fall_fraction``, a course begun during a low
    episode whose ANC then fell to that fraction of its pre-start ANC or below has its onset at
    that fall (:func:`new_fall_on_drug`).
    """
    resolved = sorted(
        ((lexicon.resolve(m.name), m) for m in meds),
        key=lambda rm: (
            rm[0].name,
            rm[1].start or dt.date.min,
            rm[1].stop or dt.date.max,
            rm[0].given,
        ),
    )
    out: list[CourseFact] = []
    unknown: list[str] = []
    earlier_low: dict[str, set[Day | None]] = {}  # drug -> treatment starts with a low count
    counts: dict[str, int] = {}
    began = _treatment_starts(resolved, gap_days)
    for drug, med in resolved:
        counts[drug.name] = counts.get(drug.name, 0) + 1
        first = began.get(id(med))  # None: no start date, or it continues an undated order
        # the treatment's start, not the order's: a dose change is a new order of a drug taken
        # for a year, and read from the order's own start it was "the count fell 19-60 days
        # after the drug was started" (probe 17), a pre-drug baseline taken on the drug, and
        # (the ANC-table rows reading only counts after the start) a clozapine ANC of 0.4 two
        # days before a dose change would have been read as a baseline; a course not yet begun
        # keeps its own start (it has only ``active``)
        start = med.start if med.start is not None and med.start > as_of else first
        timing = exposure(start, med.stop, as_of, low, normal, episode_start)
        if first is not None and med.start is not None and med.start <= as_of:
            days = (as_of - first).days
            how = f"{days} days of treatment since {first}"
            continued = f"{how}; this order, from {med.start}, continues it"
            timing["days_on_treatment"] = Computed(
                days, continued if first != med.start else "", ()
            )
        if med.start is None:  # rules that need the stage of treatment cannot tell it
            timing["start_known"] = Computed(False, "No start date given", ())
        elif med.start <= as_of:  # a course not yet begun has only ``active``
            timing["start_known"] = Computed(True, "", ())
        if "start_known" in timing:
            # true only when the start date shows it (exposure's _low_before_start says when the
            # episode began): a course with no start may have begun before, and stays a candidate
            began_low = began_in_episode(start, episode_start)
            timing["started_in_low_episode"] = Computed(began_low, "", ())
        if start is not None and start <= as_of:
            baseline = baseline_value(start, anc, as_of, "ANC")
            if baseline is not None:
                timing["baseline_anc"] = baseline
            after = anc_after_start(start, anc, as_of)
            if after is not None:
                timing["anc_after_start"] = after
            if fall_fraction is not None and began_in_episode(start, episode_start):
                timing.update(
                    new_fall_on_drug(start, med.stop, anc, as_of, baseline, fall_fraction)
                )
        if start is None or start <= as_of:
            recent = recent_nadir_since_start(start, anc, as_of, recent_days)
            if recent is not None:
                timing["recent_anc_nadir"] = recent
        fields: dict[str, Scalar] = {k: c.value for k, c in timing.items()}
        if "onset_days" in fields and counts[drug.name] > 1:
            # a rechallenge is a new treatment: an order continuing one that had a low count
            # (a dose change) is the same exposure, not a second one
            fields["low_on_rechallenge"] = bool(earlier_low.get(drug.name, set()) - {start})
        if fields.get("on_drug_at_onset") is True:
            earlier_low.setdefault(drug.name, set()).add(start)
        # never empty: ``active`` is always known
        how = "; ".join(c.how for c in timing.values() if c.how)
        label = drug.name if drug.known else f"{drug.given} (not in the lexicon)"
        out.append(
            CourseFact(
                f"x:{drug.name}#{counts[drug.name]}",
                drug.name,
                drug.given,
                drug.agents,
                fields,
                f"{label}: {how}",
            )
        )
        unknown.extend(drug.unread)
    return tuple(out), tuple(sorted(set(unknown)))


def _treatment_starts(
    resolved: Sequence[tuple[ResolvedDrug, Medication]], gap_days: int
) -> dict[int, Day | None]:
    """Per course (by ``id`` of its medication), the start of the treatment it belongs to (None:
    it continues an order with no start date):
    courses of one drug whose start comes less than ``gap_days`` after the previous one ended
    (or while it runs) are one treatment. EHR histories record every dose change as a new order;
    a monitored drug's label continues its schedule after an interruption of less than 30
    days, so the stage of treatment runs from the first start."""
    out: dict[int, Day | None] = {}
    last: dict[str, tuple[Day | None, Day | None]] = {}  # drug -> (treatment start, latest stop)
    for drug, med in resolved:  # sorted by drug, then start (no start first)
        if med.start is None:
            # an order with no start date but a stop: the next order continuing it continues a
            # treatment whose start is unknown (a dose change after an undated order turned an
            # ANC of 0.4 on clozapine into a pre-drug baseline; re-probe of probe 17)
            if med.stop is not None:
                last[drug.name] = (None, med.stop)
            continue
        earlier = last.get(drug.name)
        if earlier is not None:
            first, stop = earlier
            joined = stop is None or med.start <= stop + dt.timedelta(days=gap_days - 1)
            if joined:
                ends = None if stop is None or med.stop is None else max(stop, med.stop)
                last[drug.name] = (first, ends)
                out[id(med)] = first
                continue
        last[drug.name] = (med.start, med.stop)
        out[id(med)] = med.start
    return out


def began_in_episode(start: Day | None, episode_start: Day | None) -> bool:
    """Whether the start date shows a course began after the current low episode had begun (so
    it did not start it): false with no start date or no episode."""
    return start is not None and episode_start is not None and episode_start < start


def exposure(
    start: Day | None, stop: Day | None, as_of: Day, low: Dates, normal: Dates,
    episode_start: Day | None = None,
) -> dict[str, Computed]:  # fmt: skip
    """Timing facts of one medication course against the low and normal result dates.

    A key is left out when its value cannot be known (no start date, no result in the period),
    because a rule on an unknown value must be false, not false-by-default. A course that starts
    after ``as_of`` has only ``active``. ``low``/``normal`` come from
    :func:`engine.series.low_dates`. ``episode_start`` is when the current low episode began as
    far as anything shows (the dated series, or a longer stated duration); an episode that began
    before the drug was started was not started by it, whatever the first low result after the
    start says.
    """
    if start is not None and stop is not None and stop < start:
        expected = f"a date on or after start {start}"
        raise InputError(
            "medications[].stop", "stop before start", got=str(stop), expected=expected
        )
    low = [d for d in low if d <= as_of]
    normal = [d for d in normal if d <= as_of]
    out = _course_timing(start, stop, as_of)
    if start is None or start > as_of:
        return out
    baseline = _baseline(start, low, normal)
    if episode_start is not None and began_in_episode(start, episode_start):
        out.update(_low_before_start(start, episode_start, baseline))
    else:
        out.update(_onset(start, stop, as_of, low))
        out.update(baseline)
    recovered = _dechallenge(start, stop, as_of, low, normal) if stop and stop <= as_of else None
    if recovered is not None:
        out["recovered_after_stop"] = recovered
    return out


def baseline_value(start: Day, points: Iterable[Point], as_of: Day, what: str) -> Computed | None:
    """The latest result on or before a drug's start date (the pre-drug baseline a label asks for).

    A result on the start day still counts: a drug cannot lower a count within hours, and labels
    ask for the baseline before the first dose, which is usually drawn that day.
    """
    before = collapse(points, min(start, as_of))
    if not before:
        return None
    last = before[-1]
    how = f"Last {what} on or before start {start}: {last.value:g} on {last.date}"
    return Computed(last.value, how, (last.date,))


def new_fall_on_drug(
    start: Day, stop: Day | None, points: Iterable[Point], as_of: Day,
    baseline: Computed | None, fraction: float,
) -> dict[str, Computed]:  # fmt: skip
    """Onset facts for a course begun while the count was already low, when the ANC then fell on
    the drug to ``fraction`` of the last pre-start ANC or below: the first such result is the
    onset of a new fall, which the drug may have caused. A mildly low baseline (1.3-1.4, never
    investigated) made a fall to 0.6 on day 14 of piperacillin-tazobactam part of a low episode
    begun the year before, and the drug was 18th (probe 19). Empty when there is no pre-start
    ANC or no such fall while on the drug."""
    if baseline is None or not isinstance(baseline.value, (int, float)) or baseline.value <= 0:
        return {}
    limit = float(baseline.value) * fraction
    end = as_of if stop is None else min(stop, as_of)
    fall = next((p for p in collapse(points, end) if p.date > start and p.value <= limit), None)
    if fall is None:
        return {}
    days = (fall.date - start).days
    how = (
        f"ANC {fall.value:g} on {fall.date}, {days} days after start {start}: at most "
        f"{fraction:g} of the {baseline.value:g} before the start, a new fall on the drug"
    )
    return {
        "onset_days": Computed(days, how, (fall.date,)),
        "on_drug_at_onset": Computed(True, how, (fall.date,)),
        "started_in_low_episode": Computed(False, how, (fall.date,)),
    }


def anc_after_start(start: Day, points: Iterable[Point], as_of: Day) -> Computed | None:
    """Whether the latest ANC up to ``as_of`` was drawn after the start day (None: no ANC).

    A label's ANC table manages the counts taken on the drug; the latest ANC drawn before the
    first dose (or on its day, the baseline day of :func:`baseline_value`) is a baseline, which
    the initiation rules read. A drug started the day after an ANC of 1.3 had its label's "mild
    neutropenia: continue the drug" beside "initiation is not recommended", and ranked first as
    the cause of a count it could not have lowered (probe 17)."""
    dates = [p.date for p in points if p.date <= as_of]
    if not dates:
        return None
    latest = max(dates)
    after = latest > start
    how = "" if after else f"Latest ANC {latest}, on or before start {start}: a baseline"
    return Computed(after, how, (latest,))


def recent_nadir_since_start(
    start: Day | None, points: Iterable[Point], as_of: Day, days: int
) -> Computed | None:
    """The lowest ANC of the ``days`` before ``as_of`` drawn after the start day.

    A label's severe-neutropenia management runs for weeks after the nadir, but only a nadir on
    the drug belongs to it: a severe count before the first dose is the baseline (which the
    initiation rules read), not a neutropenia the drug caused. The start day itself is the
    baseline day (:func:`baseline_value`), so it is left out here. With no start date every
    count of the window is taken as on the drug: an unknown start is not a start after the low
    count, and a medication list without dates lost the recent-severe alert.
    """
    window = as_of - dt.timedelta(days=days)
    if start is not None:
        window = max(start + dt.timedelta(days=1), window)
    low = nadir_since(points, window, as_of)
    if low is None:
        return None
    since = f"after start {start}" if start is not None else "with no start date given"
    return Computed(low.value, f"ANC {since}: {low.how}", low.dates)


def _course_timing(start: Day | None, stop: Day | None, as_of: Day) -> dict[str, Computed]:
    """The date arithmetic of one course: active, days since start, on drug, since stop."""
    began = start is None or start <= as_of
    active = began and (stop is None or stop >= as_of)
    course = f"course from {start or 'an unknown start'} " + (f"to {stop}" if stop else "ongoing")
    taking = "Taking it" if active else "Not taking it"
    out = {"active": Computed(active, f"{taking} on {as_of} ({course})", ())}
    if start is not None and start <= as_of:
        since = (as_of - start).days
        out["days_since_start"] = Computed(since, f"{since} days from start {start} to {as_of}", ())
        end = min(stop, as_of) if stop is not None else as_of
        on = (end - start).days
        out["days_on_drug"] = Computed(on, f"{on} days on the drug, {start} to {end}", ())
    if stop is not None and stop <= as_of:
        after = (as_of - stop).days
        out["days_since_stop"] = Computed(after, f"{after} days from stop {stop} to {as_of}", ())
    return out


def _onset(start: Day, stop: Day | None, as_of: Day, low: Dates) -> dict[str, Computed]:
    """Days from start to the first low result on or after it, and whether still on the drug."""
    onset = min((d for d in low if start <= d <= as_of), default=None)
    if onset is None:
        return {}
    days = (onset - start).days
    on_drug = stop is None or onset <= stop
    where = "on the drug" if on_drug else f"after stopping it on {stop}"
    how = f"First low result {onset}, {days} days after start {start}"
    return {
        "onset_days": Computed(days, how, (onset,)),
        "on_drug_at_onset": Computed(on_drug, f"First low result {onset} came {where}", (onset,)),
    }


def _baseline(start: Day, low: Dates, normal: Dates) -> dict[str, Computed]:
    """Whether the last result before the start was already low (then the drug did not cause it)."""
    before = max((d for d in [*low, *normal] if d < start), default=None)
    if before is None:
        return {}
    was_low = before in set(low)
    how = f"Last result before start {start} was {'low' if was_low else 'normal'}, on {before}"
    return {"baseline_low": Computed(was_low, how, (before,))}


def _low_before_start(
    start: Day, episode_start: Day, baseline: dict[str, Computed]
) -> dict[str, Computed]:
    """The current low episode began before the start: no onset on the drug, and (unless a dated
    result before the start says otherwise) the count was already low at baseline."""
    how = f"The current low episode began by {episode_start}, before start {start}"
    out = {"on_drug_at_onset": Computed(False, how, (episode_start,))}
    out["baseline_low"] = baseline.get("baseline_low") or Computed(True, how, (episode_start,))
    return out


def _dechallenge(start: Day, stop: Day, as_of: Day, low: Dates, normal: Dates) -> Computed | None:
    """Low on the drug, and normal at the latest result after stopping it (positive dechallenge)."""
    after = max((d for d in [*low, *normal] if stop < d <= as_of), default=None)
    if after is None:
        return None
    on_drug = [d for d in low if start <= d <= stop]
    still_low = after in set(low)
    how = f"No low result on the drug ({start} to {stop})"
    if on_drug:
        word = "low" if still_low else "normal"
        how = f"Low on the drug on {on_drug[-1]}; latest result after stop {stop} was {word}"
        how += f", on {after}"
    return Computed(bool(on_drug) and not still_low, how, tuple(sorted({*on_drug[-1:], after})))
