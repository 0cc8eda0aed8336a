"""Moderated variances: empirical Bayes pooling of the standard errors of one result.

A standard error from two or three replicates is itself very noisy, and for the heavy-tailed
marginal contributions of games with strong interactions it is *usually too small* (often
exactly zero: two antithetic pairs that happen to see the same coalitions). Student's t corrects
for the noise of a normal sample, not for that. Following Smyth (2004, limma), every cell's
variance ``s²`` (``d`` degrees of freedom) is shrunk toward a prior ``s0²`` with ``d0`` prior
degrees of freedom,

    s̃² = (d0 · s0² + d · s²) / (d0 + d),   used with Student's t on d0 + d degrees of freedom,

where the prior is fitted to the result itself: ``log σ²`` of cell ``c`` (a player and output)
of point ``p`` is a point effect plus a cell effect (a feature that varies more than the others
does so at every point) plus scatter. ``d0`` comes from that scatter of ``log s²`` beyond what
``d`` explains; the effects are fitted by alternating means, each shrunk toward the others as far
as their own scatter beyond their sampling noise allows, and ``d0`` is lowered cell by cell by
the uncertainty left in the fitted scale. A point's interval thus depends on the other points of
the same result; a result of one point pools its own cells. With fewer than
``MIN_RESIDUAL_DOF`` degrees of freedom left for the scatter, nothing is pooled. The prior is
then raised, never lowered, until its mean matches the mean observed variance: sample variances
are unbiased whatever the distribution, their logarithms only for normal samples.

Measured (tests/oracles/test_moderation.py, test_intervals.py): normal replicates with scales
spread over points and cells are covered 94–96 % at 95 % from 2 replicates (92 % for a lone point
of 8 cells with very unequal scales, where plain t is exact); interaction games 94–96 % at 2
antithetic permutation pairs, where plain t gives 87–88 %. Cells whose replicates all agree count
as one replicate (at 2 pairs and 8 players, 7.6 % of cells; covered 99 %, plain t 0 %).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import digamma, polygamma  # type: ignore[import-untyped]

__all__ = ["moderated_std_errors", "MIN_RESIDUAL_DOF"]

#: Degrees of freedom the scatter needs, after the effects are fitted, before anything is pooled.
MIN_RESIDUAL_DOF = 7


def trigamma_inverse(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``y`` with ``trigamma(y) == x`` for ``x > 0`` (Newton's method from ``0.5 + 1/x``, as Smyth)."""
    x = np.asarray(x, dtype=np.float64)
    middle = np.clip(x, 1e-6, 1e7)  # outside, the asymptotes below (1/x, 1/√x) are within 1e-6
    y = 0.5 + 1.0 / middle
    for _ in range(50):
        tri = polygamma(1, y)
        step = tri * (1.0 - tri / middle) / polygamma(2, y)
        y = y + step
        if np.all(-step / y < 1e-8):
            break
    return np.where(x > 1e7, 1.0 / np.sqrt(x), np.where(x < 1e-6, 1.0 / x, y))


