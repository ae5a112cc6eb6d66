# SPDX-License-Identifier: Apache-2.0
"""The two CDS hooks without HTTP: prefetched FHIR data in, cards out.

``patient-view`` answers with an alert card per alert and one differential card. ``order-select``
adds the selected draft MedicationRequests of ``context.draftOrders`` as active medications
starting today and flags a drug when an alert or evidence rule that names it (or one of its
lexicon classes) fires given the current counts. A prefetch key that is missing or holds an
OperationOutcome is fetched from the client's ``fhirServer`` when the request gives it and
``fhirAuthorization`` (:mod:`engine.service.fhir_fetch`); a required key that is still missing,
or that cannot be fetched, raises :class:`PrefetchMissing` (HTTP 412 in
:mod:`engine.service.app`).

Both hooks evaluate the patient as of the day the call is answered (``settings.today``): a CDS
Hooks 2.0 request carries no time of its own. The latest WBC and ANC are dated against the
knowledge base's lookback (:mod:`engine.service.freshness`), so a stale count is named as such
and a CBC with differential is suggested; counts the FHIR conversion could not use get a card of
their own; and every card built from a differential links to the patient's report, kept in a
bounded, expiring in-memory store (:mod:`engine.service.links`) under an unguessable token.
Kept apart from the HTTP layer so the hooks can be tested, and reused, without FastAPI.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine import units
from engine.api import diagnose
from engine.backends.base import DEFAULT_BACKEND
from engine.differential import Citation, Differential
from engine.differential import IgnoredInput as NotUsed
from engine.errors import InputError, LeukodxError
from engine.fhir.convert import ENDED_BY_TEMPERATURE, SAME_INSTANT, IgnoredInput, from_fhir
from engine.fhir.read import concepts_of
from engine.fhir.terms import Terminology, codings, load_terminology
from engine.kb.lexicon import UNLISTED, UNREAD, Lexicon
from engine.kb.load import KnowledgeBase
from engine.patient import parse_patient
from engine.report.patient import render_patient
from engine.service import cards as cds
from engine.service.actions import order_cbc
from engine.service.auth import JwtSettings
from engine.service.fhir_fetch import Access, FetchError, complete_prefetch, is_outcome
from engine.service.freshness import assess, lookback_for
from engine.service.links import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_TTL_SECONDS,
    ReportStore,
    StoredLink,
)
from engine.service.models import INDICATOR_ORDER, Card, CdsRequest, CdsResponse, Link, Services

log = logging.getLogger("leukodx.service")

#: Tests whose dropped results get a card: the counts and the differential of a blood count,
#: and the blast percentage (a critical alert reads it).
COUNT_TESTS = frozenset(
    {"wbc", "anc", "alc", "amc", "neutrophil_pct", "band_pct", "lymphocyte_pct", "platelets",
     "hemoglobin", "blasts_pct"}
)  # fmt: skip
#: What the FHIR reader says of a result with no code it knows (engine/fhir/read.py unmapped).
_NO_CODE = "no code leukodx uses"
_COMPONENT = re.compile(r"^(?P<resource>\S+) component\[(?P<index>\d+)\]$")


class PrefetchMissing(LeukodxError):
    """Required prefetch keys are absent and this service cannot fetch them (HTTP 412)."""

    def __init__(self, missing: list[str], reason: str | None = None) -> None:
        self.missing = missing
        asked = ", ".join(missing)
        super().__init__(
            reason
            or f"the request must prefetch: {asked} (or give fhirServer and fhirAuthorization, "
            "for this service to fetch it)"
        )


@dataclass(frozen=True)
class ServiceSettings:
    rules: str | None = None  # knowledge base directory (default: bundled)
    backend: str = DEFAULT_BACKEND
    auth: JwtSettings | None = None  # None: no authentication (--insecure-no-auth)
    public_url: str | None = None  # base URL clients call (for ``aud``); default: the request's
    max_body_bytes: int = 2_000_000
    workers: int = 1  # the engine is CPU-bound Python: more threads mostly add GIL contention
    cors_origins: tuple[str, ...] = ()
    today: Callable[[], dt.date] = field(default=dt.date.today)  # the day hooks are answered
    report_ttl: float = DEFAULT_TTL_SECONDS  # seconds a card's report link works
    report_max: int = DEFAULT_MAX_ENTRIES  # reports kept in memory at most (oldest dropped)
    processes: int = 0  # >0: hook calls run in this many worker processes (engine.service.pool)
    #: True only where leukodx owns the process (``leukodx serve``): once warmed up, its
    #: long-lived objects leave the garbage collector's walks (engine/heap.py). An application
    #: that embeds :func:`engine.service.app.create_app` keeps the default and its own heap.
    freeze_heap: bool = False


@dataclass(frozen=True)
class Evaluation:
    """One patient evaluated on ``as_of``: the differential, the facts it was made from, and
    what the FHIR conversion left out."""

    d: Differential
    facts: dict[str, Any]
    ignored: tuple[IgnoredInput, ...]
    as_of: dt.date
    resources: dict[str, dict[str, Any]]  # "Observation/o7" -> the resource (dropped counts)
    conflicts: tuple[cds.Dropped, ...] = ()  # counts of one day that contradicted each other


@dataclass(frozen=True)
class NoCount:
    """FHIR data with no usable WBC or ANC: what the conversion left out, for the card that says
    so (an empty answer hid counts that were on file but could not be used)."""

    ignored: tuple[IgnoredInput, ...]
    resources: dict[str, dict[str, Any]]
    conflicts: tuple[cds.Dropped, ...] = ()


@dataclass(frozen=True)
class ReportRecipe:
    """What a card's report link renders when it is first opened: the facts of the answer and
    its day (so it is the report of that answer). Plain data, so a worker process can hand it to
    the server process that keeps the links."""

    facts: dict[str, Any]
    as_of: dt.date
    #: What the FHIR reader could not use (resource, reason): the report lists it beside what
    #: the engine did not use (an unreadable vitamin B12 was named nowhere; probe 9).
    ignored: tuple[tuple[str, str], ...] = ()


# --- the hooks, without HTTP ----------------------------------------------------------------


class Hooks:
    """Answers hook calls from prefetched data with one knowledge base."""

    def __init__(self, kb: KnowledgeBase, settings: ServiceSettings) -> None:
        self.kb, self.settings = kb, settings
        self.terms = terms = load_terminology()
        self.keys = cds.prefetch_keys(terms)
        self.first = cds.initiation_rules(kb)  # an order card's leading rules (drug starts)
        self.services = Services(services=cds.services(kb, terms))
        self.reports = ReportStore(settings.report_ttl, settings.report_max)
        self._citations: dict[str, Citation] = {}

    def call(self, service_id: str, req: CdsRequest, base_url: str | None = None) -> CdsResponse:
        """The cards of one hook call. ``base_url`` is where this service is reached (for the
        report links; none without it)."""
        if req.hook != cds.HOOKS[service_id]:
            raise InputError(
                "hook",
                "this service answers another hook",
                got=req.hook,
                expected=cds.HOOKS[service_id],
            )
        patient_id = _context_text(req.context, "patientId")
        data, absent = self._prefetch(req, patient_id)
        if service_id == cds.PATIENT_VIEW:
            return self._patient_view(data, absent, patient_id, base_url)
        return self._order_select(req.context, data, patient_id, base_url)

    def _prefetch(self, req: CdsRequest, patient_id: str) -> tuple[dict[str, Any], list[str]]:
        given = self._fetched(req, patient_id)
        templates = {k.key: k.template for k in self.keys}
        missing = [k.key for k in self.keys if k.required and _lacks(given, k.key)]
        if missing:
            raise PrefetchMissing(missing)
        data: dict[str, Any] = {}
        for key in (k.key for k in self.keys if given.get(k.key) is not None):
            if _lacks(given, key):
                continue
            value = given[key]
            if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
                raise InputError(
                    f"prefetch.{key}",
                    "not a FHIR resource",
                    expected="a FHIR resource, a Bundle or null",
                )
            kind = _asked_type(templates[key])
            if value["resourceType"] not in ("Bundle", kind):
                # a client that answers one query with another's result is misconfigured: read
                # as it is, a required key would look empty and the hook silently answer nothing
                raise InputError(
                    f"prefetch.{key}",
                    "not what its prefetch template asks for",
                    got=value["resourceType"],
                    expected=f"a resource of type {kind}, a Bundle or null",
                )
            data[f"prefetch.{key}"] = value
        patient = data.get("prefetch.patient", {})
        if patient.get("resourceType") == "Patient" and patient.get("id") not in (None, patient_id):
            raise InputError("prefetch.patient.id", "is not the patient of context.patientId")
        return data, [k.key for k in self.keys if _lacks(given, k.key)]

    def _fetched(self, req: CdsRequest, patient_id: str) -> dict[str, Any]:
        """The prefetch, with the keys it lacks fetched from ``fhirServer`` where possible."""
        auth, server = req.fhirAuthorization, req.fhirServer
        access = Access(server, auth.access_token, auth.scope, auth.patient) if (
            server and auth) else None  # fmt: skip
        templates = {k.key: k.template for k in self.keys}
        optional = [k.key for k in self.keys if not k.required]
        try:
            return complete_prefetch(req.prefetch or {}, templates, access, patient_id,
                                     optional=optional)  # fmt: skip
        except FetchError as exc:
            lacking = [k.key for k in self.keys if k.required and _lacks(req.prefetch or {}, k.key)]
            raise PrefetchMissing(lacking, str(exc)) from None

    def _evaluate(self, data: dict[str, Any]) -> Evaluation | NoCount:
        """The patient of the FHIR data as of today; keys are request paths, so errors name
        them. :class:`NoCount` when no usable WBC or ANC is on file. Counts of one day that
        contradict each other (an ANC above the WBC: a unit mix-up) are set aside with a reason
        rather than failing the whole hook, which would show the clinician nothing at all."""
        today = self.settings.today()
        converted = from_fhir(data, as_of=today)
        ahead = _day_ahead(today, converted.facts)
        if ahead is not None:  # the clinic's day is ahead of the server's: answer as of it
            today, converted = ahead, from_fhir(data, as_of=ahead)
        facts = converted.facts
        resources = resource_index(data)
        conflicts: list[cds.Dropped] = []
        while True:
            if not any(lab.get("test") in ("wbc", "anc") for lab in facts.get("labs", [])):
                return NoCount(converted.ignored, resources, tuple(conflicts))
            try:
                d = diagnose(facts, kb=self.kb, backend=self.settings.backend, today=today)
            except InputError as exc:
                facts, dropped = _without_conflicting_day(facts, exc)
                if not dropped:
                    raise
                conflicts += dropped
                continue
            return Evaluation(d, facts, converted.ignored, today, resources, tuple(conflicts))

    def _setting(self, ev: Evaluation, patient_id: str, base_url: str | None) -> cds.Setting:
        """What the cards of ``ev`` add: dated counts, the lookback's sources, the report link."""
        lookback = lookback_for(self.kb.staleness, ev.facts, self.kb.lexicon, ev.as_of)
        cites = lookback.cite if lookback else ()
        citations = tuple(self._citation(c) for c in cites if c in self.kb.citations)
        return cds.Setting(
            freshness=assess(ev.d, ev.as_of, lookback),
            report=self._report_link(ev, base_url),
            patient_id=patient_id,
            citations=citations,
        )

    def _citation(self, cid: str) -> Citation:
        """The knowledge base's citation ``cid`` as the cards show it (made once per id)."""
        made = self._citations.get(cid)
        if made is None:
            made = Citation.model_validate(self.kb.citations[cid].published())
            self._citations[cid] = made
        return made

    def _report_link(self, ev: Evaluation, base_url: str | None) -> Link | None:
        """Link to the patient's report, rendered when the link is first opened (from the same
        facts and day, so it is the report of this answer): a hook answer should not wait for a
        page nobody may open."""
        if not base_url:
            return None
        unread = tuple((i.resource, i.reason) for i in ev.ignored)
        recipe = ReportRecipe(copy.deepcopy(ev.facts), ev.as_of, unread)
        stored = self.store_report(recipe, base_url)
        until = dt.datetime.fromtimestamp(stored.expires_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
        return Link(
            label=f"Patient report: count timeline, ranked causes, sources (until {until} UTC)",
            url=stored.url,
            type="absolute",
        )

    def store_report(self, recipe: ReportRecipe, base_url: str) -> StoredLink:
        """Keep ``recipe`` in the report store and return its link. A worker process
        (:mod:`engine.service.pool`) overrides this: it mints the token and the server process
        stores the recipe."""
        return self.reports.link(functools.partial(self.render_report, recipe), base_url)

    def render_report(self, recipe: ReportRecipe) -> str:
        """The patient report of ``recipe``, as its link shows it when first opened."""
        facts, as_of = recipe.facts, recipe.as_of
        d = diagnose(facts, kb=self.kb, backend=self.settings.backend, today=as_of)
        if recipe.ignored:
            unread = [NotUsed(item=item, reason=reason) for item, reason in recipe.ignored]
            d = d.model_copy(update={"ignored_inputs": [*unread, *d.ignored_inputs]})
        return render_patient(d, parse_patient(facts, today=as_of), self.kb)

    def _patient_view(
        self, data: dict[str, Any], absent: list[str], patient_id: str, base_url: str | None
    ) -> CdsResponse:
        ev = self._evaluate(data)
        if isinstance(ev, NoCount):
            dropped = self._unused(ev)
            if not any(x.test in (*COUNT_TESTS, cds.UNIDENTIFIED) for x in dropped):
                return CdsResponse(cards=[])  # no count on file: nothing to say
            return CdsResponse(cards=[cds.no_count_card(self.kb, dropped, patient_id)])
        d, setting = ev.d, self._setting(ev, patient_id, base_url)
        alerts = sorted(d.alerts, key=lambda a: -INDICATOR_ORDER.index(cds.indicator(a.level)))
        cards = [cds.alert_card(d, a, setting) for a in alerts]
        urgent = any(c.indicator == "critical" and c.summary.startswith("Stale") for c in cards)
        cards += self._data_cards(ev, setting, urgent=urgent)
        partial = partial_keys(data)
        if partial:
            cards.append(cds.partial_card(d, partial, setting))
        summary = cds.differential_card(d, absent, setting)
        return CdsResponse(cards=cards + ([summary] if summary else []))

    def _unused(self, ev: Evaluation | NoCount) -> list[cds.Dropped]:
        """What the FHIR reader left out that a card names (counts, fevers, known drugs), and
        the counts of a day set aside for contradicting each other."""
        return [
            *dropped_counts(ev.ignored, ev.resources, self.terms, self.kb.lexicon),
            *ev.conflicts,
        ]

    def _data_cards(self, ev: Evaluation, setting: cds.Setting, *, urgent: bool) -> list[Card]:
        """The count card (stale or no ANC) and the dropped-counts card, when they apply."""
        out = []
        count = cds.count_card(ev.d, setting, urgent=urgent)
        if count is not None:
            out.append(count)
        dropped = [*self._unused(ev), *_dated_out(ev.d, self.kb.lexicon)]
        if dropped:
            out.append(cds.dropped_card(ev.d, dropped, setting))
        return out

    def _order_select(
        self, context: dict[str, Any], data: dict[str, Any], patient_id: str,
        base_url: str | None,
    ) -> CdsResponse:  # fmt: skip
        orders, medications = _draft_orders(context, self.settings.today())
        if not orders:
            return CdsResponse(cards=[])
        drafted = _drafted(orders, medications, self.kb.lexicon)
        response = self._checked_orders(orders, medications, drafted, data, patient_id, base_url)
        # an order whose drug cannot be identified may be any drug: named, never silent
        missing = [cds.unidentified_order_card(self.kb, why) for why in drafted.unreadable]
        return CdsResponse(cards=[*response.cards, *missing]) if missing else response

    def _checked_orders(
        self, orders: list[Any], medications: list[Any], drafted: _Drafted,
        data: dict[str, Any], patient_id: str, base_url: str | None,
    ) -> CdsResponse:  # fmt: skip
        """The cards of the draft orders whose drugs the lexicon knows or nearly knows."""
        drafts = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in (*orders, *medications)],
        }
        drugs = [self.kb.lexicon.resolve(name) for name in drafted.names]
        # Only what the knowledge base knows about a drug scopes an order: rules about any
        # unlisted drug (its timing against a low count) or any unread name cannot apply to a
        # drug not yet given.
        # Alert rules check the order; evidence rules only say the drug lowers counts (their
        # "the count arose on the drug" cannot hold for a drug not yet given).
        agents = {d.name: [a for a in d.agents if a not in (UNLISTED, UNREAD)] for d in drugs}
        scoped = [(drug, cds.drug_rules(self.kb, agents[drug.name])) for drug in drugs]
        scoped = [(drug, rules) for drug, rules in scoped if rules]
        alert_rules = {
            drug.name: cds.drug_rules(self.kb, agents[drug.name], alerts_only=True)
            for drug, _ in scoped
        }
        # A drafted name the lexicon does not read but that looks like one of its drugs (a
        # misspelling, a local product name) cannot be checked: an empty answer read as
        # "checked, nothing found". Other unknown names (paracetamol) are drugs the knowledge
        # base has no rules for, and stay silent.
        unread = sorted({n for d in drugs for n in d.unread if self.kb.lexicon.near_matches(n)})
        unread += drafted.codes  # known only by a code the lexicon lacks: may be any drug
        if not scoped and not unread:
            return CdsResponse(cards=[])
        ev = self._evaluate({**data, "context.draftOrders": drafts})
        if isinstance(ev, NoCount):
            return CdsResponse(
                cards=[
                    cds.notice_card(
                        self.kb,
                        f"No WBC or ANC on file: the {drug.name} order was not checked",
                        f"leukodx has rules for {drug.name} that depend on the blood count, "
                        "and the prefetched data hold no white cell or neutrophil count.",
                        order_cbc(patient_id, f"Before {drug.name}: no WBC or ANC on file"),
                    )
                    for drug, _ in scoped
                ]
                + [
                    cds.unread_order_card(self.kb, name, self.kb.lexicon.near_matches(name), None)
                    for name in unread
                ]  # fmt: skip
            )
        unread_cards = [
            cds.unread_order_card(self.kb, name, self.kb.lexicon.near_matches(name), ev.d)
            for name in unread
        ]
        if not scoped:
            return CdsResponse(cards=unread_cards)
        d, setting = ev.d, self._setting(ev, patient_id, base_url)
        found = [
            cds.DrugFindings.of(d, drug.name, alert_rules[drug.name], lowers_counts=bool(
                rules - alert_rules[drug.name]))
            for drug, rules in scoped
        ]  # fmt: skip
        fresh = setting.freshness
        cards = [
            cds.order_card(d, f, setting, self.first)
            for f in found
            if f.risky or (fresh and fresh.needs_cbc)
        ]
        dropped = self._unused(ev)
        if dropped:
            cards.append(cds.dropped_card(d, dropped, setting))
        return CdsResponse(cards=cards + unread_cards)


