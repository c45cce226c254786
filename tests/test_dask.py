"""``study.optimize(fn, executor=tunewise.DaskExecutor(client))``: tunewise workers run as
Dask tasks on a real ``LocalCluster`` (two worker processes), open the study by its storage
URL and share the trials through it; the study's process only waits and reads the results.
"""

import os
import time

import pytest

import tunewise

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    """One two-process cluster for the module (starting one takes about a second)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    c = distributed.Client(cluster)
    c.wait_for_workers(2, timeout=60)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    """A database both the test and the Dask workers reach: an SQLite file, and a fresh
    PostgreSQL database where tests/conftest.py can give one (skipped, saying why, where not)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dask.db'}"
    return request.getfixturevalue("postgres_fresh_url")


# Module-level functions: Dask sends them to its workers by reference to this module, which
# the worker processes import (they inherit the test process's sys.path).
def slow_train(trial):
    x = trial.hp.Float("x", -1.0, 1.0)
    time.sleep(0.1)
    return {"loss": (x - 0.3) ** 2, "pid": os.getpid()}


def make_meeting_train(folder):
    """Like slow_train, but trial 1 onwards waits (up to 30 s) until two processes have run
    such a trial, so that both Dask workers surely take part however slowly one starts. Trial
    0 does not wait: it tells the study the space, and no other trial starts before it ends."""
    def train(trial):
        x = trial.hp.Float("x", -1.0, 1.0)
        if trial.number > 0:
            open(os.path.join(folder, str(os.getpid())), "w").close()
            deadline = time.monotonic() + 30
            while len(os.listdir(folder)) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        time.sleep(0.05)
        return {"loss": (x - 0.3) ** 2, "pid": os.getpid()}
    return train


def grid_train(trial):
    a = trial.hp.Int("a", 0, 2)
    b = trial.hp.Choice("b", ["u", "v"])
    time.sleep(0.1)
    return {"loss": a + (0.5 if b == "v" else 0.0), "pid": os.getpid()}


def fatal_train(trial):
    trial.hp.Float("x", 0.0, 1.0)
    raise tunewise.FatalError("the data has no 'label' column")


def make_marking_train(marker):
    def train(trial):
        with open(marker, "a") as f:
            f.write("ran\n")
        return {"loss": trial.hp.Float("x", 0.0, 1.0)}
    return train


def test_dask_workers_share_exactly_max_trials(client, storage_url, tmp_path):
    meet = tmp_path / "meet"
    meet.mkdir()
    study = tunewise.Study("dask", objective="loss", storage=storage_url, seed=3)
    study.optimize(make_meeting_train(str(meet)), max_trials=8,
                   executor=tunewise.DaskExecutor(client), show_progress=False)

    trials = tunewise.load_study("dask", storage_url).trials  # what the workers stored
    assert [t.number for t in trials] == list(range(8))
    assert all(t.state.value == "completed" for t in trials), [(t.state, t.error) for t in trials]
    pids = {int(t.metrics["pid"]) for t in trials}
    assert len(pids) >= 2, f"all trials ran in one process: {pids}"
    assert os.getpid() not in pids  # the study's own process ran none of them
    # The trial's worker ("host:pid:start:token") is the Dask worker process that ran it.
    assert {int(t.worker.split(":")[1]) for t in trials} == pids
    assert study.stop_reason == "max_trials=8 reached"
    assert len({t.hyperparameters["x"] for t in trials}) == 8
    assert study.best_trial.score == min(t.score for t in trials)


def test_dask_grid_runs_each_point_once_and_reports_exhaustion(client, tmp_path):
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    study = tunewise.Study("grid", objective="loss", storage=url, sampler="grid")
    study.optimize(grid_train, max_trials=20, executor=tunewise.DaskExecutor(client, n_workers=3),
                   show_progress=False)
    trials = study.trials
    points = [(t.hyperparameters["a"], t.hyperparameters["b"]) for t in trials]
    assert sorted(points) == sorted((a, b) for a in range(3) for b in "uv")  # 6 points, once each
    assert all(t.state.value == "completed" for t in trials)
    assert study.stop_reason == "the search space is exhausted"


