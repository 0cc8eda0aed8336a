"""Amortized attribution: networks that predict attributions, trained on noisy labels.

* :mod:`~stochamort.amortize.models`: default architectures (:class:`MLPAmortizer`,
  :class:`PatchAmortizer`) and the additive efficiency normalization.
* :mod:`~stochamort.amortize.config`: :class:`TrainConfig`, every setting of a training run
  (frozen, validated, ``settings()`` for provenance).
* :mod:`~stochamort.amortize.trainer`: :func:`train_amortizer` (stored labels),
  :func:`train_amortizer_online` (fresh labels every epoch; :class:`OracleLabels` in
  :mod:`~stochamort.amortize.online`); the loop in :mod:`~stochamort.amortize.loop`, validation
  and checkpointing in :mod:`~stochamort.amortize.checkpoint`.
* :mod:`~stochamort.amortize.amortizer`: what training returns (:class:`Amortizer`,
  :class:`TrainResult`) and :func:`predict`.
* :mod:`~stochamort.amortize.metrics`: accuracy against ground truth and compute accounting.

Example::

    from stochamort.amortize import MLPAmortizer, TrainConfig, train_amortizer
    config = TrainConfig(epochs=50, lr=2e-3)
    result = train_amortizer(MLPAmortizer(d, d, n_outputs), x, labels, x_val=xv, labels_val=yv, config=config)
    phi = result.amortizer.predict(x_test)          # (n, d, n_outputs), float64
"""

from stochamort.amortize import amortizer, config, explainer, metrics, models, online, trainer
from stochamort.amortize.amortizer import *
from stochamort.amortize.config import *
from stochamort.amortize.data import LabelFn
from stochamort.amortize.explainer import *
from stochamort.amortize.metrics import *
from stochamort.amortize.models import *
from stochamort.amortize.online import *
from stochamort.amortize.trainer import *

# The public names of each module, from the module's own list.
__all__ = ["LabelFn"]
__all__ += models.__all__
__all__ += config.__all__
__all__ += amortizer.__all__
__all__ += trainer.__all__
__all__ += online.__all__
__all__ += metrics.__all__
__all__ += explainer.__all__
