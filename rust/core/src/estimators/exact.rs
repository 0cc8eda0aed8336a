//! Exact semivalues by enumerating all 2^d coalitions.

use ndarray::{Array2, Array3, ArrayView3, Axis};

use super::stack;
use crate::error::{CoreError, CoreResult};
use crate::parallel::map_indices;
use crate::sampling::check_exact_players;
use crate::validate::check_finite;

/// φ_i = Σ_{S ∌ i} w(|S|) (v(S ∪ {i}) − v(S)) for every player, from the game's full table
/// `values` `(n_points, 2^d, n_outputs)` (coalition s holds player i iff bit i of s is set) and
/// `weights` `(d,)` from [`crate::weights::Semivalue::weights`].
pub fn exact_semivalue(values: ArrayView3<f64>, weights: &[f64]) -> CoreResult<Array3<f64>> {
    let d = weights.len();
    check_exact_players(d, "weights")?;
    let (n_points, n_coalitions, n_outputs) = values.dim();
    if n_coalitions != 1usize << d {
        return Err(CoreError::shape(
            "values",
            format!("[{n_points}, {}, n_outputs] (2^n_players coalitions for {d} weights)", 1usize << d),
            values.shape(),
        ));
    }
    if n_outputs == 0 {
        return Err(CoreError::invalid("values", "needs at least one output (last axis is empty)"));
    }
    if weights.iter().any(|w| !w.is_finite()) {
        return Err(CoreError::invalid("weights", "must be finite"));
    }
    check_finite(&values, "values")?;
    let points = map_indices(n_points, |p| {
        let table = values.index_axis(Axis(0), p);
        let mut phi = Array2::<f64>::zeros((d, n_outputs));
        for s in 0..n_coalitions {
            let w = weights.get(s.count_ones() as usize).copied().unwrap_or(0.0);
            for i in (0..d).filter(|i| s & (1 << i) == 0) {
                let with = s | (1 << i);
                for o in 0..n_outputs {
                    phi[[i, o]] += w * (table[[with, o]] - table[[s, o]]);
                }
            }
        }
        phi
    });
    Ok(stack(points, d, n_outputs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::Semivalue;

    #[test]
    fn shapley_of_a_unanimity_game_splits_equally() {
        // v(S) = 1 iff {0, 2} ⊆ S, with 3 players: φ = (1/2, 0, 1/2).
        let values = Array3::from_shape_fn((1, 8, 1), |(_, s, _)| if s & 0b101 == 0b101 { 1.0 } else { 0.0 });
        let w = Semivalue::Shapley.weights(3).unwrap();
        let phi = exact_semivalue(values.view(), &w).unwrap();
        assert!((phi[[0, 0, 0]] - 0.5).abs() < 1e-15);
        assert!(phi[[0, 1, 0]].abs() < 1e-15);
        let wb = Semivalue::Banzhaf.weights(3).unwrap();
        let banzhaf = exact_semivalue(values.view(), &wb).unwrap();
        assert!((banzhaf[[0, 0, 0]] - 0.5).abs() < 1e-15); // v changes on 2 of 4 coalitions without 0
    }
}
