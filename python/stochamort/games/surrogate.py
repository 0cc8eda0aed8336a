"""A surrogate model for held-out features: trained on masked inputs to match the model's predictions.

Masking features with a baseline puts the model off its training distribution, and averaging over a
background (:class:`~stochamort.games.MarginalMasker`) costs one forward pass per background row.
The surrogate approach of the stochastic-amortization paper (and of FastSHAP, Jethani et al. 2022)
instead trains a network ``s(x_S, S)`` that sees the masked input *and* the mask, to minimise

    E_x E_S KL( p_model(x) ‖ p_s(x_S, S) ),

with S drawn at random. Its optimum is the model's prediction averaged over the distribution of the
held-out features given the kept ones, ``E[p_model(X) | X_S = x_S]``: a value function that
removes features by marginalising them, at one forward pass per coalition. Use it as the game's
model::

    surrogate = train_surrogate(model, x_train, x_val=x_val)
    game = MaskedModel(surrogate, surrogate.masker, output="probabilities").bind(x_explain)
    # or: game = surrogate.masked_model().bind(x_explain)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from stochamort.errors import DeviceMismatchError, InvalidArgumentError, NonFiniteError, ShapeError
from stochamort.games.maskers import BaselineMasker, Masker
from stochamort.games.model import MaskedModel, OutputSpec, model_device, raw_output
from stochamort.sampling import sample_coalitions

__all__ = ["Surrogate", "SurrogateMasker", "train_surrogate"]

#: Seed offset of the validation masks, so they never share streams with the training masks.
_VALIDATION_SEED_OFFSET = 0x9E3779B97F4A7C15
#: Validation coalitions per validation input.
_VALIDATION_MASKS_PER_INPUT = 8


class SurrogateMasker(Masker):
    """Masks like ``base`` and also hands the mask to the model: arguments ``(x_masked, mask)``.

    ``mask`` is the feature mask ``(R, n_features)`` as floats (1 = present), in the inputs' dtype
    (the default float dtype for integer inputs). ``MaskedModel(surrogate, SurrogateMasker(...))``
    is then the game whose values are the surrogate's predictions with the absent features held out.

    Args:
        base: the masker that fills absent features (default ``BaselineMasker(0.0)``). It must give
            one model input per coalition (no background averaging: the surrogate replaces it) and
            a single model argument.
    """

    def __init__(self, base: Masker | None = None) -> None:
        if base is None:
            base = BaselineMasker(0.0)
        if not isinstance(base, Masker) or isinstance(base, SurrogateMasker):
            raise InvalidArgumentError(
                f"base: must be a Masker other than a SurrogateMasker, got {type(base).__name__}"
            )
        if base.expansions != 1:
            raise InvalidArgumentError(
                f"base: a surrogate replaces averaging over a background, so the masker must give one input per "
                f"coalition; {type(base).__name__} gives {base.expansions} (use e.g. BaselineMasker)"
            )
        self.base = base

    def n_features(self, sample_shape: tuple[int, ...]) -> int:
        return self.base.n_features(sample_shape)

    def prepare(self, x: Tensor) -> None:
        self.base.prepare(x)

    def apply(self, x: Tensor, masks: Tensor) -> tuple[Tensor, ...]:
        args = self.base.apply(x, masks)
        if len(args) != 1:
            raise InvalidArgumentError(
                f"base: {type(self.base).__name__} gives {len(args)} model arguments; a surrogate needs exactly one "
                "masked input (e.g. TokenMasker(mode='replace'))"
            )
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        return (args[0], masks.to(dtype))


class _TabularNetwork(nn.Module):
    """The default surrogate network: an MLP on ``cat([flattened masked input, mask])``."""

    def __init__(self, input_size: int, n_features: int, n_outputs: int, hidden: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.n_features = n_features
        self.layers = nn.Sequential(
            nn.Linear(input_size + n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] != self.input_size or mask.shape != (x.shape[0], self.n_features):
            raise ShapeError(
                f"x: the surrogate MLP expects inputs of {self.input_size} values and masks of {self.n_features} "
                f"features, got {flat.shape[1]} values and masks of shape {tuple(mask.shape)}"
            )
        dtype = next(self.parameters()).dtype
        out: Tensor = self.layers(torch.cat([flat.to(dtype), mask.to(dtype)], dim=1))
        return out


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


class Surrogate(nn.Module):
    """A network that predicts the model's output from a masked input and its mask.

    ``surrogate(x_masked, mask)`` returns logits ``(n, n_outputs)``: ``network(x_masked, mask)``,
    with ``mask`` the float feature mask ``(n, n_features)`` (1 = present). Without ``network``,
    it is an MLP for tabular (or any floating-point) inputs: ``2·n_features`` inputs (masked
    features, then mask; ``input_size + n_features`` when the input has ``input_size`` values),
    two hidden layers of ``hidden`` units with ReLU, ``n_outputs`` logits. For images, tokens or
    other inputs, pass a network that takes ``(x_masked, mask)``.

    Attributes:
        network: the wrapped network.
        masker: the :class:`SurrogateMasker` it was trained with (set by :func:`train_surrogate`;
            None until then unless given).
        history: per-epoch ``"train_kl"`` and ``"val_kl"`` (when validated), filled by training.
    """

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        n_features: int | None = None,
        n_outputs: int | None = None,
        input_size: int | None = None,
        hidden: int = 128,
        masker: SurrogateMasker | None = None,
    ) -> None:
        super().__init__()
        if network is None:
            if n_features is None or n_outputs is None:
                raise InvalidArgumentError(
                    "network: pass a network taking (x_masked, mask), or n_features and n_outputs for the default MLP"
                )
            n_features = _positive_int("n_features", n_features)
            n_outputs = _positive_int("n_outputs", n_outputs)
            hidden = _positive_int("hidden", hidden)
            size = n_features if input_size is None else _positive_int("input_size", input_size)
            network = _TabularNetwork(size, n_features, n_outputs, hidden)
        elif not isinstance(network, nn.Module):
            raise InvalidArgumentError(f"network: must be a torch.nn.Module taking (x_masked, mask), got {type(network).__name__}")
        if masker is not None and not isinstance(masker, SurrogateMasker):
            raise InvalidArgumentError(f"masker: must be a SurrogateMasker, got {type(masker).__name__}")
        self.network = network
        self.masker = masker
        self.history: dict[str, list[float]] = {"train_kl": [], "val_kl": []}

    def forward(self, x_masked: Tensor, mask: Tensor) -> Tensor:
        out: Tensor = self.network(x_masked, mask)
        return out

    def masked_model(self, output: OutputSpec = "probabilities", **kwargs: Any) -> MaskedModel:
        """``MaskedModel(self, self.masker, output, **kwargs)``: bind it to inputs to get the game."""
        if self.masker is None:
            raise InvalidArgumentError("masker: this surrogate has no masker; train it with train_surrogate or set one")
        return MaskedModel(self, self.masker, output=output, **kwargs)


def _float_dtype(model: Any) -> torch.dtype:
    """The dtype of the model's floating-point parameters (default float dtype if it has none)."""
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            if parameter.is_floating_point():
                return parameter.dtype
    return torch.get_default_dtype()


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Every submodule in evaluation mode for the duration; each one's own mode is restored after."""
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    for module, _ in modes:
        module.training = False
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _as_input(x: Any, name: str, device: torch.device, float_dtype: torch.dtype) -> Tensor:
    if isinstance(x, Tensor):
        if x.device != device:
            raise DeviceMismatchError(f"{name}: lives on {x.device} but training runs on {device}; move it first")
        tensor = x.detach()
    else:
        try:
            array = np.asarray(x)
        except Exception as err:  # pragma: no cover - numpy's own message is kept
            raise InvalidArgumentError(f"{name}: cannot be converted to an array ({err})") from err
        if array.dtype.kind not in "biuf":
            raise InvalidArgumentError(f"{name}: expected a numeric array, got dtype {array.dtype}")
        dtype = torch.long if array.dtype.kind in "iu" else float_dtype
        tensor = torch.as_tensor(array, dtype=dtype, device=device)
    if tensor.ndim < 2 or tensor.shape[0] == 0:
        raise ShapeError(f"{name}: expected a non-empty array (n, *input_shape), got shape {tuple(tensor.shape)}")
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise NonFiniteError(f"{name}: holds NaN or infinity")
    return tensor


