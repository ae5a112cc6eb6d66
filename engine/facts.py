# SPDX-License-Identifier: Apache-2.0
"""Validated patient facts -> the backend-neutral facts rules match on (the fact catalogue).

Every backend matches the same :class:`FactSet`, so the facts are computed once, here, and the
backends only compile rules. Everything is arithmetic on the input: latest values, demographics,
series summaries (:mod:`engine.series`), medication timing (:mod:`engine.courses`) and the timing
of conditions and findings; every threshold it needs comes from the knowledge base's
``parameters``. Facts are produced in a canonical order so that the same patient gives the same
facts whatever order it was written in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from engine import series, units, vocab
from engine.courses import CourseFact, course_facts
from engine.kb.catalog import SERIES_SUFFIXES, TREND_TESTS
from engine.kb.lexicon import UNLISTED, Lexicon
from engine.kb.load import KnowledgeBase
from engine.kb.schema import Scalar
from engine.patient import Entry, Lab, PatientFacts, timelines
from engine.series import Computed, Point


@dataclass(frozen=True)
class ValueFact:
    """A named value (``fact:`` atoms). ``fid`` is ``v:<name>``."""

    fid: str
    name: str
    value: Scalar
    how: str


@dataclass(frozen=True)
class MemberFact:
    """A condition, finding, history or ancestry word with timing fields."""

    fid: str
    kind: str
    name: str
    fields: dict[str, Scalar]
    how: str


@dataclass(frozen=True)
class FactSet:
    """Everything one patient's rules can match, as of one date, with what was left unused."""

    as_of: dt.date
    values: tuple[ValueFact, ...]
    members: tuple[MemberFact, ...]
    courses: tuple[CourseFact, ...]
    unknown_medications: tuple[str, ...] = ()
    ignored: tuple[tuple[str, str], ...] = field(default=())  # (input item, reason)

    def describe(self) -> dict[str, tuple[str, Scalar, str]]:
        """fid -> (name, value, how) for explanations."""
        out: dict[str, tuple[str, Scalar, str]] = {}
        for v in self.values:
            value = float(v.value) if type(v.value) in series.BOUNDS else v.value
            out[v.fid] = (v.name, value, v.how)
        for m in self.members:
            out[m.fid] = (f"{m.kind} {m.name}", True, m.how)
        for c in self.courses:
            out[c.fid] = (f"medication {c.drug}", True, c.how)
        return out


def as_of_date(patient: PatientFacts, today: dt.date) -> dt.date:
    """``as_of`` if given, else the latest date on which something was measured or began (a
    result, a drug's start, a finding's onset), but never after ``today``; else ``today``.

    End dates do not count: a prescription's planned stop or a condition's end says nothing of
    when the patient was seen, and as the assessment date it made the results' own day look
    old. A date after ``today`` is a slip (a mistyped year): taken as ``as_of`` it hid every
    current count behind a "future" normal one; capped, the later result is reported as not
    used, dated after ``as_of``."""
    if patient.as_of is not None:
        return patient.as_of
    dates = [lab.date for lab in patient.labs if lab.date]
    dates += [m.start for m in patient.medications if m.start]
    dates += [e.since for e in (*patient.conditions, *patient.findings, *patient.history)
              if e.since]  # fmt: skip
    return min(max(dates), today) if dates else today


