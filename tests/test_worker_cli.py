"""``tunewise run`` and ``tunewise worker`` as separate processes sharing one study.

``tunewise run`` stores what it runs in the study (``settings["run"]``: the function path made
absolute, or the command with its folder and space, and the run's options), so that
``tunewise worker --storage URL`` started from any folder joins the search. These tests start
real processes (``python -m tunewise``) on one SQLite file and read what they stored; every
user error is one line on stderr with exit status 2 and no traceback. Also: ``--dask`` on a
``LocalCluster`` started here, ``--trial-timeout``, and workers whose objective or
hyperparameter definitions differ from the stored study's.

Trials that must overlap wait for a flag file (``TW_GO``) that the test creates once it has
seen trials of both processes in the database, so the sharing does not depend on timing. The
first trial of a define-by-run study does not wait: until it ends, the study does not know its
space, and no other trial can start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tunewise
from tunewise.storage import get_storage

UNREACHABLE = "tcp://127.0.0.1:1"

TRAIN_PY = textwrap.dedent('''
    import os
    import time


    def _wait_for_go():
        flag = os.environ.get("TW_GO")
        deadline = time.time() + 60
        while flag and not os.path.exists(flag) and time.time() < deadline:
            time.sleep(0.05)


    def train(trial):
        a = trial.hp.Int("a", 0, 3)
        b = trial.hp.Choice("b", ["u", "v", "w", "z"])
        if trial.number > 0:  # the first trial tells the study the space; the others wait
            _wait_for_go()
        return {"loss": a + "uvwz".index(b) / 10, "pid": os.getpid()}


    def sleepy(trial):
        x = trial.hp.Choice("x", [0, 1, 2])
        if x == 1:
            time.sleep(5)
        return {"loss": float(x)}


    def lr_train(trial):
        lr = trial.hp.Float("lr", 1e-3, 1.0, sampling="log")
        return {"loss": lr, "pid": os.getpid()}
''')

OTHER_TRAIN_PY = textwrap.dedent('''
    def train(trial):  # lr over another range than the stored study's
        return {"loss": trial.hp.Float("lr", 1e-4, 1e-1, sampling="log")}


    def int_train(trial):  # lr as an Int
        return {"loss": float(trial.hp.Int("lr", 1, 5))}
''')

JOB_PY = textwrap.dedent('''
    """A command-mode training script: needs its folder's data.txt, waits for the flag."""
    import argparse, json, os, time

    parser = argparse.ArgumentParser()
    parser.add_argument("--a", type=int)
    parser.add_argument("--b")
    args = parser.parse_args()
    offset = float(open("data.txt").read())  # relative: the command runs in its own folder
    flag = os.environ.get("TW_GO")
    deadline = time.time() + 60
    while flag and not os.path.exists(flag) and time.time() < deadline:
        time.sleep(0.05)
    print(json.dumps({"loss": offset + args.a + (0.5 if args.b == "v" else 0.0)}))
