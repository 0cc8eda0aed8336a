"""Fuzzing the higher layers: every oracle of :mod:`stochamort.oracles` on small
:class:`~stochamort.games.FunctionGame` s, and every valuation oracle of
:mod:`stochamort.valuation` on :class:`~stochamort.valuation.FunctionUtility` s, with hostile
settings (budgets as bools, floats, strings, None, negatives, numpy scalars, 10**12, 2**70),
hostile games (NaN, infinity, values whose differences overflow, wrong shapes and dtypes, one
player, no points), and hostile ``seed``, ``point_offset`` and ``progress``.

The outcome rule is the bottom layer's (tests/fuzz/test_fuzz_core.py): a result or a
:class:`~stochamort.errors.StochamortError` whose message starts with an argument's name; never
another exception, never the core's "internal error", never a crash. The memory limit is lowered
to 64 MiB, so that requests for huge outputs are refused rather than allocated.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stochamort import oracles, valuation
from stochamort.games import FunctionGame
from stochamort.oracles import StoppingRule
from stochamort.valuation import FunctionUtility, ValuationStopping
from tests.fuzz.outcomes import MINUTES, classify, small_memory_limit
from tests.fuzz.strategies import HUGE, scalars

ORACLES: dict[str, type[Any]] = {
    name: getattr(oracles, name)
    for name in oracles.__all__
    if inspect.isclass(getattr(oracles, name))
    and issubclass(getattr(oracles, name), oracles.Oracle)
    and not inspect.isabstract(getattr(oracles, name))
}
VALUERS: dict[str, type[Any]] = {
    name: getattr(valuation, name)
    for name in valuation.oracles.__all__
    if inspect.isclass(getattr(valuation, name)) and not inspect.isabstract(getattr(valuation, name))
}
#: Share of the long run each test gets (the label store and huge-size tests take the rest).
SHARE = 0.75
OUTCOMES: Counter[str] = Counter()


@pytest.fixture(autouse=True, scope="module")
def memory_limit() -> Iterator[None]:
    with small_memory_limit(OUTCOMES, " (oracles)"):
        yield


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------

JUNK = [None, True, False, np.True_, -1, 0, 2.5, float("nan"), float("inf"), "64", "", b"x", [[1, 2], [3]], 2**70, 10**12]
FLAGS = [True, False, np.True_, np.False_, None, 0, 1, 2, "yes", 2.5, np.array([True, False]), [1], object()]


def _mostly(valid: st.SearchStrategy[Any], *junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` about nine times in ten, else one of ``junk``: each example has many settings, and
    most of them must be valid for the example to get past the first check. (A die rather than
    ``one_of``, whose branches hypothesis explores evenly; shrinking goes to the valid side.)"""
    return st.integers(0, 9).flatmap(lambda face: st.one_of(*junk) if face == 7 else valid)


def _count(low: int, high: int) -> st.SearchStrategy[Any]:
    """Sizes: usually small valid ones, often junk (numpy ints, huge, negative, wrong types)."""
    return _mostly(
        st.integers(low, high),
        st.sampled_from([np.int64(high), np.uint8(low + 1), np.uint64(2**64 - 1), np.int16(-3)] + HUGE + JUNK),
    )


def _real(valid: list[float]) -> st.SearchStrategy[Any]:
    return _mostly(
        st.sampled_from(valid),
        st.sampled_from([0.0, -1.0, 1e308, 1e-300, float("nan"), float("inf"), -float("inf"), np.float32(0.5), np.float64(2.0), 2**70]),
        scalars(),
    )


def _budget() -> st.SearchStrategy[Any]:
    return _mostly(
        st.integers(1, 120),
        st.sampled_from([0, -1, -(2**63), True, False, 2.0, 2.5, "64", None, float("nan"), np.int64(40), np.uint8(30),
                         np.uint64(2**64 - 1), np.int16(-5), np.float64(40.0), 10**12, 2**31, 2**63, 2**64, 2**70]),
    )