def build_facts(patient: PatientFacts, kb: KnowledgeBase, *, today: dt.date) -> FactSet:
    """The fact set of one patient; ``today`` is the ``as_of`` of an input with no date at all."""
    as_of = as_of_date(patient, today)
    points = _lab_points(patient.labs, as_of)
    by_test = _series_by_test(points, as_of)
    repeats = _same_day_repeats(points, by_test)  # before computed counts join the series
    computed_how = _add_computed_counts(by_test)
    _add_anc_bounds(by_test, computed_how)
    stale = _not_concurrent(by_test, int(kb.parameter("concurrent_lines_days")))
    stale += _out_of_date(by_test, as_of, int(kb.parameter("ancillary_result_days")))
    values = _demographics(patient)
    values += _lab_values(patient.labs, by_test, computed_how, as_of)
    lln = _limits(patient, kb)
    counts = [by_test.get("wbc", []), by_test.get("anc", [])]
    episode = series.low_episode_days(counts, [lln["wbc"], lln["anc"]], as_of)
    values += _series_values(patient, kb, by_test, as_of, lln, episode)
    recent_days = int(kb.parameter("recent_nadir_days"))
    values += _recent_nadir(by_test.get("anc", []), as_of, recent_days)
    values += _latest_result_facts(by_test.get("anc", []), as_of, "anc")
    # a neutropenia's drug timing is read on the ANC wherever it was counted (series.low_dates)
    timing = _timing_limits(patient, kb, lln)
    decides = 1 if _latest_is_low(by_test.get("anc", []), timing["anc"], as_of) else None
    low, normal = series.low_dates(counts, [timing["wbc"], timing["anc"]], as_of, decides=decides)
    episode_start = _episode_start(patient, series.episode_of(low, normal, as_of), as_of)
    courses, unknown = course_facts(
        patient.medications,
        kb.lexicon,
        as_of,
        low,
        normal,
        episode_start,
        by_test.get("anc", []),
        recent_days,
        int(kb.parameter("treatment_gap_days")),
        kb.optional_parameter("drug_new_fall_fraction"),
    )
    superseded = _superseded(patient, as_of)
    current_days = int(kb.parameter("finding_current_days"))
    ended = _ended_long_ago(patient, as_of, current_days, superseded)
    members = _members(patient, as_of, (*superseded, *ended)) + _suspected_drugs(
        unknown, kb.lexicon
    )
    not_used = (
        *_after_as_of(patient, as_of), *stale, *_superseded_inputs(superseded),
        *_ended_inputs(ended, as_of, current_days), *repeats,
        *patient.set_aside,
    )  # fmt: skip
    return FactSet(
        as_of, tuple(sorted(values, key=lambda v: v.fid)), members, courses, unknown,
        tuple(sorted(not_used)),
    )  # fmt: skip


def _recent_nadir(points: list[Point], as_of: dt.date, days: int) -> list[ValueFact]:
    """``anc_recent_nadir``: the lowest ANC of the ``days`` before ``as_of``. The alerts read the
    latest ANC; this lets a rule see that a severe neutropenia of last week is still being
    managed (an ANC of 0.3 yesterday was forgotten once today's was 1.6)."""
    low = series.nadir_since(points, as_of - dt.timedelta(days=days), as_of)
    if low is None:
        return []
    return [ValueFact("v:anc_recent_nadir", "anc_recent_nadir", float(low.value), low.how)]


def _latest_result_facts(points: list[Point], as_of: dt.date, test: str) -> list[ValueFact]:
    """Two facts of the latest result, from one pass over the series.

    ``<test>_age_days``: how many days before ``as_of`` it was drawn. Every count alert reads
    the latest result, so a rule needs to see when it is too old to stand for today (a patient
    on a monitored drug whose last ANC was 82 days old read "No alert").

    ``<test>_is_upper_bound`` (true only): it is known only as at most some value (``<=0.8``
    from a WBC with no differential, ``<0.5`` as reported). A threshold table read at the
    bound's number picks a row the true value may lie below (a drug label's moderate row says
    "may be resumed" where its severe row says "do not rechallenge"), so the rules that give
    such advice need to know."""
    collapsed = series.collapse(points, as_of)
    if not collapsed:
        return []
    last = collapsed[-1]
    days = (as_of - last.date).days
    how = f"Latest {test.upper()} drawn on {last.date}, {days} day(s) before {as_of}"
    out = [ValueFact(f"v:{test}_age_days", f"{test}_age_days", float(days), how)]
    if last.comparator in ("<", "<="):
        how = f"Latest {test.upper()} {series.shown(last)} on {last.date} is an upper bound"
        out.append(ValueFact(f"v:{test}_is_upper_bound", f"{test}_is_upper_bound", True, how))
    return out


#: The white counts, whose bounds are read at their number: rules of their own know when the
#: latest is only a bound (``<test>_is_upper_bound``) and which thresholds it proves. Every
#: other result reported as a bound meets only the thresholds it decides (series.UpperBound).
EDGE_READ_BOUNDS = frozenset({"wbc", "anc"})

#: The other lines of the blood count, and the tests the cause profiles read beside them (LDH,
#: ferritin, reticulocytes as a percentage), read together with the white count only when
#: current: an LDH of 2019 says nothing of a neutropenia of 2026.
OTHER_LINES = ("hemoglobin", "platelets", "mcv", "reticulocytes", "reticulocytes_pct", "ldh",
               "ferritin", "blasts_pct")  # fmt: skip


#: Numeric tests that change with time and are read on their latest result, whatever its age,
#: unless it is older than kb.yaml ``ancillary_result_days``: a vitamin B12 of 2018 counted as
#: evidence about a 2025 pancytopenia (re-probe of probe 17). Genotypes and serologies are left
#: alone (a TPMT genotype or a positive HIV test does not go out of date).
DATED_RESULTS: tuple[str, ...] = tuple(
    t for t in vocab.NUMERIC_TESTS if t in vocab.ANCILLARY_TESTS and t not in OTHER_LINES
)


