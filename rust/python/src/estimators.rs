//! Estimators of attributions: KernelSHAP, SGD-Shapley, PolySHAP, OddSHAP, MSR Banzhaf, LIME, permutation sampling
//! (with the merge of its running moments), regression-adjusted Monte Carlo and exact enumeration.

use numpy::ndarray::{ArrayView2, ArrayView3, Ix1, Ix2, Ix3, Ix4};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyArray4, PyReadonlyArray3};
use pyo3::prelude::*;
use stochamort_core as core;
use stochamort_core::{
    Attribution, CoreResult, DesignWeights, KernelShapVariant, PolynomialBasis, PolynomialTerms, RegressionSettings,
    SampleWeights,
};

use crate::args::{count, distribution, flag, flag_or, index_lists, merge_sides, readonly, readonly_bools, real, real_or_none, text};
use crate::errors::compute;

type F64Array3<'py> = Bound<'py, PyArray3<f64>>;

/// `(values, std_errors)` of an attribution.
type AttributionArrays<'py> = (F64Array3<'py>, F64Array3<'py>);

fn attribution_arrays(py: Python<'_>, est: Attribution) -> AttributionArrays<'_> {
    (est.values.into_pyarray(py), est.std_errors.into_pyarray(py))
}

/// `(values, std_errors, dof)` of an attribution whose degrees of freedom may differ from cell
/// to cell (None: replicates − 1 for every cell, which the caller knows).
type AttributionWithDof<'py> = (F64Array3<'py>, F64Array3<'py>, Option<F64Array3<'py>>);

fn attribution_with_dof(py: Python<'_>, est: Attribution) -> AttributionWithDof<'_> {
    (est.values.into_pyarray(py), est.std_errors.into_pyarray(py), est.dof.map(|dof| dof.into_pyarray(py)))
}

/// The sampled coalitions and the game's values there.
fn masks_values<'py>(
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
) -> PyResult<(PyReadonlyArray3<'py, bool>, PyReadonlyArray3<'py, f64>)> {
    Ok((
        readonly_bools::<Ix3>(masks, "masks", "(n_points, n_samples, n_players)")?,
        readonly::<f64, Ix3>(values, "values", "(n_points, n_samples, n_outputs)")?,
    ))
}

/// Borrow the inputs of the efficiency-constrained regressions (masks, values, v(∅), v(all)) and
/// run `estimate` on them with the GIL released.
fn constrained_regression<'py>(
    py: Python<'py>,
    [masks, values, null_values, grand_values]: [&Bound<'py, PyAny>; 4],
    estimate: impl FnOnce(ArrayView3<bool>, ArrayView3<f64>, ArrayView2<f64>, ArrayView2<f64>) -> CoreResult<Attribution> + Send,
) -> PyResult<Attribution> {
    let (masks, values) = masks_values(masks, values)?;
    let null = readonly::<f64, Ix2>(null_values, "null_values", "(n_points, n_outputs)")?;
    let grand = readonly::<f64, Ix2>(grand_values, "grand_values", "(n_points, n_outputs)")?;
    let (m, v, n, g) = (masks.as_array(), values.as_array(), null.as_array(), grand.as_array());
    compute(py, || estimate(m, v, n, g))
}

/// KernelSHAP (consistent, or unbiased with the exact A) with standard errors. With
/// `sample_weights` (a design's counting-measure weights), they replace the importance weights of
/// `distribution`; `n_enumerated` leading rows carry no sampling variance and `stratified` says
/// whether the random units were drawn stratified without replacement. A design's standard errors
/// come with their degrees of freedom per cell (Satterthwaite's over the strata).
#[pyfunction]
#[pyo3(signature = (masks, values, null_values, grand_values, paired, distribution, unbiased, sample_weights=None, n_enumerated=None, stratified=None))]
#[allow(clippy::too_many_arguments)]
fn kernelshap<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    null_values: &Bound<'py, PyAny>,
    grand_values: &Bound<'py, PyAny>,
    paired: &Bound<'py, PyAny>,
    distribution: &Bound<'py, PyAny>,
    unbiased: &Bound<'py, PyAny>,
    sample_weights: Option<&Bound<'py, PyAny>>,
    n_enumerated: Option<&Bound<'py, PyAny>>,
    stratified: Option<&Bound<'py, PyAny>>,
) -> PyResult<AttributionWithDof<'py>> {
    let paired = flag(paired, "paired")?;
    let distribution = text(distribution, "distribution")?;
    let distribution = distribution.as_str();
    let unbiased = flag(unbiased, "unbiased")?;
    let stratified = flag_or(stratified, "stratified", false)?;
    let dist = self::distribution(distribution)?;
    let variant = if unbiased { KernelShapVariant::Unbiased } else { KernelShapVariant::Consistent };
    let weights = sample_weights
        .map(|w| readonly::<f64, Ix2>(w, "sample_weights", "(n_points, n_samples)"))
        .transpose()?;
    let n_enumerated = n_enumerated.map(|n| count(n, "n_enumerated")).transpose()?.unwrap_or(0);
    let view = weights.as_ref().map(|w| w.as_array());
    let est = constrained_regression(py, [masks, values, null_values, grand_values], |m, v, n, g| {
        let rows = match view {
            Some(weights) => SampleWeights::Design { weights, n_enumerated, stratified },
            None => SampleWeights::Importance(dist),
        };
        core::kernelshap(m, v, n, g, paired, rows, variant)
    })?;
    Ok(attribution_with_dof(py, est))
}

