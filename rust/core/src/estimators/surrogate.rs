//! The polynomial surrogate of regression-adjusted Monte Carlo: per-size intercepts, linear and
//! pairwise terms of the coalition indicators, fitted by weighted ridge least squares, with the
//! closed-form semivalue of each basis function.
//!
//! Basis (coefficient order): the one-hot of the size `s = |S|` for `s = 1..d−1`, then `z_j`, then
//! `z_j z_l` for `j < l` in lexicographic order. Every feature is 0 or 1, so a coalition is the
//! sorted list of its nonzero columns.

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

use crate::error::{CoreError, CoreResult};
use crate::math::ln_binomial;

/// Where each coefficient lives, for `d` players and a surrogate of degree 0, 1 or 2.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub d: usize,
    pub degree: usize,
}

impl Layout {
    /// Number of intercept columns (sizes 1..d−1).
    #[inline]
    fn intercepts(&self) -> usize {
        self.d - 1
    }

    /// Number of coefficients: intercepts, then `d` linear terms (degree ≥ 1), then `d(d−1)/2`
    /// pairwise terms (degree 2).
    pub fn n_coefficients(d: usize, degree: usize) -> usize {
        (d - 1) + if degree >= 1 { d } else { 0 } + if degree >= 2 { d * (d - 1) / 2 } else { 0 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        Self::n_coefficients(self.d, self.degree)
    }

    /// Column of the pairwise term `z_j z_l`, `j < l`.
    #[inline]
    fn pair(&self, j: usize, l: usize) -> usize {
        let d = self.d;
        self.intercepts() + d + j * d - j * (j + 1) / 2 + (l - j - 1)
    }

    /// The nonzero columns (in increasing order) of the coalition with `members` (sorted) and
    /// `1 <= members.len() <= d − 1`.
    pub fn columns(&self, members: &[usize], out: &mut Vec<usize>) {
        out.clear();
        out.push(members.len() - 1);
        if self.degree >= 1 {
            out.extend(members.iter().map(|&j| self.intercepts() + j));
        }
        if self.degree >= 2 {
            for (a, &j) in members.iter().enumerate() {
                out.extend(members[a + 1..].iter().map(|&l| self.pair(j, l)));
            }
        }
    }
}

/// The weighted sums a least-squares fit needs: Σ ω x xᵀ (upper triangle of a row-major
/// `p × p` matrix), Σ ω x yᵀ (`p × n_outputs`), Σ ω, and the rows of positive weight per size.
#[derive(Clone)]
pub(crate) struct NormalEquations {
    p: usize,
    n_outputs: usize,
    gram: Vec<f64>,
    rhs: Vec<f64>,
    weight: f64,
    rows_of_size: Vec<usize>,
}

impl NormalEquations {
    pub fn new(layout: &Layout, n_outputs: usize) -> Self {
        let p = layout.len();
        NormalEquations {
            p,
            n_outputs,
            gram: vec![0.0; p * p],
            rhs: vec![0.0; p * n_outputs],
            weight: 0.0,
            rows_of_size: vec![0; layout.d + 1],
        }
    }

    /// Add one row of weight `omega > 0` with nonzero columns `columns` (increasing) and values `y`.
    pub fn add(&mut self, columns: &[usize], size: usize, omega: f64, y: &[f64]) {
        let p = self.p;
        for (a, &i) in columns.iter().enumerate() {
            let row = &mut self.gram[i * p..(i + 1) * p];
            for &j in &columns[a..] {
                row[j] += omega;
            }
            for (r, &v) in self.rhs[i * self.n_outputs..(i + 1) * self.n_outputs].iter_mut().zip(y) {
                *r += omega * v;
            }
        }
        self.weight += omega;
        self.rows_of_size[size] += 1;
    }

