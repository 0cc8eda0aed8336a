"""Oracles on torch games: closed forms for linear models, convergence to exact enumeration on small
MLPs, unbiasedness, calibrated standard errors, stopping rules, determinism and batching.

All models and inputs are float64, so that 1e-9 tolerances are meaningful where exactness is
claimed. Statistical tests are seeded (deterministic); their thresholds are set so that a correct
oracle passes with overwhelming probability over the choice of seeds, and a wrong one fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import stochamort.oracles as oracles
from stochamort.results import Estimate
from stochamort.errors import (
    InsufficientSamplesError,
    InvalidArgumentError,
    SingularSystemError,
    StochamortError,
    TooManyPlayersError,
)
from stochamort.games import BaselineMasker, FunctionGame, Game, MarginalMasker, MaskedModel
from stochamort.oracles import (
    LIME,
    Exact,
    KernelSHAP,
    LeverageSHAP,
    MSRBanzhaf,
    Oracle,
    Permutation,
    StoppingRule,
    UnbiasedKernelSHAP,
)

from tests.helpers.torch_models import (  # noqa: F401  (torch_single_thread is an autouse fixture)
    banzhaf_from_table,
    full_table,
    lime_population,
    linear_model,
    mlp,
    randn,
    shapley_by_orders,
    shapley_from_table,
    torch_single_thread,
)

Factory = Callable[[int], Oracle]

#: Every sampling oracle, by name: a factory taking the budget.
SAMPLERS: dict[str, Factory] = {
    # i.i.d. draws here: at D = 6 most budgets below cover all 64 coalitions, which a design spends
    # on the census (exact). The designs are tested in test_design_oracles.py.
    "KernelSHAP": lambda b: KernelSHAP(budget=b, sampling="iid"),
    "KernelSHAP-unpaired": lambda b: KernelSHAP(budget=b, paired=False, sampling="iid"),
    "UnbiasedKernelSHAP": lambda b: UnbiasedKernelSHAP(budget=b, sampling="iid"),
    "LeverageSHAP": lambda b: LeverageSHAP(budget=b, sampling="iid"),
    "Permutation": lambda b: Permutation(budget=b),
    "Permutation-plain": lambda b: Permutation(budget=b, antithetic=False),
    "MSRBanzhaf": lambda b: MSRBanzhaf(budget=b),
    "LIME": lambda b: LIME(budget=b),
}
if hasattr(oracles, "SGDShapley"):
    SAMPLERS["SGDShapley"] = lambda b: oracles.SGDShapley(budget=b)  # type: ignore[attr-defined]

ALL: dict[str, Factory] = {
    "Exact": lambda b: Exact(),
    "Exact-banzhaf": lambda b: Exact(kind="banzhaf"),
    **SAMPLERS,
}

#: Oracles whose estimate is exact for additive games (any budget that identifies the estimator).
EXACT_FOR_ADDITIVE = {
    "Exact",
    "Exact-banzhaf",
    "KernelSHAP",
    "KernelSHAP-unpaired",
    "LeverageSHAP",
    "Permutation",
    "Permutation-plain",
    "LIME",
}

#: Oracles documented to report finite standard errors (an SGDShapley may not).
REPORTS_STD_ERRORS = set(ALL) - {"SGDShapley"}

D = 6


def reference(game: Game, kind: str) -> np.ndarray:
    """The exact attribution an oracle estimates, from the full table computed independently."""
    table = full_table(game)
    if kind == "shapley":
        return shapley_from_table(table)
    if kind == "banzhaf":
        return banzhaf_from_table(table)
    assert kind == "lime"
    return lime_population(table)


def mlp_game(d: int = D, n_points: int = 2, seed: int = 0, scales: Any = None) -> Game:
    """A random tanh MLP with 2 outputs, baseline masking; with ``scales``, point p is scaled by
    ``scales[p]`` and the baseline is 0, so that points differ in the size of their attributions."""
    x = randn(n_points, d, seed=100 + seed)
    baseline: Any = randn(d, seed=200 + seed)
    if scales is not None:
        x = x * torch.as_tensor(scales, dtype=torch.float64)[:, None]
        baseline = 0.0
    return MaskedModel(mlp(d, seed=seed), BaselineMasker(baseline), output="logits").bind(x)


def run(oracle: Oracle, game: Game, seed: int = 0, **kwargs: Any) -> Any:
    return oracle(game, seed=seed, progress=False, **kwargs)


# --------------------------------------------------------------------------------------------
# Linear models: Shapley = Banzhaf = LIME = w_i (x_i − b_i)


@pytest.fixture(scope="module")
def linear() -> tuple[Game, np.ndarray]:
    model = linear_model(D, n_outputs=2, seed=3)
    x, b = randn(3, D, seed=4), randn(D, seed=5)
    game = MaskedModel(model, BaselineMasker(b), output="logits").bind(x)
    w = model.weight.detach().numpy()  # (2, D)
    closed_form = np.einsum("od,nd->ndo", w, (x - b).numpy())
    return game, closed_form


@pytest.mark.parametrize("name", list(ALL))
def test_linear_model_closed_form(name: str, linear: tuple[Game, np.ndarray]) -> None:
    game, closed_form = linear
    oracle = ALL[name](256)
    est = run(oracle, game, seed=7)
    assert est.values.shape == closed_form.shape
    if name in EXACT_FOR_ADDITIVE:
        np.testing.assert_allclose(est.values, closed_form, rtol=0, atol=1e-9)
        assert np.all(est.std_errors <= 1e-9)
    else:
        # not exact for additive games: within a few reported standard errors, and much closer
        # at a 16 times larger budget
        se = est.std_errors
        if name in REPORTS_STD_ERRORS:
            assert np.isfinite(se).all() and (se > 0).all()
            assert np.all(np.abs(est.values - closed_form) <= 4.5 * se)
        error = np.abs(est.values - closed_form).max()
        large = run(ALL[name](4096), game, seed=7)
        assert np.abs(large.values - closed_form).max() < error / 2
    if oracle.target == "shapley":  # efficiency
        null, grand = game.endpoints()
        np.testing.assert_allclose(est.values.sum(1), grand - null, rtol=0, atol=1e-9)


def test_linear_model_with_marginal_masking_has_the_same_closed_form() -> None:
    model = linear_model(D, n_outputs=1, seed=8)
    x, background = randn(2, D, seed=9), randn(7, D, seed=10)
    game = MaskedModel(model, MarginalMasker(background), output="logits").bind(x)
    w = model.weight.detach().numpy()[0]
    closed_form = (w * (x - background.mean(0)).numpy())[..., None]
    for oracle in (Exact(), Exact(kind="banzhaf"), KernelSHAP(budget=64), Permutation(budget=64), LIME(budget=64)):
        np.testing.assert_allclose(run(oracle, game).values, closed_form, rtol=0, atol=1e-9)


@given(d=st.integers(2, 8), seed=st.integers(0, 2**16), n_outputs=st.integers(1, 3))
def test_linear_closed_form_holds_for_random_linear_models(d: int, seed: int, n_outputs: int) -> None:
    model = linear_model(d, n_outputs=n_outputs, seed=seed)
    x, b = randn(2, d, seed=seed + 2), randn(d, seed=seed + 3) * 3
    game = MaskedModel(model, BaselineMasker(b), output="logits").bind(x)
    closed_form = np.einsum("od,nd->ndo", model.weight.detach().numpy(), (x - b).numpy())
    for name in sorted(EXACT_FOR_ADDITIVE):
        est = run(ALL[name](64), game, seed=seed)
        np.testing.assert_allclose(est.values, closed_form, rtol=0, atol=1e-9, err_msg=name)


# --------------------------------------------------------------------------------------------
# Exact enumeration, and convergence of every sampler to it


@pytest.mark.parametrize("d", [3, 6])
def test_exact_matches_textbook_enumeration(d: int) -> None:
    game = mlp_game(d=d, n_points=3, seed=1)
    table = full_table(game)
    np.testing.assert_allclose(shapley_from_table(table), shapley_by_orders(table), rtol=0, atol=1e-12)
    np.testing.assert_allclose(run(Exact(), game).values, shapley_from_table(table), rtol=0, atol=1e-10)
    np.testing.assert_allclose(run(Exact(kind="banzhaf"), game).values, banzhaf_from_table(table), rtol=0, atol=1e-10)
    beta = run(Exact(kind="beta", alpha=1.0, beta=1.0), game).values
    np.testing.assert_allclose(beta, shapley_from_table(table), rtol=0, atol=1e-10)
    est = run(Exact(), game)
    np.testing.assert_array_equal(est.std_errors, 0.0)
    np.testing.assert_array_equal(est.n_evaluations, 1 << d)


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("d", [5, 8])
def test_convergence_to_exact_on_small_mlps(name: str, d: int) -> None:
    """Budgets 64 and 4096 evaluations per point: the error shrinks by ~8 in theory; we ask for 2.5,
    and for the large-budget estimate to lie within 5 reported standard errors of the exact value."""
    game = mlp_game(d=d, n_points=2, seed=d)
    small, large = SAMPLERS[name](64), SAMPLERS[name](4096)
    exact = reference(game, small.target)
    if small.target != "lime":
        np.testing.assert_allclose(exact, run(Exact(kind=small.target), game).values, rtol=0, atol=1e-10)

    def rms(est: Any) -> float:
        return float(np.sqrt(np.mean((est.values - exact) ** 2)))

    small_est, large_est = run(small, game, seed=1), run(large, game, seed=1)
    assert rms(large_est) < rms(small_est) / 2.5
    se = large_est.std_errors
    if name in REPORTS_STD_ERRORS:
        assert np.isfinite(se).all() and (se > 0).all()
        z = np.abs(large_est.values - exact) / se
        assert z.max() < 5.0, z.max()
    assert rms(large_est) < 0.1 * np.sqrt(np.mean(exact**2))


def test_lime_population_reference_is_not_shapley() -> None:
    """The LIME reference is a different quantity: the comparison above could not pass by accident."""
    game = mlp_game(d=5, seed=5)
    table = full_table(game)
    assert np.abs(lime_population(table) - shapley_from_table(table)).max() > 1e-2
    assert np.abs(banzhaf_from_table(table) - shapley_from_table(table)).max() > 1e-2


# --------------------------------------------------------------------------------------------
# Unbiasedness: a seeded statistical test at small budgets


UNBIASED: dict[str, tuple[Factory, int]] = {
    "Permutation": (SAMPLERS["Permutation"], 2 + 2 * (D - 1)),  # one antithetic pair of orders
    "Permutation-plain": (SAMPLERS["Permutation-plain"], 2 + 2 * (D - 1)),  # two orders
    "UnbiasedKernelSHAP": (SAMPLERS["UnbiasedKernelSHAP"], 8),  # three pairs
    "MSRBanzhaf": (SAMPLERS["MSRBanzhaf"], 24),
}
R = 400


def _over_seeds(oracle: Oracle, game: Game, seeds: range) -> np.ndarray:
    return np.stack([run(oracle, game, seed=s).values for s in seeds])


def _z_of_mean(estimates: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|mean over seeds − exact| in standard errors of the mean (from the spread over seeds)."""
    spread = estimates.std(axis=0, ddof=1) / np.sqrt(estimates.shape[0])
    return np.abs(estimates.mean(axis=0) - exact) / spread


