"""Estimators that turn sampled coalitions (or permutation chains) and the game's values there into
attributions with standard errors. Batched over points, multi-output, computed in the Rust core
with the GIL released.

Shapes: ``masks`` bool ``(n_points, n_samples, n_players)``; ``values`` ``(n_points, n_samples,
n_outputs)``; ``null_values`` = v(∅) and ``grand_values`` = v(all players), ``(n_points, n_outputs)``.
Every attribution estimator returns an :class:`~stochamort.results.Estimate`. The data-valuation
estimators (one game whose players are the N training points: :func:`permutation_data_values`,
:func:`merge_data_values`, :func:`contribution_values`) return a
:class:`~stochamort.results.DataValues`; :func:`truncation_points` serves TMC Data Shapley.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from stochamort import _core
from stochamort.errors import InvalidArgumentError, InvalidDTypeError, NonFiniteError, ShapeError, StochamortError, TooManyPlayersError
from stochamort._checks import as_float64, as_int64, as_masks, check_float, shown_rows
from stochamort.regression import regression_adjusted_semivalue
from stochamort.polynomial import oddshap, polyshap
from stochamort.results import DataValues, Estimate, degrees_of_freedom
from stochamort.sampling import CoalitionDistribution
from stochamort.weights import lime_kernel, semivalue_weights

__all__ = [
    "kernelshap",
    "unbiased_kernelshap",
    "sgd_shapley",
    "polyshap",
    "oddshap",
    "msr_banzhaf",
    "lime",
    "regression_adjusted_semivalue",
    "permutation_shapley",
    "merge_permutation_estimates",
    "exact_semivalue",
    "exact_shapley",
    "exact_banzhaf",
    "permutation_data_values",
    "merge_data_values",
    "contribution_values",
    "truncation_points",
]



def _per_point(n_points: int, per_point: int) -> NDArray[np.int64]:
    """The same evaluation count for every point."""
    return np.full(n_points, per_point, dtype=np.int64)

def _kernelshap(
    masks: Any,
    values: Any,
    null_values: Any,
    grand_values: Any,
    paired: bool,
    distribution: CoalitionDistribution,
    unbiased: bool,
    design: tuple[Any, int, bool],
) -> Estimate:
    m = as_masks(masks)
    v = as_float64(values, "values")
    sample_weights, n_enumerated, stratified = design
    if sample_weights is None:
        # Without a design's weights the core treats the rows as i.i.d. draws: a design's
        # description alone would only mislabel the standard errors' degrees of freedom.
        for name, given in (("n_enumerated", n_enumerated), ("stratified", stratified)):
            if not isinstance(given, (bool, np.bool_, int, np.integer)) or given:
                raise InvalidArgumentError(f"{name}: describes a design's rows; pass the design's sample_weights too, got {name}={given!r}")
    phi, se, cell_dof = _core.kernelshap(
        m,
        v,
        as_float64(null_values, "null_values"),
        as_float64(grand_values, "grand_values"),
        paired,
        distribution,
        unbiased,
        None if sample_weights is None else as_float64(sample_weights, "sample_weights"),
        n_enumerated,
        stratified,
    )
    if cell_dof is None:  # i.i.d. rows: replicates − 1 for every cell
        units = (m.shape[1] - (n_enumerated or 0)) // (2 if paired else 1)
        extras = degrees_of_freedom(m.shape[0], units - 1)
    else:  # a design's: per cell, Satterthwaite's over its strata (the core's estimators/strata.rs)
        extras = {"dof": cell_dof}
    return Estimate(phi, se, _per_point(m.shape[0], m.shape[1] + 2), extras)


def kernelshap(
    masks: Any,
    values: Any,
    null_values: Any,
    grand_values: Any,
    *,
    paired: bool = False,
    distribution: CoalitionDistribution = "shapley",
    sample_weights: Any = None,
    n_enumerated: int = 0,
    stratified: bool = False,
) -> Estimate:
    """KernelSHAP: the efficiency-constrained weighted least-squares estimate of Shapley values.

    With ``A = mean(w z zᵀ)`` and ``b = mean(w z (v(z) − v(∅)))`` over the samples (``w`` the importance
    weight of the Shapley kernel relative to ``distribution``; 1 for ``"shapley"``),
    ``φ = A⁻¹b − A⁻¹1 (1ᵀA⁻¹b − (v(all) − v(∅))) / (1ᵀA⁻¹1)`` (Covert & Lee 2021).
    With ``distribution="leverage"`` this is Leverage SHAP (Musco & Witter 2025).

    Bias: consistent, not unbiased; the bias is O(1/n) and small next to the variance for n ≳ d.
    Paired sampling makes it exact for additive games. Standard errors are the delta-method (CLT)
    estimate of Covert & Lee 2021, treating each pair as one unit when ``paired``.

    Args:
        masks: sampled coalitions; rows ``2j``/``2j+1`` must be complements when ``paired``.
        values: the game at those coalitions.
        null_values: v(∅) per point and output.
        grand_values: v(all players) per point and output.
        paired: whether the masks come in complementary pairs.
        distribution: the distribution the masks were drawn from (ignored with ``sample_weights``).
        sample_weights: the counting-measure weights ``(n_points, n_samples)`` of a design from
            :func:`stochamort.sampling.sample_design`; they replace the importance weights (a row
            weighs ``w · P_shapley(S)``). Without replacement and with whole sizes enumerated, no
            evaluation is wasted on a repeat.
        n_enumerated: the design's leading enumerated rows (no sampling variance); only with
            ``sample_weights``.
        stratified: whether the design's random units were drawn stratified by size without
            replacement (``replace=False``); the standard errors then use the variance within
            strata with the finite-population correction, and their degrees of freedom
            (``extras["dof"]``, per cell) are Satterthwaite's over the strata. Only with
            ``sample_weights``.

    Raises:
        InvalidArgumentError: naming ``n_enumerated`` or ``stratified`` when given without
            ``sample_weights``.
        SingularSystemError: when the samples of a point do not determine A (too few samples).
    """
    design = (sample_weights, n_enumerated, stratified)
    return _kernelshap(masks, values, null_values, grand_values, paired, distribution, False, design)


def unbiased_kernelshap(
    masks: Any,
    values: Any,
    null_values: Any,
    grand_values: Any,
    *,
    paired: bool = False,
    distribution: CoalitionDistribution = "shapley",
    sample_weights: Any = None,
    n_enumerated: int = 0,
    stratified: bool = False,
) -> Estimate:
    """Unbiased KernelSHAP (Covert & Lee 2021): KernelSHAP with the exact ``A`` of the Shapley kernel.

    The estimate is linear in the sample mean ``b``, hence **unbiased** for any number of samples
    (one is enough), with higher variance than :func:`kernelshap`. Standard errors are exact for a
    mean (sample covariance of the per-sample terms; ``inf`` with a single unit). With a design's
    ``sample_weights`` (Horvitz–Thompson weights, see :func:`stochamort.sampling.sample_design`)
    it stays exactly unbiased, whether the random units are i.i.d. or stratified without
    replacement. Arguments as in :func:`kernelshap`.
    """
    design = (sample_weights, n_enumerated, stratified)
    return _kernelshap(masks, values, null_values, grand_values, paired, distribution, True, design)


def sgd_shapley(
    masks: Any,
    values: Any,
    null_values: Any,
    grand_values: Any,
    *,
    paired: bool = False,
    step_size: float | None = None,
    batch_size: int = 2,
    replicates: int = 4,
) -> Estimate:
    """SGD-Shapley (Simon & Vincent 2020): projected SGD on KernelSHAP's objective, iterates averaged.

    Per output, minimises ``E[(zᵀφ − (v(z) − v(∅)))²]`` over Shapley-kernel coalitions ``z`` subject to
    ``1ᵀφ = Δ = v(all) − v(∅)``. From ``φ₀ = (Δ/d)·1``, each step takes the next ``batch_size`` samples,
    sets ``φ ← φ − η·mean(z (zᵀφ − y))`` and projects back, ``φ ← φ − ((1ᵀφ − Δ)/d)·1``; a run returns the
    average of its iterates (Polyak–Ruppert). Each point's samples are split into ``replicates``
    contiguous blocks (whole pairs when ``paired``), one independent run per block: the estimate is
    the mean of the block results and the standard error their standard deviation (ddof 1) over
    ``√replicates`` (``inf`` when ``replicates == 1``). The estimate satisfies efficiency exactly.

    Default step: ``η = 1/R²`` with ``R² = ⌊d/2⌋⌈d/2⌉/d`` (``4/d`` for even ``d``), the largest squared
    norm of a mask after projection (``|Pz|² = k(d − k)/d`` for a coalition of ``k`` players). A step
    multiplies its sample's residual by ``1 − η k(d − k)/d`` (a pair's residual difference likewise),
    so this is the largest step for which no residual overshoots, half the stability limit ``2/R²``;
    it depends on the masks only, not on the scale of the game. Larger steps may diverge (an error if
    the result overflows); much smaller steps forget ``φ₀`` slowly.

    Bias: **not unbiased**. A finite run keeps part of ``φ₀``, and since every block starts there this
    part is not in the standard errors, which understate the error when a block holds few steps.
    Consistent as the samples per block grow for a fixed step below ``2/R²`` (averaged constant-step
    SGD on least squares, Bach & Moulines 2013); additive games are a fixed point.

    Args:
        masks: coalitions from the ``"shapley"`` distribution; rows ``2j``/``2j+1`` complements when
            ``paired``.
        values: the game at those coalitions.
        null_values: v(∅) per point and output.
        grand_values: v(all players) per point and output.
        paired: whether the masks come in complementary pairs.
        step_size: η > 0, or ``None`` for the default above.
        batch_size: samples per SGD step (2 = one pair when paired).
        replicates: independent runs per point (blocks of the samples).

    Raises:
        InsufficientSamplesError: when ``n_samples`` is not a positive multiple of
            ``replicates × lcm(batch_size, 2 if paired else 1)``.
        InvalidArgumentError: for a step size that is not finite and positive (or that diverges),
            or a ``batch_size`` or ``replicates`` below 1.
    """
    m = as_masks(masks)
    phi, se = _core.sgd_shapley(
        m,
        as_float64(values, "values"),
        as_float64(null_values, "null_values"),
        as_float64(grand_values, "grand_values"),
        paired,
        step_size,
        batch_size,
        replicates,
    )
    return Estimate(phi, se, _per_point(m.shape[0], m.shape[1] + 2), degrees_of_freedom(m.shape[0], int(replicates) - 1))


def msr_banzhaf(masks: Any, values: Any) -> Estimate:
    """Banzhaf values by maximum sample reuse: ``mean{v(S): i ∈ S} − mean{v(S): i ∉ S}``.

    Unbiased when ``masks`` are drawn with ``distribution="banzhaf"`` (given that every player is both
    in and out of some sample, which is required). Standard error
    ``sqrt(var_in/n_in + var_out/n_out)``, ``inf`` when a side has fewer than two samples.

    Raises:
        InsufficientSamplesError: when a player is never in, or never out of, a sampled coalition.
    """
    m = as_masks(masks)
    phi, se = _core.msr_banzhaf(m, as_float64(values, "values"))
    return Estimate(phi, se, _per_point(m.shape[0], m.shape[1]), degrees_of_freedom(m.shape[0], m.shape[1] - 2))


def lime(masks: Any, values: Any, *, kernel_width: float = 0.25) -> Estimate:
    """LIME: weighted least squares of ``v(S)`` on ``[1, z]`` with LIME's exponential kernel.

    Use masks from ``distribution="banzhaf"``. Consistent for the population weighted regression,
    **not unbiased** (a ratio of sample means); the bias shrinks as O(1/n). Standard errors are HC1
    sandwich estimates. The intercepts are in ``extras["intercept"]`` ``(n_points, n_outputs)``.
    """
    m = as_masks(masks)
    if m.ndim != 3:
        raise ShapeError(f"masks: expected a 3-d array (n_points, n_samples, n_players), got shape {m.shape}")
    kernel = lime_kernel(m.shape[2], check_float("kernel_width", kernel_width, positive=True))
    coef, se, intercept = _core.lime(m, as_float64(values, "values"), kernel)
    extras = {"intercept": intercept, **degrees_of_freedom(m.shape[0], m.shape[1] - m.shape[2] - 1)}
    return Estimate(coef, se, _per_point(m.shape[0], m.shape[1]), extras)


def permutation_shapley(permutations: Any, chain_values: Any, *, antithetic: bool = False) -> Estimate:
    """Shapley values by permutation sampling: the mean marginal contribution along random orders.

    **Unbiased.** Standard errors from the running variance over permutations (over antithetic pairs
    when ``antithetic``). ``extras`` holds ``"m2"`` and ``"n_units"`` so that estimates from several
    chunks of permutations can be combined with :func:`merge_permutation_estimates`.

    Args:
        permutations: integer array ``(n_points, n_permutations, n_players)``.
        chain_values: ``(n_points, n_permutations, n_players + 1, n_outputs)``; entry ``[p, r, j]`` is
            the game at the first ``j`` players of permutation ``r`` (see
            :func:`~stochamort.sampling.permutation_chain_masks`).
        antithetic: whether permutation ``2j+1`` is the reverse of ``2j``.
    """
    perms = as_int64(permutations, "permutations")
    mean, se, m2, counts = _core.permutation_shapley(perms, as_float64(chain_values, "chain_values"), antithetic)
    n_points, n_perm, d = perms.shape
    extras = {"m2": m2, "n_units": counts, "dof": np.maximum(counts.astype(np.float64) - 1, 0)}
    return Estimate(mean, se, _per_point(n_points, n_perm * (d + 1)), extras)


def merge_permutation_estimates(first: Estimate, second: Estimate) -> Estimate:
    """Combine two :func:`permutation_shapley` estimates of the same points from disjoint permutations.

    The result equals the estimate from all permutations at once (Chan's parallel moments).
    Disjoint is the caller's promise (draw them with different seeds or ``sample_offset``s), as
    merging the same permutations twice would halve the variance with no new data; an estimate
    merged with itself (the same object, or equal values and moments at every point) is refused.

    Raises:
        InvalidArgumentError: naming ``first`` or ``second`` when it is not a permutation_shapley
            estimate, or ``second`` when it repeats ``first``'s draws.
        NonFiniteError: when either holds NaN or infinity.
    """
    for name, est in (("first", first), ("second", second)):
        if not isinstance(est, Estimate):
            raise InvalidArgumentError(f"{name}: must be an Estimate from permutation_shapley, got {type(est).__name__}")
        if "m2" not in est.extras or "n_units" not in est.extras:
            raise InvalidArgumentError(f"{name}: not a permutation_shapley estimate (no running moments)")
        for part, array in (("values", est.values), ("m2", est.extras["m2"])):
            if not np.isfinite(np.asarray(array, dtype=np.float64)).all():
                raise NonFiniteError(f"{name}: its {part} hold NaN or infinity")
    if first is second or _same_draws(first, second):
        raise InvalidArgumentError(
            "second: repeats first's permutations (equal values and moments at every point); merging "
            "them would claim twice the replicates. Merge estimates from disjoint permutations (other seeds)"
        )
    try:
        counts, means, m2 = _core.merge_moments(
            first.extras["n_units"],
            first.values,
            first.extras["m2"],
            second.extras["n_units"],
            second.values,
            second.extras["m2"],
        )
    except StochamortError as err:  # the core names its own arrays (counts_a, m2_b): name the estimates
        name = "first" if (err.argument or "").endswith("_a") else "second"
        raise type(err)(f"{name}: {err}") from err
    n = counts.astype(np.float64)[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(n >= 2, np.sqrt(np.maximum(m2, 0.0) / np.maximum(n - 1, 1) / n), np.inf)
    extras = {"m2": m2, "n_units": counts, "dof": np.maximum(counts.astype(np.float64) - 1, 0)}
    return Estimate(means, se, first.n_evaluations + second.n_evaluations, extras)


def _same_draws(first: Estimate, second: Estimate) -> bool:
    """Whether two permutation estimates hold the same moments: with continuous values, only the
    same permutations (or a copy) give equal means and sums of squares at every point."""
    parts = [(first.values, second.values), (first.extras["m2"], second.extras["m2"]), (first.extras["n_units"], second.extras["n_units"])]
    same_shape = all(np.shape(a) == np.shape(b) for a, b in parts)
    return same_shape and first.n_points > 0 and all(np.array_equal(a, b) for a, b in parts) and bool(np.any(first.extras["m2"] != 0))


def exact_semivalue(values: Any, weights: Any) -> Estimate:
    """The exact semivalue ``φ_i = Σ_{S ∌ i} w(|S|)(v(S ∪ {i}) − v(S))`` by enumeration.

    Args:
        values: the full game table ``(n_points, 2**n_players, n_outputs)``; coalition ``s`` holds
            player ``i`` iff bit ``i`` of ``s`` is set (the order of
            :func:`~stochamort.sampling.enumerate_coalitions`). At most 20 players.
        weights: ``(n_players,)`` per-size weights, e.g. from :func:`~stochamort.weights.semivalue_weights`.

    Returns:
        An exact estimate: standard errors are zero.
    """
    v = as_float64(values, "values")
    phi = _core.exact_semivalue(v, as_float64(weights, "weights"))
    return Estimate(phi, np.zeros_like(phi), _per_point(v.shape[0], v.shape[1]), degrees_of_freedom(v.shape[0], np.inf))


def _players_of_table(values: Any) -> tuple[Any, int]:
    v = as_float64(values, "values")
    if v.ndim != 3 or v.shape[1] < 2 or v.shape[1] & (v.shape[1] - 1):
        raise ShapeError(
            f"values: expected (n_points, 2**n_players, n_outputs) with n_players >= 1, got shape {v.shape}"
        )
    return v, v.shape[1].bit_length() - 1


def _exact_from_table(values: Any, kind: Literal["shapley", "banzhaf"]) -> Estimate:
    v, d = _players_of_table(values)
    try:
        return exact_semivalue(v, semivalue_weights(d, kind))
    except TooManyPlayersError as err:  # the core checks the weights made here, first: name the table
        error = TooManyPlayersError(f"values: {str(err).partition(': ')[2]}")
        error.argument = "values"
        raise error from None


def exact_shapley(values: Any) -> Estimate:
    """Exact Shapley values from the full game table (see :func:`exact_semivalue`)."""
    return _exact_from_table(values, "shapley")


def exact_banzhaf(values: Any) -> Estimate:
    """Exact Banzhaf values from the full game table (see :func:`exact_semivalue`)."""
    return _exact_from_table(values, "banzhaf")


# ----------------------------------------------------------------------------------------------
# data valuation


def _data_values(
    values: NDArray[np.float64],
    std_errors: NDArray[np.float64],
    m2: NDArray[np.float64],
    counts: NDArray[np.uint64],
    n_evaluations: int,
) -> DataValues:
    return DataValues(values, std_errors, counts.astype(np.int64), int(n_evaluations), m2)


def _as_real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidDTypeError(f"{name}: expected a real number, got {type(value).__name__}")
    return float(value)


def permutation_data_values(
    permutations: Any,
    chain_values: Any,
    *,
    position_weights: Any = None,
    start: int = 0,
) -> DataValues:
    """Data values from permutations of the training points and the utility along them.

    For each permutation ``p`` and each position ``k`` in ``start..N−1``, the point
    ``permutations[p, k]`` receives the contribution
    ``position_weights[k] · (chain_values[p, k + 1] − chain_values[p, k])``. A point's value is the mean
    of the contributions it received, with Welford's running variance: ``std_errors =
    sqrt(M2 / (n − 1) / n)`` (``inf`` below two contributions), ``n_contributions = n`` (these differ
    between points when ``start > 0``) and ``m2 = M2`` (for :func:`merge_data_values`).

    Unbiasedness, for uniformly random permutations (e.g. one row per point of
    :func:`~stochamort.sampling.sample_permutations`):

    * ``position_weights=None`` (all ones), ``start=0``: Data Shapley.
    * ``position_weights=semivalue_position_weights(N, kind, alpha=…, beta=…)``, ``start=0``: that
      semivalue (Beta Shapley, Banzhaf).
    * ``start=s > 0`` (a minimum starting cardinality: the first ``s`` points of every permutation form
      the starting set and get no contribution) with unit weights: the semivalue with
      ``w(k) = [k ≥ s] / ((N − s) · C(N − 1, k))``, i.e. Data Shapley restricted to coalitions of at
      least ``s`` points.

    Truncation (TMC) makes the estimate biased: replace the utilities after the truncation position
    by the utility there (see :func:`truncation_points`).

    Computed in the Rust core over fixed blocks of permutations merged in order, so the result is
    bit-identical for any number of threads.

    Args:
        permutations: integer array ``(P, N)``; every row a permutation of ``0..N−1``.
        chain_values: real array ``(P, N + 1)``; ``chain_values[p, k]`` = U(first ``k`` points of
            permutation ``p``). Columns below ``start`` are not read (they may hold anything, e.g. NaN).
        position_weights: real array ``(N,)`` of finite weights per position, or None for all ones.
        start: first position recorded, ``0 <= start <= N − 1``.

    Returns:
        :class:`~stochamort.results.DataValues` with ``total_evaluations = P · (N + 1 − start)``.

    Raises:
        InvalidArgumentError: a row of ``permutations`` is not a permutation, ``start`` is negative or
            above ``N − 1``, or ``position_weights`` holds NaN or infinity.
        ShapeError: ``chain_values`` is not ``(P, N + 1)`` or ``position_weights`` not ``(N,)``.
        NonFiniteError: ``chain_values`` holds NaN or infinity in a column that is read (the
            message lists the rows), or finite values whose differences overflow.
        InsufficientSamplesError: no permutations (``P == 0``).
        InvalidDTypeError: non-integer permutations or non-real values.
    """
    perms = as_int64(permutations, "permutations")
    chains = as_float64(chain_values, "chain_values")
    weights = None if position_weights is None else as_float64(position_weights, "position_weights")
    values, std_errors, m2, counts, n_evaluations = _core.permutation_data_values(perms, chains, weights, start)
    overflowed = ~(np.isfinite(values) & np.isfinite(m2))
    if overflowed.any():  # finite chain values whose differences (or their squares) overflow
        raise NonFiniteError(
            f"chain_values: consecutive values differ by more than float64 holds (the contributions or their "
            f"squares overflow) for data point(s) {shown_rows(np.flatnonzero(overflowed))}; rescale them"
        )
    return _data_values(values, std_errors, m2, counts, n_evaluations)


def merge_data_values(first: DataValues, second: DataValues) -> DataValues:
    """Combine two data-valuation results for the same points from disjoint contributions.

    Chan's parallel merge of the per-point moments (each point's own counts): the result equals, up
    to rounding, the result computed from all contributions at once, so estimates can be refined in
    rounds. ``total_evaluations`` are summed; ``extras`` are not carried over.

    Args:
        first, second: results of :func:`permutation_data_values` or :func:`contribution_values` (any
            :class:`~stochamort.results.DataValues` with ``m2``) for the same ``n`` points.

    Raises:
        InvalidArgumentError: a result without ``m2`` (its running moments), or negative
            ``n_contributions``.
        ShapeError: the results value different numbers of points.
        NonFiniteError: non-finite values or ``m2``.
    """
    for name, result in (("first", first), ("second", second)):
        if not isinstance(result, DataValues):
            raise InvalidArgumentError(f"{name}: must be DataValues, got {type(result).__name__}")
        if result.m2 is None:
            raise InvalidArgumentError(f"{name}: has no m2 (running moments), so it cannot be merged")
    assert first.m2 is not None and second.m2 is not None
    parts = []
    for name, result, m2 in (("first", first, first.m2), ("second", second, second.m2)):
        counts = np.asarray(result.n_contributions)
        values, moments = np.asarray(result.values), np.asarray(m2)
        if not (counts.ndim == values.ndim == moments.ndim == 1 and counts.shape == values.shape == moments.shape):
            raise ShapeError(
                f"{name}: values, n_contributions and m2 must be 1-d of one length, got shapes "
                f"{values.shape}, {counts.shape}, {moments.shape}"
            )
        counts = as_int64(counts, f"{name}.n_contributions")
        if (counts < 0).any():
            raise InvalidArgumentError(f"{name}: n_contributions must be >= 0")
        values, moments = as_float64(values, f"{name}.values"), as_float64(moments, f"{name}.m2")
        if not (np.isfinite(values).all() and np.isfinite(moments).all()):
            bad = np.flatnonzero(~(np.isfinite(values) & np.isfinite(moments)))
            raise NonFiniteError(f"{name}: values or m2 hold NaN or infinity at point(s) {bad[:10].tolist()}")
        parts.append((counts.astype(np.uint64), values, moments))
    if parts[0][0].shape != parts[1][0].shape:
        raise ShapeError(f"second: values {parts[1][0].shape[0]} points, but first values {parts[0][0].shape[0]}")
    (ca, ma, qa), (cb, mb, qb) = parts
    n_evaluations = first.total_evaluations + second.total_evaluations
    return _data_values(*_core.merge_data_values(ca, ma, qa, cb, mb, qb, n_evaluations))


def contribution_values(contributions: Any) -> DataValues:
    """Data values from independent draws of each point's contribution.

    Row ``i`` of ``contributions`` holds i.i.d. draws whose expectation is point ``i``'s value, e.g.
    ``U(D ∪ {i}) − U(D)`` for random datasets D (distributional Data Shapley, with D from
    :func:`~stochamort.sampling.sample_multisets`). The value is the row mean (**unbiased** for that
    expectation), ``std_errors = sqrt(M2 / (n − 1) / n)`` (``inf`` with one sample),
    ``n_contributions = n_samples`` and ``m2`` = Welford's M2 of the row. Parallel over rows.

    Args:
        contributions: real array ``(n_points, n_samples)``.

    Returns:
        :class:`~stochamort.results.DataValues` with
        ``total_evaluations = 2 · n_points · n_samples`` (U(D ∪ {i}) and U(D) per draw).

    Raises:
        InsufficientSamplesError: ``n_samples == 0`` (with at least one point).
        NonFiniteError: NaN or infinity (the message lists the points).
        ShapeError: not a 2-d array.
    """
    return _data_values(*_core.contribution_values(as_float64(contributions, "contributions")))


def truncation_points(chain_values: Any, target: float, tolerance: float) -> NDArray[np.int64]:
    """Where each permutation of TMC Data Shapley may be truncated.

    For each row ``p``, the first column ``c`` with ``|chain_values[p, c] − target| ≤ tolerance ·
    |target|``, or ``−1`` if there is none. With ``target = U(all points)`` and ``chain_values[p, k]`` =
    U(first ``k`` points of permutation ``p``), TMC (Ghorbani & Zou 2019) stops evaluating
    permutation ``p`` there and sets the later marginal contributions to zero (a bias, traded for
    fewer model fits). With ``target = 0`` only an exact zero is close.

    Args:
        chain_values: real array ``(P, K)`` (any number of columns, e.g. a chunk of a chain).
        target: a finite real number.
        tolerance: a finite relative tolerance ``>= 0``.

    Returns:
        int64 array ``(P,)``.

    Raises:
        InvalidArgumentError: ``target`` not finite, or ``tolerance`` negative or not finite.
        NonFiniteError: ``chain_values`` holds NaN or infinity (the message lists the rows).
        ShapeError: ``chain_values`` is not 2-d.
    """
    return _core.truncation_points(
        as_float64(chain_values, "chain_values"), _as_real(target, "target"), _as_real(tolerance, "tolerance")
    )
