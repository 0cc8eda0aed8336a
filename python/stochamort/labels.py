"""Label store: noisy attributions of a whole dataset, generated in chunks and kept on disk.

:func:`generate_labels` runs an oracle (:mod:`stochamort.oracles`) over a dataset ``chunk_size``
points at a time and writes each chunk as soon as it is done; :class:`LabelStore` reads them back
as an :class:`~stochamort.results.Estimate` or as a torch ``Dataset`` for amortized training::

    store = generate_labels(MaskedModel(model, BaselineMasker()), x, KernelSHAP(budget=512), "labels/")
    est = store.load()                       # values, std_errors, n_evaluations of every point
    data = store.dataset(x)                  # (x_i, label_i) pairs

Generation is **resumable**: a run stopped at any moment (Ctrl-C, a crash, SIGKILL, a power cut)
is continued by calling :func:`generate_labels` again with the same arguments; finished chunks are
kept and the others computed. It is **deterministic**: chunk ``[start, stop)`` is estimated with
``oracle(game, seed=seed, point_offset=start)``, and oracles draw every point's samples from
(seed, global point index), so the samples are those of one oracle call over all points whatever
the chunk size, and a resumed run gives exactly the labels of an uninterrupted one (the chunk
boundaries are fixed by the manifest). Labels from *different* chunk sizes agree bit for bit only
if the model's output for an input does not depend on the other inputs of its forward batch, which
BLAS and GPU kernels do not promise (they may differ in the last bits: e.g. float64 matmuls on CPU
agree for chunk sizes that are multiples of 8 but not for 7).

On-disk format (version 1)
--------------------------
A store is a directory holding:

``manifest.json``
    Written once, just before the first chunk file (once the oracle has run on the first chunk, so
    that settings the oracle refuses leave no store behind). Keys: ``format`` (``"stochamort-labels"``),
    ``format_version`` (1), ``stochamort_version``, ``oracle`` (the oracle's
    :meth:`~stochamort.oracles.Oracle.settings`: its class name under ``"oracle"`` and its fields),
    ``seed``, ``n_points``, ``n_players``, ``n_outputs``, ``chunk_size``, ``n_chunks``,
    ``chunk_files`` (the file name pattern), ``x_shape``, ``x_dtype`` and ``x_sha256`` (a
    fingerprint of the inputs: SHA-256 of their dtype, shape and bytes in C order),
    ``model_sha256`` (SHA-256 of the model's ``state_dict`` when the game is a
    :class:`~stochamort.games.MaskedModel` of an ``nn.Module``, else null) and ``created`` (UTC,
    ISO 8601). A run resumes a store only if all of these but ``created`` (and the derived
    ``n_chunks`` and ``chunk_files``) agree; otherwise it names the fields that differ.
``chunk-00000.npz``, ``chunk-00001.npz``, ...
    One file per chunk ``k``, covering points ``[k * chunk_size, min(n_points, (k + 1) * chunk_size))``;
    at least five digits (``chunk-{k:05d}.npz``). Plain ``numpy.savez`` archives with ``values`` and
    ``std_errors`` (float64, ``(m, n_players, n_outputs)``), ``n_evaluations`` (int64, ``(m,)``),
    ``points`` (int64, ``(m,)``, the global indices of the chunk's points) and, for oracles that
    return them, ``extra_<name>`` arrays (e.g. ``extra_intercept`` for LIME), one row per point.

Files are written to a hidden temporary file in the same directory (``.<name>.<random>.tmp``),
flushed to disk, then renamed into place, so a chunk is either complete or absent; temporary files
left by a killed run are removed when the run is resumed (and ignored by readers). Other hidden
files are ignored. A generating process holds an advisory lock on the directory (``flock``), so two
runs never write into one store. Reading needs numpy alone::

    import json, numpy as np
    manifest = json.load(open("labels/manifest.json"))
    chunks = [np.load(f"labels/chunk-{k:05d}.npz") for k in range(manifest["n_chunks"])]
    values = np.concatenate([c["values"] for c in chunks])      # (n_points, n_players, n_outputs)
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import TensorDataset
from tqdm.auto import tqdm

from stochamort._io import atomic_write, exclusive_lock
from stochamort.errors import InvalidArgumentError, ShapeError, StochamortError
from stochamort.results import Estimate
from stochamort.games.base import Game
from stochamort.games.model import MaskedModel
from stochamort.oracles.base import Oracle

__all__ = ["LabelStore", "LabelStoreError", "generate_labels", "GameSource", "FORMAT", "FORMAT_VERSION"]

#: The ``format`` field of every manifest.
FORMAT = "stochamort-labels"
#: The on-disk format version this module writes and reads.
FORMAT_VERSION = 1

_MANIFEST = "manifest.json"
_CHUNK = re.compile(r"chunk-(\d{5,})\.npz")
_TEMP = re.compile(r"\.(?:manifest\.json|chunk-\d{5,}\.npz)\..+\.tmp")
_ARRAYS = ("values", "std_errors", "n_evaluations", "points")
_EXTRA = "extra_"
#: Fields that must agree for a run to resume a store (in the order differences are reported).
_IDENTITY = (
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
    "n_players",
    "n_outputs",
    "chunk_size",
)
#: Bytes of input hashed per block when fingerprinting (bounds the copies of non-contiguous inputs).
_HASH_BLOCK = 1 << 26

GameSource = Union[MaskedModel, Game, Callable[[int, int], Game]]
"""What :func:`generate_labels` explains: a :class:`~stochamort.games.MaskedModel` (bound to each
chunk of ``x`` in turn), a :class:`~stochamort.games.Game` already bound to all points, or a
factory ``(start, stop) -> Game`` returning the game of points ``start..stop - 1``."""


class LabelStoreError(StochamortError, ValueError):
    """A directory is not a (compatible, intact) label store; the message names the path."""


# ------------------------------------------------------------------------------------------------
# Generation


def _busy(root: Path) -> LabelStoreError:
    return LabelStoreError(f"directory: {root} is being written by another process; wait for it or use another directory")


def generate_labels(
    game: GameSource,
    x: Any,
    oracle: Oracle,
    directory: str | os.PathLike[str],
    *,
    seed: int = 0,
    chunk_size: int = 256,
    progress: bool = True,
) -> LabelStore:
    """Estimate every point's attribution with ``oracle`` and store the labels in ``directory``.

    Points are processed ``chunk_size`` at a time; each chunk is written atomically as soon as it is
    done. If ``directory`` already holds a store made with the same settings (oracle, seed, inputs,
    model, chunk size, stochamort version), its finished chunks are kept and only the missing ones
    are computed, so an interrupted run is resumed by calling this again with the same arguments.

    Args:
        game: a :class:`~stochamort.games.MaskedModel` (bound to ``x[start:stop]`` for each chunk),
            a :class:`~stochamort.games.Game` bound to all of ``x``'s points, or a factory
            ``(start, stop) -> Game`` for the points ``start..stop - 1``.
        x: the inputs ``(n_points, *input_shape)`` (array or tensor). They are fingerprinted so that
            a resume with other data is refused, and with a ``MaskedModel`` they are what is explained.
        oracle: the oracle that estimates the labels, e.g. ``KernelSHAP(budget=512)``.
        directory: where the store lives; created if missing. It must be empty (hidden files aside),
            or hold a store made with the same settings.
        seed: the oracle's seed; the labels are a deterministic function of it.
        chunk_size: points per chunk (and per file).
        progress: show a progress bar over points.

    Returns:
        The complete :class:`LabelStore`.

    Raises:
        LabelStoreError: if ``directory`` is not a label store, holds one made with other settings
            (the message lists the fields that differ), holds a corrupt chunk, or is being written
            by another process.
    """
    if not isinstance(oracle, Oracle):
        raise InvalidArgumentError(f"oracle: must be a stochamort.oracles.Oracle, got {type(oracle).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise InvalidArgumentError(f"seed: must be an integer in [0, 2**64), got {seed!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise InvalidArgumentError(f"chunk_size: must be a positive integer, got {chunk_size!r}")
    seed, chunk_size = int(seed), int(chunk_size)
    x = _as_inputs(x)
    n = int(x.shape[0])
    games = _chunk_games(game, x, n)
    identity = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "stochamort_version": _version(),
        "oracle": _json_value(oracle.settings(), "oracle"),
        "seed": seed,
        "n_points": n,
        **_fingerprint(x),
        "model_sha256": _model_fingerprint(game),
        "chunk_size": chunk_size,
    }
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise LabelStoreError(f"directory: {root} exists and is not a directory")
    root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root, _busy):
        listing = _scan(root)
        stored = _read_manifest(root) if listing.has_manifest else None
        if stored is None and (listing.chunks or listing.unexpected):
            found = sorted([*listing.unexpected, *(p.name for p in listing.chunks.values())])
            raise LabelStoreError(
                f"directory: {root} is not empty and holds no label store ({_MANIFEST} is missing; found "
                f"{_shorten(found)}); refusing to write into it, use an empty or new directory"
            )
        first = _bind(games, 0, min(n, chunk_size))
        identity["n_players"], identity["n_outputs"] = first.n_players, first.n_outputs
        if stored is not None:
            _check_same(root, stored, identity)
            store = LabelStore(root, stored)
            store._check_listing(listing)
        else:
            store = LabelStore(root, _new_manifest(identity))
        for temp in listing.temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        done = sorted(listing.chunks)
        for index in done:
            store._read_chunk(index, listing.chunks[index], arrays=False)
        todo = [k for k in range(store.n_chunks) if k not in listing.chunks]
        done_points = sum(store.chunk_range(k)[1] - store.chunk_range(k)[0] for k in done)
        with tqdm(
            total=n, initial=done_points, desc=f"labels ({type(oracle).__name__})", unit="pt", disable=not progress
        ) as bar:
            for index in todo:
                start, stop = store.chunk_range(index)
                chunk_game = first if index == 0 else _bind(games, start, stop)
                if index != 0:
                    _check_game(chunk_game, start, stop, store)
                est = oracle(chunk_game, seed=seed, point_offset=start, progress=False)
                if not (root / _MANIFEST).exists():
                    # Written only once the oracle has run on real data, so that settings the oracle
                    # refuses (e.g. too small a budget) leave no store behind to conflict with.
                    atomic_write(root / _MANIFEST, lambda f: f.write(_dump_manifest(store.manifest)))
                store._write_chunk(index, est)
                bar.update(stop - start)
    return store


def _chunk_games(game: GameSource, x: Any, n: int) -> Callable[[int, int], Game]:
    if isinstance(game, MaskedModel):
        return lambda start, stop: game.bind(x[start:stop])
    if isinstance(game, Game):
        if game.n_points != n:
            raise ShapeError(f"game: is bound to {game.n_points} points but x has {n}")
        return lambda start, stop: game if (start, stop) == (0, n) else _PointRange(game, start, stop)
    if callable(game):
        return game
    raise InvalidArgumentError(
        f"game: must be a MaskedModel, a Game or a callable (start, stop) -> Game, got {type(game).__name__}"
    )


def _bind(games: Callable[[int, int], Game], start: int, stop: int) -> Game:
    game = games(start, stop)
    if not isinstance(game, Game):
        raise InvalidArgumentError(f"game: the factory must return a Game, got {type(game).__name__}")
    if game.n_points != stop - start:
        raise ShapeError(f"game: the game for points {start}..{stop - 1} has {game.n_points} points, expected {stop - start}")
    return game


def _check_game(game: Game, start: int, stop: int, store: LabelStore) -> None:
    if (game.n_players, game.n_outputs) != (store.n_players, store.n_outputs):
        raise ShapeError(
            f"game: the game for points {start}..{stop - 1} has {game.n_players} players and {game.n_outputs} "
            f"outputs, but the store has {store.n_players} and {store.n_outputs}"
        )


class _PointRange(Game):
    """Points ``start..stop - 1`` of a game bound to more points."""

    def __init__(self, parent: Game, start: int, stop: int) -> None:
        self._parent, self._start, self._stop = parent, start, stop

    @property
    def n_points(self) -> int:
        return self._stop - self._start

    @property
    def n_players(self) -> int:
        return self._parent.n_players

    @property
    def n_outputs(self) -> int:
        return self._parent.n_outputs

    def _evaluate(self, masks: NDArray[np.bool_], points: NDArray[np.int64]) -> NDArray[np.float64]:
        return self._parent.evaluate(masks, points + self._start)


def _new_manifest(identity: dict[str, Any]) -> dict[str, Any]:
    n, size = identity["n_points"], identity["chunk_size"]
    return {
        **identity,
        "n_chunks": -(-n // size),
        "chunk_files": "chunk-{index:05d}.npz",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _check_same(root: Path, stored: dict[str, Any], requested: dict[str, Any]) -> None:
    differences = [
        f"{name}: stored {_short_repr(stored.get(name))}, requested {_short_repr(requested[name])}"
        for name in _IDENTITY
        if stored.get(name) != requested[name]
    ]
    if differences:
        raise LabelStoreError(
            f"directory: {root} holds labels made with other settings, and they cannot be mixed "
            f"({'; '.join(differences)}); use another directory, or the stored settings to resume"
        )


# ------------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Listing:
    has_manifest: bool = False
    chunks: dict[int, Path] = field(default_factory=dict)
    temps: list[Path] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


class LabelStore:
    """A directory of labels written by :func:`generate_labels` (see the module docs for the format).

    Open one with :meth:`open`. Attributes: ``directory`` and ``manifest`` (the parsed
    ``manifest.json``).
    """

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.manifest = manifest

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> LabelStore:
        """Open the store in ``directory``; refuses directories that are not label stores."""
        root = Path(directory)
        if not root.is_dir():
            raise LabelStoreError(f"directory: {root} does not exist or is not a directory")
        if not (root / _MANIFEST).is_file():
            raise LabelStoreError(f"directory: {root} is not a label store ({_MANIFEST} is missing)")
        store = cls(root, _read_manifest(root))
        store._check_listing(_scan(root))
        return store

    def __repr__(self) -> str:
        done = len(self.completed_chunks())
        return (
            f"LabelStore({str(self.directory)!r}, oracle={self.oracle['oracle']}, seed={self.seed}, "
            f"n_points={self.n_points}, chunks={done}/{self.n_chunks})"
        )

    @property
    def n_points(self) -> int:
        """Number of points the store labels."""
        return int(self.manifest["n_points"])

    @property
    def n_players(self) -> int:
        """Players per point (the labels' second axis)."""
        return int(self.manifest["n_players"])

    @property
    def n_outputs(self) -> int:
        """Outputs per point (the labels' third axis)."""
        return int(self.manifest["n_outputs"])

    @property
    def chunk_size(self) -> int:
        """Points per chunk file (the last chunk may be shorter)."""
        return int(self.manifest["chunk_size"])

    @property
    def n_chunks(self) -> int:
        """Number of chunk files in the complete store."""
        return int(self.manifest["n_chunks"])

    @property
    def seed(self) -> int:
        """The oracle's seed."""
        return int(self.manifest["seed"])

    @property
    def oracle(self) -> dict[str, Any]:
        """The oracle's settings (its class name under ``"oracle"``)."""
        settings: dict[str, Any] = self.manifest["oracle"]
        return settings

    def chunk_range(self, index: int) -> tuple[int, int]:
        """The points ``[start, stop)`` of chunk ``index``."""
        if not 0 <= index < self.n_chunks:
            raise InvalidArgumentError(f"index: must lie in [0, {self.n_chunks}), got {index}")
        start = index * self.chunk_size
        return start, min(self.n_points, start + self.chunk_size)

    def chunk_path(self, index: int) -> Path:
        """The file of chunk ``index`` (which exists once the chunk is done)."""
        return self.directory / f"chunk-{index:05d}.npz"

    def completed_chunks(self) -> list[int]:
        """Indices of the chunks on disk, in order."""
        listing = _scan(self.directory)
        self._check_listing(listing)
        return sorted(listing.chunks)

    @property
    def n_completed(self) -> int:
        """Number of points whose labels are on disk."""
        return sum(stop - start for start, stop in map(self.chunk_range, self.completed_chunks()))

    @property
    def complete(self) -> bool:
        """Whether every chunk is on disk."""
        return len(self.completed_chunks()) == self.n_chunks

    def load(self, *, allow_partial: bool = False) -> Estimate:
        """All labels, in point order, as one :class:`~stochamort.results.Estimate`.

        Args:
            allow_partial: return the points done so far instead of refusing an incomplete store.
                Their global indices are then in ``extras["points"]`` (also when complete).

        Raises:
            LabelStoreError: if the store is incomplete (and ``allow_partial`` is false) or a chunk
                is corrupt.
        """
        chunks = self.completed_chunks()
        if len(chunks) < self.n_chunks and not allow_partial:
            raise LabelStoreError(
                f"directory: {self.directory} is incomplete ({self.n_completed} of {self.n_points} points, "
                f"{len(chunks)} of {self.n_chunks} chunks); run generate_labels again to finish it, "
                "or pass allow_partial=True"
            )
        ranges = [self.chunk_range(k) for k in chunks]
        m = sum(stop - start for start, stop in ranges)
        d, o = self.n_players, self.n_outputs
        values, std_errors = np.empty((m, d, o)), np.empty((m, d, o))
        n_evaluations, points = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
        extras: dict[str, NDArray[Any]] = {}
        row = 0
        for k, (start, stop) in zip(chunks, ranges):
            part = self._read_chunk(k, self.chunk_path(k), arrays=True)
            rows = slice(row, row + stop - start)
            values[rows], std_errors[rows] = part["values"], part["std_errors"]
            n_evaluations[rows], points[rows] = part["n_evaluations"], part["points"]
            names = {name[len(_EXTRA) :] for name in part if name.startswith(_EXTRA)}
            if row == 0:
                extras = {name: np.empty((m, *part[_EXTRA + name].shape[1:]), part[_EXTRA + name].dtype) for name in names}
            elif names != set(extras):
                raise LabelStoreError(
                    f"{self.chunk_path(k)}: corrupt chunk (extras {sorted(names)} differ from the first chunk's "
                    f"{sorted(extras)}); delete it and run generate_labels again to regenerate it"
                )
            for name in names:
                extras[name][rows] = part[_EXTRA + name]
            row += stop - start
        if allow_partial:
            extras["points"] = points
        return Estimate(values, std_errors, n_evaluations, extras)

    def dataset(
        self,
        x: Any,
        *,
        with_std_errors: bool = False,
        allow_partial: bool = False,
        dtype: torch.dtype = torch.float32,
        check_inputs: bool = True,
    ) -> TensorDataset:
        """A torch dataset of ``(x_i, label_i)`` (or ``(x_i, label_i, std_error_i)``) for training.

        Labels and standard errors are ``(n_players, n_outputs)`` tensors of ``dtype``; floating
        inputs are converted to ``dtype`` too (integer inputs, e.g. token ids, keep their dtype).
        Everything is held in (CPU) memory.

        Args:
            x: the inputs the labels were made for, ``(n_points, *input_shape)``.
            with_std_errors: also yield each label's standard errors.
            allow_partial: use only the points done so far (see :meth:`load`).
            dtype: floating dtype of the tensors.
            check_inputs: refuse ``x`` unless its fingerprint matches the manifest's (turn off to pair
                the labels with transformed inputs, e.g. normalised ones, in the same order).
        """
        inputs = _as_inputs(x)
        if int(inputs.shape[0]) != self.n_points:
            raise ShapeError(f"x: has {int(inputs.shape[0])} points but the store labels {self.n_points}")
        if check_inputs and _fingerprint(inputs)["x_sha256"] != self.manifest.get("x_sha256"):
            raise LabelStoreError(
                f"x: differs from the inputs the labels in {self.directory} were made for (their fingerprints "
                "differ); pass check_inputs=False to pair the labels with other inputs in the same order"
            )
        est = self.load(allow_partial=allow_partial)
        tensor = inputs.detach().cpu() if isinstance(inputs, torch.Tensor) else torch.from_numpy(np.array(inputs))
        if allow_partial and est.n_points < self.n_points:
            tensor = tensor[torch.from_numpy(est.extras["points"])]
        if tensor.dtype.is_floating_point:
            tensor = tensor.to(dtype)
        tensors = [tensor, torch.from_numpy(est.values).to(dtype)]
        if with_std_errors:
            tensors.append(torch.from_numpy(est.std_errors).to(dtype))
        return TensorDataset(*tensors)

    # --------------------------------------------------------------------------------------------

    def _check_listing(self, listing: _Listing) -> None:
        if listing.unexpected:
            raise LabelStoreError(
                f"directory: {self.directory} holds files that are not part of a label store: "
                f"{_shorten(sorted(listing.unexpected))}"
            )
        beyond = sorted(k for k in listing.chunks if k >= self.n_chunks)
        if beyond:
            raise LabelStoreError(
                f"directory: {self.directory} holds chunk files beyond the {self.n_chunks} chunks of its manifest: "
                f"{_shorten([listing.chunks[k].name for k in beyond])}"
            )

    def _write_chunk(self, index: int, est: Estimate) -> None:
        start, stop = self.chunk_range(index)
        arrays: dict[str, NDArray[Any]] = {
            "values": np.ascontiguousarray(est.values, dtype=np.float64),
            "std_errors": np.ascontiguousarray(est.std_errors, dtype=np.float64),
            "n_evaluations": np.ascontiguousarray(est.n_evaluations, dtype=np.int64),
            "points": np.arange(start, stop, dtype=np.int64),
        }
        for name, array in est.extras.items():
            arrays[_EXTRA + name] = np.ascontiguousarray(array)
        for name, array in arrays.items():
            if array.ndim == 0 or array.shape[0] != stop - start:
                raise ShapeError(f"oracle: returned {name} of shape {array.shape} for {stop - start} points")
        atomic_write(self.chunk_path(index), lambda f: np.savez(f, allow_pickle=False, **arrays))

    def _read_chunk(self, index: int, path: Path, *, arrays: bool) -> dict[str, NDArray[Any]]:
        """Check a chunk file; with ``arrays`` read (and CRC-check) its arrays, else only headers."""
        start, stop = self.chunk_range(index)
        m, d, o = stop - start, self.n_players, self.n_outputs
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
                headers = _npz_headers(path)
                with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
                    content = {"points": npz["points"]} if "points" in headers else {}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
            raise corrupt(f"unreadable: {err}") from err
        for name, (shape, dtype) in expected.items():
            if name not in headers:
                raise corrupt(f"no {name!r} array")
            if headers[name] != (shape, dtype):
                raise corrupt(f"{name} is {headers[name][1]} {headers[name][0]}, expected {dtype} {shape}")
        for name, (shape, _) in headers.items():
            if name not in expected and not (name.startswith(_EXTRA) and len(shape) >= 1 and shape[0] == m):
                raise corrupt(f"unexpected array {name!r} of shape {shape}")
        if not np.array_equal(content["points"], np.arange(start, stop)):
            raise corrupt(f"its points are not {start}..{stop - 1}")
        return content


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
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


def _scan(root: Path) -> _Listing:
    listing = _Listing()
    try:
        entries = list(os.scandir(root))
    except OSError as err:
        raise LabelStoreError(f"directory: {root} cannot be listed ({err})") from err
    for entry in entries:
        name = entry.name
        match = _CHUNK.fullmatch(name)
        if name == _MANIFEST and entry.is_file():
            listing.has_manifest = True
        elif match and entry.is_file() and name == f"chunk-{int(match.group(1)):05d}.npz":
            listing.chunks[int(match.group(1))] = Path(entry.path)
        elif _TEMP.fullmatch(name) and entry.is_file():
            listing.temps.append(Path(entry.path))
        elif not name.startswith("."):
            listing.unexpected.append(name + ("/" if entry.is_dir() else ""))
    return listing


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / _MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LabelStoreError(f"{path}: not a readable label store manifest ({err})") from err
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
    if manifest["n_chunks"] != -(-manifest["n_points"] // manifest["chunk_size"]):
        raise LabelStoreError(f"{path}: invalid manifest (n_chunks disagrees with n_points and chunk_size)")
    if not isinstance(manifest.get("oracle"), dict) or not isinstance(manifest.get("seed"), int):
        raise LabelStoreError(f"{path}: invalid manifest (oracle or seed missing)")
    return manifest


# ------------------------------------------------------------------------------------------------
# Files, fingerprints, helpers


def _as_inputs(x: Any) -> Any:
    """``x`` as a tensor (kept as is) or numpy array, with at least one point."""
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        if x.dtype == object:
            raise InvalidArgumentError("x: must be a numeric array or tensor, got an object array")
    if x.ndim < 1 or x.shape[0] < 1:
        raise ShapeError(f"x: expected (n_points, *input_shape) with at least one point, got shape {tuple(x.shape)}")
    return x


def _fingerprint(x: Any) -> dict[str, Any]:
    """Shape, dtype and SHA-256 of inputs (tensors and arrays with equal contents agree)."""
    shape = [int(s) for s in x.shape]
    dtype = str(x.dtype).removeprefix("torch.") if isinstance(x, torch.Tensor) else np.dtype(x.dtype).name
    digest = hashlib.sha256(json.dumps([dtype, shape]).encode())
    row_bytes = max(1, math.prod(shape[1:]) * (x.element_size() if isinstance(x, torch.Tensor) else x.itemsize))
    rows = max(1, _HASH_BLOCK // row_bytes)
    for start in range(0, shape[0], rows):
        digest.update(_bytes(x[start : start + rows]))
    return {"x_shape": shape, "x_dtype": dtype, "x_sha256": digest.hexdigest()}


def _bytes(x: Any) -> memoryview:
    """The bytes of an array or tensor in C order (without a copy when already contiguous on CPU)."""
    if isinstance(x, torch.Tensor):
        flat = x.detach().cpu().contiguous().reshape(-1)
        return flat.view(torch.uint8).numpy().data
    return np.ascontiguousarray(x).reshape(-1).view(np.uint8).data


def _model_fingerprint(game: GameSource) -> str | None:
    """SHA-256 of a MaskedModel's ``state_dict`` (None for other games)."""
    if not isinstance(game, MaskedModel) or not isinstance(game.model, torch.nn.Module):
        return None
    digest = hashlib.sha256()
    for name, value in game.model.state_dict().items():
        if isinstance(value, torch.Tensor):
            digest.update(json.dumps([name, str(value.dtype), list(value.shape)]).encode())
            digest.update(_bytes(value))
    return digest.hexdigest()


def _version() -> str:
    from stochamort import __version__

    return str(__version__)


def _json_value(value: Any, name: str) -> Any:
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


def _dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def _short_repr(value: Any, limit: int = 200) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shorten(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
