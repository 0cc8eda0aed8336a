"""``stochamort demo``: every estimator of the core on a small model, checked against exact values.

A random two-layer network on ``n_players`` features is explained for a batch of points with
baseline masking (absent features set to 0). Exact Shapley and Banzhaf values come from enumerating
all ``2**d`` coalitions; each estimator then runs at a ladder of budgets, and the table reports its
error, how well its standard errors are calibrated (coverage of nominal 95 % intervals), and its
time outside the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

import stochamort as sm
from stochamort.errors import InvalidArgumentError

__all__ = ["run_demo", "ToyModelGame"]

MAX_DEMO_PLAYERS = 16


@dataclass(frozen=True)
class ToyModelGame:
    """v_x(S) = f(x with features outside S set to 0), f a fixed random tanh network with 2 outputs."""

    inputs: NDArray[np.float64]
    hidden: NDArray[np.float64]
    output: NDArray[np.float64]

    @classmethod
    def random(cls, n_points: int, n_players: int, seed: int) -> ToyModelGame:
        """Random inputs and network weights."""
        rng = np.random.default_rng(seed)
        return cls(
            inputs=rng.normal(size=(n_points, n_players)),
            hidden=rng.normal(size=(n_players, 32)) / np.sqrt(n_players),
            output=rng.normal(size=(32, 2)),
        )

    def __call__(self, masks: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Values ``(n_points, n_coalitions, 2)`` for masks ``(n_points, n_coalitions, d)``."""
        masked = masks * self.inputs[:, None, :]
        return np.asarray(np.tanh(masked @ self.hidden) @ self.output, dtype=np.float64)

    def endpoints(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """v(∅) and v(all) per point, ``(n_points, 2)`` each."""
        n, d = self.inputs.shape
        empty, full = np.zeros((n, 1, d), bool), np.ones((n, 1, d), bool)
        return self(empty)[:, 0], self(full)[:, 0]


@dataclass(frozen=True)
class Row:
    method: str
    budget: int
    error: float
    coverage: float
    seconds_outside: float


def _kernelshap(game: ToyModelGame, budget: int, seed: int, unbiased: bool) -> tuple[sm.Estimate, float, float]:
    n, d = game.inputs.shape
    start = time.perf_counter()
    masks = sm.sample_coalitions(n, budget - (budget % 2) - 2, d, paired=True, seed=seed)
    sampled = time.perf_counter()
    values = game(masks)
    evaluated = time.perf_counter()
    null, grand = game.endpoints()
    estimator = sm.unbiased_kernelshap if unbiased else sm.kernelshap
    est = estimator(masks, values, null, grand, paired=True)
    return est, (sampled - start) + (time.perf_counter() - evaluated), evaluated - sampled


def _permutation(game: ToyModelGame, budget: int, seed: int) -> tuple[sm.Estimate, float, float]:
    n, d = game.inputs.shape
    n_perm = max(2, 2 * (budget // (2 * (d + 1))))
    start = time.perf_counter()
    perms = sm.sample_permutations(n, n_perm, d, antithetic=True, seed=seed)
    chains = sm.permutation_chain_masks(perms)
    sampled = time.perf_counter()
    values = game(chains.reshape(n, -1, d)).reshape(n, n_perm, d + 1, -1)
    evaluated = time.perf_counter()
    est = sm.permutation_shapley(perms, values, antithetic=True)
    return est, (sampled - start) + (time.perf_counter() - evaluated), evaluated - sampled


def _msr(game: ToyModelGame, budget: int, seed: int) -> tuple[sm.Estimate, float, float]:
    n, d = game.inputs.shape
    start = time.perf_counter()
    masks = sm.sample_coalitions(n, budget, d, distribution="banzhaf", seed=seed)
    sampled = time.perf_counter()
    values = game(masks)
    evaluated = time.perf_counter()
    est = sm.msr_banzhaf(masks, values)
    return est, (sampled - start) + (time.perf_counter() - evaluated), evaluated - sampled


def _score(est: sm.Estimate, exact: NDArray[np.float64]) -> tuple[float, float]:
    """Mean over points and outputs of the squared error summed over players; 95 % coverage."""
    error = float(((est.values - exact) ** 2).sum(axis=1).mean())
    low, high = est.confidence_interval(0.95)
    coverage = float(((low <= exact) & (exact <= high)).mean())
    return error, coverage


def run_demo(n_points: int, n_players: int, budgets: Sequence[int], seed: int) -> list[Row]:
    """Run every estimator at every budget, print the comparison table and return its rows."""
    if not 2 <= n_players <= MAX_DEMO_PLAYERS:
        raise InvalidArgumentError(f"players: must lie in 2..{MAX_DEMO_PLAYERS} (exact values enumerate 2^d), got {n_players}")
    if n_points < 1:
        raise InvalidArgumentError(f"points: must be at least 1, got {n_points}")
    if any(b < 4 for b in budgets):
        raise InvalidArgumentError(f"budgets: every budget must be at least 4, got {list(budgets)}")
    game = ToyModelGame.random(n_points, n_players, seed)
    table = game(np.broadcast_to(sm.enumerate_coalitions(n_players), (n_points, 2**n_players, n_players)))
    exact_shapley = sm.exact_shapley(table).values
    exact_banzhaf = sm.exact_banzhaf(table).values
    methods: list[tuple[str, NDArray[np.float64], Callable[[ToyModelGame, int, int], tuple[sm.Estimate, float, float]]]] = [
        ("KernelSHAP (paired)", exact_shapley, lambda g, b, s: _kernelshap(g, b, s, unbiased=False)),
        ("unbiased KernelSHAP", exact_shapley, lambda g, b, s: _kernelshap(g, b, s, unbiased=True)),
        ("permutation (antithetic)", exact_shapley, _permutation),
        ("MSR Banzhaf", exact_banzhaf, _msr),
    ]
    rows: list[Row] = []
    jobs = [(name, exact, fn, b) for name, exact, fn in methods for b in budgets]
    for name, exact, fn, budget in tqdm(jobs, desc="estimators", unit="run", leave=False):
        try:
            est, outside, _ = fn(game, budget, seed + 1)
        except sm.InsufficientSamplesError:
            continue
        error, coverage = _score(est, exact)
        rows.append(Row(name, budget, error, coverage, outside))
    print(
        f"\nstochamort {sm.__version__}: {n_points} points, {n_players} players, 2 outputs; "
        "exact values by enumerating all coalitions"
    )
    print(f"{'method':<26}{'budget':>8}{'sq. error':>12}{'95% cover':>11}{'time outside game':>20}")
    for row in rows:
        print(
            f"{row.method:<26}{row.budget:>8}{row.error:>12.3e}{row.coverage:>11.1%}"
            f"{row.seconds_outside / n_points * 1e6:>14.1f} µs/pt"
        )
    print("sq. error: squared error summed over players, averaged over points and outputs.")
    return rows
