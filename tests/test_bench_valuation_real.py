"""`benches/bench_valuation_real.py --quick` runs and its JSON holds every method's numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_real_data_valuation_bench_reports_every_method(tmp_path: Path) -> None:
    output = tmp_path / "valuation.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "benches" / "bench_valuation_real.py"), "--quick", "--datasets", "wine", "--seeds", "0", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(output.read_text())
    block = report["datasets"]["wine"]
    assert block["n_flipped"] == round(0.15 * block["n_train"])
    names = set(block["methods"])
    for expected in ("leave-one-out (accuracy)", "KNN-Shapley (K = 5)", "out-of-fold probability", "amortized on TMC @ 5"):
        assert expected in names
    for method, row in block["methods"].items():
        assert len(row["auroc"]) == 1 and 0.0 <= row["auroc"][0] <= 1.0, method
        assert 0.0 < row["auprc"][0] <= 1.0, method
    # the baselines fit nothing (KNN) or a handful of models; the Shapley routes thousands
    assert block["methods"]["KNN-Shapley (K = 5)"]["fits"] == [0]
    assert block["methods"]["out-of-fold probability"]["fits"] == [5]
    assert block["methods"]["TMC @ 5"]["fits"][0] > 100
    assert "KNN-Shapley" in run.stdout
