# SPDX-License-Identifier: Apache-2.0
"""engine.service.Hooks without HTTP: prefetch rules, draft orders, the knowledge-base notion of a
risky drug, and the discovery entries built from the terminology and the rules."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

pytest.importorskip("fastapi")

from engine.errors import InputError  # noqa: E402
from engine.fhir.terms import load_terminology  # noqa: E402
from engine.kb.load import load_knowledge_base  # noqa: E402
from engine.service import cards as cds  # noqa: E402
from engine.service.hooks import Hooks, PrefetchMissing, ServiceSettings  # noqa: E402
from engine.service.models import CdsRequest  # noqa: E402
from tests.service.conftest import load_example  # noqa: E402

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
TODAY = dt.date(2025, 10, 1)


@pytest.fixture(scope="module")
def hooks() -> Hooks:
    return Hooks(load_knowledge_base(), ServiceSettings(today=lambda: TODAY))


def order_select(**context: Any) -> dict[str, Any]:
    request = load_example("order-select-clozapine.json")
    request["context"].update(context)
    return request


def draft(code: str | None, text: str, rid: str = "d1", **extra: Any) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code}]
    resource = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": "Patient/ra-felty-01"},
    }
    resource.update(extra)
    return resource


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def call(hooks: Hooks, service: str, body: dict[str, Any]) -> list[Any]:
    return hooks.call(service, CdsRequest.model_validate(body)).cards


def test_prefetch_templates_come_from_the_terminology() -> None:
    terms = load_terminology()
    keys = {k.key: k for k in cds.prefetch_keys(terms)}
    assert {k for k, v in keys.items() if v.required} == {
        "patient",
        "labs",
        "medications",
        "conditions",
    }
    query = dict(part.split("=", 1) for part in keys["labs"].template.split("?")[1].split("&"))
    listed = {coding.split("|")[1] for coding in query["code"].split(",")}
    assert listed == {c for c, test in terms.tests.items() if test in cds.PREFETCH_TESTS}
    # the neutrophil and band percentages the ANC is computed from, manual segmented % included
    assert {"770-8", "23761-0", "769-0", "764-1"} <= listed
    assert query["_sort"] == "-date"
    assert terms.fever_loinc in keys["temperature"].template
    assert all("{{context.patientId}}" in k.template for k in keys.values())


def test_order_select_description_lists_the_drugs_the_rules_name(hooks: Hooks) -> None:
    order = next(s for s in hooks.services.services if s.hook == "order-select")
    for agent in ("clozapine", "thiopurine", "tki"):
        assert agent in order.description
        assert cds.drug_rules(hooks.kb, [agent])
    assert not cds.drug_rules(hooks.kb, ["no-such-drug"])


def test_missing_optional_prefetch_is_reported_in_the_card(hooks: Hooks) -> None:
    cards = call(hooks, cds.PATIENT_VIEW, load_example("patient-view.json"))
    assert "temperature" in (cards[-1].detail or "")


def test_missing_required_prefetch_raises_412(hooks: Hooks) -> None:
    body = load_example("patient-view.json")
    body["prefetch"].pop("conditions")
    with pytest.raises(PrefetchMissing) as exc:
        call(hooks, cds.PATIENT_VIEW, body)
    assert exc.value.missing == ["conditions"] and "conditions" in str(exc.value)


def test_selected_drafts_only(hooks: Hooks) -> None:
    service_request = {"resourceType": "ServiceRequest", "id": "s1", "status": "draft"}
    drafts = bundle(draft("2626", "clozapine"), service_request)
    body = order_select(draftOrders=drafts, selections=["ServiceRequest/s1"])
    assert call(hooks, cds.ORDER_SELECT, body) == []  # the selected draft is no medication
    body = order_select()
    body["context"].pop("selections")  # no selections: every draft order counts
    assert len(call(hooks, cds.ORDER_SELECT, body)) == 1


def test_a_draft_by_medication_reference_is_resolved(hooks: Hooks) -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": {"coding": [{"system": RXNORM, "code": "2626"}]},
    }
    order = draft(None, "", medicationReference={"reference": "Medication/m1"})
    order.pop("medicationCodeableConcept")
    body = order_select(draftOrders=bundle(order, medication), selections=[])
    cards = call(hooks, cds.ORDER_SELECT, body)
    assert len(cards) == 1 and cards[0].indicator in ("warning", "critical")


def test_drugs_without_rules_get_no_card(hooks: Hooks) -> None:
    order = draft(None, "paracetamol 500 mg")  # not in the lexicon: no rules
    body = order_select(draftOrders=bundle(order), selections=["MedicationRequest/d1"])
    assert call(hooks, cds.ORDER_SELECT, body) == []


@pytest.mark.parametrize("change", [
    {"medicationCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc",
                                               "code": "0078-0126-05"}]}},  # an NDC code alone
    {"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "99999991"}]}},
    {"medicationCodeableConcept": {}},  # no drug at all
])  # fmt: skip
def test_a_draft_whose_drug_cannot_be_identified_is_said_not_checked(
    hooks: Hooks, change: dict[str, Any]
) -> None:
    """Probe 11: an NDC-only code, an RxNorm code the lexicon lacks, or no drug answered
    ``{"cards": []}``, the answer for "checked, nothing found"; the order may be clozapine. A
    clozapine draft beside it is still checked."""
    order = {**draft(None, ""), **change}
    body = order_select(draftOrders=bundle(order), selections=["MedicationRequest/d1"])
    cards = call(hooks, cds.ORDER_SELECT, body)
    assert [c.indicator for c in cards] == ["warning"]
    assert "not checked" in cards[0].summary
    clozapine = draft("2626", "clozapine", rid="d2")
    both = order_select(draftOrders=bundle(order, clozapine), selections=[])
    summaries = [c.summary for c in call(hooks, cds.ORDER_SELECT, both)]
    assert any("clozapine" in s.lower() for s in summaries) and any(
        "not checked" in s for s in summaries
    )


def test_a_drafted_name_that_looks_like_a_known_drug_is_said_not_checked(hooks: Hooks) -> None:
    """The fourth probe's P23: a clozapine order under a name the lexicon does not read got
    ``{"cards": []}``, which reads as "checked, nothing found"."""
    body = order_select(draftOrders=bundle(draft(None, "clozapinne 25 mg")), selections=[])
    (card,) = call(hooks, cds.ORDER_SELECT, body)
    assert card.indicator == "warning"
    assert card.summary == "Order for clozapinne 25 mg: drug name not recognised, not checked"
    assert "did you mean `clozapine`?" in (card.detail or "")
    # beside a drug the service does check, both cards come back
    both = bundle(draft("2626", "clozapine"), draft(None, "metamizolum 500 mg", rid="d2"))
    cards = call(hooks, cds.ORDER_SELECT, order_select(draftOrders=both, selections=[]))
    summaries = [c.summary for c in cards]
    assert any(s.startswith("Order for clozapine:") for s in summaries)
    assert "Order for metamizolum 500 mg: drug name not recognised, not checked" in summaries
    # the unread part of a combination is named too (the sixth probe)
    part = bundle(draft(None, "rituximab + clozapin"))
    cards = call(hooks, cds.ORDER_SELECT, order_select(draftOrders=part, selections=[]))
    assert "Order for clozapin: drug name not recognised, not checked" in [c.summary for c in cards]


def test_the_not_checked_card_names_the_patient_s_critical_alerts() -> None:
    from engine.api import diagnose
    from engine.kb.load import load_knowledge_base

    kb = load_knowledge_base()
    labs = [{"test": "wbc", "value": 1.0, "unit": "10^9/L", "date": "2025-03-01"},
            {"test": "anc", "value": 0.3, "unit": "10^9/L", "date": "2025-03-01"}]  # fmt: skip
    d = diagnose({"labs": labs, "findings": [{"name": "fever", "since": "2025-03-01"}]}, kb=kb)
    card = cds.unread_order_card(kb, "clozapinne", kb.lexicon.near_matches("clozapinne"), d)
    assert card.indicator == "warning"
    assert "The patient has critical alerts now: Febrile neutropenia" in (card.detail or "")


@pytest.mark.parametrize(
    "selection",
    ["d1", "http://ehr.example.org/fhir/MedicationRequest/d1", "MedicationRequest/d1/_history/2",
     "urn:uuid:0c3a9d2e-6f1b-4b8e-9a57-1d2b3c4d5e6f"],
)  # fmt: skip
def test_a_selection_in_another_reasonable_form_is_read(hooks: Hooks, selection: str) -> None:
    drafts = bundle(draft("2626", "clozapine"))
    drafts["entry"][0]["fullUrl"] = "urn:uuid:0c3a9d2e-6f1b-4b8e-9a57-1d2b3c4d5e6f"
    body = order_select(draftOrders=drafts, selections=[selection])
    assert len(call(hooks, cds.ORDER_SELECT, body)) == 1


def test_a_selection_that_names_no_draft_is_refused(hooks: Hooks) -> None:
    """The fifth probe: a selection matching no draft answered {"cards": []}, so a mismatch in
    the EHR's selection format silently turned off every order check."""
    body = order_select(selections=["MedicationRequest/nope"])
    with pytest.raises(InputError) as exc:
        call(hooks, cds.ORDER_SELECT, body)
    assert exc.value.field == "context.selections" and "nope" in str(exc.value)


