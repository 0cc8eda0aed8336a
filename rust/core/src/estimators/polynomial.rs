//! PolySHAP and OddSHAP: Shapley values from a Shapley-kernel weighted least-squares fit of the game
//! on a polynomial with interaction terms, exact at the full coalition (Fumagalli et al. 2025,
//! "PolySHAP"; kADD-SHAP, Pelegrina et al.; OddSHAP as in shapiq 1.8).
//!
//! * PolySHAP fits v(S) − v(∅) ≈ Σ_T β_T Π_{j∈T} z_j over the singletons and some interaction sets;
//!   φ_i = Σ_{T∋i} β_T / |T| (the Shapley value of the unanimity game of T).
//! * OddSHAP fits the odd part v_o(S) = (v(S) − v(N∖S))/2 of complementary pairs on the odd
//!   characters χ_T(S) = Π_{j∈T}(2 z_j − 1), |T| ∈ {1, 3, ...}, subject to Σ_T β_T = v_o(N); the
//!   even part has Shapley value zero, and χ_T has Shapley value 2/|T| on each member.
//!
//! For any set of interaction terms that includes the singletons, the population fit (all
//! coalitions, kernel weights) gives the exact Shapley values: the residual r of the constrained fit
//! has r(∅) = r(N) = 0 and the same kernel inner product with every z_i, so φ(r) = 0. Hence the
//! estimators are consistent whatever terms the budget-adaptive rule picks (see `terms`).
//!
//! Rows carry counting-measure weights w_r (Σ_r w_r f(S_r) estimates Σ_S f(S) over the non-trivial
//! coalitions); the regression weight of an equation is w_r times the Shapley kernel of its size.

mod fit;
mod terms;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayView3, Axis};

use super::strata::StrataVariance;
use super::{Attribution, PointEstimate};
use crate::error::{CoreError, CoreResult};
use crate::math::ln_binomial;
use crate::parallel::{collect_results, map_indices};
use crate::validate::{check_constrained_inputs, check_finite, check_leading};
use crate::weights::shapley_kernel;
use fit::{check_fit_memory, fit, Equations, Fit};
use terms::{check_interactions, select_interactions, EXACT_FIT};

/// Which polynomial the regression uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolynomialBasis {
    /// PolySHAP: monomials Π_{j∈T} z_j of v(S) − v(∅), one equation per sample.
    Monomials,
    /// OddSHAP: odd characters Π_{j∈T}(2 z_j − 1) of the odd part, one equation per pair.
    OddCharacters,
}

/// The interaction terms of the regression.
#[derive(Clone, Debug, PartialEq)]
pub struct PolynomialTerms {
    /// Largest interaction order of the automatic choice.
    pub order: usize,
    /// Number of interaction terms of the automatic choice; `None`: the budget rule (about two
    /// distinct equations per coefficient).
    pub max_terms: Option<usize>,
    /// Fixed interaction sets for every point (no automatic choice), in priority order.
    pub interactions: Option<Vec<Vec<usize>>>,
}

/// The rows' weights: counting-measure weights `(n_points, n_samples)` (Σ_r w_r f(S_r) estimates
/// Σ_S f(S) over the non-trivial coalitions), the number of leading deterministic rows, and whether
/// the random units are stratified by size without replacement (else i.i.d.).
#[derive(Clone, Copy, Debug)]
pub struct DesignWeights<'a> {
    pub weights: ArrayView2<'a, f64>,
    pub n_enumerated: usize,
    pub stratified: bool,
}

/// The estimate and the number of regression terms (singletons included) each point used.
#[derive(Clone, Debug, PartialEq)]
pub struct PolynomialFit {
    pub attribution: Attribution,
    pub n_terms: Array1<i64>,
}

