"""Reference polynomial regression estimators of Shapley values: PolySHAP and OddSHAP, written out
one point at a time with explicit design matrices and a dense KKT solve (see
:mod:`stochamort.reference.estimators` for the shapes).

Both fit the game on a polynomial in the coalition's indicator ``z`` by Shapley-kernel weighted least
squares, exactly at the full coalition, and read the Shapley values off the coefficients:

* PolySHAP: ``v(S) - v(∅) ≈ Σ_T β_T Π_{j∈T} z_j`` over the singletons and some interaction sets T;
  ``φ_i = Σ_{T∋i} β_T / |T|`` (the Shapley value of the unanimity game of T).
* OddSHAP: from complementary pairs, the odd part ``v_o(S) = (v(S) - v(N∖S)) / 2 ≈ Σ_T β_T χ_T(S)``
  with the characters ``χ_T(S) = Π_{j∈T}(2 z_j - 1)`` of odd order; ``φ_i = Σ_{T∋i} 2 β_T / |T|``.

The choice of the interaction sets (budget-adaptive screening) is spelled out in
:func:`select_interactions`; the Rust core makes the same choice.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, InvalidDTypeError, SingularSystemError
from stochamort.results import Estimate
from stochamort._checks import as_bool, as_float_array, as_int, as_mask_array, check_finite, check_shape
from stochamort.reference.design import check_design_inputs, design_standard_errors
from stochamort.reference.weights import shapley_kernel

__all__ = ["polyshap", "oddshap", "select_interactions"]

#: Distinct equations (coalitions, or complementary pairs for OddSHAP) per term of the full model of
#: the requested orders below which the automatic choice screens the candidates instead.
FULL_MODEL_EQUATIONS_PER_TERM = 1.5
#: Distinct equations per term of the largest screened model (automatic choice).
EQUATIONS_PER_TERM = 2
#: The screened models compared by generalised cross-validation: these fractions of the largest.
SCREENED_FRACTIONS = (0.0, 0.125, 0.25, 0.5, 0.75, 1.0)
#: Rounds of screening when the screened model keeps at least :data:`ROUNDS_FROM_SHARE` of the
#: candidates (else one): each refits on the sets chosen before it and adds its share of them.
SCREENING_ROUNDS = 2
#: Share of the candidates the screened model must keep for screening in rounds.
ROUNDS_FROM_SHARE = 0.5
#: Most candidate interaction sets screened per point; beyond it, only sets of the players with the
#: largest first-order estimates are candidates.
MAX_CANDIDATES = 4096
#: A term whose weighted column keeps less than this fraction of its squared norm after projection
#: on the terms accepted before it is dropped (it is numerically a combination of them).
REJECTION_TOLERANCE = 1e-8
#: An output whose pilot residuals keep less than this fraction of ``Σ ω y²`` counts as fitted exactly
#: (it carries no information about the interactions).
EXACT_FIT = 1e-20
#: Screening scores are compared on this many parts of the best one (rounding must not break ties).
SCORE_DIGITS = 1e9

Term = tuple[int, ...]


# ----------------------------------------------------------------------------------------------
# inputs


def _inputs(
    masks: Any, values: Any, null_values: Any, grand_values: Any, weights: Any, n_enumerated: Any, paired: bool
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], int]:
    m = as_mask_array("masks", masks, 3)
    v = as_float_array("values", values, 3)
    n_points, n_samples, d = m.shape
    if d < 2:
        raise InvalidArgumentError(f"masks: the Shapley kernel needs n_players >= 2, got {d}")
    check_shape("values", v, (n_points, n_samples, v.shape[2]), "masks (n_points, n_samples)")
    if v.shape[2] < 1:
        raise InvalidArgumentError("values: needs at least one output (last axis is empty)")
    check_finite("values", v)
    null, grand, w = check_design_inputs(null_values, grand_values, weights, n_points, n_samples, v.shape[2])
    if not (w > 0).all():
        bad = sorted({int(p) for p in np.argwhere(w <= 0)[:, 0]})
        raise InvalidArgumentError(f"sample_weights: must be positive; not at points {bad[:10]}")
    enumerated = as_int("n_enumerated", n_enumerated, minimum=0)
    if enumerated > n_samples:
        raise InvalidArgumentError(f"n_enumerated: {enumerated} exceeds the {n_samples} samples per point")
    sizes = m.sum(axis=2)
    trivial = np.argwhere((sizes == 0) | (sizes == d))
    if trivial.size:
        point, row = (int(x) for x in trivial[0])
        which = "empty" if sizes[point, row] == 0 else "full"
        raise InvalidArgumentError(
            f"masks: point {point}, sample {row} is the {which} coalition, which the regression cannot use; "
            "pass v(∅) and v(all) as null_values and grand_values"
        )
    if paired:
        if n_samples % 2 or enumerated % 2:
            raise InvalidArgumentError(
                f"masks: pairs need even numbers of samples and of enumerated rows, got {n_samples} and {enumerated}"
            )
        for point in range(n_points):
            for j in range(n_samples // 2):
                if not np.array_equal(m[point, 2 * j + 1], ~m[point, 2 * j]):
                    raise InvalidArgumentError(
                        f"masks: paired rows but rows {2 * j} and {2 * j + 1} of point {point} are not complements"
                    )
    return m, v, null, grand, w, enumerated


def _check_order(order: Any) -> int:
    return as_int("order", order, minimum=1)


def _check_max_terms(max_terms: Any) -> int | None:
    return None if max_terms is None else as_int("max_terms", max_terms, minimum=0)


def _check_interactions(interactions: Any, d: int, odd: bool) -> list[Term] | None:
    """The given interaction sets as sorted tuples, in the given order; None for automatic."""
    if interactions is None:
        return None
    if isinstance(interactions, (str, bytes)) or not isinstance(interactions, Sequence):
        raise InvalidDTypeError("interactions: expected a sequence of sequences of player indices")
    terms: list[Term] = []
    for position, raw in enumerate(interactions):
        if isinstance(raw, (str, bytes)) or not isinstance(raw, (Sequence, np.ndarray)):
            raise InvalidDTypeError(f"interactions: entry {position} is not a sequence of player indices")
        players = [as_int("interactions", j) for j in raw]
        term = tuple(sorted(set(players)))
        if len(term) != len(players) or (term and not 0 <= term[0] <= term[-1] < d):
            raise InvalidArgumentError(
                f"interactions: entry {position} must hold distinct players in 0..{d - 1}, got {list(raw)}"
            )
        if odd and (len(term) < 3 or len(term) % 2 == 0):
            raise InvalidArgumentError(f"interactions: entry {position} must have an odd size >= 3, got {len(term)}")
        if not odd and not 2 <= len(term) <= d - 1:
            raise InvalidArgumentError(f"interactions: entry {position} must have 2..{d - 1} players, got {len(term)}")
        if term in terms:
            raise InvalidArgumentError(f"interactions: entry {position} repeats the set {list(term)}")
        terms.append(term)
    return terms


# ----------------------------------------------------------------------------------------------
# the regression of one point


def _features(rows: NDArray[np.bool_], terms: Sequence[Term], odd: bool) -> NDArray[np.float64]:
    """Design matrix ``(n_rows, n_terms)``: ``Π z_j`` (PolySHAP) or ``Π (2 z_j - 1)`` (OddSHAP) per term."""
    signs = rows.astype(np.float64) if not odd else 2.0 * rows - 1.0
    out = np.ones((rows.shape[0], len(terms)))
    for t, term in enumerate(terms):
        for j in term:
            out[:, t] *= signs[:, j]
    return out


def _shapley_matrix(terms: Sequence[Term], d: int, odd: bool) -> NDArray[np.float64]:
    """``M (d, n_terms)`` with ``φ = M β``: the Shapley value of each basis function per player."""
    matrix = np.zeros((d, len(terms)))
    for t, term in enumerate(terms):
        matrix[list(term), t] = (2.0 if odd else 1.0) / len(term)
    return matrix


def _accepted_columns(x: NDArray[np.float64], omega: NDArray[np.float64]) -> list[int]:
    """Columns kept, in order: each must keep more than ``REJECTION_TOLERANCE`` of its (weighted)
    squared norm after projection on the columns kept before it."""
    weighted = np.sqrt(omega)[:, None] * x
    kept: list[int] = []
    basis = np.zeros((x.shape[0], 0))  # orthonormal basis of the kept columns (Gram-Schmidt)
    for k in range(x.shape[1]):
        norm = float(np.linalg.norm(weighted[:, k]))
        if norm == 0.0:
            continue
        column = weighted[:, k] / norm
        for _ in range(2):  # twice is enough for orthogonality to working precision
            column = column - basis @ (basis.T @ column)
        remaining = float(column @ column)
        if remaining > REJECTION_TOLERANCE:
            kept.append(k)
            basis = np.hstack([basis, (column / math.sqrt(remaining))[:, None]])
    return kept


def _fit(
    x: NDArray[np.float64],
    omega: NDArray[np.float64],
    y: NDArray[np.float64],
    delta: NDArray[np.float64],
    shapley: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Minimise ``Σ ω (y - x β)²`` subject to ``Σ_T β_T = Δ`` (the fit is exact at N, where every basis
    function is 1), through the KKT system. Returns ``(φ (d, o), residuals (n, o), K (d, p))`` where
    ``K = M C`` and ``C`` (the upper-left block of the inverse KKT matrix) maps a change of
    ``Σ ω x y`` to the change of ``β``."""
    p = x.shape[1]
    kkt = np.zeros((p + 1, p + 1))
    kkt[:p, :p] = x.T @ (omega[:, None] * x)
    kkt[:p, p] = kkt[p, :p] = 1.0
    inverse = np.linalg.inv(kkt)
    rhs = np.vstack([x.T @ (omega[:, None] * y), delta[None, :]])
    beta = (inverse @ rhs)[:p]
    return shapley @ beta, y - x @ beta, shapley @ inverse[:p, :p]


