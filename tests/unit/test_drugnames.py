# SPDX-License-Identifier: Apache-2.0
"""Drug names as real systems send them (engine/kb/drugnames.py, engine/kb/lexicon.py).

The bundled lexicon and product table are used as they ship: a name that a pharmacy feed or a
FHIR server writes for an alert-driving drug (clozapine, the BCR-ABL TKIs, the thiopurines, the
antithyroid drugs, cytotoxic chemotherapy) must reach that drug, or at least name it as a
did-you-mean, never vanish into "not in the lexicon".
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.api import diagnose
from engine.kb import drugnames
from engine.kb.lexicon import Lexicon
from engine.kb.load import load_knowledge_base
from engine.kb.schema import Atom, Condition, Not

LEXICON: Lexicon = load_knowledge_base().lexicon

#: The classes whose drugs drive an alert or a dedicated cause; clozapine has a cause of its own.
ALERT_CLASSES = {
    "tki", "thiopurine", "antithyroid", "chemotherapy", "anti_cd20", "agranulocytosis_warning_drug",
    "car_t",
}  # fmt: skip
ALERT_DRUGS = sorted(
    d.name
    for d in LEXICON.drugs.values()
    if d.name in ("clozapine", "methotrexate", "valganciclovir", "ganciclovir", "deferiprone")
    or ALERT_CLASSES & set(d.classes)
)
#: (drug, a name it is written by): the generic name and every brand of six letters or more.
ALERT_NAMES = sorted(
    (drug, name)
    for drug in ALERT_DRUGS
    for name in (drug, *LEXICON.drugs[drug].brands)
    if name == drug or len(name) >= 6
)
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202c\u2066\u2069"
LOOK_ALIKES = {latin: other for other, latin in drugnames.CONFUSABLES.items()}
PRODUCT_WORDS = [
    " 100mg", " 100 MG", " 0.5 g", " 12.5 MG/5 ML", " 100 MG Oral Tablet", " tab", " tabs",
    " ER", " 24 HR Extended Release Oral Capsule", " injection", " 50 mg/mL Injectable Solution",
    " 2 x daily", " (as hydrochloride)", " hydrochloride", " sodium", " mesylate 400 mg",
]  # fmt: skip


def resolves_to(name: str, drug: str) -> bool:
    found = LEXICON.resolve(name)
    return found.known and drug in found.agents


def named(name: str, drug: str) -> bool:
    """The lexicon resolves the name to the drug, or names the drug among its did-you-means
    (a typo can be equally close to two drugs: ``Aleran`` to Alkeran and to Alexan)."""
    return resolves_to(name, drug) or drug in [d.name for d in LEXICON.near_matches(name)]


def test_the_alert_drugs_are_there() -> None:
    """The property tests below cover every drug the brief names, not a shrunken list."""
    expected = {
        "clozapine", "imatinib", "dasatinib", "nilotinib", "azathioprine", "mercaptopurine",
        "methimazole", "propylthiouracil", "cyclophosphamide",
    }  # fmt: skip
    assert expected <= set(ALERT_DRUGS)
    alert_agents = {
        a.name
        for r in load_knowledge_base().rules
        if "/alerts/" in r.file
        for a in _atoms(r.when)
        if a.kind == "medication"
    }
    covered = set(ALERT_DRUGS) | ALERT_CLASSES
    # partners of clozapine and of the thiopurines: they raise no alert alone
    partners = {"cyp1a2_inhibitor", "cyp2d6_cyp3a4_inhibitor", "xanthine_oxidase_inhibitor",
                "aminosalicylate"}  # fmt: skip
    # of methotrexate: its marrow toxicity with co-trimoxazole (tests/kb/test_probe17_clinical.py)
    partners.add("trimethoprim-sulfamethoxazole")
    # every unread name has this class; its alert is tested in tests/kb/test_probe16_clinical.py
    partners.update({"unlisted_drug", "unread_name"})
    # counts taken on a growth factor: its alerts are tested in tests/kb/test_probe16_clinical.py
    partners.add("growth_factor")
    assert alert_agents - partners <= covered


def _atoms(condition: Condition) -> list[Atom]:
    if isinstance(condition, Atom):
        return [condition]
    if isinstance(condition, Not):
        return _atoms(condition.child)
    return [a for child in condition.children for a in _atoms(child)]


# --- normalisation: these must resolve, not merely be suggested -----------------------------


@pytest.mark.parametrize(
    ("given_name", "drug"),
    [
        ("clozapine", "clozapine"),
        ("Clozaril 100mg", "clozapine"),
        ("clozapine100mg bid", "clozapine"),
        ("clo\u200bzapine", "clozapine"),
        ("\ufeffclozapine\u200e", "clozapine"),
        ("ｃｌｏｚａｐｉｎｅ　１００ｍｇ", "clozapine"),
        ("CLOZAPINE 100 MG Oral Tablet", "clozapine"),
        ("clozapine 100 MG Oral Tablet [Clozaril]", "clozapine"),
        ("clozapine 12.5 MG Disintegrating Oral Tablet", "clozapine"),
        ("imatinib mesylate 400 mg tab", "imatinib"),
        ("Imatinib (Gleevec) 400 MG Oral Tablet", "imatinib"),
        ("azathioprine sodium 100 MG Injection", "azathioprine"),
        ("methimazole 10\u00a0mg po daily", "methimazole"),
        ("vancomycin 1 g IV q12h", "vancomycin"),
        ("clozapine 100 mg PO qam", "clozapine"),
        ("PTU 50 mg", "propylthiouracil"),
        ("doxorubicin hydrochloride liposome 2 MG/ML", "doxorubicin"),
        ("{24 (Methotrexate 2.5 MG Oral Tablet) } Pack", "methotrexate"),
        ("rituximab-abbs", "rituximab"),
        ("Zarzio 30 MU", "filgrastim"),  # session 21 (probe 18): EU brands, million units
        ("Nivestim 48 MU/0.5 mL", "filgrastim"),
        ("Neupogen 30 million units", "filgrastim"),
        ("Puri-Nethol 50 mg", "mercaptopurine"),
        ("Septrin paediatric suspension", "trimethoprim-sulfamethoxazole"),
        ("Bactrim pediatric", "trimethoprim-sulfamethoxazole"),
        ("ciclosporin 100 mg", "cyclosporine"),
        ("divalproex", "divalproex sodium"),
        ("Depakote ER 500 mg", "divalproex sodium"),
        ("valproate sodium", "valproic acid"),
        ("rxnorm:2626", "clozapine"),
        ("RxNorm: 2626", "clozapine"),
        ("rxnorm:197535", "clozapine"),
        ("5-FU", "fluorouracil"),
        ("CLOZAPINE-25MG", "clozapine"),
        ("clozapine-100", "clozapine"),
        ("Clozaril-100", "clozapine"),
        ("Clozaril®", "clozapine"),
        ("Gleevec™ 400 mg", "imatinib"),
        ("METHIMAZOLE-5MG", "methimazole"),
        ("azathioprine-50mg", "azathioprine"),
        ("6-mercaptopurine", "mercaptopurine"),
        ("6-thioguanine", "thioguanine"),
        ("clozapine-ODT", "clozapine"),
        ("clozapine:25mg", "clozapine"),
        ("5-fluorouracil", "fluorouracil"),
    ],
)
def test_names_as_systems_write_them_resolve(given_name: str, drug: str) -> None:
    assert resolves_to(given_name, drug), LEXICON.resolve(given_name)


@pytest.mark.parametrize(
    "given_name",
    [
        "sulfamethoxazole/trimethoprim",
        "Sulfamethoxazole / Trimethoprim DS",
        "trimethoprim and sulfamethoxazole",
        "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet",
        "SMX-TMP",
        "sulfamethoxazole + trimethoprim 400/80 mg",
        "rxnorm:198335",
    ],
)
def test_a_combination_with_its_own_entry_resolves_to_it(given_name: str) -> None:
    found = LEXICON.resolve(given_name)
    assert (found.known, found.name, found.components) == (
        True, "trimethoprim-sulfamethoxazole", ()
    )  # fmt: skip


def test_a_combination_without_an_entry_resolves_to_all_its_known_parts() -> None:
    found = LEXICON.resolve("cyclophosphamide 500 MG + doxorubicin 50 MG")
    assert found.name == "cyclophosphamide + doxorubicin"
    assert found.components == ("cyclophosphamide", "doxorubicin")
    assert {"cyclophosphamide", "doxorubicin", "chemotherapy"} <= set(found.agents)
    partly = LEXICON.resolve("fluorouracil / leucovorin")
    assert (partly.name, partly.unmatched) == ("fluorouracil", ("leucovorin",))
    both = LEXICON.resolve("clozapine-fluvoxamine")
    assert both.components == ("clozapine", "fluvoxamine")


@pytest.mark.parametrize(
    "given_name",
    ["aspirin", "clozapin", "clozapine sprinkle", "abc-def", "x / y", "ima-tinib", "5-XY",
     "interleukin-2",
     "rxnorm:99999999", "sodium", "100 mg tablet", "", "\u200b"],
)  # fmt: skip
def test_names_that_still_match_nothing_stay_unknown(given_name: str) -> None:
    """Nothing is guessed: a typo, an unknown word or a lone salt never becomes a drug."""
    found = LEXICON.resolve(given_name)
    assert not found.known
    assert found.name == drugnames.clean(given_name)


def test_salt_words_never_join_two_drugs_and_class_names_stay_classes() -> None:
    index = drugnames.NameIndex({"abcdef sodium": "one", "abcdef potassium": "two"}, {})
    assert index.match("abcdef") is None  # two drugs share it without their salts
    assert index.match("abcdef sodium 5 mg") == drugnames.Match(("one",), "read as 'abcdef sodium'")
    found = LEXICON.resolve("Chemotherapy")
    assert (found.name, found.classes, found.known) == ("chemotherapy", ("chemotherapy",), True)
    assert drugnames.clean("sulfamethoxazole\u2044trimethoprim") == "sulfamethoxazole/trimethoprim"


def test_how_a_name_was_read_is_said() -> None:
    assert LEXICON.resolve("clozapine").how == ""
    assert LEXICON.resolve("Clozaril 100mg").how == "read as 'clozaril'"
    assert LEXICON.resolve("rxnorm:197535").how == (
        'RxNorm product 197535 "clozapine 100 MG Oral Tablet"'
    )


def test_the_cleaning_step_removes_what_cannot_be_seen() -> None:
    assert drugnames.clean("  Ｃｌｏ\u200bza\u00adpine\u2028 \t100 MG ") == "clozapine 100 mg"
    assert drugnames.clean("co\u2013trimoxazole") == "co-trimoxazole"
    assert drugnames.without_strengths("a 12.5 mg/5 ml b 24 hr c 10% d 0,5 g") == "a b c d"
    assert drugnames.without_strengths("5-fu rxnorm:2626 b12") == "5-fu rxnorm:2626 b12"
    assert drugnames.bracketed("{24 (mtx 2.5 mg) } pack") == ("pack", ("mtx 2.5 mg", "24"))


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("clozapine", "clozapine", 0), ("clozapin", "clozapine", 1), ("lcozapine", "clozapine", 1),
     ("clozaprine", "clozapine", 1), ("clzaapine", "clozapine", 2), ("abc", "xyzabc", 3)],
)  # fmt: skip
def test_edit_distance_counts_a_transposition_once(a: str, b: str, distance: int) -> None:
    assert drugnames.edit_distance(a, b, 2) == min(distance, 3)


# --- near matches: a did-you-mean, never a match --------------------------------------------


@pytest.mark.parametrize(
    ("given_name", "drug"),
    [
        ("clozapin", "clozapine"),
        ("Clozapine 100mg", None),  # known: no did-you-mean
        ("cl\u043ezapine", "clozapine"),  # a Cyrillic o
        ("\u0421lozaril", "clozapine"),  # a Cyrillic capital Es
        ("imatinb 400 mg", "imatinib"),
        ("methimazol", "methimazole"),
        ("azathioprin", "azathioprine"),
        ("clozapine sprinkle", "clozapine"),
        ("aspirin", None),
        ("PTX", None),  # short names need an exact match
        ("chemotherapy", None),  # a class name is known
    ],
)
def test_near_match_names_the_drug_a_typo_meant(given_name: str, drug: str | None) -> None:
    found = LEXICON.near_match(given_name)
    assert (found.name if found else None) == drug
    if drug is not None:
        assert not LEXICON.resolve(given_name).known


def test_near_match_declines_when_two_drugs_are_equally_close() -> None:
    index = drugnames.NameIndex({"abcdefgh": "one", "abcdefgk": "two"}, {})
    assert index.near("abcdefgx") is None
    assert index.near_all("abcdefgx") == ("one", "two")
    assert index.near("abcdefhg") == "one"
    assert [d.name for d in LEXICON.near_matches("Aleran")] == ["cytarabine", "melphalan"]
    assert LEXICON.near_match("Aleran") is None


# --- the property: every alert-driving drug, however it is written --------------------------


@st.composite
def same_name(draw: st.DrawFn, name: str) -> str:
    """The same name as another system writes it: case, width, invisible characters, dose."""
    chars = []
    for char in name:
        if char.isascii() and char.isalpha():
            char = draw(st.sampled_from([char.lower(), char.upper(), chr(ord(char) + 0xFEE0)]))
        chars.append(char)
        if draw(st.integers(0, 5)) == 0:
            chars.append(draw(st.sampled_from(INVISIBLE)))
    return "".join(chars) + draw(st.sampled_from(["", *PRODUCT_WORDS]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALERT_NAMES).flatmap(lambda dn: st.tuples(st.just(dn[0]), same_name(dn[1]))))
def test_every_alert_drug_resolves_however_it_is_typeset(case: tuple[str, str]) -> None:
    drug, name = case
    assert resolves_to(name, drug), (name, LEXICON.resolve(name))


@st.composite
def one_edit(draw: st.DrawFn, name: str) -> str:
    """A typo: one letter inserted, deleted, replaced, or two neighbours swapped."""
    i = draw(st.integers(0, len(name) - 1))
    letter = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz -"))
    kind = draw(st.sampled_from(["insert", "delete", "replace", "swap"]))
    if kind == "insert":
        return name[:i] + letter + name[i:]
    if kind == "delete":
        return name[:i] + name[i + 1 :]
    if kind == "replace":
        return name[:i] + letter + name[i + 1 :]
    j = min(i + 1, len(name) - 1)
    return name[:i] + name[j] + name[i] + name[j + 1 :] if j > i else name


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ALERT_NAMES).flatmap(lambda dn: st.tuples(st.just(dn[0]), one_edit(dn[1]))))
def test_every_alert_drug_one_typo_away_is_resolved_or_named(case: tuple[str, str]) -> None:
    drug, name = case
    assert named(name, drug), (name, LEXICON.resolve(name), LEXICON.near_matches(name))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(ALERT_NAMES).flatmap(
        lambda dn: st.tuples(st.just(dn[0]), st.just(dn[1]), st.data())
    )
)
def test_every_alert_drug_in_look_alike_letters_is_named(
    case: tuple[str, str, st.DataObject],
) -> None:
    drug, name, data = case
    swappable = [i for i, c in enumerate(name.lower()) if c in LOOK_ALIKES]
    if not swappable:
        return
    chosen = data.draw(st.sets(st.sampled_from(swappable), min_size=1))
    disguised = "".join(LOOK_ALIKES[c] if i in chosen else c for i, c in enumerate(name.lower()))
    assert disguised != name.lower()
    assert named(disguised, drug), (disguised, LEXICON.near_match(disguised))


def test_every_product_code_and_its_rxnorm_name_give_the_same_drugs() -> None:
    """The product table and the name reader agree: each code, and its RxNorm name read as text,
    resolve to the table's ingredients; every alert-driving drug with a product is covered."""
    for code, product in LEXICON.products.items():
        for name in (f"rxnorm:{code}", product.display):
            found = LEXICON.resolve(name)
            assert found.known, name
            assert set(found.components or (found.name,)) == set(product.ingredients), name
    with_products = {g for p in LEXICON.products.values() for g in p.ingredients}
    assert "clozapine" in with_products and "azathioprine" in with_products
    assert "rxnorm:197535" in [f"rxnorm:{c}" for c in LEXICON.products]


