//! Permutation sampling: the mean marginal contribution of each player along random orders.

use ndarray::{Array1, Array3, ArrayView3, ArrayView4, Axis};

use super::{stack, Attribution, Welford};
use crate::error::{CoreError, CoreResult};
use crate::parallel::map_indices;
use crate::sampling::validate_permutations;
use crate::validate::non_finite_points;

/// Running moments of per-unit contributions, mergeable across chunks (see [`crate::moments`]).
#[derive(Clone, Debug, PartialEq)]
pub struct PermutationMoments {
    /// Mean contributions and their standard errors, `(n_points, n_players, n_outputs)`.
    pub attribution: Attribution,
    /// Sum of squared deviations from the mean (Welford's M2), same shape.
    pub m2: Array3<f64>,
    /// Number of units (permutations, or antithetic pairs) per point.
    pub counts: Array1<u64>,
}

/// Shapley values by permutation sampling. `permutations` `(n_points, n_perm, d)`;
/// `chain_values` `(n_points, n_perm, d + 1, n_outputs)` where `chain_values[p, r, j]` is the game
/// at the first `j` players of permutation r. Unbiased. With `antithetic`, permutations 2j and
/// 2j+1 form one unit (their contributions are averaged before the variance is taken).
pub fn permutation_shapley(
    permutations: ArrayView3<i64>,
    chain_values: ArrayView4<f64>,
    antithetic: bool,
) -> CoreResult<PermutationMoments> {
    validate_permutations(&permutations, "permutations")?;
    let (n_points, n_perm, d) = permutations.dim();
    let cshape = chain_values.shape();
    if cshape.len() != 4 || cshape[..3] != [n_points, n_perm, d + 1] {
        return Err(CoreError::shape(
            "chain_values",
            format!("[{n_points}, {n_perm}, {}, n_outputs] (n_points, n_permutations, n_players + 1, n_outputs)", d + 1),
            cshape,
        ));
    }
    let n_outputs = cshape[3];
    if n_outputs == 0 {
        return Err(CoreError::invalid("chain_values", "needs at least one output (last axis is empty)"));
    }
    if n_perm == 0 {
        return Err(CoreError::insufficient("permutations", "holds no permutations"));
    }
    if antithetic {
        check_antithetic(&permutations)?;
    }
    let bad = non_finite_points(&chain_values);
    if !bad.is_empty() {
        return Err(CoreError::NonFinite {
            name: "chain_values",
            points: bad,
        });
    }
    let rows_per_unit = if antithetic { 2 } else { 1 };
    let accumulators = map_indices(n_points, |p| {
        let perms = permutations.index_axis(Axis(0), p);
        let chains = chain_values.index_axis(Axis(0), p);
        let mut welford = Welford::new(d, n_outputs);
        let mut unit = ndarray::Array2::<f64>::zeros((d, n_outputs));
        for first in (0..n_perm).step_by(rows_per_unit) {
            unit.fill(0.0);
            for r in first..first + rows_per_unit {
                for (j, &player) in perms.row(r).iter().enumerate() {
                    for o in 0..n_outputs {
                        unit[[player as usize, o]] += chains[[r, j + 1, o]] - chains[[r, j, o]];
                    }
                }
            }
            let scale = 1.0 / rows_per_unit as f64;
            welford.add_with(|j, o| unit[[j, o]] * scale);
        }
        welford
    });
    let counts = accumulators.iter().map(|w| w.count as u64).collect();
    let std_errors = accumulators.iter().map(Welford::std_errors).collect();
    let (means, m2s): (Vec<_>, Vec<_>) = accumulators.into_iter().map(|w| (w.mean, w.m2)).unzip();
    Ok(PermutationMoments {
        attribution: Attribution {
            values: stack(means, d, n_outputs),
            std_errors: stack(std_errors, d, n_outputs),
        },
        m2: stack(m2s, d, n_outputs),
        counts,
    })
}

/// Check that permutation 2j+1 reverses permutation 2j for every point.
fn check_antithetic(permutations: &ArrayView3<i64>) -> CoreResult<()> {
    let n_perm = permutations.shape()[1];
    if n_perm % 2 != 0 {
        return Err(CoreError::invalid(
            "permutations",
            format!("antithetic=True needs an even number of permutations, got {n_perm}"),
        ));
    }
    let bad = map_indices(permutations.shape()[0], |p| {
        let perms = permutations.index_axis(Axis(0), p);
        (0..n_perm / 2).find(|&j| perms.row(2 * j).iter().ne(perms.row(2 * j + 1).iter().rev()))
    });
    if let Some((p, Some(j))) = bad.iter().enumerate().find(|(_, b)| b.is_some()) {
        return Err(CoreError::invalid(
            "permutations",
            format!("antithetic=True but permutation {} of point {p} is not the reverse of permutation {}", 2 * j + 1, 2 * j),
        ));
    }
    Ok(())
}
