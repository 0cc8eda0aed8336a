"""Oracles that sample coalitions and fit an estimator to the game's values on them."""

from __future__ import annotations

from abc import abstractmethod
import math
import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from stochamort import estimators
from stochamort._checks import as_bool
from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, SingularSystemError
from stochamort.results import Estimate
from stochamort.games.base import Game
from stochamort.oracles.base import Oracle, StoppingRule, global_points, retold
from stochamort.oracles.rescue import MAX_DOUBLINGS, estimate_or_rescue
from stochamort.sampling import CoalitionDistribution, sample_coalitions, sample_design

__all__ = ["KernelSHAP", "UnbiasedKernelSHAP", "LeverageSHAP", "SGDShapley", "MSRBanzhaf", "LIME"]


class Design(NamedTuple):
    """How a design's rows are weighted (see :func:`stochamort.sampling.sample_design`)."""

    weights: NDArray[np.float64]
    n_enumerated: int
    stratified: bool


class Samples(NamedTuple):
    """The samples gathered so far for some points: coalitions, values there, v(∅) and v(all),
    and the design they come from (None for i.i.d. draws from the oracle's distribution)."""

    masks: NDArray[np.bool_]
    values: NDArray[np.float64]
    null: NDArray[np.float64]
    grand: NDArray[np.float64]
    design: Design | None = None


def subset(sample: Samples, rows: NDArray[np.int64]) -> Samples:
    """The samples of some rows (points) only."""
    design = None if sample.design is None else sample.design._replace(weights=sample.design.weights[rows])
    return Samples(sample.masks[rows], sample.values[rows], sample.null[rows], sample.grand[rows], design)


