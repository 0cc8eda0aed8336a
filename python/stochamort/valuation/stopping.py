"""Stopping rules for the data-valuation oracles: a precision, or a number of fits, not a count of
samples chosen in advance.

An oracle given ``stopping=ValuationStopping(...)`` runs in rounds of its own size
(``n_permutations``, ``n_samples`` or ``n_contributions`` per round), each round on samples of its
own (the round's index offsets the random streams, so ``R`` rounds draw exactly the samples of one
run ``R`` times as large), and merges them (:func:`~stochamort.valuation.merging.merge_values`)
until the rule is met.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from stochamort.errors import InsufficientSamplesError, InvalidArgumentError
from stochamort.results import DataValues
from stochamort.valuation.merging import merge_values

__all__ = ["ValuationStopping"]

#: Rounds run when a target standard error is given without a cap on fits.
DEFAULT_MAX_ROUNDS = 64


def _positive_int(name: str, value: object, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ValuationStopping:
    """When a data-valuation oracle stops: at a target standard error, or a number of model fits.

    After each round, a training point meets the target once its standard error is at most
    ``target_std_error`` and rests on at least ``min_contributions`` contributions (a standard
    error from two or three is itself too noisy to stop on). Oracles whose samples serve every
    point at once (TMC and Beta Shapley, DataBanzhaf) stop when every point meets it;
    :class:`~stochamort.valuation.DistributionalShapley`, whose fits are each point's own, stops
    point by point. No round is started that could take the fits past ``max_fits``. With a
    target, the result's ``extras["target_met"]`` says which points reached it before the fits
    (or the 64 rounds allowed without ``max_fits``) ran out.

    Args:
        target_std_error: the precision to reach (None: spend ``max_fits``).
        max_fits: most utility evaluations (model fits) in all (None: 64 rounds with a target).
        min_contributions: contributions a point needs before its standard error can stop it.

    Raises:
        InvalidArgumentError: naming the argument for a non-positive or non-finite one, or when
            neither ``target_std_error`` nor ``max_fits`` is given (nothing would stop the rounds).
    """

    target_std_error: float | None = None
    max_fits: int | None = None
    min_contributions: int = 10

    def __post_init__(self) -> None:
        t = self.target_std_error
        if t is not None:
            if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, float, np.floating)) or not math.isfinite(t) or t <= 0:
                raise InvalidArgumentError(f"target_std_error: must be a positive finite number, got {t!r}")
            object.__setattr__(self, "target_std_error", float(t))
        object.__setattr__(self, "max_fits", _positive_int("max_fits", self.max_fits))
        if self.min_contributions is None:
            raise InvalidArgumentError("min_contributions: must be an integer >= 1, got None")
        object.__setattr__(self, "min_contributions", _positive_int("min_contributions", self.min_contributions))
        if self.target_std_error is None and self.max_fits is None:
            raise InvalidArgumentError("target_std_error: give a target standard error, max_fits, or both")

    def met(self, values: DataValues) -> NDArray[np.bool_]:
        """Which points ``(n_data,)`` meet the target (none without one)."""
        if self.target_std_error is None:
            return np.zeros(values.n_data, dtype=np.bool_)
        enough = np.asarray(values.n_contributions) >= self.min_contributions
        return np.asarray((np.asarray(values.std_errors) <= self.target_std_error) & enough, dtype=np.bool_)


#: One round: its index and the points to value (all, or the unfinished ones), to their values.
Round = Callable[[int, NDArray[np.int64]], DataValues]


def run_rounds(
    stopping: ValuationStopping,
    n_data: int,
    one_round: Round,
    round_fits: Callable[[int], int],
    *,
    per_point: bool,
    name: str,
    progress: bool,
) -> DataValues:
    """Rounds until ``stopping`` is met; ``round_fits(n_active)`` bounds a round's fits from above."""
    cap = stopping.max_fits
    if cap is not None and round_fits(n_data) > cap:
        raise InsufficientSamplesError(f"max_fits: {cap} cannot pay for one round ({round_fits(n_data)} fits)")
    rounds = DEFAULT_MAX_ROUNDS if cap is None else None
    everything = np.arange(n_data, dtype=np.int64)
    active = everything
    result: DataValues | None = None
    with tqdm(desc=f"{name} rounds", unit="round", disable=not progress, leave=False) as bar:
        r = 0
        while rounds is None or r < rounds:
            if result is not None and cap is not None and result.total_evaluations + round_fits(active.size) > cap:
                break
            part = one_round(r, active)
            if result is None:
                result = part
            elif per_point and active.size < n_data:
                result = _merge_rows(result, part, active)
            else:
                result = merge_values(result, part)
            r += 1
            bar.update(1)
            met = stopping.met(result)
            bar.set_postfix(met=f"{int(met.sum())}/{n_data}")
            if met.all():
                break
            if per_point:
                active = everything[~met]
    assert result is not None
    if stopping.target_std_error is not None:
        result = replace(result, extras={**result.extras, "target_met": stopping.met(result)})
    return result


def _merge_rows(result: DataValues, part: DataValues, rows: NDArray[np.int64]) -> DataValues:
    """``result`` with the points ``rows`` merged with ``part`` (their values only)."""
    assert result.m2 is not None
    subset = DataValues(result.values[rows], result.std_errors[rows], result.n_contributions[rows], 0, result.m2[rows])
    merged = merge_values(subset, part)
    assert merged.m2 is not None
    values, std_errors = result.values.copy(), result.std_errors.copy()
    counts, m2 = result.n_contributions.copy(), result.m2.copy()
    values[rows], std_errors[rows], counts[rows], m2[rows] = merged.values, merged.std_errors, merged.n_contributions, merged.m2
    # Per-sample extras of a per-point oracle have one row per point and do not stay rectangular.
    extras = {k: v for k, v in result.extras.items() if k != "contributions"}
    return DataValues(values, std_errors, counts, result.total_evaluations + part.total_evaluations, m2, extras)
