//! The variance of a sum over sampled units, i.i.d. or stratified by size without replacement,
//! and the degrees of freedom of that variance estimate (Welch–Satterthwaite).
//!
//! A stratified estimate adds the strata's own variance estimates, each on `m − 1` degrees of
//! freedom. Their sum has `Σ (m − 1)` of them only when every stratum weighs the same; when one
//! stratum dominates a cell's variance, the cell's estimate is about as uncertain as that stratum's
//! alone. Satterthwaite's `(Σ v)² / Σ v² / (m − 1)` says so, and Student's t on it covers: on
//! games with strong interactions, unbiased KernelSHAP at 34 evaluations (12 summed degrees of
//! freedom, 5–6 Satterthwaite's) covered 91–93 % at 95 % with the sum, 93–95 % with Satterthwaite's.
//!
//! A stratum of one unit has no variance of its own. Strata of one unit are *collapsed* in pairs
//! of neighbouring sizes (the last three together when their number is odd; Cochran 1977, §5A.12):
//! the spread of neighbouring units estimates their variance, conservatively (it includes the
//! difference of their strata's means). Borrowing the within-stratum variance of the other strata
//! instead trusted strata whose units weigh far less: at 64 players and 15 pairs, where most sizes
//! hold one unit, unbiased KernelSHAP's 95 % intervals covered 13 %. A lone stratum of one unit
//! still borrows the others' pooled variance.

/// Accumulates the strata of one point, cell by cell (a cell: a player and output).
pub(crate) struct StrataVariance {
    variance: Vec<f64>,
    pooled: Vec<f64>,
    /// Σ over strata of v² / (m − 1), Satterthwaite's denominator.
    spread: Vec<f64>,
    pooled_dof: usize,
    /// The units of the strata of one unit, in the order of their strata (by size).
    singles: Vec<Vec<f64>>,
}

impl StrataVariance {
    pub(crate) fn new(cells: usize) -> Self {
        StrataVariance {
            variance: vec![0.0; cells],
            pooled: vec![0.0; cells],
            spread: vec![0.0; cells],
            pooled_dof: 0,
            singles: Vec::new(),
        }
    }

    /// A stratum of `m ≥ 2` units whose sums of squared deviations from their mean are `squares`
    /// (per cell); `fpc` is its finite-population correction (1 for i.i.d. units):
    /// `Var(Σ_{u ∈ stratum} h_u) = m (1 − m/N) s²`.
    pub(crate) fn add_stratum(&mut self, m: usize, fpc: f64, squares: &[f64]) {
        debug_assert!(m >= 2 && squares.len() == self.variance.len());
        let (factor, dof) = (m as f64 * fpc.max(0.0) / (m - 1) as f64, (m - 1) as f64);
        for (((v, p), q), &s) in self.variance.iter_mut().zip(&mut self.pooled).zip(&mut self.spread).zip(squares) {
            let part = factor * s;
            *v += part;
            *p += s;
            *q += part * part / dof;
        }
        self.pooled_dof += m - 1;
    }

    /// A stratum of one unit, `h` its unit's values (per cell); strata must come in order of size.
    pub(crate) fn add_single(&mut self, h: Vec<f64>) {
        debug_assert_eq!(h.len(), self.variance.len());
        self.singles.push(h);
    }

