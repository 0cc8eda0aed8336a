"""Benchmark of label generation with a torch model: how much time is spent outside the model.

What is measured
----------------
A 2-layer MLP classifier (``d = 64`` inputs, two hidden layers of width 256, 10 classes, random
weights, float32) is explained for ``--points`` points (1000 by default) with baseline masking
(absent features set to 0), valuing all 10 class probabilities at once, by

* ``KernelSHAP(budget=512, paired=True)`` and
* ``Permutation(budget=512, antithetic=True)`` (``(512 − 2) // 63 = 8`` orders per point),

the oracles of :mod:`stochamort.oracles` (Rust sampling and estimation, torch masking and forward
passes in batches of ``--batch-size`` inputs). The game times every forward pass of the model; the
**fraction outside the forward pass** is ``1 − forward / wall``: sampling, masking, transfers,
estimation and Python glue together. Target: ≤ 10 %.

Peers (only when importable, i.e. after ``make bench`` installed the ``bench`` extra): per-point time
of ``shap.KernelExplainer(f, zeros((1, d)))`` with ``nsamples=512, l1_reg=False`` and of shapiq's
``KernelSHAP(n=d, pairing_trick=True).approximate(budget=512, game)`` on the same model, probabilities
of the same 10 classes (shapiq values one output per call, so it is called once per class and its
time is the sum), against our per-point wall time. Their estimates are compared with ours to show
that they solve the same game.

Torch runs with ``--torch-threads`` threads (default: torch's own choice). If a CUDA device is
present the oracles also run there once and the table reports labels/s. Results are printed and
written to ``bench-results/bench_oracles.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stochamort.games import BaselineMasker, MaskedModel
from stochamort.oracles import KernelSHAP, Oracle, Permutation

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "bench-results" / "bench_oracles.json"
N_PLAYERS, WIDTH, N_CLASSES, BUDGET = 64, 256, 10, 512
TARGET_OUTSIDE = 0.10
TARGET_PEER = 100.0


def make_model(seed: int, n_classes: int = N_CLASSES) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(N_PLAYERS, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, n_classes)
    ).eval()


def run_oracle(oracle: Oracle, model: nn.Module, x: torch.Tensor, batch_size: int) -> dict[str, Any]:
    game = MaskedModel(model, BaselineMasker(0.0), output="probabilities", batch_size=batch_size).bind(x)
    game.forward_seconds, game.n_forward_inputs = 0.0, 0
    start = time.perf_counter()
    estimate = oracle(game, seed=0, progress=False)
    wall = time.perf_counter() - start
    return {
        "oracle": type(oracle).__name__,
        "device": str(x.device),
        "points": int(x.shape[0]),
        "wall_s": wall,
        "forward_s": game.forward_seconds,
        "outside_fraction": 1.0 - game.forward_seconds / wall,
        "per_point_ms": 1e3 * wall / x.shape[0],
        "labels_per_s": x.shape[0] / wall,
        "evaluations_per_point": float(estimate.n_evaluations.mean()),
        "forward_inputs": game.n_forward_inputs,
        "values": estimate.values,
    }


def numpy_model(model: nn.Module) -> Any:
    def predict(rows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(model(torch.as_tensor(rows, dtype=torch.float32)), dim=1).double().numpy()

    return predict


def peer_shap(model: nn.Module, x: np.ndarray) -> tuple[float, np.ndarray]:
    import shap

    explainer = shap.KernelExplainer(numpy_model(model), np.zeros((1, N_PLAYERS)))
    start = time.perf_counter()
    values = [np.asarray(explainer.shap_values(row, nsamples=BUDGET, l1_reg=False, silent=True)) for row in x]
    return (time.perf_counter() - start) / len(x), np.stack(values).reshape(len(x), N_PLAYERS, N_CLASSES)


def peer_shapiq(model: nn.Module, x: np.ndarray) -> tuple[float, np.ndarray]:
    import shapiq

    predict = numpy_model(model)
    start = time.perf_counter()
    out = np.zeros((len(x), N_PLAYERS, N_CLASSES))
    for p, row in enumerate(x):
        for c in range(N_CLASSES):
            approximator = shapiq.KernelSHAP(n=N_PLAYERS, pairing_trick=True, random_state=0)
            game = lambda coalitions, row=row, c=c: predict(coalitions * row)[:, c]  # noqa: E731
            result = approximator.approximate(budget=BUDGET, game=game)
            out[p, :, c] = np.asarray(result.get_n_order_values(1)).reshape(N_PLAYERS)
    return (time.perf_counter() - start) / len(x), out


def main(argv: list[str] | None = None) -> int:
    global N_CLASSES  # the peers' wrappers read it
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--peer-points", type=int, default=3)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="200 points, one peer point")
    parser.add_argument("--classes", type=int, default=N_CLASSES, help="outputs of the MLP, all valued at once (default 10)")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.peer_points = 200, 1
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    N_CLASSES = args.classes
    model = make_model(0, N_CLASSES)
    x = torch.randn(args.points, N_PLAYERS, generator=torch.Generator().manual_seed(1))
    oracles: list[Oracle] = [KernelSHAP(BUDGET, paired=True), Permutation(BUDGET, antithetic=True)]
    run_oracle(oracles[0], model, x[:20], args.batch_size)  # warm-up: allocator, kernels
    rows = [run_oracle(o, model, x, args.batch_size) for o in oracles]
    if torch.cuda.is_available():
        gpu_model, gpu_x = make_model(0, N_CLASSES).cuda(), x.cuda()
        run_oracle(oracles[0], gpu_model, gpu_x[:20], args.batch_size)
        rows += [run_oracle(o, gpu_model, gpu_x, args.batch_size) for o in oracles]

    print(f"\nLabel generation, {args.points} points, MLP {N_PLAYERS}-{WIDTH}-{WIDTH}-{N_CLASSES}, budget {BUDGET}, "
          f"torch threads {torch.get_num_threads()}, batch {args.batch_size}")
    print(f"{'oracle':<14}{'device':<8}{'wall s':>9}{'forward s':>11}{'outside':>9}{'ms/pt':>9}{'labels/s':>10}{'evals/pt':>10}")
    for r in rows:
        print(f"{r['oracle']:<14}{r['device']:<8}{r['wall_s']:>9.2f}{r['forward_s']:>11.2f}{r['outside_fraction']:>9.1%}"
              f"{r['per_point_ms']:>9.2f}{r['labels_per_s']:>10.0f}{r['evaluations_per_point']:>10.0f}")
    cpu_rows = [r for r in rows if r["device"] == "cpu"]
    met = all(r["outside_fraction"] <= TARGET_OUTSIDE for r in cpu_rows)
    print(f"target: time outside the forward pass <= {TARGET_OUTSIDE:.0%} on CPU: {'met' if met else 'NOT met'}")

    peers: list[dict[str, Any]] = []
    if not args.skip_peers:
        ours = cpu_rows[0]
        xp = x[: args.peer_points].double().numpy()
        for name, fn in (("shap.KernelExplainer(l1_reg=False)", peer_shap), ("shapiq.KernelSHAP(pairing_trick=True)", peer_shapiq)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    seconds, values = fn(model, xp)
            except ImportError as err:
                print(f"{name}: not installed ({err}); `make bench` installs the bench extra")
                continue
            ratio = seconds * 1e3 / ours["per_point_ms"]
            deviation = float(np.abs(values - ours["values"][: args.peer_points]).max())
            scale = float(np.abs(ours["values"][: args.peer_points]).max())
            peers.append({"peer": name, "per_point_s": seconds, "ratio": ratio, "max_abs_diff": deviation})
            print(f"{name:<40} {seconds:8.3f} s/pt  ours {ours['per_point_ms']:.2f} ms/pt  -> {ratio:8.0f}x  "
                  f"(max |diff| {deviation:.2e}, values up to {scale:.2e}){'' if ratio >= TARGET_PEER else '  below target'}")

    OUTPUT.parent.mkdir(exist_ok=True)
    record = {
        "classes": N_CLASSES,
        "rows": [{k: v for k, v in r.items() if k != "values"} for r in rows],
        "peers": peers,
        "torch_threads": torch.get_num_threads(),
        "points": args.points,
    }
    with tempfile.NamedTemporaryFile("w", dir=OUTPUT.parent, delete=False, suffix=".tmp") as handle:
        json.dump(record, handle, indent=2)
    os.replace(handle.name, OUTPUT)
    print(f"results written to {OUTPUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
