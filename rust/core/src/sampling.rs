//! Seeded samplers: coalitions from a [`Distribution`], permutations, the coalition chains along
//! permutations, the multisets of distributional Data Shapley, and the enumeration of all
//! coalitions for exact computations.

use std::ops::RangeInclusive;

use ndarray::{Array1, Array2, Array3, Array4, ArrayView2, ArrayView3};
use rand::distr::{Distribution as _, Uniform};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_distr::Binomial;
use rand_pcg::Pcg64;

use crate::distribution::Distribution;
use crate::error::{CoreError, CoreResult};
use crate::limits::{check_table, checked_cells, checkpoint, largest};
use crate::parallel::for_each_chunk;
use crate::rng::{stream, Draws, Purpose};
use crate::validate::{check_permutations, check_positive};

/// The largest number of players exact enumeration accepts (2^20 coalitions).
pub const MAX_EXACT_PLAYERS: usize = 20;

/// The largest output [`sample_multisets`] builds in one call, in cells (4 GiB of `u32`).
pub const MAX_MULTISET_CELLS: usize = 1 << 30;


fn check_even(n: usize, name: &'static str, why: &str) -> CoreResult<()> {
    if n % 2 != 0 {
        return Err(CoreError::invalid(name, format!("must be even when {why}, got {n}")));
    }
    Ok(())
}

/// Fill `data`, laid out as `draws.n_points` points of `draws.n_samples` rows of `row_len` cells,
/// drawing every unit of `rows_per_unit` rows (a pair, or one row) from its own stream
/// `(seed, purpose, point_offset + point, sample_offset / rows_per_unit + unit)`.
fn draw_units<T: Send>(
    data: &mut [T],
    draws: &Draws,
    row_len: usize,
    rows_per_unit: usize,
    purpose: Purpose,
    draw: impl Fn(&mut Pcg64, &mut [T]) + Sync + Send,
) {
    let units_per_point = draws.n_samples / rows_per_unit;
    let first_unit = draws.sample_offset / rows_per_unit as u64;
    for_each_chunk(data, rows_per_unit * row_len, |unit, chunk| {
        let point = (unit / units_per_point) as u64 + draws.point_offset;
        let index = (unit % units_per_point) as u64 + first_unit;
        draw(&mut stream(draws.seed, purpose, point, index), chunk);
    });
}

/// Draws one coalition of a given distribution into a row of `d` booleans.
struct CoalitionSampler {
    distribution: Distribution,
    /// Cumulative size probabilities (sizes 0..=d) for size-first distributions.
    size_cdf: Vec<f64>,
}

impl CoalitionSampler {
    fn new(distribution: Distribution, n_players: usize) -> Self {
        let mut acc = 0.0;
        let mut size_cdf: Vec<f64> = distribution
            .size_probabilities(n_players)
            .iter()
            .map(|p| {
                acc += p;
                acc
            })
            .collect();
        // Guard against rounding: the last non-zero size must be certain.
        let last = size_cdf.iter().rposition(|&c| c > 0.0).map_or(0, |i| i);
        for c in &mut size_cdf[last..] {
            *c = 1.0;
        }
        CoalitionSampler {
            distribution,
            size_cdf,
        }
    }

    fn draw(&self, rng: &mut Pcg64, row: &mut [bool]) {
        let d = row.len();
        match self.distribution {
            Distribution::Banzhaf => {
                for block in row.chunks_mut(64) {
                    let bits = rng.next_u64();
                    for (j, cell) in block.iter_mut().enumerate() {
                        *cell = (bits >> j) & 1 == 1;
                    }
                }
            }
            Distribution::Shapley | Distribution::Leverage => {
                let u: f64 = rng.random();
                let k = self.size_cdf.partition_point(|&c| c < u).min(d);
                fill_random_subset(rng, row, k);
            }
        }
    }
}

/// Fill `row` with a uniformly random coalition of `k` players. Floyd's algorithm on the smaller
/// side, using the row itself as the set of chosen players: O(min(k, d−k)) draws, no allocation.
pub(crate) fn fill_random_subset(rng: &mut Pcg64, row: &mut [bool], k: usize) {
    let d = row.len();
    let small = k.min(d - k);
    let mark = k <= d - k;
    row.fill(!mark);
    for j in d - small..d {
        let t = rng.random_range(0..=j);
        let pick = if row[t] == mark { j } else { t };
        row[pick] = mark;
    }
}