def test_resuming_with_dask_counts_earlier_trials(client, tmp_path):
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    study = tunewise.Study("resume", objective="loss", storage=url, seed=1)
    study.optimize(slow_train, max_trials=3, show_progress=False)  # here, in this process
    study.optimize(slow_train, max_trials=6, executor=tunewise.DaskExecutor(client),
                   show_progress=False)
    trials = study.trials
    assert len(trials) == 6 and all(t.state.value == "completed" for t in trials)
    assert {int(t.metrics["pid"]) for t in trials[:3]} == {os.getpid()}
    assert os.getpid() not in {int(t.metrics["pid"]) for t in trials[3:]}


@pytest.mark.parametrize("storage", [None, "sqlite:///:memory:"])
def test_a_storage_only_this_process_sees_is_refused_before_anything_runs(client, tmp_path, storage):
    marker = tmp_path / "ran.txt"
    study = tunewise.Study("local", objective="loss", storage=storage)
    with pytest.raises(ValueError, match="database") as info:
        study.optimize(make_marking_train(str(marker)), max_trials=4,
                       executor=tunewise.DaskExecutor(client), show_progress=False)
    assert "reach" in str(info.value)  # "a database they can reach"
    assert study.trials == []
    assert not marker.exists()


def test_a_fatal_error_in_a_dask_worker_propagates_out_of_optimize(client, tmp_path):
    url = f"sqlite:///{tmp_path / 'fatal.db'}"
    study = tunewise.Study("fatal", objective="loss", storage=url)
    with pytest.raises(tunewise.FatalError, match="no 'label' column"):
        study.optimize(fatal_train, max_trials=10, executor=tunewise.DaskExecutor(client),
                       show_progress=False)
    trials = tunewise.load_study("fatal", url).trials
    assert trials, "the failing trial was not recorded"
    assert all(t.state.value == "failed" for t in trials)
    assert all("no 'label' column" in t.error for t in trials)
    assert len(trials) <= 2  # each worker stopped at its first trial



def fatal_at_trial_2(trial):
    x = trial.hp.Float("x", 0.0, 1.0)
    if trial.number == 2:
        raise tunewise.FatalError("trial 2 found the data corrupt")
    time.sleep(0.15)
    return {"loss": x}


def test_a_fatal_error_in_one_dask_worker_stops_the_others(client, tmp_path):
    """FatalError "stops the whole search" (as with n_jobs, where the other trials are
    interrupted): the other Dask workers must not go on to max_trials, and optimize raises
    when the error happens, not when every other worker has run out of trials."""
    url = f"sqlite:///{tmp_path / 'fatal2.db'}"
    study = tunewise.Study("fatal2", objective="loss", storage=url)
    start = time.monotonic()
    with pytest.raises(tunewise.FatalError, match="data corrupt"):
        study.optimize(fatal_at_trial_2, max_trials=20, executor=tunewise.DaskExecutor(client),
                       show_progress=False)
    trials = study.trials
    failed = [t.number for t in trials if t.state.value == "failed"]
    assert failed == [2]
    assert len(trials) <= 8, (f"the search went on after the fatal error: {len(trials)} trials, "
                               f"raised after {time.monotonic() - start:.1f} s")


def _append_number(path):
    def callback(study, trial):
        with open(path, "a") as f:
            f.write(f"{trial.number}\n")
    return callback


def test_callbacks_with_an_executor_run_or_are_refused(client, tmp_path):
    """optimize(callbacks=...) with executor=: the callbacks run for every trial (wherever
    the executor runs them), or optimize refuses them; never silently dropped."""
    calls = tmp_path / "calls.txt"
    url = f"sqlite:///{tmp_path / 'callbacks.db'}"
    study = tunewise.Study("callbacks", objective="loss", storage=url)
    try:
        study.optimize(grid_train, max_trials=3, executor=tunewise.DaskExecutor(client),
                       callbacks=[_append_number(str(calls))], show_progress=False)
    except ValueError as exc:
        assert "callbacks" in str(exc)
        assert study.trials == []
        return
    assert len(study.trials) == 3
    assert calls.exists(), "the callbacks were silently ignored"
    assert sorted(int(n) for n in calls.read_text().split()) == [0, 1, 2]


