"""Noisy data-valuation oracles: Monte Carlo estimates of each training point's value.

Every oracle is a frozen settings object called as ``oracle(utility, seed=0)``; it returns
:class:`~stochamort.results.DataValues` (values, standard errors, contributions per point,
utility evaluations spent). The combinatorics (permutations, multisets, semivalue weights,
truncation, running moments) run in the Rust core; the utility fits the models in large batches.

=========================  =========================================  ======================
oracle                     estimates                                  unbiased
=========================  =========================================  ======================
:class:`TMCShapley`        Data Shapley (Ghorbani & Zou 2019)         yes, without truncation
                                                                      and min_cardinality = 0
:class:`BetaShapley`       Beta(α, β) Shapley (Kwon & Zou 2022)       yes
:class:`DataBanzhaf`       Data Banzhaf by MSR (Wang & Jia 2023)      yes
:class:`DistributionalShapley`  distributional Data Shapley           yes
                           (Ghorbani, Kim & Zou 2020)
:class:`ExactDataValues`   any semivalue, by enumeration (N ≤ 20)     exact
=========================  =========================================  ======================
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from stochamort import estimators
from stochamort._checks import check_flag, check_seed, shown_rows
from stochamort.errors import InvalidArgumentError, NonFiniteError, RequestTooLargeError, TooManyPlayersError
from stochamort.limits import memory_limit
from stochamort.sampling import enumerate_coalitions, sample_coalitions, sample_multisets, sample_permutations
from stochamort.results import DataValues
from stochamort.valuation.merging import banzhaf_moments
from stochamort.valuation.stopping import ValuationStopping, run_rounds
from stochamort.valuation.utility import Utility
from stochamort.weights import semivalue_position_weights, semivalue_weights

__all__ = [
    "DataValuationOracle",
    "TMCShapley",
    "BetaShapley",
    "DataBanzhaf",
    "DistributionalShapley",
    "ExactDataValues",
]

#: Upper bound on count cells (subsets × training points) built at once.
MAX_SUBSET_CELLS = 1 << 24


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class DataValuationOracle(ABC):
    """A noisy estimator of the value of every training point of a utility."""

    #: The value the oracle estimates ("shapley", "beta", "banzhaf" or "distributional").
    target: ClassVar[str]
    #: Whether E[estimate] equals the target exactly (for the settings' defaults).
    unbiased: ClassVar[bool]

    def __post_init__(self) -> None:
        stopping = getattr(self, "stopping", None)
        if isinstance(stopping, dict):  # as settings() writes it, e.g. read back from a saved valuer
            object.__setattr__(self, "stopping", ValuationStopping(**stopping))

    def settings(self) -> dict[str, Any]:
        """The oracle's name and settings, e.g. for a label store's manifest."""
        return {"oracle": type(self).__name__, **asdict(self)}

    def __call__(self, utility: Utility, *, seed: int = 0, progress: bool = True) -> DataValues:
        """Estimate the value of each of ``utility``'s training points.

        With a ``stopping`` rule, the oracle runs in rounds of its own size until the rule is met
        (see :class:`~stochamort.valuation.ValuationStopping`); the result's ``extras["rounds"]``
        says how many ran.
        """
        if not isinstance(utility, Utility):
            raise InvalidArgumentError(f"utility: must be a stochamort.valuation.Utility, got {type(utility).__name__}")
        self._validate(utility)
        if 4 * 8 * utility.n_data > memory_limit():  # values, standard errors, counts, point indices
            raise RequestTooLargeError(
                f"utility: the values of its {utility.n_data} training points would not fit in the memory limit of "
                f"{memory_limit() / 2**30:.1f} GiB (see stochamort.set_memory_limit)"
            )
        seed, progress = check_seed(seed), check_flag("progress", progress)
        stopping = getattr(self, "stopping", None)
        if stopping is None:
            return self._with_provenance(self._estimate(utility, seed, progress), seed)
        if not isinstance(stopping, ValuationStopping):
            raise InvalidArgumentError(f"stopping: must be a ValuationStopping or None, got {type(stopping).__name__}")
        rounds = 0

        def one_round(index: int, points: NDArray[np.int64]) -> DataValues:
            nonlocal rounds
            rounds += 1
            return self._round(utility, seed, index, points, progress)

        result = run_rounds(
            stopping, utility.n_data, one_round, lambda n_active: self._round_fits(utility, n_active),
            per_point=self.per_point, name=type(self).__name__, progress=progress,
        )
        return self._with_provenance(replace(result, extras={**result.extras, "rounds": rounds}), seed)

    #: Settings that say how much is sampled or how, not what is estimated.
    _SIZE_SETTINGS: ClassVar[frozenset[str]] = frozenset({"n_permutations", "n_samples", "n_contributions", "block_size", "stopping"})

    def _with_provenance(self, values: DataValues, seed: int) -> DataValues:
        """``values`` with what made them and their seed, which :func:`merge_values` checks."""
        settings = {k: v for k, v in asdict(self).items() if k not in self._SIZE_SETTINGS}
        made_by = f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in settings.items())})"
        return replace(values, extras={**values.extras, "estimator": made_by, "seeds": np.array([seed], dtype=np.uint64)})

    #: Whether a stopping rule stops point by point (each point's fits are its own).
    per_point: ClassVar[bool] = False

    def _validate(self, utility: Utility) -> None:
        """Check that the settings suit this utility."""

    def _estimate(self, utility: Utility, seed: int, progress: bool) -> DataValues:
        """The estimate for all training points (one round)."""
        return self._round(utility, seed, 0, np.arange(utility.n_data, dtype=np.int64), progress)

    @abstractmethod
    def _round(self, utility: Utility, seed: int, index: int, points: NDArray[np.int64], progress: bool) -> DataValues:
        """Round ``index`` of the estimate, on samples of its own; ``points`` are the points to
        value (all of them unless :attr:`per_point`)."""

    @abstractmethod
    def _round_fits(self, utility: Utility, n_points: int) -> int:
        """At most how many utility evaluations a round for ``n_points`` points takes."""


def _prefix_counts(ranks: NDArray[np.int64], sizes: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Masks ``(n_perm, len(sizes), N)``: the first ``sizes[b]`` players of each permutation.

    ``ranks[p, i]`` is the position of player i in permutation p.
    """
    return ranks[:, None, :] < sizes[None, :, None]


