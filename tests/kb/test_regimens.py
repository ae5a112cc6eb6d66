# SPDX-License-Identifier: Apache-2.0
"""Chemotherapy named by its regimen (rules/lexicon/regimens.yaml) is chemotherapy.

Oncology medication lists write ``R-CHOP``, ``FOLFOX`` or ``Chemo``, not the drugs. Unknown, such
a name dropped the chemotherapy: fever with an ANC of 0.8 ten days after R-CHOP got the warning
``fever_with_moderate_neutropenia`` instead of the critical ``febrile_neutropenia`` (probe 5,
finding 4). The regimen table is checked at load like the product table: every regimen's drugs,
sources and names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from engine import diagnose
from engine.kb.load import lint, load_knowledge_base
from tests.conftest import ROOT

TODAY = dt.date(2025, 3, 1)


def febrile_patient(drug: str) -> dict[str, Any]:
    """Fever today, ANC 0.8, one dose of the named treatment ten days ago."""
    return {
        "as_of": "2025-02-10",
        "labs": [
            {"test": "wbc", "value": 1.6, "unit": "10^9/L", "date": "2025-02-10"},
            {"test": "anc", "value": 0.8, "unit": "10^9/L", "date": "2025-02-10"},
        ],
        "medications": [{"name": drug, "start": "2025-01-31", "stop": "2025-01-31"}],
        "findings": [{"name": "fever", "since": "2025-02-10"}],
    }


@pytest.mark.parametrize(
    "name",
    ["R-CHOP", "CHOP", "FOLFOX", "FOLFIRINOX", "AC-T", "ABVD", "FEC", "BEP", "Chemo",
     "chemo (FOLFOX)", "TC (docetaxel/cyclophosphamide)", "rituximab-CHOP", "R-CHOP-14"],
)  # fmt: skip
def test_febrile_neutropenia_after_a_regimen_is_critical(name: str) -> None:
    d = diagnose(febrile_patient(name), backend="clips", today=TODAY)
    assert d.unknown_medications == []
    levels = {a.id: a.level for a in d.alerts}
    assert levels.get("febrile_neutropenia") == "critical", levels


@pytest.mark.parametrize("backend", ["experta", "clips"])
def test_both_backends_read_a_regimen(backend: str) -> None:
    d = diagnose(febrile_patient("R-CHOP 21"), backend=backend, today=TODAY)
    assert "febrile_neutropenia" in {a.id for a in d.alerts}


def test_a_misspelt_regimen_is_never_silent() -> None:
    d = diagnose(febrile_patient("mFOLFOX6"), backend="clips", today=TODAY)
    assert d.unknown_medications == ["mFOLFOX6"]
    assert "names.suspected_chemotherapy" in {a.rule_id for a in d.alerts}


# --- the bundled table ---------------------------------------------------------------------------


def test_every_regimen_gives_chemotherapy_and_names_verified_sources() -> None:
    lexicon = load_knowledge_base().lexicon
    text = (ROOT / "rules" / "lexicon" / "regimens.yaml").read_text(encoding="utf-8")
    regimens = set(lexicon.regimens.values())
    assert {"R-CHOP", "CHOP", "FOLFOX", "FOLFIRI", "AC-T", "ABVD", "BEP"} <= {
        r.name for r in regimens
    }
    for regimen in regimens:
        assert regimen.seen, regimen.name
        classes = {c for d in regimen.drugs for c in lexicon.drugs[d].classes}
        assert "chemotherapy" in classes, regimen.name
        for source in regimen.seen:
            assert f"  {source}:\n" in text, source
    assert "https://www.cancer.gov/about-cancer/treatment/drugs/r-chop" in text
    for left_out in ("AC ", "TAC ", "ICE ", "VAC "):  # the file says why they are not there
        assert left_out in text.split("title:")[0], left_out


# --- the checks at load --------------------------------------------------------------------------

REGIMENS = """title: regimens
version: 0.0.1
last_reviewed: 2026-12-07
sources:
  s1: {title: One, url: "https://example.org/one", verified: "A+B contains imatinib."}
  s2: {title: Two, url: "https://example.org/two", verified: "never used"}
regimens:
"""


def errors(kb_dir: Path, body: str, header: str = REGIMENS) -> list[str]:
    (kb_dir / "lexicon" / "regimens.yaml").write_text(header + body)
    return [str(p) for p in lint(kb_dir, today=dt.date(2026, 12, 7)) if p.severity == "error"]


def test_a_good_regimen_file_loads_and_resolves(kb_dir: Path) -> None:
    header = REGIMENS.replace('  s2: {title: Two, url: "https://example.org/two", '
                              'verified: "never used"}\n', "")  # fmt: skip
    body = "  - {name: IM-FX, aliases: [IMFX], drugs: [imatinib, fluvoxamine], seen: [s1]}\n"
    assert errors(kb_dir, body, header) == []
    lexicon = load_knowledge_base(kb_dir).lexicon
    for written in ("IM-FX", "im fx", "IMFX", "IM-FX-14"):
        assert lexicon.resolve(written).components == ("fluvoxamine", "imatinib"), written


def test_every_regimen_problem_is_reported(kb_dir: Path) -> None:
    body = (
        "  - {name: AB, drugs: [imatinib], not_in_lexicon: [prednisone], seen: [s1]}\n"
        "  - {name: AB, drugs: [imatinib], seen: [s1]}\n"
        "  - {name: Gleevec, drugs: [imatinib], seen: [s1]}\n"
        "  - {name: CD, drugs: [imatinb], seen: [s9]}\n"
        "  - {name: EF, drugs: [imatinib], not_in_lexicon: [clozapine], seen: [s1]}\n"
        "  - {name: GH, drugs: [], seen: [], colour: red}\n"
    )
    got = errors(kb_dir, body)
    file = "kb/lexicon/regimens.yaml"
    assert sorted(got) == sorted(
        [
            f"{file}:6: sources.s2: source backs no regimen",
            f"{file}:9: regimens[1]: name 'AB' is already the regimen 'AB'",
            f"{file}:10: regimens[2]: name 'Gleevec' is already the drug 'imatinib'",
            f"{file}:11: regimens[3]: unknown drug 'imatinb' (not in the lexicon's drugs)",
            f"{file}:11: regimens[3]: unknown source 's9' (add it under sources:)",
            f"{file}:12: regimens[4]: 'clozapine' is a lexicon drug: list it under drugs",
            f"{file}:13: regimens[5].colour: unknown key (expected one of name, aliases, drugs, "
            "not_in_lexicon, seen, note)",
            f"{file}:13: regimens[5]: needs at least one lexicon drug and one source it was seen "
            "in",
        ]
    )


def test_a_class_alias_may_not_be_a_drug_name(kb_dir: Path) -> None:
    drugs = kb_dir / "lexicon" / "drugs.yaml"
    text = drugs.read_text().replace(
        "  tki: {label: tyrosine kinase inhibitor}",
        "  tki: {label: tyrosine kinase inhibitor, aliases: [Clozaril, tk inhibitor]}",
    )
    drugs.write_text(text)
    got = [str(p) for p in lint(kb_dir, today=dt.date(2026, 12, 7)) if p.severity == "error"]
    assert got == [
        "kb/lexicon/drugs.yaml:3: classes.tki.aliases: 'clozaril' is already the drug 'clozapine'"
    ]
    drugs.write_text(text.replace("Clozaril, ", ""))
    lexicon = load_knowledge_base(kb_dir).lexicon
    assert lexicon.resolve("TK inhibitor").classes == ("tki",)
