"""Data valuation: the value of each training point to a model, and its amortization.

* :mod:`~stochamort.valuation.utility`: utilities U(S) = validation score of a model trained on S,
  fitted thousands at a time (:class:`TorchLogisticUtility`, :class:`TorchMLPUtility`), or any
  scikit-learn classifier (:class:`SklearnUtility`), or a function (:class:`FunctionUtility`).
* :mod:`~stochamort.valuation.oracles`: noisy Monte Carlo values with standard errors —
  :class:`TMCShapley`, :class:`BetaShapley`, :class:`DataBanzhaf`,
  :class:`DistributionalShapley` — and :class:`ExactDataValues` for tiny datasets.
* :mod:`~stochamort.valuation.amortize`: a value network (x, y) ↦ value trained on the noisy
  values (:func:`amortize_data_values`); it values unseen examples too.
* :mod:`~stochamort.valuation.metrics`: agreement with ground truth, mislabel detection.

Example::

    from stochamort.valuation import DistributionalShapley, TorchLogisticUtility, amortize_data_values
    utility = TorchLogisticUtility(x_train, y_train, x_valid, y_valid)
    noisy = DistributionalShapley(n_contributions=5)(utility, seed=0)
    amortizer = amortize_data_values(x_train, y_train, noisy)
    values = amortizer.predict(x_new, y_new)
"""

from stochamort.valuation.amortize import (
    VALUE_NETWORK_CONFIG,
    ValueAmortizer,
    ValueNetwork,
    amortize_data_values,
    encode_examples,
)
from stochamort.valuation.metrics import detection_auprc, detection_auroc, detection_metrics, value_metrics
from stochamort.valuation.oracles import (
    BetaShapley,
    DataBanzhaf,
    DataValuationOracle,
    DistributionalShapley,
    ExactDataValues,
    TMCShapley,
)
from stochamort.results import DataValues
from stochamort.valuation.utility import (
    FunctionUtility,
    SklearnUtility,
    TorchLogisticUtility,
    TorchMLPUtility,
    Utility,
)

__all__ = [
    "DataValues",
    # utilities
    "Utility",
    "FunctionUtility",
    "TorchLogisticUtility",
    "TorchMLPUtility",
    "SklearnUtility",
    # oracles
    "DataValuationOracle",
    "TMCShapley",
    "BetaShapley",
    "DataBanzhaf",
    "DistributionalShapley",
    "ExactDataValues",
    # amortization
    "ValueNetwork",
    "ValueAmortizer",
    "amortize_data_values",
    "VALUE_NETWORK_CONFIG",
    "encode_examples",
    # metrics
    "value_metrics",
    "detection_auroc",
    "detection_auprc",
    "detection_metrics",
]
