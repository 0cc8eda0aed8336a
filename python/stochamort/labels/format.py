"""The label store's on-disk format: manifest, chunk files and the checks that guard them.

See :mod:`stochamort.labels` for the format itself. Everything here reads or validates files; the
writing side (atomic, fsynced) is :mod:`stochamort._io`.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort.errors import InvalidArgumentError, StochamortError
from stochamort.limits import memory_limit

__all__ = ["LabelStoreError", "FORMAT", "FORMAT_VERSION"]

#: The ``format`` field of every manifest.
FORMAT = "stochamort-labels"
#: The on-disk format version this module writes and reads.
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
CHUNK_FILE = re.compile(r"chunk-(\d{5,})\.npz")
TEMP_FILE = re.compile(r"\.(?:manifest\.json|chunk-\d{5,}\.npz)\..+\.tmp")
EXTRA_PREFIX = "extra_"
#: Fields that must agree for a run to resume a store (in the order differences are reported).
IDENTITY = (
    "format",
    "format_version",
    "stochamort_version",
    "oracle",
    "seed",
    "n_points",
    "x_shape",
    "x_dtype",
    "x_sha256",
    "model_sha256",
    "game_sha256",
    "game_id",
    "n_players",
    "n_outputs",
    "chunk_size",
)

#: The timestamp of every member of a chunk archive, so that the same labels give the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def write_npz(file: Any, arrays: dict[str, NDArray[Any]]) -> None:
    """What ``numpy.savez`` writes (uncompressed ``.npy`` members, no pickles), byte for byte the
    same for the same arrays: savez stamps each member with the current time."""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


class LabelStoreError(StochamortError, ValueError):
    """A directory is not a (compatible, intact) label store; the message names the path."""


@dataclass
class Listing:
    has_manifest: bool = False
    chunks: dict[int, Path] = field(default_factory=dict)
    temps: list[Path] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def scan(root: Path) -> Listing:
    listing = Listing()
    try:
        entries = list(os.scandir(root))
    except OSError as err:
        raise LabelStoreError(f"directory: {root} cannot be listed ({err})") from err
    for entry in entries:
        name = entry.name
        match = CHUNK_FILE.fullmatch(name)
        if name == MANIFEST and entry.is_file():
            listing.has_manifest = True
        elif match and entry.is_file() and name == f"chunk-{int(match.group(1)):05d}.npz":
            listing.chunks[int(match.group(1))] = Path(entry.path)
        elif TEMP_FILE.fullmatch(name) and entry.is_file():
            listing.temps.append(Path(entry.path))
        elif not name.startswith("."):
            listing.unexpected.append(name + ("/" if entry.is_dir() else ""))
    return listing


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise LabelStoreError(f"{path}: not a readable label store manifest ({type(err).__name__}: {err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LabelStoreError(f"{path}: not a label store manifest (its format is not {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise LabelStoreError(
            f"{path}: format version {version!r}, but this stochamort reads version {FORMAT_VERSION}"
        )
    for name in ("n_points", "n_players", "n_outputs", "chunk_size", "n_chunks"):
        value = manifest.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LabelStoreError(f"{path}: invalid manifest ({name} must be a positive integer, got {value!r})")
    cells = manifest["n_points"] * manifest["n_players"] * manifest["n_outputs"]
    if 2 * 8 * cells > memory_limit():
        raise LabelStoreError(
            f"{path}: invalid manifest (its {manifest['n_points']} points x {manifest['n_players']} players x "
            f"{manifest['n_outputs']} outputs of labels would not fit in the memory limit; see stochamort.set_memory_limit)"
        )
    if manifest["n_chunks"] != -(-manifest["n_points"] // manifest["chunk_size"]):
        raise LabelStoreError(f"{path}: invalid manifest (n_chunks disagrees with n_points and chunk_size)")
    oracle = manifest.get("oracle")
    if not isinstance(oracle, dict) or not isinstance(oracle.get("oracle"), str) or not isinstance(manifest.get("seed"), int):
        raise LabelStoreError(f"{path}: invalid manifest (oracle or seed missing)")
    return manifest


def new_manifest(identity: dict[str, Any]) -> dict[str, Any]:
    n, size = identity["n_points"], identity["chunk_size"]
    return {
        **identity,
        "n_chunks": -(-n // size),
        "chunk_files": "chunk-{index:05d}.npz",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def check_same(root: Path, stored: dict[str, Any], requested: dict[str, Any]) -> None:
    differences = [
        f"{name}: stored {short_repr(stored.get(name))}, requested {short_repr(requested[name])}"
        for name in IDENTITY
        if stored.get(name) != requested[name]
    ]
    if differences:
        raise LabelStoreError(
            f"directory: {root} holds labels made with other settings, and they cannot be mixed "
            f"({'; '.join(differences)}); use another directory, or the stored settings to resume"
        )


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Shapes and dtypes of the arrays of an ``.npz`` file, from their headers alone."""
    headers: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".npy"):
                raise ValueError(f"member {name!r} is not an array")
            with archive.open(name) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            headers[name[: -len(".npy")]] = (tuple(shape), np.dtype(dtype))
    return headers


