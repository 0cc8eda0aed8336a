"""Sampling designs without repeats (``sample_design``): the plan, the draws and their weights, and
the exact unbiasedness of unbiased KernelSHAP on them (every possible design enumerated)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

import stochamort.reference as reference
from stochamort.errors import InvalidArgumentError
from tests.helpers.games import Game, games, textbook_shapley_subsets

DISTRIBUTIONS = ["shapley", "leverage", "banzhaf"]


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("paired", [True, False], ids=["paired", "unpaired"])
@pytest.mark.parametrize("replace", [False, True], ids=["distinct", "iid"])
def test_designs_follow_the_plan(impl, distribution: str, paired: bool, replace: bool) -> None:
    d, n_rows = 10, 300
    design = impl.sample_design(4, n_rows, d, distribution=distribution, paired=paired, replace=replace, seed=2)
    plan = reference.design_plan(d, n_rows, distribution, paired)
    assert design.n_enumerated == plan.n_enumerated
    assert design.masks.shape == (4, plan.n_enumerated + plan.random_rows, d)
    sizes = design.masks.sum(axis=2)
    assert np.all((sizes > 0) & (sizes < d))
    # The enumerated block: every coalition of the enumerated sizes once, the same for every point.
    block = design.masks[:, : design.n_enumerated]
    assert np.all(block == block[:1])
    expected = sum(math.comb(d, k) for j in plan.enumerated for k in {j, d - j})
    assert len({row.tobytes() for row in block[0]}) == expected == design.n_enumerated
    assert np.all(block[0, 0::2] == ~block[0, 1::2])
    np.testing.assert_array_equal(design.weights[:, : design.n_enumerated], 1.0)
    if paired:
        assert np.all(design.masks[:, 0::2] == ~design.masks[:, 1::2])
    # Random rows: weights by the plan, and no repeats unless replace.
    counts = {}
    for p in range(4):
        rows = design.masks[p, design.n_enumerated :]
        if not replace:
            assert len({row.tobytes() for row in design.masks[p]}) == design.masks.shape[1]
        for row, weight in zip(rows, design.weights[p, design.n_enumerated :]):
            k = int(row.sum())
            if replace:
                q = plan.random_size_probability[k] / math.comb(d, k)
                assert weight == pytest.approx(1.0 / (plan.random_rows * q), rel=1e-9)
            else:
                key = min(k, d - k) if paired else k
                counts[(p, key)] = counts.get((p, key), 0) + 1
                stratum = next(s for s, (size, _, _) in enumerate(plan.strata) if size == key)
                units = plan.strata[stratum][1]
                assert weight == pytest.approx(units / plan.expected_units()[stratum], rel=1e-9)
    if not replace:
        per_unit = 2 if paired else 1
        for (p, key), rows in counts.items():
            stratum = next(s for s, (size, _, _) in enumerate(plan.strata) if size == key)
            e = plan.expected_units()[stratum]
            assert math.floor(e) <= rows // per_unit <= math.ceil(e)


@pytest.mark.parametrize("replace", [False, True], ids=["distinct", "iid"])
def test_weights_count_coalitions_without_bias(impl, replace: bool) -> None:
    # E[Σ_r w_r 1{|S_r| = k}] = C(d, k): a seeded statistical check over 1500 points (tolerance 6 %,
    # many standard errors of this mean).
    d = 9
    design = impl.sample_design(1500, 40, d, replace=replace, seed=1)
    sizes = design.masks.sum(axis=2)
    for k in range(1, d):
        mean = (design.weights * (sizes == k)).sum(axis=1).mean()
        assert mean == pytest.approx(math.comb(d, k), rel=0.06), k


def test_a_budget_covering_every_coalition_is_the_census(impl) -> None:
    design = impl.sample_design(2, 500, 6, seed=0)
    assert design.masks.shape == (2, 62, 6) and design.n_enumerated == 62
    assert len({row.tobytes() for row in design.masks[0]}) == 62
    np.testing.assert_array_equal(design.weights, 1.0)


def test_designs_are_deterministic_and_split_by_points(impl) -> None:
    whole = impl.sample_design(5, 120, 11, seed=9)
    again = impl.sample_design(5, 120, 11, seed=9)
    tail = impl.sample_design(2, 120, 11, seed=9, point_offset=3)
    np.testing.assert_array_equal(whole.masks, again.masks)
    np.testing.assert_array_equal(whole.masks[3:], tail.masks)
    np.testing.assert_array_equal(whole.weights[3:], tail.weights)
    assert not np.array_equal(whole.masks, impl.sample_design(5, 120, 11, seed=10).masks)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"n_samples": 7}, "n_samples"), ({"n_players": 1}, "n_players"), ({"distribution": "uniform"}, "distribution")],
)
def test_bad_design_arguments_are_named(impl, kwargs: dict, argument: str) -> None:
    arguments = {"n_points": 1, "n_samples": 8, "n_players": 5, **kwargs}
    with pytest.raises(InvalidArgumentError) as info:
        impl.sample_design(arguments.pop("n_points"), arguments.pop("n_samples"), arguments.pop("n_players"), **arguments)
    assert str(info.value).startswith(f"{argument}:")


# ------------------------------------------------------------------------------------------
# unbiased KernelSHAP on a design: its expectation, over every possible design, is exact


def _allocations(expected: np.ndarray) -> list[tuple[float, list[int]]]:
    """The systematic allocations of units to strata with their probabilities (u uniform)."""
    cumulative = np.cumsum(expected)
    cumulative[-1] = round(float(expected.sum()))
    edges = sorted({0.0, 1.0, *[float(1 - (c % 1)) % 1 for c in cumulative]})
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi - lo < 1e-15:
            continue
        u = 0.5 * (lo + hi)
        floors = np.floor(np.concatenate([[0.0], cumulative]) + u)
        out.append((hi - lo, [int(c) for c in np.diff(floors)]))
    return out


def _stratum_units(d: int, size: int, paired: bool) -> list[np.ndarray]:
    units = []
    for chosen in itertools.combinations(range(d), size):
        row = np.zeros(d, dtype=bool)
        row[list(chosen)] = True
        if paired and 2 * size == d and not row[0]:
            continue
        units.append(np.stack([row, ~row]) if paired else row[None])
    return units


@cache
def _every_stratified_design(d: int, n_rows: int, paired: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every design ``sample_design(..., replace=False)`` can return, as (masks, weights, probabilities)."""
    plan = reference.design_plan(d, n_rows, "shapley", paired)
    block = reference.sample_design(1, n_rows, d, paired=paired, seed=0).masks[0, : plan.n_enumerated]
    expected = plan.expected_units()
    designs, weights, probabilities = [], [], []
    for probability, counts in _allocations(expected):
        choices = []
        for (size, units, _), e, count in zip(plan.strata, expected, counts):
            choices.append([(combo, units / e) for combo in itertools.combinations(_stratum_units(d, size, paired), count)])
        combos = list(itertools.product(*choices))
        for combo in combos:
            rows = [block] + [unit for part, _ in combo for unit in part]
            row_weights = [np.ones(len(block))] + [np.full(sum(len(u) for u in part), w) for part, w in combo]
            designs.append(np.concatenate(rows))
            weights.append(np.concatenate(row_weights))
            probabilities.append(probability / len(combos))
    return np.array(designs), np.array(weights), np.array(probabilities)