@dataclass(frozen=True)
class _PermutationOracle(DataValuationOracle):
    """Shared walk along random permutations: utilities of growing prefixes, evaluated in blocks."""

    n_permutations: int
    min_cardinality: int = 0
    block_size: int | None = None

    def _position_weights(self, n: int) -> NDArray[np.float64] | None:
        return None

    def _tolerance(self) -> float | None:
        return None

    def _validate(self, utility: Utility) -> None:
        _check_positive_int("n_permutations", self.n_permutations)
        n = utility.n_data
        if n < 1:
            raise InvalidArgumentError("utility: has no training points")
        if self.block_size is not None:
            _check_positive_int("block_size", self.block_size)
        start = _check_positive_int("min_cardinality", self.min_cardinality, 0)
        if start > n - 1:
            raise InvalidArgumentError(
                f"min_cardinality: must be at most n_data − 1 = {n - 1} so that some contribution is recorded, got {start}"
            )

    def _block(self, n: int, n_perm: int, truncating: bool) -> int:
        """Prefix sizes evaluated per round: as many as memory allows, or ~1/32 of them when
        truncating (truncation is checked between rounds, so smaller rounds waste fewer fits)."""
        if self.block_size is not None:
            return int(self.block_size)
        fits = max(1, MAX_SUBSET_CELLS // max(1, n_perm * n))
        return min(fits, max(1, n // 32)) if truncating else fits

    def _round_fits(self, utility: Utility, n_points: int) -> int:
        start = int(self.min_cardinality)
        return 1 + (1 if start == 0 else int(self.n_permutations)) + int(self.n_permutations) * max(0, utility.n_data - 1 - start)

    def _round(self, utility: Utility, seed: int, index: int, points: NDArray[np.int64], progress: bool) -> DataValues:
        n, n_perm, start = utility.n_data, int(self.n_permutations), int(self.min_cardinality)
        perms = sample_permutations(1, n_perm, n, seed=seed, sample_offset=index * n_perm)[0]
        ranks = np.empty_like(perms)
        np.put_along_axis(ranks, perms, np.arange(n, dtype=np.int64)[None, :], axis=1)
        chain = np.zeros((n_perm, n + 1))
        evaluations = 0
        grand = float(utility.evaluate(np.ones((1, n), dtype=np.bool_))[0])
        evaluations += 1
        chain[:, n] = grand
        if start == 0:
            chain[:, 0] = float(utility.evaluate(np.zeros((1, n), dtype=np.bool_))[0])
            evaluations += 1
        else:
            chain[:, start] = utility.evaluate(_prefix_counts(ranks, np.array([start]))[:, 0])
            evaluations += n_perm
        tolerance = self._tolerance()
        truncated_at = np.full(n_perm, n, dtype=np.int64)
        active = np.arange(n_perm)
        block = self._block(n, n_perm, tolerance is not None)
        with tqdm(total=n - 1 - start, desc=type(self).__name__, unit="size", disable=not progress, leave=False) as bar:
            for lo in range(start + 1, n, block):
                if active.size == 0:
                    break
                sizes = np.arange(lo, min(n, lo + block), dtype=np.int64)
                masks = _prefix_counts(ranks[active], sizes).reshape(-1, n)
                chain[active, lo : lo + sizes.size] = utility.evaluate(masks).reshape(active.size, sizes.size)
                evaluations += masks.shape[0]
                bar.update(sizes.size)
                if tolerance is not None:
                    hit = estimators.truncation_points(chain[active, lo : lo + sizes.size], grand, tolerance)
                    cut = hit >= 0
                    rows, sizes_cut = active[cut], lo + hit[cut]
                    truncated_at[rows] = sizes_cut
                    # Contributions after the cut are 0: the rest of the chain repeats the cut's utility.
                    after = np.arange(n + 1)[None, :] > sizes_cut[:, None]
                    chain[rows] = np.where(after, chain[rows, sizes_cut][:, None], chain[rows])
                    active = active[~cut]
        with np.errstate(over="ignore", invalid="ignore"):
            steps = np.diff(chain[:, start:], axis=1)
        if not np.isfinite(steps).all():  # finite utilities (they are checked) too far apart
            rows, positions = np.nonzero(~np.isfinite(steps))
            raise _overflow_error(np.unique(perms[rows, start + positions]))
        values = estimators.permutation_data_values(
            perms, chain, position_weights=self._position_weights(n), start=start
        )
        extras = {"truncated_at": truncated_at} if tolerance is not None else {}
        return replace(values, total_evaluations=evaluations, extras={**values.extras, **extras})


def _overflow_error(points: NDArray[np.int64]) -> NonFiniteError:
    """Finite utilities whose differences (the contributions) overflow float64: a silent NaN or inf
    otherwise (TMCShapley returned NaN values with zero standard errors)."""
    return NonFiniteError(
        f"utility: its values differ by more than float64 holds (a contribution U(D ∪ {{z}}) − U(D) "
        f"overflowed) for point(s) {shown_rows(points)}; rescale the utility"
    )


@dataclass(frozen=True)
class TMCShapley(_PermutationOracle):
    """Data Shapley by (truncated) Monte Carlo permutation sampling (Ghorbani & Zou 2019).

    Each permutation of the N training points is walked from its first ``min_cardinality``
    points (the starting set, whose contributions are not recorded) to the full set; every later
    point gets its marginal contribution U(prefix ∪ {i}) − U(prefix). One permutation costs
    N − min_cardinality utility evaluations (U(∅) and U(all) are shared) and gives one
    contribution to each of N − min_cardinality points (on average (N − min_cardinality)/N per
    point). Standard errors from the per-point running variance.

    Args:
        n_permutations: number of permutations.
        block_size: prefix sizes evaluated per round (default: as many as fit in memory; about
            N/32 with truncation, which is checked between rounds).
        truncation_tolerance: stop a permutation at the first prefix whose utility is within
            ``tolerance × |U(all)|`` of U(all); the contributions after it are recorded as 0 and
            their fits are skipped. ``None`` (default): no truncation.
        min_cardinality: size of the starting set of each permutation (the paper's code uses 5).
        stopping: a :class:`~stochamort.valuation.ValuationStopping`: rounds of
            ``n_permutations`` until every point's standard error meets its target or the fits
            run out (None: one round).

    **Unbiased** for Data Shapley with the defaults. Truncation biases contributions after the cut
    towards 0 (small when the tolerance is small); ``min_cardinality = m > 0`` estimates the
    semivalue that weights sizes m..N−1 uniformly instead of 0..N−1, avoiding the noisiest fits.
    """

    truncation_tolerance: float | None = None
    stopping: ValuationStopping | None = None
    target: ClassVar[str] = "shapley"
    unbiased: ClassVar[bool] = True

    def _tolerance(self) -> float | None:
        return None if self.truncation_tolerance is None else float(self.truncation_tolerance)

    def _validate(self, utility: Utility) -> None:
        super()._validate(utility)
        t = self.truncation_tolerance
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0):
            raise InvalidArgumentError(f"truncation_tolerance: must be a non-negative finite number or None, got {t!r}")


@dataclass(frozen=True)
class BetaShapley(_PermutationOracle):
    """Beta(α, β) Shapley (Kwon & Zou 2022) by weighted permutation sampling.

    A uniformly random permutation places each point at a uniformly random position k; its
    marginal contribution there is weighted by N·C(N−1, k)·w(k), where w is the Beta(α, β)
    semivalue weight of one coalition of size k, so that the weighted mean is the Beta Shapley
    value. α > β emphasises small coalitions (the paper's default Beta(16, 1)); α = β = 1 is Data
    Shapley. Cost as :class:`TMCShapley` (without truncation). **Unbiased** (for
    ``min_cardinality = 0``). ``stopping``: as for :class:`TMCShapley`.
    """

    alpha: float = 16.0
    beta: float = 1.0
    stopping: ValuationStopping | None = None
    target: ClassVar[str] = "beta"
    unbiased: ClassVar[bool] = True

    def _position_weights(self, n: int) -> NDArray[np.float64]:
        return semivalue_position_weights(n, "beta", alpha=self.alpha, beta=self.beta)

    def _validate(self, utility: Utility) -> None:
        super()._validate(utility)
        semivalue_position_weights(2, "beta", alpha=self.alpha, beta=self.beta)


@dataclass(frozen=True)
class DataBanzhaf(DataValuationOracle):
    """Data Banzhaf by maximum sample reuse (Wang & Jia 2023).

    Draws ``n_samples`` subsets with every point present with probability 1/2 and fits one model
    per subset; the value of point i is mean U(S ∋ i) − mean U(S ∌ i), so every fit serves every
    point. **Unbiased** given at least one sample on each side (probability 1 − 2^(1−m)); standard
    errors from the two groups' variances, whose moments are kept in ``extras`` (``n_inside``,
    ``mean_inside``, ``m2_inside`` and the same ``_outside``) so that results merge
    (:func:`~stochamort.valuation.merge_values`). ``stopping``: a
    :class:`~stochamort.valuation.ValuationStopping`, rounds of ``n_samples`` fits.
    """

    n_samples: int
    stopping: ValuationStopping | None = None
    target: ClassVar[str] = "banzhaf"
    unbiased: ClassVar[bool] = True

    def _validate(self, utility: Utility) -> None:
        _check_positive_int("n_samples", self.n_samples, 2)
        if utility.n_data < 1:
            raise InvalidArgumentError("utility: has no training points")

    def _round_fits(self, utility: Utility, n_points: int) -> int:
        return int(self.n_samples)

    def _round(self, utility: Utility, seed: int, index: int, points: NDArray[np.int64], progress: bool) -> DataValues:
        n, m = utility.n_data, int(self.n_samples)
        masks = sample_coalitions(1, m, n, distribution="banzhaf", seed=seed, sample_offset=index * m)
        values = utility.evaluate(masks[0], progress=progress)
        est = estimators.msr_banzhaf(masks, values[None, :, None])
        return DataValues(
            est.values[0, :, 0],
            est.std_errors[0, :, 0],
            np.full(n, m, dtype=np.int64),
            m,
            extras=banzhaf_moments(masks[0], np.asarray(values, dtype=np.float64)),
        )


@dataclass(frozen=True)
class DistributionalShapley(DataValuationOracle):
    """Distributional Data Shapley (Ghorbani, Kim & Zou 2020) by Monte Carlo.

    For each point z and each of ``n_contributions`` draws: a size k uniform on
    ``min_size..max_size``, a dataset D of k training points drawn *with replacement*, and the
    contribution U(D ∪ {z}) − U(D) (2 evaluations; D is shared by both fits so the difference is
    paired). The value is the mean contribution: **unbiased** for
    E_k E_{D ~ data^k}[U(D ∪ {z}) − U(D)], with the sample standard error.

    Because D never depends on z beyond the draw, the value is defined for any point, not just the
    training points: see :meth:`value_points`. Sizes far above the number of training points are
    drawn as multinomial counts at once (a size of 10**9 costs what one of 16 × N does).

    ``stopping``: a :class:`~stochamort.valuation.ValuationStopping`: rounds of
    ``n_contributions`` per point, each point stopping on its own once its standard error meets
    the target (``extras["contributions"]`` is then kept only while every point has had the same
    rounds).
    """

    n_contributions: int
    min_size: int = 10
    max_size: int = 100
    stopping: ValuationStopping | None = None
    target: ClassVar[str] = "distributional"
    unbiased: ClassVar[bool] = True
    per_point: ClassVar[bool] = True

    def _validate(self, utility: Utility) -> None:
        _check_positive_int("n_contributions", self.n_contributions)
        lo = _check_positive_int("min_size", self.min_size, 0)
        hi = _check_positive_int("max_size", self.max_size, 0)
        if hi < lo:
            raise InvalidArgumentError(f"max_size: must be at least min_size = {lo}, got {hi}")
        if hi >= 2**32 - 1:  # counts are uint32, and the valued point is added to a dataset's
            raise InvalidArgumentError(f"max_size: must be below 2**32 - 1 (a dataset's counts are uint32), got {hi}")

    def _round_fits(self, utility: Utility, n_points: int) -> int:
        return 2 * int(self.n_contributions) * n_points

    def _round(self, utility: Utility, seed: int, index: int, points: NDArray[np.int64], progress: bool) -> DataValues:
        return self._contributions(utility, points, seed, progress, sample_offset=index * int(self.n_contributions))

    def value_training_points(self, utility: Utility, points: Any, *, seed: int = 0, progress: bool = True) -> DataValues:
        """Values of some training points only (indices ``points``), e.g. for ground truth.

        Each point uses its own random stream, so its value equals its entry in the full call.
        """
        if not isinstance(utility, Utility):
            raise InvalidArgumentError(f"utility: must be a stochamort.valuation.Utility, got {type(utility).__name__}")
        self._validate(utility)
        idx = np.asarray(points)
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or (idx.size and (idx.min() < 0 or idx.max() >= utility.n_data)):
            raise InvalidArgumentError(f"points: expected a 1-d array of indices in [0, {utility.n_data})")
        return self._contributions(utility, idx.astype(np.int64), check_seed(seed), check_flag("progress", progress))

    def value_points(self, utility: Utility, x: Any, y: Any, *, seed: int = 0, progress: bool = True) -> DataValues:
        """Distributional values of points ``(x, y)`` that need not be in the training set.

        D is drawn from ``utility``'s training points; each candidate is added as one extra
        training point (``utility.with_points``). Point j uses the random stream of index
        ``n_data + j``, so candidates never share draws with the training points.
        """
        if not isinstance(utility, Utility):
            raise InvalidArgumentError(f"utility: must be a stochamort.valuation.Utility, got {type(utility).__name__}")
        self._validate(utility)
        extended = utility.with_points(x, y)
        candidates = np.arange(utility.n_data, extended.n_data, dtype=np.int64)
        return self._contributions(extended, candidates, check_seed(seed), check_flag("progress", progress), n_pool=utility.n_data)

    def _contributions(
        self, utility: Utility, points: NDArray[np.int64], seed: int, progress: bool, n_pool: int | None = None,
        sample_offset: int = 0,
    ) -> DataValues:
        n_data = utility.n_data
        pool = n_data if n_pool is None else n_pool
        m = int(self.n_contributions)
        chunk = max(1, MAX_SUBSET_CELLS // max(1, 2 * m * n_data))
        if 8 * max(1, points.size) * m > memory_limit():
            raise RequestTooLargeError(
                f"n_contributions: {m} contributions for each of {points.size} points would take "
                f"{8 * points.size * m / 2**30:.1f} GiB, more than the memory limit of {memory_limit() / 2**30:.1f} GiB"
            )
        diffs = np.empty((points.size, m))
        with tqdm(total=points.size, desc=type(self).__name__, unit="pt", disable=not progress, leave=False) as bar:
            for lo in range(0, points.size, chunk):
                batch = points[lo : lo + chunk]
                # Each point draws from its own stream (point_offset = its index), whatever the
                # batch: one call per run of consecutive indices.
                runs = np.split(batch, np.flatnonzero(np.diff(batch) != 1) + 1)
                draws = np.concatenate([
                    sample_multisets(
                        run.size, m, pool, min_size=self.min_size, max_size=self.max_size, seed=seed,
                        point_offset=int(run[0]), sample_offset=sample_offset,
                    )
                    for run in runs
                ])
                counts = np.zeros((batch.size, m, 2, n_data), dtype=np.uint32)
                counts[:, :, 0, :pool] = draws
                counts[:, :, 1, :pool] = draws
                counts[np.arange(batch.size), :, 1, batch] += 1
                values = utility.evaluate(counts.reshape(-1, n_data)).reshape(batch.size, m, 2)
                with np.errstate(over="ignore"):  # finite utilities 1e308 apart: inf, refused below
                    diffs[lo : lo + batch.size] = values[:, :, 1] - values[:, :, 0]
                bar.update(batch.size)
        overflowed = ~np.isfinite(diffs).all(axis=1)
        if overflowed.any():  # finite utilities (they are checked) whose differences overflow
            raise _overflow_error(points[overflowed])
        result = estimators.contribution_values(diffs)
        return replace(result, extras={**result.extras, "contributions": diffs})



@dataclass(frozen=True)
class ExactDataValues(DataValuationOracle):
    """Exact semivalues by fitting all 2^N subsets (N ≤ 20; for tests and tiny datasets).

    ``kind`` is ``"shapley"``, ``"banzhaf"`` or ``"beta"`` (with ``alpha``, ``beta``). Standard
    errors are zero.
    """

    kind: Literal["shapley", "banzhaf", "beta"] = "shapley"
    alpha: float = 1.0
    beta: float = 1.0
    target: ClassVar[str] = "exact"
    unbiased: ClassVar[bool] = True

    def _validate(self, utility: Utility) -> None:
        if utility.n_data > 20:
            raise TooManyPlayersError(f"utility: exact enumeration supports at most 20 training points, got {utility.n_data}")
        if utility.n_data < 1:
            raise InvalidArgumentError("utility: has no training points")
        semivalue_weights(max(1, utility.n_data), self.kind, alpha=self.alpha, beta=self.beta)

    def _round_fits(self, utility: Utility, n_points: int) -> int:
        return 1 << utility.n_data

    def _round(self, utility: Utility, seed: int, index: int, points: NDArray[np.int64], progress: bool) -> DataValues:
        n = utility.n_data
        table = utility.evaluate(enumerate_coalitions(n), progress=progress)
        est = estimators.exact_semivalue(table[None, :, None], semivalue_weights(n, self.kind, alpha=self.alpha, beta=self.beta))
        return DataValues(est.values[0, :, 0], np.zeros(n), np.zeros(n, dtype=np.int64), 1 << n)
