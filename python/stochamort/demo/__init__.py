"""``stochamort demo``: stochastic amortization end to end, measured against ground truth.

* :mod:`~stochamort.demo.synthetic`: Shapley values of an MLP on generated tabular data, exact
  ground truth by enumeration (``stochamort demo``, the default task; :func:`run_demo`).
"""

from stochamort.demo import synthetic
from stochamort.demo.synthetic import *

# The public names of each module, from the module's own list.
__all__: list[str] = []
__all__ += synthetic.__all__
