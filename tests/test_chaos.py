"""Chaos: worker processes on one storage, SIGKILLed at random moments and restarted at once.

The run is ``chaos()`` of benchmarks/parallel.py at reduced size (the benchmark runs 4 workers,
500 trials and 10 kills on PostgreSQL): 3 workers, 60 trials of a 600-point grid, 3 kills. Each
trial sleeps 0.05-0.3 s in five steps, saving a checkpoint after each and restoring it when run
again, and writes a marker (trial number, pid) when it starts and when it ends. Checked: exactly
60 completed trials; every stored score equals the function's value at its point (none lost,
none from a half-restored checkpoint); no grid point in two trials, in the storage or in the
markers; every trial a killed worker was running was run again by another worker and completed
with ``attempts >= 1``.

On SQLite and on PostgreSQL (the ``postgres_fresh_url`` fixture; skipped where no server can be
started); once more on PostgreSQL with every worker on a "host" of its own, so that only the
heartbeat lease finds a dead one. Then the end of a search: the last live worker must take over
a dead worker's trial before it stops, at once on the same host and when the lease ends on
another. About 45 s in all on a 2-core machine.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tunewise
from tunewise import TrialState

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _bench():
    spec = importlib.util.spec_from_file_location("bench_parallel", REPO / "benchmarks" / "parallel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(result: dict) -> None:
    summary = {k: result[k] for k in ("states", "kills_log", "trials_with_attempts", "wrong_scores",
                                      "points_twice", "marker_points_twice", "bad_exits", "checks")}
    assert result["ok"], summary
    assert result["completed"] == result["trials"] == 60
    assert result["states"] == {"completed": 60}
    assert len(result["kills_log"]) == 3
    hit = [k for k in result["kills_log"] if k.get("trial") is not None]
    for k in hit:
        assert k["state"] == "completed" and k["attempts"] >= 1 and k["restarted_by_other_pid"], k
    # every trial that ran again is accounted for by a kill (one that hit a running trial,
    # or one that came between a worker's claim of a trial and its first marker)
    assert {k["trial"] for k in hit} <= set(result["trials_with_attempts"])


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_sigkilled_workers_lose_nothing_and_run_no_point_twice(storage, tmp_path, request):
    if storage == "postgres":
        url = request.getfixturevalue("postgres_fresh_url")
    else:
        url = f"sqlite:///{tmp_path / 'chaos.db'}"
    result = _bench().chaos(url, workers=3, trials=60, kills=3, heartbeat=5.0, retries=10, seed=1,
                            workdir=str(tmp_path), timeout=240, log=lambda *a: None)
    _check(result)
    # killed workers on this machine are found dead through their pid: taken over within
    # about a second (a new worker starts at once and looks first), not after the 5 s lease
    assert result["restart_after_s"]["max"] is None or result["restart_after_s"]["max"] < 4.5


def test_a_worker_on_another_host_is_taken_over_when_its_lease_expires(postgres_fresh_url, tmp_path):
    """Every worker reports a host name of its own, so that only the heartbeat lease (2 s)
    tells that a killed one is gone. Kills come in the first third of the run, so that their
    leases expire while the other workers still run (see the next test for the end)."""
    result = _bench().chaos(postgres_fresh_url, workers=3, trials=60, kills=3, heartbeat=2.0,
                            retries=10, seed=2, workdir=str(tmp_path), timeout=240,
                            distinct_hosts=True, scale=2.0, kill_window=(0.05, 0.33),
                            log=lambda *a: None)
    _check(result)
    delays = [k["restart_after_s"] for k in result["kills_log"] if k.get("restart_after_s") is not None]
    assert all(d >= 1.5 for d in delays), delays  # not before the lease ran out


_LEFTOVER = """
import os, socket, sys, time

url, role, folder, hosts = sys.argv[1:5]
if hosts == "distinct":  # as if on a machine of its own: only the lease tells it died
    socket.gethostname = lambda: "host-" + role

import tunewise

def train(trial):
    trial.hp.Int("i", 0, 9)
    open(os.path.join(folder, f"started-{trial.number}"), "w").close()
    time.sleep(60 if role == "A" else (2 if trial.number == 2 else 0))
    return {"loss": float(trial.number)}

tunewise.load_study("s", url).optimize(train, max_trials=3, heartbeat_timeout=3, show_progress=False)
"""


@pytest.mark.parametrize("hosts", [
    "same",
    "distinct",
])
def test_the_last_worker_does_not_leave_a_dead_workers_trial_behind(hosts, tmp_path):
    """Worker A runs trial 0 and is killed while worker B (alive) runs the last trial
    (max_trials=3). B must take trial 0 over before it stops: at once on the same machine
    (the pid check), after A's 3 s lease on another."""
    url = f"sqlite:///{tmp_path / 'left.db'}"
    space = tunewise.HyperParameters()
    space.Int("i", 0, 9)
    tunewise.Study("s", objective="loss", storage=url, sampler="grid", seed=0, hyperparameters=space)
    script = tmp_path / "worker.py"
    script.write_text(_LEFTOVER)

    def worker(role):
        return subprocess.Popen([sys.executable, str(script), url, role, str(tmp_path), hosts])

    def wait_for(name):
        end = time.monotonic() + 60
        while not (tmp_path / name).exists():
            assert time.monotonic() < end, f"{name} never appeared"
            time.sleep(0.01)

    a = worker("A")
    try:
        wait_for("started-0")
        b = worker("B")
        wait_for("started-2")
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        assert b.wait(timeout=120) == 0
    finally:
        a.kill()
    trials = tunewise.load_study("s", url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3, [(t.number, t.state.value) for t in trials]
    assert trials[0].attempts == 1
