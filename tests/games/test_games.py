"""Games from torch models: every masker against a from-scratch computation, grouping, output
transforms, model outputs of several forms, evaluation mode, batching, and typed errors."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from stochamort.errors import (
    DeviceMismatchError,
    InvalidArgumentError,
    InvalidDTypeError,
    NonFiniteError,
    ShapeError,
    StochamortError,
)
from stochamort.games import (
    BaselineMasker,
    FunctionGame,
    ImagePatchMasker,
    MarginalMasker,
    MaskedModel,
    TokenMasker,
)
from stochamort.oracles import Exact, KernelSHAP, Permutation

from tests.helpers.torch_models import (  # noqa: F401  (torch_single_thread is an autouse fixture)
    DropoutNet,
    F64,
    Flatten,
    HFLike,
    NonFiniteAt,
    SquareSum,
    TokenBag,
    TupleOut,
    all_masks,
    full_table,
    linear_model,
    mlp,
    randn,
    torch_single_thread,
)

D = 5


def random_masks(n: int, k: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, k, d)) < 0.5


def raises_typed(cls: type[Exception], argument: str) -> Any:
    """``pytest.raises`` for a stochamort error that is a ValueError and names ``argument`` first."""

    class _Check:
        def __enter__(self) -> Any:
            self._ctx = pytest.raises(cls)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc: Any) -> bool:
            if not self._ctx.__exit__(*exc):
                return False  # a different exception: let it propagate unchanged
            err = self.info.value
            assert isinstance(err, StochamortError) and isinstance(err, ValueError), type(err)
            assert str(err).startswith(f"{argument}:"), f"message does not start with {argument!r}: {err}"
            return True

    return _Check()


# --------------------------------------------------------------------------------------------
# BaselineMasker


@given(masks=st.lists(st.lists(st.booleans(), min_size=D, max_size=D), min_size=1, max_size=6))
def test_baseline_masker_scalar_and_per_feature(masks: list[list[bool]]) -> None:
    x = randn(3, D, seed=1)
    m = np.array(masks, dtype=np.bool_)
    batch = np.broadcast_to(m, (3, *m.shape)).copy()
    per_feature = randn(D, seed=2)
    for baseline, expected_base in ((0.5, torch.full((D,), 0.5, dtype=F64)), (per_feature, per_feature)):
        game = MaskedModel(Flatten(), BaselineMasker(baseline), output="logits").bind(x)
        assert (game.n_points, game.n_players, game.n_outputs) == (3, D, D)
        got = game.evaluate(batch)
        expected = np.where(batch, x.numpy()[:, None, :], expected_base.numpy()[None, None, :])
        np.testing.assert_array_equal(got, expected)


def test_baseline_masker_numpy_baseline_broadcasts_over_multidimensional_inputs() -> None:
    x = randn(2, 2, 3, seed=3)  # inputs (2, 3): 6 features
    baseline = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    game = MaskedModel(Flatten(), BaselineMasker(baseline), output="logits").bind(x)
    assert game.n_players == 6
    masks = random_masks(2, 9, 6, seed=0)
    expected = np.where(masks, x.reshape(2, 1, 6).numpy(), baseline.reshape(1, 1, 6))
    np.testing.assert_array_equal(game.evaluate(masks), expected)


def test_linear_model_baseline_game_is_additive() -> None:
    model = linear_model(D, seed=4)
    x, b = randn(2, D, seed=5), randn(D, seed=6)
    game = MaskedModel(model, BaselineMasker(b), output="logits").bind(x)
    masks = random_masks(2, 20, D, seed=1)
    w = model.weight.detach()[0].numpy()
    expected = model.bias.item() + np.where(masks, x.numpy()[:, None] * w, b.numpy() * w).sum(-1)
    np.testing.assert_allclose(game.evaluate(masks)[..., 0], expected, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# MarginalMasker


def test_marginal_masker_averages_the_model_over_background_rows() -> None:
    d = 3
    x, background = randn(2, d, seed=7), randn(4, d, seed=8)
    model = SquareSum()
    game = MaskedModel(model, MarginalMasker(background), output="logits").bind(x)
    got = full_table(game)
    expected = np.empty_like(got)
    for p in range(2):
        for s, mask in enumerate(all_masks(d)):
            rows = []
            for r in range(background.shape[0]):
                row = torch.where(torch.from_numpy(mask), x[p], background[r])
                rows.append(model(row[None])[0].numpy())
            expected[p, s] = np.mean(rows, axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    # averaging the model is not the model at the average: the test can tell the two apart
    at_mean = MaskedModel(model, BaselineMasker(background.mean(0)), output="logits").bind(x)
    assert np.abs(full_table(at_mean) - expected).max() > 1e-3


def test_marginal_masker_subsample_is_deterministic_by_seed() -> None:
    d = 3
    x, background = randn(2, d, seed=9), randn(40, d, seed=10)
    masks = random_masks(2, 16, d, seed=2)

    def values(**kwargs: Any) -> np.ndarray:
        masker = MarginalMasker(background, **kwargs)
        return MaskedModel(SquareSum(), masker, output="logits").bind(x).evaluate(masks)

    np.testing.assert_array_equal(values(n_background=5, seed=1), values(n_background=5, seed=1))
    assert not np.allclose(values(n_background=5, seed=1), values(n_background=5, seed=2))
    np.testing.assert_allclose(values(n_background=40), values(), rtol=1e-13)
    np.testing.assert_allclose(values(n_background=100, seed=3), values(), rtol=1e-13)
    # with one background row, v(∅) of the identity model is that row: a row of the background
    bg = background.numpy()
    picked = set()
    for seed in range(6):
        game = MaskedModel(Flatten(), MarginalMasker(background, n_background=1, seed=seed), output="logits").bind(x)
        null, _ = game.endpoints()
        matches = np.flatnonzero(np.all(bg == null[0], axis=1))
        assert matches.size == 1
        picked.add(int(matches[0]))
    assert len(picked) > 1


def test_marginal_masker_accepts_numpy_background_for_float64_inputs() -> None:
    x, background = randn(2, 3, seed=11), randn(6, 3, seed=12)
    as_tensor = MaskedModel(SquareSum(), MarginalMasker(background), output="logits").bind(x)
    as_array = MaskedModel(SquareSum(), MarginalMasker(background.numpy()), output="logits").bind(x)
    masks = random_masks(2, 8, 3, seed=3)
    np.testing.assert_array_equal(as_tensor.evaluate(masks), as_array.evaluate(masks))


# --------------------------------------------------------------------------------------------
# ImagePatchMasker


def _image_expected(x: torch.Tensor, mask: np.ndarray, patch: tuple[int, int], baseline: np.ndarray) -> np.ndarray:
    """Pixels by a loop over pixels: pixel (h, w) belongs to patch (h // ph) * grid_w + w // pw."""
    _, c, h, w = x.shape
    ph, pw = patch
    grid_w = w // pw
    out = np.empty((x.shape[0], c, h, w))
    for i in range(h):
        for j in range(w):
            present = mask[(i // ph) * grid_w + j // pw]
            out[:, :, i, j] = x[:, :, i, j].numpy() if present else baseline[None, :]
    return out.reshape(x.shape[0], -1)


def test_image_patch_masker_maps_each_patch_to_its_pixels() -> None:
    x = randn(2, 2, 4, 9, seed=13)  # channels 2, 4x9 images, patches 2x3 -> grid 2x3
    baseline = np.array([-1.5, 2.5])
    game = MaskedModel(Flatten(), ImagePatchMasker((2, 3), baseline=baseline), output="logits").bind(x)
    assert game.n_players == 6
    singles = np.eye(6, dtype=np.bool_)
    masks = np.concatenate([singles, random_masks(1, 10, 6, seed=4)[0]])
    got = game.evaluate(np.broadcast_to(masks, (2, *masks.shape)).copy())
    for k, mask in enumerate(masks):
        np.testing.assert_array_equal(got[:, k], _image_expected(x, mask, (2, 3), baseline))
    # patch 4 (second row, second column) covers rows 2..3 and columns 3..5 only
    only4 = got[0, 4].reshape(2, 4, 9)
    present = only4 == x[0].numpy()
    assert present[:, 2:4, 3:6].all()
    assert present.sum() == 2 * 2 * 3


def test_image_patch_masker_scalar_baseline_and_square_patches() -> None:
    x = randn(1, 3, 4, 4, seed=14)
    game = MaskedModel(Flatten(), ImagePatchMasker(2, baseline=0.25), output="logits").bind(x)
    masks = random_masks(1, 12, 4, seed=5)
    got = game.evaluate(masks)
    for k, mask in enumerate(masks[0]):
        np.testing.assert_array_equal(got[0, k], _image_expected(x, mask, (2, 2), np.full(3, 0.25))[0])


# --------------------------------------------------------------------------------------------
# TokenMasker


def test_token_masker_replace_mode() -> None:
    ids = torch.tensor([[3, 5, 7, 2, 9], [1, 1, 4, 10, 6]])
    model = TokenBag()
    game = MaskedModel(model, TokenMasker(mask_token_id=0), output="logits").bind(ids)
    assert (game.n_players, game.n_outputs) == (5, 2)
    masks = random_masks(2, 12, 5, seed=6)
    emb = model.embedding.weight.detach().numpy()
    expected = np.where(masks[..., None], emb[ids.numpy()][:, None], emb[0]).sum(2)
    np.testing.assert_allclose(game.evaluate(masks), expected, rtol=0, atol=1e-12)
    assert model.calls_with_mask == 0


def test_token_masker_attention_mode_passes_the_mask_to_the_model() -> None:
    ids = np.array([[3, 5, 7, 2, 9], [1, 1, 4, 10, 6]])  # numpy ids become long tensors
    model = TokenBag()
    game = MaskedModel(model, TokenMasker(mode="attention"), output="logits").bind(ids)
    masks = random_masks(2, 12, 5, seed=7)
    emb = model.embedding.weight.detach().numpy()
    expected = (masks[..., None] * emb[ids][:, None]).sum(2)
    np.testing.assert_allclose(game.evaluate(masks), expected, rtol=0, atol=1e-12)
    assert model.calls_with_mask > 0


def test_token_masker_arguments() -> None:
    with raises_typed(InvalidArgumentError, "mode"):
        TokenMasker(mask_token_id=0, mode="drop")  # type: ignore[arg-type]
    with raises_typed(InvalidArgumentError, "mask_token_id"):
        TokenMasker(mode="replace")


# --------------------------------------------------------------------------------------------
# Groups


@given(
    owner=st.lists(st.integers(0, 2), min_size=6, max_size=6).filter(lambda o: set(o) == {0, 1, 2}),
    seed=st.integers(0, 1000),
)
def test_grouped_game_equals_ungrouped_game_on_expanded_masks(owner: list[int], seed: int) -> None:
    groups = [[f for f in range(6) if owner[f] == g] for g in range(3)]
    model, x = mlp(6, seed=3), randn(2, 6, seed=15)
    masker = BaselineMasker(randn(6, seed=16))
    grouped = MaskedModel(model, masker, output="logits", groups=groups).bind(x)
    plain = MaskedModel(model, masker, output="logits").bind(x)
    assert grouped.n_players == 3
    masks = random_masks(2, 8, 3, seed=seed)
    expanded = masks[:, :, owner]
    np.testing.assert_array_equal(grouped.evaluate(masks), plain.evaluate(expanded))


def test_grouped_marginal_game_and_its_shapley_values_sum_to_the_total() -> None:
    groups = [[0, 3], [1], [2, 4]]
    model, x = mlp(5, seed=4), randn(2, 5, seed=17)
    game = MaskedModel(model, MarginalMasker(randn(4, 5, seed=18)), output="logits", groups=groups).bind(x)
    phi = Exact()(game, progress=False).values
    null, grand = game.endpoints()
    np.testing.assert_allclose(phi.sum(1), grand - null, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "groups",
    [[[0, 1], [1, 2, 3, 4]], [[0, 1], [2, 3]], [[0, 1], [2, 3, 4, 5]], [[0, 1], [2, 3, -1, 4]]],
    ids=["overlap", "missing", "outside", "negative"],
)
def test_groups_must_partition_the_features(groups: list[list[int]]) -> None:
    with raises_typed(InvalidArgumentError, "groups"):
        MaskedModel(Flatten(), BaselineMasker(), output="logits", groups=groups).bind(randn(1, 5, seed=0))


# --------------------------------------------------------------------------------------------
# Output transforms and model outputs


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_output_transforms(n_outputs: int) -> None:
    model, x = mlp(4, n_outputs=n_outputs, seed=5), randn(2, 4, seed=19)
    masks = random_masks(2, 10, 4, seed=8)
    masked = torch.from_numpy(np.where(masks, x.numpy()[:, None], 0.0)).reshape(-1, 4)
    raw = model(masked).detach()
    probs = torch.sigmoid(raw) if n_outputs == 1 else torch.softmax(raw, dim=1)
    expected = {
        "logits": raw,
        "probabilities": probs,
        "log_odds": torch.log(probs / (1 - probs)),
        (lambda out: out.exp().sum(1, keepdim=True)): raw.exp().sum(1, keepdim=True),
    }
    for output, want in expected.items():
        game = MaskedModel(model, BaselineMasker(0.0), output=output).bind(x)
        got = game.evaluate(masks)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want.numpy().reshape(2, 10, -1), rtol=1e-10, atol=1e-12)
    if n_outputs == 1:  # the log-odds of a sigmoid are the logits
        game = MaskedModel(model, BaselineMasker(0.0), output="log_odds").bind(x)
        np.testing.assert_allclose(game.evaluate(masks)[..., 0], raw.numpy().reshape(2, 10), rtol=1e-9)
    else:  # probabilities of all classes sum to one
        game = MaskedModel(model, BaselineMasker(0.0)).bind(x)  # default: probabilities
        np.testing.assert_allclose(game.evaluate(masks).sum(-1), 1.0, rtol=1e-12)


def test_unknown_output_is_refused() -> None:
    with raises_typed(InvalidArgumentError, "output"):
        MaskedModel(Flatten(), BaselineMasker(), output="softmax")  # type: ignore[arg-type]


@pytest.mark.parametrize("wrap", [HFLike, TupleOut, lambda m: (lambda x: m(x)[:, 0])], ids=["hf", "tuple", "1d"])
def test_model_outputs_of_other_forms(wrap: Any) -> None:
    inner, x = mlp(4, n_outputs=2, seed=6), randn(3, 4, seed=20)
    masks = random_masks(3, 7, 4, seed=9)
    reference = MaskedModel(inner, BaselineMasker(0.3), output="logits").bind(x).evaluate(masks)
    game = MaskedModel(wrap(inner), BaselineMasker(0.3), output="logits", device="cpu").bind(x)
    got = game.evaluate(masks)
    if got.shape[-1] == 1:
        reference = reference[..., :1]
    np.testing.assert_array_equal(got, reference)


def test_model_returning_a_non_tensor_is_refused() -> None:
    with raises_typed(InvalidArgumentError, "model"):
        MaskedModel(lambda x: SimpleNamespace(scores=x), BaselineMasker(), output="logits").bind(randn(2, 3, seed=0))
    with raises_typed(ShapeError, "model"):
        MaskedModel(lambda x: x[:, :, None], BaselineMasker(), output="logits").bind(randn(2, 3, seed=0))


# --------------------------------------------------------------------------------------------
# Evaluation mode


def test_training_model_is_evaluated_in_eval_mode_and_left_training() -> None:
    model, x = DropoutNet(4), randn(3, 4, seed=21)
    masks = random_masks(3, 16, 4, seed=10)
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(np.where(masks, x.numpy()[:, None], 0.0)).reshape(-1, 4))
    model.train()
    game = MaskedModel(model, BaselineMasker(0.0), output="logits").bind(x)
    first, second = game.evaluate(masks), game.evaluate(masks)
    np.testing.assert_array_equal(first, second)  # no dropout noise
    np.testing.assert_allclose(first, expected.numpy().reshape(3, 16, 2), rtol=1e-13)
    assert model.training and model.dropout.training
    Permutation(budget=20)(game, progress=False)
    assert model.training and model.dropout.training


def test_eval_model_stays_in_eval_mode() -> None:
    model = DropoutNet(4).eval()
    game = MaskedModel(model, BaselineMasker(0.0), output="logits").bind(randn(2, 4, seed=22))
    game.evaluate(random_masks(2, 4, 4, seed=11))
    assert not any(m.training for m in model.modules())


def test_training_mode_is_restored_when_the_model_raises() -> None:
    class Fails(DropoutNet):
        calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("boom")
            return super().forward(x)

    model = Fails(4).train()
    game = MaskedModel(model, BaselineMasker(0.0), output="logits").bind(randn(2, 4, seed=23))
    with pytest.raises(RuntimeError, match="boom"):
        game.evaluate(random_masks(2, 4, 4, seed=12))
    assert model.training and model.dropout.training


def test_mixed_training_modes_of_submodules_are_restored() -> None:
    """A training model with a frozen (eval-mode) submodule, as when fine-tuning with frozen
    normalisation layers: after evaluation every submodule is back in its own mode."""
    model = DropoutNet(4).train()
    model.dropout.eval()
    before = {name: m.training for name, m in model.named_modules()}
    game = MaskedModel(model, BaselineMasker(0.0), output="logits").bind(randn(2, 4, seed=24))
    game.evaluate(random_masks(2, 4, 4, seed=13))
    after = {name: m.training for name, m in model.named_modules()}
    assert after == before


def test_submodules_in_training_mode_are_evaluated_in_eval_mode() -> None:
    """The documented contract is evaluation in eval mode: a model whose top module is in eval mode
    but whose dropout is still training must not give random values (and keeps its modes)."""
    model = DropoutNet(4).eval()
    model.dropout.train()
    x, masks = randn(2, 4, seed=25), random_masks(2, 32, 4, seed=14)
    game = MaskedModel(model, BaselineMasker(0.0), output="logits").bind(x)
    first, second = game.evaluate(masks), game.evaluate(masks)
    np.testing.assert_array_equal(first, second)
    assert model.dropout.training and not model.training


# --------------------------------------------------------------------------------------------
# Batching


class Counting(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.batches: list[int] = []

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        self.batches.append(int(args[0].shape[0]))
        return self.inner(*args)


def _maskers() -> dict[str, tuple[Any, torch.Tensor | np.ndarray, nn.Module, Any]]:
    return {
        "baseline": (BaselineMasker(randn(6, seed=26)), randn(3, 6, seed=27), mlp(6, seed=7), None),
        "marginal": (MarginalMasker(randn(5, 6, seed=28)), randn(3, 6, seed=29), mlp(6, seed=8), None),
        "grouped": (BaselineMasker(0.0), randn(3, 6, seed=30), mlp(6, seed=9), [[0, 5], [1, 2], [3], [4]]),
        "image": (ImagePatchMasker(2, baseline=[0.1, -0.2]), randn(3, 2, 4, 4, seed=31), nn.Sequential(Flatten(), mlp(32, seed=10)), None),
        "token": (TokenMasker(mask_token_id=0), np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [2, 2, 2, 3, 3]]), TokenBag(), None),
        "attention": (TokenMasker(mode="attention"), np.array([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [2, 2, 2, 3, 3]]), TokenBag(), None),
    }


