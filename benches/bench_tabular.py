"""Benchmark: where amortization pays on a real table (breast cancer, 30 features).

Runs ``stochamort.demo.tabular`` at its full size (``TabularConfig()``; about 8 minutes on 2
cores): ground truth by paired KernelSHAP at 16 384 evaluations on 100 held-out rows, six
per-example estimators at 128 … 1024 evaluations, stochastic amortization with permutation and
KernelSHAP labels and FastSHAP (at equal compute and as published) on 469 … 32 000 label points,
the compute ratio at equal error and the break-even number of explained points. Prints the table
and writes ``bench-results/tabular/{error_vs_compute.png, break_even.png, metrics.json}``.
``--quick`` is the smoke-test size.
"""

from __future__ import annotations

import argparse

from stochamort.demo.tabular import TabularConfig, run_tabular


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="bench-results/tabular", help="directory for the PNGs and the JSON")
    parser.add_argument("--quick", action="store_true", help="the reduced smoke-test run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = TabularConfig.quick() if args.quick else TabularConfig()
    config.output, config.seed = args.output, args.seed
    run_tabular(config, progress=False)


if __name__ == "__main__":
    main()
