"""Kernels and semivalue weights against their direct formulas and defining identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import beta as beta_function

PLAYERS = [1, 2, 3, 5, 10, 25]


@pytest.mark.parametrize("d", [2, 3, 5, 10, 25])
def test_shapley_kernel_formula(impl, d: int) -> None:
    kernel = impl.shapley_kernel(d)
    assert kernel.shape == (d + 1,) and kernel.dtype == np.float64
    assert math.isinf(kernel[0]) and kernel[0] > 0 and math.isinf(kernel[d]) and kernel[d] > 0
    expected = [(d - 1) / (math.comb(d, k) * k * (d - k)) for k in range(1, d)]
    np.testing.assert_allclose(kernel[1:d], expected, rtol=1e-13)


@pytest.mark.parametrize("d", PLAYERS)
def test_shapley_semivalue_weights(impl, d: int) -> None:
    weights = impl.semivalue_weights(d, "shapley")
    assert weights.shape == (d,) and weights.dtype == np.float64
    expected = [math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)]
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    np.testing.assert_allclose(weights, [1.0 / (d * math.comb(d - 1, k)) for k in range(d)], rtol=1e-12)
    total = sum(math.comb(d - 1, k) * weights[k] for k in range(d))
    assert abs(total - 1.0) < 1e-12


@pytest.mark.parametrize("d", PLAYERS)
def test_banzhaf_semivalue_weights(impl, d: int) -> None:
    np.testing.assert_array_equal(impl.semivalue_weights(d, "banzhaf"), np.full(d, 2.0 ** -(d - 1)))


@pytest.mark.parametrize("d", PLAYERS)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (1.0, 4.0), (4.0, 1.0), (16.0, 1.0), (0.5, 0.5), (2.5, 7.0)])
def test_beta_semivalue_weights(impl, d: int, alpha: float, beta: float) -> None:
    weights = impl.semivalue_weights(d, "beta", alpha=alpha, beta=beta)
    assert weights.shape == (d,)
    expected = [beta_function(k + beta, d - 1 - k + alpha) / beta_function(alpha, beta) for k in range(d)]
    np.testing.assert_allclose(weights, expected, rtol=1e-10)
    # The weights of all coalitions not containing a player form a probability distribution.
    total = sum(math.comb(d - 1, k) * weights[k] for k in range(d))
    assert abs(total - 1.0) < 1e-12


@pytest.mark.parametrize("d", PLAYERS)
def test_beta_one_one_is_shapley(impl, d: int) -> None:
    np.testing.assert_allclose(
        impl.semivalue_weights(d, "beta", alpha=1.0, beta=1.0), impl.semivalue_weights(d, "shapley"), rtol=1e-12
    )


def test_default_kind_is_shapley(impl) -> None:
    np.testing.assert_array_equal(impl.semivalue_weights(6), impl.semivalue_weights(6, "shapley"))


@pytest.mark.parametrize("d", PLAYERS)
@pytest.mark.parametrize("width", [0.1, 0.25, 1.0, 5.0])
def test_lime_kernel(impl, d: int, width: float) -> None:
    kernel = impl.lime_kernel(d, width)
    assert kernel.shape == (d + 1,) and kernel.dtype == np.float64
    expected = [math.exp(-((1.0 - math.sqrt(k / d)) ** 2) / width**2) for k in range(d + 1)]
    np.testing.assert_allclose(kernel, expected, rtol=1e-13)
    assert kernel[d] == 1.0
    assert np.all(np.diff(kernel) > 0)


def test_lime_kernel_default_width(impl) -> None:
    np.testing.assert_array_equal(impl.lime_kernel(8), impl.lime_kernel(8, 0.25))
