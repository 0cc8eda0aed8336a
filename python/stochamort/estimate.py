"""The result type every estimator returns: values with their uncertainty."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Estimate"]


@dataclass(frozen=True)
class Estimate:
    """Attributions for a batch of points, with standard errors and the evaluations spent.

    Attributes:
        values: float64 array ``(n_points, n_players, n_outputs)``, the estimates.
        std_errors: float64 array of the same shape. Zero for exact methods; ``inf`` where the
            sample is too small to estimate a variance.
        n_evaluations: int64 array ``(n_points,)``, game evaluations used for each point.
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
        """Number of players (features, patches or data points) per point."""
        return int(self.values.shape[1])

    @property
    def n_outputs(self) -> int:
        """Number of model outputs (e.g. classes) attributed at once."""
        return int(self.values.shape[2])

    def confidence_interval(self, level: float = 0.95) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Normal-approximation confidence interval ``(lower, upper)`` at the given level."""
        return normal_interval(self.values, self.std_errors, level)


def normal_interval(
    values: NDArray[np.float64], std_errors: NDArray[np.float64], level: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``values ∓ z · std_errors`` with z the normal quantile of the two-sided ``level``."""
    if not 0.0 < level < 1.0:
        from stochamort.errors import InvalidArgumentError

        raise InvalidArgumentError(f"level: must lie in (0, 1), got {level}")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    return values - z * std_errors, values + z * std_errors