# --- dosing words, schedules and form words of other languages (probe 5, findings 5 and 6) ----


@pytest.mark.parametrize(
    ("given_name", "drug"),
    [
        ("carbimazole 5 mg OD", "carbimazole"),
        ("Clozapine 100mg nocte", "clozapine"),
        ("clozapine 12.5 mg bd", "clozapine"),
        ("clozapine 25 mg tds", "clozapine"),
        ("clozapine 50 mg mane", "clozapine"),
        ("Clozapine 25 mg 0-0-1", "clozapine"),
        ("thiamazole 10 mg 1-0-0", "methimazole"),
        ("clozapine 1/2-0-1/2", "clozapine"),
        ("clozapine \u00bd-0-\u00bd", "clozapine"),
        ("clozapine 2x25mg", "clozapine"),
        ("clozapine orodispersible", "clozapine"),
        ("Carbimazole Tablets BP 5mg", "carbimazole"),
        ("Leponex 25 mg Tabletten", "clozapine"),
        ("Clozapine 25 mg Filmtabletten", "clozapine"),
        ("clozapine 25 mg comprim\u00e9s", "clozapine"),
        ("Leponex 100 mg compresse", "clozapine"),
        ("clozapine 25 mg tabletas", "clozapine"),
        ("Bactrim forte", "trimethoprim-sulfamethoxazole"),
        ("Thyrozol 10 mg Filmtabletten", "methimazole"),
        ("Strumazol 10 mg", "methimazole"),
        ("Favistan", "methimazole"),
        ("nab-paclitaxel", "paclitaxel"),
    ],
)
def test_dosing_and_foreign_form_words_are_stripped_like_strengths(
    given_name: str, drug: str
) -> None:
    assert resolves_to(given_name, drug), LEXICON.resolve(given_name)


