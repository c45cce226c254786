"""The pieces the benchmark harnesses share (benchmarks/harness.py)."""
from __future__ import annotations

import importlib.util
import io
import json
import math
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("bench_harness", REPO / "benchmarks" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_seeds_and_lists(harness) -> None:
    assert harness.parse_seeds("0-3") == [0, 1, 2, 3]
    assert harness.parse_seeds("5, 0-2,1") == [5, 0, 1, 2]  # order kept, repeats dropped
    for bad in ("", "-1", "x"):
        with pytest.raises(ValueError):
            harness.parse_seeds(bad)
    assert harness.parse_list(None) is None
    assert harness.parse_list("a, b,,c ") == ["a", "b", "c"]


def test_statistics_and_formats(harness) -> None:
    m, se, n = harness.mean_se([1.0, 3.0, None, float("nan")])
    assert (m, n) == (2.0, 2) and se == pytest.approx(1.0)  # stdev sqrt(2) / sqrt(2)
    m, se, n = harness.mean_se([4.0])
    assert m == 4.0 and math.isnan(se) and n == 1
    assert harness.mean_se([])[2] == 0
    assert harness.fmt_mean_se(2.0, 1.0, 2) == "2.000 ± 1.000"
    assert harness.fmt_mean_se(4.0, float("nan"), 1, digits=1) == "4.0"
    assert harness.fmt_mean_se(float("nan"), float("nan"), 0) == "—"
    assert harness.seed_text([0, 1, 2, 3]) == "0–3"
    assert harness.seed_text([0, 2]) == "0, 2"
    assert harness.json_num(float("inf")) is None and harness.json_num(1) == 1.0
    assert harness.secs(0.0123) == "12 ms" and harness.secs(2.25) == "2.2 s"


def test_run_files(harness, tmp_path: Path) -> None:
    path = tmp_path / "runs" / "branin" / "random" / "seed-0.json"
    harness.write_run({"seed": 0, "values": [1.5]}, path)
    harness.write_run({"seed": 1}, path.with_name("seed-1.json"), compact=True)
    (path.parent / "seed-2.json").write_text("{not json")  # a damaged file is skipped
    assert harness.load_run(path) == {"seed": 0, "values": [1.5]}
    assert harness.load_run(tmp_path / "missing.json") is None
    assert [r["seed"] for r in harness.load_runs(tmp_path)] == [0, 1]
    assert not list(path.parent.glob("*.tmp*"))  # written through a temporary file, renamed
    assert json.loads(path.with_name("seed-1.json").read_text()) == {"seed": 1}


def test_run_jobs_reports_every_run_and_failures(harness) -> None:
    def job(x: int) -> dict:
        t0 = time.perf_counter()
        try:
            if x == 2:
                raise RuntimeError("bad point")
            return {"x": x, "wall_s": 0.0, "y": x * x}
        except Exception as exc:  # noqa: BLE001  (a job never raises: the harness's contract)
            return harness.failed({"x": x}, exc, t0)

    log = io.StringIO()
    results = harness.run_jobs(job, [(1,), (2,), (3,)], 1, line=lambda r: f"y={r['y']}",
                               head=lambda a: {"x": a[0]}, label=lambda r: f"x={r['x']}", log=log)
    assert [r["x"] for r in results] == [1, 2, 3]
    assert results[1]["error"] == "RuntimeError: bad point" and "Traceback" in results[1]["traceback"]
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("[1/3] x=1 y=1")
    assert lines[1].startswith("[2/3] x=2 FAILED after") and lines[1].endswith("RuntimeError: bad point")
    assert lines[2].startswith("[3/3] x=3 y=9")
