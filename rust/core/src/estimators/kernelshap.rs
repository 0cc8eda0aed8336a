//! KernelSHAP as the efficiency-constrained weighted least squares of Covert & Lee (2021), in its
//! consistent form (A estimated from the samples) and its unbiased form (A exact).

use faer::Mat;
use multiversion::multiversion;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayView3, Axis};

use super::sparse::SmallSides;
use super::strata::StrataVariance;
use super::{Attribution, PointEstimate};
use crate::distribution::Distribution;
use crate::error::{CoreError, CoreResult};
use crate::linalg::spd_inverse;
use crate::math::ln_binomial;
use crate::moments::std_error_of_mean;
use crate::parallel::{collect_results, map_indices};
use crate::validate::check_constrained_inputs;

/// Which matrix A the estimator uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelShapVariant {
    /// A = mean of w z zᵀ over the samples: consistent, with a small finite-sample bias.
    Consistent,
    /// A = E[z zᵀ] under the Shapley kernel, exactly: unbiased, with higher variance.
    Unbiased,
}

/// The projection C = A⁻¹ − A⁻¹11ᵀA⁻¹/(1ᵀA⁻¹1) and A⁻¹1/(1ᵀA⁻¹1), so that the constrained solution
/// is φ = C b + A⁻¹1 Δ/(1ᵀA⁻¹1) with Δ = v(all) − v(∅). C is symmetric, stored row-major.
struct Projection {
    c: Vec<f64>,
    offset: Vec<f64>,
}

impl Projection {
    fn new(a: Mat<f64>, point: usize) -> CoreResult<Self> {
        let d = a.nrows();
        let inv = spd_inverse(&a).map_err(|reason| CoreError::Singular {
            name: "masks",
            point,
            reason: format!("A = mean(w z zᵀ) is singular: {reason}"),
        })?;
        let ainv1: Vec<f64> = (0..d).map(|i| (0..d).map(|j| inv[(i, j)]).sum()).collect();
        let s: f64 = ainv1.iter().sum();
        let mut c = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] = inv[(i, j)] - ainv1[i] * ainv1[j] / s;
            }
        }
        Ok(Projection {
            c,
            offset: ainv1.iter().map(|x| x / s).collect(),
        })
    }

    /// The exact A of the Shapley-kernel distribution: E[z_i] on the diagonal, E[z_i z_j] off it.
    fn exact_shapley(d: usize) -> CoreResult<Self> {
        let p = Distribution::Shapley.size_probabilities(d);
        let df = d as f64;
        let diag: f64 = p.iter().enumerate().map(|(k, pk)| pk * k as f64 / df).sum();
        let off: f64 = p
            .iter()
            .enumerate()
            .map(|(k, pk)| pk * (k * k.saturating_sub(1)) as f64 / (df * (df - 1.0)))
            .sum();
        let a = Mat::from_fn(d, d, |i, j| if i == j { diag } else { off });
        Projection::new(a, 0)
    }

    #[inline]
    fn row(&self, i: usize) -> &[f64] {
        let d = self.offset.len();
        &self.c[i * d..(i + 1) * d]
    }

    /// out = C x.
    #[inline]
    fn multiply(&self, x: &[f64], out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.row(i).iter().zip(x).map(|(c, v)| c * v).sum();
        }
    }

    /// C z for a coalition given by its smaller side; C1 = 0, so a complement only flips the sign.
    #[inline]
    fn times_coalition(&self, idx: &[usize], complemented: bool, out: &mut [f64]) {
        out.fill(0.0);
        for &t in idx {
            for (o, c) in out.iter_mut().zip(self.row(t)) {
                *o += c;
            }
        }
        if complemented {
            out.iter_mut().for_each(|x| *x = -*x);
        }
    }
}

