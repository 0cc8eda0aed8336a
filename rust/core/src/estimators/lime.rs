//! LIME: weighted least squares of the game on the coalition indicators, with an intercept.

use faer::Mat;
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};

use super::{stack, Attribution, PointEstimate};
use crate::error::{CoreError, CoreResult};
use crate::linalg::spd_inverse;
use crate::parallel::{collect_results, map_indices};
use crate::validate::check_masks_values;

/// LIME's coefficients with robust standard errors, and its intercepts `(n_points, n_outputs)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LimeFit {
    pub attribution: Attribution,
    pub intercepts: Array2<f64>,
}

/// Fit v(S) ≈ β₀ + Σ_{i∈S} β_i by least squares weighted with `kernel[|S|]` (one weight per
/// coalition size, length d+1). Standard errors are HC1 sandwich estimates.
///
/// Consistent for the population weighted regression of the sampling distribution; not unbiased.
pub fn lime(masks: ArrayView3<bool>, values: ArrayView3<f64>, kernel: &[f64]) -> CoreResult<LimeFit> {
    let (n_points, _, d, n_outputs) = check_masks_values(&masks, &values)?;
    if kernel.len() != d + 1 {
        return Err(CoreError::shape("kernel", format!("[{}] (one weight per coalition size)", d + 1), &[kernel.len()]));
    }
    if kernel.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(CoreError::invalid("kernel", "weights must be finite and non-negative"));
    }
    let points = collect_results(map_indices(n_points, |p| {
        fit_point(p, masks.index_axis(Axis(0), p), values.index_axis(Axis(0), p), kernel)
    }))?;
    let intercepts: Vec<Array2<f64>> = points.iter().map(|(_, b0)| b0.clone()).collect();
    let intercepts: Array3<f64> = stack(intercepts, 1, n_outputs);
    let estimates: Vec<PointEstimate> = points.into_iter().map(|(e, _)| e).collect();
    Ok(LimeFit {
        attribution: Attribution::from_points(estimates, d, n_outputs),
        intercepts: intercepts.index_axis(Axis(1), 0).to_owned(),
    })
}

fn fit_point(
    point: usize,
    masks: ArrayView2<bool>,
    values: ArrayView2<f64>,
    kernel: &[f64],
) -> CoreResult<(PointEstimate, Array2<f64>)> {
    let (n, d) = masks.dim();
    let n_outputs = values.ncols();
    let p = d + 1;
    // Column 0 is the intercept, column 1 + i player i.
    let present: Vec<Vec<usize>> = masks
        .rows()
        .into_iter()
        .map(|row| std::iter::once(0).chain(row.iter().enumerate().filter(|(_, &b)| b).map(|(j, _)| j + 1)).collect())
        .collect();
    let row_weight: Vec<f64> = present.iter().map(|x| kernel[x.len() - 1]).collect();
    let mut gram = vec![0.0; p * p];
    let mut rhs = Array2::<f64>::zeros((p, n_outputs));
    for (r, cols) in present.iter().enumerate() {
        let w = row_weight[r];
        for (a, &i) in cols.iter().enumerate() {
            for &j in &cols[a..] {
                gram[i * p + j] += w;
            }
            for o in 0..n_outputs {
                rhs[[i, o]] += w * values[[r, o]];
            }
        }
    }
    let m = Mat::from_fn(p, p, |i, j| gram[i.min(j) * p + i.max(j)]);
    let h = spd_inverse(&m).map_err(|reason| CoreError::Singular {
        name: "masks",
        point,
        reason: format!("the weighted normal equations are singular: {reason}"),
    })?;
    let mut beta = Array2::<f64>::zeros((p, n_outputs));
    for i in 0..p {
        for o in 0..n_outputs {
            beta[[i, o]] = (0..p).map(|j| h[(i, j)] * rhs[[j, o]]).sum();
        }
    }
    // HC1 sandwich: diag(H Σ w² r² x xᵀ H) · n/(n−p); +inf when n ≤ p.
    let mut meat = Array2::<f64>::zeros((p, n_outputs));
    let mut hx = vec![0.0; p];
    for (r, cols) in present.iter().enumerate() {
        hx.fill(0.0);
        for &c in cols {
            for (i, x) in hx.iter_mut().enumerate() {
                *x += h[(i, c)];
            }
        }
        for o in 0..n_outputs {
            let fitted: f64 = cols.iter().map(|&c| beta[[c, o]]).sum();
            let wr = row_weight[r] * (values[[r, o]] - fitted);
            for i in 0..p {
                meat[[i, o]] += (wr * hx[i]).powi(2);
            }
        }
    }
    let dof = if n > p { n as f64 / (n - p) as f64 } else { f64::INFINITY };
    let errors = Array2::from_shape_fn((d, n_outputs), |(j, o)| (meat[[j + 1, o]] * dof).sqrt());
    let errors = errors.mapv(|x| if x.is_nan() { f64::INFINITY } else { x });
    let coefficients = beta.slice(ndarray::s![1.., ..]).to_owned();
    let intercept = beta.slice(ndarray::s![0..1, ..]).to_owned();
    Ok((
        PointEstimate {
            values: coefficients,
            std_errors: errors,
            dof: None,
        },
        intercept,
    ))
}
