//! Sampling designs that waste no evaluations. The coalition sizes a budget covers completely are
//! enumerated, every coalition once with weight 1 (the "border trick" of shap's KernelExplainer and
//! shapiq); the other sizes are sampled, i.i.d. or distinct (stratified by size, without
//! replacement). Every row carries a counting-measure weight: `Σ_r w_r f(S_r)` is an unbiased
//! estimate of `Σ_{S ≠ ∅, N} f(S)`, so any linear functional of the game (a semivalue, the moments
//! of a kernel regression) is estimated by weighting the rows.

use std::collections::HashSet;

use ndarray::{Array2, Array3};
use rand::seq::index::sample as sample_indices;
use rand::RngExt;
use rand_pcg::Pcg64;

use crate::distribution::Distribution;
use crate::error::{CoreError, CoreResult};
use crate::math::ln_binomial;
use crate::parallel::map_indices;
use crate::rng::{stream, Draws, Purpose};
use crate::limits::{checked_total, largest};
use crate::sampling::fill_random_subset;

/// The largest number of players a design supports: C(d, d/2) must stay finite in f64.
pub const MAX_DESIGN_PLAYERS: usize = 1000;

/// Coalitions of a design for a batch of points, with counting-measure weights.
#[derive(Clone, Debug, PartialEq)]
pub struct CoalitionDesign {
    /// `(n_points, n_rows, n_players)`; the first `n_enumerated` rows are the same for every point.
    pub masks: Array3<bool>,
    /// `(n_points, n_rows)`: `Σ_r w_r f(S_r)` estimates `Σ_{S ≠ ∅, N} f(S)` without bias.
    pub weights: Array2<f64>,
    /// The number of leading enumerated rows (weight 1, closed under complement, in pairs).
    pub n_enumerated: usize,
}

/// The sizes {j, d − j} of one stratum of complementary sizes, j ≤ d/2.
#[derive(Clone, Copy, Debug)]
struct SizePair {
    small: usize,
    /// Whether j = d − j (d even, the middle size).
    middle: bool,
}

impl SizePair {
    fn sizes(self, d: usize) -> Vec<usize> {
        if self.middle { vec![self.small] } else { vec![self.small, d - self.small] }
    }

    /// Coalitions of both sizes.
    fn ln_coalitions(self, d: usize) -> f64 {
        ln_binomial(d, self.small) + if self.middle { 0.0 } else { std::f64::consts::LN_2 }
    }
}

/// A stratum of the random part: the units (pairs, or coalitions of one size) it holds and its
/// probability mass under the restricted distribution.
#[derive(Clone, Copy, Debug)]
struct Stratum {
    /// Size of the unit's first row; with pairs, the smaller size of the pair.
    size: usize,
    /// Pairs of a middle size are {S, N∖S} with |S| = d/2: half as many units as coalitions.
    middle_pairs: bool,
    ln_units: f64,
    /// Mass under the distribution restricted to the random sizes (the strata's masses sum to 1).
    mass: f64,
}

/// What a design is for given `(d, n_rows, distribution, paired)`: the enumerated size pairs and the
/// strata the other rows are drawn from. The same for every point.
#[derive(Clone, Debug)]
struct Plan {
    n_players: usize,
    paired: bool,
    enumerated: Vec<SizePair>,
    n_enumerated: usize,
    strata: Vec<Stratum>,
    /// Rows drawn at random (0 when the design is a census).
    random_rows: usize,
    /// P(|S| = k) restricted to the random sizes and renormalised, k = 0..=d.
    random_size_probability: Vec<f64>,
}

/// C(n, k) exactly, or None beyond u64.
fn binomial_u64(n: usize, k: usize) -> Option<u64> {
    let k = k.min(n - k);
    let mut acc: u128 = 1;
    for i in 0..k {
        acc = acc * (n - i) as u128 / (i + 1) as u128;
        if acc > u64::MAX as u128 {
            return None;
        }
    }
    Some(acc as u64)
}

