"""``tunewise demo``: a tiny version really trains Keras models and stores the trials."""

import sys

import pytest

import tunewise
from tunewise.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras on numpy 2


@pytest.mark.slow
def test_demo_runs_stores_and_resumes(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--trials", "2", "--epochs", "1", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "best: trial" in out and "val_accuracy" in out and "learning_rate" in out

    url = f"sqlite:///{tmp_path / 'tunewise-demo.db'}"
    study = tunewise.load_study("demo", url)
    trials = study.trials
    assert [t.state.value for t in trials] == ["completed", "completed"]
    for t in trials:
        assert set(t.hyperparameters) == {"units", "activation", "dropout", "learning_rate"}
        assert 0.0 <= t.score <= 1.0
        assert list(t.intermediate) == [1]  # one epoch reported, per epoch
    assert "reloaded from the checkpoint of its best epoch" in out

    # --resume continues the stored study; without it each run starts afresh
    assert main(["demo", "--trials", "3", "--epochs", "1", "--seed", "0", "--resume"]) == 0
    assert len(tunewise.load_study("demo", url).trials) == 3
    assert main(["demo", "--trials", "1", "--epochs", "1"]) == 0
    assert len(tunewise.load_study("demo", url).trials) == 1


def test_demo_without_keras_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "keras", None)  # makes `import keras` fail
    assert main(["demo", "--trials", "1", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "tunewise: error: the demo needs keras; install with: "
        "pip install 'tunewise[demo]' torch==2.13.0"]
    assert not (tmp_path / "tunewise-demo.db").exists()
