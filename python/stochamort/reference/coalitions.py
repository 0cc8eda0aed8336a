"""Reference estimators from sampled coalitions: KernelSHAP (consistent and unbiased), SGD-Shapley,
MSR Banzhaf and LIME, written out literally one point at a time (see :mod:`stochamort.reference.estimators`
for the shapes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, ShapeError, SingularSystemError
from stochamort.results import Estimate
from stochamort._checks import as_bool, as_float_array, as_int, as_mask_array, as_positive_float, check_distribution, check_finite, check_shape
from stochamort.reference.design import design_row_weights, design_standard_errors
from stochamort.reference.sampling import coalition_probabilities, size_probabilities
from stochamort.reference.weights import lime_kernel

__all__ = ["kernelshap", "unbiased_kernelshap", "sgd_default_step_size", "sgd_shapley", "msr_banzhaf", "lime"]


# ----------------------------------------------------------------------------------------------
# validation helpers


def _check_samples(masks: Any, values: Any, *, min_players: int) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Validate ``masks (P, n, d)`` and ``values (P, n, o)``."""
    masks = as_mask_array("masks", masks, 3)
    values = as_float_array("values", values, 3)
    n_points, n_samples, d = masks.shape
    if d < min_players:
        raise ShapeError(f"masks: needs n_players >= {min_players} (axis 2), got shape {masks.shape}")
    check_shape("values", values, (n_points, n_samples, values.shape[2]), "masks (n_points, n_samples)")
    check_finite("values", values)
    return masks, values


