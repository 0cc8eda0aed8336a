"""Networks described by JSON specs, so a saved amortizer is rebuilt without pickle.

Each default architecture's ``spec()`` gives its constructor arguments as a JSON-serialisable
dict with an ``"architecture"`` name; :func:`build_network` looks the name up in a registry and
builds a fresh network of that shape (its weights then come from the saved state). Networks of
other classes have no spec: pass the instance when loading instead.

The default image amortizer, :func:`~stochamort.amortize.image_amortizer` (a
:class:`~stochamort.amortize.PatchAmortizer` on a :class:`~stochamort.amortize.ViTBackbone`), has a spec.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stochamort._checks import check_int
from stochamort.amortize.models import Activation, GatedMLPAmortizer, MLPAmortizer, PatchAmortizer
from stochamort.amortize.vit import ViTBackbone
from stochamort.errors import InvalidArgumentError

__all__ = ["ARCHITECTURES", "build_network", "network_spec"]


def _gated(
    n_features: int, n_outputs: int = 1, hidden: int | Sequence[int] = (128, 128), *, activation: Activation = "relu"
) -> GatedMLPAmortizer:
    # A zero baseline of the right size: its values are a buffer, filled when the state is loaded.
    return GatedMLPAmortizer(torch.zeros(check_int("n_features", n_features, 1)), n_outputs, hidden, activation=activation)


def _patch(backbone: Mapping[str, Any], **fields: Any) -> PatchAmortizer:
    return PatchAmortizer(build_network(backbone), **fields)


#: Architecture name -> builder taking the spec's other fields as keyword arguments.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "MLPAmortizer": MLPAmortizer,
    "GatedMLPAmortizer": _gated,
    "PatchAmortizer": _patch,
    "ViTBackbone": ViTBackbone,
}

# The fields a PatchAmortizer spec may hold besides its backbone (``**fields`` above hides them).
_PATCH_FIELDS = inspect.signature(PatchAmortizer).parameters

_DESCRIBED = (MLPAmortizer, GatedMLPAmortizer, PatchAmortizer, ViTBackbone)


def _check_fields(name: str, builder: Callable[..., nn.Module], fields: dict[str, Any]) -> None:
    if builder is _patch:
        if "backbone" not in fields:
            raise InvalidArgumentError("spec: a PatchAmortizer spec needs its 'backbone' spec")
        unknown = sorted(set(fields) - set(_PATCH_FIELDS))
        if unknown:
            raise InvalidArgumentError(f"spec: unknown field(s) {', '.join(map(repr, unknown))} for a PatchAmortizer")
        builder = PatchAmortizer
    try:
        inspect.signature(builder).bind(**fields)
    except TypeError as err:
        raise InvalidArgumentError(f"spec: fields that do not fit a {name} ({err})") from err


def build_network(spec: Mapping[str, Any]) -> nn.Module:
    """A freshly initialised network of the architecture ``spec`` describes (e.g. from ``spec()``).

    The global torch generator is left as it was (initialisation draws from a forked one), so
    loading an amortizer does not shift the random stream of the code around it.

    Args:
        spec: ``{"architecture": name, **constructor fields}`` for a name in :data:`ARCHITECTURES`.

    Returns:
        The network, on the CPU in torch's default dtype, in training mode.

    Raises:
        InvalidArgumentError: not a mapping, an unknown architecture, missing or unknown fields,
            or bad values (the message starts with ``spec:``).
    """
    if not isinstance(spec, Mapping):
        raise InvalidArgumentError(f"spec: must be a mapping with an 'architecture' name, got {type(spec).__name__}")
    name = spec.get("architecture")
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise InvalidArgumentError(
            f"spec: unknown architecture {name!r} (known: {', '.join(sorted(ARCHITECTURES))}); "
            f"for another network, pass the instance when loading"
        )
    builder = ARCHITECTURES[name]
    fields = {key: value for key, value in spec.items() if key != "architecture"}
    _check_fields(name, builder, fields)
    try:
        with torch.random.fork_rng(devices=[]):
            return builder(**fields)
    except InvalidArgumentError as err:
        raise InvalidArgumentError(f"spec: {name}: {err}") from err


def network_spec(network: nn.Module) -> dict[str, Any] | None:
    """``network.spec()`` for the default architectures that can describe themselves, else None
    (other classes, subclasses, a PatchAmortizer on another backbone)."""
    if not isinstance(network, _DESCRIBED):
        return None
    try:
        return network.spec()
    except InvalidArgumentError:
        return None
