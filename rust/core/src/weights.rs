//! Kernel and semivalue weights as functions of the coalition size.

use crate::error::{CoreError, CoreResult};
use crate::limits::check_table;
use crate::math::{ln_beta, ln_binomial};
use crate::validate::{check_positive, check_positive_finite};

/// A semivalue: a weighting of coalitions by size that defines an attribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Semivalue {
    /// Shapley value: w(k) = k!(d−k−1)!/d!.
    Shapley,
    /// Banzhaf value: w(k) = 2^−(d−1).
    Banzhaf,
    /// Beta Shapley (Kwon & Zou 2022): w(k) = B(k+β, d−1−k+α) / B(α, β).
    Beta { alpha: f64, beta: f64 },
}

impl Semivalue {
    /// Parse a semivalue from its name and Beta parameters (used only for `"beta"`).
    pub fn parse(kind: &str, alpha: f64, beta: f64) -> CoreResult<Self> {
        match kind {
            "shapley" => Ok(Semivalue::Shapley),
            "banzhaf" => Ok(Semivalue::Banzhaf),
            "beta" => {
                check_positive_finite(alpha, "alpha")?;
                check_positive_finite(beta, "beta")?;
                Ok(Semivalue::Beta { alpha, beta })
            }
            other => Err(CoreError::invalid(
                "kind",
                format!("unknown semivalue {other:?}; expected \"shapley\", \"banzhaf\" or \"beta\""),
            )),
        }
    }

    /// Weight of one coalition of each size k = 0..d−1 that excludes the player being valued.
    pub fn weights(self, n_players: usize) -> CoreResult<Vec<f64>> {
        let ln_w = self.ln_weights(n_players)?;
        Ok(match self {
            // Exact powers of two, which exp(ln w) would round.
            Semivalue::Banzhaf => vec![0.5f64.powi((n_players - 1) as i32); n_players],
            _ => ln_w.into_iter().map(f64::exp).collect(),
        })
    }

    /// ln w(k) for k = 0..d−1: the log of [`Semivalue::weights`], finite even where w(k) underflows.
    pub fn ln_weights(self, n_players: usize) -> CoreResult<Vec<f64>> {
        check_positive(n_players, "n_players")?;
        check_table(n_players, 2, "n_players")?;
        let d = n_players;
        let ln_w: Vec<f64> = (0..d)
            .map(|k| match self {
                Semivalue::Shapley => -(d as f64).ln() - ln_binomial(d - 1, k),
                Semivalue::Banzhaf => -((d - 1) as f64) * std::f64::consts::LN_2,
                Semivalue::Beta { alpha, beta } => {
                    ln_beta(k as f64 + beta, (d - 1 - k) as f64 + alpha) - ln_beta(alpha, beta)
                }
            })
            .collect();
        if let (Semivalue::Beta { alpha, beta }, false) = (self, ln_w.iter().all(|w| !w.is_nan() && *w < f64::INFINITY)) {
            let name = if alpha >= beta { "alpha" } else { "beta" };
            return Err(CoreError::invalid(
                name,
                format!("Beta({alpha:?}, {beta:?}) weights for {d} players are not representable in float64 (log-gamma of the parameters overflows); use parameters below about 1e300"),
            ));
        }
        Ok(ln_w)
    }

    /// Weights of a marginal contribution at position k = 0..d−1 of a uniformly random permutation
    /// (prefix of k players) whose expectation is the semivalue: `d · C(d−1, k) · w(k)`, computed in
    /// log space (finite for any d). All ones for Shapley; `d · P(k)` of the Binomial(d−1, ½) for
    /// Banzhaf; `d ·` the Beta-binomial probability of k for Beta(α, β).
    pub fn position_weights(self, n_players: usize) -> CoreResult<Vec<f64>> {
        let d = n_players;
        let ln_w = self.ln_weights(d)?;
        if self == Semivalue::Shapley {
            return Ok(vec![1.0; d]);
        }
        let ln_d = (d as f64).ln();
        Ok(ln_w.iter().enumerate().map(|(k, lw)| (ln_d + ln_binomial(d - 1, k) + lw).exp()).collect())
    }
}

/// KernelSHAP's kernel per coalition size: (d−1)/(C(d,k) k (d−k)); +inf at k = 0 and k = d.
pub fn shapley_kernel(n_players: usize) -> CoreResult<Vec<f64>> {
    check_positive(n_players, "n_players")?;
    check_table(n_players, 1, "n_players")?;
    let d = n_players;
    Ok((0..=d)
        .map(|k| {
            if k == 0 || k == d {
                f64::INFINITY
            } else {
                ((d - 1) as f64).ln() - ln_binomial(d, k) - (k as f64).ln() - ((d - k) as f64).ln()
            }
            .exp()
        })
        .collect())
}

