# SPDX-License-Identifier: Apache-2.0
"""engine.service.cards: cards from a Differential (summary length, indicators, linked sources,
disclaimer, clinical words with dates and never a Python literal)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from engine.api import diagnose  # noqa: E402
from engine.differential import Citation, Differential  # noqa: E402
from engine.kb.load import KnowledgeBase  # noqa: E402
from engine.service import cards as cds  # noqa: E402
from tests.conftest import CASES, ROOT  # noqa: E402
from tests.service.conftest import check_card  # noqa: E402


@pytest.fixture(scope="module")
def clozapine() -> Differential:
    bundle = json.loads((ROOT / "examples" / "fhir" / "clozapine-patient-bundle.json").read_text())
    return diagnose(bundle)


def label(d: Differential) -> str:
    return f"{d.knowledge_base.name} {d.knowledge_base.version}"


def test_fit_keeps_short_text_and_cuts_long_text_at_a_word() -> None:
    assert cds.fit("  a  short\ntext ") == "a short text"
    long = "word " * 60
    cut = cds.fit(long)
    assert len(cut) <= 139 and cut.endswith("…") and cut[:-1].endswith("word")


def test_markdown_is_escaped() -> None:
    assert cds.md("ANC < 0.5 *x* [1] a_b") == "ANC \\< 0.5 \\*x\\* \\[1\\] a\\_b"


@pytest.mark.parametrize(("fields", "url"), [
    ({"pmid": "1", "doi": "10.1/x"}, "https://pubmed.ncbi.nlm.nih.gov/1/"),
    ({"doi": "10.1/a(b)"}, "https://doi.org/10.1/a%28b%29"),
    ({"pmcid": "PMC9"}, "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC9/"),
    ({"url": "https://x.org/a b"}, "https://x.org/a%20b"),
])  # fmt: skip
def test_citation_url_prefers_pubmed_then_doi_then_pmc_then_url(
    fields: dict[str, Any], url: str
) -> None:
    assert cds.citation_url(Citation(id="c", kind="cohort", title="t", **fields)) == url


def test_reference_markers_number_in_order_of_use() -> None:
    refs = cds.References(
        [
            Citation(id="a", kind="cohort", title="A", pmid="1"),
            Citation(id="b", kind="cohort", title="B", url="https://b.org"),
        ]
    )
    assert refs.mark(["b", "a", "missing"]) == (
        " [[1]](https://b.org)[[2]](https://pubmed.ncbi.nlm.nih.gov/1/)"
    )
    assert refs.mark([]) == ""
    assert refs.main_url(["missing", "a"]) == "https://pubmed.ncbi.nlm.nih.gov/1/"
    text = refs.markdown()
    assert "1. B. <https://b.org> (cohort)" in text and "[PMID 1]" in text


def test_every_alert_becomes_a_card_at_its_level(clozapine: Differential) -> None:
    assert clozapine.alerts
    for alert in clozapine.alerts:
        card = check_card(
            cds.alert_card(clozapine, alert).model_dump(exclude_none=True), label(clozapine)
        )
        assert card.indicator == cds.indicator(alert.level)
        assert alert.rule_id in (card.detail or "")


def test_differential_card_names_the_top_cause_even_when_long(clozapine: Differential) -> None:
    top = clozapine.candidates[0]
    card = cds.differential_card(clozapine, ["temperature"])
    assert card is not None and top.label in card.summary
    assert "Not prefetched" in (card.detail or "") and card.indicator == "warning"
    check_card(card.model_dump(exclude_none=True), label(clozapine))
    renamed = top.model_copy(update={"label": "A very long cause label " * 8})
    long = clozapine.model_copy(update={"candidates": [renamed, *clozapine.candidates[1:]]})
    card = cds.differential_card(long)
    assert card is not None and len(card.summary) < 140 and card.summary.endswith("…")


def test_no_candidates_no_differential_card(clozapine: Differential) -> None:
    assert cds.differential_card(clozapine.model_copy(update={"candidates": []})) is None
    quiet = clozapine.model_copy(update={"alerts": []})
    card = cds.differential_card(quiet)
    assert card is not None and card.indicator == "info"


def test_order_card_from_evidence_alone(clozapine: Differential) -> None:
    top = clozapine.candidates[0]
    found = cds.DrugFindings("somedrug", (), tuple((top, e) for e in top.evidence_for), ())
    assert found.risky
    card = cds.order_card(clozapine, found)
    assert card.indicator == "warning" and "somedrug" in card.summary
    check_card(card.model_dump(exclude_none=True), label(clozapine))
    assert not cds.DrugFindings("x", (), (), tuple(clozapine.alerts)).risky


def test_indicator_and_notice_card() -> None:
    assert [cds.indicator(x) for x in ("info", "critical", "odd")] == [
        "info",
        "critical",
        "warning",
    ]
    from engine.kb.load import load_knowledge_base

    kb = load_knowledge_base()
    card = cds.notice_card(kb, "Nothing to check", "No counts on file.")
    assert card.indicator == "info" and card.source.label == f"{kb.name} {kb.version}"
    check_card(card.model_dump(exclude_none=True), f"{kb.name} {kb.version}")


LITERAL = re.compile(r"\b(True|False|None)\b|\w = \d")


def every_card(d: Differential) -> list[cds.Card]:
    out = [cds.alert_card(d, a) for a in d.alerts]
    card = cds.differential_card(d)
    out += [card] if card else []
    top = d.top
    if top is not None and top.evidence_for:
        found = cds.DrugFindings("somedrug", tuple(d.alerts), ((top, top.evidence_for[0]),), ())
        out.append(cds.order_card(d, found))
    return out


def test_card_detail_speaks_clinical_words_with_dates(clozapine: Differential) -> None:
    card = cds.differential_card(clozapine)
    assert card is not None and card.detail is not None
    assert card.detail.startswith(
        "**Latest counts**: WBC 2.9 x 10^9/L on 2025-02-10; ANC 0.6 x 10^9/L on 2025-02-10; "
        "haemoglobin 9.5 g/dL on 2025-02-10."
    )
    assert "- neutropenia (ANC 0.6 x 10^9/L on 2025-02-10) — An absolute neutrophil count" in (
        card.detail
    )
    # the fever names the body temperature it rests on (the third probe's F6)
    assert (
        "- fever present (finding fever (since 2025-02-09, until 2025-02-09); febrile body "
        "temperature 38.4 Cel (Observation/temp-2) on 2025-02-09) — "
    ) in card.detail
    top = clozapine.candidates[0]
    assert f"({cds.likelihood(top.probability)}, {cds.percent(top.probability)}; score" in (
        card.detail
    )
    for alert in clozapine.alerts:
        summary = cds.alert_card(clozapine, alert).summary
        if any(f.id == "v:anc" for f in alert.facts):
            assert summary.endswith("(ANC 0.6 x 10^9/L on 2025-02-10)"), summary


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml"))[::4], ids=lambda p: p.stem)
def test_no_card_prints_a_python_literal(path: Path, real_kb: KnowledgeBase) -> None:
    d = diagnose(path, kb=real_kb, backend="clips")
    for card in every_card(d):
        check_card(card.model_dump(exclude_none=True), label(d))
        assert not LITERAL.search(card.detail or ""), card.detail
        assert not LITERAL.search(card.summary), card.summary


def setting_on(d: Differential, day: str, kb: KnowledgeBase, pid: str = "p1") -> cds.Setting:
    from engine.service.freshness import assess

    lookback = kb.staleness.lookback({}) if kb.staleness else None
    return cds.Setting(freshness=assess(d, dt.date.fromisoformat(day), lookback), patient_id=pid)


def test_alert_cards_offer_override_reasons_with_a_display(
    clozapine: Differential, real_kb: KnowledgeBase
) -> None:
    for alert in clozapine.alerts:
        card = cds.alert_card(clozapine, alert, setting_on(clozapine, "2025-02-11", real_kb))
        reasons = card.overrideReasons or []
        assert len(reasons) >= 3 and all(r.display and r.system for r in reasons)
        assert not card.summary.startswith("Stale")  # one day old: current


def test_count_card_for_a_stale_count_and_for_a_missing_anc(
    clozapine: Differential, real_kb: KnowledgeBase
) -> None:
    assert cds.count_card(clozapine, setting_on(clozapine, "2025-02-11", real_kb)) is None
    stale = cds.count_card(clozapine, setting_on(clozapine, "2026-02-10", real_kb))
    assert stale is not None and stale.indicator == "info"
    assert stale.summary == (
        "Latest ANC 0.6 x 10^9/L on 2025-02-10, 12 months ago — stale; order a CBC with "
        "differential"
    )
    assert "- WBC 2.9 x 10^9/L on 2025-02-10, 12 months ago (stale)" in (stale.detail or "")
    check_card(stale.model_dump(exclude_none=True), label(clozapine))
    facts = [f for f in clozapine.facts if not f.id.startswith("v:anc")]
    no_anc = clozapine.model_copy(update={"facts": facts})
    card = cds.count_card(no_anc, setting_on(no_anc, "2025-02-11", real_kb), urgent=True)
    assert card is not None and card.indicator == "warning"
    assert card.summary.startswith("No ANC on file (latest WBC 2.9 x 10^9/L on 2025-02-10")
    assert "ANC: none that could be read" in (card.detail or "")


def test_dropped_card_names_each_count_with_its_date(clozapine: Differential) -> None:
    dropped = [
        cds.Dropped("Observation/o1", "anc", "2025-02-09", "anc: the value is a bound"),
        cds.Dropped("entry[4]", "neutrophil_pct", None, "no effective date"),
    ]
    card = cds.dropped_card(clozapine, dropped)
    assert card.summary.startswith("2 blood count results not used (ANC, neutrophil %)")
    assert "- ANC dated 2025-02-09 (Observation/o1): anc: the value is a bound" in (
        card.detail or ""
    )
    assert "- neutrophil % (no usable date) (entry\\[4\\]): no effective date" in (
        card.detail or ""
    )
    check_card(card.model_dump(exclude_none=True), label(clozapine))
