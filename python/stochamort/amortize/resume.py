"""The whole state of a training run in one file, so that a killed run resumes where it stopped.

With :attr:`TrainConfig.resume_path <stochamort.amortize.TrainConfig.resume_path>` set, the
trainer writes after every epoch (atomically; rank 0 only under DDP): the model's state, the
optimiser's, the schedule's and the gradient scaler's, the target scale, the history, the best
checkpoint so far, and the random generators' states (torch's global one, which dropout draws
from, and the shuffling one). A run started with an existing file continues from the epoch after
the saved one and gives the same result as a run that was never stopped (on CPU, bit for bit).

The file is tied to what was trained: the settings (all but ``progress``, ``device`` and
``resume_path`` itself), the inputs, the validation set and stored labels (SHA-256 of their
bytes), and the model's parameter names and shapes. A file made for anything else is refused
rather than resumed into a silently different model. Labels drawn online (or FastSHAP's
coalitions) are a function of the seed and the settings, which the file checks; the function
itself cannot be fingerprinted, so keep one file per labelling function.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from stochamort._io import atomic_write
from stochamort.errors import InvalidArgumentError

__all__ = ["run_fingerprint", "save_training_state", "load_training_state"]

#: Settings that may change between a run and its resumption.
_FREE = ("progress", "device", "resume_path")
_NAME = "TrainConfig.resume_path"


def _tensor_digest(digest: Any, tensor: Tensor | None) -> None:
    if tensor is None:
        digest.update(b"none")
        return
    cpu = tensor.detach().cpu().contiguous()
    digest.update(f"{cpu.dtype}{tuple(cpu.shape)}".encode())
    digest.update(cpu.view(torch.uint8).numpy().tobytes() if cpu.numel() else b"")


def run_fingerprint(
    settings: dict[str, Any], model: torch.nn.Module, data: dict[str, list[Tensor | None]]
) -> dict[str, Any]:
    """What a resume file must agree with: the settings (as JSON values, so that a refusal can say
    which differ), and SHA-256 digests of the model's state layout and of each named group of data
    tensors (e.g. ``{"inputs": [x, gaps], "labels": [labels]}``)."""
    kept = {k: v for k, v in settings.items() if k not in _FREE}
    parts: dict[str, Any] = {"settings": json.loads(json.dumps(kept, sort_keys=True, default=str))}
    layout = json.dumps([(k, list(v.shape), str(v.dtype)) for k, v in model.state_dict().items()])
    parts["the model's layout"] = hashlib.sha256(layout.encode()).hexdigest()
    for name, tensors in data.items():
        digest = hashlib.sha256()
        for tensor in tensors:
            _tensor_digest(digest, tensor)
        parts[name] = digest.hexdigest()
    return parts


def _differences(saved: Any, current: dict[str, Any]) -> list[str]:
    """What differs between a saved fingerprint and this run's, in words."""
    if not isinstance(saved, dict) or not isinstance(saved.get("settings"), dict):
        return ["the file comes from an older version of stochamort"]
    found = []
    before, now = saved["settings"], current["settings"]
    for key in sorted(set(before) | set(now)):
        if before.get(key) != now.get(key):
            found.append(f"{key}: saved {before.get(key)!r}, this run {now.get(key)!r}")
    found += [name for name in current if name != "settings" and saved.get(name) != current[name]]
    return found


def save_training_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists and dicts of them) to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def load_training_state(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The state saved at ``path``, checked against this run's ``fingerprint``.

    Raises:
        InvalidArgumentError: the file is not a training state, or was made for other settings,
            data or another model (the message names ``TrainConfig.resume_path``).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a file that is not its format
        raise InvalidArgumentError(f"{_NAME}: {path} is not a training state saved by stochamort ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or "fingerprint" not in state:
        raise InvalidArgumentError(f"{_NAME}: {path} is not a training state saved by stochamort")
    differences = _differences(state["fingerprint"], fingerprint)
    if differences:
        raise InvalidArgumentError(
            f"{_NAME}: {path} was saved by a run with other settings, data or model (what differs: "
            f"{'; '.join(differences)}); resuming it would train another model. Delete it to start afresh, or use another path"
        )
    return state