def _log_probabilities(raw: Tensor) -> Tensor:
    """Log class probabilities ``(n, C)`` from logits: softmax, or sigmoid as two classes for one output."""
    raw = raw.to(torch.float64) if raw.dtype == torch.float64 else raw.float()
    if raw.shape[1] == 1:
        z = raw[:, 0]
        return torch.stack([F.logsigmoid(-z), F.logsigmoid(z)], dim=1)
    return F.log_softmax(raw, dim=1)


def _kl_rows(target_log: Tensor, log_q: Tensor) -> Tensor:
    """KL(p ‖ q) per row from log-probabilities ``(n, C)``."""
    return (target_log.exp() * (target_log - log_q)).sum(dim=1)


def _model_targets(model: Callable[..., Any], x: Tensor, batch_size: int, name: str) -> tuple[Tensor, int]:
    """Log-probabilities ``(n, C)`` of the model on full inputs (evaluation mode, no autograd), and
    the number of raw outputs (1 for a single sigmoid output, for which C = 2)."""
    parts = []
    n_raw = 0
    with _eval_mode(model), torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            raw = raw_output(model(x[start : start + batch_size]))
            n_raw = int(raw.shape[1])
            parts.append(_log_probabilities(raw.detach()))
    targets = torch.cat(parts)
    bad = ~torch.isfinite(targets).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()[:10].tolist()
        raise NonFiniteError(f"model: returned NaN or infinity on {name} row(s) {rows}")
    return targets, n_raw


