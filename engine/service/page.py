# SPDX-License-Identifier: Apache-2.0
"""A page to try the engine: ``GET /`` and ``POST /report`` of ``leukodx serve``.

``GET /`` is a form where a clinician pastes a patient (YAML or JSON, contract section 1, or a
FHIR R4 Bundle) or chooses a file; the browser posts it to ``POST /report``, which answers with
the patient report of :mod:`engine.report.patient` as HTML. The page needs no script and loads
nothing from the network: a plain form post, inline CSS, a Content-Security-Policy that allows
nothing else.

``POST /report`` also serves scripts. The patient is read from the request as its content type
says:

* ``multipart/form-data`` or ``application/x-www-form-urlencoded``: the ``file`` upload when one
  was chosen, else the ``patient`` text field (YAML or JSON, told apart by the first character);
* ``application/json`` or ``application/fhir+json``: the body is JSON;
* ``application/yaml`` (also ``application/x-yaml``, ``text/yaml``, ``text/x-yaml``): the body is
  YAML; ``text/plain``: YAML or JSON by the first character.

Invalid input is refused with the field named: for a form post as the page again (HTTP 422),
with the error above the form and the submitted text back in the box to correct; for a body post
as the service's JSON error (422, ``field``). Nothing is stored: the body is parsed in memory (the
multipart reader is the standard library's, which never spools to disk), the report is returned
and dropped, responses carry ``Cache-Control: no-store``, and the access log has no patient data.
The body size limit, authentication and slow-client limits are the service's, applied to these
routes as to the hooks (:func:`add_page_routes` receives the same dependencies).
"""

from __future__ import annotations

import datetime as dt
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from email.parser import BytesParser
from email.policy import HTTP
from html import escape
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from engine.differential import DISCLAIMER
from engine.errors import InputError
from engine.kb.load import KnowledgeBase
from engine.kb.yamlio import YamlError, parse_bytes
from engine.report.html import CSS
from engine.report.patient import patient_report
from engine.service.auth import error_response
from engine.service.logs import loggable_field
from engine.service.models import ErrorBody

log = logging.getLogger("leukodx.service")
T = TypeVar("T")
Run = Callable[[Callable[[], T]], Awaitable[T]]

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
JSON_TYPES = ("application/json", "application/fhir+json")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
TEXT_TYPES = ("text/plain",)
ACCEPTED = FORM_TYPES + JSON_TYPES + YAML_TYPES + TEXT_TYPES
#: The form fields read (anything else in a form is ignored).
TEXT_FIELD, FILE_FIELD = "patient", "file"
#: Fields of an urlencoded form read at most (the page's form has two).
MAX_FIELDS = 20

#: The policy in the page itself; the header adds ``frame-ancestors``, which a ``<meta>`` cannot.
META_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
CSP = META_CSP + "frame-ancestors 'none'; base-uri 'none'"
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

EXAMPLE = """\
id: example-clozapine
as_of: 2025-03-01
age: 34
sex: female
labs:
  - {test: wbc, value: 6.1, unit: 10^9/L, date: 2024-11-20}
  - {test: anc, value: 3.8, unit: 10^9/L, date: 2024-11-20}
  - {test: wbc, value: 2900, unit: /uL, date: 2025-02-10}
  - {test: neutrophil_pct, value: 10, unit: "%", date: 2025-02-10}
medications:
  - {name: Clozaril, start: 2024-12-01}
  - {name: fluvoxamine, start: 2025-01-15}
findings:
  - {name: fever, since: 2025-02-09}
"""

PAGE_CSS = """
textarea{width:100%;box-sizing:border-box;font-family:ui-monospace,monospace;font-size:.9em}
form p{margin:.6em 0}button{font-size:1em;padding:.4em 1.2em}
.error{border-left:5px solid #c0392b;background:#fdecea;padding:.5em .8em;margin:.8em 0}
.error code{font-weight:bold}
"""


