//! The constrained weighted least-squares fit of PolySHAP and OddSHAP for one point: the design of
//! the chosen terms, equilibrated normal equations factored by faer's Cholesky (terms the samples
//! cannot tell apart from earlier ones are dropped first), the solution, its Shapley values and
//! the per-equation influence terms of the sandwich standard errors.

use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, Par, Side};

use crate::error::{CoreError, CoreResult};
use crate::limits::checked_total;

/// A term is dropped when its weighted column keeps less than this fraction of its squared norm
/// after projection on the terms kept before it (the Cholesky pivot of the equilibrated system).
pub(super) const REJECTION_TOLERANCE: f64 = 1e-8;

/// One point's regression equations. PolySHAP: one per sample, features Π_{j∈T} z_j; OddSHAP: one
/// per complementary pair, features Π_{j∈T} (2 z_j − 1).
pub(super) struct Equations {
    pub n_players: usize,
    pub n_outputs: usize,
    /// `(n, d)` row-major: z_j (PolySHAP) or 2 z_j − 1 (OddSHAP) of each equation's coalition.
    pub signs: Vec<f64>,
    /// √ω per equation, ω = counting weight × Shapley kernel.
    pub sqrt_omega: Vec<f64>,
    /// Responses `(n, o)` row-major: v(S) − v(∅), or the odd part (v(S) − v(N∖S))/2.
    pub y: Vec<f64>,
    /// Σ_T β_T per output: the fit at N (every basis function is 1 there).
    pub delta: Vec<f64>,
    /// The Shapley value of a basis function of order |T| on each member is `share / |T|`.
    pub share: f64,
}

impl Equations {
    pub fn len(&self) -> usize {
        self.sqrt_omega.len()
    }

    /// The basis function of `term` at equation `r`.
    #[inline]
    pub fn feature(&self, r: usize, term: &[usize]) -> f64 {
        let row = &self.signs[r * self.n_players..(r + 1) * self.n_players];
        term.iter().map(|&j| row[j]).product()
    }
}

/// The fit of one point.
pub(super) struct Fit {
    /// Shapley values `(o, d)` output-major.
    pub phi: Vec<f64>,
    /// √ω (y − x β) `(n, o)`.
    pub residuals: Mat<f64>,
    /// `(n, d)`: row r is K W_r with K = M C (Shapley values of the coefficients, times the
    /// constrained inverse) and W_r = √ω_r x_r, so that unit u's influence is Σ_{r∈u} e_r K W_r.
    pub influence: Mat<f64>,
    /// Indices of the terms used (into the `terms` given).
    pub kept: Vec<usize>,
}

/// Refuse fits of `n_terms` terms whose arrays (the `(n, n_terms)` design and the
/// `(n_terms, n_terms)` normal equations) exceed the memory limit; `name` is the argument asking.
pub(super) fn check_fit_memory(eq: &Equations, n_terms: usize, name: &'static str) -> CoreResult<()> {
    checked_total(&[(&[eq.len(), n_terms], 8), (&[n_terms, n_terms], 8)], name).map(|_| ())
}