def test_schedules_are_removed_with_strengths_and_nothing_else() -> None:
    assert drugnames.without_strengths("clozapine 25 mg 0-0-1") == "clozapine"
    assert drugnames.without_strengths("clozapine 1-0-1-0") == "clozapine"
    assert drugnames.without_strengths("r-chop c2d1") == "r-chop"
    assert drugnames.without_strengths("6-mercaptopurine 5-fu 2x") == "6-mercaptopurine 5-fu"


# --- a manufacturer after a hyphen, and two names in one field ---------------------------------


@pytest.mark.parametrize(
    ("given_name", "drug", "maker"),
    [
        ("Clozapine-ratiopharm 100 mg", "clozapine", "ratiopharm"),
        ("carbimazole-Hexal 5 mg", "carbimazole", "hexal"),
        ("methimazole-Henning", "methimazole", "henning"),
    ],
)
def test_an_exact_generic_with_a_hyphenated_maker_is_that_generic(
    given_name: str, drug: str, maker: str
) -> None:
    found = LEXICON.resolve(given_name)
    assert (found.known, found.name, found.unmatched) == (True, drug, (maker,))
    assert f"'{maker}' after the hyphen" in found.how


@pytest.mark.parametrize(
    ("given_name", "suspected"),
    [
        ("Clozapin-ratiopharm 100 mg", ["clozapine"]),  # not the exact generic: not read
        ("Clozaril-ratiopharm", ["clozapine"]),  # a brand, not the generic: not read
        ("clozapine-fluvoxamin", ["clozapine", "fluvoxamine"]),  # a typo of a second drug
        ("Clozapine Teva", ["clozapine"]),  # after a space: never a manufacturer
        ("Clozapine Mylan 25mg", ["clozapine"]),
        ("Thiamazol-Henning", ["methimazole"]),
        ("clozapine#25", ["clozapine"]),
        ("6-mercaptopurine-xyz", ["mercaptopurine"]),  # a hyphenated name inside a word
    ],
)
def test_a_name_that_still_fails_but_holds_a_known_name_is_suspected(
    given_name: str, suspected: list[str]
) -> None:
    assert not LEXICON.resolve(given_name).known
    assert [d.name for d in LEXICON.near_matches(given_name)] == suspected


