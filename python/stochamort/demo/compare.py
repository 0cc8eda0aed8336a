"""What the demo tasks share: phase timers, budget matching at equal error, the comparison table
and figures of amortized vs per-example estimators, and writing figures and metrics.

The comparison functions take the metrics dictionary the tasks build: ``"per_example"`` maps each
per-example method to its ladder rows (``evaluations``, ``flops_per_point``, ``squared_error``,
``pearson``, ``sign_agreement``); ``"amortized"`` is a list of records (``method``,
``label_points``, ``evaluations_per_point``, ``flops_per_point``, ``fixed_flops``,
``inference_flops_per_point``, ``amortizer``: the metrics against ground truth, and after
:func:`equal_error` ``equal_error``); ``"ground_truth"`` has ``expected_squared_error``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stochamort._io import atomic_write
from stochamort.amortize import AmortizedExplainer, FastSHAP, evaluate_attributions
from stochamort.errors import MissingDependencyError
from stochamort.oracles import KernelSHAP, LeverageSHAP, OddSHAP, Oracle, Permutation, PolySHAP, RegressionShapley

__all__ = [
    "Timer",
    "budget_matching",
    "PER_EXAMPLE",
    "ground_truth",
    "per_example_ladder",
    "amortized_methods",
    "amortized_record",
    "truth_summary",
    "equal_error",
    "best_per_example",
    "print_comparison",
    "comparison_figures",
    "pyplot",
    "save_figure",
    "write_metrics",
]


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


#: The per-example estimators compared at every budget of the ladder (the README's most accurate
#: per-example estimators, KernelSHAP and permutation sampling).
PER_EXAMPLE: tuple[tuple[str, Callable[[int], Oracle]], ...] = (
    ("KernelSHAP", KernelSHAP),
    ("Permutation", Permutation),
    ("LeverageSHAP", LeverageSHAP),
    ("OddSHAP", OddSHAP),
    ("PolySHAP", PolySHAP),
    ("RegressionShapley", RegressionShapley),
)


def ground_truth(test_game: Any, budget: int, seed: int) -> tuple[Any, float]:
    """Paired KernelSHAP at ``budget`` on the test game: the values and their own expected squared
    error (the variances summed over players, averaged over points and outputs)."""
    estimate = KernelSHAP(budget)(test_game, seed=seed, progress=False)
    return estimate.values, float((estimate.std_errors**2).sum(axis=1).mean())


def per_example_ladder(
    test_game: Any, budgets: tuple[int, ...], truth: Any, per_evaluation: float, *, seed: int, methods: tuple[tuple[str, Callable[[int], Oracle]], ...] = PER_EXAMPLE
) -> dict[str, list[dict[str, float]]]:
    """Every per-example method at every budget on the test game: evaluations, FLOPs and seconds
    per point, and the metrics against ``truth``."""
    ladder: dict[str, list[dict[str, float]]] = {name: [] for name, _ in methods}
    for name, make in methods:
        for budget in budgets:
            started = time.perf_counter()
            est = make(budget)(test_game, seed=seed, progress=False)
            seconds = (time.perf_counter() - started) / test_game.n_points
            evaluations = float(est.n_evaluations.mean())
            ladder[name].append(
                {"budget": budget, "evaluations": evaluations, "flops_per_point": evaluations * per_evaluation, "seconds_per_point": seconds}
                | evaluate_attributions(est.values, truth)
            )
    return ladder


def amortized_methods(
    permutation_budget: int, kernelshap_budget: int, fastshap_samples: int, fastshap_published_points: tuple[int, ...]
) -> list[tuple[str, dict[str, Any], Callable[[int], bool]]]:
    """The amortized methods of a comparison: (name, explainer options, which label-point counts).

    Stochastic amortization with permutation labels and with KernelSHAP labels; FastSHAP at equal
    compute (the permutation labels' game evaluations, drawn once); FastSHAP as published (fresh
    coalitions every epoch), only at ``fastshap_published_points``.
    """
    return [
        (f"SA, Permutation labels @ {permutation_budget}", {"oracle": Permutation(permutation_budget)}, lambda n: True),
        (f"SA, KernelSHAP labels @ {kernelshap_budget}", {"oracle": KernelSHAP(kernelshap_budget)}, lambda n: True),
        (
            f"FastSHAP, equal compute ({permutation_budget - 2} fixed coalitions)",
            {"objective": FastSHAP(permutation_budget - 2, resample=False)},
            lambda n: True,
        ),
        (
            f"FastSHAP, published ({fastshap_samples} fresh coalitions/epoch)",
            {"objective": FastSHAP(fastshap_samples)},
            lambda n: n in fastshap_published_points,
        ),
    ]


def truth_summary(budget: int, truth_error: float, ladder: dict[str, list[dict[str, float]]], amortized: list[dict[str, Any]]) -> dict[str, Any]:
    """The ground truth's entry of the metrics: its own expected squared error next to the best
    method's (per-example or amortized)."""
    best = min(min(r["squared_error"] for r in rows) for rows in ladder.values())
    best = min([best, *(a["amortizer"]["squared_error"] for a in amortized)])
    return {
        "oracle": f"KernelSHAP({budget}, paired)",
        "expected_squared_error": truth_error,
        "best_method_squared_error": best,
        "ratio_to_best": truth_error / best,
    }


