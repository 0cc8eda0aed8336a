"""Type stubs of the private native module ``stochamort._core`` (checked by mypy.stubtest)."""

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "__version__",
    "MAX_EXACT_PLAYERS",
    "sample_coalitions",
    "sample_design",
    "MAX_DESIGN_PLAYERS",
    "REGRESSION_MAX_FOLDS",
    "REGRESSION_ROWS_PER_COEFFICIENT",
    "coalition_probabilities",
    "size_probabilities",
    "sample_permutations",
    "permutation_chain_masks",
    "enumerate_coalitions",
    "shapley_kernel",
    "semivalue_weights",
    "lime_kernel",
    "kernelshap",
    "sgd_shapley",
    "polyshap",
    "oddshap",
    "msr_banzhaf",
    "lime",
    "permutation_shapley",
    "regression_adjusted_semivalue",
    "exact_semivalue",
    "merge_moments",
    "permutation_data_values",
    "merge_data_values",
    "contribution_values",
    "truncation_points",
    "semivalue_position_weights",
    "sample_multisets",
    "set_parallelism",
    "parallelism_enabled",
    "set_memory_limit",
    "memory_limit",
    "default_memory_limit",
]

__version__: str
MAX_EXACT_PLAYERS: int
MAX_DESIGN_PLAYERS: int
REGRESSION_MAX_FOLDS: int
REGRESSION_ROWS_PER_COEFFICIENT: float

def sample_coalitions(
    n_points: int,
    n_samples: int,
    n_players: int,
    distribution: str,
    paired: bool,
    seed: int,
    point_offset: int,
    sample_offset: int,
) -> NDArray[np.bool_]: ...
def sample_design(
    n_points: int,
    n_samples: int,
    n_players: int,
    distribution: str,
    paired: bool,
    replace: bool,
    seed: int,
    point_offset: int,
) -> tuple[NDArray[np.bool_], NDArray[np.float64], int]: ...
def coalition_probabilities(masks: NDArray[np.bool_], distribution: str) -> NDArray[np.float64]: ...
def size_probabilities(n_players: int, distribution: str) -> NDArray[np.float64]: ...
def sample_permutations(
    n_points: int,
    n_permutations: int,
    n_players: int,
    antithetic: bool,
    seed: int,
    point_offset: int,
    sample_offset: int,
) -> NDArray[np.int64]: ...
def permutation_chain_masks(permutations: NDArray[np.int64], interior: bool) -> NDArray[np.bool_]: ...
def enumerate_coalitions(n_players: int) -> NDArray[np.bool_]: ...
def shapley_kernel(n_players: int) -> NDArray[np.float64]: ...
def semivalue_weights(n_players: int, kind: str, alpha: float, beta: float) -> NDArray[np.float64]: ...
def lime_kernel(n_players: int, width: float) -> NDArray[np.float64]: ...
def kernelshap(
    masks: NDArray[np.bool_],
    values: NDArray[np.float64],
    null_values: NDArray[np.float64],
    grand_values: NDArray[np.float64],
    paired: bool,
    distribution: str,
    unbiased: bool,
    sample_weights: NDArray[np.float64] | None = None,
    n_enumerated: int | None = None,
    stratified: bool | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]: ...
def sgd_shapley(
    masks: NDArray[np.bool_],
    values: NDArray[np.float64],
    null_values: NDArray[np.float64],
    grand_values: NDArray[np.float64],
    paired: bool,
    step_size: float | None,
    batch_size: int,
    replicates: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def msr_banzhaf(
    masks: NDArray[np.bool_], values: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def polyshap(
    masks: NDArray[np.bool_],
    values: NDArray[np.float64],
    null_values: NDArray[np.float64],
    grand_values: NDArray[np.float64],
    sample_weights: NDArray[np.float64],
    order: int,
    max_terms: int | None,
    interactions: list[list[int]] | None,
    paired: bool,
    n_enumerated: int,
    stratified: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64] | None]: ...
def oddshap(
    masks: NDArray[np.bool_],
    values: NDArray[np.float64],
    null_values: NDArray[np.float64],
    grand_values: NDArray[np.float64],
    sample_weights: NDArray[np.float64],
    order: int,
    max_terms: int | None,
    interactions: list[list[int]] | None,
    n_enumerated: int,
    stratified: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64] | None]: ...
def lime(
    masks: NDArray[np.bool_], values: NDArray[np.float64], kernel: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]: ...
def permutation_shapley(
    permutations: NDArray[np.int64], chain_values: NDArray[np.float64], antithetic: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.uint64]]: ...
def regression_adjusted_semivalue(
    masks: NDArray[np.bool_],
    values: NDArray[np.float64],
    null_values: NDArray[np.float64],
    grand_values: NDArray[np.float64],
    sample_weights: NDArray[np.float64],
    n_enumerated: int,
    semivalue_weights: NDArray[np.float64],
    paired: bool,
    folds: int | None,
    degree: int | None,
    size_intercepts: bool | None,
    ridge: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], int, int, bool]: ...
def exact_semivalue(values: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.float64]: ...
def merge_moments(
    counts_a: NDArray[np.uint64],
    means_a: NDArray[np.float64],
    m2_a: NDArray[np.float64],
    counts_b: NDArray[np.uint64],
    means_b: NDArray[np.float64],
    m2_b: NDArray[np.float64],
) -> tuple[NDArray[np.uint64], NDArray[np.float64], NDArray[np.float64]]: ...
def permutation_data_values(
    permutations: NDArray[np.int64],
    chain_values: NDArray[np.float64],
    position_weights: NDArray[np.float64] | None,
    start: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.uint64], int]: ...
def merge_data_values(
    counts_a: NDArray[np.uint64],
    means_a: NDArray[np.float64],
    m2_a: NDArray[np.float64],
    counts_b: NDArray[np.uint64],
    means_b: NDArray[np.float64],
    m2_b: NDArray[np.float64],
    n_evaluations: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.uint64], int]: ...
def contribution_values(
    contributions: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.uint64], int]: ...
def truncation_points(chain_values: NDArray[np.float64], target: float, tolerance: float) -> NDArray[np.int64]: ...
def semivalue_position_weights(n_players: int, kind: str, alpha: float, beta: float) -> NDArray[np.float64]: ...
def sample_multisets(
    n_points: int,
    n_samples: int,
    n_data: int,
    min_size: int,
    max_size: int,
    seed: int,
    point_offset: int,
    sample_offset: int,
) -> NDArray[np.uint32]: ...
def set_parallelism(enabled: bool) -> None: ...
def parallelism_enabled() -> bool: ...
def set_memory_limit(limit: int | None = None) -> None: ...
def memory_limit() -> int: ...
def default_memory_limit() -> int: ...