@pytest.mark.parametrize(
    "given_name",
    ["dexamethasone-Mylan", "simvastatin-Hexal", "Metoprolol succinat-1A Pharma",
     "aspirin-ratiopharm", "paracetamol 500mg; ibuprofen", "L-Thyroxin Henning"],
)  # fmt: skip
def test_manufacturer_words_alone_suggest_no_drug(given_name: str) -> None:
    """A manufacturer's name is not a typo of a drug: only a piece one letter from a lexicon name
    of six letters or more is suspected (``Mylan`` is two letters from ``Myleran``)."""
    assert not LEXICON.resolve(given_name).known
    assert LEXICON.near_matches(given_name) == ()


def test_a_semicolon_joins_two_drugs_like_a_comma() -> None:
    found = LEXICON.resolve("clozapine; fluvoxamine")
    assert found.components == ("clozapine", "fluvoxamine")
    assert {"antipsychotic", "cyp1a2_inhibitor"} <= set(found.agents)
    assert LEXICON.resolve("clozapine;fluvoxamine 50 mg").components == found.components
    for cell in ("clozapine;", " ;clozapine 25 mg, "):  # a separator left at either end
        assert LEXICON.resolve(cell).name == "clozapine"


# --- chemotherapy regimens and the class word "chemo" (probe 5, finding 4) -----------------------

