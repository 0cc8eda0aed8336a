"""Hypothesis strategies for the arguments of the public functions of the bottom layer, chosen
by what an argument's name says it is, and mixed with junk: wrong types, numpy scalars, NaN and
infinities, huge and negative sizes, zero-size axes, non-contiguous and read-only views, bool
arrays whose bytes are not 0/1."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

HUGE = [2**31, 2**32 - 1, 2**40, 2**62, 2**63 - 1, 2**64 - 1, 2**64, 10**12]


def scalars() -> st.SearchStrategy[Any]:
    """Anything a careless caller passes where a scalar is expected."""
    return st.one_of(
        st.integers(-3, 40),
        st.sampled_from(HUGE + [-1, -(2**63)]),
        st.sampled_from([np.uint8(12), np.int16(300), np.int64(7), np.uint64(2**64 - 1), np.True_, np.float32(0.5)]),
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from([0.0, 1e-300, 1e308, -1e308, float("nan"), float("inf")]),
        st.booleans(),
        st.none(),
        st.sampled_from(["shapley", "banzhaf", "leverage", "beta", "x", "", b"shapley", b"\xff"]),
        st.just([[1, 2], [3]]),
        st.just(object()),
    )


def _shape(draw: st.DrawFn, ndim: int) -> tuple[int, ...]:
    return tuple(draw(st.sampled_from([0, 1, 2, 3, 4, 6, 9])) for _ in range(ndim))


@st.composite
def arrays(draw: st.DrawFn, kind: str, ndim: int) -> Any:
    """An array meant to be of ``kind`` (``bool``, ``float`` or ``int``) and ``ndim`` dimensions,
    often not quite: another ndim, dtype or layout."""
    ndim = draw(st.sampled_from([ndim] * 6 + [max(0, ndim - 1), ndim + 1]))
    shape = _shape(draw, ndim)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([kind] * 5 + ["bool", "float", "int", "uint8", "complex", "object"]))
    if dtype == "bool":
        array: Any = rng.random(shape) < 0.5
        if draw(st.booleans()):
            array = (array.view(np.uint8) * np.uint8(draw(st.sampled_from([2, 3, 255])))).view(np.bool_)  # junk bytes
    elif dtype == "float":
        array = rng.normal(size=shape) * draw(st.sampled_from([1.0, 1e300, 1e-300]))
        if array.size and draw(st.booleans()):
            array.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif dtype == "int":
        high = max(1, shape[-1] if shape else 1)
        array = rng.integers(-1 if draw(st.booleans()) else 0, high + draw(st.sampled_from([0, 0, 1])), size=shape)
        if array.ndim and array.size and draw(st.booleans()):
            array = np.argsort(rng.random(shape), axis=-1)  # real permutations along the last axis
    elif dtype == "uint8":
        array = rng.integers(0, 3, size=shape, dtype=np.uint8)
    elif dtype == "complex":
        array = np.zeros(shape, dtype=complex)
    else:
        array = np.empty(shape, dtype=object)
    layout = draw(st.sampled_from(["c", "c", "fortran", "strided", "readonly"]))
    if layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        array = np.repeat(array, 2, axis=-1)[..., ::2]
    elif layout == "readonly" and isinstance(array, np.ndarray):
        array.setflags(write=False)
    return array


ARRAY_ARGUMENTS = {
    "masks": ("bool", 3),
    "values": ("float", 3),
    "null_values": ("float", 2),
    "grand_values": ("float", 2),
    "sample_weights": ("float", 2),
    "semivalue_weights": ("float", 1),
    "weights": ("float", 1),
    "permutations": ("int", 3),
    "chain_values": ("float", 4),
    "position_weights": ("float", 1),
    "contributions": ("float", 2),
}


def argument(name: str) -> st.SearchStrategy[Any]:
    """What the argument ``name`` is meant to hold, most of the time; junk otherwise."""
    if name in ARRAY_ARGUMENTS:
        kind, ndim = ARRAY_ARGUMENTS[name]
        return st.one_of(arrays(kind, ndim), arrays(kind, ndim), arrays(kind, ndim), scalars())
    if name.startswith(("n_", "min_", "max_")) or name in ("seed", "point_offset", "sample_offset", "order", "batch_size", "replicates", "folds", "degree", "start"):
        return st.one_of(st.integers(0, 12), st.integers(0, 12), scalars())
    return scalars()
