"""``stochamort demo --task synthetic``: stochastic amortization of Shapley values, end to end, against ground truth.

On generated tabular data (``n_features`` correlated Gaussian features, 3 classes from a random
teacher network) the demo

1. trains a classifier (an MLP, the model to explain);
2. generates cheap, noisy, unbiased labels for every training point with an oracle (by default
   permutation sampling with one antithetic pair of orders, 2d evaluations per point), in a
   resumable label store;
3. trains a small amortizer network on them (:class:`~stochamort.amortize.GatedMLPAmortizer`,
   noisy-label checkpointing, efficiency normalization with gaps read off the labels' sums);
4. computes ground truth on held-out points by exact enumeration (all 2^d coalitions);
5. runs per-example KernelSHAP, permutation sampling and regression-adjusted Monte Carlo
   (:data:`PER_EXAMPLE`) on the same held-out points at a ladder of budgets; trains further
   amortizers at larger label budgets (the noise-level sweep);
6. prints a table, and writes ``error_vs_compute.png`` (the paper's Figure 3, centre),
   ``error_vs_label_budget.png`` (Figure 3, left) and ``metrics.json`` into ``output``.

Compute is counted in FLOPs: forward FLOPs of the classifier per evaluation for labels and
per-example estimation, plus the amortizer's training FLOPs, per explained (training) point. The
speed-up at equal error is the per-example cost at the budget that matches the amortizer's error
(interpolated on the ladder, log-log) over the amortized cost per point.

Why permutation labels by default, when the paper labels with KernelSHAP: amortization pays when
each point's label is cheap, and the amortizer's error falls with the number of labelled points.
The cheapest complete round of antithetic permutation sampling is 2d evaluations, unbiased, exactly
efficient and exact for games with at most pairwise interactions; at that budget it had the lowest
error per evaluation of the unbiased oracles (measured on this demo's classifier at d = 12, error ×
evaluations relative to it: ``regression-shapley`` 3.7×, ``unbiased-kernelshap`` 9.5×). From about
5d evaluations per point on, ``regression-shapley`` (cross-fitted regression-adjusted Monte Carlo)
is the better unbiased oracle (0.81× at 5d, 0.63× at 8d, 0.34× at 15d), which is why
:func:`~stochamort.amortize.default_oracle` switches to it there. KernelSHAP cannot go as low as
2d: its d × d system is singular for some points below a few times d samples, and it is biased at
small budgets. ``--oracle`` picks any of them.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm.auto import tqdm

import stochamort
from stochamort.amortize import GatedMLPAmortizer, TrainConfig, evaluate_attributions, forward_flops, train_amortizer
from stochamort.demo.compare import Timer, budget_matching, pyplot, save_figure, write_metrics
from stochamort.errors import InvalidArgumentError
from stochamort.games import BaselineMasker, MaskedModel
from stochamort.labels import generate_labels
from stochamort.oracles import Exact, KernelSHAP, LeverageSHAP, Oracle, Permutation, RegressionShapley, UnbiasedKernelSHAP

__all__ = ["DemoConfig", "run_demo", "LABEL_ORACLES", "EFFICIENT_ORACLES", "PER_EXAMPLE", "default_label_budget"]


def _single_order_permutation(budget: int) -> Oracle:
    """Permutation sampling without antithetic pairs: a single order costs d + 1 evaluations."""
    return Permutation(budget, antithetic=False)


#: Oracles the demo can label with (``--oracle``); each is built as ``make(budget)``.
LABEL_ORACLES: dict[str, Callable[[int], Oracle]] = {
    "permutation": Permutation,
    "permutation-single": _single_order_permutation,
    "kernelshap": KernelSHAP,
    "unbiased-kernelshap": UnbiasedKernelSHAP,
    "leverage": LeverageSHAP,
    "regression-shapley": RegressionShapley,
}
#: Oracles whose every estimate sums exactly to v(all) − v(∅) (permutation chains telescope;
#: KernelSHAP and Leverage SHAP are solved under the constraint).
EFFICIENT_ORACLES = frozenset({"permutation", "permutation-single", "kernelshap", "leverage"})


#: The per-example estimators the amortizer is compared with, at every budget of the ladder:
#: KernelSHAP (the paper's baseline, on a design without wasted evaluations), antithetic
#: permutation sampling, and regression-adjusted Monte Carlo (the most accurate unbiased one).
PER_EXAMPLE: tuple[tuple[str, Callable[[int], Oracle]], ...] = (
    ("KernelSHAP", KernelSHAP),
    ("Permutation", Permutation),
    ("RegressionShapley", RegressionShapley),
)


def default_label_budget(oracle: str, n_features: int) -> int:
    """The demo's label budget (evaluations per point, v(∅) and v(all) included) for ``oracle``.

    Permutation sampling gets its cheapest complete round: one antithetic pair of orders
    (2(d − 1) + 2 = 2d evaluations) or, for ``permutation-single``, one order (d + 1). Unbiased
    KernelSHAP gets 2d as well; ``regression-shapley`` 5d, from where its surrogate pays for
    itself; KernelSHAP and Leverage SHAP solve a d × d system per point and need a few times d
    samples before it is nonsingular for every one of many points: max(64, 8d).
    """
    if oracle not in LABEL_ORACLES:
        raise InvalidArgumentError(f"oracle: expected one of {sorted(LABEL_ORACLES)}, got {oracle!r}")
    if oracle == "permutation-single":
        return n_features + 1
    if oracle in ("permutation", "unbiased-kernelshap"):
        return 2 * n_features
    if oracle == "regression-shapley":
        return 5 * n_features
    return max(64, 8 * n_features)


@dataclass
class DemoConfig:
    """Sizes of the demo run (the defaults take a few minutes on 2 CPU cores).

    ``label_budget`` None picks :func:`default_label_budget` for the oracle and ``n_features``.
    The amortizer trains ``amortizer_epochs`` epochs of ``amortizer_batch_size`` points at peak
    learning rate ``amortizer_lr``, checkpointed on the noisy labels of the first
    ``min(n_train // 10, max_validation_points)`` training points (not trained on). The sweep's
    amortizers, on ``sweep_points`` points, use ``sweep_batch_size`` and ``sweep_lr``, so that
    they too take several hundred steps.
    """

    n_features: int = 12
    n_train: int = 300_000
    n_test: int = 100
    classifier_width: int = 1024
    classifier_epochs: int = 4
    oracle: str = "permutation"
    label_budget: int | None = None
    sweep_budgets: tuple[int, ...] = (60, 180)
    sweep_points: int = 4000
    ladder: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    amortizer_hidden: tuple[int, ...] = (128, 128)
    amortizer_epochs: int = 25
    amortizer_batch_size: int = 1024
    amortizer_lr: float = 5e-3
    sweep_batch_size: int = 128
    sweep_lr: float = 2e-3
    max_validation_points: int = 5000
    seed: int = 0
    device: str = "cpu"
    output: str = "demo-results"

    @classmethod
    def quick(cls, **overrides: Any) -> DemoConfig:
        """A reduced run for smoke tests (well under a minute)."""
        base = cls(
            n_features=8,
            n_train=3000,
            n_test=30,
            classifier_width=128,
            classifier_epochs=3,
            sweep_budgets=(60,),
            sweep_points=1500,
            ladder=(64, 256),
            amortizer_hidden=(32, 32),
            amortizer_epochs=8,
            amortizer_batch_size=256,
            amortizer_lr=2e-3,
        )
        for name, value in overrides.items():
            setattr(base, name, value)
        return base


def make_data(n: int, d: int, seed: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Correlated Gaussian features; 3 classes from a random tanh teacher with label noise."""
    rng = np.random.default_rng(seed)
    # The task (mixing and teacher) is drawn first, so it does not depend on n.
    mixing = np.eye(d) * 0.8 + 0.2 * rng.normal(size=(d, d)) / math.sqrt(d)
    teacher_in, teacher_out = rng.normal(size=(d, 16)), rng.normal(size=(16, 3))
    x = rng.normal(size=(n, d)) @ mixing
    logits = np.tanh(x @ teacher_in) @ teacher_out + 0.3 * rng.normal(size=(n, 3))
    return x.astype(np.float32), logits.argmax(axis=1)


def train_classifier(x: torch.Tensor, y: torch.Tensor, width: int, epochs: int, seed: int) -> nn.Module:
    """A two-hidden-layer GELU MLP trained with AdamW (the model to explain)."""
    torch.manual_seed(seed)
    d = x.shape[1]
    model = nn.Sequential(nn.Linear(d, width), nn.GELU(), nn.Linear(width, width), nn.GELU(), nn.Linear(width, 3))
    model = model.to(x.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), 256):
            batch = order[start : start + 256]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    return model.eval()


