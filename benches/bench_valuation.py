"""Benchmark of amortized data valuation: a value network trained on 5 noisy contributions per point
against plain Monte Carlo at 5, 10, 25 and 50 contributions per point.

What is measured
----------------
The ``stochamort value`` job (:func:`stochamort.valuation.job.run_valuation`, default settings:
4000 training points with 20 % flipped labels, validation accuracy of logistic regression,
distributional Data Shapley with |D| ~ U{10..100}) for each of ``--seeds`` seeds. Ground truth:
1000 contributions per point on 200 training points and 100 external points. The table gives, per
method, the Pearson correlation with ground truth on the training points and on the external
points (points the value network never saw; Monte Carlo values them with their own
contributions), and the AUROC of finding the flipped labels among all training points.

Target: the amortized values at 5 contributions per point correlate with ground truth at least as
well as Monte Carlo at 50 (10x the model fits). Results are written to
``bench-results/bench_valuation.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "bench-results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--quick", action="store_true", help="the reduced job of the test suite (no target check)")
    args = parser.parse_args(argv)
    from stochamort.valuation.job import ValuationConfig, run_valuation

    runs: list[dict[str, Any]] = []
    for seed in args.seeds:
        config = ValuationConfig.quick() if args.quick else ValuationConfig()
        config.seed, config.output = seed, str(OUTPUT / f"value-seed{seed}")
        runs.append(run_valuation(config, progress=False))

    print("\nAmortized data valuation vs plain Monte Carlo (Pearson with ground truth; mean over seeds "
          f"{', '.join(map(str, args.seeds))})")
    print(f"{'method':<22}{'fits/pt':>8}{'pearson':>9}{'(min)':>8}{'ext.pearson':>12}{'AUROC':>8}")
    table = []
    for i, first in enumerate(runs[0]["rows"]):
        rows = [run["rows"][i] for run in runs]
        pearson = [r["training_points"]["pearson"] for r in rows]
        external = [r["external_points"]["pearson"] for r in rows]
        auroc = [r["mislabel_detection"]["auroc"] for r in rows]
        name = f"{first['method']} @ {first['contributions_per_point']}"
        table.append({"method": name, "fits_per_point": first["fits_per_point"], "pearson": pearson,
                      "external_pearson": external, "auroc": auroc})
        print(f"{name:<22}{first['fits_per_point']:>8}{np.mean(pearson):>9.3f}{min(pearson):>8.3f}"
              f"{np.mean(external):>12.3f}{np.mean(auroc):>8.3f}")
    ratios = [run["monte_carlo_matching_amortized"]["fits_ratio"] for run in runs]
    print(f"Monte Carlo needs {np.mean(ratios):.1f}x the fits to match the amortizer's normalized error "
          f"(per seed: {', '.join(f'{r:.1f}' for r in ratios)})")
    amortized = next(t for t in table if t["method"].startswith("amortized"))
    mc50 = next((t for t in table if t["method"] == "monte carlo @ 50"), None)
    if mc50 is not None:
        met = all(a >= b for a, b in zip(amortized["pearson"], mc50["pearson"]))
        print(f"target: amortized @ 5 Pearson >= Monte Carlo @ 50 for every seed: {'met' if met else 'NOT met'}")
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "bench_valuation.json").write_text(json.dumps({"table": table, "fits_ratio": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