@st.composite
def stopping_rules(draw: st.DrawFn, cls: type[Any], fits: str, replicates: str) -> Any:
    """None, junk, or the keyword arguments of a stopping rule (built inside the call: its
    constructor's refusals count as outcomes too)."""
    kind = draw(st.sampled_from(["none", "none", "none", "rule", "rule", "junk"]))
    if kind == "none":
        return None
    if kind == "junk":
        return draw(st.sampled_from(["stop", 3, {"target_std_error": 1.0}, object()]))
    target = draw(st.sampled_from([None, None, 1e-3, 1.0, 1e-300, 0.0, -1.0, float("nan"), float("inf"), "x", True, np.float64(0.1)]))
    # A huge cap is spent in full where a target is given (it may never be met on a noisy game)
    # and by ValuationStopping without one: an endless run the caller asked for, so caps stay small
    # there; only an oracle's StoppingRule without a target (one round) meets a huge one.
    small = [None, 1, 2, 10, 40, 200]
    huge_ok = target is None and cls is StoppingRule
    cap = draw(st.sampled_from(small + [0, -1, True, 2.5, "x", np.int64(50)] + ([2**70] if huge_ok else [])))
    kwargs: dict[str, Any] = {"target_std_error": target, fits: cap}
    if draw(st.booleans()):
        kwargs[replicates] = draw(st.sampled_from([1, 2, 10, 0, -1, True, 2.5, None, np.uint8(3), 2**70]))
    return (cls, kwargs)


def build_stopping(value: Any) -> Any:
    if isinstance(value, tuple):
        cls, kwargs = value
        return cls(**kwargs)
    return value


FIELD_STRATEGIES: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "budget": _budget,
    "antithetic": lambda: _mostly(st.booleans(), st.sampled_from(FLAGS)),
    "paired": lambda: _mostly(st.sampled_from([True, False, None]), st.sampled_from(FLAGS)),
    "sampling": lambda: _mostly(st.sampled_from(["design", "iid"]), st.sampled_from(["x", "", None, 1, b"iid"])),
    "kind": lambda: _mostly(st.sampled_from(["shapley", "banzhaf", "beta"]), st.sampled_from(["leverage", "x", "", None, 3, b"shapley"])),
    "alpha": lambda: _real([1.0, 2.0, 16.0, 0.5]),
    "beta": lambda: _real([1.0, 2.0, 0.5]),
    "ridge": lambda: _real([1e-3, 1.0]),
    "kernel_width": lambda: _real([0.25, 1.0]),
    "step_size": lambda: st.one_of(st.none(), st.none(), _real([0.1, 1.0])),
    "batch_size": lambda: _count(1, 4),
    "replicates": lambda: _count(1, 5),
    "folds": lambda: st.one_of(st.none(), _count(1, 6)),
    "degree": lambda: st.one_of(st.none(), _count(0, 3)),
    "order": lambda: _count(0, 4),
    "max_terms": lambda: st.one_of(st.none(), _count(0, 40)),
    # valuation oracles
    "n_permutations": lambda: _count(1, 8),
    "n_samples": lambda: _count(1, 40),
    "n_contributions": lambda: _count(1, 6),
    "min_cardinality": lambda: _count(0, 4),
    "block_size": lambda: st.one_of(st.none(), _count(1, 4)),
    "truncation_tolerance": lambda: st.one_of(st.none(), _real([0.0, 0.01, 0.5])),
    # Sizes of multisets: the core draws every element, so a size of 10**9 takes many seconds
    # (see the report); huge ones are kept to min_size, where they are refused against max_size.
    "min_size": lambda: _mostly(st.integers(0, 6), st.sampled_from([-1, True, 2.5, None, "3", np.int64(2), 2**70])),
    "max_size": lambda: _mostly(st.integers(0, 8), st.sampled_from([-1, True, 2.5, None, "3", np.uint8(4)])),
}


