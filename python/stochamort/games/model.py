"""Games from a torch model: v_x(S) = output of the model on x with the players outside S masked."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, Literal, Union

import time

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from stochamort._modes import evaluation
from stochamort.errors import DeviceMismatchError, InvalidArgumentError, ShapeError
from stochamort.games.base import Game
from stochamort.games.maskers import Masker

__all__ = ["MaskedModel", "ModelGame", "OutputSpec"]

OutputSpec = Union[Literal["probabilities", "logits", "log_odds"], Callable[[Tensor], Tensor]]
"""How the model's raw output (assumed to be logits, or a regression output) becomes the game's
value: ``"logits"`` as is; ``"probabilities"`` through softmax (sigmoid for a single output);
``"log_odds"`` as log(p / (1 − p)) of those probabilities; or any callable on the output tensor."""

_EPS = 1e-7


def _transform(output: OutputSpec) -> Callable[[Tensor], Tensor]:
    if callable(output):
        return output
    if output == "logits":
        return lambda raw: raw
    if output in ("probabilities", "log_odds"):

        def probabilities(raw: Tensor) -> Tensor:
            return torch.sigmoid(raw) if raw.shape[1] == 1 else torch.softmax(raw, dim=1)

        if output == "probabilities":
            return probabilities
        return lambda raw: torch.logit(probabilities(raw.double()), eps=_EPS)
    raise InvalidArgumentError(
        f"output: expected 'probabilities', 'logits', 'log_odds' or a callable, got {output!r}"
    )


def raw_output(out: Any) -> Tensor:
    """The output tensor of a model call, as ``(n, n_outputs)``; accepts Hugging Face outputs."""
    if hasattr(out, "logits"):
        out = out.logits
    elif isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, Tensor):
        raise InvalidArgumentError(f"model: must return a tensor, got {type(out).__name__}")
    tensor: Tensor = out[:, None] if out.ndim == 1 else out
    if tensor.ndim != 2:
        raise ShapeError(f"model: outputs must be (n,) or (n, n_outputs), got shape {tuple(tensor.shape)}")
    return tensor


def model_device(model: nn.Module | Callable[..., Any], device: Any) -> torch.device:
    """The device to evaluate ``model`` on: ``device`` if given (checked against the parameters), else theirs, else CPU."""
    parameters = list(model.parameters()) if isinstance(model, nn.Module) else []
    parameter_device = parameters[0].device if parameters else None
    if device is not None:
        requested = torch.device(device)
        if parameter_device is not None and parameter_device.type != requested.type:
            raise DeviceMismatchError(f"device: {requested} was requested but the model's parameters are on {parameter_device}")
        return requested
    return parameter_device if parameter_device is not None else torch.device("cpu")


def _parameter_dtype(model: Any) -> torch.dtype:
    """The dtype of the model's floating parameters (the default dtype if it has none)."""
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            if parameter.dtype.is_floating_point:
                return parameter.dtype
    return torch.get_default_dtype()


def _group_index(groups: Sequence[Sequence[int]], n_features: int) -> Tensor:
    """For each feature, the player (group) it belongs to; the groups must partition the features."""
    owner = torch.full((n_features,), -1, dtype=torch.long)
    for g, members in enumerate(groups):
        for f in members:
            if not 0 <= int(f) < n_features:
                raise InvalidArgumentError(f"groups: feature {f} of group {g} is outside 0..{n_features - 1}")
            if owner[int(f)] >= 0:
                raise InvalidArgumentError(f"groups: feature {f} is in groups {int(owner[int(f)])} and {g}")
            owner[int(f)] = g
    missing = (owner < 0).nonzero().flatten().tolist()
    if missing:
        raise InvalidArgumentError(f"groups: must cover every feature; {missing[:10]} are in no group")
    return owner


