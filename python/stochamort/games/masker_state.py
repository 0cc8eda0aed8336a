"""Maskers as (JSON settings, numpy arrays) and back, for saved explainers (no pickle).

Only stochamort's own maskers can be described this way; a masker of another class (or a
surrogate, whose network would have to be saved too) is refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError, SavedFileError
from stochamort.games.maskers import BaselineMasker, ImagePatchMasker, MarginalMasker, Masker, TokenMasker

__all__ = ["masker_state", "masker_from_state"]


def masker_state(masker: Masker) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """The masker's settings (JSON) and arrays; :func:`masker_from_state` rebuilds it.

    Raises:
        InvalidArgumentError: a masker class that cannot be saved.
    """
    if type(masker) is BaselineMasker:
        return {"type": "BaselineMasker"}, {"baseline": masker.baseline}
    if type(masker) is MarginalMasker:
        return {"type": "MarginalMasker"}, {"background": masker.background}
    if type(masker) is ImagePatchMasker:
        return {"type": "ImagePatchMasker", "patch_size": list(masker.patch_size)}, {"baseline": masker.baseline}
    if type(masker) is TokenMasker:
        return {"type": "TokenMasker", "mask_token_id": masker.mask_token_id, "mode": masker.mode}, {}
    raise InvalidArgumentError(
        f"masker: a {type(masker).__name__} cannot be saved (only BaselineMasker, MarginalMasker, "
        "ImagePatchMasker and TokenMasker can)"
    )


def masker_from_state(spec: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]]) -> Masker:
    """The masker described by :func:`masker_state`'s output.

    Raises:
        SavedFileError: an unknown masker type or missing arrays.
    """
    kind = spec.get("type")
    try:
        if kind == "BaselineMasker":
            return BaselineMasker(np.array(arrays["baseline"]))
        if kind == "MarginalMasker":
            return MarginalMasker(np.array(arrays["background"]))
        if kind == "ImagePatchMasker":
            height, width = (int(s) for s in spec["patch_size"])
            return ImagePatchMasker((height, width), baseline=np.array(arrays["baseline"]))
        if kind == "TokenMasker":
            return TokenMasker(spec["mask_token_id"], mode=spec["mode"])
    except (KeyError, ValueError, TypeError) as err:
        raise SavedFileError(f"masker: the saved {kind} is incomplete or invalid ({err!r})") from err
    raise SavedFileError(f"masker: unknown saved masker type {kind!r}")
