"""Fuzzing the label store (:mod:`stochamort.labels`): a finished small store is corrupted on disk
in random ways (chunk files and the manifest truncated or with flipped bytes, files deleted or
replaced by directories, the manifest replaced by random JSON or given junk fields, stray and
hidden files added), then opened, loaded, paired with inputs, or resumed with
:func:`~stochamort.labels.generate_labels`.

Every outcome must be a result or a :class:`~stochamort.errors.StochamortError` (a
:class:`~stochamort.labels.LabelStoreError` for what is on disk), never another exception. A
result must also be right: labels that load, or a resumed store, equal the pristine store's (a
corrupted chunk is refused or regenerated, never read as other numbers).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stochamort.errors import StochamortError
from stochamort.games import FunctionGame
from stochamort.labels import LabelStore, generate_labels
from stochamort.oracles import Permutation
from tests.fuzz.outcomes import MINUTES
#: Share of the long run this file gets (the oracles' fuzzing takes most of it).
SHARE = 0.15
OUTCOMES: Counter[str] = Counter()
N, D, CHUNK = 5, 3, 2  # three chunks: 2 + 2 + 1 points
X = np.arange(N * 2, dtype=np.float64).reshape(N, 2)
ORACLE = Permutation(budget=2 + 2 * (D - 1))


def game() -> FunctionGame:
    weights = np.array([1.0, -2.0, 0.5])
    return FunctionGame(lambda m, p: (m * weights).sum(axis=2, keepdims=True) + 0.1 * m.all(axis=2, keepdims=True) * p[:, None, None], N, D)


@pytest.fixture(scope="module")
def pristine() -> Iterator[tuple[dict[str, bytes], Any]]:
    """The files of a finished store (name -> bytes) and its labels."""
    root = Path(tempfile.mkdtemp(prefix="stochamort-fuzz-pristine-"))
    try:
        store = generate_labels(game(), X, ORACLE, root / "store", chunk_size=CHUNK, progress=False)
        files = {p.name: p.read_bytes() for p in sorted((root / "store").iterdir())}
        yield files, store.load()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if OUTCOMES:
        print("\nfuzz outcomes (label store):", dict(sorted(OUTCOMES.items())))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
MANIFEST_FIELDS = ["format", "format_version", "stochamort_version", "oracle", "seed", "n_points", "n_players", "n_outputs",
                   "chunk_size", "n_chunks", "chunk_files", "x_shape", "x_dtype", "x_sha256", "model_sha256", "game_sha256",
                   "game_id", "created"]
JUNK_VALUES = st.one_of(
    st.sampled_from([None, True, 0, -1, 1, 2, 3, 5, 6, 2**31, 2**63, 2**70, 1e308, 2.5, "", "x", [], {}, [1], {"oracle": "Exact"}]),
    JSON,
)


@st.composite
def corruptions(draw: st.DrawFn, names: list[str]) -> list[tuple[Any, ...]]:
    """A few edits of the store's files."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "flip", "delete", "directory", "json", "field", "field", "drop_field", "stray", "hidden", "append", "swap"]))
        name = draw(st.sampled_from(names))
        if kind == "truncate":
            ops.append((kind, name, draw(st.floats(0, 1))))
        elif kind == "flip":
            ops.append((kind, name, draw(st.floats(0, 1)), draw(st.integers(1, 255))))
        elif kind in ("delete", "directory"):
            ops.append((kind, name))
        elif kind == "json":
            ops.append((kind, draw(JSON)))
        elif kind == "field":
            ops.append((kind, draw(st.sampled_from(MANIFEST_FIELDS)), draw(JUNK_VALUES)))
        elif kind == "drop_field":
            ops.append((kind, draw(st.sampled_from(MANIFEST_FIELDS))))
        elif kind == "stray":
            ops.append((kind, draw(st.sampled_from(["chunk-00003.npz", "chunk-99999.npz", "chunk-0.npz", "notes.txt", "chunk-00001.npy"])), draw(st.binary(max_size=64))))
        elif kind == "hidden":
            ops.append((kind, draw(st.sampled_from([".chunk-00000.npz.abc.tmp", ".manifest.json.x.tmp", ".lock", ".DS_Store"])), draw(st.binary(max_size=64))))
        elif kind == "append":
            ops.append((kind, name, draw(st.binary(min_size=1, max_size=64))))
        else:
            ops.append((kind, name, draw(st.sampled_from(names))))
    return ops


