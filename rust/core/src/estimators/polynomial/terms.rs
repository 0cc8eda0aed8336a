//! Which interaction terms a point's regression uses: given ones (checked), or the budget-adaptive
//! choice — every term of the requested orders when the budget allows it, else the candidates
//! ranked by a batched forward selection (`SCREENING_ROUNDS` rounds when the model keeps a large
//! share of the candidates, else one; each adding the candidates that
//! best explain the residuals of a fit on the terms chosen before it, the first on the singletons
//! alone, KernelSHAP), of which the caller keeps the prefix with the smallest generalised
//! cross-validation error.

use std::collections::HashSet;

use faer::Mat;

use super::fit::{check_fit_memory, fit, Equations};
use crate::error::{CoreError, CoreResult};

/// Distinct equations per regression term below which the full model of the requested orders is
/// not used (automatic choice).
pub(super) const FULL_MODEL_EQUATIONS_PER_TERM: f64 = 1.5;
/// Distinct equations per regression term of the largest screened model (automatic choice).
pub(super) const EQUATIONS_PER_TERM: usize = 2;
/// The screened models compared by generalised cross-validation: these fractions of the largest.
pub(super) const SCREENED_FRACTIONS: [f64; 6] = [0.0, 0.125, 0.25, 0.5, 0.75, 1.0];
/// Most candidate terms screened per point; beyond it, only terms of the players with the largest
/// pilot attributions are candidates.
pub(super) const MAX_CANDIDATES: usize = 4096;
/// An output whose pilot residuals keep less than this fraction of Σ ω y² counts as fitted exactly.
pub(super) const EXACT_FIT: f64 = 1e-20;
/// Rounds of screening when the screened model keeps at least `ROUNDS_FROM_SHARE` of the
/// candidates: each refits on the terms chosen before it and adds its share of them. (With a
/// smaller share one ranking on the pilot was as accurate, and the refit's adaptivity only shrank
/// the residuals the standard errors rest on.)
pub(super) const SCREENING_ROUNDS: usize = 2;
/// Share of the candidates the screened model must keep for screening in rounds.
pub(super) const ROUNDS_FROM_SHARE: f64 = 0.5;
/// Scores are compared on this many parts of the best one (rounding noise must not break ties).
const SCORE_DIGITS: f64 = 1e9;

/// The orders of the candidate terms: 2..=order (at most d − 1, since Π_{j∈N} z_j vanishes on every
/// sampled coalition) for monomials, 3, 5, ..=order (at most d) for odd characters.
fn orders(order: usize, n_players: usize, odd: bool) -> Vec<usize> {
    if odd {
        // No term has more than d players (an order of usize::MAX would collect 2**63 orders).
        (3..=order.min(n_players)).step_by(2).collect()
    } else {
        (2..=order.min(n_players.saturating_sub(1))).collect()
    }
}

fn binomial(n: usize, k: usize) -> usize {
    if k > n {
        return 0;
    }
    let mut c: usize = 1;
    for i in 0..k.min(n - k) {
        c = c.saturating_mul(n - i) / (i + 1);
    }
    c
}

/// Number of candidate terms over `n` players (saturating).
fn candidate_count(n: usize, order: usize, n_players: usize, odd: bool) -> usize {
    orders(order, n_players, odd).into_iter().fold(0usize, |acc, k| acc.saturating_add(binomial(n, k)))
}

/// All candidate terms over the (sorted) `players`: by order, then lexicographically.
fn candidates(players: &[usize], order: usize, n_players: usize, odd: bool) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for k in orders(order, n_players, odd) {
        if k > players.len() {
            break;
        }
        let mut idx: Vec<usize> = (0..k).collect();
        loop {
            out.push(idx.iter().map(|&i| players[i]).collect());
            // Next combination: bump the last index that can still move right.
            let Some(pos) = (0..k).rev().find(|&i| idx[i] < players.len() - k + i) else {
                break;
            };
            idx[pos] += 1;
            for i in pos + 1..k {
                idx[i] = idx[i - 1] + 1;
            }
        }
    }
    out
}

