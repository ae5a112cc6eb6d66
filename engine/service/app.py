# SPDX-License-Identifier: Apache-2.0
"""The CDS Hooks 2.0 service over HTTP (``leukodx serve``): discovery, hooks, feedback, diagnose.

* ``GET /cds-services``: the ``patient-view`` and ``order-select`` services
  (:mod:`engine.service.cards`).
* ``POST /cds-services/{id}``: the cards of :mod:`engine.service.hooks` for the prefetched FHIR
  data; a missing required prefetch key is answered with 412. They are computed on the diagnosis
  threads (``workers``), or with ``processes`` set in worker processes
  (:mod:`engine.service.pool`; a worker that dies holding the call: 503).
* ``POST /cds-services/{id}/feedback``: accepted and logged without patient data.
* ``GET /reports/{token}``: the patient report a card links to (:mod:`engine.service.links`);
  the random token is the credential, so this route needs no JWT; unknown or expired: 404.
* ``POST /diagnose``: contract section 1 facts in, the section 3 ``Differential`` out.
* ``GET /`` and ``POST /report``: a page to try the engine and the patient report as HTML
  (:mod:`engine.service.page`), behind the same authentication; ``GET /docs``: the endpoints
  as a plain page (:mod:`engine.service.docs`), since FastAPI's own docs load from a CDN.

Responses omit empty optional fields (never ``null``); bodies above ``max_body_bytes`` get 413,
malformed JSON 400, invalid facts 422 naming the field; a body that does not arrive within
``body_timeout`` seconds 408 (:class:`BodyDeadline`, so that a slow client holds no request open
for long); logs hold no patient data. With ``auth`` set, every CDS endpoint and ``/diagnose``
require a client JWT (:mod:`engine.service.auth`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api import WARMUP_FACTS, diagnose
from engine.differential import Differential
from engine.errors import InputError
from engine.heap import freeze_long_lived
from engine.kb.load import load_knowledge_base
from engine.service import cards as cds
from engine.service import docs, page
from engine.service.auth import AuthError, Guard, JwtVerifier, error_response
from engine.service.hooks import Hooks, PrefetchMissing, ServiceSettings
from engine.service.links import ROUTE
from engine.service.logs import loggable_field
from engine.service.models import (
    CdsRequest,
    CdsResponse,
    ErrorBody,
    Feedback,
    FeedbackReceipt,
    Services,
)
from engine.service.pool import PoolUnavailable, ProcessRunner, Refusal
from engine.version import __version__

log = logging.getLogger("leukodx.service")
T = TypeVar("T")
#: A report page holds patient data: not cached, not sent on as a referrer, not indexed; and,
#: as the same report from ``POST /report``, it may load and run nothing (it needs nothing).
_PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": page.CSP,
    "X-Content-Type-Options": "nosniff",
}
#: FastAPI's parse error for a body it cannot read as JSON (too deep, a too long integer).
_UNPARSED = "There was an error parsing the body"


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


class HeadAsGet:
    """ASGI middleware: a HEAD request is answered as the GET of the same URL, without the body
    (HTTP requires HEAD wherever GET is served; FastAPI's routes answer only the methods they
    name, so a monitor's ``HEAD /healthz`` would get 405). The server omits the body: uvicorn
    sends none for a request that came as HEAD."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


class _BodyLate(Exception):
    """The request body did not arrive in time."""


class BodyDeadline:
    """ASGI middleware: the whole request body must arrive within ``seconds`` of the request head;
    otherwise the client gets 408 and the connection is closed (the body is left unread).

    Without it, a client that declares a body and sends it a byte at a time holds a request open
    for as long as it likes. Only reading the body is timed: once it is complete, the application
    may wait on ``receive`` (for a disconnect) as long as it needs."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline, body_done, started = loop.time() + self.seconds, False, False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise _BodyLate from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, watched_send)
        except _BodyLate:
            log.info("408: request body not received within %g s", self.seconds)
            if not started:
                message = f"the request body did not arrive within {self.seconds:g} s"
                close = {"Connection": "close"}  # the unread body makes the connection unusable
                response = error_response(408, "request_timeout", message, headers=close)
                await response(scope, receive, send)


def create_app(settings: ServiceSettings | None = None, *, body_timeout: float = 30.0) -> FastAPI:
    """The FastAPI application. Loads the knowledge base now (errors raise here, not later).
    ``body_timeout`` is the time a client has to send a request body (:class:`BodyDeadline`)."""
    settings = settings or ServiceSettings()
    verifier = JwtVerifier(settings.auth) if settings.auth else None  # fails fast on bad keys
    kb = load_knowledge_base(settings.rules)
    hooks, runner = Hooks(kb, settings), Runner(settings.workers)
    warmup = functools.partial(diagnose, WARMUP_FACTS, kb=kb, backend=settings.backend)
    pool = ProcessRunner(settings, settings.processes) if settings.processes > 0 else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if verifier is None:
            log.warning(
                "AUTHENTICATION DISABLED (--insecure-no-auth): any caller can use this "
                "service. For local prototyping only; never expose it to a network."
            )
        await asyncio.to_thread(runner.warm, warmup)
        if settings.freeze_heap:
            freeze_long_lived()  # the knowledge base, the app and its routes live until shutdown
        if pool is not None:
            await pool.start()
        yield
        runner.close()
        if pool is not None:
            await pool.close()

    app = FastAPI(
        title="leukodx CDS Hooks service",
        version=__version__,
        lifespan=lifespan,
        description="CDS Hooks 2.0 services and a /diagnose endpoint for the leukodx "
        "differential of leukopenia and neutropenia. Decision support, not a diagnosis.",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: engine/service/docs.py instead
        redoc_url=None,
    )
    deps = [Depends(_authenticate(verifier, settings.public_url))] if verifier else []
    _add_error_handlers(app)
    _add_routes(app, hooks, runner, deps, pool)
    page.add_page_routes(app, kb=kb, backend=settings.backend, today=settings.today,
                         run=runner.run, deps=deps)  # fmt: skip
    docs.add_docs_route(app)
    app.add_middleware(HeadAsGet)  # innermost: the access log still says HEAD
    app.add_middleware(Guard, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyDeadline, seconds=body_timeout)  # outermost: it times every read
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
        415: "the body is declared as something other than JSON",
        422: "invalid request or patient facts (the field is named)",
    }
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


def _add_routes(
    app: FastAPI, hooks: Hooks, runner: Runner, deps: list[Any], pool: ProcessRunner | None
) -> None:
    auth = (401,) if deps else ()
    common: dict[str, Any] = {"dependencies": deps, "response_model_exclude_none": True}

    @app.get("/cds-services", response_model=Services, responses=_responses(*auth), **common)
    async def discovery() -> Services:
        return hooks.services

    @app.get("/healthz", response_model=Health)
    async def health() -> Health:
        """Liveness and readiness for a monitor or a load balancer: no authentication, no patient
        data. The knowledge base is loaded and compiled before the server accepts connections,
        so an answer means the service can answer hooks."""
        return Health(
            status="ok",
            version=__version__,
            backend=hooks.settings.backend,
            knowledge_base=f"{hooks.kb.name} {hooks.kb.version}",
            content_hash=hooks.kb.content_hash,
        )

    posted: dict[str, Any] = {**common, "dependencies": [*deps, JSON_ONLY]}

    @app.post(
        "/cds-services/{service_id}",
        response_model=CdsResponse,
        responses=_responses(400, *auth, 404, 412, 413, 415, 422),
        **posted,
    )
    async def call_service(
        service_id: str, request: CdsRequest, http: Request
    ) -> CdsResponse | Response:
        _known(service_id)
        base = hooks.settings.public_url or str(http.base_url)  # for the cards' report links
        if pool is not None:
            return await _call_pool(pool, hooks, service_id, request, base)
        response = await runner.run(hooks.call, service_id, request, base)
        log.info(
            "%s: %d card(s) [%s]",
            service_id,
            len(response.cards),
            ",".join(c.indicator for c in response.cards),
        )
        return response

    @app.get(
        ROUTE + "/{token}",
        responses={
            200: {"content": {"text/html": {}}, "description": "the patient report (HTML)"},
            404: {"model": ErrorBody, "description": "unknown or expired report link"},
        },
    )
    async def report_link(token: str) -> HTMLResponse:
        """The patient report a card linked to. The unguessable token is the credential (a
        browser holds no CDS client JWT); it expires (``--report-ttl``) and is never logged."""
        html = await runner.run(hooks.reports.get, token)  # a first opening renders it
        if html is None:
            raise HTTPException(404, "this report link is unknown or has expired")
        return HTMLResponse(html, headers=_PRIVATE)

    @app.post(
        "/cds-services/{service_id}/feedback",
        response_model=FeedbackReceipt,
        responses=_responses(400, *auth, 404, 413, 415, 422),
        **posted,
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
        dependencies=[*deps, JSON_ONLY],
        responses=_responses(400, *auth, 413, 415, 422),
    )
    async def diagnose_facts(
        facts: Annotated[
            dict[str, Any],
            Body(
                description="Patient facts (contract section 1: long form or shorthand), or a FHIR "
                "R4 Bundle",
                examples=[WARMUP_FACTS],
            ),
        ],
    ) -> Differential:
        run = functools.partial(diagnose, facts, kb=hooks.kb, backend=hooks.settings.backend)
        return await runner.run(run)


async def _call_pool(
    pool: ProcessRunner, hooks: Hooks, service_id: str, request: CdsRequest, base: str
) -> Response:
    """A hook call answered by a worker process: its report recipes join this process's link
    store under the tokens the worker put in the cards, before the answer is sent."""
    answer = await pool.call(service_id, request, base, hooks.settings.today())
    if isinstance(answer, Refusal):
        raise answer.error()
    for token, recipe in answer.reports:
        hooks.reports.put(functools.partial(hooks.render_report, recipe), token=token)
    cards = ",".join(answer.indicators)
    log.info("%s: %d card(s) [%s] (process %d)", service_id, len(answer.indicators), cards,
             answer.pid)  # fmt: skip
    return Response(answer.body, media_type="application/json")


class Health(BaseModel):
    """``GET /healthz``: the service is up, with what it runs."""

    status: str
    version: str
    backend: str
    knowledge_base: str
    content_hash: str


class UnsupportedMediaType(Exception):
    """A JSON route was sent a body declared as something else (HTTP 415)."""


def _json_only(request: Request) -> None:
    """Refuse a body not declared as JSON, with a message that says so.

    FastAPI reads a body of any other Content-Type, or of none, as a string and would answer
    422 "Input should be a valid dictionary", which sends a caller who posted YAML or XML, or
    forgot the header, hunting in the wrong place.
    """
    kind = page.media_type(request)
    if kind == "application/json" or kind.endswith("+json"):
        return
    declared = f"content type {kind!r} is" if kind else "a body without a Content-Type is"
    where = " (POST /report also takes YAML and forms)" if request.url.path == "/diagnose" else ""
    raise UnsupportedMediaType(f"{declared} not accepted here; send application/json{where}")


JSON_ONLY = Depends(_json_only)


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
        log.info("invalid request at %s", loggable_field(where))
        return error_response(422, "invalid_request", f"{where}: {first.get('msg')}", field=where)

    @app.exception_handler(InputError)
    async def invalid_input(_: Request, exc: InputError) -> JSONResponse:
        log.info("invalid input at %s", loggable_field(exc.field))
        return error_response(422, "invalid_input", str(exc), field=exc.field)

    @app.exception_handler(PrefetchMissing)
    async def precondition(_: Request, exc: PrefetchMissing) -> JSONResponse:
        log.info("412: prefetch missing %s", ", ".join(exc.missing))
        return error_response(412, "prefetch_missing", str(exc), missing=exc.missing)

    @app.exception_handler(UnsupportedMediaType)
    async def unsupported(_: Request, exc: UnsupportedMediaType) -> JSONResponse:
        return error_response(415, "unsupported_media_type", str(exc))

    @app.exception_handler(PoolUnavailable)
    async def pool_down(_: Request, exc: PoolUnavailable) -> JSONResponse:
        return error_response(503, "unavailable", str(exc), headers={"Retry-After": "1"})

    @app.exception_handler(AuthError)
    async def unauthorized(request: Request, exc: AuthError) -> JSONResponse:
        log.warning("401 on %s: %s", request.url.path, exc)
        return error_response(401, "unauthorized", str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _UNPARSED:
            return error_response(400, "malformed_json", await _unparsed(request))
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=exc.headers)


async def _unparsed(request: Request) -> str:
    """Why FastAPI could not parse a JSON body: not UTF-8 (JSON is UTF-8 text; the byte and its
    position are named, as POST /report does), or else nested too deeply or a number too long."""
    try:
        body = await request.body()  # already read once, so this is the cached copy
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = body[exc.start : exc.start + 1].hex()
        return f"the request body is not UTF-8 text: byte 0x{byte} at position {exc.start}"
    except Exception:  # noqa: BLE001 - the body cannot be read again: say what is likely
        pass
    return "the request body could not be read as JSON (too deeply nested, or a number too long)"


def _dotted(loc: list[Any]) -> str:
    """``["context", "draftOrders", 0]`` -> ``context.draftOrders[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