R_CHOP = {"rituximab", "cyclophosphamide", "doxorubicin", "vincristine"}


@pytest.mark.parametrize(
    ("given_name", "drugs"),
    [
        ("R-CHOP", R_CHOP),
        ("r chop", R_CHOP),
        ("R-CHOP-21", R_CHOP),
        ("R-CHOP 14 C2D1", R_CHOP),
        ("rituximab-CHOP", R_CHOP),  # a combination: not the biosimilar "rituximab-chop"
        ("rituximab + CHOP", R_CHOP),
        ("CHOP", {"cyclophosphamide", "doxorubicin", "vincristine"}),
        ("FOLFOX", {"fluorouracil", "oxaliplatin"}),
        ("FOLFOX6", {"fluorouracil", "oxaliplatin"}),
        ("FOLFOX cycle 2", {"fluorouracil", "oxaliplatin"}),
        ("FOLFIRINOX", {"fluorouracil", "irinotecan", "oxaliplatin"}),
        ("AC-T", {"doxorubicin", "cyclophosphamide", "paclitaxel"}),
        ("ABVD", {"doxorubicin", "bleomycin", "vinblastine", "dacarbazine"}),
        ("FEC 100", {"fluorouracil", "epirubicin", "cyclophosphamide"}),
        ("BEP", {"bleomycin", "etoposide", "cisplatin"}),
        ("XELOX", {"capecitabine", "oxaliplatin"}),
        ("chemo (FOLFOX)", {"fluorouracil", "oxaliplatin"}),
        ("TC (docetaxel/cyclophosphamide)", {"docetaxel", "cyclophosphamide"}),
        ("R-CHOP + pegfilgrastim", R_CHOP | {"pegfilgrastim"}),
    ],
)
def test_a_regimen_is_its_lexicon_drugs_together(given_name: str, drugs: set[str]) -> None:
    found = LEXICON.resolve(given_name)
    assert found.known, found
    assert set(found.components or (found.name,)) == drugs
    assert "chemotherapy" in found.agents


