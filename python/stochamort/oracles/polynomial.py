"""Oracles that fit a polynomial with interaction terms to the game on sampled coalitions:
PolySHAP and OddSHAP (see :mod:`stochamort.polynomial`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from stochamort import estimators
from stochamort.errors import InsufficientSamplesError, InvalidArgumentError
from stochamort.games.base import Game
from stochamort.oracles.sampled import Design, DesignSampling, Samples
from stochamort.results import Estimate
from stochamort.sampling import CoalitionDistribution, coalition_probabilities

__all__ = ["PolySHAP", "OddSHAP"]


@dataclass(frozen=True)
class _PolynomialOracle(DesignSampling):
    """Shapley-kernel coalitions, ``budget − 2`` per point plus v(∅) and v(all), then a polynomial
    regression: on a design (default; whole sizes enumerated, the rest distinct) or on i.i.d. draws
    (``sampling="iid"``, which can be spent in rounds for a stopping rule's target)."""

    order: int = 2
    max_terms: int | None = None
    sampling: Literal["design", "iid"] = "design"

    target: ClassVar[str] = "shapley"
    unbiased: ClassVar[bool] = False
    distribution: ClassVar[CoalitionDistribution] = "shapley"

    @property
    def grouped(self) -> bool:
        return True

    def _validate(self, game: Game) -> None:
        for name, value in (("order", self.order), ("max_terms", self.max_terms)):
            minimum = 1 if name == "order" else 0
            if value is None and name == "max_terms":
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
        super()._validate(game)
        # Each player needs a free coefficient, and the fit needs distinct pairs beyond them (2
        # residual degrees of freedom, 2 random units): below this no draw can work.
        d, pairs = game.n_players, self._samples_per_round() // 2
        if pairs < d + 2:
            raise InsufficientSamplesError(
                f"budget: {type(self).__name__} needs at least {2 + 2 * (d + 2)} evaluations per point for "
                f"{d} players, got {self.budget}"
            )

    @staticmethod
    def _design(s: Samples) -> Design:
        """The samples' design, or for i.i.d. draws the counting weights ``1 / (n · P(S))``."""
        if s.design is not None:
            return s.design
        weights = 1.0 / (s.masks.shape[1] * coalition_probabilities(s.masks, "shapley"))
        return Design(weights, 0, False)


@dataclass(frozen=True)
class PolySHAP(_PolynomialOracle):
    """PolySHAP (Fumagalli et al. 2025; kADD-SHAP): KernelSHAP with interaction terms up to ``order``.

    Coalitions from the Shapley kernel, complementary pairs unless ``paired=False``, ``budget − 2``
    per point plus v(∅) and v(all), by default from :func:`~stochamort.sampling.sample_design`; the
    terms are chosen per point from the budget (see :func:`stochamort.estimators.polyshap`).
    **Not unbiased**: consistent (the population fit is exact for any terms), with an O(1/n) bias
    small next to the standard error. With pairs the even-order terms add nothing (``order=2`` is
    paired KernelSHAP): :class:`OddSHAP` spends the budget better. Standard errors: sandwich over
    the random units (stratified for a design).
    """

    paired: bool = True

    @property
    def grouped(self) -> bool:
        return self.paired

    def _estimate(self, s: Samples) -> Estimate:
        design = self._design(s)
        return estimators.polyshap(
            s.masks,
            s.values,
            s.null,
            s.grand,
            sample_weights=design.weights,
            order=self.order,
            max_terms=self.max_terms,
            paired=self.paired,
            n_enumerated=design.n_enumerated,
            stratified=design.stratified,
        )


@dataclass(frozen=True)
class OddSHAP(_PolynomialOracle):
    """OddSHAP (as in shapiq 1.8): the game's odd part regressed on odd Fourier characters.

    Complementary pairs from the Shapley kernel, ``budget − 2`` rows per point plus v(∅) and v(all),
    by default from :func:`~stochamort.sampling.sample_design` (whole sizes enumerated, the rest
    distinct); characters of the odd orders up to ``order``, chosen per point from the budget (see
    :func:`stochamort.estimators.oddshap`). **Not unbiased**: consistent (the population fit is
    exact for any terms), with an O(1/n) bias small next to the standard error; exact for games
    whose odd part has interactions of at most ``order`` players once the budget allows the full
    model. Standard errors: sandwich over the random pairs (stratified for a design).
    """

    order: int = 3

    def _validate(self, game: Game) -> None:
        if game.n_players < 3:
            raise InvalidArgumentError(f"game: OddSHAP needs at least 3 players, got {game.n_players}")
        super()._validate(game)

    def _estimate(self, s: Samples) -> Estimate:
        design = self._design(s)
        return estimators.oddshap(
            s.masks,
            s.values,
            s.null,
            s.grand,
            sample_weights=design.weights,
            order=self.order,
            max_terms=self.max_terms,
            n_enumerated=design.n_enumerated,
            stratified=design.stratified,
        )
