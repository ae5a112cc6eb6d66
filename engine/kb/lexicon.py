# SPDX-License-Identifier: Apache-2.0
"""Drug names -> generic name and classes (contract 1.2), read from ``rules/lexicon/``.

A medication may be given as a generic name, a brand name, an RxNorm ingredient id
(``rxnorm:2626``), an RxNorm product code (``rxnorm:197535``, through the product table
``rules/lexicon/rxnorm_products.yaml``), a chemotherapy regimen's acronym (``R-CHOP``, through
``rules/lexicon/regimens.yaml``: the regimen's lexicon drugs together) or a class name or class
alias standing for an unnamed drug of that class (``{name: chemotherapy}``, ``Chemo``). Names as
real systems write them (``Clozaril 100mg``, full-width letters,
``sulfamethoxazole/trimethoprim``) are matched by the deterministic steps of
:mod:`engine.kb.drugnames`. Unknown names are kept and reported, never an error; for those,
:meth:`Lexicon.near_match` offers a did-you-mean that is never used as a match.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from engine.kb.drugnames import (
    RXNORM_PREFIX,
    Match,
    NameIndex,
    clean,
    core,
    group_key,
    status_words,
    without_status,
)
from engine.kb.parse import Ctx, str_list
from engine.kb.schema import Drug
from engine.kb.yamlio import YamlList, YamlMap

#: The class every name the lexicon does not know belongs to, when the lexicon defines it: rules
#: can then reason about "some other drug" (e.g. its timing) without knowing what it is.
UNLISTED = "unlisted_drug"
#: The class of every medication name the lexicon does not read (never an explicit member): unlike
#: ``unlisted_drug``, which also holds drugs it reads but has not assessed, it says the name itself
#: was not understood, so that a rule can say "a name that was not recognised" truthfully.
UNREAD = "unread_name"
#: How a name written as several drugs was read (``clozapine; paroxetin``): its ``unmatched``
#: parts are names of their own that the lexicon does not know, and are reported as such.
COMBINATION = "combination"

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

    @property
    def unread(self) -> tuple[str, ...]:
        """The names in it the lexicon does not know: the whole name when it matched nothing,
        else the parts of a combination no lexicon name matched (``rituximab + clozapin``). A
        manufacturer's word beside a generic is not one."""
        if not self.known:
            return (self.given,)
        return self.unmatched if self.how == COMBINATION else ()


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
class Regimen:
    """A chemotherapy regimen named by its acronym (``R-CHOP``): the lexicon drugs it gives
    (``drugs``), its other components that the lexicon does not list (``others``: prednisone,
    leucovorin ...), other spellings of its name, and the sources its composition was seen in."""

    name: str
    drugs: tuple[str, ...]
    others: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    seen: tuple[str, ...] = ()
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class Lexicon:
    drugs: dict[str, Drug]
    classes: dict[str, str]  # class -> label
    index: dict[str, str]  # lower-case generic, brand or "rxnorm:<id>" -> generic
    products: dict[str, Product] = field(default_factory=dict)  # RxNorm product code -> product
    regimens: dict[str, Regimen] = field(default_factory=dict)  # group key ("r-chop") -> regimen
    class_aliases: dict[str, str] = field(default_factory=dict)  # cleaned alias ("chemo") -> class

    @functools.cached_property
    def names(self) -> NameIndex:
        """The cleaned names and derived keys that matching uses (built on first use)."""
        return NameIndex(
            self.index,
            {code: p.ingredients for code, p in self.products.items()},
            {key: r.drugs for key, r in self.regimens.items()},
        )

    @functools.cached_property
    def class_names(self) -> dict[str, str]:
        """Every cleaned word that names a class: its own name and its aliases."""
        return {**{clean(c): c for c in self.classes}, **self.class_aliases}

    def resolve(self, given: str) -> ResolvedDrug:
        """What a medication name means; an unknown name keeps its cleaned text as ``name``.

        A class name or alias (``chemotherapy``, ``Chemo``) is that class; written with a
        strength or form word (``chemo iv``) it is the class only when no drug name matches.

        A name with a status word (``clozapine-held``, ``chemo (completed 2019)``) is unknown,
        and not even an :data:`UNLISTED` drug: that class reads the course as running from its
        start, which is what the word denies (:mod:`engine.kb.drugnames`, :meth:`set_aside`)."""
        key = clean(given)
        if key in self.class_names:
            return self._class(given, key)
        found = self.names.match(given)
        if found is None:
            held = status_words(key)
            bare = core(key)
            if bare in self.class_names and not held:
                return self._class(given, bare)
            unlisted = tuple(c for c in (UNLISTED, UNREAD) if c in self.classes) if not held else ()
            how = f"not read: {' '.join(held)!r} says it may not be taken now" if held else ""
            return ResolvedDrug(given, key, unlisted, False, how=how)
        return self._resolved(given, found)

    def set_aside(self, name: str) -> tuple[str, ResolvedDrug] | None:
        """(its status words, what it names without them) for a name that a status word kept
        from being read (``clozapine (held)`` -> ``("held", clozapine)``), or None: for a name
        without one, a lexicon name, or one that is unknown without its status words too.

        Never a match: the warnings for an unread alert-driving drug use it to name the drug,
        so that a held drug is reported as that drug, whose monitoring thresholds were not
        applied, rather than dropped without a word."""
        key = clean(name)
        held = status_words(key)
        if not held or self.resolve(name).known:
            return None
        rest = self.resolve(without_status(key))
        return (" ".join(held), rest) if rest.known else None

    def _class(self, given: str, word: str) -> ResolvedDrug:
        cls = self.class_names[word]
        how = "" if word == clean(given) == cls else f"read as the class {cls!r}"
        return ResolvedDrug(given, cls, (cls,), True, how=how)

    def _resolved(self, given: str, found: Match) -> ResolvedDrug:
        drugs = [self.drugs[g] for g in found.generics]
        how = found.how
        if found.product:
            how = f'RxNorm product {found.product} "{self.products[found.product].display}"'
        if found.group:
            how = self._regimen_how(self.regimens[found.group])
        if len(drugs) == 1:
            drug = drugs[0]
            return ResolvedDrug(
                given, drug.name, drug.classes, True, drug.rxnorm, how=how,
                unmatched=found.unmatched,
            )  # fmt: skip
        classes = tuple(sorted({c for d in drugs for c in d.classes}))
        return ResolvedDrug(
            given, " + ".join(found.generics), classes, True, None, found.generics,
            how or COMBINATION, found.unmatched,
        )  # fmt: skip

    @staticmethod
    def _regimen_how(regimen: Regimen) -> str:
        others = f"; {', '.join(regimen.others)} not in the lexicon" if regimen.others else ""
        return f"regimen {regimen.name} ({', '.join(regimen.drugs)}{others})"

    def near_match(self, name: str) -> Drug | None:
        """The lexicon drug an unknown name probably meant (a did-you-mean), or None.

        Never a match: the name stays unknown. None for a name :meth:`resolve` knows, a class
        name, and a name equally close to two drugs (see :mod:`engine.kb.drugnames`)."""
        found = self.near_matches(name)
        return found[0] if len(found) == 1 else None

    def near_matches(self, name: str) -> tuple[Drug, ...]:
        """Every lexicon drug an unknown name is equally close to (``tramadol`` and a typo can
        be one letter from two drugs): a warning can name them all. Empty for a known name."""
        if clean(name) in self.class_names or self.resolve(name).known:
            return ()
        return tuple(self.drugs[g] for g in self.names.near_all(name))

    @property
    def agents(self) -> frozenset[str]:
        """Every name a ``medication:`` condition may use."""
        return frozenset(self.drugs) | frozenset(self.classes)


