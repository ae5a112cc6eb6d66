# SPDX-License-Identifier: Apache-2.0
"""Reading ``rules/`` into a :class:`~engine.kb.load.KnowledgeBase`: parse, cross-check, order.

Split from :mod:`engine.kb.load` because only a knowledge base that is not in memory or in the
disk cache (:mod:`engine.kb.cache`) is built: a cold ``leukodx diagnose`` with a warm cache
unpickles the result and never imports the parsers and checkers below. All problems are
collected with ``file:line`` before anything is raised, so that ``leukodx lint`` shows them
together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from engine import vocab
from engine.errors import KnowledgeBaseError, Problem
from engine.kb.causes import (
    check_causes_have_evidence,
    check_every_cause_has_a_file,
    is_cause_file,
    layout_problems,
    parse_cause,
)
from engine.kb.check import RuleChecker, assign_strata, derived_types, dym
from engine.kb.fitted import FILE_NAME as FITTED_FILE
from engine.kb.fitted import apply_fitted, parse_fitted
from engine.kb.lexicon import Lexicon, parse_lexicon
from engine.kb.load import KnowledgeBase
from engine.kb.parse import Ctx, parse_rule_file
from engine.kb.profiles import CATALOGUE_FILE as PROFILE_CATALOGUE
from engine.kb.profiles import ProfileDoc, check_counted_once, load_profiles
from engine.kb.registry import display, parse_citations, parse_manifest, read_doc
from engine.kb.schema import Cause, Citation, Manifest, Rule, RuleFile
from engine.kb.staleness import Staleness, parse_staleness
from engine.kb.texts import check_texts, read_texts
from engine.kb.yamlio import YamlMap

_NOT_RULE_DIRS = ("lexicon", "terminology", "citations", "plain")
_DATA_FILES = ("kb.yaml", "citations.yaml", FITTED_FILE, PROFILE_CATALOGUE)


def build(root: Path, files: list[Path], digest: str, today: dt.date) -> KnowledgeBase:
    # A knowledge base in the old layout is refused whole: read half-way, it would drown the
    # one message that matters (how to migrate) in a missing-file error per cause.
    problems: list[Problem] = layout_problems(root, files)
    if problems:
        raise KnowledgeBaseError(problems)
    kb_ctx, kb_doc = read_doc(root, root / "kb.yaml", problems)
    manifest = parse_manifest(kb_ctx, kb_doc)
    staleness = _staleness(kb_ctx, kb_doc)
    citations = parse_citations(root, files, problems)
    lexicon = _lexicon(root, files, problems)
    headers, rules, profile_docs, causes = _rules(root, files, set(citations), problems)
    check_every_cause_has_a_file(root, files, causes, problems)
    presentation = manifest.model.presentation if manifest else ()
    texts = read_texts(root, files, problems)
    profiles = load_profiles(root, profile_docs, causes, presentation, problems)
    generated = {r.id for entries, compiled in profiles.values() for r in compiled}
    rules += [r for entries, compiled in profiles.values() for r in compiled]
    _check_ids(rules, problems)
    derived = derived_types(rules, problems)
    checker = RuleChecker(
        derived, lexicon.agents, frozenset(causes), frozenset(citations), problems
    )
    checked = [r for r in (checker.check(rule) for rule in rules) if r is not None]
    ordered = sorted(assign_strata(checked, problems), key=lambda r: (r.stratum, r.id))
    check_counted_once(root, profiles, ordered, problems)
    _check_manifest_cites(manifest, citations, problems, root)
    _check_staleness(staleness, citations, lexicon, problems, kb_ctx.file)
    for name in manifest.model.presentation if manifest else ():
        if name not in derived:
            problems.append(
                Problem(display(root, root / "kb.yaml"), 0, "model.presentation",
                        f"{name!r} is not a fact any rule derives")
            )  # fmt: skip
    _check_lexicon_cites(lexicon, citations, problems)
    _check_step_drug_classes(root, causes, lexicon, problems)
    check_causes_have_evidence(root, causes, ordered, problems)
    _check_currency(headers, today, problems)
    check_texts(texts, rules, generated, problems, root)
    cited = staleness.all_cites if staleness else ()
    _check_unused_citations(citations, ordered, causes, manifest, lexicon, problems, root, cited)
    if any(p.severity == "error" for p in problems) or manifest is None:
        raise KnowledgeBaseError(problems)
    if (root / FITTED_FILE).exists() and manifest is not None:
        ctx, doc = read_doc(root, root / FITTED_FILE, problems)
        fitted = parse_fitted(ctx, doc)
        if fitted is not None:
            ordered, causes, model = apply_fitted(ctx, fitted, ordered, causes, manifest.model)
            manifest = replace(manifest, model=model)
        if any(p.severity == "error" for p in problems):
            raise KnowledgeBaseError(problems)
    ordered = [replace(r, plain=texts.rules.get(r.id, r.plain)) for r in ordered]
    return KnowledgeBase(
        root=str(root), manifest=manifest, citations=citations, causes=causes, lexicon=lexicon,
        rules=tuple(ordered), files=tuple(headers), derived=derived, content_hash=digest,
        warnings=tuple(sorted(problems)), staleness=staleness,
    )  # fmt: skip


def _lexicon(root: Path, files: list[Path], problems: list[Problem]) -> Lexicon:
    lexicon = Lexicon({}, {}, {})
    for path in (p for p in files if p.parent == root / "lexicon"):
        lexicon = parse_lexicon(*read_doc(root, path, problems), lexicon)
    return lexicon


def _rules(
    root: Path, files: list[Path], citations: set[str], problems: list[Problem]
) -> tuple[list[RuleFile], list[Rule], list[ProfileDoc], dict[str, Cause]]:
    """Every rule file's header and rules; the cause files' causes and profiles besides."""
    headers: list[RuleFile] = []
    rules: list[Rule] = []
    profile_docs: list[ProfileDoc] = []
    causes: dict[str, Cause] = {}
    for path in files:
        rel = path.relative_to(root)
        if rel.parts[0] in _NOT_RULE_DIRS or (len(rel.parts) == 1 and rel.name in _DATA_FILES):
            continue
        ctx, doc = read_doc(root, path, problems)
        cause_file = is_cause_file(root, path)
        header, found = parse_rule_file(ctx, doc, cause_file=cause_file)
        if cause_file and isinstance(doc, YamlMap):
            cause = parse_cause(ctx, doc, path.stem, citations)
            if cause is not None:
                causes[cause.id] = cause
        if header is not None:
            headers.append(header)
            if cause_file and isinstance(doc, YamlMap) and "profile" in doc:
                profile_docs.append((path, ctx, doc, header))
        rules.extend(r for r in found if r.status != "retired")
    # the order of contract section 2, whatever order the files are listed in
    causes = {cid: causes[cid] for cid in vocab.CAUSES if cid in causes}
    return headers, rules, profile_docs, causes


def _check_ids(rules: list[Rule], problems: list[Problem]) -> None:
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id]
            problems.append(
                Problem(
                    rule.file,
                    rule.line,
                    rule.id,
                    f"duplicate rule id (first at {first.file}:{first.line})",
                )
            )
        seen.setdefault(rule.id, rule)


def _check_manifest_cites(
    manifest: Manifest | None, citations: dict[str, Citation], problems: list[Problem], root: Path
) -> None:
    file = display(root, root / "kb.yaml")
    for param in manifest.parameters.values() if manifest else ():
        _check_cites(file, 0, f"parameters.{param.name}", param.cite, citations, problems)


def _staleness(ctx: Ctx, doc: object) -> Staleness | None:
    """kb.yaml's ``staleness:`` block (engine/kb/staleness.py), when there is one."""
    if not isinstance(doc, YamlMap) or "staleness" not in doc:
        return None
    return parse_staleness(ctx, doc["staleness"], doc.line_of("staleness"))


