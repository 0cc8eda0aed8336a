"""Benchmark of stochamort's batched label generation: the Rust path against the numpy reference.

What is measured
----------------
For ``--points`` points (1000 by default) of a cheap vectorised game (``benches/_bench_game.py``:
``v_p(S) = w_p . 1_S`` plus ``d // 4`` pairwise terms, one output), for every number of players
``d in {16, 64, 256}`` and budget ``B in {512, 2048, 8192}`` game evaluations per point, we
generate Shapley-value labels with two estimators:

* ``kernelshap``: ``sample_coalitions(B, paired=True, distribution="shapley")`` -> game ->
  ``kernelshap(paired=True)`` (``B + 2`` evaluations per point, counting v(empty) and v(all));
* ``permutation``: ``R = max(2, even ~ B / (d + 1))`` antithetic permutations:
  ``sample_permutations(antithetic=True)`` -> ``permutation_chain_masks`` -> game on the chains
  -> ``permutation_shapley(antithetic=True)`` (``R (d + 1)`` evaluations per point).

Each pipeline runs twice: with the Rust core (``stochamort``) and with the pure-numpy reference
(``stochamort.reference``: same functions, Python loops, written for clarity). Points are
processed in chunks whose bool mask array stays below ``--chunk-mb`` (16 MB by default; at most
~256 MB is a sensible bound, but chunks above glibc's 32 MB mmap threshold pay a page fault per
fresh page on every chunk, which dominates the cheapest phases). Every phase is timed with
``time.perf_counter``:

* **game**: evaluating the game (identical code for both paths, including v(empty), v(all));
* **outside**: everything else -- sampling, building masks, the estimator, reshapes.

All times are reported **per point, in milliseconds**. The Rust path runs on all points; the
reference is slow by design, so it runs on the first points only, as many as fit in
``--ref-budget`` seconds per configuration (at least ``--ref-min-points``); the ``ref pts`` column
says how many. Per-point times are comparable because both paths are linear in the points.

How to read the ratios
----------------------
``outside x`` = reference outside time / Rust outside time: the speed-up of the machinery around
the game, which is what the Rust core replaces. Target: >= 10x at ``d >= 64``. ``total x`` =
reference total / Rust total: what a user with this (very cheap) game sees end to end; with an
expensive model the game dominates both paths and this ratio tends to 1.

Peers (if the ``bench`` extra is installed): shap's ``KernelExplainer(l1_reg=False)`` and shapiq's
``KernelSHAP`` on the same game and budget, per point, against our Rust KernelSHAP per-point
total time at the same ``(d, B)``. Target: >= 100x faster per point.

Correctness: the game has interactions of order <= 2 only, on which paired KernelSHAP and
antithetic permutation sampling are exact; every Rust and reference estimate is checked against
the closed-form Shapley values (up to the game's float32 rounding), and the peers' deviation is
printed. The benchmark exits with status 1 if a Rust estimate is not finite or not exact.

Threads: the Rust core uses rayon's global pool, sized by ``RAYON_NUM_THREADS`` (default: all
cores). ``--threads N`` sets that variable before stochamort is imported; equivalently run
``RAYON_NUM_THREADS=N make bench``. The reference is single-threaded Python (numpy's BLAS may use
threads for its small dense solves).

Results are printed and written to ``bench-results/bench_core.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_game import PairwiseGame  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "bench-results" / "bench_core.json"

#: Default upper bound on the bool mask array of one chunk of points (``--chunk-mb``). Kept well
#: below glibc's largest mmap threshold (32 MB) so that a chunk's arrays reuse the memory the previous
#: chunk freed: fresh mmapped pages cost a page fault each on first write, which on small VMs makes
#: e.g. ``permutation_chain_masks`` up to 10x slower per point with 128 MB chunks than with 16 MB ones.
DEFAULT_CHUNK_MB = 16.0
METHODS = ("kernelshap", "permutation")
#: Outside-time speed-up over the reference required at d >= TARGET_MIN_PLAYERS.
TARGET_OUTSIDE = 10.0
TARGET_MIN_PLAYERS = 64
#: Per-point speed-up over shap/shapiq required.
TARGET_PEER = 100.0
#: Peer budget and how long one peer explanation may take before larger d is skipped.
PEER_BUDGET = 2048
PEER_MAX_SECONDS_PER_POINT = 20.0


# ------------------------------------------------------------------------------------------------
# timing


@dataclass
class Phases:
    """Seconds spent in each phase (summed over points)."""

    sample: float = 0.0
    masks: float = 0.0
    game: float = 0.0
    estimate: float = 0.0
    other: float = 0.0

    @property
    def outside(self) -> float:
        return self.sample + self.masks + self.estimate + self.other

    @property
    def total(self) -> float:
        return self.outside + self.game

    def add(self, other: Phases) -> None:
        self.sample += other.sample
        self.masks += other.masks
        self.game += other.game
        self.estimate += other.estimate
        self.other += other.other

    def per_point_ms(self, n_points: int) -> dict[str, float]:
        scale = 1e3 / max(n_points, 1)
        return {
            "sample": self.sample * scale,
            "masks": self.masks * scale,
            "game": self.game * scale,
            "estimate": self.estimate * scale,
            "other": self.other * scale,
            "outside": self.outside * scale,
            "total": self.total * scale,
        }


def n_permutations(n_players: int, budget: int) -> int:
    """Antithetic permutations for a budget: an even number close to ``B / (d + 1)``, at least 2."""
    return max(2, 2 * round(budget / (2 * (n_players + 1))))


def samples_per_point(method: str, n_players: int, budget: int) -> int:
    """Rows of the mask array per point (coalitions, or chain coalitions)."""
    if method == "kernelshap":
        return budget
    return n_permutations(n_players, budget) * (n_players + 1)


def evaluations_per_point(method: str, n_players: int, budget: int) -> int:
    if method == "kernelshap":
        return budget + 2
    return n_permutations(n_players, budget) * (n_players + 1)


def run_chunk(
    api: ModuleType, method: str, game: PairwiseGame, start: int, n: int, budget: int, seed: int
) -> tuple[NDArray[np.float64], Phases]:
    """One chunk of points ``start .. start + n`` through one pipeline; returns phi ``(n, d)``."""
    d = game.n_players
    times = Phases()
    clock = time.perf_counter
    if method == "kernelshap":
        t0 = clock()
        masks = api.sample_coalitions(n, budget, d, distribution="shapley", paired=True, seed=seed, point_offset=start)
        t1 = clock()
        values = game.values(masks, start)
        null = game.null_values(start, n)
        grand = game.grand_values(start, n)
        t2 = clock()
        estimate = api.kernelshap(masks, values, null, grand, paired=True, distribution="shapley")
        t3 = clock()
        times.sample, times.game, times.estimate = t1 - t0, t2 - t1, t3 - t2
    elif method == "permutation":
        r = n_permutations(d, budget)
        t0 = clock()
        perms = api.sample_permutations(n, r, d, antithetic=True, seed=seed, point_offset=start)
        t1 = clock()
        chains = api.permutation_chain_masks(perms)
        t2 = clock()
        flat = chains.reshape(n, r * (d + 1), d)
        t3 = clock()
        values = game.values(flat, start)
        t4 = clock()
        chain_values = values.reshape(n, r, d + 1, 1)
        t5 = clock()
        estimate = api.permutation_shapley(perms, chain_values, antithetic=True)
        t6 = clock()
        times.sample, times.masks, times.game, times.estimate = t1 - t0, t2 - t1, t4 - t3, t6 - t5
        times.other = (t3 - t2) + (t5 - t4)
    else:
        raise ValueError(method)
    return np.asarray(estimate.values[..., 0], dtype=np.float64), times


# ------------------------------------------------------------------------------------------------
# one configuration


@dataclass
class Row:
    n_players: int
    budget: int
    method: str
    evaluations_per_point: int
    status: str = "ok"  # "ok", or why the row has no numbers
    rust_points: int = 0
    rust_chunk_points: int = 0
    ref_points: int = 0
    rust_ms: dict[str, float] = field(default_factory=dict)
    ref_ms: dict[str, float] = field(default_factory=dict)
    outside_ratio: float = math.nan
    total_ratio: float = math.nan
    rust_max_abs_error: float = math.nan
    ref_max_abs_error: float = math.nan
    rust_vs_ref_max_abs_diff: float = math.nan
    tolerance: float = math.nan
    rust_finite: bool = True
    exact_ok: bool = True
    target: str = "n/a"  # "met", "missed", or "n/a" (d below the target's range, or no numbers)


def chunk_points(method: str, n_players: int, budget: int, n_points: int, chunk_mb: float) -> int:
    """Points per chunk so that the chunk's bool mask array stays below ``chunk_mb`` MB."""
    per_point = samples_per_point(method, n_players, budget) * n_players  # bytes of bool masks
    return max(1, min(n_points, int(chunk_mb * 2**20) // per_point))


def measure_rust(
    sa: ModuleType,
    method: str,
    game: PairwiseGame,
    budget: int,
    n_points: int,
    seed: int,
    repeats: int = 1,
    chunk_mb: float = DEFAULT_CHUNK_MB,
) -> tuple[NDArray[np.float64], Phases, int]:
    """All points through the Rust path, in chunks; returns (phi (n, d), phases, chunk size).

    With ``repeats > 1`` the whole pass is repeated and the fastest pass is kept (same draws).
    """
    chunk = chunk_points(method, game.n_players, budget, n_points, chunk_mb)
    run_chunk(sa, method, game, 0, min(2, n_points), budget, seed + 1)  # warm-up (thread pool, caches)
    phi = np.empty((n_points, game.n_players))
    best: Phases | None = None
    for _ in range(max(1, repeats)):
        total = Phases()
        for start in range(0, n_points, chunk):
            n = min(chunk, n_points - start)
            phi[start : start + n], times = run_chunk(sa, method, game, start, n, budget, seed)
            total.add(times)
        if best is None or total.total < best.total:
            best = total
    assert best is not None
    return phi, best, chunk


def measure_reference(
    ref: ModuleType,
    method: str,
    game: PairwiseGame,
    budget: int,
    n_points: int,
    seed: int,
    time_budget: float,
    min_points: int,
    chunk_mb: float = DEFAULT_CHUNK_MB,
) -> tuple[NDArray[np.float64], Phases]:
    """The first points through the reference path, until ``time_budget`` seconds are spent.

    Chunks are at most as large as the Rust path's (and at most 50 points).
    """
    max_chunk = min(50, chunk_points(method, game.n_players, budget, n_points, chunk_mb))
    total = Phases()
    done = 0
    phis: list[NDArray[np.float64]] = []
    target_min = min(min_points, n_points)
    while done < n_points:
        elapsed = total.total
        if done >= target_min and elapsed >= time_budget:
            break
        if done == 0:
            n = 1
        else:
            per_point = elapsed / done
            if elapsed >= time_budget:
                n = target_min - done
            else:
                n = int((time_budget - elapsed) / max(per_point, 1e-9))
                n = max(n, target_min - done, 1)
            n = min(n, max_chunk, n_points - done)
        phi, times = run_chunk(ref, method, game, done, n, budget, seed)
        phis.append(phi)
        total.add(times)
        done += n
    return np.concatenate(phis, axis=0), total


def benchmark_row(
    sa: ModuleType,
    ref: ModuleType,
    method: str,
    game: PairwiseGame,
    budget: int,
    args: argparse.Namespace,
    rust_phi_store: dict[tuple[int, int, str], NDArray[np.float64]],
) -> Row:
    d = game.n_players
    row = Row(d, budget, method, evaluations_per_point(method, d, budget))
    try:
        rust_phi, rust_times, chunk = measure_rust(
            sa, method, game, budget, args.points, args.seed, args.repeats, args.chunk_mb
        )
    except sa.SingularSystemError as error:
        row.status = f"skipped, SingularSystemError: {error}"
        return row
    rust_phi_store[(d, budget, method)] = rust_phi
    row.rust_points, row.rust_chunk_points = args.points, chunk
    row.rust_ms = rust_times.per_point_ms(args.points)

    exact = game.shapley_values(0, args.points)
    row.tolerance = 1e-4 * max(1.0, float(np.abs(exact).max()))
    row.rust_finite = bool(np.isfinite(rust_phi).all())
    row.rust_max_abs_error = float(np.abs(rust_phi - exact).max())

    if args.ref_budget > 0:
        ref_phi, ref_times = measure_reference(
            ref, method, game, budget, args.points, args.seed, args.ref_budget, args.ref_min_points, args.chunk_mb
        )
        k = ref_phi.shape[0]
        row.ref_points = k
        row.ref_ms = ref_times.per_point_ms(k)
        row.ref_max_abs_error = float(np.abs(ref_phi - exact[:k]).max())
        row.rust_vs_ref_max_abs_diff = float(np.abs(ref_phi - rust_phi[:k]).max())
        row.outside_ratio = row.ref_ms["outside"] / row.rust_ms["outside"]
        row.total_ratio = row.ref_ms["total"] / row.rust_ms["total"]
        if d >= TARGET_MIN_PLAYERS:
            row.target = "met" if row.outside_ratio >= TARGET_OUTSIDE else "missed"
    row.exact_ok = row.rust_finite and row.rust_max_abs_error <= row.tolerance
    if not math.isnan(row.ref_max_abs_error):
        row.exact_ok = row.exact_ok and row.ref_max_abs_error <= row.tolerance
    return row


# ------------------------------------------------------------------------------------------------
# peers


@dataclass
class PeerResult:
    peer: str
    label: str
    n_players: int
    budget: int
    points: int = 0
    status: str = "ok"
    seconds_per_point: float = math.nan
    rust_ms_per_point: float = math.nan
    speedup: float = math.nan
    max_abs_diff_vs_rust: float = math.nan
    max_abs_error_vs_exact: float = math.nan
    target: str = "n/a"


def run_peers(
    sa: ModuleType,
    games: dict[int, PairwiseGame],
    rows: dict[tuple[int, int, str], Row],
    rust_phi_store: dict[tuple[int, int, str], NDArray[np.float64]],
    args: argparse.Namespace,
    progress: Any,
) -> tuple[list[PeerResult], dict[str, str]]:
    import _bench_peers

    versions = _bench_peers.peer_versions()
    notes: dict[str, str] = {}
    results: list[PeerResult] = []
    budget = PEER_BUDGET
    for name, (_, label, explain) in _bench_peers.PEERS.items():
        ok, info = versions[name]
        notes[name] = info
        if not ok:
            results.append(PeerResult(name, label, 0, budget, status=info))
            continue
        # Warm-up outside the clock (imports, JIT, first-call caches).
        warm = PairwiseGame(1, 16, seed=args.seed)
        explain(warm, 0, 256, args.seed)
        previous: float | None = None  # seconds per point at the previous d
        previous_d = 0
        for d in args.peer_players:
            progress.set_postfix_str(f"{name} d={d}")
            result = PeerResult(name, label, d, budget)
            results.append(result)
            if previous is not None and previous * (d / previous_d) ** 2 > PEER_MAX_SECONDS_PER_POINT:
                result.status = (
                    f"skipped: predicted > {PEER_MAX_SECONDS_PER_POINT:.0f} s per point "
                    f"({previous:.2f} s at d={previous_d})"
                )
                continue
            game = games[d] if d in games else PairwiseGame(args.points, d, seed=args.seed)
            games[d] = game
            key = (d, budget, "kernelshap")
            if key not in rows or rows[key].status != "ok":
                rust_phi, rust_times, _ = measure_rust(
                    sa, "kernelshap", game, budget, args.points, args.seed, args.repeats, args.chunk_mb
                )
                rust_phi_store[key] = rust_phi
                rust_ms = rust_times.per_point_ms(args.points)["total"]
            else:
                rust_ms = rows[key].rust_ms["total"]
            n = min(args.peer_points, args.points)
            phis = []
            seconds: list[float] = []
            for point in range(n):
                t0 = time.perf_counter()
                phis.append(explain(game, point, budget, args.seed))
                seconds.append(time.perf_counter() - t0)
                if sum(seconds) > PEER_MAX_SECONDS_PER_POINT * n:
                    break
            k = len(phis)
            peer_phi = np.stack(phis)
            result.points = k
            result.seconds_per_point = float(np.median(seconds))  # robust to a busy machine
            result.rust_ms_per_point = rust_ms
            result.speedup = result.seconds_per_point * 1e3 / rust_ms
            result.max_abs_diff_vs_rust = float(np.abs(peer_phi - rust_phi_store[key][:k]).max())
            result.max_abs_error_vs_exact = float(np.abs(peer_phi - game.shapley_values(0, k)).max())
            result.target = "met" if result.speedup >= TARGET_PEER else "missed"
            previous, previous_d = result.seconds_per_point, d
    return results, notes


# ------------------------------------------------------------------------------------------------
# reporting


def _fmt(x: float, width: int, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-".rjust(width)
    if x == 0:
        return "0".rjust(width)
    if abs(x) >= 1000:
        return f"{x:.0f}".rjust(width)
    return f"{x:.{digits}g}".rjust(width)


def _ratio(x: float, width: int) -> str:
    if math.isnan(x):
        return "-".rjust(width)
    return (f"{x:.0f}x" if x >= 100 else f"{x:.1f}x").rjust(width)


def format_main_table(rows: Sequence[Row], args: argparse.Namespace) -> str:
    lines = [
        f"Per-point times in ms. Rust path: all {args.points} points. Reference: the first 'ref pts' points "
        f"(time budget {args.ref_budget:g} s per row, at least {args.ref_min_points} points).",
        f"outside x = ref outside / Rust outside (target >= {TARGET_OUTSIDE:g}x at d >= {TARGET_MIN_PLAYERS}); "
        "total x = ref total / Rust total.",
        "",
    ]
    header = (
        f"{'d':>4} {'B':>5} {'method':<11} {'evals':>5} {'ref pts':>7} | {'Rust game':>9} {'Rust out':>9} "
        f"{'Rust tot':>9} | {'ref game':>9} {'ref out':>9} {'ref tot':>9} | {'outside x':>9} {'total x':>8} "
        f"{'target':>7}"
    )
    lines += [header, "-" * len(header)]
    for r in rows:
        head = f"{r.n_players:>4} {r.budget:>5} {r.method:<11} {r.evaluations_per_point:>5}"
        if r.status != "ok":
            lines.append(f"{head} {'':>7} | {r.status}")
            continue
        rust, ref = r.rust_ms, r.ref_ms
        lines.append(
            f"{head} {r.ref_points:>7} | {_fmt(rust['game'], 9)} {_fmt(rust['outside'], 9)} {_fmt(rust['total'], 9)} | "
            f"{_fmt(ref.get('game', math.nan), 9)} {_fmt(ref.get('outside', math.nan), 9)} "
            f"{_fmt(ref.get('total', math.nan), 9)} | {_ratio(r.outside_ratio, 9)} {_ratio(r.total_ratio, 8)} "
            f"{r.target:>7}"
        )
    return "\n".join(lines)


def format_breakdown_table(rows: Sequence[Row]) -> str:
    lines = [
        "Outside-the-game breakdown (ms per point) and accuracy against the closed-form Shapley values",
        "(paired KernelSHAP and antithetic permutations are exact on this order-2 game; errors are float32 rounding).",
        "",
    ]
    header = (
        f"{'d':>4} {'B':>5} {'method':<11} {'chunk':>5} | {'R sample':>9} {'R masks':>9} {'R estim':>9} "
        f"{'R other':>8} | {'ref samp':>9} {'ref masks':>9} {'ref estim':>9} | {'R err':>8} {'ref err':>8} "
        f"{'R-ref':>8} {'exact':>5}"
    )
    lines += [header, "-" * len(header)]
    for r in rows:
        head = f"{r.n_players:>4} {r.budget:>5} {r.method:<11}"
        if r.status != "ok":
            lines.append(f"{head} {'':>5} | {r.status.split(':')[0]}")
            continue
        rust, ref = r.rust_ms, r.ref_ms
        lines.append(
            f"{head} {r.rust_chunk_points:>5} | {_fmt(rust['sample'], 9)} {_fmt(rust['masks'], 9)} "
            f"{_fmt(rust['estimate'], 9)} {_fmt(rust['other'], 8)} | {_fmt(ref.get('sample', math.nan), 9)} "
            f"{_fmt(ref.get('masks', math.nan), 9)} {_fmt(ref.get('estimate', math.nan), 9)} | "
            f"{_fmt(r.rust_max_abs_error, 8, 2)} {_fmt(r.ref_max_abs_error, 8, 2)} "
            f"{_fmt(r.rust_vs_ref_max_abs_diff, 8, 2)} {'ok' if r.exact_ok else 'FAIL':>5}"
        )
    return "\n".join(lines)


def format_peer_table(peers: Sequence[PeerResult], notes: dict[str, str]) -> str:
    lines = [
        f"Peers: median time per point on the same game at B = {PEER_BUDGET}, against our Rust KernelSHAP "
        f"mean per-point total (game + outside); target >= {TARGET_PEER:g}x.",
        "  " + "; ".join(f"{name}: {info}" for name, info in notes.items()),
        "",
    ]
    header = (
        f"{'peer':<38} {'d':>4} {'pts':>4} | {'peer ms/pt':>10} {'Rust ms/pt':>10} {'speed-up':>9} {'target':>7} | "
        f"{'max|peer-ours|':>14} {'max|peer-exact|':>15}"
    )
    lines += [header, "-" * len(header)]
    for p in peers:
        if p.status != "ok":
            lines.append(f"{p.label:<38} {p.n_players or '':>4} {'':>4} | {p.status}")
            continue
        lines.append(
            f"{p.label:<38} {p.n_players:>4} {p.points:>4} | {_fmt(p.seconds_per_point * 1e3, 10)} "
            f"{_fmt(p.rust_ms_per_point, 10)} {_ratio(p.speedup, 9)} {p.target:>7} | "
            f"{_fmt(p.max_abs_diff_vs_rust, 14, 2)} {_fmt(p.max_abs_error_vs_exact, 15, 2)}"
        )
    return "\n".join(lines)


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, allow_nan=True, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(obj: Any) -> Any:
    """NaN/inf as null (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


# ------------------------------------------------------------------------------------------------
# main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark stochamort's Rust path against the numpy reference (and shap/shapiq).",
        epilog="The Rust thread pool size comes from RAYON_NUM_THREADS (or --threads, which sets it).",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: d in {16, 64}, B in {512, 2048}, 200 points")
    parser.add_argument("--points", type=int, default=None, help="points per configuration (default 1000; 200 --quick)")
    parser.add_argument("--players", type=int, nargs="+", default=None, help="numbers of players d (default 16 64 256)")
    parser.add_argument("--budgets", type=int, nargs="+", default=None, help="budgets B (default 512 2048 8192)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument(
        "--ref-budget", type=float, default=None, help="seconds of reference time per row (default 20; 2 --quick; 0: skip)"
    )
    parser.add_argument("--ref-min-points", type=int, default=None, help="reference points at least (default 20; 5 --quick)")
    parser.add_argument("--skip-peers", action="store_true", help="do not time shap / shapiq")
    parser.add_argument("--peer-points", type=int, default=None, help="points per peer and d (default 3; 1 --quick)")
    parser.add_argument("--threads", type=int, default=None, help="set RAYON_NUM_THREADS before importing stochamort")
    parser.add_argument(
        "--chunk-mb",
        type=float,
        default=DEFAULT_CHUNK_MB,
        help=f"bound on one chunk's bool mask array, in MB (default {DEFAULT_CHUNK_MB:g})",
    )
    parser.add_argument("--repeats", type=int, default=1, help="Rust passes per row; the fastest is kept (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON results (default {DEFAULT_OUTPUT})")
    parser.add_argument("--strict", action="store_true", help="exit with status 2 when a speed target is missed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    quick = args.quick
    if args.points is None:
        args.points = 200 if quick else 1000
    if args.players is None:
        args.players = [16, 64] if quick else [16, 64, 256]
    if args.budgets is None:
        args.budgets = [512, 2048] if quick else [512, 2048, 8192]
    if args.ref_budget is None:
        args.ref_budget = 2.0 if quick else 20.0
    if args.ref_min_points is None:
        args.ref_min_points = 5 if quick else 20
    if args.peer_points is None:
        args.peer_points = 1 if quick else 3
    args.peer_players = [16, 64] if quick else [16, 64, 256]
    if args.points < 1 or any(d < 2 for d in args.players) or any(b < 4 or b % 2 for b in args.budgets):
        parser.error("need --points >= 1, every d >= 2, every B even and >= 4")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # read when rayon's pool first starts
    wall0 = time.perf_counter()

    import stochamort as sa  # after RAYON_NUM_THREADS is set
    import stochamort.reference as ref
    from tqdm import tqdm

    configs = [(d, b, m) for d in args.players for b in args.budgets for m in args.methods]
    print(
        f"stochamort {sa.__version__} | numpy {np.__version__} | Python {platform.python_version()} | "
        f"{platform.machine()} {os.cpu_count()} CPUs | RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS', 'unset')}",
        flush=True,
    )
    print(
        f"{len(configs)} configurations x {args.points} points; reference up to {args.ref_budget:g} s per configuration.",
        flush=True,
    )

    games: dict[int, PairwiseGame] = {}
    rows: dict[tuple[int, int, str], Row] = {}
    rust_phi_store: dict[tuple[int, int, str], NDArray[np.float64]] = {}
    peers: list[PeerResult] = []
    peer_notes: dict[str, str] = {}
    n_steps = len(configs) + (0 if args.skip_peers else 1)
    with tqdm(total=n_steps, desc="bench", unit="cfg", disable=args.no_progress, file=sys.stderr) as progress:
        for d, budget, method in configs:
            progress.set_postfix_str(f"d={d} B={budget} {method}")
            if d not in games:
                games[d] = PairwiseGame(args.points, d, seed=args.seed)
            rows[(d, budget, method)] = benchmark_row(sa, ref, method, games[d], budget, args, rust_phi_store)
            progress.update(1)
        if not args.skip_peers:
            peers, peer_notes = run_peers(sa, games, rows, rust_phi_store, args, progress)
            progress.update(1)

    row_list = list(rows.values())
    print()
    print(format_main_table(row_list, args))
    targeted = [r for r in row_list if r.target in ("met", "missed")]
    missed = [r for r in targeted if r.target == "missed"]
    if not targeted:
        target_line = f"Outside-time target (>= {TARGET_OUTSIDE:g}x at d >= {TARGET_MIN_PLAYERS}): no row to judge."
    elif missed:
        names = ", ".join(f"d={r.n_players} B={r.budget} {r.method} ({r.outside_ratio:.1f}x)" for r in missed)
        target_line = f"Outside-time target (>= {TARGET_OUTSIDE:g}x at d >= {TARGET_MIN_PLAYERS}): MISSED by {names}."
    else:
        worst = min(targeted, key=lambda r: r.outside_ratio)
        target_line = (
            f"Outside-time target (>= {TARGET_OUTSIDE:g}x at d >= {TARGET_MIN_PLAYERS}): met by all {len(targeted)} rows "
            f"(smallest {worst.outside_ratio:.1f}x: d={worst.n_players} B={worst.budget} {worst.method})."
        )
    print(target_line)
    skipped = [r for r in row_list if r.status != "ok"]
    for r in skipped:
        print(f"  note: d={r.n_players} B={r.budget} {r.method} has no numbers ({r.status})")
    print()
    print(format_breakdown_table(row_list))

    peer_line = ""
    if args.skip_peers:
        print("\nPeers skipped (--skip-peers).")
    else:
        print()
        print(format_peer_table(peers, peer_notes))
        judged = [p for p in peers if p.target in ("met", "missed")]
        if not judged:
            peer_line = "Peer target: not judged (no peer ran; install the 'bench' extra: make .venv/.deps-bench)."
        else:
            missed_peers = [p for p in judged if p.target == "missed"]
            if missed_peers:
                names = ", ".join(f"{p.peer} d={p.n_players} ({p.speedup:.0f}x)" for p in missed_peers)
                peer_line = f"Peer target (>= {TARGET_PEER:g}x per point): MISSED by {names}."
            else:
                peer_line = f"Peer target (>= {TARGET_PEER:g}x per point): met by all {len(judged)} rows."
        print(peer_line)

    failures = [r for r in row_list if r.status == "ok" and not r.exact_ok]
    wall = time.perf_counter() - wall0
    print(f"\nTotal wall time: {wall:.0f} s")

    payload = {
        "benchmark": "bench_core",
        "created_unix": time.time(),
        "wall_seconds": wall,
        "environment": {
            "stochamort": sa.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "RAYON_NUM_THREADS": os.environ.get("RAYON_NUM_THREADS"),
            "peers": peer_notes,
        },
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "units": "milliseconds per point unless a key says otherwise",
        "targets": {
            "outside_ratio_min": TARGET_OUTSIDE,
            "outside_ratio_min_players": TARGET_MIN_PLAYERS,
            "outside_target_summary": target_line,
            "peer_speedup_min": TARGET_PEER,
            "peer_target_summary": peer_line,
        },
        "rows": [asdict(r) for r in row_list],
        "peers": [asdict(p) for p in peers],
        "correctness_failures": [f"d={r.n_players} B={r.budget} {r.method}" for r in failures],
    }
    write_json_atomic(args.output, _jsonable(payload))
    print(f"Results written to {args.output}")

    if failures:
        for r in failures:
            print(
                f"ERROR: d={r.n_players} B={r.budget} {r.method}: estimates not exact (finite={r.rust_finite}, "
                f"Rust err {r.rust_max_abs_error:.3g}, ref err {r.ref_max_abs_error:.3g}, tol {r.tolerance:.3g})",
                file=sys.stderr,
            )
        return 1
    if args.strict and (missed or "MISSED" in peer_line):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
