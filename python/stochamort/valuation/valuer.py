"""Amortized data valuation as one object: :class:`AmortizedValuer` (fit / value / save / load).

It chains what :mod:`stochamort.valuation` offers separately: a utility U(S) on the training set
and a validation set, a noisy oracle (by default the paper's setting, distributional Data Shapley
from 5 contributions per point, as ``stochamort value`` runs it), and a value network trained on
the noisy values (:func:`~stochamort.valuation.amortize_data_values`), which then values any
labelled example in one forward pass. Labels may be any integers or strings; the valuer keeps
them as ``classes_`` and reads the network at their class index.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from stochamort._bundle import read_bundle, write_bundle
from stochamort._checks import check_bool, check_float, check_int, check_seed
from stochamort.amortize import Amortizer, TrainConfig, TrainHistory, TrainResult, fit_standardization
from stochamort.errors import InvalidArgumentError, SavedFileError, ShapeError
from stochamort.results import DataValues
from stochamort.valuation import oracles
from stochamort.valuation.amortize import VALUE_NETWORK_CONFIG, ValueAmortizer, ValueNetwork, amortize_data_values
from stochamort.valuation._examples import as_examples, as_labels, class_indices, check_feature_names
from stochamort.valuation.oracles import DataValuationOracle, DistributionalShapley
from stochamort.valuation.utility import SklearnUtility, TorchLogisticUtility, TorchMLPUtility, Utility

__all__ = ["AmortizedValuer", "UtilityFactory", "BUILT_IN_UTILITIES"]

BUNDLE_KIND = "AmortizedValuer"

#: Utilities named by a string: validation accuracy of logistic regression (C = 1, float32
#: batched Newton, as ``stochamort value``) or of a one-hidden-layer ReLU network.
BUILT_IN_UTILITIES = ("logistic", "mlp")

UtilityFactory = Callable[[NDArray[np.float64], NDArray[Any], NDArray[np.float64], NDArray[Any]], Utility]
"""``factory(x_train, y_train, x_valid, y_valid) -> Utility`` over exactly those training points."""


def _default_oracle() -> DistributionalShapley:
    """The paper's (and ``stochamort value``'s) setting: few contributions, |D| ~ U{10..100}."""
    return DistributionalShapley(5, min_size=10, max_size=100)


def _utility_kind(utility: Any) -> str:
    if isinstance(utility, str):
        if utility not in BUILT_IN_UTILITIES:
            raise InvalidArgumentError(f"utility: expected one of {BUILT_IN_UTILITIES}, a scikit-learn classifier or a factory, got {utility!r}")
        return utility
    if isinstance(utility, type):
        raise InvalidArgumentError(f"utility: pass an instance ({utility.__name__}()) or a factory, not the class {utility.__name__}")
    if callable(getattr(utility, "fit", None)):
        return "sklearn"
    if callable(utility):
        return "callable"
    raise InvalidArgumentError(
        f"utility: expected one of {BUILT_IN_UTILITIES}, a scikit-learn classifier or a callable "
        f"factory(x_train, y_train, x_valid, y_valid) -> Utility, got {type(utility).__name__}"
    )


#: Arguments of the built-in utilities that the valuer sets itself (the data, the device, the seed).
_SET_BY_VALUER = frozenset({"x_train", "y_train", "x_valid", "y_valid", "device", "seed"})
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _check_utility_options(kind: str, options: Any) -> dict[str, Any]:
    """``utility_options`` as a JSON-able dict of the built-in utility's keyword arguments."""
    if options is None:
        return {}
    if not isinstance(options, dict) or not all(isinstance(key, str) for key in options):
        raise InvalidArgumentError(f"utility_options: must be a dict of keyword arguments or None, got {type(options).__name__}")
    if options and kind not in BUILT_IN_UTILITIES:
        raise InvalidArgumentError(
            f"utility_options: only for the built-in utilities {BUILT_IN_UTILITIES}; configure a {kind} utility itself"
        )
    if not options:
        return {}
    cls = TorchLogisticUtility if kind == "logistic" else TorchMLPUtility
    allowed = set(inspect.signature(cls.__init__).parameters) - _SET_BY_VALUER - {"self"}
    checked: dict[str, Any] = {}
    for key, value in options.items():
        if key not in allowed:
            raise InvalidArgumentError(f"utility_options: {cls.__name__} has no option {key!r} (it takes {sorted(allowed)})")
        if key == "dtype":
            names = {dtype: name for name, dtype in _DTYPES.items()}
            value = names.get(value, value)
            if value not in _DTYPES:
                raise InvalidArgumentError(f"utility_options: dtype must be 'float32' or 'float64', got {options[key]!r}")
        elif isinstance(value, float) and not np.isfinite(value) or not isinstance(value, (bool, int, float, str)):
            raise InvalidArgumentError(
                f"utility_options: {key} must be a finite number, a bool or a string (it is saved with the valuer), got {value!r}; "
                f"pass a factory as utility for anything else"
            )
        checked[key] = value
    return checked