@pytest.mark.parametrize(
    ("d", "n_rows", "paired"),
    [(4, 12, True), (5, 8, True), (5, 18, True), (4, 6, False), (5, 3, False)],
    ids=["d4-enumerated-1", "d5-no-enumeration", "d5-enumerated-1", "d4-unpaired", "d5-unpaired"],
)
@settings(max_examples=5)
@given(data=st.data())
def test_unbiased_kernelshap_on_stratified_designs_exact_expectation(impl, data: st.DataObject, d: int, n_rows: int, paired: bool) -> None:
    game = data.draw(games(min_players=d, max_players=d, max_points=1, max_outputs=2))
    masks, weights, probabilities = _every_stratified_design(d, n_rows, paired)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    batch = game.repeat_points(0, masks.shape[0])
    n_enumerated = reference.design_plan(d, n_rows, "shapley", paired).n_enumerated
    est = impl.unbiased_kernelshap(
        masks, batch.values_at(masks), batch.null, batch.grand,
        paired=paired, sample_weights=weights, n_enumerated=n_enumerated, stratified=True,
    )
    expectation = np.einsum("k,kio->io", probabilities, est.values)
    np.testing.assert_allclose(expectation, textbook_shapley_subsets(game)[0], rtol=0, atol=1e-9)


@settings(max_examples=8)
@given(game=games(min_players=4, max_players=4, max_points=1, max_outputs=2))
def test_unbiased_kernelshap_on_iid_designs_exact_expectation(impl, game: Game) -> None:
    # d = 4, 12 rows: sizes 1 and 3 enumerated (8 rows), then two i.i.d. pairs of size 2.
    d, n_rows = 4, 12
    plan = reference.design_plan(d, n_rows, "shapley", True)
    assert plan.n_enumerated == 8 and plan.random_rows == 4
    block = reference.sample_design(1, n_rows, d, seed=0).masks[0, :8]
    draws = [unit for k in (2,) for unit in _stratum_units(d, k, False)]  # S, then its complement
    q = 1.0 / len(draws)
    masks, probabilities = [], []
    for first, second in itertools.product(draws, repeat=2):
        masks.append(np.concatenate([block, first, ~first, second, ~second]))
        probabilities.append(q * q)
    masks_array = np.array(masks)
    weights = np.concatenate([np.ones(8), np.full(4, 1.0 / (plan.random_rows * q))])
    batch = game.repeat_points(0, len(masks))
    est = impl.unbiased_kernelshap(
        masks_array, batch.values_at(masks_array), batch.null, batch.grand,
        paired=True, sample_weights=np.tile(weights, (len(masks), 1)), n_enumerated=8, stratified=False,
    )
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-12)
    expectation = np.einsum("k,kio->io", np.array(probabilities), est.values)
    np.testing.assert_allclose(expectation, textbook_shapley_subsets(game)[0], rtol=0, atol=1e-9)


