"""Amortizer models and trainer: the paper's core claim on a game with exact values, efficiency
normalization, checkpoint selection, early stopping, target scaling, determinism, online labels,
and typed errors for bad arguments.

The game: a small float64 tanh MLP with two outputs on d = 6 features, masked with a zero
baseline; exact Shapley values by enumeration (stochamort.oracles.Exact) are a smooth function of
x. Noisy labels come from UnbiasedKernelSHAP at 16 evaluations per point (unbiased, very noisy).
Everything runs on CPU with one torch thread and fixed seeds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from stochamort.amortize import (
    Amortizer,
    EfficiencyNormalization,
    MLPAmortizer,
    OracleLabels,
    PatchAmortizer,
    TrainConfig,
    TrainResult,
    efficiency_normalize,
    epoch_seed,
    normalized_error,
    predict,
    squared_error,
    train_amortizer,
    train_amortizer_online,
)
from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError, StochamortError
from stochamort.games import BaselineMasker, MaskedModel
from stochamort.oracles import Exact, Permutation, UnbiasedKernelSHAP

from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)

D = 6
N_OUT = 2
N_TRAIN, N_VAL, N_TEST = 1200, 300, 300
LABEL_ORACLE = UnbiasedKernelSHAP(budget=16, sampling="iid")  # noisy labels: the tests need the noise


@dataclass
class Problem:
    family: MaskedModel
    x: Tensor  # float64, (N_TRAIN + N_VAL + N_TEST, D)
    exact: NDArray[np.float64]
    labels: NDArray[np.float64]  # one noisy draw per point
    gaps: NDArray[np.float64]

    def part(self, name: str) -> slice:
        return {
            "train": slice(0, N_TRAIN),
            "val": slice(N_TRAIN, N_TRAIN + N_VAL),
            "test": slice(N_TRAIN + N_VAL, None),
        }[name]


@pytest.fixture(scope="module")
def problem() -> Problem:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, N_OUT)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x = torch.randn(N_TRAIN + N_VAL + N_TEST, D, generator=gen, dtype=torch.float64)
    family = MaskedModel(model, BaselineMasker(0.0), output="logits")
    game = family.bind(x)
    exact = Exact()(game, progress=False).values
    labels = LABEL_ORACLE(game, seed=1, progress=False).values
    null, grand = game.endpoints()
    return Problem(family, x, exact, labels, grand - null)


def new_mlp(seed: int = 0, **kwargs: Any) -> MLPAmortizer:
    torch.manual_seed(seed)
    return MLPAmortizer(D, D, N_OUT, **{"hidden": (128, 128), **kwargs})


def fit(problem: Problem, model: nn.Module | None = None, **kwargs: Any) -> TrainResult:
    tr, va = problem.part("train"), problem.part("val")
    settings: dict[str, Any] = {"epochs": 30, "batch_size": 64, "lr": 2e-3, "progress": False, **kwargs}
    return train_amortizer(
        new_mlp() if model is None else model,
        problem.x[tr],
        problem.labels[tr],
        x_val=problem.x[va],
        labels_val=problem.labels[va],
        config=TrainConfig(**settings),
    )


def test_amortizer_error_is_far_below_the_noise_of_its_labels(problem: Problem) -> None:
    """The paper's core claim: trained on unbiased labels whose squared error to the exact Shapley
    values is L, the amortizer's error on held-out points is a small fraction of L."""
    result = fit(problem)
    te = problem.part("test")
    label_error = squared_error(problem.labels[te], problem.exact[te])
    amortizer_error = squared_error(result.predict(problem.x[te]), problem.exact[te])
    print(
        f"\nlabel error {label_error:.4f}, amortizer error {amortizer_error:.4f}, "
        f"ratio {amortizer_error / label_error:.3f}, normalized error "
        f"{normalized_error(result.predict(problem.x[te]), problem.exact[te]):.3f} "
        f"(labels: {normalized_error(problem.labels[te], problem.exact[te]):.3f}), "
        f"best epoch {result.best_epoch}, {result.train_seconds:.2f} s"
    )
    assert amortizer_error < 0.3 * label_error
    assert normalized_error(result.predict(problem.x[te]), problem.exact[te]) < 0.2
    # unbiasedness of the noisy loss: validation loss ≈ true error + label noise (summed over outputs)
    va = problem.part("val")
    true_val = squared_error(result.predict(problem.x[va]), problem.exact[va])
    noise_val = squared_error(problem.labels[va], problem.exact[va])
    assert result.best_val_loss is not None
    assert result.best_val_loss / N_OUT == pytest.approx(true_val + noise_val, rel=0.2)


