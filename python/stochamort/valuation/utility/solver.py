"""Batched solvers for L2-regularised logistic / softmax regression: thousands of fits at once.

The solver works on tensors only (no utility classes): a :class:`LogisticObjective` holds the
scaled objectives of a batch of weighted fits over :class:`~stochamort.valuation.utility.rows.TorchData`,
and :func:`solve` minimises them all from zero by batched damped Newton (Hessians by batched
matmuls, batched Cholesky solves, per-model backtracking line search) or batched L-BFGS. Each
model stops on its own (gradient max-norm at most ``tol``, ``max_iter`` steps, or a failed line
search) and is frozen, so its result does not depend on the rest of the batch.

:func:`fit_logistic` is the front door: features, labels and per-model weights in, fitted
parameters, gradient norms and convergence flags out, with the arguments checked.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from stochamort.errors import InvalidArgumentError, InvalidDTypeError, NonFiniteError, ShapeError
from stochamort._checks import check_float, check_int
from stochamort.valuation.utility.rows import TorchData, outer_products

__all__ = [
    "NEWTON_MAX_PARAMETERS",
    "LogisticObjective",
    "LogisticFit",
    "solve",
    "solve_logistic",
    "solve_binary_newton",
    "fit_logistic",
]

#: ``method="auto"`` uses Newton while a model has at most this many parameters (d + 1 or K (d + 1)).
NEWTON_MAX_PARAMETERS = 512
#: Backtracking halvings of the line search before a model is declared stalled.
_MAX_HALVINGS = 60
#: L-BFGS history length.
_LBFGS_HISTORY = 10


class LogisticObjective:
    """The scaled objectives of a batch of L2-regularised logistic / softmax regressions.

    For model r with weights ``w_i = counts_i / S`` (S = total count), parameters ``theta``
    ``(k_out, d1)`` (last column the intercept when fitted), the objective is scikit-learn's divided
    by ``C S``::

        f(theta) = sum_i w_i CE_i + ||W||^2 / (2 C S) [+ gauge (sum of present intercepts)^2 / 2]

    Binary problems use one weight vector and a sigmoid (``k_out = 1``); K >= 3 classes the softmax
    over the classes present in the subset (absent classes: logit -inf, parameters pinned at 0).
    The gauge term fixes the softmax's free shift of the intercepts (their sum stays 0, predictions
    are unchanged) so that the Hessian is positive definite. Logits are laid out ``(b, k_out, rows)``.

    Args:
        data: the models' rows with weights normalised to sum to 1 per model.
        inv_cs: ``1 / (C S)`` per model ``(b,)``.
        present: classes present per model ``(b, K)`` bool for softmax models; ``None`` for binary.
        penalty: 1 for penalised columns, 0 for the intercept ``(d1,)``.
        intercept: whether the last column is an (unpenalised) intercept.
    """

    def __init__(
        self, data: TorchData, inv_cs: Tensor, present: Tensor | None, penalty: Tensor, intercept: bool
    ) -> None:
        self.data = data
        self.inv_cs = inv_cs
        self.present = present
        self.penalty = penalty
        self.intercept = intercept

    @property
    def n_models(self) -> int:
        """Number of models b."""
        return int(self.inv_cs.shape[0])

    @property
    def n_outputs(self) -> int:
        """Parameter rows per model: 1 (binary) or K (softmax)."""
        return 1 if self.present is None else int(self.present.shape[1])

    @property
    def n_columns(self) -> int:
        """Parameter columns per model d1 (features, plus one for the intercept)."""
        return int(self.data.x.shape[-1])

    def select(self, keep: Tensor) -> LogisticObjective:
        """The models at positions ``keep`` (a long tensor)."""
        present = None if self.present is None else self.present[keep]
        return LogisticObjective(self.data.select(keep), self.inv_cs[keep], present, self.penalty, self.intercept)

    def logits(self, theta: Tensor) -> Tensor:
        """``(b, k_out, rows)``; absent classes at -inf."""
        z = self.data.logits(theta)
        if self.present is not None:
            z = z.masked_fill(~self.present[:, :, None], -math.inf)
        return z

    def _gauge(self, theta: Tensor) -> Tensor | None:
        if self.present is None or not self.intercept:
            return None
        return (theta[:, :, -1] * self.present).sum(dim=1)

    def objective(self, theta: Tensor, z: Tensor) -> Tensor:
        """The objective values ``(b,)`` at ``theta``, given its logits ``z`` from :meth:`logits`."""
        w = self.data.w
        if self.present is None:
            # CE = softplus(z) - y z = softplus((1 - 2y) z); the linear cut-off at 50 is exact in float64
            ce = torch.nn.functional.softplus(self.data.sign(theta.shape[0]) * z[:, 0, :], threshold=50.0)
        else:
            y = self.data.labels(theta.shape[0])
            ce = -torch.log_softmax(z, dim=1).gather(1, y[:, None, :])[:, 0, :]
            ce = torch.where(w > 0, ce, torch.zeros((), dtype=ce.dtype, device=ce.device))
        f = (w * ce).sum(dim=1) + 0.5 * self.inv_cs * (theta.square() * self.penalty).sum(dim=(1, 2))
        gauge = self._gauge(theta)
        if gauge is not None:
            f = f + 0.5 * gauge.square()
        return f

    def _probabilities(self, z: Tensor) -> Tensor:
        return torch.sigmoid(z) if self.present is None else torch.softmax(z, dim=1)

    def gradient(self, theta: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """The gradient ``(b, k_out, d1)`` and the probabilities ``(b, k_out, rows)`` behind it."""
        p = self._probabilities(z)
        if self.present is None:
            residual = p - self.data.target(theta.shape[0])[:, None, :]
        else:
            y = self.data.labels(theta.shape[0])
            residual = p.scatter_add(1, y[:, None, :], torch.full_like(p[:, :1, :], -1.0))
        g = self.data.weighted_sum(self.data.w[:, None, :] * residual)
        g = g + self.inv_cs[:, None, None] * theta * self.penalty
        gauge = self._gauge(theta)
        if gauge is not None and self.present is not None:
            g[:, :, -1] += gauge[:, None] * self.present
        if self.present is not None:
            g = g * self.present[:, :, None]
        return g, p

    def hessian(self, theta: Tensor, p: Tensor) -> Tensor:
        """``(b, P, P)`` with P = k_out d1, parameters ordered class-major; ``p`` from :meth:`gradient`."""
        b, k, d1 = theta.shape
        w = self.data.w
        if self.present is None:
            a = (w * p[:, 0, :] * (1 - p[:, 0, :]))[:, None, :]
        else:
            outer = torch.diag_embed(p.transpose(1, 2)).permute(0, 2, 3, 1) - p[:, :, None, :] * p[:, None, :, :]
            a = (w[:, None, None, :] * outer).reshape(b, k * k, -1)
        blocks = self.data.weighted_outer(a)  # (b, k*k, d1, d1)
        h = blocks.reshape(b, k, k, d1, d1).permute(0, 1, 3, 2, 4).reshape(b, k * d1, k * d1)
        diagonal = (self.inv_cs[:, None, None] * self.penalty).expand(b, k, d1).reshape(b, k * d1)
        h = h + torch.diag_embed(diagonal)
        if self.present is not None:
            mask = self.present.to(h.dtype)
            if self.intercept:
                ends = torch.arange(k, device=h.device) * d1 + (d1 - 1)
                h[:, ends[:, None], ends[None, :]] += mask[:, :, None] * mask[:, None, :]
            a_mask = mask[:, :, None].expand(b, k, d1).reshape(b, k * d1)
            h = h * a_mask[:, :, None] * a_mask[:, None, :] + torch.diag_embed(1 - a_mask)
        return h


def _cholesky(h: Tensor) -> Tensor:
    """Cholesky factors of SPD matrices ``(b, P, P)``; those that fail get Levenberg damping."""
    factor, info = torch.linalg.cholesky_ex(h)
    failed = torch.nonzero(info != 0).flatten()
    if failed.numel():
        scale = h[failed].diagonal(dim1=1, dim2=2).abs().amax(dim=1).clamp_min(torch.finfo(h.dtype).tiny)
        eye = torch.eye(h.shape[1], dtype=h.dtype, device=h.device)
        damping = 1e-12
        while failed.numel() and damping < 1e3:
            trial, trial_info = torch.linalg.cholesky_ex(h[failed] + (damping * scale)[:, None, None] * eye)
            ok = trial_info == 0
            factor[failed[ok]] = trial[ok]
            failed, scale = failed[~ok], scale[~ok]
            damping *= 100.0
        if failed.numel():  # give up on curvature: a gradient step
            factor[failed] = eye
    out: Tensor = factor
    return out


def _max_norm(g: Tensor) -> Tensor:
    """Gradient max-norm per model."""
    return g.abs().amax(dim=(1, 2))


class _SolveState:
    """Per-model bookkeeping of the batched solvers: final parameters and convergence."""

    def __init__(self, n: int, k: int, d1: int, dtype: torch.dtype, device: torch.device) -> None:
        self.theta = torch.zeros((n, k, d1), dtype=dtype, device=device)
        self.gradient_norm = torch.zeros(n, dtype=dtype, device=device)

    def freeze(self, positions: Tensor, theta: Tensor, gradient_norm: Tensor) -> None:
        self.theta[positions] = theta
        self.gradient_norm[positions] = gradient_norm


class _LBFGSHistory:
    """The last ``_LBFGS_HISTORY`` curvature pairs of every running model and the initial
    inverse-Hessian scale ``gamma``; pairs with too little curvature are stored as zeros."""

    def __init__(self, n: int, dtype: torch.dtype, device: torch.device) -> None:
        self.s: list[Tensor] = []
        self.y: list[Tensor] = []
        self.rho: list[Tensor] = []
        self.gamma = torch.ones(n, dtype=dtype, device=device)

    def push(self, s: Tensor, yv: Tensor) -> None:
        """Add the step ``s`` and gradient change ``yv`` ``(b, P)`` of every model."""
        sy = (s * yv).sum(dim=1)
        yy = (yv * yv).sum(dim=1)
        good = sy > 1e-10 * torch.sqrt((s * s).sum(dim=1) * yy).clamp_min(torch.finfo(s.dtype).tiny)
        rho = torch.where(good, 1.0 / torch.where(good, sy, torch.ones_like(sy)), torch.zeros_like(sy))
        self.s.append(torch.where(good[:, None], s, torch.zeros_like(s)))
        self.y.append(torch.where(good[:, None], yv, torch.zeros_like(yv)))
        self.rho.append(rho)
        self.gamma = torch.where(good, sy / torch.where(good, yy, torch.ones_like(yy)), self.gamma)
        if len(self.s) > _LBFGS_HISTORY:
            del self.s[0], self.y[0], self.rho[0]

    def select(self, keep: Tensor) -> None:
        """Keep the models at positions ``keep`` only."""
        self.gamma = self.gamma[keep]
        self.s = [h[keep] for h in self.s]
        self.y = [h[keep] for h in self.y]
        self.rho = [h[keep] for h in self.rho]

    def direction(self, g: Tensor) -> Tensor:
        """The L-BFGS direction (two-loop recursion) for gradients ``g`` ``(b, k, d1)``."""
        m = g.shape[0]
        q = g.reshape(m, -1).clone()
        alphas = []
        for s_i, y_i, rho_i in zip(reversed(self.s), reversed(self.y), reversed(self.rho)):
            alpha = rho_i * (s_i * q).sum(dim=1)
            q = q - alpha[:, None] * y_i
            alphas.append(alpha)
        if self.s:
            r = self.gamma[:, None] * q
        else:
            r = q / torch.linalg.vector_norm(q, dim=1, keepdim=True).clamp_min(1.0)
        for s_i, y_i, rho_i, alpha in zip(self.s, self.y, self.rho, reversed(alphas)):
            beta = rho_i * (y_i * r).sum(dim=1)
            r = r + s_i * (alpha - beta)[:, None]
        return -r.reshape(g.shape)


def _line_search(
    objective: LogisticObjective, theta: Tensor, f: Tensor, g: Tensor, direction: Tensor, slack: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Per-model backtracking (Armijo, c = 1e-4) from step 1.

    Returns the new parameters and objective values, which models moved, and the logits at the
    new parameters when every model took the full step (else ``None``).

    ``slack`` tolerates rounding in f near the optimum, where the decrease is below float precision.
    """
    n = theta.shape[0]
    flat_g, flat_d = g.reshape(n, -1), direction.reshape(n, -1)
    slope = (flat_g * flat_d).sum(dim=1)
    descent = slope < 0
    direction = torch.where(descent[:, None, None], direction, -g)
    slope = torch.where(descent, slope, -(flat_g * flat_g).sum(dim=1))
    step = torch.ones(n, dtype=theta.dtype, device=theta.device)
    new = theta.clone()
    new_f = f.clone()
    pending = torch.arange(n, device=theta.device)
    sub = objective
    first_logits: Tensor | None = None
    for halving in range(_MAX_HALVINGS):
        trial = theta[pending] + step[pending, None, None] * direction[pending]
        logits = sub.logits(trial)
        value = sub.objective(trial, logits)
        ok = value <= f[pending] + 1e-4 * step[pending] * slope[pending] + slack[pending]
        new[pending[ok]] = trial[ok]
        new_f[pending[ok]] = value[ok]
        if halving == 0 and bool(ok.all()):
            first_logits = logits
        keep = torch.nonzero(~ok).flatten()
        pending = pending[keep]
        if not pending.numel():
            break
        step[pending] *= 0.5
        sub = sub.select(keep)
    moved = torch.ones(n, dtype=torch.bool, device=theta.device)
    moved[pending] = False
    return new, new_f, moved, first_logits


