"""FastSHAP (Jethani et al., ICLR 2022): amortization trained on sampled coalitions, without labels.

Where stochastic amortization regresses the network on noisy attribution labels ã(x), FastSHAP
fits it to the game itself: for coalitions z drawn from the Shapley kernel p(z) ∝ (d − 1) /
(C(d, |z|) |z| (d − |z|)) (sizes 1 … d − 1),

    L(θ) = E_x E_{z ~ p} ( v_x(z) − v_x(∅) − zᵀ φ(x; θ) )²,   with Σ_i φ_i(x; θ) = v_x(all) − v_x(∅),

whose minimiser under the efficiency constraint is the Shapley value (the KernelSHAP objective,
amortized over x). The constraint is the additive efficiency normalization of the network's
output, so FastSHAP needs ``TrainConfig(efficiency=True)``.

:func:`train_amortizer_fastshap` uses the same loop, configuration and result as
:func:`~stochamort.amortize.train_amortizer`; the two differ only in their training signal (see
:mod:`stochamort.amortize.objectives`). Every epoch draws ``n_samples`` fresh coalitions per
training point (``resample=True``, the original method) or reuses the first draw
(``resample=False``: a fixed budget of game evaluations, for comparisons at equal evaluations with
labels of that budget). :attr:`TrainResult.n_evaluations` counts the game evaluations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from stochamort._checks import check_bool, check_int
from stochamort.amortize.amortizer import TrainResult
from stochamort.amortize.config import TrainConfig
from stochamort.amortize.data import float_dtype
from stochamort.amortize.loop import TrainingData, fit
from stochamort.amortize.objectives import CoalitionTargets
from stochamort.amortize.standardization import training_inputs
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.games import Game
from stochamort.sampling import sample_coalitions

__all__ = ["FastSHAP", "SampledCoalitions", "train_amortizer_fastshap"]

#: Bool mask bytes per chunk of points sampled and evaluated at once (bounds host memory).
_CHUNK_MASK_BYTES = 1 << 24
_TRAIN, _VALIDATION = 0, 1


@dataclass(frozen=True)
class FastSHAP:
    """The FastSHAP training signal's settings.

    Args:
        n_samples: coalitions per point and draw (Jethani et al. use 32); even when ``paired``.
        paired: draw each coalition with its complement (paired sampling: lower variance, and
            the default of the original method).
        resample: draw fresh coalitions every epoch (the original method); False reuses the
            first draw, so training costs exactly ``n_samples`` game evaluations per point (plus
            v(∅) and v(all)).
    """

    n_samples: int = 32
    paired: bool = True
    resample: bool = True

    def __post_init__(self) -> None:
        check_int("n_samples", self.n_samples, 1)
        check_bool("paired", self.paired)
        check_bool("resample", self.resample)
        if self.paired and self.n_samples % 2:
            raise InvalidArgumentError(f"n_samples: must be even with paired=True, got {self.n_samples}")
        object.__setattr__(self, "n_samples", int(self.n_samples))
        object.__setattr__(self, "paired", bool(self.paired))
        object.__setattr__(self, "resample", bool(self.resample))

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable settings (``FastSHAP.from_settings`` rebuilds the object)."""
        return {"objective": "fastshap", **asdict(self)}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> FastSHAP:
        """The objective whose :meth:`settings` are ``settings``."""
        if settings.get("objective") != "fastshap":
            raise InvalidArgumentError(f"settings: not FastSHAP settings: {dict(settings)!r}")
        return cls(**{k: v for k, v in settings.items() if k != "objective"})


def _epoch_seed(seed: int, split: int, epoch: int) -> int:
    """An independent coalition stream per (training seed, split, epoch)."""
    return int(np.random.SeedSequence([seed, 0xFA57, split, epoch]).generate_state(1, np.uint64)[0])


