"""Multi-fidelity benchmark: LCBench (YAHPO surrogate) with ``epoch`` as the fidelity (1..52).

Each method runs until its cumulative cost (the surrogate's training ``time`` for the epochs it
actually trained; a resumed trial pays only for its new epochs) reaches C_max, the cost of
random search's first 100 full-budget evaluations on the same task and seed. Compared: random
search at the full budget, Keras Tuner's Hyperband oracle, Optuna TPE with its Hyperband and
successive-halving pruners, DEHB (in the competitors' venv, where it installs), and tunewise's
samplers (random, tpe, bayesian, auto) with its hyperband and asha schedulers, driven by
ask/tell.

Every (method, task, seed) run writes one JSON file under ``<cache>/runs/`` and is skipped when
that file is already there. ``--report`` composes the report from the cached runs into
``--out``: ``report.md``, ``summary.json``, ``regret_vs_cost.png`` (regret of the incumbent
against cumulative cost) and ``speedup.png``.

Usage (from the repository root)::

    python benchmarks/multifidelity.py --seeds 0-9 --jobs 2          # every run not cached yet
    python benchmarks/multifidelity.py --report --out benchmarks/results/multifidelity-lcbench
    python benchmarks/multifidelity.py --quick                         # smoke: 1 task, 2 seeds, C_max = 20 full evaluations
    python benchmarks/multifidelity.py --list

Methods: random, kt-hyperband, optuna-tpe-hyperband, optuna-tpe-sha, dehb,
tunewise-{random,tpe,bayesian,auto}-{hyperband,asha}. Tasks: LCBench OpenML task ids (default:
the six of the search-quality harness).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# One thread per process for every numerical library, set before numpy is imported (the
# benchmark modules are imported inside main()); worker processes inherit the environment.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("KERAS_BACKEND", "torch")

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

DEFAULT_CACHE = HERE / "out" / "mf"
QUICK_CACHE = HERE / "out" / "mf-quick"
# Rough relative cost per run, to start the longest runs first when running in parallel.
_COST = {"tunewise-bayesian-hyperband": 10, "tunewise-bayesian-asha": 10,
         "tunewise-auto-hyperband": 10, "tunewise-auto-asha": 10, "optuna-tpe-hyperband": 8,
         "optuna-tpe-sha": 8, "kt-hyperband": 6, "dehb": 4}


def _tunewise_importable() -> None:
    """Use the repository's src/ when tunewise is not installed (or its editable install
    points elsewhere)."""
    try:
        import tunewise  # noqa: F401
    except ImportError:
        src = HERE.parent / "src"
        if (src / "tunewise").is_dir():
            sys.path.insert(0, str(src))
            os.environ["PYTHONPATH"] = os.pathsep.join(
                [str(src)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:  # internal: one run in this interpreter (DEHB's venv)
        from mf.runs import worker_main

        method, task, seed, n_full, path = argv[1:6]
        return worker_main(method, task, int(seed), int(n_full), path)
    _tunewise_importable()

    from harness import load_run, parse_list, parse_seeds, run_and_summarise
    from mf.methods import DEFAULT_METHODS, METHODS
    from mf.runs import cached_ok, check_available, lib_key, run_all, run_path
    from quality import problems as P

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=None,
                    help="comma-separated methods (default: all; with --report: every method "
                         "with cached runs)")
    ap.add_argument("--tasks", default=None,
                    help="comma-separated LCBench task ids (default: "
                         + ",".join(P.LCBENCH_DEFAULT_TASKS) + "; --quick: the first; with "
                         "--report: every task with cached runs)")
    ap.add_argument("--seeds", default=None,
                    help="e.g. 0-9 or 0,2,5 (default 0-9; --quick: 0-1; with --report: every "
                         "cached seed)")
    ap.add_argument("--n-full", type=int, default=None,
                    help="C_max = the cost of this many full-budget random evaluations "
                         "(default 100; --quick: 20)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 task, 2 seeds, C_max = 20 full evaluations, cache in "
                         f"{QUICK_CACHE}")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs in parallel, each in its own process with one thread (default 1; "
                         "2 on a 2-core machine)")
    ap.add_argument("--cache", default=None,
                    help=f"folder of the cached runs (default {DEFAULT_CACHE}; --quick: {QUICK_CACHE})")
    ap.add_argument("--out", default=None,
                    help="where --report writes report.md, summary.json and the plots (default: "
                         "the cache folder)")
    ap.add_argument("--force", action="store_true", help="run again even when a cached run fits")
    ap.add_argument("--reuse-stale", action="store_true",
                    help="reuse cached runs made by another version of their library")
    ap.add_argument("--report", action="store_true",
                    help="run nothing: write the report from the cached runs")
    ap.add_argument("--list", action="store_true", help="list methods and tasks, then exit")
    ap.add_argument("--dry-run", action="store_true", help="show what would run, run nothing")
    args = ap.parse_args(argv)
    cache = Path(args.cache) if args.cache else (QUICK_CACHE if args.quick else DEFAULT_CACHE)
    out = Path(args.out) if args.out else cache
    n_full = args.n_full or (20 if args.quick else 100)
    command = "python benchmarks/multifidelity.py " + " ".join(argv)

    if args.list:
        print("Methods:")
        for name, (_lib, desc) in METHODS.items():
            why = check_available(name)
            print(f"  {name:26s} {desc}" + (f"  [not available: {why}]" if why else ""))
        if P.lcbench_available():
            print(f"LCBench tasks: {', '.join(P.lcbench_tasks())} "
                  f"(default {', '.join(P.LCBENCH_DEFAULT_TASKS)})")
        else:
            print("LCBench data: not found (set TUNEWISE_DATA)")
        return 0

    try:
        seeds = parse_seeds(args.seeds) if args.seeds else None
    except ValueError as exc:
        ap.error(str(exc))
    methods = parse_list(args.methods)
    for m in methods or []:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    tasks = parse_list(args.tasks)
    if tasks:
        if not P.lcbench_available():
            ap.error("LCBench data not found; set TUNEWISE_DATA to the folder that holds lcbench/")
        known = P.lcbench_tasks()
        for t in tasks:
            if t not in known:
                ap.error(f"unknown LCBench task {t!r}; known: {', '.join(known)}")

    if args.report:
        from mf.report import write_report

        doc = write_report(cache, out, methods, tasks, seeds, n_full if (args.n_full or args.quick) else None,
                           command.strip())
        print(Path(doc["files"]["markdown"]).read_text().split("\n## Per-task")[0])
        print("\nWritten: " + ", ".join(str(v) for v in doc["files"].values() if v), file=sys.stderr)
        return 0

    if args.jobs < 1 or n_full < 1:
        ap.error("--jobs and --n-full must be positive")
    if not P.lcbench_available():
        ap.error("LCBench data not found; set TUNEWISE_DATA to the folder that holds lcbench/")
    methods = methods or list(DEFAULT_METHODS)
    tasks = tasks or (P.LCBENCH_DEFAULT_TASKS[:1] if args.quick else list(P.LCBENCH_DEFAULT_TASKS))
    seeds = seeds if seeds is not None else ([0, 1] if args.quick else list(range(10)))
    status = 0
    runnable = []
    for m in methods:
        why = check_available(m)
        if why:
            print(f"! {m} cannot run here and is skipped: {why}", file=sys.stderr)
            status = 1
        else:
            runnable.append(m)

    todo, cached = [], 0
    for m in runnable:
        key = lib_key(m)
        for task in tasks:
            for seed in seeds:
                path = run_path(cache, m, task, seed)
                ok, why = cached_ok(load_run(path), n_full, key, args.reuse_stale)
                if ok and not args.force:
                    cached += 1
                    continue
                if path.exists() and why:
                    print(f"  redo {m} {task} seed {seed}: {why}", file=sys.stderr)
                todo.append((m, task, seed, n_full, str(path)))
    todo.sort(key=lambda j: (-_COST.get(j[0], 1), j[2], j[1]))
    print(f"# multi-fidelity: {len(runnable)} methods x {len(tasks)} tasks x {len(seeds)} seeds, "
          f"C_max = {n_full} full evaluations: {cached} cached, {len(todo)} to run, {args.jobs} at "
          f"a time; runs in {cache / 'runs'}", file=sys.stderr, flush=True)
    if args.dry_run:
        for j in todo:
            print(f"  would run {j[0]} {j[1]} seed {j[2]}", file=sys.stderr)
        return status
    status = max(status, run_and_summarise(run_all, todo, args.jobs, lambda r: f"{r['method']} {r['task']} seed {r['seed']}"))
    print("Compose the report with: python benchmarks/multifidelity.py --report"
          + (" --quick" if args.quick else "")
          + (f" --cache {args.cache}" if args.cache else ""), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
