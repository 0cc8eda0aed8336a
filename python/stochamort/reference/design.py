"""Reference sampling designs (:func:`stochamort.sampling.sample_design`) and the design parts of
the reference estimators: row weights and the standard errors of enumerated + random units.

The plan (which sizes are enumerated, the strata, their expected numbers of units and the weights)
is deterministic and must equal the Rust core's exactly; the random draws come from
``numpy.random.default_rng([seed, point_offset + p])`` and agree with the core's in distribution only.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort._checks import as_bool, as_float_array, as_int, check_distribution, check_finite, check_shape
from stochamort.errors import InvalidArgumentError
from stochamort.reference.sampling import size_probabilities
from stochamort.results import CoalitionDesign

__all__ = [
    "sample_design",
    "design_plan",
    "DesignPlan",
    "design_row_weights",
    "design_standard_errors",
]


@dataclass
class DesignPlan:
    """What a design of ``n_rows`` rows is made of, the same for every point.

    Attributes:
        enumerated: the smaller sizes ``j`` of the enumerated size pairs ``{j, d − j}``.
        n_enumerated: rows of the enumerated block.
        random_rows: rows drawn at random (0 for a census).
        strata: ``(size, units, mass)`` per stratum of the random part: the unit's first size (the
            smaller one with pairs), its number of units and its probability mass (summing to 1).
        random_size_probability: P(|S| = k) restricted to the random sizes, k = 0..d.
    """

    n_players: int
    paired: bool
    enumerated: list[int] = field(default_factory=list)
    n_enumerated: int = 0
    random_rows: int = 0
    strata: list[tuple[int, float, float]] = field(default_factory=list)
    random_size_probability: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def expected_units(self) -> NDArray[np.float64]:
        """Expected number of units of each stratum (stratified draws)."""
        units = self.random_rows // (2 if self.paired else 1)
        return np.array([units * mass for _, _, mass in self.strata])


def _pair_sizes(j: int, d: int) -> list[int]:
    return [j] if 2 * j == d else [j, d - j]


def design_plan(n_players: int, n_rows: int, distribution: str, paired: bool) -> DesignPlan:
    """The border trick, literally: size pairs from the outside in, enumerated while the expected
    number of draws of the pair reaches its number of coalitions."""
    d = n_players
    p = size_probabilities(d, distribution)
    size_mass = p / p[1:d].sum()
    plan = DesignPlan(n_players=d, paired=paired)
    rows_left, mass_left = n_rows, 1.0
    pairs = list(range(1, d // 2 + 1))
    for j in pairs:
        cost = sum(math.comb(d, k) for k in _pair_sizes(j, d))
        mass = sum(size_mass[k] for k in _pair_sizes(j, d))
        if cost > rows_left or rows_left * mass / mass_left < cost * (1 - 1e-9):
            break
        plan.enumerated.append(j)
        rows_left -= cost
        mass_left -= mass
    plan.n_enumerated = n_rows - rows_left
    plan.random_size_probability = np.zeros(d + 1)
    if len(plan.enumerated) == len(pairs):
        return plan
    plan.random_rows = rows_left
    random_pairs = pairs[len(plan.enumerated) :]
    remaining = sum(size_mass[k] for j in random_pairs for k in _pair_sizes(j, d))
    for j in random_pairs:
        for k in _pair_sizes(j, d):
            plan.random_size_probability[k] = size_mass[k] / remaining
        if paired:
            units = math.comb(d, j) / (2 if 2 * j == d else 1)
            plan.strata.append((j, units, sum(plan.random_size_probability[k] for k in _pair_sizes(j, d))))
        else:
            for k in _pair_sizes(j, d):
                plan.strata.append((k, float(math.comb(d, k)), plan.random_size_probability[k]))
    return plan


def _enumerated_rows(plan: DesignPlan) -> list[NDArray[np.bool_]]:
    d = plan.n_players
    rows = []
    for j in plan.enumerated:
        for chosen in itertools.combinations(range(d), j):
            row = np.zeros(d, dtype=bool)
            row[list(chosen)] = True
            if 2 * j == d and not row[0]:
                continue
            rows += [row, ~row]
    return rows


def _random_subset(rng: np.random.Generator, d: int, k: int) -> NDArray[np.bool_]:
    row = np.zeros(d, dtype=bool)
    row[rng.choice(d, k, replace=False)] = True
    return row


def _systematic_counts(expected: NDArray[np.float64], u: float) -> list[int]:
    edges = np.cumsum(expected)
    edges[-1] = round(float(expected.sum()))
    floors = np.floor(np.concatenate([[0.0], edges]) + u)
    return [int(c) for c in np.diff(floors)]


def sample_design(
    n_points: int,
    n_samples: int,
    n_players: int,
    *,
    distribution: str = "shapley",
    paired: bool = True,
    replace: bool = False,
    seed: int = 0,
    point_offset: int = 0,
) -> CoalitionDesign:
    """Reference of :func:`stochamort.sampling.sample_design` (same plan and weights, other streams)."""
    n_points, n_samples, d = as_int("n_points", n_points), as_int("n_samples", n_samples), as_int("n_players", n_players)
    distribution = check_distribution(distribution)
    paired, replace = as_bool("paired", paired), as_bool("replace", replace)
    if d < 2:
        raise InvalidArgumentError(f"n_players: a design needs at least 2 players, got {d}")
    if paired and n_samples % 2:
        raise InvalidArgumentError(f"n_samples: must be even when paired=True, got {n_samples}")
    plan = design_plan(d, n_samples, distribution, paired)
    block = _enumerated_rows(plan)
    n_rows = plan.n_enumerated + plan.random_rows
    masks = np.zeros((n_points, n_rows, d), dtype=bool)
    weights = np.ones((n_points, n_rows))
    per_unit = 2 if paired else 1
    for p in range(n_points):
        rng = np.random.default_rng([seed, point_offset + p])
        rows: list[NDArray[np.bool_]] = list(block)
        row_weights = [1.0] * len(block)
        if replace:
            q = plan.random_size_probability
            for _ in range(plan.random_rows // per_unit):
                k = int(rng.choice(d + 1, p=q))
                subset = _random_subset(rng, d, k)
                weight = 1.0 / (plan.random_rows * q[k] / math.comb(d, k))
                rows += [subset, ~subset] if paired else [subset]
                row_weights += [weight] * per_unit
        elif plan.strata:
            expected = plan.expected_units()
            for (size, units, _), e, count in zip(plan.strata, expected, _systematic_counts(expected, rng.random())):
                seen: set[bytes] = set()
                while len(seen) < count:
                    subset = _random_subset(rng, d, size)
                    if paired and 2 * size == d and not subset[0]:
                        subset = ~subset
                    if subset.tobytes() in seen:
                        continue
                    seen.add(subset.tobytes())
                    rows += [subset, ~subset] if paired else [subset]
                    row_weights += [units / e] * per_unit
        masks[p] = np.array(rows).reshape(n_rows, d)
        weights[p] = row_weights
    return CoalitionDesign(masks, weights, plan.n_enumerated)


def design_row_weights(masks: NDArray[np.bool_], sample_weights: Any) -> NDArray[np.float64]:
    """Weights ``n · w_r · P_shapley(S_r)``, so that ``(1/n) Σ_r`` of them times f estimates E_shapley[f]."""
    n_points, n_samples, d = masks.shape
    weights = np.asarray(sample_weights, dtype=np.float64)
    if weights.shape != (n_points, n_samples):
        raise InvalidArgumentError(
            f"sample_weights: must have shape (n_points, n_samples) = ({n_points}, {n_samples}), got {weights.shape}"
        )
    if not np.all(np.isfinite(weights) & (weights > 0)):
        raise InvalidArgumentError("sample_weights: must be positive and finite")
    p_size = size_probabilities(d, "shapley")
    per_coalition = np.array([p_size[k] / math.comb(d, k) for k in range(d + 1)])
    row_weights: NDArray[np.float64] = n_samples * weights * per_coalition[masks.sum(axis=2)]
    return row_weights


def design_standard_errors(
    terms: NDArray[np.float64], masks: NDArray[np.bool_], paired: bool, n_enumerated: int, stratified: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Standard error of the mean over units of per-row terms ``(n, ...)`` of one point's design,
    and its degrees of freedom, per cell.

    Units are rows, or the averages of rows ``2j``/``2j + 1`` when paired. The first
    ``n_enumerated`` rows carry no sampling variance. The random units are one i.i.d. group, or
    (``stratified``) strata by size (the smaller size of a pair) drawn without replacement:
    ``Var(Σ_stratum t_u) = m (1 − m/N) s²``. Strata of one unit are collapsed in pairs of
    neighbouring sizes (the last three together when their number is odd), each group then one
    i.i.d. stratum; a lone stratum of one unit borrows the pooled within-stratum variance (``inf``
    when there is none).

    The degrees of freedom are Welch–Satterthwaite's ``(Σ v)² / Σ v² / dof_v`` over the strata's
    variances ``v`` (``m − 1`` each; a borrowed one has the pooled ``Σ (m − 1)``), at most their
    sum, which a cell of zero variance keeps; infinite when every unit was enumerated, 0 when the
    variance is infinite.
    """
    d = masks.shape[1]
    units = 0.5 * (terms[0::2] + terms[1::2]) if paired else terms
    firsts = masks[0::2] if paired else masks
    n_units = units.shape[0]
    first_random = n_enumerated // (2 if paired else 1)
    if first_random >= n_units:
        return np.zeros(terms.shape[1:]), np.full(terms.shape[1:], np.inf)
    groups: dict[int, list[int]] = {}
    for u in range(first_random, n_units):
        k = int(firsts[u].sum())
        key = (min(k, d - k) if paired else k) if stratified else 0
        groups.setdefault(key, []).append(u)
    variance = np.zeros(terms.shape[1:])
    pooled = np.zeros(terms.shape[1:])
    spread = np.zeros(terms.shape[1:])  # Σ v² / dof_v
    dof = 0
    singles: list[int] = []

    def add(block: NDArray[np.float64], fpc: float) -> None:
        nonlocal variance, pooled, spread, dof
        m = block.shape[0]
        squares = ((block - block.mean(axis=0)) ** 2).sum(axis=0)
        part = m * fpc * squares / (m - 1)
        variance = variance + part
        spread = spread + part**2 / (m - 1)
        pooled = pooled + squares
        dof += m - 1

    for size in sorted(groups):
        members = groups[size]
        m = len(members)
        if m < 2:
            singles.append(members[0])
            continue
        population = math.comb(d, size) / (2 if paired and 2 * size == d else 1)
        add(units[members], max(0.0, 1.0 - m / population) if stratified else 1.0)
    if len(singles) == 1:
        if dof == 0:
            return np.full(terms.shape[1:], np.inf), np.zeros(terms.shape[1:])
        borrowed = pooled / dof
        variance += borrowed
        spread += borrowed**2 / dof
    else:
        start = 0
        while start < len(singles):
            end = len(singles) if len(singles) - start == 3 else start + 2
            add(units[singles[start:end]], 1.0)
            start = end
    with np.errstate(divide="ignore", invalid="ignore"):
        satterthwaite = np.where(spread > 0, np.minimum(variance**2 / spread, dof), float(dof))
    se: NDArray[np.float64] = np.sqrt(variance) / n_units
    return se, satterthwaite


def check_design_inputs(
    null_values: Any, grand_values: Any, sample_weights: Any, n_points: int, n_samples: int, n_outputs: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """v(∅), v(all) ``(n_points, n_outputs)`` and a design's ``sample_weights`` ``(n_points,
    n_samples)`` as float arrays, checked for shape and finiteness (the estimators on designs share
    these checks)."""
    ends = []
    for name, array in (("null_values", null_values), ("grand_values", grand_values)):
        end = as_float_array(name, array, 2)
        check_shape(name, end, (n_points, n_outputs), "values (n_points, n_outputs)")
        check_finite(name, end)
        ends.append(end)
    w = as_float_array("sample_weights", sample_weights, 2)
    check_shape("sample_weights", w, (n_points, n_samples), "masks (n_points, n_samples)")
    check_finite("sample_weights", w)
    return ends[0], ends[1], w
