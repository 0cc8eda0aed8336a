"""Reference regression-adjusted Monte Carlo for semivalues: the cross-fitted estimator written out
one point and one fold at a time, with a dense feature matrix and ``numpy.linalg.solve``.

The estimator (see :func:`regression_adjusted_semivalue`) writes a semivalue as the linear
functional ``phi_i(v) = sum_S c_i(S) v(S)`` with ``c_i(S) = p[|S| - 1]`` if ``i`` is in ``S`` and
``-p[|S|]`` otherwise, fits a surrogate ``f`` whose semivalue is known in closed form, and adds
the sampled correction ``sum_r w_r c(S_r) (v - f)(S_r)``. Cross-fitting (the surrogate of a fold
never sees that fold's values) keeps it exactly unbiased.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InsufficientSamplesError, InvalidArgumentError
from stochamort.reference.design import check_design_inputs
from stochamort.results import Estimate
from stochamort._checks import as_bool, as_float_array, as_int, as_mask_array, check_finite, check_float, check_shape

__all__ = ["regression_adjusted_semivalue"]

#: Degree 2 is chosen automatically once every fold trains on this many rows per coefficient.
ROWS_PER_COEFFICIENT = 2.0

#: Folds used when none are asked for: at most this many (fewer when there are fewer units).
DEFAULT_MAX_FOLDS = 16


def n_coefficients(d: int, degree: int) -> int:
    """Coefficients of the surrogate: per-size intercepts (sizes 1..d-1), then linear, then pairwise."""
    return (d - 1) + (d if degree >= 1 else 0) + (d * (d - 1) // 2 if degree >= 2 else 0)


def features(masks: NDArray[np.bool_], degree: int) -> NDArray[np.float64]:
    """Feature matrix ``(n, n_coefficients)``: one-hot of the size (1..d-1), ``z_j``, ``z_j z_l`` (j < l)."""
    n, d = masks.shape
    sizes = masks.sum(axis=1)
    z = masks.astype(np.float64)
    columns = [(sizes == s).astype(np.float64) for s in range(1, d)]
    if degree >= 1:
        columns += [z[:, j] for j in range(d)]
    if degree >= 2:
        columns += [z[:, j] * z[:, l] for j in range(d) for l in range(j + 1, d)]
    return np.stack(columns, axis=1) if columns else np.zeros((n, 0))


def coalition_coefficients(masks: NDArray[np.bool_], p: NDArray[np.float64]) -> NDArray[np.float64]:
    """``c_i(S)`` for every row ``(n, d)``: ``p[|S| - 1]`` for members, ``-p[|S|]`` for the others."""
    n, d = masks.shape
    c = np.zeros((n, d))
    for r in range(n):
        s = int(masks[r].sum())
        for i in range(d):
            c[r, i] = p[s - 1] if masks[r, i] else -p[s]
    return c


def semivalue_of_surrogate(
    alpha: NDArray[np.float64], beta: NDArray[np.float64], gamma: NDArray[np.float64], p: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Closed-form semivalue ``(d, o)`` of ``f(S) = alpha[|S|] + sum_{j in S} beta_j + sum_{j<l in S} gamma_jl``.

    ``alpha`` ``(d + 1, o)`` over all sizes 0..d, ``beta`` ``(d, o)``, ``gamma`` ``(d, d, o)`` symmetric
    with a zero diagonal (zeros for a degree-1 surrogate).
    """
    d = beta.shape[0]
    intercept = np.zeros(alpha.shape[1])
    for s in range(d):
        intercept += math.comb(d - 1, s) * p[s] * (alpha[s + 1] - alpha[s])
    linear = float(sum(math.comb(d - 1, s) * p[s] for s in range(d)))
    pairwise = float(sum(math.comb(d - 2, s - 1) * p[s] for s in range(1, d))) if d >= 2 else 0.0
    result: NDArray[np.float64] = intercept[None, :] + linear * beta + pairwise * gamma.sum(axis=1)
    return result