def test_non_medication_drafts_are_ignored(hooks: Hooks) -> None:
    service_request = {"resourceType": "ServiceRequest", "id": "s1", "status": "draft"}
    body = order_select(draftOrders=bundle(service_request), selections=[])
    assert call(hooks, cds.ORDER_SELECT, body) == []


@pytest.mark.parametrize(("context", "field"), [
    ({"selections": "MedicationRequest/d1"}, "context.selections"),
    ({"draftOrders": {"resourceType": "Patient"}}, "context.draftOrders"),
    ({"patientId": ""}, "context.patientId"),
])  # fmt: skip
def test_invalid_order_context(hooks: Hooks, context: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as exc:
        call(hooks, cds.ORDER_SELECT, order_select(**context))
    assert exc.value.field == field


def test_the_draft_is_active_from_today_and_the_stored_orders_are_kept(hooks: Hooks) -> None:
    body = order_select()
    original = copy.deepcopy(body)
    card = call(hooks, cds.ORDER_SELECT, body)[0]
    assert TODAY.isoformat() in (card.detail or "")
    assert body == original  # the request is not modified


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r.update(hook="order-select"), "hook"),
    (lambda r: r["prefetch"].update(labs="Observation?code=751-8"), "prefetch.labs"),
    (lambda r: r["context"].update(patientId="another"), "prefetch.patient.id"),
])  # fmt: skip
def test_patient_view_refuses_inconsistent_requests(hooks: Hooks, change: Any, field: str) -> None:
    body = load_example("patient-view.json")
    change(body)
    with pytest.raises(InputError) as exc:
        call(hooks, cds.PATIENT_VIEW, body)
    assert exc.value.field == field


