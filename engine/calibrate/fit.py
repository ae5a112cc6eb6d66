# SPDX-License-Identifier: Apache-2.0
"""The optimiser: penalised maximum likelihood of the expected causes, by L-BFGS-B.

For case i the class scores are ``s = b + sum of the weights of the evidence rules that fired``
and ``p = softmax(s)`` over the causes and "other". The loss is
``sum_i -log(sum_{c in expected_i} p_c) + lam |w - w0|^2 + lam_b |b - b0|^2``: the authored
values are the prior the fit shrinks toward, so a weight moves only as far as the cases push it.
Each weight keeps its authored sign and ``|w| <= ln(1000)``, and stays within the model's band
of its authored value (a factor of 2 for a profile side, 3 for an authored rule:
:data:`engine.calibrate.features.PROFILE_FIT_BAND`), so that the LR printed beside a statement never
contradicts the frequencies or evidence the statement gives; a rule that fired in no training case
keeps its authored weight exactly. The gradient is analytic (``dL/ds = p - q``, where ``q`` is
``p`` renormalised over the expected causes). numpy and scipy are imported inside functions
(the optional ``calibrate`` extra).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.calibrate import EXTRA_HINT
from engine.calibrate.features import Case, Model
from engine.errors import LeukodxError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Array = NDArray[np.float64]

#: |weight| never exceeds ln(1000): no single rule may claim a likelihood ratio above 1000.
MAX_ABS_WEIGHT = math.log(1000.0)


def numpy() -> Any:
    """The numpy module, or a :class:`LeukodxError` naming the extra to install."""
    return _extra("numpy")


def _extra(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise LeukodxError(f"calibrate needs numpy and scipy: {EXTRA_HINT}") from exc


def require_extra() -> None:
    """Fail early, before any case is read, when numpy or scipy is missing."""
    _extra("numpy")
    _extra("scipy.optimize")


@dataclass(frozen=True)
class Data:
    """The cases as arrays: fired[i, r] is 1 when rule r fired for case i; expected[i, k] is 1
    when class k is an expected cause of case i. ``pair_case``/``pair_rule`` list the nonzero
    entries of ``fired`` (the sparse form the loss uses: a rule adds to one class only)."""

    fired: Array
    expected: Array
    rule_class: NDArray[np.int64]
    onehot: Array  # (rules, classes): 1 where the rule adds evidence to the class
    w0: Array
    b0: Array
    pair_case: NDArray[np.int64]
    pair_rule: NDArray[np.int64]
    band: Array  # per rule, the most its weight may move from w0 (inf: no band)

    def subset(self, rows: Sequence[int]) -> Data:
        return _data(self.fired[numpy().asarray(rows, dtype=int)], self.expected[rows], self)


def design(cases: Sequence[Case], model: Model) -> Data:
    """The arrays for ``cases`` under ``model`` (rows in case order, columns sorted)."""
    np_ = numpy()
    col = {rid: j for j, rid in enumerate(model.rules)}
    fired = np_.zeros((len(cases), len(model.rules)))
    expected = np_.zeros((len(cases), len(model.classes)))
    for i, case in enumerate(cases):
        for rid in case.fired:
            fired[i, col[rid]] = 1.0
        for cause in case.expected:
            expected[i, model.class_index(cause)] = 1.0
    rule_class = np_.asarray(model.rule_class, dtype=np_.int64)
    onehot = np_.zeros((len(model.rules), len(model.classes)))
    onehot[np_.arange(len(model.rules)), rule_class] = 1.0
    empty = np_.zeros(0, dtype=np_.int64)
    n_rules = len(model.rules)
    band = np_.asarray(model.band, dtype=float) if model.band else np_.full(n_rules, np_.inf)
    shared = Data(
        fired,
        expected,
        rule_class,
        onehot,
        np_.asarray(model.weight, dtype=float),
        np_.asarray(model.prior, dtype=float),
        empty,
        empty,
        band,
    )
    return _data(fired, expected, shared)


def _data(fired: Array, expected: Array, like: Data) -> Data:
    """``like`` with other cases (recomputing the sparse pairs, in row-major order)."""
    pair_case, pair_rule = numpy().nonzero(fired)
    return Data(
        fired,
        expected,
        like.rule_class,
        like.onehot,
        like.w0,
        like.b0,
        pair_case.astype(int),
        pair_rule.astype(int),
        like.band,
    )


def scores(data: Data, w: Array, b: Array) -> Array:
    """Class scores, one row per case."""
    np_ = numpy()
    n, k = data.expected.shape
    cell = data.pair_case * k + data.rule_class[data.pair_rule]
    added = np_.bincount(cell, weights=w[data.pair_rule], minlength=n * k).reshape(n, k)
    result: Array = added + b
    return result


def softmax(s: Array) -> Array:
    np_ = numpy()
    z = s - s.max(axis=1, keepdims=True)
    e = np_.exp(z)
    result: Array = e / e.sum(axis=1, keepdims=True)
    return result


def nll(data: Data, w: Array, b: Array) -> Array:
    """-log P(expected) per case (the unpenalised loss)."""
    np_ = numpy()
    s = scores(data, w, b)
    top = s.max(axis=1, keepdims=True)
    all_ = np_.log(np_.exp(s - top).sum(axis=1))
    exp_ = np_.log((np_.exp(s - top) * data.expected).sum(axis=1))
    result: Array = all_ - exp_
    return result


def loss_and_grad(theta: Array, data: Data, lam: float, lam_b: float) -> tuple[float, Array]:
    """The penalised loss at ``theta = [w, b]`` and its gradient."""
    np_ = numpy()
    n_rules = data.w0.shape[0]
    w, b = theta[:n_rules], theta[n_rules:]
    s = scores(data, w, b)
    p = softmax(s)
    pe = p * data.expected
    mass = pe.sum(axis=1, keepdims=True)
    g = p - pe / mass  # dL/ds
    loss = float(-np_.log(mass).sum())
    dw, db = w - data.w0, b - data.b0
    loss += lam * float(dw @ dw) + lam_b * float(db @ db)
    per_pair = g[data.pair_case, data.rule_class[data.pair_rule]]
    grad_w = np_.bincount(data.pair_rule, weights=per_pair, minlength=n_rules) + 2.0 * lam * dw
    grad_b = g.sum(axis=0) + 2.0 * lam_b * db
    grad: Array = np_.concatenate([grad_w, grad_b])
    return loss, grad


@dataclass(frozen=True)
class Fit:
    w: Array
    b: Array
    lam: float
    converged: bool
    iterations: int


def bounds(data: Data) -> list[tuple[float | None, float | None]]:
    """Per parameter: sign held, |w| <= ln(1000), within the band of the authored weight,
    unfired rules fixed; priors free."""
    used = data.fired.sum(axis=0) > 0
    out: list[tuple[float | None, float | None]] = []
    for w0, on, band in zip(data.w0.tolist(), used.tolist(), data.band.tolist(), strict=True):
        if not on:
            out.append((w0, w0))
        elif w0 >= 0:
            out.append((max(0.0, w0 - band), min(MAX_ABS_WEIGHT, w0 + band)))
        else:
            out.append((max(-MAX_ABS_WEIGHT, w0 - band), min(0.0, w0 + band)))
    return out + [(None, None)] * data.b0.shape[0]


def fit(data: Data, lam: float, lam_b: float | None = None) -> Fit:
    """Minimise the penalised loss from the authored values (``lam_b`` defaults to ``lam``)."""
    np_ = numpy()
    optimize = _extra("scipy.optimize")
    lam_b = lam if lam_b is None else lam_b
    box = bounds(data)
    x0 = np_.concatenate([data.w0, data.b0])
    lo = np_.array([-np_.inf if a is None else a for a, _ in box])
    hi = np_.array([np_.inf if z is None else z for _, z in box])
    x0 = np_.clip(x0, lo, hi)
    result = optimize.minimize(
        loss_and_grad,
        x0,
        args=(data, lam, lam_b),
        jac=True,
        method="L-BFGS-B",
        bounds=box,
        options={"maxiter": 5000, "maxcor": 20, "ftol": 1e-12, "gtol": 1e-7},
    )
    x = np_.clip(np_.asarray(result.x, dtype=float), lo, hi)
    n_rules = data.w0.shape[0]
    return Fit(x[:n_rules], x[n_rules:], lam, bool(result.success), int(result.nit))


def authored(data: Data) -> Fit:
    """The authored values as a :class:`Fit` (the "before" model)."""
    return Fit(data.w0.copy(), data.b0.copy(), 0.0, True, 0)
