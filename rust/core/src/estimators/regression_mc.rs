//! Regression-adjusted Monte Carlo for semivalues, cross-fitted so that it is exactly unbiased.
//!
//! A semivalue with size weights `p_s` is the linear functional φ_i(v) = Σ_S c_i(S) v(S), with
//! c_i(S) = p_{|S|−1} if i ∈ S and −p_{|S|} otherwise. For any surrogate f with a closed-form
//! semivalue, φ(v) = φ(f) + Σ_S c(S) (v − f)(S). The sum is exact on ∅, N and the enumerated rows
//! of the design, and estimated on the rest by the random rows' counting-measure weights.
//! Cross-fitting: the random units (pairs when paired) are split into K folds (unit u → fold
//! u mod K); fold k's correction uses a surrogate fitted without fold k, so each fold's estimate
//! is unbiased given the other folds, whatever the surrogate.

use ndarray::{Array2, Array3, Array4, ArrayView1, ArrayView2, ArrayView3, Axis};

use super::gram::FeatureRows;
use super::surrogate::{ClosedForm, Layout, NormalEquations, SizeFunction, Surrogate};
use super::{Attribution, PointEstimate};
use crate::error::{CoreError, CoreResult};
use crate::limits::checked_total;
use crate::math::ln_binomial;
use crate::moments::std_error_of_mean;
use crate::parallel::{collect_results, map_indices};
use crate::validate::{check_finite, check_masks_values, check_point_values, check_positive_finite};

/// Folds used when none are asked for: at most this many (fewer when there are fewer units).
pub const DEFAULT_MAX_FOLDS: usize = 16;

/// Degree 2 is chosen automatically once the smallest training set holds this many rows per
/// coefficient of the degree-2 surrogate (and pairing does not make it useless, see [`RegressionSettings`]).
pub const ROWS_PER_COEFFICIENT: f64 = 2.0;

/// Settings of [`regression_adjusted_semivalue`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegressionSettings {
    /// Whether the random rows come in complementary pairs (the pair is the unit).
    pub paired: bool,
    /// Number of folds K ≥ 1; `None`: `min(n_units, DEFAULT_MAX_FOLDS)`.
    pub folds: Option<usize>,
    /// Surrogate degree 0 (per-size intercepts), 1 (+ linear) or 2 (+ pairwise); `None`: 2 when
    /// every training set holds [`ROWS_PER_COEFFICIENT`] rows per coefficient, unless the design is
    /// paired and the semivalue symmetric (p_s = p_{d−1−s}): a pair's correction then only sees
    /// v(S) − v(N∖S), in which pairwise terms reduce to linear ones.
    pub degree: Option<usize>,
    /// Whether every size with training rows gets a free intercept; otherwise only the enumerated
    /// sizes do, and the size function is linear in between (and towards v(∅), v(all)). `None`:
    /// free intercepts for an unpaired design without enumerated sizes only (an unpaired row sees
    /// the size function's symmetric part, which a line through v(∅) and v(all) misses when no
    /// enumerated size pins it; elsewhere the line's fewer coefficients were more accurate).
    pub size_intercepts: Option<bool>,
    /// Ridge penalty on the linear and pairwise coefficients, relative to the total row weight.
    pub ridge: f64,
}

/// The estimate, the per-fold estimates `(n_points, folds, n_players, n_outputs)`, and the folds,
/// degree and intercepts used.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionEstimate {
    pub attribution: Attribution,
    pub fold_values: Array4<f64>,
    pub folds: usize,
    pub degree: usize,
    pub size_intercepts: bool,
}

/// What every point shares.
struct Plan<'a> {
    p: &'a [f64],
    n_enumerated: usize,
    rows_per_unit: usize,
    n_units: usize,
    folds: usize,
    layout: Layout,
    closed: ClosedForm,
    size_intercepts: bool,
    ridge: f64,
    paired: bool,
}