def solve_logistic(
    objective: LogisticObjective, theta: Tensor, *, tol: float, max_iter: int, method: Literal["newton", "lbfgs"]
) -> tuple[Tensor, Tensor]:
    """Minimise every model's objective from ``theta`` ``(b, k, d1)`` by damped Newton or L-BFGS.

    Returns the parameters ``(b, k, d1)`` and the final gradient max-norms ``(b,)``. Models stop
    independently (gradient max-norm ≤ tol, ``max_iter`` steps, or a failed line search) and are
    frozen, so a model's result does not depend on the rest of the batch.
    """
    n, k, d1 = theta.shape
    dtype, device = objective.inv_cs.dtype, objective.inv_cs.device
    state = _SolveState(n, k, d1, dtype, device)
    active = torch.arange(n, device=device)
    eps = torch.finfo(dtype).eps
    history = _LBFGSHistory(n, dtype, device)
    previous_g: Tensor | None = None
    previous_theta = theta
    iteration = 0
    z = objective.logits(theta)
    f = objective.objective(theta, z)
    while True:
        g, p = objective.gradient(theta, z)
        norm = _max_norm(g)
        if method == "lbfgs" and previous_g is not None:
            history.push((theta - previous_theta).reshape(theta.shape[0], -1), (g - previous_g).reshape(theta.shape[0], -1))
        done = (norm <= tol) | torch.tensor(iteration >= max_iter, device=device)
        if done.any():
            state.freeze(active[done], theta[done], norm[done])
            keep = torch.nonzero(~done).flatten()
            active, theta, z, f, g, p = active[keep], theta[keep], z[keep], f[keep], g[keep], p[keep]
            history.select(keep)
            objective = objective.select(keep)
        if not active.numel():
            break
        if method == "newton":
            factor = _cholesky(objective.hessian(theta, p))
            direction = -torch.cholesky_solve(g.reshape(theta.shape[0], -1, 1), factor).reshape(theta.shape)
        else:
            direction = history.direction(g)
        slack = 1e3 * eps * (1.0 + f.abs())
        new_theta, new_f, moved, new_logits = _line_search(objective, theta, f, g, direction, slack)
        if not bool(moved.all()):  # stalled: no acceptable step, keep the current point
            stalled = torch.nonzero(~moved).flatten()
            state.freeze(active[stalled], theta[stalled], _max_norm(g[stalled]))
            keep = torch.nonzero(moved).flatten()
            active, theta, new_theta, new_f, g = active[keep], theta[keep], new_theta[keep], new_f[keep], g[keep]
            history.select(keep)
            objective = objective.select(keep)
            if not active.numel():
                break
        previous_theta, previous_g = theta, g
        theta, f = new_theta, new_f
        z = objective.logits(theta) if new_logits is None else new_logits
        iteration += 1
    return state.theta, state.gradient_norm