/// Estimate Shapley values of a batch of points by polynomial regression.
///
/// `masks` `(n_points, n_samples, d)` hold no empty or full coalition; `design` gives their
/// weights (see [`DesignWeights`]). With `paired` (always for OddSHAP) rows 2j and 2j+1 are
/// complements and standard errors treat each pair as one unit. Standard errors: the sandwich
/// over the random units (see `sum_variance`).
#[allow(clippy::too_many_arguments)]
pub fn polynomial_shapley(
    masks: ArrayView3<bool>,
    values: ArrayView3<f64>,
    null_values: ArrayView2<f64>,
    grand_values: ArrayView2<f64>,
    design: DesignWeights,
    basis: PolynomialBasis,
    terms: &PolynomialTerms,
    paired: bool,
) -> CoreResult<PolynomialFit> {
    let DesignWeights { weights, n_enumerated, stratified } = design;
    let odd = basis == PolynomialBasis::OddCharacters;
    let paired = paired || odd;
    let (n_points, n_samples, d, n_outputs) =
        check_constrained_inputs(&masks, &values, &null_values, &grand_values, paired)?;
    check_leading(weights.shape(), &[n_points, n_samples], "sample_weights", "n_points, n_samples of masks")?;
    check_finite(&weights, "sample_weights")?;
    let bad: Vec<usize> = (0..n_points).filter(|&p| weights.row(p).iter().any(|&w| w <= 0.0)).collect();
    if !bad.is_empty() {
        return Err(CoreError::invalid_at("sample_weights", bad, "must be positive"));
    }
    if odd && d < 3 {
        // One pair of two players leaves the characters' normal equations singular; with two
        // players the Shapley values are (v(i) − v(j) + v(N) − v(∅))/2 anyway.
        return Err(CoreError::invalid("masks", format!("OddSHAP needs at least 3 players, got {d}")));
    }
    if terms.order == 0 {
        return Err(CoreError::invalid("order", "must be at least 1"));
    }
    if n_enumerated > n_samples || (paired && n_enumerated % 2 != 0) {
        return Err(CoreError::invalid(
            "n_enumerated",
            format!("must be at most the {n_samples} samples per point (and even for pairs), got {n_enumerated}"),
        ));
    }
    let interactions = terms.interactions.as_ref().map(|raw| check_interactions(raw, d, odd)).transpose()?;
    let per_equation = if odd { 2 } else { 1 };
    let rows_per_unit = if paired && !odd { 2 } else { 1 };
    let layout = Layout {
        fixed: n_enumerated / per_equation,
        units: (n_samples - n_enumerated) / per_equation / rows_per_unit,
        rows_per_unit,
        stratified,
        paired_units: paired,
    };
    let kernel = shapley_kernel(d)?;
    let points = collect_results(map_indices(n_points, |p| {
        let eq = equations(
            p,
            masks.index_axis(Axis(0), p),
            values.index_axis(Axis(0), p),
            null_values.row(p),
            grand_values.row(p),
            weights.row(p),
            &kernel,
            odd,
            paired,
        )?;
        estimate_point(p, &eq, terms, interactions.as_deref(), &layout)
    }))?;
    let n_terms = points.iter().map(|(_, k)| *k as i64).collect();
    Ok(PolynomialFit {
        attribution: Attribution::from_points(points.into_iter().map(|(e, _)| e).collect(), d, n_outputs),
        n_terms,
    })
}

/// How the equations split into deterministic ones and random units.
struct Layout {
    /// Leading deterministic equations.
    fixed: usize,
    /// Random units after them.
    units: usize,
    /// Equations per unit.
    rows_per_unit: usize,
    /// Random units are stratified by size without replacement (else i.i.d.).
    stratified: bool,
    /// Units are complementary pairs (their stratum is the smaller size).
    paired_units: bool,
}

/// Equations and their distinct count: distinct coalitions, or with pairs (PolySHAP `paired`,
/// OddSHAP) distinct complementary pairs, which bound what the odd part can identify.
struct PointEquations {
    eq: Equations,
    distinct: usize,
    /// Distinct coalitions the rows cover (a complete census covers 2^d − 2).
    covered: usize,
    /// Size of each equation's coalition.
    sizes: Vec<usize>,
}