def _out_of_date(
    by_test: dict[str, list[Point]], as_of: dt.date, days: int
) -> tuple[tuple[str, str], ...]:
    """Removes from ``by_test`` the :data:`DATED_RESULTS` whose latest result is more than
    ``days`` before ``as_of``, and says why each is not used."""

    def too_old(last: dt.date) -> str | None:
        if (as_of - last).days <= days:
            return None
        return f"more than {days} days before {as_of.isoformat()}, so it does not stand for today"

    return _set_aside(by_test, DATED_RESULTS, too_old)


def _not_concurrent(by_test: dict[str, list[Point]], days: int) -> tuple[tuple[str, str], ...]:
    """Removes from ``by_test`` the other lines whose latest result is more than ``days`` before
    or after the latest WBC or ANC, and says why each is not used: lines measured in another
    episode are not a bi- or pancytopenia of this one (kb.yaml ``concurrent_lines_days``)."""
    white = [p.date for test in ("wbc", "anc") for p in by_test.get(test, [])]
    if not white:
        return ()
    latest = max(white)

    def elsewhere(last: dt.date) -> str | None:
        gap = (latest - last).days
        if abs(gap) <= days:  # either way: a white count of May is no pancytopenia with today's
            return None
        side = "before" if gap > 0 else "after"
        return (
            f"more than {days} days {side} the latest white count ({latest.isoformat()}), so not "
            "read with it"
        )

    return _set_aside(by_test, OTHER_LINES, elsewhere)


def _set_aside(
    by_test: dict[str, list[Point]], tests: Iterable[str], why: Callable[[dt.date], str | None]
) -> tuple[tuple[str, str], ...]:
    """Removes from ``by_test`` each of ``tests`` for whose latest result date ``why`` gives a
    reason, and lists it as not used with that reason."""
    out = []
    for test in tests:
        points = by_test.get(test)
        if not points:
            continue
        last = max(p.date for p in points)
        reason = why(last)
        if reason is not None:
            del by_test[test]
            out.append((f"labs ({test} on {last.isoformat()})", f"{reason}; not used"))
    return tuple(out)


def _suspected_drugs(unknown: Iterable[str], lexicon: Lexicon) -> tuple[MemberFact, ...]:
    """A medication name the lexicon does not know but that resembles one it knows (a typo, a
    look-alike letter) is not used as that drug: nothing is guessed. It becomes a
    ``suspected_drug`` fact for the drug and each of its classes, so that rules can warn that the
    drug's own rules (an ANC alert, say) were not applied.

    A name kept unread by a status word (``clozapine (held)``: :meth:`Lexicon.set_aside`) is a
    suspected drug of what it names without the word, so that its warning still fires and says
    why: the course may have been stopped, and without a stop date the label's rows for it
    cannot be chosen."""
    out: list[MemberFact] = []
    counts: dict[str, int] = {}
    for given in unknown:
        suspects: list[tuple[tuple[str, ...], str]] = []
        held = lexicon.set_aside(given)
        if held is not None:
            words, drug = held
            why = (
                f"given: medication '{given}' names {drug.name} but says {words!r}: whether it "
                "is taken now needs a stop date, so it was not used as a course"
            )
            suspects.append((tuple(a for a in drug.agents if a != UNLISTED), why))
        else:
            for near in lexicon.near_matches(given):
                why = (
                    f"given: medication '{given}' is not in the drug lexicon and was not used; "
                    f"it resembles {near.name}"
                )
                suspects.append(((near.name, *near.classes), why))
        for agents, how in suspects:
            for agent in agents:
                counts[agent] = counts.get(agent, 0) + 1
                fid = f"m:suspected_drug:{agent}" + (
                    f"#{counts[agent]}" if counts[agent] > 1 else ""
                )
                out.append(MemberFact(fid, "suspected_drug", agent, {"active": True}, how))
    return tuple(out)


def _after_as_of(patient: PatientFacts, as_of: dt.date) -> tuple[tuple[str, str], ...]:
    """Inputs dated after ``as_of`` are not used (the differential is made as of that date);
    they are listed so that nothing is dropped silently."""
    reason = f"dated after as_of {as_of.isoformat()}; not used"
    out = [
        (f"labs ({lab.test} on {lab.date.isoformat()})", reason)
        for lab in patient.labs
        if lab.date and lab.date > as_of
    ]
    out += [
        (f"medications ({m.name} started {m.start.isoformat()})", reason)
        for m in patient.medications
        if m.start and m.start > as_of
    ]
    for kind, entries in (
        ("conditions", patient.conditions),
        ("findings", patient.findings),
        ("history", patient.history),
    ):
        out += [
            (f"{kind} ({e.name} since {e.since})", reason)  # date: ISO
            for e in entries
            if _dated_after(e, as_of)
        ]
    return tuple(sorted(out))


