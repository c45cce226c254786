"""benchmarks/keras_mnist.py in its quick mode (2,000 training images, seed 0, Hyperband
max_epochs=3, RandomSearch 3 trials × 1 epoch): Keras Tuner's two setups where keras_tuner is
installed, tunewise.keras's two where it exists; each runs the real command line in a
subprocess and the JSON it writes is checked. Skipped where MNIST (``$TUNEWISE_DATA`` or
``../shared/data``) is missing. About 30 s per library on a 2-core machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "keras_mnist.py"
DATA = Path(os.environ.get("TUNEWISE_DATA") or REPO.parent / "shared" / "data") / "mnist.npz"

pytestmark = pytest.mark.slow
if not DATA.exists():
    pytest.skip(f"MNIST not found at {DATA}", allow_module_level=True)
if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
    pytest.skip("keras and torch are needed", allow_module_level=True)


def _available(lib: str) -> bool:
    if lib == "kt":
        return importlib.util.find_spec("keras_tuner") is not None
    try:
        return importlib.util.find_spec("tunewise.keras") is not None
    except ImportError:
        return False


@pytest.mark.parametrize("lib", ["kt", "tw"])
def test_quick_run_writes_every_field(lib: str, tmp_path: Path) -> None:
    if not _available(lib):
        pytest.skip(f"{'keras_tuner' if lib == 'kt' else 'tunewise.keras'} is not importable")
    out = tmp_path / "keras_mnist.json"
    setups = [f"{lib}-hyperband", f"{lib}-random"]
    env = dict(os.environ, OMP_NUM_THREADS="1", KERAS_BACKEND="torch")
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--setups", ",".join(setups),
                           "--data", str(DATA), "--out", str(out)],
                          capture_output=True, text=True, timeout=85, env=env, cwd=REPO,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| setup |" in done.stdout and f"wrote {out}" in done.stdout

    report = json.loads(out.read_text())
    settings = report["settings"]
    assert settings["mode"] == "quick" and settings["seeds"] == [0]
    assert settings["n_train"] == 2000 and settings["n_val"] == 2000
    assert settings["hyperband"]["max_epochs"] == 3 and settings["random"] == {"max_trials": 3, "epochs": 1}
    assert report["machine"]["cpus"] >= 1 and len(report["machine"]["load_average_start"]) == 3
    assert [r["setup"] for r in report["runs"]] == setups

    for r in report["runs"]:
        assert "error" not in r, r.get("stderr_tail")
        assert r["seed"] == 0 and r["tuner_seed"] == 1
        assert 0 < r["test_accuracy"] <= 1 and 0 < r["best_val_accuracy"] <= 1
        assert 0.2 < r["test_accuracy"]  # ten classes: better than chance after 1+ epochs
        assert 0 < r["search_s"] < r["process_s"] and r["import_s"] > 0
        assert r["peak_rss_mb"] > 50 and r["peak_rss_mb"] >= r["rss_after_search_mb"] > 0
        assert r["fits"] == len(r["fits_log"]) >= 1 and r["trials"] >= 1
        assert all(f["rss_mb"] > 0 and f["epochs"] >= 1 for f in r["fits_log"])
        assert {"units", "activation", "dropout", "learning_rate"} <= set(r["best_hyperparameters"])
        # the tuner's best score is a val_accuracy some fit reached
        assert r["best_val_accuracy"] <= r["fit_best_val_accuracy"] + 1e-6
    hb, rs = report["runs"]
    # Hyperband at max_epochs=3, factor=3: more than one configuration, none beyond 3 epochs
    assert hb["trials"] >= 2 and max(f["epochs"] for f in hb["fits_log"]) <= 3
    # RandomSearch: 3 trials of 1 epoch
    assert rs["trials"] == 3 and rs["fits"] == 3 and rs["epochs_trained"] == 3

    summary = report["summary"]["setups"]
    for setup in setups:
        assert summary[setup]["runs"] == 1 and summary[setup]["search_s_median"] > 0
        assert 0 < summary[setup]["test_accuracy_mean"] <= 1
