"""Torch module modes shared by the games and the trainer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["evaluation"]

# Threads evaluating the same module at once (a threaded label pipeline) share one switch to
# evaluation mode: the first to enter records the modes, the last to leave restores them. Each
# restoring on its own exit would put a module back in training mode (dropout on) while another
# thread is still evaluating it.
_lock = threading.Lock()
_active: dict[int, tuple[int, list[tuple[nn.Module, bool]]]] = {}


@contextmanager
def evaluation(model: Any) -> Iterator[None]:
    """Evaluation mode and no autograd for the duration; every submodule's mode is restored after.

    ``model`` may be any callable; only an ``nn.Module`` has modes to switch. Safe to enter from
    several threads at once for the same module: it stays in evaluation mode until all have left.
    """
    if not isinstance(model, nn.Module):
        with torch.inference_mode():
            yield
        return
    key = id(model)
    with _lock:
        users, modes = _active.get(key, (0, []))
        if users == 0:
            modes = [(m, m.training) for m in model.modules()]
            model.eval()
        _active[key] = (users + 1, modes)
    try:
        with torch.inference_mode():
            yield
    finally:
        with _lock:
            users, modes = _active[key]
            if users == 1:
                del _active[key]
                for module, training in modes:
                    module.training = training
            else:
                _active[key] = (users - 1, modes)