def _dated_after(entry: Entry, as_of: dt.date) -> bool:
    """A condition, finding or history record that begins after ``as_of``: not read, and listed
    as not used (:func:`_after_as_of`)."""
    return entry.since is not None and entry.since > as_of


def _lab_points(labs: Iterable[Lab], as_of: dt.date) -> dict[str, list[Point]]:
    """Every numeric result, by test, as given (several of a day included)."""
    out: dict[str, list[Point]] = {}
    for lab in labs:
        if isinstance(lab.value, (int, float)) and not isinstance(lab.value, bool):
            point = Point(lab.date or as_of, float(lab.value), lab.comparator)
            out.setdefault(lab.test, []).append(point)
    return out


def _series_by_test(points: dict[str, list[Point]], as_of: dt.date) -> dict[str, list[Point]]:
    """Each test's series, one result per day (:func:`engine.series.collapse`: the lowest, or
    the highest for ``vocab.HIGHEST_OF_DAY``)."""
    return {
        test: series.collapse(p, as_of, highest=test in vocab.HIGHEST_OF_DAY)
        for test, p in points.items()
    }


def _same_day_repeats(
    points: dict[str, list[Point]], by_test: dict[str, list[Point]]
) -> list[tuple[str, str]]:
    """The results each series left out for another of the same day (:func:`_series_by_test`),
    listed as not used, so that an LDH of 300 beside 900 on one morning is not dropped without a
    word. A value given twice is listed once, and a repeat of the kept value not at all."""
    out: dict[tuple[str, str], None] = {}
    for test, given in points.items():
        kept = {p.date: p for p in by_test.get(test, [])}
        higher = test in vocab.HIGHEST_OF_DAY
        for point in given:
            chosen = kept.get(point.date)
            if chosen is None or point == chosen:
                continue  # after as_of (listed as such), or the result used
            item = f"labs ({test} {series.shown(point)} on {point.date.isoformat()})"
            reason = (
                f"another {test} result of the same day is {'higher' if higher else 'lower'} "
                f"({series.shown(chosen)}): the {'highest' if higher else 'lowest'} result of a "
                "day is used; not used"
            )
            out[(item, reason)] = None
    return list(out)


_DERIVED_COUNTS = (
    ("anc", ("neutrophil_pct", "band_pct"), ("neutrophils", "bands"), "ANC"),
    ("alc", ("lymphocyte_pct",), ("lymphocytes",), "ALC"),
)


def _add_computed_counts(by_test: dict[str, list[Point]]) -> dict[str, dict[dt.date, str]]:
    """ANC = WBC x (neutrophil% + band%) / 100 (and ALC likewise) on dates with no measured count.
    Returns, per count, the how-sentence of each computed date."""
    hows: dict[str, dict[dt.date, str]] = {}
    for target, pcts, names, label in _DERIVED_COUNTS:
        if "wbc" not in by_test or pcts[0] not in by_test:
            continue
        computed = series.absolute_from_percent(
            by_test["wbc"], [by_test.get(p, []) for p in pcts], label, names=names
        )
        given = {p.date: p for p in series.collapse(by_test.get(target, []), dt.date.max)}
        signs = _factor_signs(by_test, ("wbc", *pcts))
        extra = []
        for d, c in computed.items():
            sign = _product_sign(signs.get(d, set()))
            value = float(c.value)
            if sign != _MIXED and (
                d not in given or _clearly_below(value, given[d]) or _within(value, given[d])
            ):
                extra.append(Point(d, float(c.value), sign))
        if extra:
            by_test[target] = sorted([*by_test.get(target, []), *extra], key=lambda p: p.date)
            hows[target] = {
                p.date: _computed_how(computed[p.date].how, given.get(p.date), p) for p in extra
            }
    return hows


_MIXED = "mixed"


def _factor_signs(
    by_test: dict[str, list[Point]], tests: tuple[str, ...]
) -> dict[dt.date, set[str]]:
    """Per date, the directions of the bounds among the factors of a computed count (``<`` for
    ``<`` and ``<=``, ``>`` for ``>`` and ``>=``), read from the lowest result of each test that
    day (the one the computation used)."""
    out: dict[dt.date, set[str]] = {}
    for test in tests:
        for p in series.collapse(by_test.get(test, []), dt.date.max):
            if p.comparator is not None:
                out.setdefault(p.date, set()).add(p.comparator[0])
    return out


def _product_sign(signs: set[str]) -> str | None:
    """The bound a product of non-negative factors carries: a factor below its bound makes the
    product below it (``<1.0`` x 60% is ``<0.6``); factors bounded in both directions leave the
    product unknown (:data:`_MIXED`: no count is computed); exact factors, an exact product."""
    if len(signs) > 1:
        return _MIXED
    return next(iter(signs), None)


