"""The search-quality harness on a tiny configuration: two samplers (random included), one
synthetic problem, budget 8, two seeds; then the report from the cached runs.

Runs the real command line in a subprocess. LCBench parts run only where the surrogate is
present (``$TUNEWISE_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "search_quality.py"


def _run(*args: str, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO,
                          check=False)


def _lcbench_present() -> bool:
    root = Path(os.environ.get("TUNEWISE_DATA") or REPO.parent / "shared" / "data")
    return (root / "lcbench" / "model.onnx").exists()


def test_runs_are_cached_and_reported(tmp_path: Path) -> None:
    out = tmp_path / "quality"
    problems = "branin" + (",lcbench:3945" if _lcbench_present() else "")
    args = ["--samplers", "tunewise-random,optuna-tpe", "--problems", problems,
            "--budget", "8", "--seeds", "0-1"]
    first = _run(*args, out=out)
    assert first.returncode == 0, first.stderr
    n_problems = len(problems.split(","))
    files = sorted((out / "runs").glob("*/*/seed-*.json"))
    assert len(files) == 2 * n_problems * 2
    # one progress line per finished run
    assert sum(" seed " in ln and "evaluations" in ln for ln in first.stderr.splitlines()) == len(files)

    run = json.loads((out / "runs" / "branin" / "tunewise-random" / "seed-1.json").read_text())
    assert run["sampler"] == "tunewise-random" and run["problem"] == "branin" and run["seed"] == 1
    assert run["n_evaluations"] == run["budget"] == 8
    for key in ("values", "proposal_s", "eval_s", "tell_s", "configs"):
        assert len(run[key]) == 8, key
    assert all(isinstance(v, float) for v in run["values"])
    assert all(t >= 0 for t in run["proposal_s"]) and run["total_s"] > 0
    assert run["versions"]["tunewise"] and run["library_key"].startswith("tunewise-src:")
    for cfg in run["configs"]:
        assert -5 <= cfg["x1"] <= 10 and 0 <= cfg["x2"] <= 15
    # the values are the function of the configurations (a reproducible run)
    assert run["values"][3] == pytest.approx(_branin(run["configs"][3]))

    # cached: a second invocation runs nothing and leaves the files as they were
    # (--reuse-stale: other work on src/ between the two calls must not redo tunewise's runs)
    stamp = {f: f.stat().st_mtime_ns for f in files}
    second = _run(*args, "--reuse-stale", out=out)
    assert second.returncode == 0, second.stderr
    assert f"{len(files)} cached, 0 to run" in second.stderr
    assert {f: f.stat().st_mtime_ns for f in files} == stamp

    rep = _run("--report", "--budgets", "4,8,20", out=out)
    assert rep.returncode == 0, rep.stderr
    for name in ("report.md", "summary.json", "regret_curves.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budgets"] == [4, 8]  # 20 is beyond the runs' budget
    assert set(summary["samplers"]) == {"tunewise-random", "optuna-tpe"}
    rows = {(r["problem"], r["sampler"], r["budget"]): r for r in summary["per_problem"]}
    rnd = rows[("branin", "tunewise-random", 8)]
    assert rnd["seeds"] == 2 and rnd["normalised_mean"] == pytest.approx(1.0)  # random = 1
    other = rows[("branin", "optuna-tpe", 8)]
    assert other["normalised_mean"] >= 0 and other["raw_mean"] >= 0
    ranks = [r for r in summary["ranks"] if r["problems"] == "branin" and r["budget"] == 8]
    assert sorted(r["sampler"] for r in ranks) == ["optuna-tpe", "tunewise-random"]
    assert sum(r["mean_rank"] for r in ranks) == pytest.approx(3.0)  # ranks 1 and 2 per seed
    assert any(t["budget"] == 50 for t in summary["targets"])  # checked, here "n/a"
    md = (out / "report.md").read_text()
    assert "## Normalised regret at 8 evaluations" in md and "| tunewise-random |" in md
    assert (out / "regret_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cache_rules() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from quality.runs import FORMAT, cached_ok
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    rec = {"format": FORMAT, "problem_version": "1", "budget": 50, "stopped_early": None,
           "library_key": "tunewise-src:abc"}
    assert cached_ok(rec, 50, "1", "tunewise-src:abc", False)[0]
    assert cached_ok(rec, 20, "1", "tunewise-src:abc", False)[0]  # a longer run's prefix serves
    assert not cached_ok(rec, 100, "1", "tunewise-src:abc", False)[0]  # too short
    assert not cached_ok(rec, 50, "2", "tunewise-src:abc", False)[0]  # the problem changed
    assert not cached_ok(rec, 50, "1", "tunewise-src:def", False)[0]  # tunewise changed
    assert cached_ok(rec, 50, "1", "tunewise-src:def", True)[0]  # --reuse-stale
    assert cached_ok(dict(rec, stopped_early="space exhausted"), 100, "1", "tunewise-src:abc",
                     False)[0]  # it could not go further anyway
    assert not cached_ok(None, 50, "1", "x", False)[0]


def test_bad_arguments_are_reported(tmp_path: Path) -> None:
    res = _run("--samplers", "nope", "--problems", "branin", out=tmp_path)
    assert res.returncode == 2 and "unknown sampler" in res.stderr
    res = _run("--samplers", "tunewise-random", "--problems", "nope", out=tmp_path)
    assert res.returncode == 2 and "nope" in res.stderr


def _branin(v: dict) -> float:
    import math

    x1, x2 = v["x1"], v["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