def parse_lexicon(ctx: Ctx, doc: object, lexicon: Lexicon | None = None) -> Lexicon:
    """Add one lexicon file to ``lexicon`` (several files may share the work).

    A file holds drugs (``classes`` and ``drugs``), chemotherapy regimens (``sources`` and
    ``regimens``) or RxNorm products (``sources`` and ``products``); files are read in name order,
    so a regimen or product file must sort after the drug files that define its drugs."""
    drugs = dict(lexicon.drugs) if lexicon else {}
    classes = dict(lexicon.classes) if lexicon else {}
    index = dict(lexicon.index) if lexicon else {}
    products = dict(lexicon.products) if lexicon else {}
    regimens = dict(lexicon.regimens) if lexicon else {}
    aliases = dict(lexicon.class_aliases) if lexicon else {}

    def done() -> Lexicon:
        return Lexicon(drugs, classes, index, products, regimens, aliases)

    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "a lexicon file must be a mapping with 'classes' and 'drugs'")
        return done()
    if "products" in doc:
        _products(ctx, doc, drugs, index, products)
        return done()
    if "regimens" in doc:
        _regimens(ctx, doc, done(), regimens)
        return done()
    ctx.reject_unknown_keys(doc, ("classes", "drugs", "title", "version", "last_reviewed", "note"))
    _classes(ctx, doc.get("classes"), classes, aliases)
    node = doc.get("drugs")
    if not isinstance(node, YamlList):
        ctx.error(doc.line_of("drugs"), "drugs", "expected a list of drugs")
        return done()
    for i, item in enumerate(node):
        drug = _drug(ctx, item, f"drugs[{i}]", node.line_of(i))
        if drug is None:
            continue
        _register(ctx, drug, drugs, classes, index, node.line_of(i), f"drugs[{i}]")
    classes_node = doc.get("classes")
    for alias, cls in aliases.items():
        if alias in index:
            line = classes_node.line_of(cls) if isinstance(classes_node, YamlMap) else 0
            taken = f"'{alias}' is already the drug '{index[alias]}'"
            ctx.error(line, f"classes.{cls}.aliases", taken)
    return done()


_REGIMEN_FILE_KEYS = ("regimens", "sources", "title", "version", "last_reviewed", "note")
_REGIMEN_KEYS = ("name", "aliases", "drugs", "not_in_lexicon", "seen", "note")
_SOURCE_KEYS = ("title", "url", "copy", "read", "verified")


