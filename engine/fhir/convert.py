# SPDX-License-Identifier: Apache-2.0
"""FHIR R4 input: Bundles, resource lists, NDJSON and CDS Hooks prefetch maps -> patient facts.

Produces the long form of contract section 1 by plain dict walking (no FHIR model library).
Codes are read through data (``rules/terminology/fhir.yaml``, :mod:`engine.fhir.terms`); single
resources are read by :mod:`engine.fhir.read` and :mod:`engine.fhir.medication`. This module
walks the input, keeps one patient, and assembles the facts: Patient ``gender`` -> ``sex``;
``birthDate`` -> ``age`` at ``as_of`` (completed months / 12 under 2 years, whole years from then
on); ``as_of`` is the argument, else the latest result or start date in the facts (never an end
date, and never after ``today`` when that is given). Body temperatures at or above
the data's threshold make the finding ``fever`` from the first febrile day until the next
afebrile day (or the last febrile day, when no afebrile day follows). Overlapping spans of one
word or one drug are merged (a drug's also when one starts the day after the other ends: daily
administrations are one course), and every list is sorted,
so the input order does not matter.

An Observation with no date of its own takes the date of the DiagnosticReport that lists it in
``result`` (or of the panel Observation that lists it in ``hasMember``): laboratories often date
only the report, as HL7's own CBC example (Bundle 101) does. A result keeps the date written in
it (no time-zone shift); of two results of one test whose instants order them the other way
round from those dates, the higher one with the later date is not used
(:func:`_set_aside_overtaken`), so that it cannot hide the later, lower one as the latest.

Nothing is dropped silently: whatever is not used is listed in ``ignored`` with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import units
from engine.errors import InputError
from engine.fhir.medication import read_medication
from engine.fhir.read import (
    EFFECTIVE_DATES,
    Reading,
    Resource,
    Span,
    Temperature,
    read_condition,
    read_observation,
    read_procedure,
)
from engine.fhir.terms import (
    Concept,
    Terminology,
    first_date,
    known_rxnorm,
    load_terminology,
    parse_date,
    parse_instant,
    path,
)
from engine.instants import Timed, overtaken
from engine.vocab import SCHEMA_VERSION, SEXES

_BUNDLE_TYPES = (
    "collection", "searchset", "batch-response", "transaction-response", "document", "batch",
    "transaction",
)  # fmt: skip
_EXPECTED = "a Bundle, a resource, a list of resources, or a CDS Hooks prefetch map"


@dataclass(frozen=True)
class IgnoredInput:
    """A resource (or part of one) that did not become a fact, and why."""

    resource: str  # "Observation/o7", or "entry[3]" when it has no id
    reason: str


@dataclass(frozen=True)
class FhirConversion:
    """Contract section 1 facts, and everything that was left out of them."""

    facts: dict[str, Any]
    ignored: tuple[IgnoredInput, ...]


def parse_ndjson(text: str) -> list[dict[str, Any]]:
    """Read NDJSON (FHIR bulk data): one resource per line; blank lines are skipped."""
    resources: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}", f"not valid JSON: {exc.msg}") from exc
        if not _is_resource(item):
            raise InputError(f"line {number}", "not a FHIR resource", expected="resourceType")
        resources.append(item)
    return resources


def is_fhir(data: object) -> bool:
    """Whether ``data`` is FHIR: a resource or Bundle, a list of resources, or a prefetch map."""
    if isinstance(data, dict):
        if "resourceType" in data:
            return _is_resource(data)
        values = list(data.values())
        return any(_is_resource(v) for v in values) and all(
            v is None or _is_resource(v) for v in values
        )
    return isinstance(data, list) and bool(data) and all(_is_resource(i) for i in data)


def from_fhir(
    data: object,
    *,
    as_of: dt.date | None = None,
    terminology: Path | None = None,
    today: dt.date | None = None,
) -> FhirConversion:
    """Convert FHIR R4 data to patient facts (contract section 1); see the module docstring.
    Without ``as_of``, the assessment date is the latest result or start in the data, but never
    after ``today`` (a mistyped year must not move the assessment into the future)."""
    if not is_fhir(data):
        raise InputError("input", "not FHIR R4 data", expected=_EXPECTED)
    ctx = _Context(load_terminology(terminology), known_rxnorm(terminology))
    items = _dedupe(_collect(data, ctx), ctx)
    patient = _pick_patient(items, ctx)
    if patient is None:
        _one_subject(items)
    ctx.index_medications(items)
    ctx.index_reports(items)
    for item in items:
        _dispatch(item, patient, ctx)
    for item in items:
        if item.type == "Medication" and item.where not in ctx.used_medications:
            ctx.ignore(item.where, f"Medication not referenced by a {_USES_TEXT}")
    _one_date_per_instant(ctx)
    _set_aside_overtaken(ctx)
    latest = _latest(ctx)
    facts = _assemble(ctx, patient, as_of or (min(latest, today) if latest and today else latest))
    ignored = sorted(set(ctx.ignored), key=lambda i: (i.resource, i.reason))
    return FhirConversion(facts, tuple(ignored))


def _is_resource(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str)


# --- walking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    where: str  # "Type/id", or the location when the resource has no id
    resource: Resource
    full_url: str | None
    keyed: bool  # where is "Type/id"

    @property
    def type(self) -> str:
        return str(self.resource["resourceType"])


@dataclass
class _Context:
    terms: Terminology
    known: frozenset[str]  # RxNorm codes the lexicon knows
    labs: list[dict[str, Any]] = field(default_factory=list)
    timed: list[tuple[str, dict[str, Any], dt.datetime]] = field(default_factory=list)
    courses: dict[str, list[Span]] = field(default_factory=dict)
    members: dict[Concept, list[Span]] = field(default_factory=dict)
    temperatures: list[Temperature] = field(default_factory=list)
    open_fevers: list[tuple[str, Span]] = field(default_factory=list)  # (resource, span) no end
    ignored: list[IgnoredInput] = field(default_factory=list)
    medications: dict[str, _Item] = field(default_factory=dict)
    used_medications: set[str] = field(default_factory=set)
    report_dates: dict[str, dt.date] = field(default_factory=dict)  # result reference -> date

    def ignore(self, where: str, reason: str) -> None:
        self.ignored.append(IgnoredInput(where, reason))

    def index_reports(self, items: Iterable[_Item]) -> None:
        """The date each DiagnosticReport (``result``) or panel Observation (``hasMember``) gives
        the results it lists; the earliest wins when two lists name one result."""
        for item in items:
            res = item.resource
            refs = res.get("result") if item.type == "DiagnosticReport" else res.get("hasMember")
            if item.type not in ("DiagnosticReport", "Observation") or not isinstance(refs, list):
                continue
            if res.get("status") in self.terms.skip_status.get(item.type, ()):
                continue
            date, _ = first_date(res, EFFECTIVE_DATES, partial=False)
            for ref in refs:
                target = path(ref, ("reference",))
                if date is None or not isinstance(target, str):
                    continue
                for key in (target, "/".join(target.split("/")[-2:])):
                    self.report_dates[key] = min(date, self.report_dates.get(key, date))

    def report_date(self, item: _Item) -> dt.date | None:
        """The date a report or panel gives this Observation, if one lists it."""
        for key in (item.where if item.keyed else None, item.full_url):
            if key is not None and key in self.report_dates:
                return self.report_dates[key]
        return None

    def index_medications(self, items: Iterable[_Item]) -> None:
        for item in items:
            if item.type == "Medication":
                if item.keyed:
                    self.medications[item.where] = item
                if item.full_url:
                    self.medications[item.full_url] = item

    def resolve(self, ref: object) -> Resource | None:
        """The bundled Medication a reference points to (``Medication/id`` or a fullUrl)."""
        if not isinstance(ref, str):
            return None
        target = self.medications.get(ref) or self.medications.get("/".join(ref.split("/")[-2:]))
        if target is None:
            return None
        self.used_medications.add(target.where)
        return target.resource

    def add(self, reading: Reading) -> None:
        if reading.lab is not None:
            self.labs.append(reading.lab)
            if reading.instant is not None:
                self.timed.append((reading.where, reading.lab, reading.instant))
        elif reading.member is not None:
            concept, span = reading.member
            if span[1] is None and concept == Concept("finding", self.terms.fever_finding):
                self.open_fevers.append((reading.where, span))  # timed in _close_open_fevers
            else:
                self.members.setdefault(concept, []).append(span)
        elif reading.course is not None:
            self.courses.setdefault(reading.course[0], []).append(reading.course[1])
        elif reading.temperature is not None:
            self.temperatures.append(reading.temperature)
        else:
            self.ignore(reading.where, reading.ignored or "not understood")


def _collect(data: object, ctx: _Context) -> list[_Item]:
    items: list[_Item] = []
    if isinstance(data, list):
        for i, resource in enumerate(data):
            _add(resource, f"entry[{i}]", None, items, ctx)
    elif isinstance(data, dict) and "resourceType" in data:
        _add(data, "resource", None, items, ctx)
    elif isinstance(data, dict):
        for key in sorted(data, key=str):
            if data[key] is not None:
                _add(data[key], str(key), None, items, ctx)
    return items


def _add(resource: Resource, loc: str, url: object, items: list[_Item], ctx: _Context) -> None:
    if resource["resourceType"] != "Bundle":
        rid = resource.get("id")
        keyed = isinstance(rid, str) and bool(rid)
        where = f"{resource['resourceType']}/{rid}" if keyed else loc
        items.append(_Item(where, resource, url if isinstance(url, str) else None, keyed))
        return
    if resource.get("type") not in _BUNDLE_TYPES:
        raise InputError(
            f"{loc}.type", "unsupported Bundle type", got=resource.get("type"),
            expected=", ".join(_BUNDLE_TYPES),
        )  # fmt: skip
    entries = resource.get("entry") or []
    prefix = "" if loc == "resource" else f"{loc}."
    if not isinstance(entries, list):  # read as empty, it answered a CDS client with no cards
        raise InputError(
            f"{prefix}entry", "a Bundle's entry must be a list of entries",
            got=type(entries).__name__, expected="a JSON array",
        )  # fmt: skip
    for i, entry in enumerate(entries):
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(inner, dict) and _is_resource(inner):
            _add(inner, f"{prefix}entry[{i}]", entry.get("fullUrl"), items, ctx)
            continue
        status = path(entry, ("response", "status"))
        ctx.ignore(f"{prefix}entry[{i}]", f"entry has no resource (response status {status})")


def _dedupe(items: list[_Item], ctx: _Context) -> list[_Item]:
    """One copy per resource id (the same resource may come in two prefetch bundles, or in two
    versions). Of two versions the newer one is kept (:func:`_version`): a result corrected from
    1.6 to 0.3 must not lose to the original because of how the two texts sort. The other
    version is listed as not used, with which one was kept."""
    by_id: dict[str, _Item] = {}
    rest: list[_Item] = []
    superseded: dict[str, list[_Item]] = {}
    for item in items:
        if not item.keyed:
            rest.append(item)
            continue
        kept = by_id.get(item.where)
        if kept is not None and _canonical(item) == _canonical(kept):
            continue  # the same copy twice
        if kept is None or _version(item) > _version(kept):
            by_id[item.where] = item
            if kept is not None:
                superseded.setdefault(item.where, []).append(kept)
        else:
            superseded.setdefault(item.where, []).append(item)
    for where, older in superseded.items():
        newer = by_id[where].resource
        for item in older:
            old, new = _describe_version(item.resource), _describe_version(newer)
            ctx.ignore(where, f"an older version ({old}) of a resource given twice; the newer "
                       f"one ({new}) is used")  # fmt: skip
    items = [*by_id.values(), *rest]
    if len({i.where for i in items}) == len(items):  # the usual case: the places tell them apart
        return sorted(items, key=lambda i: i.where)
    return sorted(items, key=lambda i: (i.where, _canonical(i)))


def _canonical(item: _Item) -> str:
    return json.dumps(item.resource, sort_keys=True, default=str)


#: Result statuses, least to most final (FHIR R4 ObservationStatus): a corrected or amended
#: result replaces the final one it corrects.
_STATUS_ORDER = ("registered", "preliminary", "final", "amended", "corrected")


_NO_INSTANT = dt.datetime.min.replace(tzinfo=dt.UTC)


def _version(item: _Item) -> tuple[dt.datetime, str, int, int, str]:
    """How new a copy is: ``meta.lastUpdated`` as an instant (compared as text,
    ``2025-03-02T09:00:00+01:00`` came after ``2025-03-02T08:30:00Z``, half an hour later), then
    as text, then ``meta.versionId`` (a number), then its status (corrected and amended after
    final), then its text (only to be deterministic)."""
    res = item.resource
    updated = path(res, ("meta", "lastUpdated"))
    found = path(res, ("meta", "versionId"))
    version = "" if found is None else str(found)
    status = res.get("status")
    rank = _STATUS_ORDER.index(status) if status in _STATUS_ORDER else -1
    when = updated if isinstance(updated, str) else ""
    moment = parse_instant(when) or _NO_INSTANT
    return moment, when, int(version) if version.isdigit() else -1, rank, _canonical(item)


def _describe_version(res: Resource) -> str:
    version, updated = path(res, ("meta", "versionId")), path(res, ("meta", "lastUpdated"))
    parts = [f"status {res.get('status')}"] if isinstance(res.get("status"), str) else []
    if isinstance(version, (str, int)):
        parts.append(f"version {version}")
    if isinstance(updated, str):
        parts.append(f"updated {updated}")
    return ", ".join(parts) or "no status or version"


def _pick_patient(items: list[_Item], ctx: _Context) -> _Item | None:
    patients = [i for i in items if i.type == "Patient"]
    for extra in patients[1:]:
        ctx.ignore(extra.where, f"a second patient; the facts describe {patients[0].where}")
    return patients[0] if patients else None


_READERS = {
    "Observation": read_observation, "Condition": read_condition, "Procedure": read_procedure
}  # fmt: skip
_MEDICATION_USES = (
    "MedicationStatement", "MedicationRequest", "MedicationAdministration", "MedicationDispense"
)  # fmt: skip
_USES_TEXT = "MedicationStatement, MedicationRequest, MedicationAdministration or -Dispense"


def _dispatch(item: _Item, patient: _Item | None, ctx: _Context) -> None:
    if item.type in ("Patient", "Medication"):
        return
    ref = path(item.resource, ("subject", "reference"))
    if item.type == "DiagnosticReport" and isinstance(item.resource.get("result"), list):
        return  # its results are read on their own, dated by it when they carry no date
    if item.type not in _READERS and item.type not in _MEDICATION_USES:
        ctx.ignore(item.where, f"resource type {item.type} is not used")
    elif patient is not None and isinstance(ref, str) and not _refers_to(ref, patient):
        ctx.ignore(item.where, f"subject {ref} is not the patient {patient.where}")
    elif item.type in _MEDICATION_USES:
        readings = read_medication(item.where, item.resource, ctx.terms, ctx.resolve, ctx.known)
        for reading in readings:
            ctx.add(reading)
    elif item.type == "Observation":
        dated = ctx.report_date(item)
        for reading in read_observation(item.where, item.resource, ctx.terms, fallback=dated):
            ctx.add(reading)
    else:
        for reading in _READERS[item.type](item.where, item.resource, ctx.terms):
            ctx.add(reading)


def _refers_to(ref: str, patient: _Item) -> bool:
    own = f"Patient/{patient.resource.get('id')}"
    return _subject_key(ref) == own or ref == patient.full_url


_SUBJECT = re.compile(r"(?:^|/)(Patient/[^/]+)(?:/_history/[^/]+)?$")


def _subject_key(ref: str) -> str:
    """``Patient/<id>`` of a reference, whatever its base URL or version
    (``https://x/fhir/Patient/7/_history/2`` -> ``Patient/7``); other references as given."""
    found = _SUBJECT.search(ref.strip())
    return found.group(1) if found else ref.strip()


def _one_subject(items: list[_Item]) -> None:
    """With no Patient resource, the resources must name one subject: a bulk export or a search
    without ``patient=`` mixed several patients' counts and drugs into one, in silence."""
    subjects = sorted(
        {
            _subject_key(ref)
            for item in items
            if isinstance(ref := path(item.resource, ("subject", "reference")), str)
        }
    )
    if len(subjects) > 1:
        shown = ", ".join(subjects[:5]) + (", ..." if len(subjects) > 5 else "")
        raise InputError(
            "subject",
            f"the resources belong to {len(subjects)} patients ({shown}) and no Patient resource "
            "says which one is meant",
            expected="one patient's resources, or a Patient resource naming the patient",
        )


# --- results whose written dates and instants disagree ------------------------------------


#: How ``ignored_inputs`` says that a result was read on the date of another drawn at the same
#: instant (a reading, not a loss: the CDS service's "not used" card leaves it out).
SAME_INSTANT = "read on the date of the results drawn at the same instant"


#: Results drawn within this long of each other are one draw (a WBC at 23:55:00.000 and its
#: differential at 23:55:30.123, stamped by two analysers).
ONE_DRAW = dt.timedelta(minutes=5)


def _one_date_per_instant(ctx: _Context) -> None:
    """Results drawn at one instant (within :data:`ONE_DRAW`) but written with different UTC
    offsets, and so on two dates (a WBC at 2026-12-06T23:55:00-05:00, its differential at
    2026-12-07T04:55:00Z), are read on one date: the WBC's, else the earliest. Split, the ANC
    could not be computed from the WBC and the differential, a clozapine patient's critical alert
    was lost and the card said "ANC: none on file" (probe 11). Said in ``ignored_inputs``."""
    groups: list[list[tuple[str, dict[str, Any]]]] = []
    first: dt.datetime | None = None
    for where, lab, instant in sorted(ctx.timed, key=lambda t: t[2]):
        if first is None or instant - first > ONE_DRAW:
            groups.append([])
            first = instant
        groups[-1].append((where, lab))
    for group in groups:
        dates = {lab["date"] for _, lab in group}
        if len(dates) < 2:
            continue
        wbc = sorted(lab["date"] for _, lab in group if lab.get("test") == "wbc")
        day = wbc[0] if wbc else min(dates)
        for where, lab in group:
            if lab["date"] != day:
                ctx.ignore(where, f"{lab['test']} dated {lab['date']}: {SAME_INSTANT} ({day})")
                lab["date"] = day


def _set_aside_overtaken(ctx: _Context) -> None:
    """Of two results of one test whose instants order them the other way round from their
    written dates, the higher one with the later date is not used (:mod:`engine.instants`)."""
    timed: list[Timed] = []
    labs: list[dict[str, Any]] = []
    for where, lab, instant in ctx.timed:
        found = _in_canonical_unit(lab)
        if found is not None:
            shown = f"{lab.get('comparator') or ''}{lab['value']:g} {lab.get('unit', '')}".strip()
            timed.append(Timed(found[0], found[1], lab["date"], instant, f"{lab['test']} {shown}",
                               where))  # fmt: skip
            labs.append(lab)
    dropped = overtaken(timed)
    for i, reason in dropped.items():
        ctx.ignore(timed[i].where, reason)
    if dropped:
        gone = {id(labs[i]) for i in dropped}
        ctx.labs = [lab for lab in ctx.labs if id(lab) not in gone]


def _in_canonical_unit(lab: dict[str, Any]) -> tuple[str, float] | None:
    """(test, value in the canonical unit) of a numeric lab, for comparing two results."""
    value = lab["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return units.to_canonical(
            lab["test"], value, lab.get("unit"), field="valueQuantity",
            bound=lab.get("comparator") is not None,
        )  # fmt: skip
    except InputError:
        return None


# --- assembling the facts -------------------------------------------------------------------


def _assemble(ctx: _Context, patient: _Item | None, as_of: dt.date | None) -> dict[str, Any]:
    _close_open_fevers(ctx, as_of)
    fever = _fever_spans(ctx.temperatures)
    if fever:
        concept = Concept("finding", ctx.terms.fever_finding)
        ctx.members.setdefault(concept, []).extend(fever)
    labs = sorted(
        {json.dumps(lab, sort_keys=True, default=str): lab for lab in ctx.labs}.values(),
        key=lambda lab: (lab["date"], lab["test"], repr(lab["value"]), lab.get("unit", "")),
    )
    medications = [
        _entry("name", name, span, ("start", "stop"))
        for name in sorted(ctx.courses)
        for span in _merge(ctx.courses[name], touching=True)
    ]
    facts: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    facts.update(_patient(patient, as_of, ctx))
    facts["labs"] = labs
    facts["medications"] = medications
    for kind, key in (("condition", "conditions"), ("finding", "findings"), ("history", "history")):
        facts[key] = [
            _entry("name", c.name, span, ("since", "until"), bare=True)
            for c in sorted(c for c in ctx.members if c.kind == kind)
            for span in _merge(ctx.members[c])
        ]
    for entry in facts["findings"]:
        if isinstance(entry, dict) and entry["name"] == ctx.terms.fever_finding:
            source = _febrile_readings(ctx.temperatures, entry.get("since"), entry.get("until"))
            if source:
                entry["source"] = source
    return facts


#: Days an open fever Condition (no abatement) is read as a current fever after its onset, when
#: no body temperature since says otherwise: problem lists and encounter diagnoses are seldom
#: closed, and a "fever" of 2021 raised febrile neutropenia in 2026 (probe 11). As long as a
#: finding that ended stays part of the presentation (kb.yaml ``finding_current_days``).
OPEN_FEVER_DAYS = 90
#: How ``ignored_inputs`` says that an open fever was ended by a later afebrile temperature (a
#: reading, not a loss: the CDS service's "not used" card leaves it out).
ENDED_BY_TEMPERATURE = "no abatement date; read as ended"


def _close_open_fevers(ctx: _Context, as_of: dt.date | None) -> None:
    """Time each fever Condition that has no abatement date, then add it to the members.

    * When body temperatures were taken since its onset (on or before ``as_of``) and the latest
      of them is afebrile, it ended at its last febrile reading, or at its onset when none
      followed (said in ``ignored_inputs``).
    * Otherwise, when its onset is more than :data:`OPEN_FEVER_DAYS` before ``as_of``, it is not
      read as a current fever: it is listed as not used (the CDS service's card then says that
      fever could not be assessed, and to check the temperature).
    * Otherwise it is a fever since its onset (or undated), as before."""
    fever = Concept("finding", ctx.terms.fever_finding)
    for where, (since, until) in ctx.open_fevers:
        days: dict[dt.date, bool] = {}
        for day, febrile, _ in ctx.temperatures:
            if since is not None and day >= since and (as_of is None or day <= as_of):
                days[day] = days.get(day, False) or febrile
        latest = max(days, default=None)
        if since is not None and latest is not None and not days[latest]:
            until = max((day for day, febrile in days.items() if febrile), default=since)
            shown = [text for day, _, text in ctx.temperatures if day == latest]
            ctx.ignore(
                where,
                f"fever: {ENDED_BY_TEMPERATURE} on {until.isoformat()}, since the body "
                f"temperature of {latest.isoformat()} ({', '.join(shown)}) is afebrile",
            )
        elif since and not days and as_of and (as_of - since).days > OPEN_FEVER_DAYS:
            ctx.ignore(
                where,
                f"fever since {since.isoformat()} with no abatement date and no body temperature "
                f"since: more than {OPEN_FEVER_DAYS} days before {as_of.isoformat()}, so not read "
                "as a current fever; check the patient's temperature",
            )
            continue
        ctx.members.setdefault(fever, []).append((since, until))


#: How many febrile readings a fever's ``source`` names (the highest first).
_SHOWN_READINGS = 3


def _febrile_readings(
    readings: list[Temperature], since: dt.date | None, until: dt.date | None
) -> str | None:
    """The febrile body temperatures a fever span rests on, named for the reader (the
    febrile-neutropenia card said "fever present" without the temperature or where it came
    from): the latest first, at most three, with how many more."""
    inside = sorted(
        ((day, shown) for day, febrile, shown in readings
         if febrile and (since is None or day >= since) and (until is None or day <= until)),
        reverse=True,
    )  # fmt: skip
    if not inside:
        return None
    named = [f"{shown} on {day}" for day, shown in inside[:_SHOWN_READINGS]]
    more = len(inside) - _SHOWN_READINGS
    tail = f" and {more} more" if more > 0 else ""
    word = "temperature" if len(inside) == 1 else "temperatures"
    return f"febrile body {word} {', '.join(named)}{tail}"


def _entry(key: str, name: str, span: Span, fields: tuple[str, str], *, bare: bool = False) -> Any:
    if bare and span == (None, None):
        return name
    entry: dict[str, Any] = {key: name}
    entry.update({f: d for f, d in zip(fields, span, strict=True) if d is not None})
    return entry


def _merge(spans: list[Span], *, touching: bool = False) -> list[Span]:
    """Overlapping spans become one; None is an unknown start or an ongoing end. With
    ``touching``, so do spans where the next starts the day after the last ends: daily
    administrations of a drug are one course, not a course and a rechallenge every day."""
    gap = dt.timedelta(days=1 if touching else 0)
    timed = sorted(
        (s for s in set(spans) if s != (None, None)),
        key=lambda s: (s[0] or dt.date.min, s[1] or dt.date.max),
    )
    if not timed:
        return [(None, None)]
    merged = [timed[0]]
    for since, until in timed[1:]:
        first, last = merged[-1]
        if last is None or since is None or since <= last + gap:
            merged[-1] = (first, None if last is None or until is None else max(last, until))
        else:
            merged.append((since, until))
    return merged


def _fever_spans(readings: list[Temperature]) -> list[Span]:
    """From the first febrile day until its last febrile day before a day whose readings are all
    afebrile. (The span ran to that afebrile day itself: a temperature of 38.9 a month ago and
    36.8 today made a fever "until today", and febrile neutropenia was raised on a patient with
    a normal temperature; probe 11.)

    A reading says nothing of the days after it: a single febrile reading of last year is a fever
    that day, not a fever ever since (which would raise the febrile-neutropenia alert on every
    later count). Whether a fever that ended is recent enough to count is the rules' business
    (``context.fever_present`` reads ``active`` and ``days_since_end``)."""
    days: dict[dt.date, bool] = {}
    for day, febrile, _ in readings:
        days[day] = days.get(day, False) or febrile
    spans: list[Span] = []
    start: dt.date | None = None
    last: dt.date | None = None
    for day in sorted(days):
        if days[day]:
            start = day if start is None else start
            last = day
        elif start is not None:
            spans.append((start, last))
            start = None
    return spans + ([(start, last)] if start is not None else [])


def _latest(ctx: _Context) -> dt.date | None:
    """The latest date on which something was observed or begun: results, temperatures, and the
    start of a course or a finding. Not an end date: a course's planned end (a prescription
    valid to December) or a condition's abatement says nothing of when the patient was seen, and
    taken as the assessment date it made a fever of the results' day "too old" to count."""
    dates = [lab["date"] for lab in ctx.labs]
    for spans in (*ctx.courses.values(), *ctx.members.values()):
        dates += [span[0] for span in spans if span[0] is not None]
    dates += [day for day, _, _ in ctx.temperatures]
    return max(dates, default=None)


def _patient(patient: _Item | None, as_of: dt.date | None, ctx: _Context) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if patient is None:
        return {"as_of": as_of} if as_of else {}
    res = patient.resource
    if isinstance(res.get("id"), str):
        facts["id"] = res["id"]
    if as_of:
        facts["as_of"] = as_of
    gender = res.get("gender")
    if gender in SEXES:
        facts["sex"] = gender
    elif gender is not None:
        ctx.ignore(patient.where, f"gender {gender!r} is not one of {', '.join(SEXES)}")
    born = parse_date(res.get("birthDate"), partial=True)
    if born is not None:
        on = as_of or dt.date.today()
        age = _age(born, on)
        latest = _latest_birth(res.get("birthDate"), born)
        youngest = _age(min(latest, on), on) if latest is not None else age
        if age is None:
            ctx.ignore(patient.where, f"birthDate {res['birthDate']} is after as_of {as_of}")
        elif age > MAX_AGE:  # 1900-01-01 is a placeholder; the hook was refused whole (probe 13)
            ctx.ignore(
                patient.where,
                f"birthDate {res['birthDate']} gives an age of {age}, more than {MAX_AGE}: a "
                "placeholder, not a birth date, so the age is not used",
            )
        elif youngest != age:
            _partial_age(facts, ctx, patient.where, str(res["birthDate"]), youngest, age)
        else:
            facts["age"] = age
    elif res.get("birthDate") is not None:
        ctx.ignore(patient.where, f"birthDate {res['birthDate']!r} is not a date")
    deceased = res.get("deceasedDateTime") or res.get("deceasedBoolean")
    if deceased:
        when = f" on {deceased}" if isinstance(deceased, str) else ""
        # not a fact any rule reads, but a reader of the results must not miss it
        ctx.ignore(
            patient.where,
            f"the patient is recorded as deceased{when}; the results are computed as for a "
            "living patient",
        )
    return facts


#: The oldest age the patient facts accept (contract section 1).
MAX_AGE = 120
#: An age below this (years) is read only from a full birth date: the rules for infants and
#: children turn on months (autoimmune neutropenia of infancy at 5 to 15 months).
ADULT_AGE = 18


def _latest_birth(written: object, born: dt.date) -> dt.date | None:
    """The last day a partial birthDate allows (``2026`` -> 2026-12-31, ``2026-12`` ->
    2026-12-31); None for a full date."""
    text = str(written).strip()
    if len(text) == len("2026"):
        return dt.date(born.year, 12, 31)
    if len(text) == len("2026-12"):
        following = dt.date(born.year + born.month // 12, born.month % 12 + 1, 1)
        return following - dt.timedelta(days=1)
    return None


def _partial_age(
    facts: dict[str, Any], ctx: _Context, where: str, written: str,
    youngest: int | float | None, oldest: int | float,
) -> None:  # fmt: skip
    """The age from a birthDate given as a year or a month, which allows ages from ``youngest``
    to ``oldest``: the age certainly reached when it is an adult's (said in ``ignored_inputs``);
    no age at all for a child, whose rules turn on months. A year alone was read as 1 January:
    "2026" made a baby 11 months old and fired the infant rules (probe 11)."""
    if youngest is not None and youngest >= ADULT_AGE:
        facts["age"] = youngest
        ctx.ignore(
            where,
            f"birthDate {written} gives an age of {youngest} to {oldest}; read as {youngest}, "
            "the age certainly reached",
        )
        return
    ctx.ignore(
        where,
        f"birthDate {written} gives an age from {youngest} to {oldest} years, too imprecise for "
        "the rules that turn on a child's age, so the age is not used; give the full birth date",
    )


def _age(born: dt.date, on: dt.date) -> int | float | None:
    """Completed months / 12 (two decimals) under 2 years, whole years from then on."""
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    if months < 0:
        return None
    return round(months / 12, 2) if months < 24 else months // 12
