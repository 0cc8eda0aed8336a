"""What maskers accept: read-only arrays (no torch warning), DataFrames and Series, numpy
integers, and image batches, with channels-last ones refused and the patch order pinned down."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.games import BaselineMasker, ImagePatchMasker, MarginalMasker, MaskedModel, NumpyModel

from tests.games.tabular_models import breast_cancer
from tests.helpers.torch_models import Flatten, torch_single_thread  # noqa: F401  (autouse fixture)


def read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.setflags(write=False)
    return array


def test_read_only_arrays_are_taken_without_a_warning() -> None:
    # filterwarnings = error: torch's "NumPy array is not writable" warning would fail this test
    rng = np.random.default_rng(0)
    x, background, baseline = read_only(rng.normal(size=(3, 4))), read_only(rng.normal(size=(5, 4))), read_only(rng.normal(size=4))
    masks = rng.random((3, 2, 4)) < 0.5
    for masker in (BaselineMasker(baseline), MarginalMasker(background), MarginalMasker(background, n_background=np.int64(2))):
        for model in (Flatten(), NumpyModel(lambda a: a.reshape(a.shape[0], -1))):
            game = MaskedModel(model, masker, output="identity").bind(x)
            assert game.evaluate(masks).shape == (3, 2, 4)
    expected = np.where(masks, x[:, None], baseline)
    numpy_game = MaskedModel(NumpyModel(lambda a: a), BaselineMasker(baseline)).bind(x)  # float64 throughout
    np.testing.assert_array_equal(numpy_game.evaluate(masks), expected)


def test_marginal_masker_checks_its_integers() -> None:
    background = np.zeros((6, 2))
    assert MarginalMasker(background, n_background=np.int32(4)).expansions == 4
    for bad in (0, 2.0, True):
        with pytest.raises(InvalidArgumentError, match=r"^n_background: must be an integer >= 1"):
            MarginalMasker(background, n_background=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"^seed: "):
        MarginalMasker(background, n_background=2, seed=-1)


def test_dataframe_and_series_baselines() -> None:
    frame, x, _ = breast_cancer()
    model = NumpyModel(lambda a: np.asarray(a)[:, :3])
    masks = np.zeros((2, 1, 30), dtype=np.bool_)
    for baseline in (frame.mean(), frame.iloc[[7]]):
        values = MaskedModel(model, BaselineMasker(baseline)).bind(x[:2]).evaluate(masks)
        np.testing.assert_array_equal(values[:, 0], np.broadcast_to(np.asarray(baseline, dtype=np.float64).reshape(-1)[:3], (2, 3)))
    with pytest.raises(ShapeError, match=r"^baseline: a DataFrame baseline must have one row, got 2"):
        BaselineMasker(frame.iloc[:2])


def test_image_patches_are_numbered_row_major() -> None:
    masker = ImagePatchMasker((2, 3), baseline=0.0)
    assert masker.grid((1, 4, 9)) == (2, 3)
    x = torch.ones(1, 1, 4, 9, dtype=torch.float64)
    game = MaskedModel(Flatten(), masker, output="identity").bind(x)
    for player in range(6):
        masks = np.zeros((1, 1, 6), dtype=np.bool_)
        masks[0, 0, player] = True
        image = game.evaluate(masks)[0, 0].reshape(4, 9)
        r, c = divmod(player, 3)  # player r * grid_width + c covers rows 2r..2r+1, columns 3c..3c+2
        expected = np.zeros((4, 9))
        expected[2 * r : 2 * r + 2, 3 * c : 3 * c + 3] = 1.0
        np.testing.assert_array_equal(image, expected)


def test_channels_last_images_are_refused_with_the_fix() -> None:
    x = np.zeros((2, 8, 8, 3))
    with pytest.raises(ShapeError, match=r"^x: images look channels-last \(n, H, W, C\) = \(2, 8, 8, 3\).*np\.moveaxis"):
        MaskedModel(Flatten(), ImagePatchMasker(2), output="identity").bind(x)
    with pytest.raises(ShapeError, match=r"^x: images look channels-last"):
        ImagePatchMasker(4).grid((32, 32, 1))
    game = MaskedModel(Flatten(), ImagePatchMasker(2), output="identity").bind(np.moveaxis(x, -1, 1))
    assert game.n_players == 16


@pytest.mark.parametrize("patch_size", [2.0, (2, 2.0), (2,), True, "2", (0, 2)])
def test_patch_size_must_be_positive_integers(patch_size: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^patch_size: must be a positive int or a pair of them"):
        ImagePatchMasker(patch_size)  # type: ignore[arg-type]
    assert ImagePatchMasker(np.int64(2)).patch_size == (2, 2)
