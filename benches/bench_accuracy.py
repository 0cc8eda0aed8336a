"""Accuracy benchmark: every per-example Shapley estimator of ours against shapiq 1.8's and shap's.

What is measured
----------------
Games (``benches/_accuracy_game.py``, pure numpy): per point a random tanh MLP of width 32 with
saturating weights, ``v_p(S) = w2·tanh(W1(z ⊙ x_p + (1 − z) ⊙ b) + b1)``; a baseline game at
d = 12 and 16, the interventional value over K = 4 background rows at d = 24. Interactions of every
order matter: the share of ``v``'s variance that no order-≤ 2 game explains is printed (paired
KernelSHAP and antithetic permutations would be exact otherwise).

Reference: exact Shapley values by enumerating all 2^d coalitions for d ≤ 16 (cached in
``bench-results/accuracy-cache``); at d = 24 (2^24 coalitions × 32 points is too slow in numpy) our
best unbiased estimator at d = 16 (lowest error at the largest budget), at ``--ref-factor`` × the
largest budget, with its noise ``mean_p Σ_i se²`` reported and checked ≤ 10 % of every cell's best
error (the error against a noisy reference is the true error plus that noise).

Methods at every d and budget B ∈ {64, ..., 2048} game evaluations per point:

* **ours**: every Shapley oracle in ``stochamort.oracles`` (discovered; ``_accuracy_ours.py``), on
  all ``--points`` points at once (batched, seeded); time per point = wall time / points.
* **peers** in their own environment (``bench-results/peer-venv``, Python ≥ 3.12; created once by
  ``_accuracy_peer_env.py``): every shapiq approximator of Shapley values and
  ``shap.KernelExplainer`` (classes and settings: ``_accuracy_peers.py``), one point per call, one
  thread per worker, ``--peer-workers`` workers; up to ``--peer-points`` points each, as many as fit
  in ``--peer-seconds`` per (peer, d) (at least ``--peer-min-points``).

Every game evaluation is counted in the game, per point. A peer whose call spends more than B is
called again with a lower budget argument (the one used is reported); a method still spending more
than B is flagged ``!`` and cannot be "best".

Error: mean over points of ``‖φ̂_p − φ_p‖²`` with its standard error over points. Tables: error
per method and budget; counted evaluations and time per point; per (d, B) our best against the best
peer on the peer's points (ratio and the standard error of its log from the paired per-point
errors; target: ours ≤ peer, or within noise: log ratio ≤ 2 se) and the time per point, with and
without the time spent in the game (target ≥ 10×; the game's BLAS is single-threaded on both sides); the unbiased estimators at B = 64, 128
(the default label oracle: lowest error among them). Output: ``bench-results/bench_accuracy.json``
and ``bench-results/bench_accuracy.png``. Exit status 1 when a correctness check fails (our
enumeration vs ``stochamort.estimators.exact_shapley``, an order-≤ 2 game, a noisy reference).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _accuracy_game import MLPGame, all_coalitions, order2_residual  # noqa: E402

REPO = HERE.parent
RESULTS = REPO / "bench-results"
#: Background rows per d (1: baseline game; more: interventional).
BACKGROUND = {12: 1, 16: 1, 24: 4}
#: Largest share of each cell's best error the d = 24 reference's noise may have.
REFERENCE_NOISE_SHARE = 0.10


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (~1 min): d=12, B in {64, 512}, few points")
    parser.add_argument("--no-peers", action="store_true", help="ours only: no peer environment")
    parser.add_argument("--players", type=int, nargs="+", default=None, help="d values (default 12 16 24)")
    parser.add_argument("--budgets", type=int, nargs="+", default=None, help="budgets (default 64 ... 2048)")
    parser.add_argument("--points", type=int, default=None, help="points per game for ours (default 32; 8 --quick)")
    parser.add_argument("--peer-points", type=int, default=None, help="most points per peer (default 16; 2 --quick)")
    parser.add_argument("--peer-min-points", type=int, default=None, help="fewest points per peer (default 4; 2 --quick)")
    parser.add_argument("--peer-seconds", type=float, default=None, help="time per (peer, d) that sizes its points (default 8)")
    parser.add_argument("--peer-call-timeout", type=float, default=None, help="seconds one peer call may take (10; 5 --quick)")
    parser.add_argument("--peer-workers", type=int, default=2, help="parallel peer processes (one thread each)")
    parser.add_argument("--peer-venv", type=Path, default=RESULTS / "peer-venv")
    parser.add_argument("--ref-factor", type=int, default=128, help="d=24 reference budget / largest budget (>= 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="set RAYON_NUM_THREADS before importing stochamort")
    parser.add_argument("--cache-dir", type=Path, default=RESULTS / "accuracy-cache")
    parser.add_argument("--output", type=Path, default=RESULTS / "bench_accuracy.json")
    parser.add_argument("--figure", type=Path, default=None, help="PNG (default: next to --output)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.players = args.players or ([12] if quick else [12, 16, 24])
    args.budgets = sorted(args.budgets or ([64, 512] if quick else [64, 128, 256, 512, 1024, 2048]))
    args.points = args.points or (8 if quick else 32)
    args.peer_points = args.peer_points or (2 if quick else 16)
    args.peer_min_points = args.peer_min_points or (2 if quick else 4)
    args.peer_seconds = args.peer_seconds if args.peer_seconds is not None else (0.5 if quick else 8.0)
    args.peer_call_timeout = args.peer_call_timeout or (5.0 if quick else 10.0)
    args.figure = args.figure or args.output.with_suffix(".png")
    if args.ref_factor < 64 or args.points < 2 or any(d not in BACKGROUND for d in args.players):
        parser.error(f"need --ref-factor >= 64, --points >= 2 and every d in {sorted(BACKGROUND)}")
    return args


def check_enumeration(game: MLPGame, reference: np.ndarray) -> float:
    """Max |our enumeration − stochamort.estimators.exact_shapley| on the first two points."""
    from stochamort.estimators import exact_shapley

    points = np.arange(min(2, game.n_points))
    coalitions = all_coalitions(game.n_players)
    table = game.values(np.broadcast_to(coalitions, (len(points), *coalitions.shape)), points)
    return float(np.abs(exact_shapley(table[..., None]).values[..., 0] - reference[points]).max())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0, or 1 when a correctness check failed."""
    args = parse_args(argv)
    # The game's small matmuls on one BLAS thread, as in the peers' workers: a game evaluation then
    # costs the same on both sides, and BLAS threads do not fight rayon's for the cores.
    with threadpool_limits(1, user_api="blas"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.threads is not None:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    began = time.perf_counter()
    import stochamort
    from _accuracy_ours import CountingGame, shapley_oracles, run_oracle
    from _accuracy_records import MethodRun, runs_from_peer_job
    from _accuracy_reference import EXACT_MAX_PLAYERS, estimated_reference, exact_reference
    import _accuracy_report as report

    print(
        f"stochamort {stochamort.__version__} | numpy {np.__version__} | Python {platform.python_version()} | "
        f"{os.cpu_count()} CPUs | RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'unset')}",
        flush=True,
    )
    variants, notes = shapley_oracles()
    print(f"ours: {', '.join(v.label for v in variants)}", flush=True)
    failures: list[str] = []
    games = {d: MLPGame(args.points, d, n_background=BACKGROUND[d], seed=args.seed) for d in args.players}
    game_info: dict[int, dict[str, Any]] = {}
    references: dict[int, Any] = {}
    runs: list[MethodRun] = []
    best_unbiased = next((v for v in variants if v.label == "Permutation"), None)
    for d in sorted(games):
        game = games[d]
        info: dict[str, Any] = {"key": game.key(), "n_points": game.n_points, "n_background": game.n_background}
        info.update(width=game.width, scale=game.scale)
        game_info[d] = info
        if d <= EXACT_MAX_PLAYERS:
            ref = exact_reference(game, args.cache_dir)
            info["enumeration_vs_stochamort"] = diff = check_enumeration(game, ref.values)
            # The game runs in float32: BLAS kernels may round its values differently (~1e-8) from the
            # run that filled the cache; anything larger is a real disagreement.
            if diff > 1e-6 * max(1.0, float(np.abs(ref.values).max())):
                failures.append(f"d={d}: our enumeration differs from stochamort.estimators.exact_shapley by {diff:.2e}")
            info["order2_residual"] = order2_residual(game, np.arange(min(8, game.n_points)))
        else:
            if best_unbiased is None:
                failures.append(f"d={d}: no unbiased oracle of ours to make the reference with")
                continue
            ref = estimated_reference(game, best_unbiased, args.ref_factor * args.budgets[-1], args.seed + 10**6, args.cache_dir)
        references[d] = ref
        info["reference"] = ref.summary()
        print(
            f"d={d}: reference {ref.kind} ({ref.method}, {ref.budget} evaluations per point, {ref.seconds:.1f} s), "
            f"mean ‖φ‖² = {np.mean(np.sum(ref.values**2, axis=1)):.3f}"
            + (f", order>2 variance share {info['order2_residual']:.3f}" if "order2_residual" in info else ""),
            flush=True,
        )
        counting = CountingGame(game)
        for variant in variants:
            run_oracle(variant, counting, args.budgets[0], ref.values, args.seed + 1)  # warm-up: thread pool, caches
            for budget in args.budgets:
                run, _ = run_oracle(variant, counting, budget, ref.values, args.seed)
                runs.append(run)
        if d <= EXACT_MAX_PLAYERS:
            at_max = [r for r in runs if r.d == d and r.budget == args.budgets[-1] and r.ok and r.unbiased]
            if at_max:
                best_label = min(at_max, key=lambda r: r.error).method
                best_unbiased = next(v for v in variants if v.label == best_label)
            paired = next((r for r in runs if r.d == d and r.budget == args.budgets[-1] and r.method == "KernelSHAP"), None)
            scale = float(np.mean(np.sum(ref.values**2, axis=1)))
            if paired is not None and paired.ok and paired.error < 1e-8 * scale:
                failures.append(f"d={d}: paired KernelSHAP is exact (error {paired.error:.1e}): the game lacks order > 2 interactions")

    peer_payload: dict[str, Any] = {"notes": [], "versions": [], "python": None, "environment": "not run (--no-peers)"}
    if not args.no_peers:
        from _accuracy_peer_env import PeerWorkers, ensure_peer_python

        python, env_line = ensure_peer_python(args.peer_venv)
        peer_payload["environment"] = env_line
        print(f"peers: {env_line}", flush=True)
        if python is not None:
            with PeerWorkers(python, {d: games[d] for d in references}, args.peer_workers) as workers:
                listing = workers.listing
                print(f"peers: {', '.join(p['label'] for p in listing['peers'])}", flush=True)
                jobs = [
                    {
                        "peer": p["label"],
                        "d": d,
                        "budgets": args.budgets,
                        "min_points": args.peer_min_points,
                        "max_points": min(args.peer_points, args.points),
                        "seconds": args.peer_seconds,
                        "call_timeout": args.peer_call_timeout,
                        "seed": args.seed + 7919,
                    }
                    for p in listing["peers"]
                    for d in sorted(references)
                ]
                peer_jobs = workers.run(jobs)
                notes += workers.notes
            peer_payload = {key: listing.get(key) for key in ("python", "versions", "notes")}
            peer_payload["environment"] = env_line
            for job in peer_jobs:
                runs.extend(runs_from_peer_job(job, references[int(job["d"])].values))

    comparison = report.comparisons(runs)
    winners = report.unbiased_winners(runs)
    for d, ref in references.items():
        if ref.kind != "exact":
            best = min((r.error for r in runs if r.d == d and r.ok and not r.over_budget), default=np.inf)
            game_info[d]["reference"]["noise_over_best_error"] = share = ref.noise / best
            if share > REFERENCE_NOISE_SHARE:
                failures.append(f"d={d}: reference noise {ref.noise:.2e} is {share:.0%} of the best error {best:.2e} (> 10 %)")

    for d in sorted(references):
        print(f"\n== d = {d}: mean ‖φ̂ − φ‖² ± relative se over points (U: unbiased; ! spent more than B)")
        print(report.error_table(runs, d))
        print(f"\n== d = {d}: counted evaluations per point / milliseconds per point")
        print(report.cost_table(runs, d))
    print("\n== Best of ours vs best peer within budget (error ratio and paired difference on the peer's points)")
    print(report.comparison_table(comparison))
    print("\n== Unbiased estimators at the labelling budgets, by error x counted evaluations (the default label oracle: rank 1)")
    print(report.unbiased_table(winners))
    for b in report.LABEL_BUDGETS:
        cells = [w for w in winners if w["budget"] == b]
        if cells:
            print(f"B={b}, lowest error per evaluation: " + "; ".join(f"d={w['d']}: {w['winner']}" for w in cells))
            print(f"B={b}, lowest error:                " + "; ".join(f"d={w['d']}: {w['lowest_error']}" for w in cells))
    for note in notes + peer_payload["notes"]:
        print(f"note: {note}")
    for failure in failures:
        print(f"FAILED: {failure}")
    report.plot(runs, args.figure, {d: f"{r.kind} reference" for d, r in references.items()})
    wall = time.perf_counter() - began
    print(f"\nWrote {args.output} and {args.figure}. Total wall time: {wall:.0f} s")
    payload = {
        "benchmark": "bench_accuracy",
        "created_unix": time.time(),
        "wall_seconds": wall,
        "environment": {
            "stochamort": stochamort.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "RAYON_NUM_THREADS": os.environ.get("RAYON_NUM_THREADS"),
            "peers": {k: v for k, v in peer_payload.items() if k != "jobs"},
        },
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "error": "mean over points of the squared Euclidean error ||phi_hat - phi||^2, with its standard error",
        "games": {str(d): info for d, info in game_info.items()},
        "runs": [r.summary() for r in runs],
        "comparisons": comparison,
        "unbiased": winners,
        "notes": notes + peer_payload["notes"],
        "failures": failures,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(json.dumps(_jsonable(payload), indent=1, allow_nan=False))
    tmp.replace(args.output)
    return 1 if failures else 0


def _jsonable(obj: Any) -> Any:
    """Strict JSON: numpy scalars as Python numbers, NaN and infinity as null."""
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


if __name__ == "__main__":
    raise SystemExit(main())
