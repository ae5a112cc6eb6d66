# SPDX-License-Identifier: Apache-2.0
"""SNOMED CT identifiers and the table of descendants of the mapped conditions.

An EHR often codes a Condition with a child of the concept leukodx maps (``lupus nephritis``
rather than ``systemic lupus erythematosus``). ICD-10-CM has prefixes for that; SNOMED CT ids
have no structure, so the children come from a table kept as data,
``rules/terminology/snomed_descendants.yaml`` beside ``fhir.yaml``, each list copied from a
cited, versioned value set. This module reads and checks that table; :mod:`engine.fhir.terms`
merges its rows into the code map. Every id is checked for form and Verhoeff check digit, since
a mistyped code would silently map nothing (or the wrong thing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.kb.yamlio import YamlError, load_yaml

#: The table's file name, looked for beside the terminology file.
DESCENDANTS_FILE = "snomed_descendants.yaml"
_SOURCE_FIELDS = ("title", "publisher", "url", "version", "found_in")

# Verhoeff dihedral-group tables (multiplication, permutation), as SNOMED CT uses them for the
# check digit of every identifier (SNOMED CT Technical Implementation Guide, "Check-digit").
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def verhoeff_ok(digits: str) -> bool:
    """Whether a digit string ends in its correct Verhoeff check digit."""
    check = 0
    for i, ch in enumerate(reversed(digits)):
        check = _D[check][_P[i % 8][int(ch)]]
    return check == 0


def concept_id_problem(code: str) -> str | None:
    """Why ``code`` is not a SNOMED CT concept id, or None if it is one.

    A concept id is 6 to 18 digits without a leading zero, whose last digit is the Verhoeff
    check digit and whose partition (the two digits before it) is 00 or 10 (concept, short or
    extension namespace form).
    """
    if not (code.isascii() and code.isdigit()) or not 6 <= len(code) <= 18 or code[0] == "0":
        return f"{code!r} is not a SNOMED CT id (6 to 18 digits, no leading zero)"
    if not verhoeff_ok(code):
        return f"{code} fails the SNOMED CT check digit (Verhoeff): a mistyped code?"
    if code[-3:-1] not in ("00", "10"):
        return f"{code} is not a concept id (partition {code[-3:-1]}, expected 00 or 10)"
    return None


@dataclass(frozen=True)
class Descendant:
    """One row of the table: ``code`` stands for the vocabulary word ``kind``/``word``."""

    code: str
    kind: str
    word: str
    source: str


def read_descendants(
    path: Path,
    words: Mapping[str, tuple[str, ...]],
    mapped: Mapping[str, tuple[str, str]],
    reserved: frozenset[str],
) -> tuple[list[Descendant], list[Problem]]:
    """The rows of the descendants table at ``path`` and every problem found in it.

    ``words`` is the vocabulary per kind; ``mapped`` the SNOMED CT codes fhir.yaml maps, as
    (kind, word); ``reserved`` the SNOMED CT codes fhir.yaml lists as not input facts. A missing
    file is an empty table (a knowledge base may have none).
    """
    if not path.is_file():
        return [], []
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        return [], [Problem(exc.path, exc.line, "", exc.message)]
    reader = _Reader(str(path), words, mapped, reserved)
    reader.read(doc)
    return reader.rows, reader.problems


def _text(node: Any, key: str) -> bool:
    value = node.get(key) if isinstance(node, dict) else None
    return isinstance(value, str) and bool(value.strip())


class _Reader:
    """Checks the table, collecting every problem instead of stopping at one."""

    def __init__(
        self,
        path: str,
        words: Mapping[str, tuple[str, ...]],
        mapped: Mapping[str, tuple[str, str]],
        reserved: frozenset[str],
    ) -> None:
        self.path = path
        self.words = words
        self.mapped = mapped
        self.reserved = reserved
        self.rows: list[Descendant] = []
        self.problems: list[Problem] = []
        self.seen: dict[str, Descendant] = {}

    def bad(self, node: Any, where: str, message: str) -> None:
        self.problems.append(Problem(self.path, getattr(node, "line", 0), where, message))

    def field(self, node: Any, key: str, kind: type, where: str) -> Any:
        value = node.get(key) if isinstance(node, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool):
            self.bad(node, f"{where}.{key}" if where else key, f"expected {kind.__name__}")
            return None
        return value

    def read(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            self.bad(doc, "", "expected a mapping")
            return
        sources = self.field(doc, "sources", dict, "") or {}
        for name, source in sources.items():
            for key in _SOURCE_FIELDS:
                if not _text(source, key):
                    self.bad(source, f"sources.{name}.{key}", "expected a non-empty string")
        for word, entry in (self.field(doc, "words", dict, "") or {}).items():
            self.word(str(word), entry, frozenset(map(str, sources)))

    def word(self, word: str, entry: Any, sources: frozenset[str]) -> None:
        where = f"words.{word}"
        kind = self.field(entry, "kind", str, where)
        if kind is None:
            return
        if word not in self.words.get(kind, ()):
            self.bad(entry, where, f"unknown word {word!r} for kind {kind!r}")
            return
        parent = self.field(
            self.field(entry, "parent", dict, where), "code", str, f"{where}.parent"
        )
        if parent is not None and self.mapped.get(parent) != (kind, word):
            self.bad(
                entry,
                f"{where}.parent",
                f"SNOMED CT {parent} is not mapped to {word!r} in fhir.yaml",
            )
        self.field(entry, "rule", str, where)
        lists = self.field(entry, "lists", list, where) or []
        if not lists:
            self.bad(entry, f"{where}.lists", "expected at least one list")
        for i, block in enumerate(lists):
            here = f"{where}.lists[{i}]"
            source = self.field(block, "source", str, here)
            if source is not None and source not in sources:
                self.bad(block, f"{here}.source", f"unknown source {source!r} (not under sources:)")
            for j, row in enumerate(self.field(block, "codes", list, here) or []):
                self.row(row, f"{here}.codes[{j}]", kind, word, source or "")

    def row(self, row: Any, where: str, kind: str, word: str, source: str) -> None:
        code = self.field(row, "code", str, where)
        if not _text(row, "display"):
            self.bad(row, f"{where}.display", "expected the code's display from its source")
        if code is None:
            return
        problem = concept_id_problem(code)
        if problem is not None:
            self.bad(row, f"{where}.code", problem)
            return
        if code in self.mapped or code in self.reserved:
            self.bad(row, f"{where}.code", f"SNOMED CT {code} is already in fhir.yaml")
            return
        earlier = self.seen.get(code)
        if earlier is not None:
            why = (
                "listed twice"
                if earlier.word == word
                else f"mapped to two words ({earlier.word!r} and {word!r})"
            )
            self.bad(row, f"{where}.code", f"SNOMED CT {code} is {why}")
            return
        self.seen[code] = found = Descendant(code, kind, word, source)
        self.rows.append(found)
