# SPDX-License-Identifier: Apache-2.0
"""Drug names -> generic name and classes (contract 1.2), read from ``rules/lexicon/``.

A medication may be given as a generic name, a brand name, an RxNorm ingredient id
(``rxnorm:2626``), an RxNorm product code (``rxnorm:197535``, through the product table
``rules/lexicon/rxnorm_products.yaml``) or a class name standing for an unnamed drug of that class
(``{name: chemotherapy}``). Names as real systems write them (``Clozaril 100mg``, full-width
letters, ``sulfamethoxazole/trimethoprim``) are matched by the deterministic steps of
:mod:`engine.kb.drugnames`. Unknown names are kept and reported, never an error; for those,
:meth:`Lexicon.near_match` offers a did-you-mean that is never used as a match.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from engine.kb.drugnames import RXNORM_PREFIX, Match, NameIndex, clean
from engine.kb.parse import Ctx, str_list
from engine.kb.schema import Drug
from engine.kb.yamlio import YamlList, YamlMap

#: The class every name the lexicon does not know belongs to, when the lexicon defines it: rules
#: can then reason about "some other drug" (e.g. its timing) without knowing what it is.
UNLISTED = "unlisted_drug"

#: RxNorm term types of product codes (clinical or branded drug, generic or branded pack).
PRODUCT_TTYS = ("SCD", "SBD", "GPCK", "BPCK")


@dataclass(frozen=True)
class ResolvedDrug:
    """A medication name after normalisation. ``agents`` is what rules can match on.

    ``components`` are the lexicon drugs of a combination that has no lexicon entry of its own
    (``name`` then joins them with `` + ``); ``how`` says how a name that was not written as a
    lexicon name was read; ``unmatched`` are parts of a combination that matched no drug."""

    given: str
    name: str
    classes: tuple[str, ...]
    known: bool
    rxnorm: str | None = None
    components: tuple[str, ...] = ()
    how: str = ""
    unmatched: tuple[str, ...] = ()

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(sorted({self.name, *self.components, *self.classes}))


@dataclass(frozen=True)
class Product:
    """An RxNorm product code (SCD, SBD, GPCK, BPCK) and the lexicon drugs it contains."""

    rxnorm: str
    tty: str
    display: str
    ingredients: tuple[str, ...]
    seen: tuple[str, ...]
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Lexicon:
    drugs: dict[str, Drug]
    classes: dict[str, str]  # class -> label
    index: dict[str, str]  # lower-case generic, brand or "rxnorm:<id>" -> generic
    products: dict[str, Product] = field(default_factory=dict)  # RxNorm product code -> product

    @functools.cached_property
    def names(self) -> NameIndex:
        """The cleaned names and derived keys that matching uses (built on first use)."""
        return NameIndex(self.index, {code: p.ingredients for code, p in self.products.items()})

    def resolve(self, given: str) -> ResolvedDrug:
        """What a medication name means; an unknown name keeps its cleaned text as ``name``."""
        key = clean(given)
        if key in self.classes:
            return ResolvedDrug(given, key, (key,), True)
        found = self.names.match(given)
        if found is None:
            unlisted = (UNLISTED,) if UNLISTED in self.classes else ()
            return ResolvedDrug(given, key, unlisted, False)
        return self._resolved(given, found)

    def _resolved(self, given: str, found: Match) -> ResolvedDrug:
        drugs = [self.drugs[g] for g in found.generics]
        how = found.how
        if found.product:
            how = f'RxNorm product {found.product} "{self.products[found.product].display}"'
        if len(drugs) == 1:
            drug = drugs[0]
            return ResolvedDrug(
                given, drug.name, drug.classes, True, drug.rxnorm, how=how,
                unmatched=found.unmatched,
            )  # fmt: skip
        classes = tuple(sorted({c for d in drugs for c in d.classes}))
        return ResolvedDrug(
            given, " + ".join(found.generics), classes, True, None, found.generics,
            how or "combination", found.unmatched,
        )  # fmt: skip

    def near_match(self, name: str) -> Drug | None:
        """The lexicon drug an unknown name probably meant (a did-you-mean), or None.

        Never a match: the name stays unknown. None for a name :meth:`resolve` knows, a class
        name, and a name equally close to two drugs (see :mod:`engine.kb.drugnames`)."""
        found = self.near_matches(name)
        return found[0] if len(found) == 1 else None

    def near_matches(self, name: str) -> tuple[Drug, ...]:
        """Every lexicon drug an unknown name is equally close to (``tramadol`` and a typo can
        be one letter from two drugs): a warning can name them all. Empty for a known name."""
        if clean(name) in self.classes:
            return ()
        return tuple(self.drugs[g] for g in self.names.near_all(name))

    @property
    def agents(self) -> frozenset[str]:
        """Every name a ``medication:`` condition may use."""
        return frozenset(self.drugs) | frozenset(self.classes)


def parse_lexicon(ctx: Ctx, doc: object, lexicon: Lexicon | None = None) -> Lexicon:
    """Add one lexicon file to ``lexicon`` (several files may share the work).

    A file holds drugs (``classes`` and ``drugs``) or RxNorm products (``sources`` and
    ``products``); files are read in name order, so a product file must sort after the drug files
    that define its ingredients."""
    drugs = dict(lexicon.drugs) if lexicon else {}
    classes = dict(lexicon.classes) if lexicon else {}
    index = dict(lexicon.index) if lexicon else {}
    products = dict(lexicon.products) if lexicon else {}
    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "a lexicon file must be a mapping with 'classes' and 'drugs'")
        return Lexicon(drugs, classes, index, products)
    if "products" in doc:
        _products(ctx, doc, drugs, index, products)
        return Lexicon(drugs, classes, index, products)
    ctx.reject_unknown_keys(doc, ("classes", "drugs", "title", "version", "last_reviewed", "note"))
    _classes(ctx, doc.get("classes"), classes)
    node = doc.get("drugs")
    if not isinstance(node, YamlList):
        ctx.error(doc.line_of("drugs"), "drugs", "expected a list of drugs")
        return Lexicon(drugs, classes, index, products)
    for i, item in enumerate(node):
        drug = _drug(ctx, item, f"drugs[{i}]", node.line_of(i))
        if drug is None:
            continue
        _register(ctx, drug, drugs, classes, index, node.line_of(i), f"drugs[{i}]")
    return Lexicon(drugs, classes, index, products)


_PRODUCT_FILE_KEYS = ("products", "sources", "title", "version", "last_reviewed", "note")
_PRODUCT_KEYS = ("rxnorm", "tty", "display", "ingredients", "seen", "note")


def _products(
    ctx: Ctx, doc: YamlMap, drugs: dict[str, Drug], index: dict[str, str],
    products: dict[str, Product],
) -> None:  # fmt: skip
    """The RxNorm product table: every code quoted digits, seen in a declared source, and naming
    only lexicon drugs; a product code may not also be an ingredient id or a second product."""
    ctx.reject_unknown_keys(doc, _PRODUCT_FILE_KEYS)
    sources = doc.get("sources")
    if not isinstance(sources, YamlMap) or not sources:
        ctx.error(doc.line_of("sources"), "sources", "expected a mapping of source id -> source")
        sources = YamlMap()
    node = doc.get("products")
    if not isinstance(node, YamlList):
        ctx.error(doc.line_of("products"), "products", "expected a list of products")
        return
    for i, item in enumerate(node):
        where, line = f"products[{i}]", node.line_of(i)
        if not isinstance(item, YamlMap):
            ctx.error(line, where, "expected {rxnorm, tty, display, ingredients, seen}")
            continue
        ctx.reject_unknown_keys(item, _PRODUCT_KEYS, where)
        code, tty, display = item.get("rxnorm"), item.get("tty"), item.get("display")
        if not (isinstance(code, str) and code.isdigit()):
            ctx.error(line, f"{where}.rxnorm", f"expected a quoted RxNorm code (got {code!r})")
            continue
        if tty not in PRODUCT_TTYS:
            ctx.error(line, f"{where}.tty", f"expected one of {', '.join(PRODUCT_TTYS)}")
        if not isinstance(display, str) or not display.strip():
            ctx.error(line, f"{where}.display", "expected the product's RxNorm name")
        ingredients = str_list(ctx, item.get("ingredients"), f"{where}.ingredients", line)
        seen = str_list(ctx, item.get("seen"), f"{where}.seen", line)
        problems = [f"unknown drug '{g}' (not in the lexicon's drugs)" for g in ingredients
                    if g not in drugs]  # fmt: skip
        problems += [f"unknown source '{s}' (add it under sources:)" for s in seen
                     if s not in sources]  # fmt: skip
        if not ingredients or not seen:
            problems.append("needs at least one ingredient and one source it was seen in")
        if code in products or RXNORM_PREFIX + code in index:
            problems.append(f"RxNorm code {code} is already a product or an ingredient id")
        for problem in problems:
            ctx.error(line, where, problem)
        if not problems:
            products[code] = Product(
                code, str(tty), str(display), ingredients, seen, ctx.file, line
            )


def _classes(ctx: Ctx, node: object, classes: dict[str, str]) -> None:
    if not isinstance(node, YamlMap):
        ctx.error(getattr(node, "line", 0), "classes", "expected a mapping of class -> {label}")
        return
    for name, body in node.items():
        label = body.get("label") if isinstance(body, YamlMap) else None
        if not isinstance(label, str):
            ctx.error(node.line_of(name), f"classes.{name}", "expected {label: text}")
            continue
        if name in classes:
            ctx.error(node.line_of(name), f"classes.{name}", "class defined twice")
        classes[name] = label


def _drug(ctx: Ctx, item: object, where: str, line: int) -> Drug | None:
    if not isinstance(item, YamlMap) or not isinstance(item.get("name"), str):
        ctx.error(line, where, "expected {name, classes, rxnorm?, brands?, cite?}")
        return None
    for key in item:
        if key not in ("name", "classes", "rxnorm", "brands", "cite", "note"):
            ctx.error(item.line_of(key), f"{where}.{key}", "unknown key")
    rxnorm = item.get("rxnorm")
    if rxnorm is not None and not (isinstance(rxnorm, str) and rxnorm.isdigit()):
        ctx.error(item.line_of("rxnorm"), f"{where}.rxnorm", "expected a quoted RxNorm id")
        rxnorm = None
    return Drug(
        name=item["name"].strip().lower(),
        classes=str_list(ctx, item.get("classes"), f"{where}.classes", item.line_of("classes")),
        rxnorm=rxnorm,
        brands=str_list(ctx, item.get("brands"), f"{where}.brands", item.line_of("brands")),
        cite=str_list(ctx, item.get("cite"), f"{where}.cite", item.line_of("cite")),
        file=ctx.file,
        line=line,
    )


def _register(
    ctx: Ctx, drug: Drug, drugs: dict[str, Drug], classes: dict[str, str],
    index: dict[str, str], line: int, where: str,
) -> None:  # fmt: skip
    if drug.name in drugs:
        ctx.error(line, where, f"drug '{drug.name}' defined twice")
        return
    for cls in drug.classes:
        if cls not in classes:
            ctx.error(line, f"{where}.classes", f"unknown class '{cls}' (add it under classes:)")
    drugs[drug.name] = drug
    keys = [clean(drug.name), *(clean(b) for b in drug.brands)]
    if drug.rxnorm:
        keys.append(RXNORM_PREFIX + drug.rxnorm)
    for key in keys:
        other = index.get(key)
        if other is not None and other != drug.name:
            ctx.error(line, where, f"name '{key}' already means '{other}'")
        index[key] = drug.name
