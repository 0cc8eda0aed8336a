"""Data valuation: the value of each training point to a model, and its amortization.

* :mod:`~stochamort.valuation.utility`: utilities U(S) = validation score of a model trained on S,
  fitted thousands at a time (:class:`TorchLogisticUtility`, :class:`TorchMLPUtility`), or any
  scikit-learn classifier (:class:`SklearnUtility`), or a function (:class:`FunctionUtility`).
* :mod:`~stochamort.valuation.oracles`: noisy Monte Carlo values with standard errors —
  :class:`TMCShapley`, :class:`BetaShapley`, :class:`DataBanzhaf`,
  :class:`DistributionalShapley` — and :class:`ExactDataValues` for tiny datasets.
* :mod:`~stochamort.valuation.stopping`: :class:`ValuationStopping`, rounds until a target
  standard error or a number of fits; :mod:`~stochamort.valuation.merging`: :func:`merge_values`
  combines results from independent samples (as pyDVL's results add up).
* :mod:`~stochamort.valuation.amortize`: a value network (x, y) ↦ value trained on the noisy
  values (:func:`amortize_data_values`); it values unseen examples too.
* :mod:`~stochamort.valuation.valuer`: :class:`AmortizedValuer`, all of the above as one object
  (fit / value / save / load).
* :mod:`~stochamort.valuation.metrics`: agreement with ground truth, mislabel detection.
* :mod:`~stochamort.valuation.baselines`: the cheap baselines — :func:`leave_one_out`,
  :func:`knn_shapley` (exact), :func:`data_oob`, :func:`out_of_fold_probability`.

Example::

    from stochamort.valuation import DistributionalShapley, TorchLogisticUtility, amortize_data_values
    utility = TorchLogisticUtility(x_train, y_train, x_valid, y_valid)
    noisy = DistributionalShapley(n_contributions=5)(utility, seed=0)
    amortizer = amortize_data_values(x_train, y_train, noisy)
    values = amortizer.predict(x_new, y_new)

    # or, in one object:
    valuer = AmortizedValuer("logistic").fit(x_train, y_train, x_valid=x_valid, y_valid=y_valid)
    values = valuer.value(x_new, y_new)
"""

from stochamort.results import DataValues
from stochamort.valuation import amortize, baselines, merging, metrics, oracles, stopping, utility, valuer
from stochamort.valuation.amortize import *
from stochamort.valuation.baselines import *
from stochamort.valuation.merging import merge_values
from stochamort.valuation.metrics import *
from stochamort.valuation.oracles import *
from stochamort.valuation.stopping import *
from stochamort.valuation.utility import *
from stochamort.valuation.valuer import *

# The public names of each module, from the module's own list.
__all__ = ["DataValues"]
__all__ += utility.__all__
__all__ += oracles.__all__
__all__ += stopping.__all__
__all__ += ["merge_values"]
__all__ += amortize.__all__
__all__ += metrics.__all__
__all__ += valuer.__all__
__all__ += baselines.__all__
