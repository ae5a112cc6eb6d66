# SPDX-License-Identifier: Apache-2.0
"""The calibration's outputs: a summary table, a Markdown report, JSON, and the fitted file.

Every output is deterministic (sorted keys, fixed rounding, no timings), so that the same cases
and knowledge base give the same bytes and a change in the fit shows up as a reviewable diff.
The fitted YAML (``--write``) holds only values that moved by at least 0.01 and records each
authored value beside the fitted one; it is read by the knowledge-base loader and reviewed like
any rule file.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from engine.calibrate.evaluate import Calibration, Evaluation, Metrics
from engine.calibrate.features import PROFILE_FIT_BAND, RULE_FIT_BAND, Model, Skipped
from engine.calibrate.headroom import MIN_SUPPORT, Headroom

#: A fitted value is written only when it moved by at least this much (log scale).
MIN_MOVE = 0.01
DIGITS = 6
METHOD = (
    "penalised maximum likelihood of the expected cause (softmax over causes and other), "
    "L2 shrinkage toward the authored values, signs held, each LR within a factor of "
    f"{PROFILE_FIT_BAND:g} (profile sides) or {RULE_FIT_BAND:g} (authored rules) of its authored "
    "value, |w| <= ln(1000), lambda by grouped cross-validation over publications"
)


@dataclass(frozen=True)
class RunInfo:
    """What the run was given: reported so that a result can be reproduced."""

    paths: tuple[str, ...]
    backend: str
    kb_name: str
    kb_version: str
    kb_hash: str


def _r(x: float | None, digits: int = DIGITS) -> float | None:
    return None if x is None else round(float(x), digits) + 0.0  # + 0.0: no "-0.0"


def _metrics(m: Metrics | None) -> dict[str, Any]:
    if m is None:
        return {}
    return {k: (_r(v) if isinstance(v, float) else v) for k, v in asdict(m).items()}


def _calibration(c: Calibration | None) -> dict[str, Any]:
    if c is None:
        return {}
    return {
        "brier": _r(c.brier),
        "bins": [
            {
                "low": _r(b.low),
                "high": _r(b.high),
                "count": b.count,
                "mean_predicted": _r(b.mean_predicted),
                "observed": _r(b.observed),
            }
            for b in c.bins
        ],
    }


def moved_rules(result: Evaluation, model: Model) -> list[tuple[str, float, float, int]]:
    """(rule id, fitted weight, authored weight, cases fired) for each rule that moved."""
    assert result.final is not None
    out = []
    for j, rid in enumerate(model.rules):
        w, w0 = float(result.final.w[j]), model.weight[j]
        if abs(w - w0) >= MIN_MOVE:
            out.append((rid, w, w0, result.fired_counts[j]))
    return out


def moved_priors(result: Evaluation, model: Model) -> list[tuple[str, float, float]]:
    """(cause id, fitted log-odds, authored log-odds) for each cause whose prior moved."""
    assert result.final is not None
    out = []
    for k, cause in enumerate(model.classes[:-1]):
        b, b0 = float(result.final.b[k]), model.prior[k]
        if abs(b - b0) >= MIN_MOVE:
            out.append((cause, b, b0))
    return out


def to_json(
    result: Evaluation,
    model: Model,
    skipped: list[Skipped],
    info: RunInfo,
    headroom: Headroom | None = None,
) -> str:
    assert result.final is not None
    doc: dict[str, Any] = {
        "run": asdict(info) | {"paths": list(info.paths)},
        "cases": result.n_cases,
        "groups": result.n_groups,
        "folds": result.folds,
        "seed": result.seed,
        "lambda": result.lam,
        "lambda_prior": result.lam,
        "lambda_grid": list(result.grid),
        "lambda_cv_log_loss": {f"{k:g}": _r(v) for k, v in result.lambda_losses.items()},
        "fold_lambdas": result.fold_lambdas,
        "converged": result.converged,
        "metrics": {
            "before_cv": _metrics(result.before),
            "after_cv": _metrics(result.after_cv),
            "after_in_sample": _metrics(result.after_in_sample),
        },
        "calibration": {
            "before_cv": _calibration(result.calibration_before),
            "after_cv": _calibration(result.calibration_after),
        },
        "other_log_odds": _r(float(result.final.b[-1])),
        "other_log_odds_prior": _r(model.prior[-1]),
        "rules": {
            rid: {"weight": _r(w), "prior_weight": _r(w0), "cases": n}
            for rid, w, w0, n in moved_rules(result, model)
        },
        "priors": {
            cause: {"log_odds": _r(b), "prior_log_odds": _r(b0)}
            for cause, b, b0 in moved_priors(result, model)
        },
        "skipped": [asdict(s) for s in skipped],
    }
    if headroom is not None:
        doc["headroom"] = headroom_doc(headroom)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _sig3(x: float) -> str:
    """``x`` to 3 significant figures, written as a plain YAML number (never exponent form)."""
    digits = max(0, 2 - math.floor(math.log10(abs(x)))) if x else 0
    text = f"{round(x, digits):.{digits}f}"
    return text if "." in text else text + ".0"


def _num(x: float, digits: int = 2) -> str:
    return f"{round(x, digits) + 0.0:.{digits}f}"


def fitted_yaml(result: Evaluation, model: Model, today: dt.date) -> str:
    """The ``--write`` file: sorted keys, only moved values, each beside its authored value."""
    assert result.final is not None
    lines = [
        "# Written by `leukodx calibrate`; review like any rule file. "
        "Each weight records its prior value.",
        f"cases: {result.n_cases}",
        f"fitted_on: {today.isoformat()}",
        f"groups: {result.n_groups}",
        f"lambda: {result.lam:g}",
        f"method: {json.dumps(METHOD)}",
        f"other_log_odds: {_num(float(result.final.b[-1]))}",
        f"other_log_odds_prior: {_num(model.prior[-1])}",
    ]
    priors = moved_priors(result, model)
    lines.append("priors:" + ("" if priors else " {}"))
    for cause, b, b0 in priors:
        lines.append(f"  {cause}: {{log_odds: {_num(b)}, prior_log_odds: {_num(b0)}}}")
    rules = moved_rules(result, model)
    lines.append("rules:" + ("" if rules else " {}"))
    for rid, w, w0, n in rules:
        lines.append(
            f"  {rid}: {{cases: {n}, lr: {_sig3(math.exp(w))}, prior_lr: {_sig3(math.exp(w0))}}}"
        )
    return "\n".join(lines) + "\n"


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def summary_table(result: Evaluation) -> str:
    """The short table printed by the command."""
    rows = [
        ("before (authored), out-of-fold", result.before),
        ("after (fitted), out-of-fold CV", result.after_cv),
        ("after (fitted), in-sample", result.after_in_sample),
    ]
    head = f"{'':32} {'top-1':>6} {'top-3':>6} {'MRR':>6} {'listed':>6} {'logloss':>7}"
    out = [f"cases {result.n_cases}, publications {result.n_groups}, folds {result.folds}", head]
    for label, m in rows:
        if m is not None:
            out.append(
                f"{label:32} {m.top1:6.3f} {m.top3:6.3f} {m.mrr:6.3f} {m.listed:6.3f} "
                f"{m.log_loss:7.3f}"
            )
    cb, ca = result.calibration_before, result.calibration_after
    if cb and ca:
        out.append(f"Brier (out-of-fold): before {cb.brier:.4f}, after {ca.brier:.4f}")
    folds = ", ".join(f"{x:g}" for x in result.fold_lambdas)
    out.append(f"lambda {result.lam:g} (grid {', '.join(f'{x:g}' for x in result.grid)}; "
               f"outer folds: {folds})")  # fmt: skip
    return "\n".join(out)


def to_markdown(
    result: Evaluation,
    model: Model,
    skipped: list[Skipped],
    info: RunInfo,
    headroom: Headroom | None = None,
) -> str:
    assert result.final is not None
    out = [
        "# leukodx calibration report",
        "",
        f"Knowledge base {info.kb_name} {info.kb_version} (content hash `{info.kb_hash}`), "
        f"backend {info.backend}. Cases from: {', '.join(info.paths)}.",
        "",
        f"{result.n_cases} cases in {result.n_groups} publication groups; grouped {result.folds}-"
        f"fold cross-validation (seed {result.seed}); lambda chosen by inner grouped CV in each "
        "outer fold (nested); every fitted LR held to its authored sign and within a factor of "
        f"{PROFILE_FIT_BAND:g} (profile sides) or {RULE_FIT_BAND:g} (authored rules) of its "
        'authored value. "Before" is the authored model, "after" the fitted one; '
        "the in-sample row is the final fit scored on the cases it was fitted on and flatters it.",
        "",
        "## Summary",
        "",
        "| model | top-1 | top-3 | MRR | listed | log loss |",
        "|---|---|---|---|---|---|",
    ]
    for label, m in (
        ("before (authored), out-of-fold", result.before),
        ("after (fitted), out-of-fold CV", result.after_cv),
        ("after (fitted), **in-sample**", result.after_in_sample),
    ):
        if m is not None:
            out.append(
                f"| {label} | {_f(m.top1)} | {_f(m.top3)} | {_f(m.mrr)} | {_f(m.listed)} "
                f"| {_f(m.log_loss)} |"
            )
    losses = ", ".join(f"{k:g}: {v:.4f}" for k, v in result.lambda_losses.items())
    out += [
        "",
        f"Chosen lambda (final fit, also the prior penalty): **{result.lam:g}** "
        f"(grouped-CV log loss per case: {losses or 'not computed'}). "
        f"Outer folds chose: {', '.join(f'{x:g}' for x in result.fold_lambdas)}. "
        f"Optimiser converged: {'yes' if result.converged else 'NO'}.",
        "",
        "## Probability calibration (out-of-fold)",
        "",
        "Over every (case, listed cause) pair, by tenth of predicted probability; observed is the "
        "share of pairs whose cause is an expected one.",
        "",
    ]
    for label, cal in (("Before", result.calibration_before), ("After", result.calibration_after)):
        if cal is None:
            continue
        out += [
            f"{label}: Brier score {cal.brier:.4f} (multi-class over the causes and other).",
            "",
            "| predicted | pairs | mean predicted | observed |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {b.low:.1f}-{b.high:.1f} | {b.count} | {_f(b.mean_predicted)} | {_f(b.observed)} |"
            for b in cal.bins
        ]
        out.append("")
    rules = sorted(moved_rules(result, model), key=lambda r: (-abs(r[1] - r[2]), r[0]))
    out += [
        f"## Fitted weights ({len(rules)} moved by >= {MIN_MOVE})",
        "",
        "| rule | LR fitted | LR authored | cases |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {rid} | {_sig3(math.exp(w))} | {_sig3(math.exp(w0))} | {n} |" for rid, w, w0, n in rules
    ]
    priors = moved_priors(result, model)
    out += [
        "",
        f"## Fitted priors ({len(priors)} moved by >= {MIN_MOVE})",
        "",
        f"other: {_num(float(result.final.b[-1]))} (authored {_num(model.prior[-1])})",
        "",
        "| cause | log-odds fitted | log-odds authored |",
        "|---|---|---|",
    ]
    out += [f"| {c} | {_num(b)} | {_num(b0)} |" for c, b, b0 in priors]
    if headroom is not None:
        out += ["", *headroom_markdown(headroom)]
    if skipped:
        out += ["", f"## Skipped case files ({len(skipped)})", ""]
        out += [f"- `{s.file}`: {s.message}" for s in skipped]
    return "\n".join(out) + "\n"


def headroom_doc(h: Headroom) -> dict[str, Any]:
    """The ``--headroom`` figures for the JSON output."""
    return {
        "lambda": h.lam,
        "seed": h.seed,
        "folds": h.folds,
        "learning_curve": [
            {
                "fraction": p.fraction,
                "training_cases": _r(p.training_cases, 1),
                "top1": _r(p.top1),
                "top3": _r(p.top3),
            }
            for p in h.curve
        ],
        "top3_per_doubling": _r(h.top3_per_doubling),
        "observations": h.observations,
        "min_support": MIN_SUPPORT,
        "residual": [
            {"penalty": p.penalty, "top1": _r(p.top1), "top3": _r(p.top3)} for p in h.residual
        ],
    }


def _residual_label(penalty: float | None) -> str:
    return "fitted engine alone" if penalty is None else f"+ free weights, penalty {penalty:g}"


def headroom_table(h: Headroom) -> str:
    """The short ``--headroom`` table printed by the command."""
    out = [f"headroom (fold seed {h.seed}, lambda {h.lam:g}): learning curve"]
    out += [
        f"  {p.fraction:4.2f} of the publications (~{p.training_cases:.0f} training cases): "
        f"top-1 {p.top1:.3f}, top-3 {p.top3:.3f}"
        for p in h.curve
    ]
    out.append(f"  top-3 per doubling of the cases: {h.top3_per_doubling:+.3f}")
    out.append(
        f"headroom: free residual weights on {h.observations} observations x causes "
        "(every cause ranked by score)"
    )
    out += [
        f"  {_residual_label(p.penalty):36} top-1 {p.top1:.3f}, top-3 {p.top3:.3f}"
        for p in h.residual
    ]
    return "\n".join(out)


def headroom_markdown(h: Headroom) -> list[str]:
    """The ``--headroom`` section of the Markdown report."""
    out = [
        "## Headroom: is the model or the data the limit?",
        "",
        f"Under the same grouped folds (seed {h.seed}, {h.folds} folds) and the final fit's "
        f"lambda ({h.lam:g}); not nested, and no weight is changed by it "
        "(engine/calibrate/headroom.py).",
        "",
        "**Learning curve.** Each training part keeps a fraction of its publications (fixed "
        "random draws; the held-out folds are unchanged). A curve still rising at the full size "
        "says more cases would help.",
        "",
        "| publications kept | training cases (mean) | top-1 | top-3 |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {p.fraction:.2f} | {p.training_cases:.0f} | {_f(p.top1)} | {_f(p.top3)} |"
        for p in h.curve
    ]
    out += [
        "",
        f"Top-3 per doubling of the training cases (least squares over the rows): "
        f"{h.top3_per_doubling:+.3f}.",
        "",
        "**Residual headroom.** On top of the fitted engine's scores, a free weight for every "
        f"(observation, cause) pair, over the {h.observations} observations at least "
        f"{MIN_SUPPORT} cases carry (every fired rule, every finding, condition and history "
        "entry present or absent, every lab test recorded, age band, sex), L2-penalised toward "
        "zero and fitted on each training part. Every cause is ranked by score here, so the "
        "first row can differ slightly from the headline figure. If the free weights do not "
        "raise the held-out figures, the information the cases record is used up: more rules "
        "reading the same inputs will not raise them either.",
        "",
        "| model | top-1 | top-3 |",
        "|---|---|---|",
    ]
    out += [f"| {_residual_label(p.penalty)} | {_f(p.top1)} | {_f(p.top3)} |" for p in h.residual]
    return out
