"""How much memory one call of the Rust core may allocate.

Every function of the core sizes what it will allocate (its outputs and work arrays) before it
allocates anything, and refuses a request over the limit with a
:class:`~stochamort.errors.RequestTooLargeError` naming the argument that makes it large (a
failed allocation would abort the whole process, which nothing can catch). The oracles do the same
for a point's coalitions before sampling them. The limit defaults to 75 % of this machine's
physical memory, lowered to the container's memory limit and to the address space the process has
left under ``ulimit -v`` (RLIMIT_AS) at import, whichever is least; set ``STOCHAMORT_MEMORY_LIMIT``
(bytes) before import, or call :func:`set_memory_limit` (``None`` computes the default again, for
a process that has mapped much more since import).
"""

from __future__ import annotations

import os

from stochamort import _core
from stochamort.errors import InvalidArgumentError

__all__ = ["set_memory_limit", "memory_limit"]


def _check_environment() -> None:
    """A ``STOCHAMORT_MEMORY_LIMIT`` the core could not read must not be ignored silently."""
    text = os.environ.get("STOCHAMORT_MEMORY_LIMIT")
    if text is None:
        return
    digits = text.strip().removeprefix("+")  # what Rust's u64 parser reads
    if not (digits.isascii() and digits.isdigit() and int(digits) < 2**64):
        raise InvalidArgumentError(
            f"STOCHAMORT_MEMORY_LIMIT: must be a number of bytes, an integer in [0, 2**64), got {text!r}"
        )


_check_environment()


def set_memory_limit(limit: int | None = None) -> None:
    """Set the most bytes one call of the core may allocate (None: back to the default).

    Args:
        limit: bytes, an integer in ``[0, 2**64)``, or None for the default (75 % of physical,
            container or remaining address-space memory, whichever is least, computed now).

    Raises:
        InvalidArgumentError: naming ``limit`` if it is not such an integer.
    """
    _core.set_memory_limit(limit)


def memory_limit() -> int:
    """The most bytes one call of the core may allocate now."""
    return _core.memory_limit()
