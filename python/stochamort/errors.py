"""The exception hierarchy. Every error stochamort raises on bad input is a ``StochamortError``.

Errors about the value of an argument are also ``ValueError`` (and dtype errors also ``TypeError``),
so callers that already catch those keep working. Every message starts with the argument's name.

Errors raised by the Rust core also carry what their message says as attributes (see
:class:`StochamortError`), so code can act on them without parsing the text.
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
    "RequestTooLargeError",
    "DeviceMismatchError",
    "MissingDependencyError",
    "SavedFileError",
    "ModelMismatchError",
    "DistributedError",
    "ClusterConnectionError",
]


class StochamortError(Exception):
    """Base class of every error raised by stochamort.

    Attributes:
        argument: the name of the argument at fault (the word the message starts with), set on
            every error raised by the Rust core; ``None`` where an error names no single argument.
        points: the indices of the offending points, for errors about points (non-finite values
            at some points, a singular system or too few samples at a point, masks or
            permutations that are not what they should be at a point); ``()`` otherwise. The
            indices count points within the call that raised (the first axis of its arrays), except
            that an oracle renumbers them to global indices (``point_offset`` + index in its game)
            before passing the error on.
    """

    argument: str | None = None
    points: tuple[int, ...] = ()


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


class RequestTooLargeError(InvalidArgumentError, MemoryError):
    """A call would allocate more memory than one call may (see :func:`stochamort.set_memory_limit`).

    Raised before anything is allocated, naming the argument that makes the request large; also a
    ``MemoryError``, so code that handles running out of memory handles it too.
    """


class DeviceMismatchError(InvalidArgumentError):
    """Tensors that must live on one device (model, inputs, background) live on different ones."""


class MissingDependencyError(StochamortError, ImportError):
    """An optional dependency (e.g. shap) is needed for this function but is not installed."""


class SavedFileError(StochamortError, ValueError):
    """A saved file (an explainer, an amortizer, a valuer) is missing, corrupt, tampered with, or
    was written by an incompatible format; the message says which and names the path."""


class ModelMismatchError(InvalidArgumentError):
    """A saved object (an explainer, a label store) is loaded against another model than the one it
    was made for; the message says how the models differ."""


class DistributedError(StochamortError, RuntimeError):
    """Work sent to other processes could not be done there: a worker kept dying past the retry
    limit, or the cluster went away. The message names the item and what happened."""


class ClusterConnectionError(DistributedError, ConnectionError):
    """The cluster named by ``address`` cannot be reached (or none is running for ``"auto"``)."""
