# SPDX-License-Identifier: Apache-2.0
"""The two CDS hooks without HTTP: prefetched FHIR data in, cards out.

``patient-view`` answers with an alert card per alert and one differential card. ``order-select``
adds the selected draft MedicationRequests of ``context.draftOrders`` as active medications
starting today and flags a drug when an alert or evidence rule that names it (or one of its
lexicon classes) fires given the current counts. This service never queries a FHIR server, so a
missing required prefetch key raises :class:`PrefetchMissing` (HTTP 412 in
:mod:`engine.service.app`).
Kept apart from the HTTP layer so the hooks can be tested, and reused, without FastAPI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.api import diagnose
from engine.backends.base import DEFAULT_BACKEND
from engine.differential import Differential
from engine.errors import InputError, LeukodxError
from engine.fhir.convert import from_fhir
from engine.fhir.terms import load_terminology
from engine.kb.lexicon import UNLISTED
from engine.kb.load import KnowledgeBase
from engine.service import cards as cds
from engine.service.auth import JwtSettings
from engine.service.models import INDICATOR_ORDER, CdsRequest, CdsResponse, Services


class PrefetchMissing(LeukodxError):
    """Required prefetch keys are absent and this service cannot fetch them (HTTP 412)."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            "this service does not query FHIR servers; the request must prefetch: "
            + ", ".join(missing)
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
    today: Callable[[], dt.date] = field(default=dt.date.today)


# --- the hooks, without HTTP ----------------------------------------------------------------


class Hooks:
    """Answers hook calls from prefetched data with one knowledge base."""

    def __init__(self, kb: KnowledgeBase, settings: ServiceSettings) -> None:
        self.kb, self.settings = kb, settings
        terms = load_terminology()
        self.keys = cds.prefetch_keys(terms)
        self.services = Services(services=cds.services(kb, terms))

    def call(self, service_id: str, req: CdsRequest) -> CdsResponse:
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
            return self._patient_view(data, absent)
        return self._order_select(req.context, data)

    def _prefetch(self, req: CdsRequest, patient_id: str) -> tuple[dict[str, Any], list[str]]:
        given = req.prefetch or {}
        missing = [k.key for k in self.keys if k.required and k.key not in given]
        if missing:
            raise PrefetchMissing(missing)
        data: dict[str, Any] = {}
        for key in (k.key for k in self.keys if given.get(k.key) is not None):
            value = given[key]
            if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
                raise InputError(
                    f"prefetch.{key}",
                    "not a FHIR resource",
                    expected="a FHIR resource, a Bundle or null",
                )
            data[f"prefetch.{key}"] = value
        patient = data.get("prefetch.patient", {})
        if patient.get("resourceType") == "Patient" and patient.get("id") not in (None, patient_id):
            raise InputError("prefetch.patient.id", "is not the patient of context.patientId")
        return data, [k.key for k in self.keys if k.key not in given]

    def _diagnose(self, data: dict[str, Any]) -> Differential | None:
        """The differential of the FHIR data; keys are request paths, so errors name them."""
        facts = from_fhir(data).facts
        if not any(lab.get("test") in ("wbc", "anc") for lab in facts.get("labs", [])):
            return None  # no count on file: nothing to say
        return diagnose(facts, kb=self.kb, backend=self.settings.backend)

    def _patient_view(self, data: dict[str, Any], absent: list[str]) -> CdsResponse:
        d = self._diagnose(data)
        if d is None:
            return CdsResponse(cards=[])
        alerts = sorted(d.alerts, key=lambda a: -INDICATOR_ORDER.index(cds.indicator(a.level)))
        cards = [cds.alert_card(d, a) for a in alerts]
        summary = cds.differential_card(d, absent)
        return CdsResponse(cards=cards + ([summary] if summary else []))

    def _order_select(self, context: dict[str, Any], data: dict[str, Any]) -> CdsResponse:
        orders, medications = _draft_orders(context, self.settings.today())
        if not orders:
            return CdsResponse(cards=[])
        drafts = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in (*orders, *medications)],
        }
        drugs = [self.kb.lexicon.resolve(name) for name in _drug_names(orders, medications)]
        # Only what the knowledge base knows about a drug scopes an order: rules about any
        # unlisted drug (its timing against a low count) cannot apply to a drug not yet given.
        scoped = [
            (drug, cds.drug_rules(self.kb, [a for a in drug.agents if a != UNLISTED]))
            for drug in drugs
        ]
        scoped = [(drug, rules) for drug, rules in scoped if rules]
        if not scoped:
            return CdsResponse(cards=[])
        d = self._diagnose({**data, "context.draftOrders": drafts})
        if d is None:
            return CdsResponse(
                cards=[
                    cds.notice_card(
                        self.kb,
                        f"No WBC or ANC on file: the {drug.name} order was not checked",
                        f"leukodx has rules for {drug.name} that depend on the blood count, "
                        "and the prefetched data hold no white cell or neutrophil count.",
                    )
                    for drug, _ in scoped
                ]
            )
        found = [cds.DrugFindings.of(d, drug.name, rules) for drug, rules in scoped]
        return CdsResponse(cards=[cds.order_card(d, f) for f in found if f.risky])


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
    resources = [
        e["resource"]
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]
    orders = [
        r
        for r in resources
        if r.get("resourceType") == "MedicationRequest"
        and (not selections or f"MedicationRequest/{r.get('id')}" in selections)
    ]
    active = [
        {**r, "id": f"draft-{i}", "status": "active", "authoredOn": today.isoformat()}
        for i, r in enumerate(orders)
    ]
    return active, [r for r in resources if r.get("resourceType") == "Medication"]


def _drug_names(orders: list[Any], medications: list[Any]) -> list[str]:
    names: list[str] = []
    for order in orders:
        for med in from_fhir([order, *medications]).facts.get("medications", []):
            if med["name"] not in names:
                names.append(med["name"])
    return names
