"""Saving amortizers without pickle: architecture specs rebuild the default networks, bundles
round-trip bit for bit in a fresh process, and anything that does not fit is refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from stochamort._bundle import CONFIG_NAME, write_bundle
from stochamort.amortize import (
    Amortizer,
    GatedMLPAmortizer,
    MLPAmortizer,
    PatchAmortizer,
    TrainConfig,
    ViTBackbone,
    build_network,
    image_amortizer,
    train_amortizer,
)
from stochamort.errors import InvalidArgumentError, ModelMismatchError, SavedFileError
from tests.helpers.torch_models import torch_single_thread  # noqa: F401  (autouse fixture)

D = 5


def networks() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "mlp": MLPAmortizer(D, D, 2, hidden=(8, 6), activation="gelu", dropout=0.1, output_activation="tanh"),
        "gated": GatedMLPAmortizer(torch.linspace(-1, 1, D), 3, hidden=(8,), activation="silu"),
        "image": image_amortizer(2, (8, 12), (4, 4), 3, embed_dim=16, depth=1, heads=2, output_activation="tanh"),
        "vit": ViTBackbone(1, 6, 3, embed_dim=8, depth=2, heads=4, mlp_ratio=1.5),
    }


@pytest.mark.parametrize("name", ["mlp", "gated", "image", "vit"])
def test_spec_rebuilds_the_same_architecture(name: str) -> None:
    network = networks()[name]
    spec = network.spec()  # type: ignore[operator]
    assert json.loads(json.dumps(spec)) == spec  # JSON-native (lists, not tuples)
    rebuilt = build_network(json.loads(json.dumps(spec)))
    assert type(rebuilt) is type(network) and rebuilt.spec() == spec  # type: ignore[operator]
    shapes = {key: (tuple(t.shape), t.dtype) for key, t in network.state_dict().items()}
    assert {key: (tuple(t.shape), t.dtype) for key, t in rebuilt.state_dict().items()} == shapes


def test_building_leaves_the_global_generator_alone() -> None:
    spec = networks()["mlp"].spec()  # type: ignore[operator]
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    build_network(spec)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([1, 2], "spec: must be a mapping"),
        ({"hidden": [3]}, "spec: unknown architecture None"),
        ({"architecture": "ResNet"}, "spec: unknown architecture 'ResNet'"),
        ({"architecture": "MLPAmortizer", "n_features": 3}, "spec: fields that do not fit a MLPAmortizer"),
        ({"architecture": "MLPAmortizer", "n_features": 3, "n_players": 3, "depth": 2}, "spec: fields that do not fit"),
        ({"architecture": "MLPAmortizer", "n_features": 3, "n_players": 3, "hidden": [0]}, "spec: MLPAmortizer: hidden:"),
        ({"architecture": "GatedMLPAmortizer", "n_features": 0}, "spec: GatedMLPAmortizer: n_features:"),
        ({"architecture": "PatchAmortizer", "n_patches": 4, "n_outputs": 1, "embed_dim": 8}, "spec: a PatchAmortizer spec needs"),
        ({"architecture": "PatchAmortizer", "backbone": {}, "n_patches": 4, "n_outputs": 1, "embed_dim": 8, "x": 1}, "spec: unknown field"),
        ({"architecture": "ViTBackbone", "in_channels": 1, "image_size": [6, 6], "patch_size": 4}, "spec: ViTBackbone: patch_size:"),
    ],
)
def test_bad_specs_are_refused_naming_spec(spec: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"^{re.escape(message)}"):
        build_network(spec)


def test_networks_that_cannot_describe_themselves_say_so() -> None:
    class Tokens(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return x

    class Wider(MLPAmortizer):
        pass

    with pytest.raises(InvalidArgumentError, match=r"^backbone: a Tokens cannot be rebuilt from a spec.*network="):
        PatchAmortizer(Tokens(), 4, 2, 8).spec()
    with pytest.raises(InvalidArgumentError, match=r"^model: Wider subclasses MLPAmortizer.*network="):
        Wider(3, 3).spec()
    assert Amortizer(Wider(3, 3)).spec() == {"network": None, "network_class": Wider.__qualname__}


# --------------------------------------------------------------------------------------------
# Bundles


def trained_gated_with_standardisation() -> Amortizer:
    gen = np.random.default_rng(0)
    x = gen.normal(size=(96, D)) * np.array([1e-2, 1.0, 10.0, 1e2, 1e3]) + 50.0
    labels = gen.normal(size=(96, D, 3))
    torch.manual_seed(1)
    config = TrainConfig(epochs=2, batch_size=32, progress=False, standardize_inputs=True, target_scale="auto", efficiency=True)
    return train_amortizer(
        GatedMLPAmortizer(torch.zeros(D), 3, hidden=(8,)), x, labels, gaps_train=labels.sum(axis=1), config=config
    ).amortizer


LOAD_AND_PREDICT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    from stochamort.amortize import Amortizer

    torch.set_num_threads(1)
    root = sys.argv[1]
    for name in sys.argv[2:]:
        amortizer = Amortizer.load(f"{root}/{name}")
        assert not amortizer.training and amortizer.target_scale_value.device.type == "cpu"
        gaps = np.load(f"{root}/{name}-gaps.npy") if amortizer.efficiency else None
        np.save(f"{root}/{name}-loaded.npy", amortizer.predict(np.load(f"{root}/{name}-x.npy"), gaps))
    """
)


