"""Trials in child processes: ``Study.optimize(n_jobs=N, isolate=..., trial_timeout=...,
devices=...)`` (``tunewise.execution.pool`` and ``child``), heartbeats and the recovery of
trials whose worker died (``Study._recover_stale``), and whole workers killed with SIGKILL or
interrupted with Ctrl-C (``tests/scripts/parallel_worker.py``).

The trials are tiny (sleeps of tenths of a second). Functions run in other processes, so what
they did is learnt from what they return (metrics must be numbers) or from files they write
under ``tmp_path``.
"""

from __future__ import annotations

import glob
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import tunewise
from tunewise import (
    FailedTrialError,
    FatalError,
    HyperParameters,
    SpaceError,
    Study,
    TrialPruned,
    TrialState,
)
from tunewise.schedulers import ASHAScheduler, HyperbandScheduler, MedianScheduler
from tunewise.storage import get_storage

pytestmark = pytest.mark.slow

WORKER = Path(__file__).parent / "scripts" / "parallel_worker.py"
OTHER_HOST = "otherhost:123:456:abcd"
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# -- helpers ------------------------------------------------------------------------------------
def log_run(logdir: str, *fields) -> None:
    """Append one line to ``logdir/runs.log`` (called inside trials, in child processes)."""
    with open(os.path.join(logdir, "runs.log"), "a") as f:
        f.write(" ".join(str(x) for x in fields) + "\n")