def test_no_counts_means_no_cards_or_an_unchecked_order(hooks: Hooks) -> None:
    body = load_example("patient-view.json")
    body["prefetch"]["labs"] = None
    assert call(hooks, cds.PATIENT_VIEW, body) == []
    body = order_select()
    body["prefetch"]["labs"] = None
    cards = call(hooks, cds.ORDER_SELECT, body)
    assert [c.indicator for c in cards] == ["info"] and "not checked" in cards[0].summary


# --- dates and staleness (issue 16 item 4), dropped counts, report links ----------------------


def hooks_on(day: dt.date) -> Hooks:
    return Hooks(load_knowledge_base(), ServiceSettings(today=lambda: day))


def test_the_hook_is_answered_as_of_its_day_and_old_counts_are_stale() -> None:
    body = load_example("patient-view.json")  # latest counts 2025-09-02
    fresh = call(hooks_on(dt.date(2025, 9, 5)), cds.PATIENT_VIEW, body)
    assert not any(c.suggestions for c in fresh)
    assert "as of 2025-09-05" in (fresh[-1].detail or "")
    later = call(hooks_on(dt.date(2026, 12, 1)), cds.PATIENT_VIEW, body)
    count = next(c for c in later if c.suggestions)
    assert count.summary == (
        "Latest ANC 0.7 x 10^9/L on 2025-09-02, 15 months ago — stale; order a CBC with "
        "differential"
    )
    assert "older than 84 days is called stale for any patient" in (count.detail or "")
    assert "**Stale**: the ranking rests on ANC 0.7 x 10^9/L on 2025-09-02" in (
        later[-1].detail or ""
    )