def _describe_utility(kind: str, utility: Any) -> str:
    if kind in BUILT_IN_UTILITIES:
        return str(utility)
    if kind == "sklearn":
        return repr(utility)
    return str(getattr(utility, "__qualname__", type(utility).__name__))


class AmortizedValuer:
    """Data values of labelled examples from a network trained on cheap, noisy data values.

    :meth:`fit` builds the utility U(S) (validation score of a model trained on S) on the training
    set, estimates every training point's value with a noisy unbiased oracle (kept, with standard
    errors, as :attr:`noisy_values`) and trains a value network (x, y) ↦ value on those estimates
    (:attr:`training`); :meth:`value` then values training points and new examples alike.

    Args:
        utility: ``"logistic"`` (default) or ``"mlp"`` (:data:`BUILT_IN_UTILITIES`), a
            scikit-learn classifier *instance* (:class:`~stochamort.valuation.SklearnUtility`, one
            clone per subset: slow), or a :data:`UtilityFactory`.
        oracle: the noisy oracle (default: ``DistributionalShapley(5, min_size=10, max_size=100)``).
        hidden: hidden widths of the :class:`~stochamort.valuation.ValueNetwork`.
        pretrain_epochs: epochs of classifier pretraining of the value network (0: none).
        validation_fraction: share of training points whose noisy values pick the checkpoint, in [0, 1).
        standardize_features: standardise each feature by the training set's mean and standard
            deviation, for the built-in utilities' fits (a scikit-learn or callable utility gets
            the features as given: put a scaler in its pipeline) and inside the value network
            (saved with it); :meth:`value` takes raw features either way. On by default: on
            breast cancer's raw features with 15 % flipped labels, the mislabel AUROC of the
            values was 0.55 to 0.95 without it and 0.99 to 0.996 with it, depending on the split.
        utility_options: keyword arguments of the built-in utility,
            :class:`~stochamort.valuation.TorchLogisticUtility` for ``"logistic"`` (e.g. ``C``,
            ``max_iter``, ``metric="log_likelihood"``; ``dtype`` is ``"float32"`` unless set to
            ``"float64"``) or :class:`~stochamort.valuation.TorchMLPUtility` for ``"mlp"``
            (``hidden``, ``epochs``, ...); numbers, bools and strings only, as they are saved.
            The data, ``device`` (``config.device``) and ``seed`` (:meth:`fit`'s) are set by the valuer.
        config: how to train the value network (default
            :data:`~stochamort.valuation.VALUE_NETWORK_CONFIG`); :meth:`fit` sets its ``seed`` and
            ``progress``. Its ``device`` is also where the torch utilities fit.

    Attributes (after :meth:`fit` or :meth:`load`):
        noisy_values: the oracle's :class:`~stochamort.valuation.DataValues` of the training points.
        training: the :class:`~stochamort.amortize.TrainResult` of the value network (history, FLOPs).
        amortizer: the :class:`~stochamort.valuation.ValueAmortizer` (network and pretraining FLOPs).
        classes_: the distinct training labels, sorted; feature_names_: the training DataFrame's
            columns (None for arrays); n_features_: number of features.
        utility_: the utility built by the last :meth:`fit` (None after :meth:`load`).

    Before :meth:`fit` (or :meth:`load`), :meth:`value` and :meth:`save` raise
    :class:`~stochamort.errors.InvalidArgumentError` with a message starting ``fit:``. A valuer
    loaded from a bundle made with a scikit-learn or callable utility values examples but fits
    again only if that utility is passed to :meth:`load`.

    Raises:
        InvalidArgumentError: a bad argument (the message starts with its name).

    Example::

        valuer = AmortizedValuer("logistic").fit(x_train, y_train, x_valid=x_val, y_valid=y_val)
        values = valuer.value(x_new, y_new)      # float64 (n,), one forward pass
        valuer.save("valuer")
        same = AmortizedValuer.load("valuer").value(x_new, y_new)
    """

    def __init__(
        self,
        utility: str | Any | UtilityFactory = "logistic",
        *,
        oracle: DataValuationOracle | None = None,
        hidden: Sequence[int] = (128, 128, 128),
        pretrain_epochs: int = 20,
        validation_fraction: float = 0.1,
        standardize_features: bool = True,
        utility_options: dict[str, Any] | None = None,
        config: TrainConfig | None = None,
    ) -> None:
        self._utility_kind = _utility_kind(utility)
        self.utility: Any = utility
        self.utility_options = _check_utility_options(self._utility_kind, utility_options)
        if oracle is not None and not isinstance(oracle, DataValuationOracle):
            raise InvalidArgumentError(f"oracle: must be a DataValuationOracle (e.g. DistributionalShapley) or None, got {type(oracle).__name__}")
        self.oracle: DataValuationOracle = _default_oracle() if oracle is None else oracle
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise InvalidArgumentError(f"hidden: must be a sequence of positive integers, got {hidden!r}")
        self.hidden = tuple(check_int(f"hidden[{i}]", width, 1) for i, width in enumerate(hidden))
        self.pretrain_epochs = check_int("pretrain_epochs", pretrain_epochs, 0)
        fraction = check_float("validation_fraction", validation_fraction, positive=False)
        if fraction >= 1.0:
            raise InvalidArgumentError(f"validation_fraction: must lie in [0, 1), got {validation_fraction!r}")
        self.validation_fraction = fraction
        self.standardize_features = check_bool("standardize_features", standardize_features)
        if config is not None and not isinstance(config, TrainConfig):
            raise InvalidArgumentError(f"config: must be a TrainConfig or None, got {type(config).__name__}")
        if config is not None and config.efficiency:
            raise InvalidArgumentError("config: efficiency must be False for the value network (data values have no gaps)")
        self.config: TrainConfig = VALUE_NETWORK_CONFIG if config is None else config
        self.noisy_values: DataValues | None = None
        self.training: TrainResult | None = None
        self.amortizer: ValueAmortizer | None = None
        self.classes_: NDArray[Any] | None = None
        self.feature_names_: list[str] | None = None
        self.n_features_: int | None = None
        self.utility_: Utility | None = None
        self._utility_description = _describe_utility(self._utility_kind, utility)

    def _build_utility(self, x: NDArray[np.float64], y: NDArray[Any], x_valid: NDArray[np.float64], y_valid: NDArray[Any], seed: int) -> Utility:
        kind, device = self._utility_kind, self.config.device
        if self.utility is None:
            raise InvalidArgumentError(
                f"utility: this valuer was loaded from a bundle made with a {kind} utility, which is not saved; "
                f"pass utility= to AmortizedValuer.load to fit again"
            )
        if kind in BUILT_IN_UTILITIES:
            options = dict(self.utility_options)
            if "dtype" in options:
                options["dtype"] = _DTYPES[options["dtype"]]
            if self.standardize_features:  # the training set's statistics, for the validation set too
                mean, scale = (t.numpy() for t in fit_standardization(x))
                x, x_valid = (x - mean) / scale, (x_valid - mean) / scale
            if kind == "logistic":
                # float32 fits by default: the values are insensitive to the last digits, and it is twice as fast.
                return TorchLogisticUtility(x, y, x_valid, y_valid, device=device, **{"dtype": torch.float32, **options})
            return TorchMLPUtility(x, y, x_valid, y_valid, device=device, seed=seed, **options)
        if kind == "sklearn":
            return SklearnUtility(self.utility, x, y, x_valid, y_valid)
        if kind == "callable":
            built = self.utility(x, y, x_valid, y_valid)
            if not isinstance(built, Utility):
                raise InvalidArgumentError(f"utility: the factory must return a stochamort.valuation.Utility, got {type(built).__name__}")
            if built.n_data != x.shape[0]:
                raise InvalidArgumentError(f"utility: the factory's utility has {built.n_data} training points, x has {x.shape[0]}")
            return built
        raise InvalidArgumentError(f"utility: unknown kind {kind!r}")  # pragma: no cover - _utility_kind checked it

    def fit(self, x: Any, y: Any, *, x_valid: Any, y_valid: Any, seed: int = 0, progress: bool = True) -> AmortizedValuer:
        """Value the training points with the oracle, then train the value network on those values.

        Args:
            x: training features ``(n, n_features)``: an array or a DataFrame (its column names
                are kept and checked by :meth:`value`).
            y: training labels ``(n,)`` (integers or strings; an array or a Series).
            x_valid, y_valid: the validation set the utility scores models on.
            seed: seeds the oracle, the value network and its training (replaces ``config.seed``).
            progress: progress bars for the oracle and the training epochs.

        Returns:
            ``self``, fitted.

        Raises:
            InvalidArgumentError, ShapeError, NonFiniteError, InvalidDTypeError: bad data (the
                message names the argument).
        """
        seed = check_seed(seed)
        if seed >= 2**63:  # the value network's trainer takes seeds below 2**63
            raise InvalidArgumentError(f"seed: must be below 2**63, got {seed}")
        progress = check_bool("progress", progress)
        features, names = as_examples("x", x)
        labels = as_labels("y", y, features.shape[0], "x")
        valid_features, valid_names = as_examples("x_valid", x_valid)
        check_feature_names("x_valid", valid_names, names)
        if valid_features.shape[1] != features.shape[1]:
            raise ShapeError(f"x_valid: has {valid_features.shape[1]} features, x has {features.shape[1]}")
        valid_labels = as_labels("y_valid", y_valid, valid_features.shape[0], "x_valid")
        classes = np.unique(labels)
        if classes.size < 2:
            raise InvalidArgumentError(f"y: needs at least 2 classes, got {classes.size}")
        utility = self._build_utility(features, labels, valid_features, valid_labels, seed)
        noisy = self.oracle(utility, seed=seed, progress=progress)
        config = self.config.replace(seed=seed, progress=progress)
        amortizer = amortize_data_values(
            features, class_indices("y", labels, classes), noisy, n_classes=int(classes.size), hidden=self.hidden,
            pretrain_epochs=self.pretrain_epochs, validation_fraction=self.validation_fraction,
            standardize_features=self.standardize_features, config=config,
        )
        self.utility_, self.noisy_values, self.amortizer, self.training = utility, noisy, amortizer, amortizer.training
        self.classes_, self.feature_names_, self.n_features_ = classes, names, int(features.shape[1])
        return self

    def _fitted(self) -> tuple[ValueAmortizer, NDArray[Any], int]:
        if self.amortizer is None or self.classes_ is None or self.n_features_ is None:
            raise InvalidArgumentError("fit: this AmortizedValuer is not fitted yet; call fit first (or AmortizedValuer.load)")
        return self.amortizer, self.classes_, self.n_features_

    def value(self, x: Any, y: Any, *, batch_size: int = 4096) -> NDArray[np.float64]:
        """Amortized data values of labelled examples (training points or new ones).

        Args:
            x: features ``(n, n_features)``; a DataFrame must have the training columns, in order.
            y: labels ``(n,)``, each one of :attr:`classes_`.
            batch_size: examples per forward pass.

        Returns:
            float64 ``(n,)``, in the units of the utility (e.g. validation accuracy).

        Raises:
            InvalidArgumentError: not fitted (message starts with ``fit``), or labels that are not
                training classes (``y``).
            ShapeError, NonFiniteError, InvalidDTypeError: bad ``x`` or ``y``.
        """
        amortizer, classes, n_features = self._fitted()
        batch_size = check_int("batch_size", batch_size, 1)
        features, names = as_examples("x", x, allow_empty=True)
        check_feature_names("x", names, self.feature_names_)
        if features.shape[1] != n_features:
            raise ShapeError(f"x: has {features.shape[1]} features, the valuer was fitted on {n_features}")
        codes = class_indices("y", as_labels("y", y, features.shape[0], "x"), classes)
        return amortizer.predict(features, codes, batch_size=batch_size)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Save the fitted valuer as a bundle directory (safetensors weights + checksummed JSON).

        The bundle holds the value network's weights and constructor spec, its target scale and
        efficiency flag, the classes and feature names, the noisy values (arrays), the oracle's
        and utility's settings and the training history. A scikit-learn or callable utility is
        recorded by its description only (see :meth:`load`).

        Args:
            path: the bundle's directory (new, or empty).
            overwrite: replace a bundle already at ``path`` (atomically); without it that is refused.

        Returns:
            The bundle's path.

        Raises:
            InvalidArgumentError: not fitted, or ``path`` holds a bundle (and not ``overwrite``)
                or something that is not a bundle.
        """
        amortizer, classes, n_features = self._fitted()
        training, noisy = amortizer.training, self.noisy_values
        assert noisy is not None
        network = amortizer.network
        arrays = {f"network.{k}": v.detach().cpu().numpy() for k, v in network.state_dict().items()}
        arrays.update({"noisy.values": noisy.values, "noisy.std_errors": noisy.std_errors, "noisy.n_contributions": noisy.n_contributions})
        if noisy.m2 is not None:
            arrays["noisy.m2"] = noisy.m2
        extra_arrays = {k: v for k, v in noisy.extras.items() if isinstance(v, np.ndarray) and v.dtype.kind in "biuf"}
        arrays.update({f"noisy.extras.{k}": v for k, v in extra_arrays.items()})
        result = {f.name: getattr(training, f.name) for f in dataclasses.fields(training) if f.name not in ("amortizer", "history")}
        config = {
            "network": {"n_features": n_features, "n_classes": network.n_classes, "hidden": list(self.hidden)},
            "amortizer": {"target_scale": training.amortizer.target_scale, "efficiency": training.amortizer.efficiency},
            "pretrain_flops": amortizer.pretrain_flops,
            "classes": classes.tolist(),
            "feature_names": self.feature_names_,
            "utility": {"kind": self._utility_kind, "description": self._utility_description},
            "oracle": self.oracle.settings(),
            "valuer": {
                "pretrain_epochs": self.pretrain_epochs, "validation_fraction": self.validation_fraction,
                "standardize_features": self.standardize_features, "utility_options": self.utility_options,
                "config": self.config.settings(),
            },
            "training": {**result, "history": training.history.as_dict()},
            "noisy_total_evaluations": int(noisy.total_evaluations),
            "noisy_extras": sorted(extra_arrays),
        }
        return write_bundle(path, BUNDLE_KIND, config, arrays, overwrite=check_bool("overwrite", overwrite))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, utility: str | Any | UtilityFactory | None = None,
             oracle: DataValuationOracle | None = None) -> AmortizedValuer:
        """A valuer saved by :meth:`save`, ready to :meth:`value` (bit-identical values on CPU).

        The built-in utilities and the library's oracles are restored from their settings, so the
        loaded valuer can :meth:`fit` again; a scikit-learn or callable utility is not saved:
        pass it as ``utility`` to fit again (without it, :meth:`fit` raises). ``oracle`` replaces
        the saved one (needed to fit again if it was not one of the library's oracles).

        Raises:
            SavedFileError: ``path`` is not a saved AmortizedValuer (another bundle kind, missing
                files, an edited config.json, weights that do not fit the spec).
            InvalidArgumentError: a bad ``utility`` or ``oracle``.
        """
        if utility is not None:
            _utility_kind(utility)
        if oracle is not None and not isinstance(oracle, DataValuationOracle):
            raise InvalidArgumentError(f"oracle: must be a DataValuationOracle or None, got {type(oracle).__name__}")
        settings, arrays = read_bundle(path, BUNDLE_KIND)
        try:
            return cls._from_bundle(settings, arrays, utility, oracle)
        except SavedFileError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise SavedFileError(f"path: {path} is an incomplete or inconsistent saved AmortizedValuer ({err!r})") from err

    @classmethod
    def _from_bundle(cls, settings: dict[str, Any], arrays: dict[str, NDArray[Any]], utility: Any, oracle: Any) -> AmortizedValuer:
        saved_kind = settings["utility"]["kind"]
        given = utility if utility is not None else saved_kind if saved_kind in BUILT_IN_UTILITIES else "logistic"
        if oracle is None:
            saved = dict(settings["oracle"])
            oracle_class = getattr(oracles, saved.pop("oracle"), None)
            if isinstance(oracle_class, type) and issubclass(oracle_class, DataValuationOracle):
                oracle = oracle_class(**saved)
        valuer_settings = settings["valuer"]
        spec = settings["network"]
        valuer = cls(
            given, oracle=oracle, hidden=spec["hidden"], pretrain_epochs=valuer_settings["pretrain_epochs"],
            validation_fraction=valuer_settings["validation_fraction"],
            # bundles from before the option trained on raw features
            standardize_features=valuer_settings.get("standardize_features", False),
            utility_options=valuer_settings.get("utility_options") if given == saved_kind else None,
            config=TrainConfig.from_settings(valuer_settings["config"]),
        )
        if utility is None and saved_kind not in BUILT_IN_UTILITIES:
            # fit refuses until a utility is given; a second save keeps the original's kind and description
            valuer._utility_kind, valuer.utility = saved_kind, None
            valuer._utility_description = settings["utility"]["description"]
        network = ValueNetwork(int(spec["n_features"]), int(spec["n_classes"]), spec["hidden"])
        state = {k.removeprefix("network."): torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("network.")}
        if not valuer.standardize_features:  # older bundles have no standardisation buffers: the identity
            defaults = network.state_dict()
            for key in ("feature_mean", "feature_scale"):
                state.setdefault(key, defaults[key].to(state["head.weight"].dtype))
        dtypes = {t.dtype for t in state.values()}
        if len(dtypes) != 1:
            raise SavedFileError(f"path: the saved network's weights mix dtypes {sorted(map(str, dtypes))}")
        network.to(dtypes.pop())  # the saved precision, whatever torch's default dtype is here
        network.load_state_dict(state, strict=True)
        network.eval()
        scale = settings["amortizer"]
        wrapped = Amortizer(network, target_scale=scale["target_scale"], efficiency=scale["efficiency"])
        training = dict(settings["training"])
        history = TrainHistory(**training.pop("history"))
        result = TrainResult(amortizer=wrapped, history=history, **training)
        valuer.amortizer = ValueAmortizer(network, result, float(settings["pretrain_flops"]))
        valuer.training = result
        extras = {k: arrays[f"noisy.extras.{k}"] for k in settings["noisy_extras"]}
        valuer.noisy_values = DataValues(
            arrays["noisy.values"], arrays["noisy.std_errors"], arrays["noisy.n_contributions"],
            int(settings["noisy_total_evaluations"]), arrays.get("noisy.m2"), extras=extras,
        )
        valuer.classes_ = np.asarray(settings["classes"])
        valuer.feature_names_ = settings["feature_names"]
        valuer.n_features_ = int(spec["n_features"])
        return valuer
