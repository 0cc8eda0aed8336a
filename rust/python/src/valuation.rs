//! Data valuation: data values from permutations or contribution draws, their merge, and TMC's
//! truncation positions.

use numpy::ndarray::{Ix1, Ix2};
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use stochamort_core as core;

use crate::args::{count, merge_sides, readonly, unsigned, real};
use crate::errors::compute;

/// `(values, std_errors, m2, counts, n_evaluations)` of a data-valuation result.
type DataValueTuple<'py> = (
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
    u64,
);

fn data_value_tuple(py: Python<'_>, est: core::DataValueMoments) -> DataValueTuple<'_> {
    (
        est.values.into_pyarray(py),
        est.std_errors.into_pyarray(py),
        est.m2.into_pyarray(py),
        est.counts.into_pyarray(py),
        est.n_evaluations,
    )
}

/// Data values from permutations `(P, N)` and the utility along them `(P, N + 1)`.
#[pyfunction]
#[pyo3(signature = (permutations, chain_values, position_weights, start))]
fn permutation_data_values<'py>(
    py: Python<'py>,
    permutations: &Bound<'py, PyAny>,
    chain_values: &Bound<'py, PyAny>,
    position_weights: Option<&Bound<'py, PyAny>>,
    start: &Bound<'py, PyAny>,
) -> PyResult<DataValueTuple<'py>> {
    let perms = readonly::<i64, Ix2>(permutations, "permutations", "(n_permutations, n_players)")?;
    let chains = readonly::<f64, Ix2>(chain_values, "chain_values", "(n_permutations, n_players + 1)")?;
    let weights = position_weights
        .map(|w| readonly::<f64, Ix1>(w, "position_weights", "(n_players,)"))
        .transpose()?;
    let start = count(start, "start")?;
    let (p, c) = (perms.as_array(), chains.as_array());
    let w = weights.as_ref().map(|w| w.as_array());
    Ok(data_value_tuple(py, compute(py, || core::permutation_data_values(p, c, w, start))?))
}

/// Chan's merge of two data-valuation results over disjoint contributions.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn merge_data_values<'py>(
    py: Python<'py>,
    counts_a: &Bound<'py, PyAny>,
    means_a: &Bound<'py, PyAny>,
    m2_a: &Bound<'py, PyAny>,
    counts_b: &Bound<'py, PyAny>,
    means_b: &Bound<'py, PyAny>,
    m2_b: &Bound<'py, PyAny>,
    n_evaluations: &Bound<'py, PyAny>,
) -> PyResult<DataValueTuple<'py>> {
    let n_evaluations = unsigned(n_evaluations, "n_evaluations")?;
    let axes = ("(n_players,)", "(n_players,)");
    let est = merge_sides::<Ix1, _>(py, [counts_a, means_a, m2_a], [counts_b, means_b, m2_b], axes, |a, b| {
        core::merge_data_values(a.0, a.1, a.2, b.0, b.1, b.2, n_evaluations)
    })?;
    Ok(data_value_tuple(py, est))
}

/// Data values from per-point contribution draws `(n_points, n_samples)`.
#[pyfunction]
fn contribution_values<'py>(py: Python<'py>, contributions: &Bound<'py, PyAny>) -> PyResult<DataValueTuple<'py>> {
    let c = readonly::<f64, Ix2>(contributions, "contributions", "(n_points, n_samples)")?;
    let view = c.as_array();
    Ok(data_value_tuple(py, compute(py, || core::contribution_values(view))?))
}

/// First column of each row within `tolerance · |target|` of `target`, or −1.
#[pyfunction]
fn truncation_points<'py>(
    py: Python<'py>,
    chain_values: &Bound<'py, PyAny>,
    target: &Bound<'py, PyAny>,
    tolerance: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let target = real(target, "target")?;
    let tolerance = real(tolerance, "tolerance")?;
    let c = readonly::<f64, Ix2>(chain_values, "chain_values", "(n_permutations, n_columns)")?;
    let view = c.as_array();
    Ok(compute(py, || core::truncation_points(view, target, tolerance))?.into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_functions!(m, permutation_data_values, merge_data_values, contribution_values, truncation_points)
}
