"""Regression-adjusted Monte Carlo: closed forms of the surrogate's basis, the exact expectation of
one fold, a seeded statistical test of the whole estimator, exact answers when the surrogate is
exact, Rust against the numpy reference, bad inputs and determinism."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stochamort as sm
import stochamort.reference as ref
from stochamort.errors import InsufficientSamplesError, InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.reference.regression import semivalue_of_surrogate
from tests.core.test_rust_vs_reference import assert_same, run_both
from tests.helpers.games import all_masks, subset_probability

SEMIVALUES: dict[str, dict[str, Any]] = {
    "shapley": {"kind": "shapley"},
    "banzhaf": {"kind": "banzhaf"},
    "beta(4,1)": {"kind": "beta", "alpha": 4.0, "beta": 1.0},
}


def weights_of(d: int, name: str) -> np.ndarray:
    return sm.semivalue_weights(d, **SEMIVALUES[name])


def index_of(masks: np.ndarray) -> np.ndarray:
    """Row of each mask in a value table (bit i ⇔ player i)."""
    return (masks.astype(np.int64) << np.arange(masks.shape[-1])).sum(axis=-1)


# ------------------------------------------------------------------------------------------
# closed forms


@given(d=st.integers(1, 7), seed=st.integers(0, 2**32 - 1))
def test_closed_form_semivalues_of_the_basis_functions(d: int, seed: int) -> None:
    """φ(α_{|S|}), φ(z_j) and φ(z_j z_l) in closed form equal exact enumeration, for any weights."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(-1.0, 1.0, d)
    masks = all_masks(d)
    sizes = masks.sum(axis=1)
    alpha = rng.normal(size=(d + 1, 1))
    beta = rng.normal(size=(d, 1))
    gamma = np.zeros((d, d, 1))
    upper = np.triu_indices(d, 1)
    gamma[upper] = rng.normal(size=(len(upper[0]), 1))
    gamma += gamma.transpose(1, 0, 2)
    table = alpha[sizes] + masks @ beta + np.einsum("sj,jlo,sl->so", masks * 1.0, gamma, masks * 1.0) / 2
    exact = sm.exact_semivalue(table[None], p).values[0]
    np.testing.assert_allclose(semivalue_of_surrogate(alpha, beta, gamma, p), exact, atol=1e-10)
    # Each piece on its own, as the docstring states them.
    for part in ((alpha, 0 * beta, 0 * gamma), (0 * alpha, beta, 0 * gamma), (0 * alpha, 0 * beta, gamma)):
        part_table = part[0][sizes] + masks @ part[1] + np.einsum("sj,jlo,sl->so", masks * 1.0, part[2], masks * 1.0) / 2
        np.testing.assert_allclose(
            semivalue_of_surrogate(*part, p), sm.exact_semivalue(part_table[None], p).values[0], atol=1e-10
        )


# ------------------------------------------------------------------------------------------
# exact expectation of one fold


