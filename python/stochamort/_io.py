"""Durable file I/O shared by the label store and the jobs: atomic writes and directory locks.

A file written here is either complete or absent, even if the process is killed meanwhile: it is
written to a uniquely named temporary file beside its destination, flushed and fsynced, renamed
into place (atomic on POSIX), and the directory entry is fsynced too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "fsync_directory", "exclusive_lock"]


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write ``path`` through ``write(file)`` (a binary file object) so that it is complete or absent.

    A failure or interruption removes the temporary file and leaves any earlier ``path`` untouched.
    """
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_directory(path.parent)


def fsync_directory(root: Path) -> None:
    """Make a rename in ``root`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(root, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(root: Path, busy: Callable[[Path], Exception]) -> Iterator[None]:
    """Hold an advisory lock on the directory ``root`` (released by the OS if the process dies).

    If another process holds it, ``busy(root)`` is raised at once rather than waiting.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise busy(root) from err
        except OSError:  # pragma: no cover - file systems without flock
            pass
        yield
    finally:
        os.close(fd)
