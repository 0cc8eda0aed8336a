"""``stochamort demo --task tabular``: where amortization pays on a real table, and where it does not yet.

On scikit-learn's bundled breast-cancer data (569 rows, 30 features, no download) the demo

1. fits a scikit-learn model — a :class:`~sklearn.pipeline.Pipeline` of a scaler and an
   :class:`~sklearn.neural_network.MLPClassifier` — on 469 rows (100 held out), and explains its
   ``predict_proba`` through :class:`~stochamort.amortize.AmortizedExplainer` with the
   interventional value function over ``n_background`` background rows (each coalition costs that
   many model rows);
2. computes ground truth for the held-out rows: paired KernelSHAP at ``truth_budget`` evaluations
   (≥ 100× the label budgets), with its own standard error, reported next to the best method's
   error;
3. runs per-example KernelSHAP, permutation sampling, Leverage SHAP, OddSHAP, PolySHAP and
   RegressionShapley at a ladder of budgets (128 … 1024) on the held-out rows;
4. fits the explainer by stochastic amortization with cheap permutation labels (2d evaluations)
   and with KernelSHAP labels, and by FastSHAP at equal training compute (the same points,
   network, settings and game evaluations: ``FastSHAP(n_samples=2d − 2, resample=False)``) and as
   published (32 fresh coalitions per point and epoch), on the 469 real rows and on more label
   points: real rows plus *within-class mixtures* of two real rows of the same predicted class
   (x = λ x_a + (1 − λ) x_b, λ ~ U(0, 1); unlabelled inputs, so the ground-truth labels are never
   used) — the paper's remedy for small training sets;
5. prints the table (method × FLOPs → error, Pearson, sign agreement), the compute ratio at equal
   error and the **break-even number of explained points**, and writes ``error_vs_compute.png``,
   ``break_even.png`` and ``metrics.json``.

Compute is counted in FLOPs: an evaluation costs ``n_background`` forward passes of the MLP (2 per
weight plus the biases, the scaler's 2 per feature); the amortized cost per point is the label (or
FastSHAP) evaluations plus the training FLOPs divided by the label points — the paper's accounting
when the labelled points are the ones explained. Explaining *new* points then costs the
amortizer's forward pass plus v(∅) and v(all) (2 evaluations) each, so for ``N`` new points the
amortized route costs ``F + N c_amortized`` against ``N c_per_example`` at equal error: the
break-even is ``N* = F / (c_per_example − c_amortized)``, with ``F`` the labels plus training.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

import stochamort
from stochamort._io import atomic_write
from stochamort.amortize import AmortizedExplainer, FastSHAP, default_train_config, evaluate_attributions
from stochamort.demo.compare import Timer, budget_matching
from stochamort.errors import InvalidArgumentError, MissingDependencyError
from stochamort.games import MarginalMasker
from stochamort.oracles import KernelSHAP, LeverageSHAP, OddSHAP, Oracle, Permutation, PolySHAP, RegressionShapley

__all__ = ["TabularConfig", "run_tabular", "PER_EXAMPLE", "mlp_flops", "class_mixtures"]

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


@dataclass
class TabularConfig:
    """Sizes of the tabular run (the defaults take about 8 minutes on 2 CPU cores).

    The ladder stops at 1024 evaluations so that the ground truth's own expected error stays
    below 10 % of the best method's (15 % against 2048, measured).

    ``label_points``: the numbers of label points of the amortized runs; the first ones are the
    real training rows (469), the rest real rows plus :func:`class_mixtures`. ``permutation_budget``
    None means 2d (one antithetic pair of orders); ``kernelshap_budget`` is the smallest
    power of two at which every held-out row's KernelSHAP system was nonsingular (≈ 4d).
    ``fastshap_published_points``: label-point counts at which FastSHAP also runs as published
    (fresh coalitions every epoch; its evaluations grow with the epochs). ``train_epochs`` None
    trains with the explainer's default settings (:func:`~stochamort.amortize.default_train_config`),
    a number with those settings for that many epochs.
    """

    n_test: int = 100
    hidden: tuple[int, ...] = (64, 64)
    n_background: int = 16
    truth_budget: int = 16384
    ladder: tuple[int, ...] = (128, 256, 512, 1024)
    label_points: tuple[int, ...] = (469, 2000, 8000, 32000)
    permutation_budget: int | None = None
    kernelshap_budget: int = 128
    fastshap_published_points: tuple[int, ...] = (469,)
    fastshap_samples: int = 32
    train_epochs: int | None = None
    seed: int = 0
    output: str = "tabular-results"
    progress_bars: bool = field(default=False, repr=False)

    @classmethod
    def quick(cls, **overrides: Any) -> TabularConfig:
        """A reduced run for smoke tests (well under a minute)."""
        base = cls(n_test=8, truth_budget=2048, ladder=(128, 512), label_points=(469,), fastshap_published_points=(469,), fastshap_samples=4, train_epochs=15)
        return replace(base, **overrides)


#: Rows held out of the model's and the explainers' training (the test rows are the first of them),
#: so the training rows are the same 469 whatever ``n_test``.
HELD_OUT = 100


def load_breast_cancer_split(n_test: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """scikit-learn's breast-cancer rows, shuffled (seeded): ``(x_train, y_train, x_test, y_test)``
    with :data:`HELD_OUT` rows held out, the first ``n_test`` of them the test rows."""
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]

    if not 1 <= n_test <= HELD_OUT:
        raise InvalidArgumentError(f"n_test: must lie in 1..{HELD_OUT}, got {n_test}")
    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return x[HELD_OUT:], y[HELD_OUT:], x[:n_test], y[:n_test]


def train_model(x: NDArray[np.float64], y: NDArray[np.int64], hidden: tuple[int, ...], seed: int) -> Any:
    """The model to explain: a scaler and an MLP classifier, both scikit-learn."""
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    return make_pipeline(StandardScaler(), MLPClassifier(hidden, max_iter=1000, random_state=seed)).fit(x, y)


def mlp_flops(pipeline: Any) -> float:
    """Forward FLOPs of one row through a scaler + MLPClassifier pipeline: 2 per weight plus the
    biases, and 2 per feature for the scaler (activations are not counted, as for torch MLPs)."""
    mlp = pipeline[-1]
    weights = sum(2.0 * w.size + b.size for w, b in zip(mlp.coefs_, mlp.intercepts_))
    return float(weights + 2.0 * mlp.coefs_[0].shape[0])


def class_mixtures(x: NDArray[np.float64], groups: NDArray[np.int64], n: int, seed: int) -> NDArray[np.float64]:
    """``n`` rows λ x_a + (1 − λ) x_b of two random rows a, b of the same group (λ ~ U(0, 1)).

    Extra unlabelled inputs for an amortizer trained on a small table: the group is the model's
    predicted class, so the mixtures stay between rows the model treats alike.
    """
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(x), n)
    second = np.empty(n, dtype=np.int64)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        where = groups[first] == group
        second[where] = members[rng.integers(0, len(members), int(where.sum()))]
    weight = rng.random((n, 1))
    mixed: NDArray[np.float64] = weight * x[first] + (1.0 - weight) * x[second]
    return mixed


def _extended_rows(x: NDArray[np.float64], model: Any, n: int, seed: int) -> NDArray[np.float64]:
    if n <= len(x):
        return x[:n]
    return np.concatenate([x, class_mixtures(x, model.predict(x), n - len(x), seed)])


def run_tabular(config: TabularConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the tabular comparison, print the table, write the PNGs and JSON; return the metrics."""
    for name in ("n_test", "n_background", "truth_budget", "kernelshap_budget", "fastshap_samples"):
        if getattr(config, name) < 1:
            raise InvalidArgumentError(f"{name}: must be positive, got {getattr(config, name)}")
    if not config.label_points or min(config.label_points) < 10:
        raise InvalidArgumentError(f"label_points: needs label-point counts of at least 10, got {config.label_points}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise MissingDependencyError("matplotlib: the demo draws its figures with matplotlib; pip install matplotlib") from err
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    timer = Timer()
    x_train, y_train, x_test, y_test = load_breast_cancer_split(config.n_test, config.seed)
    d = x_train.shape[1]
    permutation_budget = config.permutation_budget or 2 * d
    if config.truth_budget < 100 * max(permutation_budget, config.kernelshap_budget) and config.truth_budget < 2**d:
        print(f"note: the ground truth's budget {config.truth_budget} is below 100x the label budgets (a reduced run)")
    with timer("model"):
        model = train_model(x_train, y_train, config.hidden, config.seed)
    accuracy = float(model.score(x_test, y_test))
    masker = MarginalMasker(x_train, n_background=config.n_background, seed=config.seed)
    n_background = int(masker.background.shape[0])
    per_evaluation = mlp_flops(model) * n_background
    explainer = AmortizedExplainer(model, masker, batch_size=1 << 16)
    test_game = explainer.game(x_test)
    steps = tqdm(total=3 + len(config.label_points), desc="tabular demo", unit="step", disable=not progress, leave=False)

    with timer("ground truth"):
        truth_estimate = KernelSHAP(config.truth_budget)(test_game, seed=config.seed + 10, progress=False)
    truth = truth_estimate.values
    truth_error = float((truth_estimate.std_errors**2).sum(axis=1).mean())
    steps.update()

    ladder: dict[str, list[dict[str, float]]] = {name: [] for name, _ in PER_EXAMPLE}
    with timer("per-example ladder"):
        for name, make in PER_EXAMPLE:
            for budget in config.ladder:
                started = time.perf_counter()
                est = make(budget)(test_game, seed=config.seed + 1, progress=False)
                seconds = (time.perf_counter() - started) / config.n_test
                evaluations = float(est.n_evaluations.mean())
                ladder[name].append(
                    {"budget": budget, "evaluations": evaluations, "flops_per_point": evaluations * per_evaluation, "seconds_per_point": seconds}
                    | evaluate_attributions(est.values, truth)
                )
    steps.update()

    methods: list[tuple[str, dict[str, Any], Callable[[int], bool]]] = [
        (f"SA, Permutation labels @ {permutation_budget}", {"oracle": Permutation(permutation_budget)}, lambda n: True),
        (f"SA, KernelSHAP labels @ {config.kernelshap_budget}", {"oracle": KernelSHAP(config.kernelshap_budget)}, lambda n: True),
        (
            f"FastSHAP, equal compute ({permutation_budget - 2} fixed coalitions)",
            {"objective": FastSHAP(permutation_budget - 2, resample=False)},
            lambda n: True,
        ),
        (
            f"FastSHAP, published ({config.fastshap_samples} fresh coalitions/epoch)",
            {"objective": FastSHAP(config.fastshap_samples)},
            lambda n: n in config.fastshap_published_points,
        ),
    ]
    amortized: list[dict[str, Any]] = []
    with timer("amortized"):
        for n_points in config.label_points:
            rows = _extended_rows(x_train, model, n_points, config.seed)
            for method, options, wanted in methods:
                if wanted(n_points):
                    amortized.append(
                        _amortized_record(method, options, model, masker, rows, x_test, test_game, truth, per_evaluation, len(x_train), config)
                    )
            steps.update()
    for record in amortized:
        record["equal_error"] = _equal_error(record, ladder, per_evaluation)
    steps.update()
    steps.close()

    best_error = min(min(r["squared_error"] for r in rows) for rows in ladder.values())
    best_error = min(best_error, min(a["amortizer"]["squared_error"] for a in amortized))
    metrics = {
        "stochamort_version": stochamort.__version__,
        "config": asdict(config) | {"permutation_budget": permutation_budget},
        "data": {"name": "breast_cancer", "n_train_rows": len(x_train), "n_features": d, "n_test": config.n_test},
        "model": {
            "type": "StandardScaler + MLPClassifier" + str(config.hidden),
            "test_accuracy": accuracy,
            "flops_per_row": mlp_flops(model),
            "n_background": n_background,
            "flops_per_evaluation": per_evaluation,
        },
        "ground_truth": {
            "oracle": f"KernelSHAP({config.truth_budget}, paired)",
            "expected_squared_error": truth_error,
            "best_method_squared_error": best_error,
            "ratio_to_best": truth_error / best_error,
        },
        "per_example": ladder,
        "amortized": amortized,
        "seconds": timer.seconds,
    }
    _print_table(metrics)
    _figures(metrics, output, plt)
    atomic_write(output / "metrics.json", lambda f: f.write(json.dumps(metrics, indent=2, default=float).encode()))
    print(f"wrote {output / 'error_vs_compute.png'}, {output / 'break_even.png'}, {output / 'metrics.json'}")
    return metrics


def _amortized_record(
    method: str,
    options: dict[str, Any],
    model: Any,
    masker: MarginalMasker,
    rows: NDArray[np.float64],
    x_test: NDArray[np.float64],
    test_game: Any,
    truth: NDArray[np.float64],
    per_evaluation: float,
    n_real: int,
    config: TabularConfig,
) -> dict[str, Any]:
    """Fit one explainer on ``rows`` and score it on the held-out rows, with its compute."""
    if config.train_epochs is not None:
        n_val = int(round(0.1 * len(rows)))
        options = options | {"config": default_train_config(len(rows) - n_val, tabular=True, efficiency=True, seed=config.seed, progress=False).replace(epochs=config.train_epochs, patience=None)}
    explainer = AmortizedExplainer(model, masker, batch_size=1 << 16, **options)
    started = time.perf_counter()
    explainer.fit(rows, seed=config.seed, progress=config.progress_bars)
    fit_seconds = time.perf_counter() - started
    training = explainer.training
    assert training is not None
    n = len(rows)
    if explainer.labels is not None:
        evaluations = float(explainer.labels.n_evaluations.sum())
        label_noise = evaluate_attributions(options["oracle"](test_game, seed=config.seed + 2, progress=False).values, truth)
    else:
        evaluations, label_noise = float(training.n_evaluations), None
    started = time.perf_counter()
    predicted = explainer.explain(x_test).values
    inference_seconds = (time.perf_counter() - started) / len(x_test)
    fixed = evaluations * per_evaluation + training.train_flops
    return {
        "method": method,
        "label_points": n,
        "real_rows": min(n, n_real),
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


def _equal_error(record: dict[str, Any], ladder: dict[str, list[dict[str, float]]], per_evaluation: float) -> dict[str, dict[str, Any]]:
    """Per per-example method: the budget reaching the amortizer's error, the compute ratio when the
    label points are the explained ones, the break-even number of new points, and the
    inference-cost ratio on new points."""
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


def _best_per_example(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The per-example method cheapest at the amortizer's error."""
    name, comparison = min(record["equal_error"].items(), key=lambda item: item[1]["matching_evaluations"])
    return str(name), dict(comparison)


def _print_table(m: dict[str, Any]) -> None:
    model, truth = m["model"], m["ground_truth"]
    print(
        f"\nstochamort {m['stochamort_version']} tabular demo: breast cancer, {m['data']['n_features']} features, "
        f"{m['data']['n_train_rows']} training rows; {model['type']} (test accuracy {model['test_accuracy']:.1%}), "
        f"{model['n_background']} background rows: {model['flops_per_evaluation']:.3g} FLOPs per evaluation"
    )
    print(
        f"ground truth: {truth['oracle']} on {m['data']['n_test']} held-out rows; its own expected squared error "
        f"{truth['expected_squared_error']:.2e} = {truth['ratio_to_best']:.1%} of the best method's error"
    )
    print(f"{'method':<58}{'pts':>6}{'evals/pt':>9}{'FLOPs/pt':>10}{'sq. error':>10}{'pearson':>8}{'sign':>7}")
    for name, rows in m["per_example"].items():
        for r in rows:
            print(
                f"{name + ' (per example)':<58}{'':>6}{r['evaluations']:>9.0f}{r['flops_per_point']:>10.2e}"
                f"{r['squared_error']:>10.2e}{r['pearson']:>8.3f}{r['sign_agreement']:>7.3f}"
            )
    for a in m["amortized"]:
        r = a["amortizer"]
        print(
            f"{a['method']:<58}{a['label_points']:>6}{a['evaluations_per_point']:>9.0f}{a['flops_per_point']:>10.2e}"
            f"{r['squared_error']:>10.2e}{r['pearson']:>8.3f}{r['sign_agreement']:>7.3f}"
        )
    print("\nat the amortizer's error (compute ratio: per-example FLOPs / amortized FLOPs per labelled point;")
    print("break-even: new points to explain before labels + training pay off; inference: per-example / amortized per new point)")
    for a in m["amortized"]:
        name, best = _best_per_example(a)
        kernel = a["equal_error"]["KernelSHAP"]
        note = " (extrapolated)" if best["extrapolated"] or kernel["extrapolated"] else ""
        print(
            f"  {a['method']} on {a['label_points']} pts: = {name} at {best['matching_evaluations']:.0f} evals{note}; "
            f"vs KernelSHAP {kernel['compute_ratio']:.2f}x, vs {name} {best['compute_ratio']:.2f}x; "
            f"break-even {best['break_even_points']:.3g} points; inference {best['inference_ratio']:.0f}x cheaper"
        )
    print("sq. error: squared error summed over features, mean over rows and the two classes' probabilities.")


def _figures(m: dict[str, Any], output: Path, plt: Any) -> None:
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, rows in m["per_example"].items():
        ax.plot([r["flops_per_point"] for r in rows], [r["squared_error"] for r in rows], "o-", label=f"{name} (per example)")
    for method in dict.fromkeys(a["method"] for a in m["amortized"]):
        runs = [a for a in m["amortized"] if a["method"] == method]
        ax.plot([a["flops_per_point"] for a in runs], [a["amortizer"]["squared_error"] for a in runs], "*--", markersize=12, label=f"{method} (label points {runs[0]['label_points']}…{runs[-1]['label_points']})")
    ax.axhline(m["ground_truth"]["expected_squared_error"], color="grey", linestyle=":", label="ground truth's own error")
    ax.set(xscale="log", yscale="log", xlabel="FLOPs per explained point", ylabel="squared error vs ground truth", title="Breast cancer (d = 30): error vs compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    atomic_write(output / "error_vs_compute.png", lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    counts = np.logspace(1, 7, 61)
    for a in m["amortized"]:
        if a is not max((r for r in m["amortized"] if r["method"] == a["method"]), key=lambda r: r["label_points"]):
            continue
        name, best = _best_per_example(a)
        line = ax.plot(counts, a["fixed_flops"] + counts * a["inference_flops_per_point"], "-", label=f"{a['method']} ({a['label_points']} label pts)")
        ax.plot(counts, counts * best["matching_evaluations"] * m["model"]["flops_per_evaluation"], "--", color=line[0].get_color(), label=f"per-example {name} at its error")
    ax.set(xscale="log", yscale="log", xlabel="new points explained", ylabel="total FLOPs", title="When amortization pays: total cost at equal error")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    atomic_write(output / "break_even.png", lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)