@pytest.mark.parametrize("name", list(UNBIASED))
def test_unbiased_oracles_are_unbiased(name: str) -> None:
    """Budgets: Permutation 12 (2 orders), UnbiasedKernelSHAP 8 (3 pairs), MSRBanzhaf 24; R = 400 seeds."""
    factory, budget = UNBIASED[name]
    oracle = factory(budget)
    assert oracle.unbiased
    game = mlp_game(d=D, n_points=2, seed=11)
    exact = run(Exact(kind=oracle.target), game).values
    estimates = _over_seeds(oracle, game, range(R))
    assert estimates.std(axis=0).min() > 1e-6  # really random at this budget
    z = _z_of_mean(estimates, exact)
    assert z.max() < 4.0, (z.max(), np.unravel_index(z.argmax(), z.shape))


def test_unbiasedness_test_detects_a_biased_estimator() -> None:
    """The same statistic flags LIME at a small budget against the Shapley values it does not estimate,
    and a 5 % multiplicative bias of an unbiased oracle: the test above has power."""
    game = mlp_game(d=D, n_points=2, seed=11)
    exact = run(Exact(), game).values
    perm = _over_seeds(Permutation(budget=2 + 2 * (D - 1)), game, range(R))
    assert _z_of_mean(perm * 1.05 + 0.05 * np.abs(exact).mean(), exact).max() > 4.0
    lime = _over_seeds(LIME(budget=24), game, range(100))
    assert _z_of_mean(lime, exact).max() > 4.0


