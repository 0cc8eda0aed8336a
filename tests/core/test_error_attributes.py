"""Errors of the Rust core carry the argument at fault and the offending points as attributes, and
oracles renumber those points to global indices when they pass an error on."""

from __future__ import annotations

import pickle
import re
from typing import Any

import numpy as np
import pytest

import stochamort as sm
import stochamort.oracles.base as oracle_base
import stochamort.oracles.sampled as sampled_oracles
from stochamort import _core, errors
from stochamort.games import FunctionGame
from stochamort.oracles import Exact, KernelSHAP, MSRBanzhaf, Permutation, SGDShapley

from tests.helpers.games import all_masks

D = 4


def _census(n_points: int) -> np.ndarray:
    """Every coalition of D players except the empty and full ones, for each point."""
    return np.repeat(all_masks(D)[1:-1][None], n_points, axis=0)


def _kernelshap_inputs(n_points: int = 5) -> tuple[np.ndarray, ...]:
    masks = _census(n_points)
    rng = np.random.default_rng(0)
    return masks, rng.normal(size=(*masks.shape[:2], 2)), rng.normal(size=(n_points, 2)), rng.normal(size=(n_points, 2))


def _paired_but_not_at(point: int) -> tuple[np.ndarray, ...]:
    """KernelSHAP inputs whose rows are complementary pairs except at one point."""
    firsts = [m for m in all_masks(D)[1:-1] if m[0]]
    masks = np.repeat(np.array([row for m in firsts for row in (m, ~m)])[None], 5, axis=0)
    masks[point, 1] = masks[point, 0]
    return (masks, *_kernelshap_inputs()[1:])


def test_non_finite_values_name_the_argument_and_points() -> None:
    masks, values, null, grand = _kernelshap_inputs()
    values[3, 2, 1] = np.nan
    for call in (
        lambda: _core.kernelshap(masks, values, null, grand, False, "shapley", False),
        lambda: sm.kernelshap(masks, values, null, grand),
    ):
        with pytest.raises(errors.NonFiniteError) as info:
            call()
        assert info.value.argument == "values"
        assert info.value.points == (3,)
        assert str(info.value).startswith("values: ")
    values[1, 0, 0] = np.inf
    grand[4, 0] = np.nan
    with pytest.raises(errors.NonFiniteError) as info:
        sm.unbiased_kernelshap(masks, values, null, grand)
    assert (info.value.argument, info.value.points) == ("values", (1, 3))
    values[...] = 0.0
    with pytest.raises(errors.NonFiniteError) as info:
        sm.unbiased_kernelshap(masks, values, null, grand)
    assert (info.value.argument, info.value.points) == ("grand_values", (4,))


def test_every_listed_point_is_an_attribute_even_beyond_the_message() -> None:
    table = np.zeros((30, 2**D, 1))
    table[::2, 5] = np.nan  # 15 points: the message lists 10 of them
    with pytest.raises(errors.NonFiniteError) as info:
        sm.exact_shapley(table)
    assert info.value.points == tuple(range(0, 30, 2))
    assert "and 5 more" in str(info.value)
    assert all(isinstance(p, int) for p in info.value.points)


def test_a_singular_system_names_its_point() -> None:
    masks, values, null, grand = _kernelshap_inputs()
    without_0 = masks[0, ~masks[0, :, 0]]  # the 7 non-empty coalitions of players 1..3
    masks[2] = np.concatenate([without_0, without_0])  # player 0 never sampled at point 2
    with pytest.raises(errors.SingularSystemError) as info:
        sm.kernelshap(masks, values, null, grand)
    assert (info.value.argument, info.value.points) == ("masks", (2,))
    assert re.search(r"\bpoint 2\b", str(info.value))