    /// The variance of Σ_u h_u and its degrees of freedom, per cell. A lone stratum of one unit
    /// with no within-stratum variance to borrow makes the variance infinite (0 degrees of
    /// freedom); a cell of zero variance keeps the strata's summed degrees of freedom.
    pub(crate) fn finish(mut self) -> (Vec<f64>, Vec<f64>) {
        let cells = self.variance.len();
        let singles = std::mem::take(&mut self.singles);
        match singles.len() {
            0 => {}
            1 => {
                if self.pooled_dof == 0 {
                    return (vec![f64::INFINITY; cells], vec![0.0; cells]);
                }
                let dof = self.pooled_dof as f64;
                for ((v, q), p) in self.variance.iter_mut().zip(&mut self.spread).zip(&self.pooled) {
                    let part = p / dof;
                    *v += part;
                    *q += part * part / dof;
                }
            }
            n => {
                // Pairs of neighbours; the last group takes three when n is odd.
                let mut start = 0;
                while start < n {
                    let end = if n - start == 3 { n } else { start + 2 };
                    self.add_collapsed(&singles[start..end]);
                    start = end;
                }
            }
        }
        let summed = self.pooled_dof as f64;
        let dof = self
            .variance
            .iter()
            .zip(&self.spread)
            .map(|(&v, &q)| if q > 0.0 && v.is_finite() { (v * v / q).min(summed) } else { summed })
            .collect();
        (self.variance, dof)
    }

    /// Collapsed strata of one unit each: one stratum of `units.len()` units, i.i.d. (no
    /// finite-population correction: each unit stands for a stratum of its own).
    fn add_collapsed(&mut self, units: &[Vec<f64>]) {
        let m = units.len();
        let squares: Vec<f64> = (0..self.variance.len())
            .map(|c| {
                let mean = units.iter().map(|h| h[c]).sum::<f64>() / m as f64;
                units.iter().map(|h| (h[c] - mean) * (h[c] - mean)).sum()
            })
            .collect();
        self.add_stratum(m, 1.0, &squares);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_stratum_has_its_units_less_one_and_equal_strata_add_up() {
        let mut one = StrataVariance::new(2);
        one.add_stratum(5, 1.0, &[4.0, 0.0]);
        let (variance, dof) = one.finish();
        assert_eq!(variance, vec![5.0, 0.0]);
        assert_eq!(dof, vec![4.0, 4.0]);

        let mut equal = StrataVariance::new(1);
        equal.add_stratum(3, 1.0, &[2.0]);
        equal.add_stratum(3, 1.0, &[2.0]);
        assert!((equal.finish().1[0] - 4.0).abs() < 1e-12);
    }

    #[test]
    fn a_dominant_stratum_leaves_about_its_own_degrees_of_freedom() {
        let mut strata = StrataVariance::new(1);
        strata.add_stratum(3, 1.0, &[1000.0]);
        strata.add_stratum(9, 1.0, &[1e-3]);
        let dof = strata.finish().1[0];
        assert!((2.0..2.01).contains(&dof), "{dof}");
    }

    #[test]
    fn singles_borrow_the_pooled_variance_or_make_it_infinite() {
        let mut strata = StrataVariance::new(1);
        strata.add_stratum(3, 1.0, &[2.0]);
        strata.add_single(vec![7.0]);
        let (variance, dof) = strata.finish();
        assert!((variance[0] - 4.0).abs() < 1e-12); // 3·2/2 + 1·2/2
        assert!((dof[0] - 2.0).abs() < 1e-12);
        let mut alone = StrataVariance::new(1);
        alone.add_single(vec![7.0]);
        assert_eq!(alone.finish(), (vec![f64::INFINITY], vec![0.0]));
    }

    #[test]
    fn strata_of_one_unit_are_collapsed_in_neighbouring_pairs_and_a_last_triple() {
        let mut two = StrataVariance::new(1);
        two.add_single(vec![1.0]);
        two.add_single(vec![3.0]);
        assert_eq!(two.finish(), (vec![4.0], vec![1.0])); // 2/1 · (1 + 1)
        let mut five = StrataVariance::new(1);
        for h in [1.0, 3.0, 0.0, 3.0, 6.0] {
            five.add_single(vec![h]);
        }
        // (1, 3): 2 · 2 = 4 on 1 dof; (0, 3, 6): 3/2 · 18 = 27 on 2 dof.
        let (variance, dof) = five.finish();
        assert!((variance[0] - 31.0).abs() < 1e-12);
        assert!((dof[0] - 31.0 * 31.0 / (16.0 + 27.0 * 27.0 / 2.0)).abs() < 1e-12);
    }
}
