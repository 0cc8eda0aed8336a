"""Oracles that fit a polynomial with interaction terms to the game on a coalition design:
PolySHAP and OddSHAP (see :mod:`stochamort.polynomial`)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from stochamort import estimators
from stochamort.errors import InsufficientSamplesError, InvalidArgumentError
from stochamort.games.base import Game
from stochamort.oracles.base import Oracle, global_points, retold
from stochamort.results import Estimate
from stochamort.sampling import CoalitionDesign, sample_design

__all__ = ["PolySHAP", "OddSHAP"]


@dataclass(frozen=True)
class _PolynomialOracle(Oracle):
    """One coalition design per point (``sample_design`` without replacement, whole sizes enumerated
    first), ``budget − 2`` rows plus v(∅) and v(all), then a polynomial regression on it. (Not a
    ``CoalitionOracle``: a design is drawn once for the whole budget, not in rounds.)"""

    budget: int
    order: int = 2
    max_terms: int | None = None

    target: ClassVar[str] = "shapley"
    unbiased: ClassVar[bool] = False

    @property
    def grouped(self) -> bool:
        """Whether the design comes in complementary pairs."""
        return True

    def _samples_per_round(self) -> int:
        samples = self.budget - 2
        return samples - samples % 2 if self.grouped else samples

    def _cells_per_point(self, game: Game) -> int:
        return self._samples_per_round() * game.n_players

    def _validate(self, game: Game) -> None:
        if isinstance(self.budget, (bool, np.bool_)) or not isinstance(self.budget, (int, np.integer)) or self.budget < 1:
            raise InvalidArgumentError(f"budget: must be a positive integer, got {self.budget!r}")
        for name, value, minimum in (("order", self.order, 1), ("max_terms", self.max_terms, 0)):
            if value is None and name == "max_terms":
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
        if self.stopping is not None:
            raise InvalidArgumentError(
                f"stopping: {type(self).__name__} fits one design per budget and has no rounds to stop; "
                "set the budget instead"
            )
        # Each player needs a free coefficient, and the fit needs distinct pairs beyond them (plus 2
        # random units for a standard error); below this no design can work.
        d, pairs = game.n_players, self._samples_per_round() // 2
        if pairs < d + 2:
            raise InsufficientSamplesError(
                f"budget: {type(self).__name__} needs at least {2 + 2 * (d + 2)} evaluations per point for "
                f"{d} players, got {self.budget}"
            )

    @abstractmethod
    def _fit(self, design: CoalitionDesign, values: NDArray[np.float64], null: NDArray[np.float64], grand: NDArray[np.float64]) -> Estimate:
        """The estimator on one design of some points, with the game's values there."""

    def _estimate_chunk(self, game: Game, points: NDArray[np.int64], seed: int, point_offset: int) -> Estimate:
        first = point_offset + int(points[0])
        samples = self._samples_per_round()
        design = sample_design(
            len(points), samples, game.n_players, paired=self.grouped, replace=False, seed=seed, point_offset=first
        )
        values = game.evaluate(design.masks, points)
        null, grand = game.endpoints(points)
        try:
            with global_points(point_offset + points):
                est = self._fit(design, values, null, grand)
        except InsufficientSamplesError as err:
            last = point_offset + int(points[-1])
            where = f"point {err.points[0]}" if err.points else f"a point in {first}..{last}"
            message = (
                f"budget: {self.budget} evaluations per point were not enough for {where} "
                f"({type(self).__name__}, order {self.order}); raise the budget ({err})"
            )
            raise retold(err, message, argument="budget") from err
        return est


@dataclass(frozen=True)
class PolySHAP(_PolynomialOracle):
    """PolySHAP (Fumagalli et al. 2025; kADD-SHAP): KernelSHAP with interaction terms up to ``order``.

    Coalitions from :func:`~stochamort.sampling.sample_design` (Shapley kernel, complementary pairs
    unless ``paired=False``, whole sizes enumerated, the rest distinct), ``budget − 2`` per point
    plus v(∅) and v(all); the terms are chosen per point from the budget (see
    :func:`stochamort.estimators.polyshap`). **Not unbiased**: consistent (the population fit is
    exact for any terms), with an O(1/n) bias small next to the standard error. With pairs the
    even-order terms add nothing (``order=2`` is paired KernelSHAP): :class:`OddSHAP` spends the
    budget better. Standard errors: sandwich over the design's random units, stratified.
    """

    paired: bool = True

    @property
    def grouped(self) -> bool:
        return self.paired

    def _fit(self, design: CoalitionDesign, values: NDArray[np.float64], null: NDArray[np.float64], grand: NDArray[np.float64]) -> Estimate:
        return estimators.polyshap(
            design.masks,
            values,
            null,
            grand,
            sample_weights=design.weights,
            order=self.order,
            max_terms=self.max_terms,
            paired=self.paired,
            n_enumerated=design.n_enumerated,
            stratified=True,
        )


@dataclass(frozen=True)
class OddSHAP(_PolynomialOracle):
    """OddSHAP (as in shapiq 1.8): the game's odd part regressed on odd Fourier characters.

    Complementary pairs from :func:`~stochamort.sampling.sample_design` (Shapley kernel, whole sizes
    enumerated, the rest distinct), ``budget − 2`` rows per point plus v(∅) and v(all); characters of
    the odd orders up to ``order``, chosen per point from the budget (see
    :func:`stochamort.estimators.oddshap`). **Not unbiased**: consistent (the population fit is
    exact for any terms), with an O(1/n) bias small next to the standard error; exact for games
    whose odd part has interactions of order at most ``order``. Standard errors: sandwich over the
    design's random pairs, stratified by size.
    """

    order: int = 3

    def _validate(self, game: Game) -> None:
        if game.n_players < 3:
            raise InvalidArgumentError(f"game: OddSHAP needs at least 3 players, got {game.n_players}")
        super()._validate(game)

    def _fit(self, design: CoalitionDesign, values: NDArray[np.float64], null: NDArray[np.float64], grand: NDArray[np.float64]) -> Estimate:
        return estimators.oddshap(
            design.masks,
            values,
            null,
            grand,
            sample_weights=design.weights,
            order=self.order,
            max_terms=self.max_terms,
            n_enumerated=design.n_enumerated,
            stratified=True,
        )
