"""Benchmark of the data-valuation utility: batched torch logistic regression against per-subset
scikit-learn re-fits.

What is measured
----------------
Data: ``sklearn.datasets.make_classification`` with ``--n-train`` (1000) training points, 10
features, two classes, and 20% of the training labels flipped (the mislabel-detection setting of
the data-valuation papers); 500 validation points. The utility is validation accuracy of
L2-regularised logistic regression (C = 1) trained on a subset. Two kinds of subsets:

* ``prefix``: prefixes of random permutations with sizes uniform on 1..N (TMC / Beta Shapley,
  Data Banzhaf evaluate such subsets);
* ``multiset``: draws *with replacement* of 10..100 of the N points (distributional Data Shapley).

For each kind, ``--torch-subsets`` (4000) subsets are evaluated by
``TorchLogisticUtility(...).evaluate`` (batched Newton, batches of 4096, in float64 and in float32,
the precision ``stochamort value`` uses), and the first
``--sklearn-subsets`` (100) of them the way opendataval / pyDVL evaluate a utility: one
``LogisticRegression().fit`` per subset on its rows (repeated by count), in a Python loop, then
``predict_proba`` / accuracy on the validation set. Subsets with fewer than two classes get the
Laplace-smoothed class frequencies in both (no fit). Throughput is subset evaluations per second;
the ratio torch / scikit-learn has a target of >= 50x.

Correctness on the shared subsets: the largest difference of validation accuracies and of
validation probabilities between the two, (a) against the timed scikit-learn fits (default
``tol=1e-4``: they stop early, so differences of ~1e-4 are expected), and (b) against tight
scikit-learn fits (``tol=1e-10, max_iter=10_000``) on the first 20 shared subsets, which solve the
same objective as ours to high precision (differences should be <= 1e-5).

Each side is timed ``REPEATS`` (3) times and the median is reported.

Threads: both sides use their libraries' default threads (torch intra-op; scikit-learn's OpenMP
loss and BLAS) unless ``--threads N`` is given, which sets torch's intra-op threads and limits
scikit-learn's through threadpoolctl. On a machine shared with other busy processes, multi-threaded
small ops stall (both sides slow down by 10x or more); ``--threads 1`` then gives the
uncontended, like-for-like single-core comparison. With CUDA present the torch side also runs on
the GPU. Results are printed and written to ``bench-results/bench_utility.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "bench-results" / "bench_utility.json"
TARGET_RATIO = 50.0
#: Timed runs per side; the median is reported (this machine is noisy).
REPEATS = 3
N_FEATURES = 10
N_VALID = 500
FLIP = 0.2
TIGHT_SUBSETS = 20
#: Largest allowed probability difference from tight scikit-learn fits, per precision.
PROB_TOL = {"float64": 1e-5, "float32": 1e-4}


def make_data(n_train: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n_train + N_VALID, n_features=N_FEATURES, n_informative=5, n_redundant=2, flip_y=0.0, random_state=seed
    )
    rng = np.random.default_rng(seed)
    y_train = y[:n_train].copy()
    flipped = rng.choice(n_train, size=int(FLIP * n_train), replace=False)
    y_train[flipped] = 1 - y_train[flipped]
    return x[:n_train], y_train.astype(np.int64), x[n_train:], y[n_train:].astype(np.int64)


def prefix_subsets(m: int, n: int, seed: int) -> NDArray[np.bool_]:
    """Prefixes of random permutations, sizes uniform on 1..n."""
    rng = np.random.default_rng(seed)
    ranks = np.argsort(rng.random((m, n)), axis=1)
    sizes = rng.integers(1, n + 1, size=m)
    return ranks < sizes[:, None]


def multiset_subsets(m: int, n: int, seed: int, low: int = 10, high: int = 100) -> NDArray[np.int64]:
    """Draws with replacement of low..high points."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((m, n), dtype=np.int64)
    for r in range(m):
        np.add.at(counts[r], rng.integers(0, n, size=int(rng.integers(low, high + 1))), 1)
    return counts


