"""The accuracy benchmark's game: one random tanh MLP per point, with strong interactions.

Pure numpy (no stochamort), so that both our environment and the peers' (Python >= 3.12, shapiq)
import it. For point ``p`` with input ``x_p`` and background rows ``b_1 .. b_K``::

    v_p(S) = (1/K) sum_k  w2_p . tanh(W1_p (z ⊙ x_p + (1 − z) ⊙ b_k) + b1_p),    z = 1_S

with ``W1_p`` ``(width, d)``, entries ``N(0, scale² / d)``; ``b1_p``, ``N(0, 0.5²)``; ``w2_p``,
``N(0, 1 / width)``; ``x_p`` and the ``b_k`` standard normal. With ``scale = 3`` most units saturate,
so interactions of every order matter (``order2_residual`` measures how much of ``v`` no game with
interactions of order ≤ 2 explains). K = 1 is a baseline game; K > 1 the interventional value
function over K background rows. Pre-activations are computed as ``A_k + (z ⊙ D_k) W1ᵀ`` with
``A_k = W1 b_k + b1`` and ``D_k = x − b_k``, in float32 and in blocks of points (no loop per point or
coalition); values are returned as float64.

Ground truth: :func:`exact_shapley` enumerates all ``2^d`` coalitions (``d ≤ 20``) and weights them
in float64 (``φ = V C`` with the Shapley coefficient matrix ``C``).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["MLPGame", "all_coalitions", "shapley_coefficients", "exact_shapley", "order2_residual"]

#: Bound on the float32 pre-activation block of one evaluation call (bytes).
BLOCK_BYTES = 32 * 2**20


class MLPGame:
    """``n_points`` random tanh MLP games on ``n_players`` players (see the module docstring).

    Args:
        n_points: number of points (one MLP and one input each).
        n_players: number of players d.
        n_background: number K of background rows the value averages over (1: a baseline game).
        width: hidden width of every MLP.
        scale: standard deviation of ``W1 · √d``; larger saturates more units (stronger interactions).
        seed: seed of every parameter.
    """

    def __init__(
        self, n_points: int, n_players: int, *, n_background: int = 1, width: int = 32, scale: float = 3.0, seed: int = 0
    ) -> None:
        n, d, k, h = int(n_points), int(n_players), int(n_background), int(width)
        if n < 1 or d < 2 or k < 1 or h < 1:
            raise ValueError(f"need n_points >= 1, n_players >= 2, n_background >= 1, width >= 1; got {n}, {d}, {k}, {h}")
        rng = np.random.default_rng([seed, n, d, k, h])
        self.seed = int(seed)
        self.scale = float(scale)
        self.x = rng.standard_normal((n, d))
        self.background = rng.standard_normal((k, d))
        self.w1 = rng.standard_normal((n, h, d)) * (scale / math.sqrt(d))
        self.b1 = 0.5 * rng.standard_normal((n, h))
        self.w2 = rng.standard_normal((n, h)) / math.sqrt(h)
        self._prepare()

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[np.float64]]) -> MLPGame:
        """The game whose :meth:`arrays` are ``arrays`` (how the peer process rebuilds it)."""
        game = cls.__new__(cls)
        game.seed = int(arrays["seed"])
        game.scale = float(arrays["scale"])
        game.x, game.background = np.asarray(arrays["x"]), np.asarray(arrays["background"])
        game.w1, game.b1, game.w2 = np.asarray(arrays["w1"]), np.asarray(arrays["b1"]), np.asarray(arrays["w2"])
        game._prepare()
        return game

    def arrays(self) -> dict[str, NDArray[np.float64]]:
        """Every parameter, for an ``.npz`` file."""
        return {
            "seed": np.asarray(self.seed),
            "scale": np.asarray(self.scale),
            "x": self.x,
            "background": self.background,
            "w1": self.w1,
            "b1": self.b1,
            "w2": self.w2,
        }

    def _prepare(self) -> None:
        # A_k = W1 b_k + b1 (n, K, h) and D_k = x − b_k (n, K, d): v needs only z ⊙ D_k.
        self._w1t = np.ascontiguousarray(self.w1.transpose(0, 2, 1), dtype=np.float32)  # (n, d, h)
        self._offset = (np.einsum("phd,kd->pkh", self.w1, self.background) + self.b1[:, None, :]).astype(np.float32)
        self._delta = (self.x[:, None, :] - self.background[None, :, :]).astype(np.float32)
        self._w2 = self.w2.astype(np.float32)

    @property
    def n_points(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_players(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_background(self) -> int:
        return int(self.background.shape[0])

    @property
    def width(self) -> int:
        return int(self.w1.shape[1])

    def key(self) -> str:
        """A name for cache files: shape, seed and a digest of every parameter."""
        digest = hashlib.sha256()
        for name, array in sorted(self.arrays().items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return (
            f"mlp_n{self.n_points}_d{self.n_players}_k{self.n_background}_h{self.width}_seed{self.seed}_"
            f"{digest.hexdigest()[:12]}"
        )

    def values(self, masks: NDArray[np.bool_], points: NDArray[np.int64]) -> NDArray[np.float64]:
        """``v_p(S)`` for masks ``(n, n_coalitions, d)`` of points ``(n,)``; returns ``(n, n_coalitions)``."""
        masks = np.asarray(masks, dtype=np.bool_)
        points = np.asarray(points, dtype=np.int64)
        n, m, d = masks.shape
        if d != self.n_players or points.shape != (n,):
            raise ValueError(f"masks {masks.shape} and points {points.shape} do not fit a game of {self.n_players} players")
        k, h = self.n_background, self.width
        out = np.empty((n, m), dtype=np.float64)
        # Blocks of points x coalitions so the (rows, K, h) float32 pre-activations stay bounded.
        rows = max(1, BLOCK_BYTES // (4 * k * max(h, d)))
        if m <= rows:
            per = max(1, rows // m)
            blocks = [(p0, min(n, p0 + per), 0, m) for p0 in range(0, n, per)]
        else:
            blocks = [(p0, p0 + 1, s0, min(m, s0 + rows)) for p0 in range(n) for s0 in range(0, m, rows)]
        for p0, p1, s0, s1 in blocks:
            pts = points[p0:p1]
            z = masks[p0:p1, s0:s1].astype(np.float32)  # (b, s, d)
            inputs = z[:, :, None, :] * self._delta[pts][:, None, :, :]  # (b, s, K, d)
            b, s = inputs.shape[0], inputs.shape[1]
            pre = np.matmul(inputs.reshape(b, s * k, d), self._w1t[pts]).reshape(b, s, k, h)
            pre += self._offset[pts][:, None, :, :]
            np.tanh(pre, out=pre)
            hidden = pre.mean(axis=2)  # (b, s, h)
            out[p0:p1, s0:s1] = np.einsum("bsh,bh->bs", hidden, self._w2[pts], dtype=np.float64)
        return out

    def rows(self, coalitions: NDArray[np.generic], point: int) -> NDArray[np.float64]:
        """``v_point`` on rows ``(m, d)`` (or one row ``(d,)``) of 0/1: the callable handed to peers."""
        masks = np.atleast_2d(np.asarray(coalitions) != 0)
        values: NDArray[np.float64] = self.values(masks[None], np.array([point]))[0]
        return values


def all_coalitions(d: int) -> NDArray[np.bool_]:
    """Every coalition of ``d`` players as bool rows ``(2^d, d)``; row ``r`` has player ``i`` iff bit ``i`` of ``r``."""
    r = np.arange(1 << d, dtype=np.int64)
    return ((r[:, None] >> np.arange(d)) & 1).astype(np.bool_)


def shapley_coefficients(coalitions: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``C (2^d, d)`` with ``φ_i = Σ_S v(S) C[S, i]``: ``+w(|S|−1)`` if ``i ∈ S`` else ``−w(|S|)``.

    ``w(s) = s! (d − s − 1)! / d!`` is the Shapley weight of a coalition of size ``s`` without ``i``.
    """
    d = coalitions.shape[1]
    sizes = coalitions.sum(axis=1)
    log_w = [math.lgamma(s + 1) + math.lgamma(d - s) - math.lgamma(d + 1) for s in range(d)]
    weight = np.exp(np.array(log_w))  # index s = 0 .. d−1
    inside = weight[np.clip(sizes - 1, 0, d - 1)][:, None]
    outside = weight[np.clip(sizes, 0, d - 1)][:, None]
    coef: NDArray[np.float64] = np.where(coalitions, inside, -outside)
    return coef