def solve_binary_newton(objective: LogisticObjective, *, tol: float, max_iter: int) -> tuple[Tensor, Tensor]:
    """Newton's method for a batch of binary logistic regressions, from zero; the lean twin of
    :func:`solve_logistic` for one weight vector per model (the common case in data valuation).

    Returns the parameters ``(b, 1, d1)`` and the final gradient max-norms ``(b,)``. The full
    Newton step is taken where it satisfies Armijo's condition (almost always for this
    objective); only the rest fall back to the per-model backtracking search. Converged models
    are masked rather than removed, and the batch is compacted only when fewer than half remain,
    which saves copying the gathered rows every step. Each model's iterates are the same as
    alone (no model reads another's numbers), so results do not depend on the batch.
    """
    n, d1 = objective.n_models, objective.n_columns
    dtype, device = objective.inv_cs.dtype, objective.inv_cs.device
    eps = torch.finfo(dtype).eps
    theta_out = torch.zeros((n, 1, d1), dtype=dtype, device=device)
    norm_out = torch.zeros(n, dtype=dtype, device=device)
    index = torch.arange(n, device=device)  # positions in the output of the batch's rows
    theta = torch.zeros((n, 1, d1), dtype=dtype, device=device)
    z = objective.logits(theta)
    f = objective.objective(theta, z)
    running = torch.ones(n, dtype=torch.bool, device=device)
    for iteration in range(max_iter + 1):
        g, p = objective.gradient(theta, z)
        norm = _max_norm(g)
        stop = running & ((norm <= tol) | (iteration >= max_iter))
        if bool(stop.any()):
            theta_out[index[stop]] = theta[stop]
            norm_out[index[stop]] = norm[stop]
            running = running & ~stop
        alive = int(running.sum())
        if alive == 0:
            break
        if alive < running.numel() // 2:
            keep = torch.nonzero(running).flatten()
            objective, index = objective.select(keep), index[keep]
            theta, z, f, g, p = theta[keep], z[keep], f[keep], g[keep], p[keep]
            running = torch.ones(keep.numel(), dtype=torch.bool, device=device)
        factor = _cholesky(objective.hessian(theta, p))
        step = torch.cholesky_solve(g.reshape(theta.shape[0], d1, 1), factor).reshape(theta.shape)
        trial = theta - step
        trial_z = objective.logits(trial)
        trial_f = objective.objective(trial, trial_z)
        slope = -(g * step).sum(dim=(1, 2))
        slack = 1e3 * eps * (1.0 + f.abs())
        ok = (trial_f <= f + 1e-4 * slope + slack) & (slope < 0)
        retry = torch.nonzero(running & ~ok).flatten()
        theta = torch.where(ok[:, None, None], trial, theta)
        z = torch.where(ok[:, None, None], trial_z, z)
        f = torch.where(ok, trial_f, f)
        if retry.numel():
            sub = objective.select(retry)
            new_theta, new_f, moved, _ = _line_search(sub, theta[retry], f[retry], g[retry], -step[retry], slack[retry])
            theta[retry], f[retry] = new_theta, new_f
            z[retry] = sub.logits(new_theta)
            stalled = retry[~moved]
            if stalled.numel():  # no acceptable step: keep the current point
                theta_out[index[stalled]] = theta[stalled]
                norm_out[index[stalled]] = norm[stalled]
                running[stalled] = False
    return theta_out, norm_out