@pytest.mark.parametrize(
    ("call", "error", "argument", "points"),
    [
        (lambda: _core.sample_coalitions(2, 5, 4, "shapley", True, 0, 0, 0), errors.InvalidArgumentError, "n_samples", ()),
        (lambda: _core.sample_coalitions(2, 4, 4, "kernel", False, 0, 0, 0), errors.InvalidArgumentError, "distribution", ()),
        (lambda: _core.sample_permutations(2, 4, 4, False, -1, 0, 0), errors.InvalidArgumentError, "seed", ()),
        (lambda: _core.enumerate_coalitions(21), errors.TooManyPlayersError, "n_players", ()),
        (lambda: _core.semivalue_weights(4, "beta", 0.0, 1.0), errors.InvalidArgumentError, "alpha", ()),
        (lambda: _core.msr_banzhaf(_census(2).astype(np.int64), np.zeros((2, 14, 1))), errors.InvalidDTypeError, "masks", ()),
        (lambda: _core.msr_banzhaf(_census(2), np.zeros((2, 14))), errors.ShapeError, "values", ()),
        (lambda: _core.msr_banzhaf(_census(2), np.zeros((2, 13, 1))), errors.ShapeError, "values", ()),
        (lambda: _core.msr_banzhaf(_census(2)[:, :1], np.zeros((2, 1, 1))), errors.InsufficientSamplesError, "masks", (0,)),
        (lambda: _core.sgd_shapley(*_kernelshap_inputs(2), False, "big", 2, 2), errors.InvalidDTypeError, "step_size", ()),
        # Errors about the inputs at one point name that point too.
        (lambda: _core.kernelshap(*_paired_but_not_at(3), True, "shapley", False), errors.InvalidArgumentError, "masks", (3,)),
        (
            lambda: _core.merge_moments(np.zeros(2, np.uint64), np.zeros((2, 1, 1)), np.zeros((2, 1, 1)),
                                        np.zeros(3, np.uint64), np.zeros((2, 1, 1)), np.zeros((2, 1, 1))),
            errors.ShapeError,
            "counts_b",
            (),
        ),
    ],
)
def test_every_core_error_names_its_argument(
    call: Any, error: type[errors.StochamortError], argument: str, points: tuple[int, ...]
) -> None:
    with pytest.raises(error) as info:
        call()
    assert info.value.argument == argument
    assert info.value.points == points
    assert str(info.value).startswith(f"{argument}: ")


def test_attributes_have_class_defaults_and_survive_pickling() -> None:
    plain = errors.InvalidArgumentError("budget: too small")
    assert (plain.argument, plain.points) == (None, ())
    masks, values, null, grand = _kernelshap_inputs()
    values[4] = np.nan
    with pytest.raises(errors.NonFiniteError) as info:
        sm.kernelshap(masks, values, null, grand)
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is errors.NonFiniteError
    assert (copy.argument, copy.points, str(copy)) == ("values", (4,), str(info.value))


def test_global_points_renumbers_a_core_error_in_attribute_and_message() -> None:
    table = np.zeros((14, 2**D, 1))
    table[[1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], 2] = np.nan  # 12 points: the message lists 10
    indices = np.arange(14, dtype=np.int64) * 10 + 500
    with pytest.raises(errors.NonFiniteError) as info:
        with oracle_base.global_points(indices):
            sm.exact_shapley(table)
    err = info.value
    assert err.argument == "values"
    assert err.points == (510, 530, 540, 550, 560, 570, 580, 590, 600, 610, 620, 630)
    assert str(err) == (
        "values: contains NaN or infinity at point(s) 510, 530, 540, 550, 560, 570, 580, 590, 600, 610 and 2 more"
    )
    assert isinstance(err.__cause__, errors.NonFiniteError) and err.__cause__.points[:2] == (1, 3)
    # Errors that concern no point pass through untouched.
    with pytest.raises(errors.ShapeError) as untouched:
        with oracle_base.global_points(indices):
            sm.exact_shapley(table[:, :3])
    assert untouched.value.__cause__ is None and untouched.value.points == ()


