"""Parallel search and fault tolerance: tunewise beside Optuna, in one run.

Three parts (``--parts``, default all three):

``throughput``
    Trials per second for a function that returns at once (a float, an int and a three-way
    choice, random sampler), with 1, 2 and 4 workers, on SQLite and on PostgreSQL:

    - ``tunewise-jobs``:  ``Study(...).optimize(fn, max_trials=N, n_jobs=K)`` (K child
      processes; the parent keeps storage, sampler and scheduler; ``n_jobs=1`` runs in-process)
    - ``tunewise-procs``: K processes, each ``tunewise.load_study(name, url).optimize(fn,
      max_trials=N)`` (the storage-coordinated path)
    - ``optuna-threads``: ``study.optimize(fn, n_trials=N, n_jobs=K)`` (threads)
    - ``optuna-procs``:   K processes, each ``optuna.load_study(...).optimize(fn, n_trials=N/K)``
      on the same RDB storage (``sqlite:///``, ``postgresql+psycopg://``)

``cpu``
    Wall time of N trials of about 1 s of single-threaded CPU work each, with 1 and 2 workers
    (this is a 2-core machine), for three workloads: ``python`` (a pure-Python loop; holds the
    GIL), ``matmul`` (NumPy matrix products, one BLAS thread; releases the GIL), ``mlp`` (a
    small torch MLP trained on scikit-learn's digits, ``torch.set_num_threads(1)``). Setups:
    tunewise ``n_jobs=1``, ``n_jobs=2`` and 2 worker processes; Optuna ``n_jobs=1``,
    ``n_jobs=2`` (threads) and 2 processes; all on SQLite.

``chaos``
    Fault tolerance on PostgreSQL (or SQLite): W worker processes each run
    ``load_study(...).optimize(fn, max_trials=N, max_retries_per_trial=R, heartbeat_timeout=H)``
    on a grid of 600 points; each trial sleeps 0.05-0.3 s in 5 steps, saving a checkpoint
    after each step and restoring it when run again, and writes a marker line (trial number,
    pid) when it starts and when it ends. Meanwhile, K times, a random worker is SIGKILLed at
    a random moment and a new one started at once. Checked afterwards: exactly N completed
    trials; every stored score equals the function's value for its hyperparameters; no grid
    point in two trials; every trial a killed worker was running was run again and completed
    with ``attempts >= 1``; and how long that took. ``--chaos-hosts distinct`` makes every
    worker report a host name of its own, so that a dead worker's trial can only be taken
    over when its heartbeat lease expires (as for a worker on another machine).

Usage (from the repository root)::

    python benchmarks/parallel.py --out benchmarks/results/parallel          # everything
    python benchmarks/parallel.py --parts throughput --repeats 5 --trials 200
    python benchmarks/parallel.py --parts cpu --cpu-workloads python,mlp --repeats 3
    python benchmarks/parallel.py --parts chaos --chaos-hosts distinct
    python benchmarks/parallel.py --quick --out /tmp/p     # smoke test (SQLite only, ~1 minute)

A PostgreSQL server is started with ``tests/_postgres.py`` (``initdb`` on 127.0.0.1, as the
``postgres`` user when run as root; ``fsync`` and ``synchronous_commit`` off), or given with
``--postgres-url`` (it must allow ``CREATE DATABASE``). Every run gets a fresh database or
SQLite file. tunewise is imported from a copy of ``src/tunewise`` taken at the start.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # harness.py, when imported from elsewhere
from harness import cpu_model, git_commit, package_version, snapshot_source

STUDY = "bench"

THROUGHPUT_SETUPS = ["tunewise-jobs", "tunewise-procs", "optuna-threads", "optuna-procs"]
CPU_SETUPS = ["bare-1", "bare-procs2", "tunewise-1", "tunewise-jobs2", "tunewise-jobs2declared",
              "tunewise-procs2", "optuna-1", "optuna-threads2", "optuna-procs2"]
WORKLOADS = ["python", "matmul", "mlp"]
LABELS = {
    "tunewise-jobs": "tunewise `optimize(n_jobs=K)`",
    "tunewise-procs": "tunewise, K processes × `load_study().optimize()`",
    "optuna-threads": "Optuna `optimize(n_jobs=K)` (threads)",
    "optuna-procs": "Optuna, K processes × `load_study().optimize()`",
    "bare-1": "no library: 1 process runs the N trials' work (control)",
    "bare-procs2": "no library: 2 processes run N/2 each (control: this machine's ceiling)",
    "tunewise-1": "tunewise `optimize(n_jobs=1)`",
    "tunewise-jobs2": "tunewise `optimize(n_jobs=2)`",
    "tunewise-jobs2declared": "tunewise `optimize(n_jobs=2)`, space declared up front",
    "tunewise-procs2": "tunewise, 2 processes × `load_study().optimize()`",
    "optuna-1": "Optuna `optimize(n_jobs=1)`",
    "optuna-threads2": "Optuna `optimize(n_jobs=2)` (threads)",
    "optuna-procs2": "Optuna, 2 processes × `load_study().optimize()`",
}

# The chaos grid: a 10 × 10 × 6 = 600-point space.
CHAOS_C = ["u", "v", "w", "x", "y", "z"]
CHAOS_STEPS = 5


# --------------------------------------------------------------------------------------------
# Objective functions (module level: the workers import them, cloudpickle sends them)
# --------------------------------------------------------------------------------------------

def tw_trivial(trial):
    x = trial.hp.Float("x", -10.0, 10.0)
    y = trial.hp.Int("y", 0, 100)
    trial.hp.Choice("z", ["a", "b", "c"])
    return {"loss": x * x + y}


def optuna_trivial(trial):
    x = trial.suggest_float("x", -10.0, 10.0)
    y = trial.suggest_int("y", 0, 100)
    trial.suggest_categorical("z", ["a", "b", "c"])
    return x * x + y


_DIGITS: dict[str, Any] = {}


def cpu_work(workload: str, units: int, lr: float) -> float:
    """``units`` of single-threaded CPU work; the result depends on ``lr`` only a little."""
    if workload == "python":
        s = 0
        for i in range(units):
            s += (i * i) % 7
        return float(s % 1000) + lr
    if workload == "matmul":
        import numpy as np

        rng = np.random.default_rng(0)
        a = rng.standard_normal((160, 160))
        b = rng.standard_normal((160, 160)) * (1.5 / 160 ** 0.5)  # gain 1.5: activity stays O(1), no denormals
        for _ in range(units):
            a = np.tanh(a @ b)
        return float(np.abs(a).mean()) + lr
    if workload == "mlp":
        import torch

        torch.set_num_threads(1)
        if "data" not in _DIGITS:
            from sklearn.datasets import load_digits

            d = load_digits()
            x = torch.tensor(d.data / 16.0, dtype=torch.float32)
            y = torch.tensor(d.target, dtype=torch.long)
            _DIGITS["data"] = (x[:1400], y[:1400], x[1400:], y[1400:])
        xt, yt, xv, yv = _DIGITS["data"]
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(units):  # one unit = one epoch, batches of 64
            for i in range(0, len(xt), 64):
                opt.zero_grad()
                loss_fn(model(xt[i:i + 64]), yt[i:i + 64]).backward()
                opt.step()
        with torch.no_grad():
            return float((model(xv).argmax(1) == yv).float().mean())
    raise ValueError(f"unknown workload {workload!r}")


def make_tw_cpu(workload: str, units: int):
    def tw_cpu(trial):
        lr = trial.hp.Float("lr", 1e-3, 1e-1, sampling="log")
        return {"loss": -cpu_work(workload, units, lr)}
    return tw_cpu


def make_optuna_cpu(workload: str, units: int):
    def optuna_cpu(trial):
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        return -cpu_work(workload, units, lr)
    return optuna_cpu


# -- the chaos trial ------------------------------------------------------------------------

def chaos_duration(a: int, b: int, ci: int, scale: float = 1.0) -> float:
    """0.05 to 0.3 s (times ``scale``), fixed by the point."""
    return scale * (0.05 + 0.25 * ((a * 7 + b * 13 + ci * 29) % 37) / 36.0)


def chaos_term(a: int, b: int, ci: int, step: int) -> float:
    return math.sin(a + 0.37 * b * (step + 1) + 1.3 * ci) / (step + 1)


def chaos_value(values: dict[str, Any]) -> float:
    """What the chaos trial returns for ``values``, computed as it does (the same additions in
    the same order), so that a stored score must equal it exactly."""
    a, b, ci = int(values["a"]), int(values["b"]), CHAOS_C.index(values["c"])
    acc = 0.0
    for step in range(CHAOS_STEPS):
        acc += chaos_term(a, b, ci, step)
    return acc


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write of a short line with O_APPEND: not interleaved
    finally:
        os.close(fd)


def chaos_fn(trial):
    a = trial.hp.Int("a", 0, 9)
    b = trial.hp.Int("b", 0, 9)
    c = trial.hp.Choice("c", CHAOS_C)
    ci = CHAOS_C.index(c)
    log = os.environ["TW_CHAOS_LOG"]
    scale = float(os.environ.get("TW_CHAOS_SCALE", "1"))
    path = os.path.join(trial.checkpoint_dir, "state.json")
    step0, acc = 0, 0.0
    if os.path.exists(path):
        with open(path) as f:
            state = json.load(f)
        step0, acc = state["step"], state["acc"]
    pid = os.getpid()
    _append(log, f"start {trial.number} {pid} {step0} {time.time():.6f} {a} {b} {c}\n")
    pause = chaos_duration(a, b, ci, scale) / CHAOS_STEPS
    for step in range(step0, CHAOS_STEPS):
        time.sleep(pause)
        acc += chaos_term(a, b, ci, step)
        tmp = f"{path}.{pid}.tmp"
        with open(tmp, "w") as f:
            json.dump({"step": step + 1, "acc": acc}, f)
        os.replace(tmp, path)  # a kill leaves the old checkpoint or the new one, never half
    _append(log, f"end {trial.number} {pid} {CHAOS_STEPS} {time.time():.6f} {a} {b} {c}\n")
    return {"loss": acc}


# --------------------------------------------------------------------------------------------
# Processes: one run (--_run), one worker of a run (--_worker), one chaos worker
# --------------------------------------------------------------------------------------------

def _optuna_url(url: str) -> str:
    return "postgresql+psycopg://" + url[len("postgresql://"):] if url.startswith("postgresql://") else url


def _quiet_optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _functions(spec: dict[str, Any]):
    if spec["part"] == "throughput":
        return tw_trivial, optuna_trivial
    return make_tw_cpu(spec["workload"], spec["units"]), make_optuna_cpu(spec["workload"], spec["units"])


def _inspect(lib: str, url: str) -> tuple[dict[str, int], list[float]]:
    """The trials' states, and the times (epoch seconds) at which the completed ones finished."""
    if lib == "tunewise":
        import tunewise

        trials = tunewise.load_study(STUDY, url).trials
        states = [t.state.value for t in trials]
        ends = [t.finished for t in trials if t.state.value == "completed" and t.finished]
    else:
        optuna = _quiet_optuna()
        trials = optuna.load_study(study_name=STUDY, storage=_optuna_url(url)).trials
        states = [t.state.name.lower() for t in trials]
        ends = [t.datetime_complete.timestamp() for t in trials
                if t.state.name == "COMPLETE" and t.datetime_complete]
    return {s: states.count(s) for s in sorted(set(states))}, sorted(ends)


