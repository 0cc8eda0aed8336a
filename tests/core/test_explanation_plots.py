"""shap's plots drawn from exported attributions (Agg backend, PNG files), and the pixel spread of patches."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.explanation import Attributions, to_shap_explanation
from stochamort.results import Estimate
from tests.helpers.shap_export import save_png, shap

# Tabular: five points, three features, two outputs, by hand; efficient (outputs = base + sum).
TABULAR = np.array(
    [
        [[0.5, -0.5], [1.0, 0.0], [-2.0, 1.5]],
        [[0.0, 1.0], [-1.0, 2.0], [0.5, -0.5]],
        [[1.5, 0.0], [0.25, -1.0], [0.0, 0.0]],
        [[-0.5, 0.5], [2.0, -2.0], [1.0, 1.0]],
        [[0.0, -1.5], [-0.75, 0.25], [3.0, 0.5]],
    ]
)
TABULAR_BASE = np.tile([0.25, 0.75], (5, 1))


def _tabular() -> Attributions:
    return Attributions(
        values=TABULAR,
        std_errors=np.full(TABULAR.shape, 0.1),
        n_evaluations=np.full(5, 128),
        base_values=TABULAR_BASE,
        outputs=TABULAR_BASE + TABULAR.sum(axis=1),
        data=np.arange(15.0).reshape(5, 3),
        feature_names=("age", "income", "score"),
        output_names=("no", "yes"),
        method="Permutation",
    )


# Images: two RGB 8x8 images, 4x4 patches, so four players: top-left, top-right, bottom-left, bottom-right.
PATCHES = np.array(
    [
        [[1.0, 0.0, 2.0], [-2.0, 1.0, 0.0], [0.5, -1.0, 1.0], [3.0, 0.0, -4.0]],
        [[0.0, 2.0, 1.0], [4.0, -1.0, 0.0], [-1.0, 0.0, 3.0], [-1.0, 1.0, 1.0]],
    ]
)
IMAGES = np.linspace(0.0, 1.0, 2 * 3 * 8 * 8).reshape(2, 3, 8, 8)
IMAGE_BASE = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])


def _images(n_outputs: int, *, std_errors: bool = False) -> Attributions:
    values = PATCHES[:, :, :n_outputs]
    return Attributions(
        values=values,
        std_errors=np.full(values.shape, 0.48) if std_errors else None,
        n_evaluations=np.full(2, 2),
        base_values=IMAGE_BASE[:, :n_outputs],
        outputs=IMAGE_BASE[:, :n_outputs] + values.sum(axis=1),
        data=IMAGES,
        method="Permutation" if std_errors else "amortized",
        patch_size=(4, 4),
    )


def test_tabular_plots_render(tmp_path: Path) -> None:
    attributions = _tabular()
    yes = attributions.to_shap(output="yes")
    shap.plots.bar(yes, show=False)
    # The bars are the mean absolute values per feature, largest first.
    widths = sorted((abs(bar.get_width()) for bar in plt.gca().patches), reverse=True)
    np.testing.assert_allclose(widths, sorted(np.abs(TABULAR[:, :, 1]).mean(axis=0), reverse=True))
    assert len(save_png(tmp_path / "bar.png")) > 1000
    shap.plots.beeswarm(yes, show=False)
    assert len(save_png(tmp_path / "beeswarm.png")) > 1000
    shap.plots.waterfall(yes[3], show=False)
    assert len(save_png(tmp_path / "waterfall.png")) > 1000
    # shap's own slicing of the multi-output export draws too.
    shap.plots.bar(attributions.to_shap()[:, :, 0], show=False)
    assert len(save_png(tmp_path / "bar-no.png")) > 1000
    shap.plots.waterfall(attributions.to_shap()[0, :, 0], show=False)
    assert len(save_png(tmp_path / "waterfall-no.png")) > 1000


def test_plots_of_plain_predictions_render(tmp_path: Path) -> None:
    """An amortizer's raw predictions (no standard errors) plot like any explanation."""
    exp = to_shap_explanation(TABULAR[:, :, 0], data=np.arange(15.0).reshape(5, 3), base_values=0.25)
    assert exp.error_std is None
    shap.plots.beeswarm(exp, show=False)
    assert len(save_png(tmp_path / "beeswarm.png")) > 1000
    shap.plots.waterfall(exp[1], show=False)
    assert len(save_png(tmp_path / "waterfall.png")) > 1000


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_patches_spread_evenly_over_their_pixels(n_outputs: int) -> None:
    exp = _images(n_outputs).to_shap()
    values = PATCHES[:, :, :n_outputs]
    assert exp.values.shape == (2, 8, 8, 3, n_outputs) and exp.error_std is None
    np.testing.assert_array_equal(exp.data, np.moveaxis(IMAGES, 1, -1))
    np.testing.assert_array_equal(exp.base_values, IMAGE_BASE[:, :n_outputs])
    assert list(exp.output_names) == [f"Output {k}" for k in range(n_outputs)]
    # Additivity: per point and output, the pixels add up to the patches, so base + sum = outputs.
    np.testing.assert_allclose(exp.values.sum(axis=(1, 2, 3)), values.sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(
        exp.base_values + exp.values.sum(axis=(1, 2, 3)), _images(n_outputs).outputs, atol=1e-12
    )
    # Row-major players: player r * 2 + c covers rows 4r:4r+4 and columns 4c:4c+4, evenly.
    for player, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        block = exp.values[:, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4]
        expected = np.broadcast_to(values[:, player, None, None, None, :] / 48.0, block.shape)
        np.testing.assert_allclose(block, expected)


def test_patch_standard_errors_scale_with_their_values() -> None:
    exp = _images(3, std_errors=True).to_shap()
    np.testing.assert_allclose(exp.error_std, np.full((2, 8, 8, 3, 3), 0.01))


def test_patch_size_for_estimates_and_arrays() -> None:
    expected = _images(3).to_shap().values
    estimate = Estimate(PATCHES, np.zeros_like(PATCHES), np.full(2, 16))
    from_estimate = to_shap_explanation(estimate, data=IMAGES, patch_size=4, output_names=["a", "b", "c"])
    np.testing.assert_array_equal(from_estimate.values, expected)
    assert list(from_estimate.output_names) == ["a", "b", "c"] and from_estimate.base_values is None
    from_array = to_shap_explanation(PATCHES[:, :, 0], data=IMAGES, patch_size=(4, 4), base_values=IMAGE_BASE[:, 0])
    assert from_array.values.shape == (2, 8, 8, 3, 1)
    np.testing.assert_array_equal(from_array.values[..., 0], expected[..., 0])
    np.testing.assert_array_equal(from_array.base_values, IMAGE_BASE[:, :1])
    with pytest.raises(InvalidArgumentError, match="^patch_size: needs data"):
        to_shap_explanation(PATCHES, patch_size=4)
    with pytest.raises(ShapeError, match="^patch_size:"):
        to_shap_explanation(PATCHES, data=IMAGES, patch_size=2)  # 16 patches, 4 players
    with pytest.raises(ShapeError, match="^data:"):
        to_shap_explanation(PATCHES, data=IMAGES[:, 0], patch_size=4)  # no channels axis
    with pytest.raises(ShapeError, match="^patch_size:"):
        to_shap_explanation(PATCHES, data=np.moveaxis(IMAGES, 1, -1), patch_size=4)  # channels last: 8x3 images


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_image_plot_renders_patch_values(tmp_path: Path, n_outputs: int) -> None:
    shap.plots.image(_images(n_outputs).to_shap(), show=False)
    figure = plt.gcf()
    # One row per image: the image, then one panel per output; then the colour bar.
    assert len(figure.axes) == 2 * (n_outputs + 1) + 1
    for row in range(2):
        for k in range(n_outputs):
            drawn = np.asarray(figure.axes[row * (n_outputs + 1) + k + 1].images[-1].get_array())
            # shap draws the sum over channels: each pixel shows its patch's value / (4 · 4).
            expected = np.kron(PATCHES[row, :, k].reshape(2, 2), np.ones((4, 4))) / 16.0
            np.testing.assert_allclose(drawn, expected)
    assert len(save_png(tmp_path / f"image-{n_outputs}.png")) > 1000