/// Regression-adjusted Monte Carlo estimate of the semivalue with weights `semivalue_weights`
/// `(d,)` (the convention of [`crate::exact_semivalue`]) for a batch of points.
///
/// `masks` `(n_points, n_samples, d)`, `values` `(n_points, n_samples, n_outputs)`, `sample_weights`
/// `(n_points, n_samples)` form a design: rows `0..n_enumerated` are every coalition of some sizes
/// (weight 1), the other rows are i.i.d. units (complementary pairs when `paired`) of the other
/// sizes with counting-measure weights (E Σ_r w_r f(S_r) = Σ_S f(S) over those sizes).
/// `null_values`, `grand_values` `(n_points, n_outputs)` are v(∅) and v(all).
#[allow(clippy::too_many_arguments)]
pub fn regression_adjusted_semivalue(
    masks: ArrayView3<bool>,
    values: ArrayView3<f64>,
    null_values: ArrayView2<f64>,
    grand_values: ArrayView2<f64>,
    sample_weights: ArrayView2<f64>,
    n_enumerated: usize,
    semivalue_weights: &[f64],
    settings: RegressionSettings,
) -> CoreResult<RegressionEstimate> {
    let (n_points, n_samples, d, n_outputs) = check_masks_values(&masks, &values)?;
    check_point_values(&null_values, n_points, n_outputs, "null_values")?;
    check_point_values(&grand_values, n_points, n_outputs, "grand_values")?;
    if sample_weights.dim() != (n_points, n_samples) {
        return Err(CoreError::shape("sample_weights", format!("[{n_points}, {n_samples}] (n_points, n_samples)"), sample_weights.shape()));
    }
    check_finite(&sample_weights, "sample_weights")?;
    if semivalue_weights.len() != d {
        return Err(CoreError::shape("semivalue_weights", format!("[{d}] (n_players)"), &[semivalue_weights.len()]));
    }
    if semivalue_weights.iter().any(|w| !w.is_finite()) {
        return Err(CoreError::invalid("semivalue_weights", "must be finite"));
    }
    if n_enumerated > n_samples {
        return Err(CoreError::invalid("n_enumerated", format!("must be at most n_samples = {n_samples}, got {n_enumerated}")));
    }
    if settings.folds == Some(0) {
        return Err(CoreError::invalid("folds", "must be at least 1"));
    }
    if let Some(degree) = settings.degree.filter(|&k| k > 2) {
        return Err(CoreError::invalid("degree", format!("must be 0, 1, 2 or None, got {degree}")));
    }
    check_positive_finite(settings.ridge, "ridge")?;
    let rows_per_unit = if settings.paired { 2 } else { 1 };
    let n_random = n_samples - n_enumerated;
    if n_random % rows_per_unit != 0 {
        return Err(CoreError::invalid("masks", format!("paired=True needs an even number of random rows, got {n_random}")));
    }
    let n_units = n_random / rows_per_unit;
    let folds = settings.folds.unwrap_or(n_units.clamp(1, DEFAULT_MAX_FOLDS));
    if n_units > 0 && n_units < folds {
        let unit = if settings.paired { "pairs" } else { "rows" };
        return Err(CoreError::insufficient(
            "folds",
            format!("{folds} folds need at least {folds} random units per point ({unit}), got {n_units}"),
        ));
    }
    // `folds` estimates per point (the fold values, and each point's own copy of them): a census
    // (no random units) accepts any number of folds, so refuse those whose arrays exceed the limit.
    checked_total(&[(&[2, n_points, folds, d, n_outputs], 8)], "folds")?;
    let largest_fold = n_units.div_ceil(folds);
    let train_rows = n_samples - rows_per_unit * largest_fold;
    let symmetric = is_symmetric(semivalue_weights);
    let degree = settings.degree.unwrap_or(
        if d >= 2
            && !(settings.paired && symmetric)
            && train_rows as f64 >= ROWS_PER_COEFFICIENT * Layout::n_coefficients(d, 2) as f64
        {
            2
        } else {
            1
        },
    );
    let size_intercepts = settings.size_intercepts.unwrap_or(!settings.paired && n_enumerated == 0);
    let plan = Plan {
        p: semivalue_weights,
        n_enumerated,
        rows_per_unit,
        n_units,
        folds,
        layout: Layout { d, degree },
        closed: ClosedForm::new(semivalue_weights),
        size_intercepts,
        ridge: settings.ridge,
        paired: settings.paired,
    };
    let points = collect_results(map_indices(n_points, |p| {
        estimate_point(
            p,
            masks.index_axis(Axis(0), p),
            values.index_axis(Axis(0), p),
            null_values.row(p),
            grand_values.row(p),
            sample_weights.row(p),
            &plan,
        )
    }))?;
    let mut fold_values = Array4::<f64>::zeros((n_points, folds, d, n_outputs));
    let mut estimates = Vec::with_capacity(n_points);
    for (p, (estimate, per_fold)) in points.into_iter().enumerate() {
        fold_values.index_axis_mut(Axis(0), p).assign(&Array3::from_shape_vec((folds, d, n_outputs), per_fold).expect("fold shape"));
        estimates.push(estimate);
    }
    Ok(RegressionEstimate {
        attribution: Attribution::from_points(estimates, d, n_outputs),
        fold_values,
        folds,
        degree,
        size_intercepts,
    })
}