impl Plan {
    fn new(d: usize, n_rows: usize, distribution: Distribution, paired: bool) -> Self {
        let p = distribution.size_probabilities(d);
        let inner_mass: f64 = p[1..d].iter().sum();
        let size_mass = |k: usize| p[k] / inner_mass;
        let pairs: Vec<SizePair> = (1..=d / 2).map(|j| SizePair { small: j, middle: 2 * j == d }).collect();
        // Border trick, from the outside in (the largest probability per coalition first): a size
        // pair is enumerated when its expected number of draws reaches its number of coalitions.
        let (mut rows_left, mut mass_left) = (n_rows, 1.0f64);
        let mut enumerated = Vec::new();
        for &pair in &pairs {
            let Some(cost) = pair.sizes(d).iter().try_fold(0u64, |acc, &k| acc.checked_add(binomial_u64(d, k)?)) else {
                break;
            };
            let mass: f64 = pair.sizes(d).iter().map(|&k| size_mass(k)).sum();
            let expected = rows_left as f64 * mass / mass_left;
            if cost > rows_left as u64 || expected < cost as f64 * (1.0 - 1e-9) {
                break;
            }
            enumerated.push(pair);
            rows_left -= cost as usize;
            mass_left -= mass;
        }
        let census = enumerated.len() == pairs.len();
        let n_enumerated = n_rows - rows_left;
        let random_pairs = &pairs[enumerated.len()..];
        let mut random_size_probability = vec![0.0; d + 1];
        let mut strata = Vec::new();
        if !census {
            let remaining: f64 = random_pairs.iter().flat_map(|pr| pr.sizes(d)).map(size_mass).sum();
            for pair in random_pairs {
                for k in pair.sizes(d) {
                    random_size_probability[k] = size_mass(k) / remaining;
                }
                if paired {
                    let mass = pair.sizes(d).iter().map(|&k| random_size_probability[k]).sum();
                    let ln_units = pair.ln_coalitions(d) - std::f64::consts::LN_2;
                    strata.push(Stratum { size: pair.small, middle_pairs: pair.middle, ln_units, mass });
                } else {
                    for k in pair.sizes(d) {
                        let (ln_units, mass) = (ln_binomial(d, k), random_size_probability[k]);
                        strata.push(Stratum { size: k, middle_pairs: false, ln_units, mass });
                    }
                }
            }
        }
        Plan {
            n_players: d,
            paired,
            enumerated,
            n_enumerated,
            strata,
            random_rows: if census { 0 } else { rows_left },
            random_size_probability,
        }
    }

    /// Every stratum must hold more units than it draws in expectation (else the border trick
    /// would have enumerated it); checked so that a rounding corner case is an error, not a panic.
    fn check(&self) -> CoreResult<()> {
        for (stratum, e) in self.strata.iter().zip(self.expected_units()) {
            if e.ln() >= stratum.ln_units {
                return Err(CoreError::invalid(
                    "n_samples",
                    format!("internal design error: stratum of size {} draws {e} units of {}", stratum.size, stratum.ln_units.exp()),
                ));
            }
        }
        Ok(())
    }

    fn rows_per_unit(&self) -> usize {
        if self.paired { 2 } else { 1 }
    }

    fn n_rows(&self) -> usize {
        self.n_enumerated + self.random_rows
    }

    /// Every coalition of the enumerated sizes, in complementary pairs (S, N∖S).
    fn enumerated_rows(&self) -> Vec<bool> {
        let d = self.n_players;
        let mut out = Vec::with_capacity(self.n_enumerated * d);
        for pair in &self.enumerated {
            for_each_subset(d, pair.small, |subset| {
                // A middle pair {S, N∖S} is listed once, from the side holding player 0.
                if pair.middle && !subset[0] {
                    return;
                }
                out.extend_from_slice(subset);
                out.extend(subset.iter().map(|&b| !b));
            });
        }
        debug_assert_eq!(out.len(), self.n_enumerated * d);
        out
    }

    /// The counting-measure weight of a random row of size `k` (i.i.d. draws).
    fn iid_weight(&self, k: usize) -> f64 {
        let ln_q = self.random_size_probability[k].ln() - ln_binomial(self.n_players, k);
        (-ln_q - (self.random_rows as f64).ln()).exp()
    }

    /// Units of each stratum in expectation (stratified draws).
    fn expected_units(&self) -> Vec<f64> {
        let units = (self.random_rows / self.rows_per_unit()) as f64;
        self.strata.iter().map(|s| units * s.mass).collect()
    }

