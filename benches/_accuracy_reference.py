"""Reference Shapley values of the accuracy benchmark's games, cached in ``bench-results/``.

* ``d ≤ 16``: exact, by enumerating all 2^d coalitions (:func:`_accuracy_game.exact_shapley`).
* larger d: one of our unbiased oracles at a budget far above the benchmark's (``estimated``), with
  its standard errors; the caller checks that its noise ``mean_p Σ_i se²`` is small next to the best
  method's error (the error against a noisy reference is the true error plus that noise).

Cache files are named by the game's :meth:`~_accuracy_game.MLPGame.key` (shape, seed and a digest
of its parameters), plus the estimator, budget and seed for estimated references.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from _accuracy_game import MLPGame, exact_shapley
from _accuracy_ours import CountingGame, OracleVariant

__all__ = ["Reference", "exact_reference", "estimated_reference", "EXACT_MAX_PLAYERS"]

#: Largest d whose reference is exact (2^16 coalitions per point take about a second for 32 points).
EXACT_MAX_PLAYERS = 16


@dataclass
class Reference:
    """Reference values ``(n, d)`` and how they were made."""

    values: NDArray[np.float64]
    std_errors: NDArray[np.float64]
    kind: str  # "exact" or "estimated"
    method: str
    budget: int  # evaluations per point (2^d for exact)
    seconds: float  # to compute (0 when read from the cache)
    cache: str

    @property
    def noise(self) -> float:
        """``mean_p Σ_i se²``: what a noisy reference adds to every method's expected squared error."""
        return float(np.mean(np.sum(self.std_errors**2, axis=1)))

    def summary(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "method": self.method,
            "budget": self.budget,
            "noise": self.noise,
            "max_std_error": float(self.std_errors.max()),
            "seconds": self.seconds,
            "cache": self.cache,
        }


def _load(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    if not path.exists():
        return None
    with np.load(path) as data:
        return np.asarray(data["values"]), np.asarray(data["std_errors"])


def _save(path: Path, values: NDArray[np.float64], std_errors: NDArray[np.float64]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, values=values, std_errors=std_errors)
    tmp.replace(path)  # atomic: an interrupted run leaves no half-written cache


def exact_reference(game: MLPGame, cache_dir: Path) -> Reference:
    """Exact Shapley values by enumeration (cached)."""
    path = cache_dir / f"{game.key()}_exact.npz"
    cached = _load(path)
    began = time.perf_counter()
    if cached is None:
        values = exact_shapley(game)
        cached = (values, np.zeros_like(values))
        _save(path, *cached)
        seconds = time.perf_counter() - began
    else:
        seconds = 0.0
    return Reference(cached[0], cached[1], "exact", "enumeration", 1 << game.n_players, seconds, str(path))


def estimated_reference(game: MLPGame, variant: OracleVariant, budget: int, seed: int, cache_dir: Path) -> Reference:
    """``variant`` at ``budget`` evaluations per point with its standard errors (cached)."""
    if not variant.unbiased:
        raise ValueError(f"the reference estimator must be unbiased, {variant.label} is not")
    label = variant.label.replace("(", "_").replace(")", "").replace("=", "-")
    path = cache_dir / f"{game.key()}_{label}_B{budget}_seed{seed}.npz"
    cached = _load(path)
    began = time.perf_counter()
    if cached is None:
        estimate = variant.build(budget)(CountingGame(game), seed=seed, progress=False)
        cached = (estimate.values[..., 0], estimate.std_errors[..., 0])
        _save(path, *cached)
        seconds = time.perf_counter() - began
    else:
        seconds = 0.0
    return Reference(cached[0], cached[1], "estimated", variant.label, budget, seconds, str(path))
