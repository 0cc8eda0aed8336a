//! Reproducible random streams. Each unit of work (a point's sample, a point's permutation) draws
//! from its own generator derived from `(seed, purpose, point, index)`, so results depend neither on
//! the number of threads nor on how a caller splits points or samples into batches.

use rand::SeedableRng;
use rand_pcg::Pcg64;

use crate::error::{CoreError, CoreResult};

/// The draws a sampler makes: `n_samples` samples (coalitions, permutations, multisets) for each
/// of `n_points` points, from the streams of `seed`, starting at the global point `point_offset`
/// and at sample `sample_offset` of each point. Draws that start where others end continue their
/// streams exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draws {
    pub n_points: usize,
    pub n_samples: usize,
    pub seed: u64,
    pub point_offset: u64,
    pub sample_offset: u64,
}

impl Draws {
    /// The first `n_samples` draws of points `0..n_points`.
    pub fn new(n_points: usize, n_samples: usize, seed: u64) -> Self {
        Draws {
            n_points,
            n_samples,
            seed,
            point_offset: 0,
            sample_offset: 0,
        }
    }

    /// The same numbers of draws, from global point `point_offset` and sample `sample_offset` on.
    pub fn starting_at(self, point_offset: u64, sample_offset: u64) -> Self {
        Draws {
            point_offset,
            sample_offset,
            ..self
        }
    }

    /// Check that the draws stay inside the streams (offsets plus counts below 2**64).
    pub(crate) fn check_fits(&self) -> CoreResult<()> {
        for (name, offset, count) in [
            ("point_offset", self.point_offset, self.n_points),
            ("sample_offset", self.sample_offset, self.n_samples),
        ] {
            if offset.checked_add(count as u64).is_none() {
                return Err(CoreError::invalid(name, format!("{name} + the count must stay below 2**64, got {offset}")));
            }
        }
        Ok(())
    }
}

/// What a stream is used for, so that two samplers given the same seed stay independent.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    Coalitions = 1,
    Permutations = 2,
    Multisets = 3,
    Design = 4,
}

/// SplitMix64's finaliser: a bijective, well-mixing map of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of one unit of work.
pub(crate) fn stream(seed: u64, purpose: Purpose, point: u64, index: u64) -> Pcg64 {
    let key = mix(mix(mix(seed) ^ purpose as u64) ^ point);
    let key = mix(key ^ index.rotate_left(32));
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&key.to_le_bytes());
    bytes[8..16].copy_from_slice(&mix(key ^ 0x5851_F42D_4C95_7F2D).to_le_bytes());
    bytes[16..24].copy_from_slice(&mix(key ^ 0x1405_7B7E_F767_814F).to_le_bytes());
    bytes[24..].copy_from_slice(&mix(key ^ 0x2545_F491_4F6C_DD1D).to_le_bytes());
    Pcg64::from_seed(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_differ_by_every_coordinate() {
        let base = stream(7, Purpose::Coalitions, 3, 5).next_u64();
        assert_ne!(base, stream(8, Purpose::Coalitions, 3, 5).next_u64());
        assert_ne!(base, stream(7, Purpose::Permutations, 3, 5).next_u64());
        assert_ne!(base, stream(7, Purpose::Multisets, 3, 5).next_u64());
        assert_ne!(base, stream(7, Purpose::Coalitions, 4, 5).next_u64());
        assert_ne!(base, stream(7, Purpose::Coalitions, 3, 6).next_u64());
        assert_eq!(base, stream(7, Purpose::Coalitions, 3, 5).next_u64());
    }
}