# --------------------------------------------------------------------------------------------
# Calibration of standard errors


CALIBRATED: dict[str, tuple[Factory, int]] = {
    "KernelSHAP": (SAMPLERS["KernelSHAP"], 512),
    "UnbiasedKernelSHAP": (SAMPLERS["UnbiasedKernelSHAP"], 512),
    "LeverageSHAP": (SAMPLERS["LeverageSHAP"], 512),
    "Permutation": (SAMPLERS["Permutation"], 512),
    "MSRBanzhaf": (SAMPLERS["MSRBanzhaf"], 512),
}
N_SEEDS = 150


@pytest.mark.parametrize("name", list(CALIBRATED))
def test_standard_errors_are_calibrated(name: str) -> None:
    """Budget 512 evaluations per point for each oracle (d = 6): 150 seeds × 2 points × 6 players ×
    2 outputs = 3600 nominal 95 % intervals, of which 85–99 % must cover the exact value."""
    factory, budget = CALIBRATED[name]
    oracle = factory(budget)
    game = mlp_game(d=D, n_points=2, seed=12)
    exact = run(Exact(kind=oracle.target), game).values
    covered = []
    for s in range(N_SEEDS):
        lower, upper = run(oracle, game, seed=s).confidence_interval(0.95)
        assert np.all(upper > lower)
        covered.append((lower <= exact) & (exact <= upper))
    coverage = float(np.mean(covered))
    assert 0.85 <= coverage <= 0.99, coverage


