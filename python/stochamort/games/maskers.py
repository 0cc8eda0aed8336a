"""Maskers: how a coalition of players becomes model inputs.

A masker receives aligned rows — inputs ``x`` ``(R, *shape)`` and feature masks ``(R, n_features)``
on the model's device — and returns the model's positional arguments for ``R * expansions`` inputs
(``expansions`` > 1 when each coalition is averaged over a background set). All work is batched
tensor operations; nothing loops over coalitions in Python.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

import torch
from torch import Tensor

from stochamort.errors import DeviceMismatchError, InvalidArgumentError, ShapeError

__all__ = ["Masker", "BaselineMasker", "MarginalMasker", "ImagePatchMasker", "TokenMasker"]


def _as_tensor(value: Any, name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A tensor on ``device``; tensors already elsewhere are refused rather than copied silently."""
    if isinstance(value, Tensor):
        if value.device != device:
            raise DeviceMismatchError(f"{name}: lives on {value.device} but the model is on {device}; move it first")
        return value.to(dtype)
    return torch.as_tensor(value, dtype=dtype, device=device)


class Masker(ABC):
    """Turns (inputs, coalition masks over features) into model arguments."""

    #: Model inputs per coalition (averaged afterwards); 1 unless the masker averages a background.
    expansions: int = 1

    @abstractmethod
    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        """Number of maskable features (the players, before any grouping) of one input."""

    def prepare(self, x: Tensor) -> None:
        """Check inputs ``(n, *shape)`` and move the masker's own tensors to ``x``'s device and dtype."""

    @abstractmethod
    def apply(self, x: Tensor, masks: Tensor) -> tuple[Tensor, ...]:
        """Model arguments for rows ``x`` ``(R, *shape)`` with feature masks ``masks`` ``(R, n_features)``."""


class BaselineMasker(Masker):
    """Absent features take fixed reference values (a scalar or an array of the input's shape)."""

    def __init__(self, baseline: Any = 0.0) -> None:
        self._baseline_input = baseline
        self._baseline: Tensor | None = None

    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        return int(torch.Size(sample_shape).numel())

    def prepare(self, x: Tensor) -> None:
        baseline = _as_tensor(self._baseline_input, "baseline", x.device, x.dtype)
        try:
            baseline = torch.broadcast_to(baseline, x.shape[1:])
        except RuntimeError as err:
            raise ShapeError(
                f"baseline: shape {tuple(baseline.shape)} does not broadcast to the input shape {tuple(x.shape[1:])}"
            ) from err
        self._baseline = baseline.reshape(-1)

    def apply(self, x: Tensor, masks: Tensor) -> tuple[Tensor, ...]:
        assert self._baseline is not None, "prepare() must run first"
        flat = x.reshape(x.shape[0], -1)
        return (torch.where(masks, flat, self._baseline).reshape(x.shape),)


class MarginalMasker(Masker):
    """Absent features are drawn from a background set; each coalition averages the model over it.

    This is the interventional (marginal) value function of KernelSHAP. ``n_background`` picks a
    seeded subsample of the background to bound the cost (each coalition costs that many inputs).
    """

    def __init__(self, background: Any, n_background: int | None = None, seed: int = 0) -> None:
        background = background if isinstance(background, Tensor) else torch.as_tensor(background)
        if background.ndim < 2 or background.shape[0] == 0:
            raise ShapeError(f"background: expected a non-empty array (n_background, *input_shape), got {tuple(background.shape)}")
        if n_background is not None:
            if not isinstance(n_background, int) or n_background < 1:
                raise InvalidArgumentError(f"n_background: must be a positive integer, got {n_background!r}")
            if n_background < background.shape[0]:
                generator = torch.Generator().manual_seed(seed)
                rows = torch.randperm(background.shape[0], generator=generator)[:n_background]
                background = background[rows.to(background.device)]
        self._background_input = background
        self._background: Tensor | None = None
        self.expansions = int(background.shape[0])

    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        return int(torch.Size(sample_shape).numel())

    def prepare(self, x: Tensor) -> None:
        background = _as_tensor(self._background_input, "background", x.device, x.dtype)
        if background.shape[1:] != x.shape[1:]:
            raise ShapeError(
                f"background: rows have shape {tuple(background.shape[1:])} but inputs have {tuple(x.shape[1:])}"
            )
        self._background = background.reshape(background.shape[0], -1)

    def apply(self, x: Tensor, masks: Tensor) -> tuple[Tensor, ...]:
        assert self._background is not None, "prepare() must run first"
        flat = x.reshape(x.shape[0], 1, -1)
        mixed = torch.where(masks[:, None, :], flat, self._background[None])
        return (mixed.reshape(x.shape[0] * self.expansions, *x.shape[1:]),)


