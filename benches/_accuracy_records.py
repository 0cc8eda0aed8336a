"""One method's results on one (d, B) cell of the accuracy benchmark, ours or a peer's, as one record."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["MethodRun", "squared_errors", "runs_from_peer_job"]


@dataclass
class MethodRun:
    """Per-point squared errors ``‖φ̂_p − φ_p‖²``, counted evaluations and timings of one method at (d, B).

    ``seconds_per_point`` is wall time per point including the game; ``game_seconds_per_point`` the
    part spent inside the game. ``mean_variance`` is the method's own ``mean_p Σ_i se²`` (ours
    only), to compare with ``error``.
    """

    source: str
    method: str
    unbiased: bool
    d: int
    budget: int
    status: str = "ok"
    note: str = ""
    budget_argument: int | None = None
    points: list[int] = field(default_factory=list)
    sq_errors: list[float] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)
    seconds_per_point: float = math.nan
    game_seconds_per_point: float = math.nan
    mean_variance: float = math.nan
    warnings: list[str] = field(default_factory=list)

    @property
    def ours(self) -> bool:
        return self.source == "ours"

    @property
    def ok(self) -> bool:
        return self.status == "ok" and len(self.sq_errors) > 0

    @property
    def error(self) -> float:
        return float(np.mean(self.sq_errors)) if self.sq_errors else math.nan

    @property
    def error_se(self) -> float:
        n = len(self.sq_errors)
        return float(np.std(self.sq_errors, ddof=1) / math.sqrt(n)) if n > 1 else math.nan

    @property
    def evaluations_mean(self) -> float:
        return float(np.mean(self.evaluations)) if self.evaluations else math.nan

    @property
    def evaluations_max(self) -> int:
        return int(max(self.evaluations)) if self.evaluations else 0

    @property
    def over_budget(self) -> bool:
        """Whether some point cost more game evaluations than the nominal budget B."""
        return self.evaluations_max > self.budget

    def summary(self) -> dict[str, Any]:
        """The record with its derived numbers, for the JSON file."""
        return {
            "source": self.source,
            "method": self.method,
            "unbiased": self.unbiased,
            "d": self.d,
            "budget": self.budget,
            "status": self.status,
            "note": self.note,
            "budget_argument": self.budget_argument,
            "n_points": len(self.points),
            "error": self.error,
            "error_se": self.error_se,
            "evaluations_mean": self.evaluations_mean,
            "evaluations_max": self.evaluations_max,
            "over_budget": self.over_budget,
            "seconds_per_point": self.seconds_per_point,
            "game_seconds_per_point": self.game_seconds_per_point,
            "mean_variance": self.mean_variance,
            "warnings": self.warnings,
            "points": self.points,
            "sq_errors": self.sq_errors,
            "evaluations": self.evaluations,
        }


def squared_errors(estimates: NDArray[np.float64], truth: NDArray[np.float64]) -> list[float]:
    """``‖φ̂_p − φ_p‖²`` per point, for estimates and truth ``(n, d)``."""
    return [float(e) for e in np.sum((estimates - truth) ** 2, axis=1)]


def runs_from_peer_job(job: dict[str, Any], truth: NDArray[np.float64]) -> list[MethodRun]:
    """The records of one peer job (one peer on one game, every budget), scored against ``truth`` ``(n, d)``."""
    runs = []
    for budget, row in job["rows"].items():
        results = row["results"]
        run = MethodRun(
            source=job["source"],
            method=job["peer"],
            unbiased=bool(job["unbiased"]),
            d=int(job["d"]),
            budget=int(budget),
            status=row["status"] if results else (row["status"] if row["status"] != "ok" else "no points"),
            note=job["note"],
            budget_argument=row["budget_argument"],
            warnings=row["warnings"],
        )
        if results:
            points = np.asarray(row["points"], dtype=np.int64)
            phi = np.asarray([r["phi"] for r in results], dtype=np.float64)
            run.points = [int(p) for p in points]
            run.sq_errors = squared_errors(phi, truth[points])
            run.evaluations = [int(r["evaluations"]) for r in results]
            run.seconds_per_point = float(np.mean([r["seconds"] for r in results]))
            run.game_seconds_per_point = float(np.mean([r["game_seconds"] for r in results]))
            if run.status.startswith(("stopped", "failed at")):
                run.note = (run.note + "; " if run.note else "") + run.status
                run.status = "ok"  # the points before the stop are valid results
        runs.append(run)
    return runs
