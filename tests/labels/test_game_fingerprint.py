"""A label store is tied to the whole game, not only the model: another masker, background,
output transform or feature grouping with the same model is refused, not resumed into a mix of
two games' labels; a game that cannot be told apart by its values can be named (``game_id``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from stochamort.errors import InvalidArgumentError
from stochamort.games import BaselineMasker, FunctionGame, MarginalMasker, MaskedModel
from stochamort.labels import LabelStoreError, generate_labels
from stochamort.oracles import KernelSHAP

from tests.games.tabular_models import breast_cancer, gradient_boosting
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)

ORACLE = KernelSHAP(budget=64)
GROUPS = [list(range(start, start + 5)) for start in range(0, 30, 5)]


@pytest.fixture(scope="module")
def model() -> object:
    return gradient_boosting()


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return breast_cancer()[1][:40]


def variants(model: object, x: np.ndarray) -> dict[str, MaskedModel]:
    return {
        "other background": MaskedModel(model, MarginalMasker(x[20:40]), groups=GROUPS),
        "subsampled background": MaskedModel(model, MarginalMasker(x[:20], n_background=5), groups=GROUPS),
        "other transform": MaskedModel(model, MarginalMasker(x[:20]), output=lambda p: torch.logit(p, eps=1e-7), groups=GROUPS),
        "baseline masking": MaskedModel(model, BaselineMasker(x.mean(axis=0)), groups=GROUPS),
        "other grouping": MaskedModel(model, MarginalMasker(x[:20]), groups=[list(range(s, s + 6)) for s in range(0, 30, 6)]),
    }


def reference(model: object, x: np.ndarray) -> MaskedModel:
    return MaskedModel(model, MarginalMasker(x[:20]), groups=GROUPS)


@pytest.mark.parametrize("variant", ["other background", "subsampled background", "other transform", "baseline masking", "other grouping"])
def test_a_finished_or_partial_store_is_refused_for_another_game_of_the_same_model(
    model: object, x: np.ndarray, tmp_path: Path, variant: str
) -> None:
    store = generate_labels(reference(model, x), x, ORACLE, tmp_path / "s", chunk_size=10, progress=False)
    assert store.manifest["model_sha256"] == generate_labels(
        reference(model, x), x, ORACLE, tmp_path / "s", chunk_size=10, progress=False
    ).manifest["model_sha256"]
    partial = tmp_path / "partial"
    shutil.copytree(tmp_path / "s", partial)
    (partial / "chunk-00002.npz").unlink()
    game = variants(model, x)[variant]
    for directory in (tmp_path / "s", partial):
        with pytest.raises(LabelStoreError, match="game_sha256"):
            generate_labels(game, x, ORACLE, directory, chunk_size=10, progress=False)
    assert not (partial / "chunk-00002.npz").exists()  # nothing was computed for the other game


def test_the_same_game_resumes(model: object, x: np.ndarray, tmp_path: Path) -> None:
    whole = generate_labels(reference(model, x), x, ORACLE, tmp_path / "whole", chunk_size=10, progress=False)
    partial = tmp_path / "partial"
    shutil.copytree(tmp_path / "whole", partial)
    (partial / "chunk-00001.npz").unlink()
    resumed = generate_labels(reference(model, x), x, ORACLE, partial, chunk_size=10, progress=False)
    np.testing.assert_array_equal(resumed.load().values, whole.load().values)


def test_games_that_are_not_model_games_are_fingerprinted_and_can_be_named(tmp_path: Path) -> None:
    def game(scale: float) -> FunctionGame:
        return FunctionGame(lambda m, p: scale * m.sum(axis=2, keepdims=True) + p[:, None, None], n_points=12, n_players=4)

    x = np.zeros((12, 4))
    store = generate_labels(game(1.0), x, ORACLE, tmp_path / "s", chunk_size=4, progress=False, game_id="sum v1")
    assert store.manifest["model_sha256"] is None and store.manifest["game_id"] == "sum v1"
    with pytest.raises(LabelStoreError, match="game_sha256"):
        generate_labels(game(2.0), x, ORACLE, tmp_path / "s", chunk_size=4, progress=False, game_id="sum v1")
    with pytest.raises(LabelStoreError, match="game_id: stored 'sum v1', requested 'sum v2'"):
        generate_labels(game(1.0), x, ORACLE, tmp_path / "s", chunk_size=4, progress=False, game_id="sum v2")
    with pytest.raises(InvalidArgumentError, match="game_id"):
        generate_labels(game(1.0), x, ORACLE, tmp_path / "t", progress=False, game_id=3)  # type: ignore[arg-type]
