"""Labels/s for a ViT-sized image game on a GPU, chunk by chunk against two chunks pipelined, and
the fraction of the time the GPU is busy.

What is measured
----------------
A ViT built from ``torch.nn`` (224×224 images, 16×16 patches, so 196 players; ``--size base``:
12 layers, width 768, 12 heads, 86 M parameters, as ViT-B/16; ``small``: width 384, 6 heads) in
bfloat16 on the GPU, masked by ``ImagePatchMasker`` on the device, is labelled with
``KernelSHAP(budget=--budget)`` over ``--points`` random images by ``generate_labels`` twice:

* ``serial``: ``executor=InProcessExecutor()``, one chunk after another (the GPU waits while the
  CPU samples the next chunk's coalitions and solves the last one's estimates);
* ``pipelined``: the default for a CUDA model, ``ThreadedExecutor(2)`` (one chunk's CPU work
  overlaps the other's forward pass).

GPU busy fraction: ``nvidia-smi --query-gpu=utilization.gpu`` sampled every 100 ms during each run
(the share of each sample period in which a kernel was running), averaged. The aim is ≥ 90 %.
The two stores are checked to hold the same labels. Without CUDA it runs a tiny ViT on the CPU
(8 points, budget 512), to check the script itself; the numbers then mean nothing.

Results go to ``bench-results/bench_gpu_labels.json`` (``--output`` to change it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "bench-results" / "bench_gpu_labels.json"
SIZES = {"base": (768, 12, 12), "small": (384, 6, 12), "tiny": (64, 2, 2)}


def vit(width: int, heads: int, layers: int, image: int, patch: int, classes: int) -> Any:
    import torch
    from torch import nn

    class ViT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Conv2d(3, width, patch, stride=patch)
            self.position = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, width) * 0.02)
            self.cls = nn.Parameter(torch.zeros(1, 1, width))
            layer = nn.TransformerEncoderLayer(width, heads, 4 * width, activation="gelu", batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(width, classes)

        def forward(self, x: Any) -> Any:
            tokens = self.embed(x).flatten(2).transpose(1, 2)
            tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1) + self.position
            return self.head(self.encoder(tokens)[:, 0]).float()

    return ViT()


class Utilisation:
    """Samples nvidia-smi's GPU utilisation every 100 ms while in use."""

    def __enter__(self) -> Utilisation:
        self.samples: list[float] = []
        self._process = None
        if shutil.which("nvidia-smi"):
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "100", "-i", "0"],
                stdout=subprocess.PIPE, text=True,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            out, _ = self._process.communicate(timeout=10)
            self.samples = [float(line) for line in out.split() if line.strip().replace(".", "").isdigit()]

    @property
    def busy(self) -> float | None:
        return sum(self.samples) / len(self.samples) / 100 if self.samples else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="base")
    parser.add_argument("--points", type=int, default=128)
    parser.add_argument("--budget", type=int, default=1024)
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1024, help="masked images per forward pass")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from stochamort.executors import InProcessExecutor, ThreadedExecutor
    from stochamort.games import ImagePatchMasker, MaskedModel
    from stochamort.labels import generate_labels
    from stochamort.oracles import KernelSHAP

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda:
        print("no CUDA device: a tiny check run on the CPU; its numbers mean nothing")
        args.size, args.points, args.budget, args.chunk_size, args.batch_size = "tiny", 8, 512, 4, 256
    width, heads, layers = SIZES[args.size]
    torch.manual_seed(0)
    dtype = torch.bfloat16 if cuda else torch.float32
    model = vit(width, heads, layers, 224, 16, 1000).to(device=device, dtype=dtype).eval()
    game = MaskedModel(model, ImagePatchMasker(16), output="logits", batch_size=args.batch_size)
    x = torch.randn(args.points, 3, 224, 224, generator=torch.Generator().manual_seed(1)).to(device=device, dtype=dtype)
    oracle = KernelSHAP(budget=args.budget)
    print(f"ViT-{args.size} on {device}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, "
          f"196 players, KernelSHAP({args.budget}), {args.points} points in chunks of {args.chunk_size}")
    rows: dict[str, dict[str, Any]] = {}
    stores = {}
    with tempfile.TemporaryDirectory() as tmp:
        generate_labels(game, x[: args.chunk_size], oracle, Path(tmp) / "warm-up", chunk_size=args.chunk_size, progress=False)
        for name, executor in (("serial", InProcessExecutor()), ("pipelined", ThreadedExecutor(2))):
            if cuda:
                torch.cuda.synchronize()
            with Utilisation() as use:
                began = time.perf_counter()
                store = generate_labels(game, x, oracle, Path(tmp) / name, chunk_size=args.chunk_size, progress=False, executor=executor)
                seconds = time.perf_counter() - began
            stores[name] = store.load().values
            rows[name] = {"labels_per_second": args.points / seconds, "gpu_busy": use.busy}
            busy = "n/a" if use.busy is None else f"{use.busy:.0%}"
            print(f"{name:<10} {args.points / seconds:8.2f} labels/s   GPU busy {busy}", flush=True)
    identical = bool(np.array_equal(stores["serial"], stores["pipelined"]))
    ratio = rows["pipelined"]["labels_per_second"] / rows["serial"]["labels_per_second"]
    print(f"pipelined / serial: {ratio:.2f}x; same labels: {identical}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"device": str(device), "size": args.size, "points": args.points, "budget": args.budget,
                                       "chunk_size": args.chunk_size, "rows": rows, "same_labels": identical}, indent=2))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