/// How the rows of a point are weighted.
#[derive(Clone, Copy, Debug)]
pub enum SampleWeights<'a> {
    /// i.i.d. draws from a distribution, importance-weighted to the Shapley kernel.
    Importance(Distribution),
    /// A design (see [`crate::design`]): counting-measure weights `(n_points, n_samples)`, the
    /// number of leading enumerated rows (no sampling variance), and whether the random units are
    /// stratified without replacement (else i.i.d.).
    Design { weights: ArrayView2<'a, f64>, n_enumerated: usize, stratified: bool },
}

/// Importance weights P_shapley(S)/P_distribution(S) per coalition size (`None`: never drawn).
fn importance_weights(distribution: Distribution, d: usize) -> Vec<Option<f64>> {
    let target = Distribution::Shapley.coalition_probability_by_size(d);
    let source = distribution.coalition_probability_by_size(d);
    (0..=d)
        .map(|k| {
            if source[k] == 0.0 {
                None
            } else if distribution == Distribution::Shapley {
                Some(1.0)
            } else {
                Some(target[k] / source[k])
            }
        })
        .collect()
}

/// KernelSHAP for a batch of points.
///
/// `masks` `(n_points, n_samples, d)` were drawn from `distribution` (importance-weighted to the
/// Shapley kernel), `values` `(n_points, n_samples, n_outputs)` are the game at those coalitions,
/// `null_values`/`grand_values` `(n_points, n_outputs)` are v(∅) and v(all). With `paired`, rows
/// 2j and 2j+1 are complements and standard errors treat each pair as one unit.
pub fn kernelshap(
    masks: ArrayView3<bool>,
    values: ArrayView3<f64>,
    null_values: ArrayView2<f64>,
    grand_values: ArrayView2<f64>,
    paired: bool,
    sample_weights: SampleWeights,
    variant: KernelShapVariant,
) -> CoreResult<Attribution> {
    let (n_points, n_samples, d, n_outputs) =
        check_constrained_inputs(&masks, &values, &null_values, &grand_values, paired)?;
    let rows = RowWeighting::new(sample_weights, n_points, n_samples, d, paired)?;
    let shared = match variant {
        KernelShapVariant::Unbiased => Some(Projection::exact_shapley(d)?),
        KernelShapVariant::Consistent => None,
    };
    let rows_per_unit = if paired { 2 } else { 1 };
    let units = n_samples / rows_per_unit;
    if variant == KernelShapVariant::Consistent && units < 2 {
        let unit = if paired { "pairs" } else { "samples" };
        return Err(CoreError::insufficient(
            "masks",
            format!("kernelshap needs at least 2 {unit} per point (for its standard error), got {units}"),
        ));
    }
    let points = collect_results(map_indices(n_points, |p| {
        estimate_point(
            p,
            masks.index_axis(Axis(0), p),
            values.index_axis(Axis(0), p),
            null_values.row(p),
            grand_values.row(p),
            &rows,
            shared.as_ref(),
            rows_per_unit,
        )
    }))?;
    Ok(Attribution::from_points(points, d, n_outputs))
}

