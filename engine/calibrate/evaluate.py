# SPDX-License-Identifier: Apache-2.0
"""Nested grouped cross-validation, ranking metrics and probability calibration.

Figures that judge a fit must come from cases the fit did not see, and cases from one
publication are not independent; so every fold holds whole publication groups, lambda is chosen
by an inner grouped CV inside each outer training part (nested), and the headline "after" figures
are out-of-fold. "Before" uses the authored values, which saw no case here. The final fit on all
cases (lambda from a grouped CV on all cases) gives the fitted values and in-sample figures,
labelled as such. Rank metrics follow the engine: a cause is listed when an evidence rule with a
positive weight fired for it or its probability reaches the listing floor; listed causes are
ranked by score (4 decimals, as :mod:`engine.rank`), ties by cause id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.calibrate.features import Case, Model, assign_folds, fold_indices
from engine.calibrate.fit import Data, Fit, authored, design, fit, nll, numpy, scores, softmax
from engine.rank import SCORE_DECIMALS

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Array = NDArray[np.float64]

LAMBDA_GRID: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class Prediction:
    """One case under one fitted model: class probabilities and the expected cause's rank."""

    probabilities: tuple[float, ...]
    listed: tuple[int, ...]  # class indices, in rank order
    rank: int | None  # best rank of an expected cause among the listed, None when not listed
    nll: float


@dataclass(frozen=True)
class Metrics:
    n: int
    top1: float
    top3: float
    mrr: float
    listed: float
    log_loss: float


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed: float | None


@dataclass(frozen=True)
class Calibration:
    bins: tuple[Bin, ...]
    brier: float


@dataclass
class Evaluation:
    """Everything the report shows."""

    n_cases: int
    n_groups: int
    folds: int
    seed: int
    grid: tuple[float, ...]
    lam: float = 0.0
    fold_lambdas: list[float] = field(default_factory=list)
    lambda_losses: dict[float, float] = field(default_factory=dict)
    before: Metrics | None = None
    after_cv: Metrics | None = None
    after_in_sample: Metrics | None = None
    calibration_before: Calibration | None = None
    calibration_after: Calibration | None = None
    final: Fit | None = None
    fired_counts: list[int] = field(default_factory=list)
    converged: bool = True


def predict(data: Data, model: Model, params: Fit, cases: Sequence[Case]) -> list[Prediction]:
    """Predictions for the rows of ``data`` (one per case of ``cases``, in order)."""
    s = scores(data, params.w, params.b)
    p = softmax(s)
    losses = nll(data, params.w, params.b)
    positive = (data.fired * (params.w > 0)) @ data.onehot  # rules with w > 0 fired, per class
    n_causes = len(model.classes) - 1  # "other" is never listed
    out = []
    for i, case in enumerate(cases):
        floor = model.list_floor if case.presentation else math.inf
        row_s = [round(float(x), SCORE_DECIMALS) for x in s[i]]
        row_p = [float(x) for x in p[i]]
        listed = sorted(
            (c for c in range(n_causes) if positive[i, c] > 0 or row_p[c] >= floor),
            key=lambda c: (-row_s[c], model.classes[c]),
        )
        wanted = {model.class_index(c) for c in case.expected}
        ranks = [k + 1 for k, c in enumerate(listed) if c in wanted]
        out.append(
            Prediction(tuple(row_p), tuple(listed), min(ranks, default=None), float(losses[i]))
        )
    return out


def metrics(predictions: Sequence[Prediction]) -> Metrics:
    n = len(predictions)
    ranks = [p.rank for p in predictions]
    return Metrics(
        n=n,
        top1=sum(1 for r in ranks if r == 1) / n,
        top3=sum(1 for r in ranks if r is not None and r <= 3) / n,
        mrr=sum(1.0 / r for r in ranks if r is not None) / n,
        listed=sum(1 for r in ranks if r is not None) / n,
        log_loss=sum(float(p.nll) for p in predictions) / n,
    )