def _clearly_below(computed: float, given: Point) -> bool:
    """A count computed from the day's differential that is well below the count given for that
    day (by more than 0.1 x 10^9/L and a fifth): the two contradict each other, and the lower is
    read, as of any two results of one day. A given ANC of 1.8 beside a WBC of 2.0 with 20%
    neutrophils (0.4) was used in silence, and no alert fired. A given count reported as a lower
    bound (``>1.0``) contradicts a computed 0.4 just as an exact 1.0 does; one reported as an
    upper bound (``<1.0``) does not."""
    if given.comparator is not None and given.comparator[0] == "<":
        return False
    return given.value - computed > max(0.1, 0.2 * given.value)


def _within(computed: float, given: Point) -> bool:
    """An exact count computed from the day's differential below a count given as an upper
    bound (``<1.0`` beside 20% of a WBC of 2.0): it agrees with the bound and says more, so it
    is read (a febrile patient's 0.4 decides the severe threshold that ``<1.0`` leaves open)."""
    return given.comparator is not None and given.comparator[0] == "<" and computed < given.value


def _computed_how(how: str, given: Point | None, point: Point) -> str:
    if point.comparator is not None:
        how += (
            f"; a factor was reported as a bound, so the count is {series.shown(point)}, read as "
            "any bound"
        )
    if given is None:
        return how
    if point.comparator is None and _within(point.value, given):
        return f"{how}; within the bound given that day ({series.shown(given)}), and exact"
    return (
        f"{how}; below the count given that day ({series.shown(given)}), which it contradicts: "
        "the lower of the two is read"
    )


#: With no neutrophil count, an upper bound on the ANC below this (the lower limit of normal)
#: is added, and ``anc_is_upper_bound`` says so: the threshold tables that would read a bound at
#: its mildest row (a WBC of 1.4 read as an ANC of 1.4 said "mild neutropenia: continue the drug"
#: while the true ANC may be 0.1) are kept off it by that fact, and say that the ANC is needed.
#: Without the bound, a WBC of 0.8 or 1.2 today left an older, higher ANC as the latest.
ANC_BOUND_DECIDES_BELOW = 1.5


def _add_anc_bounds(by_test: dict[str, list[Point]], hows: dict[str, dict[dt.date, str]]) -> None:
    """On a date with a WBC and no ANC (measured or computed), the neutrophils are at most the
    white cells that are not lymphocytes (or monocytes) that day: the WBC, less the ALC and AMC
    when given, or the WBC times the share of the lymphocyte percentage's complement. When that
    bound is below 1.0 it proves at least a moderate neutropenia, and the date gets the bound
    ANC (a WBC of 0.4 alone, or a WBC of 1.8 with 90% lymphocytes, raised no alert before). On a
    date with a given ANC that the day's lymphocytes and monocytes leave no room for, the bound
    is added too, and the lower reading counts, as of any two results of one day (WBC 3.3, ANC
    2.29, ALC 1.4)."""
    given = {p.date: p for p in series.collapse(by_test.get("anc", []), dt.date.max)}
    day = {t: {p.date: p for p in series.collapse(by_test.get(t, []), dt.date.max)}
           for t in ("alc", "amc", "lymphocyte_pct")}  # fmt: skip
    extra: list[Point] = []
    said: dict[dt.date, str] = {}
    for p in by_test.get("wbc", []):
        if p.comparator in (">", ">="):
            continue
        bound, parts = _non_lymphoid(p, day)
        anc = given.get(p.date)
        if anc is not None:
            if parts is not None and _clearly_below(bound, anc):
                point = Point(p.date, round(bound, 3), "<=")
                extra.append(point)
                said[p.date] = (
                    f"{_bound_head(point)}: the neutrophils are at most {parts}, "
                    f"which contradicts the ANC given that day ({series.shown(anc)}): the lower "
                    "is read"
                )
        elif bound < ANC_BOUND_DECIDES_BELOW:
            point = Point(p.date, round(bound, 3), "<" if p.comparator == "<" else "<=")
            extra.append(point)
            said[p.date] = (
                f"{_bound_head(point)}: no neutrophil count that day, and the "
                f"neutrophils are at most {parts or f'the WBC {series.shown(p)}'}"
            )
    if extra:
        by_test["anc"] = sorted([*by_test.get("anc", []), *extra], key=lambda p: p.date)
        hows.setdefault("anc", {}).update(said)


def _bound_head(point: Point) -> str:
    """The start of a bound ANC's ``how``, which engine/wording.py reads the bound and date from."""
    return f"ANC computed as an upper bound ({series.shown(point)}) on {point.date.isoformat()}"