def test_calibration_test_rejects_halved_standard_errors() -> None:
    game = mlp_game(d=D, n_points=2, seed=12)
    exact = run(Exact(), game).values
    covered = []
    for s in range(40):
        est = run(Permutation(budget=512), game, seed=s)
        covered.append(np.abs(est.values - exact) <= 1.96 * est.std_errors / 2)
    assert np.mean(covered) < 0.85


# --------------------------------------------------------------------------------------------
# Stopping rules


#: (factory, budget per round) — rounds of 32 samples (30 evaluations for permutations at d = 6).
STOPPABLE: dict[str, tuple[Factory, int]] = {
    "KernelSHAP": (SAMPLERS["KernelSHAP"], 34),
    "UnbiasedKernelSHAP": (SAMPLERS["UnbiasedKernelSHAP"], 34),
    "LeverageSHAP": (SAMPLERS["LeverageSHAP"], 34),
    "Permutation": (SAMPLERS["Permutation"], 32),
    "Permutation-plain": (SAMPLERS["Permutation-plain"], 32),
    "MSRBanzhaf": (SAMPLERS["MSRBanzhaf"], 32),
    "LIME": (SAMPLERS["LIME"], 32),
}
SCALES = [0.05, 0.06, 0.07, 0.08, 0.1, 0.2, 0.4, 1.6]  # points whose attributions differ in size and noise


def _round_cost(oracle: Oracle, d: int) -> tuple[int, int]:
    """(fixed evaluations, evaluations per round) as documented for each oracle."""
    if isinstance(oracle, Permutation):
        orders = (oracle.budget - 2) // (d - 1)
        if oracle.antithetic:
            orders -= orders % 2
        return 2, orders * (d - 1)
    fixed = 0 if isinstance(oracle, (MSRBanzhaf, LIME)) else 2
    return fixed, oracle.budget - fixed