def test_a_clozapine_patient_has_the_label_s_monitoring_interval() -> None:
    body = load_example("patient-view-clozapine.json")  # clozapine since 2024-12-01
    cards = call(hooks_on(dt.date(2025, 3, 1)), cds.PATIENT_VIEW, body)  # ANC 2025-02-10
    alert = next(c for c in cards if c.indicator == "critical")
    assert alert.summary.startswith("Stale (3 weeks old): ")
    assert alert.summary.endswith("(ANC 0.6 x 10^9/L on 2025-02-10)")
    assert "older than the 7-day lookback as of 2025-03-01" in (alert.detail or "")
    count = next(c for c in cards if c.suggestions)
    assert count.indicator == "warning"  # a critical alert rests on the stale count
    suggestion = (count.suggestions or [])[0]
    assert suggestion.label == "Order a CBC with differential (urgent)"
    assert "while taking clozapine" in (count.detail or "")


def test_an_order_on_stale_counts_suggests_a_count_first(hooks: Hooks) -> None:
    body = order_select()
    later = hooks_on(dt.date(2026, 12, 1))
    card = call(later, cds.ORDER_SELECT, body)[0]
    assert card.summary.startswith("Order for clozapine: latest ANC 0.7 x 10^9/L on 2025-09-02")
    assert card.selectionBehavior == "at-most-one" and card.overrideReasons
    request = ((card.suggestions or [])[0].actions or [])[0].resource or {}
    assert request["subject"] == {"reference": "Patient/ra-felty-01"}
    # starting clozapine: the label's weekly interval applies from day 0, so a 4-week-old ANC
    # is stale, and a 3-day-old one is not
    month = call(hooks, cds.ORDER_SELECT, order_select())[0]
    assert "4 weeks ago — stale" in month.summary and month.suggestions
    current = call(hooks_on(dt.date(2025, 9, 5)), cds.ORDER_SELECT, order_select())[0]
    assert current.suggestions is None and current.overrideReasons


def test_an_order_card_leads_with_the_start_rule_and_never_blames_the_unstarted_drug() -> None:
    """A clozapine draft against an ANC of 0.7: the label's initiation rule (baseline below
    1500/uL, and below the 1000/uL at which its table interrupts: critical) leads; evidence that
    the count "arose on clozapine" is not shown for a drug not yet given, nor the on-treatment
    rows of the label's table, which read counts drawn after the first dose (session 20)."""
    (card,) = call(hooks_on(dt.date(2025, 9, 5)), cds.ORDER_SELECT, order_select())
    assert card.summary.startswith("Order for clozapine: clozapine label section 2.1")
    assert card.indicator == "critical"
    detail = card.detail or ""
    assert "initiation is not recommended" in detail and "do not start clozapine" in detail
    assert "moderate neutropenia" not in detail
    assert "Evidence for" not in detail