def test_save_and_load_in_a_fresh_process_predicts_bit_for_bit(tmp_path: Path) -> None:
    gen = np.random.default_rng(5)
    amortizers = {
        "mlp": (Amortizer(networks()["mlp"], target_scale=0.37).train(), gen.normal(size=(40, D))),
        "gated": (trained_gated_with_standardisation(), gen.normal(size=(40, D)) * 100.0),
        "image": (Amortizer(networks()["image"], target_scale=101.9), gen.normal(size=(6, 2, 8, 12)).astype(np.float32)),
    }
    expected = {}
    for name, (amortizer, x) in amortizers.items():
        assert amortizer.save(tmp_path / name) == tmp_path / name
        np.save(tmp_path / f"{name}-x.npy", x)
        gaps = gen.normal(size=(x.shape[0], 3))
        np.save(tmp_path / f"{name}-gaps.npy", gaps)
        expected[name] = amortizer.predict(x, gaps if amortizer.efficiency else None)
    assert amortizers["gated"][0].standardizes_inputs and amortizers["gated"][0].efficiency
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, str(tmp_path), *amortizers], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    for name in amortizers:
        assert np.array_equal(np.load(tmp_path / f"{name}-loaded.npy"), expected[name]), name
    # in process too: same state, eval mode, CPU
    loaded = Amortizer.load(tmp_path / "gated")
    original = amortizers["gated"][0]
    assert not loaded.training and loaded.target_scale == original.target_scale
    for key, value in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value.cpu()), key


def test_an_edited_config_is_refused(tmp_path: Path) -> None:
    Amortizer(networks()["mlp"]).save(tmp_path / "a")
    config = tmp_path / "a" / CONFIG_NAME
    text = config.read_text()
    assert '"hidden": [\n        8,' in text
    config.write_text(text.replace('"hidden": [\n        8,', '"hidden": [\n        9,'))
    with pytest.raises(SavedFileError, match="^path: .*was modified after it was saved"):
        Amortizer.load(tmp_path / "a")


def test_a_bundle_of_another_kind_is_refused(tmp_path: Path) -> None:
    write_bundle(tmp_path / "b", "AmortizedExplainer", {"spec": {"network": None}}, {"w": np.zeros(2)})
    with pytest.raises(SavedFileError, match="^path: .*holds a 'AmortizedExplainer', not a saved Amortizer"):
        Amortizer.load(tmp_path / "b")
    with pytest.raises(SavedFileError, match="^path: .*is not a saved Amortizer"):
        Amortizer.load(tmp_path / "nothing-here")


def test_arrays_that_do_not_fit_the_spec_are_refused_listing_every_problem() -> None:
    amortizer = Amortizer(networks()["mlp"])
    spec, arrays = amortizer.spec(), amortizer.state_arrays()
    wider = json.loads(json.dumps(spec))
    wider["network"]["hidden"] = [9, 6]
    with pytest.raises(SavedFileError, match=r"^arrays: .*model\.net\.0\.weight has shape \(8, 5\), the network expects \(9, 5\)"):
        Amortizer.from_arrays(wider, arrays)
    broken = dict(arrays)
    del broken["target_scale_value"]
    broken["extra"] = np.zeros(1)
    broken["efficiency_flag"] = np.array(1.0)
    with pytest.raises(SavedFileError) as info:
        Amortizer.from_arrays(spec, broken)
    message = str(info.value)
    assert message.startswith("arrays: ")
    for part in ("missing target_scale_value", "unexpected extra", "efficiency_flag has dtype torch.float64"):
        assert part in message, message


