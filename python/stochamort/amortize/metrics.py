"""Accuracy of attributions against ground truth, and compute accounting for error-vs-compute curves.

Every accuracy metric takes predictions and ground truth of shape ``(n_points, n_players,
n_outputs)`` (a 2-D ``(n_points, n_players)`` array is read as one output), as numpy arrays,
tensors or :class:`~stochamort.results.Estimate` objects, and returns a Python float.

Compute is counted in model evaluations (one evaluation = the game's value of one coalition of one
point, as in :attr:`Estimate.n_evaluations <stochamort.results.Estimate.n_evaluations>`) and in
FLOPs, so that per-example estimation and amortization can be compared on one axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.results import Estimate
from stochamort._stats import rankdata, row_correlations

__all__ = [
    "squared_error",
    "normalized_error",
    "pearson_correlation",
    "spearman_correlation",
    "sign_agreement",
    "rankdata",
    "evaluate_attributions",
    "count_evaluations",
    "forward_flops",
    "evaluation_flops",
    "ComputeLedger",
]


def _as_array(name: str, value: Any) -> NDArray[np.float64]:
    if isinstance(value, Estimate):
        value = value.values
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float64).numpy()
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ShapeError(f"{name}: expected shape (n_points, n_players[, n_outputs]), got {array.shape}")
    if not np.isfinite(array).all():
        raise NonFiniteError(f"{name}: holds NaN or infinity")
    return array


def _pair(pred: Any, truth: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    p, t = _as_array("pred", pred), _as_array("truth", truth)
    if p.shape != t.shape:
        raise ShapeError(f"pred: shape {p.shape} differs from truth's {t.shape}")
    if p.shape[0] == 0:
        raise ShapeError("truth: needs at least one point")
    return p, t


def squared_error(pred: Any, truth: Any) -> float:
    """The paper's error: ‖φ̂(x) − φ(x)‖² summed over players, averaged over points and outputs.

    ``mean_{p,k} Σ_i (pred[p,i,k] − truth[p,i,k])²``.
    """
    p, t = _pair(pred, truth)
    return float(np.square(p - t).sum(axis=1).mean())


def normalized_error(pred: Any, truth: Any) -> float:
    """Squared error relative to that of predicting the mean attribution: 1 − R² pooled over entries.

    ``Σ_{p,i,k} (pred − truth)² / Σ_{p,i,k} (truth − m)²`` with ``m[i,k] = mean_p truth[p,i,k]``,
    the best constant prediction of each player's attribution (the mean over points). 0 for a
    perfect prediction, 1 for predicting the mean attribution, above 1 for worse predictions.
    NaN when the truth is constant across points (no variance to explain).
    """
    p, t = _pair(pred, truth)
    baseline = float(np.square(t - t.mean(axis=0, keepdims=True)).sum())
    error = float(np.square(p - t).sum())
    if baseline == 0.0:
        return math.nan
    return error / baseline


def _correlation(pred: Any, truth: Any, per_point: bool, rank: bool) -> float:
    p, t = _pair(pred, truth)
    if per_point:
        # one correlation per (point, output) across players
        a = np.moveaxis(p, 1, 2).reshape(-1, p.shape[1])
        b = np.moveaxis(t, 1, 2).reshape(-1, t.shape[1])
    else:
        a, b = p.reshape(1, -1), t.reshape(1, -1)
    if rank:
        a, b = rankdata(a, axis=1), rankdata(b, axis=1)
    values = row_correlations(a, b)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def pearson_correlation(pred: Any, truth: Any, *, per_point: bool = True) -> float:
    """Pearson correlation between predicted and true attributions.

    ``per_point=True``: for every point and output, the correlation across players; averaged over
    all (point, output) pairs whose prediction and truth both vary across players (the others
    have no defined correlation and are skipped; NaN if none is left). ``per_point=False``: one
    correlation over all entries of the arrays.
    """
    return _correlation(pred, truth, per_point, rank=False)


def spearman_correlation(pred: Any, truth: Any, *, per_point: bool = True) -> float:
    """Spearman rank correlation: the Pearson correlation of the ranks (ties get average ranks,
    as ``scipy.stats.spearmanr``); per point or global as in :func:`pearson_correlation`."""
    return _correlation(pred, truth, per_point, rank=True)


def sign_agreement(pred: Any, truth: Any) -> float:
    """Fraction of entries whose predicted sign equals the true sign, over the entries whose true
    value is not exactly zero (a predicted 0 counts as a disagreement). NaN if the truth is all zero."""
    p, t = _pair(pred, truth)
    nonzero = t != 0
    if not nonzero.any():
        return math.nan
    return float((np.sign(p[nonzero]) == np.sign(t[nonzero])).mean())


def evaluate_attributions(pred: Any, truth: Any) -> dict[str, float]:
    """All accuracy metrics at once, keyed by name."""
    return {
        "squared_error": squared_error(pred, truth),
        "normalized_error": normalized_error(pred, truth),
        "pearson": pearson_correlation(pred, truth),
        "pearson_global": pearson_correlation(pred, truth, per_point=False),
        "spearman": spearman_correlation(pred, truth),
        "spearman_global": spearman_correlation(pred, truth, per_point=False),
        "sign_agreement": sign_agreement(pred, truth),
    }


# --------------------------------------------------------------------------------------------
# Compute accounting


def count_evaluations(estimate: Any) -> int:
    """Game evaluations spent: the sum of ``n_evaluations`` of an Estimate, or of an int array."""
    if isinstance(estimate, Estimate):
        counts = estimate.n_evaluations
    elif isinstance(estimate, (int, np.integer)) and not isinstance(estimate, bool):
        counts = np.asarray([estimate])
    else:
        counts = np.asarray(estimate)
        if counts.dtype.kind not in "iu":
            raise InvalidArgumentError(f"estimate: expected an Estimate or integer counts, got {type(estimate).__name__}")
    if counts.size and int(np.min(counts)) < 0:
        raise InvalidArgumentError("estimate: evaluation counts must be non-negative")
    return int(np.sum(counts, dtype=np.int64))


#: Modules whose cost is ignored by :func:`forward_flops` (element-wise, or no arithmetic).
_CHEAP = (
    nn.Sequential,
    nn.ModuleList,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.ReLU,
    nn.GELU,
    nn.Tanh,
    nn.Sigmoid,
    nn.SiLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.Softmax,
    nn.LogSoftmax,
    nn.Softplus,
    nn.LayerNorm,
    nn.BatchNorm1d,
)


def forward_flops(model: nn.Module) -> float:
    """Forward FLOPs of one input through an MLP, by a per-Linear-layer formula.

    Each ``nn.Linear(a, b)`` costs ``2ab`` (a multiply and an add per weight) plus ``b`` for its
    bias; activations, dropout, normalisation and containers are not counted (they are linear in
    the width, negligible next to the matrix products). The formula assumes each Linear layer is
    applied once per input (flat tabular inputs). For other architectures (convolutions,
    attention, embeddings, layers applied per token) there is no such formula: this raises, and the
    caller passes a measured or published number instead (e.g. ``ComputeLedger(flops_per_evaluation=...)``).

    Raises:
        InvalidArgumentError: ``model`` is not a module, or contains a module this formula cannot count.
    """
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
    total = 0.0
    n_linear = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            n_linear += 1
            total += 2.0 * module.in_features * module.out_features + (module.out_features if module.bias is not None else 0)
        elif any(True for _ in module.parameters(recurse=False)) and not isinstance(module, _CHEAP):
            raise InvalidArgumentError(
                f"model: cannot count FLOPs of {type(module).__name__} ({name or 'the model'}); "
                "the per-Linear formula covers MLPs only, pass the FLOPs per evaluation yourself"
            )
    if n_linear == 0:
        raise InvalidArgumentError(
            f"model: {type(model).__name__} has no Linear layer to count; pass the FLOPs per evaluation yourself"
        )
    return total


def evaluation_flops(model_or_family: Any, flops_per_forward: float | None = None) -> float:
    """FLOPs of one game evaluation (one coalition of one point).

    For a :class:`~stochamort.games.MaskedModel`, a coalition costs ``masker.expansions`` forward
    passes (a background average costs one per background row); for a bare model, one. The
    forward cost is ``flops_per_forward`` if given, else :func:`forward_flops` of the model.
    """
    expansions = 1
    model = model_or_family
    if hasattr(model_or_family, "masker") and hasattr(model_or_family, "model"):
        expansions = int(getattr(model_or_family.masker, "expansions", 1))
        model = model_or_family.model
    if flops_per_forward is None:
        per_forward = forward_flops(model)
    else:
        ok = isinstance(flops_per_forward, (int, float, np.integer, np.floating)) and not isinstance(flops_per_forward, bool)
        if not ok or not math.isfinite(float(flops_per_forward)) or flops_per_forward < 0:
            raise InvalidArgumentError(f"flops_per_forward: must be a non-negative finite number, got {flops_per_forward!r}")
        per_forward = float(flops_per_forward)
    return per_forward * expansions


@dataclass
class ComputeLedger:
    """Adds up the compute of the two ways to attribute a dataset, for error-vs-compute curves.

    * Per-example estimation: ``estimation_evaluations`` game evaluations (e.g. KernelSHAP with a
      large budget on every test point).
    * Amortization: ``label_evaluations`` game evaluations for the noisy training labels, plus
      ``training_flops`` to fit the amortizer, plus ``inference_flops`` to predict.

    Evaluations convert to FLOPs with ``flops_per_evaluation`` (see :func:`evaluation_flops`).
    Record with :meth:`add_labels`, :meth:`add_estimation` (an Estimate or a count),
    :meth:`add_training` (a :class:`~stochamort.amortize.TrainResult` or FLOPs) and
    :meth:`add_inference`.
    """

    flops_per_evaluation: float | None = None
    label_evaluations: int = 0
    estimation_evaluations: int = 0
    training_flops: float = 0.0
    inference_flops: float = 0.0

    def __post_init__(self) -> None:
        f = self.flops_per_evaluation
        if f is not None:
            ok = isinstance(f, (int, float, np.integer, np.floating)) and not isinstance(f, bool)
            if not ok or not math.isfinite(float(f)) or f < 0:
                raise InvalidArgumentError(f"flops_per_evaluation: must be a non-negative finite number, got {f!r}")
            self.flops_per_evaluation = float(f)

    def add_labels(self, estimate: Any) -> None:
        """Record the evaluations spent on training labels (an Estimate, counts, or an int)."""
        self.label_evaluations += count_evaluations(estimate)

    def add_estimation(self, estimate: Any) -> None:
        """Record the evaluations spent estimating attributions per example."""
        self.estimation_evaluations += count_evaluations(estimate)

    def add_training(self, result: Any) -> None:
        """Record training compute: a TrainResult (its ``train_flops``) or a number of FLOPs."""
        flops = getattr(result, "train_flops", result)
        ok = isinstance(flops, (int, float, np.integer, np.floating)) and not isinstance(flops, bool)
        if not ok or not math.isfinite(float(flops)) or flops < 0:
            raise InvalidArgumentError(f"result: expected a TrainResult or non-negative FLOPs, got {result!r}")
        self.training_flops += float(flops)

    def add_inference(self, flops: float) -> None:
        """Record the FLOPs of the amortizer's predictions (≈ 2 × parameters per point for an MLP)."""
        ok = isinstance(flops, (int, float, np.integer, np.floating)) and not isinstance(flops, bool)
        if not ok or not math.isfinite(float(flops)) or flops < 0:
            raise InvalidArgumentError(f"flops: must be a non-negative finite number, got {flops!r}")
        self.inference_flops += float(flops)

    def _per_evaluation(self) -> float:
        if self.flops_per_evaluation is None:
            raise InvalidArgumentError(
                "flops_per_evaluation: unknown; set it (e.g. with evaluation_flops(model)) to convert evaluations to FLOPs"
            )
        return self.flops_per_evaluation

    @property
    def label_flops(self) -> float:
        """FLOPs spent on training labels."""
        return self.label_evaluations * self._per_evaluation()

    @property
    def estimation_flops(self) -> float:
        """FLOPs spent on per-example estimation."""
        return self.estimation_evaluations * self._per_evaluation()

    @property
    def amortized_flops(self) -> float:
        """Total FLOPs of the amortized route: labels + training + inference."""
        return self.label_flops + self.training_flops + self.inference_flops

    def summary(self) -> dict[str, float]:
        """Every count, plus FLOPs when ``flops_per_evaluation`` is known."""
        out: dict[str, float] = {
            "label_evaluations": float(self.label_evaluations),
            "estimation_evaluations": float(self.estimation_evaluations),
            "training_flops": self.training_flops,
            "inference_flops": self.inference_flops,
        }
        if self.flops_per_evaluation is not None:
            out.update(
                label_flops=self.label_flops, estimation_flops=self.estimation_flops, amortized_flops=self.amortized_flops
            )
        return out
