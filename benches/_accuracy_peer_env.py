"""The peers' own environment: a cached venv with shapiq 1.8 (Python >= 3.12) and shap, run as subprocesses.

``ensure_peer_python`` creates ``bench-results/peer-venv`` once (from pyenv's 3.12.1, else the first
Python >= 3.12 on PATH) and installs ``shapiq==1.8.*``, then, each optional, ``shap``, ``lightgbm``
and ``xgboost-cpu`` (the proxies of OddSHAP, ProxySPEX and RegressionMSR; without them shapiq falls
back to a decision tree). A marker file records what
installed, so later runs reuse it. :class:`PeerWorkers` writes the games to an ``.npz`` and starts
a few long-lived worker processes in that venv (one thread each: ``OMP_NUM_THREADS=1``) that take
one peer's jobs at a time from a queue (protocol: ``_accuracy_peers.py``).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from _accuracy_game import MLPGame
from _accuracy_peers import PROGRESS, PROTOCOL

__all__ = ["ensure_peer_python", "PeerWorkers"]

HERE = Path(__file__).resolve().parent
PEER_SCRIPT = HERE / "_accuracy_peers.py"
PYENV_PYTHON = Path("/root/.pyenv/versions/3.12.1/bin/python")
#: Installed in order; the first is required, the others are tried one by one.
REQUIRED = ["shapiq==1.8.*"]
OPTIONAL = [["shap"], ["lightgbm"], ["xgboost-cpu"]]
MARKER = ".stochamort-peers.json"
#: Peers known to be slow per call, scheduled first.
SLOW_FIRST = ("ProxySPEX", "SPEX", "RegressionMSR", "OddSHAP", "SVARM", "UnbiasedKernelSHAP", "OwenSamplingSV")
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}


def _version_ok(python: str) -> bool:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info >= (3, 12))"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.stdout.strip() == "True"


def _base_python() -> str | None:
    candidates = [str(PYENV_PYTHON)] if PYENV_PYTHON.exists() else []
    for name in ("python3.14", "python3.13", "python3.12", "python3", "python"):
        found = shutil.which(name)
        if found:
            candidates.append(found)
    return next((c for c in candidates if _version_ok(c)), None)


def ensure_peer_python(venv: Path, log: Any = print) -> tuple[str | None, str]:
    """The peer venv's python (created on first use), or None; and a line saying what it holds or why not."""
    python = venv / "bin" / "python"
    marker = venv / MARKER
    if python.exists() and marker.exists():
        return str(python), marker.read_text().strip()
    base = _base_python()
    if base is None:
        return None, "no Python >= 3.12 found (pyenv 3.12.1 or PATH): peers not run, ours only"
    log(f"Creating the peer environment {venv} from {base} (once; cached) ...")
    shutil.rmtree(venv, ignore_errors=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    try:
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([*pip, *REQUIRED], check=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"could not create the peer environment ({error}): peers not run, ours only"
    failed = []
    for extra in OPTIONAL:
        if subprocess.run([*pip, *extra], timeout=900).returncode != 0:
            failed.append(" ".join(extra))
    frozen = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, timeout=120).stdout
    wanted = ("shapiq", "shap", "lightgbm", "xgboost", "numpy")
    held = [line for line in frozen.splitlines() if line.lower().startswith(wanted)]
    summary = f"{base} -> {venv}: " + ", ".join(held) + (f"; failed to install: {', '.join(failed)}" if failed else "")
    marker.write_text(summary + "\n")
    return str(python), summary


class PeerWorkers:
    """``count`` peer worker processes (one thread each) serving jobs from a queue; a context manager.

    ``listing`` is what the first worker can run (``peers``, ``versions``, ``notes``, ``python``).
    """

    def __init__(self, python: str, games: dict[int, MLPGame], count: int) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-accuracy-")
        self.dir = Path(self._tmp.name)
        games_path = self.dir / "games.npz"
        arrays: dict[str, Any] = {f"d{d}/{k}": v for d, g in games.items() for k, v in g.arrays().items()}
        np.savez(games_path, **arrays)
        env = {**os.environ, **SINGLE_THREAD}
        self.procs: list[subprocess.Popen[str]] = []
        self.notes: list[str] = []
        for i in range(max(1, count)):
            err = (self.dir / f"err{i}.txt").open("w")  # a file, not a pipe: a chatty worker cannot block
            cmd = [python, str(PEER_SCRIPT), "--worker", str(games_path)]
            self.procs.append(subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1))
            err.close()
        listings = [self._expect(i, "LIST") for i in range(len(self.procs))]
        self.listing: dict[str, Any] = next((json.loads(x) for x in listings if x is not None), {"peers": [], "notes": [], "versions": [], "python": None})

    def _expect(self, i: int, word: str) -> str | None:
        """Relay worker ``i``'s progress lines until its ``@@word`` line; what follows the word (None: it died)."""
        stdout = self.procs[i].stdout
        assert stdout is not None
        for line in stdout:
            if line.startswith(PROTOCOL + word):
                return line[len(PROTOCOL + word) :].strip()
            if line.startswith(PROGRESS):  # not the chatter of native libraries (LightGBM's [Info] ...)
                print(line, end="", flush=True)
        self.procs[i].wait()
        tail = (self.dir / f"err{i}.txt").read_text().strip()[-600:]
        self.notes.append(f"peer worker {i} stopped (status {self.procs[i].returncode}): {tail}")
        return None

    def run(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run ``jobs``, grouped by peer, on the workers (a free worker takes the next peer)."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for job in jobs:
            groups.setdefault(job["peer"], []).append(job)
        # The slowest peers first, so that the workers finish at about the same time.
        order = sorted(groups, key=lambda name: next((i for i, s in enumerate(SLOW_FIRST) if name.startswith(s)), len(SLOW_FIRST)))
        groups = {name: groups[name] for name in order}
        pending: queue.Queue[tuple[int, list[dict[str, Any]]]] = queue.Queue()
        for item in enumerate(groups.values()):
            pending.put(item)
        results: list[dict[str, Any]] = []
        lock = threading.Lock()

        def serve(i: int) -> None:
            stdin = self.procs[i].stdin
            assert stdin is not None
            while True:
                try:
                    n, group = pending.get_nowait()
                except queue.Empty:
                    return
                out = self.dir / f"out{n}.json"
                stdin.write(json.dumps({"jobs": group, "out": str(out)}) + "\n")
                stdin.flush()
                if self._expect(i, "DONE") is None:
                    with lock:
                        self.notes.append(f"peer jobs lost with worker {i}: {', '.join(sorted({j['peer'] for j in group}))}")
                    return
                with lock:
                    results.extend(json.loads(out.read_text()))

        threads = [threading.Thread(target=serve, args=(i,)) for i in range(len(self.procs)) if self.procs[i].poll() is None]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def __enter__(self) -> PeerWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()  # end of requests: the worker exits
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._tmp.cleanup()
