# SPDX-License-Identifier: Apache-2.0
"""Every card the service returns against the CDS Hooks 2.0 card rules (engine/service/models.py):
the models refuse what the specification forbids, and every card of every hook call on the
bundled examples, evaluated on several days, passes them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

pytest.importorskip("fastapi")

from pydantic import ValidationError  # noqa: E402

from engine.kb.load import KnowledgeBase  # noqa: E402
from engine.service import cards as cds  # noqa: E402
from engine.service.actions import CBC_DIFF_CODE, LOINC, OVERRIDE_SYSTEM  # noqa: E402
from engine.service.hooks import Hooks, ServiceSettings  # noqa: E402
from engine.service.models import Card, CdsRequest, CdsResponse  # noqa: E402
from tests.service.conftest import assert_no_empty_values, check_card, load_example  # noqa: E402

SOURCE = {"label": "leukodx-kb 0.1.0"}
CREATE = {"type": "create", "description": "order", "resource": {"resourceType": "ServiceRequest"}}


def card(**fields: Any) -> dict[str, Any]:
    return {"summary": "A summary", "indicator": "info", "source": SOURCE, **fields}


@pytest.mark.parametrize("fields", [
    {"suggestions": [{"label": "Order", "actions": [CREATE]}]},  # no selectionBehavior
    {"suggestions": [{"label": "a", "isRecommended": True}, {"label": "b", "isRecommended": True}],
     "selectionBehavior": "at-most-one"},  # two recommended with at-most-one
    {"suggestions": [{"label": "a"}], "selectionBehavior": "all"},  # not a 2.0 value
    {"overrideReasons": [{"code": "x", "system": "https://x.org"}]},  # no display
    {"overrideReasons": [{"code": "x", "display": "Patient declined"}]},  # no system
    {"links": [{"label": "r", "url": "https://x.org", "type": "absolute", "appContext": "c"}]},
    {"links": [{"label": "r", "url": "/reports/abc", "type": "absolute"}]},  # not absolute
    {"links": [{"label": "r", "url": "https://x.org", "type": "relative"}]},
    {"suggestions": [{"label": "a", "actions": [{"type": "create", "description": "d"}]}],
     "selectionBehavior": "any"},  # create without its resource
    {"suggestions": [{"label": "a", "actions": [{"type": "delete", "description": "d"}]}],
     "selectionBehavior": "any"},  # delete without resourceId
    {"suggestions": [], "selectionBehavior": "any"},  # empty optional array
    {"summary": "x" * 140},  # the summary is shorter than 140 characters
    {"indicator": "hard-stop"},  # a pre-1.0 indicator
])  # fmt: skip
def test_the_models_refuse_what_the_specification_forbids(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Card.model_validate(card(**fields))


def test_the_models_accept_a_complete_valid_card() -> None:
    model = Card.model_validate(card(
        uuid="4e0a3a1e-3283-4575-ab82-028d55fe2719",
        suggestions=[{"label": "Order", "isRecommended": True, "actions": [CREATE]},
                     {"label": "Cancel", "actions": [{"type": "delete", "description": "d",
                                                      "resourceId": "ServiceRequest/1"}]}],
        selectionBehavior="at-most-one",
        overrideReasons=[{"code": "x", "system": "https://x.org", "display": "Declined"}],
        links=[{"label": "app", "url": "https://app.org/launch", "type": "smart",
                "appContext": "c"}],
    ))  # fmt: skip
    assert model.selectionBehavior == "at-most-one"


@pytest.fixture(scope="module")
def responses(real_kb: KnowledgeBase) -> list[dict[str, Any]]:
    """Every hook's cards for the bundled examples: on the day of their data, a year later
    (stale), with one count in an unknown unit (dropped), and with no ANC at all."""
    out = []
    for today in (dt.date(2025, 9, 3), dt.date(2026, 12, 10)):
        hooks = Hooks(real_kb, ServiceSettings(today=lambda today=today: today))
        for name, service in (("patient-view.json", cds.PATIENT_VIEW),
                              ("patient-view-clozapine.json", cds.PATIENT_VIEW),
                              ("order-select-clozapine.json", cds.ORDER_SELECT)):  # fmt: skip
            for variant in (_as_given, _odd_unit, _no_anc):
                body = variant(load_example(name))
                request = CdsRequest.model_validate(body)
                response = hooks.call(service, request, "https://cds.example.org/base")
                out.append(json.loads(response.model_dump_json(exclude_none=True)))
    return out


def _as_given(body: dict[str, Any]) -> dict[str, Any]:
    return body


def _observations(body: dict[str, Any]) -> list[dict[str, Any]]:
    entries = (body["prefetch"].get("labs") or {}).get("entry", [])
    return [e["resource"] for e in entries if e["resource"]["resourceType"] == "Observation"]


def _odd_unit(body: dict[str, Any]) -> dict[str, Any]:
    for obs in _observations(body)[:1]:
        if "valueQuantity" in obs:
            obs["valueQuantity"] = {"value": 3.0, "unit": "furlongs", "code": "furlongs"}
    return body


def _no_anc(body: dict[str, Any]) -> dict[str, Any]:
    labs = body["prefetch"].get("labs")
    if labs:
        labs["entry"] = [
            e for e in labs["entry"] if "751-8" not in json.dumps(e["resource"].get("code"))
        ]
    return body


def test_every_card_of_every_call_follows_the_specification(
    responses: list[dict[str, Any]],
) -> None:
    cards = [c for r in responses for c in r["cards"]]
    assert len(cards) > 20
    for response in responses:
        assert_no_empty_values(response)
        CdsResponse.model_validate(response)
        for item in response["cards"]:
            model = check_card(item, "leukodx-kb 0.1.0")
            assert not (model.suggestions and model.selectionBehavior is None)
            for link in model.links or []:
                assert link.type == "absolute"
                assert link.url.startswith("https://cds.example.org/base/reports/")


def test_what_the_cards_offer(responses: list[dict[str, Any]]) -> None:
    cards = [Card.model_validate(c) for r in responses for c in r["cards"]]
    suggested = [c for c in cards if c.suggestions]
    assert suggested, "stale counts and a missing ANC must suggest a CBC"
    for c in suggested:
        assert c.selectionBehavior == "at-most-one" and len(c.suggestions or []) == 1
        action = (c.suggestions or [])[0].actions or []
        resource = action[0].resource or {}
        assert action[0].type == "create" and resource["resourceType"] == "ServiceRequest"
        assert resource["code"]["coding"][0] == {
            "system": LOINC, "code": CBC_DIFF_CODE,
            "display": "CBC W Auto Differential panel - Blood",
        }  # fmt: skip
        assert resource["subject"]["reference"].startswith("Patient/")
    alerts = [c for c in cards if c.indicator == "critical"]
    assert alerts and all(c.overrideReasons for c in alerts)
    for c in cards:
        for reason in c.overrideReasons or []:
            assert reason.system == OVERRIDE_SYSTEM and reason.display
    assert any(c.summary.startswith("Stale") for c in cards)
    assert any("not used" in c.summary for c in cards)