def sklearn_loop(
    counts: NDArray[Any], x: NDArray[np.float64], y: NDArray[np.int64], xv: NDArray[np.float64], yv: NDArray[np.int64],
    **params: Any,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One ``LogisticRegression(**params).fit`` per subset (rows repeated by count): accuracies and probabilities."""
    from sklearn.linear_model import LogisticRegression

    accuracy = np.empty(len(counts))
    probabilities = np.empty((len(counts), len(xv), 2))
    for r, row in enumerate(np.asarray(counts, dtype=np.int64)):
        index = np.repeat(np.arange(len(row)), row)
        ys = y[index]
        n_c = np.bincount(ys, minlength=2)
        if (n_c > 0).sum() < 2:  # degenerate subset: Laplace-smoothed frequencies, as the utility
            p = np.broadcast_to((n_c + 1.0) / (len(ys) + 2.0), (len(xv), 2))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning of the default settings
                p = LogisticRegression(**params).fit(x[index], ys).predict_proba(xv)
        probabilities[r] = p
        accuracy[r] = float((p.argmax(axis=1) == yv).mean())
    return accuracy, probabilities


def sklearn_threads(threads: int | None) -> Any:
    """A context that limits scikit-learn's OpenMP / BLAS threads (no limit when ``threads`` is None)."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


def measure(
    kind: str, counts: NDArray[Any], data: tuple[Any, ...], n_sklearn: int, device: str, threads: int | None,
    dtype: torch.dtype,
) -> dict[str, Any]:
    from stochamort.valuation.utility import TorchLogisticUtility

    x, y, xv, yv = data
    utility = TorchLogisticUtility(x, y, xv, yv, device=device, dtype=dtype, batch_size=4096)
    utility(counts[:16])  # warm-up: kernels, allocator, outer products
    if device != "cpu":
        torch.cuda.synchronize()
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        values = utility(counts)
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    torch_seconds = float(np.median(times))
    shared = counts[:n_sklearn]
    probabilities = utility.validation_probabilities(shared)
    with sklearn_threads(threads):
        sklearn_loop(shared[:2], x, y, xv, yv)  # warm-up
        times = []
        for _ in range(REPEATS):
            began = time.perf_counter()
            sk_accuracy, sk_probabilities = sklearn_loop(shared, x, y, xv, yv)
            times.append(time.perf_counter() - began)
        sklearn_seconds = float(np.median(times))
    tight = min(TIGHT_SUBSETS, n_sklearn)
    tight_accuracy, tight_probabilities = sklearn_loop(shared[:tight], x, y, xv, yv, tol=1e-10, max_iter=10_000)
    torch_rate = len(counts) / torch_seconds
    sklearn_rate = n_sklearn / sklearn_seconds
    sizes = np.asarray(counts, dtype=np.int64).sum(axis=1)
    return {
        "kind": kind,
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "subsets_torch": int(len(counts)),
        "subsets_sklearn": int(n_sklearn),
        "mean_size": float(sizes.mean()),
        "torch_s": torch_seconds,
        "sklearn_s": sklearn_seconds,
        "torch_per_s": torch_rate,
        "sklearn_per_s": sklearn_rate,
        "ratio": torch_rate / sklearn_rate,
        "max_acc_diff_default": float(np.abs(values[:n_sklearn] - sk_accuracy).max()),
        "max_prob_diff_default": float(np.abs(probabilities - sk_probabilities).max()),
        "max_acc_diff_tight": float(np.abs(values[:tight] - tight_accuracy).max()),
        "max_prob_diff_tight": float(np.abs(probabilities[:tight] - tight_probabilities).max()),
        "mean_utility": float(values.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--torch-subsets", type=int, default=4000)
    parser.add_argument("--sklearn-subsets", type=int, default=100)
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch intra-op threads, and the OpenMP/BLAS threads of scikit-learn (default: each library's default)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1000 torch subsets, 40 scikit-learn subsets")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.torch_subsets, args.sklearn_subsets = 1000, 40
    if args.threads:
        torch.set_num_threads(args.threads)
    args.sklearn_subsets = min(args.sklearn_subsets, args.torch_subsets)
    try:
        import sklearn
    except ImportError:
        print("scikit-learn is not installed; it is needed for the data and the comparison")
        return 1

    data = make_data(args.n_train, args.seed)
    n = args.n_train
    subsets = {
        "prefix": prefix_subsets(args.torch_subsets, n, args.seed + 1),
        "multiset": multiset_subsets(args.torch_subsets, n, args.seed + 2),
    }
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    began = time.perf_counter()
    rows = [
        measure(kind, counts, data, args.sklearn_subsets, device, args.threads, dtype)
        for device in devices
        for kind, counts in subsets.items()
        for dtype in (torch.float64, torch.float32)
    ]

    print(
        f"\nSubset utility evaluations: N = {n} train (10 features, binary, {FLIP:.0%} flipped), {N_VALID} valid, "
        f"accuracy of LogisticRegression(C=1)\ntorch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"scikit-learn {sklearn.__version__} ({args.threads or 'default'} threads), "
        f"{platform.processor() or platform.machine()}"
    )
    header = (
        f"{'subsets':<9}{'device':<7}{'dtype':<8}{'mean |S|':>9}{'torch n':>9}{'torch/s':>10}{'sk n':>6}{'sk/s':>8}{'ratio':>8}"
        f"{'Δacc':>8}{'Δp':>10}{'Δacc*':>8}{'Δp*':>10}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['kind']:<9}{r['device']:<7}{r['dtype']:<8}{r['mean_size']:>9.1f}{r['subsets_torch']:>9}{r['torch_per_s']:>10.0f}"
            f"{r['subsets_sklearn']:>6}{r['sklearn_per_s']:>8.1f}{r['ratio']:>7.0f}x"
            f"{r['max_acc_diff_default']:>8.3f}{r['max_prob_diff_default']:>10.1e}"
            f"{r['max_acc_diff_tight']:>8.3f}{r['max_prob_diff_tight']:>10.1e}"
        )
    print(
        "Δacc, Δp: max |difference| of validation accuracies / probabilities against the timed scikit-learn fits "
        "(default tol=1e-4);\nΔacc*, Δp*: against tight fits (tol=1e-10, max_iter=10000) on the first "
        f"{min(TIGHT_SUBSETS, args.sklearn_subsets)} shared subsets (same objective)."
    )
    cpu = [r for r in rows if r["device"] == "cpu"]
    ratio_met = all(r["ratio"] >= TARGET_RATIO for r in cpu if r["dtype"] == "float32")
    exact_met = all(r["max_prob_diff_tight"] <= PROB_TOL[r["dtype"]] for r in rows)
    print(f"target: >= {TARGET_RATIO:.0f}x evaluations/s over scikit-learn on CPU (float32, as `stochamort value` fits): {'met' if ratio_met else 'NOT met'}")
    print(f"target: Δp* <= {PROB_TOL['float64']:g} (float64), {PROB_TOL['float32']:g} (float32): {'met' if exact_met else 'NOT met'}")
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if torch.get_num_threads() > 1 and load > cores - 0.5:
        print(
            f"note: load average {load:.1f} on {cores} cores -- other processes compete for the cores, and torch's "
            "intra-op threads then stall at every op; rerun with --threads 1 for an uncontended number"
        )
    print(f"\nTotal wall time: {time.perf_counter() - began:.0f} s")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "n_train": n,
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0],
        "quick": args.quick,
        "rows": rows,
    }
    with tempfile.NamedTemporaryFile("w", dir=args.output.parent, delete=False, suffix=".tmp") as handle:
        json.dump(record, handle, indent=2)
    os.replace(handle.name, args.output)
    print(f"Results written to {args.output}")
    return 0 if exact_met else 1


if __name__ == "__main__":
    sys.exit(main())
