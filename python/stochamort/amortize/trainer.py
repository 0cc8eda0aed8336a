"""Training amortizers on noisy labels: stochastic amortization (Covert et al., NeurIPS 2024).

The amortizer a(x; θ) is fitted by regression on pairs (x, ã(x)) where ã is a cheap, noisy,
(ideally) unbiased estimate of the attribution a(x). For an unbiased oracle,

    E‖a(x; θ) − ã(x)‖² = E‖a(x; θ) − a(x)‖² + E[tr Cov(ã | x)],

so the noisy loss has the same minimiser as the exact one: noise slows training but does not bias
it, and the amortizer's error ends up well below the labels' own noise. The loss is the paper's:
the squared error summed over players and outputs, averaged over the batch (d × MSE in their code).

Two entry points: :func:`train_amortizer` on stored labels (e.g. from the label store) and
:func:`train_amortizer_online` with fresh labels drawn every epoch. Both take the data as
arguments and *how* to train as one :class:`~stochamort.amortize.TrainConfig`, and return a
:class:`~stochamort.amortize.TrainResult` whose :class:`~stochamort.amortize.Amortizer` remembers
the target scale and the efficiency normalization, so ``result.amortizer.predict(x)`` gives
attributions in the labels' units. The loop itself is in :mod:`stochamort.amortize.loop`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from stochamort.amortize.amortizer import TrainResult
from stochamort._checks import check_int
from stochamort.amortize.config import TrainConfig
from stochamort.amortize.data import LabelFn, as_targets, float_dtype
from stochamort.amortize.loop import TrainingData, fit
from stochamort.amortize.objectives import FixedLabels, OnlineLabels
from stochamort.amortize.standardization import training_inputs
from stochamort.errors import InvalidArgumentError

__all__ = ["train_amortizer", "train_amortizer_online"]


def _check_model(model: Any) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_config(config: Any) -> TrainConfig:
    if config is None:
        return TrainConfig()
    if not isinstance(config, TrainConfig):
        raise InvalidArgumentError(f"config: must be a TrainConfig or None, got {type(config).__name__}")
    return config


def train_amortizer(
    model: nn.Module,
    x_train: Any,
    labels_train: Any,
    *,
    x_val: Any = None,
    labels_val: Any = None,
    gaps_train: Any = None,
    gaps_val: Any = None,
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train ``model`` to predict attributions from noisy labels (stochastic amortization).

    Loss: for a batch of B points, (1/B) Σ_b Σ_{i,k} (f(x_b)_{ik} − s·ã_{b,ik})², the squared
    error summed over players i and outputs k and averaged over points, on targets scaled by s
    (``config.target_scale``). Optimiser AdamW; learning rate: optional linear warm-up over
    ``config.warmup_epochs``, then cosine decay per step from ``config.lr`` to
    ``config.final_lr_ratio × lr`` over all ``config.epochs``. After each epoch the loss on the
    held-out *noisy* labels is computed (evaluation mode); the state with the lowest one is kept
    and loaded at the end — no ground truth needed, since for unbiased labels the noisy loss
    equals the true error plus a constant.

    Args:
        model: network mapping inputs ``(n, *shape)`` to ``(n, n_players, n_outputs)``, e.g.
            :class:`~stochamort.amortize.MLPAmortizer`. Trained in place (moved to ``config.device``).
        x_train: inputs ``(n, *shape)``: tensor or array (floating inputs are cast to the model's
            dtype; integer ones, e.g. token ids, to int64). With ``config.standardize_inputs``
            they are standardised first (and the returned amortizer standardises new inputs
            alike); without it, floating tabular inputs far from standardised (some feature's
            mean over 10 standard deviations from 0, or feature standard deviations more than a
            factor 100 apart) get a :class:`UserWarning`.
        labels_train: noisy labels ``(n, n_players, n_outputs)``: array, tensor or
            :class:`~stochamort.results.Estimate`.
        x_val, labels_val: held-out inputs and noisy labels for checkpoint selection and early
            stopping (both or neither).
        gaps_train, gaps_val: v(all) − v(∅) per point ``(n, n_outputs)``, needed iff
            ``config.efficiency``.
        config: the training settings (default ``TrainConfig()``); see
            :class:`~stochamort.amortize.TrainConfig`. Recorded in :attr:`TrainResult.settings`.

    Returns:
        A :class:`~stochamort.amortize.TrainResult`.

    Raises:
        InvalidArgumentError: bad arguments, or settings that do not fit the data (the message
            names the argument, or the field as ``TrainConfig.<field>``; e.g.
            ``standardize_inputs`` with integer inputs).
        ShapeError: inputs, labels, gaps or the model's output disagree in shape.
        NonFiniteError: NaN or infinite inputs or labels, or a diverging loss.
    """
    model = _check_model(model)
    config = _check_config(config)
    dtype = float_dtype(model)
    x, x_val, standardization = training_inputs(config, x_train, x_val, dtype)
    labels = as_targets("labels_train", labels_train, dtype, x.shape[0], 3)
    data = TrainingData.check(x, config, dtype, (x_val, labels_val), (gaps_train, gaps_val))
    return fit(model, data, FixedLabels(labels), config, standardization)


def train_amortizer_online(
    model: nn.Module,
    x_train: Any,
    label_fn: LabelFn,
    *,
    x_val: Any = None,
    labels_val: Any = None,
    gaps_train: Any = None,
    gaps_val: Any = None,
    label_chunk_size: int | None = None,
    config: TrainConfig | None = None,
) -> TrainResult:
    """Like :func:`train_amortizer`, but with fresh noisy labels for every training point each epoch.

    At the start of epoch ``e``, ``label_fn(indices, e)`` is called for contiguous chunks of
    ``label_chunk_size`` training points (default: all at once; ``indices`` is
    ``arange(start, stop)``), and must return their labels ``(len(indices), d, n_outputs)`` (an
    array, tensor or Estimate). Each epoch thus sees independent draws, so the effective number
    of label samples grows with the epochs (the paper's "more data, fewer samples" trade-off
    without storing anything). :class:`~stochamort.amortize.OracleLabels` builds such a function
    from an oracle. With ``target_scale="auto"`` the scale comes from epoch 0's labels. The
    validation labels (``labels_val``) are fixed, as in :func:`train_amortizer`. Time spent in
    ``label_fn`` counts in ``train_seconds`` but not in ``train_flops``. The other arguments,
    the result and the errors are :func:`train_amortizer`'s.
    """
    model = _check_model(model)
    if not callable(label_fn):
        raise InvalidArgumentError(f"label_fn: must be callable as label_fn(indices, epoch), got {type(label_fn).__name__}")
    config = _check_config(config)
    dtype = float_dtype(model)
    x, x_val, standardization = training_inputs(config, x_train, x_val, dtype)
    n = int(x.shape[0])
    chunk = n if label_chunk_size is None else check_int("label_chunk_size", label_chunk_size, 1)
    data = TrainingData.check(x, config, dtype, (x_val, labels_val), (gaps_train, gaps_val))
    return fit(model, data, OnlineLabels(label_fn, n, chunk, dtype), config, standardization)