    /// Draw the random rows of one point into `rows` and their weights into `weights`.
    fn draw_random(&self, seed: u64, point: u64, replace: bool, rows: &mut [bool], weights: &mut [f64]) {
        let d = self.n_players;
        let unit_len = self.rows_per_unit() * d;
        if replace {
            let cdf = cumulative(&self.random_size_probability);
            for (u, (unit, unit_weights)) in rows.chunks_mut(unit_len).zip(weights.chunks_mut(self.rows_per_unit())).enumerate() {
                let mut rng = stream(seed, Purpose::Design, point, 1 + u as u64);
                let x: f64 = rng.random();
                // The first size whose cumulative probability exceeds x: always a drawable size.
                let k = cdf.partition_point(|&c| c <= x).min(last_positive(&self.random_size_probability));
                let (first, rest) = unit.split_at_mut(d);
                fill_random_subset(&mut rng, first, k);
                unit_weights.fill(self.iid_weight(k));
                if self.paired {
                    rest.iter_mut().zip(first.iter()).for_each(|(c, &f)| *c = !f);
                }
            }
            return;
        }
        let expected = self.expected_units();
        let counts = systematic_counts(&expected, stream(seed, Purpose::Design, point, 0).random());
        let mut offset = 0;
        for (s, (stratum, &count)) in self.strata.iter().zip(&counts).enumerate() {
            if count == 0 {
                continue;
            }
            let weight = (stratum.ln_units - expected[s].ln()).exp();
            let mut rng = stream(seed, Purpose::Design, point, 1 + s as u64);
            let block = &mut rows[offset * unit_len..(offset + count) * unit_len];
            draw_distinct(&mut rng, stratum, d, count, self.rows_per_unit(), block);
            weights[offset * self.rows_per_unit()..(offset + count) * self.rows_per_unit()].fill(weight);
            offset += count;
        }
        debug_assert_eq!(offset * unit_len, rows.len());
    }
}

fn cumulative(p: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    let mut c: Vec<f64> = p.iter().map(|x| { acc += x; acc }).collect();
    // Guard against rounding: the last positive size must be certain.
    let last = last_positive(p);
    c[last..].iter_mut().for_each(|x| *x = 1.0);
    c
}

fn last_positive(p: &[f64]) -> usize {
    p.iter().rposition(|&x| x > 0.0).unwrap_or(0)
}

/// Randomised systematic rounding: integer counts with E[count_s] = expected_s, each the floor or
/// the ceiling of its expectation, summing exactly to the (integral) total.
fn systematic_counts(expected: &[f64], u: f64) -> Vec<usize> {
    let total = expected.iter().sum::<f64>().round();
    let mut acc = 0.0;
    let mut previous = u.floor();
    let n = expected.len();
    expected
        .iter()
        .enumerate()
        .map(|(s, e)| {
            acc += e;
            let edge = if s + 1 == n { total } else { acc };
            let now = (edge + u).floor();
            let count = (now - previous).max(0.0) as usize;
            previous = now;
            count
        })
        .collect()
}

/// `count` distinct units of a stratum, uniformly without replacement, written as rows.
fn draw_distinct(rng: &mut Pcg64, stratum: &Stratum, d: usize, count: usize, rows_per_unit: usize, block: &mut [bool]) {
    let unit_len = rows_per_unit * d;
    let write = |unit: &mut [bool], subset: &[bool]| {
        unit[..d].copy_from_slice(subset);
        if rows_per_unit == 2 {
            unit[d..].iter_mut().zip(subset).for_each(|(c, &f)| *c = !f);
        }
    };
    // A stratum the draws would mostly cover is listed and subsampled; otherwise rejection of
    // repeats is cheap (at most half the units are taken, so fewer than two tries per unit).
    if stratum.ln_units <= ((2 * count) as f64).ln() + 1e-9 {
        let mut units: Vec<Vec<bool>> = Vec::new();
        for_each_subset(d, stratum.size, |subset| {
            if !stratum.middle_pairs || subset[0] {
                units.push(subset.to_vec());
            }
        });
        for (unit, pick) in block.chunks_mut(unit_len).zip(sample_indices(rng, units.len(), count)) {
            write(unit, &units[pick]);
        }
        return;
    }
    let mut seen: HashSet<Vec<u64>> = HashSet::with_capacity(count);
    let mut subset = vec![false; d];
    for unit in block.chunks_mut(unit_len) {
        loop {
            fill_random_subset(rng, &mut subset, stratum.size);
            if stratum.middle_pairs && !subset[0] {
                subset.iter_mut().for_each(|b| *b = !*b);
            }
            if seen.insert(pack(&subset)) {
                break;
            }
        }
        write(unit, &subset);
    }
}

