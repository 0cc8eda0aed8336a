"""Pure-numpy reference implementations of every stochamort estimator, sampler and kernel.

These are slow, literal transcriptions of the mathematical contract (plain loops over points and
samples, dense ``d x d`` solves). They exist to be obviously correct: the test-suite checks the
Rust core against them, and the benchmarks use them as the pure-Python baseline. They never touch
the compiled extension, so ``import stochamort.reference`` works without it.

The functions have the same names, signatures, validation and error classes as the public
modules ``stochamort.sampling``, ``stochamort.weights`` and ``stochamort.estimators``. Random
streams differ from the Rust samplers (only the distributions agree).
"""

from __future__ import annotations

from stochamort.reference.estimators import (
    contribution_values,
    exact_banzhaf,
    exact_semivalue,
    exact_shapley,
    kernelshap,
    lime,
    merge_data_values,
    msr_banzhaf,
    permutation_data_values,
    permutation_shapley,
    sgd_shapley,
    truncation_points,
    unbiased_kernelshap,
)
from stochamort.reference.sampling import (
    coalition_probabilities,
    enumerate_coalitions,
    permutation_chain_masks,
    sample_coalitions,
    sample_multisets,
    sample_permutations,
    size_probabilities,
)
from stochamort.reference.weights import lime_kernel, semivalue_position_weights, semivalue_weights, shapley_kernel

__all__ = [
    # sampling
    "size_probabilities",
    "coalition_probabilities",
    "sample_coalitions",
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
    "exact_semivalue",
    "exact_shapley",
    "exact_banzhaf",
    # data valuation
    "permutation_data_values",
    "merge_data_values",
    "contribution_values",
    "truncation_points",
]
