"""The batched logistic solver alone (``stochamort.valuation.utility.solver``), on tensors.

Optima are checked against scipy's BFGS on an independent numpy objective (gtol 1e-13, then
polished by Newton steps on a finite-difference Hessian of the same gradient) and
against scikit-learn's ``LogisticRegression(solver="newton-cg", tol=1e-12)`` with matching
regularisation. Tolerances:

* ``OPT_TOL = 1e-8`` on parameters against scipy and between our own methods (our fits stop at a
  scaled gradient max-norm of 1e-10; the objectives here are well conditioned; observed ~1e-12);
* ``SKLEARN_TOL = 1e-6`` on parameters and probabilities against scikit-learn, which stops on its
  own criteria (observed ~2e-8 on intercepts);
* ``BATCH_TOL = 1e-12`` between a model fitted in a batch and alone, or on the gathered and the
  dense layout, with Newton (the same iterates up to float rounding of differently shaped
  matmuls, and quadratic convergence at the end);
* ``LBFGS_BATCH_TOL = 1e-9`` for the same with L-BFGS: its iterates amplify that rounding on the
  way (batched and alone differ by ~1e-4 after 20 steps of a 3-class problem), so the two meet
  only at the optimum, within the stopping tolerance (tol 1e-12 there; observed ~2e-11).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError, InvalidDTypeError, NonFiniteError, ShapeError
from stochamort.valuation.utility.rows import TorchData
from stochamort.valuation.utility.solver import (
    NEWTON_MAX_PARAMETERS,
    LogisticFit,
    LogisticObjective,
    fit_logistic,
    solve_binary_newton,
    solve_logistic,
)

from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture: one torch thread)

scipy_optimize = pytest.importorskip("scipy.optimize")
scipy_special = pytest.importorskip("scipy.special")
pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402

#: Parameters against scipy's optimum, and Newton against L-BFGS.
OPT_TOL = 1e-8
#: Parameters and probabilities against scikit-learn.
SKLEARN_TOL = 1e-6
#: Batched against one at a time, gathered against dense (Newton).
BATCH_TOL = 1e-12
#: The same with L-BFGS (stopping at tol = 1e-12).
LBFGS_BATCH_TOL = 1e-9


def problem(n: int, d: int, k: int, b: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Features ``(n, d)``, labels in ``0..k-1`` (every class present) and count weights ``(b, n)``
    (0..3 copies per point, every model with at least two classes)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    y = np.arange(n) % k
    rng.shuffle(y)
    x = centres[y] + rng.normal(size=(n, d))
    w = rng.integers(0, 4, size=(b, n)).astype(np.float64)
    for row in w:
        for c in range(k):
            if row[y == c].sum() == 0:
                row[np.flatnonzero(y == c)[0]] = 1.0
    return x, y, w


def scipy_optimum(
    x: NDArray[np.float64], y: NDArray[np.int64], w: NDArray[np.float64], C: float, k_out: int, fit_intercept: bool
) -> NDArray[np.float64]:
    """Minimiser of ``C sum_i w_i CE_i + ||W||^2 / 2`` by scipy's BFGS: ``(k_out, d + intercept)``.

    ``k_out = 1``: binary, one weight vector and a sigmoid; else a softmax over ``k_out`` classes
    (all weight vectors penalised), the intercepts' free shift removed (centred) as the solver's
    gauge does.
    """
    n, d = x.shape
    d1 = d + int(fit_intercept)
    design = np.hstack([x, np.ones((n, 1))]) if fit_intercept else x
    penalty = np.ones(d1)
    if fit_intercept:
        penalty[-1] = 0.0

    def objective(flat: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        theta = flat.reshape(k_out, d1)
        z = design @ theta.T
        if k_out == 1:
            z = np.hstack([np.zeros((n, 1)), z])
        logp = z - scipy_special.logsumexp(z, axis=1, keepdims=True)
        residual = np.exp(logp)
        residual[np.arange(n), y] -= 1.0
        if k_out == 1:
            residual = residual[:, 1:]
        value = -C * (w * logp[np.arange(n), y]).sum() + 0.5 * (theta**2 * penalty).sum()
        gradient = C * (w[:, None] * residual).T @ design + theta * penalty
        return float(value), gradient.ravel()

    result = scipy_optimize.minimize(
        objective, np.zeros(k_out * d1), jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 100_000}
    )
    flat = polish_with_newton(lambda t: objective(t)[1], result.x)
    theta = flat.reshape(k_out, d1)
    if k_out > 1 and fit_intercept:
        theta[:, -1] -= theta[:, -1].mean()
    return np.asarray(theta)


def polish_with_newton(
    gradient: Any, start: NDArray[np.float64], steps: int = 6, step: float = 1e-5
) -> NDArray[np.float64]:
    """Newton steps from ``start`` with a central-difference Hessian of ``gradient``.

    BFGS can stop on "precision loss" ~1e-8 away from the optimum (it did, with some scipy
    builds); a few Newton steps take the reference to ~1e-12, whatever scipy version is installed.
    """
    flat = np.array(start, dtype=np.float64)
    eye = np.eye(flat.size) * step
    for _ in range(steps):
        hessian = np.stack([(gradient(flat + e) - gradient(flat - e)) / (2 * step) for e in eye], axis=1)
        flat = flat - np.linalg.lstsq(0.5 * (hessian + hessian.T), gradient(flat), rcond=1e-9)[0]  # min-norm: a softmax with intercepts has a flat direction
    return flat


def fit(x: Any, y: Any, w: Any, **kwargs: Any) -> LogisticFit:
    """``fit_logistic`` on numpy inputs (float64 tensors)."""
    return fit_logistic(torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(y)), torch.from_numpy(np.asarray(w)), **kwargs)


def raises_typed(cls: type[Exception], argument: str) -> Any:
    """``pytest.raises(cls)`` whose message must start with ``argument:``."""
    return pytest.raises(cls, match=rf"^{argument}:")


# ------------------------------------------------------------------------------------------------
# optima


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_matches_scipy_optimum(k: int, fit_intercept: bool, method: str) -> None:
    x, y, w = problem(40, 3, k, b=3, seed=k)
    C = 0.7
    result = fit(x, y, w, n_classes=k, C=C, fit_intercept=fit_intercept, method=method, max_iter=500)
    assert result.theta.shape == (3, 1 if k == 2 else k, 3 + int(fit_intercept))
    assert result.theta.dtype == torch.float64
    assert bool(result.converged.all())
    assert float(result.gradient_norm.max()) <= 1e-10
    for r in range(3):
        expected = scipy_optimum(x, y, w[r], C, 1 if k == 2 else k, fit_intercept)
        np.testing.assert_allclose(result.theta[r].numpy(), expected, rtol=0, atol=OPT_TOL)


@pytest.mark.parametrize("k", [2, 3])
def test_matches_sklearn_logistic_regression(k: int) -> None:
    x, y, w = problem(50, 4, k, b=2, seed=10 + k)
    C = 2.5
    result = fit(x, y, w, C=C)
    for r in range(2):
        model = LogisticRegression(C=C, tol=1e-12, max_iter=10_000, solver="newton-cg").fit(x, y, sample_weight=w[r])
        expected = np.concatenate([model.coef_, model.intercept_[:, None]], axis=1)
        if k > 2:
            expected[:, -1] -= expected[:, -1].mean()
        np.testing.assert_allclose(result.theta[r].numpy(), expected, rtol=0, atol=SKLEARN_TOL)
        # the predicted probabilities, too
        z = torch.from_numpy(np.hstack([x, np.ones((x.shape[0], 1))])) @ result.theta[r].T
        ours = torch.sigmoid(z[:, 0]).numpy() if k == 2 else torch.softmax(z, dim=1).numpy()
        theirs = model.predict_proba(x)[:, 1] if k == 2 else model.predict_proba(x)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=SKLEARN_TOL)


def test_absent_class_is_left_out_of_the_softmax() -> None:
    x, y, w = problem(45, 3, 3, b=1, seed=4)
    w[0, y == 1] = 0.0  # class 1 absent: the softmax runs over classes 0 and 2
    result = fit(x, y, w, n_classes=3, C=1.3)
    theta = result.theta[0].numpy()
    np.testing.assert_array_equal(theta[1], 0.0)
    keep = y != 1
    expected = scipy_optimum(x[keep], np.where(y[keep] == 2, 1, 0), w[0, keep], 1.3, 2, True)
    np.testing.assert_allclose(theta[[0, 2]], expected, rtol=0, atol=OPT_TOL)


def test_lbfgs_and_newton_reach_the_same_optimum() -> None:
    x, y, w = problem(60, 5, 3, b=4, seed=21)
    newton = fit(x, y, w, method="newton")
    lbfgs = fit(x, y, w, method="lbfgs", max_iter=1000)
    assert bool(newton.converged.all()) and bool(lbfgs.converged.all())
    np.testing.assert_allclose(lbfgs.theta.numpy(), newton.theta.numpy(), rtol=0, atol=OPT_TOL)


def test_auto_method_switches_to_lbfgs_above_the_newton_limit() -> None:
    rng = np.random.default_rng(3)
    d = NEWTON_MAX_PARAMETERS // 2  # K = 3 classes: 3 (d + 1) > 512 parameters
    x = rng.normal(size=(30, d))
    y = np.arange(30) % 3
    w = np.ones((1, 30))
    auto = fit(x, y, w, max_iter=300)
    lbfgs = fit(x, y, w, method="lbfgs", max_iter=300)
    assert torch.equal(auto.theta, lbfgs.theta)


def test_float32_fits_agree_with_float64() -> None:
    x, y, w = problem(40, 3, 3, b=3, seed=8)
    single = fit_logistic(torch.from_numpy(x).float(), torch.from_numpy(y), torch.from_numpy(w).float())
    double = fit(x, y, w)
    assert single.theta.dtype == torch.float32 and single.gradient_norm.dtype == torch.float32
    assert bool(single.converged.all())  # tol is raised to 100 eps in float32
    np.testing.assert_allclose(single.theta.double().numpy(), double.theta.numpy(), rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------------------------
# batching and layouts


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_batched_fits_equal_one_at_a_time(k: int, method: str) -> None:
    x, y, w = problem(50, 4, k, b=9, seed=30 + k)
    w[2] *= 1e-3  # very different scales and supports in one batch
    w[5, :40] = 0.0
    w[5, 40] = w[5, 41] = 1.0
    batched = fit(x, y, w, method=method, max_iter=1000, tol=1e-12)
    assert bool(batched.converged.all())
    atol = BATCH_TOL if method == "newton" else LBFGS_BATCH_TOL
    for r in range(w.shape[0]):
        alone = fit(x, y, w[r : r + 1], method=method, max_iter=1000, tol=1e-12)
        np.testing.assert_allclose(batched.theta[r].numpy(), alone.theta[0].numpy(), rtol=0, atol=atol)
        assert bool(alone.converged[0])


@pytest.mark.parametrize("k", [2, 3])
def test_gathered_rows_equal_dense_rows(k: int) -> None:
    x, y, w = problem(30, 3, k, b=4, seed=40 + k)
    dense = fit(x, y, w)
    support = [np.flatnonzero(row > 0) for row in w]
    width = max(s.size for s in support)
    index = np.zeros((4, width), dtype=np.int64)
    weight = np.zeros((4, width))
    for r, s in enumerate(support):
        index[r, : s.size], weight[r, : s.size] = s, w[r, s]
    gathered = fit(x[index], y[index], weight, n_classes=k)
    np.testing.assert_allclose(gathered.theta.numpy(), dense.theta.numpy(), rtol=0, atol=BATCH_TOL)


def test_binary_newton_equals_the_generic_newton() -> None:
    x, y, w = problem(40, 3, 2, b=5, seed=50)
    design = torch.from_numpy(np.hstack([x, np.ones((40, 1))]))
    weights = torch.from_numpy(w)
    totals = weights.sum(dim=1)
    penalty = torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=torch.float64)

    def objective() -> LogisticObjective:
        data = TorchData(design, torch.from_numpy(y), weights, False).normalised()
        return LogisticObjective(data, 1.0 / (0.5 * totals), None, penalty, True)

    lean, lean_norm = solve_binary_newton(objective(), tol=1e-12, max_iter=100)
    generic, generic_norm = solve_logistic(
        objective(), torch.zeros((5, 1, 4), dtype=torch.float64), tol=1e-12, max_iter=100, method="newton"
    )
    np.testing.assert_allclose(lean.numpy(), generic.numpy(), rtol=0, atol=BATCH_TOL)
    assert float(lean_norm.max()) <= 1e-12 and float(generic_norm.max()) <= 1e-12
    np.testing.assert_allclose(fit(x, y, w, C=0.5, tol=1e-12).theta.numpy(), lean.numpy(), rtol=0, atol=BATCH_TOL)


def test_fit_logistic_equals_the_utility_fit() -> None:
    from stochamort.valuation.utility import TorchLogisticUtility

    x, y, w = problem(40, 3, 3, b=6, seed=60)
    counts = w.astype(np.int64)
    utility = TorchLogisticUtility(x, y, x[:5], y[:5], C=0.8, sparse_threshold=0.0)
    assert torch.equal(utility.fit(counts), fit(x, y, w, C=0.8).theta)


def test_empty_batch() -> None:
    x, y, _ = problem(10, 2, 3, b=1, seed=0)
    result = fit(x, y, np.zeros((0, 10)))
    assert result.theta.shape == (0, 3, 3) and result.gradient_norm.shape == (0,) and result.converged.shape == (0,)


# ------------------------------------------------------------------------------------------------
# convergence flags and bad input


def test_convergence_flags_report_models_stopped_by_max_iter() -> None:
    x, y, w = problem(40, 3, 3, b=4, seed=70)
    for method in ("newton", "lbfgs"):
        early = fit(x, y, w, method=method, max_iter=1)
        assert not bool(early.converged.any())
        assert bool((early.gradient_norm > 1e-10).all())
        done = fit(x, y, w, method=method, max_iter=500)
        assert bool(done.converged.all())
        assert torch.equal(done.converged, done.gradient_norm <= 1e-10)


def test_bad_input_raises_typed_errors_naming_the_argument() -> None:
    x, y, w = problem(12, 2, 2, b=2, seed=80)
    xt, yt, wt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(w)
    with raises_typed(InvalidArgumentError, "x"):
        fit_logistic(x, yt, wt)  # type: ignore[arg-type]
    with raises_typed(InvalidDTypeError, "x"):
        fit_logistic(xt.long(), yt, wt)
    with raises_typed(ShapeError, "x"):
        fit_logistic(xt[:, 0], yt, wt)
    with raises_typed(NonFiniteError, "x"):
        fit_logistic(torch.where(xt > 1.0, torch.nan, xt), yt, wt)
    with raises_typed(InvalidDTypeError, "y"):
        fit_logistic(xt, yt.double(), wt)
    with raises_typed(ShapeError, "y"):
        fit_logistic(xt, yt[:-1], wt)
    with raises_typed(InvalidArgumentError, "y"):
        fit_logistic(xt, yt - 1, wt)
    with raises_typed(InvalidArgumentError, "y"):
        fit_logistic(xt, yt + 1, wt, n_classes=2)
    with raises_typed(ShapeError, "weights"):
        fit_logistic(xt, yt, wt[0])
    with raises_typed(InvalidDTypeError, "weights"):
        fit_logistic(xt, yt, wt.to(torch.complex128))
    with raises_typed(NonFiniteError, "weights"):
        fit_logistic(xt, yt, torch.full_like(wt, torch.inf))
    with raises_typed(InvalidArgumentError, "weights"):
        fit_logistic(xt, yt, -wt)
    single_class = wt.clone()
    single_class[1, yt == 1] = 0.0
    with pytest.raises(InvalidArgumentError, match=r"^weights: model row\(s\) 1 "):
        fit_logistic(xt, yt, single_class)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("C", {"C": 0.0}),
        ("C", {"C": float("nan")}),
        ("tol", {"tol": -1.0}),
        ("max_iter", {"max_iter": 0}),
        ("method", {"method": "sgd"}),
        ("n_classes", {"n_classes": 1}),
    ]
    for name, kwargs in cases:
        with raises_typed(InvalidArgumentError, name):
            fit_logistic(xt, yt, wt, **kwargs)
    # the errors are ValueErrors too, for callers that expect those
    with pytest.raises(ValueError):
        fit_logistic(xt, yt, -wt)
