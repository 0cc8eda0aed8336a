//! Shape and value checks shared by the samplers and estimators. Every error names the argument.

use ndarray::{ArrayView, ArrayView1, ArrayView2, ArrayView3, Axis, RemoveAxis};

use crate::distribution::Distribution;
use crate::error::{CoreError, CoreResult};
use crate::limits::checked_total;
use crate::parallel::map_indices;

/// Fail unless a count argument is at least one.
pub(crate) fn check_positive(n: usize, name: &'static str) -> CoreResult<()> {
    if n == 0 {
        return Err(CoreError::invalid(name, "must be at least 1"));
    }
    Ok(())
}

/// Fail unless a real argument is finite and above zero.
pub(crate) fn check_positive_finite(x: f64, name: &'static str) -> CoreResult<()> {
    if !(x.is_finite() && x > 0.0) {
        return Err(CoreError::invalid(name, format!("must be a positive finite number, got {x}")));
    }
    Ok(())
}

/// Check that `array` has the given leading dimensions.
pub(crate) fn check_leading(shape: &[usize], expected: &[usize], name: &'static str, what: &str) -> CoreResult<()> {
    if shape.len() < expected.len() || shape[..expected.len()] != *expected {
        return Err(CoreError::shape(name, format!("{expected:?} leading dims ({what})"), shape));
    }
    Ok(())
}

/// Entries of the first axis (points, rows) holding a non-finite value.
pub(crate) fn non_finite_points<D: RemoveAxis>(values: &ArrayView<f64, D>) -> Vec<usize> {
    let flags = map_indices(values.len_of(Axis(0)), |p| {
        values.index_axis(Axis(0), p).iter().any(|x| !x.is_finite())
    });
    flags.into_iter().enumerate().filter_map(|(p, bad)| bad.then_some(p)).collect()
}

/// Fail with [`CoreError::NonFinite`], naming the points, if any entry is NaN or infinite.
pub(crate) fn check_finite<D: RemoveAxis>(values: &ArrayView<f64, D>, name: &'static str) -> CoreResult<()> {
    let points = non_finite_points(values);
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
    check_finite(values, "values")?;
    check_estimator_memory(n_points, d, n_outputs)?;
    Ok((n_points, n_samples, d, n_outputs))
}

/// Refuse estimates whose arrays would exceed the memory limit: the outputs (values, standard
/// errors and up to two more arrays of their shape) and, per thread, a few `(d + 1) × (d + 1)`
/// systems and `(d + 1) × n_outputs` right-hand sides, as the regressions solve.
pub(crate) fn check_estimator_memory(n_points: usize, d: usize, n_outputs: usize) -> CoreResult<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let side = d.saturating_add(1);
    checked_total(&[(&[4, n_points, d, n_outputs], 8), (&[threads, 4, side, side], 8), (&[threads, 4, side, n_outputs], 8)], "masks")?;
    Ok(())
}

/// The inputs of the efficiency-constrained regressions (KernelSHAP, SGD-Shapley): masks and
/// values, v(∅) and v(all) per point, and complementary pairs when `paired`.
/// Returns `(n_points, n_samples, n_players, n_outputs)`.
pub(crate) fn check_constrained_inputs(
    masks: &ArrayView3<bool>,
    values: &ArrayView3<f64>,
    null_values: &ArrayView2<f64>,
    grand_values: &ArrayView2<f64>,
    paired: bool,
) -> CoreResult<(usize, usize, usize, usize)> {
    let dims @ (n_points, _, d, n_outputs) = check_masks_values(masks, values)?;
    Distribution::Shapley.check_players(d, "masks")?;
    check_point_values(null_values, n_points, n_outputs, "null_values")?;
    check_point_values(grand_values, n_points, n_outputs, "grand_values")?;
    if paired {
        check_paired(masks)?;
    }
    Ok(dims)
}

/// Check that rows 2j and 2j+1 of every point are partners: `partners(row 2j, row 2j+1)` holds.
/// `option` is the setting that asks for pairs (e.g. "paired=True"), `rows` what the rows are
/// (e.g. "samples"), and `broken(point, j)` says how the first pair that is not one fails.
pub(crate) fn check_pairs<T: Sync>(
    array: &ArrayView3<T>,
    name: &'static str,
    option: &str,
    rows: &str,
    partners: impl Fn(ArrayView1<T>, ArrayView1<T>) -> bool + Sync + Send,
    broken: impl Fn(usize, usize) -> String,
) -> CoreResult<()> {
    let n_rows = array.shape()[1];
    if n_rows % 2 != 0 {
        return Err(CoreError::invalid(name, format!("{option} needs an even number of {rows}, got {n_rows}")));
    }
    let first_broken = map_indices(array.shape()[0], |p| {
        let point = array.index_axis(Axis(0), p);
        (0..n_rows / 2).find(|&j| !partners(point.row(2 * j), point.row(2 * j + 1)))
    });
    if let Some((p, Some(j))) = first_broken.iter().enumerate().find(|(_, b)| b.is_some()) {
        return Err(CoreError::invalid_at(name, vec![p], format!("{option} but {}", broken(p, *j))));
    }
    Ok(())
}

/// Check that rows 2j and 2j+1 of every point are complements.
pub(crate) fn check_paired(masks: &ArrayView3<bool>) -> CoreResult<()> {
    check_pairs(
        masks,
        "masks",
        "paired=True",
        "samples",
        |a, b| a.iter().zip(b.iter()).all(|(x, y)| x != y),
        |p, j| format!("rows {} and {} of point {p} are not complements", 2 * j, 2 * j + 1),
    )
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
    check_finite(values, name)
}

