//! Data valuation: one game whose players are the `N` training points. The utility U(S) (the score
//! of a model trained on S) is evaluated elsewhere; this module turns its values into data values
//! with standard errors (Data Shapley, Beta Shapley, TMC, Data Banzhaf, distributional Data
//! Shapley) and finds truncation positions for TMC. (The multisets of distributional Data Shapley
//! are drawn by [`crate::sampling::sample_multisets`].)
//!
//! Conventions: `permutations` `(P, N)`, each row an order of `0..N`; `chain_values` `(P, N + 1)`,
//! `chain_values[p, k]` = U(first k players of permutation p). Per-player running moments
//! ([`crate::moments`]) are merged in a fixed order, so every result is bit-identical for any
//! thread count.

use ndarray::{Array1, ArrayView1, ArrayView2, Ix1};

use crate::error::{CoreError, CoreResult};
use crate::moments::{merge_arrays, MomentArrays, RunningMoments, Summary};
use crate::parallel::map_indices;
use crate::validate::{check_finite, check_permutations, non_finite_points};

/// Permutations per block of work in [`permutation_data_values`]. Fixed, so that the blocks (and
/// the order in which their moments are merged) never depend on the number of threads.
const PERMUTATIONS_PER_BLOCK: usize = 32;

/// Per-player data values with their running moments.
#[derive(Clone, Debug, PartialEq)]
pub struct DataValueMoments {
    /// Mean contribution per player (0 where a player received none), `(N,)`.
    pub values: Array1<f64>,
    /// Standard error of each mean, `sqrt(m2 / (n − 1) / n)`; +inf below two contributions.
    pub std_errors: Array1<f64>,
    /// Welford's M2 (sum of squared deviations from the mean) per player.
    pub m2: Array1<f64>,
    /// Number of contributions per player.
    pub counts: Array1<u64>,
    /// Utility evaluations behind the result.
    pub n_evaluations: u64,
}

impl DataValueMoments {
    /// The result of per-player moments: one block of one cell per player.
    fn new(moments: RunningMoments, n_evaluations: u64) -> Self {
        let n = moments.counts().len();
        let Summary { counts, means, std_errors, m2 } = moments.summary(Ix1(n));
        DataValueMoments {
            values: means,
            std_errors,
            m2,
            counts,
            n_evaluations,
        }
    }
}

/// Data values from permutations and the utilities along them (Data Shapley / Beta Shapley / TMC).
///
/// For every permutation p and position k in `start..N`, player `permutations[p, k]` receives the
/// contribution `position_weights[k] · (chain_values[p, k + 1] − chain_values[p, k])` (weights all
/// one when `None`: the Shapley value). Positions below `start` are not recorded and columns below
/// `start` of `chain_values` are not read. Each player's value is the mean of the contributions it
/// received; counts differ between players when `start > 0`. With uniformly random permutations,
/// `start = 0` and the weights of [`crate::Semivalue::position_weights`], the value is unbiased for
/// that semivalue. `n_evaluations = P · (N + 1 − start)`.
///
/// The work is split into fixed blocks of permutations, merged in order: the result is
/// bit-identical for any number of threads.
pub fn permutation_data_values(
    permutations: ArrayView2<i64>,
    chain_values: ArrayView2<f64>,
    position_weights: Option<ArrayView1<f64>>,
    start: usize,
) -> CoreResult<DataValueMoments> {
    check_permutations(&permutations, "permutations")?;
    let (n_perm, n) = permutations.dim();
    if chain_values.dim() != (n_perm, n + 1) {
        return Err(CoreError::shape(
            "chain_values",
            format!("[{n_perm}, {}] (n_permutations, n_players + 1)", n + 1),
            chain_values.shape(),
        ));
    }
    if n_perm == 0 {
        return Err(CoreError::insufficient("permutations", "holds no permutations"));
    }
    if start >= n {
        return Err(CoreError::invalid(
            "start",
            format!("must lie in 0..={} (n_players − 1), got {start}", n - 1),
        ));
    }
    let weights: Option<Vec<f64>> = match position_weights {
        None => None,
        Some(w) => {
            if w.len() != n {
                return Err(CoreError::shape("position_weights", format!("[{n}] (n_players)"), w.shape()));
            }
            let bad = non_finite_points(&w);
            if !bad.is_empty() {
                return Err(CoreError::invalid(
                    "position_weights",
                    format!("must be finite; NaN or infinity at position(s) {bad:?}"),
                ));
            }
            Some(w.to_vec())
        }
    };
    // Columns below `start` are not read, so they may hold anything.
    check_finite(&chain_values.slice(ndarray::s![.., start..]), "chain_values")?;
    let n_evaluations = (n_perm as u64)
        .checked_mul((n + 1 - start) as u64)
        .ok_or_else(|| CoreError::invalid("permutations", "too many evaluations to count"))?;
    let n_blocks = n_perm.div_ceil(PERMUTATIONS_PER_BLOCK);
    // One block of one cell per player.
    let blocks = map_indices(n_blocks, |b| {
        let mut moments = RunningMoments::new(n, 1);
        for p in b * PERMUTATIONS_PER_BLOCK..((b + 1) * PERMUTATIONS_PER_BLOCK).min(n_perm) {
            let order = permutations.row(p);
            let chain = chain_values.row(p);
            for k in start..n {
                let delta = chain[k + 1] - chain[k];
                let x = match &weights {
                    Some(w) => w[k] * delta,
                    None => delta,
                };
                moments.add(order[k] as usize, |_| x);
            }
        }
        moments
    });
    let mut blocks = blocks.into_iter();
    let mut total = blocks.next().expect("at least one permutation");
    for block in blocks {
        total.merge(&block);
    }
    Ok(DataValueMoments::new(total, n_evaluations))
}

