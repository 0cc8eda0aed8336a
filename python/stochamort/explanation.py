"""Explanations for users: the :class:`Attributions` result type and the export to ``shap.Explanation``.

:class:`Attributions` is what an explainer hands back for a batch of points — the attributions,
their standard errors when the method has them (``None`` for amortized predictions, never zeros:
zeros would claim the values are exact), the evaluations spent, and the two endpoints v(∅) and
v(all) the attributions are measured between. :func:`to_shap_explanation` turns it (or an
:class:`~stochamort.results.Estimate`, or a plain array) into a ``shap.Explanation`` for shap's
plots; image patches are spread over their pixels so that ``shap.plots.image`` draws them.

shap is optional (``pip install shap``); it is imported only when the export is asked for. No
torch here: tensors are accepted by duck typing and converted to numpy.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from stochamort._checks import as_float64, as_float_array, as_integer_array, check_finite, check_int, check_shape
from stochamort.errors import InvalidArgumentError, InvalidDTypeError, MissingDependencyError, NonFiniteError, ShapeError
from stochamort.results import Estimate, t_interval

__all__ = ["Attributions", "MissingDependencyError", "to_shap_explanation"]

AMORTIZED = "amortized"
"""The ``method`` of predictions made by an amortized model (which carry no standard errors)."""


#: Optional bool fields of :class:`Attributions`, one flag per point, kept as ``extras`` of the
#: same name by :meth:`Attributions.to_estimate`.
POINT_FLAGS = ("poolable", "target_met")


def _import_shap() -> Any:
    try:
        with warnings.catch_warnings():
            # shap's import calls colormap setters that matplotlib >= 3.11 marks as pending
            # deprecation; that is shap's business, not a problem with the user's data.
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.plots\.colors")
            return importlib.import_module("shap")
    except ImportError as err:
        raise MissingDependencyError(
            "shap: to_shap_explanation needs the optional dependency shap, which is not installed; "
            "install it with `pip install shap`"
        ) from err


def _to_numpy(value: Any, name: str) -> NDArray[Any]:
    """An array from numpy data, a torch tensor (any device) or a pandas object."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except Exception as err:
        raise InvalidArgumentError(f"{name}: cannot be converted to an array ({err})") from err