def apply(root: Path, ops: list[tuple[Any, ...]]) -> None:
    manifest = root / "manifest.json"
    for op in ops:
        kind = op[0]
        path = root / op[1] if kind not in ("json", "field", "drop_field") else manifest
        if path.exists() and not path.is_file() or kind not in ("json", "stray", "hidden") and not path.is_file():
            continue  # a file made a directory stays one; edits of missing files do nothing
        if kind == "truncate":
            data = path.read_bytes()
            path.write_bytes(data[: int(len(data) * op[2])])
        elif kind == "flip":
            data = bytearray(path.read_bytes())
            if data:
                at = min(len(data) - 1, int(len(data) * op[2]))
                data[at] ^= op[3]
                path.write_bytes(bytes(data))
        elif kind == "append":
            path.write_bytes(path.read_bytes() + op[2])
        elif kind == "swap":
            other = root / op[2]
            if other.is_file():
                a, b = path.read_bytes(), other.read_bytes()
                path.write_bytes(b)
                other.write_bytes(a)
        elif kind == "delete":
            path.unlink()
        elif kind == "directory":
            path.unlink()
            path.mkdir()
        elif kind == "json":
            manifest.write_text(json.dumps(op[1]), encoding="utf-8")
        elif kind in ("field", "drop_field"):
            try:
                content = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(content, dict):
                continue
            if kind == "field":
                content[op[1]] = op[2]
            else:
                content.pop(op[1], None)
            manifest.write_text(json.dumps(content), encoding="utf-8")
        else:  # stray, hidden
            target = root / op[1]
            if not target.exists():
                target.write_bytes(op[2])


def _same(est: Any, reference: Any, points: Any = None) -> None:
    rows = np.arange(reference.n_points) if points is None else np.asarray(points)
    np.testing.assert_array_equal(est.values, reference.values[rows])
    np.testing.assert_array_equal(est.std_errors, reference.std_errors[rows])
    np.testing.assert_array_equal(est.n_evaluations, reference.n_evaluations[rows])


def actions(reference: Any) -> dict[str, Callable[[Path], None]]:
    def load(root: Path) -> None:
        _same(LabelStore.open(root).load(), reference)

    def load_partial(root: Path) -> None:
        est = LabelStore.open(root).load(allow_partial=True)
        _same(est, reference, est.extras["points"])

    def inspect_store(root: Path) -> None:
        store = LabelStore.open(root)
        repr(store)
        store.completed_chunks(), store.n_completed, store.complete  # noqa: B018
        for k in range(min(store.n_chunks, 4)):
            store.chunk_range(k)

    def dataset(root: Path) -> None:
        data = LabelStore.open(root).dataset(X, with_std_errors=True)
        np.testing.assert_array_equal(data.tensors[1].double().numpy(), reference.values.astype(np.float32))

    def resume(root: Path) -> None:
        store = generate_labels(game(), X, ORACLE, root, chunk_size=CHUNK, progress=False)
        _same(store.load(), reference)

    return {"load": load, "load_partial": load_partial, "inspect": inspect_store, "dataset": dataset, "resume": resume}


def test_a_corrupted_store_loads_right_or_is_refused_with_a_typed_error(pristine: tuple[dict[str, bytes], Any]) -> None:
    files, reference = pristine
    names = sorted(files)
    todo = actions(reference)
    deadline = time.monotonic() + MINUTES * 60 * SHARE

    @settings(max_examples=200 if MINUTES else 150, deadline=None, derandomize=not MINUTES,
              suppress_health_check=list(HealthCheck), database=None)
    @given(ops=corruptions(names), action=st.sampled_from(sorted(todo)))
    def check(ops: list[tuple[Any, ...]], action: str) -> None:
        work = Path(tempfile.mkdtemp(prefix="stochamort-fuzz-store-"))
        try:
            root = work / "store"
            root.mkdir()
            for name, data in files.items():
                (root / name).write_bytes(data)
            apply(root, ops)
            try:
                todo[action](root)
                outcome = "ok"
            except StochamortError as err:
                outcome = type(err).__name__
            OUTCOMES[f"{action}: {outcome}"] += 1
        finally:
            shutil.rmtree(work, ignore_errors=True)

    check()
    while time.monotonic() < deadline:
        check()