/// Merge the moments of two results over disjoint contributions of the same players (Chan et al.):
/// equal, up to rounding, to the result computed from all contributions at once.
pub fn merge_data_values(
    counts_a: ArrayView1<u64>,
    means_a: ArrayView1<f64>,
    m2_a: ArrayView1<f64>,
    counts_b: ArrayView1<u64>,
    means_b: ArrayView1<f64>,
    m2_b: ArrayView1<f64>,
    n_evaluations: u64,
) -> CoreResult<DataValueMoments> {
    for (name, values) in [("means_a", &means_a), ("m2_a", &m2_a), ("means_b", &means_b), ("m2_b", &m2_b)] {
        check_finite(values, name)?;
    }
    let mut total = merge_arrays(
        MomentArrays { counts: (counts_a, "counts_a"), means: (means_a, "means_a"), m2: (m2_a, "m2_a") },
        MomentArrays { counts: (counts_b, "counts_b"), means: (means_b, "means_b"), m2: (m2_b, "m2_b") },
    )?;
    // Players without contributions have value 0, whatever the inputs held.
    total.clear_empty_blocks();
    Ok(DataValueMoments::new(total, n_evaluations))
}

/// Data values from independent draws of each point's contribution (e.g. `U(D ∪ {i}) − U(D)` for
/// random D): `contributions` `(n_points, n_samples)`. The value of point i is the mean of row i,
/// unbiased for the expected contribution; `n_evaluations = 2 · n_points · n_samples`.
pub fn contribution_values(contributions: ArrayView2<f64>) -> CoreResult<DataValueMoments> {
    let (n_points, n_samples) = contributions.dim();
    if n_samples == 0 && n_points > 0 {
        return Err(CoreError::insufficient("contributions", "holds no samples (axis 1 is empty)"));
    }
    check_finite(&contributions, "contributions")?;
    let n_evaluations = (n_points as u64)
        .checked_mul(n_samples as u64)
        .and_then(|x| x.checked_mul(2))
        .ok_or_else(|| CoreError::invalid("contributions", "too many evaluations to count"))?;
    // One block of one cell per point, its samples the units.
    let rows = map_indices(n_points, |i| {
        let mut moments = RunningMoments::new(1, 1);
        for &x in contributions.row(i) {
            moments.add(0, |_| x);
        }
        moments
    });
    Ok(DataValueMoments::new(RunningMoments::concat(rows, 1), n_evaluations))
}

