"""The core under hostile input: requests too large for memory, junk bool bytes, loose Python
types, Ctrl-C in a long call, parallelism re-enabled in a forked child. None may abort the process,
panic, hang or give a plausible wrong value; each is a typed error naming a public argument, or
the correct result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import stochamort as sm
from stochamort import estimators, sampling, weights
from stochamort.errors import InvalidArgumentError, InvalidDTypeError, RequestTooLargeError, StochamortError


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: sampling.sample_coalitions(1, 10**12, 64), "n_samples"),
        (lambda: sampling.sample_coalitions(0, 0, 10**12), "n_players"),  # empty output, huge work table
        (lambda: weights.shapley_kernel(2**40), "n_players"),
        (lambda: weights.shapley_kernel(2**62), "n_players"),
        (lambda: weights.lime_kernel(2**40), "n_players"),
        (lambda: weights.semivalue_weights(2**40), "n_players"),
        (lambda: sampling.size_probabilities(2**62), "n_players"),
        (lambda: sampling.coalition_probabilities(np.zeros((0, 10**12), bool)), "masks"),
        (lambda: sampling.sample_permutations(1, 10**12, 10), "n_permutations"),
        # A product of sizes names its largest (found by a new user: n_points was blamed on n_samples).
        (lambda: sampling.sample_coalitions(10**15, 4, 5), "n_points"),
        (lambda: sampling.sample_permutations(1, 2, 10**12), "n_players"),
        (lambda: sampling.sample_multisets(1, 2, 2**40, min_size=0, max_size=3), "n_data"),
        (lambda: sampling.sample_design(10**13, 8, 6), "n_points"),
        # 8 MB of orders asking for 1 TB of chains
        (lambda: sampling.permutation_chain_masks(np.arange(10**6).reshape(1, 1, -1)), "permutations"),
        # 4 MB of masks of a million players: a 8 TB system per thread
        (lambda: estimators.kernelshap(np.zeros((1, 4, 10**6), bool), np.zeros((1, 4, 1)), np.zeros((1, 1)), np.zeros((1, 1))), "masks"),
    ],
)
def test_requests_over_the_memory_limit_are_refused_by_name(call: object, argument: str) -> None:
    with pytest.raises(RequestTooLargeError, match=rf"^{argument}: the request needs .*more than the memory limit") as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    assert info.value.argument == argument


def test_the_memory_limit_can_be_set_and_restored() -> None:
    default = sm.memory_limit()
    assert default > 0
    try:
        sm.set_memory_limit(1000)
        with pytest.raises(RequestTooLargeError, match="^n_samples"):
            sampling.sample_coalitions(10, 11, 10)  # 1100 bytes of output
        assert sampling.sample_coalitions(10, 10, 9).shape == (10, 10, 9)  # 900 bytes
        with pytest.raises(InvalidArgumentError, match="^limit"):
            sm.set_memory_limit(-1)
    finally:
        sm.set_memory_limit(None)
    assert sm.memory_limit() == default


@pytest.mark.parametrize(("text", "accepted"), [("123456789", 123456789), (" +4096 ", 4096), ("abc", None), ("-5", None), ("1_000", None), ("1e9", None)])
def test_the_memory_limit_from_the_environment_is_read_or_refused(text: str, accepted: int | None) -> None:
    """A limit the core cannot read is an error at import, not a silent fallback to the default."""
    env = {**os.environ, "STOCHAMORT_MEMORY_LIMIT": text}
    run = subprocess.run(
        [sys.executable, "-c", "import stochamort; print(stochamort.memory_limit())"], env=env, capture_output=True, text=True
    )
    if accepted is None:
        assert run.returncode != 0 and "STOCHAMORT_MEMORY_LIMIT: must be a number of bytes" in run.stderr
    else:
        assert run.returncode == 0 and int(run.stdout) == accepted


def junk(masks: np.ndarray) -> np.ndarray:
    """The same truth values with bytes other than 0/1 (legal in numpy)."""
    return (masks.view(np.uint8) * np.uint8(7)).view(np.bool_)


def test_bool_arrays_with_junk_bytes_read_as_numpy_reads_them() -> None:
    masks = sampling.sample_coalitions(3, 40, 6, paired=True, seed=2)
    values = masks.sum(axis=2, keepdims=True) * 1.5 + masks[..., :1] * masks[..., 1:2]
    null, grand = np.zeros((3, 1)), np.full((3, 1), 10.0)
    bad = junk(masks)
    assert bad.view(np.uint8).max() == 7 and np.array_equal(bad, masks)
    for estimator in (
        lambda m: estimators.kernelshap(m, values, null, grand, paired=True),
        lambda m: estimators.sgd_shapley(m, values, null, grand, paired=True),
        lambda m: estimators.msr_banzhaf(m, values),
        lambda m: estimators.lime(m, values),
    ):
        clean, dirty = estimator(masks), estimator(bad)
        np.testing.assert_array_equal(dirty.values, clean.values)
        np.testing.assert_array_equal(dirty.std_errors, clean.std_errors)
    np.testing.assert_array_equal(sampling.coalition_probabilities(junk(masks[0])), sampling.coalition_probabilities(masks[0]))


def test_flags_strings_and_numbers_accept_numpy_types_and_name_the_rest() -> None:
    reference = sampling.sample_coalitions(2, 4, 6, paired=True, seed=3)
    for flag in (np.True_, 1, np.int64(1)):
        np.testing.assert_array_equal(sampling.sample_coalitions(2, 4, 6, paired=flag, seed=3), reference)  # type: ignore[arg-type]
    np.testing.assert_array_equal(sampling.sample_coalitions(2, 4, 6, paired=True, seed=np.uint64(3), distribution=b"shapley"), reference)  # type: ignore[arg-type]
    for argument, kwargs in [("paired", {"paired": None}), ("paired", {"paired": 2}), ("paired", {"paired": "yes"}),
                             ("distribution", {"distribution": None}), ("distribution", {"distribution": 3})]:
        with pytest.raises(InvalidDTypeError, match=f"^{argument}: must be"):
            sampling.sample_coalitions(2, 4, 6, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidDTypeError, match="^alpha: must be a real number"):
        weights.semivalue_weights(5, "beta", alpha="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^masks: cannot be read as an array"):
        estimators.msr_banzhaf([[[True], [True, False]]], np.zeros((1, 2, 1)))
    with pytest.raises(InvalidDTypeError, match="^enabled"):
        sm.set_parallelism(None)  # type: ignore[arg-type]


def test_weights_stay_finite_or_name_the_parameter() -> None:
    kernel = weights.lime_kernel(5, 1e-200)  # width² underflows; the kernel does not
    assert np.isfinite(kernel).all() and kernel[-1] == 1.0 and kernel[0] == 0.0
    for name, kwargs in [("alpha", {"alpha": 1e308}), ("beta", {"beta": 1e308})]:
        with pytest.raises(InvalidArgumentError, match=f"^{name}: Beta.*not representable"):
            weights.semivalue_weights(5, "beta", **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match=f"^{name}:"):
            weights.semivalue_position_weights(5, "beta", **kwargs)  # type: ignore[arg-type]


def test_no_panic_reaches_python_on_overflowing_counts() -> None:
    masks = sampling.sample_coalitions(1, 8, 4, seed=0)
    with pytest.raises(StochamortError, match="^masks: sgd_shapley needs at least"):
        estimators.sgd_shapley(masks, np.zeros((1, 8, 1)), np.zeros((1, 1)), np.zeros((1, 1)), replicates=2**62)
    with pytest.raises(InvalidArgumentError, match="^point_offset"):
        sampling.sample_coalitions(2, 4, 16, point_offset=2**64 - 1)
    with pytest.raises(InvalidArgumentError, match="^masks: the Shapley distribution needs at least 2 players"):
        sampling.coalition_probabilities(np.zeros((0, 0), bool))


def run_python(code: str, timeout: float = 60) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_interrupts_a_long_core_call() -> None:
    child = run_python(
        """
        import numpy as np, stochamort as sm
        # PolySHAP with all 435 pairwise terms of 30 players: ~50 ms a point, 600 points (70 MB).
        # (Huge multisets are no longer long: they are drawn as multinomials.)
        d, n = 30, 600
        masks = sm.sample_coalitions(n, 4000, d, paired=True, seed=1)
        values, ends = masks.sum(axis=2, keepdims=True) ** 2.0, (np.zeros((n, 1)), np.full((n, 1), d**2.0))
        pairs = [[i, j] for i in range(d) for j in range(i + 1, d)]
        print("started", flush=True)
        try:
            sm.polyshap(masks, values, *ends, sample_weights=np.ones(masks.shape[:2]), order=2, interactions=pairs, paired=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "started"
    time.sleep(1.0)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert out.strip() == "interrupted", err
    assert time.monotonic() - sent < 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_parallelism_switched_back_on_in_a_forked_child_does_not_deadlock() -> None:
    child = run_python(
        """
        import os, numpy as np, stochamort as sm, stochamort.sampling as S
        before = S.sample_coalitions(64, 64, 16, seed=1)  # starts the pool
        pid = os.fork()
        if pid == 0:
            serial = sm.parallelism_enabled()
            sm.set_parallelism(True)
            again = S.sample_coalitions(64, 64, 16, seed=1)
            os._exit(0 if (not serial and np.array_equal(again, before)) else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
        """
    )
    out, err = child.communicate(timeout=60)
    assert out.strip() == "0", err


def test_an_exact_table_of_too_many_players_names_the_table() -> None:
    """Found by a new user: the core checks the weights made from the table first, and named them."""
    from stochamort.errors import TooManyPlayersError

    for exact in (estimators.exact_shapley, estimators.exact_banzhaf):
        with pytest.raises(TooManyPlayersError, match="^values: exact enumeration supports at most 20 players, got 21") as info:
            exact(np.zeros((1, 2**21, 1)))
        assert info.value.argument == "values"


def test_a_ragged_values_list_with_folds_is_refused_by_name() -> None:
    """Found by the long fuzz run: the folds' size check read the raw values (numpy's ValueError)."""
    with pytest.raises(InvalidArgumentError, match="^values: cannot be read as an array"):
        estimators.regression_adjusted_semivalue(
            np.zeros((0, 0, 0), bool), [[1, 2], [3]], np.zeros((0, 0)), None,
            sample_weights=0, n_enumerated=0, semivalue_weights=0, folds=1,
        )
