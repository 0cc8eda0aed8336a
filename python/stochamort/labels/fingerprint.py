"""Fingerprints that tie a label store to its inputs and model, so a resume with others is refused."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import torch

from stochamort._core import __version__
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.games.model import MaskedModel

#: Bytes of input hashed per block when fingerprinting (bounds the copies of non-contiguous inputs).
HASH_BLOCK = 1 << 26


def as_inputs(x: Any) -> Any:
    """``x`` as a tensor (kept as is) or numpy array, with at least one point."""
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        if x.dtype == object:
            raise InvalidArgumentError("x: must be a numeric array or tensor, got an object array")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ShapeError(f"x: expected (n_points, *input_shape) with at least one point, got shape {tuple(x.shape)}")
    return x


def fingerprint(x: Any) -> dict[str, Any]:
    """Shape, dtype and SHA-256 of inputs (tensors and arrays with equal contents agree)."""
    shape = [int(s) for s in x.shape]
    dtype = str(x.dtype).removeprefix("torch.") if isinstance(x, torch.Tensor) else np.dtype(x.dtype).name
    digest = hashlib.sha256(json.dumps([dtype, shape]).encode())
    row_bytes = max(1, math.prod(shape[1:]) * (x.element_size() if isinstance(x, torch.Tensor) else x.itemsize))
    rows = max(1, HASH_BLOCK // row_bytes)
    for start in range(0, shape[0], rows):
        digest.update(tensor_bytes(x[start : start + rows]))
    return {"x_shape": shape, "x_dtype": dtype, "x_sha256": digest.hexdigest()}


def tensor_bytes(x: Any) -> memoryview:
    """The bytes of an array or tensor in C order (without a copy when already contiguous on CPU)."""
    if isinstance(x, torch.Tensor):
        flat = x.detach().cpu().contiguous().reshape(-1)
        return flat.view(torch.uint8).numpy().data
    return np.ascontiguousarray(x).reshape(-1).view(np.uint8).data


def model_fingerprint(game: Any) -> str | None:
    """SHA-256 of a MaskedModel's ``state_dict`` (None for other games)."""
    if not isinstance(game, MaskedModel) or not isinstance(game.model, torch.nn.Module):
        return None
    digest = hashlib.sha256()
    for name, value in game.model.state_dict().items():
        if isinstance(value, torch.Tensor):
            digest.update(json.dumps([name, str(value.dtype), list(value.shape)]).encode())
            digest.update(tensor_bytes(value))
    return digest.hexdigest()


def package_version() -> str:
    """The version of stochamort that writes the store."""
    return str(__version__)


