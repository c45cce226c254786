"""benchmarks/parallel.py in its quick mode: SQLite only; throughput of trivial trials with 1
and 2 workers (40 trials, one repeat) for tunewise's two parallel setups and Optuna's two; the
speed-up of 2 workers over 1 on 4 trials of 0.2 s of pure-Python work; a chaos run with 2
workers, 24 trials and 2 SIGKILLs. Runs the real command line in a subprocess and checks the
JSON it writes (no timing is asserted). About 30-60 s on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "parallel.py"

pytestmark = pytest.mark.slow
pytest.importorskip("optuna")

THROUGHPUT = ["tunewise-jobs", "tunewise-procs", "optuna-threads", "optuna-procs"]
CPU = ["bare-1", "bare-procs2", "tunewise-1", "tunewise-jobs2", "tunewise-jobs2declared", "tunewise-procs2", "optuna-1",
       "optuna-threads2", "optuna-procs2"]


def test_quick_run_writes_every_part(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = list(out.glob("parallel-*-quick.json"))
    assert len(files) == 1 and f"wrote {files[0]}" in done.stdout
    assert "| storage | setup | 1 worker | 2 workers |" in done.stdout

    report = json.loads(files[0].read_text())
    settings = report["settings"]
    assert settings["mode"] == "quick" and settings["parts"] == ["throughput", "cpu", "chaos"]
    assert settings["storages"] == ["sqlite"] and settings["workers"] == [1, 2]
    machine = report["machine"]
    assert machine["cpus"] >= 1 and len(machine["load_average_start"]) == 3
    assert machine["packages"]["optuna"] and machine["tunewise_source_sha256"]

    # a: every setup, storage and worker count, each with its trials completed
    tp = report["throughput"]
    assert tp["storages"] == ["sqlite"]
    assert sorted((r["setup"], r["workers"]) for r in tp["runs"]) == \
        sorted((s, k) for s in THROUGHPUT for k in (1, 2))
    for r in tp["runs"]:
        assert "error" not in r, r
        assert r["completed"] == r["trials"] == 40
        assert r["wall_s"] > 0 and r["trials_per_s"] > 0 and r["steady_trials_per_s"] > 0
        if r["setup"].endswith("procs"):
            assert len(r["per_worker"]) == r["workers"]
    assert len(tp["summary"]) == len(THROUGHPUT) * 2
    for s in tp["summary"]:
        assert s["failed_runs"] == 0 and s["trials_per_s"]["n"] == 1
        assert s["trials_per_s"]["median"] > 0

    # b: six setups on one workload, the speed-ups of 2 workers over 1
    cpu = report["cpu"]
    assert cpu["workloads"] == ["python"] and cpu["trials"] == 4
    assert cpu["calibration"]["python"]["units"] > 0
    assert sorted(r["setup"] for r in cpu["runs"]) == sorted(CPU)
    for r in cpu["runs"]:
        assert "error" not in r, r
        assert r["completed"] == 4 and r["wall_s"] > 0
    speedups = [s for s in cpu["summary"] if "speedup" in s]
    assert {s["speedup"] for s in speedups} == {
        "bare-1 / bare-procs2", "tunewise-1 / tunewise-jobs2", "tunewise-1 / tunewise-jobs2declared", "tunewise-1 / tunewise-procs2",
        "optuna-1 / optuna-threads2", "optuna-1 / optuna-procs2"}
    assert all(s["ratio_of_medians"] > 0 for s in speedups)

    # c: the chaos run passed its checks
    chaos = report["chaos"]
    assert chaos["ok"] and len(chaos["runs"]) == 1
    run = chaos["runs"][0]
    assert run["storage"] == "sqlite" and run["workers"] == 2 and run["trials"] == 24
    assert run["completed"] == 24 and len(run["kills_log"]) == 2
    assert all(run["checks"].values()), run["checks"]
    assert run["workers_started"] == 4  # two, and one more after each kill
