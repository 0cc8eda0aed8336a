"""The training loop behind :func:`~stochamort.amortize.train_amortizer` and
:func:`~stochamort.amortize.train_amortizer_online`, in named pieces:

* :class:`TrainingData`: the data, checked against each other and the config;
* :class:`Run`, what one run holds (model, staged data, optimiser, schedule, gradient scaler,
  target scale) with :meth:`Run.step`, one optimisation step, and :meth:`Run.epoch`, one pass
  over the data;
* :func:`fit`, the outer loop: under :func:`seeded` generators, :func:`train_epoch` (targets,
  scale, learning rate, loss) then :func:`validate` (noisy validation loss, best state) each
  epoch, early stopping, and the :func:`result`;
* what is fitted — noisy labels or FastSHAP's coalition values —: :mod:`stochamort.amortize.objectives`;
* validation and the best state themselves: :mod:`stochamort.amortize.checkpoint`.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from stochamort.amortize.amortizer import Amortizer, TrainHistory, TrainResult
from stochamort.amortize.checkpoint import BestCheckpoint, ValidationSet
from stochamort.amortize.config import TrainConfig
from stochamort.amortize.data import as_inputs, as_targets, float_dtype, gather, resolve_device, stage
from stochamort.amortize.models import efficiency_normalize
from stochamort.amortize.objectives import FixedLabels, LabelTargets, Targets, TargetSource
from stochamort.amortize.resume import load_training_state, run_fingerprint, save_training_state
from stochamort.amortize.standardization import Standardization
from stochamort.errors import InvalidArgumentError, NonFiniteError, ShapeError

__all__ = [
    "TrainingData",
    "Run",
    "Progress",
    "fit",
    "train_epoch",
    "validate",
    "result",
    "seeded",
    "cosine_schedule",
    "distributed_rank",
    "target_scale",
    "autocast_dtype",
]

def distributed_rank() -> tuple[int, int]:
    """``(rank, world size)`` of this process in torch.distributed's default group; ``(0, 1)``
    when it is not initialised (a single process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def cosine_schedule(total_steps: int, warmup_steps: int, final_lr_ratio: float) -> Callable[[int], float]:
    """Linear warm-up to the base rate, then cosine decay to ``final_lr_ratio`` × base at the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps - 1)
        progress = min(1.0, (step - warmup_steps) / span)
        return final_lr_ratio + (1.0 - final_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


# --------------------------------------------------------------------------------------------
# The data, checked against the config


@dataclass
class TrainingData:
    """The training inputs and gaps and the validation inputs, targets and gaps, as CPU tensors
    (None where not given), checked against each other and the config by :meth:`check`."""

    x: Tensor
    gaps: Tensor | None
    x_val: Tensor | None
    targets_val: Targets | None
    gaps_val: Tensor | None

    @classmethod
    def check(cls, x: Tensor, config: TrainConfig, dtype: torch.dtype, val: tuple[Any, Any], gaps: tuple[Any, Any]) -> TrainingData:
        """Convert and check the validation set ``val = (x_val, labels_val)`` and the gaps
        ``gaps = (gaps_train, gaps_val)`` against the training inputs ``x`` (converted, in the
        model's ``dtype``) and the config; missing parts are None. ``labels_val`` is an array
        of labels, or :class:`~stochamort.amortize.objectives.Targets` already made."""
        (x_val, labels_val), (gaps_train, gaps_val) = val, gaps
        n = int(x.shape[0])
        if n == 0:
            raise ShapeError("x_train: needs at least one training point")
        if (x_val is None) != (labels_val is None):
            missing = "labels_val" if labels_val is None else "x_val"
            raise InvalidArgumentError(f"{missing}: x_val and labels_val must be given together")
        has_val = x_val is not None
        if config.patience is not None and not has_val:
            raise InvalidArgumentError("TrainConfig.patience: early stopping needs a validation set (x_val, labels_val)")
        xv = yv = None
        if has_val:
            xv = as_inputs("x_val", x_val, dtype)
            if isinstance(labels_val, Targets):
                if labels_val.n_points != xv.shape[0]:
                    raise ShapeError(f"labels_val: targets for {labels_val.n_points} points but x_val has {xv.shape[0]}")
                yv = labels_val
            else:
                yv = LabelTargets(as_targets("labels_val", labels_val, dtype, int(xv.shape[0]), 3))
            if xv.shape[0] == 0:
                raise ShapeError("x_val: needs at least one validation point")
            if tuple(xv.shape[1:]) != tuple(x.shape[1:]):
                raise ShapeError(f"x_val: per-input shape {tuple(xv.shape[1:])} differs from x_train's {tuple(x.shape[1:])}")
        gt = gv = None
        if config.efficiency:
            if gaps_train is None:
                raise InvalidArgumentError("gaps_train: efficiency=True needs v(all) − v(∅) for every training point")
            gt = as_targets("gaps_train", gaps_train, dtype, n, 2)
            if xv is not None:
                if gaps_val is None:
                    raise InvalidArgumentError("gaps_val: efficiency=True needs v(all) − v(∅) for every validation point")
                gv = as_targets("gaps_val", gaps_val, dtype, int(xv.shape[0]), 2)
            elif gaps_val is not None:
                raise InvalidArgumentError("gaps_val: given without a validation set")
        else:
            for name, value in (("gaps_train", gaps_train), ("gaps_val", gaps_val)):
                if value is not None:
                    raise InvalidArgumentError(f"{name}: given but efficiency=False (set TrainConfig(efficiency=True) to use the gaps)")
        return cls(x, gt, xv, yv, gv)

    def check_targets(self, targets: Targets) -> None:
        """Check the first epoch's training targets against the inputs, the validation targets and the gaps."""
        if targets.n_points != self.x.shape[0]:
            raise ShapeError(f"labels_train: targets for {targets.n_points} points but x_train has {self.x.shape[0]}")
        if self.targets_val is not None and self.targets_val.per_point != targets.per_point:
            raise ShapeError(
                f"labels_val: per-point shape {self.targets_val.per_point} differs from the training labels' {targets.per_point}"
            )
        if self.gaps is not None and self.gaps.shape[1] != targets.per_point[1]:
            raise ShapeError(f"gaps_train: has {self.gaps.shape[1]} outputs but the labels have {targets.per_point[1]}")


def target_scale(config: TrainConfig, targets: Targets) -> float:
    """The factor on the targets: the configured one, or the targets' own for ``"auto"``
    (1 / rms of labels; see :meth:`~stochamort.amortize.objectives.Targets.auto_scale`)."""
    if config.target_scale != "auto":
        return float(config.target_scale)
    return targets.auto_scale()


def autocast_dtype(config: TrainConfig, device: torch.device, dtype: torch.dtype) -> torch.dtype | None:
    """The autocast dtype for ``config.mixed_precision`` on ``device`` for a model of ``dtype``."""
    mode = config.mixed_precision
    if mode is None:
        return None
    if mode == "auto":
        if device.type != "cuda" or dtype != torch.float32:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type != "cuda":
        raise InvalidArgumentError(f"TrainConfig.mixed_precision: {mode!r} autocast is only supported on CUDA, training runs on {device}")
    return torch.bfloat16 if mode == "bf16" else torch.float16


# --------------------------------------------------------------------------------------------
# One run: the optimisation step and the epoch


class Run:
    """One training run of ``model`` on ``device``: optimiser (AdamW), per-step schedule, gradient
    scaler (fp16 only), clipping and the target scale (set from the first epoch's labels).

    Args:
        model: the network (already on ``device``).
        config: the settings.
        device: the training device.
        dtype: the model's floating dtype (predictions are cast to it).
        data: the training data; its inputs and gaps are staged on ``device`` as :attr:`x` and
            :attr:`gaps`, and their number :attr:`n` sets the steps per epoch.
    """

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device, dtype: torch.dtype, data: TrainingData) -> None:
        self.model, self.config, self.device, self.dtype = model, config, device, dtype
        n = self.n = int(data.x.shape[0])
        self.amp = autocast_dtype(config, device, dtype)
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        if not self.parameters:
            raise InvalidArgumentError("model: has no trainable parameters")
        self.optimizer = torch.optim.AdamW(self.parameters, lr=config.lr, weight_decay=config.weight_decay)
        steps_per_epoch = math.ceil(n / config.batch_size)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            cosine_schedule(config.epochs * steps_per_epoch, config.warmup_epochs * steps_per_epoch, config.final_lr_ratio),
        )
        self.scaler = torch.amp.GradScaler(device.type) if self.amp == torch.float16 else None
        # Under torch.distributed (torchrun, Ray Train) each rank trains on its share of every
        # batch and DDP averages the gradients: the same steps as one process, up to rounding.
        self.rank, self.world_size = distributed_rank()
        self.train_model: nn.Module = model
        if self.world_size > 1:
            ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
            self.train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.scale = 1.0
        self._checked_shape = False
        self.x = stage(data.x, device)
        self.gaps = None if data.gaps is None else stage(data.gaps, device)

    @property
    def amp_name(self) -> str | None:
        """The autocast dtype as ``"bf16"``, ``"fp16"`` or None."""
        return None if self.amp is None else ("bf16" if self.amp == torch.bfloat16 else "fp16")

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return float(self.optimizer.param_groups[0]["lr"])

    def forward(self, x: Tensor, gaps: Tensor | None, module: nn.Module | None = None) -> Tensor:
        """Scaled predictions for a batch (autocast inside the model only; the efficiency
        normalization with the scaled ``gaps`` in the model's dtype); ``module``: the model to
        run (default the plain one; training steps pass the DDP wrapper)."""
        with self._autocast():
            pred = (module or self.model)(x)
        if not isinstance(pred, Tensor):
            raise InvalidArgumentError(f"model: must return a tensor, got {type(pred).__name__}")
        pred = pred.to(self.dtype)
        if gaps is not None:
            pred = efficiency_normalize(pred, gaps * self.scale)
        return pred

    def step(self, x: Tensor, targets: Targets, rows: tuple[Tensor, ...], gaps: Tensor | None, batch_size: int | None = None) -> Tensor:
        """One optimisation step on a batch (``rows`` of ``targets``); the batch's loss sum in
        scaled units (float64, detached). With several ranks, ``x`` is this rank's share of a
        batch of ``batch_size`` points."""
        pred = self.forward(x, gaps, self.train_model)
        if not self._checked_shape:
            targets.check_prediction(pred)
            self._checked_shape = True
        batch_sum = targets.loss_sum(pred, rows, self.scale)
        # DDP averages the ranks' gradients: world_size × (this share's sum) / (whole batch) makes
        # that average the gradient of the whole batch's mean loss.
        loss = batch_sum / pred.shape[0] if self.world_size == 1 else batch_sum * (self.world_size / (batch_size or 1))
        self.optimizer.zero_grad(set_to_none=True)
        clip = self.config.max_grad_norm
        if self.scaler is not None:
            self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            if clip is not None:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.parameters, clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(self.parameters, clip)
            self.optimizer.step()
        self.schedule.step()
        return batch_sum.detach().to(torch.float64)

    def epoch(self, x: Tensor, targets: Targets, gaps: Tensor | None, order: Tensor) -> float:
        """One pass in training mode over the staged data in the order ``order``; the mean loss
        in the targets' units (NaN or infinite if training diverged)."""
        self.model.train()
        n, batch_size = int(order.shape[0]), self.config.batch_size
        running = torch.zeros((), dtype=torch.float64, device=self.device)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            index = batch[self.rank :: self.world_size]
            batch_gaps = None if gaps is None else gather(gaps, index, self.device)
            running += self.step(gather(x, index, self.device), targets, targets.rows(index, self.device), batch_gaps, int(batch.shape[0]))
        if self.world_size > 1:
            torch.distributed.all_reduce(running)
        return float(running) / n / self.scale**2

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp)