/// Check user-given interaction terms: distinct players in range, sizes 2..=d−1 (monomials) or odd
/// and ≥ 3 (characters), no set twice. Returns them sorted within each term, in the given order.
pub(super) fn check_interactions(raw: &[Vec<usize>], n_players: usize, odd: bool) -> CoreResult<Vec<Vec<usize>>> {
    let mut seen = HashSet::new();
    let mut terms = Vec::with_capacity(raw.len());
    for (position, players) in raw.iter().enumerate() {
        let mut term = players.clone();
        term.sort_unstable();
        term.dedup();
        if term.len() != players.len() || term.last().is_some_and(|&j| j >= n_players) {
            return Err(CoreError::invalid(
                "interactions",
                format!("entry {position} must hold distinct players in 0..{}, got {players:?}", n_players - 1),
            ));
        }
        if odd && (term.len() < 3 || term.len() % 2 == 0) {
            return Err(CoreError::invalid(
                "interactions",
                format!("entry {position} must have an odd size >= 3, got {}", term.len()),
            ));
        }
        if !odd && !(2..n_players).contains(&term.len()) {
            return Err(CoreError::invalid(
                "interactions",
                format!("entry {position} must have 2..{} players, got {}", n_players - 1, term.len()),
            ));
        }
        if !seen.insert(term.clone()) {
            return Err(CoreError::invalid("interactions", format!("entry {position} repeats the set {term:?}")));
        }
        terms.push(term);
    }
    Ok(terms)
}

/// The interaction terms a point may use, most important first, and the numbers of them (prefixes)
/// to compare.
pub(super) struct Selection {
    pub terms: Vec<Vec<usize>>,
    pub prefixes: Vec<usize>,
}

/// The interaction terms of one point (see `stochamort.reference.polynomial.select_interactions`,
/// which makes the same choice): with `max_terms`, that many (all candidates, or the best screened
/// ones); automatically, all candidates when there are at least `FULL_MODEL_EQUATIONS_PER_TERM`
/// distinct equations per term of the full model, else the screened ranking of
/// n_distinct / `EQUATIONS_PER_TERM` − d terms with the prefixes `SCREENED_FRACTIONS` of it.
pub(super) fn select_interactions(
    eq: &Equations,
    order: usize,
    max_terms: Option<usize>,
    n_distinct: usize,
    point: usize,
) -> CoreResult<Selection> {
    let d = eq.n_players;
    let odd = eq.share == 2.0;
    let total = candidate_count(d, order, d, odd);
    let all: Vec<usize> = (0..d).collect();
    let full_fits = (d.saturating_add(total) as f64) * FULL_MODEL_EQUATIONS_PER_TERM <= n_distinct as f64;
    let wanted = match max_terms {
        Some(m) => total.min(m),
        None if full_fits => total,
        None => total.min((n_distinct / EQUATIONS_PER_TERM).saturating_sub(d)),
    };
    // The candidates of every order explode with d (C(d, k) each): refuse models whose fit (and list
    // of terms) would exceed the memory limit rather than build them.
    check_fit_memory(eq, d.saturating_add(wanted), "max_terms")?;
    if wanted == total || wanted == 0 {
        let terms = if wanted == 0 { Vec::new() } else { candidates(&all, order, d, odd) };
        return Ok(Selection { terms, prefixes: vec![wanted] });
    }
    let prefixes = match max_terms {
        Some(_) => vec![wanted],
        None => {
            let mut p: Vec<usize> = SCREENED_FRACTIONS.iter().map(|f| (f * wanted as f64 + 0.5).floor() as usize).collect();
            p.dedup();
            p
        }
    };
    let singletons: Vec<Vec<usize>> = (0..d).map(|i| vec![i]).collect();
    let pilot = fit(eq, &singletons, d, point).map_err(|err| match err {
        CoreError::Singular { name, point, .. } => CoreError::Singular {
            name,
            point,
            reason: "the pilot fit on the players alone is singular".into(),
        },
        other => other,
    })?;
    let mut players = all;
    if total > MAX_CANDIDATES {
        let mut importance = vec![0.0; d];
        for phi_o in pilot.phi.chunks_exact(d) {
            let scale: f64 = phi_o.iter().map(|x| x.abs()).sum();
            if scale > 0.0 {
                importance.iter_mut().zip(phi_o).for_each(|(s, x)| *s += x.abs() / scale);
            }
        }
        players.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));
        let t = (0..=d).rev().find(|&t| candidate_count(t, order, d, odd) <= MAX_CANDIDATES).unwrap_or(0);
        players.truncate(t);
        players.sort_unstable();
    }
    let candidates = candidates(&players, order, d, odd);
    // Screening in rounds: each round refits on the singletons and the terms chosen so far and adds
    // the candidates that best explain what is left. One round ranks every term on the pilot's
    // residuals alone, where correlated characters all look alike; later rounds see past the terms
    // already taken (a batched forward selection).
    let mut taken = vec![false; candidates.len()];
    let mut chosen: Vec<usize> = Vec::with_capacity(wanted);
    let mut residuals = pilot.residuals;
    let rounds = if wanted as f64 >= ROUNDS_FROM_SHARE * candidates.len() as f64 { SCREENING_ROUNDS } else { 1 };
    for round in 0..rounds {
        let goal = wanted * (round + 1) / rounds;
        if goal == chosen.len() {
            continue;
        }
        if !chosen.is_empty() {
            let terms: Vec<Vec<usize>> = singletons.iter().chain(chosen.iter().map(|&c| &candidates[c])).cloned().collect();
            residuals = fit(eq, &terms, d, point)?.residuals;
        }
        let keys = rank_keys(&scores(eq, &candidates, &residuals));
        let mut ranked: Vec<usize> = (0..candidates.len()).filter(|&c| !taken[c]).collect();
        ranked.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]).then(a.cmp(&b)));
        for c in ranked.into_iter().take(goal - chosen.len()) {
            taken[c] = true;
            chosen.push(c);
        }
    }
    let terms = chosen.into_iter().map(|c| candidates[c].clone()).collect();
    Ok(Selection { terms, prefixes })
}

