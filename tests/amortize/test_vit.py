"""The default image backbone: shapes, the patch order shared with ImagePatchMasker, and the
image amortizer built on it (trainable, typed errors)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from stochamort.amortize import TrainConfig, ViTBackbone, image_amortizer, train_amortizer
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.games import ImagePatchMasker
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)


def test_tokens_are_the_patches_in_the_maskers_player_order() -> None:
    """Showing only player k of an ImagePatchMasker changes only token k of the encoder's input."""
    torch.manual_seed(0)
    backbone = ViTBackbone(2, (6, 9), (2, 3), embed_dim=8, depth=1, heads=2).eval()
    masker = ImagePatchMasker((2, 3), baseline=0.0)
    image = torch.rand(1, 2, 6, 9) + 1.0
    masker.prepare(image)
    d = masker.n_features((2, 6, 9))
    assert d == backbone.n_patches == 9 and backbone.grid == (3, 3)
    seen: list[Tensor] = []
    backbone.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0] - backbone.position))
    with torch.no_grad():
        backbone(torch.zeros(1, 2, 6, 9))
        empty = seen.pop()
        for k in range(d):
            masks = torch.zeros(1, d, dtype=torch.bool)
            masks[0, k] = True
            (shown,) = masker.apply(image, masks)
            out = backbone(shown)
            changed = (seen.pop() - empty).abs().amax(dim=2)[0] > 0
            assert changed.nonzero().flatten().tolist() == [k]
    assert out.shape == (1, 9, 8)


def test_image_amortizer_maps_images_to_patch_attributions_and_trains() -> None:
    torch.manual_seed(0)
    network = image_amortizer(3, 8, 4, 2, embed_dim=16, depth=1, heads=4, output_activation="tanh")
    x = np.random.default_rng(0).normal(size=(12, 3, 8, 8)).astype(np.float32)
    labels = np.random.default_rng(1).uniform(-0.5, 0.5, size=(12, 4, 2))
    result = train_amortizer(network, x, labels, config=TrainConfig(epochs=2, batch_size=4, progress=False))
    phi = result.predict(x)
    assert phi.shape == (12, 4, 2) and np.all(np.abs(phi) < 1)
    assert network.spec()["backbone"]["image_size"] == [8, 8]


def test_bad_sizes_and_inputs_are_refused_naming_the_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="^patch_size: 4x4 must divide the image size 6x8"):
        ViTBackbone(1, (6, 8), 4)
    with pytest.raises(InvalidArgumentError, match=r"^heads: must divide embed_dim \(10\)"):
        ViTBackbone(1, 8, 4, embed_dim=10, heads=4)
    with pytest.raises(InvalidArgumentError, match="^image_size: must be a positive int or a pair"):
        ViTBackbone(1, (8, 8, 8), 4)
    with pytest.raises(InvalidArgumentError, match="^depth:"):
        ViTBackbone(1, 8, 4, depth=0)
    with pytest.raises(ShapeError, match=r"^x: expected images of shape \(n, 1, 8, 8\)"):
        ViTBackbone(1, 8, 4, embed_dim=8, heads=2)(torch.zeros(2, 3, 8, 8))