/// Whether p_s = p_{d−1−s} for every size (Shapley, Banzhaf, Beta(α, α)), up to rounding.
fn is_symmetric(p: &[f64]) -> bool {
    let scale = p.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    p.iter().zip(p.iter().rev()).all(|(a, b)| (a - b).abs() <= 1e-12 * scale)
}

/// The coalitions of one point as sorted member lists.
struct Coalitions {
    indices: Vec<usize>,
    offsets: Vec<usize>,
}

impl Coalitions {
    fn new(masks: ArrayView2<bool>) -> Self {
        let mut indices = Vec::new();
        let mut offsets = vec![0];
        for row in masks.rows() {
            indices.extend(row.iter().enumerate().filter(|(_, &b)| b).map(|(j, _)| j));
            offsets.push(indices.len());
        }
        Coalitions { indices, offsets }
    }

    #[inline]
    fn members(&self, r: usize) -> &[usize] {
        &self.indices[self.offsets[r]..self.offsets[r + 1]]
    }
}

/// The design contract for one point: the enumerated rows are every coalition of some sizes in
/// 1..d−1, each once, with weight 1; the random rows have the other sizes and positive weights, and
/// come in complementary pairs when paired. Returns which sizes are enumerated.
fn check_design(point: usize, masks: ArrayView2<bool>, rows: &Coalitions, weights: ArrayView1<f64>, plan: &Plan) -> CoreResult<Vec<bool>> {
    let (n, d) = masks.dim();
    let bad = |reason: String| CoreError::invalid_at("masks", vec![point], reason);
    let mut count = vec![0usize; d + 1];
    for r in 0..plan.n_enumerated {
        let s = rows.members(r).len();
        if s == 0 || s == d {
            let which = if s == 0 { "empty" } else { "full" };
            return Err(bad(format!(
                "enumerated row {r} of point {point} is the {which} coalition; v(∅) and v(all) are passed as null_values and grand_values"
            )));
        }
        count[s] += 1;
    }
    let mut seen = std::collections::HashSet::with_capacity(plan.n_enumerated);
    for r in 0..plan.n_enumerated {
        if !seen.insert(rows.members(r)) {
            return Err(bad(format!("the enumerated rows of point {point} repeat a coalition")));
        }
    }
    for (s, &k) in count.iter().enumerate().filter(|(_, &k)| k > 0) {
        let total = ln_binomial(d, s).exp();
        if (k as f64 - total).abs() > 0.5 {
            return Err(bad(format!(
                "the enumerated rows of point {point} hold {k} of the {total:.0} coalitions of size {s}; a size is enumerated completely or not at all"
            )));
        }
    }
    let covered: Vec<bool> = count.iter().map(|&k| k > 0).collect();
    for r in 0..plan.n_enumerated {
        if weights[r] != 1.0 {
            return Err(CoreError::invalid_at(
                "sample_weights",
                vec![point],
                format!("enumerated row {r} of point {point} must have weight 1, got {}", weights[r]),
            ));
        }
    }
    for r in plan.n_enumerated..n {
        // Weights are finite (checked above), so this refuses every weight that is not positive.
        if weights[r] <= 0.0 {
            return Err(CoreError::invalid_at(
                "sample_weights",
                vec![point],
                format!("row {r} of point {point} must be positive, got {}", weights[r]),
            ));
        }
        let s = rows.members(r).len();
        if covered[s] {
            return Err(bad(format!(
                "random row {r} of point {point} has size {s}, which the enumerated rows already cover"
            )));
        }
    }
    if plan.paired {
        for r in (plan.n_enumerated..n).step_by(2) {
            if masks.row(r).iter().zip(masks.row(r + 1).iter()).any(|(a, b)| a == b) {
                return Err(bad(format!("paired=True but rows {r} and {} of point {point} are not complements", r + 1)));
            }
        }
    }
    Ok(covered)
}