def runs(logdir) -> list[list[str]]:
    path = os.path.join(str(logdir), "runs.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f.read().splitlines() if line]


def wait_for(predicate, timeout=30.0, what="a condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def space_x(low=0.0, high=1.0) -> HyperParameters:
    hp = HyperParameters()
    hp.Float("x", low, high)
    return hp


def storage_url(kind: str, tmp_path, request) -> str | None:
    if kind == "memory":
        return None
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("postgres_url")


def sleepy_square(trial):
    """Module level: sent by reference (the child imports this module)."""
    x = trial.hp.Float("x", -2.0, 2.0)
    for step in range(3):
        trial.report(step, {"loss": x * x + 1.0 / (step + 1)})
    time.sleep(0.15)
    return {"loss": x * x, "pid": os.getpid()}


# -- counts, storages, reports ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql"])
def test_exact_trial_counts_and_reports_reach_the_parents_storage(kind, tmp_path, request):
    hp = HyperParameters()
    hp.Float("x", -2.0, 2.0)
    study = Study(f"counts-{uuid.uuid4().hex[:8]}", objective="loss",
                  storage=storage_url(kind, tmp_path, request), sampler="random", seed=0,
                  hyperparameters=hp)
    study.optimize(sleepy_square, max_trials=5, n_jobs=2, show_progress=False)
    trials = study.trials
    assert [t.number for t in trials] == list(range(5))
    assert all(t.state == TrialState.COMPLETED for t in trials), [(t.state, t.error) for t in trials]
    assert study.stop_reason == "max_trials=5 reached"
    pids = {t.metrics["pid"] for t in trials}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes, not this one
    for t in trials:
        x = t.hyperparameters["x"]
        assert t.score == pytest.approx(x * x)
        assert sorted(t.intermediate) == [0, 1, 2]  # trial.report went through the parent
        assert t.intermediate[2]["loss"] == pytest.approx(x * x + 1.0 / 3)
        assert t.attempts == 0
    # trials of earlier runs count: three more make eight
    study.optimize(sleepy_square, max_trials=8, n_jobs=2, show_progress=False)
    assert len(study.trials) == 8
    assert sum(t.state == TrialState.COMPLETED for t in study.trials) == 8


def test_n_jobs_minus_one_runs_one_worker_per_cpu_with_its_share_of_threads(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "64")
    logdir = str(tmp_path)

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        log_run(logdir, "start", trial.number, os.getpid(), time.time())
        time.sleep(0.5)
        log_run(logdir, "end", trial.number, os.getpid(), time.time())
        return {"loss": x, "omp": float(os.environ["OMP_NUM_THREADS"]),
                "mkl": float(os.environ["MKL_NUM_THREADS"]),
                "openblas": float(os.environ["OPENBLAS_NUM_THREADS"])}

    n = min(CPUS, 4)
    study = Study("all-cpus", objective="loss", sampler="random", seed=1, hyperparameters=space_x())
    study.optimize(train, max_trials=n, n_jobs=-1, show_progress=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETED] * n
    lines = runs(logdir)
    assert len({pid for kind, _, pid, _ in lines}) == n  # one process per CPU
    starts = sorted(float(ts) for kind, _, _, ts in lines if kind == "start")
    ends = sorted(float(ts) for kind, _, _, ts in lines if kind == "end")
    assert starts[-1] < ends[0]  # all of them ran at once
    share = max(1, CPUS // CPUS)
    for t in study.trials:
        assert t.metrics["omp"] == t.metrics["mkl"] == t.metrics["openblas"] == share


def test_each_worker_gets_its_share_of_threads_and_a_smaller_setting_is_kept(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # smaller than any share: kept
    monkeypatch.setenv("MKL_NUM_THREADS", "1000")  # larger: replaced by the share
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)  # unset: the share

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        return {"loss": x, "omp": float(os.environ["OMP_NUM_THREADS"]),
                "mkl": float(os.environ["MKL_NUM_THREADS"]),
                "openblas": float(os.environ["OPENBLAS_NUM_THREADS"])}

    for n_jobs in (1, 2):
        study = Study(f"threads-{n_jobs}", objective="loss", sampler="random", seed=1,
                      hyperparameters=space_x())
        study.optimize(train, max_trials=2, n_jobs=n_jobs, isolate=True, show_progress=False)
        share = max(1, CPUS // n_jobs)
        for t in study.trials:
            assert t.state == TrialState.COMPLETED
            assert (t.metrics["omp"], t.metrics["mkl"], t.metrics["openblas"]) == (1, share, share)


@pytest.mark.parametrize("omp", [
    None,
    pytest.param("1", marks=[
        pytest.mark.skipif(CPUS < 2, reason="needs a share of more than one thread")]),
])
def test_torch_threads_in_a_trial_process_follow_the_workers_thread_count(omp, monkeypatch):
    import torch  # captured below, so the child imports it before the trial starts

    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        return {"loss": x, "torch": float(torch.get_num_threads()),
                "omp": float(os.environ["OMP_NUM_THREADS"])}

    study = Study("torch-threads", objective="loss", sampler="random", seed=1,
                  hyperparameters=space_x())
    study.optimize(train, max_trials=1, isolate=True, show_progress=False)
    (t,) = study.trials
    assert t.state == TrialState.COMPLETED, t.error
    expected = CPUS if omp is None else min(int(omp), CPUS)
    assert t.metrics["omp"] == expected
    assert t.metrics["torch"] == expected


def test_devices_give_each_worker_its_own_cuda_visible_devices(tmp_path):
    logdir = str(tmp_path)

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        log_run(logdir, trial.number, os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
        time.sleep(0.2)
        return {"loss": x}

    study = Study("devices", objective="loss", sampler="random", seed=1, hyperparameters=space_x())
    study.optimize(train, max_trials=4, devices=[3, "5"], show_progress=False)  # n_jobs: one per device
    assert [t.state for t in study.trials] == [TrialState.COMPLETED] * 4
    device_of: dict[str, set[str]] = {}
    for _, pid, device in runs(logdir):
        device_of.setdefault(pid, set()).add(device)
    assert len(device_of) == 2  # two workers
    assert sorted(d for devices in device_of.values() for d in devices) == ["3", "5"]
    assert all(len(devices) == 1 for devices in device_of.values())
    assert os.environ.get("CUDA_VISIBLE_DEVICES") != "3"  # only the children's environment

    os.remove(os.path.join(logdir, "runs.log"))
    study.optimize(train, max_trials=6, n_jobs=2, devices=["7"], show_progress=False)  # 2 more
    assert {device for _, _, device in runs(logdir)} == {"7"}
    assert len({pid for _, pid, _ in runs(logdir)}) == 2


def test_isolate_runs_every_trial_in_a_fresh_process():
    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        return {"loss": x, "pid": os.getpid()}

    for n_jobs, n in ((1, 3), (2, 3)):
        study = Study(f"isolate-{n_jobs}", objective="loss", sampler="random", seed=1,
                      hyperparameters=space_x())
        study.optimize(train, max_trials=n, n_jobs=n_jobs, isolate=True, show_progress=False)
        assert [t.state for t in study.trials] == [TrialState.COMPLETED] * n
        pids = [t.metrics["pid"] for t in study.trials]
        assert len(set(pids)) == n and os.getpid() not in pids
        assert not any(alive(int(p)) for p in pids)  # and each process is gone


# -- timeouts, deaths, exceptions ------------------------------------------------------------
def test_trial_timeout_kills_the_trial_and_the_search_goes_on(tmp_path):
    logdir = str(tmp_path)

    def train(trial):
        x = trial.hp.Int("x", 0, 3)
        log_run(logdir, trial.number, os.getpid())
        if x == 1:
            time.sleep(60)
        return {"loss": float(x)}

    study = Study("timeout", objective="loss", sampler="grid", seed=0)
    start = time.monotonic()
    study.optimize(train, trial_timeout=1.0, show_progress=False)
    assert time.monotonic() - start < 20
    by_x = {t.hyperparameters["x"]: t for t in study.trials}
    assert sorted(by_x) == [0, 1, 2, 3]
    assert by_x[1].state == TrialState.FAILED
    assert by_x[1].error.startswith("timeout"), by_x[1].error
    assert "trial_timeout=1" in by_x[1].error
    assert all(by_x[x].state == TrialState.COMPLETED for x in (0, 2, 3))
    assert study.stop_reason == "the search space is exhausted"
    slow_pid = next(int(pid) for n, pid in runs(logdir) if int(n) == by_x[1].number)
    assert not alive(slow_pid)  # the killed process does not linger


def test_deaths_of_the_trial_process(tmp_path):
    """SIGKILL (as the OOM killer does) and MemoryError are out of memory and not retried;
    another death is retried up to max_retries_per_trial, then failed with its cause."""
    logdir = str(tmp_path)

    def train(trial):
        x = trial.hp.Int("x", 0, 4)
        log_run(logdir, trial.number, x)
        if x == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if x == 2:
            raise MemoryError("tensor of 80 GiB")
        if x == 3:
            os._exit(3)
        if x == 4:
            os.kill(os.getpid(), signal.SIGSEGV)
        return {"loss": float(x)}

    study = Study("deaths", objective="loss", sampler="grid", seed=0)
    study.optimize(train, n_jobs=2, max_retries_per_trial=1, max_consecutive_failed_trials=None,
                   show_progress=False)
    by_x = {t.hyperparameters["x"]: t for t in study.trials}
    assert sorted(by_x) == [0, 1, 2, 3, 4]
    executions = {x: sum(1 for _, ran in runs(logdir) if int(ran) == x) for x in by_x}
    assert by_x[0].state == TrialState.COMPLETED and executions[0] == 1
    assert by_x[1].state == TrialState.FAILED
    assert by_x[1].error.startswith("out of memory"), by_x[1].error
    assert "SIGKILL" in by_x[1].error
    assert executions[1] == 1 and by_x[1].attempts == 0  # not retried
    assert by_x[2].state == TrialState.FAILED
    assert by_x[2].error.startswith("out of memory: MemoryError"), by_x[2].error
    assert "80 GiB" in by_x[2].error
    assert executions[2] == 1 and by_x[2].attempts == 0
    assert by_x[3].state == TrialState.FAILED and "exited with status 3" in by_x[3].error
    assert executions[3] == 2 and by_x[3].attempts == 1  # one retry
    assert by_x[4].state == TrialState.FAILED and "SIGSEGV" in by_x[4].error
    assert executions[4] == 2 and by_x[4].attempts == 1


def test_exceptions_in_trial_processes(tmp_path):
    logdir = str(tmp_path)

    def train(trial):
        x = trial.hp.Int("x", 0, 4)
        log_run(logdir, trial.number, x)
        if x == 1:
            raise FailedTrialError("too deep")
        if x == 2:
            raise RuntimeError("always flaky")
        if x == 3:
            raise TrialPruned("stopped early")
        if x == 4 and sum(1 for _, ran in runs(logdir) if int(ran) == 4) == 1:
            raise RuntimeError("flaky once")
        return {"loss": float(x)}

    study = Study("exceptions", objective="loss", storage=f"sqlite:///{tmp_path / 's.db'}",
                  sampler="grid", seed=0)
    study.optimize(train, n_jobs=2, max_retries_per_trial=2, max_consecutive_failed_trials=None,
                   show_progress=False)
    by_x = {t.hyperparameters["x"]: t for t in study.trials}
    executions = {x: sum(1 for _, ran in runs(logdir) if int(ran) == x) for x in by_x}
    assert by_x[0].state == TrialState.COMPLETED
    assert (by_x[1].state, by_x[1].error, executions[1]) == (TrialState.FAILED,
                                                            "FailedTrialError: too deep", 1)
    assert (by_x[2].state, by_x[2].error) == (TrialState.FAILED, "RuntimeError: always flaky")
    assert (executions[2], by_x[2].attempts) == (3, 2)
    assert "always flaky" in by_x[2].traceback  # the child's traceback is kept
    assert (by_x[3].state, by_x[3].error, executions[3]) == (TrialState.PRUNED, "stopped early", 1)
    assert (by_x[4].state, by_x[4].attempts, executions[4]) == (TrialState.COMPLETED, 1, 2)
    assert by_x[4].score == 4.0


def test_fatal_error_stops_the_search_and_interrupts_the_other_trials(tmp_path):
    logdir = str(tmp_path)

    def train(trial):
        x = trial.hp.Int("x", 0, 5)
        log_run(logdir, trial.number, x, os.getpid())
        if trial.number == 1:
            wait_for(lambda: any(int(n) == 0 for n, _, _ in runs(logdir)))  # both are running
            raise FatalError("the data has no 'loss' column")
        if trial.number == 0:
            time.sleep(60)
        return {"loss": float(x)}

    hp = HyperParameters()
    hp.Int("x", 0, 5)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("fatal", objective="loss", storage=storage, sampler="grid", seed=0,
                  hyperparameters=hp)
    start = time.monotonic()
    with pytest.raises(FatalError, match="the data has no 'loss' column"):
        study.optimize(train, n_jobs=2, show_progress=False)
    assert time.monotonic() - start < 30
    trials = study.trials
    assert len(trials) == 2
    assert trials[1].state == TrialState.FAILED
    assert trials[1].error == "FatalError: the data has no 'loss' column"
    assert trials[0].state == TrialState.INTERRUPTED
    assert "fatal error" in study.stop_reason
    sleeper = next(int(pid) for n, _, pid in runs(logdir) if int(n) == 0)
    wait_for(lambda: not alive(sleeper), 10, "the interrupted trial's process to end")

    def fixed(trial):
        return {"loss": float(trial.hp.Int("x", 0, 5))}

    study.optimize(fixed, n_jobs=2, show_progress=False)  # resume
    trials = study.trials
    assert trials[0].state == TrialState.COMPLETED and trials[0].hyperparameters == {"x": 0}
    assert trials[1].state == TrialState.FAILED
    assert len(trials) == 6 and sorted(t.hyperparameters["x"] for t in trials) == list(range(6))


def test_a_result_without_the_objective_raises_and_the_trial_waits(tmp_path):
    def wrong(trial):
        return {"accuracy": trial.hp.Float("x", 0.0, 1.0)}

    study = Study("invalid", objective="loss", storage=f"sqlite:///{tmp_path / 's.db'}",
                  sampler="random", seed=0, hyperparameters=space_x())
    with pytest.raises(ValueError, match="no metric 'loss'"):
        study.optimize(wrong, max_trials=3, n_jobs=2, show_progress=False)
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert waiting and waiting[0].error.startswith("not run")
    assert not any(t.state in (TrialState.RUNNING, TrialState.COMPLETED) for t in study.trials)
    first = waiting[0].hyperparameters

    def right(trial):
        return {"loss": trial.hp.Float("x", 0.0, 1.0)}

    study.optimize(right, max_trials=3, n_jobs=2, show_progress=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETED] * 3
    assert study.trials[waiting[0].number].hyperparameters == first  # the same trial, run now


def test_a_conflicting_definition_raises_space_error():
    def train(trial):
        x = trial.hp.Int("x", 0, 5)
        trial.hp.Float("x", 0.0, 1.0)
        return {"loss": float(x)}

    study = Study("space-error", objective="loss", sampler="random", seed=0)
    with pytest.raises(SpaceError, match="already defined"):
        study.optimize(train, max_trials=3, n_jobs=2, show_progress=False)
    assert [t.state for t in study.trials] == [TrialState.WAITING]


def test_consecutive_failures_stop_a_parallel_search():
    def train(trial):
        trial.hp.Float("x", 0.0, 1.0)
        raise FailedTrialError("broken data")

    study = Study("failing", objective="loss", sampler="random", seed=0, hyperparameters=space_x())
    study.optimize(train, max_trials=20, n_jobs=2, max_consecutive_failed_trials=3,
                   show_progress=False)
    trials = study.trials
    assert 3 <= len(trials) <= 4  # the trial running beside the third failure finishes
    assert all(t.state == TrialState.FAILED and t.error == "FailedTrialError: broken data"
               for t in trials)
    assert re.fullmatch(r"[34] consecutive trials failed \(max_consecutive_failed_trials=3\)",
                        study.stop_reason), study.stop_reason


def test_timeout_executions_callbacks_and_numpy_results_in_processes(tmp_path):
    import numpy as np

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        marker = os.path.join(trial.checkpoint_dir, "ran")
        open(marker, "w").close()
        time.sleep(0.2)
        return {"loss": np.float32(x + trial.execution), "execution": np.int64(trial.execution),
                "dir": float(len(os.path.basename(trial.checkpoint_dir)))}

    seen = []
    study = Study("timeout-executions", objective="loss", storage=f"sqlite:///{tmp_path / 's.db'}",
                  sampler="random", seed=0, hyperparameters=space_x())
    start = time.monotonic()
    study.optimize(train, timeout=1.0, n_jobs=2, executions_per_trial=2, show_progress=False,
                   callbacks=[lambda s, t: seen.append((t.number, t.state, os.getpid()))])
    elapsed = time.monotonic() - start
    trials = study.trials
    assert study.stop_reason == "timeout of 1.0 s reached"
    assert 2 <= len(trials) and elapsed < 1.0 + 2 * 0.2 + 5  # the running trials finish
    assert all(t.state == TrialState.COMPLETED for t in trials)  # none left running
    assert sorted(n for n, _, _ in seen) == [t.number for t in trials]  # callbacks, in this process
    assert {pid for _, _, pid in seen} == {os.getpid()}
    for t in trials:
        x = t.hyperparameters["x"]
        assert len(t.executions) == 2
        assert [e["execution"] for e in t.executions] == [0.0, 1.0]
        assert t.score == pytest.approx(x + 0.5, abs=1e-6)  # the mean of x and x + 1
        assert t.score_std == pytest.approx(0.7071, abs=1e-3)
        for suffix in ("", "_execution_1"):  # one checkpoint folder per execution
            assert os.path.exists(os.path.join(study.checkpoint_root,
                                               f"trial_{t.number:05d}{suffix}", "ran"))


# -- schedulers, define-by-run --------------------------------------------------------------------
def test_median_pruning_from_trial_processes():
    def train(trial):
        x = trial.hp.Int("x", 0, 7)
        for step in range(4):
            trial.report(step, {"loss": float(x)})
            time.sleep(0.02)
        return {"loss": float(x)}

    hp = HyperParameters()
    hp.Int("x", 0, 7)
    study = Study("median", objective="loss", sampler="grid", seed=0, hyperparameters=hp,
                  scheduler=MedianScheduler(n_startup_trials=2))
    study.optimize(train, n_jobs=2, show_progress=False)
    by_x = {t.hyperparameters["x"]: t for t in study.trials}
    assert sorted(by_x) == list(range(8))
    pruned = [x for x, t in by_x.items() if t.state == TrialState.PRUNED]
    assert by_x[0].state == TrialState.COMPLETED
    assert set(pruned) >= {4, 5, 6, 7}  # worse than every completed trial at step 0
    for x in pruned:  # stopped at its last report, which the parent recorded
        last = max(by_x[x].intermediate)
        assert by_x[x].error.startswith(f"pruned at step {last}:"), by_x[x].error
    for x in (4, 5, 6, 7):  # started once trials 0 and 1 had completed: stopped at once
        assert sorted(by_x[x].intermediate) == [0]


@pytest.mark.parametrize("scheduler", [ASHAScheduler(max_epochs=9, factor=3),
                                       HyperbandScheduler(max_epochs=9, factor=3)],
                         ids=["asha", "hyperband"])
def test_promotions_resume_from_the_checkpoint_in_trial_processes(scheduler, tmp_path):
    logdir = str(tmp_path)

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        path = os.path.join(trial.checkpoint_dir, "epoch.txt")
        done = int(Path(path).read_text()) if os.path.exists(path) else 0
        log_run(logdir, trial.number, trial.resume_step, done, trial.budget)
        for epoch in range(done, trial.budget):
            trial.report(epoch + 1, {"loss": x + 1.0 / (epoch + 1)})
            with open(path, "w") as f:
                f.write(str(epoch + 1))
        return {"loss": x + 1.0 / trial.budget}

    study = Study("promotions", objective="loss", storage=f"sqlite:///{tmp_path / 's.db'}",
                  sampler="random", seed=1, scheduler=scheduler, hyperparameters=space_x())
    study.optimize(train, max_trials=9, n_jobs=2, show_progress=False)
    assert len(study.trials) == 9
    assert not any(t.state in (TrialState.FAILED, TrialState.RUNNING) for t in study.trials)
    lines = [[int(v) for v in line] for line in runs(logdir)]
    promoted = [(n, resume, done, budget) for n, resume, done, budget in lines if resume > 0]
    assert promoted, lines  # some trial was continued
    for n, resume, done, budget in promoted:
        assert done == resume  # the earlier run's checkpoint was there
        assert budget > resume
        trial = study.trials[n]
        assert resume in trial.rungs
        assert sorted(trial.intermediate) == list(range(1, max(trial.intermediate) + 1))
    assert any(t.state == TrialState.COMPLETED and t.budget == 9 for t in study.trials)


def test_define_by_run_hyperparameters_from_children_join_the_space(tmp_path):
    seen = {"label": "captured"}  # a closure over local data travels with cloudpickle

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        units = trial.hp.Int("units", 8, 64, step=8)
        if x > 0.3:
            trial.hp.Choice("activation", ["relu", "tanh"])
        assert seen["label"] == "captured"
        return {"loss": x + units / 1000}

    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("define-by-run", objective="loss", storage=storage, sampler="random", seed=4)
    study.optimize(train, max_trials=8, n_jobs=2, show_progress=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETED] * 8
    assert {hp.name for hp in study.hyperparameters.space} == {"x", "units", "activation"}
    assert any("activation" in t.hyperparameters for t in study.trials)
    reopened = tunewise.load_study("define-by-run", storage)
    assert {hp.name for hp in reopened.hyperparameters.space} == {"x", "units", "activation"}
    assert len({tuple(sorted(t.hyperparameters.items())) for t in study.trials}) == 8


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_grid_runs_every_point_exactly_once_with_two_workers(kind, tmp_path, request):
    def train(trial):
        x = trial.hp.Int("x", 0, 2)
        b = trial.hp.Choice("b", ["u", "v"])
        time.sleep(0.05)
        return {"loss": x + (b == "v")}

    study = Study("grid", objective="loss", storage=storage_url(kind, tmp_path, request),
                  sampler="grid", seed=0)
    study.optimize(train, n_jobs=2, show_progress=False)
    points = sorted((t.hyperparameters["x"], t.hyperparameters["b"]) for t in study.trials)
    assert points == [(x, b) for x in range(3) for b in "uv"]
    assert all(t.state == TrialState.COMPLETED for t in study.trials)
    assert "exhausted" in study.stop_reason
    study.optimize(train, n_jobs=2, show_progress=False)  # nothing is left to run
    assert len(study.trials) == 6 and "exhausted" in study.stop_reason


@pytest.mark.parametrize("sampler", ["bayesian", "tpe"])
def test_model_based_samplers_never_propose_a_point_twice(sampler):
    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        time.sleep(0.05)
        return {"loss": (x - 0.3) ** 2}

    study = Study(f"dups-{sampler}", objective="loss", sampler=sampler, seed=2,
                  hyperparameters=space_x())
    study.optimize(train, max_trials=8, n_jobs=2, show_progress=False)
    assert len(study.trials) == 8
    assert all(t.state == TrialState.COMPLETED for t in study.trials)
    xs = [t.hyperparameters["x"] for t in study.trials]
    assert len(set(xs)) == 8, xs


# -- bad input ------------------------------------------------------------------------------------
class _Executor:
    def __repr__(self):
        return "Executor()"

    def run(self, *args, **kwargs):  # pragma: no cover - must never be reached
        raise AssertionError("the executor ran")


@pytest.mark.parametrize("kwargs, message", [
    ({"n_jobs": 0}, "n_jobs must be an integer >= 1"),
    ({"n_jobs": -2}, "n_jobs must be an integer >= 1"),
    ({"n_jobs": True}, "n_jobs must be an integer >= 1"),
    ({"trial_timeout": 0}, "trial_timeout must be a positive number"),
    ({"trial_timeout": -1}, "trial_timeout must be a positive number"),
    ({"trial_timeout": "x"}, "trial_timeout must be a positive number"),
    ({"heartbeat_timeout": 0}, "heartbeat_timeout must be a positive number"),
    ({"isolate": "yes"}, "isolate must be True or False"),
    ({"devices": "0"}, "devices must be a list of GPU ids"),
    ({"devices": []}, "devices is empty"),
    ({"devices": [1.5]}, "devices must be a list of GPU ids"),
    ({"executor": _Executor(), "n_jobs": 2}, "With executor=.*leave n_jobs"),
    ({"executor": _Executor(), "devices": [0]}, "With executor="),
    ({"executor": _Executor(), "callbacks": [print]}, "callbacks"),
], ids=lambda v: repr(v) if isinstance(v, dict) else None)
def test_bad_input_raises_value_error_and_writes_nothing(kwargs, message, tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("bad", objective="loss", storage=storage, seed=0)
    before = study.storage.get_study("bad")

    def train(trial):  # pragma: no cover - never runs
        return {"loss": trial.hp.Float("x", 0.0, 1.0)}

    with pytest.raises(ValueError, match=message):
        study.optimize(train, max_trials=2, show_progress=False, **kwargs)
    assert study.trials == []
    assert study.storage.get_study("bad") == before


@pytest.mark.parametrize("kwargs", [{"n_jobs": 2}, {"isolate": True}, {"trial_timeout": 5.0}])
def test_an_unpicklable_function_is_a_clear_value_error(kwargs, tmp_path):
    lock = threading.Lock()

    def train_with_lock(trial):  # pragma: no cover - never runs
        with lock:
            return {"loss": trial.hp.Float("x", 0.0, 1.0)}

    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("unpicklable", objective="loss", storage=storage, seed=0)
    with pytest.raises(ValueError) as info:
        study.optimize(train_with_lock, max_trials=2, show_progress=False, **kwargs)
    text = str(info.value)
    assert "'train_with_lock'" in text  # names the function
    assert "lock" in text  # and what could not be pickled
    assert "picklable" in text and "n_jobs=1" in text  # and how to fix it
    assert study.trials == []
    assert tunewise.load_study("unpicklable", storage).trials == []


# -- heartbeats and dead workers ------------------------------------------------------------------
def _stale_trial(study: Study, **fields):
    """A trial that a worker elsewhere claimed: created with ask(), then handed to ``worker``."""
    trial = study.ask()
    assert study.storage.update_trial(study._id, trial.number, [TrialState.RUNNING], **fields)
    return trial.number


def test_a_trial_of_a_worker_on_another_host_whose_heartbeat_expired_is_taken_over(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("takeover", objective="loss", storage=storage, sampler="random", seed=0,
                  hyperparameters=space_x())
    stale = _stale_trial(study, worker=OTHER_HOST, heartbeat=time.time() - 5)
    stale_x = study.trials[stale].hyperparameters["x"]

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        checks = {}
        if trial.number == stale:  # the presumed-dead worker tries to write: refused
            store = get_storage(storage)
            sid = store.get_study("takeover").id
            checks["old_update"] = float(store.update_trial(
                sid, stale, [TrialState.RUNNING], owner=OTHER_HOST, score=123.0,
                state=TrialState.COMPLETED))
            checks["old_step"] = float(store.add_step(sid, stale, 7, {"loss": 9.0}, owner=OTHER_HOST))
            current = store.get_trial(sid, stale).worker
            checks["new_step"] = float(store.add_step(sid, stale, 8, {"loss": 1.0}, owner=current))
            checks["still_running"] = float(store.get_trial(sid, stale).state == TrialState.RUNNING)
        return {"loss": x, **checks}

    study.optimize(train, max_trials=3, n_jobs=2, heartbeat_timeout=5.0, show_progress=False)
    trials = study.trials
    assert len(trials) == 3
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    t = trials[stale]
    assert t.attempts == 1
    assert t.worker != OTHER_HOST
    assert t.hyperparameters["x"] == stale_x and t.score == pytest.approx(stale_x)
    assert (t.metrics["old_update"], t.metrics["old_step"], t.metrics["new_step"]) == (0.0, 0.0, 1.0)
    assert t.metrics["still_running"] == 1.0
    assert 7 not in t.intermediate and t.intermediate[8] == {"loss": 1.0}
    # afterwards, too, the old worker cannot overwrite the result
    assert not study.storage.update_trial(study._id, stale, [TrialState.RUNNING, TrialState.COMPLETED],
                                          owner=OTHER_HOST, score=123.0)
    assert not study.storage.add_step(study._id, stale, 9, {"loss": 0.0}, owner=OTHER_HOST)
    assert study.trials[stale].score == pytest.approx(stale_x)
    assert 9 not in study.trials[stale].intermediate


def test_a_trial_whose_heartbeat_is_still_valid_is_left_alone_until_it_expires(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("lease", objective="loss", storage=storage, sampler="random", seed=0,
                  hyperparameters=space_x())
    expiry = time.time() + 1.0
    stale = _stale_trial(study, worker=OTHER_HOST, heartbeat=expiry)

    def train(trial):
        time.sleep(0.4)
        return {"loss": trial.hp.Float("x", 0.0, 1.0)}

    study.optimize(train, max_trials=7, n_jobs=2, heartbeat_timeout=1.0, show_progress=False)
    if study.trials[stale].state == TrialState.RUNNING:  # the others finished before expiry
        assert (study.trials[stale].worker, study.trials[stale].attempts) == (OTHER_HOST, 0)
        time.sleep(max(0.0, expiry - time.time()) + 0.1)
        study.optimize(train, max_trials=7, n_jobs=2, heartbeat_timeout=1.0, show_progress=False)
    trials = study.trials
    assert len(trials) == 7
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 7
    assert trials[stale].attempts == 1 and trials[stale].worker != OTHER_HOST
    assert trials[stale].started >= expiry  # claimed only once its lease had run out


@pytest.mark.parametrize("then", ["report", "return"])
def test_a_run_whose_trial_was_taken_over_stops_without_writing(then, tmp_path):
    """The worker that took the trial over owns it: the first run's report is refused (the
    child's trial.report raises TrialLost and the run stops) and its result is not recorded."""
    logdir = str(tmp_path)
    storage = f"sqlite:///{tmp_path / 's.db'}"

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        if trial.number == 0:
            store = get_storage(storage)
            sid = store.get_study("lost").id
            assert store.update_trial(sid, 0, [TrialState.RUNNING], worker=OTHER_HOST,
                                      heartbeat=time.time() + 3600)
            if then == "report":
                trial.report(1, {"loss": 5.0})
                log_run(logdir, "after-report")  # never reached: the report raises TrialLost
        return {"loss": x}

    study = Study("lost", objective="loss", storage=storage, sampler="random", seed=0,
                  hyperparameters=space_x())
    # the other host holds trial 0 for an hour: this worker waits for it until its timeout
    study.optimize(train, max_trials=3, n_jobs=2, timeout=4, show_progress=False)
    assert study.stop_reason == "timeout of 4 s reached"
    trials = study.trials
    assert len(trials) == 3
    assert (trials[0].state, trials[0].worker) == (TrialState.RUNNING, OTHER_HOST)
    assert trials[0].score is None and trials[0].intermediate == {}
    assert [t.state for t in trials[1:]] == [TrialState.COMPLETED] * 2
    assert runs(logdir) == []


def test_the_heartbeat_keeps_the_leases_of_trials_running_in_children(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("beats", objective="loss", storage=storage, sampler="random", seed=0,
                  hyperparameters=space_x())

    def train(trial):
        time.sleep(2.0)
        return {"loss": trial.hp.Float("x", 0.0, 1.0)}

    errors = []

    def search():
        try:
            study.optimize(train, max_trials=2, n_jobs=2, heartbeat_timeout=0.6, show_progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=search)
    thread.start()
    try:
        other = tunewise.load_study("beats", storage)  # another worker's view
        wait_for(lambda: sum(t.state == TrialState.RUNNING for t in other.trials) == 2, 30,
                 "two running trials")
        time.sleep(1.0)  # more than the lease
        now = time.time()
        assert other.storage.expired_trials(other._id, now) == []
        fresh = get_storage(storage).get_trials(other._id)  # a new cache: current leases
        running = [t for t in fresh if t.state == TrialState.RUNNING]
        assert len(running) == 2 and all(t.heartbeat > now for t in running)
    finally:
        thread.join(60)
    assert not errors
    assert [(t.state, t.attempts) for t in study.trials] == [(TrialState.COMPLETED, 0)] * 2


def _dead_local_worker() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}:1:dead"


@pytest.mark.parametrize("retries_before, max_retries, expected", [
    (0, 0, TrialState.COMPLETED),  # the first retry is always granted
    (1, 0, TrialState.FAILED),  # max(1, 0) = 1 retry, already spent
    (1, 2, TrialState.COMPLETED),
    (2, 2, TrialState.FAILED),
])
def test_a_trial_whose_worker_died_too_often_fails(retries_before, max_retries, expected, tmp_path):
    logdir = str(tmp_path)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = Study("died", objective="loss", storage=storage, sampler="random", seed=0,
                  hyperparameters=space_x())
    worker = _dead_local_worker()
    stale = _stale_trial(study, worker=worker, attempts=retries_before,
                         heartbeat=time.time() + 3600)  # the lease is valid: the pid tells

    def train(trial):
        log_run(logdir, trial.number)
        return {"loss": trial.hp.Float("x", 0.0, 1.0)}

    study.optimize(train, max_trials=3, n_jobs=2, max_retries_per_trial=max_retries,
                   max_consecutive_failed_trials=None, show_progress=False)
    trials = study.trials
    assert len(trials) == 3
    t = trials[stale]
    assert t.state == expected
    ran = [int(n) for (n,) in runs(logdir)]
    if expected == TrialState.FAILED:
        assert "died" in t.error and f"process {worker.split(':')[1]}" in t.error, t.error
        assert f"max_retries_per_trial={max_retries}" in t.error
        assert stale not in ran
    else:
        assert t.attempts == retries_before + 1 and t.error is None
        assert ran.count(stale) == 1
    assert all(trials[n].state == TrialState.COMPLETED for n in range(3) if n != stale)


# -- whole workers killed, Ctrl-C ----------------------------------------------------------------
def _epochs(logdir: Path) -> list[tuple[int, int, int, int]]:
    path = logdir / "epochs.log"
    if not path.exists():
        return []
    return [tuple(int(v) for v in line.split()) for line in path.read_text().splitlines() if line]


def _starts(logdir: Path) -> list[tuple[int, int, int, int]]:
    """(number, pid, parent pid, first epoch) of every run of a trial."""
    out = []
    for path in glob.glob(str(logdir / "start-*")):
        text = Path(path).read_text().split()
        if len(text) == 4:
            out.append(tuple(int(v) for v in text))
    return out


@pytest.mark.parametrize("heartbeat", [
    1.0,
    None,
], ids=["heartbeat_1s", "default_heartbeat"])
def test_a_worker_killed_with_sigkill_the_other_finishes_the_study(heartbeat, tmp_path):
    db, max_trials = tmp_path / "s.db", 8
    cmd = [sys.executable, str(WORKER), str(db), str(tmp_path), str(max_trials), "2", "6", "0.1"]
    cmd += [] if heartbeat is None else [str(heartbeat)]
    victim = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    survivor = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # both search at once, and one of the victim's trials has saved two epochs
        wait_for(lambda: any(ppid == survivor.pid for _, _, ppid, _ in _starts(tmp_path))
                 and any(ppid == victim.pid and epoch >= 2 for _, _, ppid, epoch in _epochs(tmp_path)),
                 60, "both workers to run trials")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        victims_children = {pid for _, pid, ppid, _ in _starts(tmp_path) if ppid == victim.pid}
        wait_for(lambda: not any(alive(pid) for pid in victims_children), 10,
                 "the killed worker's trial processes to die with it")
        killed_at: dict[int, int] = {}  # the last epoch each of the victim's trials logged
        for n, _, ppid, epoch in _epochs(tmp_path):
            if ppid == victim.pid:
                killed_at[n] = max(epoch, killed_at.get(n, 0))
        out, _ = survivor.communicate(timeout=120)
    finally:
        for process in (victim, survivor):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert survivor.returncode == 0, out

    study = tunewise.load_study("w", f"sqlite:///{db}")
    trials = study.trials
    assert len(trials) == max_trials
    assert [t.state for t in trials] == [TrialState.COMPLETED] * max_trials, \
        [(t.number, t.state.value, t.error) for t in trials]
    runs_by_victim = {n for n, _, ppid, _ in _starts(tmp_path) if ppid == victim.pid}
    unfinished = {n for n in runs_by_victim
                  if not any(e == 6 and ppid == victim.pid and m == n
                             for m, _, ppid, e in _epochs(tmp_path))}
    assert unfinished  # the kill came mid-trial
    for n in unfinished:
        assert trials[n].attempts == 1
        retry = [first for m, _, ppid, first in _starts(tmp_path) if m == n and ppid == survivor.pid]
        assert len(retry) == 1
        # resumed from its checkpoint (saved just before the epoch's log line)
        assert retry[0] in (killed_at.get(n, 0), killed_at.get(n, 0) + 1)
    assert any(first >= 2 for m, _, ppid, first in _starts(tmp_path)
               if ppid == survivor.pid and m in unfinished)  # not from epoch 0


def test_ctrl_c_interrupts_the_running_trials_and_leaves_no_process(tmp_path):
    db = tmp_path / "s.db"
    base = [sys.executable, str(WORKER), str(db), str(tmp_path), "4", "2"]
    search = subprocess.Popen(base + ["200", "0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: {n for n, _, _, _ in _epochs(tmp_path)} >= {0, 1}, 60,
                 "two trials to train an epoch")
        search.send_signal(signal.SIGINT)
        search.communicate(timeout=30)
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()
    assert search.returncode != 0
    children = {pid for _, pid, ppid, _ in _starts(tmp_path)}
    assert len(children) == 2 and all(ppid == search.pid for _, _, ppid, _ in _starts(tmp_path))
    wait_for(lambda: not any(alive(pid) for pid in children), 10, "the trial processes to end")

    study = tunewise.load_study("w", f"sqlite:///{db}")
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.INTERRUPTED] * 2
    assert all("interrupted" in t.error for t in trials)
    reached = {n: max(e for m, _, _, e in _epochs(tmp_path) if m == n) for n in (0, 1)}

    subprocess.run(base + ["6", "0.02"], check=True, timeout=120, capture_output=True)
    trials = study.trials
    assert len(trials) == 4
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 4
    for n in (0, 1):  # the interrupted trials ran again, from their checkpoints
        resumed = [first for m, pid, _, first in _starts(tmp_path) if m == n and pid not in children]
        assert resumed and resumed[0] >= reached[n] >= 1