def test_history_flops_and_schedule(problem: Problem) -> None:
    result = fit(problem, epochs=5, warmup_epochs=1, lr=1e-3, final_lr_ratio=0.1)
    h = result.history
    assert len(h.train_loss) == len(h.val_loss) == len(h.lr) == len(h.seconds) == 5 == result.epochs_run
    steps = math.ceil(N_TRAIN / 64)
    assert h.lr[0] == pytest.approx(1e-3 / steps)  # first warm-up step
    assert h.lr[1] == pytest.approx(1e-3)  # warm-up done: cosine starts at the peak
    assert h.lr[1] > h.lr[2] > h.lr[3] > h.lr[4] > 1e-4
    assert result.best_epoch == int(np.argmin(h.val_loss))
    params = sum(p.numel() for p in result.model.parameters())
    assert result.flops_per_sample == 6 * params
    assert result.samples_processed == 5 * N_TRAIN and result.val_samples_processed == 5 * N_VAL
    assert result.train_flops == pytest.approx(6 * params * 5 * N_TRAIN + 2 * params * 5 * N_VAL)
    assert result.mixed_precision is None and result.device == "cpu"
    assert fit(problem, epochs=1, flops_per_sample=10.0).train_flops == pytest.approx(10.0 * N_TRAIN + 10.0 / 3 * N_VAL)


def overfit(problem: Problem, **kwargs: Any) -> TrainResult:
    """Few noisy training points and a large network: the validation loss turns up after a while."""
    tr, va = slice(0, 48), problem.part("val")
    return train_amortizer(
        new_mlp(hidden=(256, 256)),
        problem.x[tr],
        problem.labels[tr],
        x_val=problem.x[va],
        labels_val=problem.labels[va],
        config=TrainConfig(
            **{"epochs": 60, "batch_size": 16, "lr": 3e-3, "weight_decay": 0.0, "final_lr_ratio": 1.0, "progress": False, **kwargs}
        ),
    )


def test_checkpoint_selection_keeps_the_state_with_the_lowest_noisy_validation_loss(problem: Problem) -> None:
    result = overfit(problem)
    val = np.array(result.history.val_loss)
    assert result.best_epoch == int(np.argmin(val)) < result.epochs_run - 1
    assert val[-1] > 1.2 * val.min()  # it did overfit: the last state is clearly worse
    va = problem.part("val")
    pred = result.predict(problem.x[va])
    reproduced = float(np.square(pred - problem.labels[va]).sum(axis=(1, 2)).mean())
    assert reproduced == pytest.approx(result.best_val_loss, rel=1e-4)
    assert result.best_val_loss == val.min()


def test_early_stopping_stops_patience_epochs_after_the_best(problem: Problem) -> None:
    result = overfit(problem, epochs=200, patience=4)
    assert result.stopped_early
    assert result.epochs_run == result.best_epoch + 1 + 4 < 200
    assert len(result.history.val_loss) == result.epochs_run
    assert min(result.history.val_loss[result.best_epoch + 1 :]) >= result.best_val_loss  # type: ignore[operator]
    full = overfit(problem, epochs=result.epochs_run)
    assert not full.stopped_early


