//! Distributions over coalitions: KernelSHAP's Shapley-kernel distribution, the uniform
//! (Banzhaf/MSR/LIME) distribution and Leverage SHAP's size-uniform distribution. Each is given by
//! the probability of a coalition size and is uniform over coalitions of the same size.

use crate::error::{CoreError, CoreResult};
use crate::math::ln_binomial;

/// A distribution over coalitions of `n_players` players.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Size k ∈ 1..d−1 with P(k) ∝ 1/(k(d−k)), then a uniform subset of that size (KernelSHAP).
    Shapley,
    /// Every player present independently with probability 1/2 (MSR, LIME).
    Banzhaf,
    /// Size uniform over 1..d−1, then a uniform subset (Leverage SHAP, Musco & Witter 2025).
    Leverage,
}

impl Distribution {
    /// Parse a distribution name; `name` is the argument reported on error.
    pub fn parse(value: &str, name: &'static str) -> CoreResult<Self> {
        match value {
            "shapley" => Ok(Distribution::Shapley),
            "banzhaf" => Ok(Distribution::Banzhaf),
            "leverage" => Ok(Distribution::Leverage),
            other => Err(CoreError::invalid(
                name,
                format!("unknown distribution {other:?}; expected \"shapley\", \"banzhaf\" or \"leverage\""),
            )),
        }
    }

    /// The smallest number of players the distribution is defined for.
    pub fn min_players(self) -> usize {
        match self {
            Distribution::Banzhaf => 1,
            Distribution::Shapley | Distribution::Leverage => 2,
        }
    }

    /// Check that the distribution is defined for `n_players`.
    pub fn check_players(self, n_players: usize, name: &'static str) -> CoreResult<()> {
        if n_players < self.min_players() {
            return Err(CoreError::invalid(
                name,
                format!(
                    "the {self:?} distribution needs at least {} players, got {n_players}",
                    self.min_players()
                ),
            ));
        }
        Ok(())
    }

    /// P(|S| = k) for k = 0..=d.
    pub fn size_probabilities(self, n_players: usize) -> Vec<f64> {
        let d = n_players;
        let mut p = vec![0.0; d + 1];
        match self {
            Distribution::Shapley => {
                for (k, pk) in p.iter_mut().enumerate().take(d).skip(1) {
                    *pk = 1.0 / (k as f64 * (d - k) as f64);
                }
            }
            Distribution::Leverage => {
                for pk in p.iter_mut().take(d).skip(1) {
                    *pk = 1.0;
                }
            }
            Distribution::Banzhaf => {
                for (k, pk) in p.iter_mut().enumerate() {
                    *pk = (ln_binomial(d, k) - d as f64 * std::f64::consts::LN_2).exp();
                }
            }
        }
        let total: f64 = p.iter().sum();
        p.iter_mut().for_each(|x| *x /= total);
        p
    }

    /// P(S) for each coalition size: P(|S| = k) / C(d, k).
    pub fn coalition_probability_by_size(self, n_players: usize) -> Vec<f64> {
        let d = n_players;
        match self {
            Distribution::Banzhaf => vec![0.5f64.powi(d as i32); d + 1],
            _ => self
                .size_probabilities(d)
                .iter()
                .enumerate()
                .map(|(k, &pk)| if pk == 0.0 { 0.0 } else { (pk.ln() - ln_binomial(d, k)).exp() })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_probabilities_sum_to_one_and_match_definitions() {
        for d in 2..12 {
            for dist in [Distribution::Shapley, Distribution::Banzhaf, Distribution::Leverage] {
                let p = dist.size_probabilities(d);
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                let by_size = dist.coalition_probability_by_size(d);
                let total: f64 = (0..=d)
                    .map(|k| by_size[k] * ln_binomial(d, k).exp())
                    .sum();
                assert!((total - 1.0).abs() < 1e-10, "{dist:?} {d}");
            }
            let p = Distribution::Shapley.size_probabilities(d);
            assert_eq!(p[0], 0.0);
            assert_eq!(p[d], 0.0);
            // P(k) ∝ 1/(k(d−k)): ratio of sizes 1 and d−1 is one, symmetric.
            for k in 1..d {
                assert!((p[k] - p[d - k]).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn parse_rejects_unknown_names() {
        assert!(Distribution::parse("uniform", "distribution").is_err());
        assert_eq!(Distribution::parse("leverage", "d").unwrap(), Distribution::Leverage);
    }
}