def _non_lymphoid(wbc: Point, day: dict[str, dict[dt.date, Point]]) -> tuple[float, str | None]:
    """The most the neutrophils of ``wbc``'s date can be, and why when the same day's
    lymphocytes (and monocytes) lower it below the WBC; None for the WBC alone. Exact values
    only: a bound on them says too little."""
    alc, amc = day["alc"].get(wbc.date), day["amc"].get(wbc.date)
    pct = day["lymphocyte_pct"].get(wbc.date)
    w = series.shown(wbc)
    if alc is not None and alc.comparator is None:
        mono = amc is not None and amc.comparator is None
        rest = alc.value + (amc.value if amc is not None and mono else 0.0)
        less = "the lymphocytes and monocytes" if mono else "the lymphocytes"
        return max(0.0, wbc.value - rest), f"the WBC {w} less {less}"
    if pct is not None and pct.comparator is None:
        share = max(0.0, 100.0 - pct.value) / 100.0
        return wbc.value * share, f"the WBC {w} less its {series.shown(pct)}% lymphocytes"
    return wbc.value, None


def _demographics(patient: PatientFacts) -> list[ValueFact]:
    out = []
    for name in ("age", "sex", "duffy_null", "bmi"):
        value = getattr(patient, name)
        if value is not None:
            out.append(ValueFact(f"v:{name}", name, value, f"given: {name} {value}"))
    return out


def _lab_values(
    labs: Iterable[Lab], by_test: dict[str, list[Point]],
    computed_how: dict[str, dict[dt.date, str]], as_of: dt.date,
) -> list[ValueFact]:  # fmt: skip
    out: list[ValueFact] = []
    for test, points in sorted(by_test.items()):
        hows = computed_how.get(test, {})
        last = series.latest(points, as_of, bounds=test not in EDGE_READ_BOUNDS)
        if last is not None:
            # the unit, or a reader of "Latest result 45" cannot tell a reticulocyte % from a count
            unit = units.fact_unit(test) or "the unit given"
            how = hows.get(last.dates[-1], last.how) + f"; unit {unit}"
            value = last.value if isinstance(last.value, float) else float(last.value)
            out.append(ValueFact(f"v:{test}", test, value, how))
    words: dict[str, tuple[dt.date, str]] = {}
    for lab in labs:
        if isinstance(lab.value, str) and (lab.date or as_of) <= as_of:
            when = lab.date or as_of
            if lab.test not in words or (when, lab.value) > words[lab.test]:
                words[lab.test] = (when, lab.value)
    for test, (when, word) in sorted(words.items()):
        how = f"latest {test} result {word} on {when.isoformat()}"
        if test == "ana" and ":" in word:
            titer = int(word.split(":")[1])
            out.append(ValueFact("v:ana_titer", "ana_titer", titer, how))
            word = "positive"
        out.append(ValueFact(f"v:{test}", test, word, how))
    return out


def _limits(patient: PatientFacts, kb: KnowledgeBase) -> dict[str, float]:
    """The lower reference limits used to call a count low: for the patient's age, and the
    Duffy-null limits when Duffy-null status is stated."""
    suffix = "_duffy_null" if patient.duffy_null else ""
    return {t: kb.parameter(f"{t}_lln{suffix}", age=patient.age) for t in ("wbc", "anc")}


def _timing_limits(
    patient: PatientFacts, kb: KnowledgeBase, lln: dict[str, float]
) -> dict[str, float]:
    """The limits a drug's timing is read against: the patient's own (:func:`_limits`), except
    that with a documented benign ethnic neutropenia and no Duffy status given, the ANC limit is
    the lower end of the BEN normal range (kb.yaml ``anc_lln_ben_timing``). Read against the
    general limits, a lifelong low baseline is one low episode begun years before any drug, and
    a new fall on a drug was never the drug's (probe 19). The ANC decides a date's timing where
    it was counted (:func:`engine.series.low_dates`), so the white count keeps its limit."""
    documented = any(
        c.name == "benign_ethnic_neutropenia" and c.present for c in patient.conditions
    )
    ben = kb.optional_parameter("anc_lln_ben_timing")
    if patient.duffy_null is not None or not documented or ben is None:
        return lln  # a knowledge base without the limit (a test KB) reads the general ones
    return {"wbc": lln["wbc"], "anc": min(lln["anc"], ben)}


