# SPDX-License-Identifier: Apache-2.0
"""Texts that sit beside the rules: plain-language wording and clinical considerations.

``rules/plain/*.yaml`` holds the patient-audience wording, keyed by id so that it can be written
and reviewed apart from the clinical rules::

    causes:
      clozapine_induced: {label: "...", summary: "..."}
    rules:
      clozapine_induced.on_clozapine: "..."

``rules/considerations.yaml`` holds, per cause, what to do about it (cited), shown after the
ranked causes::

    considerations:
      clozapine_induced:
        - {text: "...", cite: [clozaril-label]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.kb.parse import Ctx, str_list
from engine.kb.registry import display, read_doc
from engine.kb.schema import NextStep
from engine.kb.yamlio import YamlMap


@dataclass
class Texts:
    cause_labels: dict[str, str] = field(default_factory=dict)
    cause_summaries: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    considerations: dict[str, tuple[NextStep, ...]] = field(default_factory=dict)
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (file, line)


def read_texts(root: Path, files: list[Path], problems: list[Problem]) -> Texts:
    texts = Texts()
    for path in (p for p in files if p.parent == root / "plain"):
        _plain(*read_doc(root, path, problems), texts)
    considerations = root / "considerations.yaml"
    if considerations in files:
        _considerations(*read_doc(root, considerations, problems), texts)
    return texts


def _text(ctx: Ctx, node: Any, where: str, line: int) -> str | None:
    if not isinstance(node, str) or not node.strip():
        ctx.error(line, where, "expected a sentence")
        return None
    return node.strip()


def _plain(ctx: Ctx, doc: Any, texts: Texts) -> None:
    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "a plain-language file is a mapping with 'causes' and/or 'rules'")
        return
    for key in doc:
        if key not in ("causes", "rules", "note"):
            ctx.error(doc.line_of(key), key, "unknown key (expected causes, rules)")
    causes = doc.get("causes")
    if isinstance(causes, YamlMap):
        for cid, body in causes.items():
            line = causes.line_of(cid)
            texts.lines[f"cause:{cid}"] = (ctx.file, line)
            if not isinstance(body, YamlMap) or "label" not in body:
                ctx.error(line, f"causes.{cid}", "expected {label, summary}")
                continue
            if (label := _text(ctx, body.get("label"), f"causes.{cid}.label", line)) is not None:
                texts.cause_labels[cid] = label
            if "summary" in body:
                summary = _text(ctx, body["summary"], f"causes.{cid}.summary", line)
                if summary is not None:
                    texts.cause_summaries[cid] = summary
    rules = doc.get("rules")
    if isinstance(rules, YamlMap):
        for rid, body in rules.items():
            line = rules.line_of(rid)
            if rid in texts.rules:
                ctx.error(line, f"rules.{rid}", "plain text given twice")
            texts.lines[f"rule:{rid}"] = (ctx.file, line)
            if (text := _text(ctx, body, f"rules.{rid}", line)) is not None:
                texts.rules[rid] = text


def _considerations(ctx: Ctx, doc: Any, texts: Texts) -> None:
    node = doc.get("considerations") if isinstance(doc, YamlMap) else None
    if not isinstance(node, YamlMap):
        ctx.error(
            getattr(doc, "line", 0), "considerations", "expected cause -> list of {text, cite}"
        )
        return
    for cid, items in node.items():
        line = node.line_of(cid)
        texts.lines[f"considerations:{cid}"] = (ctx.file, line)
        steps = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            where = f"considerations.{cid}[{i}]"
            if not isinstance(item, YamlMap) or not isinstance(item.get("text"), str):
                ctx.error(line, where, "expected {text, cite}")
                continue
            cite = str_list(ctx, item.get("cite"), f"{where}.cite", item.line)
            if not cite:
                ctx.error(item.line, f"{where}.cite", "a consideration needs a citation")
            steps.append(NextStep(item["text"].strip(), cite))
        texts.considerations[cid] = tuple(steps)


def check_texts(
    texts: Texts,
    rule_ids: set[str],
    cause_ids: set[str],
    citations: set[str],
    problems: list[Problem],
    root: Path,
) -> None:
    """Every text must belong to a rule or cause that exists; every citation must resolve."""
    for key, (file, line) in sorted(texts.lines.items()):
        kind, _, ident = key.partition(":")
        known = rule_ids if kind == "rule" else cause_ids
        if ident not in known:
            problems.append(Problem(file, line, ident, f"no {kind.split(':')[0]} with this id"))
    for cid, steps in texts.considerations.items():
        file, line = texts.lines[f"considerations:{cid}"]
        for step in steps:
            for ref in step.cite:
                if ref not in citations:
                    problems.append(
                        Problem(file, line, cid, f"cites '{ref}', which is not in the registry")
                    )
    missing = sorted(rule_ids - set(texts.rules))
    if texts.rules and missing:
        file = display(root, root / "plain")
        problems.append(
            Problem(
                file,
                0,
                "",
                f"{len(missing)} rule(s) have no plain-language statement (the patient view "
                f"omits them): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
                "warning",
                "plain-missing",
            )
        )
