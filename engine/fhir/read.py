# SPDX-License-Identifier: Apache-2.0
"""What one FHIR R4 resource says, as readings for :mod:`engine.fhir.convert` (contract section 1).

Each reader takes one resource and the terminology tables and returns :class:`Reading` items:
a lab result, a dated span of a vocabulary word (condition, finding, history), a drug course
(read by :mod:`engine.fhir.medication`), a body temperature, or the reason why (part of) the
resource is not used. Readers never raise on odd data: anything they cannot read becomes an
``ignored`` reading.

A lab value is checked here, one resource at a time, with the unit table and plausibility limits
of :mod:`engine.units`: a unit not in the table, an impossible value or a percentage written as a
fraction drops that resource with the reason, never the whole patient. A ``valueQuantity``'s
``code`` is its unit only when its ``system`` is UCUM; otherwise its readable ``unit`` is tried
(a code of another system means something else). A ``comparator`` (``<0.1``) is kept: the lab is
a bound (:func:`engine.units.bound_value`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any

from engine import units
from engine.errors import InputError
from engine.fhir.terms import (
    Concept,
    Terminology,
    codings,
    describe,
    first_date,
    is_qualitative,
    parse_date,
    parse_instant,
    path,
    text_of,
)

Resource = dict[str, Any]
Span = tuple[dt.date | None, dt.date | None]
#: A body temperature: its date, whether febrile, and how to name it ("39.2 Cel (Observation/t1)").
Temperature = tuple[dt.date, bool, str]

_TITER = re.compile(r"^1:[1-9][0-9]*$")
#: Where an Observation, a DiagnosticReport or a panel keeps the date of its result: the
#: effective time (the specimen's), else the time it was issued.
EFFECTIVE_DATES = (
    ("effectiveDateTime",), ("effectivePeriod", "start"), ("effectiveInstant",),
    ("effectivePeriod", "end"), ("issued",)
)  # fmt: skip


@dataclass(frozen=True)
class Reading:
    """One thing a resource says; exactly one of the optional fields other than ``instant`` is
    set. ``instant`` goes with a lab: the moment (UTC) of its effective time, when that gives a
    time with its offset; it orders results whose written dates cannot (engine.fhir.convert)."""

    where: str
    lab: dict[str, Any] | None = None
    member: tuple[Concept, Span] | None = None
    course: tuple[str, Span] | None = None
    temperature: Temperature | None = None
    ignored: str | None = None
    instant: dt.datetime | None = None


def _skip(where: str, res: Resource, terms: Terminology) -> list[Reading]:
    status = status_word(res["status"]) if isinstance(res.get("status"), str) else None
    if status is not None and status in terms.skip_status.get(str(res["resourceType"]), ()):
        return [Reading(where, ignored=f"status {status}")]
    return []


# --- Observation ----------------------------------------------------------------------------


def read_observation(
    where: str, res: Resource, terms: Terminology, *, fallback: dt.date | None = None
) -> list[Reading]:
    """Labs, a temperature, or findings from an Observation and each of its components.

    ``fallback`` is the date of the DiagnosticReport (or panel) that lists this Observation among
    its results: a laboratory often dates the report only (HL7's own CBC example, Bundle 101),
    and the report's effective time is the specimen's, which is the result's date too."""
    if skipped := _skip(where, res, terms):
        return skipped
    date, raw = first_date(res, EFFECTIVE_DATES, partial=False)
    if date is None and raw is None:
        date = fallback
    if date is None:
        why = f"effective date {raw!r} is not a full date" if raw else "no effective date"
        return [Reading(where, ignored=_undated(res, terms, why))]
    found = res.get("component")
    components = [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
    valued = any(k.startswith("value") or k == "dataAbsentReason" for k in res)
    readings: list[Reading] = []
    if not valued and res.get("hasMember"):
        readings.append(Reading(where, ignored="a panel: its members are read on their own"))
    elif valued or not components:
        readings.append(_measure(where, res, date, terms))
    for i, component in enumerate(components):
        readings.append(_measure(f"{where} component[{i}]", component, date, terms))
    instant = parse_instant(raw)
    return [replace(r, instant=instant) if r.lab is not None else r for r in readings]


def _undated(res: Resource, terms: Terminology, why: str) -> str:
    """Why an undated Observation is not used, naming the test and value when it is a result
    leukodx reads (``anc: no effective date (value 0.3 10*3/uL)``): the note listed an ANC of
    0.3 so dropped as "Observation/a: effective date '2025-02' is not a full date" and called
    the ANC "not measured"."""
    loincs, tests = _loinc_tests(res.get("code"), terms)
    if terms.fever_loincs.intersection(loincs):
        what = "body temperature"
    elif tests:
        what = tests[0]
    else:
        return why
    quantity = res.get("valueQuantity")
    value = quantity.get("value") if isinstance(quantity, dict) else None
    if (
        isinstance(quantity, dict)
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    ):
        unit = quantity.get("unit") or quantity.get("code") or ""
        return f"{what}: {why} (value {value:g} {unit})".replace(" )", ")")
    return f"{what}: {why}"


def _loinc_tests(code: object, terms: Terminology) -> tuple[list[str], list[str]]:
    """The LOINC codes of a CodeableConcept, and the tests of the contract they map to."""
    loincs = [c for s, c in codings(code) if terms.system_key(s) == "loinc"]
    return loincs, [terms.tests[c] for c in loincs if c in terms.tests]


def _measure(where: str, part: Resource, date: dt.date, terms: Terminology) -> Reading:
    code = part.get("code")
    loincs, tests = _loinc_tests(code, terms)
    not_used = [terms.loinc_not_used[c] for c in loincs if c in terms.loinc_not_used]
    if terms.fever_loincs.intersection(loincs):
        return _temperature(where, part, date, terms)
    if tests:
        kinds = [terms.unit_kinds[c] for c in loincs if c in terms.unit_kinds]
        return _lab(where, tests[0], part, date, terms, kinds[0] if kinds else None)
    concepts = concepts_of(code, terms) or concepts_of(part.get("valueCodeableConcept"), terms)
    if concepts:
        return _observed(where, concepts[0], part, date, terms)
    if not_used:
        return Reading(where, ignored=not_used[0])
    if loincs:
        return Reading(where, ignored=f"LOINC {loincs[0]} is not a test leukodx uses")
    return Reading(where, ignored=unmapped(code, terms))


def _lab(
    where: str, test: str, part: Resource, date: dt.date, terms: Terminology,
    kind: str | None = None,
) -> Reading:  # fmt: skip
    """One result of ``test``. ``kind`` is what its code says the value is (``percent`` for
    reticulocytes per 100 red cells, ``count`` for reticulocytes per volume): a value whose unit
    says the other (17849-1 with 10*9/L) is not read, since a percentage read as a count is a
    very low count, and which of code and unit is wrong is not guessed."""
    if is_qualitative(test):
        word = _answer_of_value(test, part, terms)
        for flag in part.get("interpretation") or []:
            word = word or answer_of(flag, terms)
        if word is None:
            return Reading(where, ignored=f"{test}: {_no_value(part, 'no positive/negative')}")
        return Reading(where, lab={"test": test, "value": word, "date": date})
    quantity, problem = _quantity(part, terms)
    if quantity is None:
        return Reading(where, ignored=f"{test}: {problem}")
    value, spellings, comparator = quantity
    factors = {u: f for u in spellings if (f := units.factor_of(test, u)) is not None}
    if len(set(factors.values())) > 1:
        # "10*3/uL" as the code and "/uL" as the text: which one holds is not guessed (the
        # first that passed the limits was kept, and a WBC of 2000 became 2.0 in silence)
        shown = " and ".join(f"{u!r}" for u in factors)
        return Reading(where, ignored=f"{test}: valueQuantity code and unit disagree ({shown} "
                                      "are different units for this count); not used")  # fmt: skip
    error: InputError | None = None
    for unit in spellings:  # the first spelling the unit table and the limits accept
        try:
            name, canonical = units.to_canonical(
                test, value, unit, field="valueQuantity", bound=comparator is not None
            )
            units.bound_value(
                name if name in units.CONVERSIONS else test, canonical, comparator,
                field="valueQuantity",
            )  # fmt: skip
        except InputError as exc:
            error = error or exc
            continue
        if kind is not None and (name == units.RETICULOCYTE_PCT) != (kind == "percent"):
            said = "a percentage" if kind == "percent" else "a count"
            why = f"its code reports {said}, but the unit is {unit!r}"
            return Reading(where, ignored=f"{test}: {why}; which is wrong is not guessed; not used")
        lab = {"test": test, "value": value, "unit": unit, "date": date}
        return Reading(where, lab=lab | ({"comparator": comparator} if comparator else {}))
    return Reading(where, ignored=f"{test}: {error}")


_Quantity = tuple[int | float, list[str], str | None]  # value, unit spellings, comparator


def _quantity(part: Resource, terms: Terminology) -> tuple[_Quantity | None, str]:
    """The value, its unit spellings to try in order, and its comparator: the ``code`` when its
    ``system`` is UCUM, then the readable ``unit``, then a ``code`` given with no system at all
    (which FHIR does not allow, but whose spellings are UCUM in practice). A code of another
    system is never read as a unit."""
    vq = part.get("valueQuantity")
    if not isinstance(vq, dict):
        return None, _no_value(part, "no valueQuantity")
    value = vq.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"valueQuantity.value {value!r} is not a number"
    comparator = vq.get("comparator")
    if comparator is not None and comparator not in units.COMPARATORS:
        return None, f"valueQuantity.comparator {comparator!r} is not one of <, <=, >=, >"
    code, unit, system = vq.get("code"), vq.get("unit"), vq.get("system")
    ucum = system is not None and terms.system_key(system) == "ucum"
    spellings = [
        text
        for text, usable in ((code, ucum), (unit, True), (code, system is None))
        if usable and isinstance(text, str) and text.strip()
    ]
    if not spellings and code and system:
        return None, f"valueQuantity.code {code!r} is of {system}, not UCUM, and no unit is given"
    if not spellings:
        return None, "no valueQuantity.code (UCUM) or unit"
    return (value, list(dict.fromkeys(spellings)), comparator), ""


def _no_value(part: Resource, default: str) -> str:
    absent = part.get("dataAbsentReason")
    if absent is not None:
        return f"no value (dataAbsentReason: {text_of(absent) or describe(absent)})"
    present = sorted(k for k in part if k.startswith("value"))
    shown = [f"{k} {part[k]!r}" if isinstance(part[k], str) else k for k in present]
    why = f"{default} ({', '.join(shown)} not understood)" if present else default
    text = part.get("valueString")
    if isinstance(text, str) and text.strip()[:1] in ("<", ">", "≤", "≥"):
        why += "; a bound such as '<0.5' is valueQuantity.value with valueQuantity.comparator"
    flags = [code for concept in _as_list(part.get("interpretation"))
             for _, code in codings(concept) if code]  # fmt: skip
    # a flag without a value (LL: critically low) cannot drive a threshold, but must be seen
    return f"{why}; flagged {', '.join(flags)} by the laboratory" if flags else why


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _answer_of_value(test: str, part: Resource, terms: Terminology) -> str | None:
    if "valueCodeableConcept" in part:
        return answer_of(part["valueCodeableConcept"], terms)
    text = part.get("valueString")
    if isinstance(text, str):
        titer = "".join(text.split())
        return titer if test in terms.titer_tests and _TITER.match(titer) else terms.answer(text)
    ratio = part.get("valueRatio")
    if test in terms.titer_tests and isinstance(ratio, dict):
        top, bottom = path(ratio, ("numerator", "value")), path(ratio, ("denominator", "value"))
        if top == 1 and isinstance(bottom, (int, float)) and bottom >= 1 and bottom == int(bottom):
            return f"1:{int(bottom)}"
    return None


def answer_of(concept: object, terms: Terminology) -> str | None:
    """``positive``/``negative`` from a CodeableConcept's codings, else from its text."""
    for system, code in codings(concept):
        key = terms.system_key(system)
        if key is not None and (key, code) in terms.answer_codings:
            return terms.answer_codings[(key, code)]
    text = text_of(concept)
    return terms.answer(text) if text else None


def _temperature(where: str, part: Resource, date: dt.date, terms: Terminology) -> Reading:
    quantity, problem = _quantity(part, terms)
    if quantity is None:
        return Reading(where, ignored=f"body temperature: {problem}")
    value, spellings, comparator = quantity
    for spelling in spellings:
        unit = terms.fever_unit_aliases.get(spelling.strip(), spelling)
        limit = terms.fever_at_or_above.get(unit)
        if limit is None:
            continue
        low, high = terms.fever_plausible[unit]
        if not low <= value <= high:
            reason = f"body temperature {value:g} {spelling} is not a plausible body temperature"
            return Reading(where, ignored=f"{reason} ({low:g}-{high:g} {unit}); check the unit")
        febrile = _decided(value, comparator, limit)
        if febrile is None:
            reason = f"body temperature given as a bound ({comparator}{value:g} {spelling})"
            return Reading(where, ignored=f"{reason} that does not say whether it was {limit:g} "
                                          "or more")  # fmt: skip
        shown = f"{comparator or ''}{value:g} {spelling.strip()} ({where})"
        return Reading(where, temperature=(date, febrile, shown))
    known = ", ".join(sorted(terms.fever_at_or_above))
    return Reading(where, ignored=f"body temperature unit {spellings[0]!r} is not one of {known}")


def _decided(value: float, comparator: str | None, limit: float) -> bool | None:
    """Whether a temperature (or a bound on one) is at or above ``limit``; None when the bound
    does not decide it (``>37.5`` against 38.0): ``>38.6`` is febrile, ``<37.5`` is not."""
    if comparator is None:
        return value >= limit
    if comparator in (">", ">=") and value >= limit:
        return True
    if (comparator == "<" and value <= limit) or (comparator == "<=" and value < limit):
        return False
    return None


def _observed(
    where: str, concept: Concept, part: Resource, date: dt.date, terms: Terminology
) -> Reading:
    flag = part.get("valueBoolean")
    answer = ("positive" if flag else "negative") if isinstance(flag, bool) else None
    if answer is None and "valueCodeableConcept" in part:
        answer = answer_of(part["valueCodeableConcept"], terms)
    if answer == "negative":
        return Reading(where, ignored=f"{concept.name} recorded as absent; facts cannot say so")
    # An observed fever is a state of that day, as a febrile temperature is: open-ended, a
    # fever observed three years ago raised the febrile-neutropenia alert on every later count.
    # Other findings (an enlarged spleen) persist and stay open from the day they were seen.
    fever = concept.kind == "finding" and concept.name == terms.fever_finding
    return Reading(where, member=(concept, (date, date if fever else None)))


# --- Condition and Procedure ----------------------------------------------------------------


def concepts_of(concept: object, terms: Terminology) -> list[Concept]:
    """The distinct vocabulary words of a CodeableConcept's SNOMED CT / ICD-10-CM codings."""
    found: list[Concept] = []
    for system, code in codings(concept):
        key = terms.system_key(system)
        hit = terms.concept(key, code) if key in ("snomed", "icd10cm") else None
        if hit is not None and hit not in found:
            found.append(hit)
    return found


def unmapped(concept: object, terms: Terminology) -> str:
    """Why a CodeableConcept gave no fact."""
    for system, code in codings(concept):
        key = terms.system_key(system)
        reason = terms.not_input(key, code) if key else None
        if reason:
            return f"{system}|{code}: {reason}"
    text = text_of(concept)
    named = f" (text {text!r})" if text else ""
    return f"no code leukodx uses: {describe(concept)}{named}"


#: HL7's code systems for a Condition's statuses (FHIR R4).
VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
#: The verification status that keeps a Condition (the others are skipped or not understood).
CONFIRMED = frozenset({"confirmed"})


def _status(concept: object, system: str, known: frozenset[str]) -> str | None:
    """A Condition status, lower case: the code of HL7's own coding (``system``), wherever it
    stands among the codings; failing that, a code or text that is one of the ``known`` status
    words ("3", "Refuted": a local coding first and HL7's second was read as "3", and a refuted
    fever raised febrile neutropenia); a plain string (STU3 wrote the status so); failing that,
    the first code, or ``"(malformed)"`` for a value of no FHIR shape, which the caller reports
    as not understood. None when there is no status."""
    if concept is None:
        return None
    if isinstance(concept, str):
        return status_word(concept)
    if not isinstance(concept, dict):
        return "(malformed)"
    found = codings(concept)
    for sys_, code in found:
        if sys_ == system:
            return status_word(code)
    text = text_of(concept)
    for word in (*(code for _, code in found), *([text] if text else [])):
        if status_word(word) in known:
            return status_word(word)
    return status_word(found[0][1]) if found else None


def status_word(code: str) -> str:
    """A status code or word as HL7 spells its codes ("Entered in error" -> entered-in-error)."""
    return code.strip().lower().replace(" ", "-")


#: The onset dates of a Condition, then the date it was first recorded (a fever known only by
#: when it was recorded is timed from then, not read as a fever now and ever after).
_ONSETS = (("onsetDateTime",), ("onsetPeriod", "start"), ("recordedDate",))
_ABATEMENTS = (("abatementDateTime",), ("abatementPeriod", "end"), ("abatementPeriod", "start"))
#: Clinical statuses that say a Condition is going on now (remission is not among them).
_ONGOING = frozenset({"active", "recurrence", "relapse"})


def read_condition(where: str, res: Resource, terms: Terminology) -> list[Reading]:
    """Conditions, findings or history from a Condition, timed by onset and abatement.

    An abatement date ends the Condition whatever its ``clinicalStatus`` (R4 allows it with no
    status at all), unless the status says it is going on now: then which is right is not
    guessed, and it is not used. An abatement given without a date (``abatementString``), or a
    status that is not understood, is not used either. A fever with no date at all is not read
    as a fever now: with an ANC of 0.3 it raised febrile neutropenia from a Condition of any
    age (probe 13)."""
    known = terms.verification_skip | CONFIRMED
    verification = _status(res.get("verificationStatus"), VERIFICATION_SYSTEM, known)
    if verification in terms.verification_skip:
        return [Reading(where, ignored=f"verificationStatus {verification}")]
    if verification is not None and verification not in known:
        text = text_of(res.get("verificationStatus"))
        shown = f"{verification} ({text!r})" if text else verification
        return [Reading(where, ignored=f"verificationStatus {shown} is not understood")]
    concepts = concepts_of(res.get("code"), terms)
    if not concepts:
        return [Reading(where, ignored=unmapped(res.get("code"), terms))]
    clinical = _status(
        res.get("clinicalStatus"), CLINICAL_SYSTEM, terms.clinical_current | terms.clinical_past
    )
    if clinical is not None and clinical not in terms.clinical_current | terms.clinical_past:
        return [Reading(where, ignored=f"clinicalStatus {clinical} is not understood")]
    since, _ = first_date(res, _ONSETS, partial=True)
    until, ends_raw = first_date(res, _ABATEMENTS, partial=True)
    undated_end = [k for k in res if k.startswith("abatement") and k not in (
        "abatementDateTime", "abatementPeriod")]  # fmt: skip
    if until is not None and clinical in _ONGOING:
        why = f"clinicalStatus {clinical} but abatement date {until.isoformat()}"
        return [Reading(where, ignored=f"{why}: which is right is not guessed, so not used")]
    if until is None and (clinical in terms.clinical_past or undated_end):
        given = f" ({undated_end[0]})" if undated_end else ""
        if clinical in terms.clinical_past and not undated_end:
            return [Reading(where, ignored=f"clinicalStatus {clinical} with no abatement date")]
        return [Reading(where, ignored=f"an abatement with no date{given}: it ended, but not "
                        "when, so not used")]  # fmt: skip
    fever = [c for c in concepts if c.kind == "finding" and c.name == terms.fever_finding]
    if not fever:
        return _spanned(where, concepts, (since, until), ends_raw, ("onset", "abatement"))
    others = [c for c in concepts if c not in fever]
    readings = (
        _spanned(where, others, (since, until), ends_raw, ("onset", "abatement")) if others else []
    )
    if since is None and until is None:
        return [*readings, Reading(where, ignored="fever with no onset or recorded date: when it "
                                   "was cannot be told, so it is not read as a fever now; check "
                                   "the patient's temperature")]  # fmt: skip
    if until is None and _encounter_diagnosis(res) and since is not None:
        # a fever diagnosed at an encounter is a fever of that encounter, not ever since: a 2020
        # visit's "fever, unspecified" raised febrile neutropenia in 2026 (probe 11)
        until = since
    return [*readings, *_spanned(where, fever, (since, until), ends_raw, ("onset", "abatement"))]


#: HL7's Condition category for a diagnosis made at one encounter (FHIR R4 condition-category).
ENCOUNTER_DIAGNOSIS = "encounter-diagnosis"


def _encounter_diagnosis(res: Resource) -> bool:
    """Whether a Condition is categorised as an encounter diagnosis."""
    return any(
        code == ENCOUNTER_DIAGNOSIS for concept in _as_list(res.get("category"))
        for _, code in codings(concept)
    )  # fmt: skip


def read_procedure(where: str, res: Resource, terms: Terminology) -> list[Reading]:
    """History (or other words) from a Procedure; a one-day procedure spans that day."""
    if skipped := _skip(where, res, terms):
        return skipped
    concepts = concepts_of(res.get("code"), terms)
    if not concepts:
        return [Reading(where, ignored=unmapped(res.get("code"), terms))]
    day = parse_date(res.get("performedDateTime"), partial=True)
    since = day or parse_date(path(res, ("performedPeriod", "start")), partial=True)
    until = day or parse_date(path(res, ("performedPeriod", "end")), partial=True)
    if res.get("status") == "in-progress":
        until = None
    ends_raw = None if day else path(res, ("performedPeriod", "end"))
    return _spanned(where, concepts, (since, until), ends_raw, ("start", "end"))


def _spanned(
    where: str, concepts: list[Concept], span: Span,
    raw_end: object, names: tuple[str, str],
) -> list[Reading]:  # fmt: skip
    """The readings of one resource's concepts over ``span``; none, and the resource in
    ``ignored_inputs`` with its two dates, when its end is before its start (a Condition abated
    in 2019 with onset in 2026). Which of the two dates is the typing slip is not guessed, and
    the resource is not read undated either (a resolved finding would become a current one);
    the rest of the patient is read as usual (before, the whole patient failed, naming
    ``findings[0].until``, a field of no Bundle). An end written as a month or a year
    (``2026-11``) that holds the start is not before it: it ends on the start day at the
    earliest, which is how it is read."""
    since, until = span
    if since is not None and until is not None and until < since:
        partial = isinstance(raw_end, str) and len(raw_end.strip()) < len("2026-01-01")
        if partial and since.isoformat().startswith(str(raw_end).strip()):
            until = since
        else:
            start, end = names
            reason = (
                f"{end} date {until.isoformat()} is before its {start} date "
                f"{since.isoformat()}; which one is wrong is not guessed, so not used"
            )
            return [Reading(where, ignored=reason)]
    return [Reading(where, member=(c, (since, until))) for c in concepts]