''')


# -- helpers ------------------------------------------------------------------------------
def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tunewise", *args], cwd=cwd,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"{process.args} ran over {timeout} s\n{out}\n{err}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def tw(*args: str, cwd: Path, env: dict[str, str] | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess:
    return finish(start(*args, cwd=cwd, env=env), timeout)


def assert_ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, f"{done.args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def assert_usage_error(done: subprocess.CompletedProcess, *words: str) -> str:
    """Exit status 2, no traceback, and one error line holding ``words``; returns it."""
    assert done.returncode == 2, f"{done.args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("tunewise: error:")]
    assert len(errors) == 1, done.stderr
    tail = done.stderr.split(errors[0], 1)[1]
    assert not tail.strip(), f"more after the error line: {tail!r}"
    for word in words:
        assert word in errors[0], f"{word!r} not in {errors[0]!r}"
    return errors[0]


def wait_until(predicate, processes=(), timeout: float = 60.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds; fail early if one of ``processes`` has ended."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for p in processes:
            if p.poll() is not None:
                done = finish(p)
                raise AssertionError(f"{p.args} ended (exit {p.returncode}) before {what}:\n"
                                     f"{done.stdout}\n{done.stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stored_trials(url: str, name: str | None = None) -> list:
    """The trials of study ``name`` (or of the only study) in ``url``; [] while there is none.
    Never creates the database (the processes under test do)."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return []
    storage = get_storage(url)
    try:
        studies = storage.list_studies()
        if name is None:
            if len(studies) != 1:
                return []
            name = studies[0].name
        elif not any(s.name == name for s in studies):
            return []
        return storage.get_trials(storage.get_study(name).id)
    finally:
        storage.close()


def worker_pid(trial) -> int:
    _host, pid, _start, _token = trial.worker.split(":")  # "host:pid:start:token"
    return int(pid)


@pytest.fixture
def cli(capsys, monkeypatch):
    """``tunewise ...`` in this process (``tunewise.cli.main``, from a folder): quicker than a
    process for the errors, which are checked as the same one line with exit status 2."""
    from tunewise.cli import main

    def call(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        capsys.readouterr()
        path, modules = list(sys.path), set(sys.modules)
        try:
            with monkeypatch.context() as m:
                m.chdir(cwd)
                code = main(list(args))
        finally:  # the scripts main() imported stay out of other tests' way
            sys.path[:] = path
            for name in set(sys.modules) - modules:
                if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(cwd.parent)):
                    del sys.modules[name]
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["tunewise", *args], code, out, err)
    return call


@pytest.fixture
def project(tmp_path):
    """``proj/`` with the training scripts, ``elsewhere/`` (an empty folder workers start
    from), and the flag file's path in ``TW_GO``."""
    proj, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    proj.mkdir()
    elsewhere.mkdir()
    (proj / "train.py").write_text(TRAIN_PY)
    (elsewhere / "other_train.py").write_text(OTHER_TRAIN_PY)
    (proj / "job.py").write_text(JOB_PY)
    (proj / "data.txt").write_text("0.25")
    go = tmp_path / "go.flag"
    return {"proj": proj, "elsewhere": elsewhere, "go": go, "env": {"TW_GO": str(go)},
            "tmp": tmp_path}


@pytest.fixture(scope="module")
def unreachable_dask(tmp_path_factory):
    """``tunewise run --dask tcp://127.0.0.1:1`` waits 30 s for the scheduler before it gives
    up; the runs start when the first test of the module asks for them and are read by the
    last, so that the wait overlaps the other tests. One is on a new database; the other
    passes --overwrite to a study holding two trials, which must survive the error."""
    folder = tmp_path_factory.mktemp("unreachable")
    (folder / "train.py").write_text(TRAIN_PY)
    fresh = f"sqlite:///{folder / 'fresh.db'}"
    kept = f"sqlite:///{folder / 'kept.db'}"
    study = tunewise.Study("train.lr_train", objective="loss", storage=kept)
    study.optimize(lambda t: {"loss": t.hp.Float("lr", 1e-3, 1.0, sampling="log")},
                   max_trials=2, show_progress=False)
    runs = {
        "fresh": start("run", "train.py:lr_train", "--objective", "loss", "--storage", fresh,
                       "--dask", UNREACHABLE, cwd=folder),
        "overwrite": start("run", "train.py:lr_train", "--objective", "loss", "--storage", kept,
                           "--overwrite", "--dask", UNREACHABLE, cwd=folder),
    }
    yield {"runs": runs, "kept": kept}
    for p in runs.values():
        if p.poll() is None:
            p.kill()
            p.communicate()


# -- a run and a worker share the work ------------------------------------------------------
def test_run_and_worker_from_another_folder_share_a_grid(project, unreachable_dask):
    proj, elsewhere, go, env = project["proj"], project["elsewhere"], project["go"], project["env"]
    url = f"sqlite:///{project['tmp'] / 'x.db'}"
    run = start("run", "train.py:train", "--objective", "loss", "--max-trials", "10",
                "--storage", "sqlite:///../x.db", "--sampler", "grid", "--n-jobs", "2",
                cwd=proj, env=env)
    worker = None
    try:
        # The run stores what it runs before its first trial starts.
        wait_until(lambda: len(stored_trials(url)) >= 1, [run], what="the run's first trial")
        # From another folder, with nothing but the storage: the study says what to run.
        worker = start("worker", "--storage", url, "--n-jobs", "2", cwd=elsewhere, env=env)
        wait_until(lambda: len({t.worker for t in stored_trials(url)}) >= 2, [run, worker],
                   what="trials of both processes")
    finally:
        go.touch()
    done_run, done_worker = finish(run), finish(worker)
    assert_ok(done_run)
    assert_ok(done_worker)
    assert "joining study 'train.train'" in done_worker.stderr

    trials = stored_trials(url)
    assert len(trials) == 10  # exactly max_trials, though two processes created trials
    assert all(t.state.value == "completed" for t in trials), [(t.state, t.error) for t in trials]
    points = [(t.hyperparameters["a"], t.hyperparameters["b"]) for t in trials]
    assert len(set(points)) == 10, f"a point ran twice: {sorted(points)}"
    assert {worker_pid(t) for t in trials} == {run.pid, worker.pid}
    # Trials ran in the trial processes of both (n_jobs=2 each), not in the two main processes.
    child_pids = {int(t.metrics["pid"]) for t in trials}
    assert len(child_pids) >= 3 and not child_pids & {run.pid, worker.pid}

    study = tunewise.load_study("train.train", url)
    spec = study.settings["run"]
    assert Path(spec["function"].rsplit(":", 1)[0]).is_absolute()
    assert os.path.samefile(spec["function"].rsplit(":", 1)[0], proj / "train.py")
    assert spec["function"].endswith(":train")
    assert spec["max_trials"] == 10


def test_worker_joins_a_command_study_and_runs_it_in_its_folder(project):
    proj, elsewhere, go, env = project["proj"], project["elsewhere"], project["go"], project["env"]
    db = project["tmp"] / "cmd.db"
    url = f"sqlite:///{db}"
    (proj / "cfg.yaml").write_text(textwrap.dedent(f"""\
        study: cmd-study
        objective: loss
        sampler: grid
        max_trials: 5
        command: '{sys.executable} job.py --a {{a}} --b {{b}}'
        space:
          a: {{type: int, min: 0, max: 2}}
          b: [u, v]
        """))
    # Started from tmp (not proj): the command from the file runs in the file's folder.
    run = start("run", "--config", "proj/cfg.yaml", "--storage", url, cwd=project["tmp"], env=env)
    worker = None
    try:
        wait_until(lambda: len(stored_trials(url)) >= 1, [run], what="the run's first trial")
        worker = start("worker", "--storage", url, cwd=elsewhere, env=env)
        wait_until(lambda: len({t.worker for t in stored_trials(url)}) >= 2, [run, worker],
                   what="trials of both processes")
    finally:
        go.touch()
    assert_ok(finish(run))
    assert_ok(finish(worker))

    trials = stored_trials(url)
    assert len(trials) == 5
    assert all(t.state.value == "completed" for t in trials), [(t.state, t.error) for t in trials]
    assert {worker_pid(t) for t in trials} == {run.pid, worker.pid}
    points = {(t.hyperparameters["a"], t.hyperparameters["b"]) for t in trials}
    assert len(points) == 5
    for t in trials:  # data.txt was read from proj/ by the worker's commands too
        a, b = t.hyperparameters["a"], t.hyperparameters["b"]
        assert t.metrics["loss"] == pytest.approx(0.25 + a + (0.5 if b == "v" else 0.0))

    spec = tunewise.load_study("cmd-study", url).settings["run"]
    assert spec["command"] == f"{sys.executable} job.py --a {{a}} --b {{b}}"
    assert os.path.samefile(spec["workdir"], proj)
    assert set(spec["space"]) == {"a", "b"}
    assert spec["max_trials"] == 5


def test_worker_flags_override_the_stored_run_options(project, cli):
    """A worker stops at the stored max_trials; --max-trials raises it, --timeout replaces the
    stored timeout, --isolate runs each of its trials in a fresh process."""
    proj, elsewhere = project["proj"], project["elsewhere"]
    url = f"sqlite:///{project['tmp'] / 'more.db'}"
    run = tw("run", "train.py:lr_train", "--objective", "loss", "--max-trials", "2",
             "--timeout", "600", "--storage", url, "--quiet", cwd=proj)
    assert_ok(run)
    spec = tunewise.load_study("train.lr_train", url).settings["run"]
    assert spec["max_trials"] == 2 and spec["timeout"] == 600
    tunewise.Study("another", objective="loss", storage=url)  # so --study is needed
    assert_usage_error(cli("worker", "--storage", url, cwd=elsewhere), "2 studies", "--study")
    study = ("--study", "train.lr_train")
    again = cli("worker", "--storage", url, *study, "--quiet", cwd=elsewhere)  # nothing to do
    assert again.returncode == 0, again.stderr
    assert len(stored_trials(url, "train.lr_train")) == 2
    more = cli("worker", "--storage", url, *study, "--max-trials", "4", "--isolate", cwd=elsewhere)
    assert more.returncode == 0, more.stderr
    assert "joining study 'train.lr_train'" in more.stderr and "(2 trials so far)" in more.stderr
    trials = stored_trials(url, "train.lr_train")
    assert len(trials) == 4 and all(t.state.value == "completed" for t in trials)
    assert {worker_pid(t) for t in trials[:2]} != {worker_pid(t) for t in trials[2:]}
    assert {worker_pid(t) for t in trials[2:]} == {os.getpid()}
    isolated = [int(t.metrics["pid"]) for t in trials[2:]]
    assert len(set(isolated)) == 2 and os.getpid() not in isolated  # a fresh process each

    timed = cli("worker", "--storage", url, *study, "--max-trials", "100000", "--timeout", "0.5",
                cwd=elsewhere)
    assert timed.returncode == 0, timed.stderr
    assert "stopped: timeout of 0.5 s reached" in timed.stdout
    assert 4 < len(stored_trials(url, "train.lr_train")) < 100000
    assert stored_trials(url, "another") == []


# -- --trial-timeout and --dask -------------------------------------------------------------
def test_trial_timeout_fails_the_slow_trial_and_the_search_goes_on(project):
    url = f"sqlite:///{project['tmp'] / 'slow.db'}"
    started = time.monotonic()
    done = tw("run", "train.py:sleepy", "--objective", "loss", "--max-trials", "3",
              "--sampler", "grid", "--trial-timeout", "1", "--storage", url, cwd=project["proj"])
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    trials = stored_trials(url)
    by_x = {t.hyperparameters["x"]: t for t in trials}
    assert sorted(by_x) == [0, 1, 2]
    assert by_x[1].state.value == "failed"
    assert by_x[1].error.startswith("timeout"), by_x[1].error
    assert by_x[1].duration < 4.5  # stopped, not waited for
    assert by_x[0].state.value == by_x[2].state.value == "completed"
    assert "timeout" in done.stderr  # the failure is logged
    spec = tunewise.load_study("train.sleepy", url).settings["run"]
    assert spec["trial_timeout"] == 1.0


DASK_TRAIN_PY = textwrap.dedent('''
    import os, time

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        time.sleep(0.2)
        return {"loss": x, "pid": os.getpid()}