/// SGD-Shapley (averaged projected SGD on KernelSHAP's objective) with standard errors over
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
    paired: &Bound<'py, PyAny>,
    step_size: Option<&Bound<'py, PyAny>>,
    batch_size: &Bound<'py, PyAny>,
    replicates: &Bound<'py, PyAny>,
) -> PyResult<AttributionArrays<'py>> {
    let paired = flag(paired, "paired")?;
    let step_size = real_or_none(step_size, "step_size")?;
    let (batch_size, replicates) = (count(batch_size, "batch_size")?, count(replicates, "replicates")?);
    let est = constrained_regression(py, [masks, values, null_values, grand_values], |m, v, n, g| {
        core::sgd_shapley(m, v, n, g, paired, step_size, batch_size, replicates)
    })?;
    Ok(attribution_arrays(py, est))
}

/// `(values, std_errors, n_terms, dof)` of a polynomial regression (dof per cell, or None).
type PolynomialArrays<'py> = (F64Array3<'py>, F64Array3<'py>, Bound<'py, PyArray1<i64>>, Option<F64Array3<'py>>);

/// `(order, max_terms, interactions)` of a polynomial regression.
type TermArgs<'a, 'py> = (&'a Bound<'py, PyAny>, Option<&'a Bound<'py, PyAny>>, Option<Vec<Vec<usize>>>);

/// Borrow the inputs of a polynomial regression and run it with the GIL released.
fn polynomial<'py>(
    py: Python<'py>,
    [masks, values, null_values, grand_values, sample_weights]: [&Bound<'py, PyAny>; 5],
    basis: PolynomialBasis,
    (order, max_terms, interactions): TermArgs<'_, 'py>,
    paired: bool,
    (n_enumerated, stratified): (&Bound<'py, PyAny>, bool),
) -> PyResult<PolynomialArrays<'py>> {
    let terms = PolynomialTerms {
        order: count(order, "order")?,
        max_terms: max_terms.map(|m| count(m, "max_terms")).transpose()?,
        interactions,
    };
    let n_enumerated = count(n_enumerated, "n_enumerated")?;
    let (masks, values) = masks_values(masks, values)?;
    let null = readonly::<f64, Ix2>(null_values, "null_values", "(n_points, n_outputs)")?;
    let grand = readonly::<f64, Ix2>(grand_values, "grand_values", "(n_points, n_outputs)")?;
    let weights = readonly::<f64, Ix2>(sample_weights, "sample_weights", "(n_points, n_samples)")?;
    let design = DesignWeights { weights: weights.as_array(), n_enumerated, stratified };
    let (m, v, n, g) = (masks.as_array(), values.as_array(), null.as_array(), grand.as_array());
    let fit = compute(py, || core::polynomial_shapley(m, v, n, g, design, basis, &terms, paired))?;
    let (values, std_errors, dof) = attribution_with_dof(py, fit.attribution);
    Ok((values, std_errors, fit.n_terms.into_pyarray(py), dof))
}

