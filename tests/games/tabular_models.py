"""scikit-learn models on the breast-cancer data (bundled with scikit-learn: no download), fitted
once per process and shared by the game and label-store tests."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@cache
def breast_cancer() -> tuple[Any, NDArray[np.float64], NDArray[np.int64]]:
    """The data as a DataFrame, the same as a float64 array, and the labels."""
    data = load_breast_cancer(as_frame=True)
    frame = data.data
    return frame, frame.to_numpy(dtype=np.float64), data.target.to_numpy()


@cache
def gradient_boosting(n_estimators: int = 20, seed: int = 0, on_frame: bool = False) -> GradientBoostingClassifier:
    """A small gradient-boosted classifier, fitted on the array (or, ``on_frame``, the DataFrame)."""
    frame, x, y = breast_cancer()
    model = GradientBoostingClassifier(n_estimators=n_estimators, max_depth=2, random_state=seed)
    return model.fit(frame if on_frame else x, y)


@cache
def logistic_regression() -> Any:
    """A standardised logistic regression fitted on the array."""
    _, x, y = breast_cancer()
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