def test_a_drug_that_lowers_counts_ordered_into_a_low_count_gets_a_card() -> None:
    """After order-select stopped presenting "the count arose on the drug" for a drug not yet
    given, an azathioprine draft into an ANC of 0.7 got no card at all (the fourth probe)."""
    body = order_select(draftOrders=bundle(draft("1256", "azathioprine")),
                        selections=["MedicationRequest/d1"])  # fmt: skip
    (card,) = call(hooks_on(dt.date(2025, 9, 5)), cds.ORDER_SELECT, body)
    assert card.indicator == "warning"
    # the patient takes methotrexate with two low lines: the order card names that warning as
    # the low count it is ordered into
    assert card.summary.startswith(
        "Order for azathioprine: a drug that can lower blood counts, ordered during: Methotrexate "
        "with two or three low cell lines"
    )
    assert "Evidence for" not in (card.detail or "")


def test_no_counts_at_all_suggests_ordering_them(hooks: Hooks) -> None:
    body = order_select()
    body["prefetch"]["labs"] = None
    card = call(hooks, cds.ORDER_SELECT, body)[0]
    assert card.suggestions and card.selectionBehavior == "at-most-one"


def test_a_dropped_count_gets_a_card_naming_it_and_why(hooks: Hooks) -> None:
    body = load_example("patient-view.json")
    anc = next(
        e["resource"]
        for e in body["prefetch"]["labs"]["entry"]
        if e["resource"].get("id") == "pv-anc-2"
    )
    anc["valueQuantity"] = {"value": 0.3, "unit": "furlongs", "code": "furlongs"}
    cards = call(hooks, cds.PATIENT_VIEW, body)
    dropped = next(c for c in cards if "not used" in c.summary)
    assert dropped.indicator == "warning"
    assert dropped.summary.startswith("1 blood count result not used (ANC)")
    assert "- ANC dated 2025-09-02 (Observation/pv-anc-2): " in (dropped.detail or "")
    assert "furlongs" in (dropped.detail or "")
    # an entered-in-error result (pv-anc-x) is rightly unused: no card for it
    assert "pv-anc-x" not in (dropped.detail or "")


def _labs_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in body["prefetch"]["labs"]["entry"]]


def test_when_no_count_on_file_can_be_used_a_warning_says_so(hooks: Hooks) -> None:
    """Every count in a unit the reader does not know: the answer was an empty card list."""
    body = load_example("patient-view.json")
    for lab in _labs_of(body):
        if "valueQuantity" in lab:
            lab["valueQuantity"] = {"value": 1, "unit": "furlongs", "code": "furlongs"}
    (card,) = call(hooks, cds.PATIENT_VIEW, body)
    assert card.indicator == "warning"
    assert "none usable: no alert could be checked" in card.summary
    assert "furlongs" in (card.detail or "") and card.suggestions


def test_counts_of_one_day_that_contradict_each_other_are_set_aside(hooks: Hooks) -> None:
    """An ANC above the WBC of its day (a unit mix-up) failed the whole hook with 422, so the
    clinician saw nothing; now that day's counts are not used and a card says why."""
    body = load_example("patient-view.json")
    anc = next(lab for lab in _labs_of(body) if lab.get("id") == "pv-anc-2")
    anc["valueQuantity"] = {"value": 450, "unit": "10*9/L", "code": "10*9/L",
                            "system": "http://unitsofmeasure.org"}  # fmt: skip
    cards = call(hooks, cds.PATIENT_VIEW, body)
    dropped = next(c for c in cards if "not used" in c.summary)
    assert dropped.indicator == "warning"
    assert "contradict each other" in (dropped.detail or "")
    assert "above the wbc of the same day" in (dropped.detail or "")


def test_a_known_drug_left_unused_is_named_on_a_card() -> None:
    """Clozapine stopped with no end date is not used (its timing is unknown); no card said so,
    and the clozapine alerts and cause vanished in silence."""
    body = _fever_example()
    for entry in body["prefetch"]["medicationStatements"]["entry"]:
        res = entry["resource"]
        if res.get("id") == "ms-clozapine":
            res["status"] = "stopped"
            res.pop("effectivePeriod", None)
            res["effectiveDateTime"] = "2024-10-01"
    cards = call(hooks_on(FEVER_DAY), cds.PATIENT_VIEW, body)
    dropped = next(c for c in cards if "not used" in c.summary)
    assert dropped.indicator == "warning"
    assert dropped.summary.startswith("1 medication not used (clozapine)")
    assert "MedicationStatement/ms-clozapine" in (dropped.detail or "")


