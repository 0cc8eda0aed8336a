"""Accuracy of data values: agreement with ground truth, and detection of mislabelled points."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort._stats import rankdata, row_correlations
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.results import DataValues

__all__ = ["value_metrics", "detection_auroc", "detection_auprc", "detection_metrics"]


def _as_values(name: str, values: Any) -> NDArray[np.float64]:
    """A 1-d float array from an array-like or the ``values`` of a :class:`DataValues`."""
    if isinstance(values, DataValues):
        return values.values
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidArgumentError(f"{name}: expected an array of numbers or DataValues, got {type(values).__name__} ({err})") from err


def _pair(pred: Any, truth: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    p, t = _as_values("pred", pred), _as_values("truth", truth)
    if p.ndim != 1 or p.shape != t.shape:
        raise ShapeError(f"pred: expected a 1-d array with the shape of truth {t.shape}, got {p.shape}")
    if p.size < 2:
        raise InvalidArgumentError(f"pred: needs at least 2 values, got {p.size}")
    return p, t


def _pearson(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    return float(row_correlations(a[None, :], b[None, :])[0])


def value_metrics(pred: Any, truth: Any) -> dict[str, float]:
    """Agreement of estimated data values ``(n,)`` with ground truth ``(n,)``.

    Args:
        pred: the estimates: an array ``(n,)`` or :class:`~stochamort.valuation.DataValues`.
        truth: the reference values, likewise.

    Returns ``pearson``, ``spearman`` (ties get average ranks), ``mse`` (mean squared error) and
    ``normalized_error`` (MSE over the variance of the truth: 0 is perfect, 1 is as good as
    predicting the mean value; NaN when the truth is constant).
    """
    p, t = _pair(pred, truth)
    variance = float(t.var())
    mse = float(np.mean((p - t) ** 2))
    return {
        "pearson": _pearson(p, t),
        "spearman": _pearson(rankdata(p), rankdata(t)),
        "mse": mse,
        "normalized_error": mse / variance if variance > 0 else float("nan"),
    }


def _scores_and_flags(values: Any, mislabelled: Any) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    v = _as_values("values", values)
    flags = np.asarray(mislabelled)
    if flags.dtype != np.bool_:
        raise InvalidArgumentError(f"mislabelled: expected a bool array, got dtype {flags.dtype}")
    if v.ndim != 1:
        raise ShapeError(f"values: expected a 1-d array, got shape {v.shape}")
    if flags.shape != v.shape:
        raise ShapeError(f"mislabelled: expected one flag per value, shape {v.shape}, got {flags.shape}")
    if flags.all() or not flags.any():
        raise InvalidArgumentError("mislabelled: needs both mislabelled and clean points")
    # Low value flags a suspicious point, so the detection score is the negated value.
    return -v, flags


def detection_auroc(values: Any, mislabelled: Any) -> float:
    """Area under the ROC curve for flagging mislabelled points by low value.

    The probability that a random mislabelled point has a lower value than a random clean one
    (ties count one half): the Mann–Whitney statistic. 0.5 is chance, 1 is perfect.

    Args:
        values: data values ``(n,)``: an array or :class:`~stochamort.valuation.DataValues`.
        mislabelled: bool ``(n,)``, True for the points whose label is known to be wrong.

    Raises:
        InvalidArgumentError: ``mislabelled`` not bool, or all or none of the points flagged.
        ShapeError: ``values`` not 1-d, or ``mislabelled`` of another length.
    """
    scores, flags = _scores_and_flags(values, mislabelled)
    ranks = rankdata(scores)
    n_pos, n_neg = int(flags.sum()), int((~flags).sum())
    return float((ranks[flags].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def detection_auprc(values: Any, mislabelled: Any) -> float:
    """Area under the precision–recall curve (average precision) for flagging low-value points.

    Points are inspected from the lowest value up; AP = Σ_k (R_k − R_{k−1}) P_k over the distinct
    value thresholds (tied values enter together). Chance level is the share of mislabelled points.

    Arguments and errors as :func:`detection_auroc`.
    """
    scores, flags = _scores_and_flags(values, mislabelled)
    order = np.argsort(-scores, kind="stable")
    s, f = scores[order], flags[order]
    true_positives = np.cumsum(f)
    # Only the last index of each run of tied scores is a threshold.
    last = np.r_[s[1:] != s[:-1], True]
    tp = true_positives[last]
    inspected = np.nonzero(last)[0] + 1
    precision = tp / inspected
    recall = tp / f.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def detection_metrics(values: Any, mislabelled: Any) -> dict[str, float]:
    """``auroc`` and ``auprc`` of mislabelled-point detection by low value (arguments as
    :func:`detection_auroc`)."""
    return {"auroc": detection_auroc(values, mislabelled), "auprc": detection_auprc(values, mislabelled)}