class MaskedModel:
    """A value-function family: the model's output on an input with absent players masked.

    Args:
        model: a torch module (or any callable on tensors) returning ``(n, n_outputs)`` or ``(n,)``.
        masker: how absent players are masked (:class:`~stochamort.games.BaselineMasker`, ...).
        output: how raw outputs become values (see :data:`OutputSpec`); all outputs are valued at once.
        batch_size: model inputs per forward pass.
        device: where the model runs (default: the device of its parameters, else CPU).
        groups: optional partition of the masker's features into players (a list of index lists).

    Bind it to inputs with :meth:`bind` to get a :class:`ModelGame`.
    """

    def __init__(
        self,
        model: nn.Module | Callable[..., Any],
        masker: Masker,
        output: OutputSpec = "probabilities",
        batch_size: int = 4096,
        device: Any = None,
        groups: Sequence[Sequence[int]] | None = None,
    ) -> None:
        if not callable(model):
            raise InvalidArgumentError(f"model: must be callable, got {type(model).__name__}")
        if not isinstance(masker, Masker):
            raise InvalidArgumentError(f"masker: must be a Masker, got {type(masker).__name__}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size: must be a positive integer, got {batch_size!r}")
        self.model = model
        self.masker = masker
        self.transform = _transform(output)
        self.batch_size = batch_size
        self.device = model_device(model, device)
        self.groups = groups

    def bind(self, x: Any) -> ModelGame:
        """The game for inputs ``x`` ``(n_points, *input_shape)`` (tensor on the model's device, or array)."""
        return ModelGame(self, x)


class ModelGame(Game):
    """A :class:`MaskedModel` bound to a batch of inputs; evaluates coalitions in large batches.

    Masks go to the device once per :meth:`evaluate` call; inputs are formed there by the masker
    and passed through the model ``batch_size`` at a time, under ``torch.inference_mode`` and in
    evaluation mode. Values come back as float64 numpy arrays.
    """

    def __init__(self, family: MaskedModel, x: Any) -> None:
        device = family.device
        if isinstance(x, Tensor):
            if x.device != device:
                raise DeviceMismatchError(f"x: lives on {x.device} but the model is on {device}; move it first")
        else:
            array = np.asarray(x)
            dtype = torch.long if array.dtype.kind in "iu" else _parameter_dtype(family.model)
            x = torch.as_tensor(array, dtype=dtype, device=device)
        if x.ndim < 2:
            raise ShapeError(f"x: expected (n_points, *input_shape), got shape {tuple(x.shape)}")
        self.family = family
        self.x = x
        # Each game prepares its own copy: the masker's prepared tensors (baseline, background, patch
        # grid) fit these inputs, and binding other inputs later must not change this game.
        self.masker = copy.copy(family.masker)
        self.masker.prepare(x)
        n_features = self.masker.n_features(tuple(x.shape[1:]))
        self._owner = None if family.groups is None else _group_index(family.groups, n_features).to(device)
        self._n_players = n_features if family.groups is None else len(family.groups)
        self.forward_seconds = 0.0
        self.n_forward_inputs = 0
        probe = self._values(
            torch.zeros(1, dtype=torch.long, device=device), torch.ones((1, n_features), dtype=torch.bool, device=device)
        )
        self._n_outputs = int(probe.shape[1])

    @property
    def n_points(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_players(self) -> int:
        return self._n_players

    @property
    def n_outputs(self) -> int:
        return self._n_outputs

    def _values(self, rows: Tensor, feature_masks: Tensor) -> Tensor:
        """Values ``(R, n_outputs)`` of inputs ``x[rows]`` masked by ``feature_masks``, in batches.

        ``forward_seconds`` accumulates the time in the model and its output transform.
        """
        family = self.family
        k = self.masker.expansions
        rows_per_batch = max(1, family.batch_size // k)
        outputs = []
        with evaluation(family.model):
            for start in range(0, rows.shape[0], rows_per_batch):
                stop = start + rows_per_batch
                args = self.masker.apply(self.x[rows[start:stop]], feature_masks[start:stop])
                began = time.perf_counter()
                values = family.transform(raw_output(family.model(*args)))
                if values.device.type == "cuda":
                    torch.cuda.synchronize(values.device)
                self.forward_seconds += time.perf_counter() - began
                self.n_forward_inputs += int(args[0].shape[0])
                values = values.to(torch.float64)
                outputs.append(values if k == 1 else values.reshape(-1, k, values.shape[1]).mean(dim=1))
        return torch.cat(outputs)

    def _evaluate(self, masks: NDArray[np.bool_], points: NDArray[np.int64]) -> NDArray[np.float64]:
        n, n_coalitions, _ = masks.shape
        device = self.family.device
        player_masks = torch.from_numpy(np.ascontiguousarray(masks)).to(device).reshape(n * n_coalitions, -1)
        feature_masks = player_masks if self._owner is None else player_masks[:, self._owner]
        rows = torch.from_numpy(points).to(device).repeat_interleave(n_coalitions)
        values = self._values(rows, feature_masks)
        return values.reshape(n, n_coalitions, -1).cpu().numpy()