def test_target_scaling_round_trips(problem: Problem) -> None:
    tr, va, te = problem.part("train"), problem.part("val"), problem.part("test")
    small = problem.labels / 1024.0  # small-norm attributions (as Banzhaf / LIME)
    settings = TrainConfig(epochs=3, batch_size=64, progress=False)
    scaled = train_amortizer(
        new_mlp(), problem.x[tr], small[tr], x_val=problem.x[va], labels_val=small[va], config=settings.replace(target_scale=1024.0)
    )
    plain = train_amortizer(new_mlp(), problem.x[tr], problem.labels[tr], x_val=problem.x[va], labels_val=problem.labels[va], config=settings)
    # a power-of-two scale is exact: the same network, predictions divided by the scale
    np.testing.assert_array_equal(scaled.predict(problem.x[te]), plain.predict(problem.x[te]) / 1024.0)
    np.testing.assert_allclose(scaled.history.val_loss, np.array(plain.history.val_loss) / 1024.0**2, rtol=1e-12)
    # the bare network with the scale passed by hand, and the module-level predict
    np.testing.assert_array_equal(predict(scaled.model, problem.x[te], target_scale=1024.0), scaled.predict(problem.x[te]))
    np.testing.assert_array_equal(predict(scaled.amortizer, problem.x[te]), scaled.predict(problem.x[te]))
    with pytest.raises(InvalidArgumentError, match="^target_scale"):
        predict(scaled.amortizer, problem.x[te], target_scale=2.0)


def test_auto_target_scale_rescues_small_norm_labels(problem: Problem) -> None:
    tr, te = problem.part("train"), problem.part("test")
    tiny = problem.labels * 1e-4
    rms = float(np.sqrt(np.mean(np.square(tiny[tr]))))
    settings = TrainConfig(epochs=10, batch_size=64, lr=2e-3, progress=False)
    auto = train_amortizer(new_mlp(), problem.x[tr], tiny[tr], config=settings.replace(target_scale="auto"))
    assert auto.target_scale == pytest.approx(1.0 / rms, rel=1e-6)
    assert auto.amortizer.target_scale == auto.target_scale
    unscaled = train_amortizer(new_mlp(), problem.x[tr], tiny[tr], config=settings)
    truth = problem.exact[te] * 1e-4
    auto_error = normalized_error(auto.predict(problem.x[te]), truth)
    unscaled_error = normalized_error(unscaled.predict(problem.x[te]), truth)
    assert auto_error < 0.3 and auto_error < 0.5 * unscaled_error
    assert auto.best_epoch == 9 and auto.best_val_loss is None  # no validation set: the last epoch


def test_efficiency_normalization_is_exact() -> None:
    gen = torch.Generator().manual_seed(3)
    for dtype, tol in ((torch.float32, 1e-6), (torch.float64, 1e-10)):
        phi = torch.randn(50, 10, 3, generator=gen, dtype=dtype).requires_grad_()
        gaps = 5 * torch.randn(50, 3, generator=gen, dtype=dtype)
        out = EfficiencyNormalization()(phi, gaps)
        assert out.dtype == dtype and out.shape == phi.shape
        assert (out.double().sum(dim=1) - gaps.double()).abs().max().item() < tol
        # the same shift for every player, and the identity on efficient inputs
        shift = (out - phi).detach()
        assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=tol)
        again = efficiency_normalize(out.detach(), gaps)
        assert torch.allclose(again, out.detach(), atol=tol)
        out.sum().backward()  # differentiable
        assert phi.grad is not None
    single = efficiency_normalize(torch.ones(4, 5, 1), torch.zeros(4))  # (n,) gaps for one output
    assert torch.allclose(single, torch.zeros(4, 5, 1))
    with pytest.raises(ShapeError, match="^gaps"):
        efficiency_normalize(torch.ones(4, 5, 2), torch.zeros(4, 3))
    with pytest.raises(ShapeError, match="^phi"):
        efficiency_normalize(torch.ones(4, 5), torch.zeros(4, 5))


