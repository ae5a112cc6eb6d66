# SPDX-License-Identifier: Apache-2.0
"""CDS FHIR fetch (engine/service/fhir_fetch.py): what the client did not prefetch comes from its
FHIR server. Against a real FHIR server process on 127.0.0.1 (tests/service/fhir_test_server.py)
serving HL7's own R4 examples (tests/fixtures/fhir/): the CBC of Bundle 101 and Patient pat2."""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx  # noqa: E402

from engine.fhir.terms import load_terminology  # noqa: E402
from engine.kb.load import load_knowledge_base  # noqa: E402
from engine.service import cards as cds  # noqa: E402
from engine.service.fhir_fetch import (  # noqa: E402
    Access,
    FetchError,
    FetchLimits,
    complete_prefetch,
    scope_covers,
)
from engine.service.hooks import Hooks, PrefetchMissing, ServiceSettings  # noqa: E402
from engine.service.models import CdsRequest  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.service.conftest import Server, free_port, start_server, stop_server  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "fhir"
TODAY = dt.date(2011, 3, 20)  # a fortnight after the CBC of Bundle 101
PATIENT = "pat2"
SCOPE = "launch patient/Patient.read patient/Observation.read patient/MedicationRequest.read " \
    "patient/MedicationStatement.read patient/Condition.read"  # fmt: skip
LOINC = "http://loinc.org"


@dataclass
class FhirServer:
    base: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path


def start_fhir_server(log_path: Path, page_size: int) -> FhirServer:
    token = secrets.token_urlsafe(24)
    port = free_port()
    files = [FIXTURES / "Patient-pat2.json", FIXTURES / "Bundle-101.json"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.service.fhir_test_server", "--port", str(port),
             "--token", token, "--page-size", str(page_size),
             *(arg for f in files for arg in ("--data", str(f)))],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = FhirServer(f"http://127.0.0.1:{port}/fhir", token, process, log_path)
    deadline = time.monotonic() + 30
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"FHIR test server exited:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{server.base}/metadata", headers=headers, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"FHIR test server did not start:\n{log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """Pages of 5 resources, so that the CBC's 9 counts and their report span pages."""
    server = start_fhir_server(tmp_path_factory.mktemp("fhir") / "fhir.log", page_size=5)
    yield server
    stop(server.process)


@pytest.fixture(scope="module")
def hooks() -> Hooks:
    return Hooks(load_knowledge_base(), ServiceSettings(today=lambda: TODAY))


def templates() -> dict[str, str]:
    return {k.key: k.template for k in cds.prefetch_keys(load_terminology())}


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}  # fmt: skip


def hl7_prefetch() -> dict[str, Any]:
    """What a CDS client that did prefetch sends for pat2: the patient, the counts the labs
    template names (with the report that dates them), and empty searches for the rest."""
    bundle = json.loads((FIXTURES / "Bundle-101.json").read_text())
    wanted = set(templates()["labs"].split("code=")[1].split("&")[0].replace(f"{LOINC}|", "")
                 .split(","))  # fmt: skip
    resources = [e["resource"] for e in bundle["entry"]]
    counts = [r for r in resources if r["resourceType"] == "Observation"
              and {c["code"] for c in r["code"]["coding"]} & wanted]  # fmt: skip
    report = [r for r in resources if r["resourceType"] == "DiagnosticReport"]
    return {
        "patient": json.loads((FIXTURES / "Patient-pat2.json").read_text()),
        "labs": searchset(*counts, *report),
        "temperature": searchset(),
        "medications": searchset(),
        "medicationStatements": searchset(),
        "conditions": searchset(),
    }


