"""The fuzz suites' shared rule and setting: what a call may end in, and the memory limit they run
under.

A call must return or raise a :class:`~stochamort.errors.StochamortError` whose message starts
with an argument's name and is not the panic guard's; anything else fails the test.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import stochamort as sm
from stochamort.errors import StochamortError

#: How long the long run lasts (make fuzz); 0 for the short run of make test.
MINUTES = float(os.environ.get("STOCHAMORT_FUZZ_MINUTES", "0"))


def classify(call: Callable[[], Any]) -> str:
    """Run ``call``; the name of the typed error it raised (and the argument it named, with
    ``STOCHAMORT_FUZZ_NAMES`` set), or ``ok``. Anything else fails."""
    try:
        call()
    except StochamortError as err:
        assert "internal error in the Rust core" not in str(err), f"a panic: {err}"
        name = str(err).split(":", 1)[0]
        assert name and " " not in name.strip(), f"the message does not start with an argument's name: {err}"
        return type(err).__name__ + (f" ({name})" if os.environ.get("STOCHAMORT_FUZZ_NAMES") else "")
    return "ok"


@contextmanager
def small_memory_limit(outcomes: Counter[str], label: str) -> Iterator[None]:
    """A 64 MiB limit per core call (huge requests are refused fast, not allocated), and the
    outcome counts printed at the end (``pytest -s`` shows them)."""
    sm.set_memory_limit(64 << 20)
    try:
        yield
    finally:
        sm.set_memory_limit(None)
        if outcomes:
            print(f"\nfuzz outcomes{label}:", dict(sorted(outcomes.items())))
