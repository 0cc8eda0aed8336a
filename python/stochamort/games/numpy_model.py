"""Models that live outside torch: any numpy function, or a scikit-learn-like estimator, as a game's model.

A :class:`NumpyModel` takes the masked inputs the maskers build (CPU float64 tensors), hands them
to the function as numpy arrays (rebuilt as a DataFrame with the right column names when the
model was fitted on one), checks what comes back, and returns it as a float64 tensor. Each call
receives a whole batch of masked inputs (``MaskedModel.batch_size`` of them), never one row.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from stochamort._checks import shown_rows
from stochamort.errors import DeviceMismatchError, InvalidArgumentError, InvalidDTypeError, NonFiniteError, ShapeError

__all__ = ["NumpyModel", "OutputKind"]

OutputKind = Literal["probabilities", "raw"]
"""What a :class:`NumpyModel` returns: class probabilities (``predict_proba``) or anything else."""

#: Estimator methods tried, in order, when ``from_estimator`` is given no ``method``.
DEFAULT_METHODS = ("predict_proba", "predict")


class NumpyModel:
    """A numpy function ``fn(array (n, *shape)) -> array (n,) or (n, n_outputs)`` as a game's model.

    Use it with :class:`~stochamort.games.MaskedModel` like a torch module; estimators with
    ``predict_proba`` or ``predict`` are wrapped automatically (see :meth:`from_estimator`).
    Inputs reach it as float64 (``input_dtype``), and it runs on the CPU only.

    Args:
        fn: the function; it receives a numpy array (or, with ``frame_type``, a DataFrame) of
            ``n`` inputs and returns ``n`` outputs as numbers.
        columns: column names of the inputs (2-d inputs only). Inputs bound as a DataFrame must
            carry exactly these columns, in this order.
        frame_type: a DataFrame class (e.g. ``pandas.DataFrame``); when given, ``fn`` receives
            ``frame_type(array, columns=columns)``, so models fitted on DataFrames see the
            feature names they were fitted with. Needs ``columns``.
        output_kind: ``"probabilities"`` if ``fn`` returns class probabilities, ``"raw"``
            otherwise; default: ``"probabilities"`` for a method named ``predict_proba``.

    Attributes:
        input_dtype: ``torch.float64``; :class:`~stochamort.games.MaskedModel` converts array
            inputs to it (a torch model gets its parameters' dtype instead).
        output_kind: see ``output_kind`` above; it picks the default output transform (none).

    Raises:
        InvalidArgumentError: if ``fn`` is not callable, ``columns`` is not a sequence of
            names, ``frame_type`` is given without ``columns`` or ``output_kind`` is unknown.
    """

    input_dtype: torch.dtype = torch.float64

    def __init__(
        self,
        fn: Callable[[Any], Any],
        *,
        columns: Sequence[str] | None = None,
        frame_type: Callable[..., Any] | None = None,
        output_kind: OutputKind | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidArgumentError(f"fn: must be callable, got {type(fn).__name__}")
        if columns is not None:
            if isinstance(columns, str) or (not isinstance(columns, Sequence) and not hasattr(columns, "tolist")):
                raise InvalidArgumentError(f"columns: must be a sequence of column names, got {type(columns).__name__}")
            columns = [str(column) for column in columns]
        if frame_type is not None and (columns is None or not callable(frame_type)):
            raise InvalidArgumentError("frame_type: must be a DataFrame class and needs columns to build frames with")
        if output_kind is None:
            output_kind = "probabilities" if getattr(fn, "__name__", "") == "predict_proba" else "raw"
        if output_kind not in ("probabilities", "raw"):
            raise InvalidArgumentError(f"output_kind: must be 'probabilities' or 'raw', got {output_kind!r}")
        self.fn = fn
        self.columns: list[str] | None = columns
        self.frame_type = frame_type
        self.output_kind: OutputKind = output_kind

    @classmethod
    def from_estimator(cls, estimator: Any, method: str | None = None) -> NumpyModel:
        """Wrap a fitted scikit-learn-like estimator (scikit-learn, XGBoost, LightGBM, ...).

        Args:
            estimator: the fitted estimator.
            method: the name of the method to explain (``"predict_proba"``,
                ``"decision_function"``, ``"predict"``, ...); default ``predict_proba`` if the
                estimator has it, else ``predict``.

        Returns:
            The model. Its ``output_kind`` is ``"probabilities"`` for ``predict_proba``. If the
            estimator was fitted on a DataFrame (it has ``feature_names_in_``), the method is
            called on DataFrames with those column names.

        Raises:
            InvalidArgumentError: naming ``estimator`` if it has neither default method, or
                ``method`` if the estimator lacks the method asked for.
        """
        if method is None:
            method = next((name for name in DEFAULT_METHODS if callable(getattr(estimator, name, None))), None)
            if method is None:
                raise InvalidArgumentError(
                    f"estimator: {type(estimator).__name__} has neither predict_proba nor predict; wrap the function "
                    "to explain with NumpyModel(fn)"
                )
            if method == "predict" and is_classifier(estimator):
                warnings.warn(
                    f"estimator: {type(estimator).__name__} is a classifier without predict_proba, so its predicted "
                    "class labels are explained; pass method='decision_function' to explain its scores",
                    UserWarning,
                    stacklevel=2,
                )
        elif not isinstance(method, str) or not callable(getattr(estimator, method, None)):
            raise InvalidArgumentError(f"method: {type(estimator).__name__} has no method {method!r}")
        columns, frame_type = fitted_table(estimator)
        kind: OutputKind = "probabilities" if method == "predict_proba" else "raw"
        return cls(getattr(estimator, method), columns=columns, frame_type=frame_type, output_kind=kind)

    def with_table(self, columns: list[str], frame_type: Callable[..., Any]) -> NumpyModel:
        """This model calling ``fn`` on ``frame_type(array, columns=columns)``.

        Raises:
            ShapeError: naming ``x`` if the model already has other columns.
        """
        if self.columns is not None and self.columns != columns:
            raise ShapeError(f"x: has columns {shorten(columns)} but the model expects {shorten(self.columns)}, in this order")
        return NumpyModel(self.fn, columns=columns, frame_type=frame_type, output_kind=self.output_kind)

    def __call__(self, *inputs: Any) -> Tensor:
        """The outputs ``(n, n_outputs)`` (float64, CPU) of ``fn`` on a batch of ``n`` inputs.

        Raises:
            InvalidArgumentError: if the masker passes more than one argument.
            DeviceMismatchError: naming ``x`` for a tensor that is not on the CPU.
            ShapeError, InvalidDTypeError, NonFiniteError: naming ``model`` when ``fn``
                returns something other than ``n`` finite numbers (or rows of them).
        """
        if len(inputs) != 1:
            raise InvalidArgumentError(
                f"masker: a NumpyModel takes one input array per call, the masker passed {len(inputs)} arguments"
            )
        (x,) = inputs
        if isinstance(x, Tensor):
            if x.device.type != "cpu":
                raise DeviceMismatchError(f"x: a NumpyModel runs on the CPU, the inputs are on {x.device}")
            array = x.detach().numpy()  # no copy: masked inputs are fresh CPU tensors
        else:
            array = np.asarray(x)
        n = int(array.shape[0])
        if self.frame_type is not None:
            if array.ndim != 2 or self.columns is None or array.shape[1] != len(self.columns):
                raise ShapeError(
                    f"x: the model is called on DataFrames with {len(self.columns or [])} columns, got inputs of shape "
                    f"{array.shape}"
                )
            out = self.fn(self.frame_type(array, columns=self.columns))
        else:
            out = self.fn(array)
        return torch.from_numpy(checked_outputs(out, n))

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return f"NumpyModel({name}, output_kind={self.output_kind!r})"


def checked_outputs(out: Any, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """``out`` as a fresh float64 array ``(n, n_outputs)``, refusing anything else with errors naming ``model``."""
    if hasattr(out, "to_numpy"):  # a DataFrame or Series from a pandas-returning model
        out = out.to_numpy()
    array = np.asarray(out)
    if array.dtype.kind not in "biuf":
        raise InvalidDTypeError(f"model: returned dtype {array.dtype}; expected real numbers (not class labels or objects)")
    if array.ndim not in (1, 2) or array.shape[0] != n:
        raise ShapeError(f"model: returned shape {array.shape} for {n} inputs; expected ({n},) or ({n}, n_outputs)")
    # A copy: the result may be read-only or a view into the estimator's own buffers.
    result = np.array(array.reshape(n, -1), dtype=np.float64)
    bad = ~np.isfinite(result).all(axis=1)
    if bad.any():
        raise NonFiniteError(f"model: returned NaN or infinity for input row(s) {shown_rows(np.flatnonzero(bad))} of a batch")
    return result


def is_classifier(estimator: Any) -> bool:
    """Whether a scikit-learn-like estimator is a classifier (its tags say so, or it has ``classes_``)."""
    try:
        tags = estimator.__sklearn_tags__() if hasattr(estimator, "__sklearn_tags__") else None
    except Exception:  # tags of third-party estimators may need arguments or fail: fall back
        tags = None
    kind = getattr(tags, "estimator_type", None) or getattr(estimator, "_estimator_type", None)
    return kind == "classifier" or hasattr(estimator, "classes_")


def fitted_table(estimator: Any) -> tuple[list[str] | None, Callable[..., Any] | None]:
    """The columns an estimator was fitted on, and the DataFrame class to rebuild inputs with.

    scikit-learn records ``feature_names_in_`` only when fitted on a DataFrame, so pandas is
    then already imported: it is looked up among the loaded modules, never imported here.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return None, None
    pandas = sys.modules.get("pandas")
    frame_type = getattr(pandas, "DataFrame", None) if pandas is not None else None
    return [str(name) for name in names], frame_type


def shorten(names: list[str]) -> str:
    """At most eight names, then how many more (for error messages)."""
    return "[" + ", ".join(repr(n) for n in names[:8]) + (f", ... {len(names) - 8} more" if len(names) > 8 else "") + "]"
