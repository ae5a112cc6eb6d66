# SPDX-License-Identifier: Apache-2.0
"""The optimiser on a small synthetic problem: analytic gradient, held signs, shrinkage, and a
better training likelihood than the authored values."""

from __future__ import annotations

import numpy as np
import pytest

from engine.calibrate.evaluate import choose_lambda, metrics, predict
from engine.calibrate.features import Case, Model
from engine.calibrate.fit import MAX_ABS_WEIGHT, Data, design, fit, loss_and_grad, nll

CLASSES = ("a", "b", "c", "other")
RULES = ("a.one", "a.two", "b.one", "b.neg", "c.one", "c.unused")


def model() -> Model:
    return Model(
        classes=CLASSES,
        prior=(-2.0, -2.0, -2.5, 0.0),
        rules=RULES,
        rule_class=(0, 0, 1, 1, 2, 2),
        weight=(1.0, 0.5, 1.0, -0.5, 2.0, 1.5),
        list_floor=0.01,
    )


def synthetic(n: int = 60, seed: int = 1) -> tuple[list[Case], Data]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        truth = ("a", "b", "c")[i % 3]
        fired = [r for r in RULES[:5] if rng.random() < (0.8 if r[0] == truth else 0.2)]
        if truth == "b" and "b.neg" in fired:
            fired.remove("b.neg")  # b.neg is evidence against b: it fires for the others
        expected = (truth,) if i % 7 else (truth, "c")
        cases.append(Case(f"s{i}", f"s{i}.yaml", f"PMID {i}", expected, tuple(sorted(fired))))
    return cases, design(cases, model())


def test_gradient_matches_finite_differences() -> None:
    _, data = synthetic()
    rng = np.random.default_rng(0)
    theta = np.concatenate([data.w0, data.b0]) + rng.normal(0, 0.3, size=10)
    _, grad = loss_and_grad(theta, data, 0.7, 0.2)
    eps = 1e-6
    numeric = np.array(
        [
            (
                loss_and_grad(theta + eps * e, data, 0.7, 0.2)[0]
                - loss_and_grad(theta - eps * e, data, 0.7, 0.2)[0]
            )
            / (2 * eps)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_signs_held_bounds_kept_and_unfired_rules_fixed() -> None:
    _, data = synthetic()
    result = fit(data, 1e-4)
    w0 = data.w0
    assert np.all(np.sign(result.w) * np.sign(w0) >= 0)
    assert np.all(np.abs(result.w) <= MAX_ABS_WEIGHT + 1e-12)
    assert result.w[RULES.index("c.unused")] == w0[RULES.index("c.unused")]
    assert result.w[RULES.index("b.neg")] <= 0


def test_huge_lambda_keeps_the_authored_values() -> None:
    _, data = synthetic()
    result = fit(data, 1e9)
    np.testing.assert_allclose(result.w, data.w0, atol=1e-5)
    np.testing.assert_allclose(result.b, data.b0, atol=1e-5)


def test_fit_improves_the_training_likelihood_and_is_deterministic() -> None:
    cases, data = synthetic()
    before = float(nll(data, data.w0, data.b0).sum())
    result = fit(data, 0.3)
    assert result.converged
    assert float(nll(data, result.w, result.b).sum()) < before
    again = fit(data, 0.3)
    assert result.w.tobytes() == again.w.tobytes() and result.b.tobytes() == again.b.tobytes()
    m = metrics(predict(data, model(), result, cases))
    assert 0 <= m.top1 <= m.top3 <= m.listed <= 1


@pytest.mark.parametrize("k", [2, 3])
def test_lambda_is_chosen_from_the_grid(k: int) -> None:
    cases, data = synthetic()
    lam, losses = choose_lambda(data, list(range(len(cases))), k, 0, (0.3, 3.0))
    assert lam in (0.3, 3.0) and set(losses) == {0.3, 3.0}


def test_weights_stay_within_the_band_of_their_authored_value() -> None:
    """With a tiny penalty the cases alone would move the weights far; the band holds each within
    its factor of the authored LR, and a zero band keeps the authored weight."""
    cases, _ = synthetic()
    free = fit(design(cases, model()), 1e-4)
    band = (0.2, 0.2, 0.0, 0.2, 0.2, 0.2)
    banded_model = Model(**{**model().__dict__, "band": band})
    data = design(cases, banded_model)
    held = fit(data, 1e-4)
    moved = np.abs(held.w - data.w0)
    assert np.all(moved <= np.asarray(band) + 1e-9)
    assert held.w[RULES.index("b.one")] == data.w0[RULES.index("b.one")]
    assert np.max(np.abs(free.w - data.w0)) > 0.2  # the band, not the data, held them


def test_profile_sides_get_the_narrower_band() -> None:
    from engine.calibrate.features import (
        PROFILE_FIT_BAND,
        RULE_FIT_BAND,
        authored_model,
        fit_band,
    )
    from engine.kb.load import load_knowledge_base

    assert fit_band("sepsis.profile.no_anemia") == pytest.approx(np.log(PROFILE_FIT_BAND))
    assert fit_band("sepsis.band_forms") == pytest.approx(np.log(RULE_FIT_BAND))
    m = authored_model(load_knowledge_base())
    assert len(m.band) == len(m.rules)
    profile = [b for r, b in zip(m.rules, m.band, strict=True) if ".profile." in r]
    assert profile and np.allclose(profile, np.log(PROFILE_FIT_BAND))
