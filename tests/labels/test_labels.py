"""The label store: round trips, determinism, resuming after SIGKILL, refusals, torch datasets.

The game is a small float64 MLP (exact equality with a direct oracle call is meaningful: the
oracles draw every point's samples from (seed, global index), and the model's forward pass gives
the same values for a point whatever chunk of 8 points it is evaluated with).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from stochamort.errors import InsufficientSamplesError, StochamortError
from stochamort.results import Estimate
from stochamort.games import BaselineMasker, FunctionGame, MaskedModel
from stochamort.labels import LabelStore, LabelStoreError, generate_labels
from stochamort.oracles import LIME, KernelSHAP, Permutation

from tests.helpers.processes import sigkill_after_first_chunk
from tests.helpers.torch_models import mlp, randn, torch_single_thread  # noqa: F401  (autouse fixture)

ROOT = Path(__file__).resolve().parents[2]  # where the ``tests`` package lives
N, D, SEED = 40, 6, 5
ORACLE = KernelSHAP(budget=40)  # below 2^D = 64, which a design would spend on the (seed-free) census


class Slow(nn.Module):
    """Wraps a model and sleeps ``delay`` seconds per forward pass (not part of the state_dict)."""

    def __init__(self, inner: nn.Module, delay: float = 0.0) -> None:
        super().__init__()
        self.inner = inner
        self.delay = delay

    def forward(self, x: Tensor) -> Tensor:
        if self.delay:
            time.sleep(self.delay)
        out: Tensor = self.inner(x)
        return out


def make_game(delay: float = 0.0) -> MaskedModel:
    return MaskedModel(Slow(mlp(D, 2, seed=3), delay), BaselineMasker(), output="logits")


@pytest.fixture(scope="module")
def x() -> Tensor:
    return randn(N, D, seed=1)


@pytest.fixture(scope="module")
def direct(x: Tensor) -> Estimate:
    """One oracle call over all points: what every store must hold."""
    return ORACLE(make_game().bind(x), seed=SEED, progress=False)


@pytest.fixture(scope="module")
def reference_store(x: Tensor, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete store (chunks of 8), shared by the tests that only read or copy it."""
    directory = tmp_path_factory.mktemp("reference") / "labels"
    generate_labels(make_game(), x, ORACLE, directory, seed=SEED, chunk_size=8, progress=False)
    return directory


def copy_store(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def assert_same(a: Estimate, b: Estimate) -> None:
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.std_errors, b.std_errors)
    np.testing.assert_array_equal(a.n_evaluations, b.n_evaluations)


# ------------------------------------------------------------------------------------------------
# Round trip and format


def test_round_trip_equals_one_oracle_call(x: Tensor, direct: Estimate, tmp_path: Path) -> None:
    store = generate_labels(make_game(), x, ORACLE, tmp_path / "labels", seed=SEED, chunk_size=8, progress=True)
    assert store.complete and store.n_chunks == 5 and store.n_completed == N
    assert_same(store.load(), direct)
    assert_same(LabelStore.open(tmp_path / "labels").load(), direct)
    names = sorted(p.name for p in (tmp_path / "labels").iterdir())
    assert names == ["chunk-00000.npz", "chunk-00001.npz", "chunk-00002.npz", "chunk-00003.npz", "chunk-00004.npz", "manifest.json"]


