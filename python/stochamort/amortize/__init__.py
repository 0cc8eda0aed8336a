"""Amortized attribution: networks that predict attributions, trained on noisy labels.

* :mod:`~stochamort.amortize.models`: default architectures (:class:`MLPAmortizer`,
  :class:`PatchAmortizer`) and the additive efficiency normalization.
* :mod:`~stochamort.amortize.trainer`: :func:`train_amortizer` (stored labels),
  :func:`train_amortizer_online` (fresh labels every epoch), :func:`predict`.
* :mod:`~stochamort.amortize.metrics`: accuracy against ground truth and compute accounting.

Example::

    from stochamort.amortize import MLPAmortizer, train_amortizer
    result = train_amortizer(MLPAmortizer(d, d, n_outputs), x, labels, x_val=xv, labels_val=yv)
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
from stochamort.amortize.trainer import (
    Amortizer,
    LabelFn,
    MixedPrecision,
    OracleLabels,
    TrainHistory,
    TrainResult,
    epoch_seed,
    predict,
    train_amortizer,
    train_amortizer_online,
)

__all__ = [
    # models
    "MLPAmortizer",
    "GatedMLPAmortizer",
    "PatchAmortizer",
    "EfficiencyNormalization",
    "efficiency_normalize",
    # training
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