def _additive(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
    return masks.sum(axis=-1, keepdims=True).astype(np.float64)


@pytest.mark.parametrize(
    ("oracle", "seed", "error", "core_argument"),
    [
        # Five complementary pairs: enough in principle, but now and then a draw leaves A singular.
        (KernelSHAP(budget=12, sampling="iid"), 2, errors.SingularSystemError, "masks"),
        # Eight uniform coalitions: now and then a player is in (or out of) all of them.
        (MSRBanzhaf(budget=8), 0, errors.InsufficientSamplesError, "masks"),
    ],
    ids=["KernelSHAP-singular", "MSRBanzhaf-player-never-out"],
)
def test_an_unlucky_draw_names_the_global_point(
    monkeypatch: pytest.MonkeyPatch, oracle: Any, seed: int, error: type[errors.StochamortError], core_argument: str
) -> None:
    game = FunctionGame(_additive, 60, D)
    chunk = 4
    monkeypatch.setattr(oracle_base, "MAX_CHUNK_CELLS", chunk * oracle._cells_per_point(game))
    monkeypatch.setattr(sampled_oracles, "MAX_DOUBLINGS", 0)  # no rescue with a larger budget (test_singular_rescue.py)
    with pytest.raises(error) as info:
        oracle(game, seed=seed, point_offset=1000, progress=False)
    err = info.value
    assert err.argument == "budget"
    (point,) = err.points
    assert str(err).startswith(f"budget: {oracle.budget} evaluations per point were not enough for point {point}; ")
    assert re.search(rf"\bpoint {point}\b.*\bpoint {point}\b", str(err))  # the core's message, renumbered
    renumbered = err.__cause__
    core_error = renumbered.__cause__
    assert type(core_error) is type(err) and core_error.argument == core_argument
    assert renumbered.points == (point,) and renumbered.argument == core_argument
    # Chunks start at multiples of 4 points: the core saw the point at its place in its chunk.
    assert point - 1000 - core_error.points[0] == (point - 1000) // chunk * chunk
    assert point - 1000 >= chunk, "the first unlucky point should lie beyond the first chunk"
    # The point alone, as a one-point game at its global index, draws the same samples and fails too.
    with pytest.raises(error) as alone:
        oracle(FunctionGame(_additive, 1, D), seed=seed, point_offset=point, progress=False)
    assert alone.value.points == (point,)


@pytest.mark.parametrize("oracle", [Permutation(budget=20), Exact()], ids=["Permutation", "Exact"])
def test_oracles_renumber_core_errors_over_chunks(monkeypatch: pytest.MonkeyPatch, oracle: Any) -> None:
    """A core error about point 1 of the third chunk of 3 points is reported at global point 107."""
    game = FunctionGame(_additive, 10, D)
    monkeypatch.setattr(oracle_base, "MAX_CHUNK_CELLS", 3 * oracle._cells_per_point(game))
    name, position = ("permutation_shapley", 1) if isinstance(oracle, Permutation) else ("exact_semivalue", 0)
    real = getattr(sm.estimators, name)
    calls: list[None] = []

    def nan_in_the_third_chunk(*args: Any, **kwargs: Any) -> Any:
        if len(calls) == 2:  # chunk 6..8: its point 1 is point 7 of the game
            values = args[position].copy()
            values[1].flat[0] = np.nan
            args = (*args[:position], values, *args[position + 1 :])
        calls.append(None)
        return real(*args, **kwargs)

    monkeypatch.setattr(sm.estimators, name, nan_in_the_third_chunk)
    with pytest.raises(errors.NonFiniteError) as info:
        oracle(game, point_offset=100, progress=False)
    err = info.value
    argument = "chain_values" if isinstance(oracle, Permutation) else "values"
    assert (err.argument, err.points) == (argument, (107,))
    assert str(err).startswith(f"{argument}: ") and re.search(r"\bpoint\(s\) 107$", str(err))
    assert isinstance(err.__cause__, errors.NonFiniteError) and err.__cause__.points == (1,)


def test_sgd_divergence_names_the_global_point() -> None:
    game = FunctionGame(lambda masks, points: _additive(masks, points) ** 2, 3, D)
    with pytest.raises(errors.InvalidArgumentError) as info:
        SGDShapley(budget=34, step_size=1e200)(game, point_offset=40, progress=False)
    assert (info.value.argument, info.value.points) == ("step_size", (40,))
    assert "SGD diverged at point 40 " in str(info.value)
