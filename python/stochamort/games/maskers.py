"""Maskers: how a coalition of players becomes model inputs.

A masker receives aligned rows — inputs ``x`` ``(R, *shape)`` and feature masks ``(R, n_features)``
on the model's device — and returns the model's positional arguments for ``R * expansions`` inputs
(``expansions`` > 1 when each coalition is averaged over a background set). All work is batched
tensor operations; nothing loops over coalitions in Python.

Baselines and backgrounds may be tensors, numeric arrays or DataFrames (numeric columns only,
read as float64); a DataFrame's column names are kept so that a game can check that its inputs
have the same columns in the same order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
import torch
from torch import Tensor

from stochamort._checks import as_numeric_array, check_int, is_table, table_columns
from stochamort.errors import DeviceMismatchError, InvalidArgumentError, ShapeError

__all__ = ["Masker", "BaselineMasker", "MarginalMasker", "ImagePatchMasker", "TokenMasker"]


def _as_tensor(value: Any, name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A tensor on ``device``; tensors already elsewhere are refused rather than copied silently."""
    if isinstance(value, Tensor):
        if value.device != device:
            raise DeviceMismatchError(f"{name}: lives on {value.device} but the model is on {device}; move it first")
        return value.to(dtype)
    return torch.as_tensor(host_array(name, value), dtype=dtype, device=device)


def host_array(name: str, value: Any) -> Any:
    """A numeric numpy array (DataFrames read as float64) that torch may share: read-only ones are copied."""
    array = as_numeric_array(name, value)
    return array if array.flags.writeable else array.copy()


class Masker(ABC):
    """Turns (inputs, coalition masks over features) into model arguments."""

    #: Model inputs per coalition (averaged afterwards); 1 unless the masker averages a background.
    expansions: int = 1
    #: Column names of the DataFrame the masker was given (baseline or background), else None.
    columns: list[str] | None = None
    #: The class of that DataFrame (to rebuild frames for numpy models), else None.
    frame_type: Any = None

    @abstractmethod
    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        """Number of maskable features (the players, before any grouping) of one input."""

    def prepare(self, x: Tensor) -> None:
        """Check inputs ``(n, *shape)`` and move the masker's own tensors to ``x``'s device and dtype."""

    @abstractmethod
    def apply(self, x: Tensor, masks: Tensor) -> tuple[Tensor, ...]:
        """Model arguments for rows ``x`` ``(R, *shape)`` with feature masks ``masks`` ``(R, n_features)``."""


class BaselineMasker(Masker):
    """Absent features take fixed reference values (a scalar or an array of the input's shape).

    Args:
        baseline: a scalar, an array or tensor that broadcasts to one input's shape, a Series of
            per-feature values, or a one-row DataFrame (its columns are checked against
            DataFrame inputs).

    Raises:
        InvalidDTypeError: naming ``baseline`` for non-numeric values.
        ShapeError: naming ``baseline`` for a DataFrame with more than one row.
    """

    def __init__(self, baseline: Any = 0.0) -> None:
        if is_table(baseline):
            self.columns, self.frame_type = table_columns(baseline), type(baseline)
            rows = host_array("baseline", baseline)
            if rows.shape[0] != 1:
                raise ShapeError(
                    f"baseline: a DataFrame baseline must have one row, got {rows.shape[0]} (average a background "
                    "with MarginalMasker instead)"
                )
            baseline = rows[0]
        elif not isinstance(baseline, Tensor):
            baseline = host_array("baseline", baseline)
        self._baseline_input = baseline
        self._baseline: Tensor | None = None

    @property
    def baseline(self) -> NDArray[Any]:
        """The reference values as given (after reading a Series or DataFrame row), as numpy."""
        return _host_numpy(self._baseline_input)

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

    This is the interventional (marginal) value function of KernelSHAP,
    v_x(S) = mean over background rows b of f(x_S, b_not-S): the same as shap's
    ``shap.maskers.Independent`` masker with this background. ``n_background`` picks a seeded
    subsample of the background to bound the cost (each coalition costs that many inputs).

    Args:
        background: rows ``(n_background, *input_shape)``: a tensor, a numeric array or a
            DataFrame (numeric columns, read as float64; its columns are checked against
            DataFrame inputs).
        n_background: if given and smaller than the background, the number of rows drawn from it.
        seed: the seed of that draw.

    Raises:
        ShapeError: naming ``background`` for an empty or one-dimensional background.
        InvalidDTypeError: naming ``background`` for non-numeric data.
        InvalidArgumentError: naming ``n_background`` or ``seed`` for values that are not
            integers ``>= 1`` (``>= 0`` for the seed).
    """

    def __init__(self, background: Any, n_background: int | None = None, seed: int = 0) -> None:
        self.columns, self.frame_type = table_columns(background), type(background) if is_table(background) else None
        if not isinstance(background, Tensor):
            background = torch.as_tensor(host_array("background", background))
        if background.ndim < 2 or background.shape[0] == 0:
            raise ShapeError(f"background: expected a non-empty array (n_background, *input_shape), got {tuple(background.shape)}")
        seed = check_int("seed", seed, 0)
        if n_background is not None:
            n_background = check_int("n_background", n_background, 1)
            if n_background < background.shape[0]:
                generator = torch.Generator().manual_seed(seed)
                rows = torch.randperm(background.shape[0], generator=generator)[:n_background]
                background = background[rows.to(background.device)]
        self._background_input = background
        self._background: Tensor | None = None
        self.expansions = int(background.shape[0])

    @property
    def background(self) -> NDArray[Any]:
        """The background rows the masker averages over (after subsampling), as numpy."""
        return _host_numpy(self._background_input)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one background row, which every explained input must have."""
        return tuple(self._background_input.shape[1:])

    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        return int(torch.Size(sample_shape).numel())

    def prepare(self, x: Tensor) -> None:
        background = _as_tensor(self._background_input, "background", x.device, x.dtype)
        if background.shape[1:] != x.shape[1:]:
            raise ShapeError(
                f"x: each input has shape {tuple(x.shape[1:])}, but the background's rows have {tuple(background.shape[1:])}"
            )
        self._background = background.reshape(background.shape[0], -1)

    def apply(self, x: Tensor, masks: Tensor) -> tuple[Tensor, ...]:
        assert self._background is not None, "prepare() must run first"
        flat = x.reshape(x.shape[0], 1, -1)
        mixed = torch.where(masks[:, None, :], flat, self._background[None])
        return (mixed.reshape(x.shape[0] * self.expansions, *x.shape[1:]),)