    /// The equations of the rows in `self` but not in `part` (which must be a subset of them).
    pub fn without(&self, part: &NormalEquations) -> NormalEquations {
        let minus = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>();
        NormalEquations {
            p: self.p,
            n_outputs: self.n_outputs,
            gram: minus(&self.gram, &part.gram),
            rhs: minus(&self.rhs, &part.rhs),
            weight: self.weight - part.weight,
            rows_of_size: self.rows_of_size.iter().zip(&part.rows_of_size).map(|(a, b)| a - b).collect(),
        }
    }
}

/// A fitted surrogate, output-major: `alpha[o][s]` for sizes `0..=d`, `beta[o][j]`, and
/// `gamma[o][j * d + l]` symmetric with a zero diagonal (empty below degree 2).
pub(crate) struct Surrogate {
    d: usize,
    alpha: Vec<Vec<f64>>,
    beta: Vec<Vec<f64>>,
    gamma: Vec<Vec<f64>>,
}

/// The closed-form semivalue weights of the basis functions for semivalue weights `p`.
pub(crate) struct ClosedForm {
    /// `C(d−1, s) p_s` for `s = 0..d−1`: the semivalue of `α_{|S|}` is `Σ_s a_s (α_{s+1} − α_s)`.
    intercept: Vec<f64>,
    /// `Σ_s C(d−1, s) p_s`: the semivalue of `z_j` is this for player `j`, zero for the others.
    linear: f64,
    /// `Σ_{s≥1} C(d−2, s−1) p_s`: the semivalue of `z_j z_l` is this for `j` and `l`, zero otherwise.
    pairwise: f64,
}

/// `C(n, k) · x` without overflowing the binomial (for large `d` it exceeds f64 while the product is small).
fn binomial_times(n: usize, k: usize, x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x.signum() * (ln_binomial(n, k) + x.abs().ln()).exp()
    }
}

impl ClosedForm {
    pub fn new(p: &[f64]) -> Self {
        let d = p.len();
        let intercept: Vec<f64> = (0..d).map(|s| binomial_times(d - 1, s, p[s])).collect();
        let pairwise = if d >= 2 { (1..d).map(|s| binomial_times(d - 2, s - 1, p[s])).sum() } else { 0.0 };
        ClosedForm {
            linear: intercept.iter().sum(),
            intercept,
            pairwise,
        }
    }
}

impl Surrogate {
    /// Weighted ridge least squares on `eq`: minimise Σ ω (y − xᵀθ)² + ridge · Σω · ‖θ_penalised‖²
    /// (intercepts unpenalised; `ridge` alone when no row has weight). Sizes with no training row
    /// get intercepts interpolated linearly in the size between their neighbours, anchored at
    /// `α_0 = v(∅)` and `α_d = v(all) − Σβ − Σγ`, so that the surrogate equals the game on the
    /// empty and the full coalition.
    pub fn fit(layout: &Layout, eq: &NormalEquations, null: &[f64], grand: &[f64], ridge: f64, point: usize) -> CoreResult<Self> {
        let d = layout.d;
        let n_outputs = eq.n_outputs;
        let present: Vec<usize> = (1..d).filter(|&s| eq.rows_of_size[s] > 0).collect();
        let kept: Vec<usize> = present.iter().map(|&s| s - 1).chain(layout.intercepts()..layout.len()).collect();
        let q = kept.len();
        let penalty = ridge * if eq.weight > 0.0 { eq.weight } else { 1.0 };
        let entry = |a: usize, b: usize| {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            eq.gram[lo * eq.p + hi]
        };
        // Jacobi scaling: the row weights may span many orders of magnitude between sizes.
        let scale: Vec<f64> = kept
            .iter()
            .enumerate()
            .map(|(a, &i)| {
                let diagonal = entry(i, i) + if a >= present.len() { penalty } else { 0.0 };
                1.0 / diagonal.sqrt()
            })
            .collect();
        let mut theta = Mat::<f64>::from_fn(q, n_outputs, |a, o| scale[a] * eq.rhs[kept[a] * n_outputs + o]);
        if q > 0 {
            let matrix = Mat::<f64>::from_fn(q, q, |a, b| {
                let ridge_term = if a == b && a >= present.len() { penalty } else { 0.0 };
                scale[a] * (entry(kept[a], kept[b]) + ridge_term) * scale[b]
            });
            let llt = matrix.llt(Side::Lower).map_err(|_| CoreError::Singular {
                name: "masks",
                point,
                reason: "the surrogate's normal equations are not positive definite".into(),
            })?;
            llt.solve_in_place(theta.as_mut());
        }
        let coefficient = |a: usize, o: usize| scale[a] * theta[(a, o)];
        let n_present = present.len();
        let mut surrogate = Surrogate {
            d,
            alpha: vec![vec![0.0; d + 1]; n_outputs],
            beta: vec![vec![0.0; d]; n_outputs],
            gamma: if layout.degree >= 2 { vec![vec![0.0; d * d]; n_outputs] } else { vec![] },
        };
        for o in 0..n_outputs {
            if layout.degree >= 1 {
                for j in 0..d {
                    surrogate.beta[o][j] = coefficient(n_present + j, o);
                }
            }
            let mut pair_total = 0.0;
            if layout.degree >= 2 {
                let gamma = &mut surrogate.gamma[o];
                for j in 0..d {
                    for l in j + 1..d {
                        let value = coefficient(layout.pair(j, l) - layout.intercepts() + n_present, o);
                        gamma[j * d + l] = value;
                        gamma[l * d + j] = value;
                        pair_total += value;
                    }
                }
            }
            let alpha = &mut surrogate.alpha[o];
            alpha[0] = null[o];
            alpha[d] = grand[o] - surrogate.beta[o].iter().sum::<f64>() - pair_total;
            for (a, &s) in present.iter().enumerate() {
                alpha[s] = coefficient(a, o);
            }
            interpolate_missing(alpha, &present);
        }
        Ok(surrogate)
    }

