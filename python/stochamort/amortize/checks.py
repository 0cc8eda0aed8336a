"""Argument checks of the amortization layer: each refuses a bad value with an
:class:`~stochamort.errors.InvalidArgumentError` whose message starts with the argument's name
(``"TrainConfig.lr: must be a positive finite number, got -1"``), and returns the value as a plain
Python ``bool`` / ``int`` / ``float`` (numpy scalars are accepted and converted)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stochamort.errors import InvalidArgumentError

__all__ = ["check_bool", "check_int", "check_float", "check_scale"]


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a bool; only ``True``/``False`` (or numpy bools) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgumentError(f"{name}: must be True or False, got {value!r}")
    return bool(value)


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, refused unless it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_float(name: str, value: Any, *, positive: bool) -> float:
    """``value`` as a float, refused unless it is a finite real number, ``> 0`` if ``positive``
    and ``>= 0`` otherwise."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(float(value)) or (float(value) <= 0 if positive else float(value) < 0):
        kind = "positive" if positive else "non-negative"
        raise InvalidArgumentError(f"{name}: must be a {kind} finite number, got {value!r}")
    return float(value)


def check_scale(name: str, value: Any) -> float:
    """A target scale: a positive finite number."""
    return check_float(name, value, positive=True)
