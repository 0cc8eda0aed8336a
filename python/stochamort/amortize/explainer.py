"""The object a practitioner holds: :class:`AmortizedExplainer` — point it at a model, fit, explain.

::

    explainer = AmortizedExplainer(model, x_train)          # scikit-learn, any predict function, or torch
    explainer.fit(x_train)                                   # noisy labels, then one network trained on them
    attributions = explainer.explain(x_test)                 # one forward pass per point
    attributions.to_shap()                                   # every shap plot
    explainer.save("explainer")                              # safetensors + JSON, no pickle
    AmortizedExplainer.load("explainer", model=model)        # refused against another model

What :meth:`AmortizedExplainer.fit` does, in order: it binds the model and masker to the training
inputs (:class:`~stochamort.games.MaskedModel`); estimates every training point's attribution
cheaply with the oracle (noisy but unbiased; by default antithetic permutation sampling, or
regression-adjusted Monte Carlo when the budget per point allows, see :func:`default_oracle`) into a
resumable label store (:func:`~stochamort.labels.generate_labels`); holds out a seeded share of
the points, whose *noisy* labels select the checkpoint; computes v(∅) and v(all) for the
efficiency normalization (Shapley values); and trains the amortizer network
(:func:`~stochamort.amortize.train_amortizer`). With ``objective=FastSHAP()`` there are no
labels: the network is trained on the game's sampled coalitions instead
(:func:`~stochamort.amortize.train_amortizer_fastshap`), with the same split, network and
training settings. Saving and loading are in :mod:`stochamort.amortize.explainer_state`.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from stochamort._checks import MAX_ENUMERATION_PLAYERS, check_bool, check_fraction, check_int, check_seed, table_columns
from stochamort.amortize.amortizer import TrainHistory, TrainResult
from stochamort.amortize.config import TrainConfig
from stochamort.amortize.explainer_inputs import ExplainedInputs, as_explained_inputs, player_names, probe_inputs
from stochamort.amortize.fastshap import FastSHAP, train_amortizer_fastshap
from stochamort.amortize.metrics import evaluate_attributions
from stochamort.amortize.standardization import fit_standardization
from stochamort.amortize.models import GatedMLPAmortizer, MLPAmortizer, image_amortizer
from stochamort.amortize.trainer import train_amortizer
from stochamort.errors import InvalidArgumentError, ShapeError
from stochamort.explanation import Attributions
from stochamort.games import BaselineMasker, ImagePatchMasker, MarginalMasker, MaskedModel, Masker, NumpyModel, OutputSpec
from stochamort.games.model import ModelGame
from stochamort.labels import generate_labels
from stochamort.oracles import Exact, Oracle, Permutation, RegressionShapley
from stochamort.results import Estimate

__all__ = [
    "AmortizedExplainer",
    "default_oracle",
    "default_train_config",
    "DEFAULT_BACKGROUND",
    "DEFAULT_LABEL_EVALUATIONS",
    "DEFAULT_STEPS",
    "REGRESSION_MIN_BUDGET_PER_PLAYER",
]

#: Background rows a :class:`~stochamort.games.MarginalMasker` built from data keeps (as shap's
#: ``Independent`` masker does by default): each coalition then costs this many model inputs.
DEFAULT_BACKGROUND = 100

#: Label evaluations (per point × points) the default oracle aims to spend in total, so that a
#: small training set gets more precise labels per point and a large one the cheapest round.
DEFAULT_LABEL_EVALUATIONS = 100_000

#: From this many evaluations per player on, :func:`default_oracle` labels with
#: :class:`~stochamort.oracles.RegressionShapley` rather than permutation sampling.
REGRESSION_MIN_BUDGET_PER_PLAYER = 5

#: The named outputs (see :data:`~stochamort.games.OutputSpec`).
_OUTPUTS = ("identity", "probabilities", "logits", "log_odds")

#: Optimisation steps the default training config aims for, whatever the number of points.
DEFAULT_STEPS = 3000


def default_oracle(n_points: int, n_players: int) -> Permutation | RegressionShapley:
    """The default label oracle: the unbiased Shapley oracle with the lowest error per evaluation
    at the label budget that ``n_points`` points can afford.

    The budget is ``p`` whole pairs of orders of antithetic permutation sampling,
    ``2 + p · 2(d − 1)`` evaluations, with ``p = max(1, ⌈DEFAULT_LABEL_EVALUATIONS / (n_points · 2d)⌉)``
    and at most 16: the cheapest complete round (2d evaluations) for large training sets, more
    precise labels per point for small ones, where the amortizer has fewer points to average
    noise over. Below :data:`REGRESSION_MIN_BUDGET_PER_PLAYER` · d evaluations the oracle is
    :class:`~stochamort.oracles.Permutation` with those pairs (unbiased and exactly efficient);
    from there on :class:`~stochamort.oracles.RegressionShapley` (unbiased, cross-fitted
    regression-adjusted Monte Carlo) with the same budget, whose surrogate then has enough rows to
    pay for itself. Measured error × evaluations, RegressionShapley over Permutation, on MLP
    games: 1.0 at 4d, 0.81 at 5d, 0.63 at 8d, 0.34 at 15d (d = 12); 0.91 at 5d, 0.71 at 8d
    (d = 49); 0.88 at 5.3d (d = 24).
    """
    n_points = check_int("n_points", n_points, 1)
    d = check_int("n_players", n_players, 1)
    pairs = min(16, max(1, math.ceil(DEFAULT_LABEL_EVALUATIONS / (n_points * 2 * d))))
    budget = 2 + pairs * 2 * max(1, d - 1)
    if d >= 2 and budget >= REGRESSION_MIN_BUDGET_PER_PLAYER * d:
        return RegressionShapley(budget)
    return Permutation(budget)


def default_train_config(
    n_train: int, *, tabular: bool, efficiency: bool, seed: int, progress: bool, validation: bool = True
) -> TrainConfig:
    """The default training settings for ``n_train`` points: about :data:`DEFAULT_STEPS` AdamW
    steps (20 to 400 epochs) of batches of ``min(256, max(32, n_train // 8))`` at learning rate
    2e-3 with a cosine decay, targets rescaled to unit RMS, inputs standardised when tabular, and
    early stopping once the held-out noisy loss has not improved for a quarter of the epochs."""
    batch = min(256, max(32, n_train // 8))
    epochs = int(np.clip(math.ceil(DEFAULT_STEPS / max(1, math.ceil(n_train / batch))), 20, 400))
    return TrainConfig(
        efficiency=efficiency,
        target_scale="auto",
        epochs=epochs,
        batch_size=batch,
        lr=2e-3,
        weight_decay=0.0,
        standardize_inputs=tabular,
        patience=max(10, epochs // 4) if validation else None,
        seed=seed,
        progress=progress,
    )


class AmortizedExplainer:
    """Amortized attributions of a model's predictions: fit once, then explain any input in one pass.

    Args:
        model: the model to explain. A torch module (inputs as tensors on its device; outputs
            ``(n, n_outputs)`` logits by default), a scikit-learn-like estimator (its
            ``predict_proba``, else ``predict``, is explained; XGBoost and LightGBM models have
            them too), a :class:`~stochamort.games.NumpyModel`, or any function
            ``f(np.ndarray) -> np.ndarray`` of shape ``(n,)`` or ``(n, n_outputs)``.
        masker: how absent players are removed. A :class:`~stochamort.games.Masker`, or data (an
            array or DataFrame ``(n, n_features)``): then the interventional (marginal) value
            function over a seeded sample of :data:`DEFAULT_BACKGROUND` of its rows — the value
            function of shap's ``Independent`` masker with that background.
        oracle: the noisy per-point estimator that labels the training points (default
            :func:`default_oracle`: unbiased Shapley values by antithetic permutation sampling, or
            by :class:`~stochamort.oracles.RegressionShapley` when ≥ 5d evaluations per point fit).
            It is also what ``explain(x, amortized=False)`` runs.
        objective: how the amortizer learns: None (default) regresses it on the oracle's noisy
            labels (stochastic amortization); :class:`~stochamort.amortize.FastSHAP` fits it to
            the game's sampled coalitions instead, without labels (Shapley values only).
        amortizer: the network to train, mapping inputs ``(n, *shape)`` to ``(n, n_players,
            n_outputs)`` (default: for tabular inputs, a :class:`GatedMLPAmortizer` — or an
            :class:`MLPAmortizer` when features are grouped —; for images with an
            :class:`~stochamort.games.ImagePatchMasker`, a small ViT with a per-patch head,
            :func:`image_amortizer`). Token inputs need one passed here.
        output: how model outputs become the explained value (see
            :data:`~stochamort.games.OutputSpec`): default ``None`` uses a numpy model's outputs
            as they are (``predict_proba``'s probabilities stay probabilities) and takes the
            softmax of a torch module's logits; ``"identity"`` uses any output as is.
        feature_names: one name per player (default: a DataFrame's columns).
        output_names: one name per output (default: a classifier's ``classes_``).
        groups: a partition of the features into players (a list of index lists).
        config: how to train (:class:`TrainConfig`; default :func:`default_train_config`, sized
            by the number of training points, which turns on the efficiency normalization for
            Shapley oracles — predictions then sum exactly to v(all) − v(∅) —, standardises
            tabular inputs and rescales targets). A config of your own is used as given: start
            from ``default_train_config(n, tabular=..., efficiency=True, seed=0,
            progress=True).replace(epochs=...)`` to keep those; a Shapley oracle with
            ``efficiency=False`` gets a warning.
        batch_size: model inputs per forward pass.
        device: where a torch model runs (default: its parameters' device).

    Attributes (after :meth:`fit`):
        training: the :class:`TrainResult` (best epoch, FLOPs, settings).
        history: the per-epoch :class:`TrainHistory`.
        labels: the noisy training labels (an :class:`~stochamort.results.Estimate`; None
            with ``objective=FastSHAP()``).
    """

    def __init__(
        self,
        model: Any,
        masker: Masker | Any,
        *,
        oracle: Oracle | None = None,
        objective: FastSHAP | None = None,
        amortizer: nn.Module | None = None,
        output: OutputSpec | None = None,
        feature_names: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
        groups: Sequence[Sequence[int]] | None = None,
        config: TrainConfig | None = None,
        batch_size: int = 4096,
        device: Any = None,
    ) -> None:
        if not callable(model) and not hasattr(model, "predict") and not hasattr(model, "predict_proba"):
            raise InvalidArgumentError(f"model: must be a torch module, an estimator with predict/predict_proba, or a function; got {type(model).__name__}")
        if oracle is not None and not isinstance(oracle, Oracle):
            raise InvalidArgumentError(f"oracle: must be a stochamort.oracles.Oracle, got {type(oracle).__name__}")
        if objective is not None and not isinstance(objective, FastSHAP):
            raise InvalidArgumentError(f"objective: must be a stochamort.amortize.FastSHAP or None (labels), got {type(objective).__name__}")
        if objective is not None and oracle is not None and oracle.target != "shapley":
            raise InvalidArgumentError(
                f"objective: FastSHAP learns Shapley values, but the oracle estimates {oracle.target} values; "
                "use a Shapley oracle or leave it to the default"
            )
        if amortizer is not None and not isinstance(amortizer, nn.Module):
            raise InvalidArgumentError(f"amortizer: must be a torch.nn.Module, got {type(amortizer).__name__}")
        if config is not None and not isinstance(config, TrainConfig):
            raise InvalidArgumentError(f"config: must be a TrainConfig or None, got {type(config).__name__}")
        if isinstance(output, str) and output not in _OUTPUTS:
            raise InvalidArgumentError(f"output: expected one of {', '.join(map(repr, _OUTPUTS))}, a callable or None, got {output!r}")
        self.model = model
        self.masker = masker if isinstance(masker, Masker) else _masker_from_data(masker)
        self._masker_columns = None if isinstance(masker, Masker) else table_columns(masker)
        self.oracle = oracle
        self._default_oracle = oracle is None
        self.objective = objective
        self.network = amortizer
        self.output = output
        self.feature_names = None if feature_names is None else tuple(str(n) for n in feature_names)
        self.output_names = None if output_names is None else tuple(str(n) for n in output_names)
        if self.output_names is None and hasattr(model, "classes_") and hasattr(model, "predict_proba"):
            self.output_names = tuple(str(c) for c in np.asarray(model.classes_).tolist())
        self.groups = None if groups is None else [list(map(int, g)) for g in groups]
        self.config = config
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.device = device
        self.family: MaskedModel | None = None
        self.training: TrainResult | None = None
        self.labels: Estimate | None = None
        self.input_shape: tuple[int, ...] | None = None
        self.columns: tuple[str, ...] | None = None
        self.probe: NDArray[Any] | None = None

    # ------------------------------------------------------------------ set-up

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run (or the explainer was loaded)."""
        return self.training is not None

    @property
    def history(self) -> TrainHistory:
        """The training history (per-epoch losses and learning rates)."""
        return self._trained().history

    @property
    def amortizer(self) -> Any:
        """The trained :class:`~stochamort.amortize.Amortizer`."""
        return self._trained().amortizer

    def _trained(self) -> TrainResult:
        if self.training is None:
            raise InvalidArgumentError("fit: the explainer has not been fitted; call fit(x_train) first (or load a saved one)")
        return self.training

    def _family(self, inputs: ExplainedInputs) -> MaskedModel:
        """The masked model, built once from the first inputs seen (their columns name features)."""
        if self.family is None:
            columns = inputs.columns if inputs.columns is not None else self._masker_columns
            model = self.model
            if not isinstance(model, (nn.Module, NumpyModel)):
                # Estimators call themselves on DataFrames with the columns they were fitted on;
                # a plain function gets frames only if the data came as one.
                if hasattr(model, "predict") or hasattr(model, "predict_proba"):
                    model = NumpyModel.from_estimator(model)
                else:
                    frame = inputs.frame_type if columns is not None and inputs.frame_type is not None else None
                    model = NumpyModel(model, columns=columns if frame else None, frame_type=frame)
            self.family = MaskedModel(model, self.masker, output=self.output, batch_size=self.batch_size, device=self.device, groups=self.groups)
            self.columns = None if columns is None else tuple(columns)
        return self.family

    def _inputs(self, x: Any, name: str) -> ExplainedInputs:
        inputs = as_explained_inputs(x, name)
        if self.input_shape is not None and tuple(inputs.array.shape[1:]) != self.input_shape:
            raise ShapeError(f"{name}: each input has shape {tuple(inputs.array.shape[1:])}, but the explainer was fitted on inputs of shape {self.input_shape}")
        if self.columns is not None and inputs.columns is not None and tuple(inputs.columns) != tuple(self.columns):
            raise ShapeError(f"{name}: has columns {list(inputs.columns)[:8]}..., but the explainer was fitted on {list(self.columns)[:8]}...")
        if isinstance(self.masker, MarginalMasker):
            row_shape = self.masker.input_shape
            if tuple(inputs.array.shape[1:]) != row_shape:
                raise ShapeError(
                    f"{name}: each input has shape {tuple(inputs.array.shape[1:])}, but the masker's background rows have {row_shape}"
                )
        return inputs

    def game(self, x: Any) -> ModelGame:
        """The explained game bound to inputs ``x``: v_x(S), the model's output with players outside S masked."""
        inputs = x if isinstance(x, ExplainedInputs) else self._inputs(x, "x")
        return self._family(inputs).bind(inputs.array)

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        x_train: Any,
        *,
        labels_dir: str | Path | None = None,
        validation_fraction: float = 0.1,
        seed: int = 0,
        label_chunk_size: int = 512,
        progress: bool = True,
    ) -> AmortizedExplainer:
        """Label the training inputs with the oracle, then train the amortizer on the noisy labels
        (with ``objective=FastSHAP()``: train it on the game's sampled coalitions, no labels).

        Args:
            x_train: the inputs to learn from, ``(n, *input_shape)``: array, tensor or DataFrame.
                They need no targets: the labels are the oracle's estimates.
            labels_dir: where the label store lives. A rerun with the same arguments after a
                crash resumes it (finished chunks are kept); a store made for other inputs, model,
                oracle or seed is refused. Default: a temporary directory, removed afterwards.
                Not used with FastSHAP (refused if given).
            validation_fraction: share of the points held out (seeded) whose noisy labels select
                the checkpoint; 0 trains on all of them and keeps the last epoch.
            seed: seeds the labels, the split and the training (unless ``config`` sets its own).
            label_chunk_size: points per chunk of the label store (the unit of work a resume keeps).
            progress: progress bars for labelling and training (False also silences the
                training bar of a ``config`` given to the constructor).

        Returns:
            ``self``, with :attr:`training`, :attr:`history` and :attr:`labels` set.
        """
        seed = check_seed(seed)
        fraction = check_fraction("validation_fraction", validation_fraction)
        if fraction >= 1.0:
            raise InvalidArgumentError(f"validation_fraction: must be below 1, got {fraction}")
        progress = check_bool("progress", progress)
        chunk = check_int("label_chunk_size", label_chunk_size, 1)
        if self.objective is not None and labels_dir is not None:
            raise InvalidArgumentError("labels_dir: FastSHAP trains without labels, so there is no label store; leave it None")
        self.family, self.input_shape = None, None
        inputs = self._inputs(x_train, "x_train")
        n = inputs.n_points
        n_val = int(round(fraction * n))
        if n - n_val < 2:
            raise ShapeError(f"x_train: {n} point(s) leave {n - n_val} to train on; give at least 2 more than the validation share")
        game = self.game(inputs)
        self.input_shape = tuple(int(s) for s in inputs.array.shape[1:])
        d, o = game.n_players, game.n_outputs
        self.feature_names = player_names(self.feature_names, inputs.columns if self.groups is None else None, d)
        if self.output_names is not None and len(self.output_names) != o:
            raise ShapeError(f"output_names: {len(self.output_names)} names for {o} model outputs")
        oracle = default_oracle(n, d) if self._default_oracle or self.oracle is None else self.oracle
        self.oracle = oracle
        labels = None
        if self.objective is None:
            with _label_directory(labels_dir) as directory:
                labels = generate_labels(self._family(inputs), inputs.array, oracle, directory, seed=seed, chunk_size=chunk, progress=progress).load()
        tabular = inputs.array.ndim == 2 and inputs.is_float
        config = self.config or default_train_config(
            n - n_val, tabular=tabular, efficiency=oracle.target == "shapley", seed=seed, progress=progress, validation=n_val > 0
        )
        if not progress and config.progress:
            config = config.replace(progress=False)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
        val, train = order[:n_val], order[n_val:]
        x = inputs.array
        if self.config is not None and oracle.target == "shapley" and not config.efficiency:
            warnings.warn(
                "config: efficiency=False, so the amortized Shapley values will not sum to v(all) − v(∅); "
                "TrainConfig(efficiency=True) (or default_train_config(...).replace(...)) keeps them exact",
                UserWarning,
                stacklevel=2,
            )
        network = self.network if self.network is not None else self._default_network(inputs, x[train], d, o, tabular)
        if labels is None:
            family = self._family(inputs)
            self.training = train_amortizer_fastshap(
                network,
                x[train],
                family.bind(x[train]),
                x_val=x[val] if n_val else None,
                game_val=family.bind(x[val]) if n_val else None,
                objective=self.objective,
                config=config,
            )
        else:
            null, grand = game.endpoints()
            gaps = grand - null
            efficiency = config.efficiency
            self.training = train_amortizer(
                network,
                x[train],
                labels.values[train],
                x_val=x[val] if n_val else None,
                labels_val=labels.values[val] if n_val else None,
                gaps_train=gaps[train] if efficiency else None,
                gaps_val=gaps[val] if efficiency and n_val else None,
                config=config,
            )
        self.labels = labels
        self.probe = probe_inputs(x)
        return self

    def _default_network(self, inputs: ExplainedInputs, x_train: Any, d: int, o: int, tabular: bool) -> nn.Module:
        shape = inputs.array.shape[1:]
        if isinstance(self.masker, ImagePatchMasker) and len(shape) == 3:
            channels, height, width = (int(s) for s in shape)
            return image_amortizer(channels, (height, width), self.masker.patch_size, o)
        if not tabular:
            raise InvalidArgumentError(
                f"amortizer: no default network for inputs of shape {tuple(shape)} with a {type(self.masker).__name__}; "
                "pass one mapping (n, *input_shape) to (n, n_players, n_outputs)"
            )
        n_features = int(shape[0])
        if self.groups is not None:
            return MLPAmortizer(n_features, d, o, hidden=(256, 256))
        baseline = _reference_point(self.masker, inputs)
        mean, std = _standardization(x_train)  # what the trainer fits on the training split
        return GatedMLPAmortizer((baseline - mean) / std, o, hidden=(128, 128))

    # ------------------------------------------------------------------ explain

    def explain(
        self, x: Any, *, amortized: bool = True, oracle: Oracle | None = None, seed: int = 0, progress: bool = False
    ) -> Attributions:
        """Attributions of the model's outputs on ``x``, with v(∅), v(all), names and inputs.

        Args:
            x: inputs ``(n, *input_shape)`` (array, tensor or DataFrame) like the training ones.
            amortized: True: the trained network predicts them (one forward pass, plus v(∅) and
                v(all): 2 model evaluations per point, which also make Shapley predictions sum
                exactly to v(all) − v(∅)); no per-point standard errors (``std_errors`` None —
                :meth:`score` measures the amortizer's accuracy). False: the oracle runs per
                example (the comparison path), with standard errors.
            oracle: for ``amortized=False``, another oracle to run (default: the label oracle);
                refused with ``amortized=True``, which runs no oracle.
            seed: the oracle's seed for ``amortized=False``.
            progress: a progress bar for the per-example path.

        Returns:
            :class:`~stochamort.explanation.Attributions`; ``n_evaluations`` counts the game
            evaluations spent per point: v(∅) and v(all) for ``base_values`` and ``outputs`` (all
            the amortized path needs), plus, per example, the oracle's own count (what of its budget
            it could use, e.g. 38 of 40 for Permutation at 10 players). Per example, ``dof`` and
            ``target_met`` (which points met a :class:`~stochamort.oracles.StoppingRule` target).
        """
        inputs = self._inputs(x, "x")
        if (amortized := check_bool("amortized", amortized)) and oracle is not None:
            raise InvalidArgumentError("oracle: runs on the per-example path only; pass amortized=False with it")
        if amortized:
            training = self._trained()
        game = self.game(inputs)
        null, grand = game.endpoints()
        if amortized:
            gaps = grand - null if training.amortizer.efficiency else None
            values = training.amortizer.predict(inputs.array, gaps)
            std_errors, evaluations, method = None, np.full(inputs.n_points, 2, np.int64), "amortized"
            dof = poolable = target_met = None
        else:
            chosen = oracle if oracle is not None else self.oracle or default_oracle(inputs.n_points, game.n_players)
            if not isinstance(chosen, Oracle):
                raise InvalidArgumentError(f"oracle: must be a stochamort.oracles.Oracle, got {type(chosen).__name__}")
            est = chosen(game, seed=check_seed(seed), progress=check_bool("progress", progress))
            values, std_errors, method = est.values, est.std_errors, type(chosen).__name__
            evaluations, dof, poolable = est.n_evaluations + 2, est.dof, est.extras.get("poolable")
            target_met = est.extras.get("target_met")
        return Attributions(
            values=values,
            std_errors=std_errors,
            n_evaluations=evaluations,
            base_values=null,
            outputs=grand,
            data=inputs.numpy(),
            feature_names=self.feature_names,
            output_names=self.output_names,
            method=method,
            patch_size=self.masker.patch_size if isinstance(self.masker, ImagePatchMasker) else None,
            dof=dof,
            poolable=poolable,
            target_met=target_met,
        )

    def score(self, x: Any, reference: Any = "exact", *, seed: int = 0, progress: bool = False) -> dict[str, float]:
        """Accuracy of the amortized attributions of ``x`` against a reference.

        Args:
            x: inputs to explain (held-out ones say how well the amortizer generalises).
            reference: ``"exact"`` (enumeration of all 2^d coalitions; d ≤ 20; it costs
                2^d coalitions × the masker's background rows × points model rows, e.g.
                2^13 × 100 × 54 = 44 million rows for 54 wine rows: minutes on a CPU), an oracle run per
                example (e.g. ``Permutation(budget=4096)``), or reference attributions for ``x``
                (:class:`Attributions`, an :class:`~stochamort.results.Estimate` or an array
                ``(n, d, n_outputs)``).
            seed: the reference oracle's seed.
            progress: a progress bar for the reference oracle.

        Returns:
            ``squared_error`` (summed over players, mean over points and outputs),
            ``normalized_error``, ``pearson`` and ``spearman`` (per point, averaged; ``_global``
            over all values), ``sign_agreement``, and ``n_points``.
        """
        predicted = self.explain(x)
        if isinstance(reference, str):
            if reference != "exact":
                raise InvalidArgumentError(f"reference: expected 'exact', an Oracle or attributions, got {reference!r}")
            if predicted.n_players > MAX_ENUMERATION_PLAYERS:
                raise InvalidArgumentError(
                    f"reference: exact enumeration of {predicted.n_players} players is too costly (at most "
                    f"{MAX_ENUMERATION_PLAYERS}); pass a large-budget oracle such as Permutation(budget=4096)"
                )
            reference = Exact()
        if isinstance(reference, Oracle):
            truth = self.explain(x, amortized=False, oracle=reference, seed=seed, progress=progress).values
        elif isinstance(reference, (Attributions, Estimate)):
            truth = reference.values
        else:
            truth = np.asarray(reference, dtype=np.float64)
        if truth.shape != predicted.values.shape:
            raise ShapeError(f"reference: attributions of shape {truth.shape} for predictions of shape {predicted.values.shape}")
        return {**evaluate_attributions(predicted.values, truth), "n_points": float(predicted.n_points)}

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Save the fitted explainer to the directory ``path`` (see :mod:`~stochamort.amortize.explainer_state`).

        Args:
            path: a new (or empty) directory.
            overwrite: replace an explainer already saved at ``path`` (atomically); without it
                that raises :class:`~stochamort.errors.InvalidArgumentError` naming ``path``.

        Returns:
            The bundle's path.
        """
        from stochamort.amortize.explainer_state import save_explainer

        return save_explainer(self, Path(path), overwrite=check_bool("overwrite", overwrite))

    @classmethod
    def load(cls, path: str | Path, *, model: Any, amortizer: nn.Module | None = None, device: Any = None) -> AmortizedExplainer:
        """Load an explainer saved by :meth:`save`, bound to ``model`` (which must be the saved one).

        Args:
            path: the saved explainer's directory.
            model: the model it explains (never stored: pass the same one). Another model — other
                weights, another estimator — is refused with a
                :class:`~stochamort.errors.ModelMismatchError`.
            amortizer: the network instance to load the weights into, needed only when the
                explainer was fitted with a network of your own.
            device: where a torch model runs.
        """
        from stochamort.amortize.explainer_state import load_explainer

        return load_explainer(cls, Path(path), model=model, network=amortizer, device=device)

    def __repr__(self) -> str:
        state = "fitted" if self.fitted else "not fitted"
        objective = "" if self.objective is None else f", objective={self.objective!r}"
        return f"AmortizedExplainer({type(self.model).__name__}, {type(self.masker).__name__}, oracle={self.oracle!r}{objective}, {state})"


class _label_directory:
    """The label store's directory: the user's, or a temporary one removed on exit."""

    def __init__(self, directory: str | Path | None) -> None:
        self._temp = tempfile.TemporaryDirectory(prefix="stochamort-labels-") if directory is None else None
        self.path = Path(self._temp.name) / "labels" if self._temp is not None else Path(directory)  # type: ignore[arg-type]

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self._temp is not None:
            self._temp.cleanup()


def _masker_from_data(data: Any) -> MarginalMasker:
    inputs = as_explained_inputs(data, "masker")
    if inputs.array.ndim != 2:
        raise ShapeError(
            f"masker: background data must be a table (n_rows, n_features), got shape {tuple(inputs.array.shape)}; "
            "for images pass an ImagePatchMasker"
        )
    n = min(DEFAULT_BACKGROUND, inputs.n_points)
    return MarginalMasker(inputs.array, n_background=n, seed=0)


def _standardization(x: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-feature mean and standard deviation exactly as the trainer fits them."""
    mean, std = fit_standardization(x)
    return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)


def _reference_point(masker: Masker, inputs: ExplainedInputs) -> NDArray[np.float64]:
    """Where a gated amortizer's attributions vanish: the baseline, or the background's mean."""
    n_features = int(inputs.array.shape[1])
    if isinstance(masker, BaselineMasker):
        reference = masker.baseline
    elif isinstance(masker, MarginalMasker):
        reference = masker.background.mean(axis=0)
    else:
        return _standardization(inputs.array)[0]
    point: NDArray[np.float64] = np.broadcast_to(np.asarray(reference, dtype=np.float64), (n_features,)).copy()
    return point
