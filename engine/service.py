# SPDX-License-Identifier: Apache-2.0
"""The CDS Hooks 2.0 service (``leukodx serve``): discovery, two hooks, feedback, ``/diagnose``.

* ``GET /cds-services``: the ``patient-view`` and ``order-select`` services (:mod:`engine.cds`).
* ``POST /cds-services/{id}``: the differential from the prefetched FHIR data. This service never
  queries a FHIR server, so a missing required prefetch key is answered with 412. For
  ``order-select`` the selected draft MedicationRequests of ``context.draftOrders`` are added as
  active medications starting today; a drug is flagged when an alert or evidence rule that names
  it (or one of its lexicon classes) fires given the current counts.
* ``POST /cds-services/{id}/feedback``: accepted and logged without patient data.
* ``POST /diagnose``: contract section 1 facts in, the section 3 ``Differential`` out.

Responses omit empty optional fields (never ``null``); bodies above ``max_body_bytes`` get 413,
malformed JSON 400, invalid facts 422 naming the field; logs hold no patient data. With ``auth``
set, every CDS endpoint and ``/diagnose`` require a client JWT (:mod:`engine.service_auth`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from engine import cds
from engine.api import diagnose
from engine.cds_models import (
    INDICATOR_ORDER,
    CdsRequest,
    CdsResponse,
    ErrorBody,
    Feedback,
    FeedbackReceipt,
    Services,
)
from engine.differential import Differential
from engine.errors import InputError, LeukodxError
from engine.fhir import from_fhir
from engine.fhir_terms import load_terminology
from engine.kb.lexicon import UNLISTED
from engine.kb.load import KnowledgeBase, load_knowledge_base
from engine.service_auth import AuthError, Guard, JwtSettings, JwtVerifier, error_response
from engine.version import __version__

log = logging.getLogger("leukodx.service")
T = TypeVar("T")
_WARMUP = {"wbc": 3.0, "anc": 1.0}  # any valid facts: compiles the engine on each worker thread


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
    backend: str = "experta"
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


# --- HTTP -----------------------------------------------------------------------------------


class Runner:
    """Runs diagnoses on a small, pre-warmed thread pool (each thread compiles its engine once)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="leukodx")
            return self._pool

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool(), functools.partial(fn, *args))

    def warm(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` once on every worker thread (the barrier keeps each thread busy once)."""
        barrier = threading.Barrier(self.workers)

        def once() -> None:
            barrier.wait(timeout=120)
            fn()

        for future in [self.pool().submit(once) for _ in range(self.workers)]:
            future.result()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The FastAPI application. Loads the knowledge base now (errors raise here, not later)."""
    settings = settings or ServiceSettings()
    verifier = JwtVerifier(settings.auth) if settings.auth else None  # fails fast on bad keys
    kb = load_knowledge_base(settings.rules)
    hooks, runner = Hooks(kb, settings), Runner(settings.workers)
    warmup = functools.partial(diagnose, _WARMUP, kb=kb, backend=settings.backend)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if verifier is None:
            log.warning(
                "AUTHENTICATION DISABLED (--insecure-no-auth): any caller can use this "
                "service. For local prototyping only; never expose it to a network."
            )
        await asyncio.to_thread(runner.warm, warmup)
        yield
        runner.close()

    app = FastAPI(
        title="leukodx CDS Hooks service",
        version=__version__,
        lifespan=lifespan,
        description="CDS Hooks 2.0 services and a /diagnose endpoint for the leukodx "
        "differential of leukopenia and neutropenia. Decision support, not a diagnosis.",
    )
    deps = [Depends(_authenticate(verifier, settings.public_url))] if verifier else []
    _add_error_handlers(app)
    _add_routes(app, hooks, runner, deps)
    app.add_middleware(Guard, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


_BEARER = HTTPBearer(auto_error=False, description="JWT signed by the CDS client")


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def _authenticate(verifier: JwtVerifier, public_url: str | None) -> Callable[..., None]:
    def check(request: Request, credentials: Credentials) -> None:
        if credentials is None:
            raise AuthError("missing bearer token")
        verifier.verify(credentials.credentials, _audience(request, public_url))

    return check


def _audience(request: Request, public_url: str | None) -> str:
    """The URL the client called: the configured public base URL plus the path, if one is set."""
    if not public_url:
        return str(request.url.replace(query="", fragment=""))
    path, root = request.url.path, str(request.scope.get("root_path", ""))
    return public_url.rstrip("/") + (path[len(root) :] if root and path.startswith(root) else path)


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "malformed JSON",
        401: "missing or invalid client JWT",
        404: "unknown service",
        412: "required prefetch data missing",
        413: "request body too large",
        422: "invalid request or patient facts (the field is named)",
    }
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


def _add_routes(app: FastAPI, hooks: Hooks, runner: Runner, deps: list[Any]) -> None:
    auth = (401,) if deps else ()
    common: dict[str, Any] = {"dependencies": deps, "response_model_exclude_none": True}

    @app.get("/cds-services", response_model=Services, responses=_responses(*auth), **common)
    async def discovery() -> Services:
        return hooks.services

    @app.post(
        "/cds-services/{service_id}",
        response_model=CdsResponse,
        responses=_responses(400, *auth, 404, 412, 413, 422),
        **common,
    )
    async def call_service(service_id: str, request: CdsRequest) -> CdsResponse:
        _known(service_id)
        response = await runner.run(hooks.call, service_id, request)
        log.info(
            "%s: %d card(s) [%s]",
            service_id,
            len(response.cards),
            ",".join(c.indicator for c in response.cards),
        )
        return response

    @app.post(
        "/cds-services/{service_id}/feedback",
        response_model=FeedbackReceipt,
        responses=_responses(400, *auth, 404, 413, 422),
        **common,
    )
    async def feedback(service_id: str, body: Feedback) -> FeedbackReceipt:
        _known(service_id)
        outcomes = Counter(item.outcome for item in body.feedback)
        reasons = sum(item.overrideReason is not None for item in body.feedback)
        log.info(
            "feedback for %s: %s; %d with an override reason",
            service_id,
            dict(sorted(outcomes.items())),
            reasons,
        )
        return FeedbackReceipt(received=len(body.feedback))

    @app.post(
        "/diagnose",
        response_model=Differential,
        dependencies=deps,
        responses=_responses(400, *auth, 413, 422),
    )
    async def diagnose_facts(
        facts: Annotated[
            dict[str, Any],
            Body(
                description="Patient facts (contract section 1: long form or shorthand), or a FHIR "
                "R4 Bundle",
                examples=[_WARMUP],
            ),
        ],
    ) -> Differential:
        run = functools.partial(diagnose, facts, kb=hooks.kb, backend=hooks.settings.backend)
        return await runner.run(run)


def _known(service_id: str) -> None:
    if service_id not in cds.HOOKS:
        raise HTTPException(404, f"no service {service_id!r}; see GET /cds-services")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        if first.get("type") == "json_invalid":
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        where = _dotted([p for p in first.get("loc", ()) if p != "body"]) or "(top level)"
        log.info("invalid request at %s", where)
        return error_response(422, "invalid_request", f"{where}: {first.get('msg')}", field=where)

    @app.exception_handler(InputError)
    async def invalid_input(_: Request, exc: InputError) -> JSONResponse:
        log.info("invalid input at %s", exc.field)
        return error_response(422, "invalid_input", str(exc), field=exc.field)

    @app.exception_handler(PrefetchMissing)
    async def precondition(_: Request, exc: PrefetchMissing) -> JSONResponse:
        log.info("412: prefetch missing %s", ", ".join(exc.missing))
        return error_response(412, "prefetch_missing", str(exc), missing=exc.missing)

    @app.exception_handler(AuthError)
    async def unauthorized(request: Request, exc: AuthError) -> JSONResponse:
        log.warning("401 on %s: %s", request.url.path, exc)
        return error_response(401, "unauthorized", str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=exc.headers)


def _dotted(loc: list[Any]) -> str:
    """``["context", "draftOrders", 0]`` -> ``context.draftOrders[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