#: How far a result's own date may run ahead of the server's date and still be today's: the
#: clinic's calendar day can be a day ahead of the server's (a UTC host answering Sydney before
#: 11:00 local time), and such a morning's results were dropped as "dated after as_of".
CLOCK_SLACK = dt.timedelta(days=1)


_DATED_INPUT = re.compile(r"^(?:labs \((?P<test>\w+) on|findings \((?P<finding>\w+) since) "
                          r"(?P<date>\d{4}-\d{2}-\d{2})\)$")  # fmt: skip


_LATER_COURSE = re.compile(r"^medications \((?P<name>.+) started (?P<date>\d{4}-\d{2}-\d{2})\)$")


def _dated_out(d: Differential, lexicon: Lexicon | None = None) -> list[cds.Dropped]:
    """Blood counts and fevers the engine left out for their date (after ``as_of``, or lines of
    another episode): the card that names unused results named only what the FHIR reader
    dropped, so a count dated in 2062 (a mistyped year) vanished without a word."""
    out = []
    for item in d.ignored_inputs:
        found = _DATED_INPUT.match(item.item)
        test = found and (found["test"] or found["finding"])
        if found and test in (*COUNT_TESTS, "fever"):
            out.append(cds.Dropped(item.item, str(test), found["date"], item.reason))
        later = _LATER_COURSE.match(item.item) if lexicon is not None else None
        drug = lexicon.resolve(later["name"]) if later and lexicon is not None else None
        if later and drug is not None and drug.known and UNLISTED not in drug.agents:
            # a signed order that starts in two days: its drug's checks were not made (probe 13)
            out.append(cds.Dropped(item.item, cds.MEDICATION, later["date"], item.reason,
                                   drug.name))  # fmt: skip
    return out