def test_weights_of_one_dtype_load_into_that_dtype() -> None:
    for dtype in (torch.float64, torch.float16):
        original = Amortizer(networks()["mlp"].to(dtype), target_scale=3.0)
        arrays = original.state_arrays()
        assert arrays["model.net.0.weight"].dtype == {torch.float64: np.float64, torch.float16: np.float16}[dtype]
        loaded = Amortizer.from_arrays(original.spec(), arrays)
        assert loaded.model.net[0].weight.dtype == dtype and loaded.target_scale_value.dtype == torch.float64
    with pytest.raises(InvalidArgumentError, match=r"^model: 'model\.net\.0\.weight' is bfloat16"):
        Amortizer(networks()["mlp"].to(torch.bfloat16)).state_arrays()


def test_state_arrays_are_copies() -> None:
    amortizer = Amortizer(networks()["mlp"])
    arrays = amortizer.state_arrays()
    before = arrays["model.net.0.weight"].copy()
    with torch.no_grad():
        amortizer.model.net[0].weight.add_(1.0)
    assert np.array_equal(arrays["model.net.0.weight"], before) and arrays["model.net.0.weight"].flags.c_contiguous


def test_a_custom_network_saves_and_loads_with_its_instance(tmp_path: Path) -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(3, 8)

        def forward(self, x: Tensor) -> Tensor:
            return self.embed(x)

    def network(seed: int) -> PatchAmortizer:
        torch.manual_seed(seed)
        return PatchAmortizer(Tokens(), 4, 2, 8)

    x = np.random.default_rng(0).normal(size=(5, 4, 3))
    saved = Amortizer(network(0), target_scale=2.0)
    saved.save(tmp_path / "c")
    with pytest.raises(InvalidArgumentError, match=r"^network: this amortizer's network \(PatchAmortizer\) cannot be rebuilt"):
        Amortizer.load(tmp_path / "c")
    assert np.array_equal(Amortizer.load(tmp_path / "c", network=network(1)).predict(x), saved.predict(x))
    # an instance whose own spec differs from the saved one is refused, not silently loaded
    Amortizer(networks()["mlp"]).save(tmp_path / "m")
    other = MLPAmortizer(D, D, 2, hidden=(8, 6), activation="relu", dropout=0.1, output_activation="tanh")
    with pytest.raises(ModelMismatchError, match="^network: its spec"):
        Amortizer.load(tmp_path / "m", network=other)


def test_arrays_read_back_from_any_bundle_load_with_their_0d_entries_as_1_element_arrays() -> None:
    """Bundles store 0-d arrays (the scale, the flag) as shape (1,); from_arrays reads them back
    as 0-d, and nothing else is reshaped."""
    amortizer = Amortizer(networks()["mlp"], target_scale=7.5, efficiency=True)
    arrays = {key: value.reshape(1) if value.ndim == 0 else value for key, value in amortizer.state_arrays().items()}
    loaded = Amortizer.from_arrays(amortizer.spec(), arrays)
    assert loaded.target_scale == 7.5 and loaded.efficiency and loaded.target_scale_value.shape == ()
    arrays["model.net.0.bias"] = arrays["model.net.0.bias"][:1]
    with pytest.raises(SavedFileError, match=r"model\.net\.0\.bias has shape \(1,\)"):
        Amortizer.from_arrays(amortizer.spec(), arrays)


def test_saving_over_a_bundle_needs_overwrite(tmp_path: Path) -> None:
    """A second save to the same path would silently replace the first model: it must be asked for."""
    first, second = Amortizer(networks()["mlp"]), Amortizer(networks()["mlp"], target_scale=2.0)
    first.save(tmp_path / "a")
    with pytest.raises(InvalidArgumentError, match="^path: .* already holds a saved bundle; pass overwrite=True"):
        second.save(tmp_path / "a")
    assert Amortizer.load(tmp_path / "a").target_scale == 1.0  # the first is untouched
    second.save(tmp_path / "a", overwrite=True)
    assert Amortizer.load(tmp_path / "a").target_scale == 2.0
    with pytest.raises(InvalidArgumentError, match="^overwrite"):
        first.save(tmp_path / "a", overwrite="yes")  # type: ignore[arg-type]
    (tmp_path / "empty").mkdir()
    first.save(tmp_path / "empty")  # an empty directory is fine
