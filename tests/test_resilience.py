"""Acceptance tests with real child processes: SIGKILL mid-trial and resume, two processes on
one SQLite file, and a function that fails on part of its space."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import tunewise
from tunewise import TrialState

SCRIPT = Path(__file__).parent / "scripts" / "search.py"
pytestmark = pytest.mark.slow


def command(tmp_path, sampler, max_trials, sleep=0.0, slow=-1, meet=False):
    return [sys.executable, str(SCRIPT), str(tmp_path / "s.db"), "s", sampler, str(max_trials),
            str(tmp_path / "runs.log"), str(sleep), str(slow)] + ([str(tmp_path)] if meet else [])


def runs(tmp_path):
    lines = (tmp_path / "runs.log").read_text().splitlines()
    return [(int(n), int(pid), json.loads(values)) for n, pid, values in
            (line.split(" ", 2) for line in lines)]


def wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_sigkill_mid_trial_then_the_same_command_finishes_the_study(tmp_path, sampler):
    max_trials, victim = 12, 5
    cmd = command(tmp_path, sampler, max_trials, slow=victim)
    child = subprocess.Popen(cmd)
    wait_for(lambda: (tmp_path / "runs.log").exists()
             and any(n == victim for n, _, _ in runs(tmp_path)))
    child.send_signal(signal.SIGKILL)
    child.wait()
    store = f"sqlite:///{tmp_path / 's.db'}"
    before = tunewise.load_study("s", store).trials
    completed_before = {t.number: (t.hyperparameters, t.score) for t in before
                        if t.state == TrialState.COMPLETED}
    assert len(completed_before) == victim
    assert before[victim].state == TrialState.RUNNING  # as the kill left it

    # the same command again, without the slow trial this time
    subprocess.run(command(tmp_path, sampler, max_trials), check=True, timeout=120)
    study = tunewise.load_study("s", store)
    trials = study.trials
    assert len(trials) == max_trials
    assert [t.state for t in trials] == [TrialState.COMPLETED] * max_trials
    for number, (params, score) in completed_before.items():  # nothing lost or redone
        assert (trials[number].hyperparameters, trials[number].score) == (params, score)
    executions = Counter(n for n, _, _ in runs(tmp_path))
    assert executions[victim] == 2  # the interrupted trial ran again ...
    assert all(count == 1 for n, count in executions.items() if n != victim)  # ... and only it
    assert trials[victim].hyperparameters == next(v for n, _, v in runs(tmp_path) if n == victim)
    if sampler == "grid":
        points = [json.dumps(t.hyperparameters, sort_keys=True) for t in trials]
        assert len(set(points)) == max_trials


@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_two_processes_on_one_sqlite_file(tmp_path, sampler):
    max_trials = 30
    cmd = command(tmp_path, sampler, max_trials, sleep=0.02, meet=True)  # both search at once
    children = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [child.communicate(timeout=180)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    assert not any("locked" in e for e in errors), errors
    trials = tunewise.load_study("s", f"sqlite:///{tmp_path / 's.db'}").trials
    assert len(trials) == max_trials
    assert [t.state for t in trials] == [TrialState.COMPLETED] * max_trials
    assert sorted(t.number for t in trials) == list(range(max_trials))
    by_pid = Counter(pid for _, pid, _ in runs(tmp_path))
    assert len(by_pid) == 2, "both processes ran trials"
    assert sum(by_pid.values()) == max_trials  # no trial ran twice
    points = [json.dumps(t.hyperparameters, sort_keys=True) for t in trials]
    assert len(set(points)) == max_trials  # discrete space: no point twice, grid or random


def test_a_function_that_fails_on_30_percent_of_the_space_completes_the_search(tmp_path):
    def train(trial):
        lr = trial.hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
        dropout = trial.hp.Float("dropout", 0.0, 0.5)
        if dropout > 0.35:  # 30% of the space
            raise RuntimeError(f"CUDA out of memory with dropout={dropout:.3f}")
        return {"val_loss": lr + dropout}

    # random search keeps hitting the failing 30%; a model-based sampler learns to avoid it
    # (tests/samplers/test_sampler_contract.py checks that)
    study = tunewise.Study("f30", objective="val_loss", storage=f"sqlite:///{tmp_path / 'f.db'}",
                           sampler="random", seed=4)
    # Keras Tuner's default max_consecutive_failed_trials=3 stops such a search whenever
    # three failures happen in a row; a search that expects failures turns the limit off.
    study.optimize(train, max_trials=60, max_consecutive_failed_trials=None, show_progress=False)
    trials = study.trials
    assert len(trials) == 60
    failed = [t for t in trials if t.state == TrialState.FAILED]
    completed = [t for t in trials if t.state == TrialState.COMPLETED]
    assert len(failed) + len(completed) == 60
    assert 8 <= len(failed) <= 30
    for t in failed:
        assert t.hyperparameters["dropout"] > 0.35
        assert t.error.startswith("RuntimeError: CUDA out of memory with dropout=")
        assert "Traceback" in t.traceback
    assert all(t.hyperparameters["dropout"] <= 0.35 for t in completed)
    assert study.best_trial.state == TrialState.COMPLETED


TRAIN_FILE = '''
import os, time

def train(trial):
    units = trial.hp.Int("units", 16, 64, step=16)
    act = trial.hp.Choice("activation", ["relu", "tanh"])
    marker = os.path.join(os.path.dirname(__file__), "started-%d" % trial.number)
    first_time = not os.path.exists(marker)
    open(marker, "a").close()
    if trial.number == 3 and first_time:
        time.sleep(60)  # killed here
    return {"val_accuracy": units / 64 - (act == "tanh") * 0.1}
'''


def test_the_command_line_resumes_after_sigkill(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN_FILE)
    cmd = [sys.executable, "-m", "tunewise", "run", "train.py:train", "--objective", "val_accuracy",
           "--sampler", "grid", "--max-trials", "6", "--quiet"]
    child = subprocess.Popen(cmd, cwd=tmp_path)
    wait_for(lambda: (tmp_path / "started-3").exists())
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    trials = tunewise.load_study("train.train", f"sqlite:///{tmp_path / 'tunewise.db'}").trials
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 6
    points = {json.dumps(t.hyperparameters, sort_keys=True) for t in trials}
    assert len(points) == 6
