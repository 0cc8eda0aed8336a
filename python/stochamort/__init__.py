"""stochamort: stochastic amortization of feature attributions and data values.

The combinatorial core (samplers, weights, estimators) runs in Rust (``stochamort._core``); this
package is its typed Python API. The torch layers, :mod:`stochamort.games` and
:mod:`stochamort.oracles`, :mod:`stochamort.labels`, :mod:`stochamort.amortize` and
:mod:`stochamort.valuation`, are imported on
first use, so ``import stochamort`` stays light.
"""

import importlib
from typing import Any

from stochamort._core import __version__
from stochamort.errors import (
    DeviceMismatchError,
    InsufficientSamplesError,
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    ShapeError,
    SingularSystemError,
    StochamortError,
    TooManyPlayersError,
)
from stochamort.estimate import Estimate
from stochamort.estimators import (
    contribution_values,
    exact_banzhaf,
    exact_semivalue,
    exact_shapley,
    kernelshap,
    lime,
    merge_data_values,
    merge_permutation_estimates,
    msr_banzhaf,
    permutation_data_values,
    permutation_shapley,
    sgd_shapley,
    truncation_points,
    unbiased_kernelshap,
)
from stochamort.parallelism import parallelism_enabled, set_parallelism
from stochamort.sampling import (
    coalition_probabilities,
    enumerate_coalitions,
    permutation_chain_masks,
    sample_coalitions,
    sample_multisets,
    sample_permutations,
    size_probabilities,
)
from stochamort.weights import lime_kernel, semivalue_position_weights, semivalue_weights, shapley_kernel

__all__ = [
    "__version__",
    "Estimate",
    # sampling
    "sample_coalitions",
    "size_probabilities",
    "coalition_probabilities",
    "sample_permutations",
    "permutation_chain_masks",
    "enumerate_coalitions",
    "sample_multisets",
    # weights
    "shapley_kernel",
    "semivalue_weights",
    "semivalue_position_weights",
    "lime_kernel",
    # estimators
    "kernelshap",
    "unbiased_kernelshap",
    "sgd_shapley",
    "msr_banzhaf",
    "lime",
    "permutation_shapley",
    "merge_permutation_estimates",
    "exact_semivalue",
    "exact_shapley",
    "exact_banzhaf",
    # data valuation
    "permutation_data_values",
    "merge_data_values",
    "contribution_values",
    "truncation_points",
    # parallelism
    "set_parallelism",
    "parallelism_enabled",
    # errors
    "StochamortError",
    "InvalidArgumentError",
    "InvalidDTypeError",
    "ShapeError",
    "NonFiniteError",
    "InsufficientSamplesError",
    "SingularSystemError",
    "TooManyPlayersError",
    "DeviceMismatchError",
    # torch layers (imported lazily)
    "games",
    "oracles",
    "labels",
    "amortize",
    "valuation",
]

_LAZY_SUBMODULES = ("games", "oracles", "labels", "amortize", "valuation")


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"stochamort.{name}")
    raise AttributeError(f"module 'stochamort' has no attribute {name!r}")
