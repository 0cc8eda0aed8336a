"""Past one machine: the same jobs on an existing distributed engine.

:class:`RayExecutor` runs the chunks of a label store
(``generate_labels(..., executor=RayExecutor())``) and the model fits of a data-valuation utility
(:class:`~stochamort.valuation.ShardedUtility`) as Ray tasks, with CPUs and GPUs per worker. This
process still writes every file, so results are the same as in one process, bit for bit. Ray is
optional: ``pip install 'stochamort[ray]'``.
"""

from stochamort.distributed.ray_executor import RayExecutor

__all__ = ["RayExecutor"]
