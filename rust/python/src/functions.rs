//! The `#[pyfunction]` wrappers: argument checks and conversions only; the work is in the core.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyArray4};
use numpy::ndarray::{Ix1, Ix2, Ix3, Ix4};
use pyo3::prelude::*;
use stochamort_core as core;
use stochamort_core::{Distribution, KernelShapVariant, Semivalue};

use crate::convert::readonly;
use crate::errors::{compute, core_error, raise};

type F64Array3<'py> = Bound<'py, PyArray3<f64>>;

/// A non-negative count argument (Python int) as `usize`.
fn count(py: Python<'_>, value: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    value
        .extract::<i64>()
        .ok()
        .filter(|&v| v >= 0)
        .map(|v| v as usize)
        .ok_or_else(|| raise(py, "InvalidArgumentError", format!("{name}: must be a non-negative integer, got {value}")))
}

/// A seed or offset argument (Python int in [0, 2**64)).
fn unsigned(py: Python<'_>, value: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    value
        .extract::<u64>()
        .map_err(|_| raise(py, "InvalidArgumentError", format!("{name}: must be an integer in [0, 2**64), got {value}")))
}

fn distribution(py: Python<'_>, value: &str) -> PyResult<Distribution> {
    Distribution::parse(value, "distribution").map_err(|e| core_error(py, e))
}

/// Coalitions for a batch of points, bool `(n_points, n_samples, n_players)`.
#[pyfunction]
#[pyo3(signature = (n_points, n_samples, n_players, distribution, paired, seed, point_offset, sample_offset))]
fn sample_coalitions<'py>(
    py: Python<'py>,
    n_points: &Bound<'py, PyAny>,
    n_samples: &Bound<'py, PyAny>,
    n_players: &Bound<'py, PyAny>,
    distribution: &str,
    paired: bool,
    seed: &Bound<'py, PyAny>,
    point_offset: &Bound<'py, PyAny>,
    sample_offset: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<bool>>> {
    let (n_points, n_samples, n_players) =
        (count(py, n_points, "n_points")?, count(py, n_samples, "n_samples")?, count(py, n_players, "n_players")?);
    let (seed, offset) = (unsigned(py, seed, "seed")?, unsigned(py, point_offset, "point_offset")?);
    let sample_offset = unsigned(py, sample_offset, "sample_offset")?;
    let dist = self::distribution(py, distribution)?;
    let masks = compute(py, || core::sample_coalitions(n_points, n_samples, n_players, dist, paired, seed, offset, sample_offset))?;
    Ok(masks.into_pyarray(py))
}

/// Exact probability of each coalition (rows of a 2-d bool array) under a distribution.
#[pyfunction]
fn coalition_probabilities<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    distribution: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let masks = readonly::<bool, Ix2>(masks, "masks", 2, "(n_coalitions, n_players)")?;
    let dist = self::distribution(py, distribution)?;
    let view = masks.as_array();
    Ok(compute(py, || core::coalition_probabilities(view, dist))?.into_pyarray(py))
}

/// P(|S| = k) for k = 0..n_players.
#[pyfunction]
fn size_probabilities<'py>(
    py: Python<'py>,
    n_players: &Bound<'py, PyAny>,
    distribution: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let d = count(py, n_players, "n_players")?;
    let dist = self::distribution(py, distribution)?;
    dist.check_players(d, "n_players").map_err(|e| core_error(py, e))?;
    Ok(dist.size_probabilities(d).into_pyarray(py))
}

/// Uniform random permutations, int64 `(n_points, n_permutations, n_players)`.
#[pyfunction]
#[pyo3(signature = (n_points, n_permutations, n_players, antithetic, seed, point_offset, sample_offset))]
fn sample_permutations<'py>(
    py: Python<'py>,
    n_points: &Bound<'py, PyAny>,
    n_permutations: &Bound<'py, PyAny>,
    n_players: &Bound<'py, PyAny>,
    antithetic: bool,
    seed: &Bound<'py, PyAny>,
    point_offset: &Bound<'py, PyAny>,
    sample_offset: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<i64>>> {
    let (n_points, n_perm, n_players) = (
        count(py, n_points, "n_points")?,
        count(py, n_permutations, "n_permutations")?,
        count(py, n_players, "n_players")?,
    );
    let (seed, offset) = (unsigned(py, seed, "seed")?, unsigned(py, point_offset, "point_offset")?);
    let sample_offset = unsigned(py, sample_offset, "sample_offset")?;
    let perms = compute(py, || core::sample_permutations(n_points, n_perm, n_players, antithetic, seed, offset, sample_offset))?;
    Ok(perms.into_pyarray(py))
}

