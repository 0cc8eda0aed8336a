"""The ``stochamort`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stochamort", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="end-to-end run of the estimators on a small model, against exact values",
        description="Estimate Shapley and Banzhaf values of a small neural network for a batch of points "
        "with every estimator at a ladder of budgets, and compare with exact enumeration.",
    )
    demo.add_argument("--points", type=int, default=200, help="number of points to explain (default 200)")
    demo.add_argument("--players", type=int, default=12, help="number of features, at most 16 (default 12)")
    demo.add_argument(
        "--budgets",
        type=int,
        nargs="+",
        default=[64, 256, 1024, 4096],
        help="game evaluations per point (default 64 256 1024 4096)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--quick", action="store_true", help="a reduced run for smoke tests")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    from stochamort.errors import StochamortError

    try:
        if args.command == "demo":
            from stochamort.demo import run_demo

            if args.quick:
                args.points, args.budgets = min(args.points, 40), [64, 256]
            run_demo(n_points=args.points, n_players=args.players, budgets=args.budgets, seed=args.seed)
    except StochamortError as err:
        print(f"stochamort: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
