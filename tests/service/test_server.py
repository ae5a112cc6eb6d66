# SPDX-License-Identifier: Apache-2.0
"""The CDS Hooks service as a real process (``python -m engine serve --insecure-no-auth``), driven
over HTTP: discovery, both hooks with the bundled examples, 412/413/400/422/404, feedback,
``/diagnose``, and a log free of patient data. Assertions are about shapes and behaviour, not about
rankings that the knowledge base may change."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from engine.differential import Differential
from engine.service.models import CdsResponse, ErrorBody, FeedbackReceipt, Services
from tests.conftest import ROOT
from tests.service.conftest import Server, assert_no_empty_values, check_card, load_example

PV, OS = "/cds-services/leukodx-patient-view", "/cds-services/leukodx-order-select"


def post(server: Server, path: str, body: Any) -> httpx.Response:
    return httpx.post(server.url(path), json=body, timeout=60)


def cds_response(response: httpx.Response) -> CdsResponse:
    assert response.status_code == 200, response.text
    assert_no_empty_values(response.json())
    return CdsResponse.model_validate(response.json())


def error(response: httpx.Response, status: int) -> ErrorBody:
    assert response.status_code == status, response.text
    assert_no_empty_values(response.json())
    return ErrorBody.model_validate(response.json())


def differential(server: Server, facts: Any) -> Differential:
    response = post(server, "/diagnose", facts)
    assert response.status_code == 200, response.text
    return Differential.model_validate(response.json())


@pytest.fixture(scope="module")
def kb_label(insecure_server: Server) -> str:
    kb = differential(insecure_server, {"wbc": 3.0}).knowledge_base
    return f"{kb.name} {kb.version}"


def test_discovery_lists_both_hooks_with_prefetch_templates(insecure_server: Server) -> None:
    response = httpx.get(insecure_server.url("/cds-services"), timeout=30)
    assert response.status_code == 200
    assert_no_empty_values(response.json())
    services = {s.hook: s for s in Services.model_validate(response.json()).services}
    assert set(services) == {"patient-view", "order-select"}
    for service in services.values():
        prefetch = service.prefetch or {}
        assert {"patient", "labs", "medications", "conditions"} <= set(prefetch)
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        labs = prefetch["labs"]
        assert "_sort=-date" in labs and "sort:desc" not in labs
        for loinc in ("6690-2", "751-8", "731-0", "718-7", "777-3", "787-2", "2132-9"):
            assert f"http://loinc.org|{loinc}" in labs
        assert all("draftOrders" not in template for template in prefetch.values())


def test_patient_view_example_names_the_top_cause(insecure_server: Server, kb_label: str) -> None:
    request = load_example("patient-view.json")
    top = differential(insecure_server, request["prefetch"]).top
    assert top is not None
    cards = cds_response(post(insecure_server, PV, request)).cards
    assert cards
    for card in cards:
        check_card(card.model_dump(exclude_none=True), kb_label)
    summary = cards[-1]
    assert top.label in summary.summary and summary.indicator in ("info", "warning")
    assert "References" in (summary.detail or "")


def test_patient_view_alerts_become_cards_at_their_level(
    insecure_server: Server, kb_label: str
) -> None:
    # The hook evaluates as of the day it answers (the example's counts are then stale, and an
    # old fever no longer makes the neutropenia febrile), so its alerts are read from its cards.
    request = load_example("patient-view-clozapine.json")
    cards = cds_response(post(insecure_server, PV, request)).cards
    for card in cards:
        check_card(card.model_dump(exclude_none=True), kb_label)
    alert_cards = [c for c in cards if c.indicator == "critical"]
    assert alert_cards, "the example should alert"
    assert cards[: len(alert_cards)] == alert_cards  # the most urgent first
    assert cards[-1].indicator == "warning"  # the differential, once alerts of concern fired


def test_order_select_flags_a_draft_clozapine_order(insecure_server: Server, kb_label: str) -> None:
    cards = cds_response(post(insecure_server, OS, load_example("order-select-clozapine.json")))
    assert len(cards.cards) == 1
    card = check_card(cards.cards[0].model_dump(exclude_none=True), kb_label)
    assert card.indicator in ("warning", "critical")
    assert "clozapine" in card.summary.lower()
    assert "draft order" in (card.detail or "")


def test_order_select_is_silent_with_normal_counts(insecure_server: Server) -> None:
    request = load_example("order-select-clozapine.json")
    labs = request["prefetch"]["labs"]
    for entry in labs["entry"]:
        if (
            entry["resource"]["resourceType"] == "Observation"
            and "valueQuantity" in entry["resource"]
        ):
            codes = {c.get("code") for c in entry["resource"]["code"].get("coding", [])}
            normal = 250.0 if codes & {"777-3", "26515-7"} else 6.0  # platelets, else WBC/ANC
            entry["resource"]["valueQuantity"]["value"] = normal
    request["prefetch"]["conditions"] = None
    request["prefetch"]["medications"] = None
    cards = cds_response(post(insecure_server, OS, request)).cards
    assert all(c.indicator == "info" for c in cards)


def test_order_select_without_counts_says_it_could_not_check(insecure_server: Server) -> None:
    request = load_example("order-select-clozapine.json")
    request["prefetch"]["labs"] = None
    cards = cds_response(post(insecure_server, OS, request)).cards
    assert [c.indicator for c in cards] == ["info"]
    assert "not checked" in cards[0].summary


def test_missing_prefetch_is_412(insecure_server: Server) -> None:
    request = load_example("patient-view.json")
    del request["prefetch"]["labs"]
    body = error(post(insecure_server, PV, request), 412)
    assert body.missing == ["labs"] and "labs" in body.message
    del request["prefetch"]
    assert set(error(post(insecure_server, PV, request), 412).missing or []) >= {
        "patient",
        "labs",
        "medications",
        "conditions",
    }


def test_null_prefetch_means_no_data(insecure_server: Server) -> None:
    request = load_example("patient-view.json")
    request["prefetch"]["labs"] = None
    assert cds_response(post(insecure_server, PV, request)).cards == []


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r.update(hook="order-sign"), "hook"),
    (lambda r: r.pop("hookInstance"), "hookInstance"),
    (lambda r: r["context"].pop("patientId"), "context.patientId"),
    (lambda r: r["context"].update(patientId="someone-else"), "prefetch.patient.id"),
    (lambda r: r["prefetch"].update(labs=[1, 2]), "prefetch.labs"),
    (lambda r: r["prefetch"]["labs"].update(type="message"), "prefetch.labs.type"),
])  # fmt: skip
def test_invalid_requests_name_the_field(insecure_server: Server, change: Any, field: str) -> None:
    request = load_example("patient-view.json")
    change(request)
    body = error(post(insecure_server, PV, request), 422)
    assert body.field is not None and body.field.endswith(field), body


def test_order_select_needs_draft_orders(insecure_server: Server) -> None:
    request = load_example("order-select-clozapine.json")
    del request["context"]["draftOrders"]
    assert error(post(insecure_server, OS, request), 422).field == "context.draftOrders"


def test_malformed_json_is_400_and_large_bodies_413(insecure_server: Server) -> None:
    bad = httpx.post(
        insecure_server.url(PV),
        content=b'{"hook": ',
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert error(bad, 400).error == "malformed_json"
    big = httpx.post(
        insecure_server.url("/diagnose"),
        content=b" " * 2_100_000,
        timeout=30,
        headers={"Content-Type": "application/json"},
    )
    assert error(big, 413).error == "payload_too_large"


@pytest.mark.parametrize("path", [PV, PV + "/feedback", "/diagnose"])
@pytest.mark.parametrize(
    "content_type", ["application/x-yaml", "text/plain", "application/xml", None]
)
def test_a_body_not_declared_as_json_is_415_naming_what_was_sent(
    insecure_server: Server, path: str, content_type: str | None
) -> None:
    """Not the 422 "Input should be a valid dictionary" FastAPI gives a body it read as text:
    the answer says what was sent and what is accepted."""
    headers = {"Content-Type": content_type} if content_type else {}
    sent = httpx.post(
        insecure_server.url(path), content=b'{"wbc": 2.0}', headers=headers, timeout=30
    )
    body = error(sent, 415)
    assert body.error == "unsupported_media_type"
    assert "application/json" in body.message
    assert (repr(content_type) if content_type else "without a Content-Type") in body.message


def test_json_declared_with_a_charset_or_as_fhir_json_is_read(insecure_server: Server) -> None:
    for content_type in ("application/json; charset=utf-8", "application/fhir+json"):
        sent = httpx.post(
            insecure_server.url("/diagnose"), content=b'{"wbc": 2.0}',
            headers={"Content-Type": content_type}, timeout=30,
        )  # fmt: skip
        assert sent.status_code == 200, sent.text
        assert sent.json()["findings"]


def test_a_body_that_is_not_utf8_says_so_with_its_byte(insecure_server: Server) -> None:
    latin1 = httpx.post(
        insecure_server.url("/diagnose"), content=b'{"wbc": 2.1, "id": "M\xfcller"}',
        headers={"Content-Type": "application/json"}, timeout=30,
    )  # fmt: skip
    body = error(latin1, 400)
    assert body.error == "malformed_json"
    assert body.message == "the request body is not UTF-8 text: byte 0xfc at position 21"


def test_unknown_service_is_404(insecure_server: Server) -> None:
    request = load_example("patient-view.json")
    assert error(post(insecure_server, "/cds-services/nope", request), 404)
    assert error(post(insecure_server, "/cds-services/nope/feedback", {"feedback": []}), 404)


def test_feedback_is_accepted(insecure_server: Server) -> None:
    feedback: dict[str, Any] = {"feedback": [
        {"card": "4e0a3a1e-3283-4575-ab82-028d55fe2719", "outcome": "overridden",
         "overrideReason": {"reason": {"code": "x", "display": "Patient refused"},
                            "userComment": "private-comment-do-not-log"},
         "outcomeTimestamp": "2025-09-02T10:00:00Z"},
        {"card": "9368d37b-283f-44a0-93ea-547cebab93ed", "outcome": "accepted",
         "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
         "outcomeTimestamp": "2025-09-02T10:00:00Z"}]}  # fmt: skip
    response = post(insecure_server, PV + "/feedback", feedback)
    assert response.status_code == 200
    assert FeedbackReceipt.model_validate(response.json()).received == 2
    feedback["feedback"][0]["outcome"] = "ignored"
    assert error(post(insecure_server, PV + "/feedback", feedback), 422).field == (
        "feedback[0].outcome"
    )


def test_diagnose_takes_contract_facts(insecure_server: Server) -> None:
    facts: dict[str, Any] = {
        "id": "svc-1",
        "as_of": "2025-03-01",
        "labs": [
            {"test": "wbc", "value": 2.9, "unit": "10^9/L", "date": "2025-02-10"},
            {"test": "anc", "value": 800, "unit": "/uL", "date": "2025-02-10"},
        ],
    }
    result = differential(insecure_server, facts)
    assert result.patient_id == "svc-1" and result.as_of == "2025-03-01"
    facts["labs"][1]["unit"] = "furlongs"
    body = error(post(insecure_server, "/diagnose", facts), 422)
    assert body.field == "labs[1].unit"
    assert error(post(insecure_server, "/diagnose", [1, 2]), 422).field is not None


def test_openapi_is_served(insecure_server: Server) -> None:
    schema = httpx.get(insecure_server.url("/openapi.json"), timeout=30).json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/cds-services",
        "/cds-services/{service_id}",
        "/cds-services/{service_id}/feedback",
        "/diagnose",
    } <= set(schema["paths"])


def test_the_log_holds_no_patient_data(insecure_server: Server) -> None:
    for name in ("patient-view.json", "patient-view-clozapine.json", "order-select-clozapine.json"):
        request = load_example(name)
        cds_response(post(insecure_server, f"/cds-services/leukodx-{request['hook']}", request))
        broken = copy.deepcopy(request)
        broken["context"]["patientId"] = "Patient-SECRET-42"
        post(insecure_server, f"/cds-services/leukodx-{request['hook']}", broken)
    bundle = json.loads((ROOT / "examples" / "fhir" / "clozapine-patient-bundle.json").read_text())
    post(insecure_server, "/diagnose", bundle)
    log = insecure_server.log()
    assert "AUTHENTICATION DISABLED" in log
    assert "POST /cds-services/leukodx-patient-view 200" in log
    for secret in (
        "ra-felty-01",
        "case-017",
        "1961-02-27",
        "Patient-SECRET-42",
        "clozapine",
        "private-comment-do-not-log",
        "methotrexate",
    ):
        assert secret not in log, secret


def test_health_needs_no_token_and_names_the_knowledge_base(jwt_server: Server) -> None:
    response = httpx.get(jwt_server.url("/healthz"), timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and len(body["content_hash"]) == 64
    assert body["knowledge_base"].startswith("leukodx")