def fit_two_way(
    log_var: NDArray[np.float64], informative: NDArray[np.bool_], with_columns: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Additive point and cell effects of ``log_var`` over its informative cells (alternating
    means: cells may be missing); cell effects average 0, and are all 0 without ``with_columns``."""
    weight = informative.astype(np.float64)
    rows, columns = np.maximum(weight.sum(axis=1), 1), np.maximum(weight.sum(axis=0), 1)
    cell_effects = np.zeros(log_var.shape[1])
    for _ in range(50 if with_columns else 1):
        point_effects = ((log_var - cell_effects) * weight).sum(axis=1) / rows
        if not with_columns:
            break
        update = ((log_var - point_effects[:, None]) * weight).sum(axis=0) / columns
        update -= np.average(update, weights=weight.sum(axis=0)) if weight.sum() else 0.0
        converged = np.max(np.abs(update - cell_effects), initial=0.0) < 1e-10
        cell_effects = update
        if converged:
            break
    point_effects = ((log_var - cell_effects) * weight).sum(axis=1) / rows
    return point_effects, cell_effects


def shrink(
    effects: NDArray[np.float64], noise: NDArray[np.float64], present: NDArray[np.bool_], centre: float | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Effects estimated with ``noise`` (their sampling variance) shrunk toward ``centre`` (their
    weighted mean if None) by the share of their scatter that is real, and the variance left."""
    if present.sum() < 3:
        return effects, noise
    weights = 1.0 / noise[present]
    common = float(np.average(effects[present], weights=weights)) if centre is None else centre
    spread = float(np.mean((effects[present] - common) ** 2)) * present.sum() / (present.sum() - (centre is None))
    between = max(0.0, spread - float(np.mean(noise[present])))
    keep = np.where(between > 0, between / (between + noise), 0.0)
    return common + keep * (effects - common), keep * noise


def mean_calibration(
    prior: NDArray[np.float64], d0: NDArray[np.float64], observed: NDArray[np.float64], informative: NDArray[np.bool_]
) -> float:
    """How far to raise the prior so that its mean matches the mean observed variance (never
    lowered). Sample variances are unbiased whatever the contributions' distribution, their
    logarithms only under normality: for heavy-tailed contributions the log scale sits too low."""
    usable = informative & np.isfinite(d0) & (d0 > 4)  # the prior's mean is finite (and stable)
    if usable.sum() < MIN_RESIDUAL_DOF:
        return 1.0
    expected = (prior * d0 / np.where(usable, d0 - 2, 1.0))[usable].sum()
    return max(1.0, float(observed[usable].sum() / expected))


def moderated_std_errors(
    std_errors: NDArray[np.float64], dof: NDArray[np.float64], poolable: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Moderated standard errors and their degrees of freedom, both of ``std_errors``' shape.

    ``std_errors`` is ``(n_points, ...)``; ``dof`` is ``(n_points,)`` or ``std_errors``' shape: the
    replicates behind each standard error less one (their variance is ``se² · (dof + 1)``), or a
    stratified design's Satterthwaite degrees of freedom (the same conversion then puts cells on
    a common scale up to a factor the point and cell effects absorb; measured in
    ``benches/bench_intervals.py``). Cells whose replicates all agree (variance 0) get the prior's
    variance of *one* replicate and its degrees of freedom. Returned as they are: cells with no
    sampled variance (``dof`` 0 or infinite: one replicate, or exact values), the points that are
    not ``poolable`` (``(n_points,)``, None: all are), and everything when too few cells have a
    positive variance.
    """
    n_points = std_errors.shape[0]
    dof = np.asarray(dof, dtype=np.float64)
    dof = np.broadcast_to(dof.reshape(dof.shape + (1,) * (std_errors.ndim - dof.ndim)), std_errors.shape)
    se, dof = std_errors.reshape(n_points, -1), dof.reshape(n_points, -1)
    sampled = (dof > 0) & np.isfinite(dof)
    if poolable is not None:
        sampled &= np.asarray(poolable, dtype=np.bool_).reshape(n_points, 1)
    d = np.where(sampled, dof, 1.0)
    variance = se**2 * (d + 1)
    informative = sampled & np.isfinite(variance) & (variance > 0)
    # log s² − E[log χ²_d / d]: an unbiased estimate of log σ² under normality.
    log_var = np.where(informative, np.log(np.where(informative, variance, 1.0)) - digamma(d / 2) + np.log(d / 2), 0.0)
    counts = informative.sum(axis=1)  # per point
    column_counts = informative.sum(axis=0)  # per cell (player, output) over points
    rows, columns = int((counts > 0).sum()), int((column_counts > 0).sum())
    with_columns = rows >= 3 and columns >= 2
    point_effects, cell_effects = fit_two_way(log_var, informative, with_columns)
    residuals = (log_var - point_effects[:, None] - cell_effects[None, :]) * informative
    # The residual scatter estimates trigamma(d/2) + trigamma(d0/2), once the fitted effects'
    # degrees of freedom are taken out.
    m = int(informative.sum())
    residual_dof = m - rows - (columns - 1 if with_columns else 0)
    if residual_dof < MIN_RESIDUAL_DOF:
        return std_errors, dof.reshape(std_errors.shape)
    within = max(float((residuals**2).sum() / residual_dof), 1e-300)
    excess = within - float((polygamma(1, d / 2) * informative).sum() / m)
    prior_trigamma = max(excess, 0.0)  # no scatter beyond sampling noise: the scales are exact
    point_scales, point_left = shrink(point_effects, within / np.maximum(counts, 1), counts > 0)
    if with_columns:
        cell_scales, cell_left = shrink(cell_effects, within / np.maximum(column_counts, 1), column_counts > 0, centre=0.0)
    else:
        cell_scales, cell_left = np.zeros_like(cell_effects), np.zeros_like(cell_effects)
    scales = point_scales[:, None] + cell_scales[None, :]
    left = point_left[:, None] + cell_left[None, :]
    # The uncertainty left in a point's scale widens its prior (fewer prior degrees of freedom).
    total = prior_trigamma + left
    d0 = np.where(total > 0, 2.0 * trigamma_inverse(np.maximum(total, 1e-300)), np.inf)
    finite = np.isfinite(d0)
    safe_d0 = np.where(finite, d0, 1.0)
    with np.errstate(over="ignore"):
        prior = np.exp(scales + np.where(finite, digamma(safe_d0 / 2) - np.log(safe_d0 / 2), 0.0))
    observed = np.where(np.isfinite(variance), variance, 0.0)
    prior = prior * mean_calibration(prior, d0, observed, informative)
    shrunk = np.where(finite, (safe_d0 * prior + d * observed) / (safe_d0 + d), prior)
    moderated = np.where(sampled & np.isfinite(se), np.sqrt(shrunk / (d + 1)), se)
    pooled_dof = np.where(sampled, dof + d0, dof)
    # Replicates that all agree exactly are, for the interval, one replicate: the same coalitions
    # drawn again (two antithetic pairs do so 7.6 % of the time at 8 players, and more often at the
    # extreme positions, whose contributions differ most) or a rare contribution never drawn. Their
    # mean has the prior's variance of a single replicate, known to the prior's d0.
    repeated = sampled & (variance == 0)
    moderated = np.where(repeated, np.sqrt(prior), moderated)
    pooled_dof = np.where(repeated, d0, pooled_dof)
    return moderated.reshape(std_errors.shape), pooled_dof.reshape(std_errors.shape)