def request(
    prefetch: dict[str, Any] | None, server: str | None = None, token: str | None = None,
    scope: str = SCOPE,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": PATIENT},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if server is not None and token is not None:
        body["fhirServer"] = server
        body["fhirAuthorization"] = {
            "access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": scope,
            "subject": "cds-service",
        }  # fmt: skip
    return body


def comparable(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards without what differs by design between two calls: the card uuid and the report
    link's one-time token."""
    out = copy.deepcopy(cards)
    for card in out:
        card.pop("uuid", None)
        for link in card.get("links", []):
            link["url"] = link["url"].split("?")[0].rsplit("/", 1)[0]
    return out


def cards_of(hooks: Hooks, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = hooks.call(cds.PATIENT_VIEW, CdsRequest.model_validate(body))
    return [c.model_dump(exclude_none=True) for c in response.cards]


# --- against the FHIR server ----------------------------------------------------------------


def test_patient_view_without_prefetch_fetches_and_gives_the_same_cards(
    hooks: Hooks, fhir: FhirServer
) -> None:
    with_prefetch = cards_of(hooks, request(hl7_prefetch()))
    fetched = cards_of(hooks, request(None, fhir.base, fhir.token))
    assert with_prefetch, "HL7's CBC (ANC 0.9) must give cards"
    assert comparable(fetched) == comparable(with_prefetch)
    text = " ".join(c["summary"] + " " + (c.get("detail") or "") for c in fetched)
    assert "2011-03-04" in text  # the fetched counts' date: the cards rest on what was fetched


def test_the_fetch_follows_pages_and_brings_the_dating_report(fhir: FhirServer) -> None:
    out = complete_prefetch({}, templates(), Access(fhir.base, fhir.token, SCOPE), PATIENT)
    labs = out["labs"]["entry"]
    kinds = sorted(e["resource"]["resourceType"] for e in labs)
    # 8 of the 17 results have a code of the labs template (Hb, MCV, platelets, WBC, neutrophil
    # % and count, lymphocyte % and count); pages of 5 make two pages, each with the report
    assert kinds.count("Observation") == 8
    assert "DiagnosticReport" in kinds
    assert out["patient"]["id"] == PATIENT
    assert out["medications"] == {"resourceType": "Bundle", "type": "searchset", "entry": []}
    log = fhir.log_path.read_text()
    assert "_offset=5" in log  # the second page was asked for through Bundle.link next


def test_paging_stops_at_the_page_limit(fhir: FhirServer) -> None:
    access, limits = Access(fhir.base, fhir.token, SCOPE), FetchLimits(max_pages=1)
    out = complete_prefetch({}, {"labs": templates()["labs"]}, access, PATIENT, limits=limits)
    assert sum(e["resource"]["resourceType"] == "Observation" for e in out["labs"]["entry"]) == 5
    # the answer keeps the server's next link: the hook says the search was read in part
    assert [link["relation"] for link in out["labs"]["link"]] == ["next"]


def test_a_response_over_the_size_limit_is_a_fetch_error(fhir: FhirServer) -> None:
    with pytest.raises(FetchError, match="larger than 100 bytes"):
        complete_prefetch({}, {"patient": templates()["patient"]},
                          Access(fhir.base, fhir.token, SCOPE), PATIENT,
                          limits=FetchLimits(max_bytes=100))  # fmt: skip


def test_an_operation_outcome_in_the_prefetch_is_fetched_again(
    hooks: Hooks, fhir: FhirServer
) -> None:
    prefetch = hl7_prefetch()
    failed = {"resourceType": "OperationOutcome",
              "issue": [{"severity": "error", "code": "timeout"}]}  # fmt: skip
    prefetch["labs"] = failed
    fetched = cards_of(hooks, request(prefetch, fhir.base, fhir.token))
    assert comparable(fetched) == comparable(cards_of(hooks, request(hl7_prefetch())))
    # without a server to ask, a failed required query is missing data: 412
    with pytest.raises(PrefetchMissing) as caught:
        cards_of(hooks, request(prefetch))
    assert caught.value.missing == ["labs"]


def test_no_fhir_server_is_412_as_before(hooks: Hooks) -> None:
    with pytest.raises(PrefetchMissing) as caught:
        cards_of(hooks, request(None))
    assert caught.value.missing == ["patient", "labs", "medications", "conditions"]
    assert "fhirServer and fhirAuthorization" in str(caught.value)


def test_a_wrong_token_is_412_naming_the_answer_not_the_token(
    hooks: Hooks, fhir: FhirServer
) -> None:
    wrong = "not-the-token-" + secrets.token_hex(8)
    with pytest.raises(PrefetchMissing) as caught:
        cards_of(hooks, request(None, fhir.base, wrong))
    assert "HTTP 401" in str(caught.value) and wrong not in str(caught.value)


def test_a_scope_that_does_not_cover_the_queries_fetches_nothing(
    hooks: Hooks, fhir: FhirServer
) -> None:
    before = fhir.log_path.read_text().count("GET ")
    with pytest.raises(PrefetchMissing, match="scope does not cover reading Observation"):
        cards_of(hooks, request(None, fhir.base, fhir.token, scope="patient/Patient.read"))
    assert fhir.log_path.read_text().count("GET ") == before


@pytest.mark.parametrize(
    ("scope", "resource", "search", "covers"),
    [
        ("patient/Observation.read", "Observation", True, True),
        ("user/*.read", "Condition", True, True),
        ("system/*.*", "Patient", False, True),
        ("patient/Observation.rs", "Observation", True, True),
        ("patient/Observation.r", "Observation", True, False),  # v2: a search needs s
        ("patient/Patient.r", "Patient", False, True),
        ("patient/Observation.rs?category=laboratory", "Observation", True, False),
        ("patient/Observation.write", "Observation", True, False),
        ("launch openid fhirUser", "Observation", True, False),
        ("patient/Condition.read", "Observation", True, False),
    ],
)
def test_scope_coverage(scope: str, resource: str, search: bool, covers: bool) -> None:
    assert scope_covers(scope, resource, search=search) is covers


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("http://ehr.example.org/fhir", "must be an https URL"),
        ("ftp://127.0.0.1/fhir", "must be an https URL"),
        ("https://ehr.example.org/fhir?x=1", "without query"),
    ],
)
def test_the_token_goes_only_to_an_https_or_loopback_server(server: str, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        complete_prefetch({}, templates(), Access(server, "t", SCOPE), PATIENT)


def test_a_token_for_another_patient_is_refused(fhir: FhirServer) -> None:
    with pytest.raises(FetchError, match="fhirAuthorization.patient"):
        complete_prefetch({}, templates(), Access(fhir.base, fhir.token, SCOPE, "pat1"), PATIENT)


def test_null_keys_are_not_fetched_and_optional_failures_are_skipped(fhir: FhirServer) -> None:
    given = {"patient": None, "labs": None, "medications": None, "conditions": None}
    scope = "patient/*.read"
    out = complete_prefetch(given, templates(), Access(fhir.base, fhir.token, scope), PATIENT,
                            optional=["temperature", "medicationStatements"])  # fmt: skip
    assert out["patient"] is None and set(out) == set(templates())
    narrow = "patient/Observation.read"  # MedicationStatement (optional) is not covered
    out = complete_prefetch({k: v for k, v in given.items() if k != "labs"}, templates(),
                            Access(fhir.base, fhir.token, narrow), PATIENT,
                            optional=["temperature", "medicationStatements"])  # fmt: skip
    assert "medicationStatements" not in out and out["labs"]["resourceType"] == "Bundle"


# --- the real service process ---------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("serve") / "fetch.log", "--insecure-no-auth")
    yield server
    stop_server(server)


def test_the_service_fetches_over_http_and_never_logs_the_token(
    service: Server, fhir: FhirServer
) -> None:
    path = f"/cds-services/{cds.PATIENT_VIEW}"
    fetched = service.request("POST", path, json=request(None, fhir.base, fhir.token))
    assert fetched.status_code == 200, fetched.text
    prefetched = service.request("POST", path, json=request(hl7_prefetch()))
    assert prefetched.status_code == 200
    assert len(fetched.json()["cards"]) == len(prefetched.json()["cards"]) > 0
    refused = service.request("POST", path, json=request(None, fhir.base, fhir.token, "x/y"))
    assert refused.status_code == 412 and refused.json()["missing"] == [
        "patient", "labs", "medications", "conditions"
    ]  # fmt: skip
    bad_token = "wrong-" + secrets.token_hex(12)
    failed = service.request("POST", path, json=request(None, fhir.base, bad_token))
    assert failed.status_code == 412 and "HTTP 401" in failed.json()["message"]
    log = service.log()
    assert "412" in log  # the refusals were logged, and the log was captured
    assert fhir.token not in log and bad_token not in log
    assert PATIENT not in log  # request lines (with the patient id) are not logged either
