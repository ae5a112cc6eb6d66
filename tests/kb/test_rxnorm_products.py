# SPDX-License-Identifier: Apache-2.0
"""The RxNorm product table (rules/lexicon/rxnorm_products.yaml) is checked at load like the rest of
the knowledge base: every problem of a product file is reported with its file:line at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from engine.kb.load import lint, load_knowledge_base
from tests.conftest import ROOT

PRODUCTS = """title: products
version: 0.0.1
last_reviewed: 2026-12-06
sources:
  s1: {value_set: Example, oid: 1.2.3, expansion: test}
products:
"""


def errors(kb_dir: Path, body: str) -> list[str]:
    (kb_dir / "lexicon" / "rxnorm_products.yaml").write_text(PRODUCTS + body)
    return [str(p) for p in lint(kb_dir, today=dt.date(2026, 11, 21)) if p.severity == "error"]


def test_a_good_product_file_loads_and_resolves(kb_dir: Path) -> None:
    body = (
        '  - {rxnorm: "197535", tty: SCD, display: "clozapine 100 MG Oral Tablet",'
        " ingredients: [clozapine], seen: [s1]}\n"
    )
    assert errors(kb_dir, body) == []
    lexicon = load_knowledge_base(kb_dir).lexicon
    assert lexicon.resolve("rxnorm:197535").name == "clozapine"
    assert lexicon.products["197535"].seen == ("s1",)


def test_every_product_problem_is_reported(kb_dir: Path) -> None:
    body = (
        '  - {rxnorm: "197535", tty: SCD, display: "a", ingredients: [clozapine], seen: [x]}\n'
        '  - {rxnorm: "1", tty: XYZ, display: "b", ingredients: [clozapin], seen: [s1]}\n'
        '  - {rxnorm: "2626", tty: SCD, display: "c", ingredients: [clozapine], seen: [s1]}\n'
        "  - {rxnorm: 12, tty: SCD, display: d, ingredients: [clozapine], seen: [s1]}\n"
        '  - {rxnorm: "3", tty: SCD, display: "", ingredients: [], seen: [], colour: red}\n'
    )
    got = errors(kb_dir, body)
    file = "kb/lexicon/rxnorm_products.yaml"
    assert sorted(got) == sorted(
        [
            f"{file}:7: products[0]: unknown source 'x' (add it under sources:)",
            f"{file}:8: products[1].tty: expected one of SCD, SBD, GPCK, BPCK",
            f"{file}:8: products[1]: unknown drug 'clozapin' (not in the lexicon's drugs)",
            f"{file}:9: products[2]: RxNorm code 2626 is already a product or an ingredient id",
            f"{file}:10: products[3].rxnorm: expected a quoted RxNorm code (got 12)",
            f"{file}:11: products[4].colour: unknown key (expected one of rxnorm, tty, display, "
            "ingredients, seen, note)",
            f"{file}:11: products[4].display: expected the product's RxNorm name",
            f"{file}:11: products[4]: needs at least one ingredient and one source it was seen in",
        ]
    )


def test_the_bundled_table_names_its_sources_and_what_is_missing() -> None:
    """Every code records where it was seen; the file says plainly which drugs have no code."""
    text = (ROOT / "rules" / "lexicon" / "rxnorm_products.yaml").read_text(encoding="utf-8")
    for drug in ("imatinib", "dasatinib", "nilotinib", "methimazole", "propylthiouracil"):
        assert drug in text.split("products:")[0], drug
    lexicon = load_knowledge_base().lexicon
    assert len(lexicon.products) >= 150
    assert all(p.seen and p.tty in ("SCD", "GPCK") for p in lexicon.products.values())
