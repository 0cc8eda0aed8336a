//! Running moments (count, mean, M2) of vector-valued units, the one implementation every
//! estimator that keeps moments uses: Welford's update adds one unit, Chan's merge (Chan, Golub &
//! LeVeque 1979) combines the moments of two disjoint sets of units exactly as one pass would, so
//! estimates built from several chunks of samples combine into the estimate of all of them.
//!
//! Moments are kept in *blocks*: a block is what one count applies to (a point, a player) and
//! holds `cells` means and M2s (e.g. its players × outputs, or a single value). Arrays whose first
//! axis is the block axis convert to and from this layout, whatever their other axes.

use ndarray::{Array, Array1, Array3, ArrayView, ArrayView1, ArrayView3, Dimension};

use crate::error::{CoreError, CoreResult};

/// Standard error of a mean from Welford's `m2` over `count` units: +inf below two units.
pub(crate) fn std_error_of_mean(m2: f64, count: usize) -> f64 {
    variance_of_mean(m2, count).sqrt()
}

/// Variance of a mean from Welford's `m2` over `count` units, `m2 / (n − 1) / n`: +inf below two.
pub(crate) fn variance_of_mean(m2: f64, count: usize) -> f64 {
    if count < 2 {
        f64::INFINITY
    } else {
        let n = count as f64;
        m2.max(0.0) / (n - 1.0) / n
    }
}

/// Counts per block; means and M2 per cell, block-major (`block * cells + cell`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RunningMoments {
    cells: usize,
    counts: Vec<u64>,
    means: Vec<f64>,
    m2: Vec<f64>,
}

impl RunningMoments {
    /// Moments of no units yet: `blocks` blocks of `cells` cells.
    pub fn new(blocks: usize, cells: usize) -> Self {
        RunningMoments {
            cells,
            counts: vec![0; blocks],
            means: vec![0.0; blocks * cells],
            m2: vec![0.0; blocks * cells],
        }
    }

    /// Moments given as arrays: counts `(blocks,)`, means and M2 `(blocks, …)` of one shape.
    fn from_arrays<D: Dimension>(counts: ArrayView1<u64>, means: ArrayView<f64, D>, m2: ArrayView<f64, D>) -> Self {
        debug_assert_eq!(means.shape(), m2.shape());
        debug_assert_eq!(means.shape().first(), Some(&counts.len()));
        RunningMoments {
            cells: means.shape()[1..].iter().product(),
            counts: counts.to_vec(),
            means: means.iter().copied().collect(),
            m2: m2.iter().copied().collect(),
        }
    }

    /// Stack the blocks of several sets of moments (e.g. points computed in parallel), in order.
    pub fn concat(parts: impl IntoIterator<Item = RunningMoments>, cells: usize) -> Self {
        let mut all = RunningMoments::new(0, cells);
        for part in parts {
            debug_assert_eq!(part.cells, cells);
            all.counts.extend(part.counts);
            all.means.extend(part.means);
            all.m2.extend(part.m2);
        }
        all
    }

    /// Welford's update of `block` with one unit whose value in cell `c` is `unit(c)`.
    #[inline]
    pub fn add(&mut self, block: usize, unit: impl Fn(usize) -> f64) {
        self.counts[block] += 1;
        let n = self.counts[block] as f64;
        let cells = block * self.cells..(block + 1) * self.cells;
        for (c, (mean, m2)) in self.means[cells.clone()].iter_mut().zip(&mut self.m2[cells]).enumerate() {
            let x = unit(c);
            let delta = x - *mean;
            *mean += delta / n;
            *m2 += delta * (x - *mean);
        }
    }

    /// Chan's merge with the moments of a disjoint set of units of the same blocks. A side without
    /// units leaves the other exactly as it was.
    pub fn merge(&mut self, other: &RunningMoments) {
        debug_assert_eq!((self.cells, self.counts.len()), (other.cells, other.counts.len()));
        for (block, (count, &other_count)) in self.counts.iter_mut().zip(&other.counts).enumerate() {
            let cells = block * self.cells..(block + 1) * self.cells;
            let (means, m2) = (&mut self.means[cells.clone()], &mut self.m2[cells.clone()]);
            let (other_means, other_m2) = (&other.means[cells.clone()], &other.m2[cells]);
            if other_count == 0 {
                continue;
            }
            if *count == 0 {
                means.copy_from_slice(other_means);
                m2.copy_from_slice(other_m2);
                *count = other_count;
                continue;
            }
            let (na, nb) = (*count as f64, other_count as f64);
            let n = na + nb;
            for ((mean, m2), (&mean_b, &m2_b)) in means.iter_mut().zip(m2).zip(other_means.iter().zip(other_m2)) {
                let delta = mean_b - *mean;
                *mean += delta * nb / n;
                *m2 += m2_b + delta * delta * na * nb / n;
            }
            *count += other_count;
        }
    }

    /// Number of units per block.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Standard error of every cell's mean (+inf where its block has fewer than two units).
    pub fn std_errors(&self) -> Vec<f64> {
        let counts = self.counts.iter().flat_map(|&n| std::iter::repeat_n(n as usize, self.cells));
        self.m2.iter().zip(counts).map(|(&m2, n)| std_error_of_mean(m2, n)).collect()
    }