def _with_budget(oracle: Oracle, budget: int, **changes: Any) -> Oracle:
    return dataclasses.replace(oracle, budget=budget, **changes)


def _stopping_setup(name: str) -> tuple[Oracle, int, Any, int, int, Estimate]:
    """The oracle ``name`` at its round budget, the game of the stopping tests, the fixed and
    per-round costs, and the estimate of one round."""
    factory, round_budget = STOPPABLE[name]
    oracle = factory(round_budget)
    game = mlp_game(d=D, n_points=len(SCALES), seed=21, scales=SCALES)
    fixed, per_round = _round_cost(oracle, D)
    return oracle, round_budget, game, fixed, per_round, run(oracle, game)


@pytest.mark.parametrize("name", list(STOPPABLE))
def test_stopping_rule_meets_the_target_or_the_cap(name: str) -> None:
    oracle, round_budget, game, fixed, per_round, one_round = _stopping_setup(name)
    np.testing.assert_array_equal(one_round.n_evaluations, fixed + per_round)
    worst1 = one_round.std_errors.reshape(game.n_points, -1).max(1)
    # a target that the second-smallest point meets after a few rounds (SE ∝ 1/sqrt(rounds)) and
    # the largest never
    target = float(np.sort(worst1)[1]) / 1.6
    assert worst1.max() > 5 * target
    cap = fixed + 6 * per_round + per_round // 2  # not a whole number of rounds
    max_rounds = (cap - fixed) // per_round
    # min_replicates=1: the target alone decides (test_stopping_waits_for_enough_replicates checks the rest)
    stopped = run(_with_budget(oracle, round_budget, stopping=StoppingRule(target, cap, min_replicates=1)), game)
    n_eval = stopped.n_evaluations
    worst = stopped.std_errors.reshape(game.n_points, -1).max(1)

    assert np.all(n_eval <= cap)
    assert np.all((n_eval - fixed) % per_round == 0)
    assert len(set(n_eval.tolist())) >= 2, n_eval  # points stop at different counts
    rounds_used = (n_eval - fixed) // per_round
    assert np.any((rounds_used > 1) & (rounds_used < max_rounds)), rounds_used  # some stop mid-way
    met = worst <= target
    assert met.any() and not met.all(), (worst, target)
    np.testing.assert_array_equal(n_eval[~met], fixed + max_rounds * per_round)  # unmet: ran to the cap
    for p in np.flatnonzero(met):
        rounds = rounds_used[p]
        # the stopped estimate is the one-shot estimate with that many evaluations ...
        same = run(_with_budget(oracle, int(n_eval[p])), game)
        np.testing.assert_allclose(stopped.values[p], same.values[p], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(stopped.std_errors[p], same.std_errors[p], rtol=1e-10, atol=1e-12)
        # ... and it did not stop later than needed: one round fewer missed the target
        if rounds > 1:
            before = run(_with_budget(oracle, int(fixed + (rounds - 1) * per_round)), game)
            assert before.std_errors[p].max() > target


@pytest.mark.parametrize("name", list(STOPPABLE))
def test_stopping_waits_for_enough_replicates(name: str) -> None:
    """A standard error from few replicates cannot stop a point, however small it is."""
    oracle, round_budget, game, fixed, per_round, first = _stopping_setup(name)
    assert first.dof is not None
    needed = int(first.dof.min()) + 1 + 1  # one replicate more than a single round gives the thinnest point
    cap = fixed + 8 * per_round
    easy = run(_with_budget(oracle, round_budget, stopping=StoppingRule(1e9, cap, min_replicates=1)), game)
    np.testing.assert_array_equal(easy.n_evaluations, fixed + per_round)  # any target is met at once
    waiting = run(_with_budget(oracle, round_budget, stopping=StoppingRule(1e9, cap, min_replicates=needed)), game)
    assert waiting.dof is not None and np.all(waiting.dof + 1 >= needed)
    thin = first.dof + 1 < needed  # too few replicates after one round: these must go on
    assert thin.any() and np.all(waiting.n_evaluations[thin] > fixed + per_round)
    with pytest.raises(InvalidArgumentError, match="min_replicates"):
        StoppingRule(1.0, min_replicates=0)


@pytest.mark.parametrize("name", ["KernelSHAP", "Permutation", "MSRBanzhaf"])
def test_stopping_rule_without_target_caps_a_single_round(name: str) -> None:
    factory, round_budget = STOPPABLE[name]
    oracle = factory(round_budget)
    game = mlp_game(d=D, n_points=3, seed=22)
    fixed, per_round = _round_cost(oracle, D)
    plain = run(oracle, game)
    capped = run(_with_budget(oracle, round_budget, stopping=StoppingRule(max_evaluations=10 * round_budget)), game)
    np.testing.assert_array_equal(capped.n_evaluations, fixed + per_round)  # one round, not ten
    np.testing.assert_array_equal(capped.values, plain.values)
    exact_fit = run(_with_budget(oracle, round_budget, stopping=StoppingRule(max_evaluations=fixed + per_round)), game)
    np.testing.assert_array_equal(exact_fit.values, plain.values)
    with pytest.raises(InsufficientSamplesError, match="^max_evaluations:"):
        run(_with_budget(oracle, round_budget, stopping=StoppingRule(max_evaluations=fixed + per_round - 1)), game)


@pytest.mark.parametrize("name", ["KernelSHAP", "Permutation"])
def test_stopping_rule_without_cap_allows_64_rounds(name: str) -> None:
    factory, round_budget = STOPPABLE[name]
    oracle = factory(round_budget)
    game = mlp_game(d=D, n_points=len(SCALES), seed=21, scales=SCALES)
    fixed, per_round = _round_cost(oracle, D)
    est = run(_with_budget(oracle, round_budget, stopping=StoppingRule(target_std_error=1e-12)), game)
    assert np.all(est.n_evaluations <= fixed + 64 * per_round)
    assert est.n_evaluations.max() == fixed + 64 * per_round


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"target_std_error": 0.0}, "target_std_error"),
        ({"target_std_error": -1.0}, "target_std_error"),
        ({"target_std_error": float("nan")}, "target_std_error"),
        ({"target_std_error": float("inf")}, "target_std_error"),
        ({"max_evaluations": 0}, "max_evaluations"),
        ({"max_evaluations": 10.5}, "max_evaluations"),
    ],
)
def test_stopping_rule_arguments(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"^{argument}:"):
        StoppingRule(**kwargs)