def _check_endpoint(name: str, endpoint: Any, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Validate ``null_values`` / ``grand_values`` of shape ``(P, o)``."""
    array = as_float_array(name, endpoint, 2)
    check_shape(name, array, (values.shape[0], values.shape[2]), "values (n_points, n_outputs)")
    check_finite(name, array)
    return array


def _check_pairs(masks: NDArray[np.bool_]) -> None:
    """With ``paired=True``, rows ``2j`` and ``2j + 1`` must be complements."""
    n_points, n_samples, _ = masks.shape
    if n_samples % 2 != 0:
        raise InvalidArgumentError(f"masks: paired=True needs an even number of samples, got {n_samples}")
    for point in range(n_points):
        for j in range(n_samples // 2):
            if not np.array_equal(masks[point, 2 * j + 1], ~masks[point, 2 * j]):
                raise InvalidArgumentError(
                    f"masks: paired=True but rows {2 * j} and {2 * j + 1} of point {point} are not complements"
                )


def _check_nonsingular(name: str, matrix: NDArray[np.float64], point: int) -> None:
    if np.linalg.matrix_rank(matrix) < matrix.shape[0]:
        raise SingularSystemError(
            f"{name}: the sampled coalitions of point {point} give a singular system "
            f"(some players are never separated); draw more samples"
        )


# ----------------------------------------------------------------------------------------------
# shared pieces of the KernelSHAP estimators


def _importance_weights(masks: NDArray[np.bool_], distribution: str) -> NDArray[np.float64]:
    """``w = P_shapley(z) / P_distribution(z)`` for masks ``(P, n, d)``.

    A coalition the distribution never draws (the empty or full set under ``"shapley"`` and
    ``"leverage"``) cannot have come from it: :class:`InvalidArgumentError`. Under ``"banzhaf"``
    the empty and full sets are drawn but have zero Shapley-kernel probability, so weight 0 (they
    are handled by the efficiency constraint, not the regression).
    """
    p_shapley = coalition_probabilities(masks, "shapley")
    p_sampling = coalition_probabilities(masks, distribution)
    n_points, n_samples, d = masks.shape
    weights = np.zeros((n_points, n_samples), dtype=np.float64)
    for point in range(n_points):
        for i in range(n_samples):
            if p_sampling[point, i] == 0.0:
                size = int(masks[point, i].sum())
                raise InvalidArgumentError(
                    f"masks: point {point}, sample {i} has {size} of {d} players, "
                    f"a coalition the {distribution!r} distribution never draws"
                )
            weights[point, i] = p_shapley[point, i] / p_sampling[point, i]
    return weights


def _constrained_solution(
    a_inv: NDArray[np.float64], b: NDArray[np.float64], total: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``phi = A^-1 b - A^-1 1 (1^T A^-1 b - total) / (1^T A^-1 1)`` and the matrix ``C``.

    ``C = A^-1 - A^-1 1 1^T A^-1 / (1^T A^-1 1)`` maps a change of ``b`` to the change of ``phi``.
    ``b`` is ``(d, o)`` and ``total = v(full) - v(empty)`` is ``(o,)``.
    """
    d = a_inv.shape[0]
    ones = np.ones(d)
    a_inv_ones = a_inv @ ones  # (d,)
    denominator = ones @ a_inv_ones  # scalar
    a_inv_b = a_inv @ b  # (d, o)
    phi = a_inv_b - np.outer(a_inv_ones, (ones @ a_inv_b - total)) / denominator
    c_matrix = a_inv - np.outer(a_inv_ones, a_inv_ones) / denominator
    return phi, c_matrix


def standard_errors_over_units(terms: NDArray[np.float64], paired: bool) -> NDArray[np.float64]:
    """Standard error of the mean of per-sample terms ``(n, ...)``.

    With ``paired`` the units are the averages of rows ``2j`` and ``2j + 1``. With ``m`` units:
    ``se = sqrt(sum_u (t_u - mean)^2 / (m - 1) / m)``; ``+inf`` when ``m < 2``.
    """
    units = 0.5 * (terms[0::2] + terms[1::2]) if paired else terms
    m = units.shape[0]
    if m < 2:
        return np.full(terms.shape[1:], np.inf)
    mean = units.mean(axis=0)
    sum_of_squares = ((units - mean) ** 2).sum(axis=0)
    se: NDArray[np.float64] = np.sqrt(sum_of_squares / (m - 1) / m)
    return se


def _row_weights(masks: NDArray[np.bool_], distribution: str, sample_weights: Any) -> NDArray[np.float64]:
    """Importance weights of ``distribution``, or a design's weights when given."""
    if sample_weights is None:
        return _importance_weights(masks, distribution)
    return design_row_weights(masks, sample_weights)


def _standard_errors(
    influence: NDArray[np.float64], masks: NDArray[np.bool_], paired: bool, sample_weights: Any, n_enumerated: int, stratified: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Standard errors of one point and, for a design, their degrees of freedom per cell."""
    if sample_weights is None:
        return standard_errors_over_units(influence, paired), None
    return design_standard_errors(influence, masks, paired, n_enumerated, stratified)


def _with_design_dof(estimate: Estimate, dof: NDArray[np.float64], sample_weights: Any) -> Estimate:
    """The estimate with its design's degrees of freedom per cell (``extras["dof"]``) if any."""
    return estimate if sample_weights is None else Estimate(estimate.values, estimate.std_errors, estimate.n_evaluations, {"dof": dof})


def _kernelshap_inputs(
    masks: Any, values: Any, null_values: Any, grand_values: Any, paired: Any, distribution: Any
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], bool, str]:
    masks, values = _check_samples(masks, values, min_players=2)
    null = _check_endpoint("null_values", null_values, values)
    grand = _check_endpoint("grand_values", grand_values, values)
    paired = as_bool("paired", paired)
    distribution = check_distribution(distribution)
    if paired:
        _check_pairs(masks)
    return masks, values, null, grand, paired, distribution


# ----------------------------------------------------------------------------------------------
# estimators


def kernelshap(
    masks: NDArray[np.bool_],
    values: NDArray[np.floating[Any]],
    null_values: NDArray[np.floating[Any]],
    grand_values: NDArray[np.floating[Any]],
    *,
    paired: bool = False,
    distribution: str = "shapley",
    sample_weights: NDArray[np.floating[Any]] | None = None,
    n_enumerated: int = 0,
    stratified: bool = False,
) -> Estimate:
    """KernelSHAP (constrained weighted least squares) with delta-method standard errors.

    With importance weights ``w_i = P_shapley(z_i) / P_distribution(z_i)`` (0 for the empty and
    full sets, which only ``"banzhaf"`` draws; masks the distribution never draws are an error):
    ``A = (1/n) sum_i w_i z_i z_i^T``, ``b = (1/n) sum_i w_i z_i (v_i - v0)`` and
    ``phi = A^-1 b - A^-1 1 (1^T A^-1 b - (v1 - v0)) / (1^T A^-1 1)``.

    Standard errors (sandwich, Covert & Lee 2021): ``h_i = C w_i z_i (v_i - v0 - z_i^T phi)``,
    averaged over units (samples, or pairs when ``paired``); ``se = sqrt(var(h_u) / m)``.

    Args:
        masks: bool ``(P, n, d)``, ``d >= 2``.
        values: float ``(P, n, o)``, ``v(z)`` for each mask.
        null_values: float ``(P, o)``, ``v(empty)``.
        grand_values: float ``(P, o)``, ``v(all players)``.
        paired: rows ``2j`` and ``2j + 1`` are complements and form one unit.
        distribution: the distribution the masks were drawn from.
        sample_weights: a design's counting-measure weights ``(P, n)``; they replace the importance
            weights (row weight ``n · w · P_shapley(z)``).
        n_enumerated: leading rows of the design without sampling variance.
        stratified: the design's random units are stratified by size, without replacement.

    Raises:
        InsufficientSamplesError: fewer than 2 units.
        SingularSystemError: ``A`` is singular for some point.

    Returns:
        Estimate with ``n_evaluations = n + 2``.
    """
    masks, values, null, grand, paired, distribution = _kernelshap_inputs(
        masks, values, null_values, grand_values, paired, distribution
    )
    n_points, n_samples, d = masks.shape
    n_outputs = values.shape[2]
    n_units = n_samples // 2 if paired else n_samples
    if n_units < 2:
        unit = "pairs" if paired else "samples"
        raise InsufficientSamplesError(f"masks: kernelshap needs at least 2 {unit} per point, got {n_units}")
    weights = _row_weights(masks, distribution, sample_weights)

    phi = np.zeros((n_points, d, n_outputs))
    se = np.zeros((n_points, d, n_outputs))
    dof = np.zeros((n_points, d, n_outputs))
    for point in range(n_points):
        a_matrix = np.zeros((d, d))
        b = np.zeros((d, n_outputs))
        for i in range(n_samples):
            z = masks[point, i].astype(np.float64)
            a_matrix += weights[point, i] * np.outer(z, z)
            b += weights[point, i] * np.outer(z, values[point, i] - null[point])
        a_matrix /= n_samples
        b /= n_samples
        _check_nonsingular("masks", a_matrix, point)
        a_inv = np.asarray(np.linalg.inv(a_matrix), dtype=np.float64)
        phi[point], c_matrix = _constrained_solution(a_inv, b, grand[point] - null[point])

        influence = np.zeros((n_samples, d, n_outputs))
        for i in range(n_samples):
            z = masks[point, i].astype(np.float64)
            residual = values[point, i] - null[point] - z @ phi[point]  # (o,)
            g = weights[point, i] * np.outer(z, residual)  # (d, o)
            influence[i] = c_matrix @ g
        se[point], point_dof = _standard_errors(influence, masks[point], paired, sample_weights, n_enumerated, stratified)
        dof[point] = np.nan if point_dof is None else point_dof

    n_evaluations = np.full(n_points, n_samples + 2, dtype=np.int64)
    return _with_design_dof(Estimate(values=phi, std_errors=se, n_evaluations=n_evaluations), dof, sample_weights)


def _exact_shapley_kernel_matrix(n_players: int) -> NDArray[np.float64]:
    """``A = E[z z^T]`` under the Shapley-kernel distribution.

    ``A_ii = sum_k P(k) k / d`` and ``A_ij = sum_k P(k) k (k - 1) / (d (d - 1))`` for ``i != j``.
    """
    d = n_players
    p_size = size_probabilities(d, "shapley")
    diagonal = sum(p_size[k] * k / d for k in range(d + 1))
    off_diagonal = sum(p_size[k] * k * (k - 1) / (d * (d - 1)) for k in range(d + 1))
    a_matrix = np.full((d, d), off_diagonal)
    np.fill_diagonal(a_matrix, diagonal)
    return a_matrix


def unbiased_kernelshap(
    masks: NDArray[np.bool_],
    values: NDArray[np.floating[Any]],
    null_values: NDArray[np.floating[Any]],
    grand_values: NDArray[np.floating[Any]],
    *,
    paired: bool = False,
    distribution: str = "shapley",
    sample_weights: NDArray[np.floating[Any]] | None = None,
    n_enumerated: int = 0,
    stratified: bool = False,
) -> Estimate:
    """Unbiased KernelSHAP: :func:`kernelshap` with ``A`` replaced by its exact expectation.

    ``phi`` is then linear in ``b``, so it is unbiased; its standard errors use
    ``h_i = w_i (v_i - v0) C z_i`` (no residual), over units as in :func:`kernelshap`.
    A single unit is allowed (the standard errors are then ``+inf``).

    Args:
        masks, values, null_values, grand_values, paired, distribution, sample_weights,
            n_enumerated, stratified: as in :func:`kernelshap`.

    Raises:
        InsufficientSamplesError: no samples.

    Returns:
        Estimate with ``n_evaluations = n + 2``.
    """
    masks, values, null, grand, paired, distribution = _kernelshap_inputs(
        masks, values, null_values, grand_values, paired, distribution
    )
    n_points, n_samples, d = masks.shape
    n_outputs = values.shape[2]
    if n_samples < 1:
        raise InsufficientSamplesError("masks: unbiased_kernelshap needs at least 1 sample per point, got 0")
    weights = _row_weights(masks, distribution, sample_weights)
    a_inv = np.asarray(np.linalg.inv(_exact_shapley_kernel_matrix(d)), dtype=np.float64)

    phi = np.zeros((n_points, d, n_outputs))
    se = np.zeros((n_points, d, n_outputs))
    dof = np.zeros((n_points, d, n_outputs))
    for point in range(n_points):
        b = np.zeros((d, n_outputs))
        for i in range(n_samples):
            z = masks[point, i].astype(np.float64)
            b += weights[point, i] * np.outer(z, values[point, i] - null[point])
        b /= n_samples
        phi[point], c_matrix = _constrained_solution(a_inv, b, grand[point] - null[point])

        influence = np.zeros((n_samples, d, n_outputs))
        for i in range(n_samples):
            z = masks[point, i].astype(np.float64)
            influence[i] = weights[point, i] * np.outer(c_matrix @ z, values[point, i] - null[point])
        se[point], point_dof = _standard_errors(influence, masks[point], paired, sample_weights, n_enumerated, stratified)
        dof[point] = np.nan if point_dof is None else point_dof

    n_evaluations = np.full(n_points, n_samples + 2, dtype=np.int64)
    return _with_design_dof(Estimate(values=phi, std_errors=se, n_evaluations=n_evaluations), dof, sample_weights)


def sgd_default_step_size(n_players: int) -> float:
    """``1 / R^2`` with ``R^2 = max_k k (d - k) / d = floor(d/2) ceil(d/2) / d``.

    ``k (d - k) / d = |P z|^2`` is the squared norm of a mask of ``k`` players after the projection
    ``P = I - 1 1^T / d`` onto the efficiency constraint.
    """
    d = n_players
    r_squared = max(k * (d - k) / d for k in range(d + 1))
    return 1.0 / r_squared


def _sgd_run(
    masks: NDArray[np.bool_], centred: NDArray[np.float64], total: NDArray[np.float64], eta: float, batch_size: int
) -> NDArray[np.float64]:
    """One averaged projected-SGD run: masks ``(m, d)``, ``centred = v - v0`` ``(m, o)``, ``total = v1 - v0``."""
    m, d = masks.shape
    phi = np.outer(np.ones(d), total / d)  # (d, o), feasible
    iterate_sum = np.zeros_like(phi)
    n_steps = m // batch_size
    for step in range(n_steps):
        gradient = np.zeros_like(phi)
        for i in range(step * batch_size, (step + 1) * batch_size):
            z = masks[i].astype(np.float64)
            residual = z @ phi - centred[i]  # (o,)
            gradient += np.outer(z, residual)
        gradient /= batch_size
        phi = phi - eta * gradient
        phi = phi - (phi.sum(axis=0) - total) / d  # projection onto 1^T phi = total
        iterate_sum += phi
    average: NDArray[np.float64] = iterate_sum / n_steps
    return average


def sgd_shapley(
    masks: NDArray[np.bool_],
    values: NDArray[np.floating[Any]],
    null_values: NDArray[np.floating[Any]],
    grand_values: NDArray[np.floating[Any]],
    *,
    paired: bool = False,
    step_size: float | None = None,
    batch_size: int = 2,
    replicates: int = 4,
) -> Estimate:
    """SGD-Shapley: projected SGD on the KernelSHAP objective with iterate averaging, over replicates.

    Per output, from ``phi_0 = (v1 - v0) / d * 1``, each step over the next ``batch_size`` samples does
    ``phi <- phi - eta * mean_b z_b (z_b^T phi - (v_b - v0))`` then
    ``phi <- phi - (1^T phi - (v1 - v0)) / d * 1``; a run returns the mean of the iterates after each
    step. The samples of a point are split into ``replicates`` contiguous blocks, one run per block;
    ``phi = mean`` of the runs and ``se = std(runs, ddof=1) / sqrt(replicates)`` (``+inf`` for one).
    ``step_size=None`` means :func:`sgd_default_step_size`. Not unbiased; consistent.

    Args:
        masks, values, null_values, grand_values, paired: as in :func:`kernelshap`.
        step_size: ``eta > 0`` or None.
        batch_size: samples per step, ``>= 1``.
        replicates: number of blocks, ``>= 1``.

    Raises:
        InsufficientSamplesError: ``n`` is not a positive multiple of
            ``replicates * lcm(batch_size, 2 if paired else 1)``.
        InvalidArgumentError: bad ``step_size``, ``batch_size`` or ``replicates``, or a run diverged.

    Returns:
        Estimate with ``n_evaluations = n + 2``.
    """
    masks, values, null, grand, paired, _ = _kernelshap_inputs(
        masks, values, null_values, grand_values, paired, "shapley"
    )
    n_points, n_samples, d = masks.shape
    n_outputs = values.shape[2]
    eta = sgd_default_step_size(d) if step_size is None else as_positive_float("step_size", step_size)
    batch_size = as_int("batch_size", batch_size, minimum=1)
    replicates = as_int("replicates", replicates, minimum=1)
    multiple = replicates * math.lcm(batch_size, 2 if paired else 1)
    if n_samples < multiple or n_samples % multiple != 0:
        raise InsufficientSamplesError(
            f"masks: sgd_shapley needs a positive multiple of replicates x lcm(batch_size, {2 if paired else 1}) "
            f"= {multiple} samples per point, got {n_samples}"
        )
    block = n_samples // replicates

    phi = np.zeros((n_points, d, n_outputs))
    se = np.zeros((n_points, d, n_outputs))
    for point in range(n_points):
        runs = np.zeros((replicates, d, n_outputs))
        for r in range(replicates):
            rows = slice(r * block, (r + 1) * block)
            centred = values[point, rows] - null[point]
            with np.errstate(over="ignore", invalid="ignore"):
                runs[r] = _sgd_run(masks[point, rows], centred, grand[point] - null[point], eta, batch_size)
            if not np.isfinite(runs[r]).all():
                raise InvalidArgumentError(
                    f"step_size: SGD diverged at point {point} (replicate {r}) with step_size = {eta}; "
                    f"use a step below 2 / R^2 = {2.0 * sgd_default_step_size(d)}"
                )
        phi[point] = runs.mean(axis=0)
        se[point] = runs.std(axis=0, ddof=1) / math.sqrt(replicates) if replicates > 1 else np.inf

    n_evaluations = np.full(n_points, n_samples + 2, dtype=np.int64)
    return Estimate(values=phi, std_errors=se, n_evaluations=n_evaluations)


def msr_banzhaf(masks: NDArray[np.bool_], values: NDArray[np.floating[Any]]) -> Estimate:
    """Maximum-sample-reuse Banzhaf values.

    ``phi_i = mean{v(S) : i in S} - mean{v(S) : i not in S}`` and
    ``se_i = sqrt(var_in / n_in + var_out / n_out)`` with unbiased variances; ``+inf`` when
    ``n_in < 2`` or ``n_out < 2``.

    Args:
        masks: bool ``(P, n, d)``, ``d >= 1`` (intended to be drawn from ``"banzhaf"``).
        values: float ``(P, n, o)``.

    Raises:
        InsufficientSamplesError: some player is never in, or never out of, the samples of a point.

    Returns:
        Estimate with ``n_evaluations = n``.
    """
    masks, values = _check_samples(masks, values, min_players=1)
    n_points, n_samples, d = masks.shape
    n_outputs = values.shape[2]
    phi = np.zeros((n_points, d, n_outputs))
    se = np.zeros((n_points, d, n_outputs))
    for point in range(n_points):
        for player in range(d):
            inside = [values[point, i] for i in range(n_samples) if masks[point, i, player]]
            outside = [values[point, i] for i in range(n_samples) if not masks[point, i, player]]
            if not inside or not outside:
                where = "in" if not inside else "out of"
                raise InsufficientSamplesError(
                    f"masks: player {player} is never {where} the sampled coalitions of point {point}"
                )
            v_in = np.array(inside)
            v_out = np.array(outside)
            phi[point, player] = v_in.mean(axis=0) - v_out.mean(axis=0)
            if len(inside) < 2 or len(outside) < 2:
                se[point, player] = np.inf
            else:
                variance_in = v_in.var(axis=0, ddof=1)
                variance_out = v_out.var(axis=0, ddof=1)
                se[point, player] = np.sqrt(variance_in / len(inside) + variance_out / len(outside))
    n_evaluations = np.full(n_points, n_samples, dtype=np.int64)
    return Estimate(values=phi, std_errors=se, n_evaluations=n_evaluations)


def lime(masks: NDArray[np.bool_], values: NDArray[np.floating[Any]], *, kernel_width: float = 0.25) -> Estimate:
    """LIME: weighted least squares of ``v`` on ``[1, z]`` with weight ``pi(|z|)``.

    ``beta = (X^T W X)^-1 X^T W y``; standard errors from the HC1 sandwich
    ``H (sum_i w_i^2 r_i^2 x_i x_i^T) H * n / (n - p)`` with ``H = (X^T W X)^-1`` and ``p = d + 1``
    (``+inf`` when ``n == p``), whose diagonal is evaluated as ``sum_i (w_i r_i H x_i)^2``.
    ``pi`` is :func:`~stochamort.reference.weights.lime_kernel`.

    Args:
        masks: bool ``(P, n, d)``, ``d >= 1``.
        values: float ``(P, n, o)``.
        kernel_width: width of the LIME kernel (> 0).

    Raises:
        InsufficientSamplesError: ``n < d + 1``.
        SingularSystemError: ``X^T W X`` is singular for some point.

    Returns:
        Estimate of the coefficients, with ``n_evaluations = n`` and
        ``extras["intercept"]`` of shape ``(P, o)``.
    """
    masks, values = _check_samples(masks, values, min_players=1)
    width = as_positive_float("kernel_width", kernel_width)
    n_points, n_samples, d = masks.shape
    n_outputs = values.shape[2]
    n_params = d + 1
    if n_samples < n_params:
        raise InsufficientSamplesError(
            f"masks: lime needs at least n_players + 1 = {n_params} samples per point, got {n_samples}"
        )
    kernel = lime_kernel(d, width)

    coef = np.zeros((n_points, d, n_outputs))
    se = np.zeros((n_points, d, n_outputs))
    intercept = np.zeros((n_points, n_outputs))
    for point in range(n_points):
        x = np.column_stack([np.ones(n_samples), masks[point].astype(np.float64)])  # (n, p)
        w = np.array([kernel[int(masks[point, i].sum())] for i in range(n_samples)])  # (n,)
        y = values[point]  # (n, o)
        xtwx = np.zeros((n_params, n_params))
        xtwy = np.zeros((n_params, n_outputs))
        for i in range(n_samples):
            xtwx += w[i] * np.outer(x[i], x[i])
            xtwy += w[i] * np.outer(x[i], y[i])
        _check_nonsingular("masks", xtwx, point)
        beta = np.linalg.solve(xtwx, xtwy)  # (p, o)
        residuals = y - x @ beta  # (n, o)
        # Column i of hx is H x_i; w_i r_i H x_i is sample i's influence on beta.
        hx = np.linalg.solve(xtwx, x.T)  # (p, n)
        for output in range(n_outputs):
            if n_samples == n_params:
                se[point, :, output] = np.inf
                continue
            # diag(H M H) with M = sum_i w_i^2 r_i^2 x_i x_i^T is sum_i (w_i r_i H x_i)^2: a sum of
            # squares, accurate to ~cond(X^T W X) * eps. Forming H @ M @ H instead cancels terms of
            # size |H|^2 |M| down to O(1), losing ~cond^2 * eps (1e-4 relative at cond ~3e7).
            influence = hx * (w * residuals[:, output])  # (p, n)
            variance = np.sum(influence**2, axis=1) * n_samples / (n_samples - n_params)
            se[point, :, output] = np.sqrt(variance[1:])
        intercept[point] = beta[0]
        coef[point] = beta[1:]
    n_evaluations = np.full(n_points, n_samples, dtype=np.int64)
    return Estimate(values=coef, std_errors=se, n_evaluations=n_evaluations, extras={"intercept": intercept})


