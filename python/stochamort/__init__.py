"""stochamort: stochastic amortization of feature attributions and data values.

The combinatorial core (samplers, weights, estimators) runs in Rust (``stochamort._core``); this
package is its typed Python API. The torch layers, :mod:`stochamort.games` and
:mod:`stochamort.oracles`, :mod:`stochamort.labels`, :mod:`stochamort.amortize` and
:mod:`stochamort.valuation`, are imported on first use, so ``import stochamort`` stays light:
the names below never import torch (:mod:`stochamort.explanation` imports shap only when an
export is asked for).
"""

import importlib
from typing import Any

from stochamort import errors, estimators, explanation, limits, parallelism, results, sampling, weights
from stochamort._core import __version__
from stochamort.errors import *
from stochamort.estimators import *
from stochamort.explanation import *
from stochamort.limits import *
from stochamort.parallelism import *
from stochamort.results import *
from stochamort.sampling import *
from stochamort.weights import *

# Every public name of the bottom layer, taken from each module's own list.
__all__ = ["__version__"]
__all__ += results.__all__
__all__ += explanation.__all__
__all__ += sampling.__all__
__all__ += weights.__all__
__all__ += estimators.__all__
__all__ += parallelism.__all__
__all__ += limits.__all__
__all__ += errors.__all__
__all__ = list(dict.fromkeys(__all__))  # explanation re-exports MissingDependencyError from errors
# torch layers (imported lazily)
__all__ += ["games", "oracles", "labels", "amortize", "valuation"]
# the objects users hold, from the torch layers (imported on first use)
__all__ += ["AmortizedExplainer", "AmortizedValuer"]

_LAZY_SUBMODULES = ("games", "oracles", "labels", "amortize", "valuation")
_LAZY_NAMES = {"AmortizedExplainer": "stochamort.amortize", "AmortizedValuer": "stochamort.valuation"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"stochamort.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'stochamort' has no attribute {name!r}")