// Compiled for AVX2+FMA too (chosen at run time): the loops over players vectorise 4 wide.
#[multiversion(targets("x86_64+avx2+fma"))]
#[allow(clippy::too_many_arguments)]
fn estimate_point(
    point: usize,
    masks: ArrayView2<bool>,
    values: ArrayView2<f64>,
    null_value: ArrayView1<f64>,
    grand_value: ArrayView1<f64>,
    rows: &RowWeighting,
    shared: Option<&Projection>,
    rows_per_unit: usize,
) -> CoreResult<PointEstimate> {
    let (n, d) = masks.dim();
    let n_outputs = values.ncols();
    let sides = SmallSides::new(masks);
    let row_weights = rows.point_weights(point, &sides)?;
    // Everything per output is stored output-major (index o * len + i) so inner loops run over
    // contiguous slices. Centred values y = v(S) − v(∅):
    let mut y = vec![0.0; n_outputs * n];
    for (r, v) in values.rows().into_iter().enumerate() {
        for o in 0..n_outputs {
            y[o * n + r] = v[o] - null_value[o];
        }
    }

    // b = (1/n) Σ w z y through the smaller sides: a complemented side T gives w y (1 − 1_T).
    let nf = n as f64;
    let mut b = vec![0.0; n_outputs * d];
    for (b_o, y_o) in b.chunks_exact_mut(d).zip(y.chunks_exact(n)) {
        let mut constant = 0.0;
        for (r, (&w, &y_r)) in row_weights.iter().zip(y_o).enumerate() {
            let (idx, comp, _) = sides.row(r);
            let wy = w * y_r;
            if comp {
                constant += wy;
                idx.iter().for_each(|&j| b_o[j] -= wy);
            } else {
                idx.iter().for_each(|&j| b_o[j] += wy);
            }
        }
        b_o.iter_mut().for_each(|x| *x = (*x + constant) / nf);
    }

    let own;
    let projection = match shared {
        Some(p) => p,
        None => {
            own = Projection::new(sampled_a(&sides, &row_weights, d), point)?;
            &own
        }
    };

    // φ = C b + offset Δ.
    let mut phi = vec![0.0; n_outputs * d];
    for (o, (phi_o, b_o)) in phi.chunks_exact_mut(d).zip(b.chunks_exact(d)).enumerate() {
        projection.multiply(b_o, phi_o);
        let delta = grand_value[o] - null_value[o];
        phi_o.iter_mut().zip(&projection.offset).for_each(|(x, off)| *x += off * delta);
    }

    // Standard errors: h_u = C g_u with g = w z r, where r is the residual (consistent form, delta
    // method) or y itself (unbiased form, exact covariance of a mean). Within a pair C z_b = −C z_a.
    let units = n / rows_per_unit;
    let mut coefs = vec![0.0; n_outputs * units];
    for o in 0..n_outputs {
        let (phi_o, y_o) = (&phi[o * d..(o + 1) * d], &y[o * n..(o + 1) * n]);
        let total: f64 = phi_o.iter().sum();
        let weighted_residual = |r: usize| {
            let fitted = if shared.is_some() { 0.0 } else { sides.dot(r, phi_o, total) };
            row_weights[r] * (y_o[r] - fitted)
        };
        for (unit, c) in coefs[o * units..(o + 1) * units].iter_mut().enumerate() {
            let first = unit * rows_per_unit;
            *c = if rows_per_unit == 2 {
                0.5 * (weighted_residual(first) - weighted_residual(first + 1))
            } else {
                weighted_residual(first)
            };
        }
    }
    // h_u = coef_u · C ž_u with ž_u = ±1_T the signed smaller side of the unit's first row
    // (C z = C ž because C1 = 0). Its mean, C (mean coef ž), is exact, so the sums of squared
    // deviations below need no running division and suffer no cancellation.
    let (std_errors, dof) = match &rows.design {
        None => {
            let all: Vec<usize> = (0..units).collect();
            let h_mean = mean_influence(&sides, projection, &coefs, &all, rows_per_unit, d);
            let squares = squared_deviations(&sides, projection, &coefs, &h_mean, 0..units, rows_per_unit, d);
            (squares.iter().map(|&s| std_error_of_mean(s, units)).collect(), None)
        }
        Some(design) => {
            let (se, dof) = design.std_errors(&sides, projection, &coefs, units, rows_per_unit, d);
            (se, Some(dof))
        }
    };
    let cell = |flat: &[f64]| Array2::from_shape_fn((d, n_outputs), |(j, o)| flat[o * d + j]);
    Ok(PointEstimate { values: cell(&phi), std_errors: cell(&std_errors), dof: dof.as_deref().map(cell) })
}

