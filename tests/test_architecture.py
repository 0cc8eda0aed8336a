"""The package's shape: layers only look down, no private names across modules, small files, and
the Rust-backed API runs without importing torch.

The layer contract itself is checked by import-linter (``make architecture``, part of ``make
test``); these tests cover what it cannot see.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stochamort

PACKAGE = Path(stochamort.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    """Whether ``name`` (dotted, under stochamort) is a module or package of the package, or the extension."""
    relative = Path(*name.split(".")[1:])
    base = PACKAGE / relative
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists() or base.with_suffix(".pyi").exists()


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(path: Path) -> list[tuple[str, str, int]]:
    """``(from_module, imported_name, line)`` for every ``from X import name`` into stochamort."""
    module = _module_name(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, path.name == "__init__.py")
            if source == "stochamort" or source.startswith("stochamort."):
                found.extend((source, alias.name, node.lineno) for alias in node.names)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_another_modules_private_name(path: Path) -> None:
    offending = [
        f"{path.name}:{line}: from {source} import {name}"
        for source, name, line in _imports(path)
        if name.startswith("_") and not name.startswith("__") and not _is_module(f"{source}.{name}")
    ]
    assert not offending, "private names imported across modules:\n" + "\n".join(offending)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_take_only_the_extension_and_version_from_the_root(path: Path) -> None:
    """The root re-exports everything; importing through it would hide an upward import."""
    if path == PACKAGE / "__init__.py":
        return
    offending = [
        f"{path.name}:{line}: from stochamort import {name}"
        for source, name, line in _imports(path)
        if source == "stochamort" and name not in {"_core", "__version__"} and not _is_module(f"stochamort.{name}")
    ]
    tree = ast.parse(path.read_text())
    bound_to_root = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "stochamort"
    }
    offending += [
        f"{path.name}:{node.lineno}: stochamort.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in bound_to_root
        and node.attr != "__version__"
    ]
    assert not offending, "reached through the root package:\n" + "\n".join(offending)


def test_references_never_import_the_extension() -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in MODULES
        if _module_name(path).startswith("stochamort.reference")
        for source, name, line in _imports(path)
        if source == "stochamort._core" or (source == "stochamort" and name == "_core")
    ]
    assert not offending


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_small(path: Path) -> None:
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_MODULE_LINES, f"{path.relative_to(PACKAGE)} has {n_lines} lines: split it by job"


RUST_BACKED = (
    "stochamort.sampling",
    "stochamort.weights",
    "stochamort.estimators",
    "stochamort.polynomial",
    "stochamort.regression",
    "stochamort.parallelism",
)

TORCH_FREE_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import stochamort as sm

    called = set()

    def call(name, *args, **kwargs):
        called.add(name)
        return getattr(sm, name)(*args, **kwargs)

    d, n_points = 5, 3
    w = np.arange(1.0, d + 1)
    game = lambda m: (m @ w)[..., None] ** 2
    null, grand = np.zeros((n_points, 1)), np.full((n_points, 1), w.sum() ** 2)
    masks = call("sample_coalitions", n_points, 64, d, paired=True, seed=0)
    call("size_probabilities", d, "leverage")
    call("coalition_probabilities", masks[0], "shapley")
    call("enumerate_coalitions", d)
    call("shapley_kernel", d)
    call("semivalue_weights", d, "beta", alpha=4.0, beta=1.0)
    call("semivalue_position_weights", d, "banzhaf")
    call("lime_kernel", d, 0.25)
    call("kernelshap", masks, game(masks), null, grand, paired=True)
    call("unbiased_kernelshap", masks, game(masks), null, grand, paired=True)
    design = call("sample_design", n_points, 20, d, seed=0)
    sm.kernelshap(design.masks, game(design.masks), null, grand, paired=True, sample_weights=design.weights, n_enumerated=design.n_enumerated, stratified=True)
    call("sgd_shapley", masks, game(masks), null, grand, paired=True)
    ones = np.ones(masks.shape[:2])
    call("polyshap", masks, game(masks), null, grand, sample_weights=ones, paired=True)
    call("oddshap", masks, game(masks), null, grand, sample_weights=ones)
    iid = sm.sample_design(n_points, 20, d, replace=True, seed=0)
    call("regression_adjusted_semivalue", iid.masks, game(iid.masks), null, grand, sample_weights=iid.weights, n_enumerated=iid.n_enumerated, semivalue_weights=sm.semivalue_weights(d))
    uniform = sm.sample_coalitions(n_points, 64, d, distribution="banzhaf", seed=1)
    call("msr_banzhaf", uniform, game(uniform))
    call("lime", uniform, game(uniform))
    perms = call("sample_permutations", n_points, 4, d, antithetic=True, seed=2)
    chains = call("permutation_chain_masks", perms)
    chain_values = game(chains.reshape(n_points, -1, d)).reshape(n_points, 4, d + 1, 1)
    first = call("permutation_shapley", perms, chain_values, antithetic=True)
    later = sm.sample_permutations(n_points, 4, d, antithetic=True, seed=3)
    later_values = game(sm.permutation_chain_masks(later).reshape(n_points, -1, d)).reshape(n_points, 4, d + 1, 1)
    call("merge_permutation_estimates", first, sm.permutation_shapley(later, later_values, antithetic=True))
    table = game(np.broadcast_to(sm.enumerate_coalitions(d), (n_points, 2**d, d)))
    call("exact_semivalue", table, sm.semivalue_weights(d))
    call("exact_shapley", table)
    call("exact_banzhaf", table)
    data_perms = sm.sample_permutations(1, 6, 4, seed=3)[0]
    data_chains = np.cumsum(np.random.default_rng(0).normal(size=(6, 5)), axis=1)
    values = call("permutation_data_values", data_perms, data_chains)
    call("merge_data_values", values, values)
    call("contribution_values", np.random.default_rng(1).normal(size=(4, 10)))
    call("truncation_points", data_chains, float(data_chains[0, -1]), 0.01)
    call("sample_multisets", 2, 3, 6, min_size=1, max_size=4, seed=0)
    call("set_parallelism", sm.parallelism_enabled())
    call("parallelism_enabled")
    assert "torch" not in sys.modules, "a Rust-backed call imported torch"
    print(",".join(sorted(called)))
    """
)


def test_rust_backed_api_runs_without_torch() -> None:
    done = subprocess.run([sys.executable, "-c", TORCH_FREE_SCRIPT], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    called = set(done.stdout.strip().split(","))
    exported = {
        name
        for name in stochamort.__all__
        if callable(getattr(stochamort, name, None))
        and getattr(getattr(stochamort, name), "__module__", "") in RUST_BACKED
    }
    assert exported - called == set(), f"not exercised without torch: {sorted(exported - called)}"