@dataclass(frozen=True)
class CoalitionOracle(Oracle):
    """Sample ``budget`` evaluations' worth of coalitions per point and round, then estimate."""

    budget: int

    #: The distribution coalitions are drawn from.
    distribution: ClassVar[CoalitionDistribution]
    #: Whether the estimator needs v(∅) and v(all) (two more evaluations per point).
    uses_endpoints: ClassVar[bool] = True
    #: The fewest samples per round the estimator is defined for.
    min_samples: ClassVar[int] = 2

    @property
    def grouped(self) -> bool:
        """Whether samples come in complementary pairs."""
        return False

    def _samples_per_round(self) -> int:
        samples = self.budget - (2 if self.uses_endpoints else 0)
        return samples - samples % 2 if self.grouped else samples

    def _validate(self, game: Game) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise InvalidArgumentError(f"budget: must be a positive integer, got {self.budget!r}")
        if hasattr(self, "paired"):
            as_bool("paired", self.paired)  # as the core would, before `grouped` is used below
        if getattr(self, "distribution", None) in ("shapley", "leverage") and game.n_players < 2:
            raise InvalidArgumentError(
                f"game: {type(self).__name__} needs at least 2 players, the game has {game.n_players} (the kernel has "
                "no coalition size strictly between 0 and d); one player's Shapley value is v(all) - v(empty): use Exact()"
            )
        samples = self._samples_per_round()
        needed = self.min_samples * (2 if self.grouped else 1)
        if samples < needed:
            extra = 2 if self.uses_endpoints else 0
            raise InsufficientSamplesError(
                f"budget: {type(self).__name__} needs at least {needed + extra} evaluations per point "
                f"({needed} samples{' and v(∅), v(all)' if extra else ''}), got {self.budget}"
            )

    def _cells_per_point(self, game: Game) -> int:
        return self._samples_per_round() * game.n_players

    @abstractmethod
    def _estimate(self, s: Samples) -> Estimate:
        """Apply the estimator to all samples gathered so far for some points."""

    def _draw(
        self, n: int, samples: int, d: int, seed: int, first_point: int, round_index: int
    ) -> tuple[NDArray[np.bool_], Design | None]:
        """The coalitions of one round for ``n`` points from global point ``first_point`` on."""
        masks = sample_coalitions(
            n,
            samples,
            d,
            distribution=self.distribution,
            paired=self.grouped,
            seed=seed,
            point_offset=first_point,
            sample_offset=round_index * samples,
        )
        return masks, None

    def _estimate_chunk(self, game: Game, points: NDArray[np.int64], seed: int, point_offset: int) -> Estimate:
        return self._estimate_points(game, points, seed, point_offset, rescue=True)

    def _rescue(self, game: Game, point: int, seed: int, point_offset: int, spent: int, err: SingularSystemError) -> Estimate:
        """Point ``point`` of ``game`` estimated on its own with 2, 4, 8 times the budget (see
        :mod:`stochamort.oracles.rescue`); ``spent``: evaluations of the failed attempt."""
        for doubling in range(1, MAX_DOUBLINGS + 1):
            bigger = dataclasses.replace(self, budget=self.budget * 2**doubling, stopping=None)
            try:
                est = bigger._estimate_points(game, np.array([point]), seed, point_offset, rescue=False)
            except SingularSystemError:
                continue
            est.extras["singular_retries"] = np.array([doubling])
            est.n_evaluations[0] += spent
            return est
        raise err

    def _estimate_points(self, game: Game, points: NDArray[np.int64], seed: int, point_offset: int, *, rescue: bool) -> Estimate:
        n, d, o = len(points), game.n_players, game.n_outputs
        samples = self._samples_per_round()
        fixed = 2 if self.uses_endpoints else 0
        rule = self.stopping or StoppingRule()
        rounds = rule.limit(samples, fixed)
        null, grand = game.endpoints(points) if self.uses_endpoints else (np.zeros((n, o)), np.zeros((n, o)))
        result = Estimate(np.zeros((n, d, o)), np.zeros((n, d, o)), np.zeros(n, dtype=np.int64))
        active = np.arange(n)
        # Samples gathered so far for the active points only (rows aligned with `active`).
        masks: NDArray[np.bool_] | None = None
        values: NDArray[np.float64] | None = None
        design: Design | None = None
        spent = fixed
        for r in range(rounds):
            new_masks, design = self._draw(n, samples, d, seed, point_offset + int(points[0]), r)
            spent += new_masks.shape[1]
            if design is not None and active.size < n:
                design = design._replace(weights=design.weights[active])
            if active.size < n:
                new_masks = new_masks[active]
            new_values = game.evaluate(new_masks, points[active])
            if masks is None or values is None:
                masks, values = new_masks, new_values
            else:
                masks = np.concatenate([masks, new_masks], axis=1)
                values = np.concatenate([values, new_values], axis=1)
            sample, rows_points = Samples(masks, values, null[active], grand[active], design), points[active]

            def estimate(rows: NDArray[np.int64]) -> Estimate:
                with global_points(point_offset + rows_points[rows]):
                    return self._estimate(subset(sample, rows))

            def rescue_row(row: int, err: SingularSystemError) -> Estimate:
                return self._rescue(game, int(rows_points[row]), seed, point_offset, spent, err)

            try:
                if rescue:
                    est, rescued = estimate_or_rescue(estimate, point_offset + rows_points, rescue_row)
                else:
                    est, rescued = estimate(np.arange(len(active))), []
            except InsufficientSamplesError as err:
                # The draw was unlucky for this budget (e.g. a player never sampled): name the budget.
                first, last = point_offset + int(points[0]), point_offset + int(points[-1])
                where = f"point {err.points[0]}" if err.points else f"a point in {first}..{last}"
                message = f"budget: {self.budget} evaluations per point were not enough for {where}; raise the budget ({err})"
                raise retold(err, message, argument="budget") from err
            result.values[active] = est.values
            result.std_errors[active] = est.std_errors
            result.n_evaluations[active] = spent
            result.n_evaluations[active[rescued]] = est.n_evaluations[rescued]
            for name, array in est.extras.items():
                result.extras.setdefault(name, np.zeros((n, *array.shape[1:]), dtype=array.dtype))[active] = array
            going_on = ~rule.done(est.std_errors, est.dof)
            going_on[rescued] = False  # estimated on their own, with a budget of their own
            if not going_on.any():
                break
            if not going_on.all():
                active, masks, values = active[going_on], masks[going_on], values[going_on]
        return result


class DesignSampling(CoalitionOracle):
    """Coalition oracles that draw a design without repeats (``sampling="design"``, see
    :func:`stochamort.sampling.sample_design`) or i.i.d. coalitions (``sampling="iid"``, the only
    choice that can be spent in rounds for a :class:`~stochamort.oracles.StoppingRule` target).
    Subclasses declare the ``sampling`` field."""

    sampling: Literal["design", "iid"]

    def _validate(self, game: Game) -> None:
        if self.sampling not in ("design", "iid"):
            raise InvalidArgumentError(f"sampling: must be 'design' or 'iid', got {self.sampling!r}")
        if self.sampling == "design" and self.stopping is not None and self.stopping.target_std_error is not None:
            raise InvalidArgumentError(
                "sampling: a StoppingRule target spends the budget in rounds, which a design (drawn whole) "
                "cannot do; use sampling='iid' with a target"
            )
        super()._validate(game)

    def _cells_per_point(self, game: Game) -> int:
        d, samples = game.n_players, self._samples_per_round()
        if self.sampling == "design" and d < 63:
            samples = min(samples, (1 << d) - 2)  # a design holds each coalition at most once
        return samples * d

    def _draw(
        self, n: int, samples: int, d: int, seed: int, first_point: int, round_index: int
    ) -> tuple[NDArray[np.bool_], Design | None]:
        if self.sampling == "iid":
            return super()._draw(n, samples, d, seed, first_point, round_index)
        if d < 62:  # a budget of 2^d or more is spent on the census: more samples change nothing
            samples = min(samples, 1 << 62)
        design = sample_design(
            n, samples, d, distribution=self.distribution, paired=self.grouped, seed=seed, point_offset=first_point
        )
        return design.masks, Design(design.weights, design.n_enumerated, stratified=True)


