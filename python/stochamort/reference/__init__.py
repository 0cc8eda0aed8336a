"""Pure-numpy reference implementations of every stochamort estimator, sampler and kernel.

These are slow, literal transcriptions of the mathematical contract (plain loops over points and
samples, dense ``d x d`` solves). They exist to be obviously correct: the test-suite checks the
Rust core against them, and the benchmarks use them as the pure-Python baseline. They never call
the compiled extension (an import contract forbids this package to import ``stochamort._core`` or
the modules that wrap it), so they stay an independent ground truth; importing them still loads
the ``stochamort`` package, whose ``__init__`` imports the extension.

The functions have the same names, signatures, validation and error classes as the public
modules ``stochamort.sampling``, ``stochamort.weights`` and ``stochamort.estimators``. Random
streams differ from the Rust samplers (only the distributions agree).
"""

from __future__ import annotations

from stochamort.reference import design, estimators, polynomial, regression, sampling, weights
from stochamort.reference.design import *
from stochamort.reference.estimators import *
from stochamort.reference.polynomial import *
from stochamort.reference.regression import *
from stochamort.reference.sampling import *
from stochamort.reference.weights import *

# The same names as the public modules they mirror, taken from each module's own list.
__all__ = []
__all__ += sampling.__all__
__all__ += design.__all__
__all__ += weights.__all__
__all__ += estimators.__all__
__all__ += polynomial.__all__
__all__ += regression.__all__