def _do_run(spec: dict[str, Any]) -> dict[str, Any]:
    """One run of one setup: create the study, run the search, count what it stored."""
    t0 = time.perf_counter()
    lib, mode, k, n, url = spec["lib"], spec["mode"], spec["k"], spec["trials"], spec["url"]
    if lib == "tunewise":
        import tunewise
    elif lib == "optuna":
        optuna = _quiet_optuna()
    import_s = time.perf_counter() - t0
    tw_fn, op_fn = _functions(spec)
    if lib == "bare":  # the same work in plain processes, no study
        study = None
    elif lib == "tunewise":
        space = None
        if spec.get("declared"):  # what the trials define, so that no worker waits for the first
            space = tunewise.HyperParameters()
            space.Float("lr", 1e-3, 1e-1, sampling="log")
        study = tunewise.Study(STUDY, objective=tunewise.Objective("loss", "min"), storage=url,
                               sampler="random", seed=spec["seed"], hyperparameters=space)
    else:
        study = optuna.create_study(study_name=STUDY, storage=_optuna_url(url), direction="minimize",
                                    sampler=optuna.samplers.RandomSampler(seed=spec["seed"]))
    out: dict[str, Any] = {"import_s": import_s}
    error = None
    if mode == "jobs":
        t1 = time.perf_counter()
        try:
            if lib == "tunewise":
                study.optimize(tw_fn, max_trials=n, n_jobs=k, show_progress=False)
            else:
                study.optimize(op_fn, n_trials=n, n_jobs=k)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            error = f"{type(exc).__name__}: {exc}"
        out["wall_s"] = time.perf_counter() - t1
    else:
        workers = []
        shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
        for i in range(k):
            wspec = dict(spec, index=i, share=shares[i])
            workers.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--_worker", json.dumps(wspec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        t_ready = time.perf_counter()
        for w in workers:  # each says "ready" once imported and attached to the study
            line = w.stdout.readline()
            if line.strip() != "ready":
                error = f"worker did not start: {line.strip()} {w.stderr.read()[-2000:]}"
        out["workers_start_s"] = time.perf_counter() - t_ready
        t_go = time.time()
        for w in workers:
            try:
                w.stdin.write("go\n")
                w.stdin.flush()
            except OSError:
                pass
        ends, per_worker = [], []
        for w in workers:
            stdout, stderr = w.communicate(timeout=spec.get("timeout", 1800))
            lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
            if w.returncode != 0 or not lines:
                error = f"worker exit {w.returncode}: " + " | ".join(stderr.strip().splitlines()[-4:])
                continue
            res = json.loads(lines[-1])
            per_worker.append(res)
            ends.append(res["t_end"])
            if res.get("error"):
                error = res["error"]
        out["wall_s"] = (max(ends) - t_go) if ends else None
        out["per_worker"] = per_worker
    if lib == "bare":
        out["states"], ends = {}, []
        out["completed"] = n if not error else 0
    else:
        out["states"], ends = _inspect(lib, url)
        out["completed"] = out["states"].get("completed", 0) + out["states"].get("complete", 0)
    # Steady state: completions per second from the first trial's end to the last's, which
    # leaves out starting the worker processes and the first trial.
    if len(ends) >= 3 and ends[-1] > ends[0]:
        out["steady_trials_per_s"] = (len(ends) - 1) / (ends[-1] - ends[0])
    if error:
        out["error"] = error[-3000:]
    elif out["completed"] != n:
        out["error"] = f"{out['completed']} trials completed, not {n}: {out['states']}"
    if out.get("wall_s"):
        out["trials_per_s"] = out["completed"] / out["wall_s"]
    return out