def solve(
    objective: LogisticObjective, *, tol: float, max_iter: int, method: Literal["newton", "lbfgs"]
) -> tuple[Tensor, Tensor]:
    """Minimise every model's objective from zero: :func:`solve_binary_newton` for binary models
    with ``method="newton"``, else :func:`solve_logistic`.

    Returns the parameters ``(b, k_out, d1)`` and the final gradient max-norms ``(b,)``.
    """
    if objective.n_outputs == 1 and method == "newton":
        return solve_binary_newton(objective, tol=tol, max_iter=max_iter)
    dtype, device = objective.inv_cs.dtype, objective.inv_cs.device
    start = torch.zeros((objective.n_models, objective.n_outputs, objective.n_columns), dtype=dtype, device=device)
    return solve_logistic(objective, start, tol=tol, max_iter=max_iter, method=method)


class LogisticFit(NamedTuple):
    """Result of :func:`fit_logistic`."""

    theta: Tensor
    """Parameters ``(b, k_out, d1)``: ``k_out`` = 1 for two classes (the weights of class 1), else K;
    the last column is the intercept when fitted."""
    gradient_norm: Tensor
    """Final gradient max-norm of each model's scaled objective ``(b,)``."""
    converged: Tensor
    """``gradient_norm <= tol`` (with ``tol`` as raised for float32) ``(b,)`` bool."""