/// Σ over `units` of (h_u − mean)², h_u = coef_u · C ž_u, per output and player (output-major).
fn squared_deviations(
    sides: &SmallSides,
    projection: &Projection,
    coefs: &[f64],
    mean: &[f64],
    units: std::ops::Range<usize>,
    rows_per_unit: usize,
    d: usize,
) -> Vec<f64> {
    let n_units = coefs.len() / (mean.len() / d);
    let mut squares = vec![0.0; mean.len()];
    let mut cz = vec![0.0; d];
    for unit in units {
        let (idx, comp, _) = sides.row(unit * rows_per_unit);
        projection.times_coalition(idx, comp, &mut cz);
        for ((acc, mean_o), coef_o) in squares.chunks_exact_mut(d).zip(mean.chunks_exact(d)).zip(coefs.chunks_exact(n_units)) {
            let c = coef_o[unit];
            for ((s, &z), &m) in acc.iter_mut().zip(&cz).zip(mean_o) {
                let deviation = c * z - m;
                *s += deviation * deviation;
            }
        }
    }
    squares
}

/// C (mean over `units` of coef_u ž_u), per output (output-major): the mean of the h_u.
fn mean_influence(
    sides: &SmallSides,
    projection: &Projection,
    coefs: &[f64],
    units: &[usize],
    rows_per_unit: usize,
    d: usize,
) -> Vec<f64> {
    let n_outputs = coefs.len() / (sides.len() / rows_per_unit);
    let n_units = coefs.len() / n_outputs;
    let mut g = vec![0.0; n_outputs * d];
    for (g_o, coef_o) in g.chunks_exact_mut(d).zip(coefs.chunks_exact(n_units)) {
        for &unit in units {
            let (idx, comp, _) = sides.row(unit * rows_per_unit);
            let c = if comp { -coef_o[unit] } else { coef_o[unit] } / units.len() as f64;
            idx.iter().for_each(|&t| g_o[t] += c);
        }
    }
    let mut h = vec![0.0; n_outputs * d];
    for (h_o, g_o) in h.chunks_exact_mut(d).zip(g.chunks_exact(d)) {
        projection.multiply(g_o, h_o);
    }
    h
}

/// The row weights of every point: importance weights by coalition size, or a design's weights.
struct RowWeighting<'a> {
    /// Importance weight per coalition size (`None`: never drawn), for i.i.d. draws.
    importance: Option<(Distribution, Vec<Option<f64>>)>,
    design: Option<DesignVariance<'a>>,
}

impl<'a> RowWeighting<'a> {
    fn new(weights: SampleWeights<'a>, n_points: usize, n_samples: usize, d: usize, paired: bool) -> CoreResult<Self> {
        match weights {
            SampleWeights::Importance(distribution) => Ok(RowWeighting {
                importance: Some((distribution, importance_weights(distribution, d))),
                design: None,
            }),
            SampleWeights::Design { weights, n_enumerated, stratified } => {
                if weights.dim() != (n_points, n_samples) {
                    return Err(CoreError::invalid(
                        "sample_weights",
                        format!("must have shape (n_points, n_samples) = ({n_points}, {n_samples}), got {:?}", weights.dim()),
                    ));
                }
                if let Some(bad) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
                    return Err(CoreError::invalid("sample_weights", format!("must be positive and finite, got {bad}")));
                }
                let rows_per_unit = if paired { 2 } else { 1 };
                if n_enumerated > n_samples || n_enumerated % rows_per_unit != 0 {
                    return Err(CoreError::invalid(
                        "n_enumerated",
                        format!("must be at most n_samples ({n_samples}) and a whole number of units, got {n_enumerated}"),
                    ));
                }
                let shapley = Distribution::Shapley.coalition_probability_by_size(d);
                Ok(RowWeighting {
                    importance: None,
                    design: Some(DesignVariance { weights, shapley, n_enumerated, stratified }),
                })
            }
        }
    }

    /// Weights w with (1/n) Σ_r w_r f(S_r) estimating E_shapley[f], for one point's rows.
    fn point_weights(&self, point: usize, sides: &SmallSides) -> CoreResult<Vec<f64>> {
        let n = sides.len();
        if let Some(design) = &self.design {
            return Ok((0..n).map(|r| n as f64 * design.weights[[point, r]] * design.shapley[sides.row(r).2]).collect());
        }
        let (distribution, weights) = self.importance.as_ref().expect("importance or design");
        (0..n)
            .map(|r| {
                let size = sides.row(r).2;
                weights[size].ok_or_else(|| {
                    CoreError::invalid_at(
                        "masks",
                        vec![point],
                        format!(
                            "point {point}, sample {r} has {size} of {} players, a coalition the {distribution:?} distribution never draws",
                            weights.len() - 1
                        ),
                    )
                })
            })
            .collect()
    }
}