    /// Zero the means and M2 of blocks without units, whatever they held.
    pub fn clear_empty_blocks(&mut self) {
        for (block, _) in self.counts.iter().enumerate().filter(|(_, &n)| n == 0) {
            let cells = block * self.cells..(block + 1) * self.cells;
            self.means[cells.clone()].fill(0.0);
            self.m2[cells].fill(0.0);
        }
    }

    /// Counts, means, standard errors and M2 as arrays; `shape` is the shape of the means (first
    /// axis: blocks).
    pub fn summary<D: Dimension>(self, shape: D) -> Summary<D> {
        let as_array = |cells: Vec<f64>| Array::from_shape_vec(shape.clone(), cells).expect("shape of the moments");
        Summary {
            std_errors: as_array(self.std_errors()),
            means: as_array(self.means),
            m2: as_array(self.m2),
            counts: Array1::from(self.counts),
        }
    }
}

/// Moments as arrays, with the standard error of every mean.
pub(crate) struct Summary<D: Dimension> {
    pub counts: Array1<u64>,
    pub means: Array<f64, D>,
    pub std_errors: Array<f64, D>,
    pub m2: Array<f64, D>,
}

/// The moments of one set of units as arrays: counts `(blocks,)`, means and M2 `(blocks, …)`,
/// with the names of the arguments they came from (for errors).
pub(crate) struct MomentArrays<'a, D: Dimension> {
    pub counts: (ArrayView1<'a, u64>, &'static str),
    pub means: (ArrayView<'a, f64, D>, &'static str),
    pub m2: (ArrayView<'a, f64, D>, &'static str),
}

/// Check that two sets of moments describe the same blocks and cells, then merge them.
pub(crate) fn merge_arrays<D: Dimension>(a: MomentArrays<D>, b: MomentArrays<D>) -> CoreResult<RunningMoments> {
    let (reference, reference_name) = (a.means.0.shape(), a.means.1);
    for (other, name) in [(a.m2.0.shape(), a.m2.1), (b.means.0.shape(), b.means.1), (b.m2.0.shape(), b.m2.1)] {
        if other != reference {
            return Err(CoreError::shape(name, format!("{reference:?} (the shape of {reference_name})"), other));
        }
    }
    let blocks = reference.first().copied().unwrap_or(0);
    for (counts, name) in [a.counts, b.counts] {
        if counts.len() != blocks {
            return Err(CoreError::shape(name, format!("[{blocks}] (the first axis of {reference_name})"), counts.shape()));
        }
    }
    // The merged counts must fit in u64 (they would wrap around, or panic with overflow checks).
    let overflowing: Vec<usize> = (0..blocks).filter(|&i| a.counts.0[i].checked_add(b.counts.0[i]).is_none()).collect();
    if !overflowing.is_empty() {
        return Err(CoreError::invalid_at(
            b.counts.1,
            overflowing,
            format!("{} + {} overflows 2**64 - 1 at the listed entries", a.counts.1, b.counts.1),
        ));
    }
    let mut merged = RunningMoments::from_arrays(a.counts.0, a.means.0, a.m2.0);
    merged.merge(&RunningMoments::from_arrays(b.counts.0, b.means.0, b.m2.0));
    Ok(merged)
}

/// Moments of one batch: counts `(n_points,)`, means and M2 `(n_points, n_players, n_outputs)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    pub counts: Array1<u64>,
    pub means: Array3<f64>,
    pub m2: Array3<f64>,
}

