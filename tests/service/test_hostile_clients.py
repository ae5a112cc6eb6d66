# SPDX-License-Identifier: Apache-2.0
"""What a demanding user or a hostile client found in the service, kept fixed: against a real
``leukodx serve`` on 127.0.0.1 (and, for the FHIR fetch, a real HTTP server on 127.0.0.1).

Each test names the request that went wrong and what it got before: a 500, a forged log line,
patient text in the log, a blocked event loop, a silent empty answer."""

from __future__ import annotations

import copy
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine.fhir.terms import load_terminology
from engine.service import cards as cds
from engine.service.fhir_fetch import Access, complete_prefetch
from engine.service.logs import loggable_field
from tests.service.conftest import Server, load_example

WBC_ANC = b'{"wbc": 3.0, "anc": 1.0}'


def is_report(response: Any) -> None:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert "Decision support" in response.text


def test_an_urlencoded_form_with_too_many_fields_is_refused_not_a_500(
    insecure_server: Server,
) -> None:
    body = b"&".join(b"f%d=x" % i for i in range(100)) + b"&patient=wbc%3A+3"
    response = insecure_server.request(
        "POST", "/report", content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status_code == 422  # was 500 (parse_qs's ValueError)
    assert 'data-field="body"' in response.text and "too many form fields" in response.text


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_json_body_with_a_byte_order_mark_is_read(
    insecure_server: Server, content_type: str
) -> None:
    response = insecure_server.request(
        "POST", "/report", content=b"\xef\xbb\xbf" + WBC_ANC,
        headers={"Content-Type": content_type},
    )  # fmt: skip
    is_report(response)  # was 400 "Unexpected UTF-8 BOM (decode using utf-8-sig)"


def test_client_text_cannot_forge_log_lines_or_put_patient_text_in_the_log(
    insecure_server: Server,
) -> None:
    forged = "ERROR:    forged by a client"
    body = f'"x\\n{forged}": 1\n"Jane Roe MRN 4711": 2\nwbc: 3\nanc: 1\n'.encode()
    response = insecure_server.request(
        "POST", "/report", content=body, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 422
    assert forged in response.json()["field"]  # the client is still told which field
    form = insecure_server.request(
        "POST", "/report", data={"patient": "Jane Roe MRN 4711: x\nwbc: 3\n"}
    )
    assert form.status_code == 422 and "Jane Roe MRN 4711" in form.text
    path = insecure_server.request("GET", "/nowhere%0a" + forged.replace(" ", "%20"))
    assert path.status_code == 404
    log = wait_for_log(insecure_server, "/nowhere\\nERROR:")  # kept, escaped, on its own line
    assert "(a field named by the input)" in log
    assert "Jane Roe" not in log
    assert not any(line.startswith(forged) for line in log.splitlines())


def wait_for_log(server: Server, text: str) -> str:
    """The server's log once it holds ``text`` (an access line is written after the answer)."""
    deadline = time.monotonic() + 20
    while text not in (log := server.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert text in log
    return log


@pytest.mark.parametrize(
    "field, logged",
    [("labs[0].value", True), ("prefetch.labs", True), ("body, line 3", True),
     ("(top level)", True), ("context.draftOrders[0]", True), ("Jane Roe", False),
     ("a\nERROR: x", False), ("x" * 200, False)],
)  # fmt: skip
def test_loggable_field(field: str, logged: bool) -> None:
    assert (loggable_field(field) == field) is logged


@pytest.mark.parametrize("path", ["/healthz", "/", "/docs", "/cds-services"])
def test_head_is_answered_wherever_get_is(insecure_server: Server, path: str) -> None:
    get = insecure_server.request("GET", path)
    head = insecure_server.request("HEAD", path)
    assert head.status_code == get.status_code == 200  # HEAD was 405
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_on_a_post_route_is_still_405(insecure_server: Server) -> None:
    post_only = insecure_server.request("HEAD", "/report")
    assert post_only.status_code == 405 and post_only.headers["allow"] == "POST"


def test_a_card_link_report_has_the_same_security_headers_as_post_report(
    insecure_server: Server,
) -> None:
    cards = insecure_server.request(
        "POST", "/cds-services/leukodx-patient-view", json=load_example("patient-view.json")
    ).json()["cards"]
    url = next(link["url"] for card in cards for link in card.get("links", []))
    linked = insecure_server.request("GET", url.removeprefix(insecure_server.base))
    posted = insecure_server.request("POST", "/report", content=WBC_ANC,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    assert linked.status_code == 200
    for header in ("content-security-policy", "x-content-type-options", "cache-control"):
        assert linked.headers.get(header) == posted.headers[header], header  # CSP was missing


@pytest.mark.parametrize(
    "key, resource",
    [("labs", {"resourceType": "Patient", "id": "x"}),
     ("patient", {"resourceType": "Observation", "id": "x"}),
     ("medications", {"resourceType": "OperationOutcome", "issue": []})],
)  # fmt: skip
def test_a_prefetch_key_holding_another_resource_type_is_named(
    insecure_server: Server, key: str, resource: dict[str, Any]
) -> None:
    body = load_example("patient-view-clozapine.json")
    body["prefetch"][key] = resource
    response = insecure_server.request("POST", "/cds-services/leukodx-patient-view", json=body)
    if resource["resourceType"] == "OperationOutcome":  # the client's failed query: missing
        assert response.status_code == 412 and response.json()["missing"] == [key]
        return
    assert response.status_code == 422, response.text  # labs=Patient was 200 with no cards
    assert response.json()["field"] == f"prefetch.{key}"
    assert resource["resourceType"] in response.json()["message"]


@pytest.mark.parametrize(
    "raw", [b'{"wbc": ' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"wbc": 1' + b"0" * 5000 + b"}"]
)
def test_json_the_parser_cannot_read_is_malformed_json(insecure_server: Server, raw: bytes) -> None:
    response = insecure_server.request(
        "POST", "/diagnose", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"  # was "http_error", FastAPI's words


def test_parsing_a_large_patient_does_not_hold_up_other_requests(insecure_server: Server) -> None:
    """A megabyte of YAML takes seconds to parse; it used to be parsed on the event loop, so
    even ``/healthz`` waited for it. The document ends in a syntax error, so that its answer
    is sent as soon as the parse ends: when the health check is answered, it must not be there
    yet (before, it always was: the health check waited behind the parse)."""
    labs = "".join(f"  - {{test: wbc, value: 3.{i % 10}, unit: 10^9/L, date: 2024-01-01}}\n"
                   for i in range(15000))  # fmt: skip
    body = ("age: 30\nlabs:\n" + labs + "notes: [unclosed\n").encode()
    head = (f"POST /report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/yaml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
    host, port = insecure_server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall(head + body)
        health = insecure_server.request("GET", "/healthz")
        report_sent, _, _ = select.select([sock], [], [], 0)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert health.status_code == 200
    assert answer.startswith(b"HTTP/1.1 400")  # the parse did run to the error
    assert not report_sent


# --- the FHIR fetch against a server that answers a broken next link --------------------------


class _BrokenNext(BaseHTTPRequestHandler):
    """Every search answers one page whose ``next`` link is not a URL; reads answer a Patient."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        if self.path.split("?")[0].rstrip("/").endswith(("Patient/p1",)):
            body: dict[str, Any] = {"resourceType": "Patient", "id": "p1"}
        else:
            body = {"resourceType": "Bundle", "type": "searchset", "entry": [],
                    "link": [{"relation": "next", "url": "http://[::1"}]}  # fmt: skip
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def broken_next() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenNext)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def test_a_next_link_that_is_not_a_url_ends_the_paging(broken_next: str) -> None:
    templates = {k.key: k.template for k in cds.prefetch_keys(load_terminology())}
    access = Access(broken_next, "t0ken", "patient/*.read")
    out = complete_prefetch({}, templates, access, "p1")  # raised httpx.InvalidURL (a 500)
    assert out["labs"] == {"resourceType": "Bundle", "type": "searchset", "entry": []}
    assert out["patient"]["id"] == "p1"


def test_the_service_answers_a_broken_next_link_with_cards_not_a_500(
    insecure_server: Server, broken_next: str
) -> None:
    body = copy.deepcopy(load_example("patient-view.json"))
    del body["prefetch"]["labs"]
    body["fhirServer"] = broken_next
    body["fhirAuthorization"] = {"access_token": "t0ken", "token_type": "Bearer",
                                 "expires_in": 300, "scope": "patient/*.read",
                                 "subject": "cds-service"}  # fmt: skip
    response = insecure_server.request("POST", "/cds-services/leukodx-patient-view", json=body)
    assert response.status_code == 200, response.text  # no labs fetched: no count, no cards
    assert response.json() == {"cards": []}
