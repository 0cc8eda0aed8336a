""":class:`TorchLogisticUtility`: L2-regularised logistic / softmax regression fitted on each
subset, thousands at once, by the batched solver of :mod:`~stochamort.valuation.utility.solver`."""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from stochamort.errors import InvalidArgumentError
from stochamort._checks import as_counts, check_bool, check_float, check_int, shown_rows
from stochamort.valuation.utility.classifier import Metric
from stochamort.valuation.utility.rows import outer_products, to_tensor
from stochamort.valuation.utility.solver import NEWTON_MAX_PARAMETERS, LogisticObjective, solve
from stochamort.valuation.utility.support import SubsetSupport
from stochamort.valuation.utility.torch_classifier import TorchClassifierUtility

__all__ = ["TorchLogisticUtility"]


class TorchLogisticUtility(TorchClassifierUtility):
    """Validation score of L2-regularised logistic regression fitted on each subset, thousands at once.

    Each subset's model minimises exactly the objective of scikit-learn's
    ``LogisticRegression(C=C, fit_intercept=fit_intercept)`` fitted with ``sample_weight=counts``::

        C * sum_i counts_i * CE_i + ||W||^2 / 2        (intercept not penalised)

    with one weight vector and a sigmoid for two classes, and the multinomial softmax for K >= 3
    classes (scikit-learn's default). No feature scaling is applied. The fits of a batch run
    together on ``device`` (see :mod:`~stochamort.valuation.utility.solver`): stacked parameters,
    batched damped Newton (Hessians by batched matmuls, batched Cholesky solves, per-model
    backtracking line search), each model stopping when the max-norm of the gradient of the
    objective divided by ``C * sum(counts)`` (scikit-learn's scaling) is at most ``tol``, or after
    ``max_iter`` steps. Stopped models are frozen, so a model does not depend on which other
    subsets share its batch (up to float rounding of differently shaped matmuls, ~1e-15 with
    Newton; L-BFGS amplifies that rounding along its iterates, so there the agreement is to about
    the stopping tolerance). Models with more than 512 parameters use batched L-BFGS instead (then
    ``max_iter`` may need raising).
    A :class:`RuntimeWarning` reports models that stop with a gradient above ``tol``; in float32
    ``tol`` is raised to at least ``100 * eps``.

    Subsets whose support (distinct points) is at most ``sparse_threshold * N`` are fitted on
    their gathered support: a padded ``(m, K)`` index/weight tensor per group of subsets with
    supports of similar size (powers of two), K the group's largest support. Larger ones use the
    dense path: all N rows with count weights (zero outside the subset), Hessians by one matmul
    with the cached row outer products.

    Multiclass subsets missing some classes: the absent classes are excluded from that subset's
    softmax (logit -inf, probability 0, parameters 0), so the fit is well defined. scikit-learn
    would refit on the present classes only (and, with two present, switch to the binary
    parameterisation), so agreement with scikit-learn holds when all classes are present (binary:
    for every non-degenerate subset). Degenerate subsets follow the package's rule
    (:mod:`stochamort.valuation.utility`).

    Args:
        x_train, y_train: training features ``(N, d)`` and labels ``(N,)`` (ints or strings).
        x_valid, y_valid: validation features and labels; every validation label must occur in
            ``y_train``.
        C: inverse regularisation strength (> 0), as in scikit-learn.
        fit_intercept: fit an unpenalised intercept.
        metric: ``"accuracy"``, ``"log_likelihood"`` or a callable (see :data:`Metric`).
        max_iter: Newton steps per model at most.
        tol: gradient max-norm tolerance (scaled objective, see above).
        batch_size: subsets fitted together (also bounded by memory, 2**24 cells per chunk).
        device: torch device of the fits (default CPU).
        dtype: torch.float64 (default) or torch.float32.
        sparse_threshold: support fraction up to which a subset uses the gathered (sparse) path;
            0 always dense, 1 always sparse. The default 0.2 is about where the two cost the same on
            CPU (gathered rows go through small batched matmuls; the dense path through one large one).
        solver: ``"auto"`` (Newton up to 512 parameters, else L-BFGS), ``"newton"`` or ``"lbfgs"``.
    """

    def __init__(
        self,
        x_train: Any,
        y_train: Any,
        x_valid: Any,
        y_valid: Any,
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        metric: Metric = "accuracy",
        max_iter: int = 100,
        tol: float = 1e-10,
        batch_size: int = 1024,
        device: Any = None,
        dtype: torch.dtype = torch.float64,
        sparse_threshold: float = 0.2,
        solver: Literal["auto", "newton", "lbfgs"] = "auto",
    ) -> None:
        super().__init__(x_train, y_train, x_valid, y_valid, metric)
        self.C = check_float("C", C, positive=True)
        self.fit_intercept = check_bool("fit_intercept", fit_intercept)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.tol = check_float("tol", tol, positive=False)
        self._set_torch_settings(batch_size, device, dtype, sparse_threshold)
        if solver not in ("auto", "newton", "lbfgs"):
            raise InvalidArgumentError(f"solver: expected 'auto', 'newton' or 'lbfgs', got {solver!r}")
        self.k_out = 1 if self.n_classes == 2 else self.n_classes
        self.n_parameters = self.k_out * (self.n_features + int(self.fit_intercept))
        self.solver: Literal["newton", "lbfgs"] = (
            solver if solver != "auto" else ("newton" if self.n_parameters <= NEWTON_MAX_PARAMETERS else "lbfgs")
        )
        self._x = self._design(self.x_train)
        self._xv = self._design(self.x_valid)
        self._y = to_tensor(self.y_train, self.device)
        penalty = torch.ones(self.n_features + int(self.fit_intercept), dtype=self.dtype, device=self.device)
        if self.fit_intercept:
            penalty[-1] = 0.0
        self._penalty = penalty
        self._xx: Tensor | None = None
        self.n_unconverged = 0
        """Models so far that stopped with a gradient above ``tol`` (each also warned about)."""

    def _design(self, x: NDArray[np.float64]) -> Tensor:
        tensor = to_tensor(x, self.device, self.dtype)
        if self.fit_intercept:
            tensor = torch.cat([tensor, torch.ones((tensor.shape[0], 1), dtype=self.dtype, device=self.device)], dim=1)
        return tensor

    def _with_train(self, x_train: NDArray[np.float64], y_train: NDArray[Any]) -> TorchLogisticUtility:
        return TorchLogisticUtility(
            x_train, y_train, self.x_valid, self.classes_[self.y_valid], C=self.C, fit_intercept=self.fit_intercept,
            metric=self.metric, max_iter=self.max_iter, tol=self.tol, batch_size=self._batch_size,
            device=self.device, dtype=self.dtype, sparse_threshold=self.sparse_threshold, solver=self.solver,
        )

    def fit(self, counts: Any) -> Tensor:
        """Parameters ``(m, k_out, d + fit_intercept)`` of the models fitted on each subset (on the device).

        ``k_out`` is 1 for two classes (the weights of class 1), else K; the last column is the
        intercept. Degenerate subsets get zeros (they are not fitted). Does not count evaluations.
        """
        array = as_counts(counts, self.n_data)
        out = torch.zeros((array.shape[0], self.k_out, self._x.shape[1]), dtype=self.dtype, device=self.device)
        class_counts = self._class_counts(array)
        fitted = np.flatnonzero((class_counts > 0).sum(axis=1) >= 2)
        for lo in range(0, fitted.size, self._batch_size):
            rows = fitted[lo : lo + self._batch_size]
            out[torch.from_numpy(rows).to(self.device)] = self._fit(array[rows], rows)
        return out

    def _cells_per_model(self, n_rows: int, sparse: bool) -> int:
        # cells per model: logits, probabilities, weights, residuals; Hessian weights (times
        # d1 unless the dense outer products are cached); gathered rows; Hessian and factor.
        k, d1 = self.k_out, int(self._x.shape[1])
        dense_outer = not sparse and self._outer_products() is not None
        per_row = k * k * (1 if dense_outer else d1 + 1) + 6 * k + 4 + (2 * d1 if sparse else 0)
        return n_rows * per_row + 6 * (k * d1) ** 2

    def _dense_outer(self) -> Tensor | None:
        return self._outer_products()

    def _fit(self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: SubsetSupport | None = None) -> Tensor:
        k, d1 = self.k_out, int(self._x.shape[1])
        tol = max(self.tol, 100.0 * torch.finfo(self.dtype).eps)
        out = torch.zeros((counts.shape[0], k, d1), dtype=self.dtype, device=self.device)
        support = support or SubsetSupport(counts)
        present_all = support.class_counts(self.y_train, self.n_classes) > 0 if self.k_out > 1 else None
        for part, data in self._training_chunks(counts, support):
            totals = torch.from_numpy(support.totals[part]).to(device=self.device, dtype=self.dtype)
            present = None if present_all is None else torch.from_numpy(present_all[part]).to(self.device)
            objective = LogisticObjective(data, 1.0 / (self.C * totals), present, self._penalty, self.fit_intercept)
            theta, norm = solve(objective, tol=tol, max_iter=self.max_iter, method=self.solver)
            bad = (norm > tol).cpu().numpy()
            if bad.any():
                self.n_unconverged += int(bad.sum())
                warnings.warn(
                    f"TorchLogisticUtility: {int(bad.sum())} fit(s) stopped with gradient max-norm above "
                    f"tol = {tol:g} (row(s) {shown_rows(rows[part][bad])} of the subsets being evaluated; "
                    f"{self.n_unconverged} so far, counted in n_unconverged); standardise the features or raise "
                    f"max_iter (={self.max_iter}; AmortizedValuer(utility_options={{'max_iter': ...}}))",
                    RuntimeWarning,
                    stacklevel=4,
                )
            out[torch.from_numpy(part).to(self.device)] = theta
        return out

    def _outer_products(self) -> Tensor | None:
        """Upper triangles of the row outer products ``(N, d1 (d1 + 1) / 2)``, for dense Hessians
        (None if too large); computed once."""
        if self._xx is None:
            self._xx = outer_products(self._x)
        return self._xx

    def _fit_predict(
        self, counts: NDArray[np.int64], rows: NDArray[np.int64], support: SubsetSupport | None = None
    ) -> NDArray[np.float64]:
        support = support or SubsetSupport(counts)
        theta = self._fit(counts, rows, support)
        z = torch.matmul(self._xv, theta.transpose(1, 2))  # (b, n_valid, k_out)
        if self.k_out == 1:
            probabilities = torch.cat([torch.sigmoid(-z), torch.sigmoid(z)], dim=2)
        else:
            present = torch.from_numpy(self._class_counts(counts, support) > 0).to(self.device)
            probabilities = torch.softmax(z.masked_fill(~present[:, None, :], -math.inf), dim=2)
        return np.asarray(probabilities.to(torch.float64).cpu().numpy(), dtype=np.float64)
