//! Banzhaf values by maximum sample reuse (Wang & Jia 2023): every sample informs every player.

use ndarray::{Array2, ArrayView2, ArrayView3, Axis};

use super::{Attribution, PointEstimate};
use crate::error::{CoreError, CoreResult};
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
    // Shift by the overall mean so that sums of squares do not cancel catastrophically.
    let shift: Vec<f64> = (0..n_outputs).map(|o| values.column(o).mean().unwrap_or(0.0)).collect();
    let mut n_in = vec![0usize; d];
    let mut sum_in = Array2::<f64>::zeros((d, n_outputs));
    let mut sq_in = Array2::<f64>::zeros((d, n_outputs));
    let mut sum_all = vec![0.0; n_outputs];
    let mut sq_all = vec![0.0; n_outputs];
    for (row, v) in masks.rows().into_iter().zip(values.rows()) {
        for o in 0..n_outputs {
            let y = v[o] - shift[o];
            sum_all[o] += y;
            sq_all[o] += y * y;
        }
        for (j, _) in row.iter().enumerate().filter(|(_, &b)| b) {
            n_in[j] += 1;
            for o in 0..n_outputs {
                let y = v[o] - shift[o];
                sum_in[[j, o]] += y;
                sq_in[[j, o]] += y * y;
            }
        }
    }
    if let Some((j, &k)) = n_in.iter().enumerate().find(|(_, &k)| k == 0 || k == n) {
        let side = if k == 0 { "in" } else { "out of" };
        return Err(CoreError::insufficient(
            "masks",
            format!("player {j} of point {point} is never {side} a sampled coalition ({n} samples); MSR needs both"),
        ));
    }
    let mut values_out = Array2::<f64>::zeros((d, n_outputs));
    let mut errors = Array2::<f64>::zeros((d, n_outputs));
    for j in 0..d {
        let (ni, no) = (n_in[j] as f64, (n - n_in[j]) as f64);
        for o in 0..n_outputs {
            let (s_in, q_in) = (sum_in[[j, o]], sq_in[[j, o]]);
            let (s_out, q_out) = (sum_all[o] - s_in, sq_all[o] - q_in);
            let (m_in, m_out) = (s_in / ni, s_out / no);
            values_out[[j, o]] = m_in - m_out;
            errors[[j, o]] = if ni < 2.0 || no < 2.0 {
                f64::INFINITY
            } else {
                let var_in = ((q_in - ni * m_in * m_in) / (ni - 1.0)).max(0.0);
                let var_out = ((q_out - no * m_out * m_out) / (no - 1.0)).max(0.0);
                (var_in / ni + var_out / no).sqrt()
            };
        }
    }
    Ok(PointEstimate {
        values: values_out,
        std_errors: errors,
    })
}