''')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A two-process LocalCluster. Its processes (and this one, where the scheduler runs)
    can import the module ``tw_dask_train`` from ``cluster.module_dir``, as they could an
    installed package."""
    distributed = pytest.importorskip("distributed")
    module_dir = tmp_path_factory.mktemp("importable")
    (module_dir / "tw_dask_train.py").write_text(DASK_TRAIN_PY)
    sys.path.insert(0, str(module_dir))  # the worker processes start with this sys.path
    try:
        c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     host="127.0.0.1", dashboard_address=None)
        c.module_dir = module_dir
        yield c
        c.close()
    finally:
        sys.path.remove(str(module_dir))


def test_run_with_dask_on_a_script_function(project, cluster):
    """The everyday form: the function is a script's, given by its path."""
    url = f"sqlite:///{project['tmp'] / 'dask.db'}"
    (project["proj"] / "dtrain.py").write_text(DASK_TRAIN_PY)
    run = start("run", "dtrain.py:train", "--objective", "loss", "--max-trials", "6",
                "--storage", url, "--dask", cluster.scheduler_address, cwd=project["proj"])
    assert_ok(finish(run))
    trials = stored_trials(url)
    assert len(trials) == 6 and all(t.state.value == "completed" for t in trials)
    pids = {int(t.metrics["pid"]) for t in trials}
    assert run.pid not in pids and os.getpid() not in pids  # ran on the cluster
    assert {worker_pid(t) for t in trials} == pids  # recorded by the process that ran it


def test_run_and_worker_with_dask_on_an_importable_module(project, cluster):
    """module:function that the cluster's processes can import too (an installed package)."""
    url = f"sqlite:///{project['tmp'] / 'dask_mod.db'}"
    done = tw("run", "tw_dask_train:train", "--objective", "loss", "--max-trials", "4",
              "--storage", url, "--dask", cluster.scheduler_address, cwd=cluster.module_dir)
    assert_ok(done)
    assert "stopped: max_trials=4 reached" in done.stdout
    assert tunewise.load_study("tw_dask_train.train", url).settings["run"]["function"] == \
        "tw_dask_train:train"
    done = tw("worker", "--storage", url, "--max-trials", "7", "--dask", cluster.scheduler_address,
              "--quiet", cwd=cluster.module_dir)
    assert_ok(done)
    trials = stored_trials(url)
    assert len(trials) == 7 and all(t.state.value == "completed" for t in trials)
    pids = {int(t.metrics["pid"]) for t in trials}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids  # the cluster's worker processes
    assert {worker_pid(t) for t in trials} == pids  # each trial recorded by the process that ran it


def test_worker_with_dask_joins_a_study_run_with_a_trial_timeout(project, cluster, cli):
    """`tunewise run --trial-timeout` stores the timeout for the workers; a worker started
    with --dask (where the cluster runs the trials and no trial timeout applies) must still
    be able to join, not be told to "leave out --trial-timeout", a flag it was not given."""
    url = f"sqlite:///{project['tmp'] / 'tt.db'}"
    assert_ok(cli("run", "tw_dask_train:train", "--objective", "loss", "--max-trials", "1",
                  "--trial-timeout", "30", "--storage", url, "--quiet", cwd=cluster.module_dir))
    assert tunewise.load_study("tw_dask_train.train", url).settings["run"]["trial_timeout"] == 30
    done = tw("worker", "--storage", url, "--max-trials", "3", "--dask", cluster.scheduler_address,
              "--quiet", cwd=cluster.module_dir)
    assert_ok(done)
    assert len(stored_trials(url)) == 3


# -- errors: one line, exit status 2 ---------------------------------------------------------
@pytest.fixture
def stores(project):
    """py.db: one study made in Python (with one trial); two.db: two studies."""
    tmp = project["tmp"]
    py_url, two_url = f"sqlite:///{tmp / 'py.db'}", f"sqlite:///{tmp / 'two.db'}"
    study = tunewise.Study("made-in-python", objective="loss", storage=py_url)
    study.optimize(lambda t: {"loss": t.hp.Float("lr", 1e-3, 1.0, sampling="log")},
                   max_trials=1, show_progress=False)
    for name in ("first", "second"):
        tunewise.Study(name, objective="loss", storage=two_url)
    return py_url, two_url


def worker_errors(py_url, two_url, missing):
    return [
        (["worker", "--storage", py_url],
         ["'made-in-python'", "pass the function", "tunewise worker --study made-in-python"]),
        (["worker", "--storage", py_url, "--study", "nope"],
         ["no study named 'nope'", "'made-in-python'"]),
        (["worker", "--storage", two_url], ["2 studies", "'first'", "'second'", "--study"]),
        (["worker", "--storage", f"sqlite:///{missing}"], ["no database at", str(missing)]),
    ]


def test_worker_errors_in_processes(project, stores):
    """The worker's own errors, from real processes: one line on stderr, no traceback."""
    missing = project["tmp"] / "missing.db"
    processes = [(start(*args, cwd=project["elsewhere"]), words)
                 for args, words in worker_errors(*stores, missing)[::3]]
    for process, words in processes:
        assert_usage_error(finish(process), *words)
    assert not missing.exists()  # a mistyped path is not created


def test_worker_and_parallel_flag_errors(project, stores, cli):
    tmp = project["tmp"]
    py_url, two_url = stores
    missing = tmp / "missing.db"
    fn = str(project["proj"] / "train.py") + ":lr_train"
    new = iter(f"sqlite:///{tmp / f'new{i}.db'}" for i in range(100))
    run_fn = ["run", fn, "--objective", "loss", "--max-trials", "1"]
    cases = worker_errors(py_url, two_url, missing) + [
        (["worker", "--storage", py_url, fn, "--n-jobs", "0"], ["--n-jobs", "got 0"]),
        (["worker", "--storage", py_url, fn, "--n-jobs", "-3"], ["--n-jobs", "got -3"]),
        (["worker", "--storage", py_url, fn, "--heartbeat-timeout", "0"], ["--heartbeat-timeout"]),
        (["worker", "--storage", py_url, fn, "--dask", UNREACHABLE, "--n-jobs", "2"],
         ["--dask", "--n-jobs"]),
        (["worker", "--storage", py_url, fn, "--dask", UNREACHABLE, "--devices", "0"],
         ["--dask", "--devices"]),
        (run_fn + ["--storage", next(new), "--n-jobs", "0"], ["--n-jobs", "got 0"]),
        (run_fn + ["--storage", next(new), "--n-jobs", "two"], ["--n-jobs", "'two'"]),
        (run_fn + ["--storage", next(new), "--dask", UNREACHABLE, "--n-jobs", "2"],
         ["--dask", "--n-jobs"]),
        (run_fn + ["--storage", next(new), "--dask", UNREACHABLE, "--devices", "0,1"],
         ["--dask", "--devices"]),
        (run_fn + ["--storage", next(new), "--heartbeat-timeout", "0"], ["--heartbeat-timeout"]),
        (run_fn + ["--storage", next(new), "--heartbeat-timeout", "-1"], ["--heartbeat-timeout"]),
    ]
    for args, words in cases:
        assert_usage_error(cli(*args, cwd=project["elsewhere"]), *words)
    assert not missing.exists()
    assert len(stored_trials(py_url, "made-in-python")) == 1


BAD_FLAGS = [["--n-jobs", "0"], ["--heartbeat-timeout", "0"], ["--dask", UNREACHABLE, "--n-jobs", "2"]]


@pytest.mark.parametrize("bad", BAD_FLAGS, ids=lambda bad: bad[0])
def test_a_bad_flag_with_overwrite_keeps_the_stored_trials(project, cli, bad):
    """"Everything that can be checked without the storage is checked first, so that a
    mistake never touches a stored study" (cli._search): --overwrite with a bad parallel flag
    must not delete the study before the flag is refused."""
    url = f"sqlite:///{project['tmp'] / 'keep.db'}"
    tunewise.Study("train.lr_train", objective="loss", storage=url).optimize(
        lambda t: {"loss": t.hp.Float("lr", 1e-3, 1.0, sampling="log")}, max_trials=3,
        show_progress=False)
    done = cli("run", "train.py:lr_train", "--objective", "loss", "--max-trials", "3",
               "--storage", url, "--overwrite", "--quiet", *bad, cwd=project["proj"])
    assert_usage_error(done, bad[0])
    left = len(stored_trials(url, "train.lr_train"))
    assert left == 3, f"{' '.join(bad)} was refused after --overwrite deleted the trials " \
                      f"({left} of 3 left)"


@pytest.mark.parametrize("bad", BAD_FLAGS, ids=lambda bad: bad[0])
def test_a_new_database_is_not_created_for_a_refused_flag(project, cli, bad):
    db = project["tmp"] / "never.db"
    done = cli("run", "train.py:lr_train", "--objective", "loss", "--storage", f"sqlite:///{db}",
               *bad, cwd=project["proj"])
    assert_usage_error(done, bad[0])
    assert not db.exists() or not get_storage(f"sqlite:///{db}").list_studies(), \
        f"the refused run ({' '.join(bad)}) created its study"


def test_a_fatal_error_in_a_worker_is_one_line_not_a_traceback(project, cli):
    """FatalError stops the search; on the command line that is the user's message on one
    line and a failing exit status, not a traceback ("a traceback means a bug in tunewise")."""
    (project["elsewhere"] / "fatal.py").write_text(textwrap.dedent('''
        import tunewise

        def train(trial):
            trial.hp.Float("x", 0.0, 1.0)
            raise tunewise.FatalError("the data has no label column")
    '''))
    url = f"sqlite:///{project['tmp'] / 'fatal.db'}"
    tunewise.Study("fatal", objective="loss", storage=url)
    try:
        done = cli("worker", "--storage", url, "fatal.py:train", "--quiet", cwd=project["elsewhere"])
    except tunewise.FatalError as exc:
        pytest.fail(f"tunewise worker let the FatalError out as a traceback: {exc}")
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("tunewise: error:")]
    assert len(errors) == 1 and "the data has no label column" in errors[0], done.stderr
    (trial,) = stored_trials(url)
    assert trial.state.value == "failed"


# -- a worker whose objective or space differs ----------------------------------------------
def test_opening_a_study_with_another_objective_names_the_difference(tmp_path):
    url = f"sqlite:///{tmp_path / 'obj.db'}"
    tunewise.Study("s", objective="loss", storage=url)
    with pytest.raises(ValueError, match="objective") as info:
        tunewise.Study("s", objective="other", storage=url)
    assert "'other'" in str(info.value)
    with pytest.raises(ValueError, match="objective") as info:
        tunewise.Study("s", objective=tunewise.Objective("other", direction="min"), storage=url)
    assert "'loss'" in str(info.value) and "'other'" in str(info.value)
    with pytest.raises(ValueError, match="objective") as info:
        tunewise.Study("s", objective=tunewise.Objective("loss", direction="max"), storage=url)
    assert "(min)" in str(info.value) and "(max)" in str(info.value)
    assert get_storage(url).get_study("s").settings["objectives"] == [
        {"name": "loss", "direction": "min"}]


def _lr_study(url):
    study = tunewise.Study("lr", objective="loss", storage=url, seed=0)
    study.optimize(lambda t: {"loss": t.hp.Float("lr", 1e-3, 1.0, sampling="log")},
                   max_trials=2, show_progress=False)
    return study


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_worker_with_another_range_gets_a_space_error_naming_both(tmp_path, n_jobs):
    url = f"sqlite:///{tmp_path / 'lr.db'}"
    _lr_study(url)
    worker = tunewise.load_study("lr", url)  # another worker, with another definition of lr
    with pytest.raises(tunewise.SpaceError) as info:
        worker.optimize(lambda t: {"loss": t.hp.Float("lr", 1e-4, 1e-1, sampling="log")},
                        max_trials=4, n_jobs=n_jobs, show_progress=False)
    message = str(info.value)
    assert "'lr'" in message
    assert "min_value=0.001, max_value=1.0" in message  # the stored definition
    assert "min_value=0.0001, max_value=0.1" in message  # the worker's
    trials = tunewise.load_study("lr", url).trials
    assert [t.state.value for t in trials[:2]] == ["completed", "completed"]
    assert not any(t.state.value in ("failed", "running") for t in trials)
    # Nothing was lost: the right function finishes the study.
    worker = tunewise.load_study("lr", url)
    worker.optimize(lambda t: {"loss": t.hp.Float("lr", 1e-3, 1.0, sampling="log")},
                    max_trials=4, show_progress=False)
    assert [t.state.value for t in worker.trials] == ["completed"] * 4


def test_a_worker_with_another_kind_gets_a_space_error_naming_both(tmp_path):
    url = f"sqlite:///{tmp_path / 'lr.db'}"
    _lr_study(url)
    with pytest.raises(tunewise.SpaceError) as info:
        tunewise.load_study("lr", url).optimize(lambda t: {"loss": float(t.hp.Int("lr", 1, 5))},
                                                max_trials=4, show_progress=False)
    message = str(info.value)
    assert "Float('lr'" in message and "Int('lr', min_value=1, max_value=5" in message


def test_a_declared_space_that_differs_names_both(tmp_path):
    url = f"sqlite:///{tmp_path / 'declared.db'}"
    hp = tunewise.HyperParameters()
    hp.Float("lr", 1e-3, 1.0, sampling="log")
    tunewise.Study("d", objective="loss", storage=url, hyperparameters=hp)
    other = tunewise.HyperParameters()
    other.Float("lr", 1e-4, 1e-1, sampling="log")
    with pytest.raises(ValueError, match="hyperparameters") as info:
        tunewise.Study("d", objective="loss", storage=url, hyperparameters=other)
    assert "max_value=1.0" in str(info.value) and "max_value=0.1" in str(info.value)


@pytest.mark.parametrize("function, words, in_process", [
    ("other_train.py:train", ["min_value=0.001, max_value=1.0", "min_value=0.0001, max_value=0.1"],
     False),
    ("other_train.py:int_train", ["Float('lr'", "Int('lr', min_value=1, max_value=5"], True),
])
def test_cli_worker_with_a_conflicting_definition_exits_2(project, cli, function, words, in_process):
    url = f"sqlite:///{project['tmp'] / 'conflict.db'}"
    _lr_study(url)
    args = ("worker", "--storage", url, function, "--max-trials", "4")
    done = cli(*args, cwd=project["elsewhere"]) if in_process else tw(*args, cwd=project["elsewhere"])
    assert_usage_error(done, "'lr'", *words)
    trials = stored_trials(url)
    assert not any(t.state.value in ("failed", "running") for t in trials)
    assert sum(t.state.value == "completed" for t in trials) == 2


# -- last: the unreachable scheduler (started by the first test) ------------------------------
def test_an_unreachable_dask_scheduler_is_a_one_line_error(unreachable_dask):
    done = finish(unreachable_dask["runs"]["fresh"], timeout=90)
    assert_usage_error(done, "cannot reach the Dask scheduler", UNREACHABLE)


def test_an_unreachable_dask_scheduler_with_overwrite_keeps_the_trials(unreachable_dask):
    done = finish(unreachable_dask["runs"]["overwrite"], timeout=90)
    assert_usage_error(done, "cannot reach the Dask scheduler")
    left = stored_trials(unreachable_dask["kept"], "train.lr_train")
    assert len(left) == 2, f"--overwrite deleted the trials before the scheduler was reached " \
                           f"({len(left)} of 2 left)"