def test_how_a_regimen_was_read_names_its_other_components() -> None:
    assert LEXICON.resolve("R-CHOP").how == (
        "regimen R-CHOP (rituximab, cyclophosphamide, doxorubicin, vincristine; "
        "prednisone not in the lexicon)"
    )
    assert LEXICON.resolve("rituximab-CHOP").how == "combination"


def test_every_bundled_regimen_resolves_by_each_of_its_names() -> None:
    assert len(LEXICON.regimens) >= 20
    for regimen in set(LEXICON.regimens.values()):
        for written in (regimen.name, *regimen.aliases):
            for variant in (written, written.lower(), written.replace("-", " "), f"{written} 14"):
                found = LEXICON.resolve(variant)
                assert set(found.components or (found.name,)) == set(regimen.drugs), variant
                assert "chemotherapy" in found.agents, variant


@pytest.mark.parametrize(
    "given_name", ["Chemo", "chemo", "CHEMO IV", "Chemotherapy 100 mg", "chemo cycle 3"]
)
def test_the_class_word_chemo_is_the_chemotherapy_class(given_name: str) -> None:
    found = LEXICON.resolve(given_name)
    assert (found.known, found.name, found.classes) == (True, "chemotherapy", ("chemotherapy",))
    assert LEXICON.near_matches(given_name) == ()


@pytest.mark.parametrize("given_name", ["AC", "TAC", "ICE", "VAC", "VIP", "TC"])
def test_ambiguous_short_acronyms_are_left_unknown(given_name: str) -> None:
    """Two or three letters that mean something else in a medication list (activated charcoal,
    tacrolimus, a wound vacuum dressing) are not read as chemotherapy."""
    assert not LEXICON.resolve(given_name).known


@pytest.mark.parametrize(
    ("given_name", "drug"),
    [("mFOLFOX6", "oxaliplatin"), ("rchop", "rituximab"), ("FOLFIRNOX", "irinotecan")],
)
def test_a_near_regimen_name_suggests_its_drugs(given_name: str, drug: str) -> None:
    assert not LEXICON.resolve(given_name).known
    assert drug in [d.name for d in LEXICON.near_matches(given_name)]


@pytest.mark.parametrize(
    "name", ["Lantus", "Clexane", "Keppra", "Prolia", "VAC", "COP", "ACT", "Eliquis", "Lasix"]
)
def test_a_common_drug_the_lexicon_does_not_list_is_no_typo_of_one_it_does(name: str) -> None:
    """The sixth probe: two edits from a six-letter brand took Keppra for Septra, Lantus for
    Lanvis and Prolia for Droxia, and a regimen acronym one letter from a wound VAC for MVAC:
    every order of them raised a suspected-drug-name warning."""
    assert LEXICON.near_matches(name) == ()


@pytest.mark.parametrize(
    ("name", "drug"),
    [("clozapinne", "clozapine"), ("metamizolum", "metamizole"), ("Tapazol", "methimazole"),
     ("mFOLFOX6", "oxaliplatin"), ("imatinb", "imatinib")],
)  # fmt: skip
def test_a_real_typo_is_still_suspected(name: str, drug: str) -> None:
    assert drug in [d.name for d in LEXICON.near_matches(name)]


@pytest.mark.parametrize(
    "given_name", ["Apo-Clozapine", "Teva-Clozapine", "Mylan-Clozapine 100 mg", "Clozapine-1A"]
)
def test_a_manufacturer_before_the_generic_or_with_digits_after_it_is_read(
    given_name: str,
) -> None:
    """The sixth probe: the Canadian manufacturer-first names and ``Clozapine-1A`` were not
    read, and the critical clozapine alerts became a suspected-name warning."""
    drug = LEXICON.resolve(given_name)
    assert drug.known and drug.name == "clozapine" and "manufacturer" in drug.how


@pytest.mark.parametrize("given_name", ["Apo-Clozapin", "co-clozapine", "fluvoxamine-clozapine"])
def test_a_manufacturer_prefix_needs_an_exact_generic_and_an_unknown_word(given_name: str) -> None:
    drug = LEXICON.resolve(given_name)
    assert not drug.known or drug.how != "" and "manufacturer" not in drug.how