/// Rows of permutations one task checks (one buffer of seen players serves them all).
const PERMUTATION_ROWS_PER_TASK: usize = 32;

/// Check that every row (last axis) of `permutations` orders `0..n_players` exactly once: a 2-d
/// array of rows `(n_permutations, n_players)`, or a 3-d one per point `(n_points, n_permutations,
/// n_players)`. The error names the first row (2-d) or point (3-d) holding another row.
pub(crate) fn check_permutations<D: RemoveAxis>(permutations: &ArrayView<i64, D>, name: &'static str) -> CoreResult<()> {
    let shape = permutations.shape();
    let d = shape[shape.len() - 1];
    if d == 0 {
        return Err(CoreError::invalid(name, "needs at least one player (last axis is empty)"));
    }
    let entries = shape[0];
    let rows_per_entry: usize = shape[1..shape.len() - 1].iter().product();
    let per_task = PERMUTATION_ROWS_PER_TASK.div_ceil(rows_per_entry.max(1));
    let bad: Vec<usize> = map_indices(entries.div_ceil(per_task), |task| {
        let mut seen = vec![false; d];
        (task * per_task..((task + 1) * per_task).min(entries))
            .filter(|&e| {
                let entry = permutations.index_axis(Axis(0), e);
                let last = Axis(entry.ndim() - 1);
                entry.lanes(last).into_iter().any(|row| !orders_all(row, &mut seen))
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect();
    if let Some(&first) = bad.first() {
        let reason = |entry: &str, verb: &str| {
            format!("rows must be permutations of 0..{d}; {entry} {first} (and {} other {entry}(s)) {verb}", bad.len() - 1)
        };
        // The rows of a 2-d array are permutations, not points.
        return Err(if permutations.ndim() == 2 {
            CoreError::invalid(name, reason("row", "is not"))
        } else {
            CoreError::invalid_at(name, bad.clone(), reason("point", "hold another row"))
        });
    }
    Ok(())
}

/// Whether `row` holds each of `0..row.len()` exactly once (`seen` is scratch of that length).
fn orders_all(row: ArrayView1<i64>, seen: &mut [bool]) -> bool {
    seen.fill(false);
    row.iter().all(|&x| {
        let fresh = x >= 0 && (x as usize) < seen.len() && !seen[x as usize];
        if fresh {
            seen[x as usize] = true;
        }
        fresh
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, arr3};

    fn reason(result: CoreResult<()>) -> String {
        match result {
            Err(CoreError::InvalidArgument { name: "permutations", reason, .. }) => reason,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn permutations_are_checked_by_row_or_by_point() {
        let rows = arr2(&[[0i64, 1, 2], [2, 1, 0], [1, 1, 0], [0, 3, 1], [-1, 0, 1]]);
        assert!(check_permutations(&rows.slice(ndarray::s![..2, ..]), "permutations").is_ok());
        assert_eq!(
            reason(check_permutations(&rows.view(), "permutations")),
            "rows must be permutations of 0..3; row 2 (and 2 other row(s)) is not"
        );
        let points = arr3(&[[[0i64, 1], [1, 0]], [[0, 0], [1, 0]], [[1, 0], [0, 1]]]);
        assert_eq!(
            reason(check_permutations(&points.view(), "permutations")),
            "rows must be permutations of 0..2; point 1 (and 0 other point(s)) hold another row"
        );
        let empty = ndarray::Array3::<i64>::zeros((2, 0, 4));
        assert!(check_permutations(&empty.view(), "permutations").is_ok());
        let no_players = ndarray::Array2::<i64>::zeros((2, 0));
        assert!(check_permutations(&no_players.view(), "permutations").is_err());
        // Many rows: split into several tasks, the first bad one is still the one reported.
        let mut many = ndarray::Array2::<i64>::from_shape_fn((200, 3), |(_, j)| j as i64);
        many[[150, 0]] = 2;
        many[[70, 1]] = 7;
        assert_eq!(
            reason(check_permutations(&many.view(), "permutations")),
            "rows must be permutations of 0..3; row 70 (and 1 other row(s)) is not"
        );
    }

    #[test]
    fn pairs_must_be_partners() {
        let masks = arr3(&[[[true, false], [false, true]], [[true, true], [false, true]]]);
        let err = check_paired(&masks.view()).unwrap_err();
        assert_eq!(
            err,
            CoreError::invalid_at("masks", vec![1], "paired=True but rows 0 and 1 of point 1 are not complements")
        );
        assert!(check_paired(&masks.slice(ndarray::s![..1, .., ..])).is_ok());
        assert!(matches!(
            check_paired(&masks.slice(ndarray::s![.., ..1, ..])),
            Err(CoreError::InvalidArgument { name: "masks", .. })
        ));
    }

    #[test]
    fn non_finite_entries_are_reported_by_point() {
        let mut values = ndarray::Array3::<f64>::zeros((5, 2, 2));
        values[[1, 0, 1]] = f64::NAN;
        values[[4, 1, 0]] = f64::NEG_INFINITY;
        assert_eq!(
            check_finite(&values.view(), "values"),
            Err(CoreError::NonFinite { name: "values", points: vec![1, 4] })
        );
        let flat = ndarray::arr1(&[0.0, f64::INFINITY]);
        assert_eq!(non_finite_points(&flat.view()), vec![1]);
    }
}
