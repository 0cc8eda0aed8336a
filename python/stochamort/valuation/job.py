"""``stochamort value``: amortized data valuation end to end, against ground truth.

On generated tabular data with 20 % of the training labels flipped, the job

1. builds the utility U(S) = validation accuracy of a logistic regression trained on S
   (:class:`~stochamort.valuation.TorchLogisticUtility`: thousands of fits per batch);
2. draws ``max(ladder)`` noisy distributional Data Shapley contributions for every training point
   (the plain Monte Carlo estimates at every rung of the ladder are prefixes of these);
3. trains a value network (x, y) ↦ value on the estimates at ``label_contributions`` per point;
4. computes ground truth with ``truth_contributions`` contributions per point on a subset of the
   training points and on external points that are not in the training set;
5. prints a table (Pearson, Spearman, normalized error vs ground truth; AUROC/AUPRC for finding the
   flipped labels) and writes ``value_vs_contributions.png`` and ``metrics.json`` into ``output``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray

import stochamort
from stochamort._io import atomic_write
from stochamort.errors import InvalidArgumentError, MissingDependencyError
from stochamort.estimators import contribution_values
from stochamort.valuation.amortize import VALUE_NETWORK_CONFIG, amortize_data_values
from stochamort.valuation.metrics import detection_metrics, value_metrics
from stochamort.valuation.oracles import DistributionalShapley
from stochamort.valuation.utility import TorchLogisticUtility

__all__ = ["ValuationConfig", "run_valuation", "make_valuation_data"]


@dataclass
class ValuationConfig:
    """Sizes of the ``stochamort value`` run (the defaults take a few minutes on 2 CPU cores)."""

    n_features: int = 10
    n_train: int = 4000
    n_valid: int = 500
    n_external: int = 100
    n_truth: int = 200
    flip_fraction: float = 0.2
    min_size: int = 10
    max_size: int = 100
    metric: Literal["accuracy", "log_likelihood"] = "accuracy"
    label_contributions: int = 5
    ladder: tuple[int, ...] = (5, 10, 25, 50)
    truth_contributions: int = 1000
    amortizer_hidden: tuple[int, ...] = (128, 128, 128)
    pretrain_epochs: int = 20
    amortizer_epochs: int = 50
    seed: int = 0
    device: str = "cpu"
    output: str = "value-results"

    @classmethod
    def quick(cls, **overrides: Any) -> ValuationConfig:
        """A reduced run for smoke tests (well under a minute)."""
        base = cls(n_train=300, n_valid=200, n_external=30, n_truth=40, ladder=(5, 10), truth_contributions=100,
                   amortizer_hidden=(32, 32), pretrain_epochs=5, amortizer_epochs=10)
        for name, value in overrides.items():
            setattr(base, name, value)
        return base

    def check(self) -> None:
        """Refuse inconsistent settings, naming the field."""
        for name in ("n_features", "n_train", "n_valid", "n_truth", "label_contributions", "truth_contributions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name}: must be a positive integer, got {value!r}")
        if self.n_train < 20:
            raise InvalidArgumentError(f"n_train: needs at least 20 points to train and validate the value network, got {self.n_train}")
        if self.n_truth > self.n_train:
            raise InvalidArgumentError(f"n_truth: at most n_train = {self.n_train}, got {self.n_truth}")
        if not 0.0 < self.flip_fraction < 1.0:
            raise InvalidArgumentError(f"flip_fraction: must lie in (0, 1), got {self.flip_fraction!r}")
        if not self.ladder or any(k < 2 for k in self.ladder):
            raise InvalidArgumentError(f"ladder: needs contributions per point >= 2 (for standard errors), got {self.ladder!r}")
        if self.label_contributions not in self.ladder:
            raise InvalidArgumentError(f"label_contributions: must be a rung of the ladder {self.ladder}, got {self.label_contributions}")


def make_valuation_data(n: int, d: int, seed: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Correlated Gaussian features; two classes from a logistic teacher (Bayes accuracy ~90 %)."""
    rng = np.random.default_rng(seed)
    mixing = np.eye(d) * 0.8 + 0.2 * rng.normal(size=(d, d)) / math.sqrt(d)
    teacher = rng.normal(size=d)
    teacher *= 3.0 / np.linalg.norm(teacher @ mixing.T)
    x = rng.normal(size=(n, d)) @ mixing
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-x @ teacher))).astype(np.int64)
    return x.astype(np.float32), y


