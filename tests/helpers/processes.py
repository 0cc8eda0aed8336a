"""Killing a child process mid-run, for the tests that resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def sigkill_after_first_chunk(child: subprocess.Popen[bytes], directory: Path, timeout: float) -> None:
    """SIGKILL ``child`` as soon as a finished ``chunk-*.npz`` appears in ``directory``.

    Fails the test if the child exits first (showing its stderr) or no chunk appears within
    ``timeout`` seconds. The child is always reaped and its stderr closed.
    """
    try:
        deadline = time.monotonic() + timeout
        while not list(directory.glob("chunk-*.npz")):
            assert child.poll() is None, f"the child exited early: {child.stderr.read().decode() if child.stderr else ''}"
            assert time.monotonic() < deadline, f"no chunk appeared within {timeout:.0f} s"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...), from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The parent pid is the 2nd field after the parenthesised command name.
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found += children
        frontier += children
    return found


def sigkill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants, including those in sessions of their own (torchrun's ranks)."""
    for target in [*descendants(pid), pid]:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
