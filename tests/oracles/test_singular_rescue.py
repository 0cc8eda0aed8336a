"""A point whose sampled system is singular no longer aborts a whole dataset: the rest of its chunk
is estimated as usual and the point again on its own with a doubled budget, recorded."""

from __future__ import annotations

import numpy as np
import pytest

from stochamort.errors import SingularSystemError
from stochamort.games import FunctionGame, PointRange
from stochamort.oracles import KernelSHAP

D, N = 30, 300
WEIGHTS = np.random.default_rng(0).normal(size=D)


def additive() -> FunctionGame:
    """v(S) = Σ_{i ∈ S} w_i: KernelSHAP is exact on it whenever its system is not singular."""
    return FunctionGame(lambda m, p: (m * WEIGHTS).sum(axis=2, keepdims=True), N, D)


@pytest.mark.parametrize("oracle", [KernelSHAP(budget=64), KernelSHAP(budget=62, sampling="iid")], ids=["design", "iid"])
def test_singular_points_are_estimated_again_with_more_coalitions(oracle: KernelSHAP) -> None:
    game = additive()
    est = oracle(game, seed=4, progress=False)
    retries = est.extras["singular_retries"]
    rescued = np.flatnonzero(retries)
    assert rescued.size >= 3, "this budget is meant to be unlucky for some points"
    np.testing.assert_allclose(est.values[:, :, 0], np.broadcast_to(WEIGHTS, (N, D)), atol=1e-6)  # every point, rescued too
    for p in rescued[:3]:
        doubled = KernelSHAP(budget=oracle.budget * 2 ** int(retries[p]), sampling=oracle.sampling)
        alone = doubled(PointRange(game, int(p), int(p) + 1), seed=4, point_offset=int(p), progress=False)
        np.testing.assert_array_equal(est.values[p], alone.values[0])  # the point's own stream, a larger budget
        assert est.n_evaluations[p] == alone.n_evaluations[0] + oracle.budget  # the failed attempt counts
    others = np.flatnonzero(retries == 0)
    assert np.all(est.n_evaluations[others] == oracle.budget)


def test_the_rescue_does_not_depend_on_how_points_are_split() -> None:
    game, oracle = additive(), KernelSHAP(budget=64)
    whole = oracle(game, seed=4, progress=False)
    halves = [oracle(PointRange(game, a, b), seed=4, point_offset=a, progress=False) for a, b in ((0, 137), (137, N))]
    np.testing.assert_array_equal(np.concatenate([h.values for h in halves]), whole.values)
    np.testing.assert_array_equal(np.concatenate([h.extras["singular_retries"] for h in halves]), whole.extras["singular_retries"])


def test_a_point_still_singular_after_the_retries_names_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import stochamort.oracles.sampled as sampled

    monkeypatch.setattr(sampled, "MAX_DOUBLINGS", 0)
    with pytest.raises(SingularSystemError, match=r"^budget: 64 evaluations per point were not enough for point \d+"):
        KernelSHAP(budget=64)(additive(), seed=4, progress=False)