/// Coalitions along permutations, bool `(n_points, n_permutations, n_players + 1, n_players)`
/// (only the `n_players − 1` interior rows with `interior`).
#[pyfunction]
fn permutation_chain_masks<'py>(
    py: Python<'py>,
    permutations: &Bound<'py, PyAny>,
    interior: bool,
) -> PyResult<Bound<'py, PyArray4<bool>>> {
    let perms = readonly::<i64, Ix3>(permutations, "permutations", 3, "(n_points, n_permutations, n_players)")?;
    let view = perms.as_array();
    Ok(compute(py, || core::permutation_chain_masks(view, interior))?.into_pyarray(py))
}

/// All 2^n_players coalitions, row s holding player i iff bit i of s is set.
#[pyfunction]
fn enumerate_coalitions<'py>(py: Python<'py>, n_players: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<bool>>> {
    let d = count(py, n_players, "n_players")?;
    Ok(compute(py, || core::enumerate_coalitions(d))?.into_pyarray(py))
}

/// KernelSHAP's kernel per coalition size (length n_players + 1; infinite at both ends).
#[pyfunction]
fn shapley_kernel<'py>(py: Python<'py>, n_players: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let d = count(py, n_players, "n_players")?;
    Ok(compute(py, || core::shapley_kernel(d))?.into_pyarray(py))
}

/// Semivalue weight of one coalition of each size 0..n_players-1.
#[pyfunction]
fn semivalue_weights<'py>(
    py: Python<'py>,
    n_players: &Bound<'py, PyAny>,
    kind: &str,
    alpha: f64,
    beta: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let d = count(py, n_players, "n_players")?;
    let semivalue = Semivalue::parse(kind, alpha, beta).map_err(|e| core_error(py, e))?;
    Ok(compute(py, || semivalue.weights(d))?.into_pyarray(py))
}

/// LIME's exponential kernel per coalition size (length n_players + 1).
#[pyfunction]
fn lime_kernel<'py>(py: Python<'py>, n_players: &Bound<'py, PyAny>, width: f64) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let d = count(py, n_players, "n_players")?;
    Ok(compute(py, || core::lime_kernel(d, width))?.into_pyarray(py))
}

fn masks_values<'py>(
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
) -> PyResult<(numpy::PyReadonlyArray3<'py, bool>, numpy::PyReadonlyArray3<'py, f64>)> {
    Ok((
        readonly::<bool, Ix3>(masks, "masks", 3, "(n_points, n_samples, n_players)")?,
        readonly::<f64, Ix3>(values, "values", 3, "(n_points, n_samples, n_outputs)")?,
    ))
}

/// KernelSHAP (consistent, or unbiased with the exact A) with standard errors.
#[pyfunction]
#[pyo3(signature = (masks, values, null_values, grand_values, paired, distribution, unbiased))]
#[allow(clippy::too_many_arguments)]
fn kernelshap<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    null_values: &Bound<'py, PyAny>,
    grand_values: &Bound<'py, PyAny>,
    paired: bool,
    distribution: &str,
    unbiased: bool,
) -> PyResult<(F64Array3<'py>, F64Array3<'py>)> {
    let (masks, values) = masks_values(masks, values)?;
    let null = readonly::<f64, Ix2>(null_values, "null_values", 2, "(n_points, n_outputs)")?;
    let grand = readonly::<f64, Ix2>(grand_values, "grand_values", 2, "(n_points, n_outputs)")?;
    let dist = self::distribution(py, distribution)?;
    let variant = if unbiased { KernelShapVariant::Unbiased } else { KernelShapVariant::Consistent };
    let (m, v, n, g) = (masks.as_array(), values.as_array(), null.as_array(), grand.as_array());
    let est = compute(py, || core::kernelshap(m, v, n, g, paired, dist, variant))?;
    Ok((est.values.into_pyarray(py), est.std_errors.into_pyarray(py)))
}