/// PolySHAP (monomial interaction terms) with sandwich standard errors and the terms used.
#[pyfunction]
#[pyo3(signature = (masks, values, null_values, grand_values, sample_weights, order, max_terms, interactions, paired, n_enumerated, stratified))]
#[allow(clippy::too_many_arguments)]
fn polyshap<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    null_values: &Bound<'py, PyAny>,
    grand_values: &Bound<'py, PyAny>,
    sample_weights: &Bound<'py, PyAny>,
    order: &Bound<'py, PyAny>,
    max_terms: Option<&Bound<'py, PyAny>>,
    interactions: Option<&Bound<'py, PyAny>>,
    paired: &Bound<'py, PyAny>,
    n_enumerated: &Bound<'py, PyAny>,
    stratified: &Bound<'py, PyAny>,
) -> PyResult<PolynomialArrays<'py>> {
    let interactions = index_lists(interactions, "interactions")?;
    let paired = flag(paired, "paired")?;
    let stratified = flag(stratified, "stratified")?;
    let inputs = [masks, values, null_values, grand_values, sample_weights];
    let terms = (order, max_terms, interactions);
    polynomial(py, inputs, PolynomialBasis::Monomials, terms, paired, (n_enumerated, stratified))
}

/// OddSHAP (odd Fourier characters of complementary pairs) with sandwich standard errors and the
/// terms used.
#[pyfunction]
#[pyo3(signature = (masks, values, null_values, grand_values, sample_weights, order, max_terms, interactions, n_enumerated, stratified))]
#[allow(clippy::too_many_arguments)]
fn oddshap<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    null_values: &Bound<'py, PyAny>,
    grand_values: &Bound<'py, PyAny>,
    sample_weights: &Bound<'py, PyAny>,
    order: &Bound<'py, PyAny>,
    max_terms: Option<&Bound<'py, PyAny>>,
    interactions: Option<&Bound<'py, PyAny>>,
    n_enumerated: &Bound<'py, PyAny>,
    stratified: &Bound<'py, PyAny>,
) -> PyResult<PolynomialArrays<'py>> {
    let interactions = index_lists(interactions, "interactions")?;
    let stratified = flag(stratified, "stratified")?;
    let inputs = [masks, values, null_values, grand_values, sample_weights];
    let terms = (order, max_terms, interactions);
    polynomial(py, inputs, PolynomialBasis::OddCharacters, terms, true, (n_enumerated, stratified))
}

/// MSR Banzhaf values with standard errors.
#[pyfunction]
fn msr_banzhaf<'py>(py: Python<'py>, masks: &Bound<'py, PyAny>, values: &Bound<'py, PyAny>) -> PyResult<AttributionArrays<'py>> {
    let (masks, values) = masks_values(masks, values)?;
    let (m, v) = (masks.as_array(), values.as_array());
    Ok(attribution_arrays(py, compute(py, || core::msr_banzhaf(m, v))?))
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
    let kernel: Vec<f64> = readonly::<f64, Ix1>(kernel, "kernel", "(n_players + 1,)")?.as_array().to_vec();
    let (m, v) = (masks.as_array(), values.as_array());
    let fit = compute(py, || core::lime(m, v, &kernel))?;
    let (values, std_errors) = attribution_arrays(py, fit.attribution);
    Ok((values, std_errors, fit.intercepts.into_pyarray(py)))
}

/// Permutation-sampling Shapley values: (means, std_errors, m2, counts).
#[pyfunction]
fn permutation_shapley<'py>(
    py: Python<'py>,
    permutations: &Bound<'py, PyAny>,
    chain_values: &Bound<'py, PyAny>,
    antithetic: &Bound<'py, PyAny>,
) -> PyResult<(F64Array3<'py>, F64Array3<'py>, F64Array3<'py>, Bound<'py, PyArray1<u64>>)> {
    let antithetic = flag(antithetic, "antithetic")?;
    let perms = readonly::<i64, Ix3>(permutations, "permutations", "(n_points, n_permutations, n_players)")?;
    let chains = readonly::<f64, Ix4>(chain_values, "chain_values", "(n_points, n_permutations, n_players + 1, n_outputs)")?;
    let (p, c) = (perms.as_array(), chains.as_array());
    let est = compute(py, || core::permutation_shapley(p, c, antithetic))?;
    let (values, std_errors) = attribution_arrays(py, est.attribution);
    Ok((values, std_errors, est.m2.into_pyarray(py), est.counts.into_pyarray(py)))
}

/// Merge the running moments of two disjoint sets of units: (counts, means, m2).
#[pyfunction]
fn merge_moments<'py>(
    py: Python<'py>,
    counts_a: &Bound<'py, PyAny>,
    means_a: &Bound<'py, PyAny>,
    m2_a: &Bound<'py, PyAny>,
    counts_b: &Bound<'py, PyAny>,
    means_b: &Bound<'py, PyAny>,
    m2_b: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyArray1<u64>>, F64Array3<'py>, F64Array3<'py>)> {
    let axes = ("(n_points,)", "(n_points, n_players, n_outputs)");
    let merged = merge_sides::<Ix3, _>(py, [counts_a, means_a, m2_a], [counts_b, means_b, m2_b], axes, |a, b| {
        core::merge_moments(a.0, a.1, a.2, b.0, b.1, b.2)
    })?;
    Ok((merged.counts.into_pyarray(py), merged.means.into_pyarray(py), merged.m2.into_pyarray(py)))
}

