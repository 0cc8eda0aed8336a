"""Amortized data valuation: one network maps a labelled example (x, y) to its data value.

As in the paper (Covert et al. 2024, section 5), the network is a classifier over the features,
first pretrained to predict y from x, then its last layer is zeroed and its output is read at the
example's label: value(x, y) = f(x)[y]. It is trained with the stochastic-amortization trainer
(:func:`~stochamort.amortize.train_amortizer`) on a few noisy, unbiased Monte Carlo contributions
per point, and values any example, in the training set or not, with one forward pass. How it
trains is a :class:`~stochamort.amortize.TrainConfig`; :data:`VALUE_NETWORK_CONFIG` holds the
value network's defaults (change them with ``VALUE_NETWORK_CONFIG.replace(epochs=..., seed=...)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from stochamort._checks import check_bool
from stochamort.amortize import TrainConfig, TrainResult, fit_standardization, forward_flops, train_amortizer
from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.results import DataValues

__all__ = ["ValueNetwork", "ValueAmortizer", "amortize_data_values", "encode_examples", "VALUE_NETWORK_CONFIG"]

#: The value network's training defaults: 50 epochs of 128 points at peak learning rate 5e-4,
#: targets rescaled to unit RMS (data values are small); the rest as :class:`TrainConfig`'s.
VALUE_NETWORK_CONFIG = TrainConfig(epochs=50, batch_size=128, lr=5e-4, target_scale="auto")


def encode_examples(x: Any, y: Any, n_classes: int) -> Tensor:
    """Examples as the network's input: the features with the class index appended, float32.

    Args:
        x: features ``(n, n_features)``.
        y: class indices ``(n,)`` in ``0..n_classes − 1``.
        n_classes: number of classes.

    Raises:
        ShapeError, InvalidArgumentError, NonFiniteError: bad shapes, labels or values.
    """
    features = np.asarray(x, dtype=np.float32)
    labels = np.asarray(y)
    if features.ndim != 2:
        raise ShapeError(f"x: expected features of shape (n, n_features), got {features.shape}")
    if labels.shape != (features.shape[0],):
        raise ShapeError(f"y: expected shape ({features.shape[0]},) to match x, got {labels.shape}")
    if labels.dtype.kind not in "iu" or (labels.size and (labels.min() < 0 or labels.max() >= n_classes)):
        raise InvalidArgumentError(f"y: must hold class indices in [0, {n_classes}), got dtype {labels.dtype}")
    if not np.isfinite(features).all():
        raise NonFiniteError("x: holds NaN or infinity")
    return torch.from_numpy(np.concatenate([features, labels[:, None].astype(np.float32)], axis=1))


class ValueNetwork(nn.Module):
    """(x, y) ↦ value: an MLP over x with one output per class, read at the class y.

    Its input is :func:`encode_examples`' layout ``(n, n_features + 1)`` (the last column is the
    class index); its output ``(n, 1, 1)`` is the amortizer layout (one "player", one output).
    The features are standardised inside the network, ``(x − feature_mean) / feature_scale``, by
    two buffers (saved with the weights) that :meth:`fit_standardization` sets; they start as the
    identity. Features in raw units (areas in the thousands next to ratios below 1) otherwise
    train a network that ranks points poorly without any error.

    Args:
        n_features: number of features.
        n_classes: number of classes.
        hidden: widths of the hidden layers (the paper uses three of 128).
    """

    def __init__(self, n_features: int, n_classes: int, hidden: Sequence[int] = (128, 128, 128)) -> None:
        super().__init__()
        for name, value in (("n_features", n_features), ("n_classes", n_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name}: must be a positive integer, got {value!r}")
        widths = [n_features, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], n_classes)
        self.n_features, self.n_classes = n_features, n_classes
        self.feature_mean: Tensor
        self.feature_scale: Tensor
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))

    def fit_standardization(self, x: Tensor) -> None:
        """Set the feature standardisation to the mean and standard deviation of ``x`` ``(n, n_features)``.

        Constant features keep scale 1 (they carry no information; dividing by 0 would not).
        """
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ShapeError(f"x: expected features of shape (n, {self.n_features}), got {tuple(x.shape)}")
        mean, scale = fit_standardization(x)  # float64, as the amortizer trainer fits them
        with torch.no_grad():
            self.feature_mean.copy_(mean)
            self.feature_scale.copy_(scale)

    def logits(self, x: Tensor) -> Tensor:
        """Class scores ``(n, n_classes)`` of features ``(n, n_features)`` (in their raw units)."""
        out: Tensor = self.head(self.body((x - self.feature_mean) / self.feature_scale))
        return out

    def forward(self, inputs: Tensor) -> Tensor:
        x, y = inputs[:, :-1], inputs[:, -1].round().long()
        return self.logits(x).gather(1, y[:, None])[:, :, None]

    def pretrain(
        self, x: Tensor, y: Tensor, *, epochs: int = 20, lr: float = 1e-3, batch_size: int = 128, seed: int = 0
    ) -> None:
        """Fit as a classifier of y from x (cross-entropy, Adam), then zero the last layer.

        The body then holds features useful for telling classes apart, and the zeroed head
        makes the network start from value 0 for every example.
        """
        generator = torch.Generator().manual_seed(seed)
        optimiser = torch.optim.Adam(self.parameters(), lr=lr)
        self.train()
        for _ in range(epochs):
            order = torch.randperm(x.shape[0], generator=generator)
            for start in range(0, x.shape[0], batch_size):
                batch = order[start : start + batch_size]
                loss = nn.functional.cross_entropy(self.logits(x[batch]), y[batch])
                optimiser.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()


@dataclass
class ValueAmortizer:
    """A trained value network: :meth:`predict` values any labelled examples.

    Attributes:
        network: the trained :class:`ValueNetwork` (inside ``training.amortizer``).
        training: the trainer's :class:`~stochamort.amortize.TrainResult` (history, FLOPs, the
            training settings in ``training.settings``, ...).
        pretrain_flops: FLOPs spent on the classifier pretraining.
    """

    network: ValueNetwork
    training: TrainResult
    pretrain_flops: float

    @property
    def train_flops(self) -> float:
        """All training FLOPs: pretraining plus amortization."""
        return self.pretrain_flops + self.training.train_flops

    def predict(self, x: Any, y: Any, *, batch_size: int = 4096) -> NDArray[np.float64]:
        """Values ``(n,)`` of examples ``(x, y)`` (training points or not)."""
        inputs = encode_examples(x, y, self.network.n_classes)
        if inputs.shape[0] == 0:  # the generic predict cannot know the output layout of no points
            return np.zeros(0, dtype=np.float64)
        return self.training.amortizer.predict(inputs, batch_size=batch_size)[:, 0, 0]


def amortize_data_values(
    x: Any,
    y: Any,
    labels: DataValues | Any,
    *,
    n_classes: int | None = None,
    hidden: Sequence[int] = (128, 128, 128),
    pretrain_epochs: int = 20,
    validation_fraction: float = 0.1,
    standardize_features: bool = True,
    config: TrainConfig | None = None,
) -> ValueAmortizer:
    """Train a value network on noisy data values (stochastic amortization of data valuation).

    A fraction of the points is held out and their *noisy* labels select the checkpoint (no
    ground truth needed: for unbiased labels the noisy loss is the true error plus a constant).
    Targets are rescaled to unit RMS for training (data values are small) and scaled back (with
    the default config; see :data:`VALUE_NETWORK_CONFIG`).

    Args:
        x: features ``(n, n_features)`` of the labelled points.
        y: their class indices ``(n,)``.
        labels: noisy values ``(n,)``, or the oracle's :class:`~stochamort.valuation.DataValues`.
        n_classes: number of classes (default: ``y.max() + 1``).
        hidden: hidden widths of the :class:`ValueNetwork`.
        pretrain_epochs: epochs of classifier pretraining (0: none; the head is still zeroed).
        validation_fraction: share of points held out for checkpoint selection (0: none).
        standardize_features: standardise each feature by its mean and standard deviation over
            ``x``, inside the network (:meth:`ValueNetwork.fit_standardization`), so that
            :meth:`ValueAmortizer.predict` takes raw features. On by default: on breast cancer's
            raw features, without it the mislabel AUROC fell from 0.99 to between 0.55 and 0.95,
            depending on the split.
        config: how to train the value network (default :data:`VALUE_NETWORK_CONFIG`: AdamW,
            cosine schedule to 1 % of ``lr``). Its ``seed`` also seeds the initialisation, the
            pretraining and the split; ``device`` defaults to the CPU, where pretraining runs;
            ``flops_per_sample`` None counts 3 × the network's forward FLOPs.

    Returns:
        A :class:`ValueAmortizer`.

    Raises:
        InvalidArgumentError: bad arguments (``config.efficiency`` must be False: there are no gaps).
        ShapeError, NonFiniteError: see :func:`~stochamort.amortize.train_amortizer`.
    """
    if config is None:
        config = VALUE_NETWORK_CONFIG
    if not isinstance(config, TrainConfig):
        raise InvalidArgumentError(f"config: must be a TrainConfig or None, got {type(config).__name__}")
    if config.efficiency:
        raise InvalidArgumentError("TrainConfig.efficiency: must be False for the value network (data values have no gaps)")
    if config.standardize_inputs:
        raise InvalidArgumentError(
            "TrainConfig.standardize_inputs: must be False for the value network (its input ends with the class "
            "index, which standardising would corrupt); the network standardises its features itself "
            "(standardize_features=True, the default)"
        )
    standardize_features = check_bool("standardize_features", standardize_features)
    values = labels.values if isinstance(labels, DataValues) else np.asarray(labels, dtype=np.float64)
    y_array = np.asarray(y)
    if y_array.ndim != 1:
        raise ShapeError(f"y: expected shape (n,), got {y_array.shape}")
    if values.shape != y_array.shape:
        raise ShapeError(f"labels: expected {y_array.shape[0]} values to match y, got shape {values.shape}")
    if not 0.0 <= validation_fraction < 1.0:
        raise InvalidArgumentError(f"validation_fraction: must lie in [0, 1), got {validation_fraction!r}")
    k = int(y_array.max()) + 1 if n_classes is None else int(n_classes)
    inputs = encode_examples(x, y_array, k)
    targets = torch.from_numpy(values.astype(np.float32))[:, None, None]
    seed = config.seed
    torch.manual_seed(seed)
    network = ValueNetwork(inputs.shape[1] - 1, k, hidden)
    if standardize_features:
        network.fit_standardization(inputs[:, :-1])
    network.pretrain(inputs[:, :-1], torch.from_numpy(y_array.astype(np.int64)), epochs=pretrain_epochs, seed=seed)
    n = inputs.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(validation_fraction * n))
    train, val = order[n_val:], order[:n_val]
    flops = forward_flops(network)
    if config.flops_per_sample is None:
        config = config.replace(flops_per_sample=3.0 * flops)
    with warnings.catch_warnings():
        # The trainer's advice to standardise does not apply: the last input column is the class index.
        warnings.filterwarnings("ignore", message=r"(?s).*standardize_inputs=True", category=UserWarning)
        result = train_amortizer(
            network,
            inputs[train],
            targets[train],
            x_val=inputs[val] if n_val else None,
            labels_val=targets[val] if n_val else None,
            config=config,
        )
    return ValueAmortizer(network, result, 3.0 * flops * pretrain_epochs * n)
