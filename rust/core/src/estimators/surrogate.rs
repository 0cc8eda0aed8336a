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

    /// The nonzero features of the coalition with `members` (sorted, size 1..d−1), in increasing
    /// column order, given the size function `sizes`; also returns the row's shift of the target
    /// (`(1 − t)` times v(∅), `t` times v(all)) and `τ`, the multiple of −1 on every penalised
    /// column (from the anchor α_d = v(all) − Σβ − Σγ).
    pub fn features(&self, members: &[usize], sizes: &SizeFunction, out: &mut Vec<(usize, f64)>) -> RowShift {
        out.clear();
        let s = members.len();
        let mut shift = RowShift { null: 0.0, grand: 0.0 };
        if sizes.is_knot[s] {
            out.push((s - 1, 1.0));
        } else {
            let (lo, hi) = sizes.neighbours(s);
            let t = (s - lo) as f64 / (hi - lo) as f64;
            if lo == 0 {
                shift.null = 1.0 - t;
            } else {
                out.push((lo - 1, 1.0 - t));
            }
            if hi == self.d {
                shift.grand = t;
            } else {
                out.push((hi - 1, t));
            }
        }
        if self.degree >= 1 {
            out.extend(members.iter().map(|&j| (self.intercepts() + j, 1.0)));
        }
        if self.degree >= 2 {
            for (a, &j) in members.iter().enumerate() {
                out.extend(members[a + 1..].iter().map(|&l| (self.pair(j, l), 1.0)));
            }
        }
        shift
    }

    /// Whether column `i` is penalised (not an intercept).
    #[inline]
    fn penalised(&self, i: usize) -> bool {
        i >= self.intercepts()
    }
}

/// How a row's intercept is tied to the anchors: the target loses `null · v(∅) + grand · v(all)`,
/// and `grand` is also the τ of [`Layout::features`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowShift {
    pub null: f64,
    pub grand: f64,
}

/// The surrogate's size function α: free at the knots (sizes in 1..d−1), linear in the size between
/// neighbouring knots, with the anchors α_0 = v(∅) and α_d = v(all) − Σβ − Σγ.
#[derive(Clone, Debug)]
pub(crate) struct SizeFunction {
    is_knot: Vec<bool>,
}

impl SizeFunction {
    /// Knots at the sizes flagged in `knots` (length d + 1; flags at 0 and d are ignored).
    pub fn new(mut knots: Vec<bool>) -> Self {
        let d = knots.len() - 1;
        knots[0] = false;
        knots[d] = false;
        SizeFunction { is_knot: knots }
    }

    /// The knots, in increasing order.
    pub fn knots(&self) -> Vec<usize> {
        (0..self.is_knot.len()).filter(|&s| self.is_knot[s]).collect()
    }

    /// The nearest knots or anchors below and above a size that is not a knot.
    fn neighbours(&self, s: usize) -> (usize, usize) {
        let d = self.is_knot.len() - 1;
        let lo = (1..s).rev().find(|&k| self.is_knot[k]).unwrap_or(0);
        let hi = (s + 1..d).find(|&k| self.is_knot[k]).unwrap_or(d);
        (lo, hi)
    }
}

/// The weighted sums a least-squares fit needs, for rows x = e − τ·1_pen with sparse e: Σ ω e eᵀ
/// (upper triangle of a row-major `p × p` matrix), Σ ω τ e, Σ ω τ², Σ ω e yᵀ, Σ ω τ y, and Σ ω.
#[derive(Clone)]
pub(crate) struct NormalEquations {
    p: usize,
    n_outputs: usize,
    gram: Vec<f64>,
    tau_e: Vec<f64>,
    tau_tau: f64,
    rhs: Vec<f64>,
    tau_y: Vec<f64>,
    weight: f64,
}

impl NormalEquations {
    /// Empty sums; the Gram matrix too when `with_gram` (a fold's equations keep theirs elsewhere).
    pub fn new(layout: &Layout, n_outputs: usize, with_gram: bool) -> Self {
        let p = layout.len();
        NormalEquations {
            p,
            n_outputs,
            gram: if with_gram { vec![0.0; p * p] } else { Vec::new() },
            tau_e: vec![0.0; p],
            tau_tau: 0.0,
            rhs: vec![0.0; p * n_outputs],
            tau_y: vec![0.0; n_outputs],
            weight: 0.0,
        }
    }

    /// Add one row of weight `omega > 0` to every sum but the Gram matrix (see
    /// [`NormalEquations::set_gram`]): sparse features `entries` (increasing columns), dense part
    /// `−tau` on every penalised column, target `y`.
    pub fn add_moments(&mut self, entries: &[(usize, f64)], tau: f64, omega: f64, y: &[f64]) {
        for &(i, xi) in entries {
            for (r, &v) in self.rhs[i * self.n_outputs..(i + 1) * self.n_outputs].iter_mut().zip(y) {
                *r += omega * xi * v;
            }
            if tau != 0.0 {
                self.tau_e[i] += omega * tau * xi;
            }
        }
        if tau != 0.0 {
            self.tau_tau += omega * tau * tau;
            for (t, &v) in self.tau_y.iter_mut().zip(y) {
                *t += omega * tau * v;
            }
        }
        self.weight += omega;
    }

    /// Σ ω e eᵀ of the rows added (row-major `p × p`, upper triangle read), e.g. from
    /// [`super::gram::FeatureRows::gram`].
    pub fn set_gram(&mut self, gram: Vec<f64>) {
        assert_eq!(gram.len(), self.p * self.p, "a p × p Gram matrix");
        self.gram = gram;
    }

