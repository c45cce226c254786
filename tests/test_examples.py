"""The examples users run work as shipped (on data that comes with scikit-learn)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def run(args, cwd):
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ask_tell_example(tmp_path):
    out = run([str(EXAMPLES / "ask_tell.py")], tmp_path)
    assert "best:" in out and "failed" in out


def test_multi_objective_example(tmp_path):
    out = run([str(EXAMPLES / "multi_objective.py")], tmp_path)
    assert "parameters" in out and "val_accuracy" in out


@pytest.mark.slow
def test_sklearn_example_runs_and_resumes(tmp_path):
    out = run([str(EXAMPLES / "sklearn_mlp.py"), "--trials", "2"], tmp_path)
    assert "best val_accuracy" in out
    assert (tmp_path / "sklearn_mlp.db").exists()
    run([str(EXAMPLES / "sklearn_mlp.py"), "--trials", "3"], tmp_path)  # resumes: one more
    import tunewise

    assert len(tunewise.load_study("sklearn-mlp", f"sqlite:///{tmp_path / 'sklearn_mlp.db'}").trials) == 3


def test_compare_samplers_example(tmp_path):
    out = run([str(EXAMPLES / "compare_samplers.py"), "--trials", "6"], tmp_path)
    lines = [line for line in out.splitlines() if "best val_accuracy" in line]
    assert [line.split(":")[0].strip() for line in lines] == ["random", "bayesian", "tpe", "auto"]
    assert all(0.0 < float(line.split("val_accuracy ")[1].split()[0]) <= 1.0 for line in lines)


def test_hyperband_torch_example(tmp_path):
    pytest.importorskip("torch")
    out = run([str(EXAMPLES / "hyperband_torch.py")], tmp_path)
    assert "17 configurations, 23 runs" in out
    assert "epochs trained: 75 (retraining from scratch at every rung: 87)" in out
    assert "best val_accuracy" in out


def _per_process_counts(out):
    """{pid: trials} from the example's "trials per worker process" block."""
    lines = out.split("trials per worker process", 1)[1].splitlines()[1:]
    return {int(line.split()[1].rstrip(":")): int(line.split()[2]) for line in lines
            if line.strip().startswith("pid ")}


@pytest.mark.parametrize("dask", [False, True], ids=["n_jobs", "dask"])
def test_parallel_search_example(tmp_path, dask):
    if dask:
        pytest.importorskip("distributed")
    db = tmp_path / "parallel.db"
    # n_jobs on a database the test reads back; Dask on the default (a temporary folder).
    extra = ["--dask"] if dask else ["--storage", f"sqlite:///{db}"]
    out = run([str(EXAMPLES / "parallel_search.py"), "--trials", "5", "--trial-timeout", "30",
               *extra], tmp_path)
    assert "5 trials in" in out and "(5 completed)" in out and "max_trials=5 reached" in out
    best_line = next(line for line in out.splitlines() if line.startswith("best val_accuracy"))
    assert 0.5 < float(best_line.split()[2]) <= 1.0  # an MLP on digits does far better than chance
    counts = _per_process_counts(out)
    assert sum(counts.values()) == 5
    if dask:
        assert "Dask cluster at tcp://127.0.0.1:" in out
        assert list(tmp_path.iterdir()) == []  # nothing written where it ran
        return
    # Trial 0 runs alone (it tells the study the space); then both trial processes take trials.
    assert len(counts) == 2
    import tunewise

    trials = tunewise.load_study("parallel-mlp", f"sqlite:///{db}").trials
    assert sorted(int(t.metrics["pid"]) for t in trials) == sorted(
        pid for pid, n in counts.items() for _ in range(n))