def _check_staleness(
    staleness: Staleness | None, citations: dict[str, Citation], lexicon: Lexicon,
    problems: list[Problem], file: str,
) -> None:  # fmt: skip
    """The lookbacks' citations resolve and each drug is a lexicon drug or drug class."""
    if staleness is None:
        return
    _check_cites(file, 0, "staleness", staleness.cite, citations, problems)
    for drug in staleness.drugs:
        where = f"staleness.drugs.{drug.drug}"
        _check_cites(file, 0, where, drug.cite, citations, problems)
        if drug.drug not in lexicon.drugs and drug.drug not in lexicon.classes:
            known = {**lexicon.drugs, **lexicon.classes}
            problems.append(Problem(file, 0, where, "not a drug or drug class of the lexicon"
                                    + dym(drug.drug, known)))  # fmt: skip


def _check_step_drug_classes(
    root: Path, causes: dict[str, Cause], lexicon: Lexicon, problems: list[Problem]
) -> None:
    """A step's ``drug_class`` names a class of the lexicon (a misspelt one would hide the step
    from every patient)."""
    for cause in causes.values():
        for key in ("next_steps", "considerations"):
            for i, step in enumerate(getattr(cause, key)):
                if step.drug_class is not None and step.drug_class not in lexicon.classes:
                    problems.append(
                        Problem(display(root, root / "causes" / f"{cause.id}.yaml"), cause.line,
                                f"cause.{key}[{i}].drug_class",
                                "not a drug class of the lexicon" + dym(step.drug_class,
                                                                        lexicon.classes))
                    )  # fmt: skip


