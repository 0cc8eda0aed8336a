"""Peer implementations timed on the benchmark's game: shap's KernelExplainer and shapiq's KernelSHAP.

Both are optional (the ``bench`` extra). Each explains ONE point per call, so the benchmark reports
their time per point; our Rust path explains a batch.

* ``shap.KernelExplainer(model, background=zeros((1, d)))`` explaining ``x = ones(d)`` with
  ``nsamples=B, l1_reg=False``: with a single all-zero background row, KernelExplainer's masked
  inputs are exactly the 0/1 coalition vectors, so ``model(X) = v_p(X)`` is our game.
* ``shapiq.KernelSHAP(n=d, pairing_trick=True, random_state=...)`` with
  ``approximate(budget=B, game=...)``, where ``game`` maps a bool coalition matrix ``(n, d)`` to
  values ``(n,)``. Pairing is switched on to match our paired KernelSHAP (shapiq's default is off).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from _bench_game import PairwiseGame

__all__ = ["PEERS", "peer_versions"]


def _import(name: str) -> tuple[Any | None, str]:
    """The module, and its version (or why it cannot be imported)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
    except Exception as error:  # ImportError, or a broken dependency raising something else
        return None, f"not importable ({type(error).__name__}: {error})"
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(module, "__version__", "unknown version"))
    return module, version


def shap_kernel_explainer(game: PairwiseGame, point: int, budget: int, seed: int) -> NDArray[np.float64]:
    """shap.KernelExplainer's Shapley values of point ``point`` ``(d,)``."""
    import shap

    d = game.n_players
    np.random.seed(seed)  # KernelExplainer samples with numpy's global RNG
    explainer = shap.KernelExplainer(lambda x: game.rows(x, point), np.zeros((1, d)))
    phi = explainer.shap_values(np.ones(d), nsamples=budget, l1_reg=False, silent=True)
    return np.asarray(phi, dtype=np.float64).reshape(d)


def shapiq_kernelshap(game: PairwiseGame, point: int, budget: int, seed: int) -> NDArray[np.float64]:
    """shapiq.KernelSHAP's Shapley values of point ``point`` ``(d,)``."""
    import shapiq

    d = game.n_players
    approximator = shapiq.KernelSHAP(n=d, pairing_trick=True, random_state=seed)
    result = approximator.approximate(budget=budget, game=lambda coalitions: game.rows(coalitions, point))
    return np.asarray(result.get_n_order_values(1), dtype=np.float64).reshape(d)


#: name -> (module to import, label, function explaining one point)
PEERS: dict[str, tuple[str, str, Callable[[PairwiseGame, int, int, int], NDArray[np.float64]]]] = {
    "shap": ("shap", "shap.KernelExplainer(l1_reg=False)", shap_kernel_explainer),
    "shapiq": ("shapiq", "shapiq.KernelSHAP(pairing_trick=True)", shapiq_kernelshap),
}


def peer_versions() -> dict[str, tuple[bool, str]]:
    """For each peer: (importable, version or the reason it is not)."""
    out: dict[str, tuple[bool, str]] = {}
    for name, (module_name, _, _) in PEERS.items():
        module, info = _import(module_name)
        out[name] = (module is not None, info)
    return out