/// The sampling variance of a design: enumerated units have none; random units are i.i.d., or
/// stratified by size without replacement (variance within strata, finite-population corrected).
struct DesignVariance<'a> {
    weights: ArrayView2<'a, f64>,
    shapley: Vec<f64>,
    n_enumerated: usize,
    stratified: bool,
}

impl DesignVariance<'_> {
    /// Standard errors of C b = mean over all units of h_u and their degrees of freedom
    /// (Satterthwaite's over the strata; infinite when every unit was enumerated), output-major.
    fn std_errors(
        &self,
        sides: &SmallSides,
        projection: &Projection,
        coefs: &[f64],
        units: usize,
        rows_per_unit: usize,
        d: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        let n_outputs = coefs.len() / units;
        let first_random = self.n_enumerated / rows_per_unit;
        let random: Vec<usize> = (first_random..units).collect();
        if random.is_empty() {
            return (vec![0.0; n_outputs * d], vec![f64::INFINITY; n_outputs * d]);
        }
        // Strata: the unit's (smaller) size; one stratum for everything when i.i.d.
        let stratum_of = |u: usize| {
            let k = sides.row(u * rows_per_unit).2;
            if !self.stratified { 0 } else if rows_per_unit == 2 { k.min(d - k) } else { k }
        };
        let mut strata: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
        random.iter().for_each(|&u| strata.entry(stratum_of(u)).or_default().push(u));
        let scale = 1.0 / (units as f64 * units as f64);
        let mut variance = StrataVariance::new(n_outputs * d);
        for (&size, members) in &strata {
            let m = members.len();
            if m < 2 {
                variance.add_single(mean_influence(sides, projection, coefs, members, rows_per_unit, d));
                continue;
            }
            let mean = mean_influence(sides, projection, coefs, members, rows_per_unit, d);
            let mut squares = vec![0.0; n_outputs * d];
            for &u in members {
                let part = squared_deviations(sides, projection, coefs, &mean, u..u + 1, rows_per_unit, d);
                squares.iter_mut().zip(part).for_each(|(s, p)| *s += p);
            }
            // m of N units drawn without replacement.
            let fpc = if self.stratified { 1.0 - m as f64 / self.stratum_units(size, d, rows_per_unit) } else { 1.0 };
            variance.add_stratum(m, fpc, &squares);
        }
        let (variance, dof) = variance.finish();
        (variance.iter().map(|v| (v * scale).sqrt()).collect(), dof)
    }

    /// Units in the stratum of smaller size `size`: pairs (paired) or coalitions of that size.
    fn stratum_units(&self, size: usize, d: usize, rows_per_unit: usize) -> f64 {
        let coalitions = ln_binomial(d, size).exp();
        if rows_per_unit == 2 && 2 * size == d { coalitions / 2.0 } else { coalitions }
    }
}

