"""``stochamort labels``: label a user's game over inputs from a file, here or on a Ray cluster."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stochamort.distributed.ray_executor import RayExecutor
from stochamort.errors import InvalidArgumentError, StochamortError
from stochamort.executors import Executor
from stochamort.games.base import Game
from stochamort.games.model import MaskedModel
from stochamort.labels import LabelStore, generate_labels
from stochamort.oracles import Oracle, oracle_from_settings
from stochamort.oracles.base import retold

__all__ = ["LabelsJob", "load_game", "oracle_from_name", "run_labels_job"]


#: The command's flags for the arguments errors name.
FLAGS = {
    "address": "--ray-address", "num_workers": "--workers", "num_cpus": "--num-cpus", "num_gpus": "--num-gpus",
    "x": "--inputs", "directory": "--out", "seed": "--seed", "chunk_size": "--chunk-size", "budget": "--budget",
}


def load_game(spec: str) -> Any:
    """The game source named ``"package.module:name"``.

    ``name`` is a :class:`~stochamort.games.MaskedModel` or :class:`~stochamort.games.Game`, or a
    function of no arguments that returns one, or returns a factory ``(start, stop) -> Game``.

    Raises:
        InvalidArgumentError: the module or name cannot be found, or is not a game source
            (the message starts with ``--game``).
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise InvalidArgumentError(f"--game: expected 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise InvalidArgumentError(f"--game: cannot import {module_name!r} ({err}); is it on PYTHONPATH?") from err
    try:
        target = getattr(module, attribute)
    except AttributeError as err:
        raise InvalidArgumentError(f"--game: module {module_name!r} has no attribute {attribute!r}") from err
    if isinstance(target, (MaskedModel, Game)):
        return target
    if not callable(target):
        raise InvalidArgumentError(f"--game: {spec} is a {type(target).__name__}, not a MaskedModel, Game or function")
    game = target()
    if not isinstance(game, (MaskedModel, Game)) and not callable(game):
        raise InvalidArgumentError(
            f"--game: {spec}() returned a {type(game).__name__}; it must return a MaskedModel, a Game or a "
            f"factory (start, stop) -> Game"
        )
    return game


def oracle_from_name(name: str, budget: int | None) -> Oracle:
    """An oracle from its class name (any case, e.g. ``kernelshap``) and budget, or from JSON settings
    (``{"oracle": "KernelSHAP", "budget": 512, ...}``).

    Raises:
        InvalidArgumentError: an unknown name or bad settings (the message starts with ``--oracle``).
    """
    try:
        if name.lstrip().startswith("{"):
            return oracle_from_settings(json.loads(name))
        from stochamort import oracles

        classes = {cls.lower(): cls for cls in oracles.__all__ if cls not in ("Oracle", "StoppingRule", "oracle_from_settings")}
        cls_name = classes.get(name.replace("-", "").replace("_", "").lower())
        if cls_name is None:
            raise InvalidArgumentError(f"unknown oracle {name!r}; expected one of {sorted(classes)} or JSON settings")
        settings: dict[str, Any] = {"oracle": cls_name}
        if budget is not None:
            settings["budget"] = budget
        elif "budget" in _required_fields(getattr(oracles, cls_name)):
            raise InvalidArgumentError(f"--budget: {cls_name} needs a budget (game evaluations per point), e.g. --budget 512")
        return oracle_from_settings(settings)
    except InvalidArgumentError as err:
        if str(err).startswith("--"):
            raise
        raise InvalidArgumentError(f"--oracle: {err}") from err
    except json.JSONDecodeError as err:
        raise InvalidArgumentError(f"--oracle: {err}") from err


def _required_fields(cls: type) -> set[str]:
    """The fields of an oracle's dataclass that have no default."""
    return {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}


@dataclass
class LabelsJob:
    """What ``stochamort labels`` runs (see :func:`run_labels_job`)."""

    game: str
    inputs: str
    oracle: str
    out: str
    budget: int | None = None
    seed: int = 0
    chunk_size: int = 256
    ray_address: str | None = None
    workers: int | None = None
    num_cpus: int = 1
    num_gpus: float = 0.0
    progress: bool = True


def _executor(job: LabelsJob) -> Executor | None:
    if job.ray_address is None:
        if job.workers is not None or job.num_gpus:
            raise InvalidArgumentError("--workers: --workers and --num-gpus need --ray-address (local, auto or host:port)")
        return None
    # Workers started here import the game's module from this directory, as this process does.
    path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)
    return RayExecutor(
        job.ray_address, num_workers=job.workers, num_cpus=job.num_cpus, num_gpus=job.num_gpus,
        init_kwargs={"runtime_env": {"env_vars": {"PYTHONPATH": path}}},
    )


def run_labels_job(job: LabelsJob) -> LabelStore:
    """Label every row of ``job.inputs`` (a ``.npy`` file) with the oracle into the store ``job.out``.

    Resumable like :func:`~stochamort.labels.generate_labels`: run the same command again to finish
    an interrupted job (finished chunks are kept; a finished job computes nothing).

    Raises:
        InvalidArgumentError: a bad option (named by its flag).
        LabelStoreError, ClusterConnectionError, DistributedError: see generate_labels and RayExecutor.
    """
    path = Path(job.inputs)
    if not path.is_file():
        raise InvalidArgumentError(f"--inputs: {path} is not a file")
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InvalidArgumentError(f"--inputs: {path} is not a .npy array ({err})") from err
    oracle = oracle_from_name(job.oracle, job.budget)
    game = load_game(job.game)
    try:
        executor = _executor(job)
        return generate_labels(game, x, oracle, job.out, seed=job.seed, chunk_size=job.chunk_size, progress=job.progress, executor=executor)
    except StochamortError as err:
        # Messages start with the argument's name; on the command line, name the flag instead.
        name, sep, rest = str(err).partition(":")
        if not sep or name not in FLAGS:
            raise
        raise retold(err, FLAGS[name] + ":" + rest, argument=FLAGS[name]) from err