def _series_values(
    patient: PatientFacts, kb: KnowledgeBase, by_test: dict[str, list[Point]],
    as_of: dt.date, lln: dict[str, float], episode: Computed | None,
) -> list[ValueFact]:  # fmt: skip
    out: list[ValueFact] = []
    for test in vocab.COUNT_TESTS:
        points = by_test.get(test, [])
        if not points:
            continue
        for suffix, fn in zip(SERIES_SUFFIXES[:2], (series.nadir, series.first), strict=True):
            c = fn(points, as_of)
            if c is not None:
                out.append(_vf(test + suffix, c))
        n = len(points)
        out.append(
            ValueFact(
                f"v:{test}_results",
                f"{test}_results",
                n,
                f"{n} dated {test} result(s) up to {as_of.isoformat()}",
            )
        )
    out += _trends(patient, kb, by_test, as_of, lln)
    fall = series.fall_from_normal(
        by_test.get("anc", []), as_of, lln["anc"], int(kb.parameter("trend_window_days"))
    )
    if fall is not None:
        out.append(_vf("anc_fall_from_normal_pct", fall))
    duration = _duration(patient, episode)
    if duration is not None:
        out.append(duration)
    return out


def _duration(patient: PatientFacts, episode: Computed | None) -> ValueFact | None:
    """Days the count has been low: the current low ``episode`` of the WBC and ANC series
    (:func:`engine.series.low_episode_days`). A series can only show a lower bound (it starts at
    the first low result it holds), so a stated ``leukopenia_duration_days`` that is longer
    wins."""
    given = patient.leukopenia_duration_days
    name = "leukopenia_duration_days"
    if given is not None and (episode is None or given > int(episode.value)):
        why = (
            "no low episode in the dated series"
            if episode is None
            else (f"longer than the {episode.value} days the dated series shows")
        )
        return ValueFact(f"v:{name}", name, given, f"given: {name} {given} ({why})")
    return _vf(name, episode) if episode is not None else None


def _trends(
    patient: PatientFacts, kb: KnowledgeBase, by_test: dict[str, list[Point]],
    as_of: dt.date, lln: dict[str, float],
) -> list[ValueFact]:  # fmt: skip
    out: list[ValueFact] = []
    for test in TREND_TESTS:
        points = by_test.get(test, [])
        cyc = (
            series.cycle(
                points,
                as_of,
                threshold=lln[test],
                min_days=int(kb.parameter("cycle_min_days")),
                max_days=int(kb.parameter("cycle_max_days")),
            )
            if points
            else None
        )
        if cyc is not None:
            out.append(ValueFact(f"v:{test}_trend", f"{test}_trend", "cyclic", cyc.how))
            if not any(v.name == "cycle_period_days" for v in out):
                out.append(_vf("cycle_period_days", cyc))
            continue
        tr = (
            series.trend(
                points,
                as_of,
                window_days=int(kb.parameter("trend_window_days")),
                stable_fraction_per_30d=kb.parameter("trend_stable_slope_per_30d"),
                unit="10^9/L",
            )
            if points
            else None
        )
        if tr is not None:
            out.append(_vf(f"{test}_trend", tr))
        elif test == "wbc" and patient.wbc_trend is not None:
            out.append(
                ValueFact(
                    "v:wbc_trend",
                    "wbc_trend",
                    patient.wbc_trend,
                    f"given: wbc_trend {patient.wbc_trend} (no usable dated series)",
                )
            )
    return out


def _vf(name: str, c: Computed) -> ValueFact:
    return ValueFact(f"v:{name}", name, c.value, c.how)


def _latest_is_low(points: list[series.Point], limit: float, as_of: dt.date) -> bool:
    """Whether the latest result on or before ``as_of`` is below ``limit``: the patient's current
    problem is a neutropenia, whose drug timing the ANC decides (a leukopenia with a normal ANC,
    a lymphopenia, keeps the white count's dates)."""
    known = series.collapse(points, as_of)
    return bool(known) and known[-1].value < limit


def _episode_start(
    patient: PatientFacts, episode: Computed | None, as_of: dt.date
) -> dt.date | None:
    """When the current low episode began: the first low date of the series' current run, or
    ``as_of`` minus a stated ``leukopenia_duration_days``, whichever is earlier. (The series'
    duration is the span its results document, which ends at the latest result, not at
    ``as_of``, so the start cannot be worked back from it.)"""
    starts = [episode.dates[0]] if episode is not None and episode.dates else []
    given = patient.leukopenia_duration_days
    if given is not None:
        starts.append(as_of - dt.timedelta(days=int(given)))
    return min(starts) if starts else None