def _field(draw: st.DrawFn, field: dataclasses.Field[Any], stopping: st.SearchStrategy[Any]) -> Any:
    if field.name == "stopping":
        return draw(stopping, label="stopping")
    strategy = FIELD_STRATEGIES.get(field.name)
    return draw(strategy() if strategy is not None else scalars(), label=field.name)


@st.composite
def oracle_settings(draw: st.DrawFn, cls: type[Any], stopping: st.SearchStrategy[Any]) -> dict[str, Any]:
    """Keyword arguments for ``cls``: every required field, some optional ones."""
    kwargs = {}
    for field in dataclasses.fields(cls):
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if required or draw(st.booleans()):
            kwargs[field.name] = _field(draw, field, stopping)
    return kwargs


# ---------------------------------------------------------------------------------------------
# Games and utilities
# ---------------------------------------------------------------------------------------------

#: What a game's function returns (see hostile_values; the first four are well-behaved games).
GAME_VALUES = ["additive", "additive", "interaction", "interaction", "nan", "inf", "huge", "overflow", "tiny",
               "ints", "bools", "float32", "objects", "list", "short", "long", "flat", "scalar", "none",
               "strings", "complex", "ragged"]


def hostile_values(kind: str, base: np.ndarray, rng: np.random.Generator) -> Any:
    """``base`` as a user's function might return it instead: with NaN or inf, huge, of another
    dtype or container, or not numbers at all; ``base`` itself for any other ``kind``."""
    if kind in ("nan", "inf"):
        out = base.copy()
        if out.size:
            out.flat[int(rng.integers(out.size))] = np.nan if kind == "nan" else -np.inf
        return out
    conversions: dict[str, Callable[[], Any]] = {
        "huge": lambda: base * 1e307,
        "ints": lambda: base.astype(np.int64),
        "bools": lambda: base > 1,
        "float32": lambda: base.astype(np.float32),
        "objects": lambda: base.astype(object),
        "list": lambda: base.tolist(),
        "scalar": lambda: 0.5,
        "none": lambda: None,
        "strings": lambda: np.full(base.shape, "a"),
        "complex": lambda: base + 1j,
        "ragged": lambda: [[1.0, 2.0], [3.0]],
    }
    with np.errstate(over="ignore"):  # huge values may overflow to inf: that is the point
        return conversions[kind]() if kind in conversions else base


def game_function(kind: str, n_outputs: int, seed: int) -> Callable[[Any, Any], Any]:
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=n_outputs)

    def fn(masks: Any, points: Any) -> Any:
        size = masks.sum(axis=2, keepdims=True).astype(np.float64)
        first = masks[..., :1].astype(np.float64)
        base = size * weights + (points[:, None, None] % 3)
        if kind == "interaction":
            return base + 3.0 * first * (size - first) ** 2 * weights + rng.normal(size=base.shape) * 0.1
        if kind == "overflow":  # ±1e308 by parity: every difference is ±inf in float64
            return np.where(size % 2 == 1, 1e308, -1e308) * np.ones(n_outputs)
        if kind == "tiny":
            return base * 1e-310
        if kind == "short":
            return base[:, :-1]
        if kind == "long":
            return np.concatenate([base, base], axis=1)
        if kind == "flat":
            return base[..., 0]
        return hostile_values(kind, base, rng)

    return fn


