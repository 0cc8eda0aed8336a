"""Shared fixtures: hypothesis profiles and the ``impl`` fixture (numpy reference vs Rust core).

Hypothesis profile: ``STOCHAMORT_HYPOTHESIS_PROFILE`` (``ci``, ``dev`` or ``thorough``); by default
``ci`` when the ``CI`` environment variable is set and ``dev`` otherwise.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
from hypothesis import settings

# Make the helper module ``games`` importable whatever pytest's import mode is.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(
    os.environ.get("STOCHAMORT_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def _namespace(*modules: types.ModuleType) -> types.SimpleNamespace:
    """Merge the public functions of several modules into one namespace."""
    merged: dict[str, object] = {}
    for module in modules:
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name in vars(module) if not name.startswith("_")]
        for name in names:
            merged[name] = getattr(module, name)
    return types.SimpleNamespace(**merged)


def _load_reference() -> types.SimpleNamespace:
    import stochamort.reference as reference

    return _namespace(reference)


def _load_rust() -> types.SimpleNamespace:
    import stochamort.estimators as estimators
    import stochamort.sampling as sampling
    import stochamort.weights as weights

    return _namespace(sampling, weights, estimators)


_LOADERS = {"reference": _load_reference, "rust": _load_rust}


@pytest.fixture(scope="session", params=list(_LOADERS), ids=list(_LOADERS))
def impl(request: pytest.FixtureRequest) -> types.SimpleNamespace:
    """The implementation under test: the numpy reference or the Rust-backed public modules.

    Session-scoped so that it can be combined with ``@given`` (hypothesis forbids function-scoped
    fixtures there); the namespaces are stateless.
    """
    return _LOADERS[request.param]()