/// SGD-Shapley (projected, averaged SGD on the KernelSHAP objective) with standard errors over
/// replicates. `step_size` None means the core's default.
#[pyfunction]
#[pyo3(signature = (masks, values, null_values, grand_values, paired, step_size, batch_size, replicates))]
#[allow(clippy::too_many_arguments)]
fn sgd_shapley<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    null_values: &Bound<'py, PyAny>,
    grand_values: &Bound<'py, PyAny>,
    paired: bool,
    step_size: Option<&Bound<'py, PyAny>>,
    batch_size: &Bound<'py, PyAny>,
    replicates: &Bound<'py, PyAny>,
) -> PyResult<(F64Array3<'py>, F64Array3<'py>)> {
    let (masks, values) = masks_values(masks, values)?;
    let null = readonly::<f64, Ix2>(null_values, "null_values", 2, "(n_points, n_outputs)")?;
    let grand = readonly::<f64, Ix2>(grand_values, "grand_values", 2, "(n_points, n_outputs)")?;
    let step_size = step_size
        .map(|value| {
            value
                .extract::<f64>()
                .map_err(|_| raise(py, "InvalidDTypeError", format!("step_size: must be a real number or None, got {value}")))
        })
        .transpose()?;
    let (batch_size, replicates) = (count(py, batch_size, "batch_size")?, count(py, replicates, "replicates")?);
    let (m, v, n, g) = (masks.as_array(), values.as_array(), null.as_array(), grand.as_array());
    let est = compute(py, || core::sgd_shapley(m, v, n, g, paired, step_size, batch_size, replicates))?;
    Ok((est.values.into_pyarray(py), est.std_errors.into_pyarray(py)))
}

/// MSR Banzhaf values with standard errors.
#[pyfunction]
fn msr_banzhaf<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
) -> PyResult<(F64Array3<'py>, F64Array3<'py>)> {
    let (masks, values) = masks_values(masks, values)?;
    let (m, v) = (masks.as_array(), values.as_array());
    let est = compute(py, || core::msr_banzhaf(m, v))?;
    Ok((est.values.into_pyarray(py), est.std_errors.into_pyarray(py)))
}

/// LIME coefficients, their standard errors and the intercepts.
#[pyfunction]
fn lime<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    kernel: &Bound<'py, PyAny>,
) -> PyResult<(F64Array3<'py>, F64Array3<'py>, Bound<'py, PyArray2<f64>>)> {
    let (masks, values) = masks_values(masks, values)?;
    let kernel = readonly::<f64, Ix1>(kernel, "kernel", 1, "(n_players + 1,)")?;
    let kernel: Vec<f64> = kernel.as_array().to_vec();
    let (m, v) = (masks.as_array(), values.as_array());
    let fit = compute(py, || core::lime(m, v, &kernel))?;
    Ok((
        fit.attribution.values.into_pyarray(py),
        fit.attribution.std_errors.into_pyarray(py),
        fit.intercepts.into_pyarray(py),
    ))
}

/// Permutation-sampling Shapley values: (means, std_errors, m2, counts).
#[pyfunction]
fn permutation_shapley<'py>(
    py: Python<'py>,
    permutations: &Bound<'py, PyAny>,
    chain_values: &Bound<'py, PyAny>,
    antithetic: bool,
) -> PyResult<(F64Array3<'py>, F64Array3<'py>, F64Array3<'py>, Bound<'py, PyArray1<u64>>)> {
    let perms = readonly::<i64, Ix3>(permutations, "permutations", 3, "(n_points, n_permutations, n_players)")?;
    let chains = readonly::<f64, Ix4>(
        chain_values,
        "chain_values",
        4,
        "(n_points, n_permutations, n_players + 1, n_outputs)",
    )?;
    let (p, c) = (perms.as_array(), chains.as_array());
    let est = compute(py, || core::permutation_shapley(p, c, antithetic))?;
    Ok((
        est.attribution.values.into_pyarray(py),
        est.attribution.std_errors.into_pyarray(py),
        est.m2.into_pyarray(py),
        est.counts.into_pyarray(py),
    ))
}

/// Exact semivalues from the full game table `(n_points, 2^d, n_outputs)` and weights `(d,)`.
#[pyfunction]
fn exact_semivalue<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    weights: &Bound<'py, PyAny>,
) -> PyResult<F64Array3<'py>> {
    let values = readonly::<f64, Ix3>(values, "values", 3, "(n_points, 2**n_players, n_outputs)")?;
    let weights = readonly::<f64, Ix1>(weights, "weights", 1, "(n_players,)")?;
    let weights: Vec<f64> = weights.as_array().to_vec();
    let v = values.as_array();
    Ok(compute(py, || core::exact_semivalue(v, &weights))?.into_pyarray(py))
}

