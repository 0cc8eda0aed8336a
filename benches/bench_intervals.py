"""Coverage of 95 % confidence intervals: moderated (the default), Student's t and normal.

Unbiased oracles at few replicates per point, against exact Shapley values, on (1) 8-player tanh
games with strong interactions (the tests' game, tests/oracles/test_intervals.py) and (2)
scikit-learn models of breast cancer's first 8 features (logistic regression, gradient-boosted
trees), explained over a background of 20 training rows; then (3) 64-player quadratic games (known
Shapley values) where most size strata of a small KernelSHAP design hold one unit. Each cell is
the share of intervals that hold the truth, over points × players × outputs × seeds. Run:
``python benches/bench_intervals.py`` (about 25 seconds on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "oracles"))

from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from stochamort import AmortizedExplainer  # noqa: E402
from stochamort.games import Game  # noqa: E402
from stochamort.oracles import Exact, MSRBanzhaf, Oracle, Permutation, RegressionShapley, UnbiasedKernelSHAP  # noqa: E402
from test_intervals import interaction_game, quadratic_game  # noqa: E402

KINDS = ("moderated", "t", "normal")


def sklearn_game(model: object) -> Game:
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :8]
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:350], order[350:550]
    model.fit(x[train], y[train])  # type: ignore[attr-defined]
    return AmortizedExplainer(model, x[train][:20]).game(x[test])


def coverage(oracle: Oracle, game: Game, truth: np.ndarray, seeds: int) -> list[float]:
    hits: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for seed in range(seeds):
        est = oracle(game, seed=seed, progress=False)
        for kind in KINDS:
            lower, upper = est.confidence_interval(0.95, kind)
            hits[kind].append(float(((lower <= truth) & (truth <= upper)).mean()))
    return [float(np.mean(hits[kind])) for kind in KINDS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell (default 3)")
    args = parser.parse_args()
    d = 8
    games = {
        "tanh game": interaction_game(),
        "tanh game, point scales e^±1.5": interaction_game(point_spread=1.5),
        "breast cancer, logistic regression": sklearn_game(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
        "breast cancer, gradient-boosted trees": sklearn_game(GradientBoostingClassifier(n_estimators=50, random_state=0)),
    }
    oracles: list[tuple[str, Oracle]] = [
        ("Permutation, 2 pairs", Permutation(budget=2 + 2 * 2 * (d - 1))),
        ("Permutation, 4 pairs", Permutation(budget=2 + 4 * 2 * (d - 1))),
        ("Permutation, 16 pairs", Permutation(budget=2 + 16 * 2 * (d - 1))),
        ("UnbiasedKernelSHAP(34)", UnbiasedKernelSHAP(budget=34)),
        ("UnbiasedKernelSHAP(128)", UnbiasedKernelSHAP(budget=128)),
        ("RegressionShapley(64)", RegressionShapley(budget=64)),
        ("MSRBanzhaf(64)", MSRBanzhaf(budget=64)),
    ]
    print(f"coverage of 95 % intervals ({args.seeds} seeds): moderated / t / normal")
    print(f"| game | oracle | {' | '.join(KINDS)} |\n|---|---|---:|---:|---:|")
    for game_name, game in games.items():
        truths = {target: Exact(kind=target)(game, progress=False).values for target in ("shapley", "banzhaf")}
        for oracle_name, oracle in oracles:
            truth = truths["banzhaf" if oracle.target == "banzhaf" else "shapley"]
            row = coverage(oracle, game, truth, args.seeds)
            print(f"| {game_name} | {oracle_name} | " + " | ".join(f"{c:.3f}" for c in row) + " |", flush=True)
    wide, wide_truth = quadratic_game(100, 64)
    for budget in (32, 130, 512):
        for sampling in ("design", "iid"):
            row = coverage(UnbiasedKernelSHAP(budget=budget, sampling=sampling), wide, wide_truth, args.seeds)
            print(f"| quadratic, 64 players | UnbiasedKernelSHAP({budget}, {sampling}) | " + " | ".join(f"{c:.3f}" for c in row) + " |", flush=True)


if __name__ == "__main__":
    main()
