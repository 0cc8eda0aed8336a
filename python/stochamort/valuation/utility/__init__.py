"""Data-valuation utility games: U(S) = validation score of a model trained on the subset S.

The players are the N training points. A subset is given as a row of **counts**: ``counts[r, i]``
is the number of copies of training point i in subset r (a bool row is a plain subset), so that
multisets -- points drawn with replacement, as distributional Data Shapley needs -- are subsets
too. :meth:`Utility.evaluate` takes a ``(m, N)`` array of counts and returns the ``m`` utilities.

=============================  ==========================================================
utility                        model trained on each subset
=============================  ==========================================================
:class:`FunctionUtility`       any vectorised function of the counts (synthetic games, tests)
:class:`TorchLogisticUtility`  L2-regularised logistic / softmax regression, thousands of fits
                               at once by batched Newton on the device; exactly the objective of
                               scikit-learn's ``LogisticRegression(C=C)`` with
                               ``sample_weight=counts``
:class:`TorchMLPUtility`       one-hidden-layer ReLU networks, stacked, full-batch Adam
:class:`SklearnUtility`        any scikit-learn classifier, one clone per subset (joblib)
=============================  ==========================================================

Shared rules of the classifier utilities (:class:`ClassifierUtility`):

* **Labels** may be any integers or strings; they are mapped to class indices ``0..K-1`` in the
  order of ``np.unique(y_train)`` (``classes_``). Validation labels must occur in ``y_train``.
* **Degenerate subsets** -- total count 0, or fewer than two distinct classes present -- are not
  fitted: the "model" predicts the subset's Laplace-smoothed class frequencies
  ``p_c = (n_c + 1) / (n + K)`` (uniform for the empty subset) for every validation point. This is
  the same for every utility, and never an error.
* **Metrics**: ``"accuracy"`` (fraction of validation points whose most probable class, ties to
  the lowest class index, is their label), ``"log_likelihood"`` (mean log-probability of the
  validation labels, with probabilities clipped below at :data:`LOG_PROB_FLOOR` = 1e-12 so that a
  class a model rules out costs log(1e-12) ≈ -27.6 instead of -inf), or a callable
  ``metric(probabilities, y_valid) -> (m,)`` taking all validation probabilities of a batch,
  float64 ``(m, n_valid, K)``, and the validation class indices, int64 ``(n_valid,)``.

Layout (one job per module; import the public names from this package):

=========================  ================================================================
module                     holds
=========================  ================================================================
``base``                   :class:`Utility` (the ABC: batching, validation, evaluation count)
                           and :class:`FunctionUtility`
``classifier``             :class:`ClassifierUtility` (data, labels, degenerate subsets,
                           metrics), :data:`Metric`, :data:`LOG_PROB_FLOOR`
``support``                ``SubsetSupport``: sizes, class counts and supports of a batch
``rows``                   ``TorchData`` (a batch's training rows on the device), torch helpers
``solver``                 the batched Newton / L-BFGS logistic solver, alone
                           (``fit_logistic`` takes tensors and returns fitted parameters)
``torch_classifier``       ``TorchClassifierUtility``: device settings and chunking of fits
``logistic``, ``mlp``,     :class:`TorchLogisticUtility`, :class:`TorchMLPUtility`,
``sklearn``                :class:`SklearnUtility`
``sharded``                :class:`ShardedUtility`: any utility's fits on an executor's workers
=========================  ================================================================
"""

from __future__ import annotations

from stochamort.valuation.utility.base import FunctionUtility, Utility
from stochamort.valuation.utility.classifier import LOG_PROB_FLOOR, ClassifierUtility, Metric
from stochamort.valuation.utility.logistic import TorchLogisticUtility
from stochamort.valuation.utility.mlp import TorchMLPUtility
from stochamort.valuation.utility.sharded import ShardedUtility
from stochamort.valuation.utility.sklearn import SklearnUtility

__all__ = [
    "Utility",
    "FunctionUtility",
    "ClassifierUtility",
    "TorchLogisticUtility",
    "TorchMLPUtility",
    "SklearnUtility",
    "ShardedUtility",
    "Metric",
    "LOG_PROB_FLOOR",
]