def page_html(text: str = EXAMPLE, error: InputError | None = None) -> str:
    """The form, with ``text`` in the box and, after a refused post, the error above it."""
    note = f'<p class="disclaimer" data-role="disclaimer">{escape(DISCLAIMER)}</p>'
    problem = ""
    if error is not None:
        problem = (
            f'<div class="error" role="alert" data-role="input-error" '
            f'data-field="{escape(error.field)}"><b>The patient could not be read.</b> '
            f"<code>{escape(error.field)}</code>: {escape(_problem(error))}</div>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(META_CSP.strip())}">'
        f"<title>leukodx: try a patient</title><style>{CSS}{PAGE_CSS}</style></head><body>"
        f"<h1>leukodx: try a patient</h1>{note}"
        "<p>Paste a patient, or choose a file: YAML or JSON in the leukodx format (the long form "
        "with dated results, or the shorthand such as <code>{wbc: 3.1, anc: 0.9}</code>), or a "
        "FHIR R4 Bundle (JSON). The report of the differential opens in this window. Nothing "
        "is stored on the server.</p>"
        f"{problem}"
        '<form method="post" action="report" enctype="multipart/form-data">'
        f'<p><label for="patient"><b>Patient</b> (YAML, JSON or FHIR Bundle)</label></p>'
        f'<textarea id="patient" name="{TEXT_FIELD}" rows="20" spellcheck="false">'
        f"{escape(text)}</textarea>"
        f'<p><label for="file">or a file (used instead of the text when chosen):</label> '
        f'<input type="file" id="file" name="{FILE_FIELD}" '
        'accept=".yaml,.yml,.json,application/json,application/yaml"></p>'
        '<p><button type="submit" id="submit">Show the report</button></p></form>'
        "<h2>From a script</h2><p><code>curl -X POST --data-binary @patient.yaml -H "
        "'Content-Type: application/yaml' http://HOST:PORT/report -o report.html</code> "
        "(also <code>application/json</code>, <code>application/fhir+json</code>, or a form "
        f"with the field <code>{TEXT_FIELD}</code> or the upload <code>{FILE_FIELD}</code>). "
        "Invalid input is answered with HTTP 422 naming the field. The API is described at "
        '<a href="docs">docs</a> (<a href="openapi.json">openapi.json</a>).</p>'
        f"{note}</body></html>\n"
    )


def _problem(error: InputError) -> str:
    """The error's message without the field it starts with (the page shows the field apart)."""
    return str(error).removeprefix(f"{error.field}: ")


class MalformedDocument(InputError):
    """The body is not valid JSON or YAML (HTTP 400 for a body post, like malformed JSON on the
    other endpoints; shown on the page for a form post)."""


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def read_form(content_type: str, body: bytes) -> tuple[bytes, str]:
    """The patient document of a form post and where it came from (``file`` or ``patient``)."""
    fields: dict[str, bytes] = {}
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        if not message.is_multipart():
            raise InputError("body", "not a multipart form", expected="a form with a boundary")
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and name not in fields and isinstance(payload, bytes):
                fields[name] = payload
    else:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("body", "not UTF-8 text") from None
        try:
            parsed = urllib.parse.parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:  # more fields than MAX_FIELDS
            raise InputError(
                "body", "too many form fields", expected=f"at most {MAX_FIELDS}"
            ) from None
        fields = {k: v[0].encode("utf-8") for k, v in parsed.items()}
    if fields.get(FILE_FIELD, b"").strip():
        return fields[FILE_FIELD], FILE_FIELD
    if fields.get(TEXT_FIELD, b"").strip():
        return fields[TEXT_FIELD], TEXT_FIELD
    raise InputError(
        TEXT_FIELD,
        "no patient given",
        expected=f"a patient pasted in '{TEXT_FIELD}' or a file uploaded as '{FILE_FIELD}'",
    )


def parse_patient_document(raw: bytes, source: str, as_json: bool | None) -> Any:
    """A patient document as data; a document that is not a mapping or a list (a FHIR Bundle's
    resources) is refused, so that no text is ever taken for a file path."""
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark (Windows editors write one)
    if not raw.strip():
        raise InputError(source, "no patient given", expected="YAML or JSON patient facts")
    try:
        data = parse_bytes(raw, source, as_json=as_json)
    except YamlError as exc:
        field = f"{source}, line {exc.line}" if exc.line else source
        raise MalformedDocument(field, exc.message) from None
    if not isinstance(data, (dict, list)):
        raise InputError(
            source,
            "not patient facts",
            got=type(data).__name__,
            expected="a mapping of patient facts (contract section 1) or a FHIR R4 Bundle",
        )
    return data


