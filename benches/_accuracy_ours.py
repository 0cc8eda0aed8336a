"""Our side of the accuracy benchmark: every Shapley oracle in ``stochamort.oracles``, batched over points.

Discovery: every non-abstract :class:`~stochamort.oracles.Oracle` subclass exported by
``stochamort.oracles`` whose ``target`` is ``"shapley"`` (``Exact`` excepted: it is the reference).
``SETTINGS`` lists the variants run per class name; a class not listed runs once with its default
settings if ``budget`` is its only required field (a note says so), otherwise it is skipped with a
note. So oracles that land later are picked up without editing this file.

Each oracle runs as ``cls(budget=B, **settings)(game, seed=seed, progress=False)`` on all points at
once; the game (:class:`CountingGame`) counts the coalitions it evaluates for each point and the
time spent inside it.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from _accuracy_game import MLPGame
from _accuracy_records import MethodRun, squared_errors
from stochamort import oracles
from stochamort.errors import StochamortError
from stochamort.games import Game
from stochamort.oracles import Oracle

__all__ = ["CountingGame", "OracleVariant", "shapley_oracles", "run_oracle", "SETTINGS"]

#: Variants per oracle class name: (label suffix, constructor settings besides ``budget``).
SETTINGS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "Permutation": [("", {"antithetic": True}), ("(antithetic=False)", {"antithetic": False})],
    "KernelSHAP": [("", {"paired": True}), ("(paired=False)", {"paired": False})],
    "UnbiasedKernelSHAP": [("", {"paired": True})],
    "LeverageSHAP": [("", {})],
    "SGDShapley": [("", {})],
    # Paired order-2 PolySHAP is paired KernelSHAP (even terms add nothing with pairs): also unpaired and order 3.
    "PolySHAP": [("", {}), ("(paired=False)", {"paired": False}), ("(order=3)", {"order": 3})],
    "OddSHAP": [("", {})],
}
#: Shapley oracles that are not estimators to benchmark.
NOT_BENCHMARKED = {"Exact": "exact enumeration is the reference, not an estimator"}


class CountingGame(Game):
    """A :class:`~stochamort.games.Game` over an :class:`MLPGame` that counts evaluations per point."""

    def __init__(self, mlp: MLPGame) -> None:
        self.mlp = mlp
        self.evaluations = np.zeros(mlp.n_points, dtype=np.int64)
        self.seconds = 0.0

    @property
    def n_points(self) -> int:
        return self.mlp.n_points

    @property
    def n_players(self) -> int:
        return self.mlp.n_players

    @property
    def n_outputs(self) -> int:
        return 1

    def reset(self) -> None:
        """Zero the counters."""
        self.evaluations[:] = 0
        self.seconds = 0.0

    def _evaluate(self, masks: NDArray[np.bool_], points: NDArray[np.int64]) -> NDArray[np.float64]:
        began = time.perf_counter()
        values = self.mlp.values(masks, points)[..., None]
        np.add.at(self.evaluations, points, masks.shape[1])
        self.seconds += time.perf_counter() - began
        return values


@dataclass(frozen=True)
class OracleVariant:
    """One oracle class with one set of settings."""

    label: str
    cls: type[Oracle]
    settings: dict[str, Any]

    @property
    def unbiased(self) -> bool:
        return bool(self.cls.unbiased)

    def build(self, budget: int) -> Oracle:
        return self.cls(budget=budget, **self.settings)  # type: ignore[call-arg]


def _budget_only(cls: type[Oracle]) -> bool:
    """Whether ``cls(budget=B)`` is enough to build it."""
    if not dataclasses.is_dataclass(cls):
        return False
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return required == {"budget"}


def shapley_oracles() -> tuple[list[OracleVariant], list[str]]:
    """Every Shapley oracle variant to benchmark, and notes on the classes skipped or run with defaults."""
    variants: list[OracleVariant] = []
    notes: list[str] = []
    for name in oracles.__all__:
        cls = getattr(oracles, name)
        if not (inspect.isclass(cls) and issubclass(cls, Oracle)) or inspect.isabstract(cls):
            continue
        if getattr(cls, "target", None) != "shapley":
            continue
        if name in NOT_BENCHMARKED:
            notes.append(f"ours {name}: not benchmarked ({NOT_BENCHMARKED[name]})")
            continue
        table = SETTINGS.get(name)
        if table is None:
            if not _budget_only(cls):
                notes.append(f"ours {name}: skipped (not in the settings table and needs more than a budget to build)")
                continue
            notes.append(f"ours {name}: not in the settings table, run with its default settings")
            table = [("", {})]
        known = {f.name for f in dataclasses.fields(cls)}
        for suffix, settings in table:
            unknown = sorted(set(settings) - known)
            if unknown:
                notes.append(f"ours {name}{suffix}: skipped (no field(s) {', '.join(unknown)})")
                continue
            variants.append(OracleVariant(name + suffix, cls, settings))
    return variants, notes


def run_oracle(
    variant: OracleVariant, game: CountingGame, budget: int, truth: NDArray[np.float64], seed: int
) -> tuple[MethodRun, NDArray[np.float64] | None]:
    """One variant at budget B on all points; the record and the estimates ``(n, d)`` (None if it refused)."""
    run = MethodRun("ours", variant.label, variant.unbiased, game.n_players, budget)
    game.reset()
    began = time.perf_counter()
    try:
        estimate = variant.build(budget)(game, seed=seed, progress=False)
    except StochamortError as error:  # e.g. a budget too small for d: the oracle refuses, and says why
        run.status = f"refused: {type(error).__name__}: {str(error)[:160]}"
        return run, None
    wall = time.perf_counter() - began
    n = game.n_points
    phi = estimate.values[..., 0]
    run.points = list(range(n))
    run.sq_errors = squared_errors(phi, truth)
    run.evaluations = [int(e) for e in game.evaluations]
    run.seconds_per_point = wall / n
    run.game_seconds_per_point = game.seconds / n
    run.mean_variance = float(np.mean(np.sum(estimate.std_errors[..., 0] ** 2, axis=1)))
    reported = estimate.n_evaluations
    if not np.array_equal(reported, game.evaluations):
        run.note = f"reports {reported.mean():.0f} evaluations per point, the game counted {game.evaluations.mean():.0f}"
    if not np.isfinite(phi).all():
        run.status = "non-finite estimates"
    return run, phi