/// Each candidate's share of the residual energy it explains, Σ_o ⟨√ω x_T, e_o⟩² / (‖√ω x_T‖² ‖e_o‖²),
/// with `residuals` e = √ω (y − x β); outputs fitted exactly (to `EXACT_FIT`) count 0, a column that
/// vanishes on the samples scores −∞.
fn scores(eq: &Equations, candidates: &[Vec<usize>], residuals: &Mat<f64>) -> Vec<f64> {
    let (n, o) = (eq.len(), eq.n_outputs);
    // Outputs fitted exactly carry no information about the interactions.
    let energies: Vec<Option<f64>> = (0..o)
        .map(|k| {
            let energy: f64 = (0..n).map(|r| residuals[(r, k)].powi(2)).sum();
            let scale: f64 = (0..n).map(|r| (eq.sqrt_omega[r] * eq.y[r * o + k]).powi(2)).sum();
            (energy > EXACT_FIT * scale).then_some(energy)
        })
        .collect();
    let mut column = vec![0.0; n];
    candidates
        .iter()
        .map(|term| {
            for (r, c) in column.iter_mut().enumerate() {
                *c = eq.sqrt_omega[r] * eq.feature(r, term);
            }
            let norm: f64 = column.iter().map(|x| x * x).sum();
            if norm == 0.0 {
                return f64::NEG_INFINITY;
            }
            let explained: f64 = energies
                .iter()
                .enumerate()
                .filter_map(|(k, e)| e.map(|e| (k, e)))
                .map(|(k, energy)| {
                    let inner: f64 = column.iter().enumerate().map(|(r, c)| c * residuals[(r, k)]).sum();
                    inner * inner / energy
                })
                .sum();
            explained / norm
        })
        .collect()
}

/// Ranking keys: scores equal but for rounding (columns that coincide on the samples, symmetric
/// games) must tie, so rank on `SCORE_DIGITS` parts of the best score (ties go to the earlier
/// candidate).
fn rank_keys(scores: &[f64]) -> Vec<f64> {
    let best = scores.iter().copied().fold(0.0, f64::max);
    scores.iter().map(|&s| if s.is_finite() && best > 0.0 { (s / best * SCORE_DIGITS + 0.5).floor() } else { s.min(0.0) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_ordered_and_counted() {
        let c = candidates(&[0, 2, 5, 7], 3, 8, false);
        assert_eq!(c.len(), 6 + 4);
        assert_eq!(c[0], vec![0, 2]);
        assert_eq!(c[5], vec![5, 7]);
        assert_eq!(c[6], vec![0, 2, 5]);
        assert_eq!(c[9], vec![2, 5, 7]);
        assert_eq!(candidate_count(4, 3, 8, false), 10);
        // Odd orders only; monomials stop at d − 1.
        assert_eq!(candidate_count(7, 5, 7, true), 35 + 21);
        assert_eq!(candidate_count(4, 9, 4, false), 6 + 4);
        assert_eq!(candidates(&[1, 3], 3, 4, true).len(), 0);
        assert_eq!(binomial(24, 3), 2024);
        assert_eq!(candidate_count(1000, 5, 1000, true), binomial(1000, 3) + binomial(1000, 5));
    }

    #[test]
    fn given_interactions_are_checked() {
        assert_eq!(check_interactions(&[vec![2, 0, 1]], 4, true).unwrap(), vec![vec![0, 1, 2]]);
        for (raw, odd) in [
            (vec![vec![0, 0, 1]], true),
            (vec![vec![0, 4, 1]], true),
            (vec![vec![0, 1]], true),
            (vec![vec![0, 1, 2, 3]], false),
            (vec![vec![1, 2], vec![2, 1]], false),
        ] {
            assert!(matches!(
                check_interactions(&raw, 4, odd),
                Err(CoreError::InvalidArgument { name: "interactions", .. })
            ));
        }
    }
}
