//! Property-based tests of the core's public entry points: whatever the arguments (sizes 0 and 1,
//! counts up to `usize::MAX` / `u64::MAX`, NaN and infinities, empty arrays, mismatched shapes),
//! a call returns `Ok` or `Err(CoreError)` and never panics. Requests over the memory limit must be
//! refused (never `Ok`), and `Ok` results are checked against easy invariants.
//!
//! Every test sets the same small memory limit, so that huge requests are refused quickly and a
//! missing guard shows up as a refusal that did not happen (or an allocation that aborts the run).
//!
//! Run: `cargo test -p stochamort-core --release --test proptest_entry_points`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use ndarray::{Array1, Array2, Array3, Array4, Axis};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use stochamort_core::{
    checked_cells, checked_total, coalition_probabilities, contribution_values, enumerate_coalitions, exact_semivalue,
    kernelshap, lime, lime_kernel, merge_data_values, merge_moments, msr_banzhaf, permutation_chain_masks,
    permutation_data_values, permutation_shapley, polynomial_shapley, regression_adjusted_semivalue, sample_coalitions,
    sample_design, sample_multisets, sample_permutations, set_memory_limit, sgd_default_step_size, sgd_shapley,
    shapley_kernel, truncation_points, CoreError, CoreResult, DesignWeights, Distribution, Draws, KernelShapVariant,
    PolynomialBasis, PolynomialTerms, RegressionSettings, SampleWeights, Semivalue, MAX_DESIGN_PLAYERS,
    MAX_EXACT_PLAYERS,
};

/// The memory limit of every test: 256 MiB.
const LIMIT: u64 = 256 << 20;

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| set_memory_limit(LIMIT));
    // Every test sets the same value, so concurrent tests never see another limit.
    set_memory_limit(LIMIT);
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Regressions found here are kept as explicit #[test]s at the end of the file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Run `f`, failing the case if it panics; errors are rendered (their Display must not panic).
fn no_panic<T>(what: &str, f: impl FnOnce() -> CoreResult<T>) -> Result<CoreResult<T>, TestCaseError> {
    setup();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let result = f();
        if let Err(e) = &result {
            let _ = e.to_string();
        }
        result
    }));
    outcome.map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".into());
        TestCaseError::fail(format!("{what} panicked: {message}"))
    })
}

/// Bytes of an array of `dims` with `cell` bytes per cell, as u128 (no overflow).
fn bytes(dims: &[usize], cell: usize) -> u128 {
    dims.iter().fold(cell as u128, |acc, &x| acc.saturating_mul(x as u128))
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// Counts: mostly tiny (0 and 1 included), sometimes huge.
fn count() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..6,
        1 => Just(usize::MAX),
        1 => Just(usize::MAX / 2 + 1),
        1 => Just(1usize << 32),
        1 => (1usize << 27)..=usize::MAX,
    ]
}

/// A player count: small (0, 1, 2, ...), or huge.
fn players() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..10,
        1 => 10usize..80,
        1 => Just(usize::MAX),
        1 => (1usize << 27)..=usize::MAX,
    ]
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => Just(0u64),
        2 => 0u64..100,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => any::<u64>(),
    ]
}

fn draws() -> impl Strategy<Value = Draws> {
    (count(), count(), any::<u64>(), offset(), offset())
        .prop_map(|(n_points, n_samples, seed, p, s)| Draws::new(n_points, n_samples, seed).starting_at(p, s))
}

/// Floats, mostly moderate, with NaN, infinities, signed zeros, extremes and arbitrary bits.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        20 => -10.0f64..10.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => Just(f64::MAX),
        1 => Just(-f64::MAX),
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(5e-324),
        1 => any::<f64>(),
    ]
}

fn distribution() -> impl Strategy<Value = Distribution> {
    prop_oneof![Just(Distribution::Shapley), Just(Distribution::Banzhaf), Just(Distribution::Leverage)]
}

fn semivalue() -> impl Strategy<Value = Semivalue> {
    prop_oneof![
        Just(Semivalue::Shapley),
        Just(Semivalue::Banzhaf),
        (float(), float()).prop_map(|(alpha, beta)| Semivalue::Beta { alpha, beta }),
        (0.05f64..50.0, 0.05f64..50.0).prop_map(|(alpha, beta)| Semivalue::Beta { alpha, beta }),
    ]
}

fn floats(n: usize) -> impl Strategy<Value = Vec<f64>> {
    proptest::collection::vec(float(), n)
}

fn array3_f64(dims: (usize, usize, usize)) -> impl Strategy<Value = Array3<f64>> {
    floats(dims.0 * dims.1 * dims.2).prop_map(move |v| Array3::from_shape_vec(dims, v).unwrap())
}

fn array2_f64(dims: (usize, usize)) -> impl Strategy<Value = Array2<f64>> {
    floats(dims.0 * dims.1).prop_map(move |v| Array2::from_shape_vec(dims, v).unwrap())
}

fn array3_bool(dims: (usize, usize, usize)) -> impl Strategy<Value = Array3<bool>> {
    proptest::collection::vec(any::<bool>(), dims.0 * dims.1 * dims.2)
        .prop_map(move |v| Array3::from_shape_vec(dims, v).unwrap())
}

/// `expected` most of the time, else another small shape.
fn dims2(expected: (usize, usize)) -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![4 => Just(expected), 1 => (0usize..4, 0usize..12)]
}

fn dims3(expected: (usize, usize, usize)) -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![4 => Just(expected), 1 => (0usize..4, 0usize..12, 0usize..4)]
}

/// The inputs of an estimator that reads masks and values.
#[derive(Clone, Debug)]
struct Game {
    masks: Array3<bool>,
    values: Array3<f64>,
    null: Array2<f64>,
    grand: Array2<f64>,
    /// Design weights `(n_points, n_samples)` and the number of leading enumerated rows.
    weights: Array2<f64>,
    n_enumerated: usize,
    stratified: bool,
    paired: bool,
    /// Drawn by a sampler, with finite moderate values (invariants of `Ok` results apply).
    sampled: bool,
}