def _do_worker(spec: dict[str, Any]) -> None:
    lib, url = spec["lib"], spec["url"]
    tw_fn, op_fn = _functions(spec)
    if lib == "bare":
        study = None
    elif lib == "tunewise":
        import tunewise

        study = tunewise.load_study(STUDY, url)
    else:
        optuna = _quiet_optuna()
        study = optuna.load_study(study_name=STUDY, storage=_optuna_url(url),
                                  sampler=optuna.samplers.RandomSampler(seed=spec["seed"] * 100 + spec["index"] + 1))
    print("ready", flush=True)
    sys.stdin.readline()
    t_start, error = time.time(), None
    try:
        if lib == "bare":
            for i in range(spec["share"]):
                cpu_work(spec["workload"], spec["units"], 0.001 * (i + 1))
        elif lib == "tunewise":
            study.optimize(tw_fn, max_trials=spec["trials"], show_progress=False)
        else:
            study.optimize(op_fn, n_trials=spec["share"])
    except Exception as exc:  # noqa: BLE001 - reported
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"t_start": t_start, "t_end": time.time(), "error": error}), flush=True)


def _do_chaos_worker(spec: dict[str, Any]) -> None:
    if spec.get("host"):  # a machine of its own: only the heartbeat lease tells it died
        import socket

        host = spec["host"]
        socket.gethostname = lambda: host  # type: ignore[assignment]
    import logging

    import tunewise

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s")
    study = tunewise.load_study(spec["study"], spec["url"])
    study.optimize(chaos_fn, max_trials=spec["trials"], max_retries_per_trial=spec["retries"],
                   heartbeat_timeout=spec["heartbeat"], show_progress=False)
    print(json.dumps({"stop_reason": study.stop_reason}), flush=True)


def _do_calibrate(workload: str, seconds: float) -> None:
    """The units of ``workload`` that take ``seconds`` on one thread: doubled until a run takes
    0.3 s, scaled, then corrected twice by timing that very count (best of three)."""
    def best_of(units: int, n: int = 3) -> float:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            cpu_work(workload, units, 0.01)
            times.append(time.perf_counter() - t)
        return min(times)

    cpu_work(workload, 1, 0.01)  # imports, data
    units = 1
    while best_of(units, 1) < 0.3:
        units *= 2
    for _ in range(3):
        units = max(1, round(units * seconds / best_of(units)))
    took = best_of(units)
    print(json.dumps({"units": units, "seconds": took, "units_per_s": units / took}), flush=True)


# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------