def test_files_read_with_numpy_and_json_alone(reference_store: Path, direct: Estimate, x: Tensor) -> None:
    manifest = json.loads((reference_store / "manifest.json").read_text())
    assert manifest["format"] == "stochamort-labels" and manifest["format_version"] == 1
    assert manifest["oracle"] == {"oracle": "KernelSHAP", "budget": 40, "paired": True, "sampling": "design", "stopping": None}
    assert (manifest["seed"], manifest["n_points"], manifest["n_players"], manifest["n_outputs"]) == (SEED, N, D, 2)
    assert (manifest["chunk_size"], manifest["n_chunks"]) == (8, 5)
    assert manifest["x_shape"] == [N, D] and manifest["x_dtype"] == "float64" and len(manifest["x_sha256"]) == 64
    assert isinstance(manifest["stochamort_version"], str) and manifest["created"]
    chunks = [np.load(reference_store / manifest["chunk_files"].format(index=k)) for k in range(manifest["n_chunks"])]
    assert set(chunks[0].files) == {"values", "std_errors", "n_evaluations", "points", "extra_dof", "extra_singular_retries"}
    np.testing.assert_array_equal(np.concatenate([c["values"] for c in chunks]), direct.values)
    np.testing.assert_array_equal(np.concatenate([c["std_errors"] for c in chunks]), direct.std_errors)
    np.testing.assert_array_equal(np.concatenate([c["points"] for c in chunks]), np.arange(N))
    assert chunks[0]["values"].dtype == np.float64 and chunks[0]["n_evaluations"].dtype == np.int64


def test_extras_are_stored(x: Tensor, tmp_path: Path) -> None:
    lime = LIME(budget=32)
    direct = lime(make_game().bind(x), seed=1, progress=False)
    store = generate_labels(make_game(), x, lime, tmp_path / "lime", seed=1, chunk_size=16, progress=False)
    assert "extra_intercept" in np.load(tmp_path / "lime" / "chunk-00000.npz").files
    np.testing.assert_array_equal(store.load().extras["intercept"], direct.extras["intercept"])


# ------------------------------------------------------------------------------------------------
# Determinism


def test_chunk_size_does_not_change_the_labels(x: Tensor, reference_store: Path, tmp_path: Path) -> None:
    other = generate_labels(make_game(), x, ORACLE, tmp_path / "c16", seed=SEED, chunk_size=16, progress=False)
    assert other.n_chunks == 3
    assert_same(other.load(), LabelStore.open(reference_store).load())