def calibration(
    predictions: Sequence[Prediction], cases: Sequence[Case], model: Model
) -> Calibration:
    """Reliability by tenth of predicted probability over (case, listed cause) pairs, and the
    multi-class Brier score over every class (target spread evenly over the expected causes)."""
    sums = [[0, 0.0, 0.0] for _ in range(RELIABILITY_BINS)]  # count, predicted, observed
    brier = 0.0
    for pred, case in zip(predictions, cases, strict=True):
        wanted = {model.class_index(c) for c in case.expected}
        for c in pred.listed:
            k = min(int(pred.probabilities[c] * RELIABILITY_BINS), RELIABILITY_BINS - 1)
            sums[k][0] += 1
            sums[k][1] += pred.probabilities[c]
            sums[k][2] += 1.0 if c in wanted else 0.0
        brier += sum(
            (q - (1.0 / len(wanted) if c in wanted else 0.0)) ** 2
            for c, q in enumerate(pred.probabilities)
        )
    bins = tuple(
        Bin(
            low=k / RELIABILITY_BINS,
            high=(k + 1) / RELIABILITY_BINS,
            count=int(count),
            mean_predicted=predicted / count if count else None,
            observed=observed / count if count else None,
        )
        for k, (count, predicted, observed) in enumerate(sums)
    )
    return Calibration(bins, brier / len(predictions))


def choose_lambda(
    data: Data, groups: Sequence[int], k: int, seed: int, grid: Sequence[float]
) -> tuple[float, dict[float, float]]:
    """The lambda of ``grid`` with the lowest grouped-CV log loss on ``data`` (ties: the larger,
    which stays nearer the authored values); also the loss of every lambda."""
    n_groups = len(set(groups))
    if n_groups < 2:
        return 1.0, {}
    k = min(k, n_groups)
    folds = assign_folds(list(groups), k, seed)
    losses: dict[float, float] = {}
    for lam in grid:
        total = 0.0
        for train, test in fold_indices(folds, k):
            params = fit(data.subset(train), lam)
            total += float(nll(data.subset(test), params.w, params.b).sum())
        losses[lam] = total / len(groups)
    best = min(losses.values())
    return max(lam for lam, v in losses.items() if v <= best + 1e-12), losses


def evaluate(
    cases: Sequence[Case],
    model: Model,
    groups: Sequence[int],
    *,
    folds: int,
    seed: int,
    grid: Sequence[float] = LAMBDA_GRID,
    on_step: Callable[[str], None] | None = None,
) -> Evaluation:
    """Before/after figures by nested grouped CV, then the final fit on all cases."""
    np_ = numpy()
    note = on_step or (lambda _msg: None)
    data = design(cases, model)
    outer = assign_folds(list(groups), folds, seed)
    result = Evaluation(len(cases), len(set(groups)), folds, seed, tuple(grid))
    before = predict(data, model, authored(data), cases)
    after: list[Prediction | None] = [None] * len(cases)
    converged = True
    for f, (train, test) in enumerate(fold_indices(outer, folds)):
        note(f"outer fold {f + 1}/{folds}: choosing lambda on {len(train)} cases")
        lam, _ = choose_lambda(data.subset(train), [groups[i] for i in train], folds, seed, grid)
        params = fit(data.subset(train), lam)
        converged &= params.converged
        result.fold_lambdas.append(lam)
        held = predict(data.subset(test), model, params, [cases[i] for i in test])
        for i, pred in zip(test, held, strict=True):
            after[i] = pred
    note("final fit on all cases")
    lam, losses = choose_lambda(data, groups, folds, seed, grid)
    final = fit(data, lam)
    oof = [p for p in after if p is not None]
    result.lam, result.lambda_losses, result.final = lam, losses, final
    result.before, result.after_cv = metrics(before), metrics(oof)
    result.after_in_sample = metrics(predict(data, model, final, cases))
    result.calibration_before = calibration(before, cases, model)
    result.calibration_after = calibration(oof, cases, model)
    result.fired_counts = [int(x) for x in np_.asarray(data.fired.sum(axis=0)).tolist()]
    result.converged = converged and final.converged
    return result
