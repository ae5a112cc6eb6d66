# SPDX-License-Identifier: Apache-2.0
"""Patient-audience wording of the finding and alert rules, kept beside them in ``plain/``.

``rules/plain/*.yaml`` words, by rule id, the rules whose files are shared by every cause (the
findings and alerts), so that the wording can be written and reviewed apart from them::

    note: "Patient-facing wording; keyed by rule id."
    rules:
      counts.neutropenia_general: "..."

A cause's own wording (its plain label and summary, and the plain text of each of its evidence
rules) lives in its file, ``causes/<cause>.yaml`` (:mod:`engine.kb.causes`); a text given here
for such a rule, or a ``causes:`` section of the old layout, is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.kb.causes import CAUSES_DIR
from engine.kb.parse import Ctx
from engine.kb.registry import display, read_doc
from engine.kb.schema import Rule
from engine.kb.yamlio import YamlMap

PLAIN_DIR = "plain"


@dataclass
class Texts:
    rules: dict[str, str] = field(default_factory=dict)
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)  # rule id -> (file, line)


def read_texts(root: Path, files: list[Path], problems: list[Problem]) -> Texts:
    texts = Texts()
    for path in (p for p in files if p.parent == root / PLAIN_DIR):
        _plain(*read_doc(root, path, problems), texts)
    return texts


def _plain(ctx: Ctx, doc: Any, texts: Texts) -> None:
    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "a plain-language file is a mapping with 'rules'")
        return
    for key in doc:
        if key == "causes":
            ctx.error(doc.line_of(key), key, "a cause's plain label and summary live in its file, "
                      "causes/<cause>.yaml, as cause.plain: {label, summary}")  # fmt: skip
        elif key not in ("rules", "note"):
            ctx.error(doc.line_of(key), key, "unknown key (expected rules, note)")
    rules = doc.get("rules")
    if not isinstance(rules, YamlMap):
        if "rules" in doc:
            ctx.error(doc.line_of("rules"), "rules", "expected rule id -> sentence")
        return
    for rid, body in rules.items():
        line = rules.line_of(rid)
        if rid in texts.rules:
            first = "{}:{}".format(*texts.lines[rid])
            ctx.error(line, f"rules.{rid}", f"plain text given twice (first at {first})")
            continue
        if not isinstance(body, str) or not body.strip():
            ctx.error(line, f"rules.{rid}", "expected a sentence")
            continue
        texts.lines[rid] = (ctx.file, line)
        texts.rules[rid] = body.strip()


def check_texts(
    texts: Texts, rules: list[Rule], generated: set[str], problems: list[Problem], root: Path
) -> None:
    """Every text in ``plain/`` words one rule that has no text of its own; authored rules with
    no text at all are reported together (the patient view omits them), once the knowledge base
    words any rule. ``generated`` are the profile rules, whose text is generated."""
    by_id = {r.id: r for r in rules}
    in_cause_file = display(root, root / CAUSES_DIR) + "/"
    for rid, (file, line) in sorted(texts.lines.items()):
        rule = by_id.get(rid)
        if rule is None:
            problems.append(Problem(file, line, rid, "no rule with this id"))
        elif rule.file.startswith(in_cause_file):
            problems.append(
                Problem(file, line, rid, f"the rule is in a cause file ({rule.file}:{rule.line}), "
                        "which carries its plain text itself: move this text there as 'plain:'")
            )  # fmt: skip
    authored = [r for r in rules if r.id not in generated]
    missing = sorted(r.id for r in authored if r.plain is None and r.id not in texts.rules)
    if missing and (texts.rules or any(r.plain is not None for r in authored)):
        problems.append(
            Problem(
                display(root, root / PLAIN_DIR),
                0,
                "",
                f"{len(missing)} rule(s) have no plain-language statement (the patient view "
                f"omits them): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
                "warning",
                "plain-missing",
            )
        )
