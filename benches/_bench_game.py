"""The cheap vectorised game of the core benchmark: a linear game plus a few pairwise terms.

For point ``p``::

    v_p(S) = w_p . 1_S + sum_k c_k 1[i_k in S] 1[j_k in S]

with a weight vector ``w_p`` per point and ``d // 4`` pairs ``(i_k, j_k)`` (``i_k != j_k``) with
coefficients ``c_k`` shared by all points. One output. v(empty) = 0, v(all) = sum(w_p) + sum(c).

Its Shapley values are known in closed form (each pairwise term is split equally between its two
players): ``phi_i = w_i + sum_{k: i in {i_k, j_k}} c_k / 2``. Paired KernelSHAP and antithetic
permutation sampling are both *exact* on games with interactions of order <= 2 (the complement /
reversed draw cancels the second-order error), so every estimate in the benchmark (Rust,
reference, and shapiq's paired KernelSHAP) must equal these values up to the float32 rounding of the
game evaluation. That is the benchmark's correctness check.

The game is evaluated on a whole batch of masks ``(n_points, n_samples, d)`` in float32, in blocks
of points small enough that the float32 copy of the masks stays in a reused ~16 MB buffer, so its
cost per point does not depend on how many points a caller passes at once. The Rust path and the
reference path call exactly the same code.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["PairwiseGame"]

#: Size of the reused float32 scratch buffer the masks are converted into, block by block.
BLOCK_BYTES = 16 * 2**20


class PairwiseGame:
    """``v_p(S) = w_p . 1_S + sum_k c_k 1[i_k in S] 1[j_k in S]`` for ``n_points`` points."""

    def __init__(self, n_points: int, n_players: int, *, seed: int = 0, n_pairs: int | None = None) -> None:
        d = int(n_players)
        if d < 2:
            raise ValueError(f"n_players must be >= 2, got {d}")
        rng = np.random.default_rng([seed, d])
        n_pairs = max(1, d // 4) if n_pairs is None else int(n_pairs)
        self.n_points = int(n_points)
        self.n_players = d
        self.weights: NDArray[np.float32] = rng.normal(size=(n_points, d)).astype(np.float32)
        first = rng.integers(0, d, size=n_pairs)
        second = (first + rng.integers(1, d, size=n_pairs)) % d  # never equal to `first`
        self.pair_first: NDArray[np.int64] = first.astype(np.int64)
        self.pair_second: NDArray[np.int64] = second.astype(np.int64)
        self.pair_coef: NDArray[np.float32] = rng.normal(size=n_pairs).astype(np.float32)
        self._buffer = np.empty(BLOCK_BYTES // 4, dtype=np.float32)

    # -- evaluation ----------------------------------------------------------------------------

    def values(self, masks: NDArray[np.bool_], start: int) -> NDArray[np.float64]:
        """The game of points ``start .. start + len(masks)`` at ``masks`` ``(n, n_samples, d)``.

        Returns float64 ``(n, n_samples, 1)`` (the estimators' ``values`` layout, one output).
        """
        n, n_samples, d = masks.shape
        if d != self.n_players:
            raise ValueError(f"masks have {d} players, the game has {self.n_players}")
        out = np.empty((n, n_samples, 1), dtype=np.float64)
        per_point = n_samples * d
        block = max(1, self._buffer.size // max(per_point, 1))
        for b0 in range(0, n, block):
            m = masks[b0 : b0 + block]
            k = m.shape[0]
            if k * per_point <= self._buffer.size:
                z = self._buffer[: k * per_point].reshape(k, n_samples, d)
                np.copyto(z, m)
            else:  # one point larger than the buffer: convert it on its own
                z = m.astype(np.float32)
            w = self.weights[start + b0 : start + b0 + k]
            linear = np.einsum("psd,pd->ps", z, w)
            both = np.take(m, self.pair_first, axis=-1) & np.take(m, self.pair_second, axis=-1)
            pairwise = both.view(np.uint8).astype(np.float32) @ self.pair_coef
            out[b0 : b0 + k, :, 0] = linear + pairwise
        return out

    def rows(self, coalitions: NDArray[np.generic], point: int) -> NDArray[np.float64]:
        """The game of one point on rows ``(n, d)`` of 0/1 (bool or float), as a vector ``(n,)``.

        This is the same computation as :meth:`values`; it is the model handed to shap and shapiq.
        """
        masks = np.asarray(coalitions) != 0
        return self.values(masks[None], point)[0, :, 0]

    def null_values(self, start: int, n: int) -> NDArray[np.float64]:
        """v(empty) = 0, ``(n, 1)``."""
        return np.zeros((n, 1), dtype=np.float64)

    def grand_values(self, start: int, n: int) -> NDArray[np.float64]:
        """v(all players) ``(n, 1)``, accumulated the way :meth:`values` does (float32)."""
        full = self.weights[start : start + n].sum(axis=1, dtype=np.float32) + self.pair_coef.sum(dtype=np.float32)
        out: NDArray[np.float64] = full.astype(np.float64).reshape(n, 1)
        return out

    # -- ground truth --------------------------------------------------------------------------

    def shapley_values(self, start: int, n: int) -> NDArray[np.float64]:
        """Exact Shapley values ``(n, d)`` in float64."""
        phi = self.weights[start : start + n].astype(np.float64)
        half = self.pair_coef.astype(np.float64) / 2.0
        np.add.at(phi.T, self.pair_first, half[:, None])  # phi.T is a view: adds per player
        np.add.at(phi.T, self.pair_second, half[:, None])
        return phi
