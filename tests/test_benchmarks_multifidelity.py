"""The multi-fidelity harness in its quick mode (one LCBench task, C_max = the cost of 20
full-budget evaluations) for random search and one tunewise method, two seeds; then the
report from the cached runs.

Runs the real command line in a subprocess. Skipped where onnxruntime or the LCBench surrogate
(``$TUNEWISE_DATA`` or ``../shared/data``) is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "multifidelity.py"
DATA = Path(os.environ.get("TUNEWISE_DATA") or REPO.parent / "shared" / "data") / "lcbench"

pytest.importorskip("onnxruntime")
pytest.importorskip("matplotlib")
if not (DATA / "model.onnx").exists():
    pytest.skip(f"LCBench surrogate not found at {DATA}", allow_module_level=True)


def _run(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--cache", str(cache)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO,
                          check=False)


def test_quick_runs_are_cached_and_reported(tmp_path: Path) -> None:
    cache = tmp_path / "mf"
    methods = "random,tunewise-random-asha"
    first = _run("--quick", "--methods", methods, cache=cache)
    assert first.returncode == 0, first.stderr
    files = sorted((cache / "runs").glob("*/*/seed-*.json"))
    assert len(files) == 2 * 2  # two methods, seeds 0 and 1, one task

    rnd = json.loads((cache / "runs" / "lcbench-3945" / "random" / "seed-0.json").read_text())
    tw = json.loads((cache / "runs" / "lcbench-3945" / "tunewise-random-asha" / "seed-0.json").read_text())
    # random search: 20 full-budget evaluations whose cost is C_max
    assert rnd["n_full"] == 20 and rnd["n_evaluations"] == 20
    assert set(rnd["evaluations"]["budget"]) == {52}
    assert rnd["evaluations"]["cum_cost"][-1] == pytest.approx(rnd["c_max"])
    # the same C_max for every method of a task and seed; a run stops once it is spent
    assert tw["c_max"] == pytest.approx(rnd["c_max"])
    ev = tw["evaluations"]
    assert tw["stop_reason"] == "cost budget reached" and ev["cum_cost"][-1] >= tw["c_max"]
    assert ev["cum_cost"][-2] < tw["c_max"]
    # cumulative cost is the running sum of the costs, each positive; budgets within 1..52
    assert ev["cum_cost"] == pytest.approx(list(_cumsum(ev["cost"])), rel=1e-6, abs=1e-4)
    assert all(c > 0 for c in ev["cost"])
    assert all(0 <= r < b <= 52 for r, b in zip(ev["resume"], ev["budget"]))
    # multi-fidelity: short runs first, some promoted (resumed) ones, no protocol anomaly
    assert min(ev["budget"]) < 52 and any(r > 0 for r in ev["resume"])
    assert tw["anomalies"] == []
    assert len(tw["configs"]) == len(tw["finals"]) == tw["n_configs"]

    # cached: a second invocation runs nothing
    stamp = {f: f.stat().st_mtime_ns for f in files}
    second = _run("--quick", "--methods", methods, "--reuse-stale", cache=cache)
    assert second.returncode == 0, second.stderr
    assert "4 cached, 0 to run" in second.stderr
    assert {f: f.stat().st_mtime_ns for f in files} == stamp

    out = tmp_path / "report"
    rep = _run("--report", "--quick", "--out", str(out), cache=cache)
    assert rep.returncode == 0, rep.stderr
    for name in ("report.md", "summary.json", "regret_vs_cost.png", "speedup.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_full"] == 20 and summary["tasks"] == ["3945"]
    runs = {(r["method"], r["seed"]): r for r in summary["per_run"]}
    # random search reaches its own final regret, at or before C_max: speed-up >= 1
    assert runs[("random", 0)]["reached"] and runs[("random", 0)]["speedup"] >= 1
    assert runs[("random", 0)]["final_regret"] == pytest.approx(rnd["evaluations"]["inc_regret"][-1])
    wins = [w for w in summary["auc_win_fractions"] if w["method"] == "tunewise-random-asha"]
    assert [w["against"] for w in wins] == ["random"] and wins[0]["tasks"] == 1
    md = (out / "report.md").read_text()
    assert "## Speed-up to random search's final regret" in md and "| tunewise-random-asha |" in md


def test_bad_arguments_are_reported(tmp_path: Path) -> None:
    res = _run("--methods", "nope", cache=tmp_path)
    assert res.returncode == 2 and "unknown method" in res.stderr
    res = _run("--tasks", "nope", cache=tmp_path)
    assert res.returncode == 2 and "nope" in res.stderr


def _cumsum(xs: list[float]):
    total = 0.0
    for x in xs:
        total += x
        yield total
