# SPDX-License-Identifier: Apache-2.0
"""FHIR terminology tables and FHIR datatype readers, for :mod:`engine.fhir.convert`.

The tables (LOINC -> contract test, SNOMED CT / ICD-10-CM -> contract vocabulary words of
contract section 1.3, qualitative answer codes, the fever threshold, resource statuses) are data
in ``rules/terminology/fhir.yaml``, with the SNOMED CT descendants of the mapped conditions
from ``snomed_descendants.yaml`` beside it (:mod:`engine.fhir.snomed`); this module loads and
checks them once per version of the files and answers look-ups. It also reads the FHIR
datatypes the converter needs (dates, codings), so that :mod:`engine.fhir.convert` only walks
resources.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import KnowledgeBaseError, Problem
from engine.fhir.snomed import DESCENDANTS_FILE, read_descendants
from engine.instants import instant_of
from engine.kb.paths import default_rules_dir
from engine.kb.yamlio import YamlError, load_yaml
from engine.vocab import MEMBERSHIP, QUALITATIVE_TESTS, TESTS

SYSTEM_KEYS: tuple[str, ...] = ("loinc", "snomed", "icd10cm", "rxnorm", "ucum", "interpretation")
KINDS: tuple[str, ...] = ("condition", "finding", "history")
ANSWERS: tuple[str, ...] = ("positive", "negative")
#: What an observation code may say its values are, for the tests given either way (contract
#: 1.1: reticulocytes as a count, or in % "kept as %").
UNIT_KINDS: tuple[str, ...] = ("percent", "count")
UNIT_KIND_TESTS: tuple[str, ...] = ("reticulocytes",)
_STATUS_RESOURCES = (
    "Observation", "MedicationStatement", "MedicationRequest", "MedicationAdministration",
    "MedicationDispense", "Procedure", "DiagnosticReport",
)  # fmt: skip


@dataclass(frozen=True, order=True)
class Concept:
    """A contract vocabulary word: ``kind`` is condition, finding or history (contract 1.3)."""

    kind: str
    name: str


@dataclass(frozen=True)
class Terminology:
    """The checked content of ``rules/terminology/fhir.yaml``."""

    source: str
    systems: Mapping[str, str]  # system key -> URL
    system_oids: Mapping[str, str]  # HL7 OID (``urn:oid:...``) -> system key
    tests: Mapping[str, str]  # LOINC code -> contract test
    loinc_not_used: Mapping[str, str]  # LOINC code -> reason
    fever_loinc: str  # the body-temperature code the prefetch template asks for
    fever_loincs: frozenset[str]  # it and the site-specific temperature codes
    fever_finding: str
    fever_at_or_above: Mapping[str, float]  # UCUM unit -> threshold
    fever_unit_aliases: Mapping[str, str]  # a non-UCUM spelling -> its UCUM unit
    fever_plausible: Mapping[str, tuple[float, float]]  # UCUM unit -> plausible body range
    answer_codings: Mapping[tuple[str, str], str]  # (system key, code) -> positive|negative
    answer_words: Mapping[str, str]
    concepts: Mapping[tuple[str, str], Concept]  # (system key, code) -> concept
    icd10cm_prefixes: tuple[tuple[str, Concept], ...]  # longest prefix first
    not_inputs: Mapping[tuple[str, str], str]  # (system key, code) -> reason
    skip_status: Mapping[str, frozenset[str]]  # resource type -> statuses to skip
    verification_skip: frozenset[str]
    clinical_current: frozenset[str]
    clinical_past: frozenset[str]
    request_ended: frozenset[str]
    titer_tests: frozenset[str]
    #: LOINC code -> the kind of value it reports, ``percent`` or ``count``, for a test whose
    #: unit alone may make it either (reticulocytes: % of red cells, or 10^9/L): a value whose
    #: unit says the other kind is not read (see :func:`engine.fhir.read._lab`)
    unit_kinds: Mapping[str, str] = field(default_factory=dict)

    def system_key(self, url: object) -> str | None:
        """The data's key (``loinc``, ``snomed`` ...) of a coding system URL, if known: its
        canonical URL (a trailing slash or an ``https`` scheme aside), or its HL7 OID
        (``urn:oid:2.16.840.1.113883.6.88`` is RxNorm), which FHIR converted from C-CDA carries;
        read only by the URL, a clozapine order coded so lost its alerts."""
        if not isinstance(url, str):
            return None
        text = url.strip().rstrip("/")
        if text.startswith("https://"):  # the same URL with the other scheme (https://loinc.org)
            text = "http://" + text.removeprefix("https://")
        for key, known in self.systems.items():
            if text == known:
                return key
        return self.system_oids.get(text.removeprefix("urn:oid:"))

    def concept(self, key: str, code: str) -> Concept | None:
        """The vocabulary word a SNOMED CT or ICD-10-CM code stands for, if any."""
        code = normalise_code(key, code)
        if (key, code) in self.concepts:
            return self.concepts[(key, code)]
        if key == "icd10cm":
            for prefix, concept in self.icd10cm_prefixes:
                if code.startswith(prefix):
                    return concept
        return None

    def not_input(self, key: str, code: str) -> str | None:
        """Why a known code is deliberately not an input fact, if it is one of those."""
        return self.not_inputs.get((key, normalise_code(key, code)))

    def answer(self, text: str) -> str | None:
        """``positive`` or ``negative`` for a result word (valueString or text), if known."""
        return self.answer_words.get(_word(text))


def normalise_code(key: str, code: str) -> str:
    """ICD-10-CM codes compared upper-case with their dot (``c9110`` -> ``C91.10``)."""
    code = code.strip()
    if key == "icd10cm":
        code = code.upper()
        if "." not in code and len(code) > 3:
            code = f"{code[:3]}.{code[3:]}"
    return code


def _word(text: str) -> str:
    return " ".join(text.lower().split())


def default_path() -> Path:
    """``rules/terminology/fhir.yaml`` of the bundled knowledge base."""
    return _resolved(None)


def _absolute(path: Path | None) -> Path:
    """``path`` (default: the bundled table) made absolute with its links resolved. A relative
    path depends on the working directory, so only an absolute one is remembered."""
    return path.resolve() if path is not None and not path.is_absolute() else _resolved(path)


@functools.lru_cache(maxsize=8)
def _resolved(path: Path | None) -> Path:
    """Every FHIR conversion asks where its table is; the file system walk behind ``resolve()``
    (a ``stat`` per folder) is done once per path and process: the bundled tables do not move."""
    return (path or default_rules_dir() / "terminology" / "fhir.yaml").resolve()


def load_terminology(path: Path | None = None) -> Terminology:
    """Load and check the terminology file and the SNOMED CT descendants table beside it.

    Cached per resolved path and per size and modification time of both files, so that a
    long-running service picks up an edited table instead of serving the old one.
    """
    resolved = _absolute(path)
    return _load(str(resolved), (_stamp(resolved), _stamp(resolved.parent / DESCENDANTS_FILE)))


def _stamp(file: Path) -> tuple[int, int] | None:
    try:
        info = file.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def known_rxnorm(terminology: Path | None = None) -> frozenset[str]:
    """The RxNorm codes the drug lexicon beside the terminology file knows: its drugs' ingredient
    ids and the product table's codes (``rules/lexicon/*.yaml``; empty when there is none).

    The FHIR reader prefers such a code to a name, and a name to a code nobody knows. Only the
    codes are read here; the knowledge base loader checks the lexicon and reports its problems.
    """
    lexicon = _absolute(terminology).parent.parent / "lexicon"
    return _known_rxnorm(str(lexicon))


@functools.lru_cache(maxsize=8)
def _known_rxnorm(directory: str) -> frozenset[str]:
    codes: set[str] = set()
    for file in sorted(Path(directory).glob("*.yaml")):
        try:
            doc = load_yaml(file)
        except YamlError:
            continue
        for key in ("drugs", "products"):
            items = doc.get(key) if isinstance(doc, dict) else None
            for item in items if isinstance(items, list) else []:
                code = item.get("rxnorm") if isinstance(item, dict) else None
                if isinstance(code, str) and code.isdigit():
                    codes.add(code)
    return frozenset(codes)


@functools.lru_cache(maxsize=8)
def _load(path: str, stamp: object) -> Terminology:
    del stamp  # only part of the cache key
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        raise KnowledgeBaseError([Problem(exc.path, exc.line, "", exc.message)]) from exc
    checker = _Checker(path)
    terms = checker.build(doc)
    if checker.problems or terms is None:
        raise KnowledgeBaseError(checker.problems or [Problem(path, 0, "", "empty file")])
    return _with_descendants(terms, Path(path).parent / DESCENDANTS_FILE)


def _with_descendants(terms: Terminology, table: Path) -> Terminology:
    """``terms`` with the SNOMED CT descendants of ``table`` mapped to their parents' words."""
    mapped = {c: (w.kind, w.name) for (k, c), w in terms.concepts.items() if k == "snomed"}
    reserved = frozenset(c for k, c in terms.not_inputs if k == "snomed")
    rows, problems = read_descendants(table, MEMBERSHIP, mapped, reserved)
    if problems:
        raise KnowledgeBaseError(problems)
    if not rows:
        return terms
    extra = {("snomed", r.code): Concept(r.kind, r.word) for r in rows}
    return replace(terms, concepts={**terms.concepts, **extra})