def _responses(auth: bool) -> dict[int | str, dict[str, Any]]:
    """The documented answers (the route's class is HTML, so each JSON error names its type)."""
    html = {"schema": {"type": "string"}}
    error = {"application/json": {"schema": ErrorBody.model_json_schema()}}
    out: dict[int | str, dict[str, Any]] = {
        200: {"description": "the patient report (a self-contained HTML page)",
              "content": {"text/html": html}},
        400: {"description": "the body is not valid JSON or YAML (the line is named)",
              "content": error},
        413: {"description": "request body too large", "content": error},
        415: {"description": "unsupported content type", "content": error},
        422: {"description": "invalid patient (the field is named): JSON for a body post, the "
              "page with the error for a form post", "content": {**error, "text/html": html}},
    }  # fmt: skip
    if auth:
        out[401] = {"description": "missing or invalid client JWT", "content": error}
    return out


_FORM_SCHEMA = {
    "type": "object",
    "properties": {
        TEXT_FIELD: {"type": "string", "description": "the patient as YAML or JSON"},
        FILE_FIELD: {"type": "string", "format": "binary", "description": "a patient file"},
    },
}
_REQUEST_BODY = {
    "required": True,
    "description": "The patient: contract section 1 facts (long form or shorthand) or a FHIR "
    "R4 Bundle, as a JSON or YAML body, or as the page's form.",
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/fhir+json": {"schema": {"type": "object"}},
        "application/yaml": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": _FORM_SCHEMA},
        "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
    },
}


def add_page_routes(
    app: FastAPI, *, kb: KnowledgeBase, backend: str, today: Callable[[], dt.date],
    run: Run[str], deps: list[Any],
) -> None:  # fmt: skip
    """``GET /`` and ``POST /report``, behind ``deps`` (the hooks' authentication)."""
    auth = bool(deps)

    @app.get(
        "/",
        response_class=HTMLResponse,
        dependencies=deps,
        responses={k: v for k, v in _responses(auth).items() if k in (200, 401)},
        summary="A page to try the engine: paste or upload a patient",
    )
    async def try_page() -> HTMLResponse:
        return HTMLResponse(page_html(), headers=HEADERS)

    @app.post(
        "/report",
        response_class=HTMLResponse,
        dependencies=deps,
        responses=_responses(auth),
        openapi_extra={"requestBody": _REQUEST_BODY},
        summary="The patient report (HTML) for a patient given as JSON, YAML, FHIR or a form",
    )
    async def report(request: Request) -> Response:
        kind = media_type(request)
        if kind not in ACCEPTED:
            message = f"content type {kind or '(none)'!r} is not accepted; use one of " + ", ".join(
                ACCEPTED
            )
            return error_response(415, "unsupported_media_type", message)
        body = await request.body()
        form = kind in FORM_TYPES
        text = ""
        as_json = True if kind in JSON_TYPES else False if kind in YAML_TYPES else None
        content_type = request.headers.get("content-type", "")

        def build() -> str:
            """Reading the form and the document is CPU work like the report (seconds for a
            large body): it runs on the worker pool, not on the event loop every request needs."""
            nonlocal text
            if form:
                raw, source = read_form(content_type, body)
                text = raw.decode("utf-8", errors="replace")
                data = parse_patient_document(raw, source, None)
            else:
                data = parse_patient_document(body, "body", as_json)
            return patient_report(data, kb=kb, backend=backend, today=today(), back="./")

        try:
            html = await run(build)
        except MalformedDocument as exc:
            if not form:
                return error_response(400, "malformed_body", str(exc), field=exc.field)
            log.info("unreadable patient document at %s (form)", loggable_field(exc.field))
            return HTMLResponse(page_html(text, exc), status_code=422, headers=HEADERS)
        except InputError as exc:
            if not form:
                raise  # the service's handler: 422 with the field, as for /diagnose
            log.info("invalid input at %s (form)", loggable_field(exc.field))
            return HTMLResponse(page_html(text, exc), status_code=422, headers=HEADERS)
        return HTMLResponse(html, headers=HEADERS)