def _env(src: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _child(args: list[str], src: str | None, timeout: float, cwd: str) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(src), cwd=cwd,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


class Databases:
    """Fresh SQLite files and PostgreSQL databases, one per run."""

    def __init__(self, workdir: str, postgres: bool, postgres_url: str | None) -> None:
        self.workdir, self.server, self.count = workdir, None, 0
        self.postgres_error = None
        if postgres:
            sys.path.insert(0, str(REPO / "tests"))
            import _postgres

            try:
                if postgres_url:
                    self.server = _postgres.Server(postgres_url, postgres_url, owned=False)
                else:
                    self.server = _postgres.start()
            except _postgres.Unavailable as exc:
                self.postgres_error = str(exc)

    def fresh(self, storage: str) -> tuple[str, Any]:
        self.count += 1
        if storage == "sqlite":
            path = os.path.join(self.workdir, f"run-{self.count}.db")

            def drop() -> None:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
                shutil.rmtree(path + ".checkpoints", ignore_errors=True)
            return f"sqlite:///{path}", drop
        assert self.server is not None
        url, drop = self.server.fresh()
        if self.server.owned:  # drop it now, not at the end: 100+ databases otherwise
            from sqlalchemy.engine import make_url

            name = make_url(url).database
            server = self.server

            def drop() -> None:
                with contextlib.suppress(Exception):  # a leftover database is harmless
                    server._autocommit(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return url, drop

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def _machine(workdir: str) -> dict[str, Any]:
    import sqlite3

    cpu = cpu_model()
    commit = git_commit(REPO)
    postgres = None
    pg = shutil.which("postgres") or shutil.which("pg_ctl")
    if pg:
        try:
            postgres = subprocess.run([pg, "--version"], capture_output=True, text=True,
                                      timeout=10, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return {
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu, "platform": platform.platform(), "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "postgres": postgres,
        "packages": {d: package_version(d) for d in ("tunewise", "optuna", "sqlalchemy", "psycopg", "numpy",
                                              "torch", "scikit-learn")},
        "workdir": workdir, "git_commit": commit,
        "load_average_start": list(os.getloadavg()),
    }


def _stats(xs: list[float]) -> dict[str, Any]:
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(xs), "median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "—"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


# -- part a ---------------------------------------------------------------------------------

def run_throughput(args, dbs: Databases, src: str | None, workdir: str) -> dict[str, Any]:
    storages = [s for s in args.storages if s != "postgres" or dbs.server is not None]
    runs = []
    for rep in range(args.repeats):
        for storage in storages:
            for k in args.workers:
                for setup in THROUGHPUT_SETUPS:
                    lib, mode = setup.split("-")
                    mode = "jobs" if mode in ("jobs", "threads") else "procs"
                    url, drop = dbs.fresh(storage)
                    spec = {"part": "throughput", "lib": lib, "mode": mode, "k": k,
                            "trials": args.trials, "url": url, "seed": rep}
                    t = time.perf_counter()
                    res = _child(["--_run", json.dumps(spec)], src, args.run_timeout, workdir)
                    drop()
                    rec = {"setup": setup, "storage": storage, "workers": k, "repeat": rep,
                           "trials": args.trials, "process_s": time.perf_counter() - t,
                           "load_average_1min": os.getloadavg()[0], **res}
                    runs.append(rec)
                    tps = rec.get("trials_per_s")
                    print(f"  throughput {storage:8s} K={k} {setup:15s} rep {rep}: "
                          f"{_fmt(tps)} trials/s" + (f"  ERROR {rec['error'][:300]}" if rec.get("error") else ""),
                          flush=True)
    summary = []
    for storage in storages:
        for setup in THROUGHPUT_SETUPS:
            for k in args.workers:
                sel = [r for r in runs if r["setup"] == setup and r["storage"] == storage and r["workers"] == k]
                ok = [r for r in sel if not r.get("error")]
                summary.append({"setup": setup, "storage": storage, "workers": k,
                                "trials_per_s": _stats([r.get("trials_per_s") for r in ok]),
                                "steady_trials_per_s": _stats([r.get("steady_trials_per_s") for r in ok]),
                                "failed_runs": len(sel) - len(ok),
                                "errors": sorted({r["error"][:300] for r in sel if r.get("error")})})
    return {"runs": runs, "summary": summary, "storages": storages,
            "skipped": None if "postgres" not in args.storages or dbs.server else dbs.postgres_error}


def throughput_table(part: dict[str, Any], workers: list[int], key: str = "trials_per_s") -> str:
    """``key``: ``trials_per_s`` (the whole search, from the start of ``optimize``, or from
    the go signal to workers already attached to the study) or ``steady_trials_per_s``."""
    def cell(s):
        st = s[key]
        text = "failed" if st["median"] is None else f"**{_fmt(st['median'])}** ({_fmt(st['min'])}–{_fmt(st['max'])})"
        if s["failed_runs"] and st["median"] is not None:
            text += f" [{s['failed_runs']} failed]"
        return text

    lines = ["| storage | setup | " + " | ".join(f"{k} worker{'s' if k > 1 else ''}" for k in workers) + " |",
             "|---|---|" + "---:|" * len(workers)]
    index = {(s["storage"], s["setup"], s["workers"]): s for s in part["summary"]}
    for storage in part["storages"]:
        for setup in THROUGHPUT_SETUPS:
            lines.append(f"| {storage} | {LABELS[setup]} | "
                         + " | ".join(cell(index[(storage, setup, k)]) for k in workers) + " |")
    lines += ["", "tunewise ÷ Optuna (median trials/s), same storage and number of workers:", "",
              "| storage | pair | " + " | ".join(f"{k}" for k in workers) + " |",
              "|---|---|" + "---:|" * len(workers)]
    for storage in part["storages"]:
        for tw, op in (("tunewise-jobs", "optuna-threads"), ("tunewise-procs", "optuna-procs")):
            cells = []
            for k in workers:
                a = index[(storage, tw, k)][key]["median"]
                b = index[(storage, op, k)][key]["median"]
                cells.append(f"{a / b:.2f}" if a and b else "—")
            lines.append(f"| {storage} | {tw} ÷ {op} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- part b ---------------------------------------------------------------------------------

def run_cpu(args, dbs: Databases, src: str | None, workdir: str) -> dict[str, Any]:
    calib = {}
    for w in args.cpu_workloads:
        res = _child(["--_calibrate", w, "--cpu-seconds", str(args.cpu_seconds)], src, 600, workdir)
        if res.get("error"):
            calib[w] = {"error": res["error"]}
            print(f"  cpu: workload {w} unavailable: {res['error'][:300]}", flush=True)
            continue
        calib[w] = {**res, "load_average": list(os.getloadavg())}
        print(f"  cpu: {w}: {res['units']} units took {res['seconds']:.2f} s (best of 3, one thread)",
              flush=True)
    runs = []
    workloads = [w for w in args.cpu_workloads if "units" in calib[w]]
    for rep in range(args.repeats_cpu):
        for w in workloads:
            for setup in CPU_SETUPS:
                lib, rest = setup.split("-")
                k = 1 if rest == "1" else 2
                mode = "procs" if rest.startswith("procs") or lib == "bare" else "jobs"
                url, drop = dbs.fresh("sqlite")
                spec = {"part": "cpu", "lib": lib, "mode": mode, "k": k, "trials": args.cpu_trials,
                        "url": url, "seed": rep, "workload": w, "units": calib[w]["units"],
                        "declared": rest.endswith("declared")}
                res = _child(["--_run", json.dumps(spec)], src, args.run_timeout, workdir)
                drop()
                rec = {"setup": setup, "workload": w, "workers": k, "repeat": rep,
                       "trials": args.cpu_trials, "load_average_1min": os.getloadavg()[0], **res}
                runs.append(rec)
                print(f"  cpu {w:6s} {setup:16s} rep {rep}: {_fmt(rec.get('wall_s'))} s"
                      + (f"  ERROR {rec['error'][:300]}" if rec.get("error") else ""), flush=True)
    summary = []
    for w in workloads:
        walls = {}
        for setup in CPU_SETUPS:
            sel = [r for r in runs if r["setup"] == setup and r["workload"] == w and not r.get("error")]
            walls[setup] = {r["repeat"]: r["wall_s"] for r in sel}
            summary.append({"workload": w, "setup": setup, "wall_s": _stats(list(walls[setup].values())),
                            "failed_runs": len([r for r in runs if r["setup"] == setup and r["workload"] == w]) - len(sel)})
        for base, par in (("bare-1", "bare-procs2"),
                          ("tunewise-1", "tunewise-jobs2"), ("tunewise-1", "tunewise-jobs2declared"),
                          ("tunewise-1", "tunewise-procs2"),
                          ("optuna-1", "optuna-threads2"), ("optuna-1", "optuna-procs2")):
            paired = [walls[base][r] / walls[par][r] for r in walls[base] if r in walls[par]]
            mb, mp = _stats(list(walls[base].values()))["median"], _stats(list(walls[par].values()))["median"]
            summary.append({"workload": w, "speedup": f"{base} / {par}",
                            "ratio_of_medians": mb / mp if mb and mp else None,
                            "paired": _stats(paired)})
        ceiling = next((s["ratio_of_medians"] for s in summary if s.get("workload") == w
                        and s.get("speedup") == "bare-1 / bare-procs2"), None)
        for s in summary:
            if s.get("workload") == w and "speedup" in s:
                s["of_ceiling"] = s["ratio_of_medians"] / ceiling if s["ratio_of_medians"] and ceiling else None
    return {"calibration": calib, "runs": runs, "summary": summary, "workloads": workloads,
            "trials": args.cpu_trials, "seconds_per_trial": args.cpu_seconds}


def cpu_table(part: dict[str, Any]) -> str:
    head = ("| workload | setup | wall s, median (min–max) | speed-up over 1 worker: ratio of medians "
            "(paired per repeat: median, min–max) | ÷ the control's speed-up |")
    lines = [head, "|---|---|---:|---:|---:|"]
    for w in part["workloads"]:
        walls = {s["setup"]: s for s in part["summary"] if s.get("workload") == w and "setup" in s}
        speed = {s["speedup"].split(" / ")[1]: s for s in part["summary"] if s.get("workload") == w and "speedup" in s}
        for setup in CPU_SETUPS:
            st = walls[setup]["wall_s"]
            cell = "failed" if st["median"] is None else f"{_fmt(st['median'])} ({_fmt(st['min'])}–{_fmt(st['max'])})"
            sp = speed.get(setup)
            spc = ofc = ""
            if sp and sp["ratio_of_medians"]:
                p = sp["paired"]
                spc = f"**{sp['ratio_of_medians']:.2f}×** ({p['median']:.2f}, {p['min']:.2f}–{p['max']:.2f})"
                ofc = f"{sp['of_ceiling']:.2f}" if sp.get("of_ceiling") and not setup.startswith("bare") else ""
            lines.append(f"| {w} | {LABELS[setup]} | {cell} | {spc} | {ofc} |")
    return "\n".join(lines)


# -- part c ---------------------------------------------------------------------------------

def _read_markers(path: str) -> list[dict[str, Any]]:
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 8:
                continue  # a line being written
            kind, number, pid, step, t, a, b, c = parts
            out.append({"kind": kind, "number": int(number), "pid": int(pid), "step": int(step),
                        "t": float(t), "point": (int(a), int(b), c)})
    return out


def _in_flight(markers: list[dict[str, Any]], pid: int) -> int | None:
    """The trial ``pid`` was running: its last start marker without an end after it."""
    last = None
    for m in markers:
        if m["pid"] != pid:
            continue
        if m["kind"] == "start":
            last = m["number"]
        elif m["kind"] == "end" and m["number"] == last:
            last = None
    return last


def chaos(url: str, *, workers: int = 4, trials: int = 500, kills: int = 10, heartbeat: float = 5.0,
          retries: int = 10, seed: int = 0, workdir: str, src: str | None = None,
          distinct_hosts: bool = False, scale: float = 1.0, timeout: float = 900.0,
          kill_window: tuple[float, float] = (0.05, 0.9), log=print) -> dict[str, Any]:
    """The chaos run; returns what it measured and checked (``checks``: name -> bool).

    Each kill comes when a number of trials drawn at random from ``kill_window`` (fractions
    of ``trials``) have ended, after a further random 0-0.3 s; the victim is a random live
    worker, and a new worker starts at once."""
    import tunewise

    rng = random.Random(seed)
    marker_log = os.path.join(workdir, "markers.log")
    if os.path.exists(marker_log):
        os.remove(marker_log)
    name = f"chaos-{seed}"
    space = tunewise.HyperParameters()
    space.Int("a", 0, 9)
    space.Int("b", 0, 9)
    space.Choice("c", CHAOS_C)
    tunewise.Study(name, objective=tunewise.Objective("loss", "min"), storage=url, sampler="grid",
                   seed=seed, hyperparameters=space, overwrite=True)
    env = _env(src)
    env["TW_CHAOS_LOG"] = marker_log
    env["TW_CHAOS_SCALE"] = str(scale)
    procs: dict[int, tuple[subprocess.Popen, Any]] = {}  # pid -> (process, its output file)
    started = [0]

    def spawn() -> None:
        i = started[0]
        started[0] += 1
        spec = {"url": url, "study": name, "trials": trials, "retries": retries, "heartbeat": heartbeat,
                "host": f"chaos-host-{i}" if distinct_hosts else None}
        out = open(os.path.join(workdir, f"worker-{i}.log"), "w")  # noqa: SIM115 - closed when it exits
        p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--_chaos-worker",
                              json.dumps(spec)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
        procs[p.pid] = (p, out)

    low = max(1, int(trials * kill_window[0]))
    high = max(low + 1, int(trials * kill_window[1]))
    thresholds = sorted(rng.sample(range(low, high), kills)) if high - low >= kills else \
        sorted(rng.choice(range(low, high)) for _ in range(kills))
    t0 = time.time()
    for _ in range(workers):
        spawn()
    kill_log: list[dict[str, Any]] = []
    exits: list[dict[str, Any]] = []
    timed_out = False
    while procs:
        for pid, (p, out) in list(procs.items()):
            if p.poll() is not None:
                exits.append({"pid": pid, "returncode": p.returncode, "killed": False})
                out.close()
                del procs[pid]
        if time.time() - t0 > timeout:
            timed_out = True
            for pid, (p, out) in procs.items():
                p.kill()
                p.wait()
                out.close()
            procs.clear()
            break
        if thresholds and procs:
            done = sum(1 for m in _read_markers(marker_log) if m["kind"] == "end")
            if done >= thresholds[0]:
                thresholds.pop(0)
                time.sleep(rng.uniform(0.0, 0.3))
                alive = [pid for pid, (p, _) in procs.items() if p.poll() is None]
                if alive:
                    victim = rng.choice(sorted(alive))
                    p, out = procs.pop(victim)
                    t_kill = time.time()
                    os.kill(victim, signal.SIGKILL)
                    p.wait()
                    out.close()
                    spawn()  # at once
                    exits.append({"pid": victim, "returncode": p.returncode, "killed": True})
                    trial = _in_flight(_read_markers(marker_log), victim)
                    kill_log.append({"t": t_kill - t0, "pid": victim, "trial": trial, "done_before": done})
                    log(f"  chaos: t={t_kill - t0:6.2f} s  killed worker {victim} (trial {trial}), "
                        f"{done} trials done")
                continue
        time.sleep(0.02)
    wall = time.time() - t0

    # -- checks -----------------------------------------------------------------------------
    study = tunewise.load_study(name, url)
    stored = study.trials
    markers = _read_markers(marker_log)
    states: dict[str, int] = {}
    for t in stored:
        states[t.state.value] = states.get(t.state.value, 0) + 1
    completed = [t for t in stored if t.state.value == "completed"]
    wrong = [{"number": t.number, "hp": t.hyperparameters, "score": t.score,
              "expected": chaos_value(t.hyperparameters)}
             for t in completed if t.score is None or abs(t.score - chaos_value(t.hyperparameters)) > 1e-12]
    points: dict[tuple, list[int]] = {}
    for t in stored:
        key = (t.hyperparameters["a"], t.hyperparameters["b"], t.hyperparameters["c"])
        points.setdefault(key, []).append(t.number)
    twice = {str(k): v for k, v in points.items() if len(v) > 1}
    # from the markers: a point started under two trial numbers, or a trial under two points
    by_point: dict[tuple, set[int]] = {}
    by_number: dict[int, set[tuple]] = {}
    for m in markers:
        if m["kind"] == "start":
            by_point.setdefault(m["point"], set()).add(m["number"])
            by_number.setdefault(m["number"], set()).add(m["point"])
    markers_twice = {str(k): sorted(v) for k, v in by_point.items() if len(v) > 1}
    markers_mixed = {n: sorted(map(str, v)) for n, v in by_number.items() if len(v) > 1}
    stored_point = {t.number: (t.hyperparameters["a"], t.hyperparameters["b"], t.hyperparameters["c"])
                    for t in stored}
    marker_mismatch = [n for n, v in by_number.items() if stored_point.get(n) not in v]
    by_num = {t.number: t for t in stored}
    killed = []
    for k in kill_log:
        n = k["trial"]
        if n is None:
            killed.append({**k, "note": "between trials (no start marker without its end)"})
            continue
        t = by_num.get(n)
        later = [m for m in markers if m["number"] == n and m["kind"] == "start" and m["t"] - t0 > k["t"]]
        ends = [m for m in markers if m["number"] == n and m["kind"] == "end" and m["t"] - t0 > k["t"]]
        killed.append({
            **k, "state": t.state.value if t else None, "attempts": t.attempts if t else None,
            "restarted_by_other_pid": bool(later) and later[0]["pid"] != k["pid"],
            "restart_after_s": (later[0]["t"] - t0 - k["t"]) if later else None,
            "resumed_from_step": later[0]["step"] if later else None,
            "completed_after_s": (ends[0]["t"] - t0 - k["t"]) if ends else None,
        })
    with_kill = [k for k in killed if k.get("trial") is not None]
    retried = sorted(t.number for t in stored if t.attempts >= 1)
    resumed_starts = [m for m in markers if m["kind"] == "start" and m["step"] > 0]
    restart_delays = [k["restart_after_s"] for k in with_kill if k.get("restart_after_s") is not None]
    complete_delays = [k["completed_after_s"] for k in with_kill if k.get("completed_after_s") is not None]
    bad_exits = [e for e in exits if not e["killed"] and e["returncode"] != 0]
    checks = {
        "no_timeout": not timed_out,
        "all_kills_done": len(kill_log) == kills,
        "exact_count": len(stored) == trials and len(completed) == trials,
        "no_result_lost": not wrong and len(completed) == trials,
        "no_point_twice": not twice and not markers_twice and not markers_mixed and not marker_mismatch,
        "killed_trials_retried": all(k["state"] == "completed" and (k["attempts"] or 0) >= 1
                                     and k["restarted_by_other_pid"] for k in with_kill),
        "workers_exit_cleanly": not bad_exits,
    }
    # Note: "unique points" as stored and as run: the markers show every point run under one
    # trial number, and every trial number run on one point.
    result = {
        "url_kind": url.split(":", 1)[0], "workers": workers, "trials": trials, "kills": kills,
        "heartbeat_timeout": heartbeat, "max_retries_per_trial": retries, "seed": seed,
        "distinct_hosts": distinct_hosts, "duration_scale": scale, "kill_window": list(kill_window),
        "wall_s": wall, "trials_per_s": len(completed) / wall if wall else None,
        "workers_started": started[0], "states": states, "completed": len(completed),
        "wrong_scores": wrong[:20], "points_twice": twice, "marker_points_twice": markers_twice,
        "marker_trial_on_two_points": markers_mixed, "marker_stored_mismatch": marker_mismatch[:20],
        "kills_log": killed, "trials_with_attempts": retried,
        "attempts_histogram": {str(a): sum(1 for t in stored if t.attempts == a)
                               for a in sorted({t.attempts for t in stored})},
        "starts": sum(1 for m in markers if m["kind"] == "start"),
        "resumed_from_checkpoint": len(resumed_starts),
        "restart_after_s": _stats(restart_delays), "completed_after_s": _stats(complete_delays),
        "bad_exits": bad_exits, "checks": checks, "ok": all(checks.values()),
    }
    return result


def chaos_table(res: dict[str, Any]) -> str:
    c = res["checks"]
    def yes(ok: bool) -> str:
        return "yes" if ok else "**NO**"

    with_trial = [k for k in res["kills_log"] if k.get("trial") is not None]
    rows = [
        ("storage", res["url_kind"]),
        ("workers / trials / SIGKILLs", (f"{res['workers']} / {res['trials']} / {len(res['kills_log'])} "
                                         f"({res['workers_started']} worker processes started in all)")),
        ("dead worker detected by", "heartbeat lease only (every worker a host of its own)" if res["distinct_hosts"]
         else "process check on the same host (and the lease)"),
        ("heartbeat_timeout / max_retries_per_trial", f"{res['heartbeat_timeout']:g} s / {res['max_retries_per_trial']}"),
        ("wall time", f"{res['wall_s']:.1f} s ({res['trials_per_s']:.1f} trials/s)"),
        ("trials stored, by state", ", ".join(f"{k} {v}" for k, v in res["states"].items())),
        ("exactly N completed", yes(c["exact_count"])),
        ("no result lost (every score = f(its point))",
         yes(c["no_result_lost"]) + f" ({len(res['wrong_scores'])} wrong)"),
        ("no grid point in two trials (storage and markers)", yes(c["no_point_twice"])),
        ("kills that hit a running trial", f"{len(with_trial)} of {len(res['kills_log'])}"),
        ("each such trial run again by another worker and completed, attempts ≥ 1", yes(c["killed_trials_retried"])),
        ("trials with attempts ≥ 1", f"{len(res['trials_with_attempts'])}: {res['trials_with_attempts']}"),
        ("restarts that resumed from a checkpoint", str(res["resumed_from_checkpoint"])),
        ("kill → trial started again elsewhere, s: median (min–max)",
         f"{_fmt(res['restart_after_s']['median'])} ({_fmt(res['restart_after_s']['min'])}–{_fmt(res['restart_after_s']['max'])})"),
        ("kill → trial completed, s: median (min–max)",
         f"{_fmt(res['completed_after_s']['median'])} ({_fmt(res['completed_after_s']['min'])}–{_fmt(res['completed_after_s']['max'])})"),
        ("worker processes that exited with an error", str(len(res["bad_exits"]))),
    ]
    return "\n".join(["| | |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows])


def run_chaos(args, dbs: Databases, src: str | None, workdir: str) -> dict[str, Any]:
    storage = args.chaos_storage
    if storage == "postgres" and dbs.server is None:
        return {"skipped": f"no PostgreSQL: {dbs.postgres_error}"}
    results = []
    for rep in range(args.chaos_repeats):
        for hosts in args.chaos_hosts:
            url, drop = dbs.fresh(storage)
            folder = os.path.join(workdir, f"chaos-{rep}-{hosts}")
            os.makedirs(folder, exist_ok=True)
            print(f"  chaos on {storage}, {args.chaos_workers} workers, {args.chaos_trials} trials, "
                  f"{args.chaos_kills} kills, hosts {hosts}, seed {args.seed + rep}", flush=True)
            res = chaos(url, workers=args.chaos_workers, trials=args.chaos_trials, kills=args.chaos_kills,
                        heartbeat=args.chaos_heartbeat, retries=args.chaos_retries, seed=args.seed + rep,
                        workdir=folder, src=src, distinct_hosts=hosts == "distinct",
                        scale=args.chaos_scale, timeout=args.run_timeout)
            drop()
            res["storage"] = storage
            results.append(res)
            print(chaos_table(res), flush=True)
    return {"runs": results, "ok": all(r["ok"] for r in results)}


# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="throughput,cpu,chaos")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: SQLite only, 40 trials with 1 and 2 workers, 1 repeat; 4 CPU "
                         "trials of 0.2 s (python workload); chaos with 2 workers, 24 trials, 2 kills")
    ap.add_argument("--storages", default="sqlite,postgres")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu-workloads", default="python,matmul,mlp")
    ap.add_argument("--cpu-trials", type=int, default=20)
    ap.add_argument("--cpu-seconds", type=float, default=1.0)
    ap.add_argument("--repeats-cpu", type=int, default=3)
    ap.add_argument("--chaos-storage", default="postgres", choices=["postgres", "sqlite"])
    ap.add_argument("--chaos-workers", type=int, default=4)
    ap.add_argument("--chaos-trials", type=int, default=500)
    ap.add_argument("--chaos-kills", type=int, default=10)
    ap.add_argument("--chaos-heartbeat", type=float, default=5.0)
    ap.add_argument("--chaos-retries", type=int, default=10)
    ap.add_argument("--chaos-hosts", default="same", help="same, distinct, or same,distinct")
    ap.add_argument("--chaos-repeats", type=int, default=1)
    ap.add_argument("--chaos-scale", type=float, default=1.0, help="multiplies the trial durations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--postgres-url", default=None)
    ap.add_argument("--run-timeout", type=float, default=900)
    ap.add_argument("--out", default=str(HERE / "out" / "parallel"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--no-snapshot", action="store_true")
    ap.add_argument("--_run", help=argparse.SUPPRESS)
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_chaos-worker", dest="_chaos_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_calibrate", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._run:
        print(json.dumps(_do_run(json.loads(args._run))), flush=True)
        return 0
    if args._worker:
        _do_worker(json.loads(args._worker))
        return 0
    if args._chaos_worker:
        _do_chaos_worker(json.loads(args._chaos_worker))
        return 0
    if args._calibrate:
        _do_calibrate(args._calibrate, args.cpu_seconds)
        return 0

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if args.quick:
        args.storages, args.workers, args.trials, args.repeats = "sqlite", "1,2", 40, 1
        args.cpu_workloads, args.cpu_trials, args.cpu_seconds, args.repeats_cpu = "python", 4, 0.2, 1
        args.chaos_storage, args.chaos_workers, args.chaos_trials, args.chaos_kills = "sqlite", 2, 24, 2
        args.chaos_scale, args.chaos_hosts, args.run_timeout = 0.5, "same", 120
    args.storages = [s.strip() for s in args.storages.split(",") if s.strip()]
    args.workers = [int(k) for k in args.workers.split(",")]
    args.cpu_workloads = [w.strip() for w in args.cpu_workloads.split(",") if w.strip()]
    args.chaos_hosts = [h.strip() for h in args.chaos_hosts.split(",") if h.strip()]
    for p in parts:
        if p not in ("throughput", "cpu", "chaos"):
            ap.error(f"--parts: unknown part {p!r}")

    workdir = args.workdir or tempfile.mkdtemp(prefix="tunewise-parallel-")
    os.makedirs(workdir, exist_ok=True)
    machine = _machine(workdir)
    src = None
    if not args.no_snapshot:
        src, digest = snapshot_source(REPO, workdir)
        machine["tunewise_source_sha256"] = digest
    if src:
        sys.path.insert(0, src)
    need_pg = ("postgres" in args.storages and "throughput" in parts) or \
        ("chaos" in parts and args.chaos_storage == "postgres")
    dbs = Databases(workdir, need_pg, args.postgres_url)
    date = _dt.datetime.now(_dt.UTC)
    report: dict[str, Any] = {
        "settings": {"mode": "quick" if args.quick else "full", "parts": parts,
                     "argv": sys.argv[1:] if argv is None else argv,
                     "storages": args.storages, "workers": args.workers, "trials": args.trials,
                     "repeats": args.repeats, "cpu_workloads": args.cpu_workloads,
                     "cpu_trials": args.cpu_trials, "cpu_seconds": args.cpu_seconds,
                     "repeats_cpu": args.repeats_cpu, "chaos_storage": args.chaos_storage,
                     "chaos_workers": args.chaos_workers, "chaos_trials": args.chaos_trials,
                     "chaos_kills": args.chaos_kills, "chaos_heartbeat": args.chaos_heartbeat,
                     "chaos_retries": args.chaos_retries, "chaos_hosts": args.chaos_hosts,
                     "chaos_scale": args.chaos_scale, "seed": args.seed},
        "date": date.isoformat(timespec="seconds"), "machine": machine,
        "postgres_unavailable": dbs.postgres_error,
    }
    t0 = time.time()
    status = 0
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / f"parallel-{date.strftime('%Y-%m-%dT%H%M')}{'-quick' if args.quick else ''}.json"
    try:
        if "throughput" in parts:
            print("# throughput: trivial trials", flush=True)
            report["throughput"] = run_throughput(args, dbs, src, workdir)
            print("\nWhole search, trials per second:\n", flush=True)
            print(throughput_table(report["throughput"], args.workers), flush=True)
            print("\nSteady state (first trial's end to the last's), trials per second:\n", flush=True)
            print(throughput_table(report["throughput"], args.workers, "steady_trials_per_s"), flush=True)
            if any(s["failed_runs"] for s in report["throughput"]["summary"]):
                print("some throughput runs failed (see the JSON)", flush=True)
        if "cpu" in parts:
            print("# cpu: speed-up of 2 workers over 1", flush=True)
            report["cpu"] = run_cpu(args, dbs, src, workdir)
            print(cpu_table(report["cpu"]), flush=True)
        if "chaos" in parts:
            print("# chaos", flush=True)
            report["chaos"] = run_chaos(args, dbs, src, workdir)
            if not report["chaos"].get("ok", True) and not report["chaos"].get("skipped"):
                status = 1
    finally:
        dbs.stop()
        report["total_s"] = time.time() - t0
        report["machine"]["load_average_end"] = list(os.getloadavg())
        tmp = out_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=1, default=str))
        os.replace(tmp, out_path)
        print(f"wrote {out_path}", flush=True)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
