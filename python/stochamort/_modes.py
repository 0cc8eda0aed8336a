"""Torch module modes shared by the games and the trainer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = ["evaluation"]


@contextmanager
def evaluation(model: Any) -> Iterator[None]:
    """Evaluation mode and no autograd for the duration; every submodule's mode is restored after.

    ``model`` may be any callable; only an ``nn.Module`` has modes to switch.
    """
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        for module, training in modes:
            module.training = training