def _names(value: Any, name: str, expected: int, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise InvalidArgumentError(f"{name}: expected a sequence of {expected} names, got {type(value).__name__}")
    names = [str(v) for v in value]
    if len(names) != expected:
        raise ShapeError(f"{name}: expected {expected} names (one per {what}), got {len(names)}")
    return names


def _data_and_columns(data: Any, n_points: int, n_players: int) -> tuple[NDArray[Any] | None, list[str] | None]:
    """The explained inputs as numpy with one row per point, and a DataFrame's column names (if one per player)."""
    if data is None:
        return None, None
    columns = getattr(data, "columns", None)
    names = [str(c) for c in columns] if columns is not None and len(columns) == n_players else None
    array = _to_numpy(data, "data")
    if array.ndim < 1 or array.shape[0] != n_points:
        raise ShapeError(f"data: expected one row per explained point, {n_points}, got shape {array.shape}")
    return array, names


def _base_values(value: Any, n: int, o: int) -> NDArray[np.float64]:
    """Base values as ``(n, o)``: from a scalar, ``(n,)`` (when o == 1), ``(o,)`` or ``(n, o)``."""
    array = _to_numpy(value, "base_values")
    if array.dtype.kind not in "biuf":
        raise InvalidArgumentError(f"base_values: expected numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if o == 1 and array.shape == (n,):
        array = array[:, None]
    if array.ndim > 2 or array.shape not in ((), (o,), (n, o)):
        accepted = f"(), ({n},), ({n}, 1)" if o == 1 else f"(), ({o},), ({n}, {o})"
        raise ShapeError(
            f"base_values: expected one value per point and output, shape {accepted}, got {array.shape} "
            "(e.g. v(∅) from game.endpoints())"
        )
    if not np.isfinite(array).all():
        raise NonFiniteError("base_values: holds NaN or infinity")
    return np.ascontiguousarray(np.broadcast_to(array, (n, o)))


# Image patches: players are the cells of a grid of ph × pw patches over channels-first images.


def _patch_size(value: Any) -> tuple[int, int]:
    """``(height, width)`` of a patch, from one int (square patches) or a pair of ints, each >= 1."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        side = check_int("patch_size", value, 1)
        return side, side
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise InvalidArgumentError(f"patch_size: expected an int or a pair (height, width) of ints, got {value!r}")
    return check_int("patch_size", value[0], 1), check_int("patch_size", value[1], 1)


def _check_patch_grid(patch: tuple[int, int], data: NDArray[Any] | None, n_players: int) -> None:
    """Refuse image data that ``patch`` does not tile into exactly ``n_players`` patches."""
    if data is None:
        raise InvalidArgumentError("patch_size: needs data, the explained images (n_points, channels, height, width)")
    if data.ndim != 4:
        raise ShapeError(
            f"data: with patch_size, expected channels-first images (n_points, channels, height, width), "
            f"got shape {data.shape}"
        )
    if data.dtype.kind not in "biuf":
        raise InvalidDTypeError(f"data: images must hold numbers, got dtype {data.dtype}")
    (height, width), (ph, pw) = data.shape[2:], patch
    if height % ph or width % pw:
        raise ShapeError(f"patch_size: {ph}x{pw} patches do not tile {height}x{width} images")
    n_patches = (height // ph) * (width // pw)
    if n_patches != n_players:
        raise ShapeError(
            f"patch_size: {ph}x{pw} patches of {height}x{width} images make {n_patches} players, "
            f"but the values have {n_players}"
        )


def _spread_over_pixels(
    values: NDArray[np.float64], image_shape: tuple[int, ...], patch: tuple[int, int]
) -> NDArray[np.float64]:
    """Patch values ``(n, d, o)`` as pixel values ``(n, H, W, C, o)`` (channels last, as shap draws images).

    Each patch's value is divided evenly among its ``ph · pw · C`` entries (every pixel of the
    patch, every channel), so the pixel values of a patch add up to the patch's value and an
    image's pixel values add up to the sum of its patch values (additivity kept). Patch
    ``(r, c)`` is player ``r * (W // pw) + c``.
    """
    n, _, o = values.shape
    channels, height, width = image_shape
    ph, pw = patch
    grid = values.reshape(n, height // ph, 1, width // pw, 1, 1, o) / (ph * pw * channels)
    spread = np.broadcast_to(grid, (n, height // ph, ph, width // pw, pw, channels, o))
    return spread.reshape(n, height, width, channels, o)


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Attributions:
    """Attributions for a batch of points, as an explainer returns them (amortized or per-example).

    Every array is per point (axis 0), so rows can be selected with ``attributions[rows]``.
    Construct with keywords; the arrays are converted to the dtypes below (and copied) and checked.

    Attributes:
        values: float64 ``(n_points, n_players, n_outputs)``, the attribution of each player.
        std_errors: float64 of the same shape, the standard error of each value (``inf`` where too
            few samples were seen), or ``None`` when the method gives no per-point uncertainty —
            amortized predictions. Never zeros for that: zero standard errors mean *exact*.
        n_evaluations: int64 ``(n_points,)``, model evaluations spent on each point: an oracle's
            budget, or for amortized predictions the evaluations behind ``base_values`` and
            ``outputs``.
        base_values: float64 ``(n_points, n_outputs)``, v(∅), the value with no player present.
        outputs: float64 ``(n_points, n_outputs)``, v(all), the model output being explained.
        data: the explained inputs as numpy, ``(n_points, ...)``, or ``None``. A torch tensor or
            pandas object is converted (a DataFrame also names the players when no names are given).
        feature_names: one name per player, or ``None``.
        output_names: one name per output, or ``None``.
        method: what produced the values, e.g. ``"amortized"`` or an oracle's name (``"Permutation"``).
        patch_size: ``(ph, pw)`` when the players are image patches, else ``None``. Then ``data`` is
            ``(n_points, C, H, W)`` channels-first, ``ph`` and ``pw`` divide ``H`` and ``W``, and the
            players are the patches in row-major order: patch ``(r, c)`` is player ``r * (W // pw) + c``.
        dof: float64 ``(n_points,)``, the degrees of freedom of each point's standard errors (the
            independent replicates behind them minus one; ``inf`` for exact values), or of
            ``values``' shape where they differ by cell (stratified designs: Satterthwaite's), or
            ``None`` when unknown (the intervals then use the normal quantile).
        poolable: bool ``(n_points,)``: whether :meth:`confidence_interval` may pool a point's
            standard errors with the others' (False for points whose errors the others say nothing
            about, see :meth:`stochamort.results.Estimate.confidence_interval`), or ``None``: all
            may (what every oracle returns).
        target_met: bool ``(n_points,)``: which points' standard errors met the oracle's
            :class:`~stochamort.oracles.StoppingRule` target (its ``extras["target_met"]``), or
            ``None`` when the oracle had no target.

    Raises:
        InvalidArgumentError: (or its subclasses ShapeError, InvalidDTypeError, NonFiniteError) naming
            the field that is malformed, disagrees with ``values``, or holds NaN; also when
            ``method`` is ``"amortized"`` but standard errors are given.
    """

    values: NDArray[np.float64]
    std_errors: NDArray[np.float64] | None
    n_evaluations: NDArray[np.int64]
    base_values: NDArray[np.float64]
    outputs: NDArray[np.float64]
    data: NDArray[Any] | None = None
    feature_names: tuple[str, ...] | None = None
    output_names: tuple[str, ...] | None = None
    method: str
    patch_size: tuple[int, int] | None = None
    dof: NDArray[np.float64] | None = None
    poolable: NDArray[np.bool_] | None = None
    target_met: NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        values = as_float_array("values", _to_numpy(self.values, "values"), 3)
        n, d, o = values.shape
        if d < 1 or o < 1:
            raise ShapeError(f"values: need at least one player and one output, got shape {values.shape}")
        check_finite("values", values)
        self._set("values", values)
        if not isinstance(self.method, str) or not self.method:
            raise InvalidArgumentError(
                f"method: must be a non-empty string naming what made the values (e.g. {AMORTIZED!r}), "
                f"got {self.method!r}"
            )
        self._set("std_errors", self._checked_std_errors(values.shape))
        evaluations = as_integer_array("n_evaluations", _to_numpy(self.n_evaluations, "n_evaluations"), 1)
        check_shape("n_evaluations", evaluations, (n,), "one count per point")
        if (evaluations < 0).any():
            raise InvalidArgumentError("n_evaluations: counts must be >= 0")
        self._set("n_evaluations", evaluations)
        if self.dof is not None:
            dof = as_float64(_to_numpy(self.dof, "dof"), "dof")
            if dof.shape not in ((n,), values.shape):
                raise ShapeError(f"dof: expected shape {(n,)} (one count per point) or {values.shape} (values'), got {dof.shape}")
            dof = np.array(dof, dtype=np.float64)
            if np.isnan(dof).any() or (dof < 0).any():
                raise InvalidArgumentError("dof: degrees of freedom must be >= 0 (inf for exact values)")
            self._set("dof", dof)
        for name in POINT_FLAGS:
            if getattr(self, name) is not None:
                flags = np.asarray(_to_numpy(getattr(self, name), name))
                if flags.dtype != np.bool_:
                    raise InvalidDTypeError(f"{name}: must be a bool array, got dtype {flags.dtype}")
                check_shape(name, flags, (n,), "one flag per point")
                self._set(name, flags.copy())
        for name in ("base_values", "outputs"):
            endpoint = as_float_array(name, _to_numpy(getattr(self, name), name), 2)
            check_shape(name, endpoint, (n, o), "(n_points, n_outputs) of values")
            check_finite(name, endpoint)
            self._set(name, endpoint)
        data, columns = _data_and_columns(self.data, n, d)
        self._set("data", data)
        names = _names(self.feature_names if self.feature_names is not None else columns, "feature_names", d, "player")
        self._set("feature_names", None if names is None else tuple(names))
        outputs = _names(self.output_names, "output_names", o, "output")
        self._set("output_names", None if outputs is None else tuple(outputs))
        if self.patch_size is not None:
            patch = _patch_size(self.patch_size)
            _check_patch_grid(patch, data, d)
            self._set("patch_size", patch)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # a frozen dataclass stores its converted fields this way

    def _checked_std_errors(self, shape: tuple[int, ...]) -> NDArray[np.float64] | None:
        if self.std_errors is None:
            return None
        if self.method == AMORTIZED:
            raise InvalidArgumentError(
                f"std_errors: method {AMORTIZED!r} predictions carry no per-point standard errors; pass None "
                "(zeros would claim they are exact)"
            )
        std_errors = as_float_array("std_errors", _to_numpy(self.std_errors, "std_errors"), 3)
        check_shape("std_errors", std_errors, shape, "values")
        if np.isnan(std_errors).any():
            raise NonFiniteError("std_errors: holds NaN (inf is allowed: too few samples for a variance)")
        if (std_errors < 0).any():
            raise InvalidArgumentError("std_errors: must be >= 0")
        return std_errors

    def __repr__(self) -> str:
        patches = "" if self.patch_size is None else f", patch_size={self.patch_size}"
        return (
            f"Attributions(method={self.method!r}, n_points={self.n_points}, n_players={self.n_players}, "
            f"n_outputs={self.n_outputs}, std_errors={'yes' if self.std_errors is not None else 'None'}{patches})"
        )

    def __len__(self) -> int:
        return self.n_points

    @property
    def n_points(self) -> int:
        """Number of points explained."""
        return int(self.values.shape[0])

    @property
    def n_players(self) -> int:
        """Number of players (features, patches or tokens) per point."""
        return int(self.values.shape[1])

    @property
    def n_outputs(self) -> int:
        """Number of model outputs attributed at once."""
        return int(self.values.shape[2])

    def efficiency_gaps(self) -> NDArray[np.float64]:
        """How far each point is from efficient: ``outputs − base_values − values.sum(axis=1)``.

        Returns:
            float64 ``(n_points, n_outputs)``; about zero for efficient estimates (Shapley values from
            an efficient estimator, or an amortizer trained with efficiency normalization).
        """
        gaps: NDArray[np.float64] = self.outputs - self.base_values - self.values.sum(axis=1)
        return gaps

    def confidence_interval(
        self, level: float = 0.95, kind: str = "moderated"
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Confidence interval ``(lower, upper)`` of every value (see
        :meth:`stochamort.results.Estimate.confidence_interval`).

        Args:
            level: two-sided coverage, in (0, 1).
            kind: ``"moderated"`` (default: standard errors pooled over these attributions,
                empirical Bayes, then Student's t), ``"t"`` (each point's ``dof`` alone) or
                ``"normal"``. The normal quantile when ``dof`` is None; infinite where it is 0.

        Returns:
            two float64 arrays shaped like ``values``.

        Raises:
            InvalidArgumentError: if ``level`` is outside (0, 1), ``kind`` is unknown, or there
                are no standard errors (amortized predictions).
        """
        return t_interval(self.values, self._required_std_errors("confidence_interval"), level, self.dof, kind, self.poolable)

    def to_estimate(self) -> Estimate:
        """The values, standard errors and evaluations as an :class:`~stochamort.results.Estimate`.

        Returns:
            an Estimate (copies of the arrays; the endpoints, data and names are not part of it).

        Raises:
            InvalidArgumentError: if there are no standard errors (amortized predictions): an
                Estimate must carry them, and zeros would claim the values are exact.
        """
        std_errors = self._required_std_errors("to_estimate")
        extras = {} if self.dof is None else {"dof": self.dof.copy()}
        extras.update({name: getattr(self, name).copy() for name in POINT_FLAGS if getattr(self, name) is not None})
        return Estimate(self.values.copy(), std_errors.copy(), self.n_evaluations.copy(), extras)

    def _required_std_errors(self, caller: str) -> NDArray[np.float64]:
        if self.std_errors is None:
            raise InvalidArgumentError(
                f"std_errors: {caller} needs standard errors, but these {self.method!r} attributions have none "
                "(amortized predictions carry no per-point standard errors; explain with an oracle to get them)"
            )
        return self.std_errors

    def __getitem__(self, index: Any) -> Attributions:
        """The attributions of the selected points, like slicing a ``shap.Explanation`` by rows.

        Args:
            index: an int, a slice, an integer array or a bool mask along the points axis. An int
                keeps the points axis (one point), since every field is per point.

        Returns:
            Attributions of the selected points (copies), with the same names, method and patch size.

        Raises:
            IndexError: (message starting with ``index:``) for an index out of range or not along axis 0.
        """
        try:
            rows = np.arange(self.n_points)[index]
        except IndexError as err:
            raise IndexError(f"index: {err} (selects points along axis 0 of {self.n_points})") from None
        rows = np.atleast_1d(rows)
        if rows.ndim != 1:
            raise IndexError(f"index: must select points along axis 0, got {index!r}")
        return dataclasses.replace(
            self,
            values=self.values[rows],
            std_errors=None if self.std_errors is None else self.std_errors[rows],
            dof=None if self.dof is None else self.dof[rows],
            poolable=None if self.poolable is None else self.poolable[rows],
            target_met=None if self.target_met is None else self.target_met[rows],
            n_evaluations=self.n_evaluations[rows],
            base_values=self.base_values[rows],
            outputs=self.outputs[rows],
            data=None if self.data is None else self.data[rows],
        )

    def select_output(self, output: int | str) -> Attributions:
        """The attributions of one output, keeping an outputs axis of length one.

        Args:
            output: the output's name in ``output_names`` (a string, e.g. ``"2"`` for a
                classifier's class 2), or its position. An integer that is also the name of
                another output (classes ``1, 2, 3``: is ``1`` the class or the position?) is
                refused rather than guessed: pass the name as a string.

        Returns:
            Attributions with ``n_outputs == 1`` (values, standard errors, endpoints and name of that output).

        Raises:
            InvalidArgumentError: for a position out of range, an unknown name, or an ambiguous integer.
        """
        if isinstance(output, str):
            if self.output_names is None or output not in self.output_names:
                raise InvalidArgumentError(f"output: no output named {output!r} (output_names: {self.output_names})")
            k = self.output_names.index(output)
        else:
            k = check_int("output", output, 0)
            if k >= self.n_outputs:
                raise InvalidArgumentError(f"output: must be < n_outputs = {self.n_outputs}, got {k}")
            names = self.output_names
            if names is not None and str(k) in names and names.index(str(k)) != k:
                raise InvalidArgumentError(
                    f"output: {k} is ambiguous: position {k} is the output named {names[k]!r}, but {str(k)!r} is the "
                    f"name of the output at position {names.index(str(k))}; pass the name as a string "
                    f"(output={names[k]!r} or output={str(k)!r})"
                )
        return dataclasses.replace(
            self,
            values=self.values[:, :, [k]],
            std_errors=None if self.std_errors is None else self.std_errors[:, :, [k]],
            base_values=self.base_values[:, [k]],
            outputs=self.outputs[:, [k]],
            output_names=None if self.output_names is None else (self.output_names[k],),
        )

    def to_shap(self, output: int | str | None = None) -> Any:
        """A ``shap.Explanation`` of these attributions (see :func:`to_shap_explanation`).

        Args:
            output: one output to explain (index or name), or ``None`` for all of them.

        Returns:
            a ``shap.Explanation``; pixel-level when the players are image patches.

        Raises:
            MissingDependencyError: if shap is not installed.
            InvalidArgumentError: for an unknown ``output``.
        """
        return to_shap_explanation(self if output is None else self.select_output(output))