#[allow(clippy::too_many_arguments)]
fn equations(
    point: usize,
    masks: ArrayView2<bool>,
    values: ArrayView2<f64>,
    null_value: ArrayView1<f64>,
    grand_value: ArrayView1<f64>,
    weights: ArrayView1<f64>,
    kernel: &[f64],
    odd: bool,
    paired: bool,
) -> CoreResult<PointEquations> {
    let (n_samples, d) = masks.dim();
    let o = values.ncols();
    let step = if odd { 2 } else { 1 };
    let n = n_samples / step;
    let mut signs = Vec::with_capacity(n * d);
    let mut sqrt_omega = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n * o);
    let mut keys = Vec::with_capacity(n);
    let mut sizes = Vec::with_capacity(n);
    for (r, row) in masks.rows().into_iter().enumerate() {
        let size = row.iter().filter(|&&b| b).count();
        if size == 0 || size == d {
            let which = if size == 0 { "empty" } else { "full" };
            return Err(CoreError::invalid_at(
                "masks",
                vec![point],
                format!(
                    "point {point}, sample {r} is the {which} coalition, which the regression cannot use; pass v(∅) and v(all) as null_values and grand_values"
                ),
            ));
        }
        if r % step != 0 {
            continue;
        }
        sizes.push(size);
        let (v, w) = (values.row(r), weights[r]);
        if odd {
            signs.extend(row.iter().map(|&b| if b { 1.0 } else { -1.0 }));
            sqrt_omega.push(((w + weights[r + 1]) * kernel[size]).sqrt());
            let partner = values.row(r + 1);
            y.extend((0..o).map(|k| 0.5 * (v[k] - partner[k])));
        } else {
            signs.extend(row.iter().map(|&b| if b { 1.0 } else { 0.0 }));
            sqrt_omega.push((w * kernel[size]).sqrt());
            y.extend((0..o).map(|k| v[k] - null_value[k]));
        }
        // With pairs, the odd part of the game (all the Shapley value depends on) has one equation
        // per distinct pair, whichever side comes first: key a pair by its side without player 0.
        if !paired || r % 2 == 0 {
            let flip = paired && row[0];
            keys.push(pack(row.iter().map(|&b| b != flip)));
        }
    }
    keys.sort_unstable();
    keys.dedup();
    let distinct = keys.len();
    let delta = (0..o)
        .map(|k| {
            let total = grand_value[k] - null_value[k];
            if odd {
                0.5 * total
            } else {
                total
            }
        })
        .collect();
    Ok(PointEquations {
        eq: Equations {
            n_players: d,
            n_outputs: o,
            signs,
            sqrt_omega,
            y,
            delta,
            share: if odd { 2.0 } else { 1.0 },
        },
        distinct,
        covered: distinct * if paired { 2 } else { 1 },
        sizes,
    })
}

/// A coalition as bits, 64 players per word.
fn pack(bits: impl Iterator<Item = bool>) -> Vec<u64> {
    let mut words = Vec::new();
    for (j, b) in bits.enumerate() {
        if j % 64 == 0 {
            words.push(0);
        }
        if b {
            *words.last_mut().expect("pushed above") |= 1 << (j % 64);
        }
    }
    words
}

fn estimate_point(
    point: usize,
    pe: &PointEquations,
    terms: &PolynomialTerms,
    interactions: Option<&[Vec<usize>]>,
    layout: &Layout,
) -> CoreResult<(PointEstimate, usize)> {
    let eq = &pe.eq;
    let (d, o) = (eq.n_players, eq.n_outputs);
    let census = d < 63 && pe.covered == (1usize << d) - 2;
    if layout.units < 2 && !(layout.units == 0 && census) {
        return Err(CoreError::insufficient_at(
            "masks",
            vec![point],
            format!(
                "point {point} needs at least 2 random units (pairs or samples after the enumerated rows) for a standard error, got {} (and its rows are not all coalitions)",
                layout.units
            ),
        ));
    }
    let singletons = (0..d).map(|i| vec![i]);
    let fitted = match interactions {
        Some(given) => {
            check_fit_memory(eq, d.saturating_add(given.len()), "interactions")?;
            fit(eq, &singletons.chain(given.iter().cloned()).collect::<Vec<_>>(), d, point)?
        }
        None => {
            let selection = select_interactions(eq, terms.order, terms.max_terms, pe.distinct, point)?;
            let mut best: Option<(f64, Fit)> = None;
            for &m in &selection.prefixes {
                let all: Vec<Vec<usize>> = singletons.clone().chain(selection.terms[..m].iter().cloned()).collect();
                let candidate = fit(eq, &all, d, point)?;
                let score = if selection.prefixes.len() > 1 { gcv(eq, &candidate, pe.distinct) } else { 0.0 };
                // A larger model must improve the criterion beyond rounding to be preferred.
                if best.as_ref().is_none_or(|(b, _)| score < b * (1.0 - 1e-9)) {
                    best = Some((score, candidate));
                }
            }
            best.expect("at least one prefix").1
        }
    };
    // Coefficients beyond the constraint; with fewer than 2 residual degrees of freedom the fit
    // (all but) interpolates and its residuals say nothing about the error.
    let free = fitted.kept.len() - 1;
    if !census && free + 2 > pe.distinct {
        return Err(CoreError::insufficient_at(
            "masks",
            vec![point],
            format!(
                "point {point} has {} distinct equations for {} free coefficients, too few to estimate the error; lower max_terms or order, or raise the budget",
                pe.distinct, free
            ),
        ));
    }
    let mut variance = vec![0.0; o * d];
    let mut dof = None;
    if layout.units >= 2 {
        // Unit u's influence h_u = Σ_{r∈u} e_r K W_r: the estimate moves by Σ_u h_u.
        let cells = o * d;
        let mut h = vec![0.0; layout.units * cells];
        for (u, h_u) in h.chunks_exact_mut(cells).enumerate() {
            let first = layout.fixed + u * layout.rows_per_unit;
            for r in first..first + layout.rows_per_unit {
                for (k, h_uk) in h_u.chunks_exact_mut(d).enumerate() {
                    let e = fitted.residuals[(r, k)];
                    for (i, x) in h_uk.iter_mut().enumerate() {
                        *x += e * fitted.influence[(r, i)];
                    }
                }
            }
        }
        let strata: Vec<usize> = (0..layout.units)
            .map(|u| {
                let k = pe.sizes[layout.fixed + u * layout.rows_per_unit];
                match (layout.stratified, layout.paired_units) {
                    (false, _) => 0,
                    (true, true) => k.min(d - k),
                    (true, false) => k,
                }
            })
            .collect();
        let (sum, sum_dof) = sum_variance(&h, cells, &strata, |k| stratum_units(k, d, layout), layout.stratified);
        (variance, dof) = (sum, Some(sum_dof));
        // The fit shrinks the residuals by about (n − p)/n (HC1's degrees-of-freedom correction).
        // (A census may interpolate: its residuals are then zero.)
        if free < pe.distinct {
            let dof = pe.distinct as f64 / (pe.distinct - free) as f64;
            variance.iter_mut().for_each(|v| *v *= dof);
        }
    }
    Ok((
        PointEstimate {
            values: Array2::from_shape_fn((d, o), |(i, k)| fitted.phi[k * d + i]),
            std_errors: Array2::from_shape_fn((d, o), |(i, k)| variance[k * d + i].sqrt()),
            dof: dof.map(|dof: Vec<f64>| Array2::from_shape_fn((d, o), |(i, k)| dof[k * d + i])),
        },
        fitted.kept.len(),
    ))
}

