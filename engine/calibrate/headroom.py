# SPDX-License-Identifier: Apache-2.0
"""How much better could any ranking do on these cases? Two measurements behind that question.

When the cross-validated figures stop rising, the question is whether the scoring model or the
cases are the limit. Both answers are measured here, under the same grouped folds as the headline
figures (cases of one publication in one fold) and with the lambda the final fit chose:

* **Learning curve.** Each training part keeps a fraction of its publications (chosen at random
  with a fixed seed); the held-out folds are unchanged. If the figures still rise at the full
  size, more cases would help, and the slope per doubling says by how much.
* **Residual headroom.** On top of the fitted engine's scores, every (observation, cause) pair
  gets a free weight, penalised toward zero and fitted on the training part only. The
  observations are everything the engine read about a case: every rule that fired (findings,
  alerts and evidence alike) and every input item (each finding, condition and history entry
  present or recorded absent, each lab test recorded, the age band and sex). Such a model can
  learn any linear use of that information the authored rules missed, including uses no
  clinician would defend; if even it does not raise the held-out figures, the information the
  cases record is used up, and more rules of any kind will not raise them either.

Neither result changes a weight: this is a diagnostic for the people maintaining the knowledge
base, reported by ``leukodx calibrate --headroom``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from engine.calibrate.evaluate import Prediction, metrics, predict
from engine.calibrate.features import Case, Model, assign_folds, fold_indices
from engine.calibrate.fit import Data, Fit, _extra, fit, numpy, scores

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Array = NDArray[np.float64]

#: Fractions of each training part's publications the learning curve keeps.
CURVE_FRACTIONS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
#: Random draws of publications per fraction below 1 (their figures are averaged).
CURVE_REPEATS = 2
#: L2 penalties tried on the free residual weights (larger: nearer the fitted engine).
HEADROOM_PENALTIES: tuple[float, ...] = (3.0, 10.0, 30.0)
#: An observation enters the residual model when at least this many training cases carry it.
MIN_SUPPORT = 3


@dataclass(frozen=True)
class Setting:
    """What both measurements share: the cases as arrays, the model, the publication groups,
    the grouped folds (``folds`` of them, assigned with ``seed``) and the fit's lambda."""

    data: Data
    model: Model
    cases: Sequence[Case]
    groups: Sequence[int]
    folds: int
    seed: int
    lam: float

    @cached_property
    def splits(self) -> list[tuple[list[int], list[int]]]:
        """(training, held-out) case indices of each grouped fold."""
        assigned = assign_folds(list(self.groups), self.folds, self.seed)
        return list(fold_indices(assigned, self.folds))

    @cached_property
    def fold_fits(self) -> list[Fit]:
        """The fit on each fold's whole training part: the learning curve's full-size row and
        the residual model's offsets are the same fits, made once."""
        return [fit(self.data.subset(train), self.lam) for train, _ in self.splits]


@dataclass(frozen=True)
class CurvePoint:
    """Out-of-fold figures when each training part keeps ``fraction`` of its publications."""

    fraction: float
    training_cases: float  # mean over folds and draws
    top1: float
    top3: float


@dataclass(frozen=True)
class HeadroomPoint:
    """Out-of-fold figures of the fitted engine plus free residual weights at ``penalty``
    (``penalty`` None: the fitted engine alone). Every cause is ranked by score here, so the
    engine's own row can differ slightly from the headline figure, which lists causes by the
    engine's listing rule."""

    penalty: float | None
    top1: float
    top3: float


@dataclass(frozen=True)
class Headroom:
    lam: float
    seed: int
    folds: int
    curve: tuple[CurvePoint, ...]
    top3_per_doubling: float  # least-squares slope of top-3 over log2(training cases)
    observations: int  # distinct observations carried by at least MIN_SUPPORT cases
    residual: tuple[HeadroomPoint, ...]


def learning_curve(
    setting: Setting,
    fractions: Sequence[float] = CURVE_FRACTIONS,
    repeats: int = CURVE_REPEATS,
) -> tuple[CurvePoint, ...]:
    """Grouped-CV figures with each training part cut to a fraction of its publications."""
    data, model, cases, groups = setting.data, setting.model, setting.cases, setting.groups
    splits = setting.splits
    points = []
    for fraction in fractions:
        draws = 1 if fraction >= 1.0 else repeats
        top1 = top3 = kept_total = 0.0
        for draw in range(draws):
            rng = random.Random(f"{setting.seed}:{fraction}:{draw}")
            held: list[Prediction | None] = [None] * len(cases)
            for k, (train, test) in enumerate(splits):
                publications = sorted({groups[i] for i in train})
                keep = set(rng.sample(publications, max(1, round(fraction * len(publications)))))
                kept = [i for i in train if groups[i] in keep]
                kept_total += len(kept)
                whole = len(kept) == len(train)
                params = setting.fold_fits[k] if whole else fit(data.subset(kept), setting.lam)
                preds = predict(data.subset(test), model, params, [cases[i] for i in test])
                for i, pred in zip(test, preds, strict=True):
                    held[i] = pred
            m = metrics([pred for pred in held if pred is not None])
            top1, top3 = top1 + m.top1, top3 + m.top3
        points.append(
            CurvePoint(fraction, kept_total / (draws * len(splits)), top1 / draws, top3 / draws)
        )
    return tuple(points)


