"""Oracles rebuilt from their :meth:`~stochamort.oracles.Oracle.settings` (for saved explainers).

``settings()`` gives ``{"oracle": class name, **fields}`` with the stopping rule as a dict; this
is its inverse, restricted to the oracles stochamort defines (a saved file never names a class
to import, so loading cannot run arbitrary code).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from stochamort.errors import InvalidArgumentError
from stochamort.oracles.base import Oracle, StoppingRule
from stochamort.oracles.permutation import Exact, Permutation
from stochamort.oracles.polynomial import OddSHAP, PolySHAP
from stochamort.oracles.regression import RegressionBanzhaf, RegressionSemivalue, RegressionShapley
from stochamort.oracles.sampled import LIME, KernelSHAP, LeverageSHAP, MSRBanzhaf, SGDShapley, UnbiasedKernelSHAP

__all__ = ["oracle_from_settings"]

_ORACLES: dict[str, type[Oracle]] = {
    cls.__name__: cls
    for cls in (Exact, Permutation, KernelSHAP, UnbiasedKernelSHAP, LeverageSHAP, SGDShapley, MSRBanzhaf, LIME, PolySHAP, OddSHAP,
                RegressionShapley, RegressionBanzhaf, RegressionSemivalue)
}


def oracle_from_settings(settings: Mapping[str, Any]) -> Oracle:
    """The oracle whose ``settings()`` are ``settings``: ``oracle_from_settings(o.settings()) == o``.

    Raises:
        InvalidArgumentError: an unknown oracle name, unknown fields or bad values (the message
            starts with ``settings``).
    """
    if not isinstance(settings, Mapping) or not isinstance(settings.get("oracle"), str):
        raise InvalidArgumentError(f"settings: expected a mapping with an 'oracle' name, got {settings!r}")
    fields = dict(settings)
    name = fields.pop("oracle")
    cls = _ORACLES.get(name)
    if cls is None:
        raise InvalidArgumentError(f"settings: unknown oracle {name!r}; expected one of {sorted(_ORACLES)}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InvalidArgumentError(f"settings: {name} has no field(s) {', '.join(map(repr, unknown))}")
    stopping = fields.get("stopping")
    if stopping is not None:
        if not isinstance(stopping, Mapping):
            raise InvalidArgumentError(f"settings: the stopping rule must be a mapping, got {stopping!r}")
        fields["stopping"] = StoppingRule(**stopping)
    try:
        return cls(**fields)
    except TypeError as err:
        raise InvalidArgumentError(f"settings: {name} cannot be built from {dict(settings)!r} ({err})") from err