@pytest.mark.parametrize("make, words", [
    (lambda c: tunewise.DaskExecutor("not a client"), "distributed.Client"),
    (lambda c: tunewise.DaskExecutor(None), "distributed.Client"),
    (lambda c: tunewise.DaskExecutor(c, n_workers=0), "n_workers"),
    (lambda c: tunewise.DaskExecutor(c, n_workers=-2), "n_workers"),
    (lambda c: tunewise.DaskExecutor(c, n_workers=1.5), "n_workers"),
    (lambda c: tunewise.DaskExecutor(c, n_workers=True), "n_workers"),
])
def test_bad_executor_arguments(client, make, words):
    with pytest.raises(ValueError, match=words):
        make(client)


@pytest.mark.parametrize("extra", [{"n_jobs": 2}, {"devices": [0]}, {"n_jobs": -1}])
def test_executor_with_local_parallel_options_is_refused(client, tmp_path, extra):
    marker = tmp_path / "ran.txt"
    url = f"sqlite:///{tmp_path / 'opts.db'}"
    study = tunewise.Study("opts", objective="loss", storage=url)
    with pytest.raises(ValueError, match="executor="):
        study.optimize(make_marking_train(str(marker)), max_trials=2,
                       executor=tunewise.DaskExecutor(client), show_progress=False, **extra)
    assert study.trials == [] and not marker.exists()


def sleepy_train(trial):
    x = trial.hp.Float("x", 0.0, 1.0)
    if trial.number == 1:
        time.sleep(30)
    return {"loss": x}


def test_trial_timeout_and_isolate_apply_within_each_dask_worker(client, tmp_path):
    url = f"sqlite:///{tmp_path / 'timeout.db'}"
    study = tunewise.Study("timeout", objective="loss", storage=url, seed=0)
    start = time.monotonic()
    study.optimize(sleepy_train, max_trials=4, executor=tunewise.DaskExecutor(client),
                   trial_timeout=2, isolate=True, show_progress=False)
    assert time.monotonic() - start < 25
    states = {t.number: (t.state.value, t.error) for t in study.trials}
    assert len(states) == 4
    assert states[1][0] == "failed" and states[1][1].startswith("timeout")
    assert all(states[n] == ("completed", None) for n in (0, 2, 3))


def _open_files_under(folder):
    """The files under ``folder`` that this process holds open (run on the Dask workers)."""
    import glob

    found = []
    for fd in glob.glob("/proc/self/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(folder):
            found.append(target)
    return sorted(found)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/self/fd (Linux)")
def test_dask_workers_let_go_of_the_database_when_they_finish(client, tmp_path):
    """A Dask worker process outlives its tunewise worker (the cluster serves other work,
    other studies): the storage the task opened is closed when the task ends, not whenever
    the garbage collector happens to run (SQLite files held open; PostgreSQL connections
    left idle on the server)."""
    url = f"sqlite:///{tmp_path / 'handles.db'}"
    study = tunewise.Study("handles", objective="loss", storage=url)
    study.optimize(grid_train, max_trials=2, executor=tunewise.DaskExecutor(client),
                   show_progress=False)
    assert len(study.trials) == 2
    held = {w: files for w, files in client.run(_open_files_under, str(tmp_path)).items() if files}
    assert not held, f"Dask workers still hold the study's database open: {held}"


def make_dying_train(marker):
    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        if trial.number == 1 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the Dask worker process dies mid-trial (as a lost machine would)
        time.sleep(0.1)
        return {"loss": x, "pid": os.getpid()}
    return train


def test_a_trial_whose_dask_worker_died_is_run_again(client, tmp_path):
    """Last in the module: it kills one of the cluster's worker processes (its nanny starts
    a new one)."""
    marker = tmp_path / "died.txt"
    url = f"sqlite:///{tmp_path / 'died.db'}"
    study = tunewise.Study("died", objective="loss", storage=url, seed=0)
    start = time.monotonic()
    study.optimize(make_dying_train(str(marker)), max_trials=5, heartbeat_timeout=3,
                   executor=tunewise.DaskExecutor(client), show_progress=False)
    assert marker.exists()
    trials = study.trials
    assert len(trials) == 5
    assert all(t.state.value == "completed" for t in trials), [(t.state, t.error) for t in trials]
    assert trials[1].attempts >= 1, trials[1]  # run again after its worker died
    assert time.monotonic() - start < 60
    client.wait_for_workers(2, timeout=60)