def amortized_record(
    method: str,
    explainer: AmortizedExplainer,
    rows: Any,
    x_test: Any,
    test_game: Any,
    truth: Any,
    per_evaluation: float,
    *,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """Fit ``explainer`` on ``rows`` and score it on the test inputs against ``truth``, with its compute.

    The record's ``flops_per_point`` is the labels' (or FastSHAP's) game evaluations times
    ``per_evaluation`` plus the training FLOPs, per label point — the paper's accounting when the
    label points are the explained ones; ``inference_flops_per_point`` is a new point's cost: the
    amortizer's forward pass plus v(∅) and v(all). ``label_noise`` is the label oracle's own error
    on the test inputs (None for FastSHAP).
    """
    started = time.perf_counter()
    explainer.fit(rows, seed=seed, progress=progress)
    fit_seconds = time.perf_counter() - started
    training = explainer.training
    assert training is not None
    n = len(rows)
    if explainer.labels is not None:
        assert explainer.oracle is not None
        evaluations = float(explainer.labels.n_evaluations.sum())
        label_noise = evaluate_attributions(explainer.oracle(test_game, seed=seed + 2, progress=False).values, truth)
    else:
        evaluations, label_noise = float(training.n_evaluations), None
    started = time.perf_counter()
    predicted = explainer.explain(x_test).values
    inference_seconds = (time.perf_counter() - started) / len(x_test)
    fixed = evaluations * per_evaluation + training.train_flops
    return {
        "method": method,
        "label_points": n,
        "evaluations_per_point": evaluations / n,
        "training_flops_per_point": training.train_flops / n,
        "flops_per_point": fixed / n,
        "fixed_flops": fixed,
        "inference_flops_per_point": 2 * per_evaluation + training.flops_per_sample / 3.0,
        "epochs_run": training.epochs_run,
        "fit_seconds": fit_seconds,
        "inference_seconds_per_point": inference_seconds,
        "label_noise": label_noise,
        "amortizer": evaluate_attributions(predicted, truth),
    }


def equal_error(record: dict[str, Any], ladder: dict[str, list[dict[str, float]]], per_evaluation: float) -> dict[str, dict[str, Any]]:
    """Per per-example method: the budget reaching the amortizer's error, the compute ratio when the
    label points are the explained ones, the break-even number of new points, and the
    inference-cost ratio on new points.

    For ``N`` new points the amortized route costs ``F + N c_amortized`` against
    ``N c_per_example`` at equal error, so the break-even is ``F / (c_per_example − c_amortized)``
    with ``F`` = ``record["fixed_flops"]`` (labels plus training).
    """
    out = {}
    error = record["amortizer"]["squared_error"]
    for name, rows in ladder.items():
        matched, extrapolated = budget_matching(error, [r["evaluations"] for r in rows], [r["squared_error"] for r in rows])
        per_example = matched * per_evaluation
        margin = per_example - record["inference_flops_per_point"]
        out[name] = {
            "matching_evaluations": matched,
            "extrapolated": extrapolated,
            "compute_ratio": per_example / record["flops_per_point"],
            "break_even_points": record["fixed_flops"] / margin if margin > 0 else float("inf"),
            "inference_ratio": per_example / record["inference_flops_per_point"],
        }
    return out


def best_per_example(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The per-example method cheapest at the amortizer's error, and its :func:`equal_error` entry."""
    name, comparison = min(record["equal_error"].items(), key=lambda item: item[1]["matching_evaluations"])
    return str(name), dict(comparison)


def print_comparison(m: dict[str, Any], *, width: int = 58) -> None:
    """Print the table (method × FLOPs → error, Pearson, sign agreement) and the equal-error lines."""
    print(f"{'method':<{width}}{'pts':>6}{'evals/pt':>9}{'FLOPs/pt':>10}{'sq. error':>10}{'pearson':>8}{'sign':>7}")
    for name, rows in m["per_example"].items():
        for r in rows:
            print(
                f"{name + ' (per example)':<{width}}{'':>6}{r['evaluations']:>9.0f}{r['flops_per_point']:>10.2e}"
                f"{r['squared_error']:>10.2e}{r['pearson']:>8.3f}{r['sign_agreement']:>7.3f}"
            )
    for a in m["amortized"]:
        r = a["amortizer"]
        print(
            f"{a['method']:<{width}}{a['label_points']:>6}{a['evaluations_per_point']:>9.0f}{a['flops_per_point']:>10.2e}"
            f"{r['squared_error']:>10.2e}{r['pearson']:>8.3f}{r['sign_agreement']:>7.3f}"
        )
    print("\nat the amortizer's error (compute ratio: per-example FLOPs / amortized FLOPs per labelled point;")
    print("break-even: new points to explain before labels + training pay off; inference: per-example / amortized per new point)")
    for a in m["amortized"]:
        name, best = best_per_example(a)
        kernel = a["equal_error"]["KernelSHAP"]
        note = " (extrapolated)" if best["extrapolated"] or kernel["extrapolated"] else ""
        print(
            f"  {a['method']} on {a['label_points']} pts: = {name} at {best['matching_evaluations']:.0f} evals{note}; "
            f"vs KernelSHAP {kernel['compute_ratio']:.2f}x, vs {name} {best['compute_ratio']:.2f}x; "
            f"break-even {best['break_even_points']:.3g} points; inference {best['inference_ratio']:.0f}x cheaper"
        )


def comparison_figures(m: dict[str, Any], output: Path, *, title: str, flops_per_evaluation: float) -> None:
    """Write ``error_vs_compute.png`` (the paper's Figure 3: error against FLOPs per explained point)
    and ``break_even.png`` (total FLOPs against new points explained, at equal error)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, rows in m["per_example"].items():
        ax.plot([r["flops_per_point"] for r in rows], [r["squared_error"] for r in rows], "o-", label=f"{name} (per example)")
    for method in dict.fromkeys(a["method"] for a in m["amortized"]):
        runs = [a for a in m["amortized"] if a["method"] == method]
        ax.plot([a["flops_per_point"] for a in runs], [a["amortizer"]["squared_error"] for a in runs], "*--", markersize=12, label=f"{method} ({_point_range(runs)} label points)")
    ax.axhline(m["ground_truth"]["expected_squared_error"], color="grey", linestyle=":", label="ground truth's own error")
    ax.set(xscale="log", yscale="log", xlabel="FLOPs per explained point", ylabel="squared error vs ground truth", title=title)
    save_figure(fig, ax, output / "error_vs_compute.png", legend_size=6)

    fig, ax = plt.subplots(figsize=(7, 5))
    counts = np.logspace(1, 7, 61)
    for a in m["amortized"]:
        if a is not max((r for r in m["amortized"] if r["method"] == a["method"]), key=lambda r: r["label_points"]):
            continue
        name, best = best_per_example(a)
        line = ax.plot(counts, a["fixed_flops"] + counts * a["inference_flops_per_point"], "-", label=f"{a['method']} ({a['label_points']} label pts)")
        ax.plot(counts, counts * best["matching_evaluations"] * flops_per_evaluation, "--", color=line[0].get_color(), label=f"per-example {name} at its error")
    ax.set(xscale="log", yscale="log", xlabel="new points explained", ylabel="total FLOPs", title="When amortization pays: total cost at equal error")
    save_figure(fig, ax, output / "break_even.png", legend_size=6)


def _point_range(runs: list[dict[str, Any]]) -> str:
    first, last = runs[0]["label_points"], runs[-1]["label_points"]
    return str(first) if first == last else f"{first}…{last}"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend.

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MissingDependencyError("matplotlib: the demo draws its figures with matplotlib; pip install matplotlib") from err
    return plt


def save_figure(fig: Any, ax: Any, path: Path, *, legend_size: float = 8) -> None:
    """Grid, legend and layout, then write the PNG atomically and close the figure."""
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    pyplot().close(fig)


def write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    """Write the metrics as indented JSON, atomically (numpy scalars become floats)."""
    atomic_write(path, lambda f: f.write(json.dumps(metrics, indent=2, default=float).encode()))