def test_games_factories_and_odd_chunks_agree(tmp_path: Path) -> None:
    """A batch-invariant game: any chunking, and a Game or a factory in place of a MaskedModel."""
    weights = np.linspace(-1.0, 1.0, D)
    inputs = np.arange(23 * D, dtype=np.float64).reshape(23, D) / 50.0

    def game_for(start: int, stop: int) -> FunctionGame:
        def fn(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
            z = masks * inputs[start + points][:, None, :]
            return np.stack([np.sin(z @ weights), (z[..., :3].prod(-1))], axis=-1)

        return FunctionGame(fn, stop - start, D, 2)

    oracle = Permutation(budget=40)
    direct = oracle(game_for(0, 23), seed=9, progress=False)
    whole = generate_labels(game_for(0, 23), inputs, oracle, tmp_path / "game", seed=9, chunk_size=7, progress=False)
    factory = generate_labels(game_for, inputs, oracle, tmp_path / "factory", seed=9, chunk_size=5, progress=False)
    for store in (whole, factory):
        est = store.load()
        assert_same(est, direct)
        np.testing.assert_array_equal(est.extras["m2"], direct.extras["m2"])
    assert whole.manifest["model_sha256"] is None


def test_different_seeds_give_different_labels(x: Tensor, reference_store: Path, tmp_path: Path) -> None:
    other = generate_labels(make_game(), x, ORACLE, tmp_path / "s6", seed=SEED + 1, chunk_size=8, progress=False)
    assert not np.array_equal(other.load().values, LabelStore.open(reference_store).load().values)


# ------------------------------------------------------------------------------------------------
# Resuming

KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    import torch
    torch.set_num_threads(1)
    from tests.labels.test_labels import ORACLE, SEED, make_game
    from tests.helpers.torch_models import randn
    from stochamort.labels import generate_labels
    generate_labels(make_game(delay=0.1), randn(40, 6, seed=1), ORACLE, {directory!r}, seed=SEED, chunk_size=8, progress=False)
    """
)


def test_resume_after_sigkill(x: Tensor, reference_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "killed"
    script = KILLED_RUN.format(directory=str(directory))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    sigkill_after_first_chunk(child, directory, timeout=60)
    done = LabelStore.open(directory).completed_chunks()
    assert 1 <= len(done) < 5, "the kill should land mid-run"
    # What a kill during a write leaves behind: a hidden, partial temporary file.
    (directory / ".chunk-00004.npz.0123456789abcdef.tmp").write_bytes(b"PK\x03\x04 partial")

    store = generate_labels(make_game(), x, ORACLE, directory, seed=SEED, chunk_size=8, progress=True)
    assert f"{8 * len(done)}/40" in capsys.readouterr().err  # the bar starts at the points already done
    assert store.complete
    assert_same(store.load(), LabelStore.open(reference_store).load())
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in reference_store.iterdir())


def test_resume_fills_missing_chunks_and_partial_loads(x: Tensor, reference_store: Path, tmp_path: Path) -> None:
    directory = copy_store(reference_store, tmp_path / "partial")
    (directory / "chunk-00001.npz").unlink()
    (directory / "chunk-00003.npz").unlink()
    store = LabelStore.open(directory)
    assert not store.complete and store.completed_chunks() == [0, 2, 4] and store.n_completed == 24
    with pytest.raises(LabelStoreError, match="incomplete.*24 of 40 points"):
        store.load()
    full = LabelStore.open(reference_store).load()
    part = store.load(allow_partial=True)
    points = np.r_[0:8, 16:24, 32:40]
    np.testing.assert_array_equal(part.extras["points"], points)
    np.testing.assert_array_equal(part.values, full.values[points])
    data = store.dataset(x, allow_partial=True)
    assert len(data) == 24
    torch.testing.assert_close(data[8][0], x[16].float())

    generate_labels(make_game(), x, ORACLE, directory, seed=SEED, chunk_size=8, progress=False)
    assert store.complete
    assert_same(store.load(), full)


def test_rerun_on_a_complete_store_computes_nothing(x: Tensor, reference_store: Path, tmp_path: Path) -> None:
    directory = copy_store(reference_store, tmp_path / "again")
    before = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    game = MaskedModel(Slow(mlp(D, 2, seed=3)), BaselineMasker(), output="logits")
    calls = []
    game.model.register_forward_hook(lambda *args: calls.append(1))
    generate_labels(game, x, ORACLE, directory, seed=SEED, chunk_size=8, progress=False)
    assert len(calls) <= 2  # at most the probes that read the number of outputs and fingerprint the game
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == before


def test_an_oracle_error_leaves_no_store_behind(x: Tensor, tmp_path: Path) -> None:
    directory = tmp_path / "labels"
    with pytest.raises(InsufficientSamplesError):
        generate_labels(make_game(), x, KernelSHAP(budget=4), directory, seed=SEED, progress=False)
    assert not directory.exists()  # the run created it, and removed it empty
    directory.mkdir()
    with pytest.raises(InsufficientSamplesError):
        generate_labels(make_game(), x, KernelSHAP(budget=4), directory, seed=SEED, progress=False)
    assert list(directory.iterdir()) == []  # a directory that was there is left, empty
    generate_labels(make_game(), x[:8], ORACLE, directory, seed=SEED, progress=False)


# ------------------------------------------------------------------------------------------------
# Refusals


def test_refuses_a_foreign_directory(x: Tensor, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "data").mkdir()
    with pytest.raises(LabelStoreError, match=r"not empty and holds no label store.*data/, notes.txt"):
        generate_labels(make_game(), x, ORACLE, tmp_path, seed=SEED, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(LabelStoreError, match="manifest.json is missing"):
        LabelStore.open(tmp_path)
    with pytest.raises(LabelStoreError, match="does not exist"):
        LabelStore.open(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "text, message",
    [("{not json", "not a readable label store manifest"), ('{"format": "other"}', "not a label store manifest"),
     ('{"format": "stochamort-labels", "format_version": 99}', "format version 99"),
     ("[" * 100_000 + "]" * 100_000, "RecursionError"),
     ('{"format": "stochamort-labels", "format_version": 1, "n_points": 10000000, "n_players": 10000000, "n_outputs": 1, '
      '"chunk_size": 1, "n_chunks": 10000000}', "would not fit in the memory limit")],
)
def test_refuses_a_bad_manifest(x: Tensor, tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    for attempt in (lambda: LabelStore.open(tmp_path), lambda: generate_labels(make_game(), x, ORACLE, tmp_path, progress=False)):
        with pytest.raises(LabelStoreError, match=message) as info:
            attempt()
        assert str(tmp_path / "manifest.json") in str(info.value)
    assert (tmp_path / "manifest.json").read_text() == text


def test_refuses_unexpected_files_in_a_store(x: Tensor, reference_store: Path, tmp_path: Path) -> None:
    directory = copy_store(reference_store, tmp_path / "store")
    (directory / "chunk-00009.npz").write_bytes((directory / "chunk-00001.npz").read_bytes())
    with pytest.raises(LabelStoreError, match="beyond the 5 chunks"):
        LabelStore.open(directory)
    (directory / "chunk-00009.npz").unlink()
    (directory / "labels.csv").write_text("")
    with pytest.raises(LabelStoreError, match="not part of a label store: labels.csv"):
        generate_labels(make_game(), x, ORACLE, directory, seed=SEED, chunk_size=8, progress=False)
    (directory / "labels.csv").unlink()
    (directory / ".DS_Store").write_text("")  # hidden files are ignored
    assert LabelStore.open(directory).complete


def corrupt_truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_bit_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[data.index(b"\x93NUMPY") + 128 + 100] ^= 0xFF  # inside the first array's data: only the CRC can tell
    path.write_bytes(bytes(data))


def corrupt_wrong_points(path: Path) -> None:
    path.write_bytes((path.parent / "chunk-00003.npz").read_bytes())


def corrupt_wrong_shape(path: Path) -> None:
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["values"] = arrays["values"][:, :, :1]
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def corrupt_zip_directory(path: Path, offset: int, value: bytes) -> None:
    """Overwrite a field of every entry of the zip's central directory."""
    data = bytearray(path.read_bytes())
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        data[start + offset : start + offset + len(value)] = value
        start += 4
    path.write_bytes(bytes(data))


def corrupt_compression_method(path: Path) -> None:
    corrupt_zip_directory(path, 10, b"\x63\x00")  # method 99: zipfile raises NotImplementedError


def corrupt_encryption_flag(path: Path) -> None:
    corrupt_zip_directory(path, 8, b"\x01\x00")  # "encrypted": zipfile raises RuntimeError


@pytest.mark.parametrize(
    "damage, message, on_resume",
    [
        (corrupt_compression_method, "unreadable: NotImplementedError", True),
        (corrupt_encryption_flag, "unreadable: RuntimeError", True),
        (corrupt_truncated, "unreadable", True),
        (corrupt_wrong_points, "points are not 16..23", True),
        (corrupt_wrong_shape, r"values is float64 \(8, 6, 1\), expected float64 \(8, 6, 2\)", True),
        (corrupt_bit_flip, "unreadable.*CRC", False),  # found when the arrays are read
    ],
)
def test_refuses_a_corrupt_chunk(
    x: Tensor, reference_store: Path, tmp_path: Path, damage: Any, message: str, on_resume: bool
) -> None:
    directory = copy_store(reference_store, tmp_path / "store")
    chunk = directory / "chunk-00002.npz"
    damage(chunk)
    attempts = [LabelStore.open(directory).load, lambda: LabelStore.open(directory).dataset(x)]
    if on_resume:
        attempts.append(lambda: generate_labels(make_game(), x, ORACLE, directory, seed=SEED, chunk_size=8, progress=False))
    for attempt in attempts:
        with pytest.raises(LabelStoreError, match=message) as info:
            attempt()
        assert str(chunk) in str(info.value) and "delete it" in str(info.value)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"seed": SEED + 1}, "seed: stored 5, requested 6"),
        ({"oracle": KernelSHAP(budget=66)}, "oracle:.*budget.: 40.*budget.: 66"),
        ({"oracle": LIME(budget=64)}, "oracle:.*KernelSHAP.*LIME"),
        ({"x": "shifted"}, "x_sha256"),
        ({"x": "fewer"}, "n_points: stored 40, requested 39"),
        ({"chunk_size": 16}, "chunk_size: stored 8, requested 16"),
        ({"game": "other model"}, "model_sha256"),
    ],
)
def test_refuses_other_settings(
    x: Tensor, reference_store: Path, tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    directory = copy_store(reference_store, tmp_path / "store")
    kwargs: dict[str, Any] = {"game": make_game(), "x": x, "oracle": ORACLE, "seed": SEED, "chunk_size": 8, **change}
    if change.get("x") == "shifted":
        kwargs["x"] = x + 1.0
    elif change.get("x") == "fewer":
        kwargs["x"] = x[:-1]
    if change.get("game") == "other model":
        kwargs["game"] = MaskedModel(Slow(mlp(D, 2, seed=4)), BaselineMasker(), output="logits")
    with pytest.raises(LabelStoreError, match=field) as info:
        generate_labels(directory=directory, progress=False, **kwargs)
    assert isinstance(info.value, ValueError) and isinstance(info.value, StochamortError)
    assert str(directory) in str(info.value) and "other settings" in str(info.value)
    assert_same(LabelStore.open(directory).load(), LabelStore.open(reference_store).load())


def test_refuses_a_directory_another_process_writes(x: Tensor, tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(LabelStoreError, match="being written by another process"):
            generate_labels(make_game(), x, ORACLE, tmp_path, progress=False)
    finally:
        os.close(fd)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# Torch dataset


def test_dataset(x: Tensor, reference_store: Path, direct: Estimate) -> None:
    store = LabelStore.open(reference_store)
    data = store.dataset(x)
    assert len(data) == N
    xi, label = data[3]
    assert xi.shape == (D,) and label.shape == (D, 2)
    assert xi.dtype == torch.float32 and label.dtype == torch.float32
    torch.testing.assert_close(xi, x[3].float())
    torch.testing.assert_close(label, torch.from_numpy(direct.values[3]).float())

    with_se = store.dataset(x.numpy(), with_std_errors=True)  # arrays and tensors fingerprint alike
    assert len(with_se[0]) == 3 and with_se[0][2].shape == (D, 2)
    loader = torch.utils.data.DataLoader(with_se, batch_size=16, shuffle=False, num_workers=0)
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [16, 16, 8]
    assert batches[0][1].shape == (16, D, 2) and batches[0][2].dtype == torch.float32
    torch.testing.assert_close(torch.cat([b[2] for b in batches]), torch.from_numpy(direct.std_errors).float())

    with pytest.raises(LabelStoreError, match="x: differs from the inputs"):
        store.dataset(x * 2)
    assert len(store.dataset(x * 2, check_inputs=False)) == N
    with pytest.raises(StochamortError, match="x: has 39 points"):
        store.dataset(x[:-1])


def test_an_unwritable_directory_is_refused_before_any_work(x: Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    game = make_game()
    calls: list[int] = []
    game.model.register_forward_hook(lambda *args: calls.append(1))
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(LabelStoreError, match="directory: cannot write into .*PermissionError"):
        generate_labels(game, x, ORACLE, tmp_path / "store", seed=SEED, progress=False)
    assert calls == []  # not even the game was bound


def test_a_chunk_whose_extras_have_other_rows_is_refused(reference_store: Path, tmp_path: Path) -> None:
    """Degrees of freedom per point in one chunk and per cell in another (a store resumed by
    another version): a LabelStoreError naming the chunk, not numpy's broadcasting error."""
    import shutil

    from stochamort.labels import LabelStoreError

    root = tmp_path / "mixed"
    shutil.copytree(reference_store, root)
    path = root / "chunk-00001.npz"
    with np.load(path) as chunk:
        arrays = {name: chunk[name] for name in chunk.files}
    arrays["extra_dof"] = np.ones((*arrays["extra_dof"].shape, 2))
    np.savez(path, **arrays)
    with pytest.raises(LabelStoreError, match=r"chunk-00001\.npz: corrupt chunk \(extra 'dof' of shape"):
        LabelStore.open(root).load()
