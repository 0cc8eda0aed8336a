"""The peers of the accuracy benchmark, run in the peer environment (Python >= 3.12, shapiq 1.8, shap).

A worker, started as ``python _accuracy_peers.py --worker GAMES.npz`` by ``_accuracy_peer_env.py``;
it never imports stochamort. ``GAMES.npz`` holds each game's parameters (``d12/x``, ``d12/w1``, ...;
see :meth:`MLPGame.arrays`). Protocol (lines; importing shapiq and shap takes seconds, so a worker
serves many jobs): the worker prints ``@@LIST {json}`` (the peers it can run, versions, notes), then
reads requests ``{"jobs": [...], "out": path}`` from stdin, one per line, with jobs ``{"peer", "d",
"budgets", "min_points", "max_points", "seconds", "call_timeout", "seed"}``, writes the results to
``out`` and prints ``@@DONE``. Other lines it prints are progress.

Peers (shapiq 1.8.0's ``shapiq.approximator.SV_APPROXIMATORS``, each called as
``cls(n=d, **settings, random_state=seed + point).approximate(budget=b, game=v_p)`` and read with
``get_n_order_values(1)``), with the settings used:

* ``KernelSHAP(pairing_trick=True)`` and ``KernelSHAP(pairing_trick=False)`` (its default);
* ``UnbiasedKernelSHAP()`` — unbiased (Covert & Lee 2021; SHAP-IQ of Fumagalli et al. 2023);
* ``kADDSHAP(max_order=2)``; ``LeverageSHAP()`` (paired, deterministic size counts);
* ``PermutationSamplingSV()`` — unbiased (Castro et al. 2009);
* ``SVARM(index="SV")`` — shapiq's SVARM stratifies by coalition size and intersection, i.e. it is
  *Stratified SVARM* (Kolpaczki et al. 2024), unbiased; ``SVARMIQ(max_order=1)`` is the same
  algorithm and is not run twice;
* ``StratifiedSamplingSV()`` — unbiased stratified marginal contributions (Maleki et al. 2013);
* ``OwenSamplingSV(n_anchor_points=10)`` — biased (quadrature over 10 anchor points; Okhrati &
  Lipani 2021);
* ``RegressionMSR(index="SV")`` — xgboost proxy plus MSR adjustment (Witter et al. 2025), unbiased
  per its paper when the proxy is independent of the samples; shapiq's default ``k_folds=1``
  adjusts in-sample, so it is marked unbiased with that caveat;
* ``PolySHAP()`` (2-additive frontier), ``OddSHAP()`` (lightgbm screening), ``ProxySPEX(index="SV",
  max_order=1, hpo=False)`` (lightgbm proxy; its default grid search costs minutes per point),
  all biased (consistent regressions); ``SPEX`` is not run (it refuses B ≤ 256 at these d and its
  first call compiles numba code for minutes);
* ``ShaplEIG`` needs torch and gpytorch (not installed: reported as skipped);
* any other class in ``SV_APPROXIMATORS`` is tried as ``cls(n=d, random_state=...)`` with a note.

And ``shap.KernelExplainer(v, zeros((1, d)))`` explaining ``ones(d)`` with ``nsamples=b,
l1_reg=False`` (its masked inputs are then exactly the coalition vectors).

Budgets: every call goes through a counter in the game. On the first point the budget argument
``b`` starts at B; if the call spent more than B evaluations, ``b`` is lowered in proportion (at
most 4 tries) and the last ``b`` is used for every point. Time: the first point runs the budgets
in increasing order while the job has spent less than ``seconds``; then as many points as fit in
``seconds`` at the first point's cost (between ``min_points`` and ``max_points``) run, and the job
stops once it has taken ``min_points × seconds``. A call over ``call_timeout`` seconds is
interrupted (SIGALRM) and larger budgets are skipped.
Threads: set ``OMP_NUM_THREADS=1`` (the caller does) so each worker uses one core.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _accuracy_game import MLPGame  # noqa: E402

__all__ = ["peer_specs", "run_job", "main", "PROTOCOL", "PROGRESS"]

#: Prefix of the lines of the worker protocol (other output lines are progress).
PROTOCOL = "@@"
#: Prefix of the worker's progress lines.
PROGRESS = "  peer "

#: shapiq class name -> [(label, constructor settings)] ; an empty list: not run (reason in _SKIPPED).
_SHAPIQ_SETTINGS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "KernelSHAP": [
        ("KernelSHAP(pairing_trick=True)", {"pairing_trick": True}),
        ("KernelSHAP(pairing_trick=False)", {"pairing_trick": False}),
    ],
    "UnbiasedKernelSHAP": [("UnbiasedKernelSHAP", {})],
    "kADDSHAP": [("kADDSHAP(max_order=2)", {"max_order": 2})],
    "LeverageSHAP": [("LeverageSHAP", {})],
    "PermutationSamplingSV": [("PermutationSamplingSV", {})],
    "SVARM": [("SVARM(stratified)", {"index": "SV"})],
    "StratifiedSamplingSV": [("StratifiedSamplingSV", {})],
    "OwenSamplingSV": [("OwenSamplingSV(anchors=10)", {"n_anchor_points": 10})],
    "RegressionMSR": [("RegressionMSR(xgboost)", {"index": "SV"})],
    "PolySHAP": [("PolySHAP", {})],
    "OddSHAP": [("OddSHAP", {})],
    "ProxySPEX": [("ProxySPEX(hpo=False)", {"index": "SV", "max_order": 1, "hpo": False})],
    "SPEX": [],
    "ShaplEIG": [("ShaplEIG", {})],
}

#: Why a class with no settings above is not run.
_SKIPPED = {
    "SPEX": "refuses B <= 256 at d <= 24 ('Insufficient budget') and its first call spent ~2 min compiling "
    "numba code (measured); ProxySPEX is run instead",
}

#: Unbiased per the method's paper (see the module docstring); everything else is biased.
_UNBIASED = {
    "UnbiasedKernelSHAP": "",
    "PermutationSamplingSV": "",
    "SVARM": "",
    "StratifiedSamplingSV": "",
    "RegressionMSR": "per Witter et al. 2025; shapiq's k_folds=1 fits the proxy on the same samples",
}


@dataclass
class PeerSpec:
    """One peer variant: how to explain point ``point`` of a game at budget argument ``b``."""

    label: str
    source: str
    unbiased: bool
    note: str
    explain: Callable[[Callable[[NDArray[Any]], NDArray[np.float64]], int, int, int], NDArray[np.float64]]


def _shapiq_explain(cls: Any, settings: dict[str, Any]) -> Callable[..., NDArray[np.float64]]:
    def explain(game: Callable[[NDArray[Any]], NDArray[np.float64]], d: int, b: int, seed: int) -> NDArray[np.float64]:
        approximator = cls(n=d, **settings, random_state=seed)
        result = approximator.approximate(budget=b, game=game)
        return np.asarray(result.get_n_order_values(1), dtype=np.float64).reshape(d)

    return explain


def _shap_explain(game: Callable[[NDArray[Any]], NDArray[np.float64]], d: int, b: int, seed: int) -> NDArray[np.float64]:
    import shap

    np.random.seed(seed % 2**32)  # KernelExplainer samples with numpy's global RNG
    explainer = shap.KernelExplainer(game, np.zeros((1, d)))
    phi = explainer.shap_values(np.ones((1, d)), nsamples=b, l1_reg=False, silent=True)
    return np.asarray(phi, dtype=np.float64).reshape(d)


def peer_specs() -> tuple[list[PeerSpec], list[str]]:
    """Every peer variant that can be built here, and notes on those that cannot."""
    specs: list[PeerSpec] = []
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import shapiq
            import shapiq.approximator as approximators
        version = shapiq.__version__
        for cls in approximators.SV_APPROXIMATORS:
            name = cls.__name__
            variants = _SHAPIQ_SETTINGS.get(name)
            note = _UNBIASED.get(name, "")
            if variants is None:
                variants = [(name, {})]
                note = "not in the settings table: default settings"
                notes.append(f"shapiq {name}: not in the settings table, run with default settings")
            if not variants:
                notes.append(f"shapiq {name}: not run ({_SKIPPED.get(name, 'no settings')})")
                continue
            import_error = getattr(cls, "_import_error", None)
            if import_error is not None:  # shapiq's placeholder for a missing optional extra
                notes.append(f"shapiq {name}: skipped, its optional dependencies are missing ({import_error})")
                continue
            for label, settings in variants:
                specs.append(PeerSpec(label, f"shapiq {version}", name in _UNBIASED, note, _shapiq_explain(cls, settings)))
    except ImportError as error:
        notes.append(f"shapiq: not importable ({error})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import shap
        specs.append(PeerSpec("shap.KernelExplainer", f"shap {shap.__version__}", False, "", _shap_explain))
    except ImportError as error:
        notes.append(f"shap: not importable ({error})")
    return specs, notes


class _CountedGame:
    """``v_point`` as the peers' callable, counting evaluated coalitions and the time spent in it."""

    def __init__(self, game: MLPGame, point: int) -> None:
        self.game, self.point = game, point
        self.evaluations, self.seconds = 0, 0.0

    def __call__(self, coalitions: NDArray[Any]) -> NDArray[np.float64]:
        began = time.perf_counter()
        rows = np.atleast_2d(np.asarray(coalitions))
        values = self.game.rows(rows, self.point)
        self.evaluations += rows.shape[0]
        self.seconds += time.perf_counter() - began
        return values