/// Fit `eq` on `terms`; the first `required` terms (the singletons) must all be kept.
pub(super) fn fit(eq: &Equations, terms: &[Vec<usize>], required: usize, point: usize) -> CoreResult<Fit> {
    let n = eq.len();
    let (d, o) = (eq.n_players, eq.n_outputs);
    // Columns √ω x_T scaled to unit norm (the normal equations then have a unit diagonal).
    let mut w = Mat::<f64>::zeros(n, terms.len());
    let mut norms = vec![0.0; terms.len()];
    for (t, term) in terms.iter().enumerate() {
        let mut col = w.col_mut(t);
        for r in 0..n {
            col[r] = eq.sqrt_omega[r] * eq.feature(r, term);
        }
        norms[t] = col.norm_l2();
        if norms[t] > 0.0 {
            col.iter_mut().for_each(|x| *x /= norms[t]);
        }
    }
    let present: Vec<usize> = (0..terms.len()).filter(|&t| norms[t] > 0.0).collect();
    let mut kept = present.clone();
    let mut a = gram(&select_columns(&w, &kept));
    let mut llt = a.llt(Side::Lower).ok().filter(|f| smallest_pivot(f.L()) > REJECTION_TOLERANCE);
    if llt.is_none() {
        let accepted = accepted_columns(&a);
        kept = accepted.iter().map(|&k| present[k]).collect();
        a = Mat::from_fn(accepted.len(), accepted.len(), |i, j| a[(accepted[i], accepted[j])]);
        llt = a.llt(Side::Lower).ok();
    }
    if kept.len() < required || kept[..required].iter().enumerate().any(|(i, &k)| i != k) {
        return Err(singular(point, "the samples do not separate the players"));
    }
    let Some(llt) = llt else {
        return Err(singular(point, "the normal equations are not positive definite"));
    };
    let w = select_columns(&w, &kept);
    let p = kept.len();

    // Constraint Σ β_T = Δ becomes c̃ᵀβ̃ = Δ with β_T = β̃_T / norm_T; φ = M β = (M D) β̃.
    let constraint: Vec<f64> = kept.iter().map(|&t| 1.0 / norms[t]).collect();
    let shapley_t = Mat::<f64>::from_fn(p, d, |t, i| {
        let term = &terms[kept[t]];
        if term.contains(&i) {
            eq.share / term.len() as f64 * constraint[t]
        } else {
            0.0
        }
    });
    let y = Mat::<f64>::from_fn(n, o, |r, k| eq.sqrt_omega[r] * eq.y[r * o + k]);
    // One solve for [b̃ | c̃ | (M D)ᵀ].
    let mut rhs = Mat::<f64>::zeros(p, o + 1 + d);
    matmul(rhs.as_mut().subcols_mut(0, o), Accum::Replace, w.transpose(), y.as_ref(), 1.0, Par::Seq);
    for t in 0..p {
        rhs[(t, o)] = constraint[t];
        for i in 0..d {
            rhs[(t, o + 1 + i)] = shapley_t[(t, i)];
        }
    }
    llt.solve_in_place(rhs.as_mut());
    let u = rhs.col(o);
    let s: f64 = (0..p).map(|t| constraint[t] * u[t]).sum();
    if !(s.is_finite() && s > 0.0) {
        return Err(singular(point, "the constraint at the full coalition is degenerate"));
    }
    let mut beta = Mat::<f64>::zeros(p, o);
    for k in 0..o {
        let excess: f64 = (0..p).map(|t| constraint[t] * rhs[(t, k)]).sum::<f64>() - eq.delta[k];
        for t in 0..p {
            beta[(t, k)] = rhs[(t, k)] - u[t] * excess / s;
        }
    }
    let mut phi = vec![0.0; o * d];
    for k in 0..o {
        for i in 0..d {
            phi[k * d + i] = (0..p).map(|t| shapley_t[(t, i)] * beta[(t, k)]).sum();
        }
    }
    let mut residuals = y;
    matmul(residuals.as_mut(), Accum::Add, w.as_ref(), beta.as_ref(), -1.0, Par::Seq);
    // Kᵀ = C̃ (M D)ᵀ = Ã⁻¹(M D)ᵀ − u (M D u)ᵀ / s.
    let shapley_u: Vec<f64> = (0..d).map(|i| (0..p).map(|t| shapley_t[(t, i)] * u[t]).sum()).collect();
    let k_t = Mat::<f64>::from_fn(p, d, |t, i| rhs[(t, o + 1 + i)] - u[t] * shapley_u[i] / s);
    let mut influence = Mat::<f64>::zeros(n, d);
    matmul(influence.as_mut(), Accum::Replace, w.as_ref(), k_t.as_ref(), 1.0, Par::Seq);
    Ok(Fit {
        phi,
        residuals,
        influence,
        kept,
    })
}

fn singular(point: usize, reason: &str) -> CoreError {
    CoreError::Singular {
        name: "masks",
        point,
        reason: reason.into(),
    }
}

fn select_columns(w: &Mat<f64>, columns: &[usize]) -> Mat<f64> {
    Mat::from_fn(w.nrows(), columns.len(), |r, c| w[(r, columns[c])])
}

/// WᵀW.
fn gram(w: &Mat<f64>) -> Mat<f64> {
    let mut a = Mat::<f64>::zeros(w.ncols(), w.ncols());
    matmul(a.as_mut(), Accum::Replace, w.transpose(), w.as_ref(), 1.0, Par::Seq);
    a
}

fn smallest_pivot(l: faer::MatRef<'_, f64>) -> f64 {
    (0..l.nrows()).map(|i| l[(i, i)] * l[(i, i)]).fold(f64::INFINITY, f64::min)
}

/// The columns a Cholesky factorisation in column order keeps when it skips every column whose
/// pivot is at most `REJECTION_TOLERANCE` (of its unit diagonal): greedy, earlier columns first.
fn accepted_columns(a: &Mat<f64>) -> Vec<usize> {
    let mut kept: Vec<usize> = Vec::new();
    // Rows of L for the kept columns, each as long as its position (plus the diagonal).
    let mut l: Vec<Vec<f64>> = Vec::new();
    for k in 0..a.nrows() {
        let mut row = Vec::with_capacity(kept.len() + 1);
        for (pos, &j) in kept.iter().enumerate() {
            let partial: f64 = row.iter().zip(&l[pos]).map(|(x, y)| x * y).sum();
            row.push((a[(k, j)] - partial) / l[pos][pos]);
        }
        let pivot = a[(k, k)] - row.iter().map(|x| x * x).sum::<f64>();
        if pivot > REJECTION_TOLERANCE * a[(k, k)] {
            row.push(pivot.sqrt());
            l.push(row);
            kept.push(k);
        }
    }
    kept
}