/// Units in the stratum `key` (a size; the smaller size of a pair): pairs or coalitions of it.
fn stratum_units(key: usize, d: usize, layout: &Layout) -> f64 {
    let coalitions = ln_binomial(d, key).exp();
    if layout.paired_units && 2 * key == d {
        coalitions / 2.0
    } else {
        coalitions
    }
}

/// The variance of Σ_u h_u per cell, from the units' `h` (`cells` values each), and its degrees
/// of freedom. i.i.d. units: m/(m−1) Σ_u (h_u − h̄)². Stratified without replacement: Σ_strata
/// m (1 − m/N) s² with s² the within-stratum variance (see `strata`).
fn sum_variance(
    h: &[f64],
    cells: usize,
    strata: &[usize],
    population: impl Fn(usize) -> f64,
    stratified: bool,
) -> (Vec<f64>, Vec<f64>) {
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    strata.iter().enumerate().for_each(|(u, &key)| groups.entry(key).or_default().push(u));
    let mut variance = StrataVariance::new(cells);
    for (&key, members) in &groups {
        let m = members.len();
        if m < 2 {
            variance.add_single(h[members[0] * cells..(members[0] + 1) * cells].to_vec());
            continue;
        }
        let mut mean = vec![0.0; cells];
        for &u in members {
            mean.iter_mut().zip(&h[u * cells..(u + 1) * cells]).for_each(|(s, x)| *s += x / m as f64);
        }
        let mut squares = vec![0.0; cells];
        for &u in members {
            let h_u = &h[u * cells..(u + 1) * cells];
            squares.iter_mut().zip(h_u.iter().zip(&mean)).for_each(|(s, (x, c))| *s += (x - c) * (x - c));
        }
        let fpc = if stratified { (1.0 - m as f64 / population(key)).max(0.0) } else { 1.0 };
        variance.add_stratum(m, fpc, &squares);
    }
    variance.finish()
}