def test_training_with_efficiency_makes_predictions_sum_to_the_gap(problem: Problem) -> None:
    tr, va, te = problem.part("train"), problem.part("val"), problem.part("test")
    result = train_amortizer(
        new_mlp(),
        problem.x[tr],
        problem.labels[tr],
        x_val=problem.x[va],
        labels_val=problem.labels[va],
        gaps_train=problem.gaps[tr],
        gaps_val=problem.gaps[va],
        config=TrainConfig(efficiency=True, target_scale="auto", epochs=8, batch_size=64, lr=2e-3, progress=False),
    )
    assert result.amortizer.efficiency
    pred = result.predict(problem.x[te], problem.gaps[te])
    np.testing.assert_allclose(pred.sum(axis=1), problem.gaps[te], rtol=0, atol=1e-10)
    assert squared_error(pred, problem.exact[te]) < squared_error(problem.labels[te], problem.exact[te])
    with pytest.raises(InvalidArgumentError, match="^gaps"):
        result.predict(problem.x[te])
    # the torch forward of the Amortizer applies the same normalization
    with torch.no_grad():
        out = result.amortizer(problem.x[te].float(), torch.as_tensor(problem.gaps[te]))
    np.testing.assert_allclose(out.double().numpy(), pred, atol=1e-4)


def test_training_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone(problem: Problem) -> None:
    def run(seed: int) -> TrainResult:
        return fit(problem, new_mlp(dropout=0.1), epochs=2, seed=seed)

    state = torch.get_rng_state()
    a, b, c = run(0), run(0), run(1)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.history.train_loss == b.history.train_loss and a.history.val_loss == b.history.val_loss
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert a.history.train_loss != c.history.train_loss


def test_online_labels_beat_a_single_noisy_draw(problem: Problem) -> None:
    tr, va, te = problem.part("train"), problem.part("val"), problem.part("test")
    epochs = 30
    label_fn = OracleLabels(LABEL_ORACLE, problem.family, problem.x[tr], seed=7)
    online = train_amortizer_online(
        new_mlp(),
        problem.x[tr],
        label_fn,
        x_val=problem.x[va],
        labels_val=problem.labels[va],
        config=TrainConfig(epochs=epochs, batch_size=64, lr=2e-3, progress=False),
    )
    assert label_fn.n_evaluations == epochs * N_TRAIN * 16
    fixed = fit(problem, epochs=epochs)
    online_error = squared_error(online.predict(problem.x[te]), problem.exact[te])
    fixed_error = squared_error(fixed.predict(problem.x[te]), problem.exact[te])
    label_error = squared_error(problem.labels[te], problem.exact[te])
    print(f"\nonline {online_error:.4f}, one stored draw {fixed_error:.4f}, labels {label_error:.4f}")
    assert online_error < 0.15 * label_error
    assert online_error < 0.8 * fixed_error


def test_online_labels_do_not_depend_on_the_chunking(problem: Problem) -> None:
    tr = slice(0, 200)
    label_fn = OracleLabels(Permutation(budget=12), problem.family, problem.x[tr], seed=3)
    whole = label_fn(np.arange(200), epoch=4).values
    parts = np.concatenate([label_fn(np.arange(s, min(200, s + 64)), epoch=4).values for s in range(0, 200, 64)])
    np.testing.assert_array_equal(whole, parts)
    assert not np.array_equal(whole, label_fn(np.arange(200), epoch=5).values)
    assert epoch_seed(3, 4) != epoch_seed(3, 5) and epoch_seed(3, 4) == epoch_seed(3, 4)
    runs = [
        train_amortizer_online(
            new_mlp(), problem.x[tr], label_fn, label_chunk_size=chunk, config=TrainConfig(epochs=2, batch_size=64, progress=False)
        )
        for chunk in (None, 64)
    ]
    assert runs[0].history.train_loss == runs[1].history.train_loss
    with pytest.raises(InvalidArgumentError, match="^indices"):
        label_fn(np.array([0, 2, 3]), 0)


