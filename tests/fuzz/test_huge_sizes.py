"""Huge sizes under a real memory ceiling: calls that ask for terabytes, run in a child process
whose address space is capped (``RLIMIT_AS``) at 3 GiB beyond what its imports hold, with
stochamort's *default* memory limit.

Each call must be refused with a typed error (printed by the child, one line per call) before
anything is allocated: an attempt would fail under the cap, and a failed allocation in the Rust
core aborts the process (SIGABRT), while one in numpy is an untyped ``MemoryError``. The child
must run every call and exit 0.

The cap is set once the child has imported stochamort: importing torch (which the oracles, games
and label store import) maps about 3 GiB of address space by itself, and fails under a cap of 3 GiB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stochamort.errors
from stochamort.labels import LabelStoreError

ROOT = Path(__file__).resolve().parents[2]
TYPED = {name for name in dir(stochamort.errors) if isinstance(getattr(stochamort.errors, name), type)} | {LabelStoreError.__name__}

PRELUDE = """
import json, resource, sys, tempfile
from pathlib import Path
import numpy as np
from stochamort import estimators, sampling, weights
from stochamort.errors import StochamortError
from stochamort.games import FunctionGame
from stochamort.labels import LabelStore
from stochamort.oracles import LIME, Exact, RegressionBanzhaf, KernelSHAP, MSRBanzhaf, Permutation, PolySHAP, RegressionShapley, SGDShapley
from stochamort.valuation import BetaShapley, DataBanzhaf, DistributionalShapley, ExactDataValues, FunctionUtility, TMCShapley

# 3 GiB of address space beyond what the imports hold (torch alone maps about 3 GiB of it).
_used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (_used + (3 << 30), _used + (3 << 30)))
import stochamort
stochamort.set_memory_limit(None)  # the default again, computed under the cap set after import

def game(n_players, n_points=2):
    return FunctionGame(lambda m, p: m.sum(axis=2, keepdims=True) * 1.0, n_points, n_players)

def utility(n_data):
    return FunctionUtility(lambda c: c.sum(axis=1) * 1.0, n_data)

def huge_store():
    root = Path(tempfile.mkdtemp())
    manifest = {"format": "stochamort-labels", "format_version": 1, "n_points": 10**12, "n_players": 64, "n_outputs": 10,
                "chunk_size": 1, "n_chunks": 10**12, "oracle": {"oracle": "Exact"}, "seed": 0}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return LabelStore.open(root).load()

def run(calls):
    for name, call in calls:
        try:
            call()
            outcome = "ok"
        except StochamortError as err:
            outcome = type(err).__name__
        except BaseException as err:  # reported, not raised: the parent names every untyped one
            outcome = f"UNTYPED {type(err).__name__}: {str(err)[:200]}"
        print(f"{name} -> {outcome}", flush=True)
