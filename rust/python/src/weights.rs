//! Weights per coalition size: KernelSHAP's and LIME's kernels, and the semivalues.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use stochamort_core as core;
use stochamort_core::Semivalue;

use crate::args::{count, real, text};
use crate::errors::{compute, CoreFailure};

/// KernelSHAP's kernel per coalition size (length n_players + 1; infinite at both ends).
#[pyfunction]
fn shapley_kernel<'py>(py: Python<'py>, n_players: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let d = count(n_players, "n_players")?;
    Ok(compute(py, || core::shapley_kernel(d))?.into_pyarray(py))
}

/// LIME's exponential kernel per coalition size (length n_players + 1).
#[pyfunction]
fn lime_kernel<'py>(py: Python<'py>, n_players: &Bound<'py, PyAny>, width: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let d = count(n_players, "n_players")?;
    let width = real(width, "width")?;
    Ok(compute(py, || core::lime_kernel(d, width))?.into_pyarray(py))
}

/// A `#[pyfunction] name(n_players, kind, alpha, beta)` returning a per-size table of the semivalue
/// `kind` (Beta parameters `alpha`, `beta`): the core's `Semivalue::$table`.
macro_rules! semivalue_table {
    ($(#[doc = $doc:literal])* $name:ident => $table:ident) => {
        $(#[doc = $doc])*
        #[pyfunction]
        fn $name<'py>(
            py: Python<'py>,
            n_players: &Bound<'py, PyAny>,
            kind: &Bound<'py, PyAny>,
            alpha: &Bound<'py, PyAny>,
            beta: &Bound<'py, PyAny>,
        ) -> PyResult<Bound<'py, PyArray1<f64>>> {
            let d = count(n_players, "n_players")?;
            let kind = text(kind, "kind")?;
            let (alpha, beta) = (real(alpha, "alpha")?, real(beta, "beta")?);
            let semivalue = Semivalue::parse(&kind, alpha, beta).map_err(CoreFailure)?;
            Ok(compute(py, || semivalue.$table(d))?.into_pyarray(py))
        }
    };
}

semivalue_table! {
    /// Semivalue weight of one coalition of each size 0..n_players-1.
    semivalue_weights => weights
}

semivalue_table! {
    /// Weights of a marginal contribution at each position of a random permutation, per semivalue.
    semivalue_position_weights => position_weights
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, shapley_kernel, lime_kernel, semivalue_weights, semivalue_position_weights)
}
