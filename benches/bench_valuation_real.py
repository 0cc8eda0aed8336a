"""Data valuation on real tables with flipped labels: Monte Carlo, amortized, and the cheap baselines.

What is measured
----------------
scikit-learn's breast cancer (569 rows, 30 features, 2 classes) and wine (178 rows, 13 features,
3 classes), standardised, split 65/35 into training and validation rows; 15 % of the training
labels are flipped to another class. The utility is the validation accuracy of logistic regression
(:class:`~stochamort.valuation.TorchLogisticUtility`). For each dataset and seed, every method
values the training points and the table gives how well low values find the flipped labels
(AUROC, AUPRC; mean and spread over seeds) and what it cost (model fits, seconds):

* TMC-Shapley at 10, 100 and 500 permutations; distributional Data Shapley at 5 and 50
  contributions per point;
* the value network (:func:`~stochamort.valuation.amortize_data_values`) trained on TMC @ 10 and
  on distributional @ 5: the fits are those of its labels, plus the network's training;
* the baselines of :mod:`stochamort.valuation.baselines`: leave-one-out (accuracy and
  log-likelihood utilities), exact KNN-Shapley (K = 5), Data-OOB (800 trees) and the
  out-of-fold probability of the given label (5 folds, logistic regression).

Results go to ``bench-results/bench_valuation_real.json`` (``--output`` to change it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "bench-results" / "bench_valuation_real.json"


@dataclass
class Split:
    """A standardised train/validation split with some training labels flipped."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    flipped: np.ndarray


def load(name: str, seed: int, flip: float) -> Split:
    from sklearn import datasets  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    x, y = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}[name](return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, train_size=0.65, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    rng = np.random.default_rng(seed)
    n_classes = int(y.max()) + 1
    flipped = rng.permutation(y_train.size) < round(flip * y_train.size)
    shift = rng.integers(1, n_classes, size=y_train.size)
    noisy = np.where(flipped, (y_train + shift) % n_classes, y_train)
    return Split(scaler.transform(x_train), noisy, scaler.transform(x_valid), y_valid, flipped)


def methods(split: Split, seed: int, quick: bool) -> dict[str, Callable[[], tuple[np.ndarray, int]]]:
    """Each method as a thunk returning (values, model fits)."""
    from stochamort.valuation import (
        VALUE_NETWORK_CONFIG,
        DistributionalShapley,
        TMCShapley,
        TorchLogisticUtility,
        amortize_data_values,
        data_oob,
        knn_shapley,
        leave_one_out,
        out_of_fold_probability,
    )

    data = (split.x_train, split.y_train, split.x_valid, split.y_valid)

    def utility(metric: str = "accuracy") -> Any:
        return TorchLogisticUtility(*data, metric=metric)

    def tmc(n: int) -> Callable[[], tuple[np.ndarray, int]]:
        return lambda: _values(TMCShapley(n_permutations=n)(utility(), seed=seed, progress=False))

    def distributional(n: int) -> Callable[[], tuple[np.ndarray, int]]:
        return lambda: _values(DistributionalShapley(n_contributions=n)(utility(), seed=seed, progress=False))

    def amortized(oracle: Any) -> Callable[[], tuple[np.ndarray, int]]:
        def run() -> tuple[np.ndarray, int]:
            labels = oracle(utility(), seed=seed, progress=False)
            network = amortize_data_values(split.x_train, split.y_train, labels, config=VALUE_NETWORK_CONFIG.replace(seed=seed, progress=False))
            return network.predict(split.x_train, split.y_train), labels.total_evaluations

        return run

    small, medium, large = (5, 10, 20) if quick else (10, 100, 500)
    few, many = (3, 10) if quick else (5, 50)
    trees = 100 if quick else 800
    return {
        f"TMC @ {small}": tmc(small),
        f"TMC @ {medium}": tmc(medium),
        f"TMC @ {large}": tmc(large),
        f"distributional @ {few}": distributional(few),
        f"distributional @ {many}": distributional(many),
        f"amortized on TMC @ {small}": amortized(TMCShapley(n_permutations=small)),
        f"amortized on distributional @ {few}": amortized(DistributionalShapley(n_contributions=few)),
        "leave-one-out (accuracy)": lambda: _values(leave_one_out(utility(), progress=False)),
        "leave-one-out (log-likelihood)": lambda: _values(leave_one_out(utility("log_likelihood"), progress=False)),
        "KNN-Shapley (K = 5)": lambda: _values(knn_shapley(*data, n_neighbors=5)),
        f"Data-OOB ({trees} trees)": lambda: _values(data_oob(split.x_train, split.y_train, n_estimators=trees, seed=seed, progress=False)),
        "out-of-fold probability": lambda: _values(out_of_fold_probability(split.x_train, split.y_train, seed=seed, progress=False)),
    }


def _values(result: Any) -> tuple[np.ndarray, int]:
    return result.values, int(result.total_evaluations)


def run(datasets: list[str], seeds: list[int], flip: float, quick: bool) -> dict[str, Any]:
    from stochamort.valuation import detection_auprc, detection_auroc

    report: dict[str, Any] = {"flip": flip, "seeds": seeds, "datasets": {}}
    for name in datasets:
        rows: dict[str, dict[str, list[float]]] = {}
        for seed in seeds:
            split = load(name, seed, flip)
            for method, thunk in methods(split, seed, quick).items():
                start = time.perf_counter()
                values, fits = thunk()
                seconds = time.perf_counter() - start
                print(f"  {name}, seed {seed}: {method}: {seconds:.1f} s", file=sys.stderr, flush=True)
                row = rows.setdefault(method, {"auroc": [], "auprc": [], "fits": [], "seconds": []})
                row["auroc"].append(detection_auroc(values, split.flipped))
                row["auprc"].append(detection_auprc(values, split.flipped))
                row["fits"].append(fits)
                row["seconds"].append(seconds)
        report["datasets"][name] = {"n_train": int(split.x_train.shape[0]), "n_flipped": int(split.flipped.sum()), "methods": rows}
    return report


def print_report(report: dict[str, Any]) -> None:
    for name, block in report["datasets"].items():
        print(f"\n{name}: {block['n_train']} training rows, {block['n_flipped']} labels flipped; "
              f"mislabel detection over seeds {', '.join(map(str, report['seeds']))} (mean ± sd)")
        print(f"{'method':<36}{'AUROC':>15}{'AUPRC':>15}{'fits':>10}{'seconds':>9}")
        for method, row in block["methods"].items():
            print(f"{method:<36}{np.mean(row['auroc']):>9.3f} ± {np.std(row['auroc']):.3f}"
                  f"{np.mean(row['auprc']):>9.3f} ± {np.std(row['auprc']):.3f}"
                  f"{np.mean(row['fits']):>10.0f}{np.mean(row['seconds']):>9.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["breast_cancer", "wine"], choices=["breast_cancer", "wine"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--flip", type=float, default=0.15, help="share of training labels flipped")
    parser.add_argument("--quick", action="store_true", help="small budgets, for the test suite")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    report = run(args.datasets, args.seeds, args.flip, args.quick)
    print_report(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
