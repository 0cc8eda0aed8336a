//! Banzhaf values by maximum sample reuse (Wang & Jia 2023): every sample informs every player.

use ndarray::{Array2, ArrayView2, ArrayView3, Axis};

use super::{Attribution, PointEstimate};
use crate::error::{CoreError, CoreResult};
use crate::moments::variance_of_mean;
use crate::parallel::{collect_results, map_indices};
use crate::validate::check_masks_values;

/// MSR Banzhaf: φ_i = mean{v(S) : i ∈ S} − mean{v(S) : i ∉ S}, with standard error
/// sqrt(var_in/n_in + var_out/n_out) (+inf when either side has fewer than two samples).
///
/// Unbiased for the Banzhaf value when `masks` are uniform (`"banzhaf"` distribution), conditional
/// on every player being both in and out of some sample — otherwise an error is returned.
pub fn msr_banzhaf(masks: ArrayView3<bool>, values: ArrayView3<f64>) -> CoreResult<Attribution> {
    let (n_points, _, d, n_outputs) = check_masks_values(&masks, &values)?;
    let points = collect_results(map_indices(n_points, |p| {
        estimate_point(p, masks.index_axis(Axis(0), p), values.index_axis(Axis(0), p))
    }))?;
    Ok(Attribution::from_points(points, d, n_outputs))
}

fn estimate_point(point: usize, masks: ArrayView2<bool>, values: ArrayView2<f64>) -> CoreResult<PointEstimate> {
    let (n, d) = masks.dim();
    let n_outputs = values.ncols();
    // Pass 1: group sizes and sums, hence the means in and out of each player.
    let mut n_in = vec![0usize; d];
    let mut sum_in = Array2::<f64>::zeros((d, n_outputs));
    let mut sum_all = vec![0.0; n_outputs];
    for (row, v) in masks.rows().into_iter().zip(values.rows()) {
        for (total, &y) in sum_all.iter_mut().zip(v.iter()) {
            *total += y;
        }
        for (j, _) in row.iter().enumerate().filter(|(_, &b)| b) {
            n_in[j] += 1;
            for (s, &y) in sum_in.row_mut(j).iter_mut().zip(v.iter()) {
                *s += y;
            }
        }
    }
    if let Some((j, &k)) = n_in.iter().enumerate().find(|(_, &k)| k == 0 || k == n) {
        let side = if k == 0 { "in" } else { "out of" };
        return Err(CoreError::insufficient_at(
            "masks",
            vec![point],
            format!("player {j} of point {point} is never {side} a sampled coalition ({n} samples); MSR needs both"),
        ));
    }
    let mean_in = Array2::from_shape_fn((d, n_outputs), |(j, o)| sum_in[[j, o]] / n_in[j] as f64);
    let mean_out =
        Array2::from_shape_fn((d, n_outputs), |(j, o)| (sum_all[o] - sum_in[[j, o]]) / (n - n_in[j]) as f64);
    // Pass 2: squared deviations from each group's mean (exact zero for constant groups).
    let mut sq_in = Array2::<f64>::zeros((d, n_outputs));
    let mut sq_out = Array2::<f64>::zeros((d, n_outputs));
    for (row, v) in masks.rows().into_iter().zip(values.rows()) {
        for (j, &present) in row.iter().enumerate() {
            let (means, squares) = if present { (&mean_in, &mut sq_in) } else { (&mean_out, &mut sq_out) };
            for o in 0..n_outputs {
                let deviation = v[o] - means[[j, o]];
                squares[[j, o]] += deviation * deviation;
            }
        }
    }
    // The two groups are disjoint sets of samples: the variances of their means add.
    let std_errors = Array2::from_shape_fn((d, n_outputs), |(j, o)| {
        (variance_of_mean(sq_in[[j, o]], n_in[j]) + variance_of_mean(sq_out[[j, o]], n - n_in[j])).sqrt()
    });
    Ok(PointEstimate {
        values: &mean_in - &mean_out,
        std_errors,
        dof: None,
    })
}
