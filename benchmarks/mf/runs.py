"""Running (method, task, seed) and caching each run as one JSON file.

A run file holds, per evaluation, the trial (configuration) index, the budget trained to, the
epoch resumed from, the observed value, the cost, the cumulative cost and the incumbent's
regret; per configuration its values and its surrogate value at 52 epochs; the cost budget
C_max; the library's overhead; the versions. It is reused instead of run again when it was
made with the same harness version (``MF_VERSION``: the cost and incumbent rules), the same
C_max definition (``n_full``) and the same library version (tunewise: a digest of its source;
``--reuse-stale`` keeps runs of another version).

DEHB runs in the competitors' virtual environment (``benchmarks/out/venv-competitors``, where
``pip install dehb`` put it, away from the main environment): its job starts that
environment's Python on ``multifidelity.py --worker ...``, which writes the run file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import failed, one_thread, run_jobs, secs, write_run
from quality.problems import REPO

from .methods import METHODS, Recorder, cost_budget, drive
from .surrogate import MAX_EPOCH, Task

FORMAT = 1
MF_VERSION = "1"  # bump when the cost, the incumbent or the surrogate handling change
SCRIPT = REPO / "benchmarks" / "multifidelity.py"
DEFAULT_DEHB_PYTHON = REPO / "benchmarks" / "out" / "venv-competitors" / "bin" / "python"


def dehb_python() -> Path:
    return Path(os.environ.get("TUNEWISE_DEHB_PYTHON") or DEFAULT_DEHB_PYTHON)


def run_path(cache: Path, method: str, task: str, seed: int) -> Path:
    return Path(cache) / "runs" / f"lcbench-{task}" / method / f"seed-{seed}.json"


_KEYS: dict[str, str | None] = {}


def library_version(lib: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version({"keras-tuner": "keras-tuner"}.get(lib, lib))
    except metadata.PackageNotFoundError:
        return None


def _dehb_probe() -> tuple[str | None, str | None]:
    """(dehb version in its venv, why it cannot run)."""
    py = dehb_python()
    if not py.exists():
        return None, f"no Python at {py} (create the competitors' venv and pip install dehb there)"
    try:
        res = subprocess.run([str(py), "-c", ("from importlib.metadata import version; "
                              "import dehb, ConfigSpace; print(version('dehb'))")],
                             capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if res.returncode != 0:
        return None, (res.stderr.strip().splitlines() or ["import dehb failed"])[-1]
    return res.stdout.strip(), None


def lib_key(method: str) -> str | None:
    """What identifies the code that made a run: the library's version (tunewise: digest)."""
    if method in _KEYS:
        return _KEYS[method]
    lib = METHODS[method][0]
    if lib == "tunewise":
        from quality.runs import tunewise_digest

        key = f"tunewise-src:{tunewise_digest()}"
    elif lib == "numpy":
        key = "numpy"  # random search: numpy's default_rng, stable across versions
    elif lib == "dehb":
        key = f"dehb=={_dehb_probe()[0]}"
    else:
        key = f"{lib}=={library_version(lib)}"
    _KEYS[method] = key
    return key


def check_available(method: str) -> str | None:
    """None if ``method`` can run here, else why not (one line)."""
    if method not in METHODS:
        return f"unknown method; choose from {', '.join(METHODS)}"
    lib = METHODS[method][0]
    try:
        if lib == "tunewise":
            import tunewise.schedulers  # noqa: F401
        elif lib == "optuna":
            import optuna  # noqa: F401
        elif lib == "keras-tuner":
            os.environ.setdefault("KERAS_BACKEND", "torch")
            import keras_tuner  # noqa: F401
        elif lib == "dehb":
            return _dehb_probe()[1]
    except Exception as exc:  # noqa: BLE001  (ImportError, or what a half-installed package raises)
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def cached_ok(record: dict[str, Any] | None, n_full: int, key: str | None,
              reuse_stale: bool) -> tuple[bool, str]:
    """(reuse it?, why not)."""
    if record is None:
        return False, "no run"
    if record.get("format") != FORMAT or record.get("mf_version") != MF_VERSION:
        return False, "made by another version of the harness"
    if record.get("n_full") != n_full:
        return False, f"C_max from {record.get('n_full')} full evaluations, not {n_full}"
    if not reuse_stale and record.get("library_key") != key:
        return False, f"made by {record.get('library_key')}, now {key}"
    return True, ""


