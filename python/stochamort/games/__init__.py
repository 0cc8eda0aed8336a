"""Games: value functions v_x(S) for batches of points, evaluated in large batches on the model's device."""

from stochamort.games.base import FunctionGame, Game, PointRange
from stochamort.games.masker_state import masker_from_state, masker_state
from stochamort.games.maskers import BaselineMasker, ImagePatchMasker, MarginalMasker, Masker, TokenMasker
from stochamort.games.model import MaskedModel, ModelGame, OutputSpec
from stochamort.games.numpy_model import NumpyModel, OutputKind
from stochamort.games.surrogate import Surrogate, SurrogateMasker, train_surrogate

__all__ = [
    "PointRange",
    "Game",
    "FunctionGame",
    "MaskedModel",
    "ModelGame",
    "OutputSpec",
    "NumpyModel",
    "OutputKind",
    "Masker",
    "BaselineMasker",
    "MarginalMasker",
    "ImagePatchMasker",
    "TokenMasker",
    "masker_state",
    "masker_from_state",
    "Surrogate",
    "SurrogateMasker",
    "train_surrogate",
]
