# SPDX-License-Identifier: Apache-2.0
"""Drug names -> generic name and classes (contract 1.2), read from ``rules/lexicon/``.

A medication may be given as a generic name, a brand name, an RxNorm ingredient id
(``rxnorm:2626``) or a class name standing for an unnamed drug of that class
(``{name: chemotherapy}``). Unknown names are kept and reported, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.kb.parse import Ctx, str_list
from engine.kb.schema import Drug
from engine.kb.yamlio import YamlList, YamlMap

RXNORM_PREFIX = "rxnorm:"

#: The class every name the lexicon does not know belongs to, when the lexicon defines it: rules
#: can then reason about "some other drug" (e.g. its timing) without knowing what it is.
UNLISTED = "unlisted_drug"


@dataclass(frozen=True)
class ResolvedDrug:
    """A medication name after normalisation. ``agents`` is what rules can match on."""

    given: str
    name: str
    classes: tuple[str, ...]
    known: bool
    rxnorm: str | None = None

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(sorted({self.name, *self.classes}))


@dataclass(frozen=True)
class Lexicon:
    drugs: dict[str, Drug]
    classes: dict[str, str]  # class -> label
    index: dict[str, str]  # lower-case generic, brand or "rxnorm:<id>" -> generic

    def resolve(self, given: str) -> ResolvedDrug:
        key = given.strip().lower()
        if key.startswith(RXNORM_PREFIX):
            key = RXNORM_PREFIX + key[len(RXNORM_PREFIX) :].strip()
        generic = self.index.get(key)
        if generic is not None:
            drug = self.drugs[generic]
            return ResolvedDrug(given, generic, drug.classes, True, drug.rxnorm)
        if key in self.classes:
            return ResolvedDrug(given, key, (key,), True)
        return ResolvedDrug(given, key, (UNLISTED,) if UNLISTED in self.classes else (), False)

    @property
    def agents(self) -> frozenset[str]:
        """Every name a ``medication:`` condition may use."""
        return frozenset(self.drugs) | frozenset(self.classes)


def parse_lexicon(ctx: Ctx, doc: object, lexicon: Lexicon | None = None) -> Lexicon:
    """Add one lexicon file to ``lexicon`` (several files may share the work)."""
    drugs = dict(lexicon.drugs) if lexicon else {}
    classes = dict(lexicon.classes) if lexicon else {}
    index = dict(lexicon.index) if lexicon else {}
    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "a lexicon file must be a mapping with 'classes' and 'drugs'")
        return Lexicon(drugs, classes, index)
    for key in doc:
        if key not in ("classes", "drugs", "title", "version", "last_reviewed", "note"):
            ctx.error(doc.line_of(key), key, "unknown key (expected classes, drugs)")
    _classes(ctx, doc.get("classes"), classes)
    node = doc.get("drugs")
    if not isinstance(node, YamlList):
        ctx.error(doc.line_of("drugs"), "drugs", "expected a list of drugs")
        return Lexicon(drugs, classes, index)
    for i, item in enumerate(node):
        drug = _drug(ctx, item, f"drugs[{i}]", node.line_of(i))
        if drug is None:
            continue
        _register(ctx, drug, drugs, classes, index, node.line_of(i), f"drugs[{i}]")
    return Lexicon(drugs, classes, index)


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
    keys = [drug.name, *(b.lower() for b in drug.brands)]
    if drug.rxnorm:
        keys.append(RXNORM_PREFIX + drug.rxnorm)
    for key in keys:
        other = index.get(key)
        if other is not None and other != drug.name:
            ctx.error(line, where, f"name '{key}' already means '{other}'")
        index[key] = drug.name
