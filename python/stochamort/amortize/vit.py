"""The default image backbone for :class:`~stochamort.amortize.PatchAmortizer`: a small vision
transformer whose tokens are the patches of an :class:`~stochamort.games.ImagePatchMasker`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from stochamort._checks import check_float, check_int
from stochamort.errors import InvalidArgumentError, ShapeError

__all__ = ["ViTBackbone"]


def _pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int,)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise InvalidArgumentError(f"{name}: must be a positive int or a pair (height, width) of them, got {value!r}")
    return check_int(name, value[0], 1), check_int(name, value[1], 1)


class ViTBackbone(nn.Module):
    """A vision transformer embedding each patch of an image: ``(n, C, H, W) -> (n, n_patches, embed_dim)``.

    A convolution with kernel = stride = the patch size cuts the image into patches and embeds
    each; learned positional embeddings are added; ``depth`` pre-norm transformer encoder layers
    (GELU, no dropout) and a final LayerNorm follow. Tokens are the patches in row-major order:
    patch ``(r, c)`` of the ``grid = (H / ph, W / pw)`` is token ``r * grid[1] + c``, the order of
    :class:`~stochamort.games.ImagePatchMasker`'s players. There is no class token.

    Args:
        in_channels: image channels C.
        image_size: ``(H, W)`` (or one int for square images).
        patch_size: ``(ph, pw)`` (or one int); must divide ``image_size``.
        embed_dim: token width; a multiple of ``heads``.
        depth: number of encoder layers (``>= 1``).
        heads: attention heads per layer.
        mlp_ratio: width of each layer's feed-forward block, as a multiple of ``embed_dim``.

    Raises:
        InvalidArgumentError: a bad size, or ``embed_dim`` not a multiple of ``heads``.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int | Sequence[int],
        patch_size: int | Sequence[int],
        embed_dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.image_size = _pair("image_size", image_size)
        self.patch_size = _pair("patch_size", patch_size)
        (height, width), (ph, pw) = self.image_size, self.patch_size
        if height % ph or width % pw:
            raise InvalidArgumentError(f"patch_size: {ph}x{pw} must divide the image size {height}x{width}")
        self.grid = (height // ph, width // pw)
        self.n_patches = self.grid[0] * self.grid[1]
        self.embed_dim = check_int("embed_dim", embed_dim, 1)
        self.depth = check_int("depth", depth, 1)
        self.heads = check_int("heads", heads, 1)
        if self.embed_dim % self.heads:
            raise InvalidArgumentError(f"heads: must divide embed_dim ({self.embed_dim}), got {self.heads}")
        self.mlp_ratio = check_float("mlp_ratio", mlp_ratio, positive=True)
        self.patchify = nn.Conv2d(self.in_channels, self.embed_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.position = nn.Parameter(torch.zeros(1, self.n_patches, self.embed_dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            self.embed_dim,
            self.heads,
            max(1, round(self.embed_dim * self.mlp_ratio)),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        # Nested tensors do not apply to pre-norm layers (torch would warn on every construction).
        self.encoder = nn.TransformerEncoder(layer, self.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(self.embed_dim)

    def spec(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-serialisable dict with ``"architecture": "ViTBackbone"``
        (see :func:`~stochamort.amortize.build_network`).

        Raises:
            InvalidArgumentError: called on a subclass (its architecture is not this one's).
        """
        if type(self) is not ViTBackbone:
            raise InvalidArgumentError(f"backbone: {type(self).__name__} subclasses ViTBackbone; it cannot be rebuilt from a spec")
        return {
            "architecture": "ViTBackbone",
            "in_channels": self.in_channels,
            "image_size": list(self.image_size),
            "patch_size": list(self.patch_size),
            "embed_dim": self.embed_dim,
            "depth": self.depth,
            "heads": self.heads,
            "mlp_ratio": self.mlp_ratio,
        }

    def forward(self, x: Tensor) -> Tensor:
        """Patch embeddings ``(n, n_patches, embed_dim)`` of images ``(n, C, H, W)``."""
        expected = (self.in_channels, *self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ShapeError(f"x: expected images of shape (n, {expected[0]}, {expected[1]}, {expected[2]}), got {tuple(x.shape)}")
        weight = self.patchify.weight
        # (n, E, gh, gw) -> (n, gh * gw, E): flattening the grid row by row gives token r * gw + c.
        tokens = self.patchify(x.to(weight.dtype)).flatten(2).transpose(1, 2)
        out: Tensor = self.norm(self.encoder(tokens + self.position))
        return out