def test_results_a_day_ahead_of_the_server_are_today_s_and_later_ones_are_named() -> None:
    """A UTC server answering a clinic a day ahead dropped the morning's results as "after
    as_of", and no card said so; a result far ahead (a mistyped year) is listed as not used."""
    ahead = call(hooks_on(dt.date(2025, 9, 1)), cds.PATIENT_VIEW, load_example("patient-view.json"))
    assert not any("not used" in c.summary for c in ahead)  # the 2025-09-02 counts are read
    late = call(hooks_on(dt.date(2025, 8, 20)), cds.PATIENT_VIEW, load_example("patient-view.json"))
    dropped = next(c for c in late if "not used" in c.summary)
    assert dropped.indicator == "warning"
    assert "labs (anc on 2025-09-02)" in (dropped.detail or "")
    assert "dated after as\\_of 2025-08-20" in (dropped.detail or "")  # markdown-escaped


def test_a_search_read_in_part_gets_a_warning(hooks: Hooks) -> None:
    """A prefetched labs Bundle with a next link (one page of several) was used as if complete:
    a server that ignores _sort may have left today's results on the pages not read."""
    body = load_example("patient-view.json")
    body["prefetch"]["labs"]["link"] = [{"relation": "next", "url": "https://ehr.example/fhir?p=2"}]
    cards = call(hooks, cds.PATIENT_VIEW, body)
    partial = next(c for c in cards if c.summary.startswith("Results read in part (labs)"))
    assert partial.indicator == "warning" and "newest first" in (partial.detail or "")
    assert not any(
        "read in part" in c.summary
        for c in call(hooks, cds.PATIENT_VIEW, load_example("patient-view.json"))
    )


def test_a_search_with_the_server_s_error_in_it_is_read_in_part(hooks: Hooks) -> None:
    """An OperationOutcome error among a search's entries was read as a complete search."""
    body = load_example("patient-view.json")
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "too-costly"}]}  # fmt: skip
    body["prefetch"]["labs"]["entry"].append({"resource": outcome, "search": {"mode": "outcome"}})
    cards = call(hooks, cds.PATIENT_VIEW, body)
    assert any(c.summary.startswith("Results read in part (labs)") for c in cards)


CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
#: The day of the clozapine example's febrile reading and counts.
FEVER_DAY = dt.date(2025, 2, 10)


def _fever_example() -> dict[str, Any]:
    """The clozapine example (febrile neutropenia from its temperature readings) with the
    temperature readings that make the fever at hand."""
    return copy.deepcopy(load_example("patient-view-clozapine.json"))


def _febrile(cards: list[Any]) -> bool:
    return any("Febrile neutropenia" in c.summary for c in cards)


def test_an_implausible_temperature_is_not_used_and_a_card_says_fever_is_not_excluded() -> None:
    """38.9 filed under Fahrenheit (a Celsius value in the wrong unit) is not a body
    temperature: no febrile alert rests on it, and a card says fever could not be assessed."""
    hooks = hooks_on(FEVER_DAY)
    body = _fever_example()
    assert _febrile(call(hooks, cds.PATIENT_VIEW, body))
    for entry in body["prefetch"]["temperature"]["entry"]:
        vq = entry["resource"]["valueQuantity"]
        vq.update(unit="degF", code="[degF]", value=vq["value"] if vq["value"] < 38 else 38.9)
    cards = call(hooks, cds.PATIENT_VIEW, body)
    assert not _febrile(cards)
    dropped = next(c for c in cards if "not used" in c.summary)
    assert dropped.indicator == "warning"
    assert "body temperature" in dropped.summary
    assert "is not a plausible body temperature" in (dropped.detail or "")
    assert "fever is not excluded" in (dropped.detail or "")