# --------------------------------------------------------------------------------------------
# Determinism, point offsets and batch sizes


@pytest.mark.parametrize("name", list(ALL))
def test_same_seed_same_result_and_split_games_equal_one_game(name: str) -> None:
    oracle = ALL[name](128)
    model, x, b = mlp(D, seed=31), randn(5, D, seed=32), randn(D, seed=33)
    family = MaskedModel(model, BaselineMasker(b), output="logits")
    whole = run(oracle, family.bind(x), seed=3)
    again = run(oracle, family.bind(x), seed=3)
    np.testing.assert_array_equal(whole.values, again.values)
    np.testing.assert_array_equal(whole.std_errors, again.std_errors)
    first = run(oracle, family.bind(x[:2]), seed=3)
    second = run(oracle, family.bind(x[2:]), seed=3, point_offset=2)
    np.testing.assert_allclose(np.concatenate([first.values, second.values]), whole.values, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(np.concatenate([first.n_evaluations, second.n_evaluations]), whole.n_evaluations)
    if name in SAMPLERS:
        other = run(oracle, family.bind(x), seed=4)
        assert not np.allclose(other.values, whole.values)
        unshifted = run(oracle, family.bind(x[2:]), seed=3)  # the offset matters
        assert not np.allclose(unshifted.values, whole.values[2:])


@pytest.mark.parametrize("name", ["KernelSHAP", "Permutation", "MSRBanzhaf"])
def test_split_games_equal_one_game_with_a_stopping_rule(name: str) -> None:
    factory, round_budget = STOPPABLE[name]
    rule = StoppingRule(target_std_error=0.02, max_evaluations=20 * round_budget)
    oracle = _with_budget(factory(round_budget), round_budget, stopping=rule)
    x = randn(len(SCALES), D, seed=100 + 21) * torch.tensor(SCALES, dtype=torch.float64)[:, None]
    family = MaskedModel(mlp(D, seed=21), BaselineMasker(randn(D, seed=221)), output="logits")
    whole = run(oracle, family.bind(x), seed=5)
    parts = [run(oracle, family.bind(x[i : i + 3]), seed=5, point_offset=i) for i in (0, 3, 6)]
    np.testing.assert_allclose(np.concatenate([p.values for p in parts]), whole.values, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate([p.n_evaluations for p in parts]), whole.n_evaluations)


@pytest.mark.parametrize("name", list(ALL))
def test_results_do_not_depend_on_the_batch_size(name: str) -> None:
    oracle = ALL[name](96)
    model, x, background = mlp(D, seed=41), randn(3, D, seed=42), randn(4, D, seed=43)
    results = []
    for batch_size in (5, 4096):
        game = MaskedModel(model, MarginalMasker(background), output="logits", batch_size=batch_size).bind(x)
        results.append(run(oracle, game, seed=2))
    np.testing.assert_allclose(results[0].values, results[1].values, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(results[0].std_errors, results[1].std_errors, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(results[0].n_evaluations, results[1].n_evaluations)


@pytest.mark.parametrize("name", list(ALL))
def test_results_do_not_depend_on_chunking_of_points(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Points are processed in chunks sized by MAX_CHUNK_CELLS (and Exact slices its coalitions);
    tiny chunks give the same estimates."""
    import stochamort.oracles.base as base
    import stochamort.oracles.permutation as permutation

    oracle = ALL[name](64)
    game = mlp_game(d=5, n_points=7, seed=46)
    whole = run(oracle, game, seed=1)
    monkeypatch.setattr(base, "MAX_CHUNK_CELLS", 700)
    monkeypatch.setattr(permutation, "MAX_CHUNK_CELLS", 70)
    chunked = run(oracle, game, seed=1)
    np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(chunked.n_evaluations, whole.n_evaluations)


@pytest.mark.parametrize("budget", [40, 41])
def test_budget_counts_model_evaluations_and_is_never_exceeded(budget: int) -> None:
    model, x = mlp(D, seed=44), randn(3, D, seed=45)
    for name in ALL:
        oracle = ALL[name](budget)
        game = MaskedModel(model, BaselineMasker(0.0), output="logits").bind(x)
        before = game.n_forward_inputs
        est = run(oracle, game)
        assert game.n_forward_inputs - before == est.n_evaluations.sum(), name
        assert np.all(est.n_evaluations <= (budget if not isinstance(oracle, Exact) else 1 << D)), name
        assert np.all(est.n_evaluations > (budget - 2 * (D - 1) if not isinstance(oracle, Exact) else (1 << D) - 1)), name


# --------------------------------------------------------------------------------------------
# Bad input


def _typed(err: BaseException, argument: str) -> None:
    assert isinstance(err, StochamortError) and isinstance(err, ValueError), type(err)
    assert str(err).startswith(f"{argument}:"), str(err)


@pytest.mark.parametrize(
    "oracle",
    [
        KernelSHAP(budget=4),
        KernelSHAP(budget=3, paired=False),
        UnbiasedKernelSHAP(budget=3),
        LeverageSHAP(budget=5),
        Permutation(budget=2 * D - 1),
        Permutation(budget=D, antithetic=False),
        MSRBanzhaf(budget=1),
        LIME(budget=D),
    ],
    ids=lambda o: f"{type(o).__name__}-{o.budget}{'' if getattr(o, 'paired', True) else '-unpaired'}",
)
def test_budget_too_small_for_the_oracle(oracle: Oracle) -> None:
    game = mlp_game(d=D, n_points=2, seed=51)
    with pytest.raises(InsufficientSamplesError) as info:
        run(oracle, game)
    _typed(info.value, "budget")


@pytest.mark.parametrize(
    "oracle",
    [
        KernelSHAP(budget=2 * D - 1),  # D − 2 pairs: A has rank ≤ D − 1 whatever the draw
        KernelSHAP(budget=D + 1, paired=False),  # D − 1 samples: rank ≤ D − 1
        LeverageSHAP(budget=2 * D - 1),
        LeverageSHAP(budget=D + 1, paired=False),
    ],
    ids=lambda o: f"{type(o).__name__}-{o.budget}{'' if o.paired else '-unpaired'}",
)
def test_kernelshap_budget_that_can_never_identify_the_system_is_a_budget_error(oracle: Oracle) -> None:
    """A = mean(w z zᵀ) is D × D: fewer than D unpaired samples, or fewer than D − 1 complementary
    pairs (each pair spans z and 1), leave it singular for every draw and every seed. That is a
    budget too small for the oracle, known before sampling: it must be reported against ``budget``
    like the other budget errors (and be an InsufficientSamplesError)."""
    game = mlp_game(d=D, n_points=2, seed=51)
    for seed in (0, 1):
        with pytest.raises(InsufficientSamplesError) as info:
            run(oracle, game, seed=seed)
        _typed(info.value, "budget")


@pytest.mark.parametrize("budget", [0, -3, 2.5, "64"])
@pytest.mark.parametrize("name", ["KernelSHAP", "Permutation", "MSRBanzhaf", "LIME"])
def test_budget_must_be_a_positive_integer(name: str, budget: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        run(SAMPLERS[name](budget), mlp_game(d=D, seed=52))
    _typed(info.value, "budget")


def test_unlucky_draws_that_do_not_identify_the_estimator_are_rescued_or_typed_errors() -> None:
    """Budgets large enough in principle whose drawn samples leave the estimator undefined: the
    point is estimated again with a doubled budget (recorded); see test_singular_rescue.py."""
    game = mlp_game(d=D, n_points=1, seed=53)
    lucky = run(KernelSHAP(budget=2 * D, sampling="iid"), game, seed=5)  # D − 1 pairs: enough for this draw ...
    assert lucky.extras["singular_retries"][0] == 0
    unlucky = run(KernelSHAP(budget=2 * D, sampling="iid"), game, seed=0)  # ... not for this one
    assert unlucky.extras["singular_retries"][0] >= 1 and unlucky.n_evaluations[0] > 2 * D
    assert np.isfinite(unlucky.values).all()
    assert run(LIME(budget=D + 3), game, seed=0).extras["singular_retries"][0] == 0
    assert run(LIME(budget=D + 3), game, seed=11).extras["singular_retries"][0] >= 1
    with pytest.raises(InsufficientSamplesError) as msr:
        run(MSRBanzhaf(budget=2), mlp_game(d=8, n_points=2, seed=53))  # a player in (or out of) both
    assert isinstance(msr.value, ValueError)
    assert "player" in str(msr.value) and "point" in str(msr.value)


def test_oracle_call_arguments() -> None:
    game = mlp_game(d=D, seed=54)
    for kwargs, argument in (({"seed": -1}, "seed"), ({"seed": 2**64}, "seed"), ({"seed": 1.5}, "seed"), ({"point_offset": -1}, "point_offset")):
        with pytest.raises(InvalidArgumentError) as info:
            Permutation(budget=32)(game, progress=False, **kwargs)
        _typed(info.value, argument)
    with pytest.raises(InvalidArgumentError) as info:
        Permutation(budget=32)(object(), progress=False)  # type: ignore[arg-type]
    _typed(info.value, "game")
    too_many = FunctionGame(lambda m, p: np.zeros((*m.shape[:2], 1)), 1, 21)
    with pytest.raises(TooManyPlayersError) as many:
        run(Exact(), too_many)
    _typed(many.value, "game")
    with pytest.raises(InvalidArgumentError) as kind:
        run(Exact(kind="owen"), game)  # type: ignore[arg-type]
    assert isinstance(kind.value, ValueError)