def _store_name(oracle: str, budget: int, classifier: nn.Module, x: torch.Tensor, seed: int) -> str:
    """The label store's directory name: the oracle, its budget and a digest of what the labels
    depend on (classifier weights, points, seed). A rerun with the same settings resumes its
    store; other settings get their own instead of being refused by the existing one."""
    digest = hashlib.sha256(f"{oracle}:{budget}:{seed}".encode())
    for tensor in classifier.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().tobytes())
    digest.update(np.ascontiguousarray(x.detach().cpu().numpy()).tobytes())
    return f"labels-{oracle}-{budget}-{digest.hexdigest()[:12]}"


def run_demo(config: DemoConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the demo, print the comparison table, write the PNGs and JSON; return the metrics."""
    if config.oracle not in LABEL_ORACLES:
        raise InvalidArgumentError(f"oracle: expected one of {sorted(LABEL_ORACLES)}, got {config.oracle!r}")
    if not 2 <= config.n_features <= 16:
        raise InvalidArgumentError(f"n_features: must lie in 2..16 (ground truth enumerates 2^d), got {config.n_features}")
    label_budget = config.label_budget
    if label_budget is None:
        label_budget = default_label_budget(config.oracle, config.n_features)
        config = replace(config, label_budget=label_budget)
    for name in ("n_train", "n_test", "label_budget", "amortizer_batch_size", "sweep_batch_size", "max_validation_points"):
        if getattr(config, name) < 1:
            raise InvalidArgumentError(f"{name}: must be positive, got {getattr(config, name)}")
    plt = pyplot()  # fail before any work when matplotlib is missing
    device = torch.device(config.device)
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    timer = Timer()
    steps = tqdm(total=6, desc="demo", unit="step", disable=not progress, leave=False)

    d = config.n_features
    x_all, y_all = make_data(config.n_train + config.n_test, d, config.seed)
    x = torch.as_tensor(x_all, device=device)
    y = torch.as_tensor(y_all, device=device)
    x_train, x_test = x[: config.n_train], x[config.n_train :]
    with timer("classifier"):
        n_fit = min(config.n_train, 20_000)
        classifier = train_classifier(x_train[:n_fit], y[:n_fit], config.classifier_width, config.classifier_epochs, config.seed)
        with torch.inference_mode():
            accuracy = float((classifier(x_test).argmax(1) == y[config.n_train :]).float().mean())
    steps.update()
    flops_per_evaluation = forward_flops(classifier)
    family = MaskedModel(classifier, BaselineMasker(x_train.mean(0)), output="probabilities", batch_size=16384)
    oracle_type = LABEL_ORACLES[config.oracle]
    # The other oracles train without the efficiency normalization rather than spend two more
    # evaluations per point on the gaps.
    efficient_labels = config.oracle in EFFICIENT_ORACLES

    baseline = x_train.mean(0)

    def amortize(n_points: int, budget: int, batch_size: int, lr: float) -> dict[str, Any]:
        """Labels for the first ``n_points`` training points, then an amortizer trained on them."""
        store = output / _store_name(config.oracle, budget, classifier, x_train[:n_points], config.seed)
        with timer(f"labels@{budget}"):
            labels = generate_labels(
                family, x_train[:n_points], oracle_type(budget), store, seed=config.seed, chunk_size=8192, progress=progress
            ).load()
        # The efficiency gaps v(all) − v(∅) come free: these labels satisfy efficiency exactly
        # (permutation chains telescope; KernelSHAP is solved under the constraint).
        gaps = labels.values.sum(axis=1) if efficient_labels else None
        n_val = max(1, min(n_points // 10, config.max_validation_points))
        with timer(f"training@{budget}"):
            result = train_amortizer(
                GatedMLPAmortizer(baseline.cpu(), 3, hidden=config.amortizer_hidden),
                x_train[n_val:n_points],
                labels.values[n_val:],
                x_val=x_train[:n_val],
                labels_val=labels.values[:n_val],
                gaps_train=None if gaps is None else gaps[n_val:],
                gaps_val=None if gaps is None else gaps[:n_val],
                config=TrainConfig(
                    efficiency=efficient_labels,
                    target_scale="auto",
                    epochs=config.amortizer_epochs,
                    batch_size=batch_size,
                    lr=lr,
                    weight_decay=0.0,
                    seed=config.seed,
                    device=device,
                    progress=False,
                ),
            )
        return {"labels": labels, "result": result, "n_points": n_points, "budget": budget}

    main = amortize(config.n_train, label_budget, config.amortizer_batch_size, config.amortizer_lr)
    steps.update()

    test_game = family.bind(x_test)
    null_test, grand_test = test_game.endpoints()
    with timer("ground truth"):
        truth = Exact()(test_game, progress=False).values
    steps.update()

    test_gaps = (grand_test - null_test) if efficient_labels else None
    started = time.perf_counter()
    predicted = main["result"].amortizer.predict(x_test, test_gaps)
    inference_ms = 1e3 * (time.perf_counter() - started) / config.n_test

    ladder: dict[str, list[dict[str, float]]] = {name: [] for name, _ in PER_EXAMPLE}
    with timer("per-example ladder"):
        for name, make in PER_EXAMPLE:
            for budget in config.ladder:
                est = make(budget)(test_game, seed=config.seed + 1, progress=False)
                evaluations = float(est.n_evaluations.mean())
                ladder[name].append(
                    {"budget": budget, "evaluations": evaluations, "flops_per_point": evaluations * flops_per_evaluation}
                    | evaluate_attributions(est.values, truth)
                )
    steps.update()

    n_sweep = min(config.sweep_points, config.n_train)
    sweep = [main] + [amortize(n_sweep, b, config.sweep_batch_size, config.sweep_lr) for b in config.sweep_budgets]
    steps.update()

    def amortized_record(run: dict[str, Any]) -> dict[str, Any]:
        result, labels = run["result"], run["labels"]
        evaluations = float(labels.n_evaluations.mean())
        flops = evaluations * flops_per_evaluation + result.train_flops / run["n_points"]
        prediction = predicted if run is main else result.amortizer.predict(x_test, test_gaps)
        test_labels = oracle_type(run["budget"])(test_game, seed=config.seed + 2, progress=False).values
        return {
            "label_budget": run["budget"],
            "training_points": run["n_points"],
            "label_evaluations_per_point": evaluations,
            "training_flops_per_point": result.train_flops / run["n_points"],
            "flops_per_point": flops,
            "best_epoch": result.best_epoch,
            "efficiency": efficient_labels,
            "label_noise": evaluate_attributions(test_labels, truth),
            "amortizer": evaluate_attributions(prediction, truth),
        }

    amortized = [amortized_record(run) for run in sweep]
    headline = amortized[0]
    speedups = {}
    for name, rows in ladder.items():
        budgets = [r["evaluations"] for r in rows]
        errors = [r["squared_error"] for r in rows]
        matched, extrapolated = budget_matching(headline["amortizer"]["squared_error"], budgets, errors)
        speedups[name] = {
            "matching_evaluations": matched,
            "extrapolated": extrapolated,
            "speedup": matched * flops_per_evaluation / headline["flops_per_point"],
        }
    steps.update()
    steps.close()

    metrics = {
        "stochamort_version": stochamort.__version__,
        "config": asdict(config),
        "classifier": {"test_accuracy": accuracy, "flops_per_evaluation": flops_per_evaluation},
        "amortized": amortized,
        "per_example": ladder,
        "speedup_at_equal_error": speedups,
        "inference_ms_per_unseen_point": inference_ms,
        "seconds": timer.seconds,
    }
    _print_table(metrics)
    _figures(metrics, output, plt)
    write_metrics(output / "metrics.json", metrics)
    print(f"wrote {output / 'error_vs_compute.png'}, {output / 'error_vs_label_budget.png'}, {output / 'metrics.json'}")
    return metrics


def _print_table(m: dict[str, Any]) -> None:
    c = m["config"]
    head = m["amortized"][0]
    print(
        f"\nstochamort {m['stochamort_version']} demo: {c['n_features']} features, 3 classes, classifier accuracy "
        f"{m['classifier']['test_accuracy']:.1%}, {m['classifier']['flops_per_evaluation']:.2e} FLOPs per evaluation"
    )
    print(f"ground truth: exact Shapley values of {c['n_test']} held-out points (all 2^{c['n_features']} coalitions)")
    print(f"{'method':<34}{'evals/pt':>10}{'FLOPs/pt':>11}{'sq. error':>11}{'norm. err':>10}{'pearson':>9}{'spearman':>9}{'sign':>7}")
    for name, rows in m["per_example"].items():
        for r in rows:
            print(
                f"{name + ' (per example)':<34}{r['evaluations']:>10.0f}{r['flops_per_point']:>11.2e}{r['squared_error']:>11.2e}"
                f"{r['normalized_error']:>10.3f}{r['pearson']:>9.3f}{r['spearman']:>9.3f}{r['sign_agreement']:>7.3f}"
            )
    for a in m["amortized"]:
        for label, key in ((f"{c['oracle']} labels @ {a['label_budget']}", "label_noise"), (f"amortizer on them ({a['training_points']} pts)", "amortizer")):
            r = a[key]
            flops = a["flops_per_point"] if key == "amortizer" else a["label_evaluations_per_point"] * m["classifier"]["flops_per_evaluation"]
            print(
                f"{label:<34}{a['label_evaluations_per_point']:>10.0f}{flops:>11.2e}{r['squared_error']:>11.2e}"
                f"{r['normalized_error']:>10.3f}{r['pearson']:>9.3f}{r['spearman']:>9.3f}{r['sign_agreement']:>7.3f}"
            )
    for name, s in m["speedup_at_equal_error"].items():
        note = " (extrapolated beyond the ladder)" if s["extrapolated"] else ""
        print(
            f"amortizer error = per-example {name} at {s['matching_evaluations']:.0f} evaluations/pt{note}: "
            f"{s['speedup']:.1f}x less compute (labels + training: {head['flops_per_point']:.2e} FLOPs/pt)"
        )
    gaps = " (plus v(∅), v(all): 2 model evaluations for the efficiency normalization)" if m["amortized"][0]["efficiency"] else ""
    print(f"amortizer inference on unseen points: {m['inference_ms_per_unseen_point'] * 1e3:.1f} µs per point{gaps}")
    print("sq. error: squared error summed over players, mean over points and classes.")


def _figures(m: dict[str, Any], output: Path, plt: Any) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, rows in m["per_example"].items():
        ax.plot([r["flops_per_point"] for r in rows], [r["squared_error"] for r in rows], "o-", label=f"{name} (per example)")
    for a in m["amortized"]:
        ax.plot(a["flops_per_point"], a["amortizer"]["squared_error"], "*", markersize=14, label=f"amortized, labels @ {a['label_budget']}")
    ax.set(xscale="log", yscale="log", xlabel="FLOPs per explained point", ylabel="squared error vs exact", title="Error vs compute")
    save_figure(fig, ax, output / "error_vs_compute.png")

    fig, ax = plt.subplots(figsize=(6, 4.5))
    budgets = [a["label_budget"] for a in m["amortized"]]
    order = np.argsort(budgets)
    ax.plot(np.array(budgets)[order], np.array([a["label_noise"]["squared_error"] for a in m["amortized"]])[order], "o--", label="training labels (noise level)")
    ax.plot(np.array(budgets)[order], np.array([a["amortizer"]["squared_error"] for a in m["amortized"]])[order], "s-", label="amortizer")
    ax.set(xscale="log", yscale="log", xlabel="label budget (evaluations per point)", ylabel="squared error vs exact", title="Amortizer error vs label noise")
    save_figure(fig, ax, output / "error_vs_label_budget.png")
