"""Amortized attribution: networks that predict attributions, trained on noisy labels.

* :mod:`~stochamort.amortize.models`: default architectures (:class:`MLPAmortizer`,
  :class:`GatedMLPAmortizer`, :class:`PatchAmortizer`) and the additive efficiency normalization;
  :mod:`~stochamort.amortize.vit`: :class:`ViTBackbone`, the default image backbone;
  :mod:`~stochamort.amortize.architectures`: :func:`build_network` (networks from their
  ``spec()``, so saved amortizers load without pickle) and :func:`image_amortizer`.
* :mod:`~stochamort.amortize.config`: :class:`TrainConfig`, every setting of a training run
  (frozen, validated, ``settings()`` for provenance).
* :mod:`~stochamort.amortize.trainer`: :func:`train_amortizer` (stored labels),
  :func:`train_amortizer_online` (fresh labels every epoch; :class:`OracleLabels` in
  :mod:`~stochamort.amortize.online`); the loop in :mod:`~stochamort.amortize.loop`, validation
  and checkpointing in :mod:`~stochamort.amortize.checkpoint`.
* :mod:`~stochamort.amortize.fastshap`: :func:`train_amortizer_fastshap`, the same training on
  FastSHAP's objective (sampled coalitions of the game, no labels; settings :class:`FastSHAP`);
  both training signals are in :mod:`~stochamort.amortize.objectives`.
* :mod:`~stochamort.amortize.amortizer`: what training returns (:class:`Amortizer`, which
  carries its target scale, efficiency flag and input standardisation in its state and saves
  with :meth:`Amortizer.save` / :meth:`Amortizer.load`; :class:`TrainResult`) and :func:`predict`;
  :mod:`~stochamort.amortize.standardization`: :func:`fit_standardization` (what
  ``TrainConfig(standardize_inputs=True)`` fits).
* :mod:`~stochamort.amortize.metrics`: accuracy against ground truth and compute accounting.

Example::

    from stochamort.amortize import MLPAmortizer, TrainConfig, train_amortizer
    config = TrainConfig(epochs=50, lr=2e-3)
    result = train_amortizer(MLPAmortizer(d, d, n_outputs), x, labels, x_val=xv, labels_val=yv, config=config)
    phi = result.amortizer.predict(x_test)          # (n, d, n_outputs), float64
    result.amortizer.save("amortizer")              # later: Amortizer.load("amortizer")
"""

from stochamort.amortize import amortizer, architectures, config, explainer, fastshap, metrics, models, objectives, online, trainer, vit
from stochamort.amortize.amortizer import *
from stochamort.amortize.architectures import *
from stochamort.amortize.config import *
from stochamort.amortize.data import LabelFn
from stochamort.amortize.explainer import *
from stochamort.amortize.fastshap import FastSHAP, train_amortizer_fastshap
from stochamort.amortize.metrics import *
from stochamort.amortize.models import *
from stochamort.amortize.online import *
from stochamort.amortize.standardization import fit_standardization
from stochamort.amortize.trainer import *
from stochamort.amortize.vit import *

# The public names of each module, from the module's own list.
__all__ = ["LabelFn", "fit_standardization", "FastSHAP", "train_amortizer_fastshap"]
__all__ += models.__all__
__all__ += vit.__all__
__all__ += architectures.__all__
__all__ += config.__all__
__all__ += amortizer.__all__
__all__ += trainer.__all__
__all__ += online.__all__
__all__ += metrics.__all__
__all__ += explainer.__all__
