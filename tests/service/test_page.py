# SPDX-License-Identifier: Apache-2.0
"""The page to try the engine (``GET /``, ``POST /report``) on a real ``leukodx serve`` process:
every content type a script may post, field errors as JSON or on the page, the body limit, the
hooks' authentication, no CDN (the page and ``/docs``), nothing about the patient in the log; then
the page in headless Chromium: pasting submits and renders the report, an upload does too, an
invalid patient shows its field error."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest

from engine.differential import DISCLAIMER
from engine.service.page import EXAMPLE
from tests.browser.cdp import CHROMIUM, Browser
from tests.conftest import ROOT
from tests.service.conftest import Keys, Server

CASE = ROOT / "cases" / "clozapine_induced-01.yaml"
BUNDLE = ROOT / "examples" / "fhir" / "clozapine-patient-bundle.json"
SHORTHAND = {"id": "shorthand-1", "wbc": 2.1, "anc": 0.4, "medications": ["clozapine"]}
#: A slip of punctuation in an accepted unit: refused, with the unit it surely meant suggested (a
#: unit of another magnitude, such as 10^9/dL, gets no suggestion).
BAD_UNIT = "labs:\n  - {test: wbc, value: 2.0, unit: 10^9L, date: 2025-01-01}\n"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


def is_report(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.text.count('data-chart="timeline"') == 2 or "No dated" in response.text
    assert "leukodx patient report" in response.text and DISCLAIMER in response.text


def external_references(html: str) -> list[str]:
    """Everything a page would fetch or run from elsewhere: scripts, styles, images, frames."""
    found = re.findall(r"<(?:script|link|iframe|img|object|embed)\b[^>]*>", html, flags=re.I)
    return found + re.findall(r'\bsrc="[^"]*"', html)


def test_the_page_is_a_self_contained_form(insecure_server: Server) -> None:
    response = insecure_server.request("GET", "/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp
    html = response.text
    assert external_references(html) == []
    assert '<form method="post" action="report" enctype="multipart/form-data">' in html
    assert 'name="patient"' in html and 'type="file"' in html and DISCLAIMER in html


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps(SHORTHAND).encode()),
        ("application/fhir+json", BUNDLE.read_bytes()),
        ("application/yaml", CASE.read_bytes()),
        ("text/yaml", CASE.read_bytes()),
        ("text/plain", json.dumps(SHORTHAND).encode()),
    ],
)
def test_a_script_posts_the_patient_as_the_body(
    insecure_server: Server, content_type: str, body: bytes
) -> None:
    response = insecure_server.request(
        "POST", "/report", content=body, headers={"Content-Type": content_type}
    )
    is_report(response)


def test_a_script_posts_the_patient_as_a_form(insecure_server: Server) -> None:
    text = CASE.read_text()
    is_report(insecure_server.request("POST", "/report", files={"patient": (None, text)}))
    example = insecure_server.request("POST", "/report", files={"patient": (None, EXAMPLE)})
    is_report(example)  # the page's own example, as the box first shows it
    assert "example-clozapine" in example.text
    is_report(insecure_server.request("POST", "/report", data={"patient": text}))
    upload = {"file": ("p.json", BUNDLE.read_bytes(), "application/json"), "patient": (None, "")}
    response = insecure_server.request("POST", "/report", files=upload)
    is_report(response)
    assert 'data-role="back"' in response.text  # a link back to the page


def test_invalid_input_posted_as_a_body_gets_the_field_as_json(insecure_server: Server) -> None:
    def post(body: bytes, kind: str) -> httpx.Response:
        return insecure_server.request(
            "POST", "/report", content=body, headers={"Content-Type": kind}
        )

    bad = post(json.dumps({"wbc": 2.0, "anc": 400}).encode(), "application/json")
    assert bad.status_code == 422 and bad.json()["field"] == "anc"
    assert "without a unit" in bad.json()["message"]
    unit = post(BAD_UNIT.encode(), "application/yaml")
    assert unit.status_code == 422 and unit.json()["field"] == "labs[0].unit"
    assert "did you mean '10^9/L'" in unit.json()["message"]
    broken = post(b'{"wbc": 2.0,', "application/json")
    assert broken.status_code == 400 and broken.json()["field"] == "body, line 1"
    path = post(json.dumps(str(CASE)).encode(), "application/json")  # never read as a path
    assert path.status_code == 422 and path.json()["field"] == "body"
    assert post(b"", "application/json").status_code == 422
    media = post(b"\x89PNG", "image/png")
    assert media.status_code == 415 and "application/yaml" in media.json()["message"]


def test_invalid_input_from_the_form_comes_back_on_the_page(insecure_server: Server) -> None:
    response = insecure_server.request("POST", "/report", files={"patient": (None, BAD_UNIT)})
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'data-role="input-error" data-field="labs[0].unit"' in html
    assert "unknown unit for wbc" in html
    assert "10^9L, date: 2025-01-01}" in html  # the text is back in the box to correct
    empty = insecure_server.request("POST", "/report", files={"patient": (None, "  ")})
    assert empty.status_code == 422 and 'data-field="patient"' in empty.text


def test_the_body_limit_applies(insecure_server: Server) -> None:
    big = b"# " + b"x" * 2_100_000 + b"\nwbc: 2.0\n"  # the default --max-body-bytes is 2,000,000
    response = insecure_server.request(
        "POST", "/report", content=big, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 413


def test_the_log_holds_no_patient_data(insecure_server: Server) -> None:
    marker = f"patient-{uuid.uuid4().hex}"
    facts = {"id": marker, "wbc": 2.2, "anc": 0.3, "medications": ["carbimazole"]}
    is_report(insecure_server.request("POST", "/report", json=facts))
    bad = f"id: {marker}\nwbc: 2.0\nanc: 4000\n"
    insecure_server.request("POST", "/report", files={"patient": (None, bad)})
    log = insecure_server.log()
    assert "POST /report 200" in log and "POST /report 422" in log
    assert marker not in log and "carbimazole" not in log


def test_docs_are_served_without_a_cdn(insecure_server: Server) -> None:
    docs = insecure_server.request("GET", "/docs")
    assert docs.status_code == 200 and external_references(docs.text) == []
    assert 'data-path="/report" data-method="post"' in docs.text
    assert 'data-path="/" data-method="get"' in docs.text
    assert insecure_server.request("GET", "/redoc").status_code == 404
    spec = insecure_server.request("GET", "/openapi.json").json()
    body = spec["paths"]["/report"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/yaml", "multipart/form-data"} <= set(body)


def test_the_page_and_report_need_the_hooks_authentication(jwt_server: Server, keys: Keys) -> None:
    assert jwt_server.request("GET", "/").status_code == 401
    post = jwt_server.request("POST", "/report", json=SHORTHAND)
    assert post.status_code == 401 and post.json()["error"] == "unauthorized"
    token = keys.token(jwt_server.aud("/report"))
    ok = jwt_server.request(
        "POST", "/report", json=SHORTHAND, headers={"Authorization": f"Bearer {token}"}
    )
    is_report(ok)
    page = jwt_server.request(
        "GET", "/", headers={"Authorization": f"Bearer {keys.token(jwt_server.aud('/'))}"}
    )
    assert page.status_code == 200


# --- in the browser -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium_page() -> object:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    with Browser(1200, 900) as b:
        yield b


@pytest.fixture()
def browser(chromium_page: Browser) -> Browser:
    """The module's browser with the events of earlier tests forgotten."""
    chromium_page.events.clear()
    return chromium_page


