"""Fuzzing the public functions of the bottom layer (sampling, weights, estimators).

Every call must end in a result or in a :class:`~stochamort.errors.StochamortError` (a typed
error naming an argument): never another exception, never the core's "internal error" (a panic),
never a crash or an abort (the process would die and the run fail). The memory limit is lowered to
64 MiB, so that requests for huge outputs are refused rather than allocated. ``make test`` runs a
short pass (the ``ci`` profile); ``make fuzz`` runs a long one (``STOCHAMORT_FUZZ_MINUTES``).
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stochamort import estimators, sampling, weights
from tests.fuzz.outcomes import MINUTES, classify, small_memory_limit
from tests.fuzz.strategies import argument

FUNCTIONS: dict[str, Callable[..., Any]] = {
    f"{module.__name__.rsplit('.', 1)[1]}.{name}": getattr(module, name)
    for module in (sampling, weights, estimators)
    for name in module.__all__
    if inspect.isfunction(getattr(module, name))
}
OUTCOMES: Counter[str] = Counter()


@pytest.fixture(autouse=True, scope="module")
def memory_limit() -> Iterator[None]:
    with small_memory_limit(OUTCOMES, ""):
        yield


@st.composite
def calls(draw: st.DrawFn, name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Arguments for one call of ``FUNCTIONS[name]``: its required ones, some optional ones."""
    args, kwargs = [], {}
    for parameter in inspect.signature(FUNCTIONS[name]).parameters.values():
        if parameter.default is inspect.Parameter.empty or draw(st.booleans()):
            value = draw(argument(parameter.name), label=parameter.name)
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY or parameter.default is not inspect.Parameter.empty:
                kwargs[parameter.name] = value
            else:
                args.append(value)
    return tuple(args), kwargs


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_public_function_returns_or_raises_a_typed_error(name: str) -> None:
    function = FUNCTIONS[name]
    deadline = time.monotonic() + MINUTES * 60 / len(FUNCTIONS)
    # Short run: 60 fixed examples. Long run: batches of 200 random ones until the deadline.
    profile = settings(
        max_examples=200 if MINUTES else 60, deadline=None, derandomize=not MINUTES,
        suppress_health_check=list(HealthCheck), database=None,
    )

    @profile
    @given(call=calls(name))
    def check(call: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
        args, kwargs = call
        OUTCOMES[f"{name}: {classify(lambda: function(*args, **kwargs))}"] += 1

    check()
    while time.monotonic() < deadline:
        check()
