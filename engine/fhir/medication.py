# SPDX-License-Identifier: Apache-2.0
"""What one medication resource says: a drug and its dates, as a reading (contract 1.2).

MedicationStatement, MedicationRequest, MedicationAdministration and MedicationDispense are read
alike; the drug is the resource's ``medicationCodeableConcept`` or the ``Medication`` its
``medicationReference`` points to (contained, or elsewhere in the input). The name handed on is
the first of:

1. an RxNorm coding whose code the lexicon knows (an ingredient id, or a product code of the
   product table), as ``rxnorm:<code>``;
2. the Medication's active ingredients (``ingredient[].itemCodeableConcept``; ``isActive: false``
   ones skipped), each by a known RxNorm code, else by its text or display, joined with `` / ``
   when there are several (the lexicon reads the combination);
3. the concept's ``text``, else the display of its RxNorm coding, else of any coding;
4. an RxNorm code the lexicon does not know, as ``rxnorm:<code>`` (reported as unknown later).

A ``medicationReference`` to a Medication that is not in the input is read by the reference's own
``display``, when it gives one (the sender's text for the Medication it points to).

So an SCD that the product table lacks (``imatinib 400 MG Oral Tablet``) still arrives by its
name, which :mod:`engine.kb.drugnames` reads. The dates of each resource type are in
:func:`read_medication`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

from engine.fhir.read import Reading, Resource, Span, status_word
from engine.fhir.terms import Terminology, codings, describe, first_date, parse_date, path

Resolver = Callable[[object], Resource | None]

_STATEMENT = ((("effectivePeriod", "start"), ("effectiveDateTime",)), ("effectivePeriod", "end"))
_ADMINISTRATION = ((("effectivePeriod", "start"),), ("effectivePeriod", "end"))


#: MedicationRequest intents that authorise no one to give the drug (FHIR R4
#: medicationrequest-intent): a proposal is a suggestion, a plan an intention, an option one of
#: several choices in a request group. An order (and its original, reflex, filler and instance
#: kinds) is read.
NOT_AN_ORDER = frozenset({"proposal", "plan", "option"})


def read_medication(
    where: str, res: Resource, terms: Terminology, resolve: Resolver, known: frozenset[str]
) -> list[Reading]:
    """A drug course. Its dates, by resource type:

    * MedicationStatement: ``effectivePeriod`` start and end, or ``effectiveDateTime`` as start;
    * MedicationRequest: the dosage's ``timing.repeat.boundsPeriod.start``, else ``authoredOn``,
      else ``dispenseRequest.validityPeriod.start`` as start, except that a renewal
      (``priorPrescription``) without bounds has no known start; ``boundsPeriod.end`` is the
      stop, and ``validityPeriod.end`` too once the order has ended (``request_ended``);
    * a statement or request whose status says it ended (``request_ended``: completed, stopped)
      but gives no end date is not used, with that reason: its timing is unknown, and read as
      ongoing it made a drug stopped years ago "taken now";
    * MedicationAdministration: ``effectivePeriod`` start and end, or ``effectiveDateTime`` as
      a one-day course (an administration is an event: given that day, not since);
    * MedicationDispense: ``whenHandedOver`` as start, no stop (a dispense tells when the supply
      began, not when the patient stopped).
    """
    # statuses as HL7 spells its codes: "Stopped" with no end date was read as ongoing (probe 13)
    status = status_word(res["status"]) if isinstance(res.get("status"), str) else res.get("status")
    if isinstance(status, str) and status in terms.skip_status.get(str(res["resourceType"]), ()):
        return [Reading(where, ignored=f"status {status}")]
    name, problem = drug_name(res, terms, resolve, known)
    if name is None:
        return [Reading(where, ignored=problem)]
    if res.get("doNotPerform") is True:  # "do not give": read as a course, it said the opposite
        return [Reading(where, ignored=f"{name}: doNotPerform, an order not to give it")]
    intent = res.get("intent")
    if res.get("resourceType") == "MedicationRequest" and intent in NOT_AN_ORDER:
        # a suggestion or an option read as a course raised "interrupt clozapine" (probe 11)
        return [Reading(where, ignored=f"{name}: intent {intent}, not an order to give it")]
    span = _span(res, terms, status)
    if span[0] is not None and span[1] is not None and span[1] < span[0]:
        # one misdated order refused the whole patient, and a CDS client got no card (probe 13)
        why = f"{name}: its end {span[1].isoformat()} is before its start {span[0].isoformat()}"
        return [Reading(where, ignored=f"{why}; which is wrong is not guessed, so not used")]
    ended = res.get("resourceType") in ("MedicationStatement", "MedicationRequest")
    if ended and str(status) in terms.request_ended and span[1] is None:
        # stopped, but not when: read as ongoing it raised "interrupt clozapine" for a drug
        # stopped years ago; the course's timing is unknown, so it is not used, and says so
        why = f"{name}: status {status} with no end date, so when it was stopped is unknown"
        return [Reading(where, ignored=f"{why}; the course is not used")]
    return [Reading(where, course=(name, span))]


def _span(res: Resource, terms: Terminology, status: object) -> Span:
    kind = res.get("resourceType")
    if kind == "MedicationStatement":
        start, _ = first_date(res, _STATEMENT[0], partial=True)
        return start, parse_date(path(res, _STATEMENT[1]), partial=True)
    if kind == "MedicationAdministration":
        day = parse_date(res.get("effectiveDateTime"), partial=True)
        if day is not None:
            return day, day
        start, _ = first_date(res, _ADMINISTRATION[0], partial=True)
        return start, parse_date(path(res, _ADMINISTRATION[1]), partial=True)
    if kind == "MedicationDispense":
        return parse_date(res.get("whenHandedOver"), partial=True), None
    validity = ("dispenseRequest", "validityPeriod")
    bounds = _bounds(res)
    start, _ = first_date(res, (("authoredOn",), (*validity, "start")), partial=True)
    stop = bounds[1] or parse_date(path(res, (*validity, "end")), partial=True)
    if str(status) not in terms.request_ended:
        # an open order's validity end is not a stop date (the supply may run on), but its
        # dosage schedule's end is when the drug is to be taken until: an "active" order
        # whose schedule ended in 2025 was clozapine "taken now" in 2026 (probe 11)
        stop = bounds[1]
    lasting, began = _bounds_duration(res), bounds[0] or start
    if stop is None and lasting is not None and began is not None:
        # "for 14 days" from its start: read as open, a 2025 course was clozapine taken now
        stop = began + lasting
    if isinstance(res.get("priorPrescription"), dict) and bounds[0] is None:
        # a renewal: the drug was started under an earlier order, on a day this one does not
        # give; its authoredOn read as the start made a long-term patient "newly started"
        start = None
    return bounds[0] or start, stop


#: UCUM time units in days (UCUM defines the month and the year as mean Julian ones).
_DAYS_PER_UNIT = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0,
                  "mo": 30.4375, "a": 365.25}  # fmt: skip


def _bounds_duration(res: Resource) -> dt.timedelta | None:
    """How long the dosage schedule lasts when every dosage instruction gives it as
    ``timing.repeat.boundsDuration`` in a UCUM time unit (the longest of them); None when one
    does not (an open maintenance dose, a period, a unit that is not a time)."""
    dosages = res.get("dosageInstruction")
    longest: float | None = None
    for dosage in dosages if isinstance(dosages, list) else []:
        q = path(dosage, ("timing", "repeat", "boundsDuration"))
        value = q.get("value") if isinstance(q, dict) else None
        unit = (q.get("code") or q.get("unit")) if isinstance(q, dict) else None
        per = _DAYS_PER_UNIT.get(str(unit).strip()) if unit is not None else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or per is None:
            return None
        days = float(value) * per
        longest = days if longest is None else max(longest, days)
    return dt.timedelta(days=math.ceil(longest)) if longest else None


def _bounds(res: Resource) -> Span:
    """The dosage schedule's ``timing.repeat.boundsPeriod`` (earliest start, latest end over the
    dosage instructions): when the drug is to be taken, which the order's ``authoredOn`` (when it
    was written) only approximates; a start read from it times the drug-timing rules."""
    starts: list[dt.date] = []
    ends: list[dt.date] = []
    open_ended = False  # a dosage with no end of its own: the schedule has none
    dosages = res.get("dosageInstruction")
    for dosage in dosages if isinstance(dosages, list) else []:
        period = path(dosage, ("timing", "repeat", "boundsPeriod"))
        if not isinstance(period, dict):
            open_ended = True  # a maintenance dose after a titration, with no bounds at all
            continue
        start = parse_date(period.get("start"), partial=True)
        end = parse_date(period.get("end"), partial=True)
        starts += [start] if start else []
        ends += [end] if end else []
        open_ended |= end is None
    # the end is the latest only when every dosage has one: a titration ending on the 14th
    # beside an open maintenance dose read as stopped on the 14th (probe 13)
    return min(starts, default=None), None if open_ended else max(ends, default=None)


def drug_name(
    res: Resource, terms: Terminology, resolve: Resolver, known: frozenset[str]
) -> tuple[str | None, str]:
    """(the name to hand on, "") or (None, why there is none); see the module docstring."""
    concept = res.get("medicationCodeableConcept")
    medication: Resource | None = None
    if concept is None:
        ref = path(res, ("medicationReference", "reference"))
        medication = _contained(res, ref) or resolve(ref)
        display = path(res, ("medicationReference", "display"))
        if medication is None and isinstance(display, str) and display.strip():
            # the sender's own text for the Medication it points to, read like a concept's text:
            # without it, a clozapine order whose Medication was not prefetched vanished
            return display.strip(), ""
        if medication is None:
            return None, f"medicationReference {ref!r} is not a Medication in the input"
        concept = medication.get("code")
    codes = _rxnorm_codes(concept, terms)
    for code in codes:
        if code in known:
            return f"rxnorm:{code}", ""
    ingredients = _ingredients(medication, terms, known)
    if ingredients:
        return " / ".join(ingredients), ""
    text = _text(concept, terms)
    if text:
        return text, ""
    if codes:
        return f"rxnorm:{codes[0]}", ""
    return None, f"no RxNorm code or name ({describe(concept)})"


def _rxnorm_codes(concept: object, terms: Terminology) -> list[str]:
    return [c.strip() for s, c in codings(concept) if terms.system_key(s) == "rxnorm" and c.strip()]


def _ingredients(
    medication: Resource | None, terms: Terminology, known: frozenset[str]
) -> list[str]:
    found = medication.get("ingredient") if medication is not None else None
    names: list[str] = []
    for item in found if isinstance(found, list) else []:
        if not isinstance(item, dict) or item.get("isActive") is False:
            continue
        concept = item.get("itemCodeableConcept")
        codes = _rxnorm_codes(concept, terms)
        name = next((f"rxnorm:{c}" for c in codes if c in known), None) or _text(concept, terms)
        name = name or (f"rxnorm:{codes[0]}" if codes else None)
        if name and name not in names:
            names.append(name)
    return names


def _text(concept: object, terms: Terminology) -> str | None:
    """A CodeableConcept's text, else its RxNorm coding's display, else any coding's display."""
    if not isinstance(concept, dict):
        return None
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    found = concept.get("coding")
    items = [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
    items.sort(key=lambda c: terms.system_key(c.get("system")) != "rxnorm")
    for coding in items:
        display = coding.get("display")
        if isinstance(display, str) and display.strip():
            return display.strip()
    return None


def _contained(res: Resource, ref: object) -> Resource | None:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    contained = res.get("contained")
    for item in contained if isinstance(contained, list) else []:
        if isinstance(item, dict) and item.get("id") == ref[1:]:
            return item
    return None