/// Merge the running moments of two disjoint sets of units: (counts, means, m2).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn merge_moments<'py>(
    py: Python<'py>,
    counts_a: &Bound<'py, PyAny>,
    means_a: &Bound<'py, PyAny>,
    m2_a: &Bound<'py, PyAny>,
    counts_b: &Bound<'py, PyAny>,
    means_b: &Bound<'py, PyAny>,
    m2_b: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyArray1<u64>>, F64Array3<'py>, F64Array3<'py>)> {
    let shape = "(n_points, n_players, n_outputs)";
    let ca = readonly::<u64, Ix1>(counts_a, "counts_a", 1, "(n_points,)")?;
    let cb = readonly::<u64, Ix1>(counts_b, "counts_b", 1, "(n_points,)")?;
    let ma = readonly::<f64, Ix3>(means_a, "means_a", 3, shape)?;
    let mb = readonly::<f64, Ix3>(means_b, "means_b", 3, shape)?;
    let qa = readonly::<f64, Ix3>(m2_a, "m2_a", 3, shape)?;
    let qb = readonly::<f64, Ix3>(m2_b, "m2_b", 3, shape)?;
    let views = (ca.as_array(), ma.as_array(), qa.as_array(), cb.as_array(), mb.as_array(), qb.as_array());
    let merged = compute(py, || core::merge_moments(views.0, views.1, views.2, views.3, views.4, views.5))?;
    Ok((merged.counts.into_pyarray(py), merged.means.into_pyarray(py), merged.m2.into_pyarray(py)))
}

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
    let perms = readonly::<i64, Ix2>(permutations, "permutations", 2, "(n_permutations, n_players)")?;
    let chains = readonly::<f64, Ix2>(chain_values, "chain_values", 2, "(n_permutations, n_players + 1)")?;
    let weights = position_weights
        .map(|w| readonly::<f64, Ix1>(w, "position_weights", 1, "(n_players,)"))
        .transpose()?;
    let start = count(py, start, "start")?;
    let (p, c) = (perms.as_array(), chains.as_array());
    let w = weights.as_ref().map(|w| w.as_array());
    let est = compute(py, || core::permutation_data_values(p, c, w, start))?;
    Ok(data_value_tuple(py, est))
}

/// Chan's merge of two data-valuation results over disjoint contributions.
#[pyfunction]
#[pyo3(signature = (counts_a, means_a, m2_a, counts_b, means_b, m2_b, n_evaluations))]
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
    let ca = readonly::<u64, Ix1>(counts_a, "counts_a", 1, "(n_players,)")?;
    let cb = readonly::<u64, Ix1>(counts_b, "counts_b", 1, "(n_players,)")?;
    let ma = readonly::<f64, Ix1>(means_a, "means_a", 1, "(n_players,)")?;
    let mb = readonly::<f64, Ix1>(means_b, "means_b", 1, "(n_players,)")?;
    let qa = readonly::<f64, Ix1>(m2_a, "m2_a", 1, "(n_players,)")?;
    let qb = readonly::<f64, Ix1>(m2_b, "m2_b", 1, "(n_players,)")?;
    let n_evaluations = unsigned(py, n_evaluations, "n_evaluations")?;
    let views = (ca.as_array(), ma.as_array(), qa.as_array(), cb.as_array(), mb.as_array(), qb.as_array());
    let est = compute(py, || {
        core::merge_data_values(views.0, views.1, views.2, views.3, views.4, views.5, n_evaluations)
    })?;
    Ok(data_value_tuple(py, est))
}

/// Data values from per-point contribution draws `(n_points, n_samples)`.
#[pyfunction]
fn contribution_values<'py>(py: Python<'py>, contributions: &Bound<'py, PyAny>) -> PyResult<DataValueTuple<'py>> {
    let c = readonly::<f64, Ix2>(contributions, "contributions", 2, "(n_points, n_samples)")?;
    let view = c.as_array();
    let est = compute(py, || core::contribution_values(view))?;
    Ok(data_value_tuple(py, est))
}