def _day_ahead(server_day: dt.date, facts: dict[str, Any]) -> dt.date | None:
    """The latest result or reading date of ``facts`` when it is after the server's date by at
    most :data:`CLOCK_SLACK` (a clinic ahead of the server's zone): the day to answer as of.
    None otherwise; a date further ahead (a mistyped year) is not today, and its results are
    listed as not used."""
    dates = [lab.get("date") for lab in facts.get("labs", [])]
    dates += [f.get("since") for f in facts.get("findings", []) if isinstance(f, dict)]
    ahead = [
        d for d in dates if isinstance(d, dt.date) and server_day < d <= server_day + CLOCK_SLACK
    ]
    return max(ahead, default=None)


def partial_keys(data: dict[str, Any]) -> list[str]:
    """The prefetch keys whose search result is one page of several (a ``next`` link: a client's
    first page, or this service's own fetch stopped at its limits), or carries the server's own
    error (an OperationOutcome in its entries). What was not read may hold today's results."""
    out = []
    for key, value in data.items():
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            continue
        links = value.get("link")
        more = any(
            isinstance(link, dict) and link.get("relation") == "next"
            for link in (links if isinstance(links, list) else [])
        )
        if more or _outcome_in(value):
            out.append(key.removeprefix("prefetch."))
    return sorted(out)