def _flip(y: NDArray[np.int64], fraction: float, seed: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    rng = np.random.default_rng(seed)
    flipped = np.zeros(y.size, dtype=np.bool_)
    flipped[rng.choice(y.size, size=int(round(fraction * y.size)), replace=False)] = True
    return np.where(flipped, 1 - y, y), flipped


def run_valuation(config: ValuationConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the job, print the table, write the PNG and JSON; return the metrics."""
    config.check()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - matplotlib is a declared extra
        raise MissingDependencyError("matplotlib: `stochamort value` draws its figure with it; pip install matplotlib") from err
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        seconds[name] = now - since
        return now

    d, n = config.n_features, config.n_train
    x_all, y_all = make_valuation_data(n + config.n_valid + config.n_external, d, config.seed)
    x_train, x_valid, x_ext = np.split(x_all, [n, n + config.n_valid])
    y_train, flipped = _flip(y_all[:n], config.flip_fraction, config.seed + 1)
    y_valid = y_all[n : n + config.n_valid]
    y_ext, _ = _flip(y_all[n + config.n_valid :], config.flip_fraction, config.seed + 2)
    # float32 fits: accuracy and the values are insensitive to the last digits, and it is twice as fast.
    utility = TorchLogisticUtility(
        x_train, y_train, x_valid, y_valid, metric=config.metric, device=config.device, dtype=torch.float32
    )
    oracle = DistributionalShapley(max(config.ladder), min_size=config.min_size, max_size=config.max_size)
    t = time.perf_counter()

    # Plain Monte Carlo at every rung: the first k of the same per-point contribution streams.
    draws = oracle(utility, seed=config.seed, progress=progress)
    contributions = draws.extras["contributions"]
    monte_carlo = {k: contribution_values(contributions[:, :k]) for k in config.ladder}
    t = phase("monte_carlo", t)

    labels = monte_carlo[config.label_contributions]
    training = VALUE_NETWORK_CONFIG.replace(epochs=config.amortizer_epochs, seed=config.seed, device=config.device, progress=progress)
    amortizer = amortize_data_values(
        x_train, y_train, labels, n_classes=2, hidden=config.amortizer_hidden, pretrain_epochs=config.pretrain_epochs,
        config=training,
    )
    t = phase("amortizer_training", t)
    start = time.perf_counter()
    amortized_train = amortizer.predict(x_train, y_train)
    amortized_ext = amortizer.predict(x_ext, y_ext)
    inference = (time.perf_counter() - start) / (n + config.n_external)
    t = phase("amortizer_inference", t)

    truth_points = np.arange(config.n_truth)  # the points are i.i.d., so the first ones are a random subset
    truth_oracle = DistributionalShapley(config.truth_contributions, min_size=config.min_size, max_size=config.max_size)
    truth_seed = config.seed + 1_000_003
    truth_train = truth_oracle.value_training_points(utility, truth_points, seed=truth_seed, progress=progress)
    truth_ext = truth_oracle.value_points(utility, x_ext, y_ext, seed=truth_seed, progress=progress) if config.n_external else None
    external_mc = oracle.value_points(utility, x_ext, y_ext, seed=config.seed, progress=progress) if config.n_external else None
    t = phase("ground_truth", t)

    def row(name: str, k: int, train_values: NDArray[np.float64], ext_values: NDArray[np.float64] | None) -> dict[str, Any]:
        record: dict[str, Any] = {"method": name, "contributions_per_point": k, "fits_per_point": 2 * k}
        record["training_points"] = value_metrics(train_values[truth_points], truth_train.values)
        record["external_points"] = value_metrics(ext_values, truth_ext.values) if ext_values is not None and truth_ext is not None else None
        record["mislabel_detection"] = detection_metrics(train_values, flipped)
        return record

    rows = []
    for k in config.ladder:
        ext = None if external_mc is None else contribution_values(external_mc.extras["contributions"][:, :k]).values
        rows.append(row("monte carlo", k, monte_carlo[k].values, ext))
    rows.append(row("amortized", config.label_contributions, amortized_train, amortized_ext if config.n_external else None))
    matching = _matching_contributions(rows)
    seconds["total"] = time.perf_counter() - started

    metrics: dict[str, Any] = {
        "stochamort_version": stochamort.__version__,
        "config": asdict(config),
        "utility": {
            "model": "logistic regression (C=1)",
            "metric": config.metric,
            "full_data_score": float(utility.evaluate(np.ones((1, n), dtype=np.bool_))[0]),
            "fits": utility.n_evaluations,
        },
        "oracle": oracle.settings(),
        "ground_truth": {
            "contributions_per_point": config.truth_contributions,
            "training_points": int(config.n_truth),
            "external_points": int(config.n_external),
            "mean_std_error": float(truth_train.std_errors.mean()),
            "truth_std": float(truth_train.values.std()),
        },
        "rows": rows,
        "monte_carlo_matching_amortized": matching,
        "amortizer": {
            "train_flops": amortizer.train_flops,
            "best_epoch": amortizer.training.best_epoch,
            "inference_us_per_point": inference * 1e6,
        },
        "seconds": seconds,
    }
    _print_table(metrics)
    _figure(metrics, output, plt)
    atomic_write(output / "metrics.json", lambda f: f.write(json.dumps(metrics, indent=2, default=_jsonable).encode()))
    print(f"wrote {output / 'value_vs_contributions.png'} and {output / 'metrics.json'}")
    return metrics


def _matching_contributions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Contributions per point plain Monte Carlo needs to reach the amortizer's normalized error.

    Monte Carlo's error falls like 1/k (its variance); the fit is log-linear in log k through the
    ladder's rungs and is extrapolated beyond the last one (flagged).
    """
    mc = [r for r in rows if r["method"] == "monte carlo"]
    amortized = next(r for r in rows if r["method"] == "amortized")
    k = np.log([r["contributions_per_point"] for r in mc])
    err = np.log([r["training_points"]["normalized_error"] for r in mc])
    target = math.log(amortized["training_points"]["normalized_error"])
    slope, intercept = np.polyfit(k, err, 1) if len(mc) > 1 else (-1.0, err[0] + k[0])
    needed = float(np.exp((target - intercept) / slope))
    return {
        "contributions_per_point": needed,
        "fits_ratio": needed / amortized["contributions_per_point"],
        "extrapolated": bool(needed > np.exp(k.max()) or needed < np.exp(k.min())),
        "log_log_slope": float(slope),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _print_table(m: dict[str, Any]) -> None:
    c, gt = m["config"], m["ground_truth"]
    print(
        f"\nstochamort {m['stochamort_version']} value: {c['n_train']} training points ({c['flip_fraction']:.0%} labels flipped), "
        f"{c['n_features']} features; utility = validation {c['metric']} of logistic regression (full data: "
        f"{m['utility']['full_data_score']:.3f})"
    )
    print(
        f"distributional Data Shapley, |D| ~ U{{{c['min_size']}..{c['max_size']}}}; ground truth: {gt['contributions_per_point']} "
        f"contributions on {gt['training_points']} training + {gt['external_points']} external points "
        f"(mean std. error {gt['mean_std_error']:.2e}, spread of values {gt['truth_std']:.2e})"
    )
    print(f"{'method':<24}{'fits/pt':>8}{'pearson':>9}{'spearman':>9}{'norm.err':>9}{'ext.pearson':>12}{'AUROC':>7}{'AUPRC':>7}")
    for r in m["rows"]:
        t, e, det = r["training_points"], r["external_points"], r["mislabel_detection"]
        ext = f"{e['pearson']:>12.3f}" if e else f"{'-':>12}"
        name = f"{r['method']} @ {r['contributions_per_point']}"
        print(f"{name:<24}{r['fits_per_point']:>8}{t['pearson']:>9.3f}{t['spearman']:>9.3f}{t['normalized_error']:>9.3f}{ext}{det['auroc']:>7.3f}{det['auprc']:>7.3f}")
    match = m["monte_carlo_matching_amortized"]
    beyond = " (extrapolated beyond the ladder)" if match["extrapolated"] else ""
    print(
        f"plain Monte Carlo reaches the amortizer's error at ~{match['contributions_per_point']:.0f} contributions per point"
        f"{beyond}: {match['fits_ratio']:.1f}x the fits"
    )
    print(f"amortizer inference: {m['amortizer']['inference_us_per_point']:.1f} µs per point (no fits); total {m['seconds']['total']:.0f} s")


def _figure(m: dict[str, Any], output: Path, plt: Any) -> None:
    mc = [r for r in m["rows"] if r["method"] == "monte carlo"]
    amortized = [r for r in m["rows"] if r["method"] == "amortized"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "pearson", "Pearson with ground truth"), (axes[1], "auroc", "mislabel detection AUROC")):
        def get(r: dict[str, Any]) -> float:
            return float(r["mislabel_detection"]["auroc"] if key == "auroc" else r["training_points"]["pearson"])

        ax.plot([r["contributions_per_point"] for r in mc], [get(r) for r in mc], "o-", label="Monte Carlo")
        for r in amortized:
            ax.plot(r["contributions_per_point"], get(r), "*", markersize=14, label=f"amortized @ {r['contributions_per_point']}")
        ax.set(xscale="log", xlabel="contributions per training point", ylabel=label)
        ticks = sorted({r["contributions_per_point"] for r in m["rows"]})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Distributional Data Shapley: amortized vs plain Monte Carlo")
    fig.tight_layout()
    atomic_write(output / "value_vs_contributions.png", lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
