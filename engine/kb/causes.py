# SPDX-License-Identifier: Apache-2.0
"""One cause's knowledge in one file: ``causes/<cause>.yaml``.

Each of the 29 causes of contract section 2 has one file, named by its id, so that a reviewer
reads everything the knowledge base says about a cause in one place: the provenance header,
the ``cause:`` mapping (what it is and what to do about it), the evidence rules for and against
it (``rules:``, each with its own patient-audience ``plain:`` text) and its ``profile:``
(:mod:`engine.kb.profiles`)::

    cause:
      label: "Clozapine-induced neutropenia / agranulocytosis"
      category: drug
      prior_probability: 0.02
      prior_basis: "expert judgement (...)"
      prior_cite: [alvir1993]
      next_steps:                 # tests that confirm or exclude it
        - {text: "...", cite: [clozaril-label]}
        - {text: "...", cite: [...], drug_class: antithyroid}   # only with such a drug recorded
        - {text: "Serum vitamin B12 and folate.", cite: [...], tests: [vitamin_b12, folate]}
                                  # the results that complete the step (shown beside it)
      considerations:             # what to do about it, for clinicians (each item cited)
        - {text: "...", cite: [clozaril-label]}
      plain: {label: "...", summary: "..."}   # the patient view's name and summary

The layout that came before spread a cause over five places (``causes.yaml``,
``considerations.yaml``, ``evidence/<cause>.yaml``, ``plain/causes.yaml`` and
``plain/evidence.yaml``); a knowledge base still in that layout is refused with a message that
says how to migrate, rather than read half-way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from engine import vocab
from engine.errors import Problem
from engine.kb.check import dym
from engine.kb.parse import Ctx, is_number, str_list
from engine.kb.registry import display
from engine.kb.schema import AddEvidence, Cause, NextStep, Rule
from engine.kb.yamlio import YamlList, YamlMap

CAUSES_DIR = "causes"
CAUSE_KEYS: tuple[str, ...] = (
    "label", "category", "prior_probability", "prior_basis", "prior_cite", "names_agent",
    "next_steps", "considerations", "plain",
)  # fmt: skip
#: The five-file layout: a knowledge base holding any of these is refused (see the module doc).
OLD_LAYOUT: tuple[str, ...] = (
    "causes.yaml", "considerations.yaml", "evidence", "plain/causes.yaml", "plain/evidence.yaml",
)  # fmt: skip
LEFT_OVER = (
    "left over from the five-file layout (causes.yaml, considerations.yaml, "
    "evidence/<cause>.yaml, plain/causes.yaml, plain/evidence.yaml)"
)
MIGRATION = (
    "; knowledge bases now keep each cause in one file, causes/<cause>.yaml. To migrate a cause: "
    "rename evidence/<cause>.yaml to causes/<cause>.yaml; add under 'cause:' its causes.yaml "
    "entry (without id), its considerations and its plain label and summary; give each rule its "
    "plain text as 'plain:'; then delete the old files (docs/rule-language.md, 'Migrating from "
    "the five-file layout')"
)


def cause_path(root: Path, cause: str) -> Path:
    return root / CAUSES_DIR / f"{cause}.yaml"


def is_cause_file(root: Path, path: Path) -> bool:
    return path.parent == root / CAUSES_DIR


def layout_problems(root: Path, files: list[Path]) -> list[Problem]:
    """Files of the old layout, and cause files not directly in ``causes/``; each an error."""
    left = [name for name in OLD_LAYOUT if (root / name).exists()]
    problems = [
        Problem(display(root, root / name), 0, "", LEFT_OVER + (MIGRATION if i == 0 else ""))
        for i, name in enumerate(left)
    ]
    nested = [p for p in files if root / CAUSES_DIR in p.parents and not is_cause_file(root, p)]
    problems += [
        Problem(display(root, p), 0, "", "cause files sit directly in causes/ as <cause>.yaml")
        for p in nested
    ]
    return problems


def parse_cause(ctx: Ctx, doc: YamlMap, cause_id: str, citations: set[str]) -> Cause | None:
    """The ``cause:`` mapping of the file ``causes/<cause_id>.yaml``; every cited id is checked
    here, at the line that cites it."""
    if cause_id not in vocab.CAUSES:
        s = vocab.suggest(cause_id, vocab.CAUSES)
        hint = f" (did you mean '{s}.yaml'?)" if s else ""
        ctx.error(0, "", f"'{cause_id}' is not a contract cause id: a cause file is named "
                  f"<cause>.yaml after a cause of contract section 2{hint}")  # fmt: skip
        return None
    node, line = doc.get("cause"), doc.line_of("cause")
    if not isinstance(node, YamlMap):
        ctx.error(line, "cause", "expected the cause mapping {" + ", ".join(CAUSE_KEYS) + "}")
        return None
    before = len(ctx.problems)
    ctx.reject_unknown_keys(node, CAUSE_KEYS, "cause", "cause key")
    p = node.get("prior_probability")
    if not is_number(p) or not 0 < p < 1:
        ctx.error(node.line_of("prior_probability"), "cause.prior_probability",
                  "expected a probability between 0 and 1 (exclusive)")  # fmt: skip
    for key in ("label", "category", "prior_basis"):
        if not isinstance(node.get(key), str):
            ctx.error(node.line_of(key), f"cause.{key}", "required text is missing")
    if "names_agent" in node and not isinstance(node["names_agent"], bool):
        ctx.error(node.line_of("names_agent"), "cause.names_agent", "expected true or false")
    prior_cite = str_list(ctx, node.get("prior_cite"), "cause.prior_cite", line)
    _check_cites(ctx, node.line_of("prior_cite"), "cause.prior_cite", prior_cite, citations)
    next_steps = _steps(ctx, node, "next_steps", citations, cite_required=False)
    considerations = _steps(ctx, node, "considerations", citations, cite_required=True)
    plain = _plain(ctx, node.get("plain"), node.line_of("plain"))
    if len(ctx.problems) > before or not is_number(p):
        return None
    return Cause(
        id=cause_id, label=node["label"], category=node["category"], prior_probability=float(p),
        prior=round(math.log(p / (1 - p)), 2), prior_basis=node["prior_basis"],
        prior_cite=prior_cite, next_steps=next_steps, names_agent=node.get("names_agent") is True,
        line=line, considerations=considerations, plain_label=plain[0], plain_summary=plain[1],
    )  # fmt: skip


def _steps(
    ctx: Ctx, cause: YamlMap, key: str, citations: set[str], *, cite_required: bool
) -> tuple[NextStep, ...]:
    """``next_steps`` or ``considerations``: a list of ``{text, cite}``."""
    node = cause.get(key)
    if node is None:
        return ()
    if not isinstance(node, YamlList):
        ctx.error(cause.line_of(key), f"cause.{key}", "expected a list of {text, cite}")
        return ()
    steps = []
    for i, item in enumerate(node):
        where, line = f"cause.{key}[{i}]", node.line_of(i)
        if not isinstance(item, YamlMap) or not isinstance(item.get("text"), str):
            ctx.error(line, where, "expected {text, cite}")
            continue
        ctx.reject_unknown_keys(item, ("text", "cite", "drug_class", "tests"), where)
        cite = str_list(ctx, item.get("cite"), f"{where}.cite", item.line_of("cite"))
        if cite_required and not cite:
            ctx.error(item.line_of("cite"), f"{where}.cite", "a consideration needs a citation")
        _check_cites(ctx, item.line_of("cite"), f"{where}.cite", cite, citations)
        drug_class = item.get("drug_class")
        if drug_class is not None and not isinstance(drug_class, str):
            ctx.error(item.line_of("drug_class"), f"{where}.drug_class",
                      "expected the name of a drug class of the lexicon")  # fmt: skip
            drug_class = None
        tests = _tests(ctx, item, key, where)
        steps.append(NextStep(item["text"].strip(), cite, drug_class, tests))
    return tuple(steps)


def _tests(ctx: Ctx, item: YamlMap, key: str, where: str) -> tuple[str, ...]:
    """A next step's ``tests``: lab test names of contract 1.1, each once; the results that
    complete the step (a consideration is what to do, not a test, and takes none)."""
    if "tests" not in item:
        return ()
    line = item.line_of("tests")
    if key != "next_steps":
        ctx.error(line, f"{where}.tests", "only next steps name the tests that complete them")
        return ()
    tests = str_list(ctx, item.get("tests"), f"{where}.tests", line)
    if not tests:
        ctx.error(line, f"{where}.tests", "expected a list of lab test names (contract 1.1)")
    for test in tests:
        if test not in vocab.TESTS:
            ctx.error(line, f"{where}.tests", f"unknown lab test '{test}'{dym(test, vocab.TESTS)}")
    if len(set(tests)) != len(tests):
        ctx.error(line, f"{where}.tests", "a test is listed twice")
    return tuple(t for t in tests if t in vocab.TESTS)


def _plain(ctx: Ctx, node: Any, line: int) -> tuple[str | None, str | None]:
    """``plain: {label, summary}``: the cause in the patient view (the summary is optional)."""
    if node is None:
        return None, None
    if not isinstance(node, YamlMap) or "label" not in node:
        ctx.error(line, "cause.plain", "expected {label, summary}")
        return None, None
    ctx.reject_unknown_keys(node, ("label", "summary"), "cause.plain")
    texts: list[str | None] = []
    for key in ("label", "summary"):
        text = node.get(key)
        if key in node and (not isinstance(text, str) or not text.strip()):
            ctx.error(node.line_of(key), f"cause.plain.{key}", "expected a sentence")
        texts.append(text.strip() if isinstance(text, str) and text.strip() else None)
    return texts[0], texts[1]


def _check_cites(ctx: Ctx, line: int, where: str, cite: tuple[str, ...], known: set[str]) -> None:
    for cid in cite:
        if cid not in known:
            ctx.error(line, where, f"cites '{cid}', which is not in the citations registry"
                      + dym(cid, known))  # fmt: skip


def check_every_cause_has_a_file(
    root: Path, files: list[Path], causes: dict[str, Cause], problems: list[Problem]
) -> None:
    """Every cause of contract section 2 has its file (a file that does not parse has already
    said why)."""
    where = display(root, root / CAUSES_DIR)
    if not (root / CAUSES_DIR).is_dir():
        problems.append(Problem(where, 0, "", "no causes/ directory: each cause of contract "
                                "section 2 has a file causes/<cause>.yaml"))  # fmt: skip
        return
    for cid in vocab.CAUSES:
        if cid not in causes and cause_path(root, cid) not in files:
            problems.append(Problem(where, 0, cid, f"cause '{cid}' of contract section 2 has no "
                                    f"file causes/{cid}.yaml"))  # fmt: skip


def check_causes_have_evidence(
    root: Path, causes: dict[str, Cause], rules: list[Rule], problems: list[Problem]
) -> None:
    """A cause no evidence-for rule supports could never appear in a differential."""
    supported = {
        r.then.cause for r in rules if isinstance(r.then, AddEvidence) and r.then.weight > 0
    }
    for cause in causes.values():
        if cause.id not in supported:
            problems.append(
                Problem(display(root, cause_path(root, cause.id)), cause.line, cause.id,
                        "no evidence-for rule: the cause can never appear in a differential")
            )  # fmt: skip
