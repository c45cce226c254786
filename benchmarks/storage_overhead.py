"""Storage overhead: milliseconds per trial for a trivial objective, tunewise beside Optuna.

Every setup runs the same three-parameter space (a float, an int and a categorical) with a
random sampler and an objective that costs nothing, so the time measured is the library's own
work per trial: sampling, bookkeeping and, above all, storage.

Each repeat of each setup runs in a fresh Python process (no warm imports, caches or open
connections carried over). Inside it, importing and creating the study are timed separately;
the figure quoted is the wall-clock time of the optimize loop alone, divided by the number of
trials. Repeats are interleaved across setups (repeat 1 of every setup, then repeat 2, ...) so
that drift in the load of a shared machine falls on all setups alike.

Usage (from the repository root)::

    python benchmarks/storage_overhead.py                       # the default run (see README)
    python benchmarks/storage_overhead.py --trials 1000 --repeats 5 --out results.json
    python benchmarks/storage_overhead.py --only tunewise-sqlite,optuna-sqlite
    python benchmarks/storage_overhead.py --trials-for optuna-tpe-sqlite=300
    python benchmarks/storage_overhead.py --profile tunewise-sqlite   # cProfile, top 30 lines

Setups: tunewise-memory, tunewise-sqlite, optuna-memory, optuna-sqlite, optuna-sqlite-wal,
optuna-tpe-memory, optuna-tpe-sqlite, optuna-journal.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
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

# name -> (library, human label). Order is the order of the table.
SETUPS: dict[str, tuple[str, str]] = {
    "tunewise-memory": ("tunewise", "tunewise, in memory, random"),
    "tunewise-sqlite": ("tunewise", "tunewise, SQLite, random"),
    "optuna-memory": ("optuna", "Optuna, in memory, random"),
    "optuna-sqlite": ("optuna", "Optuna, SQLite (RDBStorage), random"),
    "optuna-sqlite-wal": ("optuna", "Optuna, SQLite in WAL mode, synchronous=NORMAL, random"),
    "optuna-tpe-memory": ("optuna", "Optuna, in memory, TPE (default settings)"),
    "optuna-tpe-sqlite": ("optuna", "Optuna, SQLite (RDBStorage), TPE (default settings)"),
    "optuna-journal": ("optuna", "Optuna, JournalStorage file backend, random"),
}
REQUIRED = ["tunewise-memory", "tunewise-sqlite", "optuna-memory", "optuna-sqlite"]
# The pairs whose ratio answers "how do we compare on the same storage".
PAIRS = [("tunewise-memory", "optuna-memory"), ("tunewise-sqlite", "optuna-sqlite")]
TARGET_SETUP, TARGET_MS = "tunewise-sqlite", 2.0

# Default per-setup trial counts where the 1,000 would push a full run past ~10 minutes
# on a busy 2-core machine. Per-trial cost of TPE grows with the history, so a shorter run
# flatters it; the table says so next to the figure.
DEFAULT_TRIALS_FOR = {"optuna-tpe-sqlite": 300}


# --------------------------------------------------------------------------------------------
# Worker: one setup, one repeat, in its own process. Prints one JSON line.
# --------------------------------------------------------------------------------------------

def _import_tunewise():
    try:
        import tunewise  # noqa: F401
    except ImportError:
        # A fresh clone without `pip install -e .`: use the source tree.
        sys.path.insert(0, str(REPO / "src"))
        import tunewise  # noqa: F401
    return tunewise


def _worker(setup: str, trials: int, seed: int, workdir: str, profile: str | None) -> dict:
    t0 = time.perf_counter()
    lib = SETUPS[setup][0]
    if lib == "tunewise":
        tunewise = _import_tunewise()
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    t_import = time.perf_counter() - t0

    db_path = os.path.join(workdir, f"{setup}-{seed}.db")
    journal_path = os.path.join(workdir, f"{setup}-{seed}.log")
    for p in (db_path, journal_path):
        if os.path.exists(p):
            os.remove(p)
    sqlite_url = f"sqlite:///{db_path}"

    t1 = time.perf_counter()
    if lib == "tunewise":
        def objective(trial):
            x = trial.hp.Float("x", -10, 10)
            y = trial.hp.Int("y", 0, 100)
            trial.hp.Choice("z", ["a", "b", "c"])
            return {"loss": x**2 + y}

        storage = sqlite_url if setup == "tunewise-sqlite" else None
        study = tunewise.Study(
            "bench",
            objective=tunewise.Objective("loss", "min"),
            storage=storage,
            sampler="random",
            seed=seed,
        )

        def run():
            study.optimize(objective, max_trials=trials, show_progress=False)

        def count_done():
            trials_ = study.trials
            return sum(1 for t in trials_ if "complete" in str(getattr(t, "state", "")).lower())
    else:
        def objective(trial):
            x = trial.suggest_float("x", -10, 10)
            y = trial.suggest_int("y", 0, 100)
            trial.suggest_categorical("z", ["a", "b", "c"])
            return x**2 + y

        if "tpe" in setup:
            sampler = optuna.samplers.TPESampler(seed=seed)
        else:
            sampler = optuna.samplers.RandomSampler(seed=seed)
        if setup == "optuna-sqlite-wal":
            # The same SQLite settings tunewise uses (WAL journal, synchronous=NORMAL), to
            # separate the cost of syncing to disk from the cost of the library itself.
            import sqlalchemy

            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", _pragmas)
            storage = sqlite_url
        elif setup.endswith("sqlite"):
            storage = sqlite_url
        elif setup == "optuna-journal":
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            storage = JournalStorage(JournalFileBackend(journal_path))
        else:
            storage = None
        study = optuna.create_study(
            study_name="bench", storage=storage, sampler=sampler, direction="minimize"
        )

        def run():
            study.optimize(objective, n_trials=trials, show_progress_bar=False)

        def count_done():
            return sum(1 for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    t_setup = time.perf_counter() - t1

    profile_text = None
    if profile:
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        t2 = time.perf_counter()
        prof.enable()
        run()
        prof.disable()
        t_loop = time.perf_counter() - t2
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(int(profile))
        profile_text = buf.getvalue()
    else:
        t2 = time.perf_counter()
        run()
        t_loop = time.perf_counter() - t2

    done = count_done()
    # Database plus its WAL (not yet checkpointed), or the journal file.
    size = None
    for p in (db_path, db_path + "-wal", journal_path):
        if os.path.exists(p):
            size = (size or 0) + os.path.getsize(p)
    return {
        "setup": setup,
        "library_file": sys.modules[lib].__file__,
        "trials": trials,
        "seed": seed,
        "completed": done,
        "import_s": t_import,
        "setup_s": t_setup,
        "loop_s": t_loop,
        "ms_per_trial": 1000.0 * t_loop / trials,
        "storage_bytes": size,
        "profiled": bool(profile),
        "profile": profile_text,
    }


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

def _run_child(setup: str, trials: int, seed: int, workdir: str, timeout: float,
               profile: int | None = None, src: str | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", setup,
           "--trials", str(trials), "--seed", str(seed), "--workdir", workdir]
    if profile:
        cmd += ["--_profile", str(profile)]
    env = dict(os.environ)
    # Keep numerical libraries to one thread: the objective is trivial, and on a 2-core machine
    # stray thread pools only add noise.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=workdir)
    except subprocess.TimeoutExpired:
        return {"setup": setup, "trials": trials, "seed": seed,
                "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        return {"setup": setup, "trials": trials, "seed": seed,
                "error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


def _machine(workdir: str) -> dict[str, Any]:
    import sqlite3

    cpu = cpu_model()
    fs = None
    try:
        best = ""
        real = os.path.realpath(workdir)
        for ln in Path("/proc/mounts").read_text().splitlines():
            parts = ln.split()
            if len(parts) >= 3 and real.startswith(parts[1]) and len(parts[1]) > len(best):
                best, fs = parts[1], parts[2]
    except OSError:
        pass
    commit = git_commit(REPO)
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {d: package_version(d) for d in
                     ("tunewise", "optuna", "sqlalchemy", "numpy", "pandas")},
        "workdir": workdir,
        "workdir_fs": fs,
        "git_commit": commit,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _parse_trials_for(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            name, _, n = part.partition("=")
            name = name.strip()
            if name not in SETUPS or not n.strip().isdigit() or int(n) <= 0:
                raise SystemExit(f"--trials-for: expected SETUP=N with SETUP one of "
                                 f"{', '.join(SETUPS)} and N > 0, got {part!r}")
            out[name] = int(n)
    return out


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _summarise(results: list[dict], setups: list[str], trials_for: dict[str, int]) -> dict:
    summary: dict[str, Any] = {}
    for s in setups:
        ok = [r for r in results if r["setup"] == s and "error" not in r]
        errs = [r["error"] for r in results if r["setup"] == s and "error" in r]
        ms = [r["ms_per_trial"] for r in ok]
        summary[s] = {
            "label": SETUPS[s][1],
            "trials": trials_for[s],
            "repeats_ok": len(ok),
            "errors": errs,
            "median_ms": statistics.median(ms) if ms else None,
            "min_ms": min(ms) if ms else None,
            "max_ms": max(ms) if ms else None,
            "all_ms": ms,
            "median_import_s": statistics.median(r["import_s"] for r in ok) if ok else None,
            "median_setup_s": statistics.median(r["setup_s"] for r in ok) if ok else None,
            "completed": [r["completed"] for r in ok],
            "storage_bytes": ok[-1]["storage_bytes"] if ok else None,
        }
    ratios = {}
    for a, b in PAIRS:
        if a in summary and b in summary and summary[a]["median_ms"] and summary[b]["median_ms"]:
            ratios[f"{a}/{b}"] = summary[a]["median_ms"] / summary[b]["median_ms"]
    return {"setups": summary, "ratios": ratios}


def _table(summary: dict, default_trials: int) -> str:
    rows = ["| setup | trials | repeats | median ms/trial | min–max | tunewise ÷ Optuna |",
            "|---|---:|---:|---:|---:|---:|"]
    ratio_of = {a: summary["ratios"].get(f"{a}/{b}") for a, b in PAIRS}
    for s, d in summary["setups"].items():
        trials = str(d["trials"]) + ("" if d["trials"] == default_trials else " *")
        rng = (f"{_fmt(d['min_ms'])}–{_fmt(d['max_ms'])}" if d["min_ms"] is not None else "—")
        r = ratio_of.get(s)
        med = _fmt(d["median_ms"]) if d["median_ms"] is not None else "failed"
        rows.append(f"| {d['label']} | {trials} | {d['repeats_ok']} | {med} | {rng} | "
                    f"{'' if r is None else f'{r:.3f}'} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1000, help="trials per run (default 1000)")
    ap.add_argument("--repeats", type=int, default=5,
                    help="fresh-process repeats per setup; the median is quoted (default 5)")
    ap.add_argument("--only", default=None,
                    help="comma-separated setups to run (default: all). Known: "
                         + ", ".join(SETUPS))
    ap.add_argument("--trials-for", action="append", default=[], metavar="SETUP=N",
                    help="per-setup trial count, e.g. optuna-sqlite=300 (repeatable). "
                         f"Default: {', '.join(f'{k}={v}' for k, v in DEFAULT_TRIALS_FOR.items())}"
                         " (only when --trials is 1000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of repeat 1; repeat k uses seed+k-1")
    ap.add_argument("--out", default=str(HERE / "out" / "storage_overhead.json"),
                    help="JSON file for the full results (default benchmarks/out/...)")
    ap.add_argument("--workdir", default=None,
                    help="where the database files go (default: a fresh temporary folder)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per child process")
    ap.add_argument("--profile", metavar="SETUP", default=None,
                    help="run SETUP once under cProfile and print the top 30 lines by cumulative "
                         "time, instead of benchmarking")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="import tunewise as installed instead of from a copy of src/ taken at "
                         "the start of the run")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_profile", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._worker:
        res = _worker(args._worker, args.trials, args.seed, args.workdir, args._profile)
        if res.get("profile"):
            print(res["profile"])
        print(json.dumps({k: v for k, v in res.items() if k != "profile"}))
        return 0

    if args.trials <= 0 or args.repeats <= 0:
        ap.error("--trials and --repeats must be positive")
    setups = list(SETUPS) if not args.only else [s.strip() for s in args.only.split(",") if s]
    unknown = [s for s in setups if s not in SETUPS]
    if unknown:
        ap.error(f"unknown setup(s) {', '.join(unknown)}; choose from {', '.join(SETUPS)}")
    trials_for = {s: args.trials for s in setups}
    if args.trials == 1000:
        trials_for.update({k: v for k, v in DEFAULT_TRIALS_FOR.items() if k in trials_for})
    trials_for.update({k: v for k, v in _parse_trials_for(args.trials_for).items()
                       if k in trials_for})

    own_tmp = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="tunewise-bench-")
    os.makedirs(workdir, exist_ok=True)

    if args.profile:
        if args.profile not in SETUPS:
            ap.error(f"--profile: unknown setup {args.profile}")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", args.profile,
               "--trials", str(trials_for.get(args.profile, args.trials)),
               "--seed", str(args.seed), "--workdir", workdir, "--_profile", "30"]
        try:
            return subprocess.call(cmd, cwd=workdir)
        finally:
            if own_tmp:
                shutil.rmtree(workdir, ignore_errors=True)

    machine = _machine(workdir)
    src = None
    if not args.no_snapshot:
        src, digest = snapshot_source(REPO, workdir)
        machine["tunewise_source_sha256"] = digest
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    print(f"# storage overhead — {date}", file=sys.stderr)
    print(f"# {machine['nproc']} CPUs ({machine['cpu']}), Python {machine['python']}, "
          f"{machine['packages']}, files in {workdir} ({machine['workdir_fs']})", file=sys.stderr)

    results: list[dict] = []
    t_start = time.perf_counter()
    for k in range(args.repeats):
        seed = args.seed + k
        for s in setups:
            r = _run_child(s, trials_for[s], seed, workdir, args.timeout, src=src)
            results.append(r)
            msg = r.get("error") or (f"{r['ms_per_trial']:.3f} ms/trial "
                                     f"({r['completed']}/{r['trials']} complete, "
                                     f"loop {r['loop_s']:.2f} s)")
            print(f"[repeat {k + 1}/{args.repeats}] {s:18s} {msg}", file=sys.stderr, flush=True)
            for f in os.listdir(workdir):
                if f.startswith(f"{s}-{seed}."):
                    os.remove(os.path.join(workdir, f))
    elapsed = time.perf_counter() - t_start
    machine["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None

    summary = _summarise(results, setups, trials_for)
    table = _table(summary, args.trials)
    command = "python benchmarks/storage_overhead.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]))
    doc = {
        "benchmark": "storage_overhead",
        "date": date,
        "command": command.strip(),
        "trials": args.trials,
        "trials_for": trials_for,
        "repeats": args.repeats,
        "elapsed_s": elapsed,
        "machine": machine,
        "summary": summary,
        "table_markdown": table,
        "runs": results,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=2))
    if src:
        shutil.rmtree(src, ignore_errors=True)
    if own_tmp:
        try:
            os.rmdir(workdir)
        except OSError:
            pass

    print(table)
    if any(d["trials"] != args.trials for d in summary["setups"].values()):
        print(f"\n\\* fewer trials than {args.trials}, to keep the run short.")
    for name, r in summary["ratios"].items():
        print(f"- {name}: {r:.3f}")
    tgt = summary["setups"].get(TARGET_SETUP, {}).get("median_ms")
    if tgt is not None:
        verdict = "meets" if tgt <= TARGET_MS else "misses"
        print(f"- {TARGET_SETUP}: {tgt:.3f} ms/trial {verdict} the target of {TARGET_MS} ms")
    print(f"\n{date}; {machine['nproc']} CPUs; Python {machine['python']}; "
          + ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v)
          + f"; SQLite {machine['sqlite']}; total {elapsed:.0f} s")
    failed = [s for s, d in summary["setups"].items() if d["errors"]]
    if failed:
        for s in failed:
            print(f"! {s}: {summary['setups'][s]['errors'][0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