class CallTimeout(BaseException):
    """A peer call ran past its time limit (a BaseException: a peer's ``except Exception`` cannot swallow it)."""


def _alarm(signum: int, frame: Any) -> None:
    raise CallTimeout


def _call(spec: PeerSpec, game: MLPGame, point: int, b: int, seed: int, timeout: float) -> dict[str, Any]:
    counted = _CountedGame(game, point)
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    began = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            phi = spec.explain(counted, game.n_players, b, seed + point)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {
        "phi": phi.tolist(),
        "evaluations": counted.evaluations,
        "seconds": time.perf_counter() - began,
        "game_seconds": counted.seconds,
        "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught}),
    }


def _calibrated(spec: PeerSpec, game: MLPGame, budget: int, seed: int, timeout: float) -> tuple[int, dict[str, Any], float]:
    """Point 0 at budget argument b, lowered until the call spends at most ``budget``; (b, result, seconds)."""
    b, spent = budget, 0.0
    for _ in range(4):
        out = _call(spec, game, 0, b, seed, timeout)
        spent += out["seconds"]
        if out["evaluations"] <= budget or b <= 1:
            break
        lower = max(1, math.floor(b * budget / out["evaluations"]))
        b = lower if lower < b else b - 1
    return b, out, spent


def run_job(spec: PeerSpec, game: MLPGame, job: dict[str, Any]) -> dict[str, Any]:
    """One peer on one game at every budget; see the module docstring for the sizing rules."""
    rows: dict[str, dict[str, Any]] = {}
    arguments: dict[int, int] = {}
    seed, timeout, allowance = int(job["seed"]), float(job["call_timeout"]), float(job["seconds"])
    began = time.perf_counter()
    stop = ""
    for budget in job["budgets"]:
        row: dict[str, Any] = {"status": "ok", "budget_argument": None, "points": [], "results": [], "warnings": []}
        rows[str(budget)] = row
        if stop:
            row["status"] = stop
            continue
        if time.perf_counter() - began > allowance:
            row["status"] = stop = f"skipped: the smaller budgets took the job's {allowance:g} s"
            continue
        try:
            arguments[budget], out, _ = _calibrated(spec, game, budget, seed, timeout)
        except CallTimeout:
            row["status"] = f"timed out: one call took more than {timeout:g} s"
            stop = "skipped: a smaller budget ran past the call time limit"
            continue
        except Exception as error:  # a peer refusing a budget (e.g. too small) is a result, not a crash
            row["status"] = f"failed: {type(error).__name__}: {str(error)[:200]}"
            continue
        row["budget_argument"] = arguments[budget]
        row["points"].append(0)
        row["results"].append(out)
    first = sum(r["results"][0]["seconds"] for r in rows.values() if r["results"])
    n_points = int(np.clip(allowance / max(first, 1e-9), job["min_points"], job["max_points"]))
    limit = allowance * int(job["min_points"])  # what a job may take, whatever its first point cost
    for point in range(1, min(n_points, game.n_points)):
        if time.perf_counter() - began > limit:
            for row in rows.values():
                if row["status"] == "ok":
                    row["status"] = f"stopped at point {point}: the job took its {limit:g} s"
            break
        for budget, b in arguments.items():
            row = rows[str(budget)]
            if row["status"] != "ok":
                continue
            try:
                row["results"].append(_call(spec, game, point, b, seed, timeout))
                row["points"].append(point)
            except CallTimeout:
                row["status"] = f"stopped at point {point}: a call took more than {timeout:g} s"
            except Exception as error:
                row["status"] = f"failed at point {point}: {type(error).__name__}: {str(error)[:200]}"
    for row in rows.values():
        row["warnings"] = sorted({w for r in row["results"] for w in r.pop("warnings")})[:5]
    return {"peer": spec.label, "source": spec.source, "unbiased": spec.unbiased, "note": spec.note, "d": game.n_players, "rows": rows}


