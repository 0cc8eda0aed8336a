"""Oracles: noisy (or exact) attributions of every point of a game, with standard errors.

Each oracle is a small frozen settings object; call it on a :class:`~stochamort.games.Game`::

    est = KernelSHAP(budget=512)(game, seed=0)
    est = Permutation(budget=512, stopping=StoppingRule(target_std_error=1e-3, max_evaluations=8192))(game)

Budgets count game evaluations per point (including v(∅) and v(all) where used). One exception:
a regression oracle (KernelSHAP and its kin) whose sampled system is singular for a point draws
that point again with 2, 4, then 8 times the budget rather than fail the batch; ``n_evaluations``
and ``extras["singular_retries"]`` record it (see :mod:`stochamort.oracles.rescue`). Every
docstring says whether the oracle is unbiased and, if not, how its bias behaves.
"""

from stochamort.oracles.base import Oracle, StoppingRule
from stochamort.oracles.permutation import Exact, Permutation
from stochamort.oracles.polynomial import OddSHAP, PolySHAP
from stochamort.oracles.regression import RegressionBanzhaf, RegressionSemivalue, RegressionShapley
from stochamort.oracles.sampled import LIME, KernelSHAP, LeverageSHAP, MSRBanzhaf, SGDShapley, UnbiasedKernelSHAP
from stochamort.oracles.settings import oracle_from_settings

__all__ = [
    "Oracle",
    "StoppingRule",
    "Exact",
    "KernelSHAP",
    "UnbiasedKernelSHAP",
    "LeverageSHAP",
    "SGDShapley",
    "PolySHAP",
    "OddSHAP",
    "Permutation",
    "MSRBanzhaf",
    "RegressionShapley",
    "RegressionBanzhaf",
    "RegressionSemivalue",
    "LIME",
    "oracle_from_settings",
]
