"""What the demo tasks share: phase timers and matching a per-example error curve's budget."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Timer", "budget_matching"]


@dataclass
class Timer:
    """Wall-clock seconds per named phase: ``with timer("labels"): ...`` (phases add up)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def __call__(self, name: str) -> _Phase:
        """A context manager adding its duration to ``seconds[name]``."""
        return _Phase(self, name)


class _Phase:
    def __init__(self, timer: Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.seconds[self.name] = self.timer.seconds.get(self.name, 0.0) + time.perf_counter() - self.start


def budget_matching(error: float, budgets: list[float], errors: list[float]) -> tuple[float, bool]:
    """Budget at which a per-example curve reaches ``error`` (log-log interpolation; extrapolated
    with the last segment's slope beyond the ladder). Returns (budget, extrapolated)."""
    logb, loge = np.log(budgets), np.log(errors)
    target = math.log(error)
    if loge[-1] <= target <= loge[0]:
        return float(np.exp(np.interp(target, loge[::-1], logb[::-1]))), False
    slope = (loge[-1] - loge[-2]) / (logb[-1] - logb[-2]) if len(budgets) > 1 else -1.0
    anchor = -1 if target < loge[-1] else 0
    return float(np.exp(logb[anchor] + (target - loge[anchor]) / slope)), True