/// First column of each row within `tolerance · |target|` of `target`, or −1.
#[pyfunction]
fn truncation_points<'py>(
    py: Python<'py>,
    chain_values: &Bound<'py, PyAny>,
    target: f64,
    tolerance: f64,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let c = readonly::<f64, Ix2>(chain_values, "chain_values", 2, "(n_permutations, n_columns)")?;
    let view = c.as_array();
    Ok(compute(py, || core::truncation_points(view, target, tolerance))?.into_pyarray(py))
}

/// Weights of a marginal contribution at each position of a random permutation, per semivalue.
#[pyfunction]
fn semivalue_position_weights<'py>(
    py: Python<'py>,
    n_players: &Bound<'py, PyAny>,
    kind: &str,
    alpha: f64,
    beta: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let d = count(py, n_players, "n_players")?;
    let semivalue = Semivalue::parse(kind, alpha, beta).map_err(|e| core_error(py, e))?;
    Ok(compute(py, || semivalue.position_weights(d))?.into_pyarray(py))
}

/// Multisets of data points (multiplicities), u32 `(n_points, n_samples, n_data)`.
#[pyfunction]
#[pyo3(signature = (n_points, n_samples, n_data, min_size, max_size, seed, point_offset, sample_offset))]
#[allow(clippy::too_many_arguments)]
fn sample_multisets<'py>(
    py: Python<'py>,
    n_points: &Bound<'py, PyAny>,
    n_samples: &Bound<'py, PyAny>,
    n_data: &Bound<'py, PyAny>,
    min_size: &Bound<'py, PyAny>,
    max_size: &Bound<'py, PyAny>,
    seed: &Bound<'py, PyAny>,
    point_offset: &Bound<'py, PyAny>,
    sample_offset: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<u32>>> {
    let (n_points, n_samples, n_data) =
        (count(py, n_points, "n_points")?, count(py, n_samples, "n_samples")?, count(py, n_data, "n_data")?);
    let (min_size, max_size) = (unsigned(py, min_size, "min_size")?, unsigned(py, max_size, "max_size")?);
    let (seed, offset) = (unsigned(py, seed, "seed")?, unsigned(py, point_offset, "point_offset")?);
    let sample_offset = unsigned(py, sample_offset, "sample_offset")?;
    let counts = compute(py, || {
        core::sample_multisets(n_points, n_samples, n_data, min_size, max_size, seed, offset, sample_offset)
    })?;
    Ok(counts.into_pyarray(py))
}

/// Switch the core's rayon parallelism on or off for this process.
#[pyfunction]
fn set_parallelism(enabled: bool) {
    core::set_parallelism(enabled);
}

/// Whether the core may use several threads.
#[pyfunction]
fn parallelism_enabled() -> bool {
    core::parallelism_enabled()
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sample_coalitions, m)?)?;
    m.add_function(wrap_pyfunction!(coalition_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(size_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(sample_permutations, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_chain_masks, m)?)?;
    m.add_function(wrap_pyfunction!(enumerate_coalitions, m)?)?;
    m.add_function(wrap_pyfunction!(shapley_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(semivalue_weights, m)?)?;
    m.add_function(wrap_pyfunction!(lime_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(kernelshap, m)?)?;
    m.add_function(wrap_pyfunction!(sgd_shapley, m)?)?;
    m.add_function(wrap_pyfunction!(msr_banzhaf, m)?)?;
    m.add_function(wrap_pyfunction!(lime, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_shapley, m)?)?;
    m.add_function(wrap_pyfunction!(exact_semivalue, m)?)?;
    m.add_function(wrap_pyfunction!(merge_moments, m)?)?;
    m.add_function(wrap_pyfunction!(permutation_data_values, m)?)?;
    m.add_function(wrap_pyfunction!(merge_data_values, m)?)?;
    m.add_function(wrap_pyfunction!(contribution_values, m)?)?;
    m.add_function(wrap_pyfunction!(truncation_points, m)?)?;
    m.add_function(wrap_pyfunction!(semivalue_position_weights, m)?)?;
    m.add_function(wrap_pyfunction!(sample_multisets, m)?)?;
    m.add_function(wrap_pyfunction!(set_parallelism, m)?)?;
    m.add_function(wrap_pyfunction!(parallelism_enabled, m)?)?;
    Ok(())
}