/// Row weights of the surrogate's least squares. See the Python docstring of
/// `regression_adjusted_semivalue` for the choice; the empty and full sets get 0 (their residual
/// is zero by construction).
fn fit_weight(size: usize, d: usize) -> f64 {
    if size == 0 || size == d {
        0.0
    } else {
        1.0
    }
}

/// Add `weight · c(S) · r` to `out` (`d × n_outputs`, player-major) for a coalition of `members`.
#[inline]
fn add_coefficients(members: &[usize], d: usize, p: &[f64], weight: f64, residual: &[f64], out: &mut [f64]) {
    let s = members.len();
    let n_outputs = residual.len();
    let outside = if s < d { -p[s] } else { 0.0 };
    let inside = if s > 0 { p[s - 1] } else { 0.0 };
    for i in 0..d {
        for (o, &r) in residual.iter().enumerate() {
            out[i * n_outputs + o] += weight * outside * r;
        }
    }
    for &i in members {
        for (o, &r) in residual.iter().enumerate() {
            out[i * n_outputs + o] += weight * (inside - outside) * r;
        }
    }
}

/// One point: (estimate, per-fold estimates `folds × d × n_outputs`).
fn estimate_point(
    point: usize,
    masks: ArrayView2<bool>,
    values: ArrayView2<f64>,
    null: ArrayView1<f64>,
    grand: ArrayView1<f64>,
    weights: ArrayView1<f64>,
    plan: &Plan,
) -> CoreResult<(PointEstimate, Vec<f64>)> {
    let (n, d) = masks.dim();
    let n_outputs = values.ncols();
    let cells = d * n_outputs;
    let rows = Coalitions::new(masks);
    check_design(point, masks, &rows, weights, plan)?;
    let (null, grand) = (null.to_vec(), grand.to_vec());
    let p = plan.p;
    let to_estimate = |flat: &[f64], se: &[f64]| PointEstimate {
        values: Array2::from_shape_fn((d, n_outputs), |(i, o)| flat[i * n_outputs + o]),
        std_errors: Array2::from_shape_fn((d, n_outputs), |(i, o)| se[i * n_outputs + o]),
        dof: None,
    };
    if plan.n_units == 0 {
        let all = if d < usize::BITS as usize - 1 { (1usize << d) - 2 } else { usize::MAX };
        if plan.n_enumerated != all {
            return Err(CoreError::insufficient_at(
                "masks",
                vec![point],
                format!("point {point} has no random rows, and its enumerated rows do not cover all 2^{d} − 2 coalitions"),
            ));
        }
        let mut exact = vec![0.0; cells];
        add_coefficients(&[], d, p, 1.0, &null, &mut exact);
        add_coefficients(&(0..d).collect::<Vec<_>>(), d, p, 1.0, &grand, &mut exact);
        for (r, v) in values.rows().into_iter().enumerate() {
            add_coefficients(rows.members(r), d, p, 1.0, &v.to_vec(), &mut exact);
        }
        return Ok((to_estimate(&exact, &vec![0.0; cells]), exact.repeat(plan.folds)));
    }

    let unit_of = |r: usize| (r - plan.n_enumerated) / plan.rows_per_unit;
    let row_values: Vec<f64> = values.iter().copied().collect();
    let y = |r: usize| &row_values[r * n_outputs..(r + 1) * n_outputs];
    // Free intercepts at every size (each fold then keeps the sizes it trains on), or at the
    // enumerated sizes only; either way a row's features are the same in every fold.
    let enumerated_sizes = {
        let mut flags = vec![false; d + 1];
        (0..plan.n_enumerated).for_each(|r| flags[rows.members(r).len()] = true);
        flags
    };
    let row_sizes = SizeFunction::new(if plan.size_intercepts { vec![true; d + 1] } else { enumerated_sizes.clone() });
    // The normal equations of all fitting rows and of each fold's rows, and their rows per size.
    let mut total = NormalEquations::new(&plan.layout, n_outputs, true);
    let mut per_fold = vec![NormalEquations::new(&plan.layout, n_outputs, false); plan.folds];
    let mut feature_rows = FeatureRows::new(plan.layout.len());
    let mut fit_rows = Vec::with_capacity(n);
    let mut fold_rows = vec![Vec::new(); plan.folds];
    let mut sizes_total = vec![0usize; d + 1];
    let mut sizes_per_fold = vec![vec![0usize; d + 1]; plan.folds];
    let mut entries = Vec::new();
    let mut target = vec![0.0; n_outputs];
    for r in 0..n {
        let members = rows.members(r);
        let omega = fit_weight(members.len(), d);
        if omega > 0.0 {
            let shift = plan.layout.features(members, &row_sizes, &mut entries);
            for ((t, v), (e, g)) in target.iter_mut().zip(y(r)).zip(null.iter().zip(&grand)) {
                *t = v - shift.null * e - shift.grand * g;
            }
            total.add_moments(&entries, shift.grand, omega, &target);
            sizes_total[members.len()] += 1;
            let index = feature_rows.push(&entries, omega);
            fit_rows.push(index);
            if r >= plan.n_enumerated {
                let k = unit_of(r) % plan.folds;
                per_fold[k].add_moments(&entries, shift.grand, omega, &target);
                sizes_per_fold[k][members.len()] += 1;
                fold_rows[k].push(index);
            }
        }
    }
    total.set_gram(feature_rows.gram(&fit_rows));

    // g_u = [φ(f_{−k}) + exact part of (v − f_{−k})] + n_u · (unit u's weighted correction).
    let mut g = vec![0.0; plan.n_units * cells];
    let mut fold_values = vec![0.0; plan.folds * cells];
    let mut fitted = vec![0.0; n_outputs];
    let mut residual = vec![0.0; n_outputs];
    let n_units = plan.n_units as f64;
    for (k, fold) in per_fold.iter().enumerate() {
        let knots = if plan.size_intercepts {
            SizeFunction::new(sizes_total.iter().zip(&sizes_per_fold[k]).map(|(t, f)| t > f).collect())
        } else {
            row_sizes.clone()
        };
        let training = total.without(fold, &feature_rows.gram(&fold_rows[k]));
        let surrogate = Surrogate::fit(&plan.layout, &training, &knots, &null, &grand, plan.ridge, point)?;
        let mut base = vec![0.0; cells];
        surrogate.semivalue(&plan.closed, &mut base);
        let mut residual_of = |r: usize| {
            surrogate.values(rows.members(r), &mut fitted);
            residual.iter_mut().zip(y(r)).zip(&fitted).for_each(|((e, v), f)| *e = v - f);
            residual.clone()
        };
        for r in 0..plan.n_enumerated {
            add_coefficients(rows.members(r), d, p, weights[r], &residual_of(r), &mut base);
        }
        let mut units_in_fold = 0usize;
        for u in (k..plan.n_units).step_by(plan.folds) {
            let g_u = &mut g[u * cells..(u + 1) * cells];
            let first = plan.n_enumerated + u * plan.rows_per_unit;
            for r in first..first + plan.rows_per_unit {
                add_coefficients(rows.members(r), d, p, n_units * weights[r], &residual_of(r), g_u);
            }
            g_u.iter_mut().zip(&base).for_each(|(x, b)| *x += b);
            fold_values[k * cells..(k + 1) * cells].iter_mut().zip(g_u.iter()).for_each(|(t, x)| *t += x);
            units_in_fold += 1;
        }
        fold_values[k * cells..(k + 1) * cells].iter_mut().for_each(|t| *t /= units_in_fold as f64);
    }
    let mut mean = vec![0.0; cells];
    for g_u in g.chunks_exact(cells) {
        mean.iter_mut().zip(g_u).for_each(|(m, x)| *m += x / n_units);
    }
    let mut squares = vec![0.0; cells];
    for g_u in g.chunks_exact(cells) {
        squares.iter_mut().zip(g_u).zip(&mean).for_each(|((s, x), m)| *s += (x - m) * (x - m));
    }
    let se: Vec<f64> = squares.iter().map(|&m2| std_error_of_mean(m2, plan.n_units)).collect();
    Ok((to_estimate(&mean, &se), fold_values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::Semivalue;
    use ndarray::{Array2, Array3};

    /// All 2^d coalitions, bit i of s ⇔ player i.
    fn table_masks(d: usize) -> Vec<Vec<bool>> {
        (0..1usize << d).map(|s| (0..d).map(|i| s >> i & 1 == 1).collect()).collect()
    }

    /// A game with at most pairwise interactions: the degree-2 surrogate is exact.
    fn quadratic(z: &[bool]) -> f64 {
        let lin: f64 = z.iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| 1.0 + i as f64).sum();
        lin + if z[0] && z[2] { 3.0 } else { 0.0 } - if z[1] && z[3] { 2.0 } else { 0.0 }
    }

    #[test]
    fn an_exact_surrogate_leaves_no_correction() {
        let d = 5;
        let all = table_masks(d);
        // Unpaired design of every interior coalition twice in a row (so in two folds) at weight 1/2.
        let rows: Vec<&Vec<bool>> = all.iter().filter(|z| z.iter().any(|&b| b) && !z.iter().all(|&b| b)).collect();
        let n = 2 * rows.len();
        let masks = Array3::from_shape_fn((1, n, d), |(_, r, j)| rows[r / 2][j]);
        let values = Array3::from_shape_fn((1, n, 1), |(_, r, _)| quadratic(rows[r / 2]));
        let weights = Array2::from_elem((1, n), 0.5);
        let null = Array2::from_elem((1, 1), quadratic(&all[0]));
        let grand = Array2::from_elem((1, 1), quadratic(&all[(1 << d) - 1]));
        let table = Array3::from_shape_fn((1, 1 << d, 1), |(_, s, _)| quadratic(&all[s]));
        for kind in [Semivalue::Shapley, Semivalue::Banzhaf] {
            let p = kind.weights(d).unwrap();
            let exact = crate::exact_semivalue(table.view(), &p).unwrap();
            let settings = RegressionSettings { paired: false, folds: Some(3), degree: Some(2), size_intercepts: None, ridge: 1e-9 };
            let est = regression_adjusted_semivalue(masks.view(), values.view(), null.view(), grand.view(), weights.view(), 0, &p, settings).unwrap();
            for i in 0..d {
                assert!((est.attribution.values[[0, i, 0]] - exact[[0, i, 0]]).abs() < 1e-6, "{kind:?} {i}");
                assert!(est.attribution.std_errors[[0, i, 0]] < 1e-6);
            }
        }
    }

    #[test]
    fn too_few_units_for_the_folds_are_refused() {
        let masks = Array3::from_shape_fn((1, 4, 3), |(_, r, j)| (r + j) % 2 == 0);
        let values = Array3::zeros((1, 4, 1));
        let zero = Array2::zeros((1, 1));
        let weights = Array2::ones((1, 4));
        let p = Semivalue::Shapley.weights(3).unwrap();
        let settings = RegressionSettings { paired: true, folds: Some(3), degree: None, size_intercepts: None, ridge: 1e-3 };
        let err = regression_adjusted_semivalue(masks.view(), values.view(), zero.view(), zero.view(), weights.view(), 0, &p, settings);
        assert!(matches!(err, Err(CoreError::InsufficientSamples { name: "folds", .. })));
    }
}