@pytest.mark.parametrize("kind", list(_maskers()))
def test_small_batch_size_gives_the_values_of_a_large_one(kind: str) -> None:
    masker, x, model, groups = _maskers()[kind]
    big = Counting(model)
    game = MaskedModel(big, masker, output="logits", groups=groups, batch_size=100_000).bind(x)
    masks = random_masks(3, 40, game.n_players, seed=15)
    big.batches.clear()
    reference = game.evaluate(masks)
    assert len(big.batches) == 1  # all 120 coalitions (times the background) in one forward pass
    for batch_size in (1, 7, 64):
        small = Counting(model)
        game = MaskedModel(small, masker, output="logits", groups=groups, batch_size=batch_size).bind(x)
        small.batches.clear()
        np.testing.assert_allclose(game.evaluate(masks), reference, rtol=1e-13, atol=1e-13)
        expansions = masker.expansions
        assert max(small.batches) <= max(batch_size, expansions)
        assert sum(small.batches) == 120 * expansions


# --------------------------------------------------------------------------------------------
# FunctionGame and Game.evaluate


def _sum_game(n_points: int = 5, d: int = 3, n_outputs: int = 2) -> FunctionGame:
    def fn(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
        base = masks.sum(-1, keepdims=True) * (1.0 + points[:, None, None])
        return np.concatenate([base * (k + 1) for k in range(n_outputs)], axis=-1)

    return FunctionGame(fn, n_points, d, n_outputs)


def test_function_game_values_and_endpoints() -> None:
    game = _sum_game()
    masks = random_masks(2, 4, 3, seed=16)
    got = game.evaluate(masks, points=[4, 1])
    expected = masks.sum(-1)[..., None] * np.array([5.0, 2.0])[:, None, None] * np.array([1.0, 2.0])
    np.testing.assert_array_equal(got, expected)
    null, grand = game.endpoints([0, 2])
    np.testing.assert_array_equal(null, 0.0)
    np.testing.assert_array_equal(grand, [[3.0, 6.0], [9.0, 18.0]])


def test_function_game_and_evaluate_errors() -> None:
    with raises_typed(InvalidArgumentError, "n_players"):
        FunctionGame(lambda m, p: 0, 2, 0)
    with raises_typed(InvalidArgumentError, "n_outputs"):
        FunctionGame(lambda m, p: 0, 2, 2, n_outputs=0)
    with raises_typed(ShapeError, "fn"):
        FunctionGame(lambda m, p: np.zeros((1, 1, 1)), 2, 2).evaluate(np.ones((2, 3, 2), dtype=bool))
    game = _sum_game()
    with raises_typed(InvalidDTypeError, "masks") as info:
        game.evaluate(np.ones((5, 2, 3), dtype=np.int64))
    assert isinstance(info.value, TypeError)
    with raises_typed(ShapeError, "masks"):
        game.evaluate(np.ones((5, 2, 4), dtype=bool))
    with raises_typed(ShapeError, "masks"):
        game.evaluate(np.ones((2, 3), dtype=bool))
    with raises_typed(InvalidArgumentError, "points"):
        game.evaluate(np.ones((1, 2, 3), dtype=bool), points=[5])


# --------------------------------------------------------------------------------------------
# Non-finite values


def _named_points(message: str) -> set[int]:
    tail = message.split("point", 1)[1]
    return {int(p) for p in re.findall(r"\d+", tail)}


def test_nonfinite_function_game_names_the_global_points() -> None:
    def fn(masks: np.ndarray, points: np.ndarray) -> np.ndarray:
        values = masks.sum(-1, keepdims=True).astype(np.float64)
        values[points == 3] = np.nan
        values[points == 6, -1] = np.inf
        return values

    game = FunctionGame(fn, 8, 3)
    with raises_typed(NonFiniteError, "values") as info:
        game.evaluate(np.ones((5, 2, 3), dtype=bool), points=[6, 0, 3, 7, 1])
    assert _named_points(str(info.value)) == {3, 6}


@pytest.mark.parametrize("oracle", [Exact(), KernelSHAP(budget=40), Permutation(budget=40)], ids=lambda o: type(o).__name__)
def test_nonfinite_model_output_names_exactly_the_offending_points(oracle: Any) -> None:
    x = randn(7, 4, seed=32)
    x[2, 0] = NonFiniteAt.NAN_MARKER
    x[5, 0] = NonFiniteAt.INF_MARKER
    game = MaskedModel(NonFiniteAt(4), BaselineMasker(0.0), output="logits").bind(x)
    with raises_typed(NonFiniteError, "values") as info:
        oracle(game, progress=False)
    assert _named_points(str(info.value)) == {2, 5}
    # the finite points alone are fine
    fine = MaskedModel(NonFiniteAt(4), BaselineMasker(0.0), output="logits").bind(x[[0, 1, 3, 4, 6]])
    assert np.isfinite(oracle(fine, progress=False).values).all()


def test_nonfinite_at_many_points_is_summarised() -> None:
    x = randn(14, 3, seed=33)
    x[1:13, 0] = NonFiniteAt.NAN_MARKER
    game = MaskedModel(NonFiniteAt(3), BaselineMasker(0.0), output="logits").bind(x)
    with raises_typed(NonFiniteError, "values") as info:
        game.endpoints()
    message = str(info.value)
    assert "and 2 more" in message
    assert _named_points(message.split(" and ")[0]) == set(range(1, 11))


# --------------------------------------------------------------------------------------------
# Bad input shapes and devices


def test_wrong_input_shapes_for_the_masker() -> None:
    flat = randn(2, 8, seed=34)
    with raises_typed(ShapeError, "x"):
        MaskedModel(Flatten(), ImagePatchMasker(2), output="logits").bind(flat)
    with raises_typed(ShapeError, "x"):
        MaskedModel(Flatten(), ImagePatchMasker(3), output="logits").bind(randn(2, 1, 4, 4, seed=35))
    with raises_typed(ShapeError, "baseline"):
        MaskedModel(Flatten(), ImagePatchMasker(2, baseline=[0.0, 1.0]), output="logits").bind(randn(2, 3, 4, 4, seed=36))
    with raises_typed(ShapeError, "baseline"):
        MaskedModel(Flatten(), BaselineMasker(np.zeros(7)), output="logits").bind(flat)
    with raises_typed(ShapeError, "x"):
        MaskedModel(TokenBag(), TokenMasker(mask_token_id=0), output="logits").bind(randn(2, 5, seed=37))
    with raises_typed(ShapeError, "x"):
        MaskedModel(TokenBag(), TokenMasker(mask_token_id=0), output="logits").bind(np.ones((2, 3, 4), dtype=np.int64))
    with raises_typed(ShapeError, "x"):
        MaskedModel(Flatten(), BaselineMasker(), output="logits").bind(randn(5, seed=38))
    with raises_typed(InvalidArgumentError, "patch_size"):
        ImagePatchMasker(0)


def test_background_with_the_wrong_number_of_features() -> None:
    x = randn(2, 4, seed=39)
    with raises_typed(ShapeError, "x"):  # the inputs disagree with the background; bind's argument is x
        MaskedModel(Flatten(), MarginalMasker(randn(6, 5, seed=40)), output="logits").bind(x)
    with raises_typed(ShapeError, "x"):
        MaskedModel(Flatten(), MarginalMasker(np.zeros((6, 3))), output="logits").bind(x)
    with raises_typed(ShapeError, "background"):
        MarginalMasker(np.zeros(4))
    with raises_typed(ShapeError, "background"):
        MarginalMasker(np.zeros((0, 4)))
    with raises_typed(InvalidArgumentError, "n_background"):
        MarginalMasker(np.zeros((3, 4)), n_background=0)


def test_device_mismatch_is_refused() -> None:
    meta = torch.device("meta")
    model, x = mlp(4, seed=11), randn(2, 4, seed=41)
    with raises_typed(DeviceMismatchError, "x"):
        MaskedModel(model, BaselineMasker(), output="logits").bind(x.to(meta))
    with raises_typed(DeviceMismatchError, "background"):
        MaskedModel(model, MarginalMasker(torch.zeros(3, 4, device=meta)), output="logits").bind(x)
    with raises_typed(DeviceMismatchError, "baseline"):
        MaskedModel(model, BaselineMasker(torch.zeros(4, device=meta)), output="logits").bind(x)
    with raises_typed(DeviceMismatchError, "device"):
        MaskedModel(model, BaselineMasker(), output="logits", device=meta)


def test_masked_model_arguments() -> None:
    with raises_typed(InvalidArgumentError, "model"):
        MaskedModel(3, BaselineMasker())  # type: ignore[arg-type]
    with raises_typed(InvalidArgumentError, "masker"):
        MaskedModel(Flatten(), "baseline")  # type: ignore[arg-type]
    with raises_typed(InvalidArgumentError, "batch_size"):
        MaskedModel(Flatten(), BaselineMasker(), batch_size=0)


def test_numpy_float64_inputs_take_the_model_dtype() -> None:
    """Arrays are documented inputs: a float64 array for a float64 model gives the tensor's values."""
    model, x = mlp(4, seed=12), randn(3, 4, seed=42)
    masks = random_masks(3, 6, 4, seed=17)
    from_tensor = MaskedModel(model, BaselineMasker(0.5), output="logits").bind(x).evaluate(masks)
    from_array = MaskedModel(model, BaselineMasker(0.5), output="logits").bind(x.numpy()).evaluate(masks)
    np.testing.assert_allclose(from_array, from_tensor, rtol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_game_matches_cpu_and_refuses_cpu_tensors() -> None:
    cuda = torch.device("cuda")
    model, x = mlp(4, seed=13), randn(3, 4, seed=43)
    masks = random_masks(3, 16, 4, seed=18)
    background = randn(5, 4, seed=44)
    cpu_game = MaskedModel(model, MarginalMasker(background), output="logits").bind(x)
    gpu_model = mlp(4, seed=13).to(cuda)
    gpu_game = MaskedModel(gpu_model, MarginalMasker(background.to(cuda)), output="logits").bind(x.to(cuda))
    np.testing.assert_allclose(gpu_game.evaluate(masks), cpu_game.evaluate(masks), rtol=1e-10, atol=1e-12)
    with raises_typed(DeviceMismatchError, "x"):
        MaskedModel(gpu_model, BaselineMasker(), output="logits").bind(x)
    with raises_typed(DeviceMismatchError, "background"):
        MaskedModel(gpu_model, MarginalMasker(background), output="logits").bind(x.to(cuda))
    with raises_typed(DeviceMismatchError, "device"):
        MaskedModel(gpu_model, BaselineMasker(), output="logits", device="cpu")


def test_binding_other_inputs_leaves_earlier_games_unchanged() -> None:
    """A masker's prepared state belongs to each game: a later (or failed) bind must not leak into it."""
    torch.manual_seed(0)
    family = MaskedModel(nn.Linear(6, 3).double(), BaselineMasker(0.5), output="logits")
    game = family.bind(np.arange(24.0).reshape(4, 6))
    masks = np.random.default_rng(0).random((4, 5, 6)) < 0.5
    before = game.evaluate(masks)
    with pytest.raises(RuntimeError):
        family.bind(torch.zeros((2, 8), dtype=torch.float64))  # wrong width: the model refuses it
    family.bind(torch.zeros((3, 6), dtype=torch.float64))  # other inputs, prepared for themselves
    np.testing.assert_array_equal(game.evaluate(masks), before)

    patches = MaskedModel(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).double(), ImagePatchMasker(2))
    small = patches.bind(np.ones((2, 1, 8, 8)))
    other = MaskedModel(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).double(), patches.masker).bind(np.ones((2, 1, 4, 16)))
    assert (small.n_players, other.n_players) == (16, 16)
    small.evaluate(np.ones((2, 1, 16), bool))  # still the 4 × 4 grid of 8 × 8 images
