"""Benchmark: explaining 10 000 rows of a scikit-learn model, per example vs amortized.

What is measured
----------------
A ``GradientBoostingClassifier`` (100 trees of depth 3) on scikit-learn's breast-cancer data (30
features), explained with the interventional value function over 50 background rows (each
coalition costs 50 model rows). ``--rows`` rows to explain (10 000 by default) are made from
the dataset's rows with Gaussian jitter of 5 % of each feature's spread, so that they are new
inputs from the same distribution.

* **per example**: ``explainer.explain(rows, amortized=False)``, antithetic permutation
  sampling at ``--budget`` evaluations per point (the budget at which the per-example estimate
  is about as accurate as the amortizer, measured below);
* **amortized**: ``AmortizedExplainer.fit`` on ``--train`` rows (labels with the default
  oracle, then training: a one-off cost) and ``explainer.explain(rows)`` (one forward pass and
  v(∅), v(all) per row).

Accuracy is measured on 100 of the rows against a large-budget per-example reference
(``Permutation(budget=--reference-budget)``). The table prints seconds, the speed-up of
amortized explanation over per-example explanation (without and with the one-off fit), and the
error of each against the reference. Results go to ``bench-results/bench_explainer.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier

from stochamort.amortize import AmortizedExplainer, evaluate_attributions
from stochamort.games import MarginalMasker
from stochamort.oracles import Permutation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows to explain")
    parser.add_argument("--train", type=int, default=2000, help="rows to fit the amortizer on")
    parser.add_argument("--budget", type=int, default=0, help="per-example budget (0: the default label oracle's)")
    parser.add_argument("--reference-budget", type=int, default=4000)
    parser.add_argument("--background", type=int, default=50)
    parser.add_argument("--output", default="bench-results")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    progress = not args.no_progress

    data = load_breast_cancer()
    x, y = data.data, data.target
    model = GradientBoostingClassifier(random_state=0).fit(x, y)
    rng = np.random.default_rng(0)

    def jittered(n: int) -> np.ndarray:
        rows = x[rng.integers(0, len(x), n)]
        return rows + 0.05 * x.std(axis=0) * rng.standard_normal(rows.shape)

    background = x[rng.choice(len(x), args.background, replace=False)]
    train, explain_rows = jittered(args.train), jittered(args.rows)
    explainer = AmortizedExplainer(model, MarginalMasker(background), feature_names=list(data.feature_names))

    began = time.perf_counter()
    explainer.fit(train, progress=progress)
    fit_seconds = time.perf_counter() - began

    began = time.perf_counter()
    amortized = explainer.explain(explain_rows)
    amortized_seconds = time.perf_counter() - began

    oracle = Permutation(args.budget) if args.budget else explainer.oracle
    began = time.perf_counter()
    per_example = explainer.explain(explain_rows, amortized=False, oracle=oracle, progress=progress)
    per_example_seconds = time.perf_counter() - began

    scored = explain_rows[:100]
    reference = explainer.explain(scored, amortized=False, oracle=Permutation(args.reference_budget), seed=1, progress=progress)
    errors = {
        "amortized": evaluate_attributions(amortized.values[:100], reference.values),
        "per_example": evaluate_attributions(per_example.values[:100], reference.values),
    }
    result = {
        "rows": args.rows,
        "train_rows": args.train,
        "label_oracle": explainer.oracle.settings() if explainer.oracle else None,
        "per_example_oracle": oracle.settings() if oracle else None,
        "seconds": {"fit": fit_seconds, "amortized_explain": amortized_seconds, "per_example_explain": per_example_seconds},
        "speedup_explain_only": per_example_seconds / amortized_seconds,
        "speedup_including_fit": per_example_seconds / (amortized_seconds + fit_seconds),
        "errors_vs_reference": errors,
    }
    print(f"\nexplaining {args.rows} rows of a GradientBoostingClassifier (30 features, {args.background} background rows)")
    print(f"{'path':<34}{'seconds':>10}{'sq. error':>11}{'pearson':>9}{'spearman':>9}")
    print(f"{'per example (' + str(oracle.settings()['budget']) + ' evals/pt)':<34}{per_example_seconds:>10.2f}"
          f"{errors['per_example']['squared_error']:>11.3e}{errors['per_example']['pearson']:>9.3f}{errors['per_example']['spearman']:>9.3f}")
    print(f"{'amortized: explain':<34}{amortized_seconds:>10.2f}{errors['amortized']['squared_error']:>11.3e}"
          f"{errors['amortized']['pearson']:>9.3f}{errors['amortized']['spearman']:>9.3f}")
    print(f"{'amortized: fit (once, ' + str(args.train) + ' rows)':<34}{fit_seconds:>10.2f}")
    print(f"per example / amortized: {result['speedup_explain_only']:.1f}x (explain only), "
          f"{result['speedup_including_fit']:.1f}x (fit included)")
    out = Path(args.output)
    out.mkdir(exist_ok=True)
    (out / "bench_explainer.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