def _kernelshap_estimate(s: Samples, oracle: KernelSHAP, *, unbiased: bool) -> Estimate:
    """KernelSHAP (consistent or unbiased) on samples, with the weights of their design if any."""
    estimator = estimators.unbiased_kernelshap if unbiased else estimators.kernelshap
    weights, n_enumerated, stratified = (None, 0, False) if s.design is None else s.design
    return estimator(
        s.masks,
        s.values,
        s.null,
        s.grand,
        paired=oracle.paired,
        distribution=oracle.distribution,
        sample_weights=weights,
        n_enumerated=n_enumerated,
        stratified=stratified,
    )


@dataclass(frozen=True)
class KernelSHAP(DesignSampling):
    """KernelSHAP (Lundberg & Lee 2017) in the constrained least-squares form of Covert & Lee (2021).

    Coalitions from the Shapley kernel, ``budget − 2`` per point (plus v(∅) and v(all)); paired
    sampling by default. **Not unbiased**: consistent, with an O(1/n) bias that is small next to its
    variance once the budget exceeds a few times the number of players; paired sampling makes it
    exact for additive games. Standard errors: delta method (Covert & Lee 2021), an asymptotic
    approximation that is too small at budgets of a few times d: the spread over seeds was 1.4–1.6×
    the reported standard error at 4d (KernelSHAP and LeverageSHAP, d = 16 and 30), within 10 %
    from about 16d on; :class:`~stochamort.oracles.RegressionShapley` and
    :class:`~stochamort.oracles.Permutation` report honest ones there.

    ``sampling="design"`` (default) wastes no evaluation: the coalition sizes the budget covers
    are enumerated whole and the others drawn stratified by size without repeats
    (:func:`stochamort.sampling.sample_design`); a budget of ``2^d`` or more is spent on the census
    (the exact values). ``sampling="iid"`` draws coalitions independently, repeats included (the
    classic estimator; needed for a :class:`~stochamort.oracles.StoppingRule` target, since a
    design is drawn whole and cannot be extended by rounds).

    **Budget overruns**: a point whose coalitions leave the regression singular (at budgets below
    about 3d, e.g. a player in no coalition) is estimated again on its own with 2, 4, then 8 times
    the budget; ``extras["singular_retries"]`` says how many doublings each point took, and
    ``n_evaluations`` counts every evaluation spent (``KernelSHAP(24)`` at 10 players spent 72 on
    13 of 50 points). Raise the budget where that matters.
    """

    paired: bool = True
    sampling: Literal["design", "iid"] = "design"
    target: ClassVar[str] = "shapley"
    unbiased: ClassVar[bool] = False
    distribution: ClassVar[CoalitionDistribution] = "shapley"

    @property
    def grouped(self) -> bool:
        return self.paired

    def _validate(self, game: Game) -> None:
        super()._validate(game)
        d, samples = game.n_players, self._samples_per_round()
        # A = mean(z zᵀ) is d × d; a pair (z, 1 − z) spans only z and 1, so pairs add one direction each.
        directions = samples // 2 + 1 if self.paired else samples
        if self._needs_full_rank and directions < d:
            needed = 2 * (d - 1) + 2 if self.paired else d + 2
            raise InsufficientSamplesError(
                f"budget: {type(self).__name__} cannot identify {d} players with {self.budget} evaluations "
                f"per point; it needs at least {needed}"
            )

    #: Whether the estimator solves with the sampled A (which must then have full rank).
    _needs_full_rank: ClassVar[bool] = True

    def _estimate(self, s: Samples) -> Estimate:
        return _kernelshap_estimate(s, self, unbiased=False)


