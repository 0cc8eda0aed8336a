"""Tiny torch models and value functions computed from scratch for the game and oracle tests.

Everything here is deterministic (explicit generators) and float64 unless stated otherwise, so
that tolerances of 1e-9 are meaningful where the library claims exactness. Nothing here imports
the code under test except :mod:`stochamort.weights` for LIME's kernel (itself tested elsewhere).
"""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

F64 = torch.float64


@pytest.fixture(scope="module", autouse=True)
def torch_single_thread() -> Any:
    """One torch thread while a module's tests run (restored after): the models are tiny, and
    intra-op threads only contend with the Rust core and other processes (10x slower on 2 cores).
    Autouse in the test modules that import it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int) -> Tensor:
    """Standard normal float64 tensor from its own generator."""
    return torch.randn(*shape, generator=generator(seed), dtype=F64)


def linear_model(d: int, n_outputs: int = 1, seed: int = 0) -> nn.Linear:
    """A float64 linear model with random weights and bias."""
    model = nn.Linear(d, n_outputs).double()
    with torch.no_grad():
        model.weight.copy_(randn(n_outputs, d, seed=seed))
        model.bias.copy_(randn(n_outputs, seed=seed + 1))
    return model


def mlp(d: int, n_outputs: int = 2, hidden: int = 16, seed: int = 0) -> nn.Sequential:
    """A small float64 tanh MLP with random (unit-variance) weights: interactions of every order."""
    model = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, n_outputs)).double()
    gen = generator(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64))
    return model


class Flatten(nn.Module):
    """Returns its input flattened to ``(n, numel)``: game values are then the masked inputs."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1).to(F64)


class SquareSum(nn.Module):
    """Non-linear in the inputs, so averaging over a background differs from masking with its mean."""

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        return torch.stack([(flat**2).sum(1), flat.prod(1)], dim=1)


class TokenBag(nn.Module):
    """A tiny embedding model over token ids ``(n, L)``; optionally takes an attention mask.

    Output ``(n, 2)``: the attention-weighted sum of the token embeddings (embedding dim 2).
    """

    def __init__(self, vocab: int = 11, seed: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, 2).double()
        with torch.no_grad():
            self.embedding.weight.copy_(randn(vocab, 2, seed=seed))
        self.calls_with_mask = 0

    def forward(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        emb = self.embedding(ids)
        if attention_mask is None:
            return emb.sum(1)
        self.calls_with_mask += 1
        return (emb * attention_mask[..., None].to(emb.dtype)).sum(1)


class HFOutput(SimpleNamespace):
    """Stands in for a Hugging Face ``ModelOutput``: the tensor is in ``.logits``."""


class HFLike(nn.Module):
    """Wraps a model so that it returns an object with ``.logits`` (and a loss that must be ignored)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> HFOutput:
        return HFOutput(logits=self.inner(x), loss=torch.zeros(()), hidden_states=None)


class TupleOut(nn.Module):
    """Returns ``(logits, something_else)`` as many models do."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.inner(x)
        return out, torch.full_like(out, 1e9)


class NonFiniteAt(nn.Module):
    """A linear model whose output is NaN (or inf) for inputs whose first feature is a marker."""

    NAN_MARKER = 1000.0
    INF_MARKER = -1000.0

    def __init__(self, d: int) -> None:
        super().__init__()
        self.inner = linear_model(d, 2)

    def forward(self, x: Tensor) -> Tensor:
        out = self.inner(x)
        first = x[:, :1]
        out = torch.where(first == self.NAN_MARKER, torch.nan, out)
        return torch.where(first == self.INF_MARKER, torch.inf, out)


class DropoutNet(nn.Module):
    """Linear -> Dropout(0.5) -> Linear; values are random unless evaluated in eval mode."""

    def __init__(self, d: int, seed: int = 0) -> None:
        super().__init__()
        self.first = linear_model(d, 8, seed=seed)
        self.dropout = nn.Dropout(0.5)
        self.second = linear_model(8, 2, seed=seed + 7)

    def forward(self, x: Tensor) -> Tensor:
        return self.second(self.dropout(self.first(x)))


def all_masks(d: int) -> NDArray[np.bool_]:
    """All 2^d coalitions, row s holding player i iff bit i of s is set."""
    return np.array([[(s >> i) & 1 == 1 for i in range(d)] for s in range(1 << d)], dtype=np.bool_)


def full_table(game: Any) -> NDArray[np.float64]:
    """The game's values on all 2^d coalitions, ``(n_points, 2^d, n_outputs)``."""
    masks = all_masks(game.n_players)
    return game.evaluate(np.broadcast_to(masks, (game.n_points, *masks.shape)).copy())


def shapley_by_orders(table: NDArray[np.float64]) -> NDArray[np.float64]:
    """Textbook Shapley values by enumerating all orders (d ≤ 6): ``(n_points, d, n_outputs)``."""
    n, size, o = table.shape
    d = size.bit_length() - 1
    phi = np.zeros((n, d, o))
    orders = list(itertools.permutations(range(d)))
    for order in orders:
        s = 0
        for player in order:
            phi[:, player] += table[:, s | (1 << player)] - table[:, s]
            s |= 1 << player
    return phi / len(orders)


def shapley_from_table(table: NDArray[np.float64]) -> NDArray[np.float64]:
    """Textbook Shapley values: Σ_{S ∌ i} |S|!(d−|S|−1)!/d! (v(S ∪ i) − v(S))."""
    n, size, o = table.shape
    d = size.bit_length() - 1
    masks = all_masks(d)
    sizes = masks.sum(1)
    weight = np.array([math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)])
    phi = np.zeros((n, d, o))
    for i in range(d):
        without = np.flatnonzero(~masks[:, i])
        w = weight[sizes[without]]
        phi[:, i] = np.einsum("s,nso->no", w, table[:, without | (1 << i)] - table[:, without])
    return phi


def banzhaf_from_table(table: NDArray[np.float64]) -> NDArray[np.float64]:
    """Textbook Banzhaf values: average marginal contribution over all coalitions without i."""
    n, size, o = table.shape
    d = size.bit_length() - 1
    phi = np.zeros((n, d, o))
    for i in range(d):
        without = [s for s in range(size) if not (s >> i) & 1]
        phi[:, i] = np.mean([table[:, s | (1 << i)] - table[:, s] for s in without], axis=0)
    return phi


def lime_population(table: NDArray[np.float64], kernel_width: float = 0.25) -> NDArray[np.float64]:
    """The population LIME coefficients: weighted least squares of v on [1, z] over all coalitions,
    coalition probability 2^-d (uniform) times LIME's kernel of the coalition size."""
    from stochamort.weights import lime_kernel

    n, size, o = table.shape
    d = size.bit_length() - 1
    masks = all_masks(d)
    design = np.concatenate([np.ones((size, 1)), masks.astype(np.float64)], axis=1)
    weights = lime_kernel(d, kernel_width)[masks.sum(1)] / size
    root = np.sqrt(weights)[:, None]
    coef = np.empty((n, d, o))
    for p in range(n):
        solution, *_ = np.linalg.lstsq(root * design, root * table[p], rcond=None)
        coef[p] = solution[1:]
    return coef


