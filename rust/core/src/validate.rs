//! Shape and value checks shared by the estimators.

use ndarray::{ArrayView, ArrayView2, ArrayView3, Axis, RemoveAxis};

use crate::error::{CoreError, CoreResult};
use crate::parallel::map_indices;

/// Check that `array` has the given leading dimensions.
pub(crate) fn check_leading(shape: &[usize], expected: &[usize], name: &'static str, what: &str) -> CoreResult<()> {
    if shape.len() < expected.len() || shape[..expected.len()] != *expected {
        return Err(CoreError::shape(name, format!("{expected:?} leading dims ({what})"), shape));
    }
    Ok(())
}

/// Points (first axis) holding a non-finite value.
pub(crate) fn non_finite_points<D: RemoveAxis>(values: &ArrayView<f64, D>) -> Vec<usize> {
    let flags = map_indices(values.len_of(Axis(0)), |p| {
        values.index_axis(Axis(0), p).iter().any(|x| !x.is_finite())
    });
    flags.into_iter().enumerate().filter_map(|(p, bad)| bad.then_some(p)).collect()
}

/// Fail with [`CoreError::NonFinite`] if any entry of a 3-d array is NaN or infinite.
pub(crate) fn check_finite_3d(values: &ArrayView3<f64>, name: &'static str) -> CoreResult<()> {
    let points = non_finite_points(values);
    if points.is_empty() {
        Ok(())
    } else {
        Err(CoreError::NonFinite { name, points })
    }
}

/// Fail with [`CoreError::NonFinite`] if any entry of a 2-d (points × outputs) array is not finite.
pub(crate) fn check_finite_2d(values: &ArrayView2<f64>, name: &'static str) -> CoreResult<()> {
    let points: Vec<usize> = values
        .outer_iter()
        .enumerate()
        .filter_map(|(p, row)| row.iter().any(|x| !x.is_finite()).then_some(p))
        .collect();
    if points.is_empty() {
        Ok(())
    } else {
        Err(CoreError::NonFinite { name, points })
    }
}

/// Check masks `(n_points, n_samples, d)` against values `(n_points, n_samples, n_outputs)`.
/// Returns `(n_points, n_samples, n_players, n_outputs)`.
pub(crate) fn check_masks_values(
    masks: &ArrayView3<bool>,
    values: &ArrayView3<f64>,
) -> CoreResult<(usize, usize, usize, usize)> {
    let (n_points, n_samples, d) = masks.dim();
    check_leading(values.shape(), &[n_points, n_samples], "values", "n_points, n_samples of masks")?;
    let n_outputs = values.shape()[2];
    if d == 0 {
        return Err(CoreError::invalid("masks", "needs at least one player (last axis is empty)"));
    }
    if n_samples == 0 {
        return Err(CoreError::insufficient("masks", "holds no samples"));
    }
    if n_outputs == 0 {
        return Err(CoreError::invalid("values", "needs at least one output (last axis is empty)"));
    }
    check_finite_3d(values, "values")?;
    Ok((n_points, n_samples, d, n_outputs))
}

/// Check that rows 2j and 2j+1 of every point are complements.
pub(crate) fn check_paired(masks: &ArrayView3<bool>) -> CoreResult<()> {
    let n_samples = masks.shape()[1];
    if n_samples % 2 != 0 {
        return Err(CoreError::invalid(
            "masks",
            format!("paired=True needs an even number of samples, got {n_samples}"),
        ));
    }
    let bad = map_indices(masks.shape()[0], |p| {
        let point = masks.index_axis(Axis(0), p);
        (0..n_samples / 2).find(|&j| {
            point.row(2 * j).iter().zip(point.row(2 * j + 1).iter()).any(|(a, b)| a == b)
        })
    });
    if let Some((p, Some(j))) = bad.iter().enumerate().find(|(_, b)| b.is_some()) {
        return Err(CoreError::invalid(
            "masks",
            format!("paired=True but rows {} and {} of point {p} are not complements", 2 * j, 2 * j + 1),
        ));
    }
    Ok(())
}

/// Check the per-point reference values `(n_points, n_outputs)` (e.g. v(∅), v(all)).
pub(crate) fn check_point_values(
    values: &ArrayView2<f64>,
    n_points: usize,
    n_outputs: usize,
    name: &'static str,
) -> CoreResult<()> {
    if values.dim() != (n_points, n_outputs) {
        return Err(CoreError::shape(name, format!("[{n_points}, {n_outputs}] (n_points, n_outputs)"), values.shape()));
    }
    check_finite_2d(values, name)
}