    /// f(S) for each output, for the coalition with `members` (sorted, any size 0..=d).
    pub fn values(&self, members: &[usize], out: &mut [f64]) {
        let d = self.d;
        for (o, value) in out.iter_mut().enumerate() {
            let mut f = self.alpha[o][members.len()];
            f += members.iter().map(|&j| self.beta[o][j]).sum::<f64>();
            if let Some(gamma) = self.gamma.get(o) {
                for (a, &j) in members.iter().enumerate() {
                    f += members[a + 1..].iter().map(|&l| gamma[j * d + l]).sum::<f64>();
                }
            }
            *value = f;
        }
    }

    /// The surrogate's semivalue, `out[i * n_outputs + o]`.
    pub fn semivalue(&self, closed: &ClosedForm, out: &mut [f64]) {
        let d = self.d;
        let n_outputs = self.alpha.len();
        for o in 0..n_outputs {
            let alpha = &self.alpha[o];
            let intercept: f64 = (0..d).map(|s| closed.intercept[s] * (alpha[s + 1] - alpha[s])).sum();
            for i in 0..d {
                let pairs: f64 = self.gamma.get(o).map_or(0.0, |g| g[i * d..(i + 1) * d].iter().sum());
                out[i * n_outputs + o] = intercept + closed.linear * self.beta[o][i] + closed.pairwise * pairs;
            }
        }
    }
}

/// Fill `alpha[s]` for the sizes `1..d` not in `present` (sorted) by linear interpolation between
/// the nearest known sizes, `0` and `d` always known.
fn interpolate_missing(alpha: &mut [f64], present: &[usize]) {
    let d = alpha.len() - 1;
    let known: Vec<usize> = std::iter::once(0).chain(present.iter().copied()).chain(std::iter::once(d)).collect();
    for pair in known.windows(2) {
        let (lo, hi) = (pair[0], pair[1]);
        for s in lo + 1..hi {
            let t = (s - lo) as f64 / (hi - lo) as f64;
            alpha[s] = alpha[lo] + t * (alpha[hi] - alpha[lo]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_columns_follow_lexicographic_order() {
        let layout = Layout { d: 4, degree: 2 };
        let mut cols = Vec::new();
        layout.columns(&[0, 1, 2, 3][..3], &mut cols);
        // size 3 → intercept column 2; linear 3 + j; pairs (0,1), (0,2), (1,2) → 7, 8, 10.
        assert_eq!(cols, vec![2, 3, 4, 5, 7, 8, 10]);
        assert_eq!(layout.pair(2, 3), layout.len() - 1);
    }

    #[test]
    fn interpolation_is_linear_between_known_sizes() {
        let mut alpha = vec![1.0, 0.0, 0.0, 7.0, 0.0, 3.0];
        interpolate_missing(&mut alpha, &[3]);
        assert_eq!(alpha, vec![1.0, 3.0, 5.0, 7.0, 5.0, 3.0]);
    }
}
