"""Label stores of models that are not torch modules: a store made for one scikit-learn model is
refused for another (their behaviour differs), resumed for the same one, and not refused for
rounding noise in the outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stochamort.games import BaselineMasker, MaskedModel, NumpyModel
from stochamort.labels import LabelStore, LabelStoreError, generate_labels
from stochamort.labels.fingerprint import model_fingerprint
from stochamort.oracles import KernelSHAP

from tests.games.tabular_models import breast_cancer, gradient_boosting
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)

GROUPS = [list(range(start, start + 5)) for start in range(0, 30, 5)]
ORACLE = KernelSHAP(budget=32)


def family(model: object) -> MaskedModel:
    _, x, _ = breast_cancer()
    return MaskedModel(model, BaselineMasker(x.mean(axis=0)), groups=GROUPS)


def test_a_store_of_one_estimator_is_refused_for_another_and_resumed_for_the_same(tmp_path: Path) -> None:
    _, x, _ = breast_cancer()
    points = x[:12]
    first = generate_labels(family(gradient_boosting()), points, ORACLE, tmp_path, seed=1, chunk_size=8, progress=False)
    assert isinstance(first.manifest["model_sha256"], str)
    for other in (gradient_boosting(seed=1), gradient_boosting(n_estimators=21)):
        with pytest.raises(LabelStoreError, match="model_sha256"):
            generate_labels(family(other), points, ORACLE, tmp_path, seed=1, chunk_size=8, progress=False)
    again = generate_labels(family(gradient_boosting()), points, ORACLE, tmp_path, seed=1, chunk_size=8, progress=False)
    np.testing.assert_array_equal(again.load().values, LabelStore.open(tmp_path).load().values)
    assert again.manifest == first.manifest


def test_rounding_noise_keeps_the_fingerprint_and_real_changes_do_not() -> None:
    _, x, _ = breast_cancer()
    model = gradient_boosting()
    base = model_fingerprint(family(model), x)
    noisy = NumpyModel(lambda a: model.predict_proba(a) * (1.0 + 1e-13))
    shifted = NumpyModel(lambda a: model.predict_proba(a) * (1.0 + 1e-6))
    assert model_fingerprint(family(noisy), x) == base
    assert model_fingerprint(family(shifted), x) != base
    assert model_fingerprint(family(model), x[1:]) != base  # the behaviour on these inputs is what is hashed