def _singular(point: int, what: str) -> SingularSystemError:
    return SingularSystemError(f"masks: the system for point {point} is singular ({what}); sample more coalitions")


def _candidates(players: Sequence[int], order: int, d: int, odd: bool) -> list[Term]:
    """Interaction sets of the given players: orders 2..order (PolySHAP, at most d - 1) or the odd orders
    3, 5, .. <= order (OddSHAP), by order and then lexicographically."""
    sizes = range(3, order + 1, 2) if odd else range(2, min(order, d - 1) + 1)
    chosen = sorted(players)
    return [term for size in sizes for term in itertools.combinations(chosen, size)]


def _candidate_count(n: int, order: int, d: int, odd: bool) -> int:
    sizes = range(3, order + 1, 2) if odd else range(2, min(order, d - 1) + 1)
    return sum(math.comb(n, size) for size in sizes)


def select_interactions(
    x_rows: NDArray[np.bool_],
    omega: NDArray[np.float64],
    y: NDArray[np.float64],
    delta: NDArray[np.float64],
    *,
    order: int,
    max_terms: int | None,
    n_distinct: int,
    odd: bool,
    point: int = 0,
) -> tuple[list[Term], list[int]]:
    """The interaction sets one point's regression may use, most important first, and the numbers of
    them (prefixes) whose fits are compared by generalised cross-validation (:func:`_gcv`).

    With ``d`` players and ``c`` candidate sets (:func:`_candidates` over all players):

    * ``max_terms`` given: ``m = min(c, max_terms)`` sets, one prefix.
    * automatic, when the full model has at least :data:`FULL_MODEL_EQUATIONS_PER_TERM` distinct
      equations per term (``(d + c) · 1.5 <= n_distinct``): every candidate, one prefix.
    * automatic otherwise: ``m = min(c, max(0, n_distinct // EQUATIONS_PER_TERM - d))`` screened sets
      and the prefixes ``floor(f m + 1/2)`` for ``f`` in :data:`SCREENED_FRACTIONS`.

    If ``m == c`` the candidates come in candidate order; if ``m == 0`` there are none. Otherwise
    they are screened in ``R`` rounds ``r = 0, 1, ..`` (a batched forward selection; ``R`` is
    :data:`SCREENING_ROUNDS` when ``m`` is at least :data:`ROUNDS_FROM_SHARE` of the candidates
    screened, else 1): round ``r`` fits the singletons and the sets chosen so far (round 0: the
    singletons only, KernelSHAP; sets the samples cannot tell apart dropped as in the fit), whose
    residuals ``e`` per output give each candidate the score
    ``Σ_o (Σ ω x_T e_o)² / (Σ ω x_T² · Σ ω e_o²)`` (outputs fitted exactly, to :data:`EXACT_FIT`,
    count 0), and appends the best candidates not yet chosen (compared on :data:`SCORE_DIGITS`
    parts of the best score, ties to the earlier candidate) until ``floor(m (r + 1) / R)`` are
    chosen. One ranking on the pilot alone rates correlated characters alike; the second round
    looks past the sets already taken (on the accuracy benchmark's tanh-network games, 12 players
    and 512 evaluations, it cut OddSHAP's squared error by 40%; with a smaller share kept it did not
    help and only shrank the residuals the standard errors rest on). With more than
    :data:`MAX_CANDIDATES` candidates, only the sets of the ``t`` players with the largest pilot
    attributions (``Σ_o |φ_io| / Σ_j |φ_jo|``) are candidates, ``t`` as large as that limit allows.

    Args:
        x_rows: the coalitions of the equations ``(n, d)``.
        omega: regression weights ``(n,)``.
        y: responses ``(n, o)``.
        delta: the constraint ``Σ_T β_T`` per output ``(o,)``.
        order: largest interaction order.
        max_terms: explicit number of interaction terms, or None for the budget rule.
        n_distinct: distinct equations (distinct complementary pairs when the rows are paired).
        odd: OddSHAP's characters instead of PolySHAP's monomials.
        point: index of the point, for error messages.

    Returns:
        The sets as sorted tuples, and the prefix lengths to compare.

    Raises:
        SingularSystemError: the pilot fit (needed for screening) is singular.
    """
    d = x_rows.shape[1]
    total = _candidate_count(d, order, d, odd)
    full_fits = (d + total) * FULL_MODEL_EQUATIONS_PER_TERM <= n_distinct
    if max_terms is not None:
        wanted = min(total, max_terms)
    elif full_fits:
        wanted = total
    else:
        wanted = min(total, max(0, n_distinct // EQUATIONS_PER_TERM - d))
    if wanted == total or wanted == 0:
        return (_candidates(range(d), order, d, odd) if wanted else []), [wanted]
    prefixes = [wanted] if max_terms is not None else list(dict.fromkeys(math.floor(f * wanted + 0.5) for f in SCREENED_FRACTIONS))
    singletons: list[Term] = [(i,) for i in range(d)]
    x = _features(x_rows, singletons, odd)
    if len(_accepted_columns(x, omega)) < d:
        raise _singular(point, "the pilot fit on the players alone is singular")
    phi, residuals, _ = _fit(x, omega, y, delta, _shapley_matrix(singletons, d, odd))
    players: Sequence[int] = range(d)
    if total > MAX_CANDIDATES:
        importance = np.zeros(d)
        for o in range(phi.shape[1]):
            scale = np.abs(phi[:, o]).sum()
            if scale > 0:
                importance += np.abs(phi[:, o]) / scale
        ranked = sorted(range(d), key=lambda i: (-importance[i], i))
        t = max(n for n in range(d + 1) if _candidate_count(n, order, d, odd) <= MAX_CANDIDATES)
        players = ranked[:t]
    candidates = _candidates(players, order, d, odd)
    features = _features(x_rows, candidates, odd)
    # Screening in rounds (a batched forward selection): each round refits on the singletons and the
    # terms chosen so far and adds the candidates that best explain what is left.
    chosen: list[int] = []
    taken = np.zeros(len(candidates), dtype=bool)
    rounds = SCREENING_ROUNDS if wanted >= ROUNDS_FROM_SHARE * len(candidates) else 1
    for round_ in range(rounds):
        goal = wanted * (round_ + 1) // rounds
        if goal == len(chosen):
            continue
        if chosen:
            terms = singletons + [candidates[c] for c in chosen]
            x = _features(x_rows, terms, odd)
            kept = _accepted_columns(x, omega)
            residuals = _fit(x[:, kept], omega, y, delta, _shapley_matrix([terms[k] for k in kept], d, odd))[1]
        keys = _rank_keys(_scores(features, omega, y, residuals))
        ranked = sorted((c for c in range(len(candidates)) if not taken[c]), key=lambda c: (-keys[c], c))
        for c in ranked[: goal - len(chosen)]:
            taken[c] = True
            chosen.append(c)
    return [candidates[c] for c in chosen], prefixes


def _scores(
    features: NDArray[np.float64], omega: NDArray[np.float64], y: NDArray[np.float64], residuals: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each candidate's ``Σ_o (Σ ω x_T e_o)² / (Σ ω x_T² · Σ ω e_o²)`` (outputs fitted exactly, to
    :data:`EXACT_FIT`, count 0; a column that vanishes on the samples scores -inf)."""
    norms = omega @ features**2
    energy = omega @ residuals**2  # (o,)
    scale = omega @ y**2
    scores = np.zeros(features.shape[1])
    for o in range(residuals.shape[1]):
        if energy[o] > EXACT_FIT * scale[o]:
            scores += (features.T @ (omega * residuals[:, o])) ** 2 / energy[o]
    return np.where(norms > 0, scores / np.where(norms > 0, norms, 1.0), -np.inf)


def _rank_keys(scores: NDArray[np.float64]) -> list[float]:
    """Scores on :data:`SCORE_DIGITS` parts of the best one, so that scores equal but for rounding tie."""
    best = max(0.0, float(scores.max()))
    return [math.floor(s / best * SCORE_DIGITS + 0.5) if np.isfinite(s) and best > 0 else min(s, 0.0) for s in scores]


def _gcv(residuals: NDArray[np.float64], omega: NDArray[np.float64], y: NDArray[np.float64], free: int, n_distinct: int) -> float:
    """Generalised cross-validation error ``Σ_o (RSS_o / Σ ω y_o²) / (1 - p/n)²`` with ``p`` free
    coefficients and ``n`` distinct equations; outputs fitted exactly (to :data:`EXACT_FIT`) count 0."""
    if free >= n_distinct:
        return math.inf
    rss = omega @ residuals**2
    scale = omega @ y**2
    relative = sum(0.0 if rss[o] <= EXACT_FIT * scale[o] else rss[o] / scale[o] for o in range(y.shape[1]))
    return float(relative) / (1 - free / n_distinct) ** 2


def _distinct(rows: NDArray[np.bool_]) -> int:
    return len({row.tobytes() for row in rows})


def _estimate(
    masks: NDArray[np.bool_],
    values: NDArray[np.float64],
    null: NDArray[np.float64],
    grand: NDArray[np.float64],
    weights: NDArray[np.float64],
    n_enumerated: int,
    *,
    order: int,
    max_terms: int | None,
    interactions: list[Term] | None,
    paired: bool,
    odd: bool,
    stratified: bool,
) -> Estimate:
    n_points, n_samples, d = masks.shape
    n_outputs = values.shape[2]
    kernel = shapley_kernel(d)
    # OddSHAP regresses one equation per pair (both rows give the same one); PolySHAP one per row.
    per_equation = 2 if odd else 1
    rows_per_unit = 1 if odd else (2 if paired else 1)
    n_equations = n_samples // per_equation
    fixed = n_enumerated // per_equation
    n_units = (n_equations - fixed) // rows_per_unit
    phi = np.zeros((n_points, d, n_outputs))
    se = np.zeros((n_points, d, n_outputs))
    dof = np.zeros((n_points, d, n_outputs))
    n_terms = np.zeros(n_points, dtype=np.int64)
    for point in range(n_points):
        m, v, w = masks[point], values[point], weights[point]
        sizes = m.sum(axis=1)
        census = _distinct(m) == 2**d - 2  # the rows hold every coalition but ∅ and N
        if n_units < 2 and not (n_units == 0 and census):
            raise InsufficientSamplesError(
                f"masks: point {point} needs at least 2 random units (pairs or samples after the {n_enumerated} "
                f"enumerated rows) for a standard error, got {n_units} (and its rows are not all coalitions)"
            )
        if odd:
            rows = m[0::2]
            y = 0.5 * (v[0::2] - v[1::2])
            omega = (w[0::2] + w[1::2]) * kernel[sizes[0::2]]
            delta = 0.5 * (grand[point] - null[point])
            canonical = np.where(rows[:, :1], ~rows, rows)  # the side without player 0
            n_distinct = _distinct(canonical)
        else:
            rows, y, omega = m, v - null[point], w * kernel[sizes]
            delta = grand[point] - null[point]
            # With pairs, the odd part (all the Shapley value depends on) has one equation per pair.
            firsts = m[0::2]
            n_distinct = _distinct(np.where(firsts[:, :1], ~firsts, firsts)) if paired else _distinct(rows)
        singletons: list[Term] = [(i,) for i in range(d)]
        if interactions is not None:
            candidates, prefixes = list(interactions), [len(interactions)]
        else:
            candidates, prefixes = select_interactions(
                rows, omega, y, delta, order=order, max_terms=max_terms, n_distinct=n_distinct, odd=odd, point=point
            )
        best: tuple[float, list[Term], Any] | None = None
        for size in prefixes:
            terms = singletons + candidates[:size]
            x = _features(rows, terms, odd)
            kept = _accepted_columns(x, omega)
            if kept[:d] != list(range(d)):
                raise _singular(point, "the samples do not separate the players")
            terms, x = [terms[k] for k in kept], x[:, kept]
            fitted = _fit(x, omega, y, delta, _shapley_matrix(terms, d, odd))
            score = _gcv(fitted[1], omega, y, len(terms) - 1, n_distinct) if len(prefixes) > 1 else 0.0
            # A larger model must improve the criterion beyond rounding to be preferred.
            if best is None or score < best[0] * (1 - 1e-9):
                best = (score, terms, (x, fitted))
        assert best is not None
        _, terms, (x, (phi[point], residuals, k_matrix)) = best
        n_terms[point] = len(terms)
        free = len(terms) - 1
        # Fewer than 2 residual degrees of freedom: the residuals say nothing about the error.
        if not census and free + 2 > n_distinct:
            raise InsufficientSamplesError(
                f"masks: point {point} has {n_distinct} distinct equations for {free} free coefficients, too few to "
                "estimate the error; lower max_terms or order, or raise the budget"
            )
        # Sandwich: φ - φ* ≈ K Σ_u g_u with g_u = Σ_{r∈u} ω_r x_r e_r over the random units.
        if n_units >= 2:
            h = np.einsum("dp,rpo->rdo", k_matrix, omega[:, None, None] * x[:, :, None] * residuals[:, None, :])
            # The design's standard error of a mean over units, from per-row terms; OddSHAP's units
            # are pairs, so each equation's term stands for both rows of its pair.
            rows_of_units = np.repeat(h, 2, axis=0) if odd else h
            unit_masks = m if (odd or paired) else rows
            mean_se, dof[point] = design_standard_errors(rows_of_units, unit_masks, odd or paired, n_enumerated, stratified)
            # Σ_u h_u = n_all_units × mean; a pair's per-row mean halves its sum in PolySHAP.
            se[point] = mean_se * (n_equations // rows_per_unit) * (2 if paired and not odd else 1)
            # The fit shrinks the residuals by about (n - p)/n: HC1's degrees-of-freedom correction.
            if free < n_distinct:  # (a census may interpolate: its residuals are then zero)
                se[point] *= math.sqrt(n_distinct / (n_distinct - free))
    # Degrees of freedom per cell where a variance was estimated (as the core; else none given).
    extras = {"n_terms": n_terms, "dof": dof} if n_units >= 2 else {"n_terms": n_terms}
    return Estimate(phi, se, np.full(n_points, n_samples + 2, dtype=np.int64), extras)


# ----------------------------------------------------------------------------------------------
# estimators


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
    """PolySHAP: Shapley-kernel weighted least squares on a polynomial with interaction terms.

    Minimises ``Σ_r ω_r (v(S_r) - v(∅) - Σ_T β_T Π_{j∈T} z_j)²`` with ``ω_r = w_r · k(|S_r|)`` (``w`` the
    sample weights, ``k`` the Shapley kernel) over the singletons and the interaction sets of
    :func:`select_interactions` (or ``interactions``), subject to ``Σ_T β_T = v(N) - v(∅)``;
    ``φ_i = Σ_{T∋i} β_T / |T|``. Terms the samples cannot tell apart from earlier ones are dropped
    (:data:`REJECTION_TOLERANCE`); ``extras["n_terms"]`` counts the terms used. Standard errors:
    sandwich over the random units (rows, or pairs when ``paired``) after the first
    ``n_enumerated`` rows, which count as fixed; i.i.d., or stratified by size without replacement
    (:func:`~stochamort.reference.design.design_standard_errors`).

    Args:
        masks: bool ``(P, n, d)``, no empty or full coalition.
        values: ``(P, n, o)``.
        null_values: v(∅) ``(P, o)``.
        grand_values: v(N) ``(P, o)``.
        sample_weights: counting-measure weights ``(P, n)``, positive.
        order: largest interaction order.
        max_terms: number of interaction terms, or None for the budget rule.
        interactions: explicit interaction sets (no screening), or None.
        paired: rows ``2j`` and ``2j + 1`` are complements and form one unit.
        n_enumerated: leading deterministic rows.
        stratified: the random units are stratified by size without replacement.

    Raises:
        InvalidArgumentError: bad weights, masks with the empty or full set, broken pairs, bad settings.
        InsufficientSamplesError: fewer than 2 random units (unless the rows are a census).
        SingularSystemError: the samples do not separate the players.

    Returns:
        Estimate with ``n_evaluations = n + 2``.
    """
    paired = as_bool("paired", paired)
    m, v, null, grand, w, enumerated = _inputs(masks, values, null_values, grand_values, sample_weights, n_enumerated, paired)
    return _estimate(
        m,
        v,
        null,
        grand,
        w,
        enumerated,
        order=_check_order(order),
        max_terms=_check_max_terms(max_terms),
        interactions=_check_interactions(interactions, m.shape[2], odd=False),
        paired=paired,
        odd=False,
        stratified=as_bool("stratified", stratified),
    )


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
    """OddSHAP: regression of the odd part of the game on odd Fourier characters.

    From complementary pairs (rows ``2j``, ``2j + 1``): minimises
    ``Σ_j ω_j (v_o(S_j) - Σ_T β_T χ_T(S_j))²`` with ``v_o(S) = (v(S) - v(N∖S)) / 2``,
    ``χ_T(S) = Π_{j∈T} (2 z_j - 1)`` over the singletons and odd interaction sets,
    ``ω_j = (w_{2j} + w_{2j+1}) · k(|S_j|)``, subject to ``Σ_T β_T = (v(N) - v(∅)) / 2``;
    ``φ_i = Σ_{T∋i} 2 β_T / |T|``. Standard errors: sandwich over the random pairs. Otherwise as
    :func:`polyshap`.

    Args:
        masks, values, null_values, grand_values, sample_weights, order, max_terms,
            interactions, n_enumerated, stratified: as in :func:`polyshap`; masks must be paired and ``n_enumerated`` even.

    Raises:
        InvalidArgumentError, InsufficientSamplesError, SingularSystemError: as :func:`polyshap`.

    Returns:
        Estimate with ``n_evaluations = n + 2``.
    """
    m, v, null, grand, w, enumerated = _inputs(masks, values, null_values, grand_values, sample_weights, n_enumerated, True)
    if m.shape[2] < 3:
        raise InvalidArgumentError(f"masks: OddSHAP needs at least 3 players, got {m.shape[2]}")
    return _estimate(
        m,
        v,
        null,
        grand,
        w,
        enumerated,
        order=_check_order(order),
        max_terms=_check_max_terms(max_terms),
        interactions=_check_interactions(interactions, m.shape[2], odd=True),
        paired=True,
        odd=True,
        stratified=as_bool("stratified", stratified),
    )