def exact_shapley(game: MLPGame, points: NDArray[np.int64] | None = None) -> NDArray[np.float64]:
    """Exact Shapley values ``(n, d)`` of ``points`` (default all) by enumerating all 2^d coalitions."""
    d = game.n_players
    if d > 20:
        raise ValueError(f"exact enumeration needs d <= 20, got {d}")
    points = np.arange(game.n_points) if points is None else np.asarray(points, dtype=np.int64)
    coalitions = all_coalitions(d)
    coef = shapley_coefficients(coalitions)
    per = max(1, (BLOCK_BYTES * 4) // (8 * (1 << d)))  # points whose value table fits at once
    out = np.empty((len(points), d))
    for p0 in range(0, len(points), per):
        pts = points[p0 : p0 + per]
        values = game.values(np.broadcast_to(coalitions, (len(pts), *coalitions.shape)), pts)
        out[p0 : p0 + per] = values @ coef
    return out


def order2_residual(game: MLPGame, points: NDArray[np.int64]) -> float:
    """Share of ``v``'s variance over all coalitions that no game of order ≤ 2 explains (mean over points).

    Least squares of ``v`` on ``1, z_i, z_i z_j`` over all 2^d coalitions (``d ≤ 16``). Paired
    KernelSHAP and antithetic permutations are exact on order-≤ 2 games; a share well above 0 means
    they are not exact here.
    """
    d = game.n_players
    if d > 16:
        raise ValueError(f"order2_residual enumerates 2^d coalitions; d <= 16, got {d}")
    z = all_coalitions(d).astype(np.float64)
    i, j = np.triu_indices(d, k=1)
    design = np.concatenate([np.ones((len(z), 1)), z, z[:, i] * z[:, j]], axis=1)
    points = np.asarray(points, dtype=np.int64)
    values = game.values(np.broadcast_to(z != 0, (len(points), *z.shape)), points).T  # (2^d, n)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual = values - design @ coef
    return float(np.mean(residual.var(axis=0) / values.var(axis=0)))