/// For each row of `chain_values` `(P, K)`, the first column c with
/// `|chain_values[p, c] − target| ≤ tolerance · |target|`, or −1 when there is none (the truncation
/// position of TMC Data Shapley, with `target` = U(all points)).
pub fn truncation_points(chain_values: ArrayView2<f64>, target: f64, tolerance: f64) -> CoreResult<Array1<i64>> {
    if !target.is_finite() {
        return Err(CoreError::invalid("target", format!("must be finite, got {target}")));
    }
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(CoreError::invalid("tolerance", format!("must be a finite number >= 0, got {tolerance}")));
    }
    check_finite(&chain_values, "chain_values")?;
    let threshold = tolerance * target.abs();
    let points = map_indices(chain_values.nrows(), |p| {
        chain_values
            .row(p)
            .iter()
            .position(|&x| (x - target).abs() <= threshold)
            .map_or(-1, |c| c as i64)
    });
    Ok(Array1::from(points))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimators::exact_semivalue;
    use crate::parallel::set_parallelism;
    use crate::rng::Draws;
    use crate::weights::TEST_SEMIVALUES;
    use ndarray::{arr1, arr2, Array2, Array3, Axis};

    /// All permutations of 0..n in lexicographic order.
    fn all_permutations(n: usize) -> Array2<i64> {
        fn rec(prefix: &mut Vec<i64>, left: &mut Vec<i64>, out: &mut Vec<i64>) {
            if left.is_empty() {
                out.extend_from_slice(prefix);
                return;
            }
            for i in 0..left.len() {
                let x = left.remove(i);
                prefix.push(x);
                rec(prefix, left, out);
                prefix.pop();
                left.insert(i, x);
            }
        }
        let mut out = Vec::new();
        rec(&mut Vec::new(), &mut (0..n as i64).collect(), &mut out);
        let rows = out.len() / n;
        Array2::from_shape_vec((rows, n), out).unwrap()
    }

    /// A pseudo-random utility over all 2^n subsets (bitmask order).
    fn table(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..1usize << n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 10_000) as f64 / 1000.0 - 5.0
            })
            .collect()
    }

    fn chains(perms: &Array2<i64>, u: &[f64]) -> Array2<f64> {
        let (p, n) = perms.dim();
        Array2::from_shape_fn((p, n + 1), |(r, k)| {
            let s = perms.row(r).iter().take(k).fold(0usize, |s, &i| s | (1 << i));
            u[s]
        })
    }

    fn exact(u: &[f64], weights: &[f64]) -> Vec<f64> {
        let values = Array3::from_shape_vec((1, u.len(), 1), u.to_vec()).unwrap();
        exact_semivalue(values.view(), weights).unwrap().iter().copied().collect()
    }

    #[test]
    fn all_permutations_give_the_exact_semivalues() {
        for n in 1..=5 {
            let perms = all_permutations(n);
            let u = table(n, n as u64 + 3);
            let c = chains(&perms, &u);
            for sv in TEST_SEMIVALUES {
                let w = sv.position_weights(n).unwrap();
                let est = permutation_data_values(perms.view(), c.view(), Some(arr1(&w).view()), 0).unwrap();
                let want = exact(&u, &sv.weights(n).unwrap());
                for (i, want) in want.iter().enumerate() {
                    assert!((est.values[i] - want).abs() < 1e-9, "{sv:?} n={n} i={i}");
                    assert_eq!(est.counts[i], perms.nrows() as u64);
                }
            }
            // A minimum starting cardinality s: w'(k) = [k >= s] / ((n − s) C(n−1, k)).
            for s in 0..n {
                let est = permutation_data_values(perms.view(), c.view(), None, s).unwrap();
                let w: Vec<f64> = (0..n)
                    .map(|k| if k >= s { 1.0 / ((n - s) as f64 * crate::math::ln_binomial(n - 1, k).exp()) } else { 0.0 })
                    .collect();
                let want = exact(&u, &w);
                for (i, want) in want.iter().enumerate() {
                    assert!((est.values[i] - want).abs() < 1e-9, "start={s} n={n} i={i}");
                }
                assert_eq!(est.n_evaluations, (perms.nrows() * (n + 1 - s)) as u64);
                assert_eq!(est.counts.sum(), (perms.nrows() * (n - s)) as u64);
            }
        }
    }

    #[test]
    fn moments_match_two_pass_and_threads_do_not_matter() {
        let n = 9;
        let p = 200;
        let perms = crate::sampling::sample_permutations(Draws::new(1, p, 4), n, false).unwrap();
        let perms = perms.index_axis(Axis(0), 0).to_owned();
        let u = table(n, 11);
        let c = chains(&perms, &u);
        let est = permutation_data_values(perms.view(), c.view(), None, 2).unwrap();
        let mut lists = vec![Vec::new(); n];
        for r in 0..p {
            for k in 2..n {
                lists[perms[[r, k]] as usize].push(c[[r, k + 1]] - c[[r, k]]);
            }
        }
        for (i, list) in lists.iter().enumerate() {
            let m = list.len() as f64;
            let mean = list.iter().sum::<f64>() / m;
            let m2: f64 = list.iter().map(|x| (x - mean).powi(2)).sum();
            assert_eq!(est.counts[i], list.len() as u64);
            assert!((est.values[i] - mean).abs() < 1e-12);
            assert!((est.m2[i] - m2).abs() < 1e-9);
            assert!((est.std_errors[i] - (m2 / (m - 1.0) / m).sqrt()).abs() < 1e-12);
        }
        set_parallelism(false);
        let serial = permutation_data_values(perms.view(), c.view(), None, 2).unwrap();
        set_parallelism(true);
        assert_eq!(est, serial);
        // Two halves merged equal the whole.
        let a = permutation_data_values(perms.slice(ndarray::s![..77, ..]), c.slice(ndarray::s![..77, ..]), None, 2).unwrap();
        let b = permutation_data_values(perms.slice(ndarray::s![77.., ..]), c.slice(ndarray::s![77.., ..]), None, 2).unwrap();
        let m = merge_data_values(
            a.counts.view(),
            a.values.view(),
            a.m2.view(),
            b.counts.view(),
            b.values.view(),
            b.m2.view(),
            a.n_evaluations + b.n_evaluations,
        )
        .unwrap();
        assert_eq!(m.counts, est.counts);
        assert_eq!(m.n_evaluations, est.n_evaluations);
        for i in 0..n {
            assert!((m.values[i] - est.values[i]).abs() < 1e-12);
            assert!((m.m2[i] - est.m2[i]).abs() < 1e-9);
        }
    }

    #[test]
    fn permutation_errors_name_the_argument() {
        let perms = arr2(&[[0i64, 1, 2], [2, 1, 0]]);
        let chain = Array2::<f64>::zeros((2, 4));
        let bad_perm = arr2(&[[0i64, 1, 2], [2, 2, 0]]);
        assert!(matches!(
            permutation_data_values(bad_perm.view(), chain.view(), None, 0),
            Err(CoreError::InvalidArgument { name: "permutations", .. })
        ));
        assert!(matches!(
            permutation_data_values(perms.view(), Array2::<f64>::zeros((2, 3)).view(), None, 0),
            Err(CoreError::Shape { name: "chain_values", .. })
        ));
        let mut nan = chain.clone();
        nan[[1, 3]] = f64::NAN;
        assert!(matches!(
            permutation_data_values(perms.view(), nan.view(), None, 0),
            Err(CoreError::NonFinite { name: "chain_values", ref points }) if points == &vec![1]
        ));
        // Columns below `start` are not read.
        let mut ignored = chain.clone();
        ignored[[0, 0]] = f64::NAN;
        assert!(permutation_data_values(perms.view(), ignored.view(), None, 1).is_ok());
        assert!(matches!(
            permutation_data_values(perms.view(), chain.view(), None, 3),
            Err(CoreError::InvalidArgument { name: "start", .. })
        ));
        assert!(matches!(
            permutation_data_values(perms.view(), chain.view(), Some(arr1(&[1.0, 1.0]).view()), 0),
            Err(CoreError::Shape { name: "position_weights", .. })
        ));
        assert!(matches!(
            permutation_data_values(perms.view(), chain.view(), Some(arr1(&[1.0, f64::INFINITY, 1.0]).view()), 0),
            Err(CoreError::InvalidArgument { name: "position_weights", .. })
        ));
        assert!(matches!(
            permutation_data_values(Array2::<i64>::zeros((0, 3)).view(), Array2::<f64>::zeros((0, 4)).view(), None, 0),
            Err(CoreError::InsufficientSamples { name: "permutations", .. })
        ));
    }

    #[test]
    fn contribution_values_are_row_moments() {
        let c = arr2(&[[1.0, 2.0, 6.0], [0.5, 0.5, 0.5]]);
        let est = contribution_values(c.view()).unwrap();
        assert_eq!(est.values, arr1(&[3.0, 0.5]));
        assert_eq!(est.m2, arr1(&[14.0, 0.0]));
        assert_eq!(est.counts, arr1(&[3u64, 3]));
        assert_eq!(est.n_evaluations, 12);
        assert!((est.std_errors[0] - (14.0f64 / 2.0 / 3.0).sqrt()).abs() < 1e-15);
        let single = contribution_values(arr2(&[[4.0]]).view()).unwrap();
        assert!(single.std_errors[0].is_infinite());
        assert!(contribution_values(Array2::<f64>::zeros((2, 0)).view()).is_err());
        assert!(matches!(
            contribution_values(arr2(&[[1.0], [f64::NAN]]).view()),
            Err(CoreError::NonFinite { name: "contributions", .. })
        ));
    }

    #[test]
    fn truncation_finds_the_first_close_column() {
        let c = arr2(&[[0.0, 0.5, 0.96, 1.0, 0.97], [0.0, 0.1, 0.2, 0.3, 0.4], [1.0, 1.0, 1.0, 1.0, 1.0]]);
        assert_eq!(truncation_points(c.view(), 1.0, 0.05).unwrap(), arr1(&[2i64, -1, 0]));
        assert_eq!(truncation_points(c.view(), 1.0, 0.0).unwrap(), arr1(&[3i64, -1, 0]));
        let neg = arr2(&[[0.0, -0.9, -1.0]]);
        assert_eq!(truncation_points(neg.view(), -1.0, 0.1).unwrap(), arr1(&[1i64]));
        assert!(truncation_points(c.view(), f64::NAN, 0.1).is_err());
        assert!(truncation_points(c.view(), 1.0, -0.1).is_err());
    }
}
