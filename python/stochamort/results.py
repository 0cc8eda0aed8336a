"""The result types, at the bottom of the package: values with their uncertainty.

Two shapes of result, named so that their counts cannot be confused:

* :class:`Estimate` — attributions for a batch of points (``n_players`` features, patches or
  tokens each). The game is evaluated separately for each point, so ``n_evaluations`` is counted
  **per point**; :attr:`Estimate.total_evaluations` is their sum.
* :class:`DataValues` — one value per training point (``n_data`` players of a single game). One
  utility evaluation (a model fit) serves every point at once, so the work is one number,
  :attr:`DataValues.total_evaluations`; what each point received is ``n_contributions``.

No torch here: the Rust-backed estimators return these without importing the torch layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError

__all__ = ["Estimate", "DataValues", "CoalitionDesign"]


#: How :meth:`Estimate.confidence_interval` turns standard errors into intervals.
INTERVAL_KINDS = ("moderated", "t", "normal")


def t_interval(
    values: NDArray[np.float64],
    std_errors: NDArray[np.float64],
    level: float,
    dof: NDArray[np.float64] | None,
    kind: str = "t",
    poolable: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``values ∓ q · std_errors`` with ``q`` the two-sided ``level`` quantile of Student's t with
    ``dof`` degrees of freedom per point (the normal quantile where ``dof`` is None or infinite;
    an infinite interval where it is 0: one replicate says nothing about the variance).

    ``kind`` is ``"t"`` (as just said), ``"moderated"`` (the standard errors and degrees of
    freedom pooled over the result first, see :mod:`stochamort._moderation`; plain t without
    ``dof``; only the points that are ``poolable``, all when None) or ``"normal"`` (the normal
    quantile whatever ``dof``).
    """
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0.0 < level < 1.0:
        raise InvalidArgumentError(f"level: must be a number in (0, 1), got {level!r}")
    if not isinstance(kind, str) or kind not in INTERVAL_KINDS:
        raise InvalidArgumentError(f"kind: must be one of {', '.join(map(repr, INTERVAL_KINDS))}, got {kind!r}")
    if kind == "normal":
        dof = None
    if dof is not None and kind == "moderated" and values.shape[0] > 0:
        from stochamort._moderation import moderated_std_errors

        std_errors, dof = moderated_std_errors(np.asarray(std_errors, dtype=np.float64), dof, poolable)
    if dof is None:
        q: Any = NormalDist().inv_cdf(0.5 + level / 2.0)
    else:
        from scipy.stats import t as student_t  # type: ignore[import-untyped]

        dof = np.asarray(dof, dtype=np.float64)
        with np.errstate(invalid="ignore"):  # t.ppf is NaN at 0 dof, the normal quantile at inf
            q = np.where(dof > 0, student_t.ppf(0.5 + level / 2.0, dof), np.inf)
        q = q.reshape(dof.shape + (1,) * (values.ndim - dof.ndim))
    with np.errstate(invalid="ignore"):  # inf * 0 (an exact value with no replicates) stays exact
        half = np.where(std_errors == 0, 0.0, q * std_errors)
    return values - half, values + half


def degrees_of_freedom(n_points: int, dof: float) -> dict[str, NDArray[np.float64]]:
    """The ``extras`` entry ``"dof"``: the same degrees of freedom (at least 0) for every point."""
    return {"dof": np.full(n_points, max(float(dof), 0.0))}


