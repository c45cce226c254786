"""The Keras Tuner-style examples (examples/keras_*.py) run as shipped, at a reduced size, on
scikit-learn's digits, and their outcomes are what each one sets out to show."""

import re
import subprocess
import sys
from itertools import product
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("keras")
pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

pytestmark = pytest.mark.slow  # each test trains Keras networks in a subprocess (20-50 s)

EXAMPLES = Path(__file__).parent.parent / "examples"


def run(script, *args, cwd):
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_cnn_hyperband_records_failed_trials_and_carries_on(tmp_path):
    # From 2 blocks up: on 8x8 images every 3-block model fails to build, about half the trials.
    out = run("keras_cnn_hyperband.py", "--max-epochs", "3", "--hyperband-iterations", "2",
              "--min-blocks", "2", "--overwrite", cwd=tmp_path)
    assert "Search space summary" in out and "Results summary" in out
    trials, failed = map(int, re.search(r"(\d+) trials, (\d+) failed", out).groups())
    assert 1 <= failed < trials
    assert "failure: Computed output size would be zero or negative" in out
    assert re.search(r"conv_blocks = 2\n", out)  # the best model has the blocks that fit
    accuracy = float(re.search(r"best model's test accuracy: ([\d.]+)", out).group(1))
    assert 0.0 <= accuracy <= 1.0
    assert (tmp_path / "tunewise_runs" / "cnn_hyperband" / "tunewise.db").exists()


def test_mlp_random_then_hyperband(tmp_path):
    out = run("keras_mlp_random_hyperband.py", "--max-trials", "2", "--epochs", "1",
              "--max-epochs", "3", cwd=tmp_path)
    assert re.search(r"random search: 2 trials \(2 completed\)", out)
    assert re.search(r"Hyperband: 5 trials \(", out)  # max_epochs=3, factor=3: 3 + 2 models
    table = out.split("best val_accuracy  test accuracy")[1].split()
    assert table[0] == "random" and table[3] == "Hyperband"
    assert all(0.0 <= float(v) <= 1.0 for v in table[1:3] + table[4:6])
    # An optional layer's width is set only while the layer exists (conditional_scope).
    import tunewise

    for project in ("mlp_random", "mlp_hyperband"):
        db = tmp_path / "tunewise_runs" / project / "tunewise.db"
        for t in tunewise.load_study(project, f"sqlite:///{db}").trials:
            hp = t.hyperparameters
            for i in (1, 2, 3):
                assert (hp.get(f"extra_units_{i}") is not None) == bool(hp[f"extra_layer_{i}"]), hp


def test_learning_rate_bayesian_tries_each_value_once_and_times_it(tmp_path):
    # Six trials asked of a space of four values: four trials, no repeats, then it stops.
    out = run("keras_learning_rate_bayesian.py", "--max-trials", "6", "--epochs", "1",
              cwd=tmp_path)
    rows = re.findall(r"^\s*(\d+)\s+([\de.-]+)\s+([\d.]+|failed)\s+([\d.]+) s$", out, re.MULTILINE)
    assert len(rows) == 4, out
    assert sorted(float(r[1]) for r in rows) == [1e-5, 1e-4, 1e-3, 1e-2]
    assert all(float(r[3]) > 0 for r in rows)  # each trial's training time, from results()
    assert "best hyperparameters: learning_rate = " in out


def test_grid_csv_two_executions_per_configuration_and_resume(tmp_path):
    csv = tmp_path / "grid.csv"
    run("keras_grid_csv.py", "--epochs", "1", "--max-trials", "3", "--csv", str(csv),
        cwd=tmp_path)
    first = pd.read_csv(csv)
    assert len(first) == 3
    # Run again without --overwrite: the search resumes and completes the grid.
    out = run("keras_grid_csv.py", "--epochs", "1", "--csv", str(csv), cwd=tmp_path)
    assert "8 combinations, each trained 2 times" in out
    df = pd.read_csv(csv)
    for column in ["number", "state", "learning_rate", "kernel_size", "loss_function", "score",
                   "score_std", "n_executions", "duration", "error"]:
        assert column in df.columns, df.columns
    assert len(df) == 8 and (df["state"] == "completed").all()
    assert (df["n_executions"] == 2).all()
    assert (df["duration"] > 0).all() and df["score_std"].notna().all()
    combos = set(zip(df["learning_rate"], df["kernel_size"], df["loss_function"]))
    assert combos == set(product([1e-2, 1e-3], [3, 5], ["categorical_crossentropy",
                                                       "categorical_focal_crossentropy"]))
    # The first three trials were not run again.
    again = df.set_index("number").loc[first["number"], ["score", "duration"]]
    assert again.to_numpy().tolist() == first[["score", "duration"]].to_numpy().tolist()
