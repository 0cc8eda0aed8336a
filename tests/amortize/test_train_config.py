"""TrainConfig: validation naming the field, JSON provenance, frozen and hashable; and the trainer
reproducing, bit for bit, runs recorded with the trainer as it was before TrainConfig existed.

The recorded runs (``STORED``, ``EARLY_STOP``, ``ONLINE``, ``VALUES`` below) were made with the
keyword API of commit aeffeb1 (``train_amortizer(..., epochs=6, batch_size=8, ...)``), with the
seeds and settings that the tests below pass as a TrainConfig, on CPU with one torch thread
(torch 2.15.0, CPU capability AVX2). They are compared exactly (``==`` on Python floats) when torch
and the CPU capability are those; elsewhere kernels may sum in another order, and they are
compared to 1e-9 relative (float64 models) instead.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from torch import Tensor

from stochamort.amortize import MLPAmortizer, TrainConfig, TrainResult, train_amortizer, train_amortizer_online
from stochamort.errors import InvalidArgumentError
from stochamort.valuation import VALUE_NETWORK_CONFIG, amortize_data_values
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture: one torch thread)

# --------------------------------------------------------------------------------------------
# The config itself

BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"efficiency": 1}, "efficiency"),
    ({"progress": "yes"}, "progress"),
    ({"standardize_inputs": 1}, "standardize_inputs"),
    ({"target_scale": 0.0}, "target_scale"),
    ({"target_scale": -2}, "target_scale"),
    ({"target_scale": math.inf}, "target_scale"),
    ({"target_scale": "big"}, "target_scale"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"lr": -1}, "lr"),
    ({"lr": 0.0}, "lr"),
    ({"lr": math.nan}, "lr"),
    ({"lr": "0.1"}, "lr"),
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"warmup_epochs": -1}, "warmup_epochs"),
    ({"warmup_epochs": 5, "epochs": 5}, "warmup_epochs"),
    ({"final_lr_ratio": 1.5}, "final_lr_ratio"),
    ({"final_lr_ratio": -0.1}, "final_lr_ratio"),
    ({"max_grad_norm": 0.0}, "max_grad_norm"),
    ({"patience": 0}, "patience"),
    ({"device": "gpu-please"}, "device"),
    ({"device": True}, "device"),
    ({"mixed_precision": "fp8"}, "mixed_precision"),
    ({"mixed_precision": True}, "mixed_precision"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**63}, "seed"),
    ({"seed": 1.0}, "seed"),
    ({"flops_per_sample": -1.0}, "flops_per_sample"),
]


@pytest.mark.parametrize(("settings", "name"), BAD_FIELDS, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD_FIELDS)])
def test_bad_settings_raise_naming_the_field(settings: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"^{re.escape(f'TrainConfig.{name}:')}"):
        TrainConfig(**settings)
    # replace validates as well
    with pytest.raises(InvalidArgumentError, match=f"^{re.escape(f'TrainConfig.{name}:')}"):
        TrainConfig().replace(**settings)


def test_message_names_field_and_value() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        TrainConfig(lr=-1)
    assert str(info.value) == "TrainConfig.lr: must be a positive finite number, got -1"


def test_defaults_are_the_trainers() -> None:
    config = TrainConfig()
    assert config.settings() == {
        "efficiency": False,
        "target_scale": 1.0,
        "standardize_inputs": False,
        "epochs": 100,
        "batch_size": 256,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "warmup_epochs": 0,
        "final_lr_ratio": 0.01,
        "max_grad_norm": None,
        "patience": None,
        "device": None,
        "mixed_precision": "auto",
        "seed": 0,
        "flops_per_sample": None,
        "progress": True,
        "resume_path": None,
    }
    assert VALUE_NETWORK_CONFIG == TrainConfig(epochs=50, batch_size=128, lr=5e-4, target_scale="auto")


def test_settings_round_trip_through_json() -> None:
    config = TrainConfig(
        efficiency=True, target_scale="auto", epochs=7, batch_size=np.int64(32), lr=np.float32(0.5), weight_decay=0,
        warmup_epochs=2, final_lr_ratio=1, max_grad_norm=3, patience=2, device=torch.device("cpu"),
        mixed_precision=None, seed=np.uint64(12), flops_per_sample=100, progress=False, standardize_inputs=np.bool_(True),
    )
    text = json.dumps(config.settings())
    again = TrainConfig.from_settings(json.loads(text))
    assert again == config and hash(again) == hash(config)
    assert json.loads(text) == config.settings()
    # numbers are plain Python numbers, the device its string
    assert type(config.batch_size) is int and type(config.seed) is int and type(config.lr) is float
    assert type(config.weight_decay) is float and config.device == "cpu"
    assert TrainConfig(mixed_precision=False).mixed_precision is None
    assert TrainConfig.from_settings({"epochs": 3}) == TrainConfig(epochs=3)
    with pytest.raises(InvalidArgumentError, match="^TrainConfig: unknown setting.*'epoch'"):
        TrainConfig.from_settings({"epoch": 3})


def test_config_is_frozen_hashable_and_replaced_not_changed() -> None:
    config = TrainConfig(epochs=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 6  # type: ignore[misc]
    assert hash(config) == hash(TrainConfig(epochs=5)) and config == TrainConfig(epochs=np.int64(5))
    assert len({config, TrainConfig(epochs=5), TrainConfig(epochs=6)}) == 2
    longer = config.replace(epochs=10)
    assert longer.epochs == 10 and config.epochs == 5
    assert dataclasses.replace(config, epochs=10) == longer
    assert TrainConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(TypeError):
        config.replace(epoch=3)
    with pytest.raises(TypeError):
        TrainConfig(5)  # type: ignore[misc]  # keyword-only


def test_the_result_records_the_settings() -> None:
    gen = torch.Generator().manual_seed(0)
    x, labels = torch.randn(12, 3, generator=gen), torch.randn(12, 3, 1, generator=gen)
    config = TrainConfig(epochs=2, batch_size=4, seed=5, progress=False)
    torch.manual_seed(0)
    result = train_amortizer(MLPAmortizer(3, 3, 1, hidden=(4,)), x, labels, config=config)
    assert result.settings == config.settings() and TrainConfig.from_settings(result.settings) == config
    json.dumps(result.settings)


# --------------------------------------------------------------------------------------------
# Bit-for-bit: the refactored trainer reproduces runs recorded before the refactoring (on the
# recording's torch build and CPU kernels; elsewhere to within their rounding, see `same`)

D, O = 4, 2
EXACT = torch.__version__ == "2.15.0+cu132" and torch.backends.cpu.get_cpu_capability() == "AVX2"


def data() -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(60, D, generator=g, dtype=torch.float64)
    labels = torch.randn(60, D, O, generator=g, dtype=torch.float64) + x[:, :, None]
    gaps = labels.sum(dim=1) + 0.1 * torch.randn(60, O, generator=g, dtype=torch.float64)
    return x, labels, gaps


def net() -> MLPAmortizer:
    torch.manual_seed(5)
    return MLPAmortizer(D, D, O, hidden=(16, 16), dropout=0.1).double()


def summary(r: TrainResult, xq: Tensor, gq: Tensor | None = None) -> dict[str, Any]:
    return {
        "train_loss": r.history.train_loss, "val_loss": r.history.val_loss, "lr": r.history.lr,
        "best_epoch": r.best_epoch, "best_val_loss": r.best_val_loss, "epochs_run": r.epochs_run,
        "stopped_early": r.stopped_early, "target_scale": r.target_scale,
        "predictions": r.predict(xq, gq).ravel().tolist(),
    }


def same(got: dict[str, Any], recorded: dict[str, Any]) -> None:
    if EXACT:
        assert got == recorded
        return
    assert got.keys() == recorded.keys()
    for key, value in recorded.items():
        if isinstance(value, (list, float)):
            expected = np.asarray(value, dtype=float)
            # Other CPU kernels (AVX-512 vs AVX2) round differently, and training carries that
            # through every step: ~1e-7 of the largest value, where a change of logic is O(1).
            atol = 1e-6 * float(np.abs(expected).max(initial=0.0))
            np.testing.assert_allclose(np.asarray(got[key], dtype=float), expected, rtol=1e-9, atol=atol, err_msg=key)
        else:
            assert got[key] == value, key


STORED = {'train_loss': [13.04485434978831, 12.11007002450108, 11.548119085758692, 11.014792562154032,
    10.556967044301661, 10.525153991124053], 'val_loss': [11.85211535356774, 11.635950853769401, 11.504191344437805,
    11.297385503922014, 11.136297267685919, 11.058751177548121], 'lr': [0.002, 0.01, 0.009070090031310558,
    0.006664685702961344, 0.003777924554357096, 0.0016028856829700259], 'best_epoch': 5, 'best_val_loss':
    11.058751177548121, 'epochs_run': 6, 'stopped_early': False, 'target_scale': 0.6954462856058069, 'predictions':
    [-0.8305874892559182, 0.22429901420702686, -1.586288584062195, -0.34293298893643115, -1.1301735635329564,
    -0.4347902004713254, -1.568638991033302, -0.3072243678216844, -0.019415127161593382, -0.010088625342897103,
    -0.5599443493433167, -0.05814070845923976, -0.23900654126288293, -0.29281134293034466, -0.5337736122950826,
    -0.10989866331531643, 0.5339036038886258, 1.2495959796593747, -0.45418805550867836, 0.4617976802879419,
    0.6111526678807875, 0.3718706061668735, 0.017740266191659915, 0.645470987043398]}

EARLY_STOP = {'train_loss': [15.157721398642645, 13.689704498746318, 12.402978140134039], 'val_loss':
    [14.954862271583664, 15.19931771215876, 16.29191085367937], 'lr': [0.03, 0.03, 0.03], 'best_epoch': 0,
    'best_val_loss': 14.954862271583664, 'epochs_run': 3, 'stopped_early': True, 'target_scale': 1.0, 'predictions':
    [-0.018961862839356296, -0.00010969382743764022, -0.2404503159017867, -0.17279296872719502, -0.03557622970276422,
    -0.19784376091977787, -0.19179578123479551, -0.22343498863685513, -0.012038178221592366, -0.06281640812852977,
    -0.24742449281434883, -0.21620323570610994, -0.03131223242392692, -0.20161256089990065, -0.2081283390176596,
    -0.2530026971379501, -0.04444145708622258, 0.019440483710158787, -0.28352607678737973, -0.2694116313068675,
    0.0542946036502866, -0.2787357149069234, -0.20378241445216871, -0.2245498381379744], 'train_flops': 322.0}

ONLINE = {'train_loss': [26.378606281495404, 25.640708153249342, 25.468447059170416], 'val_loss': [16.04776320269656,
    15.776369445759808, 15.74534669298888], 'lr': [0.005, 0.003472141495103597, 0.0007749107165632951], 'best_epoch': 2,
    'best_val_loss': 15.74534669298888, 'epochs_run': 3, 'stopped_early': False, 'target_scale': 0.5, 'predictions':
    [-0.01800465642358337, 0.09056976051808274, -0.6430040300368274, -0.24717097358014692, 0.2815233054466294,
    -0.1309602430711131, -0.12108854562729039, -0.6301240571579169, 0.13722016435886636, -0.08801527303413163,
    -0.5154086746454947, -0.3890480623885703, 0.17803817646096676, -0.20738612377499577, -0.13066210337660505,
    -0.6351081106491051, 0.0853454035148039, -0.11469312598013869, -0.7125690356600123, -0.3690573503621536,
    0.1443918599187474, -0.08031727074007533, -0.16461461055898527, -0.7578066617993795]}

VALUES = {'train_loss': [9.553925628749387e-05, 9.549297071727314e-05, 9.546953232003449e-05], 'val_loss':
    [6.378910094865821e-05, 6.386405988295071e-05, 6.38655541415169e-05], 'best_epoch': 0, 'target_scale':
    102.30788114742269, 'train_flops': 162720.0, 'predictions': [-1.2193398304265575e-05, 5.077582574459218e-06,
    7.145664344402361e-06, 7.334104952837689e-06]}


def test_stored_labels_reproduce_the_recorded_run() -> None:
    """Efficiency, 'auto' scale, warm-up, clipping, dropout, weight decay, patience, checkpoint."""
    x, labels, gaps = data()
    config = TrainConfig(
        efficiency=True, target_scale="auto", epochs=6, batch_size=8, lr=1e-2, weight_decay=0.05, warmup_epochs=1,
        final_lr_ratio=0.1, max_grad_norm=1.0, patience=2, seed=3, progress=False,
    )
    result = train_amortizer(
        net(), x[:40], labels[:40], x_val=x[40:50], labels_val=labels[40:50], gaps_train=gaps[:40], gaps_val=gaps[40:50],
        config=config,
    )
    same(summary(result, x[50:53], gaps[50:53]), STORED)


def test_early_stopping_reproduces_the_recorded_run() -> None:
    """Stopped early, the best state (epoch 0) restored; fixed FLOPs per sample."""
    x, labels, _ = data()
    config = TrainConfig(
        epochs=12, batch_size=4, lr=3e-2, weight_decay=0.0, final_lr_ratio=1.0, patience=2, mixed_precision=None,
        seed=1, progress=False, flops_per_sample=7.0,
    )
    result = train_amortizer(net(), x[:12], labels[:12], x_val=x[40:50], labels_val=labels[40:50], config=config)
    got = summary(result, x[50:53])
    got["train_flops"] = result.train_flops
    same(got, EARLY_STOP)


def test_online_labels_reproduce_the_recorded_run() -> None:
    x, labels, _ = data()

    def label_fn(indices: NDArray[np.int64], epoch: int) -> NDArray[np.float64]:
        g = np.random.default_rng([epoch, int(indices[0])])
        return labels[indices].numpy() + g.normal(size=(len(indices), D, O))

    config = TrainConfig(target_scale=0.5, epochs=3, batch_size=16, lr=5e-3, seed=9, progress=False)
    result = train_amortizer_online(
        net(), x[:40], label_fn, label_chunk_size=16, x_val=x[40:50], labels_val=labels[40:50], config=config
    )
    same(summary(result, x[50:53]), ONLINE)


def test_value_network_reproduces_the_recorded_run() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    values = rng.normal(size=50) * 0.01
    config = VALUE_NETWORK_CONFIG.replace(epochs=3, seed=4, progress=False)
    amortizer = amortize_data_values(x, y, values, hidden=(8, 8), pretrain_epochs=2, standardize_features=False, config=config)
    training = amortizer.training
    got = {
        "train_loss": training.history.train_loss, "val_loss": training.history.val_loss,
        "best_epoch": training.best_epoch, "target_scale": training.target_scale,
        "train_flops": amortizer.train_flops, "predictions": amortizer.predict(x[:4], y[:4]).tolist(),
    }
    same(got, VALUES)
