"""The accuracy benchmark's quick path (ours only) and its ground truth.

``benches/bench_accuracy.py --quick --no-peers`` must write the JSON structure the maintainers read;
its games must have interactions above order 2 (else paired KernelSHAP would be exact and the
benchmark would compare nothing); its exact references must agree with
``stochamort.estimators.exact_shapley``; and every Shapley oracle of ``stochamort.oracles`` must be
discovered.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHES = Path(__file__).resolve().parent.parent / "benches"
sys.path.insert(0, str(BENCHES))

import bench_accuracy  # noqa: E402
from _accuracy_game import MLPGame, all_coalitions, exact_shapley, order2_residual  # noqa: E402
from _accuracy_ours import CountingGame, shapley_oracles  # noqa: E402
from _accuracy_records import MethodRun  # noqa: E402
from _accuracy_report import comparisons, unbiased_winners  # noqa: E402

from stochamort import oracles  # noqa: E402
from stochamort.estimators import exact_shapley as stochamort_exact_shapley  # noqa: E402
from stochamort.sampling import enumerate_coalitions  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "bench_accuracy.json"
    status = bench_accuracy.main(
        ["--quick", "--no-peers", "--output", str(out), "--cache-dir", str(out.parent / "cache")]
    )
    payload: dict[str, Any] = json.loads(out.read_text())
    payload["_status"] = status
    payload["_png"] = out.with_suffix(".png")
    return payload


def test_quick_run_writes_the_expected_structure(quick: dict[str, Any]) -> None:
    assert quick["_status"] == 0, quick["failures"]
    assert quick["failures"] == []
    assert quick["_png"].stat().st_size > 10_000
    assert set(quick["games"]) == {"12"}
    game = quick["games"]["12"]
    assert game["reference"]["kind"] == "exact" and game["reference"]["noise"] == 0.0
    assert game["order2_residual"] > 0.05  # strong interactions above order 2
    budgets = {64, 512}
    methods = {r["method"] for r in quick["runs"]}
    assert {"KernelSHAP", "Permutation", "UnbiasedKernelSHAP"} <= methods
    for run in quick["runs"]:
        assert run["source"] == "ours" and run["d"] == 12 and run["budget"] in budgets
        if run["status"] != "ok":
            continue
        assert run["n_points"] == 8 and len(run["sq_errors"]) == 8
        assert run["error"] == pytest.approx(np.mean(run["sq_errors"]))
        assert run["error_se"] > 0
        assert not run["over_budget"] and run["evaluations_max"] <= run["budget"]
        assert run["seconds_per_point"] > 0
    assert [(c["d"], c["budget"]) for c in quick["comparisons"]] == [(12, 64), (12, 512)]
    assert all(c["best_ours"] in methods and c["best_peer"] is None for c in quick["comparisons"])
    unbiased = {r["method"] for r in quick["runs"] if r["unbiased"]}
    for cell in quick["unbiased"]:
        assert cell["winner"].removesuffix(" [ours]") in unbiased
        ranks = [m["error_x_evaluations"] for m in cell["ranking"]]
        assert ranks == sorted(ranks)


def test_errors_fall_with_the_budget_and_paired_kernelshap_is_not_exact(quick: dict[str, Any]) -> None:
    runs = {(r["method"], r["budget"]): r for r in quick["runs"] if r["status"] == "ok"}
    for method in ("KernelSHAP", "Permutation"):
        assert runs[(method, 512)]["error"] < runs[(method, 64)]["error"] / 3
    assert runs[("KernelSHAP", 512)]["error"] > 1e-4  # an order-<= 2 game would make it exact


def test_enumeration_agrees_with_stochamort_exact_shapley() -> None:
    game = MLPGame(3, 12, seed=0)
    assert np.array_equal(all_coalitions(12), enumerate_coalitions(12))
    points = np.array([0, 2])
    table = game.values(np.broadcast_to(all_coalitions(12), (2, 4096, 12)), points)
    expected = stochamort_exact_shapley(table[..., None]).values[..., 0]
    np.testing.assert_allclose(exact_shapley(game, points), expected, rtol=0, atol=1e-12)
    # efficiency: the values add up to v(all) − v(∅)
    np.testing.assert_allclose(exact_shapley(game, points).sum(axis=1), table[:, -1] - table[:, 0], atol=1e-12)


def test_interventional_game_averages_the_background_rows() -> None:
    game = MLPGame(2, 6, n_background=3, seed=1)
    masks = np.random.default_rng(0).random((2, 5, 6)) < 0.5
    points = np.array([0, 1])
    by_row = []
    for b in game.background:
        inputs = np.where(masks, game.x[:, None, :], b)  # z ⊙ x + (1 − z) ⊙ b
        hidden = np.tanh(np.einsum("psd,phd->psh", inputs, game.w1) + game.b1[:, None, :])
        by_row.append(np.einsum("psh,ph->ps", hidden, game.w2))
    np.testing.assert_allclose(game.values(masks, points), np.mean(by_row, axis=0), rtol=1e-5, atol=1e-5)
    rebuilt = MLPGame.from_arrays(game.arrays())
    assert rebuilt.key() == game.key()
    np.testing.assert_array_equal(rebuilt.values(masks, points), game.values(masks, points))


def test_additive_part_is_not_everything() -> None:
    assert order2_residual(MLPGame(4, 8, seed=0), np.arange(4)) > 0.05


def test_every_shapley_oracle_is_discovered() -> None:
    variants, notes = shapley_oracles()
    found = {v.cls.__name__ for v in variants}
    expected = {
        name
        for name in oracles.__all__
        if inspect.isclass(getattr(oracles, name))
        and issubclass(getattr(oracles, name), oracles.Oracle)
        and not inspect.isabstract(getattr(oracles, name))
        and getattr(oracles, name).target == "shapley"
    } - {"Exact"}
    assert found == expected
    assert all(getattr(v.build(64), "budget") == 64 for v in variants)
    assert any("Exact" in n for n in notes)


def test_counting_game_counts_per_point() -> None:
    game = CountingGame(MLPGame(3, 5, seed=0))
    game.evaluate(np.ones((2, 7, 5), dtype=bool), np.array([2, 0]))
    game.endpoints(np.array([2]))
    assert game.evaluations.tolist() == [7, 0, 9]


def _run(method: str, source: str, errors: list[float], evals: int, budget: int = 64) -> MethodRun:
    return MethodRun(source, method, True, 12, budget, points=list(range(len(errors))), sq_errors=errors, evaluations=[evals] * len(errors))


def test_comparison_uses_common_points_and_excludes_overspending_peers() -> None:
    ours = _run("Ours", "ours", [1.0, 1.0, 4.0, 4.0], 64)
    peer = _run("Peer", "shapiq", [2.0, 2.0], 64)
    cheat = _run("Cheat", "shapiq", [0.1, 0.1], 65)
    [row] = comparisons([ours, peer, cheat])
    assert row["best_peer"] == "Peer [shapiq]" and row["peer_points"] == 2
    assert row["error_ratio_common_points"] == pytest.approx(0.5)  # on points 0 and 1 only
    assert row["target_error"] == "met"
    [cell] = unbiased_winners([ours, peer, cheat])
    assert cell["winner"] == "Peer [shapiq]" and [m["method"] for m in cell["ranking"]] == ["Peer [shapiq]", "Ours [ours]"]


def test_comparison_verdicts_judge_the_log_ratio_against_its_noise() -> None:
    peer = _run("Peer", "shapiq", [1.0, 2.0, 1.0, 2.0], 64)
    worse = _run("Ours", "ours", [3.0, 6.0, 3.1, 5.9], 64)  # three times worse on every point
    noisy = _run("Ours", "ours", [0.1, 6.0, 0.2, 0.3], 64)  # worse on average, but by chance
    [row] = comparisons([worse, peer])
    assert row["error_ratio_common_points"] == pytest.approx(3.0) and row["target_error"] == "missed"
    [row] = comparisons([noisy, peer])
    assert row["error_ratio_common_points"] > 1 and row["target_error"] == "noise"
