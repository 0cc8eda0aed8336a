"""Saving and loading an :class:`~stochamort.amortize.AmortizedExplainer` (no pickle, model checked).

A saved explainer is a bundle directory (:mod:`stochamort._bundle`): ``weights.safetensors``
holds the amortizer's weights and buffers (target scale, efficiency flag, input
standardisation), the masker's arrays (baseline or background rows) and a probe of the model;
``config.json`` holds everything else — masker, output, oracle and training settings, the
training history, names, the package version. The model itself is never stored: ``load`` is
given it, and refuses it unless it is the model the explainer was fitted on. Two checks: a
fingerprint of the model (the SHA-256 of a torch module's weights; for other models, of their
outputs on probe inputs), and the game values v(∅) and v(all) on probe inputs — synthetic rows
drawn from the training inputs' per-feature mean and spread, so that no training row is stored
(a marginal masker's background rows are, as shap's saved explainers store theirs).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from torch import nn

from stochamort._bundle import read_bundle, write_bundle
from stochamort.amortize.amortizer import Amortizer, TrainHistory, TrainResult
from stochamort.amortize.explainer_inputs import ExplainedInputs
from stochamort.amortize.fastshap import FastSHAP
from stochamort.errors import InvalidArgumentError, ModelMismatchError, SavedFileError
from stochamort.games import masker_from_state, masker_state
from stochamort.labels.fingerprint import model_fingerprint
from stochamort.oracles import oracle_from_settings

if TYPE_CHECKING:
    from stochamort.amortize.explainer import AmortizedExplainer

__all__ = ["save_explainer", "load_explainer", "KIND"]

KIND = "AmortizedExplainer"
_AMORTIZER, _MASKER, _PROBE = "amortizer.", "masker.", "probe."


def _game_values(explainer: AmortizedExplainer, probe: NDArray[Any]) -> NDArray[np.float64]:
    """v(∅) and v(all) of the probe rows, ``(2, N_PROBES, n_outputs)``."""
    null, grand = explainer.game(ExplainedInputs(probe, explainer.columns, _frame_type(explainer.columns))).endpoints()
    return np.stack([null, grand])


def _frame_type(columns: tuple[str, ...] | None) -> type | None:
    """pandas.DataFrame when the explainer was fitted on one (pandas is then installed)."""
    if columns is None:
        return None
    try:
        frame: type = importlib.import_module("pandas").DataFrame
    except ImportError as err:  # pragma: no cover - fitted on a DataFrame, so pandas existed
        raise InvalidArgumentError("model: the explainer was fitted on a DataFrame; install pandas to load it") from err
    return frame


def save_explainer(explainer: AmortizedExplainer, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``explainer`` (fitted) as a bundle at ``path``; returns the path.

    Raises:
        InvalidArgumentError: not fitted; a callable ``output`` (code cannot be saved: use a named
            output); a masker or network that cannot be described without pickle.
    """
    training = explainer.training
    if training is None:
        raise InvalidArgumentError("fit: the explainer has not been fitted; call fit(x_train) before save")
    if explainer.output is not None and not isinstance(explainer.output, str):
        raise InvalidArgumentError("output: a callable output transform cannot be saved without pickle; use 'identity', 'probabilities', 'log_odds' or 'logits'")
    assert explainer.family is not None and explainer.probe is not None
    masker_spec, masker_arrays = masker_state(explainer.masker)
    amortizer: Amortizer = training.amortizer
    config = {
        "model": {"type": type(explainer.model).__name__, "fingerprint": model_fingerprint(explainer.family, explainer.probe)},
        "masker": masker_spec,
        "output": explainer.output,
        "groups": explainer.groups,
        "feature_names": explainer.feature_names,
        "output_names": explainer.output_names,
        "columns": explainer.columns,
        "input_shape": list(explainer.input_shape or ()),
        "batch_size": explainer.batch_size,
        "oracle": explainer.oracle.settings() if explainer.oracle is not None else None,
        "objective": None if explainer.objective is None else explainer.objective.settings(),
        "amortizer": amortizer.spec(),
        "training": {
            "settings": training.settings,
            "history": training.history.as_dict(),
            "best_epoch": training.best_epoch,
            "best_val_loss": training.best_val_loss,
            "epochs_run": training.epochs_run,
            "stopped_early": training.stopped_early,
            "train_seconds": training.train_seconds,
            "samples_processed": training.samples_processed,
            "val_samples_processed": training.val_samples_processed,
            "train_flops": training.train_flops,
            "flops_per_sample": training.flops_per_sample,
            "target_scale": training.target_scale,
            "mixed_precision": training.mixed_precision,
            "device": training.device,
            "n_evaluations": training.n_evaluations,
            "objective": training.objective,
        },
    }
    arrays = {_AMORTIZER + k: v for k, v in amortizer.state_arrays().items()}
    arrays |= {_MASKER + k: v for k, v in masker_arrays.items()}
    arrays[_PROBE + "inputs"] = explainer.probe
    arrays[_PROBE + "values"] = _game_values(explainer, explainer.probe)
    return write_bundle(path, KIND, _json_safe(config), arrays, overwrite=overwrite)