class ImagePatchMasker(Masker):
    """Players are the cells of a grid of patches over channels-first images ``(n, channels, height, width)``.

    The players are numbered row-major: patch ``(r, c)`` (row ``r`` from the top, column ``c``
    from the left) is player ``r * grid_width + c``, where ``(grid_height, grid_width) =
    grid(sample_shape)``. Absent patches take ``baseline`` (a scalar, or per-channel values of
    shape ``(channels,)``). The height and width must be multiples of the patch size.

    Args:
        patch_size: the patch height and width (one int for square patches, or a pair).
        baseline: the value of absent pixels.

    Raises:
        InvalidArgumentError: naming ``patch_size`` unless it is a positive int or a pair of them.
    """

    def __init__(self, patch_size: int | tuple[int, int], baseline: Any = 0.0) -> None:
        size = (patch_size, patch_size) if isinstance(patch_size, (int, np.integer)) else patch_size
        if (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or any(isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 1 for s in size)
        ):
            raise InvalidArgumentError(f"patch_size: must be a positive int or a pair of them, got {patch_size!r}")
        self.patch_size: tuple[int, int] = (int(size[0]), int(size[1]))
        self._baseline_input = baseline if isinstance(baseline, Tensor) else host_array("baseline", baseline)
        self._baseline: Tensor | None = None
        self._grid: tuple[int, int] = (0, 0)

    @property
    def baseline(self) -> NDArray[Any]:
        """The reference values as given (after reading a Series or DataFrame row), as numpy."""
        return _host_numpy(self._baseline_input)

    def grid(self, sample_shape: tuple[int, ...]) -> tuple[int, int]:
        """The patch grid ``(grid_height, grid_width)`` of images of per-input shape ``(channels, height, width)``.

        Player ``r * grid_width + c`` covers pixels ``[r*ph, (r+1)*ph) x [c*pw, (c+1)*pw)`` for
        ``(ph, pw) = patch_size``.

        Raises:
            ShapeError: naming ``x`` for shapes that are not channels-first images whose height
                and width are multiples of the patch size (channels-last images are named as such).
        """
        return self._grid_of(tuple(int(s) for s in sample_shape), "n")

    def _grid_of(self, sample_shape: tuple[int, ...], n: object) -> tuple[int, int]:
        if len(sample_shape) != 3:
            raise ShapeError(f"x: image inputs must be (n, channels, height, width), got per-input shape {sample_shape}")
        first, height, width = sample_shape
        # A small last axis after a large first one is a channels axis at the end, not a width.
        if width in (1, 3, 4) and first > 4:
            raise ShapeError(
                f"x: images look channels-last (n, H, W, C) = ({n}, {first}, {height}, {width}); ImagePatchMasker needs "
                "channels-first (n, C, H, W): use x.permute(0, 3, 1, 2) (torch) or np.moveaxis(x, -1, 1)"
            )
        ph, pw = self.patch_size
        if height % ph or width % pw:
            raise ShapeError(f"x: image size {height}x{width} is not a multiple of the patch size {ph}x{pw}")
        return height // ph, width // pw

    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        gh, gw = self.grid(sample_shape)
        return gh * gw

    def prepare(self, x: Tensor) -> None:
        self._grid = self._grid_of(tuple(x.shape[1:]), int(x.shape[0]))
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


def _host_numpy(value: Any) -> NDArray[Any]:
    """A masker's stored input as a numpy array on the CPU (a copy: the masker keeps its own)."""
    if isinstance(value, Tensor):
        copied: NDArray[Any] = value.detach().cpu().numpy().copy()
        return copied
    return np.array(value, copy=True)
