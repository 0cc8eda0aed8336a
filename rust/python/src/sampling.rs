//! Samplers: coalitions, permutations and the chains along them, multisets, enumeration, and the
//! probabilities of the coalition distributions.

use numpy::ndarray::{Ix2, Ix3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyArray4};
use pyo3::prelude::*;
use stochamort_core as core;
use stochamort_core::Draws;

use crate::args::{count, distribution, flag, readonly, readonly_bools, text, unsigned};
use crate::errors::{compute, CoreFailure};

/// The draws of one sampler call; `samples` names its count of samples per point.
fn draws(
    n_points: &Bound<'_, PyAny>,
    (n_samples, samples): (&Bound<'_, PyAny>, &str),
    seed: &Bound<'_, PyAny>,
    point_offset: &Bound<'_, PyAny>,
    sample_offset: &Bound<'_, PyAny>,
) -> PyResult<Draws> {
    let (n_points, n_samples) = (count(n_points, "n_points")?, count(n_samples, samples)?);
    let seed = unsigned(seed, "seed")?;
    let (point_offset, sample_offset) = (unsigned(point_offset, "point_offset")?, unsigned(sample_offset, "sample_offset")?);
    Ok(Draws::new(n_points, n_samples, seed).starting_at(point_offset, sample_offset))
}

/// Coalitions for a batch of points, bool `(n_points, n_samples, n_players)`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn sample_coalitions<'py>(
    py: Python<'py>,
    n_points: &Bound<'py, PyAny>,
    n_samples: &Bound<'py, PyAny>,
    n_players: &Bound<'py, PyAny>,
    distribution: &Bound<'py, PyAny>,
    paired: &Bound<'py, PyAny>,
    seed: &Bound<'py, PyAny>,
    point_offset: &Bound<'py, PyAny>,
    sample_offset: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<bool>>> {
    let distribution = text(distribution, "distribution")?;
    let distribution = distribution.as_str();
    let paired = flag(paired, "paired")?;
    let draws = draws(n_points, (n_samples, "n_samples"), seed, point_offset, sample_offset)?;
    let n_players = count(n_players, "n_players")?;
    let distribution = self::distribution(distribution)?;
    Ok(compute(py, || core::sample_coalitions(draws, n_players, distribution, paired))?.into_pyarray(py))
}

/// A design without repeats: masks `(n_points, n_rows, n_players)`, counting-measure weights
/// `(n_points, n_rows)` and the number of leading enumerated rows.
#[pyfunction]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn sample_design<'py>(
    py: Python<'py>,
    n_points: &Bound<'py, PyAny>,
    n_samples: &Bound<'py, PyAny>,
    n_players: &Bound<'py, PyAny>,
    distribution: &Bound<'py, PyAny>,
    paired: &Bound<'py, PyAny>,
    replace: &Bound<'py, PyAny>,
    seed: &Bound<'py, PyAny>,
    point_offset: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyArray3<bool>>, Bound<'py, PyArray2<f64>>, usize)> {
    let distribution = text(distribution, "distribution")?;
    let distribution = distribution.as_str();
    let paired = flag(paired, "paired")?;
    let replace = flag(replace, "replace")?;
    let zero = 0u64.into_pyobject(py)?.into_any();
    let draws = draws(n_points, (n_samples, "n_samples"), seed, point_offset, &zero)?;
    let n_players = count(n_players, "n_players")?;
    let distribution = self::distribution(distribution)?;
    let design = compute(py, || core::sample_design(draws, n_players, distribution, paired, replace))?;
    Ok((design.masks.into_pyarray(py), design.weights.into_pyarray(py), design.n_enumerated))
}

/// Exact probability of each coalition (rows of a 2-d bool array) under a distribution.
#[pyfunction]
fn coalition_probabilities<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    distribution: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let distribution = text(distribution, "distribution")?;
    let distribution = distribution.as_str();
    let masks = readonly_bools::<Ix2>(masks, "masks", "(n_coalitions, n_players)")?;
    let dist = self::distribution(distribution)?;
    let view = masks.as_array();
    Ok(compute(py, || core::coalition_probabilities(view, dist))?.into_pyarray(py))
}

/// P(|S| = k) for k = 0..n_players.
#[pyfunction]
fn size_probabilities<'py>(
    py: Python<'py>,
    n_players: &Bound<'py, PyAny>,
    distribution: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let distribution = text(distribution, "distribution")?;
    let distribution = distribution.as_str();
    let d = count(n_players, "n_players")?;
    let dist = self::distribution(distribution)?;
    dist.check_players(d, "n_players").map_err(CoreFailure)?;
    let probabilities = compute(py, || {
        core::limits::check_table(d, 2, "n_players")?;
        Ok(dist.size_probabilities(d))
    })?;
    Ok(probabilities.into_pyarray(py))
}

/// Uniform random permutations, int64 `(n_points, n_permutations, n_players)`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn sample_permutations<'py>(
    py: Python<'py>,
    n_points: &Bound<'py, PyAny>,
    n_permutations: &Bound<'py, PyAny>,
    n_players: &Bound<'py, PyAny>,
    antithetic: &Bound<'py, PyAny>,
    seed: &Bound<'py, PyAny>,
    point_offset: &Bound<'py, PyAny>,
    sample_offset: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray3<i64>>> {
    let antithetic = flag(antithetic, "antithetic")?;
    let draws = draws(n_points, (n_permutations, "n_permutations"), seed, point_offset, sample_offset)?;
    let n_players = count(n_players, "n_players")?;
    Ok(compute(py, || core::sample_permutations(draws, n_players, antithetic))?.into_pyarray(py))
}

/// Coalitions along permutations, bool `(n_points, n_permutations, n_players + 1, n_players)`
/// (only the `n_players − 1` interior rows with `interior`).
#[pyfunction]
fn permutation_chain_masks<'py>(
    py: Python<'py>,
    permutations: &Bound<'py, PyAny>,
    interior: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray4<bool>>> {
    let interior = flag(interior, "interior")?;
    let perms = readonly::<i64, Ix3>(permutations, "permutations", "(n_points, n_permutations, n_players)")?;
    let view = perms.as_array();
    Ok(compute(py, || core::permutation_chain_masks(view, interior))?.into_pyarray(py))
}

/// All 2^n_players coalitions, row s holding player i iff bit i of s is set.
#[pyfunction]
fn enumerate_coalitions<'py>(py: Python<'py>, n_players: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<bool>>> {
    let d = count(n_players, "n_players")?;
    Ok(compute(py, || core::enumerate_coalitions(d))?.into_pyarray(py))
}

/// Multisets of data points (multiplicities), u32 `(n_points, n_samples, n_data)`.
#[pyfunction]
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
    let draws = draws(n_points, (n_samples, "n_samples"), seed, point_offset, sample_offset)?;
    let n_data = count(n_data, "n_data")?;
    let sizes = unsigned(min_size, "min_size")?..=unsigned(max_size, "max_size")?;
    Ok(compute(py, || core::sample_multisets(draws, n_data, sizes))?.into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_EXACT_PLAYERS", core::MAX_EXACT_PLAYERS)?;
    m.add("MAX_DESIGN_PLAYERS", core::MAX_DESIGN_PLAYERS)?;
    add_functions!(
        m,
        sample_coalitions,
        sample_design,
        coalition_probabilities,
        size_probabilities,
        sample_permutations,
        permutation_chain_masks,
        enumerate_coalitions,
        sample_multisets,
    )
}