class _Checker:
    """Builds a :class:`Terminology`, collecting every problem instead of stopping at one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def bad(self, node: Any, where: str, message: str) -> None:
        line = getattr(node, "line", 0)
        self.problems.append(Problem(self.path, line, where, message))

    def get(self, node: Any, key: str, kind: type, where: str) -> Any:
        value = node.get(key) if isinstance(node, dict) else None
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            self.bad(node, f"{where}.{key}" if where else key, f"expected {kind.__name__}")
            return kind()
        return value

    def strings(self, node: Any, key: str, where: str, *, required: bool = True) -> list[str]:
        if not required and (not isinstance(node, dict) or key not in node):
            return []
        items = self.get(node, key, list, where)
        if not all(isinstance(i, str) for i in items):
            self.bad(node, f"{where}.{key}", "expected a list of quoted strings")
            return [i for i in items if isinstance(i, str)]
        return list(items)

    def build(self, doc: Any) -> Terminology | None:
        if not isinstance(doc, dict):
            self.bad(doc, "", "expected a mapping")
            return None
        systems = {k: self.get(doc.get("systems"), k, str, "systems") for k in SYSTEM_KEYS}
        oids = self.get(doc, "system_oids", dict, "") if "system_oids" in doc else {}
        system_oids = {str(oid): key for key, oid in oids.items() if key in SYSTEM_KEYS}
        for key in oids:
            if key not in SYSTEM_KEYS:
                self.bad(oids, f"system_oids.{key}", "not a system key of `systems`")
        fever = self.get(doc, "fever", dict, "")
        fever_loinc: str = self.get(fever, "loinc", str, "fever")
        thresholds = self.thresholds(fever)
        concepts, prefixes = self.concepts(doc)
        answers, words = self.answers(doc)
        statuses = self.get(doc, "statuses", dict, "")
        return Terminology(
            source=self.path,
            systems=systems,
            system_oids=system_oids,
            tests=self.tests(doc),
            loinc_not_used=self.loinc_not_used(doc),
            fever_loinc=fever_loinc,
            fever_loincs=frozenset([fever_loinc, *self.strings(fever, "site_loincs", "fever")]),
            fever_finding=self.word(fever, "finding", "fever", MEMBERSHIP["finding"]),
            fever_at_or_above=thresholds,
            fever_unit_aliases=self.unit_aliases(fever, thresholds),
            fever_plausible=self.plausible(fever, thresholds),
            answer_codings=answers,
            answer_words=words,
            concepts=concepts,
            icd10cm_prefixes=prefixes,
            not_inputs=self.not_inputs(doc),
            skip_status={
                r: frozenset(self.strings(statuses.get("skip"), r, "statuses.skip"))
                for r in _STATUS_RESOURCES
            },
            verification_skip=frozenset(
                self.strings(statuses, "condition_verification_skip", "statuses")
            ),
            clinical_current=frozenset(self.strings(statuses, "condition_current", "statuses")),
            clinical_past=frozenset(self.strings(statuses, "condition_past", "statuses")),
            request_ended=frozenset(self.strings(statuses, "medication_request_ended", "statuses")),
            titer_tests=frozenset(self.titer_tests(doc)),
            unit_kinds=self.unit_kinds(doc),
        )

    def titer_tests(self, doc: Any) -> list[str]:
        tests = self.strings(doc, "titer_tests", "")
        for test in tests:
            if test not in QUALITATIVE_TESTS:
                self.bad(doc, "titer_tests", f"{test!r} is not a qualitative test")
        return tests

    def word(self, node: Any, key: str, where: str, known: tuple[str, ...]) -> str:
        value: str = self.get(node, key, str, where)
        if value not in known:
            self.bad(node, f"{where}.{key}", f"unknown word {value!r}")
        return value

    def tests(self, doc: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        for i, row in enumerate(self.get(doc, "observations", list, "")):
            where = f"observations[{i}]"
            code = self.get(row, "loinc", str, where)
            test = self.word(row, "test", where, TESTS)
            if out.setdefault(code, test) != test:
                self.bad(row, where, f"LOINC {code} is mapped to two tests")
        return out

    def unit_kinds(self, doc: Any) -> dict[str, str]:
        """``unit_kind`` of the observation rows that give one (``percent`` or ``count``): only
        for a test that takes both kinds of unit (:data:`UNIT_KIND_TESTS`)."""
        out: dict[str, str] = {}
        for i, row in enumerate(self.get(doc, "observations", list, "")):
            if not isinstance(row, dict) or "unit_kind" not in row:
                continue
            where = f"observations[{i}]"
            out[str(row.get("loinc"))] = self.word(row, "unit_kind", where, UNIT_KINDS)
            if row.get("test") not in UNIT_KIND_TESTS:
                self.bad(row, f"{where}.unit_kind", "only for " + ", ".join(UNIT_KIND_TESTS))
        return out

    def loinc_not_used(self, doc: Any) -> dict[str, str]:
        rows = self.get(doc, "loinc_not_used", list, "")
        return {
            self.get(row, "loinc", str, f"loinc_not_used[{i}]"): self.get(
                row, "reason", str, f"loinc_not_used[{i}]"
            )
            for i, row in enumerate(rows)
        }

    def thresholds(self, fever: Any) -> dict[str, float]:
        table = self.get(fever, "at_or_above", dict, "fever")
        out = {str(k): float(v) for k, v in table.items() if isinstance(v, (int, float))}
        if len(out) != len(table) or not out:
            self.bad(fever, "fever.at_or_above", "expected unit: number pairs")
        if not self.strings(fever, "cite", "fever"):
            self.bad(fever, "fever.cite", "the fever threshold needs a citation id")
        return out

    def unit_aliases(self, fever: Any, units: Mapping[str, float]) -> dict[str, str]:
        """Plain spellings of the units of ``at_or_above`` (``units``, already checked)."""
        table = self.get(fever, "unit_aliases", dict, "fever")
        out = {str(k): v for k, v in table.items() if isinstance(v, str) and v in units}
        if len(out) != len(table):
            self.bad(fever, "fever.unit_aliases", "expected spelling: unit of at_or_above pairs")
        return out

    def plausible(self, fever: Any, units: Mapping[str, float]) -> dict[str, tuple[float, float]]:
        """A plausible body range for each unit of ``at_or_above`` (``units``, already checked)."""
        table = self.get(fever, "plausible", dict, "fever")
        out: dict[str, tuple[float, float]] = {}
        for unit, bounds in table.items():
            ok = isinstance(bounds, list) and len(bounds) == 2
            ok = ok and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
            if ok and bounds[0] < bounds[1]:
                out[str(unit)] = (float(bounds[0]), float(bounds[1]))
        if len(out) != len(table) or set(out) != set(units):
            self.bad(
                fever, "fever.plausible", "expected unit: [low, high] for each unit of at_or_above"
            )
        return out

    def answers(self, doc: Any) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        codings: dict[tuple[str, str], str] = {}
        words: dict[str, str] = {}
        table = self.get(doc, "answers", dict, "")
        for answer in ANSWERS:
            where = f"answers.{answer}"
            node = self.get(table, answer, dict, "answers")
            for row in self.get(node, "codings", list, where):
                key = self.word(row, "system", where, SYSTEM_KEYS)
                codings[(key, self.get(row, "code", str, where))] = answer
            words.update({_word(w): answer for w in self.strings(node, "words", where)})
        return codings, words

    def concepts(
        self, doc: Any
    ) -> tuple[dict[tuple[str, str], Concept], tuple[tuple[str, Concept], ...]]:
        codes: dict[tuple[str, str], Concept] = {}
        prefixes: list[tuple[str, Concept]] = []
        for i, row in enumerate(self.get(doc, "concepts", list, "")):
            where = f"concepts[{i}]"
            kind = self.word(row, "kind", where, KINDS)
            known = MEMBERSHIP.get(kind, ())
            concept = Concept(kind, self.word(row, "name", where, known))
            for key, code in self.codes(row, where):
                if codes.setdefault((key, code), concept) != concept:
                    self.bad(row, where, f"{key} {code} is mapped to two words")
            prefixes += [
                (normalise_code("icd10cm", p), concept)
                for p in self.strings(row, "icd10cm_prefixes", where, required=False)
            ]
        prefixes.sort(key=lambda pair: (-len(pair[0]), pair[0]))
        return codes, tuple(prefixes)

    def codes(self, row: Any, where: str) -> Iterator[tuple[str, str]]:
        for key in ("snomed", "icd10cm"):
            for code in self.strings(row, key, where, required=False):
                yield key, normalise_code(key, code)

    def not_inputs(self, doc: Any) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for i, row in enumerate(self.get(doc, "not_inputs", list, "")):
            reason = self.get(row, "reason", str, f"not_inputs[{i}]")
            out.update({code: reason for code in self.codes(row, f"not_inputs[{i}]")})
        return out


# --- FHIR datatypes -------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def parse_date(value: object, *, partial: bool = False) -> dt.date | None:
    """The calendar date of a FHIR date, dateTime or instant, as written (no time-zone shift).

    ``2025-02-10T23:30:00-05:00`` is 2025-02-10. A partial date (``2019``, ``2019-04``) gives its
    first day when ``partial`` is true, else None. Anything unreadable gives None.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _DATE.match(text)
    try:
        if match is None:
            return dt.datetime.fromisoformat(text).date() if "T" in text else None
        year, month, day = match.groups()
        if day is None and not partial:
            return None
        return dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None