class ImagePatchMasker(Masker):
    """Players are the cells of a grid of patches over images ``(channels, height, width)``.

    Absent patches take ``baseline`` (a scalar, or per-channel values of shape ``(channels,)``).
    The height and width must be multiples of the patch size.
    """

    def __init__(self, patch_size: int | tuple[int, int], baseline: Any = 0.0) -> None:
        size = (patch_size, patch_size) if isinstance(patch_size, int) else tuple(patch_size)
        if len(size) != 2 or any(not isinstance(s, int) or s < 1 for s in size):
            raise InvalidArgumentError(f"patch_size: must be a positive int or a pair of them, got {patch_size!r}")
        self.patch_size: tuple[int, int] = (int(size[0]), int(size[1]))
        self._baseline_input = baseline
        self._baseline: Tensor | None = None
        self._grid: tuple[int, int] = (0, 0)

    def _grid_of(self, sample_shape: tuple[int, ...]) -> tuple[int, int]:
        if len(sample_shape) != 3:
            raise ShapeError(f"x: image inputs must be (n, channels, height, width), got per-input shape {sample_shape}")
        _, height, width = sample_shape
        ph, pw = self.patch_size
        if height % ph or width % pw:
            raise ShapeError(f"x: image size {height}x{width} is not a multiple of the patch size {ph}x{pw}")
        return height // ph, width // pw

    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        gh, gw = self._grid_of(sample_shape)
        return gh * gw

    def prepare(self, x: Tensor) -> None:
        self._grid = self._grid_of(tuple(x.shape[1:]))
        baseline = _as_tensor(self._baseline_input, "baseline", x.device, x.dtype)
        if baseline.ndim == 1:
            if baseline.shape[0] != x.shape[1]:
                raise ShapeError(f"baseline: has {baseline.shape[0]} channel values for {x.shape[1]} channels")
            baseline = baseline[:, None, None]
        elif baseline.ndim != 0:
            raise ShapeError(f"baseline: expected a scalar or per-channel values, got shape {tuple(baseline.shape)}")
        self._baseline = baseline

    def apply(self, x: Tensor, masks: Tensor) -> tuple[Tensor, ...]:
        assert self._baseline is not None, "prepare() must run first"
        (gh, gw), (ph, pw) = self._grid, self.patch_size
        pixels = masks.reshape(-1, 1, gh, gw).repeat_interleave(ph, dim=2).repeat_interleave(pw, dim=3)
        return (torch.where(pixels, x, self._baseline),)


class TokenMasker(Masker):
    """Players are the tokens of fixed-length sequences ``(n, length)`` of token ids.

    ``mode="replace"`` puts ``mask_token_id`` in absent positions and calls ``model(ids)``;
    ``mode="attention"`` keeps the ids and calls ``model(ids, attention_mask)`` with zeros at absent
    positions (as Hugging Face models accept).
    """

    def __init__(self, mask_token_id: int | None = None, mode: Literal["replace", "attention"] = "replace") -> None:
        if mode not in ("replace", "attention"):
            raise InvalidArgumentError(f"mode: must be 'replace' or 'attention', got {mode!r}")
        if mode == "replace" and not isinstance(mask_token_id, int):
            raise InvalidArgumentError(f"mask_token_id: mode='replace' needs an integer token id, got {mask_token_id!r}")
        self.mask_token_id = mask_token_id
        self.mode = mode

    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        if len(sample_shape) != 1:
            raise ShapeError(f"x: token inputs must be (n, length), got per-input shape {sample_shape}")
        return sample_shape[0]

    def prepare(self, x: Tensor) -> None:
        if x.dtype.is_floating_point or x.dtype == torch.bool:
            raise ShapeError(f"x: token inputs must be integer ids, got dtype {x.dtype}")
        self.n_features(tuple(x.shape[1:]))

    def apply(self, x: Tensor, masks: Tensor) -> tuple[Tensor, ...]:
        if self.mode == "attention":
            return (x, masks.to(torch.long))
        assert self.mask_token_id is not None
        return (torch.where(masks, x, torch.full_like(x, self.mask_token_id)),)