    /// The equations of the rows in `self` but not in `part` (which must be a subset of them),
    /// whose Gram matrix is `part_gram`.
    pub fn without(&self, part: &NormalEquations, part_gram: &[f64]) -> NormalEquations {
        assert!(self.gram.len() == part_gram.len(), "both Gram matrices are p × p");
        let minus = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>();
        NormalEquations {
            p: self.p,
            n_outputs: self.n_outputs,
            gram: minus(&self.gram, part_gram),
            tau_e: minus(&self.tau_e, &part.tau_e),
            tau_tau: self.tau_tau - part.tau_tau,
            rhs: minus(&self.rhs, &part.rhs),
            tau_y: minus(&self.tau_y, &part.tau_y),
            weight: self.weight - part.weight,
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
    /// (intercepts unpenalised; `ridge` alone when no row has weight), with the size function
    /// `sizes` (whose knots must all have training rows).
    pub fn fit(
        layout: &Layout,
        eq: &NormalEquations,
        sizes: &SizeFunction,
        null: &[f64],
        grand: &[f64],
        ridge: f64,
        point: usize,
    ) -> CoreResult<Self> {
        let d = layout.d;
        let n_outputs = eq.n_outputs;
        let knots = sizes.knots();
        let kept: Vec<usize> = knots.iter().map(|&s| s - 1).chain(layout.intercepts()..layout.len()).collect();
        let q = kept.len();
        let penalty = ridge * if eq.weight > 0.0 { eq.weight } else { 1.0 };
        let pen = |i: usize| if layout.penalised(i) { 1.0 } else { 0.0 };
        // Σ ω x xᵀ with x = e − τ·1_pen.
        let entry = |a: usize, b: usize| {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            eq.gram[lo * eq.p + hi] - pen(a) * eq.tau_e[b] - pen(b) * eq.tau_e[a] + pen(a) * pen(b) * eq.tau_tau
        };
        let n_knots = knots.len();
        // Jacobi scaling: the equations of different sizes may differ by orders of magnitude.
        let scale: Vec<f64> = kept
            .iter()
            .enumerate()
            .map(|(a, &i)| 1.0 / (entry(i, i) + if a >= n_knots { penalty } else { 0.0 }).sqrt())
            .collect();
        let mut theta = Mat::<f64>::from_fn(q, n_outputs, |a, o| {
            scale[a] * (eq.rhs[kept[a] * n_outputs + o] - pen(kept[a]) * eq.tau_y[o])
        });
        if q > 0 {
            let matrix = Mat::<f64>::from_fn(q, q, |a, b| {
                let ridge_term = if a == b && a >= n_knots { penalty } else { 0.0 };
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
        let mut surrogate = Surrogate {
            d,
            alpha: vec![vec![0.0; d + 1]; n_outputs],
            beta: vec![vec![0.0; d]; n_outputs],
            gamma: if layout.degree >= 2 { vec![vec![0.0; d * d]; n_outputs] } else { vec![] },
        };
        for o in 0..n_outputs {
            if layout.degree >= 1 {
                for j in 0..d {
                    surrogate.beta[o][j] = coefficient(n_knots + j, o);
                }
            }
            let mut pair_total = 0.0;
            if layout.degree >= 2 {
                let gamma = &mut surrogate.gamma[o];
                for j in 0..d {
                    for l in j + 1..d {
                        let value = coefficient(layout.pair(j, l) - layout.intercepts() + n_knots, o);
                        gamma[j * d + l] = value;
                        gamma[l * d + j] = value;
                        pair_total += value;
                    }
                }
            }
            let alpha = &mut surrogate.alpha[o];
            alpha[0] = null[o];
            alpha[d] = grand[o] - surrogate.beta[o].iter().sum::<f64>() - pair_total;
            for (a, &s) in knots.iter().enumerate() {
                alpha[s] = coefficient(a, o);
            }
            interpolate_missing(alpha, &knots);
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
        let mut entries = Vec::new();
        let every_size = SizeFunction::new(vec![true; 5]);
        layout.features(&[0, 1, 2], &every_size, &mut entries);
        // size 3 → intercept column 2; linear 3 + j; pairs (0,1), (0,2), (1,2) → 7, 8, 10.
        let columns: Vec<usize> = entries.iter().map(|e| e.0).collect();
        assert_eq!(columns, vec![2, 3, 4, 5, 7, 8, 10]);
        assert_eq!(layout.pair(2, 3), layout.len() - 1);
    }

    #[test]
    fn sizes_between_knots_are_interpolated() {
        let layout = Layout { d: 6, degree: 0 };
        let mut entries = Vec::new();
        let sizes = SizeFunction::new(vec![false, false, true, false, false, false, false]);
        // Size 1 lies between the anchor 0 and the knot 2; size 4 between the knot 2 and the anchor 6.
        let shift = layout.features(&[0], &sizes, &mut entries);
        assert_eq!((entries.clone(), shift.null, shift.grand), (vec![(1, 0.5)], 0.5, 0.0));
        let shift = layout.features(&[0, 1, 2, 3], &sizes, &mut entries);
        assert_eq!((entries, shift.null, shift.grand), (vec![(1, 0.5)], 0.0, 0.5));
    }

    #[test]
    fn interpolation_is_linear_between_known_sizes() {
        let mut alpha = vec![1.0, 0.0, 0.0, 7.0, 0.0, 3.0];
        interpolate_missing(&mut alpha, &[3]);
        assert_eq!(alpha, vec![1.0, 3.0, 5.0, 7.0, 5.0, 3.0]);
    }
}
