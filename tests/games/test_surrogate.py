"""The surrogate: trained on masked inputs, it matches the model on full inputs and the model's
marginal over a background on masked ones, plugs into MaskedModel and the oracles, and is
deterministic for a seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from stochamort.errors import (
    DeviceMismatchError,
    InvalidArgumentError,
    NonFiniteError,
    ShapeError,
    StochamortError,
)
from stochamort.games import (
    BaselineMasker,
    ImagePatchMasker,
    MarginalMasker,
    MaskedModel,
    Surrogate,
    SurrogateMasker,
    TokenMasker,
    train_surrogate,
)
from stochamort.oracles import Exact, KernelSHAP
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture: one torch thread)

D, CLASSES = 6, 3
# Small enough to train in about a second: a handful of steps per epoch on a tiny MLP.
FAST = dict(epochs=100, batch_size=32, masks_per_input=8, lr=2e-3, progress=False)


def _classifier(d: int = D, classes: int = CLASSES, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, classes))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.8)
    return model.eval()


def _data(n: int, d: int = D, seed: int = 0) -> np.ndarray:
    # Independent features: the surrogate's optimum E[f(X) | X_S = x_S] is then the marginal
    # (interventional) expectation that MarginalMasker computes over a background sample.
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.fixture(scope="module")
def trained() -> Iterator[tuple[nn.Module, Surrogate, np.ndarray, np.ndarray]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = _classifier()
    x = _data(600)
    background = _data(200, seed=1)
    x_train, x_val, x_test = x[:400], x[400:500], x[500:]
    surrogate = train_surrogate(model, x_train, x_val=x_val, seed=0, **FAST)  # type: ignore[arg-type]
    yield model, surrogate, x_test, background
    torch.set_num_threads(threads)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    return float((p * (np.log(p) - np.log(q))).sum(-1).mean())


def _untrained(seed: int = 5) -> Surrogate:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        surrogate = Surrogate(n_features=D, n_outputs=CLASSES)
    surrogate.masker = SurrogateMasker()
    return surrogate.eval()


def test_full_coalition_matches_the_model(trained: tuple[nn.Module, Surrogate, np.ndarray, np.ndarray]) -> None:
    model, surrogate, x_test, _ = trained
    x = torch.tensor(x_test)
    with torch.no_grad():
        p = torch.softmax(model(x), 1).numpy()
        q = torch.softmax(surrogate(x, torch.ones(len(x), D)), 1).numpy()
    assert _kl(p, q) < 0.05
    # And through the game: v(all players) are the surrogate's probabilities on the full input.
    game = surrogate.masked_model().bind(x_test)
    _, grand = game.endpoints()
    np.testing.assert_allclose(grand, q, rtol=1e-5, atol=1e-6)
    assert game.n_outputs == CLASSES and game.n_players == D


def test_masked_predictions_approach_the_marginal(trained: tuple[nn.Module, Surrogate, np.ndarray, np.ndarray]) -> None:
    model, surrogate, x_test, background = trained
    masks = np.random.default_rng(1).random((len(x_test), 20, D)) < 0.5
    marginal = MaskedModel(model, MarginalMasker(background)).bind(x_test).evaluate(masks)
    learned = surrogate.masked_model().bind(x_test).evaluate(masks)
    untrained = _untrained().masked_model().bind(x_test).evaluate(masks)
    trained_kl, untrained_kl = _kl(marginal, learned), _kl(marginal, untrained)
    assert trained_kl < 0.03
    assert trained_kl < 0.2 * untrained_kl
    # Training kept the best validation state and recorded the curves.
    assert len(surrogate.history["train_kl"]) == FAST["epochs"] == len(surrogate.history["val_kl"])
    assert not surrogate.training


def test_oracles_run_on_the_surrogate_game(trained: tuple[nn.Module, Surrogate, np.ndarray, np.ndarray]) -> None:
    model, surrogate, x_test, background = trained
    x = x_test[:20]
    game = MaskedModel(surrogate, SurrogateMasker(BaselineMasker(0.0)), output="probabilities").bind(x)
    est = KernelSHAP(budget=64)(game, seed=0, progress=False)
    assert est.values.shape == (20, D, CLASSES)
    null, grand = game.endpoints()
    np.testing.assert_allclose(est.values.sum(axis=1), grand - null, atol=1e-8)
    assert np.isfinite(est.std_errors).all()
    # The surrogate's Shapley values are close to the model's marginal (interventional) ones.
    exact_surrogate = Exact()(game, progress=False).values
    exact_marginal = Exact()(MaskedModel(model, MarginalMasker(background)).bind(x), progress=False).values
    assert np.corrcoef(exact_surrogate.ravel(), exact_marginal.ravel())[0, 1] > 0.9


def test_deterministic_for_a_seed() -> None:
    model = _classifier()
    x = _data(120)
    settings = dict(epochs=3, batch_size=32, masks_per_input=4, progress=False)
    first = train_surrogate(model, x, x_val=x[:40], seed=7, **settings)  # type: ignore[arg-type]
    second = train_surrogate(model, x, x_val=x[:40], seed=7, **settings)  # type: ignore[arg-type]
    other = train_surrogate(model, x, x_val=x[:40], seed=8, **settings)  # type: ignore[arg-type]
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name
    assert first.history == second.history
    assert any(not torch.equal(t, other.state_dict()[k]) for k, t in first.state_dict().items())


def test_single_sigmoid_output() -> None:
    model = _classifier(classes=1)
    x = _data(200)
    surrogate = train_surrogate(model, x, seed=0, epochs=40, batch_size=32, masks_per_input=8, lr=2e-3, progress=False)
    game = surrogate.masked_model().bind(x[:50])
    assert game.n_outputs == 1
    _, grand = game.endpoints()
    with torch.no_grad():
        p = torch.sigmoid(model(torch.tensor(x[:50]))).numpy()
    assert np.abs(grand - p).mean() < 0.1
    assert surrogate.history["val_kl"] == []


def test_custom_network_and_image_patches() -> None:
    """A user network taking (x_masked, mask), here on 1×4×4 images with 2×2 patches (4 players)."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(16 + 4, 2)

        def forward(self, x: Tensor, mask: Tensor) -> Tensor:
            out: Tensor = self.body(torch.cat([x.flatten(1), mask], 1))
            return out

    classifier = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    images = np.random.default_rng(0).normal(size=(64, 1, 4, 4)).astype(np.float32)
    torch.manual_seed(0)
    net = Net()
    surrogate = train_surrogate(
        classifier, images, masker=ImagePatchMasker(2), network=net, epochs=2, batch_size=16, progress=False
    )
    assert surrogate.network is net
    assert isinstance(surrogate.masker, SurrogateMasker) and isinstance(surrogate.masker.base, ImagePatchMasker)
    game = surrogate.masked_model().bind(images[:5])
    assert game.n_players == 4 and game.n_outputs == 2
    # The default MLP also handles images (flattened input, one mask entry per patch).
    default = train_surrogate(classifier, images, masker=ImagePatchMasker(2), epochs=1, progress=False)
    assert default.masked_model().bind(images[:5]).evaluate(np.ones((5, 1, 4), dtype=bool)).shape == (5, 1, 2)
    # A Surrogate passed as the network is trained in place and returned.
    again = train_surrogate(classifier, images, masker=ImagePatchMasker(2), network=default, epochs=1, progress=False)
    assert again is default


