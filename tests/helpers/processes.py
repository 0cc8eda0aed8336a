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
