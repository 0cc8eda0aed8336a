"""Tables and the figure of the accuracy benchmark, from its :class:`MethodRun` records.

* :func:`comparisons`: per (d, B), our best estimator against the best peer that stayed within the
  budget, compared on the peer's points (paired: the same points, so the noise of the points
  cancels), with the time per point of each.
* :func:`unbiased_winners`: per (d, B), the unbiased methods ranked by error; the label-oracle table.
* :func:`error_table`, :func:`cost_table`, :func:`comparison_table`, :func:`unbiased_table`: text.
* :func:`plot`: error vs budget per d, log-log, ours solid, peers dashed (a PNG).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from _accuracy_records import MethodRun

__all__ = ["comparisons", "unbiased_winners", "error_table", "cost_table", "comparison_table", "unbiased_table", "plot"]

#: Budgets at which the default label oracle is picked.
LABEL_BUDGETS = (64, 128)


def _eligible(runs: Sequence[MethodRun]) -> list[MethodRun]:
    """Runs that may be "best": within budget, with an error and a standard error (two points or more)."""
    return [r for r in runs if r.ok and not r.over_budget and len(r.sq_errors) >= 2 and math.isfinite(r.error)]


def _cell(runs: Sequence[MethodRun], d: int, budget: int) -> list[MethodRun]:
    return [r for r in runs if r.d == d and r.budget == budget]


def comparisons(runs: Sequence[MethodRun]) -> list[dict[str, Any]]:
    """Per (d, B): best of ours vs best peer (error ratio on common points, paired difference, times)."""
    out = []
    for d in sorted({r.d for r in runs}):
        for budget in sorted({r.budget for r in runs if r.d == d}):
            cell = _eligible(_cell(runs, d, budget))
            ours = [r for r in cell if r.ours]
            peers = [r for r in cell if not r.ours]
            row: dict[str, Any] = {"d": d, "budget": budget, "best_ours": None, "best_peer": None, "target_error": "n/a", "target_time": "n/a"}
            out.append(row)
            if ours:
                best = min(ours, key=lambda r: r.error)
                row.update(best_ours=best.method, ours_error=best.error, ours_error_se=best.error_se, ours_seconds=best.seconds_per_point)
            if not (ours and peers):
                continue
            peer = min(peers, key=lambda r: r.error)
            row.update(best_peer=f"{peer.method} [{peer.source}]", peer_error=peer.error, peer_error_se=peer.error_se)
            row.update(peer_points=len(peer.points), peer_seconds=peer.seconds_per_point)
            row.update(_verdict(best, peer))
            speed = peer.seconds_per_point / best.seconds_per_point
            outside = (peer.seconds_per_point - peer.game_seconds_per_point) / (
                best.seconds_per_point - best.game_seconds_per_point
            )
            row.update(time_ratio=speed, time_ratio_outside_game=outside, target_time="met" if speed >= 10 else "missed")
    return out


def _verdict(ours: MethodRun, peer: MethodRun) -> dict[str, Any]:
    """Ours vs the peer on the peer's points: error ratio r, paired difference, and whether r ≤ 1.

    ``log r`` gets a delta-method standard error from the paired per-point errors (the points are
    the same, so their covariance counts); "met" if r ≤ 1, "noise" if r > 1 but log r is within
    2 standard errors of 0, "missed" otherwise.
    """
    by_point = dict(zip(ours.points, ours.sq_errors))
    pairs = [(by_point[p], e) for p, e in zip(peer.points, peer.sq_errors) if p in by_point]
    mine, theirs = (np.array(x) for x in zip(*pairs))
    n, m_o, m_p = len(pairs), float(mine.mean()), float(theirs.mean())
    diff = mine - theirs
    diff_se = float(np.std(diff, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    ratio = m_o / m_p if m_p > 0 else math.inf
    log_se = math.nan
    if n > 1 and m_o > 0 and m_p > 0:
        cov = np.cov(mine, theirs, ddof=1)
        var = cov[0, 0] / m_o**2 + cov[1, 1] / m_p**2 - 2 * cov[0, 1] / (m_o * m_p)
        log_se = math.sqrt(max(var, 0.0) / n)
    if ratio <= 1:
        verdict = "met"
    elif math.isfinite(log_se) and math.log(ratio) <= 2 * log_se:
        verdict = "noise"
    else:
        verdict = "missed"
    return {
        "error_ratio_common_points": ratio,
        "log_ratio_se": log_se,
        "paired_difference": float(diff.mean()),
        "paired_difference_se": diff_se,
        "target_error": verdict,
    }


def unbiased_winners(runs: Sequence[MethodRun]) -> list[dict[str, Any]]:
    """Per (d, B): every unbiased method within budget, lowest error × counted evaluations first."""
    out = []
    for d in sorted({r.d for r in runs}):
        for budget in sorted({r.budget for r in runs if r.d == d}):
            # Ranked by error x counted evaluations (an unbiased estimator's error falls as 1/evaluations,
            # so this is its error per evaluation: fair to methods that leave part of B unspent).
            unbiased = [r for r in _eligible(_cell(runs, d, budget)) if r.unbiased]
            ranked = sorted(unbiased, key=lambda r: r.error * r.evaluations_mean)
            lowest = min(unbiased, key=lambda r: r.error, default=None)
            out.append(
                {
                    "d": d,
                    "budget": budget,
                    "winner": f"{ranked[0].method} [{ranked[0].source}]" if ranked else None,
                    "lowest_error": f"{lowest.method} [{lowest.source}]" if lowest else None,
                    "ranking": [
                        {
                            "method": f"{r.method} [{r.source}]",
                            "error": r.error,
                            "error_se": r.error_se,
                            "evaluations": r.evaluations_mean,
                            "error_x_evaluations": r.error * r.evaluations_mean,
                        }
                        for r in ranked
                    ],
                }
            )
    return out


def _g(x: float, width: int = 9) -> str:
    return f"{x:{width}.2e}" if math.isfinite(x) else f"{'-':>{width}}"


def _name(r: MethodRun) -> str:
    return f"{'ours' if r.ours else r.source.split()[0]}: {r.method}"


def _methods(runs: Sequence[MethodRun], d: int) -> list[tuple[str, MethodRun]]:
    seen: dict[str, MethodRun] = {}
    for r in runs:
        if r.d == d:
            seen.setdefault(_name(r), r)
    return sorted(seen.items(), key=lambda kv: (not kv[1].ours, kv[0]))


def error_table(runs: Sequence[MethodRun], d: int) -> str:
    """Rows: methods; columns: budgets; cells: mean ‖φ̂ − φ‖² and its relative standard error."""
    budgets = sorted({r.budget for r in runs if r.d == d})
    head = f"{'method':40} U  " + " ".join(f"{'B=' + str(b):>15}" for b in budgets)
    lines = [head, "-" * len(head)]
    for name, first in _methods(runs, d):
        cells = []
        for b in budgets:
            run = next((r for r in _cell(runs, d, b) if _name(r) == name), None)
            if run is None or not run.ok:
                cells.append(f"{(run.status.split(':')[0] if run else ''):>15}"[:15])
                continue
            rel = run.error_se / run.error if run.error > 0 else math.nan
            flag = "!" if run.over_budget else " "
            cells.append(f"{run.error:9.2e}±{rel * 100:3.0f}%{flag}" if math.isfinite(rel) else f"{run.error:9.2e}     {flag}")
        lines.append(f"{name[:40]:40} {'U' if first.unbiased else ' '}  " + " ".join(cells))
    return "\n".join(lines)


def cost_table(runs: Sequence[MethodRun], d: int) -> str:
    """Rows: methods; columns: budgets; cells: counted evaluations per point / milliseconds per point."""
    budgets = sorted({r.budget for r in runs if r.d == d})
    head = f"{'method':40} {'pts':>4} " + " ".join(f"{'B=' + str(b) + ' ev/ms':>15}" for b in budgets)
    lines = [head, "-" * len(head)]
    for name, _ in _methods(runs, d):
        cells, n_points = [], 0
        for b in budgets:
            run = next((r for r in _cell(runs, d, b) if _name(r) == name), None)
            if run is None or not run.ok:
                cells.append(f"{'-':>15}")
                continue
            n_points = max(n_points, len(run.points))
            flag = "!" if run.over_budget else " "
            cells.append(f"{run.evaluations_mean:6.0f}{flag}/{run.seconds_per_point * 1e3:7.2f}")
        lines.append(f"{name[:40]:40} {n_points:4d} " + " ".join(cells))
    return "\n".join(lines)


def comparison_table(rows: Sequence[dict[str, Any]]) -> str:
    """The targets: our best vs the best peer at every (d, B).

    ``err``: met (ours ≤ peer), noise (worse, but within 2 se of the log ratio), missed. ``x``: the
    peer's time per point over ours; ``x out``: the same without the time spent in the game.
    """
    head = (
        f"{'d':>3} {'B':>5} | {'best ours':22} {'error':>9} | {'best peer (within B)':38} {'error':>9} {'pts':>3} | "
        f"{'ours/peer':>9} {'± se(log)':>9} {'err':>6} | {'ms/pt ours':>10} {'peer':>8} {'x':>6} {'x out':>6} {'time':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("best_peer") is None:
            lines.append(f"{r['d']:3d} {r['budget']:5d} | {str(r['best_ours'])[:22]:22} {_g(r.get('ours_error', math.nan))} | (no peer)")
            continue
        lines.append(
            f"{r['d']:3d} {r['budget']:5d} | {r['best_ours'][:22]:22} {_g(r['ours_error'])} | {r['best_peer'][:38]:38} "
            f"{_g(r['peer_error'])} {r['peer_points']:3d} | {r['error_ratio_common_points']:9.3f} {r['log_ratio_se']:9.2f} "
            f"{r['target_error']:>6} | {r['ours_seconds'] * 1e3:10.3f} {r['peer_seconds'] * 1e3:8.1f} {r['time_ratio']:6.0f} "
            f"{r['time_ratio_outside_game']:6.0f} {r['target_time']:>6}"
        )
    return "\n".join(lines)


def unbiased_table(rows: Sequence[dict[str, Any]], budgets: Sequence[int] = LABEL_BUDGETS) -> str:
    """Unbiased estimators only, at the labelling budgets: error, counted evaluations, error × evaluations."""
    head = f"{'d':>3} {'B':>5} {'rank':>4} {'unbiased method':48} {'error':>9} {'± se':>9} {'evals':>6} {'err x evals':>11}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["budget"] not in budgets:
            continue
        for rank, m in enumerate(r["ranking"], 1):
            lines.append(
                f"{r['d']:3d} {r['budget']:5d} {rank:4d} {m['method'][:48]:48} {_g(m['error'])} {_g(m['error_se'])} "
                f"{m['evaluations']:6.0f} {m['error_x_evaluations']:11.3e}"
            )
        lines.append("")
    return "\n".join(lines)


def plot(runs: Sequence[MethodRun], path: Path, references: dict[int, str]) -> None:
    """Error vs budget per d (log-log): ours solid with circles, peers dashed; ± se as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = sorted({r.d for r in runs})
    fig, axes = plt.subplots(1, len(ds), figsize=(5.2 * len(ds), 4.6), squeeze=False)
    names = sorted({_name(r) for r in runs}, key=lambda n: (not n.startswith("ours"), n))
    colours = {n: plt.get_cmap("tab20")(i % 20) for i, n in enumerate(names)}
    for ax, d in zip(axes[0], ds):
        for name, _ in _methods(runs, d):
            good = sorted((r for r in runs if r.d == d and _name(r) == name and r.ok), key=lambda r: r.budget)
            if not good:
                continue
            ours = good[0].ours
            ax.errorbar(
                [r.budget for r in good],
                [r.error for r in good],
                yerr=[0.0 if not math.isfinite(r.error_se) else r.error_se for r in good],
                label=name,
                color=colours[name],
                linestyle="-" if ours else "--",
                marker="o" if ours else "x",
                linewidth=1.8 if ours else 1.0,
                markersize=4,
                capsize=2,
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("budget B (game evaluations per point)")
        ax.set_ylabel("mean squared error ‖φ̂ − φ‖²")
        ax.set_title(f"d = {d} ({references.get(d, '')})")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06 + 0.025 * math.ceil(len(labels) / 4), 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
