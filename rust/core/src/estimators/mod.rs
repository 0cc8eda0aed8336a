//! Estimators that turn sampled coalitions (or permutation chains) and their values into
//! attributions with standard errors. All are batched over points and multi-output.

mod exact;
mod gram;
mod kernelshap;
mod lime;
mod msr;
mod permutation;
mod polynomial;
mod regression_mc;
mod sgd;
mod sparse;
mod strata;
mod surrogate;

pub use exact::exact_semivalue;
pub use kernelshap::{kernelshap, KernelShapVariant, SampleWeights};
pub use lime::{lime, LimeFit};
pub use msr::msr_banzhaf;
pub use permutation::{permutation_shapley, PermutationMoments};
pub use polynomial::{polynomial_shapley, DesignWeights, PolynomialBasis, PolynomialFit, PolynomialTerms};
pub use regression_mc::{
    regression_adjusted_semivalue, RegressionEstimate, RegressionSettings, DEFAULT_MAX_FOLDS, ROWS_PER_COEFFICIENT,
};
pub use sgd::{sgd_default_step_size, sgd_shapley};

use ndarray::{Array2, Array3};

/// Attributions `(n_points, n_players, n_outputs)` with standard errors of the same shape, and
/// the degrees of freedom of each standard error where they differ from cell to cell (stratified
/// designs, see `strata`); `None` where the caller knows them (replicates − 1 for every cell).
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    pub values: Array3<f64>,
    pub std_errors: Array3<f64>,
    pub dof: Option<Array3<f64>>,
}

/// The estimate of one point: values, standard errors and (optionally) their degrees of freedom,
/// `(n_players, n_outputs)` each.
pub(crate) struct PointEstimate {
    pub values: Array2<f64>,
    pub std_errors: Array2<f64>,
    pub dof: Option<Array2<f64>>,
}

/// Stack per-point matrices `(rows, cols)` into `(n_points, rows, cols)`.
pub(crate) fn stack(points: Vec<Array2<f64>>, rows: usize, cols: usize) -> Array3<f64> {
    let n = points.len();
    let mut data = Vec::with_capacity(n * rows * cols);
    for m in points {
        debug_assert_eq!(m.dim(), (rows, cols));
        data.extend(m.iter().copied());
    }
    Array3::from_shape_vec((n, rows, cols), data).expect("stacked shape matches")
}

impl Attribution {
    pub(crate) fn from_points(points: Vec<PointEstimate>, n_players: usize, n_outputs: usize) -> Self {
        let n = points.len();
        let (mut values, mut std_errors) = (Vec::with_capacity(n), Vec::with_capacity(n));
        // Every point's degrees of freedom, or None as soon as one point has none.
        let mut dof = Some(Vec::with_capacity(n));
        for p in points {
            values.push(p.values);
            std_errors.push(p.std_errors);
            dof = dof.zip(p.dof).map(|(mut all, d)| {
                all.push(d);
                all
            });
        }
        Attribution {
            values: stack(values, n_players, n_outputs),
            std_errors: stack(std_errors, n_players, n_outputs),
            dof: dof.filter(|d| !d.is_empty()).map(|d| stack(d, n_players, n_outputs)),
        }
    }
}