def test_surrogate_masker_arguments() -> None:
    masker = SurrogateMasker(BaselineMasker(-1.0))
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    masks = torch.tensor([[True, False, True], [False, False, True]])
    masker.prepare(x)
    x_masked, mask = masker.apply(x, masks)
    assert torch.equal(x_masked, torch.tensor([[0.0, -1.0, 2.0], [-1.0, -1.0, 5.0]]))
    assert mask.dtype == torch.float32 and torch.equal(mask, masks.float())
    assert masker.n_features((3,)) == 3 and masker.expansions == 1
    tokens = SurrogateMasker(TokenMasker(mask_token_id=0))
    ids = torch.tensor([[5, 6, 7]])
    tokens.prepare(ids)
    masked_ids, token_mask = tokens.apply(ids, torch.tensor([[True, False, True]]))
    assert torch.equal(masked_ids, torch.tensor([[5, 0, 7]])) and token_mask.dtype == torch.get_default_dtype()


def _raises(error: type[Exception], argument: str) -> Any:
    return pytest.raises(error, match=rf"^{argument}:")


def test_errors_name_the_argument() -> None:
    model = _classifier()
    x = _data(20)
    fast = dict(epochs=1, progress=False)
    for name, bad in [
        ("epochs", 0),
        ("batch_size", -1),
        ("masks_per_input", 1.5),
        ("lr", float("nan")),
        ("lr", 0.0),
        ("weight_decay", -0.1),
        ("seed", -1),
        ("seed", 2**64),
        ("progress", "yes"),
    ]:
        with _raises(InvalidArgumentError, name):
            train_surrogate(model, x, **{"epochs": 1, "progress": False, name: bad})  # type: ignore[arg-type]
    with _raises(InvalidArgumentError, "model"):
        train_surrogate("not a model", x, **fast)  # type: ignore[arg-type]
    with _raises(InvalidArgumentError, "masker"):
        train_surrogate(model, x, masker="zeros", **fast)  # type: ignore[arg-type]
    with _raises(InvalidArgumentError, "network"):
        train_surrogate(model, x, network=lambda a, b: a, **fast)  # type: ignore[arg-type]
    with _raises(ShapeError, "x_train"):
        train_surrogate(model, x[0], **fast)  # type: ignore[arg-type]
    with _raises(ShapeError, "x_train"):
        train_surrogate(model, x[:0], **fast)  # type: ignore[arg-type]
    with _raises(NonFiniteError, "x_train"):
        train_surrogate(model, np.where(np.eye(20, D) > 0, np.nan, x), **fast)  # type: ignore[arg-type]
    with _raises(ShapeError, "x_val"):
        train_surrogate(model, x, x_val=x[:, :3], **fast)  # type: ignore[arg-type]
    with _raises(InvalidArgumentError, "x_train"):
        train_surrogate(model, np.array([["a"] * D] * 3), **fast)  # type: ignore[arg-type]
    with _raises(InvalidArgumentError, "base"):
        train_surrogate(model, x, masker=MarginalMasker(x[:5]), **fast)  # type: ignore[arg-type]
    with _raises(InvalidArgumentError, "network"):  # the default MLP needs floating-point inputs
        train_surrogate(nn.Embedding(10, 2), np.zeros((4, 3), dtype=np.int64), masker=TokenMasker(0), **fast)  # type: ignore[arg-type]
    wrong_outputs = Surrogate(n_features=D, n_outputs=2)
    with _raises(ShapeError, "network"):
        train_surrogate(model, x, network=wrong_outputs, **fast)  # type: ignore[arg-type]
    with _raises(NonFiniteError, "model"):
        train_surrogate(lambda t: t[:, :3] * float("nan"), x, **fast)  # type: ignore[arg-type]
    if torch.cuda.is_available():  # pragma: no cover - only where a GPU is present
        with pytest.raises(DeviceMismatchError):
            train_surrogate(model, torch.tensor(x, device="cuda"), **fast)  # type: ignore[arg-type]

    with _raises(InvalidArgumentError, "network"):
        Surrogate()
    with _raises(InvalidArgumentError, "n_features"):
        Surrogate(n_features=0, n_outputs=2)
    with _raises(InvalidArgumentError, "network"):
        Surrogate("mlp")  # type: ignore[arg-type]
    with _raises(InvalidArgumentError, "masker"):
        Surrogate(n_features=2, n_outputs=2).masked_model()
    with _raises(InvalidArgumentError, "masker"):
        Surrogate(n_features=2, n_outputs=2, masker=BaselineMasker())  # type: ignore[arg-type]
    with _raises(InvalidArgumentError, "base"):
        SurrogateMasker(MarginalMasker(x[:5]))
    with _raises(InvalidArgumentError, "base"):
        SurrogateMasker(SurrogateMasker())
    attention = SurrogateMasker(TokenMasker(mode="attention"))
    ids = torch.zeros((1, 3), dtype=torch.long)
    attention.prepare(ids)
    with _raises(InvalidArgumentError, "base"):
        attention.apply(ids, torch.ones((1, 3), dtype=torch.bool))
    with _raises(ShapeError, "x"):
        Surrogate(n_features=D, n_outputs=2)(torch.zeros(2, D + 1), torch.ones(2, D))
    assert issubclass(InvalidArgumentError, StochamortError)


def test_model_modes_and_dtype_are_respected() -> None:
    """Targets come from the model in evaluation mode (each submodule's mode restored after), and
    float64 numpy inputs take the model's dtype (float64 here), as does the default network."""
    model = nn.Sequential(nn.Linear(D, 8), nn.Dropout(0.9), nn.Linear(8, 2)).double()
    model.train()
    model[0].eval()
    x = np.random.default_rng(0).normal(size=(50, D))
    surrogate = train_surrogate(model, x, epochs=1, progress=False)
    assert [m.training for m in model.modules()] == [True, False, True, True]
    assert next(surrogate.parameters()).dtype == torch.float64
    assert surrogate.masked_model().bind(x[:3]).evaluate(np.ones((3, 1, D), dtype=bool)).shape == (3, 1, 2)