def run_one(method: str, task: str, seed: int, n_full: int) -> dict[str, Any]:
    """One run, in this process. Returns the record (not yet written)."""
    one_thread()
    t_setup = time.perf_counter()
    t = Task(task)
    c_max = cost_budget(t, seed, n_full)
    t._cache.clear()  # the random configurations are not the method's evaluations
    rec = Recorder(t, c_max, max_evals=n_full if method == "random" else None)
    if method == "dehb":
        rec.strict = False  # resumes are charged by the driver from what each config trained
    setup_s = time.perf_counter() - t_setup
    t0 = time.perf_counter()
    detail = drive(method, rec, seed, task, n_full)
    total_s = time.perf_counter() - t0
    lib = METHODS[method][0]
    versions: dict[str, Any] = {"python": platform.python_version()}
    if lib not in ("numpy",):
        versions[lib] = library_version(lib)
    for mod in ("numpy", "onnxruntime", "torch", "keras", "scipy", "ConfigSpace"):
        if mod in sys.modules:
            versions[mod] = getattr(sys.modules[mod], "__version__", None)
    if lib == "tunewise":
        from quality.runs import git_commit, tunewise_digest

        versions["tunewise_src"] = tunewise_digest()
        versions["git"] = git_commit()
    reason = ("cost budget reached" if rec.c_max is not None and rec.cum >= rec.c_max else
              f"{rec.max_evals} evaluations" if rec.done() else
              (detail.get("stopped") or "the method stopped"))
    return {
        "format": FORMAT,
        "mf_version": MF_VERSION,
        "method": method,
        "method_description": METHODS[method][1],
        "detail": detail,
        "task": task,
        "problem": f"lcbench:{task}",
        "seed": seed,
        "n_full": n_full,
        "c_max": c_max,
        "max_epoch": MAX_EPOCH,
        "stats_min": t.stats_min,
        "stats_max": t.stats_max,
        "n_evaluations": rec.n,
        "n_configs": len(rec.configs),
        "final_cost": rec.cum,
        "stop_reason": reason,
        "anomalies": rec.anomalies,
        "evaluations": rec.ev,
        "configs": rec.configs,
        "finals": [round(f, 6) for f in rec.finals],
        "setup_s": setup_s,
        "surrogate_s": rec.surrogate_s,
        "overhead_s": float(sum(rec.ev["overhead_s"])),
        "total_s": total_s,
        "library_key": lib_key(method),
        "versions": versions,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


def _summary(record: dict[str, Any], path: str) -> dict[str, Any]:
    ev = record["evaluations"]
    return {"method": record["method"], "task": record["task"], "seed": record["seed"],
            "path": path, "wall_s": record["total_s"], "overhead_s": record["overhead_s"],
            "n": record["n_evaluations"], "configs": record["n_configs"],
            "regret": ev["inc_regret"][-1] if ev["inc_regret"] else None,
            "stop": record["stop_reason"], "anomalies": len(record["anomalies"])}


def _job(method: str, task: str, seed: int, n_full: int, path: str) -> dict[str, Any]:
    """Run and write one run; never raises (the error goes back to the parent)."""
    t0 = time.perf_counter()
    try:
        if method == "dehb":
            return _dehb_job(task, seed, n_full, path)
        record = run_one(method, task, seed, n_full)
        write_run(record, path, compact=True)
        return _summary(record, path)
    except Exception as exc:  # noqa: BLE001  (any failure of one run is reported, the rest go on)
        return failed({"method": method, "task": task, "seed": seed}, exc, t0)


def _dehb_job(task: str, seed: int, n_full: int, path: str) -> dict[str, Any]:
    cmd = [str(dehb_python()), str(SCRIPT), "--worker", "dehb", task, str(seed), str(n_full), path]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        raise RuntimeError(f"DEHB worker exited with {res.returncode}: "
                           + (res.stderr.strip()[-2000:] or res.stdout.strip()[-2000:]))
    return json.loads(lines[-1])


def worker_main(method: str, task: str, seed: int, n_full: int, path: str) -> int:
    """``multifidelity.py --worker``: one run in this interpreter (DEHB's venv), written to
    ``path``; prints the summary as one JSON line."""
    record = run_one(method, task, seed, n_full)
    write_run(record, path, compact=True)
    print(json.dumps(_summary(record, path)))
    return 0


def _line(res: dict[str, Any]) -> str:
    reg = f"{res['regret']:.4f}" if res["regret"] is not None else "none"
    warn = f", {res['anomalies']} ANOMALIES" if res["anomalies"] else ""
    return (f"{secs(res['wall_s']):>8s} (library {secs(res['overhead_s'])}), "
            f"{res['n']} evaluations of {res['configs']} configs, final regret {reg} "
            f"({res['stop']}){warn}")


def run_all(jobs_list: list[tuple[str, str, int, int, str]], jobs: int,
            log: Any = sys.stderr) -> list[dict[str, Any]]:
    """Run the (method, task, seed, n_full, path) jobs, ``jobs`` at a time, printing one line per
    finished run. Returns one result per job."""
    return run_jobs(_job, jobs_list, jobs, _line,
                    head=lambda j: {"method": j[0], "task": j[1], "seed": j[2]},
                    label=lambda r: f"{r['method']:24s} {r['task']:7s} seed {r['seed']:<3d}",
                    log=log)
