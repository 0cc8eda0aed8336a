//! SGD-Shapley (Simon & Vincent 2020): projected stochastic gradient descent on KernelSHAP's
//! efficiency-constrained least-squares objective, with Polyak–Ruppert averaging of the iterates.

use ndarray::{ArrayView1, ArrayView2, ArrayView3, Axis, Ix2};

use super::sparse::SmallSides;
use super::{Attribution, PointEstimate};
use crate::error::{CoreError, CoreResult};
use crate::moments::RunningMoments;
use crate::parallel::{collect_results, map_indices};
use crate::validate::check_constrained_inputs;

/// R² = max over coalitions of |Pz|² = k(d − k)/d, the squared norm of a mask once the projection
/// P = I − 11ᵀ/d onto the efficiency constraint has removed its component along 1.
fn max_projected_norm2(n_players: usize) -> f64 {
    let k = n_players / 2;
    // In floating point: k (d − k) overflows usize for d above 2**32.
    k as f64 * (n_players - k) as f64 / n_players as f64
}

/// The default step of [`sgd_shapley`] for `n_players` ≥ 2 players: η = 1/R² with
/// R² = ⌊d/2⌋⌈d/2⌉/d (so η = 4/d for even d).
///
/// A step on one sample changes that sample's residual zᵀφ − y by the factor 1 − η k(d − k)/d
/// (and a step on a complementary pair changes the difference of the pair's residuals by the same
/// factor). With η = 1/R² no coalition's residual overshoots (the largest coalitions' residuals are
/// zeroed, as in a Kaczmarz / normalised-LMS step), half of the stability limit 2/R². The step
/// depends only on the masks, never on the scale of the game.
pub fn sgd_default_step_size(n_players: usize) -> f64 {
    1.0 / max_projected_norm2(n_players)
}

/// Validated settings of one call.
#[derive(Clone, Copy)]
struct Settings {
    step_size: f64,
    batch_size: usize,
    rows_per_block: usize,
    stability_limit: f64,
}

fn settings(
    n_samples: usize,
    d: usize,
    paired: bool,
    step_size: Option<f64>,
    batch_size: usize,
    replicates: usize,
) -> CoreResult<Settings> {
    let step_size = match step_size {
        None => sgd_default_step_size(d),
        Some(eta) if eta.is_finite() && eta > 0.0 => eta,
        Some(eta) => return Err(CoreError::invalid("step_size", format!("must be finite and > 0, got {eta}"))),
    };
    if batch_size == 0 {
        return Err(CoreError::invalid("batch_size", "must be at least 1, got 0"));
    }
    if replicates == 0 {
        return Err(CoreError::invalid("replicates", "must be at least 1, got 0"));
    }
    // Each of the `replicates` blocks must hold whole batches (and whole pairs when paired).
    let rows_per_unit = if paired { 2 } else { 1 };
    let block_multiple = lcm(batch_size, rows_per_unit);
    let multiple = replicates.saturating_mul(block_multiple);
    let what = if paired {
        format!("replicates × lcm(batch_size, 2) = {replicates} × {block_multiple} (blocks of whole batches and whole pairs)")
    } else {
        format!("replicates × batch_size = {replicates} × {batch_size} (blocks of whole batches)")
    };
    if n_samples < multiple {
        return Err(CoreError::insufficient(
            "masks",
            format!("sgd_shapley needs at least {what} = {multiple} samples per point, got {n_samples}"),
        ));
    }
    if n_samples % multiple != 0 {
        return Err(CoreError::insufficient(
            "masks",
            format!("sgd_shapley needs a number of samples per point that is a multiple of {what} = {multiple}, got {n_samples}"),
        ));
    }
    Ok(Settings {
        step_size,
        batch_size,
        rows_per_block: n_samples / replicates,
        stability_limit: 2.0 / max_projected_norm2(d),
    })
}

/// The least common multiple, saturating at `usize::MAX` (no block of samples is that long).
fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    (a / x).saturating_mul(b)
}

