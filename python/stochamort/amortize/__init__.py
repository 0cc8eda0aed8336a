"""Amortized attribution: networks that predict attributions, trained on noisy labels.

* :mod:`~stochamort.amortize.models`: default architectures (:class:`MLPAmortizer`,
  :class:`PatchAmortizer`) and the additive efficiency normalization.
* :mod:`~stochamort.amortize.config`: :class:`TrainConfig`, every setting of a training run
  (frozen, validated, ``settings()`` for provenance).
* :mod:`~stochamort.amortize.trainer`: :func:`train_amortizer` (stored labels),
  :func:`train_amortizer_online` (fresh labels every epoch; :class:`OracleLabels` in
  :mod:`~stochamort.amortize.online`); the loop in :mod:`~stochamort.amortize.loop`, validation
  and checkpointing in :mod:`~stochamort.amortize.checkpoint`.
* :mod:`~stochamort.amortize.amortizer`: what training returns (:class:`Amortizer`,
  :class:`TrainResult`) and :func:`predict`.
* :mod:`~stochamort.amortize.metrics`: accuracy against ground truth and compute accounting.

Example::

    from stochamort.amortize import MLPAmortizer, TrainConfig, train_amortizer
    config = TrainConfig(epochs=50, lr=2e-3)
    result = train_amortizer(MLPAmortizer(d, d, n_outputs), x, labels, x_val=xv, labels_val=yv, config=config)
    phi = result.amortizer.predict(x_test)          # (n, d, n_outputs), float64
"""

from stochamort.amortize.metrics import (
    ComputeLedger,
    count_evaluations,
    evaluate_attributions,
    evaluation_flops,
    forward_flops,
    normalized_error,
    pearson_correlation,
    rankdata,
    sign_agreement,
    spearman_correlation,
    squared_error,
)
from stochamort.amortize.models import (
    EfficiencyNormalization,
    GatedMLPAmortizer,
    MLPAmortizer,
    PatchAmortizer,
    efficiency_normalize,
)
from stochamort.amortize.amortizer import Amortizer, TrainHistory, TrainResult, predict
from stochamort.amortize.config import MixedPrecision, TargetScale, TrainConfig
from stochamort.amortize.data import LabelFn
from stochamort.amortize.online import OracleLabels, epoch_seed
from stochamort.amortize.trainer import train_amortizer, train_amortizer_online

__all__ = [
    # models
    "MLPAmortizer",
    "GatedMLPAmortizer",
    "PatchAmortizer",
    "EfficiencyNormalization",
    "efficiency_normalize",
    # training
    "TrainConfig",
    "TargetScale",
    "Amortizer",
    "TrainResult",
    "TrainHistory",
    "train_amortizer",
    "train_amortizer_online",
    "predict",
    "OracleLabels",
    "epoch_seed",
    "LabelFn",
    "MixedPrecision",
    # metrics
    "squared_error",
    "normalized_error",
    "pearson_correlation",
    "spearman_correlation",
    "sign_agreement",
    "rankdata",
    "evaluate_attributions",
    # compute accounting
    "count_evaluations",
    "forward_flops",
    "evaluation_flops",
    "ComputeLedger",
]