@given(game=games(min_players=3, max_players=7, max_points=2))
def test_kernelshap_on_the_census_design_is_exact(impl, game: Game) -> None:
    d = game.n_players
    design = impl.sample_design(game.n_points, 2**d, d, seed=0)
    for estimator in ("kernelshap", "unbiased_kernelshap"):
        est = getattr(impl, estimator)(
            design.masks, game.values_at(design.masks), game.null, game.grand,
            paired=True, sample_weights=design.weights, n_enumerated=design.n_enumerated, stratified=True,
        )
        np.testing.assert_allclose(est.values, textbook_shapley_subsets(game), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(est.std_errors, 0.0)


def test_design_kernelshap_matches_the_reference() -> None:
    import stochamort.estimators as estimators
    from stochamort.sampling import sample_design

    rng = np.random.default_rng(4)
    d, n = 9, 3
    table = rng.normal(size=(n, 2**d, 2))
    game = Game(table)
    for replace in (False, True):
        design = sample_design(n, 120, d, seed=5, replace=replace)
        args = (design.masks, game.values_at(design.masks), game.null, game.grand)
        kwargs = {"paired": True, "sample_weights": design.weights, "n_enumerated": design.n_enumerated, "stratified": not replace}
        for name in ("kernelshap", "unbiased_kernelshap"):
            ours, theirs = getattr(estimators, name)(*args, **kwargs), getattr(reference, name)(*args, **kwargs)
            np.testing.assert_allclose(ours.values, theirs.values, rtol=0, atol=1e-10)
            np.testing.assert_allclose(ours.std_errors, theirs.std_errors, rtol=1e-9, atol=1e-12)
            # Satterthwaite's degrees of freedom per cell, at most the strata's sum.
            assert ours.dof is not None and ours.dof.shape == ours.values.shape
            np.testing.assert_allclose(ours.dof, theirs.extras["dof"], rtol=1e-7)
            assert (ours.dof >= 1).all() and (ours.dof <= design.masks.shape[1] // 2).all()


def test_strata_of_one_unit_collapse_alike_in_core_and_reference() -> None:
    """30 players, 12 pairs: most size strata hold one unit, collapsed in neighbouring pairs."""
    import stochamort.estimators as estimators
    from stochamort.sampling import sample_design

    rng = np.random.default_rng(7)
    d, n = 30, 3
    design = sample_design(n, 26, d, seed=2)
    coefficients = rng.normal(size=(n, d, 2))
    values = np.tanh(np.einsum("psd,pdo->pso", design.masks.astype(np.float64), coefficients))
    null, grand = np.zeros((n, 2)), np.tanh(coefficients.sum(axis=1))
    kwargs = {"paired": True, "sample_weights": design.weights, "n_enumerated": design.n_enumerated, "stratified": True}
    ours = estimators.unbiased_kernelshap(design.masks, values, null, grand, **kwargs)
    theirs = reference.unbiased_kernelshap(design.masks, values, null, grand, **kwargs)
    np.testing.assert_allclose(ours.std_errors, theirs.std_errors, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.dof, theirs.extras["dof"], rtol=1e-7)
    assert np.isfinite(ours.std_errors).all() and (ours.dof < 12).all()