/// Merge the moments of two disjoint sets of units for the same points.
pub fn merge_moments(
    counts_a: ArrayView1<u64>,
    means_a: ArrayView3<f64>,
    m2_a: ArrayView3<f64>,
    counts_b: ArrayView1<u64>,
    means_b: ArrayView3<f64>,
    m2_b: ArrayView3<f64>,
) -> CoreResult<Moments> {
    let shape = means_a.raw_dim();
    let merged = merge_arrays(
        MomentArrays { counts: (counts_a, "counts_a"), means: (means_a, "means_a"), m2: (m2_a, "m2_a") },
        MomentArrays { counts: (counts_b, "counts_b"), means: (means_b, "means_b"), m2: (m2_b, "m2_b") },
    )?;
    let Summary { counts, means, m2, .. } = merged.summary(shape);
    Ok(Moments { counts, means, m2 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Ix2};

    /// A deterministic stream of awkward values (different scales and signs).
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x % 20_000) as f64 / 1000.0 - 10.0) * if i % 3 == 0 { 1e3 } else { 1.0 }
            })
            .collect()
    }

    /// Welford moments of `units` (each `cells` long) added to block 0 in order.
    fn one_pass(units: &[Vec<f64>], cells: usize) -> RunningMoments {
        let mut m = RunningMoments::new(1, cells);
        for unit in units {
            m.add(0, |c| unit[c]);
        }
        m
    }

    fn assert_close(a: &RunningMoments, b: &RunningMoments) {
        assert_eq!(a.counts, b.counts);
        for (x, y) in a.means.iter().zip(&b.means).chain(a.m2.iter().zip(&b.m2)) {
            assert!((x - y).abs() <= 1e-12 * y.abs().max(1.0), "{x} vs {y}");
        }
    }

    #[test]
    fn welford_matches_two_pass_moments() {
        let xs = values(50, 1);
        let m = one_pass(&xs.iter().map(|&x| vec![x]).collect::<Vec<_>>(), 1);
        let mean = xs.iter().sum::<f64>() / 50.0;
        let m2: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
        assert!((m.means[0] - mean).abs() < 1e-12 * mean.abs().max(1.0));
        assert!((m.m2[0] - m2).abs() < 1e-12 * m2);
        assert!((m.std_errors()[0] - (m2 / 49.0 / 50.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn merging_two_halves_equals_one_pass_for_several_shapes() {
        for (cells, n, split) in [(1, 5, 2), (1, 40, 1), (6, 33, 17), (12, 9, 8), (3, 2, 1)] {
            let units: Vec<Vec<f64>> = (0..n).map(|u| values(cells, u as u64 + 7)).collect();
            let whole = one_pass(&units, cells);
            let mut merged = one_pass(&units[..split], cells);
            merged.merge(&one_pass(&units[split..], cells));
            assert_close(&merged, &whole);
        }
    }

    #[test]
    fn an_empty_side_leaves_the_other_exactly() {
        let units: Vec<Vec<f64>> = (0..7).map(|u| values(4, u)).collect();
        let some = one_pass(&units, 4);
        let mut left = RunningMoments::new(1, 4);
        left.merge(&some);
        assert_eq!(left, some);
        let mut right = some.clone();
        right.merge(&RunningMoments::new(1, 4));
        assert_eq!(right, some);
        // Counts of zero on both sides: nothing changes, even stale means.
        let mut stale = RunningMoments { cells: 1, counts: vec![0], means: vec![3.0], m2: vec![2.0] };
        stale.merge(&RunningMoments::new(1, 1));
        assert_eq!((stale.counts[0], stale.means[0]), (0, 3.0));
        stale.clear_empty_blocks();
        assert_eq!((stale.means[0], stale.m2[0]), (0.0, 0.0));
        assert!(stale.std_errors()[0].is_infinite());
    }

    #[test]
    fn blocks_merge_independently_and_concat_in_order() {
        let units: Vec<Vec<f64>> = (0..10).map(|u| values(2, u + 100)).collect();
        let (a, b) = (one_pass(&units[..4], 2), one_pass(&units[4..], 2));
        let mut stacked = RunningMoments::concat([a.clone(), RunningMoments::new(1, 2), b.clone()], 2);
        assert_eq!(stacked.counts, vec![4, 0, 6]);
        stacked.merge(&RunningMoments::concat([b.clone(), a.clone(), RunningMoments::new(1, 2)], 2));
        assert_eq!(stacked.counts, vec![10, 4, 6]);
        let mut ab = a.clone();
        ab.merge(&b);
        assert_close(&RunningMoments::concat([stacked.clone()], 2), &RunningMoments::concat([ab, a, b], 2));
        let summary = stacked.summary(Ix2(3, 2));
        assert_eq!(summary.counts, arr1(&[10, 4, 6]));
        assert_eq!((summary.means.dim(), summary.m2.dim()), ((3, 2), (3, 2)));
        assert_eq!(summary.std_errors[[2, 1]], std_error_of_mean(summary.m2[[2, 1]], 6));
    }

    #[test]
    fn merge_moments_checks_shapes_and_equals_one_pass() {
        let xs = [1.0, 4.0, -2.0, 7.5, 3.25];
        let moments = |s: &[f64]| {
            let m = one_pass(&s.iter().map(|&x| vec![x]).collect::<Vec<_>>(), 1).summary(ndarray::Ix3(1, 1, 1));
            (m.counts, m.means, m.m2)
        };
        let (ca, ma, qa) = moments(&xs[..2]);
        let (cb, mb, qb) = moments(&xs[2..]);
        let (_, m, q) = moments(&xs);
        let merged = merge_moments(ca.view(), ma.view(), qa.view(), cb.view(), mb.view(), qb.view()).unwrap();
        assert_eq!(merged.counts[0], 5);
        assert!((merged.means[[0, 0, 0]] - m[[0, 0, 0]]).abs() < 1e-12);
        assert!((merged.m2[[0, 0, 0]] - q[[0, 0, 0]]).abs() < 1e-12);
        let wide = Array3::<f64>::zeros((1, 2, 1));
        assert!(matches!(
            merge_moments(ca.view(), ma.view(), qa.view(), cb.view(), wide.view(), wide.view()),
            Err(CoreError::Shape { name: "means_b", .. })
        ));
        let two = arr1(&[1u64, 1]);
        assert!(matches!(
            merge_moments(ca.view(), ma.view(), qa.view(), two.view(), mb.view(), qb.view()),
            Err(CoreError::Shape { name: "counts_b", .. })
        ));
    }
}
