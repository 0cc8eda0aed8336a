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

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

import stochamort
from stochamort.amortize import AmortizedExplainer, default_train_config
from stochamort.demo.compare import (
    Timer,
    amortized_methods,
    amortized_record,
    comparison_figures,
    equal_error,
    ground_truth,
    per_example_ladder,
    print_comparison,
    pyplot,
    truth_summary,
    write_metrics,
)
from stochamort.errors import InvalidArgumentError
from stochamort.games import MarginalMasker

__all__ = ["TabularConfig", "run_tabular", "mlp_flops", "class_mixtures"]

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
    pyplot()  # fail before any work when matplotlib is missing
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
        truth, truth_error = ground_truth(test_game, config.truth_budget, config.seed + 10)
    steps.update()
    with timer("per-example ladder"):
        ladder = per_example_ladder(test_game, config.ladder, truth, per_evaluation, seed=config.seed + 1)
    steps.update()

    methods = amortized_methods(permutation_budget, config.kernelshap_budget, config.fastshap_samples, config.fastshap_published_points)
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
        record["equal_error"] = equal_error(record, ladder, per_evaluation)
    steps.update()
    steps.close()

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
        "ground_truth": truth_summary(config.truth_budget, truth_error, ladder, amortized),
        "per_example": ladder,
        "amortized": amortized,
        "seconds": timer.seconds,
    }
    _print_table(metrics)
    comparison_figures(metrics, output, title=f"Breast cancer (d = {d}): error vs compute", flops_per_evaluation=per_evaluation)
    write_metrics(output / "metrics.json", metrics)
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
    record = amortized_record(method, explainer, rows, x_test, test_game, truth, per_evaluation, seed=config.seed, progress=config.progress_bars)
    return record | {"real_rows": min(len(rows), n_real)}


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
    print_comparison(m)
    print("sq. error: squared error summed over features, mean over rows and the two classes' probabilities.")
