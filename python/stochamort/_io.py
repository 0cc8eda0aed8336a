"""Small file helpers shared by the command-line jobs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Write ``path`` through a temporary file in the same directory, then rename it into place.

    ``write`` receives the temporary file's name. A failure or interruption leaves no
    half-written file behind (the temporary is removed; the rename is atomic on POSIX).
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