# --- status words: a held, stopped or completed drug is never a current course (probe 7, D10) --


def diagnosis(name: str, anc: float) -> Any:
    """A clozapine-era patient whose medication list holds only ``name`` (started 2026-06-01)."""
    return diagnose(
        {
            "schema_version": 1, "as_of": "2026-11-20", "age": 40, "sex": "male",
            "labs": [
                {"test": "wbc", "value": 3.9, "unit": "10^9/L", "date": "2026-11-19"},
                {"test": "anc", "value": anc, "unit": "10^9/L", "date": "2026-11-19"},
            ],
            "medications": [{"name": name, "start": "2026-06-01"}],
        }
    )  # fmt: skip


@pytest.mark.parametrize(
    ("given_name", "drug", "words"),
    [
        ("clozapine-held", "clozapine", "held"),
        ("Clozapine-stop", "clozapine", "stop"),
        ("clozapine (held)", "clozapine", "held"),
        ("Clozapine-Hold", "clozapine", "hold"),
        ("clozapine - on hold", "clozapine", "hold"),
        ("Clozaril 100mg (stopped)", "clozapine", "stopped"),
        ("discontinued imatinib 400 mg", "imatinib", "discontinued"),
        ("chemo (completed 2019)", "chemotherapy", "completed"),
        ("chemotherapy completed 2019", "chemotherapy", "completed"),
        ("R-CHOP (completed)", "rituximab", "completed"),
    ],
)
def test_a_status_word_keeps_a_name_from_being_read_as_a_course(
    given_name: str, drug: str, words: str
) -> None:
    """Read as current, ``clozapine-held`` gave the label's "continue clozapine"; without a stop
    date it cannot be read as stopped either. It stays unknown (reported, not a course, not even
    an unlisted drug), and :meth:`Lexicon.set_aside` names what it holds for the warnings."""
    found = LEXICON.resolve(given_name)
    assert not found.known and found.classes == () and found.unread == (given_name,)
    held = LEXICON.set_aside(given_name)
    assert held is not None and held[0] == words and drug in held[1].agents


@pytest.mark.parametrize("given_name", ["clozapine", "Clozaril 100mg", "clozapine-ratiopharm"])
def test_a_name_without_a_status_word_is_not_set_aside(given_name: str) -> None:
    assert LEXICON.resolve(given_name).known and LEXICON.set_aside(given_name) is None


def test_no_lexicon_name_holds_a_status_word() -> None:
    """A status word never hides a real name: no generic, brand, class alias or regimen has one."""
    names = [*LEXICON.index, *LEXICON.class_names, *(r.name for r in LEXICON.regimens.values())]
    assert [n for n in names if drugnames.status_words(drugnames.clean(n))] == []


@pytest.mark.parametrize("given_name", ["clozapine-held", "Clozapine-stop", "clozapine (held)"])
def test_a_held_clozapine_warns_and_never_says_continue(given_name: str) -> None:
    d = diagnosis(given_name, 1.2)
    messages = [a.message for a in d.alerts]
    assert not [m for m in messages if "continue clozapine" in m]
    [warning] = [a for a in d.alerts if a.rule_id == "names.suspected_clozapine"]
    assert "clozapine ANC monitoring thresholds were not applied" in warning.message
    assert given_name in d.unknown_medications
    how = next(f.how for f in d.facts if f.id.startswith("m:suspected_drug:clozapine"))
    assert f"'{given_name}' names clozapine but says" in how and "stop date" in how


def test_a_held_clozapine_with_a_severe_count_still_raises_alerts() -> None:
    """Nothing is silent: the severe-neutropenia alert and the clozapine-name warning fire."""
    rules = {a.rule_id for a in diagnosis("clozapine (held)", 0.3).alerts}
    assert "names.suspected_clozapine" in rules
    assert any("severe" in r for r in rules), rules


def test_chemotherapy_completed_years_ago_is_not_current_chemotherapy() -> None:
    d = diagnosis("chemo (completed 2019)", 0.4)
    used = {f.id for c in d.candidates for e in c.evidence_for for f in e.facts}
    assert not [f for f in used if f.startswith("x:")]  # no medication course was read
    assert "names.suspected_chemotherapy" in {a.rule_id for a in d.alerts}
    assert d.unknown_medications == ["chemo (completed 2019)"]


# --- drugs and brands added with their sources (probe 7, D10) --------------------------------