/// SGD-Shapley for a batch of points (Simon & Vincent 2020).
///
/// Per output, minimises E[(zᵀφ − (v(z) − v(∅)))²] over coalitions z of the Shapley-kernel
/// distribution, subject to 1ᵀφ = Δ = v(all) − v(∅). Starting from φ₀ = (Δ/d)·1, each step takes
/// the next `batch_size` samples and sets φ ← φ − η·mean_b z_b(z_bᵀφ − y_b), then projects onto the
/// constraint, φ ← φ − ((1ᵀφ − Δ)/d)·1. The result of a run is the average of the iterates after
/// each step (Polyak–Ruppert averaging).
///
/// Each point's samples are split into `replicates` contiguous blocks (whole pairs when `paired`),
/// one independent run per block; the estimate is the mean of the block results and the standard
/// error their standard deviation (n − 1) over √replicates (+inf for one replicate).
///
/// Not unbiased (a finite run has not forgotten φ₀, and every block starts there, so the standard
/// errors do not see that part of the error); consistent as the samples per block grow for a fixed
/// step below the stability limit 2/R² (averaged constant-step SGD on least squares, Bach &
/// Moulines 2013). `step_size` `None` means [`sgd_default_step_size`].
#[allow(clippy::too_many_arguments)]
pub fn sgd_shapley(
    masks: ArrayView3<bool>,
    values: ArrayView3<f64>,
    null_values: ArrayView2<f64>,
    grand_values: ArrayView2<f64>,
    paired: bool,
    step_size: Option<f64>,
    batch_size: usize,
    replicates: usize,
) -> CoreResult<Attribution> {
    let (n_points, n_samples, d, n_outputs) =
        check_constrained_inputs(&masks, &values, &null_values, &grand_values, paired)?;
    let settings = settings(n_samples, d, paired, step_size, batch_size, replicates)?;
    let rows = settings.rows_per_block;
    // One task per (point, block): a single point still uses several threads.
    let blocks = collect_results(map_indices(n_points * replicates, |task| {
        let (p, block) = (task / replicates, task % replicates);
        let range = ndarray::s![block * rows..(block + 1) * rows, ..];
        run_block(
            p,
            block,
            masks.index_axis(Axis(0), p).slice_move(range),
            values.index_axis(Axis(0), p).slice_move(range),
            null_values.row(p),
            grand_values.row(p),
            settings,
        )
    }))?;
    let points = blocks.chunks(replicates).map(|runs| combine(runs, d, n_outputs)).collect();
    Ok(Attribution::from_points(points, d, n_outputs))
}

/// Mean of the block results and the standard error of that mean (each run is one unit).
fn combine(runs: &[Vec<f64>], d: usize, n_outputs: usize) -> PointEstimate {
    let mut moments = RunningMoments::new(1, d * n_outputs);
    for run in runs {
        moments.add(0, |c| run[c]);
    }
    let summary = moments.summary(Ix2(d, n_outputs));
    PointEstimate {
        values: summary.means,
        std_errors: summary.std_errors,
        dof: None,
    }
}

