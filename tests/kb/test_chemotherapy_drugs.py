# SPDX-License-Identifier: Apache-2.0
"""Single-agent cytotoxic drugs are chemotherapy (rules/lexicon/drugs.yaml, added 2026-12-07).

A probe found that fever with an ANC of 0.8 ten days after pemetrexed (Alimta), azacitidine
(Vidaza), venetoclax (Venclexta), bleomycin, vinblastine, dacarbazine or ifosfamide raised only the
warning ``fever_with_moderate_neutropenia``: the names were unknown to the lexicon, so the
critical ``febrile_neutropenia`` alert saw no chemotherapy within 21 days. Each drug added is now
in the class ``chemotherapy``, written by its generic name, its brands or its RxNorm ingredient
id; the header of drugs.yaml names the source of each fact, and the three that are not classic
cytotoxics (venetoclax and two antibody-drug conjugates) cite their labels."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from engine import diagnose
from engine.kb.load import load_knowledge_base
from tests.conftest import ROOT

TODAY = dt.date(2025, 3, 1)
LEXICON = load_knowledge_base().lexicon
DRUGS_YAML = (ROOT / "rules" / "lexicon" / "drugs.yaml").read_text(encoding="utf-8")
#: the header's list of sources, one entry per added drug
PER_DRUG = DRUGS_YAML.split("Per drug (class source; brand source):")[1].split("# Not added")[0]

#: generic name -> RxNorm ingredient id (None: no id was seen in a source, so none is recorded)
ADDED: dict[str, str | None] = {
    "pemetrexed": "68446",
    "azacitidine": "1251",
    "decitabine": "15657",
    "venetoclax": None,
    "bleomycin": "1622",
    "vinblastine": "11198",
    "vinorelbine": "39541",
    "dacarbazine": "3098",
    "ifosfamide": "5657",
    "cladribine": "44157",
    "clofarabine": "44151",
    "topotecan": "57308",
    "cabazitaxel": "996051",
    "eribulin": None,
    "mitomycin": "632",
    "mitoxantrone": "7005",
    "daunorubicin": "3109",
    "idarubicin": "5650",
    "trabectedin": "1716278",
    "lurbinectedin": None,
    "procarbazine": "8702",
    "carmustine": "2105",
    "sacituzumab govitecan": None,
    "trastuzumab deruxtecan": None,
}

BRANDS = [
    ("Alimta", "pemetrexed"), ("Pemfexy", "pemetrexed"), ("Vidaza", "azacitidine"),
    ("Onureg", "azacitidine"), ("azacytidine", "azacitidine"), ("Dacogen", "decitabine"),
    ("Venclexta", "venetoclax"), ("Blenoxane", "bleomycin"), ("Velban", "vinblastine"),
    ("Velbe", "vinblastine"), ("Navelbine", "vinorelbine"), ("DTIC", "dacarbazine"),
    ("DTIC-Dome", "dacarbazine"), ("Ifex", "ifosfamide"), ("Holoxan", "ifosfamide"),
    ("Leustatin", "cladribine"), ("2-CdA", "cladribine"), ("Clolar", "clofarabine"),
    ("Evoltra", "clofarabine"), ("Hycamtin", "topotecan"), ("Jevtana", "cabazitaxel"),
    ("Halaven", "eribulin"), ("Mutamycin", "mitomycin"), ("mitomycin C", "mitomycin"),
    ("Mitomycin-C", "mitomycin"), ("Novantrone", "mitoxantrone"),
    ("mitozantrone", "mitoxantrone"), ("Cerubidine", "daunorubicin"),
    ("daunomycin", "daunorubicin"), ("Idamycin", "idarubicin"), ("Idamycin PFS", "idarubicin"),
    ("Yondelis", "trabectedin"), ("Zepzelca", "lurbinectedin"), ("Matulane", "procarbazine"),
    ("Natulan", "procarbazine"), ("BiCNU", "carmustine"), ("BCNU", "carmustine"),
    ("Trodelvy", "sacituzumab govitecan"), ("Enhertu", "trastuzumab deruxtecan"),
    ("fam-trastuzumab deruxtecan", "trastuzumab deruxtecan"),
    # as systems write them: salts, strengths and forms, the US suffixes of the two conjugates
    ("pemetrexed disodium 500 MG Injection", "pemetrexed"),
    ("vinorelbine tartrate", "vinorelbine"), ("Alimta 500mg", "pemetrexed"),
    ("Venclexta 100 mg tablet", "venetoclax"), ("eribulin mesylate", "eribulin"),
    ("sacituzumab govitecan-hziy", "sacituzumab govitecan"),
    ("fam-trastuzumab deruxtecan-nxki", "trastuzumab deruxtecan"),
]  # fmt: skip


def febrile_patient(drug: str, days_ago: int = 10) -> dict[str, Any]:
    """Fever today, ANC 0.8 (not below 0.5, so only recent chemotherapy makes it critical), one
    dose of the named drug ``days_ago`` days before."""
    today = dt.date(2025, 2, 10)
    dose = (today - dt.timedelta(days=days_ago)).isoformat()
    return {
        "as_of": today.isoformat(),
        "labs": [
            {"test": "wbc", "value": 1.6, "unit": "10^9/L", "date": today.isoformat()},
            {"test": "anc", "value": 0.8, "unit": "10^9/L", "date": today.isoformat()},
        ],
        "medications": [{"name": drug, "start": dose, "stop": dose}],
        "findings": [{"name": "fever", "since": today.isoformat()}],
    }


def alert_levels(drug: str, backend: str = "clips", days_ago: int = 10) -> dict[str, str]:
    d = diagnose(febrile_patient(drug, days_ago), backend=backend, today=TODAY)
    assert d.unknown_medications == [], drug
    return {a.id: a.level for a in d.alerts}


# --- the lexicon entries ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ADDED))
def test_each_added_drug_is_chemotherapy_with_its_id_and_a_recorded_source(name: str) -> None:
    drug = LEXICON.drugs[name]
    assert drug.classes == ("chemotherapy",)
    assert drug.rxnorm == ADDED[name]
    assert drug.brands, name
    assert name in PER_DRUG, name
    if ADDED[name] is not None:
        found = LEXICON.resolve(f"rxnorm:{ADDED[name]}")
        assert (found.known, found.name) == (True, name)


@pytest.mark.parametrize(("brand", "generic"), BRANDS)
def test_brand_names_resolve_to_their_drug(brand: str, generic: str) -> None:
    found = LEXICON.resolve(brand)
    assert (found.known, found.name, found.unmatched) == (True, generic, ()), found
    assert "chemotherapy" in found.agents


def test_every_brand_of_the_added_drugs_is_tested() -> None:
    tested = {b.lower() for b, _ in BRANDS}
    for name in ADDED:
        for brand in LEXICON.drugs[name].brands:
            assert brand.lower() in tested, (name, brand)


def test_the_drugs_that_are_no_classic_cytotoxics_cite_their_labels() -> None:
    kb = load_knowledge_base()
    for name, cite in [
        ("venetoclax", "venclexta-label"),
        ("sacituzumab govitecan", "trodelvy-label"),
        ("trastuzumab deruxtecan", "enhertu-label"),
    ]:
        drug = kb.lexicon.drugs[name]
        assert drug.cite == (cite,), name
        assert kb.citations[cite].kind == "drug_label"
        assert "neutropenia" in (kb.citations[cite].verified or "").lower()


@pytest.mark.parametrize(
    "name", ["trastuzumab", "Herceptin", "trastuzumab emtansine", "Kadcyla", "sacituzumab"]
)
def test_trastuzumab_itself_is_not_chemotherapy_nor_suspected_of_it(name: str) -> None:
    """Only the conjugate with a cytotoxic payload is listed: Herceptin stays an unknown drug,
    with no did-you-mean that would warn of a misspelt chemotherapy."""
    assert not LEXICON.resolve(name).known
    assert LEXICON.near_matches(name) == ()


# --- febrile neutropenia after a single agent ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(ADDED))
def test_febrile_neutropenia_within_21_days_of_the_drug_is_critical(name: str) -> None:
    levels = alert_levels(name)
    assert levels.get("febrile_neutropenia") == "critical", levels
    assert "fever_with_moderate_neutropenia" not in levels


@pytest.mark.parametrize("brand", ["Alimta", "Vidaza", "Venclexta", "Trodelvy", "Ifex"])
def test_febrile_neutropenia_after_a_brand_is_critical(brand: str) -> None:
    assert alert_levels(brand).get("febrile_neutropenia") == "critical"


@pytest.mark.parametrize("backend", ["experta", "clips"])
@pytest.mark.parametrize("name", ["pemetrexed", "Vidaza", "venetoclax"])
def test_both_backends_read_the_added_drugs(name: str, backend: str) -> None:
    assert alert_levels(name, backend).get("febrile_neutropenia") == "critical"


def test_a_dose_more_than_21_days_ago_is_the_warning_again() -> None:
    """The 21-day window of the alert is unchanged: a dose 30 days before a fever with an ANC of
    0.8 leaves the count's fall unknown, which is the warning's case."""
    levels = alert_levels("pemetrexed", days_ago=30)
    assert "febrile_neutropenia" not in levels
    assert levels.get("fever_with_moderate_neutropenia") == "warning"


def test_the_label_of_a_non_cytotoxic_member_joins_the_chemotherapy_evidence() -> None:
    patient = {
        "as_of": "2025-02-10",
        "labs": [
            {"test": "wbc", "value": 1.9, "unit": "10^9/L", "date": "2025-02-10"},
            {"test": "anc", "value": 0.7, "unit": "10^9/L", "date": "2025-02-10"},
        ],
        "medications": [{"name": "Venclexta", "start": "2024-12-01"}],
        "conditions": [{"name": "cll"}],
    }
    d = diagnose(patient, today=TODAY)
    cand = next(c for c in d.candidates if c.cause == "chemotherapy_radiation")
    item = next(
        e for e in cand.evidence_for if e.rule_id == "chemotherapy_radiation.on_chemotherapy"
    )
    assert "venclexta-label" in item.citations
    assert "venclexta-label" in {c.id for c in d.citations}


# --- regimens and products that name them ---------------------------------------------------------


@pytest.mark.parametrize(
    ("regimen", "added"),
    [
        ("ABVD", {"bleomycin", "vinblastine", "dacarbazine"}),
        ("BEP", {"bleomycin"}),
        ("BEACOPP", {"bleomycin", "procarbazine"}),
        ("MVAC", {"vinblastine"}),
        ("R-ICE", {"ifosfamide"}),
    ],
)
def test_the_regimens_now_give_the_added_drugs(regimen: str, added: set[str]) -> None:
    found = LEXICON.resolve(regimen)
    assert added <= set(found.components)
    entry = next(r for r in LEXICON.regimens.values() if r.name == regimen)
    assert added <= set(entry.drugs) and not added & set(entry.others)


def test_no_regimen_keeps_a_cytotoxic_drug_outside_the_lexicon() -> None:
    others = {o for r in LEXICON.regimens.values() for o in r.others}
    # steroids, leucovorin, and trastuzumab (TCH's HER2 antibody: not myelosuppressive)
    allowed = {"prednisone", "prednisolone", "leucovorin", "dexamethasone", "trastuzumab"}
    assert others <= allowed, others


def test_the_product_with_daunorubicin_gives_both_of_its_drugs() -> None:
    found = LEXICON.resolve("rxnorm:1942743")
    assert set(found.components) == {"cytarabine", "daunorubicin"}