def load_explainer(
    cls: type[AmortizedExplainer], path: Path, *, model: Any, network: nn.Module | None, device: Any
) -> AmortizedExplainer:
    """The explainer saved at ``path``, bound to ``model`` (refused unless it is the saved model).

    Raises:
        SavedFileError: not a saved explainer, edited, or written by a newer format.
        ModelMismatchError: ``model`` is not the model the explainer was fitted on.
    """
    config, arrays = read_bundle(path, KIND)
    part = {prefix: {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)} for prefix in (_AMORTIZER, _MASKER, _PROBE)}
    try:
        masker = masker_from_state(config["masker"], part[_MASKER])
        oracle = None if config["oracle"] is None else oracle_from_settings(config["oracle"])
        objective = None if config.get("objective") is None else FastSHAP.from_settings(config["objective"])
        explainer = cls(
            model,
            masker,
            oracle=oracle,
            objective=objective,
            output=config["output"],
            feature_names=config["feature_names"],
            output_names=config["output_names"],
            groups=config["groups"],
            batch_size=config["batch_size"],
            device=device,
        )
        probe = part[_PROBE]["inputs"]
        stored_values = part[_PROBE]["values"]
        saved_fingerprint = config["model"]["fingerprint"]
        columns = None if config["columns"] is None else tuple(config["columns"])
        input_shape = tuple(int(s) for s in config["input_shape"])
        training_state = config["training"]
    except (KeyError, TypeError) as err:
        raise SavedFileError(f"path: {path} is missing a setting a saved explainer needs ({err!r})") from err
    explainer.columns, explainer.input_shape, explainer.probe = columns, input_shape, probe
    explainer.game(ExplainedInputs(probe, columns, _frame_type(columns)))
    _check_same_model(explainer, saved_fingerprint, probe, stored_values, config["model"]["type"])
    amortizer = Amortizer.from_arrays(config["amortizer"], part[_AMORTIZER], network=network)
    explainer.network = amortizer.model
    explainer.training = TrainResult(
        amortizer=amortizer,
        history=TrainHistory(**training_state["history"]),
        **{k: v for k, v in training_state.items() if k != "history"},
    )
    return explainer


def _check_same_model(
    explainer: AmortizedExplainer, saved: str | None, probe: NDArray[Any], stored: NDArray[np.float64], saved_type: str
) -> None:
    assert explainer.family is not None
    found = model_fingerprint(explainer.family, probe)
    if saved is not None and found != saved:
        raise ModelMismatchError(
            f"model: this {type(explainer.model).__name__} is not the model the explainer was fitted on "
            f"(a {saved_type}; its fingerprint differs: other weights or another estimator)"
        )
    values = _game_values(explainer, probe)
    if values.shape != stored.shape or not np.allclose(values, stored, rtol=1e-6, atol=1e-9):
        worst = math.inf if values.shape != stored.shape else float(np.max(np.abs(values - stored)))
        raise ModelMismatchError(
            f"model: gives other game values on the saved probe inputs than the model the explainer was fitted on "
            f"(largest difference {worst:.3g}); load it with the model it was fitted on"
        )


def _json_safe(value: Any) -> Any:
    """Tuples as lists and numpy scalars as Python numbers, recursively (for json)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
