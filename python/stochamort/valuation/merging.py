"""Merging data values from disjoint samples: rounds of one run, or runs with other seeds.

pyDVL's ``ValuationResult`` objects add up; here :func:`merge_values` does the same for the
:class:`~stochamort.results.DataValues` of every Monte Carlo oracle. The merged result equals,
up to rounding, the result of one run with all the samples of both (Chan's parallel merge of the
running moments, in the Rust core).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort import estimators
from stochamort.errors import InvalidArgumentError, NonFiniteError
from stochamort.results import DataValues

__all__ = ["merge_values", "banzhaf_moments", "PROVENANCE"]

#: DataBanzhaf's ``extras``: each point's running moments inside and outside the samples.
BANZHAF_MOMENTS = ("n_inside", "mean_inside", "m2_inside", "n_outside", "mean_outside", "m2_outside")

#: ``extras`` arrays that list samples (permutations, draws) and are joined along this axis.
SAMPLE_AXES = {"truncated_at": 0, "contributions": 1}

#: ``extras`` an oracle's result carries so that merges can be checked: what made it (the
#: oracle's settings but for its sample counts and stopping rule) and the seeds of its samples.
PROVENANCE = ("estimator", "seeds")


def check_provenance(first: DataValues, second: DataValues) -> dict[str, Any]:
    """Refuse results of different oracles or settings, or sharing a seed (the same samples);
    the merged result's provenance."""
    made_by = first.extras.get("estimator"), second.extras.get("estimator")
    if None not in made_by and made_by[0] != made_by[1]:
        raise InvalidArgumentError(
            f"second: was made by {made_by[1]}, first by {made_by[0]}: only results of the same oracle with the "
            "same settings (but for how many samples) estimate the same values"
        )
    seeds = [np.asarray(v.extras["seeds"], dtype=np.uint64) if "seeds" in v.extras else None for v in (first, second)]
    if seeds[0] is not None and seeds[1] is not None:
        shared = np.intersect1d(seeds[0], seeds[1])
        if shared.size:
            raise InvalidArgumentError(
                f"second: was drawn with seed {int(shared[0])}, as first was: the two hold the same samples, and merging "
                "them would count each twice (halving the standard errors for nothing); run it with another seed"
            )
    merged: dict[str, Any] = {}
    if made_by[0] is not None and made_by[0] == made_by[1]:
        merged["estimator"] = made_by[0]
    if seeds[0] is not None and seeds[1] is not None:
        merged["seeds"] = np.union1d(seeds[0], seeds[1])
    return merged


def banzhaf_moments(masks: NDArray[np.bool_], utilities: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
    """The mergeable statistics of maximum sample reuse: per point, the count, mean and M2 of the
    utilities of the samples that hold it and of those that do not. ``masks`` ``(m, n)``."""
    inside = masks.astype(np.float64)
    outside = 1.0 - inside
    moments: dict[str, NDArray[Any]] = {}
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused below, by name
        centre = float(utilities.mean()) if utilities.size else 0.0
        shifted = utilities - centre  # centred first, so that the sums of squares keep their digits
        for side, weights in (("inside", inside), ("outside", outside)):
            count = weights.sum(axis=0)
            total, squares = shifted @ weights, (shifted**2) @ weights
            mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
            moments[f"n_{side}"] = count.astype(np.int64)
            moments[f"mean_{side}"] = mean + centre
            moments[f"m2_{side}"] = np.maximum(squares - count * mean**2, 0.0)
    if not all(np.isfinite(moments[f"{k}_{side}"]).all() for k in ("mean", "m2") for side in ("inside", "outside")):
        raise NonFiniteError(
            "values: the utilities are too large for their moments (their sums or squares overflow float64); rescale the utility"
        )
    return moments


def _side(values: DataValues, side: str) -> DataValues:
    count = np.asarray(values.extras[f"n_{side}"], dtype=np.int64)
    return DataValues(
        np.asarray(values.extras[f"mean_{side}"], dtype=np.float64),
        np.zeros(count.shape),
        count,
        values.total_evaluations,
        np.asarray(values.extras[f"m2_{side}"], dtype=np.float64),
    )


def _merge_banzhaf(first: DataValues, second: DataValues, provenance: dict[str, Any]) -> DataValues:
    inside = estimators.merge_data_values(_side(first, "inside"), _side(second, "inside"))
    outside = estimators.merge_data_values(_side(first, "outside"), _side(second, "outside"))
    assert inside.m2 is not None and outside.m2 is not None
    n_in, n_out = inside.n_contributions.astype(np.float64), outside.n_contributions.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = inside.m2 / (n_in - 1) / n_in + outside.m2 / (n_out - 1) / n_out
    std_errors = np.where((n_in >= 2) & (n_out >= 2), np.sqrt(variance), np.inf)
    extras = {
        "n_inside": inside.n_contributions, "mean_inside": inside.values, "m2_inside": inside.m2,
        "n_outside": outside.n_contributions, "mean_outside": outside.values, "m2_outside": outside.m2,
        **provenance,
    }
    return DataValues(
        inside.values - outside.values,
        std_errors,
        first.n_contributions + second.n_contributions,
        first.total_evaluations + second.total_evaluations,
        extras=extras,
    )


def merge_values(first: DataValues, second: DataValues) -> DataValues:
    """Combine two results of the same oracle for the same training points from independent
    samples (another seed, or the next round of a :class:`~stochamort.valuation.ValuationStopping`).

    Works for every Monte Carlo oracle: those that keep running moments (``m2``: TMC and Beta
    Shapley, distributional Shapley) and :class:`~stochamort.valuation.DataBanzhaf` (its moments
    inside and outside the samples, in ``extras``). ``total_evaluations`` and the contributions
    are summed; per-sample ``extras`` (``truncated_at``, ``contributions``) are joined.

    An oracle's result records what made it and its seed (``extras["estimator"]``,
    ``extras["seeds"]``), so that two results of different oracles or settings (which estimate
    different values), or drawn with the same seed (the same samples: merging would count each
    twice and halve the standard errors for nothing) are refused. It cannot see the utility: merge
    only results for the same model and data. A stopping rule's ``target_met`` and ``rounds`` do
    not carry over (the merged result was not stopped by any rule).

    Raises:
        InvalidArgumentError: naming ``first`` or ``second`` for something that is not
            :class:`~stochamort.results.DataValues`, exact values (nothing to merge), results of
            different kinds, oracles or settings, or results sharing a seed.
        ShapeError: the results value different numbers of points.
    """
    for name, values in (("first", first), ("second", second)):
        if not isinstance(values, DataValues):
            raise InvalidArgumentError(f"{name}: must be DataValues, got {type(values).__name__}")
        if values.m2 is None and not all(key in values.extras for key in BANZHAF_MOMENTS):
            raise InvalidArgumentError(
                f"{name}: has no running moments (m2, or DataBanzhaf's moments in extras): exact values and "
                "results of other estimators cannot be merged"
            )
    if (first.m2 is None) != (second.m2 is None):
        raise InvalidArgumentError("second: is a result of another kind of oracle than first (one keeps m2, the other not)")
    provenance = check_provenance(first, second)
    if first.m2 is None:
        return _merge_banzhaf(first, second, provenance)
    merged = estimators.merge_data_values(first, second)
    joined = {
        key: np.concatenate([first.extras[key], second.extras[key]], axis=axis)
        for key, axis in SAMPLE_AXES.items()
        if key in first.extras and key in second.extras
    }
    return replace(merged, extras={**joined, **provenance})
