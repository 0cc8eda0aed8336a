"""Generating labels in resumable chunks (:func:`generate_labels`) and reading them back (:class:`LabelStore`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import TensorDataset
from tqdm.auto import tqdm

from stochamort._io import atomic_write, exclusive_lock
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.executors import Executor, InProcessExecutor, ThreadedExecutor
from stochamort.games.model import MaskedModel, ModelGame
from stochamort.labels.chunks import ChunkWork, GameSource, bind_chunk, chunk_games
from stochamort.labels.fingerprint import as_inputs, fingerprint, game_fingerprint, model_fingerprint, package_version
from stochamort.labels.format import (
    EXTRA_PREFIX,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    LabelStoreError,
    Listing,
    check_same,
    dump_manifest,
    json_value,
    new_manifest,
    read_chunk_file,
    read_manifest,
    scan,
    shorten,
    write_npz,
)
from stochamort.oracles.base import Oracle
from stochamort.results import Estimate

__all__ = ["LabelStore", "generate_labels", "GameSource", "default_executor"]


# ------------------------------------------------------------------------------------------------
# Generation


def _busy(root: Path) -> LabelStoreError:
    return LabelStoreError(f"directory: {root} is being written by another process; wait for it or use another directory")


def check_writable(root: Path) -> None:
    """Refuse, before any work, a store directory this process cannot write into."""
    try:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-", suffix=".tmp"):
            pass
    except OSError as err:
        raise LabelStoreError(f"directory: cannot write into {root} ({type(err).__name__}: {err})") from err


def default_executor(game: GameSource) -> Executor:
    """Two chunks at a time on threads for a model on CUDA (the GPU waits on no CPU work), else one."""
    device = game.family.device if isinstance(game, ModelGame) else game.device if isinstance(game, MaskedModel) else None
    return ThreadedExecutor(2) if device is not None and device.type == "cuda" else InProcessExecutor()


def generate_labels(
    game: GameSource,
    x: Any,
    oracle: Oracle,
    directory: str | os.PathLike[str],
    *,
    seed: int = 0,
    chunk_size: int = 256,
    progress: bool = True,
    executor: Executor | None = None,
    game_id: str | None = None,
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
        executor: where the chunks are computed. None (the default): here, one after another,
            except for a model on a CUDA device, whose chunks go two at a time through a
            :class:`~stochamort.executors.ThreadedExecutor` so that one chunk's sampling and
            estimation on the CPU overlap the other's forward pass. Or e.g. on a Ray cluster (:class:`stochamort.distributed.RayExecutor`), which ships the
            game, ``x`` and the oracle to each worker once and streams finished chunks back.
            Either way this process writes every chunk, atomically, so the store is the same
            file for file (the manifest's ``created`` aside) and resumable the same way.

        game_id: your own name for the game (e.g. ``"resnet50-v3, blur baseline"``), stored in the
            manifest and required to match on resume. The store already refuses a resume whose
            game gives other values (see ``game_sha256`` in the module docs); an identifier also
            tells apart games that agree on those probes but not elsewhere (a factory whose later
            chunks differ, a model changed only for some inputs).

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
    if game_id is not None and not isinstance(game_id, str):
        raise InvalidArgumentError(f"game_id: must be a string or None, got {type(game_id).__name__}")
    if executor is None:
        executor = default_executor(game)
    elif not isinstance(executor, Executor):
        raise InvalidArgumentError(f"executor: must be a stochamort.executors.Executor (e.g. RayExecutor()) or None, got {type(executor).__name__}")
    x = as_inputs(x)
    n = int(x.shape[0])
    if isinstance(game, MaskedModel) and x.ndim < 2:
        raise ShapeError(f"x: a MaskedModel explains inputs (n_points, *input_shape), got shape {tuple(x.shape)}")
    games = chunk_games(game, x, n)
    identity = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "stochamort_version": package_version(),
        "oracle": json_value(oracle.settings(), "oracle"),
        "seed": seed,
        "n_points": n,
        **fingerprint(x),
        "model_sha256": model_fingerprint(game, x),
        "game_id": game_id,
        "chunk_size": chunk_size,
    }
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise LabelStoreError(f"directory: {root} exists and is not a directory")
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        return _generate(root, games, identity, game, x, oracle, seed, chunk_size, progress, executor)
    except BaseException:
        if created:  # a run that failed before writing anything leaves no empty directory behind
            with contextlib.suppress(OSError):
                root.rmdir()
        raise


def _generate(
    root: Path, games: Any, identity: dict[str, Any], game: GameSource, x: Any, oracle: Oracle, seed: int,
    chunk_size: int, progress: bool, executor: Executor,
) -> LabelStore:
    """:func:`generate_labels` once its arguments are checked and ``root`` exists."""
    n = int(x.shape[0])
    with exclusive_lock(root, _busy):
        listing = scan(root)
        stored = read_manifest(root) if listing.has_manifest else None
        if stored is None and (listing.chunks or listing.unexpected):
            found = sorted([*listing.unexpected, *(p.name for p in listing.chunks.values())])
            raise LabelStoreError(
                f"directory: {root} is not empty and holds no label store ({MANIFEST} is missing; found "
                f"{shorten(found)}); refusing to write into it, use an empty or new directory"
            )
        check_writable(root)
        first = bind_chunk(games, 0, min(n, chunk_size))
        identity["n_players"], identity["n_outputs"] = first.n_players, first.n_outputs
        identity["game_sha256"] = game_fingerprint(first)
        if stored is not None:
            check_same(root, stored, identity)
            store = LabelStore(root, stored)
            store._check_listing(listing)
        else:
            store = LabelStore(root, new_manifest(identity))
        for temp in listing.temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        done = sorted(listing.chunks)
        for index in done:
            store._read_chunk(index, listing.chunks[index], arrays=False)
        todo = [k for k in range(store.n_chunks) if k not in listing.chunks]
        done_points = sum(store.chunk_range(k)[1] - store.chunk_range(k)[0] for k in done)
        work = ChunkWork(game, x, oracle, seed, chunk_size, first.n_players, first.n_outputs, first=first)
        with tqdm(
            total=n, initial=done_points, desc=f"labels ({type(oracle).__name__})", unit="pt", disable=not progress
        ) as bar:
            if not todo:
                return store
            with executor.pool(work) as pool:
                for position, est in pool.map_unordered(todo):
                    index = todo[position]
                    if not (root / MANIFEST).exists():
                        # Written only once the oracle has run on real data, so that settings the oracle
                        # refuses (e.g. too small a budget) leave no store behind to conflict with.
                        atomic_write(root / MANIFEST, lambda f: f.write(dump_manifest(store.manifest)))
                    store._write_chunk(index, est)
                    start, stop = store.chunk_range(index)
                    bar.update(stop - start)
    return store


# ------------------------------------------------------------------------------------------------
# Reading


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
        if not (root / MANIFEST).is_file():
            raise LabelStoreError(f"directory: {root} is not a label store ({MANIFEST} is missing)")
        store = cls(root, read_manifest(root))
        store._check_listing(scan(root))
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
        listing = scan(self.directory)
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
            names = {name[len(EXTRA_PREFIX) :] for name in part if name.startswith(EXTRA_PREFIX)}
            if row == 0:
                extras = {name: np.empty((m, *part[EXTRA_PREFIX + name].shape[1:]), part[EXTRA_PREFIX + name].dtype) for name in names}
            elif names != set(extras):
                raise LabelStoreError(
                    f"{self.chunk_path(k)}: corrupt chunk (extras {sorted(names)} differ from the first chunk's "
                    f"{sorted(extras)}); delete it and run generate_labels again to regenerate it"
                )
            for name in names:
                array = part[EXTRA_PREFIX + name]
                if array.shape[1:] != extras[name].shape[1:]:  # e.g. per-point and per-cell degrees of freedom
                    raise LabelStoreError(
                        f"{self.chunk_path(k)}: corrupt chunk (extra {name!r} of shape {array.shape}, the first chunk's "
                        f"rows are {extras[name].shape[1:]}; written by another version?); delete it and run "
                        "generate_labels again to regenerate it"
                    )
                extras[name][rows] = array
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
        inputs = as_inputs(x)
        if int(inputs.shape[0]) != self.n_points:
            raise ShapeError(f"x: has {int(inputs.shape[0])} points but the store labels {self.n_points}")
        if check_inputs and fingerprint(inputs)["x_sha256"] != self.manifest.get("x_sha256"):
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

    def _check_listing(self, listing: Listing) -> None:
        if listing.unexpected:
            raise LabelStoreError(
                f"directory: {self.directory} holds files that are not part of a label store: "
                f"{shorten(sorted(listing.unexpected))}"
            )
        beyond = sorted(k for k in listing.chunks if k >= self.n_chunks)
        if beyond:
            raise LabelStoreError(
                f"directory: {self.directory} holds chunk files beyond the {self.n_chunks} chunks of its manifest: "
                f"{shorten([listing.chunks[k].name for k in beyond])}"
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
            arrays[EXTRA_PREFIX + name] = np.ascontiguousarray(array)
        for name, array in arrays.items():
            if array.ndim == 0 or array.shape[0] != stop - start:
                raise ShapeError(f"oracle: returned {name} of shape {array.shape} for {stop - start} points")
        atomic_write(self.chunk_path(index), lambda f: write_npz(f, arrays))

    def _read_chunk(self, index: int, path: Path, *, arrays: bool) -> dict[str, NDArray[Any]]:
        """Check a chunk file; with ``arrays`` read (and CRC-check) its arrays, else only headers."""
        start, stop = self.chunk_range(index)
        return read_chunk_file(path, start, stop, self.n_players, self.n_outputs, arrays=arrays)