class SampledCoalitions:
    """Coalitions from the Shapley kernel and their values for every point of ``game``, as
    :class:`~stochamort.amortize.objectives.CoalitionTargets`: ``SampledCoalitions(...)(epoch)``.

    Points are sampled and evaluated in chunks (at most 16 MB of masks each); a point's draws
    depend only on the seed, the epoch and the point's index, not on the chunking.

    Args:
        game: the game bound to the points, in order.
        null: v(∅) per point ``(n, o)``, subtracted from the values.
        objective: the FastSHAP settings.
        seed: the training seed; ``split`` separates the training and validation streams.
        dtype: the dtype of the values (the model's).
    """

    def __init__(self, game: Game, null: np.ndarray[Any, Any], objective: FastSHAP, seed: int, split: int, dtype: torch.dtype) -> None:
        self.game, self.null, self.objective = game, null, objective
        self.seed, self.split, self.dtype = seed, split, dtype
        #: Game evaluations spent so far (coalitions only; v(∅) and v(all) are counted by the caller).
        self.n_evaluations = 0
        self._first: CoalitionTargets | None = None

    def __call__(self, epoch: int) -> CoalitionTargets:
        if self._first is not None and not self.objective.resample:
            return self._first
        targets = self.draw(_epoch_seed(self.seed, self.split, epoch))
        if self._first is None:
            self._first = targets
        return targets

    def draw(self, seed: int) -> CoalitionTargets:
        """One draw of ``n_samples`` coalitions per point with stream ``seed``, evaluated."""
        n, d, m = self.game.n_points, self.game.n_players, self.objective.n_samples
        chunk = max(1, _CHUNK_MASK_BYTES // (m * d))
        masks, values = [], []
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            block = sample_coalitions(stop - start, m, d, distribution="shapley", paired=self.objective.paired, seed=seed, point_offset=start)
            value = self.game.evaluate(block, np.arange(start, stop)) - self.null[start:stop, None, :]
            masks.append(torch.from_numpy(block))
            values.append(torch.from_numpy(value).to(self.dtype))
        self.n_evaluations += n * m
        return CoalitionTargets(torch.cat(masks), torch.cat(values))


def _check_game(name: str, game: Any, n: int) -> Game:
    if not isinstance(game, Game):
        raise InvalidArgumentError(f"{name}: must be a stochamort.games.Game bound to the inputs (e.g. explainer.game(x)), got {type(game).__name__}")
    if game.n_points != n:
        raise ShapeError(f"{name}: is bound to {game.n_points} points but its inputs have {n}")
    if game.n_players < 2:
        raise InvalidArgumentError(f"{name}: FastSHAP needs at least 2 players, the game has {game.n_players}")
    return game


def train_amortizer_fastshap(
    model: nn.Module,
    x_train: Any,
    game_train: Game,
    *,
    x_val: Any = None,
    game_val: Game | None = None,
    objective: FastSHAP | None = None,
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train ``model`` to predict Shapley values with the FastSHAP objective (no labels).

    Loss: for a batch of B points with m sampled coalitions each, (1/B) Σ_b (1/m) Σ_j Σ_k
    (s·(v_b(z_j)_k − v_b(∅)_k) − z_jᵀ φ_b,k)², φ the efficiency-normalised scaled prediction
    (s: ``config.target_scale``; ``"auto"`` puts the attributions near unit scale). The
    optimiser, schedule, checkpoint selection on the held-out loss (here on coalitions drawn
    once for the validation points) and early stopping are :func:`train_amortizer`'s.

    Args:
        model: network mapping inputs ``(n, *shape)`` to ``(n, n_players, n_outputs)``; trained
            in place.
        x_train: the training inputs ``(n, *shape)`` (as for :func:`train_amortizer`).
        game_train: the explained game bound to those inputs, in order (e.g.
            ``explainer.game(x_train)``, or a :class:`~stochamort.games.ModelGame`).
        x_val, game_val: held-out inputs and their game, for checkpoint selection and early
            stopping (both or neither).
        objective: the sampling settings (default ``FastSHAP()``: 32 paired coalitions per
            point, fresh every epoch).
        config: the training settings (default ``TrainConfig(efficiency=True)``); must have
            ``efficiency=True``, the constraint that makes the objective's minimiser the Shapley
            value.

    Returns:
        A :class:`~stochamort.amortize.TrainResult`; ``n_evaluations`` counts every game
        evaluation (coalitions of all epochs, the validation draw, v(∅) and v(all)), ``objective``
        records the settings. Time spent evaluating the game counts in ``train_seconds``, not in
        ``train_flops``.

    Raises:
        InvalidArgumentError: bad arguments, or ``config.efficiency`` False.
        ShapeError: inputs, games or the model's output disagree in shape.
        NonFiniteError: NaN or infinite inputs or game values, or a diverging loss.
    """
    if not isinstance(model, nn.Module):
        raise InvalidArgumentError(f"model: must be a torch.nn.Module, got {type(model).__name__}")
    objective = FastSHAP() if objective is None else objective
    if not isinstance(objective, FastSHAP):
        raise InvalidArgumentError(f"objective: must be a FastSHAP or None, got {type(objective).__name__}")
    config = TrainConfig(efficiency=True) if config is None else config
    if not isinstance(config, TrainConfig):
        raise InvalidArgumentError(f"config: must be a TrainConfig or None, got {type(config).__name__}")
    if not config.efficiency:
        raise InvalidArgumentError(
            "config: FastSHAP needs TrainConfig(efficiency=True); without the efficiency constraint its objective's minimiser is not the Shapley value"
        )
    if (x_val is None) != (game_val is None):
        raise InvalidArgumentError(f"{'game_val' if game_val is None else 'x_val'}: x_val and game_val must be given together")
    dtype = float_dtype(model)
    x, xv, standardization = training_inputs(config, x_train, x_val, dtype)
    game = _check_game("game_train", game_train, int(x.shape[0]))
    null, grand = game.endpoints()
    n_evaluations = 2 * game.n_points
    sampled = SampledCoalitions(game, null, objective, config.seed, _TRAIN, dtype)
    val_targets, gaps_val = None, None
    if xv is not None:
        val_game = _check_game("game_val", game_val, int(xv.shape[0]))
        if (val_game.n_players, val_game.n_outputs) != (game.n_players, game.n_outputs):
            raise ShapeError(
                f"game_val: has {val_game.n_players} players and {val_game.n_outputs} outputs, game_train {game.n_players} and {game.n_outputs}"
            )
        val_null, val_grand = val_game.endpoints()
        validation = SampledCoalitions(val_game, val_null, FastSHAP(objective.n_samples, objective.paired, False), config.seed, _VALIDATION, dtype)
        val_targets, gaps_val = validation(0), val_grand - val_null
        n_evaluations += 2 * val_game.n_points + validation.n_evaluations
    data = TrainingData.check(x, config, dtype, (xv, val_targets), (grand - null, gaps_val))
    result = fit(model, data, sampled, config, standardization)
    result.n_evaluations = n_evaluations + sampled.n_evaluations
    result.objective = objective.settings()
    return result