def read_chunk_file(
    path: Path, start: int, stop: int, d: int, o: int, *, arrays: bool
) -> dict[str, NDArray[Any]]:
    """Check the chunk file of points ``[start, stop)`` (``d`` players, ``o`` outputs); with ``arrays``
    read (and CRC-check) its arrays, else only their headers and the points."""
    m = stop - start
    expected = {
        "values": ((m, d, o), np.dtype(np.float64)),
        "std_errors": ((m, d, o), np.dtype(np.float64)),
        "n_evaluations": ((m,), np.dtype(np.int64)),
        "points": ((m,), np.dtype(np.int64)),
    }

    def corrupt(why: str) -> LabelStoreError:
        return LabelStoreError(
            f"{path}: corrupt chunk ({why}); delete it and run generate_labels again to regenerate it"
        )

    try:
        # np.load is given an open file: it leaks the file it opens itself when that is no zip.
        if arrays:
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
                content = {name: npz[name] for name in npz.files}
            headers = {name: (a.shape, a.dtype) for name, a in content.items()}
        else:
            headers = npz_headers(path)
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
                content = {"points": npz["points"]} if "points" in headers else {}
    # A damaged zip directory can surface as any of these (zipfile raises NotImplementedError for an
    # unknown compression method and RuntimeError for a member it thinks is encrypted).
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError, RuntimeError, OverflowError) as err:
        raise corrupt(f"unreadable: {type(err).__name__}: {err}") from err
    for name, (shape, dtype) in expected.items():
        if name not in headers:
            raise corrupt(f"no {name!r} array")
        if headers[name] != (shape, dtype):
            raise corrupt(f"{name} is {headers[name][1]} {headers[name][0]}, expected {dtype} {shape}")
    for name, (shape, _) in headers.items():
        if name not in expected and not (name.startswith(EXTRA_PREFIX) and len(shape) >= 1 and shape[0] == m):
            raise corrupt(f"unexpected array {name!r} of shape {shape}")
    if not np.array_equal(content["points"], np.arange(start, stop)):
        raise corrupt(f"its points are not {start}..{stop - 1}")
    return content




def json_value(value: Any, name: str) -> Any:
    """``value`` as it reads back from JSON (numpy scalars become numbers, tuples lists)."""

    def default(item: Any) -> Any:
        if isinstance(item, np.generic):
            return item.item()
        if isinstance(item, np.ndarray):
            return item.tolist()
        raise TypeError(f"{type(item).__name__} is not JSON-serialisable")

    try:
        return json.loads(json.dumps(value, default=default))
    except (TypeError, ValueError) as err:
        raise InvalidArgumentError(f"{name}: settings cannot be recorded in a manifest ({err})") from err


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def short_repr(value: Any, limit: int = 200) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shorten(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