fn pack(subset: &[bool]) -> Vec<u64> {
    subset
        .chunks(64)
        .map(|block| block.iter().enumerate().fold(0u64, |acc, (j, &b)| acc | (u64::from(b) << j)))
        .collect()
}

/// Call `f` with every subset of `k` of `d` players as a bool row, in lexicographic order of the
/// chosen indices.
fn for_each_subset(d: usize, k: usize, mut f: impl FnMut(&[bool])) {
    let mut idx: Vec<usize> = (0..k).collect();
    let mut row = vec![false; d];
    loop {
        row.fill(false);
        idx.iter().for_each(|&i| row[i] = true);
        f(&row);
        // Advance to the next combination.
        let Some(i) = (0..k).rev().find(|&i| idx[i] < d - k + i) else {
            return;
        };
        idx[i] += 1;
        for j in i + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
}

/// Sample a design of `draws.n_samples` rows per point: the enumerated block, then random units
/// (pairs with `paired`), distinct within a point unless `replace`. A budget that covers every
/// coalition gives the census alone (`2^d − 2` rows, fewer than asked). Streams come from
/// `(seed, point_offset + point)`, so designs do not depend on threads or batching.
pub fn sample_design(draws: Draws, n_players: usize, distribution: Distribution, paired: bool, replace: bool) -> CoreResult<CoalitionDesign> {
    let Draws { n_points, n_samples, seed, point_offset, sample_offset } = draws;
    let d = n_players;
    if d < 2 {
        return Err(CoreError::invalid("n_players", format!("a design needs at least 2 players, got {d}")));
    }
    if d > MAX_DESIGN_PLAYERS {
        return Err(CoreError::invalid("n_players", format!("designs support at most {MAX_DESIGN_PLAYERS} players, got {d}")));
    }
    if sample_offset != 0 {
        return Err(CoreError::invalid("sample_offset", "a design is drawn whole; it cannot continue another draw"));
    }
    if paired && n_samples % 2 != 0 {
        return Err(CoreError::invalid("n_samples", format!("must be even when paired=True, got {n_samples}")));
    }
    if n_samples < 1 {
        return Err(CoreError::invalid("n_samples", "must be at least 1"));
    }
    draws.check_fits()?;
    let plan = Plan::new(d, n_samples, distribution, paired);
    plan.check()?;
    let rows = plan.n_rows();
    // The enumerated rows are built once, shared by every point (even when there are no points).
    let name = largest(&[(n_points, "n_points"), (rows, "n_samples"), (d, "n_players")]);
    checked_total(&[(&[n_points, rows, d], 1), (&[n_points, rows], 8), (&[plan.n_enumerated, d], 1)], name)?;
    let enumerated = plan.enumerated_rows();
    let per_point = map_indices(n_points, |p| {
        let mut masks = vec![false; rows * d];
        let mut weights = vec![1.0; rows];
        masks[..enumerated.len()].copy_from_slice(&enumerated);
        let point = point_offset + p as u64;
        plan.draw_random(seed, point, replace, &mut masks[enumerated.len()..], &mut weights[plan.n_enumerated..]);
        (masks, weights)
    });
    let mut masks = Vec::with_capacity(n_points * rows * d);
    let mut weights = Vec::with_capacity(n_points * rows);
    for (m, w) in per_point {
        masks.extend(m);
        weights.extend(w);
    }
    Ok(CoalitionDesign {
        masks: Array3::from_shape_vec((n_points, rows, d), masks).expect("shape matches length"),
        weights: Array2::from_shape_vec((n_points, rows), weights).expect("shape matches length"),
        n_enumerated: plan.n_enumerated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::set_parallelism;

    fn size(row: ndarray::ArrayView1<bool>) -> usize {
        row.iter().filter(|&&b| b).count()
    }

    #[test]
    fn border_trick_enumerates_outer_sizes() {
        // d = 12, Shapley kernel: sizes 1 and 11 hold 18 % of the mass; 24 coalitions.
        let design = sample_design(Draws::new(2, 256, 3), 12, Distribution::Shapley, true, false).unwrap();
        assert_eq!(design.n_enumerated, 24);
        for p in 0..2 {
            for r in 0..24 {
                let k = size(design.masks.slice(ndarray::s![p, r, ..]));
                assert!(k == 1 || k == 11);
                assert_eq!(design.weights[[p, r]], 1.0);
            }
        }
        let small = sample_design(Draws::new(1, 64, 3), 24, Distribution::Shapley, true, false).unwrap();
        assert_eq!(small.n_enumerated, 0);
    }

    #[test]
    fn rows_are_distinct_pairs_and_weights_count_coalitions() {
        for (d, m, dist) in [(10, 300, Distribution::Shapley), (9, 200, Distribution::Leverage), (8, 100, Distribution::Banzhaf)] {
            for paired in [true, false] {
                let design = sample_design(Draws::new(3, m, 5), d, dist, paired, false).unwrap();
                for p in 0..3 {
                    let point = design.masks.index_axis(ndarray::Axis(0), p);
                    let keys: HashSet<Vec<bool>> = point.outer_iter().map(|r| r.to_vec()).collect();
                    assert_eq!(keys.len(), point.nrows(), "{dist:?} paired={paired}: repeated coalition");
                    for row in point.outer_iter() {
                        let k = size(row);
                        assert!(0 < k && k < d);
                    }
                    if paired {
                        for j in (0..point.nrows()).step_by(2) {
                            assert!(point.row(j).iter().zip(point.row(j + 1)).all(|(a, b)| a != b));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn weights_are_unbiased_for_coalition_counts_by_size() {
        // E[Σ_r w_r 1{|S_r| = k}] = C(d, k) for every size; averaged over many points.
        let (d, n) = (9, 4000);
        for replace in [false, true] {
            let design = sample_design(Draws::new(n, 40, 1), d, Distribution::Shapley, true, replace).unwrap();
            for k in 1..d {
                let mut total = 0.0;
                for p in 0..n {
                    for r in 0..design.masks.dim().1 {
                        if size(design.masks.slice(ndarray::s![p, r, ..])) == k {
                            total += design.weights[[p, r]];
                        }
                    }
                }
                let mean = total / n as f64;
                let exact = binomial_u64(d, k).unwrap() as f64;
                assert!((mean / exact - 1.0).abs() < 0.06, "replace={replace} size {k}: {mean} vs {exact}");
            }
        }
    }

    #[test]
    fn a_budget_covering_everything_is_the_census() {
        let design = sample_design(Draws::new(1, 1000, 0), 6, Distribution::Shapley, true, false).unwrap();
        assert_eq!(design.masks.dim().1, 62);
        assert_eq!(design.n_enumerated, 62);
        assert!(design.weights.iter().all(|&w| w == 1.0));
    }

    #[test]
    fn systematic_counts_are_floor_or_ceiling_and_sum_to_total() {
        let e = [0.4, 2.7, 1.1, 0.8];
        for u in [0.0, 0.13, 0.5, 0.99] {
            let c = systematic_counts(&e, u);
            assert_eq!(c.iter().sum::<usize>(), 5);
            for (ci, ei) in c.iter().zip(e) {
                assert!(*ci as f64 >= ei.floor() && *ci as f64 <= ei.ceil());
            }
        }
    }

    #[test]
    fn designs_do_not_depend_on_threads_or_batches() {
        let all = sample_design(Draws::new(6, 120, 9), 11, Distribution::Shapley, true, false).unwrap();
        let tail = sample_design(Draws::new(2, 120, 9).starting_at(4, 0), 11, Distribution::Shapley, true, false).unwrap();
        assert_eq!(all.masks.slice(ndarray::s![4.., .., ..]), tail.masks);
        assert_eq!(all.weights.slice(ndarray::s![4.., ..]), tail.weights);
        set_parallelism(false);
        let serial = sample_design(Draws::new(6, 120, 9), 11, Distribution::Shapley, true, false).unwrap();
        set_parallelism(true);
        assert_eq!(all, serial);
    }
}