@dataclass(frozen=True)
class Estimate:
    """Attributions for a batch of points, with standard errors and the evaluations spent.

    Attributes:
        values: float64 array ``(n_points, n_players, n_outputs)``, the estimates.
        std_errors: float64 array of the same shape. Zero for exact methods; ``inf`` where the
            sample is too small to estimate a variance.
        n_evaluations: int64 array ``(n_points,)``, game evaluations used for **each point**.
        extras: estimator-specific arrays (e.g. LIME's ``intercept``), keyed by name.
    """

    values: NDArray[np.float64]
    std_errors: NDArray[np.float64]
    n_evaluations: NDArray[np.int64]
    extras: dict[str, NDArray[Any]] = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        """Number of points in the batch."""
        return int(self.values.shape[0])

    @property
    def n_players(self) -> int:
        """Number of players (features, patches or tokens) per point."""
        return int(self.values.shape[1])

    @property
    def n_outputs(self) -> int:
        """Number of model outputs (e.g. classes) attributed at once."""
        return int(self.values.shape[2])

    @property
    def total_evaluations(self) -> int:
        """Game evaluations spent on the whole batch (the sum of ``n_evaluations``)."""
        return int(np.sum(self.n_evaluations))

    @property
    def dof(self) -> NDArray[np.float64] | None:
        """Degrees of freedom of each point's standard errors, ``(n_points,)``: the number of
        independent replicates behind them minus one (``inf`` for exact values); of ``values``'
        shape where they differ by cell (KernelSHAP's and PolySHAP's stratified designs:
        Satterthwaite's over the size strata); None when the estimator does not say
        (``extras["dof"]``)."""
        dof = self.extras.get("dof")
        return None if dof is None else np.asarray(dof, dtype=np.float64)

    def confidence_interval(
        self, level: float = 0.95, kind: str = "moderated"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Confidence interval ``(lower, upper)`` at the given level, each of ``values``' shape.

        A standard error from a handful of replicates is itself uncertain, and for games with
        strong interactions it is usually too small (sometimes exactly zero). With 2 antithetic
        permutation pairs, 95 % intervals covered the truth 65 % of the time with the normal
        quantile and 88 % with Student's t; moderated, 94–96 % on tanh games but 92 % on a
        logistic regression and 88 % on gradient-boosted trees (whose contributions are far from
        normal): rely on intervals from 16 replicates or more.

        Args:
            level: two-sided coverage, in (0, 1).
            kind: ``"moderated"`` (default): each standard error is pooled with the others of
                this result (empirical Bayes, as limma: the players of a point share a scale, the
                points' scales are shrunk toward each other as far as their scatter allows), then
                Student's t with the pooled degrees of freedom. A point's interval therefore
                depends on the other points in the result. Points whose ``extras["poolable"]`` is
                False (set by the caller; no oracle does) keep their own. ``"t"``: Student's t with each point's
                :attr:`dof` alone. ``"normal"``: the normal quantile. Without :attr:`dof`, all
                three use the normal quantile; where ``dof`` is 0 (one replicate) the interval is
                infinite, and exact values (zero standard error, infinite ``dof``) are their own
                interval.

        Raises:
            InvalidArgumentError: naming ``level`` unless it lies in (0, 1), or ``kind``.
        """
        poolable = self.extras.get("poolable")
        return t_interval(self.values, self.std_errors, level, self.dof, kind, None if poolable is None else np.asarray(poolable, bool))


@dataclass(frozen=True)
class DataValues:
    """Data values for ``n_data`` training points, with standard errors and the work behind them.

    Attributes:
        values: float64 ``(n_data,)``, the estimated value of each point.
        std_errors: float64 ``(n_data,)``; zero for exact values, ``inf`` where fewer than two
            contributions were seen.
        n_contributions: int64 ``(n_data,)``, Monte Carlo contributions (marginal contributions,
            samples or permutations) behind each value.
        total_evaluations: utility evaluations (model fits) spent on the whole result; one fit
            serves every point, so there is no per-point count.
        m2: float64 ``(n_data,)``, sum of squared deviations of the contributions (Welford's M2),
            kept so that results from disjoint samples can be merged; ``None`` when not applicable.
        extras: oracle-specific arrays or numbers (e.g. truncation positions), keyed by name.
    """

    values: NDArray[np.float64]
    std_errors: NDArray[np.float64]
    n_contributions: NDArray[np.int64]
    total_evaluations: int
    m2: NDArray[np.float64] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> NDArray[Any]:
        """The values: numpy sees ``np.argsort(d)``, ``np.asarray(d)``, ``d_array < 0`` as the
        values ``(n_data,)``, not as one object (which silently gave ``argsort == [0]``)."""
        values = self.values if dtype is None else self.values.astype(dtype)
        return values.copy() if copy else values

    def __iter__(self) -> Iterator[float]:
        """The values, point by point (``sorted(d)``, ``list(d)``, ``pd.Series(d)``)."""
        return iter(self.values.tolist())

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_data(self) -> int:
        """Number of training points valued."""
        return int(self.values.shape[0])

    def confidence_interval(
        self, level: float = 0.95, kind: str = "moderated"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Confidence interval ``(lower, upper)`` at the given level. By default the points'
        variances are pooled first (see ``kind``), then Student's t on the pooled degrees of
        freedom; with ``kind="t"``, t with ``n_contributions − 1`` degrees of freedom per point (the
        contributions are the replicates behind each standard error). Exact values (zero standard
        error, no contributions) are their own interval.

        Args:
            level: two-sided coverage, in (0, 1).
            kind: ``"moderated"`` (default: each point's variance pooled with the others' first,
                empirical Bayes, which matters when points have few contributions), ``"t"`` or
                ``"normal"`` (see :meth:`Estimate.confidence_interval`).

        Raises:
            InvalidArgumentError: naming ``level`` unless it lies in (0, 1), or ``kind``.
        """
        dof = np.maximum(np.asarray(self.n_contributions, dtype=np.float64) - 1, 0)
        lower, upper = t_interval(self.values[None], self.std_errors[None], level, dof[None], kind)
        return lower[0], upper[0]


class CoalitionDesign(NamedTuple):
    """Coalitions of a design for a batch of points, with counting-measure weights.

    Attributes:
        masks: bool ``(n_points, n_rows, n_players)``. Rows ``0 .. n_enumerated`` are the same for
            every point: every coalition of the sizes the budget covers completely, in complementary
            pairs ``(S, N∖S)``. The rest are random (pairs in rows ``2j``, ``2j+1`` when paired).
            Never the empty or the full coalition.
        weights: float64 ``(n_points, n_rows)``: for any function ``f`` of coalitions,
            ``Σ_r weights[p, r] · f(masks[p, r])`` is an unbiased estimate of ``Σ_{S ≠ ∅, N} f(S)``.
            Enumerated rows have weight 1.
        n_enumerated: the number of leading enumerated rows.
    """

    masks: NDArray[np.bool_]
    weights: NDArray[np.float64]
    n_enumerated: int