def _outcome_in(bundle: dict[str, Any]) -> bool:
    """Whether a search result carries an OperationOutcome with an error (``search.mode:
    outcome``): the server says the search did not complete, though the Bundle looks whole."""
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "OperationOutcome":
            issues = res.get("issue")
            listed = issues if isinstance(issues, list) else []
            if any(isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in listed):
                return True
    return False


def _lacks(given: dict[str, Any], key: str) -> bool:
    """A key the data do not give: absent, or an OperationOutcome (the client's failed query,
    which says nothing of the patient). A null key is given: the client found no data."""
    return key not in given or is_outcome(given[key])


def _asked_type(template: str) -> str:
    """The resource type a prefetch template asks for: ``Patient`` of ``Patient/{{...}}``,
    ``Observation`` of ``Observation?patient=...``."""
    return re.split(r"[/?]", template, maxsplit=1)[0]


def _context_text(context: dict[str, Any], name: str) -> str:
    value = context.get(name)
    if not isinstance(value, str) or not value:
        raise InputError(f"context.{name}", "required", got=value, expected="a non-empty string")
    return value


def _draft_orders(context: dict[str, Any], today: dt.date) -> tuple[list[Any], list[Any]]:
    """The selected draft MedicationRequests, made active from today, and bundled Medications."""
    bundle = context.get("draftOrders")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError("context.draftOrders", "required", expected="a Bundle of draft orders")
    selections = context.get("selections")
    if selections is not None and not (
        isinstance(selections, list) and all(isinstance(s, str) for s in selections)
    ):
        raise InputError(
            "context.selections",
            "not a list of references",
            expected='e.g. ["MedicationRequest/103"]',
        )
    entries = bundle.get("entry")
    kept = [
        e
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    resources = [e["resource"] for e in kept]
    urls = {e["fullUrl"]: e["resource"] for e in kept if isinstance(e.get("fullUrl"), str)}
    chosen = _selected(resources, selections, urls) if selections else resources
    orders = [r for r in chosen if r.get("resourceType") == "MedicationRequest"]
    patient = context.get("patientId")
    for i, order in enumerate(orders):
        subject = order.get("subject")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        named = ref.split("/_history/")[0].split("/")[-2:] if isinstance(ref, str) else None
        if named is not None and isinstance(patient, str) and named != ["Patient", patient]:
            # it was set aside later, and its card said it had been checked (probe 13)
            raise InputError(
                f"context.draftOrders (MedicationRequest {order.get('id') or i}).subject",
                "is not the patient of context.patientId",
                got=ref, expected=f"Patient/{patient}",
            )  # fmt: skip
    active = [
        {
            **_from_today(r),
            "id": f"draft-{i}",
            "status": "active",
            "intent": "order",
            "authoredOn": today.isoformat(),
        }  # fmt: skip
        for i, r in enumerate(orders)
    ]
    return active, [r for r in resources if r.get("resourceType") == "Medication"]


def _from_today(order: dict[str, Any]) -> dict[str, Any]:
    """A draft order without the planned dates of its dosage (``timing.repeat.boundsPeriod``)
    and dispense (``validityPeriod``): it is checked as started today, on today's counts. A
    drug order planned to start in two days read as starting after today, was set aside,
    and lost its critical "baseline ANC below 1500: do not start" card (probe 11)."""
    order = copy.deepcopy(order)
    dosages = order.get("dosageInstruction")
    for dosage in dosages if isinstance(dosages, list) else []:
        timing = dosage.get("timing") if isinstance(dosage, dict) else None
        repeat = timing.get("repeat") if isinstance(timing, dict) else None
        if isinstance(repeat, dict):
            repeat.pop("boundsPeriod", None)
    dispense = order.get("dispenseRequest")
    if isinstance(dispense, dict):
        dispense.pop("validityPeriod", None)
    return order


def _selected(resources: list[Any], selections: list[str], urls: dict[str, Any]) -> list[Any]:
    """The draft resources the selections name, as ``Type/id`` (the specification's form), a
    full URL ending in it, a versioned reference (``.../_history/2``), a bare id, or an entry's
    ``fullUrl`` (``urn:uuid:...``). A selection that names none of the drafts is refused: a
    mismatch in an EHR's selection format answered ``{"cards": []}`` and so silently turned off
    the check of every order."""
    keys = {}
    for r in resources:
        rid, kind = r.get("id"), r.get("resourceType")
        if isinstance(rid, str) and isinstance(kind, str):
            keys[f"{kind}/{rid}"] = r
    chosen: dict[str, Any] = {}
    for selection in selections:
        ref = selection.strip()
        found = urls.get(ref)
        ref = re.sub(r"/_history/[^/]+/?$", "", ref)
        found = found or keys.get(ref) or keys.get("/".join(ref.rstrip("/").split("/")[-2:]))
        bare = [r for k, r in keys.items() if k.split("/", 1)[1] == ref] if found is None else []
        if found is None and len(bare) == 1:
            found = bare[0]
        if found is None:
            raise InputError(
                "context.selections",
                f"{selection!r} names no resource in context.draftOrders",
                got=selection,
                expected="the Type/id of a draft order, e.g. "
                + (", ".join(sorted(keys)[:3]) or '"MedicationRequest/103"'),
            )
        chosen[f"{found.get('resourceType')}/{found.get('id')}"] = found
    return list(chosen.values())


#: A drug name the FHIR reader made of a code alone (``rxnorm:213184``).
_CODE_NAME = re.compile(r"[a-z0-9-]+:\S+")


@dataclass(frozen=True)
class _Drafted:
    """What the draft orders' drugs are, each order read once: the drug names (each once, in
    order), the code names the lexicon does not know (``rxnorm:213184``), and why the reader
    could not read an order's drug at all (an NDC code alone, a reference to no Medication)."""

    names: list[str]
    codes: list[str]
    unreadable: list[str]


def _drafted(orders: list[Any], medications: list[Any], lexicon: Lexicon) -> _Drafted:
    """The draft orders' drugs (:class:`_Drafted`). An order whose drug cannot be identified
    answered ``{"cards": []}``, which reads as "checked, nothing found" (probe 11); an order not
    to give a drug (doNotPerform) has nothing to check against the counts."""
    names: list[str] = []
    codes: set[str] = set()
    reasons: list[str] = []
    for order in orders:
        conversion = from_fhir([order, *medications])
        found = [m["name"] for m in conversion.facts.get("medications", [])]
        if not found:
            why = [i.reason for i in conversion.ignored if i.resource.startswith("Medication")]
            if not any("doNotPerform" in w for w in why):
                reasons.append(why[0] if why else "no medication code or name")
        for name in found:
            if name not in names:
                names.append(name)
        codes |= {n for n in found if _CODE_NAME.fullmatch(n) and not lexicon.resolve(n).known}
    return _Drafted(names, sorted(codes), reasons)


# --- counts the conversion dropped ----------------------------------------------------------


def resource_index(data: object) -> dict[str, dict[str, Any]]:
    """Every resource with an id in the request data (Bundles opened), by ``Type/id``."""
    out: dict[str, dict[str, Any]] = {}
    for res in _walk(data):
        rid = res.get("id")
        if isinstance(rid, str) and rid:
            out.setdefault(f"{res['resourceType']}/{rid}", res)
    return out


def _walk(data: object, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 8:  # Bundles nest a few levels at most; the reader bounds depth anyway
        return
    if isinstance(data, list):
        for item in data:
            yield from _walk(item, depth + 1)
    elif isinstance(data, dict):
        if not isinstance(data.get("resourceType"), str):
            for value in data.values():  # a prefetch map
                yield from _walk(value, depth + 1)
            return
        yield data
        if data["resourceType"] == "Bundle":
            for entry in data.get("entry") or []:
                if isinstance(entry, dict):
                    yield from _walk(entry.get("resource"), depth + 1)


def dropped_counts(
    ignored: tuple[IgnoredInput, ...],
    resources: dict[str, dict[str, Any]],
    terms: Terminology,
    lexicon: Lexicon | None = None,
) -> list[cds.Dropped]:
    """The blood counts, body temperatures and fevers among what the FHIR conversion did not use,
    with their dates. A result left out for its status (entered in error, cancelled, not yet a
    result) is not a loss."""
    out = []
    for item in ignored:
        if item.reason.startswith("status ") or any(
            note in item.reason for note in (ENDED_BY_TEMPERATURE, SAME_INSTANT)
        ):  # a reading, not a loss
            continue
        found = _COMPONENT.match(item.resource)
        res = resources.get(found["resource"] if found else item.resource)
        part: object = res
        if res is not None and found:
            parts = res.get("component")
            index = int(found["index"])
            part = parts[index] if isinstance(parts, list) and index < len(parts) else None
        test = (
            _count_test(part, terms) or _prefix_test(item.reason) or _fever_input(part, terms)
            or _unidentified(item, res)
        )  # fmt: skip
        drug = _known_drug(item, lexicon) if test is None and lexicon is not None else None
        if drug is not None:
            out.append(
                cds.Dropped(item.resource, cds.MEDICATION, _effective(res), item.reason, drug)
            )
        elif test is not None:
            out.append(cds.Dropped(item.resource, test, _effective(res), item.reason))
    return out


def _unidentified(item: IgnoredInput, res: dict[str, Any] | None) -> str | None:
    """:data:`~engine.service.cards.UNIDENTIFIED` for an Observation with no code leukodx knows
    (a local code, or text alone): it may be the ANC or the temperature an alert needs, which is
    not guessed from its words, so the clinician is shown it. None for anything else (a LOINC
    result of another test is no loss)."""
    observation = res is not None and res.get("resourceType") == "Observation"
    return cds.UNIDENTIFIED if observation and item.reason.startswith(_NO_CODE) else None


def _known_drug(item: IgnoredInput, lexicon: Lexicon) -> str | None:
    """The generic name of a medication resource left out whose drug the knowledge base knows
    (``<drug>: status stopped with no end date ...``): its alerts and cause were checked
    without it. None for anything else."""
    if not item.resource.startswith("Medication") or ": " not in item.reason:
        return None
    found = lexicon.resolve(item.reason.split(": ", 1)[0].strip())  # "rxnorm:2626: status ..."
    return found.name if found.known and UNLISTED not in found.agents else None


def _fever_input(part: object, terms: Terminology) -> str | None:
    """``temperature`` or ``fever`` when the unused resource was a body temperature or a fever
    (a Condition or Observation coding the fever finding): febrile neutropenia rests on it."""
    code = part.get("code") if isinstance(part, dict) else None
    if any(terms.system_key(s) == "loinc" and c in terms.fever_loincs for s, c in codings(code)):
        return "temperature"
    if any(c.kind == "finding" and c.name == terms.fever_finding for c in concepts_of(code, terms)):
        return "fever"
    return None


def _count_test(part: object, terms: Terminology) -> str | None:
    code = part.get("code") if isinstance(part, dict) else None
    for system, value in codings(code):
        test = terms.tests.get(value) if terms.system_key(system) == "loinc" else None
        if test in COUNT_TESTS:
            return test
    return None


_LAB_FIELD = re.compile(r"^labs\[(\d+)\]")
#: The results of one blood count that such a check compares.
SAME_DAY_TESTS = frozenset(
    {"wbc", "anc", "alc", "amc", "neutrophil_pct", "band_pct", "lymphocyte_pct"}
)


def _without_conflicting_day(
    facts: dict[str, Any], exc: InputError
) -> tuple[dict[str, Any], list[cds.Dropped]]:
    """``facts`` without the counts of the day whose results contradict each other (the
    cross-result checks of :func:`engine.units.check_same_day`), and those counts as not used;
    no change for any other error. Which of the day's counts is wrong cannot be told, so none of
    them is used: alerts rest on the other days, and the card says why."""
    found = _LAB_FIELD.match(exc.field or "")
    labs = facts.get("labs", [])
    if found is None or not units.is_same_day_conflict(exc) or int(found[1]) >= len(labs):
        return facts, []
    day = labs[int(found[1])].get("date")
    keep, dropped = [], []
    for lab in labs:
        if lab.get("date") == day and lab.get("test") in SAME_DAY_TESTS:
            value = f"{lab.get('comparator') or ''}{lab.get('value')} {lab.get('unit') or ''}"
            shown = f"{lab['test']} {value.strip()}"
            dropped.append(
                cds.Dropped(
                    f"{shown.strip()} on {day}",
                    lab["test"],
                    str(day),
                    f"the counts of {day} contradict each other ({exc.problem}); none of "
                    "them was used",
                )  # fmt: skip
            )
        else:
            keep.append(lab)
    return {**facts, "labs": keep}, dropped


def _prefix_test(reason: str) -> str | None:
    """The test a reason names first (``anc: no valueQuantity``), when it is a count."""
    head = reason.split(":", 1)[0].strip()
    return head if head in COUNT_TESTS else None


def _effective(res: dict[str, Any] | None) -> str | None:
    """The date an Observation (or a medication order) gives for itself (its first ten
    characters), if any."""
    if res is None:
        return None
    period = res.get("effectivePeriod")
    for value in (
        res.get("effectiveDateTime"),
        period.get("start") if isinstance(period, dict) else None,
        res.get("effectiveInstant"),
        res.get("issued"),
        res.get("authoredOn"),  # a medication order
    ):
        if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
            return value[:10]
    return None
