"""The exception hierarchy. Every error stochamort raises on bad input is a ``StochamortError``.

Errors about the value of an argument are also ``ValueError`` (and dtype errors also ``TypeError``),
so callers that already catch those keep working. Every message starts with the argument's name.
"""

from __future__ import annotations

__all__ = [
    "StochamortError",
    "InvalidArgumentError",
    "InvalidDTypeError",
    "ShapeError",
    "NonFiniteError",
    "InsufficientSamplesError",
    "SingularSystemError",
    "TooManyPlayersError",
    "DeviceMismatchError",
    "MissingDependencyError",
]


class StochamortError(Exception):
    """Base class of every error raised by stochamort."""


class InvalidArgumentError(StochamortError, ValueError):
    """An argument has a value the function cannot accept; the message names the argument."""


class InvalidDTypeError(InvalidArgumentError, TypeError):
    """An array argument has the wrong dtype (e.g. masks that are not bool)."""


class ShapeError(InvalidArgumentError):
    """An array argument has the wrong number of dimensions or a size that disagrees with another."""


class NonFiniteError(InvalidArgumentError):
    """An input holds NaN or infinity; the message names the argument and the offending points."""


class InsufficientSamplesError(InvalidArgumentError):
    """The budget (samples, permutations, pairs) is too small for the estimator to be defined."""


class SingularSystemError(InsufficientSamplesError):
    """A least-squares system is singular: the sampled coalitions do not identify the solution."""


class TooManyPlayersError(InvalidArgumentError):
    """Exact enumeration was asked for more players than it supports (2^d coalitions)."""


class DeviceMismatchError(InvalidArgumentError):
    """Tensors that must live on one device (model, inputs, background) live on different ones."""


class MissingDependencyError(StochamortError, ImportError):
    """An optional dependency (e.g. shap) is needed for this function but is not installed."""