def _check_lexicon_cites(
    lexicon: Lexicon, citations: dict[str, Citation], problems: list[Problem]
) -> None:
    for drug in lexicon.drugs.values():
        _check_cites(drug.file, drug.line, drug.name, drug.cite, citations, problems)


def _check_cites(
    file: str, line: int, where: str, cite: Iterable[str], citations: dict[str, Citation],
    problems: list[Problem],
) -> None:  # fmt: skip
    """One message for a dangling citation id outside the rule files (kb.yaml parameters,
    lexicon entries), with the same "did you mean" hint the rule checker gives."""
    for cid in cite:
        if cid not in citations:
            problems.append(
                Problem(
                    file, line, where,
                    f"cites '{cid}', which is not in the citations registry" + dym(cid, citations),
                )
            )  # fmt: skip


def _check_currency(headers: list[RuleFile], today: dt.date, problems: list[Problem]) -> None:
    """Past review-by dates and draft files are warnings (errors under ``lint --strict``)."""
    for header in headers:
        if header.review_by is not None and header.review_by < today:
            due = f"review was due {header.review_by.isoformat()}"
            problems.append(Problem(header.path, 0, "review_by", due, "warning", "review-due"))
        if header.review_status == "draft":
            problems.append(
                Problem(
                    header.path,
                    0,
                    "review_status",
                    "the rules of this file are a draft (not reviewed)",
                    "warning",
                    "draft",
                )
            )


def _check_unused_citations(
    citations: dict[str, Citation], rules: list[Rule], causes: dict[str, Cause],
    manifest: Manifest | None, lexicon: Lexicon, problems: list[Problem], root: Path,
    also_cited: Iterable[str] = (),
) -> None:  # fmt: skip
    used = {c for r in rules for c in r.cite} | set(also_cited)
    for cause in causes.values():
        steps = (*cause.next_steps, *cause.considerations)
        used |= {*cause.prior_cite, *(c for s in steps for c in s.cite)}
    used |= {c for p in (manifest.parameters.values() if manifest else ()) for c in p.cite}
    used |= {c for d in lexicon.drugs.values() for c in d.cite}
    for cid in sorted(set(citations) - used):
        problems.append(
            Problem(
                display(root, root / "citations"),
                0,
                cid,
                "reference is not cited by any rule",
                "warning",
                "unused-reference",
            )
        )