/// One averaged projected-SGD run over the rows of one block; returns φ̄ row-major `(d, n_outputs)`.
fn run_block(
    point: usize,
    block: usize,
    masks: ArrayView2<bool>,
    values: ArrayView2<f64>,
    null_value: ArrayView1<f64>,
    grand_value: ArrayView1<f64>,
    settings: Settings,
) -> CoreResult<Vec<f64>> {
    let (n, d) = masks.dim();
    let n_outputs = values.ncols();
    let sides = SmallSides::new(masks);
    let delta: Vec<f64> = (0..n_outputs).map(|o| grand_value[o] - null_value[o]).collect();
    let df = d as f64;
    // φ is row-major (player, output); `totals` holds its column sums 1ᵀφ.
    let mut phi: Vec<f64> = (0..d).flat_map(|_| delta.iter().map(|x| x / df)).collect();
    let mut totals: Vec<f64> = (0..n_outputs).map(|o| (0..d).map(|j| phi[j * n_outputs + o]).sum()).collect();
    let mut sum = vec![0.0; d * n_outputs];
    let batch = settings.batch_size;
    let steps = n / batch;
    let rate = settings.step_size / batch as f64;
    let mut residuals = vec![0.0; batch * n_outputs];
    for step in 0..steps {
        let first = step * batch;
        // Residuals zᵀφ − (v − v(∅)) of the whole batch at the current iterate.
        for (b, res) in residuals.chunks_mut(n_outputs).enumerate() {
            let r = first + b;
            for (o, x) in res.iter_mut().enumerate() {
                *x = sides.dot_with(r, |j| phi[j * n_outputs + o], totals[o]) - (values[[r, o]] - null_value[o]);
            }
        }
        // φ − η·mean z r, through the smaller side: a complemented row z = 1 − 1_T contributes
        // −1_T r plus a multiple of 1, which the projection below removes anyway.
        for (b, res) in residuals.chunks(n_outputs).enumerate() {
            let (idx, comp, _) = sides.row(first + b);
            let sign = if comp { -rate } else { rate };
            for &j in idx {
                for (x, &r) in phi[j * n_outputs..(j + 1) * n_outputs].iter_mut().zip(res) {
                    *x -= sign * r;
                }
            }
        }
        // Project onto 1ᵀφ = Δ, accumulate the iterate and its new column sums.
        let shifts: Vec<f64> = (0..n_outputs)
            .map(|o| ((0..d).map(|j| phi[j * n_outputs + o]).sum::<f64>() - delta[o]) / df)
            .collect();
        totals.fill(0.0);
        for (row, acc) in phi.chunks_mut(n_outputs).zip(sum.chunks_mut(n_outputs)) {
            for o in 0..n_outputs {
                row[o] -= shifts[o];
                acc[o] += row[o];
                totals[o] += row[o];
            }
        }
    }
    let average: Vec<f64> = sum.iter().map(|s| s / steps as f64).collect();
    if average.iter().any(|x| !x.is_finite()) {
        return Err(CoreError::invalid_at(
            "step_size",
            vec![point],
            format!(
                "SGD diverged at point {point} (replicate {block}) with step_size = {}; use a step below the stability limit 2/R² = {} (R² = ⌊d/2⌋⌈d/2⌉/d)",
                settings.step_size, settings.stability_limit
            ),
        ));
    }
    Ok(average)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::Distribution;
    use crate::rng::Draws;
    use crate::sampling::sample_coalitions;
    use ndarray::{Array2, Array3};

    /// v(S) = c + Σ_{i∈S} a_i + e·[0∈S][1∈S], one output.
    fn game(masks: &Array3<bool>, c: f64, a: &[f64], e: f64) -> Array3<f64> {
        let (np, ns, _) = masks.dim();
        Array3::from_shape_fn((np, ns, 1), |(p, s, _)| {
            let row = masks.slice(ndarray::s![p, s, ..]);
            let lin: f64 = row.iter().zip(a).filter(|(&z, _)| z).map(|(_, a)| a).sum();
            c + lin + if row[0] && row[1] { e } else { 0.0 }
        })
    }

    fn endpoints(n_points: usize, c: f64, a: &[f64], e: f64) -> (Array2<f64>, Array2<f64>) {
        (Array2::from_elem((n_points, 1), c), Array2::from_elem((n_points, 1), c + a.iter().sum::<f64>() + e))
    }

    #[test]
    fn default_step_is_one_over_the_largest_projected_norm() {
        assert_eq!(sgd_default_step_size(2), 2.0);
        assert_eq!(sgd_default_step_size(6), 4.0 / 6.0);
        assert!((sgd_default_step_size(7) - 7.0 / 12.0).abs() < 1e-15);
    }

    #[test]
    fn additive_games_converge_to_their_fixed_point() {
        // The slopes zero every residual, so they are a fixed point; the average of the iterates
        // approaches them like |φ₀ − a|/(η μ T) with μ = 1/(2 H_{d−1}) the curvature on the constraint.
        let a = [1.0, -2.0, 0.5, 3.0, 0.25, -1.0];
        let d = a.len();
        let masks = sample_coalitions(Draws::new(2, 16000, 5), d, Distribution::Shapley, true).unwrap();
        let values = game(&masks, 0.7, &a, 0.0);
        let (null, grand) = endpoints(2, 0.7, &a, 0.0);
        let est = sgd_shapley(masks.view(), values.view(), null.view(), grand.view(), true, None, 2, 4).unwrap();
        let mu = 1.0 / (2.0 * (1..d).map(|k| 1.0 / k as f64).sum::<f64>());
        let steps = 16000.0 / 4.0 / 2.0;
        let mean = a.iter().sum::<f64>() / d as f64;
        let start_error = a.iter().map(|x| (x - mean).powi(2)).sum::<f64>().sqrt();
        let bound = 4.0 * start_error / (sgd_default_step_size(d) * mu * steps);
        for p in 0..2 {
            let total: f64 = (0..d).map(|i| est.values[[p, i, 0]]).sum();
            assert!((total - a.iter().sum::<f64>()).abs() < 1e-9);
            for i in 0..d {
                let err = (est.values[[p, i, 0]] - a[i]).abs();
                assert!(err < bound, "point {p}, player {i}: {err} vs {bound}");
            }
        }
    }

    #[test]
    fn two_players_are_exact_after_one_step() {
        // d = 2: the constraint leaves one direction and the default step solves each sample exactly.
        let a = [1.5, -4.0];
        let masks = sample_coalitions(Draws::new(1, 8, 1), 2, Distribution::Shapley, false).unwrap();
        let values = game(&masks, 0.0, &a, 0.0);
        let (null, grand) = endpoints(1, 0.0, &a, 0.0);
        let est = sgd_shapley(masks.view(), values.view(), null.view(), grand.view(), false, None, 1, 1).unwrap();
        // Iterates: φ₀ is replaced by a at step 1, so the average of the 8 iterates is a.
        for i in 0..2 {
            assert!((est.values[[0, i, 0]] - a[i]).abs() < 1e-12);
            assert!(est.std_errors[[0, i, 0]].is_infinite());
        }
    }

    #[test]
    fn interaction_is_split_equally() {
        let a = [1.0, -2.0, 0.5, 3.0];
        let e = 2.0;
        let masks = sample_coalitions(Draws::new(1, 40000, 3), 4, Distribution::Shapley, true).unwrap();
        let values = game(&masks, 0.0, &a, e);
        let (null, grand) = endpoints(1, 0.0, &a, e);
        let est = sgd_shapley(masks.view(), values.view(), null.view(), grand.view(), true, None, 2, 4).unwrap();
        let exact = [a[0] + e / 2.0, a[1] + e / 2.0, a[2], a[3]];
        for i in 0..4 {
            let err = (est.values[[0, i, 0]] - exact[i]).abs();
            assert!(err < 0.02, "player {i}: {err}");
            assert!(est.std_errors[[0, i, 0]] > 0.0 && est.std_errors[[0, i, 0]] < 0.02);
        }
    }

    #[test]
    fn invalid_arguments_name_the_argument() {
        let masks = sample_coalitions(Draws::new(1, 16, 0), 4, Distribution::Shapley, true).unwrap();
        let values = Array3::zeros((1, 16, 1));
        let zero = Array2::zeros((1, 1));
        let run = |step: Option<f64>, batch: usize, reps: usize, paired: bool| {
            sgd_shapley(masks.view(), values.view(), zero.view(), zero.view(), paired, step, batch, reps)
        };
        let name = |r: CoreResult<Attribution>| match r {
            Err(CoreError::InvalidArgument { name, .. }) => ("invalid", name),
            Err(CoreError::InsufficientSamples { name, .. }) => ("insufficient", name),
            other => panic!("unexpected {other:?}"),
        };
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(name(run(Some(bad), 2, 4, true)), ("invalid", "step_size"));
        }
        assert_eq!(name(run(None, 0, 4, true)), ("invalid", "batch_size"));
        assert_eq!(name(run(None, 2, 0, true)), ("invalid", "replicates"));
        // 16 samples: 3 blocks do not divide them; blocks of 4 cannot hold a batch of 8.
        assert_eq!(name(run(None, 2, 3, false)), ("insufficient", "masks"));
        assert_eq!(name(run(None, 8, 4, false)), ("insufficient", "masks"));
        // Paired: 16 samples in 16 blocks would split pairs.
        assert_eq!(name(run(None, 1, 16, true)), ("insufficient", "masks"));
        assert!(run(None, 1, 16, false).is_ok());
        assert!(run(None, 3, 2, true).is_err());
        assert!(run(None, 4, 2, true).is_ok());
        // A step far beyond 2/R² diverges.
        let big = sample_coalitions(Draws::new(1, 4000, 0), 4, Distribution::Shapley, true).unwrap();
        let values = game(&big, 0.0, &[1.0, 2.0, 3.0, 4.0], 1.0);
        let (null, grand) = endpoints(1, 0.0, &[1.0, 2.0, 3.0, 4.0], 1.0);
        let err = sgd_shapley(big.view(), values.view(), null.view(), grand.view(), true, Some(1e3), 2, 1);
        assert_eq!(name(err), ("invalid", "step_size"));
    }
}