/// A = (1/n) Σ w z zᵀ from the smaller sides: a complemented side T contributes
/// 11ᵀ − 1 1_Tᵀ − 1_T 1ᵀ + 1_T 1_Tᵀ.
#[inline]
fn sampled_a(sides: &SmallSides, row_weights: &[f64], d: usize) -> Mat<f64> {
    let mut g = vec![0.0; d * d];
    let mut u = vec![0.0; d];
    let mut c = 0.0;
    let mut pending = 0.0;
    for (r, &w) in row_weights.iter().enumerate().take(sides.len()) {
        let (idx, comp, _) = sides.row(r);
        // Complementary pairs share their smaller side: add its outer product once for both rows.
        pending += w;
        let next_same = r + 1 < sides.len() && sides.row(r + 1).0 == idx;
        if !next_same {
            for (a, &i) in idx.iter().enumerate() {
                let g_row = &mut g[i * d..(i + 1) * d];
                for &j in &idx[a..] {
                    g_row[j] += pending;
                }
            }
            pending = 0.0;
        }
        if comp {
            c += w;
            for &i in idx {
                u[i] += w;
            }
        }
    }
    let n = sides.len() as f64;
    Mat::from_fn(d, d, |i, j| {
        let (lo, hi) = if i <= j { (i, j) } else { (j, i) };
        (g[lo * d + hi] + c - u[i] - u[j]) / n
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Draws;
    use crate::sampling::sample_coalitions;
    use ndarray::{Array2, Array3};

    /// An additive game with a pairwise term: v(S) = Σ_{i∈S} a_i + c·[0∈S][1∈S].
    fn game(masks: &Array3<bool>, a: &[f64], c: f64) -> Array3<f64> {
        let (np, ns, _) = masks.dim();
        Array3::from_shape_fn((np, ns, 1), |(p, s, _)| {
            let row = masks.slice(ndarray::s![p, s, ..]);
            let lin: f64 = row.iter().zip(a).filter(|(&z, _)| z).map(|(_, a)| a).sum();
            lin + if row[0] && row[1] { c } else { 0.0 }
        })
    }

    #[test]
    fn paired_kernelshap_is_exact_for_additive_games() {
        let a = [1.0, -2.0, 0.5, 3.0, 0.25, -1.0];
        let masks = sample_coalitions(Draws::new(2, 64, 1), 6, Distribution::Shapley, true).unwrap();
        let values = game(&masks, &a, 0.0);
        let zero = Array2::zeros((2, 1));
        let grand = Array2::from_elem((2, 1), a.iter().sum());
        let est = kernelshap(masks.view(), values.view(), zero.view(), grand.view(), true, SampleWeights::Importance(Distribution::Shapley), KernelShapVariant::Consistent).unwrap();
        for p in 0..2 {
            for i in 0..6 {
                assert!((est.values[[p, i, 0]] - a[i]).abs() < 1e-9);
                assert!(est.std_errors[[p, i, 0]] < 1e-9);
            }
        }
    }

    #[test]
    fn both_variants_approach_the_interaction_split() {
        // Shapley splits the interaction c equally between players 0 and 1.
        let a = [1.0, -2.0, 0.5, 3.0];
        let c = 2.0;
        let masks = sample_coalitions(Draws::new(1, 20000, 3), 4, Distribution::Shapley, true).unwrap();
        let values = game(&masks, &a, c);
        let zero = Array2::zeros((1, 1));
        let grand = Array2::from_elem((1, 1), a.iter().sum::<f64>() + c);
        for variant in [KernelShapVariant::Consistent, KernelShapVariant::Unbiased] {
            let est = kernelshap(masks.view(), values.view(), zero.view(), grand.view(), true, SampleWeights::Importance(Distribution::Shapley), variant).unwrap();
            let exact = [a[0] + c / 2.0, a[1] + c / 2.0, a[2], a[3]];
            for i in 0..4 {
                let err = (est.values[[0, i, 0]] - exact[i]).abs();
                assert!(err < 6.0 * est.std_errors[[0, i, 0]] + 1e-9, "{variant:?} {i}: {err}");
            }
        }
    }

    #[test]
    fn too_few_samples_are_singular() {
        let masks = sample_coalitions(Draws::new(1, 2, 0), 8, Distribution::Shapley, false).unwrap();
        let values = Array3::zeros((1, 2, 1));
        let zero = Array2::zeros((1, 1));
        let err = kernelshap(masks.view(), values.view(), zero.view(), zero.view(), false, SampleWeights::Importance(Distribution::Shapley), KernelShapVariant::Consistent);
        assert!(matches!(err, Err(CoreError::Singular { .. })));
    }
}