def _values_and_std_errors(attributions: Any) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """``(n, d, o)`` values and their standard errors (or None) from any accepted input."""
    if isinstance(attributions, (Attributions, Estimate)):
        values = np.asarray(attributions.values, dtype=np.float64)
        std_errors = None if attributions.std_errors is None else np.asarray(attributions.std_errors, np.float64)
    else:
        values = as_float64(_to_numpy(attributions, "attributions"), "attributions")
        if values.ndim == 2:
            values = values[:, :, None]
        if values.ndim != 3:
            raise ShapeError(
                f"attributions: an array must be (n_points, n_players) or (n_points, n_players, n_outputs), "
                f"got shape {values.shape}"
            )
        check_finite("attributions", values)
        std_errors = None
    if values.ndim != 3:
        raise ShapeError(f"attributions: values must be (n_points, n_players, n_outputs), got shape {values.shape}")
    if std_errors is not None and std_errors.shape != values.shape:
        raise ShapeError(f"attributions: std_errors have shape {std_errors.shape} but values have {values.shape}")
    return values, std_errors


def to_shap_explanation(
    attributions: Attributions | Estimate | Any,
    /,
    *,
    data: Any = None,
    base_values: Any = None,
    feature_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    patch_size: int | tuple[int, int] | None = None,
) -> Any:
    """A ``shap.Explanation`` of attributions, for shap's plots and tools.

    ``values`` are ``(n_points, n_players, n_outputs)``, or ``(n_points, n_players)`` when there is
    one output (as shap's tabular explainers return them). Standard errors, when there are some, go
    to the explanation's ``error_std`` (same shape as ``values``; shap slices it along with them).

    Image patches: when the players are patches (``patch_size``, given here or by the
    Attributions, with channels-first images ``data`` ``(n_points, C, H, W)``), the explanation is
    per pixel, as from shap's image explainers: ``data`` becomes channels-last ``(n_points, H, W,
    C)`` and ``values`` ``(n_points, H, W, C, n_outputs)``, where each entry is its patch's value
    divided by ``ph · pw · C``. So the values of a patch's pixels and channels add up to the patch's
    value, an image's values add up to the sum of its patch values (v(all) − v(∅) for efficient
    Shapley values), and ``shap.plots.image``, which sums over channels, shows each pixel as its
    patch's value / (ph · pw). The outputs axis is kept even for one output (one image column per
    output, titled by ``output_names``, default ``"Output k"``); ``error_std`` is scaled the same
    way; the per-patch ``feature_names`` are not carried over (they name patches, not pixels).
    Pixel explanations hold ``n_points · H · W · C · n_outputs`` floats: export a few images at a time
    (``attributions[:8].to_shap()``).

    Args:
        attributions: an :class:`Attributions` (its data, base values, names and patch size are
            used unless given here; no standard errors when it has none), an
            :class:`~stochamort.results.Estimate`, or a plain array ``(n_points, n_players,
            n_outputs)`` or ``(n_points, n_players)`` such as an amortizer's predictions (no
            ``error_std``: the array says nothing about uncertainty). Torch tensors are accepted.
        data: the explained inputs, ``(n_points, ...)``; for shap's tabular plots (beeswarm,
            scatter, waterfall) ``(n_points, n_players)``, one value per player. A pandas DataFrame
            also supplies ``feature_names`` when none are given.
        base_values: the value the attributions start from, v(∅) — for a model game
            ``game.endpoints()[0]`` — as a scalar, ``(n_points,)`` for one output, ``(n_outputs,)``
            or ``(n_points, n_outputs)``. Shapley values then add up to f(x) − base value.
        feature_names: one name per player.
        output_names: one name per output (default ``"Output 0"``, ... for several outputs).
        patch_size: ``(ph, pw)`` (or one int for square patches) when the players are image
            patches in row-major order: patch ``(r, c)`` is player ``r * (W // pw) + c``.

    Returns:
        a ``shap.Explanation``.

    Raises:
        MissingDependencyError: (an ``ImportError``) if shap is not installed.
        ShapeError: if ``attributions`` is not 2-d/3-d, or ``data``, ``base_values``, the names or the
            patch grid do not match it.
        InvalidArgumentError: for arguments of the wrong kind (its subclass NonFiniteError for NaN).
    """
    values, std_errors = _values_and_std_errors(attributions)
    n, d, o = values.shape
    if isinstance(attributions, Attributions):
        data = attributions.data if data is None else data
        base_values = attributions.base_values if base_values is None else base_values
        feature_names = attributions.feature_names if feature_names is None else feature_names
        output_names = attributions.output_names if output_names is None else output_names
        patch_size = attributions.patch_size if patch_size is None else patch_size
    data_array, columns = _data_and_columns(data, n, d)
    names = _names(feature_names if feature_names is not None else columns, "feature_names", d, "player")
    outputs = _names(output_names, "output_names", o, "output")
    base = None if base_values is None else _base_values(base_values, n, o)
    patch = None if patch_size is None else _patch_size(patch_size)
    if patch is not None:
        _check_patch_grid(patch, data_array, d)

    shap = _import_shap()
    default_outputs = [f"Output {k}" for k in range(o)]
    if patch is not None and data_array is not None:
        shape = data_array.shape[1:]
        return shap.Explanation(
            _spread_over_pixels(values, shape, patch),
            base_values=base,
            data=np.moveaxis(data_array, 1, -1),
            output_names=outputs if outputs is not None else default_outputs,
            error_std=None if std_errors is None else _spread_over_pixels(std_errors, shape, patch),
        )
    if o == 1:
        return shap.Explanation(
            values[:, :, 0],
            base_values=None if base is None else base[:, 0],
            data=data_array,
            feature_names=names,
            output_names=None if outputs is None else outputs[0],
            error_std=None if std_errors is None else std_errors[:, :, 0],
        )
    # Naming the outputs always tells shap which axis holds them, whatever the shape of ``data``.
    return shap.Explanation(
        values,
        base_values=base,
        data=data_array,
        feature_names=names,
        output_names=outputs if outputs is not None else default_outputs,
        error_std=std_errors,
    )
