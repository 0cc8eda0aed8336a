"""Every documented bad input raises the documented error class, which is also a ValueError
(and a TypeError for dtype errors), with a message that starts with the argument's name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

from stochamort.errors import (
    InsufficientSamplesError,
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    ShapeError,
    SingularSystemError,
    StochamortError,
    TooManyPlayersError,
)

from tests.helpers.games import all_masks

D = 4
N_POINTS = 5
N_OUTPUTS = 2


def _inner_census() -> np.ndarray:
    """Every coalition of D players except the empty and full ones: (N_POINTS, 14, D)."""
    return np.repeat(all_masks(D)[1:-1][None], N_POINTS, axis=0)


def _paired_census() -> np.ndarray:
    """The same coalitions arranged as complementary pairs: (N_POINTS, 14, D)."""
    firsts = [m for m in all_masks(D)[1:-1] if m[0]]
    rows = np.array([row for m in firsts for row in (m, ~m)])
    return np.repeat(rows[None], N_POINTS, axis=0)


def _values(n_samples: int, n_points: int = N_POINTS) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n_points, n_samples, N_OUTPUTS))


def _endpoints(n_points: int = N_POINTS) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n_points, N_OUTPUTS))


def _with_nonfinite(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array[1].flat[0] = np.nan
    array[3].flat[-1] = np.inf
    return array


def _permutations(n_perm: int = 4, antithetic: bool = False) -> np.ndarray:
    rng = np.random.default_rng(2)
    perms = np.empty((N_POINTS, n_perm, D), dtype=np.int64)
    for p in range(N_POINTS):
        for r in range(n_perm):
            perms[p, r] = rng.permutation(D)
    if antithetic:
        perms[:, 1::2] = perms[:, 0::2, ::-1]
    return perms


def _chain_values(n_perm: int = 4) -> np.ndarray:
    return np.random.default_rng(3).normal(size=(N_POINTS, n_perm, D + 1, N_OUTPUTS))


def _table(d: int = D) -> np.ndarray:
    return np.random.default_rng(4).normal(size=(N_POINTS, 2**d, N_OUTPUTS))


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Any], Any]
    error: type[Exception]
    argument: str | tuple[str, ...]  # several names: a mismatch either argument may be blamed for
    contains: tuple[str, ...] = field(default=())


KERNELSHAP = ("kernelshap", "unbiased_kernelshap")


def _kernelshap_cases(name: str) -> list[Case]:
    def run(masks=None, values=None, null=None, grand=None, **kwargs):
        masks = _inner_census() if masks is None else masks
        values = _values(masks.shape[1], masks.shape[0]) if values is None else values
        null = _endpoints(masks.shape[0]) if null is None else null
        grand = _endpoints(masks.shape[0]) if grand is None else grand
        return lambda impl: getattr(impl, name)(masks, values, null, grand, **kwargs)

    census = _inner_census()
    one_player = np.ones((N_POINTS, 3, 1), dtype=bool)
    one_player[:, 1] = False
    unpaired_pairs = _paired_census()
    unpaired_pairs[2, 5] = unpaired_pairs[2, 4]  # rows 4 and 5 of point 2 are no longer complements
    with_empty = census.copy()
    with_empty[2, 6] = False
    with_full = census.copy()
    with_full[0, 3] = True
    cases = [
        Case("masks-int", run(masks=census.astype(np.int64)), InvalidDTypeError, "masks"),
        Case("masks-ndim", run(masks=census[0]), ShapeError, "masks"),
        Case("masks-one-player", run(masks=one_player), InvalidArgumentError, "masks"),
        Case("values-complex", run(values=np.ones((N_POINTS, 14, N_OUTPUTS), dtype=np.complex128)), InvalidDTypeError, "values"),
        Case("values-ndim", run(values=_values(14)[..., 0]), ShapeError, "values"),
        Case("values-samples-mismatch", run(values=_values(13)), ShapeError, "values"),
        Case("values-points-mismatch", run(values=_values(14, N_POINTS - 1)), ShapeError, "values"),
        Case("values-nonfinite", run(values=_with_nonfinite(_values(14))), NonFiniteError, "values", ("1", "3")),
        Case("null-shape", run(null=_endpoints()[:, :1]), ShapeError, "null_values"),
        Case("null-ndim", run(null=_endpoints()[:, 0]), ShapeError, "null_values"),
        Case("null-str", run(null=np.zeros((N_POINTS, N_OUTPUTS)).astype(str)), InvalidDTypeError, "null_values"),
        Case("null-nonfinite", run(null=_with_nonfinite(_endpoints())), NonFiniteError, "null_values", ("1", "3")),
        Case("grand-shape", run(grand=_endpoints(N_POINTS - 1)), ShapeError, "grand_values"),
        Case("grand-nonfinite", run(grand=_with_nonfinite(_endpoints())), NonFiniteError, "grand_values", ("1", "3")),
        Case("distribution", run(distribution="uniform"), InvalidArgumentError, "distribution"),
        Case("paired-odd", run(masks=_paired_census()[:, :13], paired=True), InvalidArgumentError, "masks"),
        Case("paired-not-complements", run(masks=unpaired_pairs, paired=True), InvalidArgumentError, "masks"),
        # The empty and full sets have probability 0 under "shapley" and "leverage".
        Case("shapley-draws-empty", run(masks=with_empty), InvalidArgumentError, "masks", ("2",)),
        Case("leverage-draws-full", run(masks=with_full, distribution="leverage"), InvalidArgumentError, "masks"),
    ]
    if name == "kernelshap":
        never_present = census.copy()
        without_0 = census[0, ~census[0, :, 0]]  # the 7 non-empty coalitions of players 1..3
        never_present[3] = np.concatenate([without_0, without_0])  # player 0 absent at point 3
        always_together = census[:, census[0, :, 1] == census[0, :, 2]]  # players 1 and 2 never separated
        cases += [
            Case("one-sample", run(masks=census[:, :1]), InsufficientSamplesError, "masks"),
            Case("one-pair", run(masks=_paired_census()[:, :2], paired=True), InsufficientSamplesError, "masks"),
            Case("singular-absent-player", run(masks=never_present), SingularSystemError, "masks", ("3",)),
            Case("singular-inseparable", run(masks=always_together), SingularSystemError, "masks"),
        ]
    else:
        cases += [Case("no-samples", run(masks=census[:, :0]), InsufficientSamplesError, "masks")]
    return cases


def _msr_cases() -> list[Case]:
    census = np.repeat(all_masks(D)[None], N_POINTS, axis=0)  # (N_POINTS, 16, D)

    def run(masks=census, values=None):
        values = _values(masks.shape[1], masks.shape[0]) if values is None else values
        return lambda impl: impl.msr_banzhaf(masks, values)

    never_in = census.copy()
    never_in[2, :, 1] = False
    never_out = census.copy()
    never_out[4, :, 3] = True
    return [
        Case("masks-int", run(masks=census.astype(np.uint8)), InvalidDTypeError, "masks"),
        Case("masks-ndim", run(masks=census[..., None]), ShapeError, "masks"),
        Case("values-complex", run(values=np.ones((N_POINTS, 16, 1), dtype=np.complex64)), InvalidDTypeError, "values"),
        Case("values-mismatch", run(values=_values(15)), ShapeError, "values"),
        Case("values-nonfinite", run(values=_with_nonfinite(_values(16))), NonFiniteError, "values", ("1", "3")),
        Case("never-in", run(masks=never_in), InsufficientSamplesError, "masks"),
        Case("never-out", run(masks=never_out), InsufficientSamplesError, "masks"),
    ]


def _lime_cases() -> list[Case]:
    census = np.repeat(all_masks(D)[None], N_POINTS, axis=0)

    def run(masks=census, values=None, **kwargs):
        values = _values(masks.shape[1], masks.shape[0]) if values is None else values
        return lambda impl: impl.lime(masks, values, **kwargs)

    constant_player = census.copy()
    constant_player[1, :, 2] = True  # player 2 always present: collinear with the intercept
    return [
        Case("masks-int", run(masks=census.astype(np.int64)), InvalidDTypeError, "masks"),
        Case("values-object", run(values=np.ones((N_POINTS, 16, 1), dtype=object)), InvalidDTypeError, "values"),
        Case("values-mismatch", run(values=_values(16, N_POINTS + 1)), ShapeError, "values"),
        Case("values-nonfinite", run(values=_with_nonfinite(_values(16))), NonFiniteError, "values", ("1", "3")),
        Case("too-few-samples", run(masks=census[:, :D]), InsufficientSamplesError, "masks"),
        Case("singular", run(masks=constant_player), SingularSystemError, "masks", ("1",)),
        Case("kernel-width-zero", run(kernel_width=0.0), InvalidArgumentError, "kernel_width"),
        Case("kernel-width-negative", run(kernel_width=-1.0), InvalidArgumentError, "kernel_width"),
        Case("kernel-width-nan", run(kernel_width=float("nan")), InvalidArgumentError, "kernel_width"),
    ]


def _permutation_cases() -> list[Case]:
    def run(perms=None, chain=None, **kwargs):
        perms = _permutations() if perms is None else perms
        chain = _chain_values(perms.shape[1]) if chain is None else chain
        return lambda impl: impl.permutation_shapley(perms, chain, **kwargs)

    repeated = _permutations()
    repeated[2, 1, 0] = repeated[2, 1, 1]  # a player appears twice
    out_of_range = _permutations()
    out_of_range[0, 0] = np.arange(1, D + 1)
    not_reversed = _permutations(4, antithetic=True)
    not_reversed[1, 3] = not_reversed[1, 2]
    return [
        Case("perms-float", run(perms=_permutations().astype(float)), InvalidDTypeError, "permutations"),
        Case("perms-ndim", run(perms=_permutations()[0], chain=_chain_values()), ShapeError, "permutations"),
        Case("perms-repeated", run(perms=repeated), InvalidArgumentError, "permutations"),
        Case("perms-out-of-range", run(perms=out_of_range), InvalidArgumentError, "permutations"),
        Case("chain-complex", run(chain=np.zeros((N_POINTS, 4, D + 1, 1), dtype=np.complex128)), InvalidDTypeError, "chain_values"),
        Case("chain-length", run(chain=_chain_values()[:, :, :D]), ShapeError, "chain_values"),
        Case("chain-n-perm", run(chain=_chain_values(3)), ShapeError, "chain_values"),
        Case("chain-ndim", run(chain=_chain_values()[..., 0]), ShapeError, "chain_values"),
        Case("chain-nonfinite", run(chain=_with_nonfinite(_chain_values())), NonFiniteError, "chain_values", ("1", "3")),
        Case("antithetic-odd", run(perms=_permutations(3), antithetic=True), InvalidArgumentError, "permutations"),
        Case("antithetic-not-reversed", run(perms=not_reversed, antithetic=True), InvalidArgumentError, "permutations"),
        Case("no-permutations", run(perms=_permutations(0)), InsufficientSamplesError, "permutations"),
    ]


def _exact_cases() -> list[Case]:
    weights = np.full(D, 0.25)
    cases = []
    for name in ("exact_shapley", "exact_banzhaf", "exact_semivalue"):

        def run(table, name=name):
            if name == "exact_semivalue":
                return lambda impl: impl.exact_semivalue(table, weights)
            return lambda impl: getattr(impl, name)(table)

        cases += [
            Case(f"{name}-not-power-of-two", run(_table()[:, :12]), ShapeError, "values"),
            Case(f"{name}-single-row", run(_table()[:, :1]), ShapeError, "values"),
            Case(f"{name}-ndim", run(_table()[..., 0]), ShapeError, "values"),
            Case(f"{name}-complex", run(np.zeros((N_POINTS, 16, 1), dtype=np.complex128)), InvalidDTypeError, "values"),
            Case(f"{name}-nonfinite", run(_with_nonfinite(_table())), NonFiniteError, "values", ("1", "3")),
        ]
    cases += [
        Case(
            "exact_semivalue-weights-length",
            lambda impl: impl.exact_semivalue(_table(), np.ones(D + 1)),
            ShapeError,
            ("weights", "values"),
        ),
        Case("exact_semivalue-weights-ndim", lambda impl: impl.exact_semivalue(_table(), np.ones((D, 1))), ShapeError, "weights"),
        Case(
            "exact_semivalue-weights-nonfinite",
            lambda impl: impl.exact_semivalue(_table(), np.array([0.1, np.nan, 0.1, 0.1])),
            InvalidArgumentError,  # the reference raises its subclass NonFiniteError
            "weights",
        ),
    ]
    return cases


def _sampler_cases() -> list[Case]:
    return [
        Case("coalitions-no-players", lambda impl: impl.sample_coalitions(2, 4, 0, distribution="banzhaf"), InvalidArgumentError, "n_players"),
        Case("coalitions-shapley-one-player", lambda impl: impl.sample_coalitions(2, 4, 1, distribution="shapley"), InvalidArgumentError, "n_players"),
        Case("coalitions-leverage-one-player", lambda impl: impl.sample_coalitions(2, 4, 1, distribution="leverage"), InvalidArgumentError, "n_players"),
        Case("coalitions-paired-odd", lambda impl: impl.sample_coalitions(2, 5, 4, paired=True), InvalidArgumentError, "n_samples"),
        Case("coalitions-distribution", lambda impl: impl.sample_coalitions(2, 4, 4, distribution="kernel"), InvalidArgumentError, "distribution"),
        Case("coalitions-negative-points", lambda impl: impl.sample_coalitions(-1, 4, 4), InvalidArgumentError, "n_points"),
        Case("coalitions-negative-samples", lambda impl: impl.sample_coalitions(2, -4, 4), InvalidArgumentError, "n_samples"),
        Case("coalitions-negative-seed", lambda impl: impl.sample_coalitions(2, 4, 4, seed=-1), InvalidArgumentError, "seed"),
        Case("coalitions-negative-offset", lambda impl: impl.sample_coalitions(2, 4, 4, point_offset=-3), InvalidArgumentError, "point_offset"),
        Case("permutations-no-players", lambda impl: impl.sample_permutations(2, 4, 0), InvalidArgumentError, "n_players"),
        Case("permutations-antithetic-odd", lambda impl: impl.sample_permutations(2, 3, 4, antithetic=True), InvalidArgumentError, "n_permutations"),
        Case("permutations-negative-seed", lambda impl: impl.sample_permutations(2, 4, 4, seed=-5), InvalidArgumentError, "seed"),
        Case("chain-masks-not-permutation", lambda impl: impl.permutation_chain_masks(np.zeros((1, 2, 3), dtype=np.int64)), InvalidArgumentError, "permutations"),
        Case("chain-masks-float", lambda impl: impl.permutation_chain_masks(np.zeros((1, 2, 3))), InvalidDTypeError, "permutations"),
        Case("chain-masks-ndim", lambda impl: impl.permutation_chain_masks(np.arange(3)), ShapeError, "permutations"),
        Case("enumerate-too-many", lambda impl: impl.enumerate_coalitions(21), TooManyPlayersError, "n_players"),
        Case("enumerate-zero", lambda impl: impl.enumerate_coalitions(0), InvalidArgumentError, "n_players"),
        Case("sizes-shapley-one-player", lambda impl: impl.size_probabilities(1, "shapley"), InvalidArgumentError, "n_players"),
        Case("sizes-banzhaf-zero-players", lambda impl: impl.size_probabilities(0, "banzhaf"), InvalidArgumentError, "n_players"),
        Case("sizes-distribution", lambda impl: impl.size_probabilities(4, "owen"), InvalidArgumentError, "distribution"),
        Case("probabilities-int", lambda impl: impl.coalition_probabilities(np.ones((3, 4), dtype=np.int64)), InvalidDTypeError, "masks"),
        Case("probabilities-one-player", lambda impl: impl.coalition_probabilities(np.ones((3, 1), dtype=bool), "leverage"), InvalidArgumentError, "masks"),
        Case("probabilities-distribution", lambda impl: impl.coalition_probabilities(np.ones((3, 4), dtype=bool), "x"), InvalidArgumentError, "distribution"),
    ]


def _weight_cases() -> list[Case]:
    return [
        Case("shapley-kernel-zero", lambda impl: impl.shapley_kernel(0), InvalidArgumentError, "n_players"),
        Case("semivalue-zero", lambda impl: impl.semivalue_weights(0), InvalidArgumentError, "n_players"),
        Case("semivalue-kind", lambda impl: impl.semivalue_weights(4, "owen"), InvalidArgumentError, "kind"),
        Case("semivalue-alpha-zero", lambda impl: impl.semivalue_weights(4, "beta", alpha=0.0), InvalidArgumentError, "alpha"),
        Case("semivalue-alpha-nan", lambda impl: impl.semivalue_weights(4, "beta", alpha=float("nan")), InvalidArgumentError, "alpha"),
        Case("semivalue-beta-negative", lambda impl: impl.semivalue_weights(4, "beta", beta=-2.0), InvalidArgumentError, "beta"),
        Case("semivalue-beta-inf", lambda impl: impl.semivalue_weights(4, "beta", beta=float("inf")), InvalidArgumentError, "beta"),
        Case("lime-kernel-zero-players", lambda impl: impl.lime_kernel(0), InvalidArgumentError, "n_players"),
        Case("lime-kernel-width", lambda impl: impl.lime_kernel(4, 0.0), InvalidArgumentError, "width"),
    ]


CASES = (
    [Case(f"{name}-{case.id}", case.call, case.error, case.argument, case.contains) for name in KERNELSHAP for case in _kernelshap_cases(name)]
    + [Case(f"msr_banzhaf-{c.id}", c.call, c.error, c.argument, c.contains) for c in _msr_cases()]
    + [Case(f"lime-{c.id}", c.call, c.error, c.argument, c.contains) for c in _lime_cases()]
    + [Case(f"permutation_shapley-{c.id}", c.call, c.error, c.argument, c.contains) for c in _permutation_cases()]
    + _exact_cases()
    + _sampler_cases()
    + _weight_cases()
)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_raises_documented_error(impl, case: Case) -> None:
    with pytest.raises(case.error) as excinfo:
        case.call(impl)
    error = excinfo.value
    assert isinstance(error, StochamortError)
    assert isinstance(error, ValueError)
    if isinstance(error, InvalidDTypeError):
        assert isinstance(error, TypeError)
    message = str(error)
    names = (case.argument,) if isinstance(case.argument, str) else case.argument
    assert any(re.match(rf"{re.escape(name)}\b", message) for name in names), (
        f"message does not start with {' or '.join(map(repr, names))}: {message!r}"
    )
    for fragment in case.contains:
        assert re.search(rf"\b{re.escape(fragment)}\b", message), f"{fragment!r} missing from {message!r}"


def test_valid_baselines_do_not_raise(impl) -> None:
    """The inputs the cases above corrupt are themselves valid (so each case tests one defect)."""
    census, paired = _inner_census(), _paired_census()
    for name in KERNELSHAP:
        getattr(impl, name)(census, _values(14), _endpoints(), _endpoints())
        getattr(impl, name)(paired, _values(14), _endpoints(), _endpoints(), paired=True)
    full = np.repeat(all_masks(D)[None], N_POINTS, axis=0)
    impl.msr_banzhaf(full, _values(16))
    impl.lime(full, _values(16))
    impl.permutation_shapley(_permutations(), _chain_values())
    impl.permutation_shapley(_permutations(4, antithetic=True), _chain_values(), antithetic=True)
    impl.exact_semivalue(_table(), np.full(D, 0.25))
    impl.exact_shapley(_table())
    assert impl.enumerate_coalitions(20).shape == (2**20, 20)
    impl.sample_coalitions(0, 4, 4)
    impl.size_probabilities(1, "banzhaf")