/// Arbitrary arrays: random masks, values with NaN/inf, shapes that often disagree.
fn arbitrary_game() -> impl Strategy<Value = Game> {
    (0usize..4, 0usize..12, 0usize..7, 0usize..3)
        .prop_flat_map(|(np, ns, d, no)| {
            (
                array3_bool((np, ns, d)),
                dims3((np, ns, no)).prop_flat_map(array3_f64),
                dims2((np, no)).prop_flat_map(array2_f64),
                dims2((np, no)).prop_flat_map(array2_f64),
                dims2((np, ns)).prop_flat_map(array2_f64),
                prop_oneof![4 => 0..=ns, 1 => Just(usize::MAX), 1 => any::<usize>()],
                any::<bool>(),
                any::<bool>(),
            )
        })
        .prop_map(|(masks, values, null, grand, weights, n_enumerated, stratified, paired)| Game {
            masks,
            values,
            null,
            grand,
            weights,
            n_enumerated,
            stratified,
            paired,
            sampled: false,
        })
}

/// v(S) = (o + 1) (c + Σ_{i∈S} a_i + e [0∈S][1∈S]) for output o.
fn game_values(masks: &Array3<bool>, n_outputs: usize, c: f64, a: &[f64], e: f64) -> (Array3<f64>, Array2<f64>, Array2<f64>) {
    let (np, ns, d) = masks.dim();
    let v = |row: ndarray::ArrayView1<bool>| {
        let lin: f64 = row.iter().zip(a).filter(|(&z, _)| z).map(|(_, a)| a).sum();
        c + lin + if d >= 2 && row[0] && row[1] { e } else { 0.0 }
    };
    let values = Array3::from_shape_fn((np, ns, n_outputs), |(p, s, o)| (o + 1) as f64 * v(masks.slice(ndarray::s![p, s, ..])));
    let full = c + a[..d].iter().sum::<f64>() + if d >= 2 { e } else { 0.0 };
    let null = Array2::from_shape_fn((np, n_outputs), |(_, o)| (o + 1) as f64 * c);
    let grand = Array2::from_shape_fn((np, n_outputs), |(_, o)| (o + 1) as f64 * full);
    (values, null, grand)
}