def test_labels_may_be_an_estimate_and_inputs_arrays(problem: Problem) -> None:
    game = problem.family.bind(problem.x[:64])
    estimate = Permutation(budget=12)(game, seed=0, progress=False)
    result = train_amortizer(new_mlp(), problem.x[:64].numpy(), estimate, config=TrainConfig(epochs=1, progress=True))
    assert result.predict(problem.x[:5].numpy()).shape == (5, D, N_OUT)
    assert result.predict(problem.x[:5]).dtype == np.float64


def test_patch_amortizer_shapes_and_training() -> None:
    class Patchify(nn.Module):
        """4x4 patches of 1x8x8 images -> (n, 1 + 4, 16) with a leading class token."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Conv2d(1, 16, kernel_size=4, stride=4)
            self.cls = nn.Parameter(torch.zeros(1, 1, 16))

        def forward(self, x: Tensor) -> Any:
            tokens = self.embed(x).flatten(2).transpose(1, 2)
            return type("Out", (), {"last_hidden_state": torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], 1)})()

    torch.manual_seed(0)
    model = PatchAmortizer(Patchify(), n_patches=4, n_outputs=3, embed_dim=16, head_hidden=(32,), skip_tokens=1)
    x = torch.randn(64, 1, 8, 8)
    assert model(x).shape == (64, 4, 3) and model.n_patches == 4
    # a target each patch can read off its own pixels: the patch means
    labels = x.reshape(64, 2, 4, 2, 4).mean(dim=(2, 4)).reshape(64, 4, 1).expand(64, 4, 3)
    result = train_amortizer(model, x, labels, config=TrainConfig(epochs=40, batch_size=16, lr=1e-2, progress=False))
    assert result.history.train_loss[-1] < 0.2 * result.history.train_loss[0]
    tanh = PatchAmortizer(nn.Identity(), n_patches=4, n_outputs=2, embed_dim=5, output_activation="tanh")
    out = tanh(torch.randn(3, 4, 5) * 100)
    assert out.shape == (3, 4, 2) and out.abs().max() <= 1
    with pytest.raises(ShapeError, match="^backbone"):
        tanh(torch.randn(3, 5, 5))


def test_mlp_amortizer_options() -> None:
    model = MLPAmortizer(12, 4, 3, hidden=32, activation="gelu", dropout=0.2, zero_init_output=True)
    out = model(torch.randn(7, 3, 4, dtype=torch.float64))  # flattened, cast to the model's dtype
    assert out.shape == (7, 4, 3) and out.dtype == torch.float32 and torch.all(out == 0)
    assert MLPAmortizer(3, 3, hidden=()).net[0].in_features == 3
    with pytest.raises(ShapeError, match="^x"):
        model(torch.randn(7, 5))


def tiny_problem() -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    return {"x": torch.randn(20, D, generator=gen), "labels": torch.randn(20, D, N_OUT, generator=gen)}


CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def _call(**overrides: Any) -> TrainResult:
    """``train_amortizer`` on the tiny problem: overrides of TrainConfig's fields go to the config
    (made inside the call, so its errors are raised here too), the others are arguments."""
    data = tiny_problem()
    args: dict[str, Any] = {"model": new_mlp(), "x_train": data["x"], "labels_train": data["labels"]}
    settings: dict[str, Any] = {"epochs": 1, "progress": False}
    for name, value in overrides.items():
        (settings if name in CONFIG_FIELDS else args)[name] = value
    return train_amortizer(**args, config=TrainConfig(**settings))


BAD: list[tuple[dict[str, Any], type[StochamortError], str]] = [
    ({"model": "mlp"}, InvalidArgumentError, "model"),
    ({"epochs": 0}, InvalidArgumentError, "TrainConfig.epochs"),
    ({"epochs": 2.5}, InvalidArgumentError, "TrainConfig.epochs"),
    ({"batch_size": 0}, InvalidArgumentError, "TrainConfig.batch_size"),
    ({"lr": -1.0}, InvalidArgumentError, "TrainConfig.lr"),
    ({"lr": math.nan}, InvalidArgumentError, "TrainConfig.lr"),
    ({"weight_decay": -0.1}, InvalidArgumentError, "TrainConfig.weight_decay"),
    ({"warmup_epochs": 1}, InvalidArgumentError, "TrainConfig.warmup_epochs"),
    ({"final_lr_ratio": 2.0}, InvalidArgumentError, "TrainConfig.final_lr_ratio"),
    ({"max_grad_norm": 0.0}, InvalidArgumentError, "TrainConfig.max_grad_norm"),
    ({"patience": 3}, InvalidArgumentError, "TrainConfig.patience"),
    ({"target_scale": 0.0}, InvalidArgumentError, "TrainConfig.target_scale"),
    ({"target_scale": "big"}, InvalidArgumentError, "TrainConfig.target_scale"),
    ({"mixed_precision": "fp8"}, InvalidArgumentError, "TrainConfig.mixed_precision"),
    ({"mixed_precision": "bf16", "device": "cpu"}, InvalidArgumentError, "TrainConfig.mixed_precision"),
    ({"seed": -1}, InvalidArgumentError, "TrainConfig.seed"),
    ({"efficiency": True}, InvalidArgumentError, "gaps_train"),
    ({"gaps_train": np.zeros((20, N_OUT))}, InvalidArgumentError, "gaps_train"),
    ({"efficiency": True, "gaps_train": np.zeros((20, 3))}, ShapeError, "gaps_train"),
    ({"x_val": np.zeros((5, D))}, InvalidArgumentError, "labels_val"),
    ({"labels_val": np.zeros((5, D, N_OUT))}, InvalidArgumentError, "x_val"),
    ({"x_val": np.zeros((5, D)), "labels_val": np.zeros((5, D + 1, N_OUT))}, ShapeError, "labels_val"),
    ({"x_val": np.zeros((5, D)), "labels_val": np.zeros((4, D, N_OUT))}, ShapeError, "labels_val"),
    ({"x_val": np.zeros((5, D + 1)), "labels_val": np.zeros((5, D, N_OUT))}, ShapeError, "x_val"),
    ({"labels_train": np.zeros((20, D))}, ShapeError, "labels_train"),
    ({"labels_train": np.zeros((19, D, N_OUT))}, ShapeError, "labels_train"),
    ({"labels_train": np.full((20, D, N_OUT), np.nan)}, NonFiniteError, "labels_train"),
    ({"labels_train": np.zeros((20, D + 1, N_OUT))}, ShapeError, "model"),
    ({"x_train": np.zeros(20)}, ShapeError, "x_train"),
    ({"x_train": np.array([["a"] * D] * 20)}, InvalidArgumentError, "x_train"),
    ({"lr": 1e30, "batch_size": 4}, NonFiniteError, "TrainConfig.lr"),
]


@pytest.mark.parametrize(("overrides", "error", "argument"), BAD, ids=[f"{a}-{i}" for i, (_, _, a) in enumerate(BAD)])
def test_bad_arguments_raise_typed_errors_naming_the_argument(
    overrides: dict[str, Any], error: type[StochamortError], argument: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(argument)}:"):
        _call(**overrides)


def test_bad_arguments_elsewhere() -> None:
    data = tiny_problem()
    quick = TrainConfig(epochs=1, progress=False)
    for kwargs, name in (
        ({"n_features": 0, "n_players": 2}, "n_features"),
        ({"n_features": 2, "n_players": 2, "hidden": (8, 0)}, "hidden"),
        ({"n_features": 2, "n_players": 2, "activation": "swish"}, "activation"),
        ({"n_features": 2, "n_players": 2, "dropout": 1.0}, "dropout"),
        ({"n_features": 2, "n_players": 2, "output_activation": "sigmoid"}, "output_activation"),
    ):
        with pytest.raises(InvalidArgumentError, match=f"^{name}:"):
            MLPAmortizer(**kwargs)
    with pytest.raises(InvalidArgumentError, match="^backbone:"):
        PatchAmortizer("vit", 4, 2, 8)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^skip_tokens:"):
        PatchAmortizer(nn.Identity(), 4, 2, 8, skip_tokens=-1)
    with pytest.raises(InvalidArgumentError, match="^label_fn:"):
        train_amortizer_online(new_mlp(), data["x"], "labels", config=quick)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="^label_fn:"):
        train_amortizer_online(new_mlp(), data["x"], lambda idx, epoch: np.zeros((len(idx), D)), config=quick)
    with pytest.raises(InvalidArgumentError, match="^label_chunk_size:"):
        train_amortizer_online(new_mlp(), data["x"], lambda idx, epoch: data["labels"][idx], label_chunk_size=0, config=quick)
    with pytest.raises(InvalidArgumentError, match=r"^TrainConfig\.target_scale:"):
        train_amortizer_online(
            new_mlp(), data["x"], lambda idx, epoch: np.zeros((len(idx), D, N_OUT)), config=quick.replace(target_scale="auto")
        )
    with pytest.raises(InvalidArgumentError, match="^config:"):
        train_amortizer(new_mlp(), data["x"], data["labels"], config={"epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^gaps:"):
        predict(new_mlp(), data["x"], gaps=np.zeros((20, N_OUT)))
    with pytest.raises(InvalidArgumentError, match="^batch_size:"):
        predict(new_mlp(), data["x"], batch_size=0)
    with pytest.raises(InvalidArgumentError, match="^model:"):
        predict("mlp", data["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="^target_scale:"):
        Amortizer(new_mlp(), target_scale=-1.0)
    for error in (InvalidArgumentError, ShapeError, NonFiniteError):
        assert issubclass(error, ValueError) and issubclass(error, StochamortError)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_precision_on_cuda(problem: Problem) -> None:
    result = fit(problem, new_mlp(), epochs=10, device="cuda")
    assert result.mixed_precision in ("bf16", "fp16") and result.device.startswith("cuda")
    te = problem.part("test")
    assert squared_error(result.predict(problem.x[te]), problem.exact[te]) < squared_error(problem.labels[te], problem.exact[te])


def test_gated_amortizer_vanishes_at_the_baseline_and_represents_linear_attributions() -> None:
    from stochamort.amortize import GatedMLPAmortizer

    torch.manual_seed(0)
    baseline = torch.tensor([0.5, -1.0, 2.0])
    model = GatedMLPAmortizer(baseline, 2, hidden=(8,))
    out = model(torch.randn(5, 3))
    assert out.shape == (5, 3, 2)
    # Zero the additive branch and make the gate constant w: the output is w_i (x_i − b_i), the
    # Shapley values of a linear model under baseline masking.
    with torch.no_grad():
        for p in model.additive.parameters():
            p.zero_()
        for p in model.gate.parameters():
            p.zero_()
        last = [m for m in model.gate.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    x = torch.randn(4, 3)
    expected = (x - baseline)[:, :, None] * torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    torch.testing.assert_close(model(x), expected)
    torch.testing.assert_close(model(baseline[None]), torch.zeros(1, 3, 2))


def test_model_settings_are_checked_not_coerced() -> None:
    """Flags must be real booleans (``1`` or ``"no"`` would silently mean True); sizes accept numpy ints."""
    with pytest.raises(InvalidArgumentError, match="^zero_init_output: must be True or False"):
        MLPAmortizer(6, 6, 3, zero_init_output=1)  # type: ignore[arg-type]
    assert MLPAmortizer(np.int64(6), 6, np.int16(3)).n_features == 6
    with pytest.raises(InvalidArgumentError, match="^n_players: must be an integer >= 1"):
        MLPAmortizer(6, 0, 3)
