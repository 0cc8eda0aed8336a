//! Inverses of the small symmetric positive-definite systems of the regression estimators, through
//! faer's Cholesky factorisation (sequential: the core parallelises over points instead).

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

/// Relative pivot below which a matrix is reported as singular.
const SINGULAR_PIVOT: f64 = 1e-11;

/// The inverse of the symmetric positive-definite `a`, or why it is (numerically) singular.
pub(crate) fn spd_inverse(a: &Mat<f64>) -> Result<Mat<f64>, &'static str> {
    let n = a.nrows();
    let scale = (0..n).map(|i| a[(i, i)]).fold(0.0, f64::max);
    if scale <= 0.0 || !scale.is_finite() {
        return Err("its diagonal is zero: no sampled coalition varies any player");
    }
    let llt = a.llt(Side::Lower).map_err(|_| "it is not positive definite")?;
    let l = llt.L();
    let min_pivot = (0..n).map(|i| l[(i, i)] * l[(i, i)]).fold(f64::INFINITY, f64::min);
    if min_pivot < SINGULAR_PIVOT * scale {
        return Err("the sampled coalitions leave some direction undetermined");
    }
    Ok(llt.inverse())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverts_and_detects_singularity() {
        let a = Mat::<f64>::from_fn(3, 3, |i, j| if i == j { 2.0 } else { 0.5 });
        let inv = spd_inverse(&a).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let product: f64 = (0..3).map(|k| a[(i, k)] * inv[(k, j)]).sum();
                assert!((product - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        let singular = Mat::<f64>::from_fn(3, 3, |_, _| 1.0);
        assert!(spd_inverse(&singular).is_err());
        assert!(spd_inverse(&Mat::<f64>::zeros(2, 2)).is_err());
    }
}