@pytest.mark.parametrize(
    ("given_name", "drug"),
    [
        ("lomustine", "lomustine"), ("Gleostine", "lomustine"), ("CCNU", "lomustine"),
        ("thiotepa", "thiotepa"), ("Tepadina 100 mg", "thiotepa"),
        ("dactinomycin", "dactinomycin"), ("Cosmegen", "dactinomycin"),
        ("actinomycin D", "dactinomycin"), ("nelarabine", "nelarabine"), ("Arranon", "nelarabine"),
        ("pentostatin", "pentostatin"), ("Nipent", "pentostatin"),
    ],
)  # fmt: skip
def test_the_added_cytotoxics_are_chemotherapy(given_name: str, drug: str) -> None:
    """Unknown before, they were ranked as a non-chemotherapy drug reaction."""
    found = LEXICON.resolve(given_name)
    assert found.known and found.name == drug and "chemotherapy" in found.classes


@pytest.mark.parametrize("given_name", ["Clopine", "CLOPINE 100 mg tablets", "Clozitor"])
def test_the_australian_clozapine_brands_are_clozapine(given_name: str) -> None:
    assert resolves_to(given_name, "clozapine")


def test_clopine_gets_the_clozapine_thresholds_not_a_name_warning() -> None:
    d = diagnosis("Clopine", 1.2)
    rules = {a.rule_id for a in d.alerts}
    assert "clozapine.general_mild_neutropenia" in rules
    assert "names.suspected_clozapine" not in rules and d.unknown_medications == []


# --- Long names (probe 8, D1): reading a name must cost time in proportion to its length -----

_LONG_SHAPES = {
    "letters": lambda n: "x" * n,
    "digits": lambda n: "1" * n,
    "hyphens": lambda n: "-" * n,
    "hyphenated words": lambda n: "a-" * (n // 2),
    "words": lambda n: "on " * (n // 3),
    "brackets": lambda n: "(x)" * (n // 3),
    "nested brackets": lambda n: "(" * (n // 2) + ")" * (n // 2),
    "separators": lambda n: "x, " * (n // 3),
}


def _seconds(name: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        diagnose({"wbc": 3.1, "medications": [name, "clozapine"], "anc": 0.3})
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("shape", sorted(_LONG_SHAPES))
def test_a_long_name_costs_time_in_proportion_to_its_length(shape: str) -> None:
    """A name eight times longer may take about eight times as long, not sixty-four (a 20,000-
    character name took 19 s, and held a service worker, with the clozapine card, that long).
    A ratio of two runs, not a time limit: the machine's speed cancels out."""
    make = _LONG_SHAPES[shape]
    _seconds(make(100))  # warm: the knowledge base and the lexicon's indexes
    short, long = _seconds(make(5_000)), _seconds(make(40_000))
    assert long / max(short, 1e-4) < 24, (shape, short, long)


def test_a_long_unknown_name_does_not_hide_the_clozapine_alert() -> None:
    d = diagnose(
        {
            "as_of": "2026-03-01",
            "labs": [{"test": "anc", "value": 0.4, "unit": "10^9/L", "date": "2026-03-01"}],
            "medications": [
                {"name": "clozapine", "start": "2025-01-01"},
                {"name": "x" * 20_000, "start": "2025-01-01"},
            ],
        }
    )
    assert "clozapine_severe_neutropenia" in {a.id for a in d.alerts}
    assert d.unknown_medications and len(d.unknown_medications[0]) == 20_000


@pytest.mark.parametrize("name", ["Méthimazole", "MÉTHIMAZOLE 5 mg comprimés", "Methimazol"])
def test_accents_do_not_hide_a_drug(name: str) -> None:
    """Probe 12: "Méthimazole", as a French record writes it, raised no antithyroid alert."""
    if name == "Methimazol":  # a misspelling stays a misspelling: only accents are folded
        assert not LEXICON.resolve(name).known
        return
    assert resolves_to(name, "methimazole")


@pytest.mark.parametrize(
    ("given_name", "drug"),
    [("MTX", "methotrexate"), ("Metoject PEN 15 mg", "methotrexate"), ("Nordimet", "methotrexate"),
     ("Methotrexat", "methotrexate"), ("Nolotil 575 mg", "metamizole"), ("Metamizol", "metamizole"),
     ("Novaminsulfon 500 mg", "metamizole"), ("Septrin Forte", "trimethoprim-sulfamethoxazole"),
     ("Salazopyrin EN-Tabs 500 mg", "sulfasalazine"), ("Thiamazol", "methimazole"),
     ("Plaquenil", "hydroxychloroquine")],
)  # fmt: skip
def test_names_a_clinical_probe_found_unread_are_read(given_name: str, drug: str) -> None:
    """Probe 14 (2026-12-07): each of these, as a European or rheumatology record writes it,
    dropped its drug's alerts (the methotrexate toxicity warning, the antithyroid agranulocytosis
    alert) or its evidence."""
    resolved = LEXICON.resolve(given_name)
    assert resolved.known and resolved.name == drug, given_name