def fold_expectation_case(d: int, semivalue: str, paired: bool, enumerated: list[int], seed: int) -> dict[str, Any]:
    """Designs in which unit 2 is alone in fold 2 (5 units, 3 folds), the other units fixed, one point
    per coalition unit 2 can take; with the probability of each."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(2**d, 2))
    coalitions = all_masks(d)
    sizes = coalitions.sum(axis=1)
    allowed = (sizes > 0) & (sizes < d) & ~np.isin(sizes, enumerated)
    q = np.array([subset_probability(int(s), d, "shapley") for s in sizes]) * allowed
    q /= q.sum()
    enum = coalitions[np.isin(sizes, enumerated)]
    fixed = rng.choice(len(coalitions), size=5, p=q)
    support = np.flatnonzero(q > 0)
    designs = []
    for c in support:
        units = list(fixed)
        units[2] = c
        rows = [row for u in units for row in ((coalitions[u], ~coalitions[u]) if paired else (coalitions[u],))]
        designs.append(np.concatenate([enum, np.array(rows)]))
    masks = np.array(designs)
    n_random = masks.shape[1] - len(enum)
    weights = np.ones(masks.shape[:2])
    weights[:, len(enum) :] = 1.0 / (n_random * q[index_of(masks[:, len(enum) :])])
    n = len(support)
    return {
        "masks": masks,
        "values": table[index_of(masks)],
        "null": np.repeat(table[None, 0], n, axis=0),
        "grand": np.repeat(table[None, -1], n, axis=0),
        "weights": weights,
        "n_enumerated": len(enum),
        "probability": q[support],
        "exact": sm.exact_semivalue(table[None], weights_of(d, semivalue)).values[0],
        "p": weights_of(d, semivalue),
    }


@pytest.mark.parametrize("semivalue", list(SEMIVALUES))
@pytest.mark.parametrize("paired", [False, True], ids=["single", "paired"])
@pytest.mark.parametrize("enumerated", [[], [1, 4]], ids=["iid", "border"])
@pytest.mark.parametrize("degree,size_intercepts", [(0, True), (1, False), (2, True), (2, False)])
def test_one_fold_is_exactly_unbiased_given_the_others(
    impl: Any, semivalue: str, paired: bool, enumerated: list[int], degree: int, size_intercepts: bool
) -> None:
    case = fold_expectation_case(5, semivalue, paired, enumerated, seed=len(enumerated) + 7 * degree + paired)
    est = impl.regression_adjusted_semivalue(
        case["masks"], case["values"], case["null"], case["grand"], sample_weights=case["weights"],
        n_enumerated=case["n_enumerated"], semivalue_weights=case["p"], paired=paired, folds=3,
        degree=degree, size_intercepts=size_intercepts,
    )
    fold_two = est.extras["fold_values"][:, 2]
    expectation = np.einsum("c,cio->io", case["probability"], fold_two)
    np.testing.assert_allclose(expectation, case["exact"], atol=1e-9)
    # The whole estimate is not a one-fold estimate: it is random, and not unbiased in this
    # conditional sense (fold 2's unit also trains the other folds' surrogates).
    assert np.ptp(est.values, axis=0).max() > 1e-3


# ------------------------------------------------------------------------------------------
# the whole estimator over many seeds


@pytest.mark.parametrize("semivalue", list(SEMIVALUES))
@pytest.mark.parametrize("paired", [False, True], ids=["single", "paired"])
def test_mean_over_independent_designs_is_the_semivalue(semivalue: str, paired: bool) -> None:
    """d = 8, 1000 independent designs of 40 rows (leverage distribution, i.i.d. units): the mean
    is within 4.5 standard errors of the exact value for every player and output, and the reported
    standard errors match the spread over designs to within a factor 1.6."""
    d, n = 8, 1000
    rng = np.random.default_rng(3)
    w1, w2 = rng.normal(size=(d, 6)), rng.normal(size=(6, 2))
    table = np.tanh(all_masks(d) @ w1 + 0.3) @ w2
    design = sm.sample_design(n, 40, d, distribution="leverage", paired=paired, replace=True, seed=5)
    values = table[index_of(design.masks)]
    p = weights_of(d, semivalue)
    est = sm.regression_adjusted_semivalue(
        design.masks, values, np.repeat(table[None, 0], n, 0), np.repeat(table[None, -1], n, 0),
        sample_weights=design.weights, n_enumerated=design.n_enumerated, semivalue_weights=p, paired=paired,
    )
    exact = sm.exact_semivalue(table[None], p).values[0]
    spread = est.values.std(axis=0, ddof=1)
    z = np.abs(est.values.mean(axis=0) - exact) / (spread / math.sqrt(n))
    assert z.max() < 4.5, z.max()
    ratio = np.sqrt((est.std_errors**2).mean(axis=0)) / spread
    assert np.all((ratio > 1 / 1.6) & (ratio < 1.6)), ratio


# ------------------------------------------------------------------------------------------
# exact surrogates


def tabled_design(table: np.ndarray, n: int, d: int, paired: bool, seed: int) -> dict[str, Any]:
    design = sm.sample_design(1, n, d, distribution="shapley", paired=paired, replace=True, seed=seed)
    return {
        "masks": design.masks, "values": table[None][:, index_of(design.masks)[0]],
        "null": table[None, 0], "grand": table[None, -1], "weights": design.weights, "n_enumerated": design.n_enumerated,
    }


@pytest.mark.parametrize("paired,degree", [(False, 1), (True, 1), (False, 2), (True, 2)])
@given(d=st.integers(2, 7), seed=st.integers(0, 2**32 - 1))
def test_games_the_surrogate_fits_exactly_have_exact_estimates(impl: Any, paired: bool, degree: int, d: int, seed: int) -> None:
    """Additive games for degree 1, games with pairwise interactions for degree 2 (and, for a
    symmetric semivalue, for degree 1 when paired: a pair sees only v(S) − v(N∖S), linear then)."""
    rng = np.random.default_rng(seed)
    masks = all_masks(d) * 1.0
    a = rng.normal(size=(d, 1))
    interactions = np.triu(rng.normal(size=(d, d)), 1)
    table = 0.7 + masks @ a + (np.einsum("sj,jl,sl->s", masks, interactions, masks)[:, None] if degree == 2 or paired else 0)
    data = tabled_design(table, 80, d, paired, seed % 1000)
    for semivalue in ("shapley", "banzhaf"):
        p = weights_of(d, semivalue)
        est = impl.regression_adjusted_semivalue(
            data["masks"], data["values"], data["null"], data["grand"], sample_weights=data["weights"],
            n_enumerated=data["n_enumerated"], semivalue_weights=p, paired=paired, degree=degree, ridge=1e-12,
        )
        exact = sm.exact_semivalue(table[None], p).values
        np.testing.assert_allclose(est.values, exact, atol=1e-6)
        assert est.std_errors.max() < 1e-6


def test_a_census_is_exact_with_zero_standard_errors(impl: Any) -> None:
    d = 4
    table = np.random.default_rng(0).normal(size=(2**d, 3))
    design = sm.sample_design(2, 100, d, paired=True, replace=True, seed=0)
    assert design.n_enumerated == design.masks.shape[1] == 2**d - 2
    est = impl.regression_adjusted_semivalue(
        design.masks, table[index_of(design.masks)], np.repeat(table[None, 0], 2, 0), np.repeat(table[None, -1], 2, 0),
        sample_weights=design.weights, n_enumerated=design.n_enumerated, semivalue_weights=weights_of(d, "beta(4,1)"),
    )
    np.testing.assert_allclose(est.values, sm.exact_semivalue(np.stack([table] * 2), weights_of(d, "beta(4,1)")).values, atol=1e-12)
    np.testing.assert_array_equal(est.std_errors, 0.0)
    np.testing.assert_array_equal(est.n_evaluations, 2**d)


# ------------------------------------------------------------------------------------------
# Rust against the reference


@given(data=st.data())
def test_rust_matches_reference(data: st.DataObject) -> None:
    d = data.draw(st.integers(2, 8), label="n_players")
    paired = data.draw(st.booleans(), label="paired")
    distribution = data.draw(st.sampled_from(["shapley", "leverage", "banzhaf"]), label="distribution")
    n_rows = 2 * data.draw(st.integers(2, 40), label="pairs")
    n_points, n_outputs = data.draw(st.integers(1, 3), label="n_points"), data.draw(st.integers(1, 3), label="n_outputs")
    semivalue = data.draw(st.sampled_from(list(SEMIVALUES)), label="semivalue")
    folds = data.draw(st.sampled_from([None, 1, 2, 5]), label="folds")
    degree = data.draw(st.sampled_from([None, 0, 1, 2]), label="degree")
    size_intercepts = data.draw(st.sampled_from([None, True, False]), label="size_intercepts")
    seed = data.draw(st.integers(0, 2**32), label="seed")
    design = sm.sample_design(n_points, n_rows, d, distribution=distribution, paired=paired, replace=True, seed=seed)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(*design.masks.shape[:2], n_outputs))
    null, grand = rng.normal(size=(n_points, n_outputs)), rng.normal(size=(n_points, n_outputs))
    both = run_both(
        lambda m: m.regression_adjusted_semivalue(
            design.masks, values, null, grand, sample_weights=design.weights, n_enumerated=design.n_enumerated,
            semivalue_weights=weights_of(d, semivalue), paired=paired, folds=folds, degree=degree,
            size_intercepts=size_intercepts,
        )
    )
    if both is None:
        return
    rust, reference = both
    assert_same(rust, reference)
    np.testing.assert_allclose(rust.extras["fold_values"], reference.extras["fold_values"], atol=1e-9 * max(1.0, np.abs(reference.values).max()))
    for name in ("degree", "size_intercepts"):
        np.testing.assert_array_equal(rust.extras[name], reference.extras[name])


# ------------------------------------------------------------------------------------------
# bad inputs


def valid_inputs(d: int = 5, paired: bool = True) -> dict[str, Any]:
    design = sm.sample_design(2, 24, d, paired=paired, replace=True, seed=1)
    n = design.masks.shape[1]
    return {
        "masks": design.masks.copy(), "values": np.ones((2, n, 1)), "null_values": np.zeros((2, 1)),
        "grand_values": np.ones((2, 1)), "sample_weights": design.weights.copy(), "n_enumerated": design.n_enumerated,
        "semivalue_weights": sm.semivalue_weights(d), "paired": paired,
    }


def broken(change: str) -> dict[str, Any]:
    args = valid_inputs()
    n_enum = args["n_enumerated"]
    assert n_enum == 10  # sizes 1 and 4 of 5 players
    if change == "masks dtype":
        args["masks"] = args["masks"].astype(np.int8)
    elif change == "weights shape":
        args["sample_weights"] = args["sample_weights"][:, :-1]
    elif change == "weights nan":
        args["sample_weights"][1, 3] = np.nan
    elif change == "enumerated weight":
        args["sample_weights"][0, 2] = 0.5
    elif change == "negative weight":
        args["sample_weights"][1, -1] = -1.0
    elif change == "incomplete size":
        args["n_enumerated"] = 9
        args["masks"], args["values"], args["sample_weights"] = (a[:, 1:] for a in (args["masks"], args["values"], args["sample_weights"]))
    elif change == "repeated coalition":
        args["masks"][0, 1] = args["masks"][0, 0]
    elif change == "empty enumerated":
        args["masks"][0, 0] = False
    elif change == "random row of an enumerated size":
        args["masks"][1, n_enum] = args["masks"][1, 0]
        args["masks"][1, n_enum + 1] = ~args["masks"][1, 0]
    elif change == "not complements":
        args["masks"][0, n_enum + 1] = args["masks"][0, n_enum]
    elif change == "odd random rows":
        args["masks"], args["values"], args["sample_weights"] = (a[:, :-1] for a in (args["masks"], args["values"], args["sample_weights"]))
    elif change == "semivalue shape":
        args["semivalue_weights"] = np.ones(4)
    elif change == "semivalue nan":
        args["semivalue_weights"] = np.full(5, np.nan)
    elif change == "n_enumerated too large":
        args["n_enumerated"] = 99
    elif change == "values nan":
        args["values"][1, 0, 0] = np.inf
    elif change == "folds 0":
        args["folds"] = 0
    elif change == "too many folds":
        args["folds"] = 8
    elif change == "degree 3":
        args["degree"] = 3
    elif change == "ridge 0":
        args["ridge"] = 0.0
    elif change == "ridge inf":
        args["ridge"] = math.inf
    elif change == "no random rows":
        args["masks"], args["values"], args["sample_weights"] = (a[:, :n_enum] for a in (args["masks"], args["values"], args["sample_weights"]))
    return args


BAD = {
    "masks dtype": (InvalidArgumentError, "masks"),
    "weights shape": (ShapeError, "sample_weights"),
    "weights nan": (NonFiniteError, "sample_weights"),
    "enumerated weight": (InvalidArgumentError, "sample_weights"),
    "negative weight": (InvalidArgumentError, "sample_weights"),
    "incomplete size": (InvalidArgumentError, "masks"),
    "repeated coalition": (InvalidArgumentError, "masks"),
    "empty enumerated": (InvalidArgumentError, "masks"),
    "random row of an enumerated size": (InvalidArgumentError, "masks"),
    "not complements": (InvalidArgumentError, "masks"),
    "odd random rows": (InvalidArgumentError, "masks"),
    "semivalue shape": (ShapeError, "semivalue_weights"),
    "semivalue nan": (InvalidArgumentError, "semivalue_weights"),
    "n_enumerated too large": (InvalidArgumentError, "n_enumerated"),
    "values nan": (NonFiniteError, "values"),
    "folds 0": (InvalidArgumentError, "folds"),
    "too many folds": (InsufficientSamplesError, "folds"),
    "degree 3": (InvalidArgumentError, "degree"),
    "ridge 0": (InvalidArgumentError, "ridge"),
    "ridge inf": (InvalidArgumentError, "ridge"),
    "no random rows": (InsufficientSamplesError, "masks"),
}


@pytest.mark.parametrize("change", list(BAD))
def test_bad_inputs_are_refused_with_the_argument_named(impl: Any, change: str) -> None:
    error, name = BAD[change]
    args = broken(change)
    with pytest.raises(error) as info:
        impl.regression_adjusted_semivalue(args.pop("masks"), args.pop("values"), args.pop("null_values"), args.pop("grand_values"), **args)
    assert str(info.value).startswith(f"{name}: "), str(info.value)


def test_the_valid_inputs_of_the_bad_input_test_are_accepted(impl: Any) -> None:
    args = valid_inputs()
    est = impl.regression_adjusted_semivalue(args.pop("masks"), args.pop("values"), args.pop("null_values"), args.pop("grand_values"), **args)
    assert np.isfinite(est.values).all()


def test_point_errors_name_the_point() -> None:
    args = broken("not complements")
    args["masks"][1] = args["masks"][0]  # point 0 stays broken, point 1 too: the first is named
    with pytest.raises(InvalidArgumentError) as info:
        sm.regression_adjusted_semivalue(args.pop("masks"), args.pop("values"), args.pop("null_values"), args.pop("grand_values"), **args)
    assert info.value.points == (0,) and "point 0" in str(info.value)


# ------------------------------------------------------------------------------------------
# determinism


FINGERPRINT = r"""
import hashlib, numpy as np, stochamort as sm
design = sm.sample_design(48, 200, 12, distribution="leverage", paired=False, replace=True, seed=3)
values = np.sin(design.masks @ np.linspace(-1, 1, 12))[..., None] * np.arange(1, 3)
null, grand = np.zeros((48, 2)), np.ones((48, 2))
est = sm.regression_adjusted_semivalue(design.masks, values, null, grand, sample_weights=design.weights,
    n_enumerated=design.n_enumerated, semivalue_weights=sm.semivalue_weights(12), paired=False)