# --------------------------------------------------------------------------------------------
# The outer loop


@dataclass
class Progress:
    """What the outer loop has recorded so far: the history, the epochs trained, the validation
    samples evaluated, whether early stopping ended training, and when training began."""

    history: TrainHistory = field(default_factory=TrainHistory)
    epochs_run: int = 0
    val_seen: int = 0
    stopped_early: bool = False
    began: float = field(default_factory=time.perf_counter)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """Seed torch's generators (CPU, and ``device`` if CUDA) for the duration, restoring their
    state after; yields a separate CPU generator for the shuffling, seeded alike."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)


def train_epoch(run: Run, data: TrainingData, targets: Targets, epoch: int, order: Tensor, progress: Progress) -> float:
    """One epoch of the outer loop on this epoch's ``targets``: check them and set the target
    scale (epoch 0), record the learning rate, train, and record the (finite) training loss."""
    if epoch == 0:
        data.check_targets(targets)
        run.scale = target_scale(run.config, targets)
    progress.history.lr.append(run.lr)
    loss = run.epoch(run.x, targets.staged(run.device), run.gaps, order)
    if not math.isfinite(loss):
        raise NonFiniteError(f"TrainConfig.lr: the training loss became non-finite at epoch {epoch}; lower lr or set target_scale")
    progress.history.train_loss.append(loss)
    progress.epochs_run = epoch + 1
    return loss


def validate(run: Run, validation: ValidationSet, best: BestCheckpoint, epoch: int, progress: Progress) -> float:
    """The validation loss after ``epoch``, recorded, and the state kept if it is the best."""
    loss = validation.loss(run.model, run.forward, run.scale, run.config.batch_size)
    progress.val_seen += validation.n
    progress.history.val_loss.append(loss)
    best.update(epoch, loss, run.model)
    return loss


def fit(
    model: nn.Module,
    data: TrainingData,
    targets_for: TargetSource,
    config: TrainConfig,
    standardization: Standardization | None = None,
) -> TrainResult:
    """Train ``model`` on the checked ``data`` with the targets ``targets_for(epoch)``: epochs of
    :func:`train_epoch`, each followed by :func:`validate` with a validation set, until
    ``config.epochs`` or early stopping; then load the best state (see
    :func:`~stochamort.amortize.train_amortizer` for the details and what is raised).
    ``standardization``: the ``(mean, std)`` the inputs in ``data`` were standardised with, for
    the returned amortizer to apply to new inputs (None: inputs are used as they are).
    """
    where = resolve_device(model, config.device, "TrainConfig.device")
    model.to(where)
    run = Run(model, config, where, float_dtype(model), data)
    validation = None
    if data.x_val is not None and data.targets_val is not None:
        validation = ValidationSet(data.x_val, data.targets_val, data.gaps_val, where)
    best = BestCheckpoint(config.patience)
    progress = Progress()
    resume = None if config.resume_path is None else Path(config.resume_path)
    fingerprint: dict[str, Any] = {}
    if resume is not None:
        labels = targets_for.labels if isinstance(targets_for, FixedLabels) else None
        fingerprint = run_fingerprint(config.settings(), model, {
            "inputs": [data.x, data.gaps], "labels": [labels],
            "validation inputs": [data.x_val, data.gaps_val], "validation labels": list(_validation_tensors(data)),
        })
    bar = tqdm(total=config.epochs, desc="amortizer", unit="epoch", disable=not config.progress or run.rank != 0, leave=False)
    try:
        with seeded(config.seed, where) as shuffle:
            first = 0
            if resume is not None and resume.exists():
                first = _resume(load_training_state(resume, fingerprint), run, progress, best, shuffle, where)
                bar.update(first)
            for epoch in range(first, config.epochs):
                if progress.stopped_early:
                    break
                targets = targets_for(epoch)
                order = torch.randperm(run.n, generator=shuffle)
                postfix = {"train": f"{train_epoch(run, data, targets, epoch, order, progress):.4g}"}
                if validation is not None:
                    postfix["val"] = f"{validate(run, validation, best, epoch, progress):.4g}"
                progress.history.seconds.append(time.perf_counter() - progress.began)
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                if best.exhausted(epoch):
                    progress.stopped_early = epoch + 1 < config.epochs
                if resume is not None and run.rank == 0:
                    save_training_state(resume, _snapshot(run, progress, best, shuffle, where, epoch + 1, fingerprint))
    finally:
        bar.close()
    if where.type == "cuda":
        torch.cuda.synchronize(where)
    seconds = time.perf_counter() - progress.began
    if validation is not None:
        best.restore(model)
    model.eval()
    return result(run, progress, best if validation is not None else None, seconds, standardization)


def _validation_tensors(data: TrainingData) -> list[Tensor]:
    """The stored validation labels, for the resume fingerprint (none for other targets)."""
    targets = data.targets_val
    return [targets.labels] if isinstance(targets, LabelTargets) else []


def _snapshot(
    run: Run, progress: Progress, best: BestCheckpoint, shuffle: torch.Generator, where: torch.device, next_epoch: int, fingerprint: dict[str, Any]
) -> dict[str, Any]:
    """Everything a resumed run needs to continue at ``next_epoch`` exactly as this one would."""
    return {
        "fingerprint": fingerprint,
        "next_epoch": next_epoch,
        "model": {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()},
        "optimizer": run.optimizer.state_dict(),
        "schedule": run.schedule.state_dict(),
        "scaler": None if run.scaler is None else run.scaler.state_dict(),
        "scale": run.scale,
        "history": progress.history.as_dict(),
        "epochs_run": progress.epochs_run,
        "val_seen": progress.val_seen,
        "stopped_early": progress.stopped_early,
        "best": best.state(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state(where) if where.type == "cuda" else None,
        "rng_shuffle": shuffle.get_state(),
    }


def _resume(state: dict[str, Any], run: Run, progress: Progress, best: BestCheckpoint, shuffle: torch.Generator, where: torch.device) -> int:
    """Load a :func:`_snapshot` into this run; returns the epoch to continue from."""
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.load_state_dict(state["schedule"])
    if run.scaler is not None and state["scaler"] is not None:
        run.scaler.load_state_dict(state["scaler"])
    run.scale = float(state["scale"])
    progress.history = TrainHistory(**state["history"])
    progress.epochs_run, progress.val_seen = int(state["epochs_run"]), int(state["val_seen"])
    progress.stopped_early = bool(state["stopped_early"])
    best.load_state(state["best"], where)
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] is not None and where.type == "cuda":
        torch.cuda.set_rng_state(state["rng_cuda"], where)
    shuffle.set_state(state["rng_shuffle"])
    return int(state["next_epoch"])


def result(
    run: Run, progress: Progress, best: BestCheckpoint | None, seconds: float, standardization: Standardization | None = None
) -> TrainResult:
    """The :class:`TrainResult` of a finished run (``best``: the checkpoint, None without a
    validation set, when the last epoch's state is kept; ``standardization``: the inputs'
    ``(mean, std)``, None without)."""
    config = run.config
    n_params = sum(p.numel() for p in run.model.parameters())
    per_sample = 6.0 * n_params if config.flops_per_sample is None else config.flops_per_sample
    samples, val_seen = progress.epochs_run * run.n, progress.val_seen
    return TrainResult(
        amortizer=Amortizer(
            run.model,
            target_scale=run.scale,
            efficiency=config.efficiency,
            input_mean=None if standardization is None else standardization[0],
            input_std=None if standardization is None else standardization[1],
        ),
        history=progress.history,
        best_epoch=progress.epochs_run - 1 if best is None else best.epoch,
        best_val_loss=None if best is None else best.loss,
        epochs_run=progress.epochs_run,
        stopped_early=progress.stopped_early,
        train_seconds=seconds,
        samples_processed=samples,
        val_samples_processed=val_seen,
        train_flops=per_sample * samples + per_sample / 3.0 * val_seen,
        flops_per_sample=per_sample,
        target_scale=run.scale,
        mixed_precision=run.amp_name,
        device=str(run.device),
        settings=config.settings(),
    )