/// `(values, std_errors, fold_values, folds, degree, size_intercepts)` of a regression-adjusted estimate.
type RegressionArrays<'py> = (F64Array3<'py>, F64Array3<'py>, Bound<'py, PyArray4<f64>>, usize, usize, bool);

/// Regression-adjusted Monte Carlo semivalues: (values, std_errors, fold_values, folds, degree,
/// size_intercepts).
#[pyfunction]
#[pyo3(signature = (masks, values, null_values, grand_values, sample_weights, n_enumerated, semivalue_weights, paired, folds, degree, size_intercepts, ridge))]
#[allow(clippy::too_many_arguments)]
fn regression_adjusted_semivalue<'py>(
    py: Python<'py>,
    masks: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    null_values: &Bound<'py, PyAny>,
    grand_values: &Bound<'py, PyAny>,
    sample_weights: &Bound<'py, PyAny>,
    n_enumerated: &Bound<'py, PyAny>,
    semivalue_weights: &Bound<'py, PyAny>,
    paired: &Bound<'py, PyAny>,
    folds: Option<&Bound<'py, PyAny>>,
    degree: Option<&Bound<'py, PyAny>>,
    size_intercepts: Option<&Bound<'py, PyAny>>,
    ridge: &Bound<'py, PyAny>,
) -> PyResult<RegressionArrays<'py>> {
    let paired = flag(paired, "paired")?;
    let size_intercepts = size_intercepts.filter(|v| !v.is_none()).map(|v| flag(v, "size_intercepts")).transpose()?;
    let ridge = real(ridge, "ridge")?;
    let settings = RegressionSettings {
        paired,
        folds: folds.map(|f| count(f, "folds")).transpose()?,
        degree: degree.map(|k| count(k, "degree")).transpose()?,
        size_intercepts,
        ridge,
    };
    let n_enumerated = count(n_enumerated, "n_enumerated")?;
    let (masks, values) = masks_values(masks, values)?;
    let null = readonly::<f64, Ix2>(null_values, "null_values", "(n_points, n_outputs)")?;
    let grand = readonly::<f64, Ix2>(grand_values, "grand_values", "(n_points, n_outputs)")?;
    let sample_weights = readonly::<f64, Ix2>(sample_weights, "sample_weights", "(n_points, n_samples)")?;
    let p: Vec<f64> = readonly::<f64, Ix1>(semivalue_weights, "semivalue_weights", "(n_players,)")?.as_array().to_vec();
    let (m, v, n, g, w) = (masks.as_array(), values.as_array(), null.as_array(), grand.as_array(), sample_weights.as_array());
    let est = compute(py, || core::regression_adjusted_semivalue(m, v, n, g, w, n_enumerated, &p, settings))?;
    let (values, std_errors) = attribution_arrays(py, est.attribution);
    Ok((values, std_errors, est.fold_values.into_pyarray(py), est.folds, est.degree, est.size_intercepts))
}

/// Exact semivalues from the full game table `(n_points, 2^d, n_outputs)` and weights `(d,)`.
#[pyfunction]
fn exact_semivalue<'py>(py: Python<'py>, values: &Bound<'py, PyAny>, weights: &Bound<'py, PyAny>) -> PyResult<F64Array3<'py>> {
    let values = readonly::<f64, Ix3>(values, "values", "(n_points, 2**n_players, n_outputs)")?;
    let weights: Vec<f64> = readonly::<f64, Ix1>(weights, "weights", "(n_players,)")?.as_array().to_vec();
    let v = values.as_array();
    Ok(compute(py, || core::exact_semivalue(v, &weights))?.into_pyarray(py))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("REGRESSION_MAX_FOLDS", core::DEFAULT_MAX_FOLDS)?;
    m.add("REGRESSION_ROWS_PER_COEFFICIENT", core::ROWS_PER_COEFFICIENT)?;
    add_functions!(
        m,
        kernelshap,
        sgd_shapley,
        polyshap,
        oddshap,
        msr_banzhaf,
        lime,
        permutation_shapley,
        regression_adjusted_semivalue,
        merge_moments,
        exact_semivalue,
    )
}