/// Generalised cross-validation error of a fit, Σ_o (RSS_o / Σ ω y_o²) / (1 − p/n)² with p its free
/// coefficients and n the distinct equations; outputs fitted exactly (to `EXACT_FIT`) count 0.
fn gcv(eq: &Equations, fitted: &Fit, n_distinct: usize) -> f64 {
    let free = fitted.kept.len() - 1;
    if free >= n_distinct {
        return f64::INFINITY;
    }
    let (n, o) = (eq.len(), eq.n_outputs);
    let relative: f64 = (0..o)
        .map(|k| {
            let rss: f64 = (0..n).map(|r| fitted.residuals[(r, k)].powi(2)).sum();
            let scale: f64 = (0..n).map(|r| (eq.sqrt_omega[r] * eq.y[r * o + k]).powi(2)).sum();
            if rss <= EXACT_FIT * scale {
                0.0
            } else {
                rss / scale
            }
        })
        .sum();
    relative / (1.0 - free as f64 / n_distinct as f64).powi(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::design::sample_design;
    use crate::distribution::Distribution;
    use crate::estimators::exact_semivalue;
    use crate::rng::Draws;
    use crate::weights::Semivalue;
    use ndarray::{Array2, Array3};

    /// A game table `(1, 2^d, 1)` with interactions of at most `k` players (Möbius coefficients).
    fn k_additive(d: usize, k: usize) -> Array3<f64> {
        let coef = |s: usize| ((s * 7919) % 23) as f64 / 7.0 - 1.5;
        Array3::from_shape_fn((1, 1 << d, 1), |(_, s, _)| {
            // v(S) = Σ_{T ⊆ S, 1 ≤ |T| ≤ k} c_T, over the submasks of s.
            let mut total = 0.0;
            let mut t = s;
            while t > 0 {
                if (t.count_ones() as usize) <= k {
                    total += coef(t);
                }
                t = (t - 1) & s;
            }
            total
        })
    }

    /// Masks, values and ones as weights for the rows `coalitions` of `table`.
    fn rows(table: &Array3<f64>, d: usize, coalitions: &[usize]) -> (Array3<bool>, Array3<f64>, Array2<f64>) {
        let n = coalitions.len();
        let masks = Array3::from_shape_fn((1, n, d), |(_, r, j)| (coalitions[r] >> j) & 1 == 1);
        let values = Array3::from_shape_fn((1, n, 1), |(_, r, _)| table[[0, coalitions[r], 0]]);
        (masks, values, Array2::ones((1, n)))
    }

    fn exact(table: &Array3<f64>, d: usize) -> Array3<f64> {
        exact_semivalue(table.view(), &Semivalue::Shapley.weights(d).unwrap()).unwrap()
    }

    fn ends(table: &Array3<f64>, d: usize) -> (Array2<f64>, Array2<f64>) {
        (Array2::from_elem((1, 1), table[[0, 0, 0]]), Array2::from_elem((1, 1), table[[0, (1 << d) - 1, 0]]))
    }

    fn automatic(order: usize) -> PolynomialTerms {
        PolynomialTerms { order, max_terms: None, interactions: None }
    }

    #[test]
    fn a_census_is_exact_for_any_terms() {
        let d = 6;
        let table = k_additive(d, 6);
        let full = (1 << d) - 1;
        let paired: Vec<usize> = (1..full).filter(|s| s & 1 == 0).flat_map(|s| [s, full ^ s]).collect();
        let (masks, values, ones) = rows(&table, d, &paired);
        let (null, grand) = ends(&table, d);
        let design = DesignWeights { weights: ones.view(), n_enumerated: paired.len(), stratified: false };
        let terms = [
            automatic(1),
            automatic(3),
            PolynomialTerms { order: 1, max_terms: None, interactions: Some(vec![vec![0, 1], vec![2, 3, 5], vec![0, 1, 2, 3, 4]]) },
        ];
        for basis in [PolynomialBasis::Monomials, PolynomialBasis::OddCharacters] {
            for t in &terms {
                if basis == PolynomialBasis::OddCharacters && t.interactions.is_some() {
                    continue;
                }
                let fit = polynomial_shapley(masks.view(), values.view(), null.view(), grand.view(), design, basis, t, true).unwrap();
                let want = exact(&table, d);
                for i in 0..d {
                    assert!((fit.attribution.values[[0, i, 0]] - want[[0, i, 0]]).abs() < 1e-10, "{basis:?} {t:?}");
                    assert_eq!(fit.attribution.std_errors[[0, i, 0]], 0.0);
                }
            }
        }
    }

    #[test]
    fn three_additive_games_are_recovered_from_a_design() {
        let d = 8;
        let table = k_additive(d, 3);
        let design = sample_design(Draws::new(1, 2 * 97, 4), d, Distribution::Shapley, true, false).unwrap();
        let values = Array3::from_shape_fn((1, design.masks.shape()[1], 1), |(_, r, _)| {
            let s: usize = (0..d).filter(|&j| design.masks[[0, r, j]]).map(|j| 1 << j).sum();
            table[[0, s, 0]]
        });
        let (null, grand) = ends(&table, d);
        let weights = DesignWeights { weights: design.weights.view(), n_enumerated: design.n_enumerated, stratified: true };
        let fit = polynomial_shapley(
            design.masks.view(), values.view(), null.view(), grand.view(), weights, PolynomialBasis::OddCharacters, &automatic(3), true,
        )
        .unwrap();
        assert_eq!(fit.n_terms[0], (d + 56) as i64);
        let want = exact(&table, d);
        for i in 0..d {
            assert!((fit.attribution.values[[0, i, 0]] - want[[0, i, 0]]).abs() < 1e-9);
            assert!(fit.attribution.std_errors[[0, i, 0]] < 1e-9);
        }
    }

    #[test]
    fn bad_inputs_name_their_argument() {
        let d = 5;
        let table = k_additive(d, 2);
        let (masks, values, ones) = rows(&table, d, &[1, 30, 2, 29, 4, 27, 8, 23, 3, 28, 6, 25]);
        let (null, grand) = ends(&table, d);
        let run = |weights: ArrayView2<f64>, n_enumerated: usize, terms: &PolynomialTerms, masks: ArrayView3<bool>| {
            let design = DesignWeights { weights, n_enumerated, stratified: false };
            polynomial_shapley(masks, values.view(), null.view(), grand.view(), design, PolynomialBasis::OddCharacters, terms, true)
        };
        let name = |r: CoreResult<PolynomialFit>| match r {
            Err(CoreError::InvalidArgument { name, .. } | CoreError::InsufficientSamples { name, .. } | CoreError::Shape { name, .. }) => name,
            other => panic!("unexpected {other:?}"),
        };
        let negative = Array2::from_shape_fn((1, 12), |(_, r)| if r == 3 { -1.0 } else { 1.0 });
        assert_eq!(name(run(negative.view(), 0, &automatic(3), masks.view())), "sample_weights");
        assert_eq!(name(run(ones.slice(ndarray::s![.., ..10]), 0, &automatic(3), masks.view())), "sample_weights");
        assert_eq!(name(run(ones.view(), 3, &automatic(3), masks.view())), "n_enumerated");
        assert_eq!(name(run(ones.view(), 10, &automatic(3), masks.view())), "masks");
        assert_eq!(name(run(ones.view(), 0, &automatic(0), masks.view())), "order");
        let bad = PolynomialTerms { order: 3, max_terms: None, interactions: Some(vec![vec![0, 1]]) };
        assert_eq!(name(run(ones.view(), 0, &bad, masks.view())), "interactions");
        let mut trivial = masks.clone();
        trivial.slice_mut(ndarray::s![0, 0, ..]).fill(false);
        trivial.slice_mut(ndarray::s![0, 1, ..]).fill(true);
        assert_eq!(name(run(ones.view(), 0, &automatic(3), trivial.view())), "masks");
        // Every odd term of order <= 5 on 6 pairs: no residual degrees of freedom.
        let all = PolynomialTerms { order: 5, max_terms: Some(100), interactions: None };
        assert!(matches!(run(ones.view(), 0, &all, masks.view()), Err(CoreError::InsufficientSamples { name: "masks", .. })));
    }

    #[test]
    fn terms_the_samples_cannot_tell_apart_are_dropped() {
        // On these 8 pairs χ_{0,3,4} is a combination of the singletons' characters: the triple adds
        // nothing the samples can see and is dropped (n_terms counts it out).
        let d = 5;
        let table = k_additive(d, 1);
        let (masks, values, ones) = rows(&table, d, &[1, 30, 2, 29, 4, 27, 24, 7, 3, 28, 5, 26, 25, 6, 9, 22]);
        let (null, grand) = ends(&table, d);
        let design = DesignWeights { weights: ones.view(), n_enumerated: 0, stratified: false };
        let terms = PolynomialTerms { order: 3, max_terms: None, interactions: Some(vec![vec![0, 3, 4]]) };
        let fit = polynomial_shapley(masks.view(), values.view(), null.view(), grand.view(), design, PolynomialBasis::OddCharacters, &terms, true)
            .unwrap();
        assert_eq!(fit.n_terms[0], d as i64);
        let want = exact(&table, d);
        for i in 0..d {
            assert!((fit.attribution.values[[0, i, 0]] - want[[0, i, 0]]).abs() < 1e-10);
        }
    }
}
