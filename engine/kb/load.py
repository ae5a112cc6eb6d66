# SPDX-License-Identifier: Apache-2.0
"""``load_knowledge_base()``: read ``rules/``, validate everything, return one immutable KB.

All problems are collected with ``file:line`` before anything is raised, so that ``leukodx
lint`` shows them together. The result is cached by the content hash of the files, so repeated
calls (and every backend compiled from it) share one parsed knowledge base.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from engine import vocab
from engine.errors import KnowledgeBaseError, Problem
from engine.kb.catalog import FactType
from engine.kb.check import RuleChecker, assign_strata, derived_types
from engine.kb.lexicon import Lexicon, parse_lexicon
from engine.kb.parse import Ctx, parse_rule_file, str_list
from engine.kb.paths import default_rules_dir
from engine.kb.schema import (
    AddEvidence,
    Cause,
    Citation,
    Manifest,
    NextStep,
    Parameter,
    Rule,
    RuleFile,
)
from engine.kb.yamlio import YamlError, YamlList, YamlMap, load_yaml

CITATION_KINDS: tuple[str, ...] = (
    "guideline", "drug_label", "systematic_review", "cohort", "case_series", "case_report",
    "narrative_review", "expert_opinion",
)  # fmt: skip
_NOT_RULE_DIRS = ("lexicon", "terminology", "citations")
_DATA_FILES = ("kb.yaml", "citations.yaml", "causes.yaml")


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

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def parameter(self, name: str) -> float:
        return self.manifest.parameters[name].value

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    @cached_property
    def _by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}


_CACHE: dict[tuple[str, str], KnowledgeBase] = {}
_LOCK = threading.Lock()

#: Parameters the input side needs (:mod:`engine.facts`), all read from ``kb.yaml``.
REQUIRED_PARAMETERS: tuple[str, ...] = (
    "wbc_lln", "anc_lln", "wbc_lln_duffy_null", "anc_lln_duffy_null", "chronic_days",
    "trend_window_days", "trend_stable_slope_per_30d", "cycle_min_days", "cycle_max_days",
)  # fmt: skip


def load_knowledge_base(path: str | Path | None = None, *, today: dt.date | None = None) -> KnowledgeBase:
    """Load and validate a knowledge base directory (default: the bundled ``rules/``).

    Raises :class:`~engine.errors.KnowledgeBaseError` listing every error; warnings (such as a
    past review-by date) are kept on the result.
    """
    root = Path(path) if path is not None else default_rules_dir()
    files = _yaml_files(root)
    digest = _hash(root, files)
    key = (str(root.resolve()), digest)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    kb = _build(root, files, digest, today or dt.date.today())
    with _LOCK:
        _CACHE[key] = kb
    return kb


def lint(path: str | Path | None = None, *, today: dt.date | None = None) -> list[Problem]:
    """Every problem (errors and warnings) of a knowledge base, sorted by file and line."""
    try:
        return list(load_knowledge_base(path, today=today).warnings)
    except KnowledgeBaseError as exc:
        return exc.problems


def _yaml_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise KnowledgeBaseError([Problem(str(root), 0, "", "knowledge base directory not found")])
    return sorted(p for p in root.rglob("*.yaml") if p.is_file())


def _hash(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _read(root: Path, path: Path, problems: list[Problem]) -> tuple[Ctx, Any]:
    ctx = Ctx(_display(root, path), problems)
    try:
        return ctx, load_yaml(path)
    except YamlError as exc:
        ctx.error(exc.line, "", exc.message)
        return ctx, None


def _display(root: Path, path: Path) -> str:
    try:
        return (Path(root.name) / path.relative_to(root)).as_posix()
    except ValueError:  # pragma: no cover
        return str(path)


def _build(root: Path, files: list[Path], digest: str, today: dt.date) -> KnowledgeBase:
    problems: list[Problem] = []
    manifest = _manifest(*_read(root, root / "kb.yaml", problems))
    citations = _citations(root, files, problems)
    causes = _causes(*_read(root, root / "causes.yaml", problems))
    lexicon = _lexicon(root, files, problems)
    headers, rules = _rules(root, files, problems)
    _check_ids(rules, problems)
    derived = derived_types(rules, problems)
    checker = RuleChecker(derived, lexicon.agents, frozenset(causes), frozenset(citations), problems)
    checked = [r for r in (checker.check(rule) for rule in rules) if r is not None]
    ordered = sorted(assign_strata(checked, problems), key=lambda r: (r.stratum, r.id))
    _check_manifest_cites(manifest, citations, problems, root)
    _check_causes(causes, citations, ordered, problems, root)
    _check_currency(headers, today, problems)
    _check_unused_citations(citations, ordered, causes, manifest, problems, root)
    if any(p.severity == "error" for p in problems) or manifest is None:
        raise KnowledgeBaseError(problems)
    return KnowledgeBase(
        root=str(root), manifest=manifest, citations=citations, causes=causes, lexicon=lexicon,
        rules=tuple(ordered), files=tuple(headers), derived=derived, content_hash=digest,
        warnings=tuple(sorted(problems)),
    )  # fmt: skip


def _manifest(ctx: Ctx, doc: Any) -> Manifest | None:
    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "kb.yaml must be a mapping with name, version, last_updated, parameters")
        return None
    for key in ("name", "version", "parameters"):
        if key not in doc:
            ctx.error(doc.line, key, "required")
    params: dict[str, Parameter] = {}
    node = doc.get("parameters")
    if isinstance(node, YamlMap):
        for name, body in node.items():
            param = _parameter(ctx, name, body, node.line_of(name))
            if param is not None:
                params[name] = param
    for name in REQUIRED_PARAMETERS:
        if name not in params:
            ctx.error(doc.line_of("parameters"), f"parameters.{name}", "required parameter missing")
    updated = doc.get("last_updated")
    return Manifest(
        name=str(doc.get("name", "")), version=str(doc.get("version", "")),
        last_updated=updated if isinstance(updated, dt.date) else None,
        description=str(doc.get("description", "")), parameters=params,
    )  # fmt: skip


def _parameter(ctx: Ctx, name: str, body: Any, line: int) -> Parameter | None:
    value = body.get("value") if isinstance(body, YamlMap) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.error(line, f"parameters.{name}", "expected {value: number, unit, cite, note}")
        return None
    return Parameter(name, float(value), str(body.get("unit", "")),
                     str_list(ctx, body.get("cite"), f"parameters.{name}.cite", line),
                     body.get("note"))


def _citations(root: Path, files: list[Path], problems: list[Problem]) -> dict[str, Citation]:
    out: dict[str, Citation] = {}
    paths = [p for p in files if p == root / "citations.yaml" or p.parent == root / "citations"]
    if not paths:
        problems.append(Problem(_display(root, root / "citations.yaml"), 0, "", "no citations registry"))
    for path in paths:
        ctx, doc = _read(root, path, problems)
        node = doc.get("references") if isinstance(doc, YamlMap) else None
        if not isinstance(node, YamlList):
            ctx.error(getattr(doc, "line", 0), "references", "expected a list of references")
            continue
        for i, item in enumerate(node):
            cit = _citation(ctx, item, f"references[{i}]", node.line_of(i))
            if cit is None:
                continue
            if cit.id in out:
                ctx.error(node.line_of(i), f"references[{i}]", f"citation id '{cit.id}' defined twice")
            out[cit.id] = cit
    return out


_CITATION_KEYS = ("id", "kind", "title", "authors", "source", "year", "pmid", "doi", "pmcid",
                  "url", "label_section", "evidence_grade", "verified", "note")


def _citation(ctx: Ctx, item: Any, where: str, line: int) -> Citation | None:
    if not isinstance(item, YamlMap):
        ctx.error(line, where, "expected a reference mapping")
        return None
    for key in item:
        if key not in _CITATION_KEYS:
            ctx.error(item.line_of(key), f"{where}.{key}", "unknown key (expected one of "
                      f"{', '.join(_CITATION_KEYS)})")
    before = len(ctx.problems)
    for key in ("id", "kind", "title"):
        if not isinstance(item.get(key), str):
            ctx.error(item.line, f"{where}.{key}", "required text is missing")
    if item.get("kind") not in CITATION_KINDS and isinstance(item.get("kind"), str):
        ctx.error(item.line_of("kind"), f"{where}.kind", f"expected one of {', '.join(CITATION_KINDS)}")
    ids = {k: item.get(k) for k in ("pmid", "doi", "pmcid", "url")}
    for key, value in ids.items():
        if value is not None and not isinstance(value, str):
            ctx.error(item.line_of(key), f"{where}.{key}", "identifiers are quoted strings")
    if not any(isinstance(v, str) and v for v in ids.values()):
        ctx.error(item.line, where, "a reference needs a pmid, doi, pmcid or url")
    if len(ctx.problems) > before:
        return None
    year = item.get("year")
    text = {k: (str(item[k]) if item.get(k) is not None else None) for k in _CITATION_KEYS}
    return Citation(
        id=item["id"], kind=item["kind"], title=item["title"], authors=text["authors"],
        source=text["source"], year=year if isinstance(year, int) else None, pmid=text["pmid"],
        doi=text["doi"], pmcid=text["pmcid"], url=text["url"], label_section=text["label_section"],
        evidence_grade=text["evidence_grade"], verified=text["verified"],
    )  # fmt: skip


def _causes(ctx: Ctx, doc: Any) -> dict[str, Cause]:
    node = doc.get("causes") if isinstance(doc, YamlMap) else None
    if not isinstance(node, YamlList):
        ctx.error(getattr(doc, "line", 0), "causes", "expected a list of causes")
        return {}
    out: dict[str, Cause] = {}
    for i, item in enumerate(node):
        cause = _cause(ctx, item, f"causes[{i}]", node.line_of(i))
        if cause is None:
            continue
        if cause.id in out:
            ctx.error(cause.line, f"causes[{i}]", f"cause '{cause.id}' listed twice")
        out[cause.id] = cause
    for cid in vocab.CAUSES:
        if cid not in out:
            ctx.error(node.line, "causes", f"cause '{cid}' of contract section 2 is missing")
    return out


def _cause(ctx: Ctx, item: Any, where: str, line: int) -> Cause | None:
    if not isinstance(item, YamlMap):
        ctx.error(line, where, "expected a cause mapping")
        return None
    cid, p = item.get("id"), item.get("prior_probability")
    if cid not in vocab.CAUSES:
        ctx.error(line, f"{where}.id", f"'{cid}' is not a contract cause id"
                  + (f" (did you mean '{s}'?)" if (s := vocab.suggest(str(cid), vocab.CAUSES)) else ""))
        return None
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p < 1:
        ctx.error(item.line_of("prior_probability"), f"{where}.prior_probability",
                  "expected a probability between 0 and 1 (exclusive)")
        return None
    for key in ("label", "category", "prior_basis"):
        if not isinstance(item.get(key), str):
            ctx.error(item.line_of(key), f"{where}.{key}", "required text is missing")
            return None
    steps = item.get("next_steps")
    next_steps = tuple(
        NextStep(str(s.get("text")), str_list(ctx, s.get("cite"), f"{where}.next_steps", line))
        for s in (steps if isinstance(steps, list) else []) if isinstance(s, YamlMap)
    )
    return Cause(
        id=cid, label=item["label"], category=item["category"], prior_probability=float(p),
        prior=round(math.log(p / (1 - p)), 2), prior_basis=item["prior_basis"],
        prior_cite=str_list(ctx, item.get("prior_cite"), f"{where}.prior_cite", line),
        next_steps=next_steps, names_agent=item.get("names_agent") is True, line=line,
    )  # fmt: skip


def _lexicon(root: Path, files: list[Path], problems: list[Problem]) -> Lexicon:
    lexicon = Lexicon({}, {}, {})
    for path in (p for p in files if p.parent == root / "lexicon"):
        lexicon = parse_lexicon(*_read(root, path, problems), lexicon)
    return lexicon


def _rules(root: Path, files: list[Path], problems: list[Problem]) -> tuple[list[RuleFile], list[Rule]]:
    headers: list[RuleFile] = []
    rules: list[Rule] = []
    for path in files:
        rel = path.relative_to(root)
        if rel.parts[0] in _NOT_RULE_DIRS or (len(rel.parts) == 1 and rel.name in _DATA_FILES):
            continue
        header, found = parse_rule_file(*_read(root, path, problems))
        if header is not None:
            headers.append(header)
        rules.extend(r for r in found if r.status != "retired")
    return headers, rules


def _check_ids(rules: list[Rule], problems: list[Problem]) -> None:
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id]
            problems.append(Problem(rule.file, rule.line, rule.id,
                                    f"duplicate rule id (first at {first.file}:{first.line})"))
        seen.setdefault(rule.id, rule)


def _check_manifest_cites(
    manifest: Manifest | None, citations: dict[str, Citation], problems: list[Problem], root: Path
) -> None:
    for param in (manifest.parameters.values() if manifest else ()):
        for cid in param.cite:
            if cid not in citations:
                problems.append(Problem(_display(root, root / "kb.yaml"), 0, f"parameters.{param.name}",
                                        f"cites '{cid}', which is not in the citations registry"))


def _check_causes(
    causes: dict[str, Cause], citations: dict[str, Citation], rules: list[Rule],
    problems: list[Problem], root: Path,
) -> None:  # fmt: skip
    file = _display(root, root / "causes.yaml")
    supported = {r.then.cause for r in rules if isinstance(r.then, AddEvidence) and r.then.weight > 0}
    for cause in causes.values():
        if cause.id not in supported:
            problems.append(Problem(file, cause.line, cause.id, "no evidence-for rule: the cause "
                                    "can never appear in a differential"))
        cited = [*cause.prior_cite, *(c for s in cause.next_steps for c in s.cite)]
        for cid in cited:
            if cid not in citations:
                problems.append(Problem(file, cause.line, cause.id,
                                        f"cites '{cid}', which is not in the citations registry"))


def _check_currency(headers: list[RuleFile], today: dt.date, problems: list[Problem]) -> None:
    for header in headers:
        if header.review_by is not None and header.review_by < today:
            problems.append(Problem(header.path, 0, "review_by", f"review was due "
                                    f"{header.review_by.isoformat()}", "warning"))


def _check_unused_citations(
    citations: dict[str, Citation], rules: list[Rule], causes: dict[str, Cause],
    manifest: Manifest | None, problems: list[Problem], root: Path,
) -> None:  # fmt: skip
    used = {c for r in rules for c in r.cite}
    used |= {c for cause in causes.values() for c in (*cause.prior_cite,
             *(x for s in cause.next_steps for x in s.cite))}
    used |= {c for p in (manifest.parameters.values() if manifest else ()) for c in p.cite}
    for cid in sorted(set(citations) - used):
        problems.append(Problem(_display(root, root / "citations"), 0, cid,
                                "reference is not cited by any rule", "warning"))
