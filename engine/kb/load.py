# SPDX-License-Identifier: Apache-2.0
"""``load_knowledge_base()``: read ``rules/``, validate everything, return one immutable KB.

The result is cached by the content hash of the files, in memory (so repeated calls, and every
backend compiled from it, share one parsed knowledge base) and on disk (:mod:`engine.kb.cache`).
Only a miss of both builds it (:mod:`engine.kb.build`, imported then), collecting all problems
with ``file:line`` before anything is raised, so that ``leukodx lint`` shows them together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from collections.abc import Collection
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from engine.errors import KnowledgeBaseError, Problem
from engine.kb import cache as kb_cache
from engine.kb.catalog import FactType
from engine.kb.lexicon import Lexicon
from engine.kb.paths import default_rules_dir
from engine.kb.schema import AddEvidence, Cause, Citation, Manifest, Rule, RuleFile
from engine.kb.staleness import Staleness

#: Warnings that ``lint --strict`` treats as errors (deployments that run approved knowledge only).
STRICT_CODES: frozenset[str] = frozenset({"draft", "review-due"})


@dataclass(frozen=True)
class KnowledgeBase:
    """A validated knowledge base. ``rules`` are ordered by (stratum, id)."""

    root: str
    manifest: Manifest
    citations: dict[str, Citation]
    causes: dict[str, Cause]
    lexicon: Lexicon
    rules: tuple[Rule, ...]
    files: tuple[RuleFile, ...]
    derived: dict[str, FactType]
    content_hash: str
    warnings: tuple[Problem, ...]
    staleness: Staleness | None = None  # the count lookback (kb.yaml ``staleness:``)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def parameter(self, name: str, *, age: float | None = None) -> float:
        """A parameter's value, for a patient of ``age`` years when it has age bands."""
        return self.manifest.parameters[name].at(age)

    def optional_parameter(self, name: str) -> float | None:
        """A parameter a knowledge base may leave out (the mini test KB does): None when it
        does, so that the feature it sets is off rather than an error."""
        found = self.manifest.parameters.get(name)
        return None if found is None else found.at(None)

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    @cached_property
    def _by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def evidence_for(self, cause: str) -> tuple[Rule, ...]:
        """The evidence rules of one cause, in rule order (indexed once per knowledge base)."""
        return self._evidence_by_cause.get(cause, ())

    @cached_property
    def _evidence_by_cause(self) -> dict[str, tuple[Rule, ...]]:
        by_cause: dict[str, list[Rule]] = {}
        for r in self.rules:
            if isinstance(r.then, AddEvidence):
                by_cause.setdefault(r.then.cause, []).append(r)
        return {cause: tuple(rules) for cause, rules in by_cause.items()}

    def uncounted(self, fired: Collection[str]) -> dict[str, tuple[str, ...]]:
        """The fired evidence rules that add nothing because a rule that counts their finding
        fired too (``Rule.counted_by``), each with those rules: the counted-once rule of cause
        profiles (:mod:`engine.kb.profiles`). Every consumer of firings that scores (the
        differential, why-not, calibration) leaves these out."""
        out: dict[str, tuple[str, ...]] = {}
        for rule_id, counters in self._counted_by.items():
            if rule_id in fired:
                firing = tuple(c for c in counters if c in fired)
                if firing:
                    out[rule_id] = firing
        return out

    @cached_property
    def _counted_by(self) -> dict[str, tuple[str, ...]]:
        return {r.id: r.counted_by for r in self.rules if r.counted_by}


_CACHE: dict[tuple[str, str], KnowledgeBase] = {}
_BY_SIGNATURE: dict[tuple[str, tuple[tuple[str, int, int], ...]], KnowledgeBase] = {}
_LOCK = threading.Lock()


def load_knowledge_base(
    path: str | Path | None = None, *, today: dt.date | None = None
) -> KnowledgeBase:
    """Load and validate a knowledge base directory (default: the bundled ``rules/``).

    Raises :class:`~engine.errors.KnowledgeBaseError` listing every error; warnings (such as a
    past review-by date) are kept on the result.
    """
    root = Path(path) if path is not None else default_rules_dir()
    scanned = _scan(root)
    # A cheap signature (names, sizes, modification times) finds an unchanged KB without reading
    # it; the content hash identifies it for compiled backends and in every result.
    signature = (str(root.resolve()), tuple(scanned))
    with _LOCK:
        cached = _BY_SIGNATURE.get(signature)
    if cached is not None and today is None:
        return cached
    files = [Path(name) for name, _, _ in scanned]
    digest = _hash(root, files)
    key = (str(root.resolve()), digest)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        day = today or dt.date.today()
        disk_key = kb_cache.entry_key(root, digest, day)
        cached = kb_cache.read(disk_key)
        if not isinstance(cached, KnowledgeBase) or cached.content_hash != digest:
            from engine.kb.build import build  # the parsers and checkers: only on a miss

            cached = build(root, files, digest, day)
            _index(cached)
            kb_cache.write(disk_key, cached)
    with _LOCK:
        _CACHE[key] = cached
        _BY_SIGNATURE[signature] = cached
    return cached


def _index(kb: KnowledgeBase) -> None:
    """Build now the indexes that every diagnosis builds on first use (rules by id, evidence
    rules by cause, the lexicon's cleaned names), so that they are pickled with the knowledge
    base: unpickling them costs a twentieth of building them in each cold process."""
    _ = (kb._by_id, kb._evidence_by_cause, kb._counted_by, kb.lexicon.names)


def is_loaded(kb: KnowledgeBase) -> bool:
    """Whether ``kb`` is a knowledge base this module read from its files (and not one built or
    altered by hand): only for those do the content hash and the engine code determine the rules,
    so only those may share work cached on disk under that hash (the compiled CLIPS image)."""
    with _LOCK:
        return any(loaded is kb for loaded in _CACHE.values())


def lint(
    path: str | Path | None = None, *, today: dt.date | None = None, strict: bool = False
) -> list[Problem]:
    """Every problem (errors and warnings) of a knowledge base, sorted by file and line.

    ``strict`` turns the currency warnings (draft rule files, review-by dates in the past) into
    errors, for deployments that must only run approved, current knowledge.
    """
    try:
        problems = list(load_knowledge_base(path, today=today).warnings)
    except KnowledgeBaseError as exc:
        problems = exc.problems
    if strict:
        problems = [replace(p, severity="error") if p.code in STRICT_CODES else p for p in problems]
    return problems


def _scan(root: Path) -> list[tuple[str, int, int]]:
    """Every ``*.yaml`` file under ``root`` with its size and modification time, in path order
    (folder by folder, as ``Path`` sorts): the order the files are hashed and read in. As
    ``Path.rglob`` did before, a symlinked file counts and a symlinked folder is not entered.

    ``diagnose()`` without ``kb=`` runs this on every call to notice edited rules, so it walks
    with :func:`os.scandir` (one ``stat`` per file) and builds no ``Path``: about a fifth of what
    ``rglob`` plus ``is_file`` plus ``stat`` cost."""
    if not root.is_dir():
        raise KnowledgeBaseError([Problem(str(root), 0, "", "knowledge base directory not found")])
    found: list[tuple[str, int, int]] = []

    def walk(folder: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    if not entry.is_symlink():
                        walk(entry.path)
                elif entry.name.endswith(".yaml") and entry.is_file():
                    info = entry.stat()
                    found.append((entry.path, info.st_size, info.st_mtime_ns))

    walk(str(root))
    return sorted(found, key=lambda item: item[0].split(os.sep))


def _hash(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