/// LIME's exponential kernel per coalition size: exp(−D²/width²), D = 1 − sqrt(k/d) the cosine
/// distance between a coalition of size k and the full coalition.
pub fn lime_kernel(n_players: usize, width: f64) -> CoreResult<Vec<f64>> {
    check_positive(n_players, "n_players")?;
    check_positive_finite(width, "width")?;
    check_table(n_players, 1, "n_players")?;
    let d = n_players as f64;
    Ok((0..=n_players)
        .map(|k| {
            // distance / width first: width² underflows to 0 for tiny widths (0/0 at k = d).
            let scaled = (1.0 - (k as f64 / d).sqrt()) / width;
            (-(scaled * scaled)).exp()
        })
        .collect())
}

/// Semivalues the tests of the crate run over: both classic ones and two lopsided Beta ones.
#[cfg(test)]
pub(crate) const TEST_SEMIVALUES: [Semivalue; 4] = [
    Semivalue::Shapley,
    Semivalue::Banzhaf,
    Semivalue::Beta { alpha: 16.0, beta: 1.0 },
    Semivalue::Beta { alpha: 0.5, beta: 4.0 },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semivalue_weights_are_probabilities_over_sizes() {
        for d in 1..30 {
            for sv in [
                Semivalue::Shapley,
                Semivalue::Beta { alpha: 1.0, beta: 1.0 },
                Semivalue::Beta { alpha: 16.0, beta: 1.0 },
                Semivalue::Beta { alpha: 0.5, beta: 4.0 },
            ] {
                let w = sv.weights(d).unwrap();
                let total: f64 = (0..d).map(|k| ln_binomial(d - 1, k).exp() * w[k]).sum();
                assert!((total - 1.0).abs() < 1e-10, "{sv:?} d={d}: {total}");
            }
            let shapley = Semivalue::Shapley.weights(d).unwrap();
            let beta11 = Semivalue::Beta { alpha: 1.0, beta: 1.0 }.weights(d).unwrap();
            for k in 0..d {
                assert!((shapley[k] - beta11[k]).abs() < 1e-12 * shapley[k].max(1e-300));
            }
        }
    }

    #[test]
    fn position_weights_average_to_one_and_stay_finite() {
        for d in [1usize, 2, 7, 40] {
            for sv in TEST_SEMIVALUES {
                let p = sv.position_weights(d).unwrap();
                let w = sv.weights(d).unwrap();
                // A uniform position k: E[weight] = Σ_k C(d−1,k) w(k) = 1 for probabilistic semivalues.
                let mean: f64 = p.iter().sum::<f64>() / d as f64;
                assert!((mean - 1.0).abs() < 1e-10, "{sv:?} d={d}: {mean}");
                for k in 0..d {
                    let direct = d as f64 * ln_binomial(d - 1, k).exp() * w[k];
                    assert!((p[k] - direct).abs() < 1e-9 * direct.max(1.0), "{sv:?} d={d} k={k}");
                }
            }
        }
        assert_eq!(Semivalue::Shapley.position_weights(5).unwrap(), vec![1.0; 5]);
        for sv in [Semivalue::Banzhaf, Semivalue::Beta { alpha: 16.0, beta: 1.0 }] {
            let p = sv.position_weights(10_000).unwrap();
            assert!(p.iter().all(|x| x.is_finite() && *x >= 0.0));
            assert!((p.iter().sum::<f64>() / 1e4 - 1.0).abs() < 1e-8, "{sv:?}");
        }
        assert!(Semivalue::Banzhaf.position_weights(0).is_err());
    }

    #[test]
    fn beta_16_1_favours_small_coalitions() {
        let w = Semivalue::Beta { alpha: 16.0, beta: 1.0 }.weights(10).unwrap();
        let s = Semivalue::Shapley.weights(10).unwrap();
        assert!(w[0] > s[0] && w[9] < s[9]);
    }

    #[test]
    fn kernels_have_expected_shape() {
        let k = shapley_kernel(4).unwrap();
        assert!(k[0].is_infinite() && k[4].is_infinite());
        assert!((k[1] - 3.0 / (4.0 * 3.0)).abs() < 1e-12);
        assert!((k[2] - 3.0 / (6.0 * 4.0)).abs() < 1e-12);
        let l = lime_kernel(5, 0.25).unwrap();
        assert!((l[5] - 1.0).abs() < 1e-15);
        assert!(l.windows(2).all(|p| p[0] < p[1]));
        assert!(lime_kernel(5, 0.0).is_err());
        assert!(Semivalue::parse("beta", -1.0, 1.0).is_err());
    }
}