def _load_games(path: str) -> dict[int, MLPGame]:
    with np.load(path) as data:
        arrays: dict[str, dict[str, NDArray[np.float64]]] = {}
        for key in data.files:
            group, name = key.split("/")
            arrays.setdefault(group, {})[name] = data[key]
    return {int(group[1:]): MLPGame.from_arrays(a) for group, a in arrays.items()}


def main(argv: list[str]) -> int:
    """Worker loop: ``--worker GAMES.npz``; see the module docstring for the protocol."""
    if len(argv) != 2 or argv[0] != "--worker":
        print("usage: _accuracy_peers.py --worker GAMES.npz", file=sys.stderr)
        return 2
    games = _load_games(argv[1])
    specs, notes = peer_specs()
    by_label = {s.label: s for s in specs}
    listing = {
        "python": sys.version.split()[0],
        "versions": sorted({s.source for s in specs}),
        "notes": notes,
        "peers": [{"label": s.label, "unbiased": s.unbiased} for s in specs],
    }
    print(PROTOCOL + "LIST " + json.dumps(listing), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        results = []
        for job in request["jobs"]:
            began = time.perf_counter()
            results.append(run_job(by_label[job["peer"]], games[int(job["d"])], job))
            print(f"{PROGRESS}{job['peer']} d={job['d']}: {time.perf_counter() - began:.1f} s", flush=True)
        Path(request["out"]).write_text(json.dumps(results))
        print(PROTOCOL + "DONE", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