@st.composite
def games(draw: st.DrawFn, values: list[str] = GAME_VALUES) -> tuple[str, int, Any, Any, Any]:
    """(what it returns, seed, n_points, n_players, n_outputs): the game is built in the call."""
    kind = draw(_mostly(st.sampled_from(values[:4]), st.sampled_from(values)), label="game values")
    n_points = draw(_mostly(st.sampled_from([1, 2, 3, 1, 2, 3, 0]), st.sampled_from([-1, True, 2.5, None, np.int64(2), 10**12, 2**70])))
    n_players = draw(_mostly(st.sampled_from([1, 2, 3, 4, 6, 2, 3, 4]), st.sampled_from([0, -1, np.uint8(3), 2**40, 10**12, 2.0])))
    n_outputs = draw(_mostly(st.sampled_from([1, 1, 2]), st.sampled_from([0, np.int64(2), 10**12])))
    return kind, draw(st.integers(0, 2**16)), n_points, n_players, n_outputs


def build_game(spec: tuple[str, int, Any, Any, Any]) -> FunctionGame:
    kind, seed, n_points, n_players, n_outputs = spec
    outputs = n_outputs if isinstance(n_outputs, (int, np.integer)) and 0 < n_outputs < 100 else 1
    return FunctionGame(game_function(kind, int(outputs), seed), n_points, n_players, n_outputs)


def call_options() -> st.SearchStrategy[dict[str, Any]]:
    seeds = _mostly(st.integers(0, 2**64 - 1), st.sampled_from([-1, 2**64, 2**70, True, np.uint64(2**64 - 1), np.int8(-1), 1.0, "0", None]))
    offsets = _mostly(st.integers(0, 100), st.sampled_from([-1, 2**63, 2**64 - 1, 2**64, True, np.int64(3), 1.5, None]))
    return st.fixed_dictionaries(
        {"progress": st.sampled_from([False] * 12 + FLAGS)}, optional={"seed": seeds, "point_offset": offsets}
    )


def valuation_options() -> st.SearchStrategy[dict[str, Any]]:
    seeds = _mostly(st.integers(0, 2**64 - 1), st.sampled_from([-1, 2**64, True, np.uint64(7), 1.0, "0", None]))
    return st.fixed_dictionaries({"progress": st.sampled_from([False] * 12 + FLAGS)}, optional={"seed": seeds})


UTILITY_VALUES = ["count", "count", "noisy", "noisy", "nan", "inf", "huge", "overflow", "ints", "bools", "objects",
                  "list", "short", "long", "column", "scalar", "none", "strings", "complex", "ragged"]


def utility_function(kind: str, seed: int) -> Callable[[Any], Any]:
    rng = np.random.default_rng(seed)

    def fn(counts: Any) -> Any:
        size = counts.sum(axis=1).astype(np.float64)
        base = np.sqrt(size) + counts[:, :1].sum(axis=1)
        if kind == "noisy":
            return base + rng.normal(size=base.shape)
        if kind == "overflow":
            return np.where(size % 2 == 1, 1e308, -1e308)
        if kind == "short":
            return base[:-1]
        if kind == "long":
            return np.concatenate([base, base])
        if kind == "column":
            return base[:, None]
        return hostile_values(kind, base, rng)

    return fn


@st.composite
def utilities(draw: st.DrawFn) -> tuple[str, int, Any, Any]:
    kind = draw(_mostly(st.sampled_from(UTILITY_VALUES[:4]), st.sampled_from(UTILITY_VALUES)), label="utility values")
    n_data = draw(_mostly(st.sampled_from([1, 2, 3, 5, 2, 3, 5, 0]), st.sampled_from([-1, True, 2.5, None, np.int64(4), 21, 2**40])))
    batch = draw(_mostly(st.sampled_from([None, None, 1, 3]), st.sampled_from([0, -1, 2.5, True, 2**70])))
    return kind, draw(st.integers(0, 2**16)), n_data, batch


def build_utility(spec: tuple[str, int, Any, Any]) -> FunctionUtility:
    kind, seed, n_data, batch = spec
    return FunctionUtility(utility_function(kind, seed), n_data, batch_size=batch)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def _profile(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=200 if MINUTES else examples, deadline=None, derandomize=not MINUTES,
        suppress_health_check=list(HealthCheck), database=None,
    )


