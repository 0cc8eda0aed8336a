"""Saved bundles: a directory with ``weights.safetensors`` (arrays) and ``config.json`` (settings).

The explainer, the amortizer and the valuer are saved this way. Nothing in a bundle is pickled, so
loading one never executes code: the arrays are read by safetensors, the settings by ``json``.
``weights.safetensors`` carries, in its metadata, the SHA-256 of ``config.json`` and the bundle
kind, so an edited config, or weights from another bundle, are refused at load. A bundle is
written into a temporary sibling directory and renamed into place: after a crash the destination
holds the old bundle or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort._core import __version__
from stochamort._io import atomic_write, fsync_directory
from stochamort.errors import InvalidArgumentError, SavedFileError

__all__ = ["write_bundle", "read_bundle", "BUNDLE_FORMAT_VERSION", "CONFIG_NAME", "WEIGHTS_NAME"]

#: Version of the bundle layout; bumped when a reader could misread an older bundle.
BUNDLE_FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.safetensors"


def _config_bytes(config: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(config, indent=2, sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as err:
        raise InvalidArgumentError(f"config: the settings must be JSON-serialisable and finite ({err})") from err


def write_bundle(
    path: str | os.PathLike[str], kind: str, config: Mapping[str, Any], arrays: Mapping[str, NDArray[Any]], *, overwrite: bool = False
) -> Path:
    """Write a bundle of ``kind`` at ``path`` (a directory; an existing bundle only with ``overwrite``).

    Args:
        path: the bundle's directory. An existing bundle there (a directory with
            ``config.json``) is replaced atomically if ``overwrite``, else refused; anything else
            there is refused rather than deleted. An empty directory is used.
        kind: what the bundle holds (e.g. ``"AmortizedExplainer"``), checked by :func:`read_bundle`.
        config: JSON-serialisable settings; stored with ``kind``, the format version and the
            stochamort version that wrote it.
        arrays: named numpy arrays (numeric or bool dtypes).

    Returns:
        The bundle's path.
    """
    from safetensors.numpy import save

    root = Path(path)
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and not (root / CONFIG_NAME).exists())):
        raise InvalidArgumentError(f"path: {root} exists and is not a saved bundle; choose another path")
    if root.is_dir() and (root / CONFIG_NAME).exists() and not overwrite:
        raise InvalidArgumentError(f"path: {root} already holds a saved bundle; pass overwrite=True to replace it")
    full = {"kind": kind, "format_version": BUNDLE_FORMAT_VERSION, "stochamort_version": str(__version__), **config}
    text = _config_bytes(full)
    # np.ascontiguousarray would turn 0-d arrays into shape (1,).
    tensors = {name: array if array.flags.c_contiguous else array.copy(order="C") for name, array in ((n, np.asarray(a)) for n, a in arrays.items())}
    for name, array in tensors.items():
        if array.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"arrays: {name!r} has dtype {array.dtype}, which a bundle cannot hold")
    metadata = {"kind": kind, "config_sha256": hashlib.sha256(text).hexdigest()}
    weights = save(tensors, metadata=metadata)
    root.parent.mkdir(parents=True, exist_ok=True)
    temp = root.with_name(f".{root.name}.{secrets.token_hex(8)}.tmp")
    temp.mkdir()
    old = root.with_name(f".{root.name}.{secrets.token_hex(8)}.old")
    try:
        atomic_write(temp / WEIGHTS_NAME, lambda f: f.write(weights))
        atomic_write(temp / CONFIG_NAME, lambda f: f.write(text))
        if root.exists():
            os.replace(root, old)
        os.replace(temp, root)
        fsync_directory(root.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            if old.exists() and not root.exists():
                os.replace(old, root)
        shutil.rmtree(temp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return root


def read_bundle(path: str | os.PathLike[str], kind: str) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """The settings and arrays of the bundle of ``kind`` at ``path``.

    Raises:
        SavedFileError: the path is not a bundle, holds another kind, was written by a newer
            format, or its config does not match the checksum stored with the weights (edited).
    """
    from safetensors import safe_open

    root = Path(path)
    config_path, weights_path = root / CONFIG_NAME, root / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise SavedFileError(f"path: {root} is not a saved {kind} (expected {CONFIG_NAME} and {WEIGHTS_NAME} in it)")
    text = config_path.read_bytes()
    try:
        with safe_open(str(weights_path), framework="numpy") as f:
            metadata = f.metadata() or {}
            arrays = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise SavedFileError(f"path: {weights_path} is not a readable safetensors file ({err})") from err
    if metadata.get("kind") != kind:
        raise SavedFileError(f"path: {root} holds a {metadata.get('kind', 'unknown object')!r}, not a saved {kind}")
    if metadata.get("config_sha256") != hashlib.sha256(text).hexdigest():
        raise SavedFileError(
            f"path: {config_path} was modified after it was saved (its checksum does not match the one stored "
            f"with the weights); refusing to load settings that may not fit the weights"
        )
    try:
        config = json.loads(text)
    except ValueError as err:  # pragma: no cover - the checksum matched, so the file is ours
        raise SavedFileError(f"path: {config_path} is not valid JSON ({err})") from err
    if config.get("kind") != kind:
        raise SavedFileError(f"path: {config_path} describes a {config.get('kind')!r}, not a {kind}")
    version = config.get("format_version")
    if not isinstance(version, int) or version > BUNDLE_FORMAT_VERSION:
        raise SavedFileError(
            f"path: {root} was written in bundle format {version!r} by stochamort {config.get('stochamort_version')}; "
            f"this stochamort ({__version__}) reads format {BUNDLE_FORMAT_VERSION} and older: upgrade stochamort"
        )
    return config, arrays
