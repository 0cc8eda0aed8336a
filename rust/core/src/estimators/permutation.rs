//! Permutation sampling: the mean marginal contribution of each player along random orders.

use ndarray::{Array1, Array3, ArrayView3, ArrayView4, Axis, Ix3};

use super::Attribution;
use crate::error::{CoreError, CoreResult};
use crate::moments::{RunningMoments, Summary};
use crate::parallel::map_indices;
use crate::validate::{check_finite, check_pairs, check_permutations};

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
    check_permutations(&permutations, "permutations")?;
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
    check_finite(&chain_values, "chain_values")?;
    let rows_per_unit = if antithetic { 2 } else { 1 };
    // One block of (player, output) cells per point; a unit is one order (or antithetic pair).
    let per_point = map_indices(n_points, |p| {
        let perms = permutations.index_axis(Axis(0), p);
        let chains = chain_values.index_axis(Axis(0), p);
        let mut moments = RunningMoments::new(1, d * n_outputs);
        let mut unit = vec![0.0; d * n_outputs];
        for first in (0..n_perm).step_by(rows_per_unit) {
            unit.fill(0.0);
            for r in first..first + rows_per_unit {
                for (j, &player) in perms.row(r).iter().enumerate() {
                    for o in 0..n_outputs {
                        unit[player as usize * n_outputs + o] += chains[[r, j + 1, o]] - chains[[r, j, o]];
                    }
                }
            }
            let scale = 1.0 / rows_per_unit as f64;
            moments.add(0, |c| unit[c] * scale);
        }
        moments
    });
    let Summary { counts, means, std_errors, m2 } =
        RunningMoments::concat(per_point, d * n_outputs).summary(Ix3(n_points, d, n_outputs));
    Ok(PermutationMoments {
        attribution: Attribution { values: means, std_errors, dof: None },
        m2,
        counts,
    })
}

/// Check that permutation 2j+1 reverses permutation 2j for every point.
fn check_antithetic(permutations: &ArrayView3<i64>) -> CoreResult<()> {
    check_pairs(
        permutations,
        "permutations",
        "antithetic=True",
        "permutations",
        |a, b| a.iter().eq(b.iter().rev()),
        |p, j| format!("permutation {} of point {p} is not the reverse of permutation {}", 2 * j + 1, 2 * j),
    )
}
