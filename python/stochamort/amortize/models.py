"""Default amortizer architectures: an MLP for tabular inputs, a per-patch head for image models,
and the additive efficiency normalization of FastSHAP.

Every amortizer maps a batch of inputs ``(n, *input_shape)`` to attributions
``(n, n_players, n_outputs)``, the layout of the oracles' :class:`~stochamort.results.Estimate`
values and of the label store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Optional

import torch
from torch import Tensor, nn

from stochamort._checks import check_bool, check_int
from stochamort.amortize.vit import ViTBackbone
from stochamort.errors import InvalidArgumentError, ShapeError

__all__ = [
    "MLPAmortizer",
    "GatedMLPAmortizer",
    "PatchAmortizer",
    "image_amortizer",
    "EfficiencyNormalization",
    "efficiency_normalize",
]

Activation = Literal["relu", "gelu", "tanh", "silu"]
OutputActivation = Optional[Literal["tanh"]]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}


def _hidden_sizes(name: str, hidden: Any) -> tuple[int, ...]:
    if isinstance(hidden, int) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if not isinstance(hidden, Sequence):
        raise InvalidArgumentError(f"{name}: must be a sequence of positive integers, got {hidden!r}")
    return tuple(check_int(name, h, 1) for h in hidden)


def _activation(name: str, value: Any) -> Callable[[], nn.Module]:
    if value not in _ACTIVATIONS:
        raise InvalidArgumentError(f"{name}: must be one of {sorted(_ACTIVATIONS)}, got {value!r}")
    return _ACTIVATIONS[value]


def _dropout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise InvalidArgumentError(f"dropout: must be a number in [0, 1), got {value!r}")
    return float(value)


def _exact_type(module: nn.Module, cls: type, name: str) -> None:
    """Refuse specs of subclasses: their forward may differ, so rebuilding the base class from the
    spec would load the weights into the wrong computation."""
    if type(module) is not cls:
        raise InvalidArgumentError(
            f"{name}: {type(module).__name__} subclasses {cls.__name__} and cannot be rebuilt from a spec; "
            f"pass the network instance when loading (Amortizer.load(path, network=...))"
        )


def _output_activation(value: Any) -> nn.Module:
    if value is None:
        return nn.Identity()
    if value == "tanh":
        return nn.Tanh()
    raise InvalidArgumentError(f"output_activation: must be None or 'tanh', got {value!r}")


def _mlp(
    n_in: int, hidden: tuple[int, ...], n_out: int, activation: Callable[[], nn.Module], dropout: float
) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), activation()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class MLPAmortizer(nn.Module):
    """A multilayer perceptron mapping tabular inputs to attributions.

    ``x`` ``(n, *input_shape)`` is flattened to ``(n, n_features)``, passed through
    ``Linear -> activation [-> Dropout]`` blocks of the ``hidden`` widths and a final linear layer
    with ``n_players * n_outputs`` outputs, and reshaped to ``(n, n_players, n_outputs)``.

    Args:
        n_features: number of input features (the product of the input shape).
        n_players: number of players d (features or feature groups).
        n_outputs: number of attributed outputs (classes).
        hidden: widths of the hidden layers (an int for a single one; empty for a linear model).
        activation: ``"relu"``, ``"gelu"``, ``"tanh"`` or ``"silu"``.
        dropout: dropout probability after each hidden activation (0: none).
        output_activation: ``None`` or ``"tanh"`` (bounded outputs, as the paper's ViT amortizer
            for Shapley values of probabilities; then targets must lie in (−1, 1) after scaling).
        zero_init_output: start the last layer at zero, so the untrained amortizer predicts 0
            (the paper's data-valuation amortizer zeroes its last layer).
    """

    def __init__(
        self,
        n_features: int,
        n_players: int,
        n_outputs: int = 1,
        hidden: int | Sequence[int] = (256, 256),
        *,
        activation: Activation = "relu",
        dropout: float = 0.0,
        output_activation: OutputActivation = None,
        zero_init_output: bool = False,
    ) -> None:
        super().__init__()
        self.n_features = check_int("n_features", n_features, 1)
        self.n_players = check_int("n_players", n_players, 1)
        self.n_outputs = check_int("n_outputs", n_outputs, 1)
        self.hidden = _hidden_sizes("hidden", hidden)
        rate = _dropout(dropout)
        self.net = _mlp(self.n_features, self.hidden, self.n_players * self.n_outputs, _activation("activation", activation), rate)
        self.output_activation = _output_activation(output_activation)
        zero_init = check_bool("zero_init_output", zero_init_output)
        self._spec_fields: dict[str, Any] = {
            "n_features": self.n_features,
            "n_players": self.n_players,
            "n_outputs": self.n_outputs,
            "hidden": list(self.hidden),
            "activation": activation,
            "dropout": rate,
            "output_activation": output_activation,
            "zero_init_output": zero_init,
        }
        if zero_init:
            last = self.net[-1]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def spec(self) -> dict[str, Any]:
        """All constructor arguments as a JSON-serialisable dict with ``"architecture":
        "MLPAmortizer"``, from which :func:`~stochamort.amortize.build_network` rebuilds the network.

        Raises:
            InvalidArgumentError: called on a subclass (its forward may differ).
        """
        _exact_type(self, MLPAmortizer, "model")
        return {"architecture": "MLPAmortizer", **self._spec_fields}

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] != self.n_features:
            raise ShapeError(f"x: expected {self.n_features} features per input, got shape {tuple(x.shape)}")
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        if flat.dtype != first.weight.dtype:
            flat = flat.to(first.weight.dtype)
        out: Tensor = self.output_activation(self.net(flat))
        return out.reshape(x.shape[0], self.n_players, self.n_outputs)


def _embeddings(out: Any) -> Tensor:
    """Per-token embeddings from a backbone's output: a tensor, a tuple (first item), or an object
    with ``last_hidden_state`` (Hugging Face)."""
    if hasattr(out, "last_hidden_state"):
        out = out.last_hidden_state
    elif isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, Tensor):
        raise InvalidArgumentError(f"backbone: must return a tensor of embeddings, got {type(out).__name__}")
    return out


class GatedMLPAmortizer(nn.Module):
    """An amortizer for tabular inputs explained with baseline masking: ``a(x) + (x − b) ⊙ g(x)``.

    ``a`` and ``g`` are :class:`MLPAmortizer` networks with outputs ``(n, d, n_outputs)``; the
    second term is multiplied, per player, by the deviation of the input from the masking baseline
    ``b``. For a linear model the Shapley values are exactly ``w_i (x_i − b_i)``, so this inductive
    bias lets a small network fit attributions that vanish at the baseline and scale with the
    deviation. Needs one player per input feature (no grouping).

    The deviation is taken on the inputs the network receives. With
    :attr:`TrainConfig.standardize_inputs <stochamort.amortize.TrainConfig.standardize_inputs>`
    those are standardised, so the baseline must be given in standardised units too:
    ``mean, std = fit_standardization(x_train)``, then ``GatedMLPAmortizer((baseline − mean) / std, ...)``
    (see :func:`~stochamort.amortize.fit_standardization`).

    Args:
        baseline: the masking baseline, ``(n_features,)`` (a buffer: saved with the state).
        n_outputs: number of attributed outputs (classes).
        hidden: hidden widths of both networks.
        activation: as in :class:`MLPAmortizer`.
    """

    def __init__(
        self,
        baseline: Any,
        n_outputs: int = 1,
        hidden: int | Sequence[int] = (128, 128),
        *,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        base = torch.as_tensor(baseline, dtype=torch.get_default_dtype()).flatten()
        if base.numel() < 1:
            raise InvalidArgumentError("baseline: must hold one value per input feature, got an empty array")
        d = int(base.numel())
        self.baseline: Tensor
        self.register_buffer("baseline", base)
        self.additive = MLPAmortizer(d, d, n_outputs, hidden, activation=activation)
        self.gate = MLPAmortizer(d, d, n_outputs, hidden, activation=activation)

    def spec(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-serialisable dict with ``"architecture":
        "GatedMLPAmortizer"``; the baseline appears by its size, ``n_features`` (its values are a
        buffer, in the state), and :func:`~stochamort.amortize.build_network` rebuilds the network
        with a zero baseline that loading the state then fills.

        Raises:
            InvalidArgumentError: called on a subclass (its forward may differ).
        """
        _exact_type(self, GatedMLPAmortizer, "model")
        fields = self.additive.spec()
        return {
            "architecture": "GatedMLPAmortizer",
            "n_features": fields["n_features"],
            "n_outputs": fields["n_outputs"],
            "hidden": fields["hidden"],
            "activation": fields["activation"],
        }

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        deviation = (flat - self.baseline.to(flat.dtype))[:, :, None]
        out: Tensor = self.additive(x) + deviation * self.gate(x)
        return out


class PatchAmortizer(nn.Module):
    """A per-patch attribution head on top of a backbone that embeds each patch.

    The backbone maps inputs to embeddings ``(n, skip_tokens + n_patches, embed_dim)`` (a tensor, a
    tuple whose first item is that tensor, or a Hugging Face output with ``last_hidden_state``).
    The first ``skip_tokens`` tokens (e.g. a ViT's class token) are dropped, and one head, shared
    by all patches, maps each patch embedding to its ``n_outputs`` attributions:
    ``(n, n_patches, n_outputs)``. This is the paper's image amortizer (a ViT initialised from the
    surrogate, an MLP head per patch token, tanh output for Shapley values of probabilities).

    Args:
        backbone: module producing per-patch embeddings.
        n_patches: number of patch players; must match the backbone's token count minus ``skip_tokens``.
        n_outputs: number of attributed outputs (classes).
        embed_dim: width of the embeddings.
        head_hidden: hidden widths of the head MLP (empty: a linear head).
        skip_tokens: leading tokens of the backbone's output that are not patches.
        activation, dropout, output_activation: as for :class:`MLPAmortizer` (for the head).

    :func:`image_amortizer` builds one on the default
    :class:`~stochamort.amortize.ViTBackbone`.
    """

    def __init__(
        self,
        backbone: nn.Module,
        n_patches: int,
        n_outputs: int,
        embed_dim: int,
        *,
        head_hidden: int | Sequence[int] = (),
        skip_tokens: int = 0,
        activation: Activation = "gelu",
        dropout: float = 0.0,
        output_activation: OutputActivation = None,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise InvalidArgumentError(f"backbone: must be a torch.nn.Module, got {type(backbone).__name__}")
        self.backbone = backbone
        self.n_players = check_int("n_patches", n_patches, 1)
        self.n_outputs = check_int("n_outputs", n_outputs, 1)
        self.embed_dim = check_int("embed_dim", embed_dim, 1)
        if isinstance(skip_tokens, bool) or not isinstance(skip_tokens, int) or skip_tokens < 0:
            raise InvalidArgumentError(f"skip_tokens: must be a non-negative integer, got {skip_tokens!r}")
        self.skip_tokens = int(skip_tokens)
        widths, rate = _hidden_sizes("head_hidden", head_hidden), _dropout(dropout)
        self.head = _mlp(self.embed_dim, widths, self.n_outputs, _activation("activation", activation), rate)
        self.output_activation = _output_activation(output_activation)
        self._spec_fields: dict[str, Any] = {
            "n_patches": self.n_players,
            "n_outputs": self.n_outputs,
            "embed_dim": self.embed_dim,
            "head_hidden": list(widths),
            "skip_tokens": self.skip_tokens,
            "activation": activation,
            "dropout": rate,
            "output_activation": output_activation,
        }

    def spec(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-serialisable dict with ``"architecture":
        "PatchAmortizer"`` and the backbone's own spec under ``"backbone"``; only a
        :class:`~stochamort.amortize.ViTBackbone` (e.g. from
        :func:`~stochamort.amortize.image_amortizer`) can be described this way.

        Raises:
            InvalidArgumentError: another backbone (pass the network instance when loading,
                ``Amortizer.load(path, network=...)``), or called on a subclass.
        """
        _exact_type(self, PatchAmortizer, "model")
        if type(self.backbone) is not ViTBackbone:
            raise InvalidArgumentError(
                f"backbone: a {type(self.backbone).__name__} cannot be rebuilt from a spec (only a ViTBackbone can); "
                f"pass the network instance when loading (Amortizer.load(path, network=...))"
            )
        return {"architecture": "PatchAmortizer", "backbone": self.backbone.spec(), **self._spec_fields}

    @property
    def n_patches(self) -> int:
        """Number of patch players."""
        return self.n_players

    def forward(self, x: Tensor) -> Tensor:
        tokens = _embeddings(self.backbone(x))
        expected = (self.skip_tokens + self.n_players, self.embed_dim)
        if tokens.ndim != 3 or tuple(tokens.shape[1:]) != expected:
            raise ShapeError(
                f"backbone: expected embeddings of shape (n, {expected[0]}, {expected[1]}) "
                f"({self.skip_tokens} skipped token(s) + {self.n_players} patches), got {tuple(tokens.shape)}"
            )
        out: Tensor = self.output_activation(self.head(tokens[:, self.skip_tokens :]))
        return out


def image_amortizer(
    in_channels: int,
    image_size: int | Sequence[int],
    patch_size: int | Sequence[int],
    n_outputs: int,
    *,
    embed_dim: int = 64,
    depth: int = 2,
    heads: int = 4,
    output_activation: OutputActivation = None,
) -> PatchAmortizer:
    """The default image amortizer: a linear per-patch head on a :class:`~stochamort.amortize.ViTBackbone`.

    Its players are the patches of ``patch_size`` in row-major order, as for an
    :class:`~stochamort.games.ImagePatchMasker` with the same patch size; it has a ``spec()``, so
    an :class:`~stochamort.amortize.Amortizer` around it saves and loads without the instance.

    Args:
        in_channels: image channels.
        image_size: ``(H, W)`` (or one int).
        patch_size: ``(ph, pw)`` (or one int), dividing the image size.
        n_outputs: attributed outputs (classes).
        embed_dim, depth, heads: the backbone's width, number of layers and attention heads.
        output_activation: ``None`` or ``"tanh"`` (see :class:`~stochamort.amortize.MLPAmortizer`).

    Returns:
        A :class:`~stochamort.amortize.PatchAmortizer` mapping ``(n, C, H, W)`` to ``(n, n_patches, n_outputs)``.

    Raises:
        InvalidArgumentError: bad sizes (see :class:`~stochamort.amortize.ViTBackbone`).
    """
    backbone = ViTBackbone(in_channels, image_size, patch_size, embed_dim, depth, heads)
    return PatchAmortizer(backbone, backbone.n_patches, n_outputs, backbone.embed_dim, output_activation=output_activation)


def efficiency_normalize(phi: Tensor, gaps: Tensor) -> Tensor:
    """Additive efficiency normalization: ``φ + (Δ − Σ_i φ_i) / d``, so that players sum to Δ.

    Args:
        phi: predictions ``(n, d, n_outputs)``.
        gaps: Δ = v(all) − v(∅), ``(n, n_outputs)`` (or ``(n,)`` for a single output).

    Returns:
        Normalized predictions with ``phi``'s dtype and shape; differentiable in ``phi``. The
        correction is computed in float64 (float32 on devices without it) and rounded once, so
        the sums match Δ to a few units in the last place of ``phi``'s dtype.
    """
    if phi.ndim != 3:
        raise ShapeError(f"phi: expected predictions (n, n_players, n_outputs), got shape {tuple(phi.shape)}")
    if gaps.ndim == 1 and phi.shape[2] == 1:
        gaps = gaps[:, None]
    if tuple(gaps.shape) != (phi.shape[0], phi.shape[2]):
        raise ShapeError(f"gaps: expected shape ({phi.shape[0]}, {phi.shape[2]}), got {tuple(gaps.shape)}")
    work = torch.float32 if phi.device.type == "mps" else torch.float64
    wide = phi.to(work)
    correction = (gaps.to(device=phi.device, dtype=work) - wide.sum(dim=1)) / phi.shape[1]
    return (wide + correction[:, None, :]).to(phi.dtype)


class EfficiencyNormalization(nn.Module):
    """Module form of :func:`efficiency_normalize`: ``forward(phi, gaps)``.

    Predictions ``(n, d, o)`` are shifted, per point and output, by the same amount for every
    player so that they sum to the gap Δ = v(all) − v(∅) ``(n, o)``: the additive efficient
    normalization of FastSHAP (Jethani et al. 2022), the orthogonal projection onto the
    efficient set. Training through it makes the amortizer exactly efficient.
    """

    def forward(self, phi: Tensor, gaps: Tensor) -> Tensor:
        return efficiency_normalize(phi, gaps)
