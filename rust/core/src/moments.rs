//! Mergeable running moments (count, mean, M2) of per-point estimates, so estimates built from
//! several chunks of samples combine exactly as if computed in one pass (Chan et al. 1979).

use ndarray::{Array1, Array3, ArrayView1, ArrayView3, Zip};

use crate::error::{CoreError, CoreResult};

/// Moments of one batch: counts `(n_points,)`, means and M2 `(n_points, n_players, n_outputs)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    pub counts: Array1<u64>,
    pub means: Array3<f64>,
    pub m2: Array3<f64>,
}

/// Merge the moments of two disjoint sets of units for the same points.
pub fn merge_moments(
    counts_a: ArrayView1<u64>,
    means_a: ArrayView3<f64>,
    m2_a: ArrayView3<f64>,
    counts_b: ArrayView1<u64>,
    means_b: ArrayView3<f64>,
    m2_b: ArrayView3<f64>,
) -> CoreResult<Moments> {
    let shape = means_a.shape();
    for (name, other) in [("m2_a", m2_a.shape()), ("means_b", means_b.shape()), ("m2_b", m2_b.shape())] {
        if other != shape {
            return Err(CoreError::shape(name, format!("{shape:?} (the shape of means_a)"), other));
        }
    }
    for (name, counts) in [("counts_a", &counts_a), ("counts_b", &counts_b)] {
        if counts.len() != shape[0] {
            return Err(CoreError::shape(name, format!("[{}] (n_points)", shape[0]), counts.shape()));
        }
    }
    let counts = &counts_a + &counts_b;
    let mut means = means_a.to_owned();
    let mut m2 = m2_a.to_owned();
    for p in 0..shape[0] {
        let (na, nb) = (counts_a[p] as f64, counts_b[p] as f64);
        let n = na + nb;
        if n == 0.0 {
            continue;
        }
        Zip::from(means.index_axis_mut(ndarray::Axis(0), p))
            .and(m2.index_axis_mut(ndarray::Axis(0), p))
            .and(means_b.index_axis(ndarray::Axis(0), p))
            .and(m2_b.index_axis(ndarray::Axis(0), p))
            .for_each(|mean, m2, &mean_b, &m2_b| {
                let delta = mean_b - *mean;
                *mean += delta * nb / n;
                *m2 += m2_b + delta * delta * na * nb / n;
            });
    }
    Ok(Moments { counts, means, m2 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array3};

    #[test]
    fn merging_equals_one_pass() {
        let xs = [1.0, 4.0, -2.0, 7.5, 3.25];
        let moments = |s: &[f64]| {
            let n = s.len() as f64;
            let mean = s.iter().sum::<f64>() / n;
            let m2 = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
            (s.len() as u64, Array3::from_elem((1, 1, 1), mean), Array3::from_elem((1, 1, 1), m2))
        };
        let (ca, ma, qa) = moments(&xs[..2]);
        let (cb, mb, qb) = moments(&xs[2..]);
        let (_, m, q) = moments(&xs);
        let merged = merge_moments(arr1(&[ca]).view(), ma.view(), qa.view(), arr1(&[cb]).view(), mb.view(), qb.view()).unwrap();
        assert_eq!(merged.counts[0], 5);
        assert!((merged.means[[0, 0, 0]] - m[[0, 0, 0]]).abs() < 1e-12);
        assert!((merged.m2[[0, 0, 0]] - q[[0, 0, 0]]).abs() < 1e-12);
    }
}