def parse_instant(value: object) -> dt.datetime | None:
    """The moment (in UTC) of a FHIR dateTime or instant that gives a time and its offset
    (``2025-02-09T23:00:00-05:00`` is 2025-02-10 04:00 UTC); None for a date alone, a time
    without an offset, or anything unreadable. It orders results; their date stays
    :func:`parse_date`'s (:func:`engine.instants.instant_of`, which the patient reader uses too)."""
    return instant_of(value) if isinstance(value, str) else None


def path(node: object, keys: tuple[str, ...]) -> Any:
    """``node[k1][k2]...``, or None where a step is missing."""
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def first_date(
    node: object, paths: tuple[tuple[str, ...], ...], *, partial: bool
) -> tuple[dt.date | None, object]:
    """(date, raw value) of the first of ``paths`` that is present; (None, None) if none is."""
    for keys in paths:
        raw = path(node, keys)
        if raw is not None:
            return parse_date(raw, partial=partial), raw
    return None, None


def codings(concept: object) -> list[tuple[str, str]]:
    """``(system URL, code)`` of each coding of a CodeableConcept that has both."""
    found = path(concept, ("coding",))
    pairs = [
        (path(c, ("system",)), path(c, ("code",)))
        for c in (found if isinstance(found, list) else [])
    ]
    # stripped: a code sent as " 751-8 " was refused as "LOINC  751-8  is not a test"
    return [(s.strip(), c.strip()) for s, c in pairs if isinstance(s, str) and isinstance(c, str)]


def text_of(concept: object) -> str | None:
    """A CodeableConcept's ``text``, else the first coding ``display``, if any."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"]).strip()
    found = concept.get("coding")
    for coding in found if isinstance(found, list) else []:
        if isinstance(coding, dict) and isinstance(coding.get("display"), str):
            return str(coding["display"]).strip() or None
    return None


def describe(concept: object) -> str:
    """Codings for a message: ``http://snomed.info/sct|123, ...`` or ``no coding``."""
    shown = [f"{system}|{code}" for system, code in codings(concept)]
    return ", ".join(shown) if shown else "no coding"


def is_qualitative(test: str) -> bool:
    """Whether a contract test takes a word rather than a number (contract 1.1)."""
    return test in QUALITATIVE_TESTS
