"""Labels per second: in this process against a local Ray cluster with 1 and 2 workers.

What is measured
----------------
A MaskedModel of a float32 MLP (32 features → 256 → 256 → 10 outputs, baseline masking) is
labelled with KernelSHAP (2 048 evaluations per point) over 2 048 points in chunks of 32: by
``generate_labels`` in this process (torch on one thread and on every core), and with
``executor=RayExecutor(num_workers=k, num_cpus=1)`` for k = 1 and 2 on a local cluster of as many
CPUs as this machine has. Cluster start-up is excluded (it is paid once per session); the workers'
start (each imports torch and deserialises the game once) is included. Each store is checked to be
byte-identical to the in-process one. A row with ``ThreadedExecutor`` (one chunk per core on
threads of this process, torch on one thread each) shows the threaded pipeline on a CPU. Prints labels/s and the ratios to in-process.

Results go to ``bench-results/bench_ray_labels.json`` (``--output`` to change it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "bench-results" / "bench_ray_labels.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2048)
    parser.add_argument("--budget", type=int, default=2048)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    import ray
    import torch

    from stochamort.distributed import RayExecutor
    from stochamort.executors import ThreadedExecutor
    from stochamort.games import BaselineMasker, MaskedModel
    from stochamort.labels import generate_labels
    from stochamort.oracles import KernelSHAP

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    game = MaskedModel(model, BaselineMasker(), output="logits")
    x = torch.randn(args.points, 32, generator=torch.Generator().manual_seed(1))
    oracle = KernelSHAP(budget=args.budget)
    cores = os.cpu_count() or 1
    rows: dict[str, float] = {}

    def timed(name: str, root: Path, **kwargs: object) -> float:
        started = time.perf_counter()
        generate_labels(game, x, oracle, root, seed=0, chunk_size=32, progress=False, **kwargs)  # type: ignore[arg-type]
        rate = args.points / (time.perf_counter() - started)
        rows[name] = rate
        print(f"{name:<34} {rate:9.1f} labels/s", flush=True)
        return rate

    def chunk_bytes(root: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(root.glob("chunk-*.npz"))}

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        torch.set_num_threads(1)
        timed("in-process, 1 torch thread", base / "one")
        timed(f"{cores} chunk threads x 1 torch thread", base / "threads", executor=ThreadedExecutor(cores))
        torch.set_num_threads(cores)
        timed(f"in-process, {cores} torch threads", base / "all")
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        identical = chunk_bytes(base / "threads") == chunk_bytes(base / "one")
        try:
            for k in sorted({1, min(2, cores)}):
                root = base / f"ray{k}"
                timed(f"Ray, {k} worker(s) x 1 CPU", root, executor=RayExecutor(num_workers=k, num_cpus=1))
                identical &= chunk_bytes(root) == chunk_bytes(base / "one")
        finally:
            ray.shutdown()
    reference = rows["in-process, 1 torch thread"]
    print("\nratio to in-process (1 thread):")
    for name, rate in rows.items():
        print(f"  {name:<34} {rate / reference:5.2f}x")
    print(f"stores byte-identical to in-process: {identical}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"labels_per_second": rows, "cores": cores, "points": args.points,
                                       "budget": args.budget, "byte_identical": identical}, indent=2))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
