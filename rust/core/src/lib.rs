//! The combinatorial core of stochamort: seeded coalition and permutation samplers, kernel and
//! semivalue weights, and the estimators (KernelSHAP, unbiased KernelSHAP, SGD-Shapley, MSR Banzhaf,
//! LIME, permutation sampling, regression-adjusted Monte Carlo, exact enumeration) that turn sampled game values into attributions with
//! standard errors, and the data-valuation pieces (see [`valuation`]). Running moments live in one
//! place ([`moments`]), input checks in another (`validate`). Pure Rust: no Python types here;
//! `stochamort-python` is the glue.
//!
//! Conventions: masks are `(n_points, n_samples, n_players)` booleans, values
//! `(n_points, n_samples, n_outputs)`, attributions `(n_points, n_players, n_outputs)`. Work is
//! parallel over points with rayon, and every random draw comes from a stream derived from
//! `(seed, point, index)`, so results never depend on thread count or batching.

pub mod design;
pub mod distribution;
pub mod error;
pub mod estimators;
pub mod limits;
mod linalg;
mod math;
pub mod moments;
pub mod parallel;
mod rng;
pub mod sampling;
mod validate;
pub mod valuation;
pub mod weights;

pub use design::{sample_design, CoalitionDesign, MAX_DESIGN_PLAYERS};
pub use distribution::Distribution;
pub use error::{CoreError, CoreResult};
pub use estimators::{
    exact_semivalue, kernelshap, lime, msr_banzhaf, permutation_shapley, polynomial_shapley, regression_adjusted_semivalue,
    sgd_default_step_size, sgd_shapley, Attribution, DesignWeights, KernelShapVariant, LimeFit, PermutationMoments,
    PolynomialBasis, PolynomialFit, PolynomialTerms, RegressionEstimate, RegressionSettings, SampleWeights, DEFAULT_MAX_FOLDS,
    ROWS_PER_COEFFICIENT,
};
pub use limits::{checked_cells, checked_total, memory_limit, set_memory_limit, Interrupted};
pub use moments::{merge_moments, Moments};
pub use parallel::{call_pool, parallelism_enabled, parallelism_used, set_parallelism};
pub use rng::Draws;
pub use sampling::{
    coalition_probabilities, enumerate_coalitions, permutation_chain_masks, sample_coalitions, sample_multisets,
    sample_permutations, MAX_EXACT_PLAYERS, MAX_MULTISET_CELLS,
};
pub use valuation::{
    contribution_values, merge_data_values, permutation_data_values, truncation_points, DataValueMoments,
};
pub use weights::{lime_kernel, shapley_kernel, Semivalue};
