"""Trains a small amortizer on fixed data, as one process or as a torchrun rank; rank 0 writes
the predictions and the history to ``argv[1]`` (used by test_ddp.py).

Options: ``--ddp`` (under torchrun), ``--resume PATH`` (the training state file),
``--delay SECONDS`` (a pause before each forward pass, so that a test can kill the run mid-way;
the pause is a hook, not part of the model, and changes no number)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from stochamort.amortize import MLPAmortizer, TrainConfig, train_amortizer


def data() -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=generator)
    truth = torch.tanh(x[:, :, None] * torch.linspace(-1, 1, 2))  # (n, 6 players, 2 outputs)
    labels = truth + 0.3 * torch.randn(truth.shape, generator=generator)
    return x[:250], labels[:250], x[250:], labels[250:]


def train(config: TrainConfig, delay: float = 0.0) -> tuple[np.ndarray, dict[str, list[float]], int]:
    torch.manual_seed(1)
    model = MLPAmortizer(6, 6, 2, hidden=(32, 32))
    if delay:
        model.register_forward_pre_hook(lambda module, args: time.sleep(delay))
    x, labels, x_val, labels_val = data()
    result = train_amortizer(model, x, labels, x_val=x_val, labels_val=labels_val, config=config)
    return result.predict(x_val), result.history.as_dict(), result.best_epoch


CONFIG = TrainConfig(epochs=12, batch_size=32, lr=3e-3, seed=0, progress=False)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--ddp", action="store_true")
    parser.add_argument("--resume")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    if args.ddp:
        torch.distributed.init_process_group("gloo")
    torch.set_num_threads(1)
    predictions, history, best = train(CONFIG.replace(resume_path=args.resume), args.delay)
    rank = torch.distributed.get_rank() if args.ddp else 0
    np.save(args.out / f"predictions-{rank}.npy", predictions)
    (args.out / f"history-{rank}.json").write_text(json.dumps({"history": history, "best_epoch": best}))
    if args.ddp:
        torch.distributed.destroy_process_group()