def _run(check: Callable[[], None], share: float) -> None:
    deadline = time.monotonic() + MINUTES * 60 * share
    check()
    while time.monotonic() < deadline:
        check()


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_every_oracle_returns_or_raises_a_typed_error(name: str) -> None:
    cls = ORACLES[name]

    @_profile(30)
    @given(kwargs=oracle_settings(cls, stopping_rules(StoppingRule, "max_evaluations", "min_replicates")), game=games(), options=call_options())
    def check(kwargs: dict[str, Any], game: tuple[str, int, Any, Any, Any], options: dict[str, Any]) -> None:
        def call() -> None:
            settings_ = {k: build_stopping(v) if k == "stopping" else v for k, v in kwargs.items()}
            cls(**settings_)(build_game(game), **options)

        OUTCOMES[f"{name}: {classify(call)}"] += 1

    _run(check, SHARE / (len(ORACLES) + len(VALUERS) + 2))


@_profile(30)
@given(settings_=st.one_of(
    st.builds(lambda name, fields: {"oracle": name, **fields}, st.sampled_from(sorted(ORACLES) + ["Oracle", "os.system", ""]),
              st.dictionaries(st.sampled_from(["budget", "paired", "kind", "stopping", "order", "nope"]), st.one_of(scalars(), _budget()), max_size=3)),
    scalars(),
    st.dictionaries(st.text(max_size=3), scalars(), max_size=3),
))
def test_oracle_from_settings_returns_or_raises_a_typed_error(settings_: Any) -> None:
    OUTCOMES[f"oracle_from_settings: {classify(lambda: oracles.oracle_from_settings(settings_))}"] += 1


@pytest.mark.parametrize("name", sorted(VALUERS))
def test_every_valuation_oracle_returns_or_raises_a_typed_error(name: str) -> None:
    cls = VALUERS[name]

    @_profile(30)
    @given(kwargs=oracle_settings(cls, stopping_rules(ValuationStopping, "max_fits", "min_contributions")), utility=utilities(), options=valuation_options())
    def check(kwargs: dict[str, Any], utility: tuple[str, int, Any, Any], options: dict[str, Any]) -> None:
        def call() -> None:
            settings_ = {k: build_stopping(v) if k == "stopping" else v for k, v in kwargs.items()}
            cls(**settings_)(build_utility(utility), **options)

        OUTCOMES[f"{name}: {classify(call)}"] += 1

    _run(check, SHARE / (len(ORACLES) + len(VALUERS) + 2))


@_profile(30)
@given(
    kwargs=oracle_settings(valuation.DistributionalShapley, st.none()),
    utility=utilities(),
    points=st.one_of(st.just(np.arange(2)), st.sampled_from([np.array([-1]), np.array([0.5]), np.zeros((1, 1), int), np.array([10**6]), [0, 1], "0", None])),
    options=valuation_options(),
)
def test_distributional_values_of_some_points_return_or_raise_a_typed_error(
    kwargs: dict[str, Any], utility: tuple[str, int, Any, Any], points: Any, options: dict[str, Any]
) -> None:
    def call() -> None:
        valuation.DistributionalShapley(**kwargs).value_training_points(build_utility(utility), points, **options)

    OUTCOMES[f"DistributionalShapley.value_training_points: {classify(call)}"] += 1


@pytest.mark.parametrize("kind", ["strings", "complex", "ragged"])
@pytest.mark.parametrize("oracle", [oracles.KernelSHAP(budget=16), oracles.Permutation(budget=16), oracles.Exact()], ids=repr)
def test_games_returning_non_numbers_are_refused_by_name(oracle: Any, kind: str) -> None:
    """Found by this fuzzer (a game of 2 points and 3 players whose fn returns strings, complex
    numbers or a ragged list); FunctionUtility had the same defect. Both name fn now."""
    assert classify(lambda: oracle(build_game((kind, 0, 2, 3, 1)), progress=False)) == "InvalidDTypeError"
