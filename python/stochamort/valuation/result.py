"""The result type of every data-valuation oracle: one value per training point, with uncertainty."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.estimate import normal_interval

__all__ = ["DataValues"]


@dataclass(frozen=True)
class DataValues:
    """Data values for ``n`` points, with standard errors and the work that produced them.

    Attributes:
        values: float64 ``(n,)``, the estimated value of each point.
        std_errors: float64 ``(n,)``; zero for exact values, ``inf`` where fewer than two
            contributions were seen.
        n_contributions: int64 ``(n,)``, Monte Carlo contributions (marginal contributions, samples
            or permutations) behind each value.
        n_evaluations: total utility evaluations (model fits) spent on the whole result.
        m2: float64 ``(n,)``, sum of squared deviations of the contributions (Welford's M2), kept so
            that results from disjoint samples can be merged; ``None`` when not applicable.
        extras: oracle-specific arrays or numbers (e.g. truncation positions), keyed by name.
    """

    values: NDArray[np.float64]
    std_errors: NDArray[np.float64]
    n_contributions: NDArray[np.int64]
    n_evaluations: int
    m2: NDArray[np.float64] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def confidence_interval(self, level: float = 0.95) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Normal-approximation confidence interval ``(lower, upper)`` at the given level."""
        return normal_interval(self.values, self.std_errors, level)