def fill(text: str) -> str:
    """JavaScript that puts ``text`` in the box and submits the form as a click would."""
    return (
        f"document.getElementById('patient').value = {json.dumps(text)};"
        "document.getElementById('submit').click();"
    )


def only_local(browser: Browser, server: Server, expected: str = "") -> None:
    """No console or log error (but the ``expected`` one) and no request off the server."""
    assert [p for p in browser.problems() if not (expected and expected in p)] == []
    assert all(url.startswith(server.base) for url in browser.requests()), browser.requests()


@needs_chromium
def test_pasting_a_patient_renders_the_report(
    browser: Browser, insecure_server: Server, tmp_path: Path
) -> None:
    browser.open(insecure_server.url("/"))
    assert browser.evaluate("document.title") == "leukodx: try a patient"
    browser.screenshot(tmp_path / "page.png")
    browser.submit(fill(CASE.read_text()))
    assert browser.evaluate("document.title") == "leukodx patient report: clozapine_induced-01"
    assert browser.evaluate("location.pathname") == "/report"
    shown = browser.evaluate(
        "[...document.querySelectorAll('svg[data-chart=timeline]')]"
        ".filter(s => s.getBoundingClientRect().width > 0).length"
    )
    assert shown == 1
    assert (
        browser.evaluate("document.querySelectorAll('circle.point').length") == 4
    )  # 2 x 2 layouts
    browser.screenshot(tmp_path / "report.png")
    only_local(browser, insecure_server)


@needs_chromium
def test_an_invalid_patient_shows_its_field_error(
    browser: Browser, insecure_server: Server
) -> None:
    browser.open(insecure_server.url("/"))
    browser.submit(fill(BAD_UNIT))
    error = browser.evaluate(
        "(() => { const e = document.querySelector('[data-role=input-error]');"
        " return e && [e.dataset.field, e.textContent]; })()"
    )
    assert error is not None and error[0] == "labs[0].unit" and "did you mean" in error[1]
    assert browser.evaluate("document.getElementById('patient').value") == BAD_UNIT
    only_local(browser, insecure_server, expected="status of 422")


@needs_chromium
def test_an_uploaded_file_renders_the_report(browser: Browser, insecure_server: Server) -> None:
    browser.open(insecure_server.url("/"))
    root = browser.page("DOM.getDocument")["root"]["nodeId"]
    node = browser.page("DOM.querySelector", {"nodeId": root, "selector": "#file"})["nodeId"]
    browser.page("DOM.setFileInputFiles", {"nodeId": node, "files": [str(BUNDLE)]})
    browser.submit(fill(""))
    assert browser.evaluate("document.title").startswith("leukodx patient report")
    assert browser.evaluate("document.querySelectorAll('rect.exposure').length") >= 2
    only_local(browser, insecure_server)


@needs_chromium
def test_the_docs_page_loads_nothing_from_elsewhere(
    browser: Browser, insecure_server: Server
) -> None:
    browser.open(insecure_server.url("/docs"))
    assert browser.evaluate("document.querySelectorAll('tr[data-path]').length") >= 5
    only_local(browser, insecure_server)
