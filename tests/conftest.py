"""Shared fixtures: hypothesis profiles and the ``impl`` fixture (numpy reference vs Rust core).

Hypothesis profile: ``STOCHAMORT_HYPOTHESIS_PROFILE`` (``ci``, ``dev`` or ``thorough``); by default
``ci`` when the ``CI`` environment variable is set and ``dev`` otherwise.
"""

from __future__ import annotations

import os
import types

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(
    os.environ.get("STOCHAMORT_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


class Implementation(types.SimpleNamespace):
    """The functions of one implementation; short repr so hypothesis reports stay readable."""

    def __repr__(self) -> str:
        return f"<implementation {self.__dict__.get('_name', '?')!r}>"


def _namespace(name: str, *modules: types.ModuleType) -> Implementation:
    """Merge the public functions of several modules into one namespace."""
    merged: dict[str, object] = {}
    for module in modules:
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name in vars(module) if not name.startswith("_")]
        for function_name in names:
            merged[function_name] = getattr(module, function_name)
    return Implementation(_name=name, **merged)


def _load_reference() -> Implementation:
    import stochamort.reference as reference

    return _namespace("reference", reference)


def _load_rust() -> Implementation:
    import stochamort.estimators as estimators
    import stochamort.sampling as sampling
    import stochamort.weights as weights

    return _namespace("rust", sampling, weights, estimators)


_LOADERS = {"reference": _load_reference, "rust": _load_rust}


@pytest.fixture(scope="session", params=list(_LOADERS), ids=list(_LOADERS))
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The implementation under test: the numpy reference or the Rust-backed public modules.

    Session-scoped so that it can be combined with ``@given`` (hypothesis forbids function-scoped
    fixtures there); the namespaces are stateless.
    """
    return _LOADERS[request.param]()