"""

#: (label, expression): what the child calls; every one must be refused with a typed error.
CALLS = [
    ("sample_coalitions(1, 10**12, 64)", "sampling.sample_coalitions(1, 10**12, 64)"),
    ("sample_coalitions(0, 0, 10**12)", "sampling.sample_coalitions(0, 0, 10**12)"),
    ("sample_coalitions(10**12, 1, 1)", "sampling.sample_coalitions(10**12, 1, 1)"),
    ("shapley_kernel(2**40)", "weights.shapley_kernel(2**40)"),
    ("shapley_kernel(2**62)", "weights.shapley_kernel(2**62)"),
    ("lime_kernel(2**40)", "weights.lime_kernel(2**40)"),
    ("semivalue_weights(2**40)", "weights.semivalue_weights(2**40)"),
    ("size_probabilities(2**62)", "sampling.size_probabilities(2**62)"),
    ("coalition_probabilities(zeros((0, 10**12)))", "sampling.coalition_probabilities(np.zeros((0, 10**12), bool))"),
    ("sample_permutations(10**6, 10**6, 10)", "sampling.sample_permutations(10**6, 10**6, 10)"),
    ("permutation_chain_masks(10**6 players)", "sampling.permutation_chain_masks(np.arange(10**6).reshape(1, 1, -1))"),
    ("sample_design(1, 10**12, 40)", "sampling.sample_design(1, 10**12, 40)"),
    ("sample_multisets(1, 10**12, 10)", "sampling.sample_multisets(1, 10**12, 10, min_size=0, max_size=3)"),
    ("kernelshap(10**6 players)", "estimators.kernelshap(np.zeros((1, 4, 10**6), bool), np.zeros((1, 4, 1)), np.zeros((1, 1)), np.zeros((1, 1)))"),
    ("KernelSHAP(budget=10**12), 40 players", "KernelSHAP(budget=10**12)(game(40), progress=False)"),
    ("KernelSHAP(budget=2**70), 40 players", "KernelSHAP(budget=2**70)(game(40), progress=False)"),
    ("KernelSHAP(budget=10**12, iid), 6 players", "KernelSHAP(budget=10**12, sampling='iid')(game(6), progress=False)"),
    ("SGDShapley(budget=10**12), 40 players", "SGDShapley(budget=10**12)(game(40), progress=False)"),
    ("Permutation(budget=10**12)", "Permutation(budget=10**12)(game(6), progress=False)"),
    ("MSRBanzhaf(budget=10**13)", "MSRBanzhaf(budget=10**13)(game(6), progress=False)"),
    ("LIME(budget=10**12)", "LIME(budget=10**12)(game(6), progress=False)"),
    ("RegressionShapley(budget=10**12), 40 players", "RegressionShapley(budget=10**12)(game(40), progress=False)"),
    ("PolySHAP(budget=10**12), 40 players", "PolySHAP(budget=10**12)(game(40), progress=False)"),
    ("RegressionBanzhaf(folds=2**62)", "RegressionBanzhaf(budget=40, folds=2**62)(game(3), progress=False)"),  # aborted before the fix
    ("RegressionShapley(folds=10**12)", "RegressionShapley(budget=40, folds=10**12)(game(3), progress=False)"),
    ("Exact(), 40 players", "Exact()(game(40), progress=False)"),
    ("KernelSHAP(budget=16), 10**12 points", "KernelSHAP(budget=16)(game(3, 10**12), progress=False)"),
    ("Permutation(budget=16), 10**12 points x 64 players", "Permutation(budget=200)(game(64, 10**12), progress=False)"),
    ("TMCShapley(n_permutations=10**12)", "TMCShapley(n_permutations=10**12)(utility(10), progress=False)"),
    ("BetaShapley(n_permutations=10**12)", "BetaShapley(n_permutations=10**12)(utility(10), progress=False)"),
    ("DataBanzhaf(n_samples=10**12)", "DataBanzhaf(n_samples=10**12)(utility(10), progress=False)"),
    ("DistributionalShapley(n_contributions=10**12)", "DistributionalShapley(n_contributions=10**12, min_size=1, max_size=2)(utility(10), progress=False)"),
    ("DataBanzhaf, 10**12 training points", "DataBanzhaf(n_samples=4)(utility(10**12), progress=False)"),
    ("DistributionalShapley, 10**12 training points", "DistributionalShapley(n_contributions=1, min_size=1, max_size=2)(utility(10**12), progress=False)"),
    ("ExactDataValues, 10**12 training points", "ExactDataValues()(utility(10**12), progress=False)"),
    ("LabelStore of 10**12 points", "huge_store()"),
]


def run_child(calls: list[tuple[str, str]], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    script = PRELUDE + "\nrun([\n" + "".join(f"    ({label!r}, lambda: {expr}),\n" for label, expr in calls) + "])\n"
    env = {**os.environ, "PYTHONPATH": "python"}
    env.pop("STOCHAMORT_MEMORY_LIMIT", None)  # the default limit, not a lowered one
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_huge_requests_are_refused_with_typed_errors_under_a_capped_address_space() -> None:
    proc = run_child(CALLS)
    lines = dict(line.split(" -> ", 1) for line in proc.stdout.splitlines() if " -> " in line)
    assert proc.returncode == 0, f"the child died (rc {proc.returncode}) after {len(lines)} calls:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    missing = [label for label, _ in CALLS if label not in lines]
    assert not missing, f"no outcome for {missing}:\n{proc.stdout}"
    untyped = {label: outcome for label, outcome in lines.items() if outcome not in TYPED}
    assert not untyped, f"not refused with a typed error: {untyped}"
    print("\nhuge sizes:", dict(sorted(lines.items())))


def test_a_request_under_physical_memory_but_over_the_address_space_left_is_refused() -> None:
    # 8 GB of masks: under 75 % of most machines' memory, over the 3 GiB of address space left.
    proc = run_child([("sample_coalitions(1, 10**9, 8)", "sampling.sample_coalitions(1, 10**9, 8)")])
    assert proc.returncode == 0 and "-> RequestTooLargeError" in proc.stdout, f"rc {proc.returncode}: {proc.stderr[-500:]}"


def test_the_default_limit_of_a_process_started_under_ulimit_v_follows_it() -> None:
    cap = 8 << 30
    script = "from stochamort import _core; print(_core.default_memory_limit(), _core.memory_limit())"
    env = {**os.environ, "PYTHONPATH": "python"}
    env.pop("STOCHAMORT_MEMORY_LIMIT", None)

    def capped() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, preexec_fn=capped)
    assert proc.returncode == 0, proc.stderr[-1000:]
    default, at_import = map(int, proc.stdout.split())
    for limit in (default, at_import):  # both 75 % of what is left unmapped, a little apart
        assert 0.5 * cap < limit <= 0.75 * cap, f"limit {limit} does not follow the {cap}-byte address space"