def slope_per_doubling(curve: Sequence[CurvePoint]) -> float:
    """Least-squares slope of top-3 against log2 of the training cases (0 for one point)."""
    xs = [math.log2(p.training_cases) for p in curve if p.training_cases > 0]
    ys = [p.top3 for p in curve if p.training_cases > 0]
    if len(xs) < 2:
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return 0.0 if sxx == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def _matrix(cases: Sequence[Case], rows: Sequence[int], vocab: dict[str, int]) -> Array:
    np_ = numpy()
    x = np_.zeros((len(rows), len(vocab)))
    for r, i in enumerate(rows):
        for label in cases[i].observations:
            j = vocab.get(label)
            if j is not None:
                x[r, j] = 1.0
    result: Array = x
    return result


def _fit_residual(x: Array, offset: Array, expected: Array, penalty: float) -> Array:
    """Free weights (observations x classes) maximising the penalised likelihood of the
    expected causes, with the engine's scores as a fixed offset."""
    np_ = numpy()
    optimize = _extra("scipy.optimize")
    d, k = x.shape[1], offset.shape[1]

    def loss_and_grad(flat: Array) -> tuple[float, Array]:
        w = flat.reshape(d, k)
        s = offset + x @ w
        s = s - s.max(axis=1, keepdims=True)
        e = np_.exp(s)
        p = e / e.sum(axis=1, keepdims=True)
        pe = p * expected
        mass = pe.sum(axis=1, keepdims=True)
        loss = float(-np_.log(mass).sum()) + penalty * float((w * w).sum())
        grad = x.T @ (p - pe / mass) + 2.0 * penalty * w
        return loss, grad.ravel()

    result = optimize.minimize(
        loss_and_grad,
        np_.zeros(d * k),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 3000, "ftol": 1e-10, "gtol": 1e-6},
    )
    weights: Array = np_.asarray(result.x, dtype=float).reshape(d, k)
    return weights


def _ranks(s: Array, expected: Array, n_causes: int) -> list[int]:
    """The best rank of an expected cause among the causes (not "other"), by score."""
    out = []
    for row, want in zip(s[:, :n_causes], expected[:, :n_causes], strict=True):
        wanted = [float(v) for v, w in zip(row, want, strict=True) if w > 0]
        out.append(1 + int((row > max(wanted)).sum()) if wanted else 10**6)
    return out


def residual_headroom(
    setting: Setting, penalties: Sequence[float] = HEADROOM_PENALTIES
) -> tuple[int, tuple[HeadroomPoint, ...]]:
    """Out-of-fold figures of the fitted engine alone and with free residual weights; also how
    many observations (carried by at least MIN_SUPPORT cases) the residual model could use."""
    np_ = numpy()
    data, model, cases = setting.data, setting.model, setting.cases
    n_causes = len(model.classes) - 1
    ranks: dict[float | None, list[int]] = {p: [] for p in (None, *penalties)}
    support: dict[str, int] = {}
    for case in cases:
        for label in case.observations:
            support[label] = support.get(label, 0) + 1
    used = sum(1 for n in support.values() if n >= MIN_SUPPORT)
    for (train, test), params in zip(setting.splits, setting.fold_fits, strict=True):
        s_train = scores(data.subset(train), params.w, params.b)
        s_test = scores(data.subset(test), params.w, params.b)
        counts: dict[str, int] = {}
        for i in train:
            for label in cases[i].observations:
                counts[label] = counts.get(label, 0) + 1
        common = sorted(label for label, n in counts.items() if n >= MIN_SUPPORT)
        vocab = {label: j for j, label in enumerate(common)}
        x_train, x_test = _matrix(cases, train, vocab), _matrix(cases, test, vocab)
        expected_test = data.expected[np_.asarray(test, dtype=int)]
        expected_train = data.expected[np_.asarray(train, dtype=int)]
        ranks[None] += _ranks(s_test, expected_test, n_causes)
        for penalty in penalties:
            w = _fit_residual(x_train, s_train, expected_train, penalty)
            ranks[penalty] += _ranks(s_test + x_test @ w, expected_test, n_causes)
    n = len(cases)
    points = tuple(
        HeadroomPoint(p, sum(r == 1 for r in rs) / n, sum(r <= 3 for r in rs) / n)
        for p, rs in ranks.items()
    )
    return used, points


def headroom(setting: Setting, on_step: Callable[[str], None] | None = None) -> Headroom:
    """Both measurements, under the setting's folds and lambda."""
    note = on_step or (lambda _msg: None)
    note("headroom: learning curve")
    curve = learning_curve(setting)
    note("headroom: free residual weights")
    used, residual = residual_headroom(setting)
    return Headroom(
        setting.lam, setting.seed, setting.folds, curve, slope_per_doubling(curve), used, residual
    )