assert est.extras["degree"][0] == 2
print(hashlib.sha256(est.values.tobytes() + est.std_errors.tobytes() + est.extras["fold_values"].tobytes()).hexdigest())
"""


def test_identical_for_any_thread_count() -> None:
    def run(**env: str) -> str:
        result = subprocess.run([sys.executable, "-c", FINGERPRINT], env={**os.environ, **env}, capture_output=True, text=True, check=True)
        return result.stdout.strip()

    assert run(RAYON_NUM_THREADS="1") == run(RAYON_NUM_THREADS="2") == run(RAYON_NUM_THREADS="4") == run(STOCHAMORT_PARALLELISM="0")


def test_a_slice_of_points_gives_the_slice_of_the_estimate() -> None:
    args = valid_inputs(paired=False)
    args["values"] = np.random.default_rng(0).normal(size=args["values"].shape)
    whole = sm.regression_adjusted_semivalue(args["masks"], args["values"], args["null_values"], args["grand_values"],
        sample_weights=args["sample_weights"], n_enumerated=args["n_enumerated"], semivalue_weights=args["semivalue_weights"], paired=False)
    part = sm.regression_adjusted_semivalue(args["masks"][1:], args["values"][1:], args["null_values"][1:], args["grand_values"][1:],
        sample_weights=args["sample_weights"][1:], n_enumerated=args["n_enumerated"], semivalue_weights=args["semivalue_weights"], paired=False)
    np.testing.assert_array_equal(whole.values[1:], part.values)
    assert hashlib.sha256(whole.std_errors[1:].tobytes()).digest() == hashlib.sha256(part.std_errors.tobytes()).digest()
    assert list(itertools.islice(whole.extras, 3)) == ["fold_values", "degree", "size_intercepts"]
