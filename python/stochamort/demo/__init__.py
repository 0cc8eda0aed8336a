"""``stochamort demo``: stochastic amortization end to end, measured against ground truth.

* :mod:`~stochamort.demo.synthetic`: Shapley values of an MLP on generated tabular data, exact
  ground truth by enumeration (``stochamort demo``, the default task; :func:`run_demo`).
* :mod:`~stochamort.demo.tabular`: breast cancer through a scikit-learn model, per-example
  estimators vs stochastic amortization vs FastSHAP, and the break-even number of points
  (``stochamort demo --task tabular``).
* :mod:`~stochamort.demo.images`: the same comparison on 49 patches of MNIST digits, with a
  surrogate and a small ViT amortizer (``stochamort demo --task images``).
* :mod:`~stochamort.demo.compare`: what the tasks share (ladder, ground truth, equal-error
  matching, the table and figures).
"""

from stochamort.demo import synthetic
from stochamort.demo.synthetic import *

# The public names of each module, from the module's own list.
__all__: list[str] = []
__all__ += synthetic.__all__