def fit_weights(masks: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Row weights of the surrogate's least squares: 1 for every row but the empty and the full
    set (0: their residual is zero by construction). Plain least squares on the rows as drawn."""
    d = masks.shape[1]
    sizes = masks.sum(axis=1)
    weights: NDArray[np.float64] = ((sizes > 0) & (sizes < d)).astype(np.float64)
    return weights


def _check_enumerated(masks: NDArray[np.bool_], n_enumerated: int, point: int) -> set[int]:
    """The enumerated rows must be every coalition of some sizes in 1..d-1, each once; returns the sizes."""
    d = masks.shape[1]
    block = masks[:n_enumerated]
    sizes = block.sum(axis=1)
    for r, s in enumerate(sizes):
        if s == 0 or s == d:
            raise InvalidArgumentError(
                f"masks: enumerated row {r} of point {point} is the {'empty' if s == 0 else 'full'} coalition; "
                "v(∅) and v(all) are passed as null_values and grand_values"
            )
    if len({tuple(row) for row in block}) != n_enumerated:
        raise InvalidArgumentError(f"masks: the enumerated rows of point {point} repeat a coalition")
    covered = set(int(s) for s in sizes)
    for s in sorted(covered):
        count = int((sizes == s).sum())
        if count != math.comb(d, s):
            raise InvalidArgumentError(
                f"masks: the enumerated rows of point {point} hold {count} of the {math.comb(d, s)} coalitions "
                f"of size {s}; a size is enumerated completely or not at all"
            )
    return covered


def _check_inputs(
    masks: Any, values: Any, null_values: Any, grand_values: Any, sample_weights: Any, n_enumerated: Any, semivalue_weights: Any
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], int, NDArray[np.float64]]:
    m = as_mask_array("masks", masks, 3)
    v = as_float_array("values", values, 3)
    n_points, n_samples, d = m.shape
    check_shape("values", v, (n_points, n_samples, v.shape[2]), "masks (n_points, n_samples)")
    if d == 0:
        raise InvalidArgumentError("masks: needs at least one player (last axis is empty)")
    if n_samples == 0:
        raise InsufficientSamplesError("masks: holds no samples")
    if v.shape[2] == 0:
        raise InvalidArgumentError("values: needs at least one output (last axis is empty)")
    check_finite("values", v)
    null, grand, w = check_design_inputs(null_values, grand_values, sample_weights, n_points, n_samples, v.shape[2])
    p = as_float_array("semivalue_weights", semivalue_weights, 1)
    check_shape("semivalue_weights", p, (d,), "masks (n_players)")
    if not np.isfinite(p).all():
        raise InvalidArgumentError("semivalue_weights: must be finite")
    n_enum = int(n_enumerated)
    if n_enum > n_samples:
        raise InvalidArgumentError(f"n_enumerated: must be at most n_samples = {n_samples}, got {n_enum}")
    return m, v, null, grand, w, n_enum, p


def regression_adjusted_semivalue(
    masks: Any,
    values: Any,
    null_values: Any,
    grand_values: Any,
    *,
    sample_weights: Any,
    n_enumerated: int,
    semivalue_weights: Any,
    paired: bool = True,
    folds: int | None = None,
    degree: int | None = None,
    size_intercepts: bool | None = None,
    ridge: float = 1e-3,
) -> Estimate:
    """Reference of :func:`stochamort.estimators.regression_adjusted_semivalue` (same arguments,
    checks, errors and results; see there for the estimator and its guarantees)."""
    k_folds = None if folds is None else as_int("folds", folds, minimum=1)
    degree = None if degree is None else as_int("degree", degree, minimum=0, maximum=3)
    n_enum_checked = as_int("n_enumerated", n_enumerated, minimum=0)
    paired = as_bool("paired", paired)
    size_intercepts = None if size_intercepts is None else as_bool("size_intercepts", size_intercepts)
    ridge = check_float("ridge", ridge, positive=True)
    m, v, null, grand, w, n_enum, p = _check_inputs(
        masks, values, null_values, grand_values, sample_weights, n_enum_checked, semivalue_weights
    )
    n_points, n_samples, d = m.shape
    n_random = n_samples - n_enum
    rows_per_unit = 2 if paired else 1
    if n_random % rows_per_unit:
        raise InvalidArgumentError(f"masks: paired=True needs an even number of random rows, got {n_random}")
    n_units = n_random // rows_per_unit
    if k_folds is None:
        k_folds = min(max(n_units, 1), DEFAULT_MAX_FOLDS)
    if 0 < n_units < k_folds:
        raise InsufficientSamplesError(
            f"folds: {k_folds} folds need at least {k_folds} random units per point "
            f"({'pairs' if paired else 'rows'}), got {n_units}"
        )
    largest_fold = -(-n_units // k_folds)
    train_rows = n_samples - rows_per_unit * largest_fold
    symmetric = bool(np.all(np.abs(p - p[::-1]) <= 1e-12 * np.abs(p).max()))
    if degree is None:
        plentiful = train_rows >= ROWS_PER_COEFFICIENT * n_coefficients(d, 2)
        degree = 2 if d >= 2 and not (paired and symmetric) and plentiful else 1
    if size_intercepts is None:
        size_intercepts = not paired and n_enum == 0

    n_outputs = v.shape[2]
    phi = np.zeros((n_points, d, n_outputs))
    se = np.zeros((n_points, d, n_outputs))
    fold_values = np.zeros((n_points, k_folds, d, n_outputs))
    for point in range(n_points):
        _check_point(m[point], w[point], n_enum, paired, point)
        if n_units == 0:
            if n_enum != 2**d - 2:
                raise InsufficientSamplesError(
                    f"masks: point {point} has no random rows, and its enumerated rows do not cover all "
                    f"{2**d - 2} coalitions"
                )
            exact = _exact_part(m[point], v[point], null[point], grand[point], p)
            phi[point] = exact
            fold_values[point] = exact
            continue
        g, t = _point_units(m[point], v[point], null[point], grand[point], w[point], n_enum, p, paired, k_folds, degree, size_intercepts, ridge, point)
        phi[point] = g.mean(axis=0)
        fold_values[point] = t
        se[point] = np.sqrt(((g - phi[point]) ** 2).sum(axis=0) / (n_units - 1) / n_units) if n_units >= 2 else np.inf
    n_evaluations = np.full(n_points, n_samples + 2, dtype=np.int64)
    extras = {
        "fold_values": fold_values,
        "degree": np.full(n_points, degree, dtype=np.int64),
        "size_intercepts": np.full(n_points, size_intercepts, dtype=np.bool_),
    }
    return Estimate(values=phi, std_errors=se, n_evaluations=n_evaluations, extras=extras)


def _check_point(m: NDArray[np.bool_], w: NDArray[np.float64], n_enum: int, paired: bool, point: int) -> None:
    """The design contract: complete enumerated strata of weight 1, random rows of other sizes,
    positive weights, complementary pairs."""
    covered = _check_enumerated(m, n_enum, point)
    for r in range(n_enum):
        if w[r] != 1.0:
            raise InvalidArgumentError(f"sample_weights: enumerated row {r} of point {point} must have weight 1, got {w[r]}")
    for r in range(n_enum, m.shape[0]):
        if not w[r] > 0:
            raise InvalidArgumentError(f"sample_weights: row {r} of point {point} must be positive, got {w[r]}")
        s = int(m[r].sum())
        if s in covered:
            raise InvalidArgumentError(
                f"masks: random row {r} of point {point} has size {s}, which the enumerated rows already cover"
            )
    if paired:
        for r in range(n_enum, m.shape[0], 2):
            if not np.array_equal(m[r + 1], ~m[r]):
                raise InvalidArgumentError(
                    f"masks: paired=True but rows {r} and {r + 1} of point {point} are not complements"
                )


def _exact_part(
    m: NDArray[np.bool_], v: NDArray[np.float64], null: NDArray[np.float64], grand: NDArray[np.float64], p: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``sum_S c(S) v(S)`` over the empty set, the full set and the given (enumerated) rows."""
    d = m.shape[1]
    total = -p[0] * np.repeat(null[None], d, axis=0) + p[d - 1] * np.repeat(grand[None], d, axis=0)
    c = coalition_coefficients(m, p)
    exact: NDArray[np.float64] = total + c.T @ v
    return exact


def _point_units(
    m: NDArray[np.bool_],
    v: NDArray[np.float64],
    null: NDArray[np.float64],
    grand: NDArray[np.float64],
    w: NDArray[np.float64],
    n_enum: int,
    p: NDArray[np.float64],
    paired: bool,
    k_folds: int,
    degree: int,
    size_intercepts: bool,
    ridge: float,
    point: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-unit influence terms ``g_u`` ``(n_units, d, o)`` and per-fold estimates ``T_k`` ``(K, d, o)``."""
    n, d = m.shape
    rows_per_unit = 2 if paired else 1
    n_units = (n - n_enum) // rows_per_unit
    unit = np.full(n, -1)
    unit[n_enum:] = np.arange(n - n_enum) // rows_per_unit
    fold = np.where(unit >= 0, unit % k_folds, -1)
    sizes = m.sum(axis=1)
    interior = (sizes > 0) & (sizes < d)
    omega = fit_weights(m)
    x = features(m, degree)
    c = coalition_coefficients(m, p)
    n_alpha = d - 1
    g = np.zeros((n_units, d, v.shape[1]))
    t = np.zeros((k_folds, d, v.shape[1]))
    for k in range(k_folds):
        train = interior & (fold != k)
        trained = [s for s in range(1, d) if omega[train & (sizes == s)].sum() > 0]
        knots = trained if size_intercepts else [s for s in trained if s in sizes[:n_enum]]
        alpha, beta, gamma = _fit(x[train], v[train], omega[train], sizes[train], knots, null, grand, d, degree, ridge)
        fitted = alpha[sizes] + x[:, n_alpha : n_alpha + (d if degree >= 1 else 0)] @ beta[: d if degree >= 1 else 0]
        if degree >= 2:
            fitted += x[:, n_alpha + d :] @ gamma[np.triu_indices(d, 1)]
        residual = v - fitted
        base = semivalue_of_surrogate(alpha, beta, gamma, p)
        enumerated = slice(0, n_enum)
        base += c[enumerated].T @ (w[enumerated, None] * residual[enumerated])
        members = np.flatnonzero(fold == k)
        corrections = np.zeros((n_units, d, v.shape[1]))
        for r in members:
            corrections[unit[r]] += n_units * w[r] * np.outer(c[r], residual[r])
        in_fold = np.unique(unit[members])
        g[in_fold] = base + corrections[in_fold]
        t[k] = g[in_fold].mean(axis=0)
    return g, t


def _fit(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    omega: NDArray[np.float64],
    sizes: NDArray[np.int64],
    knots: list[int],
    null: NDArray[np.float64],
    grand: NDArray[np.float64],
    d: int,
    degree: int,
    ridge: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Weighted ridge fit on the training rows; returns ``alpha (d + 1, o)``, ``beta (d, o)``,
    ``gamma (d, d, o)``.

    The size function ``alpha`` is piecewise linear with free values at ``knots`` (sorted sizes in
    1..d-1, each with a training row) and the anchors ``alpha[0] = v(∅)``, ``alpha[d] = v(all) -
    sum beta - sum_{j<l} gamma`` (so that the surrogate equals the game on the empty and the full
    coalition); rows of other sizes enter the regression through that interpolation.
    """
    o = y.shape[1]
    n_alpha = d - 1
    n_knots = len(knots)
    n_penalised = x.shape[1] - n_alpha
    known = [0, *knots, d]
    xk = np.zeros((x.shape[0], n_knots + n_penalised))
    xk[:, n_knots:] = x[:, n_alpha:]
    yk = y.copy()
    for r, s in enumerate(sizes):
        if s in knots:
            xk[r, knots.index(s)] = 1.0
            continue
        i = next(i for i, k in enumerate(known) if k > s)
        lo, hi = known[i - 1], known[i]
        t = (s - lo) / (hi - lo)
        if lo == 0:
            yk[r] -= (1 - t) * null
        else:
            xk[r, knots.index(lo)] += 1 - t
        if hi == d:
            yk[r] -= t * grand
            xk[r, n_knots:] -= t
        else:
            xk[r, knots.index(hi)] += t
    gram = xk.T @ (omega[:, None] * xk)
    penalised = np.array([0.0] * n_knots + [1.0] * n_penalised)
    gram += ridge * (omega.sum() if omega.sum() > 0 else 1.0) * np.diag(penalised)
    theta = np.linalg.solve(gram, xk.T @ (omega[:, None] * yk)) if xk.shape[1] else np.zeros((0, o))
    beta = theta[n_knots : n_knots + d] if degree >= 1 else np.zeros((d, o))
    gamma = np.zeros((d, d, o))
    if degree >= 2:
        upper = np.triu_indices(d, 1)
        gamma[upper] = theta[n_knots + d :]
        gamma[(upper[1], upper[0])] = theta[n_knots + d :]
    alpha = np.zeros((d + 1, o))
    alpha[0] = null
    alpha[d] = grand - beta.sum(axis=0) - gamma.sum(axis=(0, 1)) / 2
    for i, s in enumerate(knots):
        alpha[s] = theta[i]
    for s in range(1, d):
        if s not in knots:
            for out in range(o):
                alpha[s, out] = np.interp(s, known, alpha[known, out])
    return alpha, beta, gamma
