"""A module's state as numpy arrays and back, checked key by key: what saving an amortizer needs
beyond ``state_dict``, whose loading casts dtypes silently and reports problems one kind at a time."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from stochamort.errors import InvalidArgumentError, SavedFileError

__all__ = ["state_arrays", "state_tensors", "restore_zero_d", "floating_dtype", "check_state"]


def state_arrays(module: nn.Module) -> dict[str, NDArray[Any]]:
    """``module.state_dict()`` as numpy arrays: CPU, contiguous, copies (later training does not
    change them), in the tensors' own dtypes (float16 stays float16).

    Raises:
        InvalidArgumentError: a bfloat16 tensor (numpy has no such dtype, and widening it would
            change what is saved): cast the network with ``.float()`` first.
    """
    arrays: dict[str, NDArray[Any]] = {}
    for key, tensor in module.state_dict().items():
        if tensor.dtype == torch.bfloat16:
            raise InvalidArgumentError(
                f"model: {key!r} is bfloat16, which numpy (and so a saved bundle) cannot hold; "
                f"cast the network with .float() before saving"
            )
        arrays[key] = tensor.detach().cpu().contiguous().clone().numpy()
    return arrays


def state_tensors(arrays: Any) -> dict[str, Tensor]:
    """Named numpy arrays (e.g. from :func:`state_arrays`) as CPU tensors.

    Raises:
        InvalidArgumentError: not a mapping of names to numeric or bool arrays.
    """
    if not isinstance(arrays, Mapping):
        raise InvalidArgumentError(f"arrays: must be a mapping of names to numpy arrays, got {type(arrays).__name__}")
    tensors = {}
    for key, value in arrays.items():
        array = np.asarray(value)
        if not isinstance(key, str) or array.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"arrays: {key!r} must name a numeric or bool array, got dtype {array.dtype}")
        # Not np.ascontiguousarray: it turns 0-d arrays (the scale, the flag) into shape (1,).
        tensors[key] = torch.from_numpy(array if array.flags.c_contiguous else array.copy(order="C"))
    return tensors


def restore_zero_d(module: nn.Module, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``tensors`` with shape-(1,) entries reshaped to 0-d where ``module``'s state is 0-d.

    The bundle writer stores 0-d arrays as shape (1,) (it passes them through
    ``np.ascontiguousarray``); undoing that is lossless, and only that reshape is undone.
    """
    expected = module.state_dict()
    return {
        key: t.reshape(()) if key in expected and expected[key].ndim == 0 and tuple(t.shape) == (1,) else t
        for key, t in tensors.items()
    }


def floating_dtype(tensors: Mapping[str, Tensor], prefix: str) -> torch.dtype | None:
    """The one floating dtype of the tensors whose names start with ``prefix``, or None when there
    are none or several."""
    dtypes = {t.dtype for key, t in tensors.items() if key.startswith(prefix) and t.dtype.is_floating_point}
    return dtypes.pop() if len(dtypes) == 1 else None


def check_state(module: nn.Module, tensors: Mapping[str, Tensor], resizable: Collection[str] = ()) -> None:
    """Refuse ``tensors`` unless they are exactly ``module``'s state: the same names, and for each
    the same shape (except the names in ``resizable``, whose shape the state sets) and dtype.

    Raises:
        SavedFileError: listing every missing and unexpected name and every shape or dtype mismatch.
    """
    expected = module.state_dict()
    problems = []
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected)}")
    for key in sorted(set(expected) & set(tensors)):
        want, got = expected[key], tensors[key]
        if key not in resizable and tuple(want.shape) != tuple(got.shape):
            problems.append(f"{key} has shape {tuple(got.shape)}, the network expects {tuple(want.shape)}")
        elif want.dtype != got.dtype:
            problems.append(f"{key} has dtype {got.dtype}, the network expects {want.dtype}")
    if problems:
        raise SavedFileError(f"arrays: do not fit the network's state: {'; '.join(problems)}")
