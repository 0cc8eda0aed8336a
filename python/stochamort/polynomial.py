"""Polynomial regression estimators of Shapley values: PolySHAP and OddSHAP (re-exported by
:mod:`stochamort.estimators`). Batched over points, multi-output, computed in the Rust core with
the GIL released.

Both fit the game, by Shapley-kernel weighted least squares over the sampled coalitions, on a
polynomial with interaction terms that is exact at the full coalition, and read the Shapley values
off its coefficients. KernelSHAP is the special case with singletons only. For **any** set of
interaction terms (with all singletons) the population fit — every coalition, kernel weights — gives
the exact Shapley values; the sampled fit is therefore **consistent**, not unbiased.

Rows carry counting-measure weights (``sample_weights``): ``Σ_r w[p, r] f(masks[p, r])`` estimates
``Σ_S f(S)`` over all coalitions other than ∅ and N, as the coalition designs of
:func:`stochamort.sampling.sample_design` gives (enumerated rows weight 1; i.i.d. rows
``1 / (n_rows · q(S))``).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from stochamort import _core
from stochamort._checks import as_float64, as_masks
from stochamort.errors import InvalidArgumentError, InvalidDTypeError
from stochamort.results import Estimate, degrees_of_freedom

__all__ = ["polyshap", "oddshap"]


def _interactions(interactions: Sequence[Sequence[int]] | None) -> list[list[int]] | None:
    """The interaction sets as lists of non-negative ints (the core checks ranges and sizes)."""
    if interactions is None:
        return None
    if isinstance(interactions, (str, bytes)) or not isinstance(interactions, (Sequence, np.ndarray)):
        raise InvalidDTypeError("interactions: expected a sequence of sequences of player indices")
    out = []
    for position, term in enumerate(interactions):
        if isinstance(term, (str, bytes)) or not isinstance(term, (Sequence, np.ndarray)):
            raise InvalidDTypeError(f"interactions: entry {position} is not a sequence of player indices")
        try:
            players = [operator.index(j) for j in term if not isinstance(j, (bool, np.bool_))]
        except TypeError:
            raise InvalidDTypeError(f"interactions: entry {position} holds a non-integer player") from None
        if len(players) != len(term) or any(j < 0 for j in players):
            raise InvalidArgumentError(f"interactions: entry {position} must hold non-negative player indices")
        out.append(players)
    return out


def _estimate(result: tuple[Any, Any, Any, Any], n_samples: int, units: int) -> Estimate:
    values, std_errors, n_terms, cell_dof = result
    n_points = values.shape[0]
    # The core's degrees of freedom per cell (Satterthwaite's over a stratified design's strata)
    # where it estimated a variance; replicates − 1 otherwise.
    dof = degrees_of_freedom(n_points, units - 1) if cell_dof is None else {"dof": cell_dof}
    extras = {"n_terms": n_terms, **dof}
    return Estimate(values, std_errors, np.full(n_points, n_samples + 2, dtype=np.int64), extras)


def polyshap(
    masks: Any,
    values: Any,
    null_values: Any,
    grand_values: Any,
    *,
    sample_weights: Any,
    order: int = 2,
    max_terms: int | None = None,
    interactions: Sequence[Sequence[int]] | None = None,
    paired: bool = False,
    n_enumerated: int = 0,
    stratified: bool = False,
) -> Estimate:
    """PolySHAP (Fumagalli et al. 2025; kADD-SHAP, Pelegrina et al.): KernelSHAP with interaction terms.

    Minimises ``Σ_r ω_r (v(S_r) − v(∅) − Σ_T β_T Π_{j∈T} z_j)²`` with ``ω_r = w_r · k(|S_r|)`` (``w = sample_weights``)
    (``k`` the Shapley kernel ``(d−1)/(C(d,|S|)|S|(d−|S|))``) over the singletons and a set of
    interaction terms T, subject to ``Σ_T β_T = v(N) − v(∅)`` (exact at N); then
    ``φ_i = Σ_{T∋i} β_T / |T|``.

    Interaction terms: ``interactions`` if given (the same sets for every point); otherwise every
    set of 2..``order`` players when the budget allows about two distinct coalitions per
    coefficient, else ``max_terms`` (default: as many as that rule allows) sets screened per point
    by their correlation with the residuals of a first-order (KernelSHAP) pilot fit (in two rounds,
    the second on the residuals of a refit with the sets chosen in the first, when the screened
    model keeps half the candidates), see :func:`stochamort.reference.polynomial.select_interactions`. Terms the samples cannot tell apart
    from earlier ones (singletons first) are dropped; ``extras["n_terms"]`` ``(n_points,)`` counts
    the terms used, singletons included. With complementary pairs, even-order terms add nothing
    to the Shapley values (``order=2`` then equals paired KernelSHAP): prefer :func:`oddshap`.

    Bias: **consistent, not unbiased.** The population fit is exact for any terms, so the error
    vanishes as the samples grow; the finite-sample bias of the ratio (a weighted least squares
    on the samples) is O(1/n) and small next to the standard error once the budget is a few times
    the number of terms. Games whose Möbius terms all lie in the fitted set are recovered exactly.

    Standard errors: the sandwich (delta-method) estimate ``Σ_u (h_u − h̄)² · m/(m−1)`` over the
    ``m`` random units (rows, or pairs when ``paired``) after the ``n_enumerated`` deterministic
    rows, with ``h_u = M C Σ_{r∈u} ω_r x_r e_r`` (``C`` the constrained inverse, ``e`` the residuals);
    with ``stratified`` (a design drawn with ``replace=False``) the variance within size strata
    with the finite-population correction instead (a stratum of one unit borrows the pooled
    variance), the variance times HC1's ``n / (n − p)`` (``n`` distinct equations, ``p`` free coefficients). They
    ignore the choice of the terms from the same samples and the O(1/n) bias, so they run somewhat
    small: on tanh-network games (12–16 players, 64–2048 evaluations) the 90% quantile of
    ``|error| / std_error`` was 1.9–2.6 (1.64 if calibrated; paired KernelSHAP: 1.4–2.7). Zero when
    the game is fitted exactly. A fit with fewer than 2 residual degrees of freedom is refused.

    Args:
        masks: bool ``(n_points, n_samples, n_players)``; no empty or full coalition. Rows ``2j`` and
            ``2j+1`` complements when ``paired``.
        values: the game at those coalitions, ``(n_points, n_samples, n_outputs)``.
        null_values: v(∅) ``(n_points, n_outputs)``.
        grand_values: v(N) ``(n_points, n_outputs)``.
        sample_weights: counting-measure weights of the rows ``(n_points, n_samples)``, positive
            (e.g. :func:`stochamort.sampling.sample_design`'s).
        order: largest interaction order of the automatic choice (at least 1).
        max_terms: number of screened interaction terms, or None for the budget rule.
        interactions: fixed interaction sets (each of 2..d−1 distinct players), or None.
        paired: whether rows come in complementary pairs (one unit each for the standard errors).
        n_enumerated: number of leading deterministic rows (even when ``paired``).
        stratified: whether the random units were drawn stratified by size without replacement.

    Returns:
        :class:`~stochamort.results.Estimate` with ``n_evaluations = n_samples + 2``.

    Raises:
        InvalidArgumentError: non-positive sample weights, an empty or full coalition, broken pairs, bad
            ``order``, ``max_terms``, ``interactions`` or ``n_enumerated``.
        InsufficientSamplesError: fewer than 2 random units, unless the rows are all coalitions.
        SingularSystemError: the samples of a point do not separate the players.
    """
    m = as_masks(masks)
    result = _core.polyshap(
        m,
        as_float64(values, "values"),
        as_float64(null_values, "null_values"),
        as_float64(grand_values, "grand_values"),
        as_float64(sample_weights, "sample_weights"),
        order,
        max_terms,
        _interactions(interactions),
        bool(paired),
        n_enumerated,
        bool(stratified),
    )
    return _estimate(result, m.shape[1], (m.shape[1] - int(n_enumerated)) // (2 if paired else 1))


def oddshap(
    masks: Any,
    values: Any,
    null_values: Any,
    grand_values: Any,
    *,
    sample_weights: Any,
    order: int = 3,
    max_terms: int | None = None,
    interactions: Sequence[Sequence[int]] | None = None,
    n_enumerated: int = 0,
    stratified: bool = False,
) -> Estimate:
    """OddSHAP (as in shapiq 1.8): regression of the game's odd part on odd Fourier characters.

    The Shapley value is self-dual, so it depends only on the odd part
    ``v_o(S) = (v(S) − v(N∖S)) / 2`` of the game; every complementary pair (rows ``2j``, ``2j+1``)
    gives one equation. Minimises ``Σ_j ω_j (v_o(S_j) − Σ_T β_T χ_T(S_j))²`` over the characters
    ``χ_T(S) = Π_{i∈T} (2 z_i − 1)`` of odd order (the singletons and interaction sets of 3, 5, ..
    ≤ ``order`` players), ``ω_j = (w_{2j} + w_{2j+1}) · k(|S_j|)``, subject to
    ``Σ_T β_T = v_o(N) = (v(N) − v(∅)) / 2``; ``χ_T`` has Shapley value ``2/|T|`` on each member, so
    ``φ_i = Σ_{T∋i} 2 β_T / |T|``. Half the equations of :func:`polyshap` and no even terms: many more
    interactions per evaluation.

    Interaction terms, bias, standard errors (units: the random pairs) and ``extras["n_terms"]``
    as in :func:`polyshap`: **consistent, not unbiased**, exact for games whose odd part lies in
    the fitted span (e.g. games with interactions of at most 2 players, with any terms).

    Args:
        masks: bool ``(n_points, n_samples, n_players)``, at least 3 players, in complementary pairs
            (also any enumerated block); no empty or full coalition.
        values: the game at those coalitions.
        null_values: v(∅) ``(n_points, n_outputs)``.
        grand_values: v(N) ``(n_points, n_outputs)``.
        sample_weights: counting-measure weights ``(n_points, n_samples)``, positive.
        order: largest interaction order (odd orders up to it are used; 1 gives paired KernelSHAP).
        max_terms: number of screened interaction terms, or None for the budget rule.
        interactions: fixed interaction sets (odd sizes of at least 3), or None.
        n_enumerated: number of leading deterministic rows (even).
        stratified: whether the random pairs were drawn stratified by size without replacement.

    Returns:
        :class:`~stochamort.results.Estimate` with ``n_evaluations = n_samples + 2``.

    Raises:
        InvalidArgumentError, InsufficientSamplesError, SingularSystemError: as :func:`polyshap`.
    """
    m = as_masks(masks)
    result = _core.oddshap(
        m,
        as_float64(values, "values"),
        as_float64(null_values, "null_values"),
        as_float64(grand_values, "grand_values"),
        as_float64(sample_weights, "sample_weights"),
        order,
        max_terms,
        _interactions(interactions),
        n_enumerated,
        bool(stratified),
    )
    return _estimate(result, m.shape[1], (m.shape[1] - int(n_enumerated)) // 2)