@dataclass(frozen=True)
class UnbiasedKernelSHAP(KernelSHAP):
    """Unbiased KernelSHAP (Covert & Lee 2021): the exact A of the Shapley kernel.

    **Unbiased** for any budget (one sample suffices), with higher variance than :class:`KernelSHAP`.
    """

    unbiased: ClassVar[bool] = True
    min_samples: ClassVar[int] = 1
    _needs_full_rank: ClassVar[bool] = False

    def _estimate(self, s: Samples) -> Estimate:
        return _kernelshap_estimate(s, self, unbiased=True)


@dataclass(frozen=True)
class LeverageSHAP(KernelSHAP):
    """Leverage SHAP (Musco & Witter 2025): KernelSHAP with coalition sizes uniform over 1..d−1.

    Importance weights restore the Shapley kernel. **Not unbiased**: consistent, like KernelSHAP,
    with provable accuracy guarantees in the number of samples. Standard errors as KernelSHAP's
    (too small at a few times d evaluations; see there).
    """

    distribution: ClassVar[CoalitionDistribution] = "leverage"


@dataclass(frozen=True)
class SGDShapley(KernelSHAP):
    """SGD-Shapley (Simon & Vincent 2020): projected SGD on KernelSHAP's objective, iterates averaged.

    Samples are split into ``replicates`` independent SGD runs whose spread gives the standard error;
    a round uses the largest multiple of ``replicates × batch`` samples that fits in ``budget − 2``.
    **Not unbiased**: every run starts from the uniform split of v(all) − v(∅), and that start-up
    error fades as O(1/n); with few steps per run the standard errors understate the error.
    """

    step_size: float | None = None
    batch_size: int = 2
    replicates: int = 4
    sampling: Literal["design", "iid"] = "iid"
    _needs_full_rank: ClassVar[bool] = False

    def _samples_per_round(self) -> int:
        unit = self.replicates * math.lcm(self.batch_size, 2 if self.paired else 1)
        return ((self.budget - 2) // unit) * unit

    def _validate(self, game: Game) -> None:
        if self.sampling != "iid":
            raise InvalidArgumentError(
                f"sampling: SGDShapley runs SGD over i.i.d. samples and needs sampling='iid', got {self.sampling!r}"
            )
        for name in ("batch_size", "replicates"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidArgumentError(f"{name}: must be a positive integer, got {value!r}")
        super()._validate(game)
        if self._samples_per_round() < 1:
            raise InsufficientSamplesError(
                f"budget: SGDShapley needs {2 + self.replicates * math.lcm(self.batch_size, 2 if self.paired else 1)} "
                f"evaluations per point for {self.replicates} replicates, got {self.budget}"
            )

    def _estimate(self, s: Samples) -> Estimate:
        return estimators.sgd_shapley(
            s.masks,
            s.values,
            s.null,
            s.grand,
            paired=self.paired,
            step_size=self.step_size,
            batch_size=self.batch_size,
            replicates=self.replicates,
        )


@dataclass(frozen=True)
class MSRBanzhaf(CoalitionOracle):
    """Banzhaf values by maximum sample reuse (Wang & Jia 2023): ``budget`` uniform coalitions.

    **Unbiased** (given every player is both in and out of some sample, which it checks).
    """

    target: ClassVar[str] = "banzhaf"
    unbiased: ClassVar[bool] = True
    distribution: ClassVar[CoalitionDistribution] = "banzhaf"
    uses_endpoints: ClassVar[bool] = False

    def _estimate(self, s: Samples) -> Estimate:
        return estimators.msr_banzhaf(s.masks, s.values)


@dataclass(frozen=True)
class LIME(CoalitionOracle):
    """LIME (Ribeiro et al. 2016): weighted least squares on ``budget`` uniform coalitions.

    Weights from LIME's exponential kernel of width ``kernel_width``. **Not unbiased**: a ratio of
    sample means, consistent for the population regression with O(1/n) bias.
    """

    kernel_width: float = 0.25
    target: ClassVar[str] = "lime"
    unbiased: ClassVar[bool] = False
    distribution: ClassVar[CoalitionDistribution] = "banzhaf"
    uses_endpoints: ClassVar[bool] = False

    def _validate(self, game: Game) -> None:
        super()._validate(game)
        if self._samples_per_round() < game.n_players + 1:
            raise InsufficientSamplesError(
                f"budget: LIME fits {game.n_players + 1} coefficients and needs at least that many samples, got {self.budget}"
            )

    def _estimate(self, s: Samples) -> Estimate:
        return estimators.lime(s.masks, s.values, kernel_width=self.kernel_width)