def test_a_provisional_fever_diagnosis_gets_the_not_used_card() -> None:
    """A fever Condition the conversion does not use (verificationStatus provisional) is named on
    the "not used" card: fever is not excluded."""
    body = _fever_example()
    body["prefetch"]["temperature"] = None
    fever = {
        "resourceType": "Condition", "id": "fev", "subject": {"reference": "Patient/case-017"},
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION,
                                           "code": "provisional"}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "386661006"}]},
        "onsetDateTime": "2025-02-10",
    }  # fmt: skip
    conditions = body["prefetch"].get("conditions") or {"resourceType": "Bundle", "entry": []}
    conditions.setdefault("entry", []).append({"resource": fever})
    body["prefetch"]["conditions"] = conditions
    cards = call(hooks_on(FEVER_DAY), cds.PATIENT_VIEW, body)
    dropped = next(c for c in cards if "not used" in c.summary)
    assert dropped.summary == "1 result not used (fever): fever could not be assessed from it"
    assert "Condition/fev" in (dropped.detail or "") and "provisional" in (dropped.detail or "")


def test_a_manual_differential_of_segmented_and_band_percentages_makes_the_anc() -> None:
    """The day's ANC given as a manual differential, segmented neutrophils % (769-0) and bands %
    (764-1): it was "not a test leukodx uses", and the febrile neutropenia went unseen."""
    body = _fever_example()
    entries = body["prefetch"]["labs"]["entry"]
    anc = next(e["resource"] for e in entries if e["resource"]["id"] == "anc-2")
    for oid, code, value in (("segs-2", "769-0", 12), ("bands-2", "764-1", 3)):
        pct = copy.deepcopy(anc)
        pct.update(id=oid, code={"coding": [{"system": "http://loinc.org", "code": code}]})
        pct["valueQuantity"] = {"value": value, "unit": "%", "code": "%",
                                "system": "http://unitsofmeasure.org"}  # fmt: skip
        entries.append({"resource": pct})
    entries.remove(next(e for e in entries if e["resource"]["id"] == "anc-2"))
    cards = call(hooks_on(FEVER_DAY), cds.PATIENT_VIEW, body)
    assert _febrile(cards)
    assert not any("not used" in c.summary for c in cards)


def test_a_febrile_reading_of_last_year_is_not_febrile_neutropenia_today() -> None:
    hooks = hooks_on(FEVER_DAY)
    body = _fever_example()
    assert _febrile(call(hooks, cds.PATIENT_VIEW, body))
    for entry in body["prefetch"]["temperature"]["entry"]:
        entry["resource"]["effectiveDateTime"] = "2024-01-01T08:00:00Z"
    cards = call(hooks, cds.PATIENT_VIEW, body)
    assert not _febrile(cards)
    assert any("neutropenia" in c.summary.lower() for c in cards)  # the count alerts remain


def test_every_card_links_to_the_stored_report(hooks: Hooks) -> None:
    cards = hooks.call(
        cds.PATIENT_VIEW,
        CdsRequest.model_validate(load_example("patient-view-clozapine.json")),
        "https://cds.example.org",
    ).cards
    urls = {link.url for c in cards for link in c.links or []}
    assert len(urls) == 1 and all(c.links for c in cards)
    token = urls.pop().rsplit("/", 1)[1]
    report = hooks.reports.get(token)
    assert report is not None and "<svg" in report
    without = call(hooks, cds.PATIENT_VIEW, load_example("patient-view-clozapine.json"))
    assert all(c.links is None for c in without)  # no base URL, no link


# --- probe 11 (2026-12-07): FHIR as EHR sandboxes write it --------------------------------------


def test_a_draft_planned_to_start_later_is_checked_as_started_today(hooks: Hooks) -> None:
    """A clozapine draft whose dosage starts in two days read as starting after today, was set
    aside, and its critical "do not start" card became a generic warning."""
    plain = [c.indicator for c in call(hooks, cds.ORDER_SELECT, order_select())]
    body = order_select()
    for entry in body["context"]["draftOrders"]["entry"]:
        resource = entry["resource"]
        if resource.get("resourceType") == "MedicationRequest":
            later = (TODAY + dt.timedelta(days=2)).isoformat()
            resource["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {
                "start": later}}}}]  # fmt: skip
            resource["dispenseRequest"] = {"validityPeriod": {"start": later}}
    cards = call(hooks, cds.ORDER_SELECT, body)
    assert [c.indicator for c in cards] == plain and "critical" in plain
    assert TODAY.isoformat() in (cards[0].detail or "")