/// Sample coalitions of `n_players` players: a bool array `(n_points, n_samples, n_players)`.
///
/// With `paired`, rows `2j` and `2j+1` are complements. Row streams are derived from
/// `(seed, point_offset + point, sample_offset + sample)` (pairs: per pair index), so a call with
/// `sample_offset = k` continues a call that drew `k` samples per point.
pub fn sample_coalitions(draws: Draws, n_players: usize, distribution: Distribution, paired: bool) -> CoreResult<Array3<bool>> {
    let Draws { n_points, n_samples, .. } = draws;
    distribution.check_players(n_players, "n_players")?;
    if paired {
        check_even(n_samples, "n_samples", "paired=True")?;
        check_even(draws.sample_offset as usize, "sample_offset", "paired=True")?;
    }
    draws.check_fits()?;
    check_table(n_players, 1, "n_players")?;
    let name = largest(&[(n_points, "n_points"), (n_samples, "n_samples"), (n_players, "n_players")]);
    let total = checked_cells(&[n_points, n_samples, n_players], 1, name)?;
    let sampler = CoalitionSampler::new(distribution, n_players);
    let rows_per_unit = if paired { 2 } else { 1 };
    let mut data = vec![false; total];
    draw_units(&mut data, &draws, n_players, rows_per_unit, Purpose::Coalitions, |rng, chunk| {
        let (first, rest) = chunk.split_at_mut(n_players);
        sampler.draw(rng, first);
        if paired {
            for (c, &f) in rest.iter_mut().zip(first.iter()) {
                *c = !f;
            }
        }
    });
    Ok(Array3::from_shape_vec((n_points, n_samples, n_players), data).expect("shape matches length"))
}

/// Exact probability of each coalition (rows of `masks`, shape `(m, n_players)`).
pub fn coalition_probabilities(
    masks: ArrayView2<bool>,
    distribution: Distribution,
) -> CoreResult<Array1<f64>> {
    let d = masks.ncols();
    distribution.check_players(d, "masks")?;
    check_table(d, 2, "masks")?;
    let by_size = distribution.coalition_probability_by_size(d);
    Ok(masks.rows().into_iter().map(|row| by_size[row.iter().filter(|&&b| b).count()]).collect())
}

/// Sample uniformly random orders of `n_players` players: an `i64` array
/// `(n_points, n_permutations, n_players)`, the draws' samples being permutations.
///
/// With `antithetic`, permutation `2j+1` is the reverse of permutation `2j`. Streams as in
/// [`sample_coalitions`], with `sample_offset` counting permutations.
pub fn sample_permutations(draws: Draws, n_players: usize, antithetic: bool) -> CoreResult<Array3<i64>> {
    let Draws { n_points, n_samples: n_permutations, .. } = draws;
    check_positive(n_players, "n_players")?;
    if antithetic {
        check_even(n_permutations, "n_permutations", "antithetic=True")?;
        check_even(draws.sample_offset as usize, "sample_offset", "antithetic=True")?;
    }
    draws.check_fits()?;
    let name = largest(&[(n_points, "n_points"), (n_permutations, "n_permutations"), (n_players, "n_players")]);
    let total = checked_cells(&[n_points, n_permutations, n_players], 8, name)?;
    let rows_per_unit = if antithetic { 2 } else { 1 };
    let mut data = vec![0i64; total];
    draw_units(&mut data, &draws, n_players, rows_per_unit, Purpose::Permutations, |rng, chunk| {
        let (first, rest) = chunk.split_at_mut(n_players);
        for (j, x) in first.iter_mut().enumerate() {
            *x = j as i64;
        }
        first.shuffle(rng);
        if antithetic {
            for (c, &f) in rest.iter_mut().zip(first.iter().rev()) {
                *c = f;
            }
        }
    });
    Ok(Array3::from_shape_vec((n_points, n_permutations, n_players), data)
        .expect("shape matches length"))
}

