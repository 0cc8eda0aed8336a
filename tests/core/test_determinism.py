"""Same seed, same result: for any thread count, any batch split, and in a forked child."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
import sys

import numpy as np

import stochamort as sm

# Computes a fingerprint of samplers and estimators on inputs big enough to be split across threads.
FINGERPRINT = r"""
import hashlib, numpy as np, stochamort as sm
h = hashlib.sha256()
masks = sm.sample_coalitions(64, 256, 40, paired=True, seed=7)
values = np.sin(masks @ np.linspace(-1, 1, 40))[..., None] + masks[..., :3].prod(-1, keepdims=True)
null, grand = np.zeros((64, 1)), np.sin(np.linspace(-1, 1, 40).sum()) * np.ones((64, 1)) + 1
for est in (sm.kernelshap(masks, values, null, grand, paired=True),
            sm.unbiased_kernelshap(masks, values, null, grand, paired=True),
            sm.msr_banzhaf(masks, values), sm.lime(masks, values)):
    h.update(est.values.tobytes()); h.update(est.std_errors.tobytes())
perms = sm.sample_permutations(64, 8, 40, antithetic=True, seed=3)
chains = sm.permutation_chain_masks(perms)
est = sm.permutation_shapley(perms, (chains @ np.linspace(0, 1, 40))[..., None] ** 2, antithetic=True)
for a in (masks, perms, chains, est.values, est.std_errors):
    h.update(np.ascontiguousarray(a).tobytes())
print(h.hexdigest())
"""


def fingerprint(**env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", FINGERPRINT],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_identical_for_one_and_two_threads_and_serial_mode() -> None:
    one = fingerprint(RAYON_NUM_THREADS="1")
    two = fingerprint(RAYON_NUM_THREADS="2")
    four = fingerprint(RAYON_NUM_THREADS="4")
    serial = fingerprint(RAYON_NUM_THREADS="2", STOCHAMORT_PARALLELISM="0")
    assert one == two == four == serial


def test_batches_of_points_reproduce_one_call() -> None:
    whole = sm.sample_coalitions(10, 32, 12, distribution="leverage", paired=True, seed=42)
    parts = [
        sm.sample_coalitions(3, 32, 12, distribution="leverage", paired=True, seed=42, point_offset=0),
        sm.sample_coalitions(6, 32, 12, distribution="leverage", paired=True, seed=42, point_offset=3),
        sm.sample_coalitions(1, 32, 12, distribution="leverage", paired=True, seed=42, point_offset=9),
    ]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    perms = sm.sample_permutations(10, 6, 9, antithetic=True, seed=1)
    np.testing.assert_array_equal(
        perms, np.concatenate([sm.sample_permutations(5, 6, 9, antithetic=True, seed=1, point_offset=o) for o in (0, 5)])
    )
    # Estimators are per point: estimating a slice equals slicing the estimate.
    values = np.cos(whole @ np.arange(12.0))[..., None]
    null, grand = np.ones((10, 1)), np.cos(np.arange(12.0).sum()) * np.ones((10, 1))
    full = sm.kernelshap(whole, values, null, grand, paired=True)
    part = sm.kernelshap(whole[4:7], values[4:7], null[4:7], grand[4:7], paired=True)
    np.testing.assert_array_equal(full.values[4:7], part.values)
    np.testing.assert_array_equal(full.std_errors[4:7], part.std_errors)


def test_different_seeds_differ() -> None:
    a = sm.sample_coalitions(2, 16, 30, seed=1)
    b = sm.sample_coalitions(2, 16, 30, seed=2)
    assert not np.array_equal(a, b)


def _child(queue: "multiprocessing.Queue[str]") -> None:
    masks = sm.sample_coalitions(64, 64, 30, seed=5)
    queue.put(hashlib.sha256(masks.tobytes()).hexdigest() + f" parallel={sm.parallelism_enabled()}")


def test_forked_child_after_parallel_work_runs_and_agrees() -> None:
    expected = hashlib.sha256(sm.sample_coalitions(64, 64, 30, seed=5).tobytes()).hexdigest()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue,))
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 0, "the forked child hung or failed"
    digest, parallel = queue.get(timeout=5).split()
    assert digest == expected
    assert parallel == "parallel=False"  # the child falls back to serial: the pool did not survive the fork
    assert sm.parallelism_enabled()