def _coalitions(
    n: int, m: int, d: int, *, seed: int, point_offset: int, sample_offset: int, rng: np.random.Generator
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """``(n·m, d)`` coalitions: Shapley-kernel draws, each replaced by the full (or the empty)
    coalition with probability ``1/(d+1)``, as often as a uniform draw of the size would give them."""
    if d >= 2:
        masks = sample_coalitions(
            n, m, d, distribution="shapley", seed=seed, point_offset=point_offset, sample_offset=sample_offset
        ).reshape(n * m, d)
    else:
        masks = sample_coalitions(
            n, m, d, distribution="banzhaf", seed=seed, point_offset=point_offset, sample_offset=sample_offset
        ).reshape(n * m, d)
    u = rng.random(n * m)
    masks[u < 1.0 / (d + 1)] = True
    masks[(u >= 1.0 / (d + 1)) & (u < 2.0 / (d + 1))] = False
    return masks


def train_surrogate(
    model: nn.Module | Callable[..., Any],
    x_train: Any,
    *,
    masker: Masker | None = None,
    network: nn.Module | None = None,
    x_val: Any = None,
    epochs: int = 50,
    batch_size: int = 64,
    lr: float = 1e-3,
    masks_per_input: int = 8,
    weight_decay: float = 0.01,
    seed: int = 0,
    device: Any = None,
    progress: bool = True,
) -> Surrogate:
    """Train a surrogate that predicts ``model`` on inputs with held-out features.

    Targets are the model's class probabilities on the full inputs (its outputs are taken as logits:
    softmax, or sigmoid for a single output). Each step takes ``batch_size`` inputs, draws
    ``masks_per_input`` coalitions for each from the Shapley kernel (with
    :func:`stochamort.sample_coalitions`; the full and the empty coalition are each added with
    probability ``1/(d+1)``), and minimises the mean KL(p_model(x) ‖ p_surrogate(x_S, S)) with AdamW.
    With ``x_val`` the state with the lowest validation KL (on fixed seeded coalitions) is kept.
    On CPU the result is a deterministic function of ``seed`` (and of ``network``'s initial state when
    one is given; the default network is initialised from ``seed``).

    Args:
        model: the model, a torch module or callable on input batches returning logits ``(n, C)``
            (or ``(n,)``/``(n, 1)`` for one output).
        x_train: training inputs ``(n, *input_shape)`` (array or tensor on ``device``).
        masker: how absent features are filled: a :class:`SurrogateMasker`, or a masker to wrap in
            one (default ``BaselineMasker(0.0)``).
        network: a module taking ``(x_masked, mask)`` and returning logits, or a :class:`Surrogate`;
            trained in place. Default: the MLP of :class:`Surrogate` (floating-point inputs only).
        x_val: validation inputs for model selection (optional).
        epochs: passes over ``x_train``.
        batch_size: inputs per step (each with ``masks_per_input`` coalitions).
        lr: AdamW learning rate.
        masks_per_input: coalitions per input and step.
        weight_decay: AdamW weight decay.
        seed: seed of the initialisation, shuffling and coalitions, an integer in ``[0, 2**64)``.
        device: where to train (default: the model's device, else CPU).
        progress: show a progress bar over epochs.

    Returns:
        the trained :class:`Surrogate` in evaluation mode, with ``masker`` and ``history`` set.
    """
    if not callable(model):
        raise InvalidArgumentError(f"model: must be callable, got {type(model).__name__}")
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    masks_per_input = _positive_int("masks_per_input", masks_per_input)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise InvalidArgumentError(f"lr: must be a positive finite number, got {lr!r}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not (
        math.isfinite(weight_decay) and weight_decay >= 0
    ):
        raise InvalidArgumentError(f"weight_decay: must be a non-negative finite number, got {weight_decay!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise InvalidArgumentError(f"seed: must be an integer in [0, 2**64), got {seed!r}")
    seed = int(seed)
    if not isinstance(progress, bool):
        raise InvalidArgumentError(f"progress: must be a bool, got {progress!r}")
    if masker is None:
        surrogate_masker = SurrogateMasker()
    elif isinstance(masker, SurrogateMasker):
        surrogate_masker = masker
    elif isinstance(masker, Masker):
        surrogate_masker = SurrogateMasker(masker)
    else:
        raise InvalidArgumentError(f"masker: must be a Masker, got {type(masker).__name__}")
    if network is not None and not isinstance(network, nn.Module):
        raise InvalidArgumentError(f"network: must be a torch.nn.Module taking (x_masked, mask), got {type(network).__name__}")

    device = model_device(model, device)
    float_dtype = _float_dtype(model)
    x = _as_input(x_train, "x_train", device, float_dtype)
    if network is None and not x.is_floating_point():
        raise InvalidArgumentError(
            f"network: the default MLP needs floating-point inputs, x_train has dtype {x.dtype}; pass a network "
            "taking (x_masked, mask)"
        )
    surrogate_masker.prepare(x)
    d = surrogate_masker.n_features(tuple(x.shape[1:]))
    xv = None
    if x_val is not None:
        xv = _as_input(x_val, "x_val", device, float_dtype)
        if xv.shape[1:] != x.shape[1:] or xv.dtype != x.dtype:
            raise ShapeError(
                f"x_val: rows have shape {tuple(xv.shape[1:])} ({xv.dtype}) but x_train rows have "
                f"{tuple(x.shape[1:])} ({x.dtype})"
            )

    targets, n_outputs = _model_targets(model, x, max(batch_size, 1024), "x_train")
    val_targets = None if xv is None else _model_targets(model, xv, max(batch_size, 1024), "x_val")[0]

    if isinstance(network, Surrogate):
        surrogate = network
    elif network is not None:
        surrogate = Surrogate(network)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            surrogate = Surrogate(n_features=d, n_outputs=n_outputs, input_size=int(x[0].numel()), hidden=128)
        surrogate.to(x.dtype)
    surrogate.masker = surrogate_masker
    surrogate.to(device)
    surrogate.history = {"train_kl": [], "val_kl": []}

    optimizer = torch.optim.AdamW(surrogate.parameters(), lr=float(lr), weight_decay=float(weight_decay))
    rng = np.random.default_rng([seed, 0])
    n = int(x.shape[0])
    val_masks = None
    if xv is not None:
        val_masks = torch.from_numpy(
            _coalitions(
                int(xv.shape[0]),
                _VALIDATION_MASKS_PER_INPUT,
                d,
                seed=(seed + _VALIDATION_SEED_OFFSET) % 2**64,
                point_offset=0,
                sample_offset=0,
                rng=np.random.default_rng([seed, 1]),
            )
        ).to(device)
    best_kl = math.inf
    best_state: dict[str, Tensor] | None = None
    with tqdm(range(epochs), desc="surrogate", unit="epoch", disable=not progress, leave=False) as bar:
        for epoch in bar:
            surrogate.train()
            order = torch.from_numpy(rng.permutation(n)).to(device)
            total, count = 0.0, 0
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                b = int(rows.shape[0])
                masks = _coalitions(
                    b, masks_per_input, d, seed=seed, point_offset=start, sample_offset=epoch * masks_per_input, rng=rng
                )
                rows = rows.repeat_interleave(masks_per_input)
                loss = _batch_kl(
                    surrogate, surrogate_masker, x[rows], torch.from_numpy(masks).to(device), targets[rows], n_outputs
                ).mean()
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise NonFiniteError(f"lr: the training loss became NaN or infinite at epoch {epoch}; lower lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                total += loss_value * b
                count += b
            surrogate.history["train_kl"].append(total / count)
            postfix = {"train_kl": f"{total / count:.4f}"}
            if xv is not None and val_masks is not None and val_targets is not None:
                val_kl = _validation_kl(surrogate, surrogate_masker, xv, val_masks, val_targets, n_outputs, batch_size)
                surrogate.history["val_kl"].append(val_kl)
                postfix["val_kl"] = f"{val_kl:.4f}"
                if val_kl < best_kl:
                    best_kl = val_kl
                    best_state = {k: v.detach().clone() for k, v in surrogate.state_dict().items()}
            bar.set_postfix(postfix)
    if best_state is not None:
        surrogate.load_state_dict(best_state)
    surrogate.eval()
    return surrogate


def _batch_kl(
    surrogate: Surrogate, masker: SurrogateMasker, x: Tensor, masks: Tensor, targets: Tensor, n_outputs: int
) -> Tensor:
    """KL(p_model ‖ p_surrogate) per row for inputs ``x`` with coalitions ``masks``."""
    raw = raw_output(surrogate(*masker.apply(x, masks)))
    if raw.shape[1] != n_outputs:
        raise ShapeError(f"network: returns {raw.shape[1]} outputs per input but the model returns {n_outputs}")
    log_q = _log_probabilities(raw)
    return _kl_rows(targets.to(log_q.dtype), log_q)


def _validation_kl(
    surrogate: Surrogate,
    masker: SurrogateMasker,
    xv: Tensor,
    masks: Tensor,
    targets: Tensor,
    n_outputs: int,
    batch_size: int,
) -> float:
    m = _VALIDATION_MASKS_PER_INPUT
    rows = torch.arange(xv.shape[0], device=xv.device).repeat_interleave(m)
    surrogate.eval()
    total = 0.0
    step = batch_size * m
    with torch.no_grad():
        for start in range(0, rows.shape[0], step):
            r = rows[start : start + step]
            total += float(_batch_kl(surrogate, masker, xv[r], masks[start : start + step], targets[r], n_outputs).sum())
    return total / int(rows.shape[0])