/// Masks drawn by `sample_coalitions` (i.i.d.) or `sample_design`, and a smooth game on them.
fn sampled_game() -> impl Strategy<Value = Game> {
    (
        1usize..3,
        1usize..20,
        2usize..8,
        1usize..3,
        distribution(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        (proptest::collection::vec(-5.0f64..5.0, 8), -5.0f64..5.0, -5.0f64..5.0),
    )
        .prop_map(|(np, half, d, no, dist, paired, iid, replace, seed, (a, c, e))| {
            let ns = 2 * half;
            let (masks, weights, n_enumerated, stratified) = match (iid, sample_design(Draws::new(np, ns, seed), d, dist, paired, replace)) {
                (false, Ok(design)) => (design.masks, design.weights, design.n_enumerated, !replace),
                _ => {
                    let masks = sample_coalitions(Draws::new(np, ns, seed), d, dist, paired).expect("valid draws");
                    (masks, Array2::ones((np, ns)), 0, false)
                }
            };
            let (values, null, grand) = game_values(&masks, no, c, &a, e);
            Game { masks, values, null, grand, weights, n_enumerated, stratified, paired, sampled: true }
        })
}

fn game() -> impl Strategy<Value = Game> {
    prop_oneof![arbitrary_game(), sampled_game()]
}

/// Check the shape of an attribution `(n_points, n_players, n_outputs)`.
fn check_attribution_shape(values: &Array3<f64>, std_errors: &Array3<f64>, game: &Game) -> Result<(), TestCaseError> {
    let (np, _, d) = game.masks.dim();
    let no = game.values.dim().2;
    prop_assert_eq!(values.dim(), (np, d, no));
    prop_assert_eq!(std_errors.dim(), (np, d, no));
    prop_assert!(std_errors.iter().all(|s| s.is_nan() || *s >= 0.0), "negative standard error");
    Ok(())
}

/// Σ_i φ_i = v(all) − v(∅) per point and output.
fn check_efficiency(values: &Array3<f64>, game: &Game, tolerance: f64) -> Result<(), TestCaseError> {
    for ((p, o), &g) in game.grand.indexed_iter() {
        let phi = values.slice(ndarray::s![p, .., o]);
        let (total, scale) = (phi.sum(), phi.iter().map(|x| x.abs()).sum::<f64>());
        let delta = g - game.null[[p, o]];
        // Relative to the size of the terms summed (a step size near the stability limit of SGD
        // makes large iterates, whose sum carries their rounding).
        prop_assert!((total - delta).abs() <= tolerance * (1.0 + delta.abs() + scale), "efficiency: {} vs {}", total, delta);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Limits, weights and distributions.

proptest! {
    #![proptest_config(config(256))]

    /// checked_cells / checked_total: sizes are refused (TooLarge) when they overflow or exceed the
    /// limit, and otherwise equal the product.
    #[test]
    fn limits_checked_sizes(dims in proptest::collection::vec(count(), 0..4), cell in prop_oneof![Just(0usize), 1usize..16, Just(usize::MAX)]) {
        let result = no_panic("checked_cells", || checked_cells(&dims, cell, "x"))?;
        let total = bytes(&dims, cell);
        match result {
            Ok(cells) => {
                prop_assert!(total <= LIMIT as u128);
                prop_assert_eq!(cells as u128, dims.iter().fold(1u128, |a, &x| a.saturating_mul(x as u128)));
            }
            Err(CoreError::TooLarge { name: "x", .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
        let result = no_panic("checked_total", || checked_total(&[(&dims, cell), (&dims, cell)], "y"))?;
        if let Ok(b) = result {
            prop_assert_eq!(b as u128, 2 * total);
        }
    }

    /// Semivalue weights: Σ_k C(d−1, k) w(k) = 1 (probabilistic semivalues), log weights agree, and
    /// position weights are finite, non-negative and average to one.
    #[test]
    fn weights_semivalue(sv in semivalue(), d in players()) {
        let w = no_panic("Semivalue::weights", || sv.weights(d))?;
        let ln_w = no_panic("Semivalue::ln_weights", || sv.ln_weights(d))?;
        let pos = no_panic("Semivalue::position_weights", || sv.position_weights(d))?;
        if d == 0 || d > (LIMIT / 16) as usize {
            prop_assert!(w.is_err() && ln_w.is_err() && pos.is_err());
        }
        let moderate = match sv {
            Semivalue::Beta { alpha, beta } => (0.05..=50.0).contains(&alpha) && (0.05..=50.0).contains(&beta),
            _ => true,
        };
        if let (Ok(w), Ok(ln_w), Ok(pos)) = (&w, &ln_w, &pos) {
            prop_assert_eq!(w.len(), d);
            prop_assert_eq!(ln_w.len(), d);
            prop_assert_eq!(pos.len(), d);
            if moderate && d <= 60 {
                let mut binomial = 1.0f64;
                let mut total = 0.0;
                for (k, wk) in w.iter().enumerate() {
                    prop_assert!(wk.is_finite() && *wk >= 0.0);
                    total += binomial * wk;
                    binomial = binomial * (d - 1 - k) as f64 / (k + 1) as f64;
                }
                prop_assert!((total - 1.0).abs() < 1e-8, "Σ C(d−1,k) w(k) = {}", total);
                prop_assert!(pos.iter().all(|p| p.is_finite() && *p >= 0.0));
                let mean = pos.iter().sum::<f64>() / d as f64;
                prop_assert!((mean - 1.0).abs() < 1e-8, "mean position weight {}", mean);
            }
        }
    }

    /// Semivalue::parse accepts exactly positive finite Beta parameters.
    #[test]
    fn weights_semivalue_parse(kind in prop_oneof![Just("shapley".to_string()), Just("banzhaf".to_string()), Just("beta".to_string()), Just("leverage".to_string()), Just(String::new()), ".*"], alpha in float(), beta in float()) {
        let parsed = no_panic("Semivalue::parse", || Semivalue::parse(&kind, alpha, beta))?;
        if kind == "beta" {
            let valid = alpha.is_finite() && alpha > 0.0 && beta.is_finite() && beta > 0.0;
            prop_assert_eq!(parsed.is_ok(), valid);
        }
        let parsed = no_panic("Distribution::parse", || Distribution::parse(&kind, "distribution"))?;
        prop_assert_eq!(parsed.is_ok(), ["shapley", "banzhaf", "leverage"].contains(&kind.as_str()));
    }

    /// Kernels: KernelSHAP's is +inf at the ends and positive finite inside; LIME's lies in (0, 1]
    /// and is 1 at the full coalition.
    #[test]
    fn weights_kernels(d in players(), width in float()) {
        match no_panic("shapley_kernel", || shapley_kernel(d))? {
            Ok(k) => {
                prop_assert_eq!(k.len(), d + 1);
                prop_assert!(k[0].is_infinite() && k[d].is_infinite());
                prop_assert!(k[1..d].iter().all(|x| x.is_finite() && *x >= 0.0));
            }
            Err(_) => prop_assert!(d == 0 || bytes(&[d, 1], 8) > LIMIT as u128 / 2),
        }
        match no_panic("lime_kernel", || lime_kernel(d, width))? {
            Ok(k) => {
                prop_assert!(width.is_finite() && width > 0.0);
                prop_assert_eq!(k.len(), d + 1);
                prop_assert!(k.iter().all(|x| (0.0..=1.0).contains(x)));
                prop_assert_eq!(k[d], 1.0);
            }
            Err(_) => prop_assert!(d == 0 || !(width.is_finite() && width > 0.0) || d > 1 << 20),
        }
        let eta = no_panic("sgd_default_step_size", || Ok(sgd_default_step_size(d)))?.unwrap();
        if d >= 2 {
            prop_assert!(eta.is_finite() && eta > 0.0);
        }
    }

    /// Distribution helpers behind the glue's guards (check_players, then the table check): size
    /// probabilities sum to one, coalition probabilities lie in [0, 1].
    #[test]
    fn distribution_size_probabilities(dist in distribution(), d in 0usize..3000) {
        if dist.check_players(d, "n_players").is_ok() {
            let p = no_panic("size_probabilities", || Ok(dist.size_probabilities(d)))?.unwrap();
            prop_assert_eq!(p.len(), d + 1);
            prop_assert!(p.iter().all(|x| (0.0..=1.0).contains(x)));
            prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let by_size = no_panic("coalition_probability_by_size", || Ok(dist.coalition_probability_by_size(d)))?.unwrap();
            prop_assert!(by_size.iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Samplers.

proptest! {
    #![proptest_config(config(256))]

    /// sample_coalitions: masks of the requested shape, complements when paired, sizes the
    /// distribution can draw; requests over the limit are refused.
    #[test]
    fn sampling_coalitions(draws in draws(), d in players(), dist in distribution(), paired in any::<bool>()) {
        let result = no_panic("sample_coalitions", || sample_coalitions(draws, d, dist, paired))?;
        let request = bytes(&[draws.n_points, draws.n_samples, d], 1);
        if request > LIMIT as u128 {
            prop_assert!(result.is_err(), "a request of {} bytes was accepted", request);
        }
        if let Ok(masks) = result {
            prop_assert_eq!(masks.dim(), (draws.n_points, draws.n_samples, d));
            // (An empty result may still have 2**32 points of no rows: not walked one by one.)
            for point in masks.outer_iter().take(if masks.is_empty() { 0 } else { usize::MAX }) {
                for (j, row) in point.outer_iter().enumerate() {
                    let k = row.iter().filter(|&&b| b).count();
                    if dist != Distribution::Banzhaf {
                        prop_assert!(0 < k && k < d);
                    }
                    if paired && j % 2 == 0 {
                        prop_assert!(row.iter().zip(point.row(j + 1)).all(|(a, b)| a != b));
                    }
                }
            }
        }
    }

    /// coalition_probabilities: one probability in [0, 1] per row; over all coalitions they sum to 1.
    #[test]
    fn sampling_coalition_probabilities(rows in 0usize..6, d in prop_oneof![0usize..12, 12usize..2000], dist in distribution(), seed in any::<u64>()) {
        let masks = Array2::from_shape_fn((rows, d), |(r, j)| (seed.rotate_left((r * 7 + j) as u32) & 1) == 1);
        let result = no_panic("coalition_probabilities", || coalition_probabilities(masks.view(), dist))?;
        match result {
            Ok(p) => {
                prop_assert_eq!(p.len(), rows);
                prop_assert!(p.iter().all(|x| (0.0..=1.0).contains(x)));
            }
            Err(_) => prop_assert!(d < dist.min_players()),
        }
        if (dist.min_players()..=10).contains(&d) {
            let all = enumerate_coalitions(d).unwrap();
            let p = no_panic("coalition_probabilities", || coalition_probabilities(all.view(), dist))?.unwrap();
            prop_assert!((p.sum() - 1.0).abs() < 1e-9);
        }
    }

    /// sample_permutations: each row orders 0..d once; antithetic rows reverse their partner.
    #[test]
    fn sampling_permutations(draws in draws(), d in players(), antithetic in any::<bool>()) {
        let result = no_panic("sample_permutations", || sample_permutations(draws, d, antithetic))?;
        if bytes(&[draws.n_points, draws.n_samples, d], 8) > LIMIT as u128 {
            prop_assert!(result.is_err());
        }
        if let Ok(perms) = result {
            prop_assert_eq!(perms.dim(), (draws.n_points, draws.n_samples, d));
            // (An empty result may still have 2**32 points of no rows: not walked one by one.)
            for point in perms.outer_iter().take(if perms.is_empty() { 0 } else { usize::MAX }) {
                for (j, row) in point.outer_iter().enumerate() {
                    let mut sorted = row.to_vec();
                    sorted.sort_unstable();
                    prop_assert_eq!(sorted, (0..d as i64).collect::<Vec<_>>());
                    if antithetic && j % 2 == 0 {
                        prop_assert!(row.iter().rev().eq(point.row(j + 1).iter()));
                    }
                }
            }
        }
    }

    /// permutation_chain_masks: row j of a chain holds the first j players (interior: j + 1).
    #[test]
    fn sampling_chain_masks(
        (perms, valid) in prop_oneof![
            (0usize..3, 0usize..5, 0usize..7, any::<u64>()).prop_map(|(np, nperm, d, seed)| {
                (sample_permutations(Draws::new(np, nperm, seed), d.max(1), false).unwrap(), true)
            }),
            (0usize..3, 0usize..4, 0usize..5).prop_flat_map(|(np, nperm, d)| {
                proptest::collection::vec(prop_oneof![0i64..6, any::<i64>()], np * nperm * d)
                    .prop_map(move |v| (Array3::from_shape_vec((np, nperm, d), v).unwrap(), false))
            }),
        ],
        interior in any::<bool>(),
    ) {
        let result = no_panic("permutation_chain_masks", || permutation_chain_masks(perms.view(), interior))?;
        if valid {
            prop_assert!(result.is_ok(), "{:?}", result);
        }
        if let Ok(chains) = result {
            let (np, nperm, d) = perms.dim();
            let rows = if interior { d - 1 } else { d + 1 };
            prop_assert_eq!(chains.dim(), (np, nperm, rows, d));
            for ((p, r, j), _) in chains.slice(ndarray::s![.., .., .., 0]).indexed_iter() {
                let size = chains.slice(ndarray::s![p, r, j, ..]).iter().filter(|&&b| b).count();
                prop_assert_eq!(size, j + usize::from(interior));
            }
        }
    }

    /// enumerate_coalitions: 2^d rows, row s holding player i iff bit i of s; too many players refused.
    #[test]
    fn sampling_enumerate(d in prop_oneof![0usize..=12, (MAX_EXACT_PLAYERS + 1)..200, Just(usize::MAX)]) {
        match no_panic("enumerate_coalitions", || enumerate_coalitions(d))? {
            Ok(all) => {
                prop_assert!((1..=MAX_EXACT_PLAYERS).contains(&d));
                prop_assert_eq!(all.dim(), (1 << d, d));
                for ((s, i), &b) in all.indexed_iter() {
                    prop_assert_eq!(b, (s >> i) & 1 == 1);
                }
            }
            Err(e) => {
                let too_many = matches!(e, CoreError::TooManyPlayers { .. });
                prop_assert!(d == 0 || too_many);
            }
        }
    }

    /// sample_multisets: multiplicities whose row sums lie in the size range.
    #[test]
    fn sampling_multisets(
        draws in draws(),
        n_data in count(),
        (min_size, max_size) in prop_oneof![
            4 => (0u64..40, 0u64..40),
            1 => (any::<u64>(), any::<u64>()),
            1 => (0u64..4, Just(u64::from(u32::MAX) + 1)),
            1 => (0u64..4, Just(u64::MAX)),
        ],
    ) {
        // Accepted sizes above the small range would take billions of draws per row: no rows then.
        let draws = if max_size >= 40 && max_size <= u64::from(u32::MAX) {
            Draws { n_samples: 0, ..draws }
        } else {
            draws
        };
        let result = no_panic("sample_multisets", || sample_multisets(draws, n_data, min_size..=max_size))?;
        if bytes(&[draws.n_points, draws.n_samples, n_data], 4) > LIMIT as u128 {
            prop_assert!(result.is_err());
        }
        if let Ok(multisets) = result {
            prop_assert!(min_size <= max_size);
            prop_assert_eq!(multisets.dim(), (draws.n_points, draws.n_samples, n_data));
            for row in multisets.lanes(Axis(2)) {
                let total: u64 = row.iter().map(|&x| u64::from(x)).sum();
                prop_assert!((min_size..=max_size).contains(&total));
            }
        }
    }

    /// sample_design: masks `(n_points, rows, d)` of non-trivial coalitions with finite positive
    /// weights, rows ≤ n_samples, complements when paired, distinct rows without replacement.
    #[test]
    fn design_sampling(
        draws in draws(),
        d in prop_oneof![4 => 0usize..12, 1 => 12usize..64, 1 => (MAX_DESIGN_PLAYERS - 2)..(MAX_DESIGN_PLAYERS + 2), 1 => Just(usize::MAX)],
        n_samples in prop_oneof![3 => 0usize..80, 1 => count(), 1 => (1usize << 20)..(1usize << 45)],
        dist in distribution(),
        paired in any::<bool>(),
        replace in any::<bool>(),
    ) {
        let draws = Draws { n_samples, ..draws };
        // Accepted work must stay small: few points for large sizes.
        let draws = if n_samples > 80 || d > 64 { Draws { n_points: draws.n_points.min(1), ..draws } } else { draws };
        // Requests that fit the limit with a point are drawn (slowly, for ~1000 players): keep them
        // to a few thousand rows; those over the limit stay huge, to be refused.
        let n_samples = if draws.n_points > 0 && bytes(&[n_samples, d.saturating_add(8)], 1) <= LIMIT as u128 { n_samples.min(4096) } else { n_samples };
        let draws = Draws { n_samples, ..draws };
        let result = no_panic("sample_design", || sample_design(draws, d, dist, paired, replace))?;
        if let Ok(design) = result {
            let (np, rows, dd) = design.masks.dim();
            // A census may return fewer rows than asked for; what it returns must fit the limit.
            prop_assert!(bytes(&[np, rows, d], 1) + bytes(&[np, rows], 8) <= LIMIT as u128);
            prop_assert_eq!((np, dd), (draws.n_points, d));
            prop_assert!(rows <= n_samples);
            prop_assert!(design.n_enumerated <= rows);
            prop_assert_eq!(design.weights.dim(), (np, rows));
            prop_assert!(design.weights.iter().all(|w| w.is_finite() && *w > 0.0));
            prop_assert!(design.weights.slice(ndarray::s![.., ..design.n_enumerated]).iter().all(|&w| w == 1.0));
            for point in design.masks.outer_iter() {
                let mut seen = std::collections::HashSet::new();
                for (j, row) in point.outer_iter().enumerate() {
                    let k = row.iter().filter(|&&b| b).count();
                    prop_assert!(0 < k && k < d);
                    if paired && j % 2 == 0 {
                        prop_assert!(row.iter().zip(point.row(j + 1)).all(|(a, b)| a != b));
                    }
                    if !replace || j < design.n_enumerated {
                        prop_assert!(seen.insert(row.to_vec()), "repeated row {}", j);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Estimators.

proptest! {
    #![proptest_config(config(192))]

    /// kernelshap (both variants, importance or design weights): Ok results satisfy efficiency.
    #[test]
    fn estimator_kernelshap(game in game(), design in any::<bool>(), unbiased in any::<bool>(), dist in distribution(), flip_paired in prop::bool::weighted(0.1)) {
        let paired = game.paired ^ flip_paired;
        let weights = if design {
            SampleWeights::Design { weights: game.weights.view(), n_enumerated: game.n_enumerated, stratified: game.stratified }
        } else {
            SampleWeights::Importance(dist)
        };
        let variant = if unbiased { KernelShapVariant::Unbiased } else { KernelShapVariant::Consistent };
        let result = no_panic("kernelshap", || {
            kernelshap(game.masks.view(), game.values.view(), game.null.view(), game.grand.view(), paired, weights, variant)
        })?;
        if let Ok(est) = result {
            check_attribution_shape(&est.values, &est.std_errors, &game)?;
            if game.sampled {
                check_efficiency(&est.values, &game, 1e-6)?;
            }
        }
    }

    /// sgd_shapley: Ok results satisfy efficiency (every iterate is projected onto it).
    #[test]
    fn estimator_sgd(
        game in game(),
        step_size in prop_oneof![Just(None), float().prop_map(Some)],
        batch_size in prop_oneof![4 => 0usize..5, 1 => Just(usize::MAX), 1 => Just(usize::MAX - 1), 1 => any::<usize>()],
        replicates in prop_oneof![4 => 0usize..5, 1 => Just(usize::MAX), 1 => any::<usize>()],
    ) {
        let result = no_panic("sgd_shapley", || {
            sgd_shapley(game.masks.view(), game.values.view(), game.null.view(), game.grand.view(), game.paired, step_size, batch_size, replicates)
        })?;
        if let Ok(est) = result {
            check_attribution_shape(&est.values, &est.std_errors, &game)?;
            if game.sampled {
                check_efficiency(&est.values, &game, 1e-6)?;
            }
        }
    }

    /// lime: coefficients and intercepts of the right shapes, for any kernel.
    #[test]
    fn estimator_lime(game in game(), kernel in prop_oneof![
        (1usize..5, 0.01f64..2.0).prop_map(|(d, w)| lime_kernel(d, w).unwrap()),
        proptest::collection::vec(float(), 0..9),
    ]) {
        let result = no_panic("lime", || lime(game.masks.view(), game.values.view(), &kernel))?;
        if let Ok(fit) = result {
            check_attribution_shape(&fit.attribution.values, &fit.attribution.std_errors, &game)?;
            prop_assert_eq!(fit.intercepts.dim(), (game.masks.dim().0, game.values.dim().2));
        }
    }

    /// msr_banzhaf: shapes; Ok results are finite when the values are.
    #[test]
    fn estimator_msr(game in game()) {
        let result = no_panic("msr_banzhaf", || msr_banzhaf(game.masks.view(), game.values.view()))?;
        if let Ok(est) = result {
            check_attribution_shape(&est.values, &est.std_errors, &game)?;
            if game.sampled {
                prop_assert!(est.values.iter().all(|x| x.is_finite()));
            }
        }
    }

    /// polynomial_shapley (PolySHAP, OddSHAP), automatic or given terms: shapes, at least the
    /// singletons as terms, efficiency on sampled games.
    #[test]
    fn estimator_polynomial(
        game in game(),
        odd in any::<bool>(),
        order in prop_oneof![4 => 0usize..5, 1 => 5usize..40, 1 => Just(usize::MAX)],
        max_terms in prop_oneof![Just(None), (0usize..10).prop_map(Some), Just(Some(usize::MAX)), any::<usize>().prop_map(Some)],
        interactions in prop_oneof![
            3 => Just(None),
            1 => proptest::collection::vec(proptest::collection::vec(prop_oneof![0usize..8, Just(usize::MAX)], 0..5), 0..4).prop_map(Some),
        ],
        weights_ok in any::<bool>(),
    ) {
        let weights = if weights_ok { game.weights.mapv(|w| if w.is_finite() && w > 0.0 { w } else { 1.0 }) } else { game.weights.clone() };
        let design = DesignWeights { weights: weights.view(), n_enumerated: game.n_enumerated, stratified: game.stratified };
        let basis = if odd { PolynomialBasis::OddCharacters } else { PolynomialBasis::Monomials };
        let terms = PolynomialTerms { order, max_terms, interactions };
        let result = no_panic("polynomial_shapley", || {
            polynomial_shapley(game.masks.view(), game.values.view(), game.null.view(), game.grand.view(), design, basis, &terms, game.paired)
        })?;
        if let Ok(fit) = result {
            check_attribution_shape(&fit.attribution.values, &fit.attribution.std_errors, &game)?;
            let d = game.masks.dim().2 as i64;
            prop_assert!(fit.n_terms.iter().all(|&k| k >= d));
            if game.sampled {
                check_efficiency(&fit.attribution.values, &game, 1e-6)?;
            }
        }
    }

    /// polynomial_shapley with many players and a large order or max_terms: the number of candidate
    /// terms explodes (C(d, k) for every order k), so the request must be refused, not allocated.
    #[test]
    fn estimator_polynomial_many_terms(
        (d, np, half, seed) in (8usize..48, 1usize..3, 4usize..24, any::<u64>()),
        odd in any::<bool>(),
        order in prop_oneof![2usize..48, Just(usize::MAX)],
        max_terms in prop_oneof![Just(None), (0usize..64).prop_map(Some), Just(Some(usize::MAX)), (1usize << 20..1usize << 40).prop_map(Some)],
    ) {
        let design = sample_design(Draws::new(np, 2 * half, seed), d, Distribution::Shapley, true, false).unwrap();
        let a: Vec<f64> = (0..d).map(|i| i as f64 * 0.1 - 1.0).collect();
        let (values, null, grand) = game_values(&design.masks, 1, 0.5, &a, 1.0);
        let weights = DesignWeights { weights: design.weights.view(), n_enumerated: design.n_enumerated, stratified: true };
        let basis = if odd { PolynomialBasis::OddCharacters } else { PolynomialBasis::Monomials };
        let terms = PolynomialTerms { order, max_terms, interactions: None };
        let result = no_panic("polynomial_shapley", || {
            polynomial_shapley(design.masks.view(), values.view(), null.view(), grand.view(), weights, basis, &terms, true)
        })?;
        if let Ok(fit) = result {
            prop_assert_eq!(fit.attribution.values.dim(), (np, d, 1));
        }
    }

    /// regression_adjusted_semivalue: shapes of the estimate and of the per-fold values.
    #[test]
    fn estimator_regression_adjusted(
        game in game(),
        sv in semivalue(),
        weights_from_semivalue in prop::bool::weighted(0.8),
        folds in prop_oneof![Just(None), (0usize..6).prop_map(Some), Just(Some(usize::MAX))],
        degree in prop_oneof![Just(None), (0usize..4).prop_map(Some), Just(Some(usize::MAX))],
        size_intercepts in prop_oneof![Just(None), any::<bool>().prop_map(Some)],
        ridge in prop_oneof![3 => Just(1e-8), 1 => float()],
        raw_weights in floats(8),
    ) {
        let d = game.masks.dim().2;
        let semivalue_weights = match (weights_from_semivalue, sv.weights(d.max(1))) {
            (true, Ok(w)) if d > 0 => w,
            _ => raw_weights[..d.min(8)].to_vec(),
        };
        let settings = RegressionSettings { paired: game.paired, folds, degree, size_intercepts, ridge };
        let result = no_panic("regression_adjusted_semivalue", || {
            regression_adjusted_semivalue(
                game.masks.view(), game.values.view(), game.null.view(), game.grand.view(), game.weights.view(),
                game.n_enumerated, &semivalue_weights, settings,
            )
        })?;
        if let Ok(est) = result {
            check_attribution_shape(&est.attribution.values, &est.attribution.std_errors, &game)?;
            let (np, _, d) = game.masks.dim();
            prop_assert_eq!(est.fold_values.dim(), (np, est.folds, d, game.values.dim().2));
            prop_assert!(est.degree <= 2);
        }
    }

    /// exact_semivalue: Shapley weights give efficient values; wrong tables are refused.
    #[test]
    fn estimator_exact(
        n_weights in prop_oneof![6 => 0usize..7, 1 => (MAX_EXACT_PLAYERS + 1)..70],
        use_shapley in any::<bool>(),
        raw_weights in floats(70),
        (np, no) in (0usize..3, 0usize..3),
        bad_table in prop::bool::weighted(0.2),
        seed in any::<u64>(),
    ) {
        let d = n_weights;
        let weights = match (use_shapley, Semivalue::Shapley.weights(d)) {
            (true, Ok(w)) => w,
            _ => raw_weights[..d].to_vec(),
        };
        let rows = if d <= MAX_EXACT_PLAYERS { (1usize << d) + usize::from(bad_table) } else { 4 };
        let values = Array3::from_shape_fn((np, rows, no), |(p, s, o)| ((seed ^ (p * 31 + s * 7 + o) as u64) % 1000) as f64 / 100.0);
        let result = no_panic("exact_semivalue", || exact_semivalue(values.view(), &weights))?;
        if let Ok(phi) = result {
            prop_assert_eq!(phi.dim(), (np, d, no));
            if use_shapley {
                for (p, o) in (0..np).flat_map(|p| (0..no).map(move |o| (p, o))) {
                    let total: f64 = phi.slice(ndarray::s![p, .., o]).sum();
                    let delta = values[[p, (1 << d) - 1, o]] - values[[p, 0, o]];
                    prop_assert!((total - delta).abs() < 1e-9 * (1.0 + delta.abs()));
                }
            }
        }
    }

    /// permutation_shapley: counts of units; on valid chains Σ_i φ_i = mean(v(all) − v(∅)).
    #[test]
    fn estimator_permutation(
        (np, nperm, d, seed) in (0usize..3, 0usize..7, 0usize..6, any::<u64>()),
        valid in prop::bool::weighted(0.7),
        antithetic in any::<bool>(),
        chain_dims in prop_oneof![4 => Just(None), 1 => (0usize..3, 0usize..7, 0usize..8, 0usize..3).prop_map(Some)],
        no in 0usize..3,
        noise in floats(16),
    ) {
        let perms = if valid && d > 0 {
            sample_permutations(Draws::new(np, nperm, seed), d, antithetic && nperm % 2 == 0).unwrap()
        } else {
            Array3::from_shape_fn((np, nperm, d), |(p, r, j)| ((seed >> ((p + r + j) % 60)) % 7) as i64 - 1)
        };
        let (a, b, c, e) = chain_dims.unwrap_or((np, nperm, d + 1, no));
        let chains = Array4::from_shape_fn((a, b, c, e), |(p, r, j, o)| j as f64 * 0.5 + noise[(p + r + j + o) % 16]);
        let result = no_panic("permutation_shapley", || permutation_shapley(perms.view(), chains.view(), antithetic))?;
        if let Ok(m) = result {
            prop_assert_eq!(m.attribution.values.dim(), (np, d, e));
            prop_assert_eq!(m.m2.dim(), (np, d, e));
            let units = if antithetic { nperm / 2 } else { nperm } as u64;
            prop_assert!(m.counts.iter().all(|&n| n == units));
            let finite = chains.iter().all(|x| x.is_finite() && x.abs() < 1e6);
            if finite {
                for p in 0..np {
                    for o in 0..e {
                        let total: f64 = m.attribution.values.slice(ndarray::s![p, .., o]).sum();
                        let mean = (0..nperm).map(|r| chains[[p, r, d, o]] - chains[[p, r, 0, o]]).sum::<f64>() / nperm as f64;
                        prop_assert!((total - mean).abs() < 1e-8 * (1.0 + mean.abs()), "{} vs {}", total, mean);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Moments and data valuation.

fn counts_strategy(n: usize) -> impl Strategy<Value = Array1<u64>> {
    proptest::collection::vec(prop_oneof![6 => 0u64..5, 1 => Just(u64::MAX), 1 => (u64::MAX - 3)..=u64::MAX, 1 => any::<u64>()], n)
        .prop_map(Array1::from)
}

proptest! {
    #![proptest_config(config(256))]

    /// merge_moments: counts add up; shapes are checked.
    #[test]
    fn moments_merge(
        (ca, ma, qa, cb, mb, qb) in (0usize..4, 0usize..3, 0usize..3).prop_flat_map(|dims| (
            prop_oneof![4 => Just(dims.0), 1 => 0usize..5].prop_flat_map(counts_strategy),
            array3_f64(dims),
            array3_f64(dims),
            counts_strategy(dims.0),
            dims3(dims).prop_flat_map(array3_f64),
            array3_f64(dims),
        )),
    ) {
        let result = no_panic("merge_moments", || merge_moments(ca.view(), ma.view(), qa.view(), cb.view(), mb.view(), qb.view()))?;
        if let Ok(m) = result {
            prop_assert_eq!(m.means.dim(), ma.dim());
            prop_assert_eq!(m.m2.dim(), ma.dim());
            for b in 0..ma.dim().0 {
                prop_assert_eq!(Some(m.counts[b]), ca[b].checked_add(cb[b]));
            }
        }
    }

    /// merge_data_values: counts add up; players without contributions have value 0.
    #[test]
    fn valuation_merge(
        (ca, ma, qa, cb, mb, qb) in (0usize..6).prop_flat_map(|n| (
            counts_strategy(n),
            floats(n),
            floats(n),
            prop_oneof![4 => Just(n), 1 => 0usize..6].prop_flat_map(counts_strategy),
            floats(n),
            floats(n),
        )),
        evaluations in any::<u64>(),
    ) {
        let n = ma.len();
        let (ma, qa, mb, qb) = (Array1::from(ma), Array1::from(qa), Array1::from(mb), Array1::from(qb));
        let result = no_panic("merge_data_values", || {
            merge_data_values(ca.view(), ma.view(), qa.view(), cb.view(), mb.view(), qb.view(), evaluations)
        })?;
        if let Ok(m) = result {
            prop_assert_eq!(m.values.len(), n);
            prop_assert_eq!(m.n_evaluations, evaluations);
            for i in 0..n {
                prop_assert_eq!(Some(m.counts[i]), ca[i].checked_add(cb[i]));
                if m.counts[i] == 0 {
                    prop_assert_eq!(m.values[i], 0.0);
                }
            }
        }
    }

    /// contribution_values: the value of a point is the mean of its row.
    #[test]
    fn valuation_contributions(contributions in (0usize..4, 0usize..6).prop_flat_map(array2_f64)) {
        let result = no_panic("contribution_values", || contribution_values(contributions.view()))?;
        if let Ok(m) = result {
            let (n_points, n_samples) = contributions.dim();
            prop_assert_eq!(m.values.len(), n_points);
            prop_assert_eq!(m.n_evaluations, 2 * (n_points * n_samples) as u64);
            for (i, row) in contributions.outer_iter().enumerate() {
                let mean = row.sum() / n_samples as f64;
                if row.iter().all(|x| x.abs() < 1e6) {
                    prop_assert!((m.values[i] - mean).abs() <= 1e-9 * (1.0 + mean.abs()));
                }
            }
        }
    }

    /// truncation_points: −1 or a column index, per row.
    #[test]
    fn valuation_truncation(chain_values in (0usize..4, 0usize..6).prop_flat_map(array2_f64), target in float(), tolerance in float()) {
        let result = no_panic("truncation_points", || truncation_points(chain_values.view(), target, tolerance))?;
        if let Ok(points) = result {
            prop_assert_eq!(points.len(), chain_values.nrows());
            prop_assert!(points.iter().all(|&c| c >= -1 && c < chain_values.ncols() as i64));
        }
    }

    /// permutation_data_values: counts add up to P · (N − start), n_evaluations = P · (N + 1 − start).
    #[test]
    fn valuation_permutations(
        (nperm, n, seed) in (0usize..5, 0usize..6, any::<u64>()),
        valid in prop::bool::weighted(0.7),
        chain_dims in prop_oneof![4 => Just(None), 1 => (0usize..5, 0usize..8).prop_map(Some)],
        weights in prop_oneof![Just(None), (0usize..8).prop_flat_map(floats).prop_map(Some)],
        start in prop_oneof![4 => 0usize..6, 1 => Just(usize::MAX)],
        noise in floats(16),
    ) {
        let perms = if valid && n > 0 {
            sample_permutations(Draws::new(1, nperm, seed), n, false).unwrap().index_axis_move(Axis(0), 0)
        } else {
            Array2::from_shape_fn((nperm, n), |(r, j)| ((seed >> ((r + j) % 60)) % 7) as i64 - 1)
        };
        let (a, b) = chain_dims.unwrap_or((nperm, n + 1));
        let chains = Array2::from_shape_fn((a, b), |(r, k)| k as f64 + noise[(r + k) % 16]);
        let weights = weights.map(Array1::from);
        let result = no_panic("permutation_data_values", || {
            permutation_data_values(perms.view(), chains.view(), weights.as_ref().map(|w| w.view()), start)
        })?;
        if let Ok(m) = result {
            prop_assert_eq!(m.values.len(), n);
            prop_assert_eq!(m.counts.sum(), (nperm * (n - start)) as u64);
            prop_assert_eq!(m.n_evaluations, (nperm * (n + 1 - start)) as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: inputs the properties above found to panic or abort.

/// Never an `Ok`, never a panic.
fn refused<T: std::fmt::Debug>(what: &str, f: impl FnOnce() -> CoreResult<T>) -> CoreError {
    setup();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => panic!("{what}: accepted, got {value:?}"),
        Ok(Err(e)) => e,
        Err(_) => panic!("{what} panicked"),
    }
}


/// checked_cells with cells of zero bytes: the byte check passed, the count overflowed (wrapped in
/// release, panicked with overflow checks). Input: dims [usize::MAX, 2], cell_bytes 0.
#[test]
fn regression_checked_cells_of_zero_bytes() {
    let e = refused("checked_cells", || checked_cells(&[usize::MAX, 2], 0, "x"));
    assert!(matches!(e, CoreError::TooLarge { name: "x", .. }), "{e:?}");
}

/// Merged counts overflowed u64 (wrapped to 0 in release, panicked with overflow checks).
#[test]
fn regression_merged_counts_overflow() {
    let empty = Array3::<f64>::zeros((1, 0, 0));
    let (max, one) = (Array1::from(vec![u64::MAX]), Array1::from(vec![1u64]));
    let e = refused("merge_moments", || merge_moments(max.view(), empty.view(), empty.view(), one.view(), empty.view(), empty.view()));
    assert!(matches!(e, CoreError::InvalidArgument { name: "counts_b", ref points, .. } if points == &[0]), "{e:?}");
    let zero = Array1::from(vec![0.0]);
    let two = Array1::from(vec![2u64]);
    let e = refused("merge_data_values", || merge_data_values(two.view(), zero.view(), zero.view(), max.view(), zero.view(), zero.view(), 0));
    assert!(matches!(e, CoreError::InvalidArgument { name: "counts_b", .. }), "{e:?}");
}

/// OddSHAP with order = usize::MAX collected 2**63 candidate orders ("capacity overflow" panic; a
/// large finite order aborted the allocation instead).
#[test]
fn regression_odd_order_beyond_the_players() {
    setup();
    let rows = [[false, true, false], [true, false, true], [false, false, true], [true, true, false]];
    let masks = Array3::from_shape_fn((1, 4, 3), |(_, r, j)| rows[r][j]);
    let values = Array3::<f64>::zeros((1, 4, 1));
    let zero = Array2::<f64>::zeros((1, 1));
    let weights = Array2::from_elem((1, 4), 1.5);
    for order in [usize::MAX, 1 << 40] {
        let terms = PolynomialTerms { order, max_terms: None, interactions: None };
        let design = DesignWeights { weights: weights.view(), n_enumerated: 0, stratified: true };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            polynomial_shapley(masks.view(), values.view(), zero.view(), zero.view(), design, PolynomialBasis::OddCharacters, &terms, true)
        }));
        assert!(outcome.is_ok(), "order {order} panicked");
    }
}

/// max_terms = usize::MAX over 30 players of order 15 built every candidate (about 1e9 terms) and
/// their normal equations: the process was killed for memory. Now refused as too large.
#[test]
fn regression_polynomial_max_terms_over_the_limit() {
    setup();
    let design = sample_design(Draws::new(1, 16, 0), 30, Distribution::Shapley, true, false).unwrap();
    let a: Vec<f64> = (0..30).map(|i| i as f64).collect();
    let (values, null, grand) = game_values(&design.masks, 1, 0.0, &a, 1.0);
    let weights = DesignWeights { weights: design.weights.view(), n_enumerated: design.n_enumerated, stratified: true };
    let terms = PolynomialTerms { order: 15, max_terms: Some(usize::MAX), interactions: None };
    let e = refused("polynomial_shapley", || {
        polynomial_shapley(design.masks.view(), values.view(), null.view(), grand.view(), weights, PolynomialBasis::Monomials, &terms, true)
    });
    assert!(matches!(e, CoreError::TooLarge { name: "max_terms", .. }), "{e:?}");
}

/// A census (no random units) accepted folds = usize::MAX and allocated folds copies of the
/// estimate ("capacity overflow" panic; large finite counts aborted).
#[test]
fn regression_regression_folds_over_the_limit() {
    setup();
    let all = enumerate_coalitions(3).unwrap();
    let inner = all.slice(ndarray::s![1..7, ..]).to_owned();
    let masks = inner.insert_axis(Axis(0));
    let a = [1.0, 2.0, -1.0];
    let (values, null, grand) = game_values(&masks, 1, 0.5, &a, 0.0);
    let weights = Array2::<f64>::ones((1, 6));
    let shapley = Semivalue::Shapley.weights(3).unwrap();
    for folds in [usize::MAX, 1 << 40] {
        let settings = RegressionSettings { paired: false, folds: Some(folds), degree: None, size_intercepts: None, ridge: 1e-8 };
        let e = refused("regression_adjusted_semivalue", || {
            regression_adjusted_semivalue(masks.view(), values.view(), null.view(), grand.view(), weights.view(), 6, &shapley, settings)
        });
        assert!(matches!(e, CoreError::TooLarge { name: "folds", .. }), "{e:?}");
    }
}

/// With no points, the design's enumerated rows (shared by all points) escaped the memory check
/// and their allocation aborted the process ("memory allocation of 1202590842810 bytes failed").
#[test]
fn regression_design_without_points_enumerates_within_the_limit() {
    let e = refused("sample_design", || sample_design(Draws::new(0, 1 << 40, 0), 40, Distribution::Shapley, false, false));
    assert!(matches!(e, CoreError::TooLarge { name: "n_samples", .. }), "{e:?}");
}

/// sgd_shapley with paired=True and batch_size = usize::MAX: lcm(batch_size, 2) overflowed
/// (panicked with overflow checks, wrapped in release).
#[test]
fn regression_sgd_batch_size_lcm_overflow() {
    setup();
    let masks = sample_coalitions(Draws::new(1, 4, 0), 4, Distribution::Shapley, true).unwrap();
    let (values, null, grand) = game_values(&masks, 1, 0.0, &[1.0, 2.0, 3.0, 4.0], 0.0);
    let e = refused("sgd_shapley", || sgd_shapley(masks.view(), values.view(), null.view(), grand.view(), true, None, usize::MAX, 1));
    assert!(matches!(e, CoreError::InsufficientSamples { name: "masks", .. }), "{e:?}");
}

/// sgd_default_step_size: ⌊d/2⌋⌈d/2⌉ overflowed usize for d above 2**32 (panicked with overflow
/// checks). Input: n_players = usize::MAX.
#[test]
fn regression_sgd_default_step_size_of_many_players() {
    let eta = catch_unwind(|| sgd_default_step_size(usize::MAX)).expect("no panic");
    assert!(eta.is_finite() && eta > 0.0);
    assert_eq!(sgd_default_step_size(6), 4.0 / 6.0);
}