/// The coalitions along each permutation: `(n_points, n_permutations, n_players + 1, n_players)`,
/// where row `j` holds the first `j` players of the order (row 0 empty, row `d` full). With
/// `interior`, only rows 1..d−1 (`n_players − 1` rows): the empty and full coalitions are the same
/// for every order, so callers evaluate them once.
pub fn permutation_chain_masks(permutations: ArrayView3<i64>, interior: bool) -> CoreResult<Array4<bool>> {
    check_permutations(&permutations, "permutations")?;
    let (n_points, n_perm, d) = permutations.dim();
    let (rows, first) = if interior { (d - 1, 1) } else { (d + 1, 0) };
    let total = checked_cells(&[n_points, n_perm, rows, d], 1, "permutations")?;
    let mut data = vec![false; total];
    for_each_chunk(&mut data, rows * d, |chain, block| {
        let order = permutations.slice(ndarray::s![chain / n_perm, chain % n_perm, ..]);
        // Row r holds the first `first + r` players of the order.
        for r in 0..rows {
            let (prev, next) = block.split_at_mut(r * d);
            if r == 0 {
                order.iter().take(first).for_each(|&p| next[p as usize] = true);
            } else {
                next[..d].copy_from_slice(&prev[(r - 1) * d..]);
                next[order[first + r - 1] as usize] = true;
            }
        }
    });
    Ok(Array4::from_shape_vec((n_points, n_perm, rows, d), data).expect("shape matches length"))
}

/// Every coalition of `n_players` players: `(2^d, d)`, row `s` holding player `i` iff bit `i` of `s`.
pub fn enumerate_coalitions(n_players: usize) -> CoreResult<Array2<bool>> {
    check_exact_players(n_players, "n_players")?;
    let d = n_players;
    Ok(Array2::from_shape_fn((1usize << d, d), |(s, i)| (s >> i) & 1 == 1))
}

/// Check that exact enumeration over `n_players` players is supported.
pub(crate) fn check_exact_players(n_players: usize, name: &'static str) -> CoreResult<()> {
    check_positive(n_players, name)?;
    if n_players > MAX_EXACT_PLAYERS {
        return Err(CoreError::TooManyPlayers {
            name,
            max: MAX_EXACT_PLAYERS,
            got: n_players,
        });
    }
    Ok(())
}

/// Above this many draws per data point, a multiset's counts are drawn as a multinomial (by
/// binomial splitting, O(n_data) whatever the size) rather than one index at a time (O(size): a
/// size of 10^9 took minutes).
const MULTINOMIAL_SPLIT: u64 = 16;

/// Counts of `k` indices drawn uniformly with replacement from `0..row.len()`: the multinomial
/// `(k; 1/n, …, 1/n)`, each count binomial given those before it.
fn multinomial_counts(rng: &mut impl Rng, k: u64, row: &mut [u32]) {
    let mut remaining = k;
    let n = row.len();
    for (i, slot) in row.iter_mut().enumerate() {
        let count = if i + 1 == n {
            remaining
        } else {
            Binomial::new(remaining, 1.0 / (n - i) as f64).expect("a probability in (0, 1]").sample(rng)
        };
        *slot = count as u32; // at most k < 2**32
        remaining -= count;
    }
}

