# SPDX-License-Identifier: Apache-2.0
"""The fitted overlay (``rules/fitted.yaml``): weights and priors moved by ``leukodx calibrate``.

Calibration never edits the authored rule files. It writes one reviewable file listing each
weight it moved (the fitted likelihood ratio, the authored one, and how many development cases
the rule fired in) and each prior it moved, plus the fitted log-odds of "none of the known
causes". Loading applies the overlay: the rule's weight becomes the fitted one and its origin
``fitted``, so every score point still traces to a rule, and ``--explain`` shows both values.
A file naming a rule or cause the knowledge base does not have is a load error, never ignored.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any

from engine.kb.parse import Ctx, is_number
from engine.kb.schema import MAX_LR, AddEvidence, Cause, Rule, ScoringModel
from engine.kb.yamlio import YamlMap

FILE_NAME = "fitted.yaml"
_KEYS = (
    "fitted_on", "method", "cases", "groups", "lambda", "other_log_odds",
    "other_log_odds_prior", "rules", "priors", "list_floor",
)  # fmt: skip


@dataclass(frozen=True)
class FittedWeight:
    lr: float
    prior_lr: float
    cases: int


@dataclass(frozen=True)
class FittedPrior:
    log_odds: float
    prior_log_odds: float


@dataclass(frozen=True)
class Fitted:
    fitted_on: dt.date | None
    method: str
    cases: int
    other_log_odds: float | None
    list_floor: float | None
    rules: dict[str, FittedWeight] = field(default_factory=dict)
    priors: dict[str, FittedPrior] = field(default_factory=dict)


def parse_fitted(ctx: Ctx, doc: Any) -> Fitted | None:
    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "fitted.yaml must be a mapping (written by leukodx calibrate)")
        return None
    ctx.reject_unknown_keys(doc, _KEYS, "", "key")
    rules: dict[str, FittedWeight] = {}
    node = doc.get("rules") or YamlMap()
    for rule_id, body in node.items() if isinstance(node, YamlMap) else ():
        where, line = f"rules.{rule_id}", node.line_of(rule_id)
        lr, prior, cases = (body.get(k) if isinstance(body, YamlMap) else None for k in
                            ("lr", "prior_lr", "cases"))  # fmt: skip
        ratios = [float(v) for v in (lr, prior) if is_number(v) and 1 / MAX_LR <= v <= MAX_LR]
        if len(ratios) != 2 or not (isinstance(cases, int) and cases >= 0):
            ctx.error(line, where, "expected {lr, prior_lr: likelihood ratios, cases: a count}")
            continue
        rules[str(rule_id)] = FittedWeight(ratios[0], ratios[1], cases)
    priors: dict[str, FittedPrior] = {}
    node = doc.get("priors") or YamlMap()
    for cause, body in node.items() if isinstance(node, YamlMap) else ():
        values = [body.get(k) if isinstance(body, YamlMap) else None
                  for k in ("log_odds", "prior_log_odds")]  # fmt: skip
        numbers = [float(v) for v in values if is_number(v) and -20 <= v <= 20]
        if len(numbers) != 2:
            ctx.error(node.line_of(cause), f"priors.{cause}", "expected {log_odds, prior_log_odds}")
            continue
        priors[str(cause)] = FittedPrior(numbers[0], numbers[1])
    other, floor = doc.get("other_log_odds"), doc.get("list_floor")
    if other is not None and not (is_number(other) and -20 <= other <= 20):
        ctx.error(doc.line_of("other_log_odds"), "other_log_odds", "expected -20 to 20")
        other = None
    if floor is not None and not (is_number(floor) and 0 < floor < 1):
        ctx.error(doc.line_of("list_floor"), "list_floor", "expected a probability in (0, 1)")
        floor = None
    fitted_on, cases = doc.get("fitted_on"), doc.get("cases")
    return Fitted(
        fitted_on=fitted_on if isinstance(fitted_on, dt.date) else None,
        method=str(doc.get("method", "")),
        cases=cases if isinstance(cases, int) else 0,
        other_log_odds=float(other) if other is not None else None,
        list_floor=float(floor) if floor is not None else None,
        rules=rules,
        priors=priors,
    )


def apply_fitted(
    ctx: Ctx,
    fitted: Fitted,
    rules: list[Rule],
    causes: dict[str, Cause],
    model: ScoringModel,
) -> tuple[list[Rule], dict[str, Cause], ScoringModel]:
    """The rules, causes and scoring model with the fitted values in place of the authored."""
    by_id = {r.id: r for r in rules}
    for rule_id in fitted.rules:
        rule = by_id.get(rule_id)
        if rule is None or not isinstance(rule.then, AddEvidence):
            ctx.error(0, f"rules.{rule_id}", "not an evidence rule of this knowledge base")
    for cause in fitted.priors:
        if cause not in causes:
            ctx.error(0, f"priors.{cause}", "not a cause of this knowledge base")
    out = []
    for rule in rules:
        w = fitted.rules.get(rule.id)
        if w is not None and isinstance(rule.then, AddEvidence):
            then = replace(
                rule.then, weight=round(math.log(w.lr), 6), lr=w.lr, origin="fitted",
                prior_lr=rule.then.lr, fitted_cases=w.cases,
            )  # fmt: skip
            rule = replace(rule, then=then)
        out.append(rule)
    new_causes = {
        cid: replace(c, prior=fitted.priors[cid].log_odds) if cid in fitted.priors else c
        for cid, c in causes.items()
    }
    new_model = replace(
        model,
        other_log_odds=(
            fitted.other_log_odds if fitted.other_log_odds is not None else model.other_log_odds
        ),
        list_floor=fitted.list_floor if fitted.list_floor is not None else model.list_floor,
        origin="fitted" if fitted.other_log_odds is not None else model.origin,
        prior_other_log_odds=model.other_log_odds if fitted.other_log_odds is not None else None,
        fitted_on=fitted.fitted_on,
        fitted_cases=fitted.cases,
    )
    return out, new_causes, new_model
