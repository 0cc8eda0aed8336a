"""Games from a model: v_x(S) = output of the model on x with the players outside S masked.

The model is a torch module, a callable on tensors, or a numpy model
(:class:`~stochamort.games.NumpyModel`; scikit-learn-like estimators are wrapped automatically).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal, Union

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from stochamort._checks import as_numeric_array, table_columns
from stochamort._modes import evaluation
from stochamort.errors import DeviceMismatchError, InvalidArgumentError, ShapeError
from stochamort.games.base import Game
from stochamort.games.maskers import Masker, TokenMasker
from stochamort.games.numpy_model import NumpyModel, shorten

__all__ = ["MaskedModel", "ModelGame", "OutputSpec"]

OutputSpec = Union[Literal["probabilities", "identity", "logits", "log_odds"], Callable[[Tensor], Tensor]]
"""How the model's raw output becomes the game's value: ``"identity"`` as is (regression outputs,
scores, or probabilities the model already returns); ``"logits"`` the same, the name kept for
models whose outputs are logits; ``"probabilities"`` through softmax (sigmoid for a single
output), for models returning logits; ``"log_odds"`` as log(p / (1 − p)) of the probabilities:
those a numpy model returns itself (``predict_proba``), else those of softmax (sigmoid) of the
logits; or any callable on the output tensor ``(n, n_outputs)``."""

#: Transforms that turn logits into probabilities, so they must not meet probabilities.
PROBABILITY_TRANSFORMS = ("probabilities", "log_odds")
#: Points whose unmasked outputs are checked against the output transform when a game is bound.
PROBE_POINTS = 64
#: How far from 1 a row of probabilities may sum (float32 softmax rounding is far smaller).
PROBABILITY_SUM_TOLERANCE = 1e-4

ALREADY_PROBABILITIES = (
    "output: the model's outputs already look like probabilities (rows in [0, 1] summing to 1); applying softmax "
    "again would give wrong values. Pass output='identity' to use them as they are (for log-odds, a callable "
    "such as lambda p: torch.logit(p, eps=1e-7))"
)

_EPS = 1e-7


def returns_probabilities(model: Any) -> bool:
    """Whether a model declares that it returns probabilities (a numpy model's ``predict_proba``)."""
    return isinstance(model, NumpyModel) and model.output_kind == "probabilities"


def _transform(output: OutputSpec, given_probabilities: bool = False) -> Callable[[Tensor], Tensor]:
    if callable(output):
        return output
    if output == "log_odds" and given_probabilities:
        return lambda p: torch.logit(p.double(), eps=_EPS)
    if output in ("identity", "logits"):
        return lambda raw: raw
    if output in ("probabilities", "log_odds"):

        def probabilities(raw: Tensor) -> Tensor:
            return torch.sigmoid(raw) if raw.shape[1] == 1 else torch.softmax(raw, dim=1)

        if output == "probabilities":
            return probabilities
        return lambda raw: torch.logit(probabilities(raw.double()), eps=_EPS)
    raise InvalidArgumentError(
        f"output: expected 'probabilities', 'identity', 'logits', 'log_odds', a callable or None, got {output!r}"
    )


def resolve_output(model: Any, output: OutputSpec | None) -> OutputSpec:
    """The output spec to use: ``None`` means ``"identity"`` for numpy models, ``"probabilities"`` otherwise.

    Raises:
        InvalidArgumentError: naming ``output`` when softmax or sigmoid would be applied to a
            numpy model that returns probabilities.
    """
    if output is None:
        return "identity" if isinstance(model, NumpyModel) else "probabilities"
    if output == "probabilities" and returns_probabilities(model):
        raise InvalidArgumentError(ALREADY_PROBABILITIES)
    return output


def check_output_fits(output: OutputSpec, raw: NDArray[np.float64]) -> None:
    """Refuse (or, for one output, warn about) softmax/sigmoid on outputs that look like probabilities.

    Args:
        output: the resolved output spec.
        raw: the model's raw outputs ``(n, n_outputs)`` on some unmasked inputs.

    Raises:
        InvalidArgumentError: naming ``output`` for rows of two or more values in [0, 1] summing to 1.
    """
    if not isinstance(output, str) or output not in PROBABILITY_TRANSFORMS or raw.size == 0:
        return
    if raw.min() < 0.0 or raw.max() > 1.0:
        return
    if raw.shape[1] >= 2 and np.abs(raw.sum(axis=1) - 1.0).max() <= PROBABILITY_SUM_TOLERANCE:
        raise InvalidArgumentError(ALREADY_PROBABILITIES)
    if raw.shape[1] == 1:
        warnings.warn(
            f"output: the model's single output lies in [0, 1] on the first {raw.shape[0]} input(s), like a probability; "
            f"output={output!r} applies a sigmoid to it. Pass output='identity' if it already is a probability",
            UserWarning,
            stacklevel=4,
        )


def as_model(model: Any) -> nn.Module | NumpyModel | Callable[..., Any]:
    """``model`` itself, or a :class:`NumpyModel` for an estimator with ``predict_proba``/``predict``."""
    if isinstance(model, (nn.Module, NumpyModel)):
        return model
    if hasattr(model, "predict_proba") or hasattr(model, "predict"):
        return NumpyModel.from_estimator(model)
    if not callable(model):
        raise InvalidArgumentError(
            f"model: must be a torch module, a callable or an estimator with predict_proba or predict, got "
            f"{type(model).__name__}"
        )
    function: Callable[..., Any] = model
    return function


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
    """The device to evaluate ``model`` on: ``device`` if given (checked against the parameters), else theirs, else CPU.

    Raises:
        DeviceMismatchError: naming ``device`` if it disagrees with the parameters' device, or is
            not the CPU for a :class:`NumpyModel`.
    """
    if isinstance(model, NumpyModel):
        if device is not None and torch.device(device).type != "cpu":
            raise DeviceMismatchError(f"device: a NumpyModel runs on the CPU (numpy), got device {device!r}")
        return torch.device("cpu")
    parameters = list(model.parameters()) if isinstance(model, nn.Module) else []
    parameter_device = parameters[0].device if parameters else None
    if device is not None:
        requested = torch.device(device)
        if parameter_device is not None and parameter_device.type != requested.type:
            raise DeviceMismatchError(f"device: {requested} was requested but the model's parameters are on {parameter_device}")
        return requested
    return parameter_device if parameter_device is not None else torch.device("cpu")


def _input_dtype(model: Any) -> torch.dtype:
    """The float dtype array inputs become: the model's own (:func:`_model_dtype`), else the
    default dtype."""
    return _model_dtype(model) or torch.get_default_dtype()


def _model_dtype(model: Any) -> torch.dtype | None:
    """The model's ``input_dtype`` if it declares one, else the dtype of its floating parameters;
    None for a model with neither (a float tensor is then used as it is)."""
    declared = getattr(model, "input_dtype", None)
    if isinstance(declared, torch.dtype):
        return declared
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            if parameter.dtype.is_floating_point:
                return parameter.dtype
    return None


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


def as_game_inputs(family: MaskedModel, x: Any) -> Tensor:
    """``x`` as a tensor on the family's device: arrays (and DataFrames) converted, tensors as they
    are but for their float dtype.

    Float arrays take the model's input dtype (see :class:`MaskedModel`), and so do float tensors
    where the model has one (a float64 tensor for a float32 model failed inside it); integer
    arrays become ``torch.long`` (token ids), except that a :class:`NumpyModel` gets float64
    unless its players are tokens (a fractional baseline must not be truncated to an integer).
    """
    device = family.device
    if isinstance(x, Tensor):
        if x.device != device:
            raise DeviceMismatchError(f"x: lives on {x.device} but the model is on {device}; move it first")
        dtype = _model_dtype(family.model)
        return x.to(dtype) if dtype is not None and dtype.is_floating_point and x.dtype.is_floating_point and x.dtype != dtype else x
    array = as_numeric_array("x", x)
    integer = array.dtype.kind in "iu" and (not isinstance(family.model, NumpyModel) or isinstance(family.masker, TokenMasker))
    dtype = torch.long if integer else _input_dtype(family.model)
    if not array.flags.writeable:  # torch warns on read-only arrays (and could not share them anyway)
        array = array.copy()
    return torch.as_tensor(array, dtype=dtype, device=device)


def table_model(model: Any, masker: Masker, x_columns: list[str] | None, x_frame: Any) -> Any:
    """The model to call: a :class:`NumpyModel` learns the column names of DataFrame inputs (or
    of the masker's DataFrame) so that it can rebuild frames; other models are returned as is.

    Raises:
        ShapeError: naming ``x`` when the columns of the inputs, the masker's data and the model
            disagree (the same features in another order would give silently wrong values).
    """
    if x_columns is not None and masker.columns is not None and x_columns != masker.columns:
        raise ShapeError(
            f"x: has columns {shorten(x_columns)} but the masker's data has {shorten(masker.columns)}; "
            "give both the same columns in the same order"
        )
    if not isinstance(model, NumpyModel):
        return model
    columns, frame = (x_columns, x_frame) if x_columns is not None else (masker.columns, masker.frame_type)
    if columns is None:
        return model
    if model.frame_type is None and frame is not None:
        return model.with_table(columns, frame)
    if model.columns is not None and model.columns != columns:
        raise ShapeError(f"x: has columns {shorten(columns)} but the model expects {shorten(model.columns)}, in this order")
    return model


class MaskedModel:
    """A value-function family: the model's output on an input with absent players masked.

    Args:
        model: a torch module (or any callable on tensors) returning ``(n, n_outputs)`` or
            ``(n,)``; a :class:`~stochamort.games.NumpyModel`; or a fitted scikit-learn-like
            estimator (anything with ``predict_proba`` or ``predict``, e.g. XGBoost or LightGBM
            models), wrapped with :meth:`NumpyModel.from_estimator` (``predict_proba`` if it has
            one, else ``predict``).
        masker: how absent players are masked (:class:`~stochamort.games.BaselineMasker`, ...).
        output: how raw outputs become values (see :data:`OutputSpec`); all outputs are valued
            at once. Default ``None``: ``"identity"`` for numpy models (their outputs, e.g.
            ``predict_proba``, are used as they are) and ``"probabilities"`` (softmax of logits)
            for torch models. Softmax or sigmoid is refused when the model's outputs already
            look like probabilities (see :class:`ModelGame`).
        batch_size: model inputs per call of the model (numpy models too: each call gets a
            whole batch of masked inputs).
        device: where the model runs (default: the device of its parameters, else CPU; numpy
            models run on the CPU only).
        groups: optional partition of the masker's features into players (a list of index lists).

    Inputs given as numpy arrays or DataFrames take the model's input dtype: a torch model's
    parameter dtype (float64 arrays are cast to a float32 model's float32, as the model would
    compute in float32 anyway), float64 for a numpy model. Float tensors are cast to the dtype of a
    model that has one (parameters or ``input_dtype``); other tensors are used as they are.

    Bind it to inputs with :meth:`bind` to get a :class:`ModelGame`.

    Raises:
        InvalidArgumentError: for a model that is neither callable nor an estimator, a masker
            that is not a :class:`~stochamort.games.Masker`, a bad ``batch_size`` or ``output``
            (including softmax on a numpy model that returns probabilities).
        DeviceMismatchError: naming ``device`` for a device the model cannot run on.
    """

    def __init__(
        self,
        model: Any,
        masker: Masker,
        output: OutputSpec | None = None,
        batch_size: int = 4096,
        device: Any = None,
        groups: Sequence[Sequence[int]] | None = None,
    ) -> None:
        model = as_model(model)
        if not isinstance(masker, Masker):
            raise InvalidArgumentError(f"masker: must be a Masker, got {type(masker).__name__}")
        if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size: must be a positive integer, got {batch_size!r}")
        self.model = model
        self.masker = masker
        self.output = resolve_output(model, output)
        self.transform = _transform(self.output, given_probabilities=returns_probabilities(model))
        self.batch_size = int(batch_size)
        self.device = model_device(model, device)
        self.groups = groups

    def bind(self, x: Any) -> ModelGame:
        """The game for inputs ``x`` ``(n_points, *input_shape)`` (tensor on the model's device, array or DataFrame).

        Raises:
            InvalidArgumentError: see :class:`ModelGame`.
        """
        return ModelGame(self, x)


class ModelGame(Game):
    """A :class:`MaskedModel` bound to a batch of inputs; evaluates coalitions in large batches.

    Masks go to the device once per :meth:`evaluate` call; inputs are formed there by the masker
    and passed through the model ``batch_size`` at a time, under ``torch.inference_mode`` and in
    evaluation mode. Values come back as float64 numpy arrays.

    Binding runs the model once on the unmasked first points (up to 64, at most one batch): this
    gives the number of outputs, and guards the output transform: with ``"probabilities"`` or
    ``"log_odds"``, outputs that already look like probabilities (two or more columns, all in
    [0, 1], rows summing to 1) are refused, and a single output in [0, 1] draws a warning.

    Args:
        family: the value-function family.
        x: the inputs ``(n_points, *input_shape)``: a tensor on the family's device, a numeric
            array or a DataFrame (all columns numeric; converted to float64, then to the model's
            input dtype: float64 arrays are cast to float32 for a float32 torch model, kept
            float64 for a numpy model). A numpy model called on DataFrame inputs receives
            DataFrames with the same columns.

    Attributes:
        probe_outputs: the model's raw outputs ``(n_probe, n_outputs_raw)`` (float64) on the
            unmasked first points, before the output transform.

    Raises:
        InvalidDTypeError: naming ``x`` for non-numeric inputs (or DataFrame columns).
        ShapeError: for inputs the masker or the model cannot take, or columns that disagree.
        DeviceMismatchError: naming ``x`` for a tensor on another device.
        InvalidArgumentError: naming ``output`` when softmax would be applied to probabilities.
    """

    def __init__(self, family: MaskedModel, x: Any) -> None:
        device = family.device
        x_columns = table_columns(x)
        x_frame = type(x) if x_columns is not None else None
        x = as_game_inputs(family, x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise ShapeError(f"x: expected (n_points, *input_shape) with at least one point, got shape {tuple(x.shape)}")
        self.family = family
        self.x = x
        # Each game prepares its own copy: the masker's prepared tensors (baseline, background, patch
        # grid) fit these inputs, and binding other inputs later must not change this game.
        self.masker = copy.copy(family.masker)
        self.masker.prepare(x)
        self.model = table_model(family.model, self.masker, x_columns, x_frame)
        n_features = self.masker.n_features(tuple(x.shape[1:]))
        self._owner = None if family.groups is None else _group_index(family.groups, n_features).to(device)
        self._n_players = n_features if family.groups is None else len(family.groups)
        self.forward_seconds = 0.0
        self.n_forward_inputs = 0
        n_probe = min(self.n_points, PROBE_POINTS, max(1, family.batch_size // self.masker.expansions))
        raw = self._values(
            torch.arange(n_probe, device=device), torch.ones((n_probe, n_features), dtype=torch.bool, device=device), raw=True
        )
        self.probe_outputs: NDArray[np.float64] = raw.cpu().numpy()
        if not returns_probabilities(family.model):  # log-odds of given probabilities need no softmax
            check_output_fits(family.output, self.probe_outputs)
        self._n_outputs = int(family.transform(raw[:1]).shape[1])

    @property
    def n_points(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_players(self) -> int:
        return self._n_players

    @property
    def n_outputs(self) -> int:
        return self._n_outputs

    def _values(self, rows: Tensor, feature_masks: Tensor, raw: bool = False) -> Tensor:
        """Values ``(R, n_outputs)`` of inputs ``x[rows]`` masked by ``feature_masks``, in batches
        (the model's raw outputs if ``raw``).

        ``forward_seconds`` accumulates the time in the model and its output transform.
        """
        family = self.family
        k = self.masker.expansions
        rows_per_batch = max(1, family.batch_size // k)
        outputs = []
        with evaluation(self.model):
            for start in range(0, rows.shape[0], rows_per_batch):
                stop = start + rows_per_batch
                args = self.masker.apply(self.x[rows[start:stop]], feature_masks[start:stop])
                began = time.perf_counter()
                values = raw_output(self.model(*args))
                if not raw:
                    values = family.transform(values)
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
        # np.require copies read-only inputs (e.g. a broadcast census): torch refuses to wrap them.
        player_masks = torch.from_numpy(np.require(masks, requirements=["C", "W"])).to(device).reshape(n * n_coalitions, -1)
        feature_masks = player_masks if self._owner is None else player_masks[:, self._owner]
        rows = torch.from_numpy(points).to(device).repeat_interleave(n_coalitions)
        values = self._values(rows, feature_masks)
        return values.reshape(n, n_coalitions, -1).cpu().numpy()