/// Draw multisets of data points for distributional Data Shapley: a `u32` array
/// `(n_points, n_samples, n_data)` of multiplicities. For each (point i, sample j), a size
/// `k ~ Uniform(sizes)` (`min_size..=max_size`), then `k` indices drawn uniformly with replacement from
/// `0..n_data`. Streams come from `(seed, point_offset + i, sample_offset + j)`, so the result does
/// not depend on the thread count or on how points and samples are split into calls.
pub fn sample_multisets(draws: Draws, n_data: usize, sizes: RangeInclusive<u64>) -> CoreResult<Array3<u32>> {
    let Draws { n_points, n_samples, .. } = draws;
    let (min_size, max_size) = sizes.into_inner();
    check_positive(n_data, "n_data")?;
    if max_size > u64::from(u32::MAX) {
        return Err(CoreError::invalid("max_size", format!("must be below 2**32, got {max_size}")));
    }
    if min_size > max_size {
        return Err(CoreError::invalid(
            "min_size",
            format!("must not exceed max_size ({max_size}), got {min_size}"),
        ));
    }
    let name = largest(&[(n_points, "n_points"), (n_samples, "n_samples"), (n_data, "n_data")]);
    let total = checked_cells(&[n_points, n_samples, n_data], 4, name)?;
    if total > MAX_MULTISET_CELLS {
        return Err(CoreError::invalid(
            "n_samples",
            format!(
                "an output of shape {:?} has {total} cells, more than the {MAX_MULTISET_CELLS} one call builds; \
                 draw in batches with point_offset / sample_offset (the streams continue exactly)",
                [n_points, n_samples, n_data]
            ),
        ));
    }
    draws.check_fits()?;
    let indices = Uniform::new(0u64, n_data as u64).expect("n_data >= 1");
    let mut data = vec![0u32; total];
    draw_units(&mut data, &draws, n_data, 1, Purpose::Multisets, |rng, row| {
        let k = rng.random_range(min_size..=max_size);
        if k > MULTINOMIAL_SPLIT * n_data as u64 {
            multinomial_counts(rng, k, row);
            return;
        }
        for i in 0..k {
            if i % (1 << 20) == 0 {
                checkpoint(); // a row of a large pool may still take many draws
            }
            row[indices.sample(rng) as usize] += 1;
        }
    });
    Ok(Array3::from_shape_vec((n_points, n_samples, n_data), data).expect("shape matches length"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::set_parallelism;
    use ndarray::Axis;

    #[test]
    fn huge_multisets_are_drawn_as_multinomials() {
        let big = 1u64 << 31;
        let counts = sample_multisets(Draws::new(2, 3, 7), 5, big..=big).unwrap();
        for row in counts.rows() {
            assert_eq!(row.iter().map(|&c| u64::from(c)).sum::<u64>(), big);
            for &c in row {
                // Binomial(2^31, 1/5): standard deviation about 18 500.
                assert!((f64::from(c) - big as f64 / 5.0).abs() < 2e5, "{c}");
            }
        }
    }

    #[test]
    fn paired_rows_are_complements_and_sizes_follow_distribution() {
        let m = sample_coalitions(Draws::new(3, 4000, 11), 9, Distribution::Shapley, true).unwrap();
        let p = Distribution::Shapley.size_probabilities(9);
        let mut hist = vec![0usize; 10];
        for point in m.outer_iter() {
            for (j, row) in point.outer_iter().enumerate() {
                let k = row.iter().filter(|&&b| b).count();
                assert!((1..9).contains(&k));
                if j % 2 == 0 {
                    hist[k] += 1;
                    let next = point.row(j + 1);
                    assert!(row.iter().zip(next.iter()).all(|(a, b)| a != b));
                }
            }
        }
        let n = 3.0 * 2000.0;
        for k in 1..9 {
            let expected = n * p[k];
            let sd = (n * p[k] * (1.0 - p[k])).sqrt();
            assert!((hist[k] as f64 - expected).abs() < 5.0 * sd, "size {k}");
        }
    }

    #[test]
    fn samples_do_not_depend_on_threads_or_batches() {
        let all = sample_coalitions(Draws::new(6, 10, 5), 70, Distribution::Banzhaf, false).unwrap();
        let tail = sample_coalitions(Draws::new(2, 10, 5).starting_at(4, 0), 70, Distribution::Banzhaf, false).unwrap();
        assert_eq!(all.slice(ndarray::s![4.., .., ..]), tail);
        // Continuing with sample_offset reproduces the later samples of one bigger draw.
        let head = sample_coalitions(Draws::new(6, 4, 5), 70, Distribution::Banzhaf, false).unwrap();
        let rest = sample_coalitions(Draws::new(6, 6, 5).starting_at(0, 4), 70, Distribution::Banzhaf, false).unwrap();
        assert_eq!(all.slice(ndarray::s![.., ..4, ..]), head);
        assert_eq!(all.slice(ndarray::s![.., 4.., ..]), rest);
        set_parallelism(false);
        let serial = sample_coalitions(Draws::new(6, 10, 5), 70, Distribution::Banzhaf, false).unwrap();
        set_parallelism(true);
        assert_eq!(all, serial);
    }

    #[test]
    fn antithetic_permutations_reverse_and_chains_grow() {
        let perms = sample_permutations(Draws::new(2, 6, 3), 7, true).unwrap();
        for point in perms.outer_iter() {
            for j in (0..6).step_by(2) {
                let a: Vec<i64> = point.row(j).to_vec();
                let mut b: Vec<i64> = point.row(j + 1).to_vec();
                b.reverse();
                assert_eq!(a, b);
                let mut sorted = a.clone();
                sorted.sort();
                assert_eq!(sorted, (0..7).collect::<Vec<i64>>());
            }
        }
        let chains = permutation_chain_masks(perms.view(), false).unwrap();
        let inner = permutation_chain_masks(perms.view(), true).unwrap();
        assert_eq!(inner, chains.slice(ndarray::s![.., .., 1..7, ..]));
        for j in 0..=7 {
            let row = chains.slice(ndarray::s![1, 2, j, ..]);
            assert_eq!(row.iter().filter(|&&b| b).count(), j);
        }
        let first = perms[[1, 2, 0]] as usize;
        assert!(chains[[1, 2, 1, first]]);
    }

    #[test]
    fn invalid_arguments_are_reported() {
        assert!(matches!(
            sample_coalitions(Draws::new(1, 3, 0), 4, Distribution::Shapley, true),
            Err(CoreError::InvalidArgument { name: "n_samples", .. })
        ));
        assert!(sample_coalitions(Draws::new(1, 2, 0), 1, Distribution::Shapley, false).is_err());
        // Draws past the end of the streams are refused rather than wrapped around.
        let late = Draws::new(2, 4, 0).starting_at(u64::MAX - 1, 0);
        assert!(matches!(
            sample_permutations(late, 3, false),
            Err(CoreError::InvalidArgument { name: "point_offset", .. })
        ));
        assert!(matches!(
            sample_multisets(Draws::new(1, 4, 0).starting_at(0, u64::MAX), 3, 0..=1),
            Err(CoreError::InvalidArgument { name: "sample_offset", .. })
        ));
        assert!(matches!(
            enumerate_coalitions(21),
            Err(CoreError::TooManyPlayers { .. })
        ));
        let bad = ndarray::arr3(&[[[0i64, 0, 1]]]);
        assert!(permutation_chain_masks(bad.view(), false).is_err());
    }

    #[test]
    fn enumeration_uses_bit_order() {
        let all = enumerate_coalitions(3).unwrap();
        assert_eq!(all.row(5).to_vec(), vec![true, false, true]);
    }

    #[test]
    fn multisets_have_the_right_sizes_and_streams() {
        let m = sample_multisets(Draws::new(3, 500, 9), 7, 2..=5).unwrap();
        let mut sizes = [0usize; 6];
        for row in m.lanes(Axis(2)) {
            let k: u32 = row.sum();
            assert!((2..=5).contains(&k));
            sizes[k as usize] += 1;
        }
        for k in 2..=5 {
            assert!((sizes[k] as f64 - 375.0).abs() < 5.0 * (1500.0f64 * 0.25 * 0.75).sqrt(), "{sizes:?}");
        }
        let tail = sample_multisets(Draws::new(1, 500, 9).starting_at(2, 0), 7, 2..=5).unwrap();
        assert_eq!(m.slice(ndarray::s![2.., .., ..]), tail);
        let rest = sample_multisets(Draws::new(3, 200, 9).starting_at(0, 300), 7, 2..=5).unwrap();
        assert_eq!(m.slice(ndarray::s![.., 300.., ..]), rest);
        set_parallelism(false);
        let serial = sample_multisets(Draws::new(3, 500, 9), 7, 2..=5).unwrap();
        set_parallelism(true);
        assert_eq!(m, serial);
        assert!(sample_multisets(Draws::new(1, 1, 0), 0, 0..=1).is_err());
        assert!(sample_multisets(Draws::new(1, 1, 0), 3, RangeInclusive::new(4, 1)).is_err()); // min > max
        assert!(sample_multisets(Draws::new(1, 1, 0), 3, 0..=1 << 32).is_err());
        assert!(sample_multisets(Draws::new(1 << 20, 1 << 10, 0), 8, 0..=1).is_err());
        let exact = sample_multisets(Draws::new(2, 3, 1), 4, 6..=6).unwrap();
        assert!(exact.lanes(Axis(2)).into_iter().all(|r| r.sum() == 6));
    }
}
