"""Fingerprints that tie a label store to its inputs and model, so a resume with others is refused."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import torch

from stochamort._checks import as_numeric_array
from stochamort._core import __version__
from stochamort.errors import ShapeError
from stochamort.games.base import Game
from stochamort.games.model import MaskedModel

#: Inputs whose outputs identify a model that is not a torch module.
BEHAVIOUR_POINTS = 64
#: Significant digits of those outputs that are hashed.
OUTPUT_DIGITS = 10
#: Points, and coalitions per point (besides the empty and the full one), whose game values
#: identify the game a store labels.
GAME_PROBE_POINTS = 8
GAME_PROBE_COALITIONS = 14
#: Significant digits of those values that are hashed (float32 models compute about 7).
GAME_VALUE_DIGITS = 6
#: The seed of the probe coalitions (fixed: the fingerprint must not depend on the labels' seed).
GAME_PROBE_SEED = 0x5EED_F1A6
#: Bytes of input hashed per block when fingerprinting (bounds the copies of non-contiguous inputs).
HASH_BLOCK = 1 << 26


def as_inputs(x: Any) -> Any:
    """``x`` as a tensor (kept as is) or real numeric numpy array (DataFrames read as float64), with at least one point."""
    if not isinstance(x, torch.Tensor):
        x = as_numeric_array("x", x)
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


def model_fingerprint(game: Any, x: Any) -> str | None:
    """SHA-256 identifying the model of a :class:`MaskedModel` (None for other games).

    A torch module is identified by its ``state_dict``. Any other model (a numpy model such as a
    scikit-learn estimator, or a callable) by its behaviour: its raw outputs on the unmasked
    first (up to 64) inputs of ``x``, converted as a game would convert them, rounded to
    :data:`OUTPUT_DIGITS` significant digits so that summation-order noise does not refuse a
    genuine resume.
    """
    if not isinstance(game, MaskedModel):
        return None
    if not isinstance(game.model, torch.nn.Module):
        return behaviour_fingerprint(game, x)
    digest = hashlib.sha256()
    for name, value in game.model.state_dict().items():
        if isinstance(value, torch.Tensor):
            digest.update(json.dumps([name, str(value.dtype), list(value.shape)]).encode())
            digest.update(tensor_bytes(value))
    return digest.hexdigest()


def behaviour_fingerprint(family: MaskedModel, x: Any) -> str:
    """SHA-256 of a model's rounded raw outputs on the unmasked first inputs of ``x``."""
    outputs = family.bind(x[:BEHAVIOUR_POINTS]).probe_outputs + 0.0  # + 0.0: -0.0 and 0.0 hash alike
    text = json.dumps([list(outputs.shape), [f"{v:.{OUTPUT_DIGITS - 1}e}" for v in outputs.ravel().tolist()]])
    return hashlib.sha256(text.encode()).hexdigest()


def game_fingerprint(game: Game) -> str:
    """SHA-256 of a game's values (rounded to :data:`GAME_VALUE_DIGITS` significant digits) on its
    first (up to 8) points, for the empty, the full and 14 seeded random coalitions.

    This ties a store to the whole value function, not only the model: another masker, baseline
    or background, output transform, grouping of features or model changes these values, so a
    resume with any of them is refused instead of mixing the labels of two games.
    """
    from stochamort.sampling import sample_coalitions

    n, d = min(game.n_points, GAME_PROBE_POINTS), game.n_players
    masks = np.zeros((n, GAME_PROBE_COALITIONS + 2, d), dtype=np.bool_)
    masks[:, 1] = True
    masks[:, 2:] = sample_coalitions(n, GAME_PROBE_COALITIONS, d, distribution="banzhaf", seed=GAME_PROBE_SEED)
    values = game.evaluate(masks, np.arange(n)) + 0.0  # + 0.0: -0.0 and 0.0 hash alike
    text = json.dumps([list(values.shape), [f"{v:.{GAME_VALUE_DIGITS - 1}e}" for v in values.ravel().tolist()]])
    return hashlib.sha256(text.encode()).hexdigest()


def package_version() -> str:
    """The version of stochamort that writes the store."""
    return str(__version__)