def _floating(name: str, value: Any) -> Tensor:
    if not isinstance(value, Tensor):
        raise InvalidArgumentError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in (torch.float32, torch.float64):
        raise InvalidDTypeError(f"{name}: must be torch.float32 or torch.float64, got {value.dtype}")
    if not bool(torch.isfinite(value).all()):
        raise NonFiniteError(f"{name}: holds NaN or infinity")
    return value


def _problem(x: Any, y: Any, weights: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Checked ``x`` ``(n, d)`` or ``(b, n, d)``, ``y`` (long) and ``weights`` ``(b, n)`` in x's dtype."""
    x = _floating("x", x)
    if x.ndim not in (2, 3) or x.shape[-1] == 0:
        raise ShapeError(f"x: expected shape (n, d) or (b, n, d) with d >= 1, got {tuple(x.shape)}")
    if not isinstance(weights, Tensor):
        raise InvalidArgumentError(f"weights: expected a torch.Tensor, got {type(weights).__name__}")
    if weights.dtype.is_complex:
        raise InvalidDTypeError(f"weights: must be a real (float, integer or bool) tensor, got {weights.dtype}")
    if weights.dtype.is_floating_point:
        weights = _floating("weights", weights)
    if not isinstance(y, Tensor):
        raise InvalidArgumentError(f"y: expected a torch.Tensor, got {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype.is_complex:
        raise InvalidDTypeError(f"y: must hold class indices (an integer or bool tensor), got {y.dtype}")
    rows = int(x.shape[-2])
    expected_y = (rows,) if x.ndim == 2 else tuple(x.shape[:2])
    if tuple(y.shape) != expected_y:
        raise ShapeError(f"y: expected shape {expected_y} to match x of shape {tuple(x.shape)}, got {tuple(y.shape)}")
    if weights.ndim != 2 or weights.shape[1] != rows or (x.ndim == 3 and weights.shape[0] != x.shape[0]):
        expected_w = f"(b, {rows})" if x.ndim == 2 else f"({x.shape[0]}, {rows})"
        raise ShapeError(f"weights: expected shape {expected_w}, got {tuple(weights.shape)}")
    for name, tensor in (("y", y), ("weights", weights)):
        if tensor.device != x.device:
            raise InvalidArgumentError(f"{name}: is on {tensor.device} but x is on {x.device}")
    weights = weights.to(x.dtype)
    if bool((weights < 0).any()):
        raise InvalidArgumentError("weights: must be non-negative")
    return x, y.long(), weights


def fit_logistic(
    x: Tensor,
    y: Tensor,
    weights: Tensor,
    *,
    n_classes: int | None = None,
    C: float = 1.0,
    fit_intercept: bool = True,
    tol: float = 1e-10,
    max_iter: int = 100,
    method: Literal["auto", "newton", "lbfgs"] = "auto",
) -> LogisticFit:
    """Fit a batch of weighted L2-regularised logistic / softmax regressions at once.

    Model r minimises scikit-learn's ``LogisticRegression(C=C, fit_intercept=fit_intercept)``
    objective with ``sample_weight=weights[r]``::

        C * sum_i weights[r, i] * CE_i + ||W||^2 / 2        (intercept not penalised)

    with one weight vector and a sigmoid for two classes, and the multinomial softmax over the
    classes with positive weight for K >= 3 (absent classes get parameters 0). Each model stops
    when the max-norm of the gradient of its objective divided by ``C * sum(weights[r])`` is at most
    ``tol`` (raised to ``100 * eps`` of the dtype), after ``max_iter`` steps, or when its line
    search fails; the result says which models converged. No feature scaling is applied.

    Args:
        x: float32 or float64 features: ``(n, d)`` shared by all models, or ``(b, n, d)`` one row
            set per model.
        y: class indices ``0..K-1`` (integer or bool tensor), ``(n,)`` or ``(b, n)`` like ``x``.
        weights: non-negative weights per model and row ``(b, n)`` (e.g. counts); each model needs
            two classes with positive weight.
        n_classes: K (default: ``y.max() + 1``, at least 2).
        C: inverse regularisation strength (> 0).
        fit_intercept: fit an unpenalised intercept (the last column of ``theta``).
        tol: gradient max-norm tolerance of the scaled objective.
        max_iter: solver steps per model at most.
        method: ``"newton"``, ``"lbfgs"``, or ``"auto"`` (Newton up to
            :data:`NEWTON_MAX_PARAMETERS` parameters per model, else L-BFGS).

    Returns:
        :class:`LogisticFit` with tensors on ``x``'s device and in its dtype.

    Raises:
        InvalidArgumentError, InvalidDTypeError, ShapeError, NonFiniteError: for bad input, naming
            the argument.
    """
    x, labels, w = _problem(x, y, weights)
    C = check_float("C", C, positive=True)
    tol = check_float("tol", tol, positive=False)
    max_iter = check_int("max_iter", max_iter, 1)
    if method not in ("auto", "newton", "lbfgs"):
        raise InvalidArgumentError(f"method: expected 'auto', 'newton' or 'lbfgs', got {method!r}")
    if labels.numel() and int(labels.min()) < 0:
        raise InvalidArgumentError("y: class indices must be non-negative")
    largest = int(labels.max()) + 1 if labels.numel() else 0
    k_classes = max(2, largest) if n_classes is None else check_int("n_classes", n_classes, 2)
    if largest > k_classes:
        raise InvalidArgumentError(f"y: holds class index {largest - 1} but n_classes is {k_classes}")
    b, dtype, device = int(w.shape[0]), x.dtype, x.device
    design = torch.cat([x, torch.ones((*x.shape[:-1], 1), dtype=dtype, device=device)], dim=-1) if fit_intercept else x
    d1 = int(design.shape[-1])
    k_out = 1 if k_classes == 2 else k_classes
    class_weight = torch.zeros((b, k_classes), dtype=dtype, device=device)
    class_weight.scatter_add_(1, labels if x.ndim == 3 else labels.expand(b, -1), w)
    few = torch.nonzero((class_weight > 0).sum(dim=1) < 2).flatten()
    if few.numel():
        shown = ", ".join(str(int(r)) for r in few[:10])
        raise InvalidArgumentError(f"weights: model row(s) {shown} have fewer than two classes with positive weight")
    chosen: Literal["newton", "lbfgs"] = (
        method if method != "auto" else ("newton" if k_out * d1 <= NEWTON_MAX_PARAMETERS else "lbfgs")
    )
    tol = max(tol, 100.0 * torch.finfo(dtype).eps)
    if b == 0:
        empty = torch.zeros((0, k_out, d1), dtype=dtype, device=device)
        return LogisticFit(empty, torch.zeros(0, dtype=dtype, device=device), torch.zeros(0, dtype=torch.bool, device=device))
    if x.ndim == 3:
        data = TorchData(design, labels, w, True)
    else:
        data = TorchData(design, labels, w, False, outer_products(design))
    totals = w.sum(dim=1)
    data.normalised()
    penalty = torch.ones(d1, dtype=dtype, device=device)
    if fit_intercept:
        penalty[-1] = 0.0
    present = None if k_out == 1 else class_weight > 0
    objective = LogisticObjective(data, 1.0 / (C * totals), present, penalty, fit_intercept)
    theta, norm = solve(objective, tol=tol, max_iter=max_iter, method=chosen)
    return LogisticFit(theta, norm, norm <= tol)