def _regimens(ctx: Ctx, doc: YamlMap, lexicon: Lexicon, regimens: dict[str, Regimen]) -> None:
    """The regimen table: each regimen names its lexicon drugs (at least one), the components the
    lexicon does not list, and the declared sources its composition was seen in (each source with
    its address and what was read there); no name of a regimen may already be a drug, a brand, a
    class or another regimen, and every source must back a regimen."""
    ctx.reject_unknown_keys(doc, _REGIMEN_FILE_KEYS)
    sources = doc.get("sources")
    if not isinstance(sources, YamlMap) or not sources:
        ctx.error(doc.line_of("sources"), "sources", "expected a mapping of source id -> source")
        sources = YamlMap()
    for sid, body in sources.items():
        where = f"sources.{sid}"
        if not isinstance(body, YamlMap):
            ctx.error(sources.line_of(sid), where, "expected {title, url, verified}")
            continue
        ctx.reject_unknown_keys(body, _SOURCE_KEYS, where)
        for key in ("url", "verified"):
            if not isinstance(body.get(key), str) or not str(body.get(key)).strip():
                ctx.error(sources.line_of(sid), f"{where}.{key}", "expected text")
    node = doc.get("regimens")
    if not isinstance(node, YamlList):
        ctx.error(doc.line_of("regimens"), "regimens", "expected a list of regimens")
        return
    used: set[str] = set()
    for i, item in enumerate(node):
        regimen = _regimen(ctx, item, f"regimens[{i}]", node.line_of(i), lexicon, sources)
        if regimen is None:
            continue
        used.update(regimen.seen)
        for written in (regimen.name, *regimen.aliases):
            key = group_key(clean(written))
            taken = _name_taken(key, lexicon, regimens)
            if taken:
                ctx.error(regimen.line, f"regimens[{i}]", f"name '{written}' is already {taken}")
            else:
                regimens[key] = regimen
    for sid in sources:
        if sid not in used:
            ctx.error(sources.line_of(sid), f"sources.{sid}", "source backs no regimen")


def _regimen(
    ctx: Ctx, item: object, where: str, line: int, lexicon: Lexicon, sources: YamlMap
) -> Regimen | None:
    if not isinstance(item, YamlMap) or not isinstance(item.get("name"), str):
        ctx.error(line, where, "expected {name, drugs, not_in_lexicon?, aliases?, seen}")
        return None
    ctx.reject_unknown_keys(item, _REGIMEN_KEYS, where)
    drugs = str_list(ctx, item.get("drugs"), f"{where}.drugs", line)
    others = str_list(ctx, item.get("not_in_lexicon"), f"{where}.not_in_lexicon", line)
    seen = str_list(ctx, item.get("seen"), f"{where}.seen", line)
    problems = [f"unknown drug '{d}' (not in the lexicon's drugs)" for d in drugs
                if d not in lexicon.drugs]  # fmt: skip
    problems += [f"'{o}' is a lexicon drug: list it under drugs" for o in others
                 if clean(o) in lexicon.index]  # fmt: skip
    problems += [f"unknown source '{s}' (add it under sources:)" for s in seen
                 if s not in sources]  # fmt: skip
    if not drugs or not seen:
        problems.append("needs at least one lexicon drug and one source it was seen in")
    for problem in problems:
        ctx.error(line, where, problem)
    if problems:
        return None
    aliases = str_list(ctx, item.get("aliases"), f"{where}.aliases", line)
    return Regimen(item["name"].strip(), drugs, others, aliases, seen, ctx.file, line)


def _name_taken(key: str, lexicon: Lexicon, regimens: dict[str, Regimen]) -> str:
    """What a regimen's name already means ("" when it is free)."""
    spaced = key.replace("-", " ")
    for name in (key, spaced):
        if name in lexicon.index:
            return f"the drug '{lexicon.index[name]}'"
        if name in lexicon.class_names:
            return f"the class '{lexicon.class_names[name]}'"
    if key in regimens:
        return f"the regimen '{regimens[key].name}'"
    return ""


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


def _classes(ctx: Ctx, node: object, classes: dict[str, str], aliases: dict[str, str]) -> None:
    """``class: {label, aliases?}``; an alias is a word that names the class in a medication list
    (``chemo``), read like the class's own name."""
    if not isinstance(node, YamlMap):
        ctx.error(getattr(node, "line", 0), "classes", "expected a mapping of class -> {label}")
        return
    for name, body in node.items():
        label = body.get("label") if isinstance(body, YamlMap) else None
        if not isinstance(label, str):
            ctx.error(node.line_of(name), f"classes.{name}", "expected {label: text}")
            continue
        ctx.reject_unknown_keys(body, ("label", "aliases"), f"classes.{name}")
        if name in classes:
            ctx.error(node.line_of(name), f"classes.{name}", "class defined twice")
        classes[name] = label
        where = f"classes.{name}.aliases"
        for alias in str_list(ctx, body.get("aliases"), where, node.line_of(name)):
            key = clean(alias)
            if key in aliases or key in classes:
                ctx.error(node.line_of(name), where, f"'{alias}' already names a class")
            aliases[key] = name


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
