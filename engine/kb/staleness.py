# SPDX-License-Identifier: Apache-2.0
"""How old a blood count may be before it no longer describes the patient (``staleness:`` in
``kb.yaml``).

A count is a snapshot: a WBC or ANC of fifteen months ago says nothing certain about today. The
CDS Hooks service (:mod:`engine.service.hooks`) evaluates a patient as of the day it answers a
hook, and calls the latest WBC or ANC *stale* when it is older than the lookback read here; its
cards then say so and suggest a new count instead of presenting the old value as current.

The lookback is knowledge, so it lives in the knowledge base with its sources, validated when the
knowledge base loads::

    staleness:
      days: 84                       # the general lookback, in days
      cite: [...]
      basis: "why this number"
      drugs:                         # shorter lookbacks while a monitored drug is taken
        clozapine:
          days: 31                   # after the last band below
          by_days_on_drug:           # bands by days since the course started, as ``by_age``
            - {below: 182, days: 7}
          cite: [...]
          basis: "..."

A patient taking several listed drugs gets the shortest of their lookbacks and the general one.
Without a ``staleness:`` block nothing is ever called stale. Pure data and arithmetic: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.kb.parse import Ctx, is_number, str_list
from engine.kb.yamlio import YamlList, YamlMap

#: The longest lookback accepted (ten years): a larger number is almost certainly a typing error.
MAX_DAYS = 3653
_KEYS = ("days", "cite", "basis", "drugs")
_DRUG_KEYS = ("days", "by_days_on_drug", "cite", "basis")


@dataclass(frozen=True)
class Band:
    """The lookback (``days``) while the drug has been taken for fewer than ``below`` days."""

    below: int
    days: int


@dataclass(frozen=True)
class Lookback:
    """One lookback with where it comes from: ``drug`` is None for the general one."""

    days: int
    cite: tuple[str, ...]
    basis: str
    drug: str | None = None


@dataclass(frozen=True)
class DrugLookback:
    """A drug's (or drug class's) lookback, by days on the drug."""

    drug: str
    days: int
    by_days_on_drug: tuple[Band, ...]
    cite: tuple[str, ...]
    basis: str

    def at(self, days_on: int | None) -> int:
        """The lookback after ``days_on`` days on the drug (unknown: the shortest band)."""
        if days_on is None:
            return min([self.days, *(b.days for b in self.by_days_on_drug)])
        return next((b.days for b in self.by_days_on_drug if days_on < b.below), self.days)


@dataclass(frozen=True)
class Staleness:
    """The general lookback and the drugs with their own."""

    days: int
    cite: tuple[str, ...]
    basis: str
    drugs: tuple[DrugLookback, ...] = ()

    @property
    def all_cites(self) -> tuple[str, ...]:
        return (*self.cite, *(c for d in self.drugs for c in d.cite))

    def lookback(self, taking: Mapping[str, int | None]) -> Lookback:
        """The lookback for a patient taking ``taking`` (drug or class name -> days on it): the
        shortest of the general one and those of the listed drugs the patient takes."""
        best = Lookback(self.days, self.cite, self.basis)
        for drug in self.drugs:
            if drug.drug in taking:
                days = drug.at(taking[drug.drug])
                if days < best.days:
                    best = Lookback(days, drug.cite, drug.basis, drug.drug)
        return best


def parse_staleness(ctx: Ctx, node: Any, line: int) -> Staleness | None:
    """``staleness:`` of kb.yaml; None when absent or invalid (each problem is reported)."""
    if node is None:
        return None
    if not isinstance(node, YamlMap):
        ctx.error(line, "staleness", "expected {days, cite, basis, drugs}")
        return None
    ctx.reject_unknown_keys(node, _KEYS, "staleness", "staleness key")
    days = _days(ctx, node, "staleness")
    cite = _cites(ctx, node, "staleness")
    drugs: list[DrugLookback] = []
    found = node.get("drugs")
    if isinstance(found, YamlMap):
        for name, body in found.items():
            drug = _drug(ctx, str(name), body, found.line_of(name))
            if drug is not None:
                drugs.append(drug)
    elif found is not None:
        ctx.error(node.line_of("drugs"), "staleness.drugs", "expected a mapping of drug names")
    if days is None or not cite:
        return None
    return Staleness(days, cite, str(node.get("basis", "")).strip(), tuple(drugs))


def _drug(ctx: Ctx, name: str, body: Any, line: int) -> DrugLookback | None:
    where = f"staleness.drugs.{name}"
    if not isinstance(body, YamlMap):
        ctx.error(line, where, "expected {days, by_days_on_drug, cite, basis}")
        return None
    ctx.reject_unknown_keys(body, _DRUG_KEYS, where, "key")
    days, cite = _days(ctx, body, where), _cites(ctx, body, where)
    bands = _bands(ctx, body.get("by_days_on_drug"), where, line)
    if days is None or not cite or bands is None:
        return None
    return DrugLookback(name, days, bands, cite, str(body.get("basis", "")).strip())


def _days(ctx: Ctx, node: YamlMap, where: str) -> int | None:
    value = node.get("days")
    if not (is_number(value) and value == int(value) and 1 <= value <= MAX_DAYS):
        line = node.line_of("days") if "days" in node else node.line
        ctx.error(line, f"{where}.days", f"expected a whole number of days from 1 to {MAX_DAYS}")
        return None
    return int(value)


def _cites(ctx: Ctx, node: YamlMap, where: str) -> tuple[str, ...]:
    cite = str_list(ctx, node.get("cite"), f"{where}.cite", node.line)
    if not cite:
        ctx.error(node.line, f"{where}.cite", "a lookback needs at least one citation")
    return cite


def _bands(ctx: Ctx, node: Any, where: str, line: int) -> tuple[Band, ...] | None:
    """``[{below: days on drug, days: lookback}, ...]`` with strictly increasing ``below``."""
    if node is None:
        return ()
    where = f"{where}.by_days_on_drug"
    if not isinstance(node, YamlList):
        ctx.error(line, where, "expected a list of {below: days on the drug, days: lookback}")
        return None
    bands: list[Band] = []
    for i, item in enumerate(node):
        ok = isinstance(item, YamlMap) and set(item) == {"below", "days"}
        given = (item.get("below"), item.get("days")) if ok else ()
        whole = [int(v) for v in given if is_number(v) and v == int(v) and 1 <= v <= MAX_DAYS]
        if len(whole) != 2:
            ctx.error(line, f"{where}[{i}]", f"expected {{below, days}}, whole days 1-{MAX_DAYS}")
            return None
        below, days = whole
        if bands and not below > bands[-1].below:
            ctx.error(line, f"{where}[{i}].below", f"must be greater than {bands[-1].below}")
            return None
        bands.append(Band(below, days))
    return tuple(bands)
