"""Process-wide control of the Rust core's thread parallelism.

The core uses a rayon pool of its own (size from ``RAYON_NUM_THREADS``). Set ``STOCHAMORT_PARALLELISM=0``
or call :func:`set_parallelism` to run serially. After ``fork`` (e.g. torch DataLoader workers), a
child of a process that used the pool runs serially automatically, since the pool's threads do not
survive the fork; ``set_parallelism(True)`` in the child builds the child's own pool. Results never
depend on the setting: every draw has its own seeded stream.
"""

from __future__ import annotations

from stochamort import _core

__all__ = ["set_parallelism", "parallelism_enabled"]


def set_parallelism(enabled: bool) -> None:
    """Allow (True) or forbid (False) the Rust core to use several threads in this process.

    Raises:
        InvalidDTypeError: naming ``enabled`` unless it is a bool (Python's or numpy's) or 0/1.
    """
    _core.set_parallelism(enabled)


def parallelism_enabled() -> bool:
    """Whether the Rust core may use several threads in this process."""
    return _core.parallelism_enabled()