def test_an_unidentified_result_is_shown_and_the_anc_is_not_called_absent(hooks: Hooks) -> None:
    """An ANC with a local code only is not guessed to be an ANC, but the clinician sees it: the
    card said "ANC: none on file"."""
    body = load_example("patient-view.json")
    for lab in _labs_of(body):
        if lab.get("code", {}).get("coding", [{}])[0].get("code") in ("751-8", "26499-4"):
            lab["code"] = {"coding": [{"system": "urn:oid:1.2.840.114350.1", "code": "1234"}],
                           "text": "ABSOLUTE NEUTROPHIL COUNT"}  # fmt: skip
    cards = call(hooks, cds.PATIENT_VIEW, body)
    dropped = next(c for c in cards if "not used" in c.summary)
    assert "result with no code leukodx knows" in dropped.summary
    assert "ABSOLUTE NEUTROPHIL COUNT" in (dropped.detail or "")
    assert all("ANC: none on file" not in (c.detail or "") for c in cards)


def test_an_anc_a_thousand_times_too_high_gets_a_card_not_silence(hooks: Hooks) -> None:
    body = load_example("patient-view.json")
    labs = _labs_of(body)
    body["prefetch"]["labs"]["entry"] = [
        {"resource": lab} for lab in labs if lab.get("id") == "pv-anc-2"
    ]
    lab = body["prefetch"]["labs"]["entry"][0]["resource"]
    lab["valueQuantity"] = {"value": 300, "unit": "10*3/uL", "code": "10*3/uL",
                            "system": "http://unitsofmeasure.org"}  # fmt: skip
    cards = call(hooks, cds.PATIENT_VIEW, body)
    assert cards and cards[0].indicator == "warning"
    assert "no wbc of the same day" in " ".join(c.detail or "" for c in cards)


def test_a_signed_order_starting_after_today_is_named_on_a_card(hooks: Hooks) -> None:
    """Probe 13: an active clozapine order starting in two days was set aside as dated after
    as_of, and no card said so."""
    body = load_example("patient-view.json")
    later = (TODAY + dt.timedelta(days=2)).isoformat()
    order = draft("2626", "clozapine", rid="m-later", status="active", authoredOn=later)
    body["prefetch"]["medications"] = bundle(order)
    cards = call(hooks, cds.PATIENT_VIEW, body)
    dropped = [c for c in cards if "medication not used (clozapine)" in c.summary]
    assert dropped and dropped[0].indicator == "warning"


def test_a_draft_for_another_patient_is_refused_and_a_do_not_perform_draft_is_no_card(
    hooks: Hooks,
) -> None:
    """Probe 13: a draft whose subject was another patient was set aside while its card said it
    had been checked; a doNotPerform draft was called an unidentified drug."""
    other = draft("2626", "clozapine", subject={"reference": "Patient/someone-else"})
    body = order_select(draftOrders=bundle(other), selections=["MedicationRequest/d1"])
    with pytest.raises(InputError) as caught:
        call(hooks, cds.ORDER_SELECT, body)
    assert caught.value.field == "context.draftOrders (MedicationRequest d1).subject"
    versioned = draft("2626", "clozapine", subject={"reference": "Patient/ra-felty-01/_history/3"})
    body = order_select(draftOrders=bundle(versioned), selections=["MedicationRequest/d1"])
    assert call(hooks, cds.ORDER_SELECT, body)  # the same patient: checked
    never = draft("2626", "clozapine", doNotPerform=True)
    body = order_select(draftOrders=bundle(never), selections=["MedicationRequest/d1"])
    assert call(hooks, cds.ORDER_SELECT, body) == []