def _superseded(patient: PatientFacts, as_of: dt.date) -> list[tuple[str, Entry, Entry]]:
    """(kind, entry, the later record) of every entry a later record of the opposite state
    replaced by ``as_of`` (petechiae until 5 November, recorded absent from 18 November: the
    patient has no petechiae now). Only timelines reach here: overlapping present and absent
    records of one item are an input error (:func:`engine.patient.timelines`)."""
    out = []
    for kind, entries in (
        ("conditions", patient.conditions), ("findings", patient.findings),
        ("history", patient.history),
    ):  # fmt: skip
        for earlier, later in timelines(entries):
            first = min(later, key=lambda e: e.since or dt.date.max)
            if first.since is not None and first.since <= as_of:
                out += [(kind, e, first) for e in earlier]
    return out


def _ended_long_ago(
    patient: PatientFacts, as_of: dt.date, days: int, superseded: Sequence[tuple[str, Entry, Entry]]
) -> list[tuple[str, Entry, Entry]]:
    """Findings recorded present that ended (``until``) more than ``days`` before ``as_of``
    (kb.yaml ``finding_current_days``): a bleed of 2019 is history in a 2026 work-up, not part
    of the presentation, and no rule or profile may count it as present. Each is given as
    (kind, entry, entry), the shape of :func:`_superseded`, for :func:`_members` to skip."""
    limit = as_of - dt.timedelta(days=days)
    dropped = {id(e) for _, e, _ in superseded}
    return [
        ("findings", e, e)
        for e in patient.findings
        if e.present and e.until is not None and e.until < limit and id(e) not in dropped
    ]


def _ended_inputs(
    ended: Sequence[tuple[str, Entry, Entry]], as_of: dt.date, days: int
) -> list[tuple[str, str]]:
    return [
        (
            f"{kind} ({entry.name} until {entry.until.isoformat() if entry.until else '?'})",
            f"ended {(as_of - entry.until).days if entry.until else '?'} days before as_of, more "
            f"than the {days} days a finding counts as current (kb.yaml finding_current_days): "
            "history, not part of the presentation; not used",
        )
        for kind, entry, _ in ended
    ]


def _superseded_inputs(superseded: list[tuple[str, Entry, Entry]]) -> list[tuple[str, str]]:
    out = []
    for kind, entry, later in superseded:
        state = "absent" if not later.present else "present"
        until = entry.until.isoformat() if entry.until else "?"
        since = later.since.isoformat() if later.since else "?"
        out.append(
            (
                f"{kind} ({'' if entry.present else 'no '}{entry.name} until {until})",
                f"superseded by the later record of it {state} from {since}; not used",
            )
        )
    return out


def _members(
    patient: PatientFacts, as_of: dt.date, superseded: Sequence[tuple[str, Entry, Entry]] = ()
) -> tuple[MemberFact, ...]:
    dropped = {id(e) for _, e, _ in superseded}  # superseded, or ended long before as_of
    out: list[MemberFact] = []
    groups: list[tuple[str, Iterable[Entry]]] = [
        ("condition", patient.conditions), ("finding", patient.findings),
        ("history", patient.history),
        ("ancestry", (Entry(name=a) for a in patient.ancestry)),
    ]  # fmt: skip
    for given_kind, entries in groups:
        seen: dict[str, int] = {}
        for entry in entries:
            if id(entry) in dropped or _dated_after(entry, as_of):
                continue  # superseded, ended long ago or dated after as_of (all listed as not used)
            # a recorded absence is its own kind of fact: rules that ask for the item never see it
            kind = given_kind if entry.present else f"absent_{given_kind}"
            seen[f"{kind}:{entry.name}"] = seen.get(f"{kind}:{entry.name}", 0) + 1
            count = seen[f"{kind}:{entry.name}"]
            suffix = f"#{count}" if count > 1 else ""
            fields, how = _timing(entry, as_of)
            said = f"{given_kind} {entry.name}"
            said = said if entry.present else f"no {said}"
            how += f"; {entry.source}" if entry.source else ""
            out.append(
                MemberFact(
                    f"m:{kind}:{entry.name}{suffix}",
                    kind,
                    entry.name,
                    fields,
                    f"given: {said}{how}",
                )
            )
    return tuple(out)


def _timing(entry: Entry, as_of: dt.date) -> tuple[dict[str, Scalar], str]:
    fields: dict[str, Scalar] = {"active": entry.until is None or entry.until >= as_of}
    parts = []
    if entry.since is not None:
        fields["days_since"] = (as_of - entry.since).days
        parts.append(f"since {entry.since.isoformat()}")
    if entry.until is not None:
        fields["days_since_end"] = max(0, (as_of - entry.until).days)
        parts.append(f"until {entry.until.isoformat()}")
    elif entry.since is not None:
        fields["days_since_end"] = 0
    if entry.since is not None:
        end = as_of if entry.until is None else min(entry.until, as_of)
        fields["duration_days"] = max(0, (end - entry.since).days)
    return fields, (f" ({', '.join(parts)})" if parts else "")
