"""Search quality: how close each sampler gets to the optimum in b evaluations, tunewise beside
Optuna, Keras Tuner (and SMAC3 where it installs), on the same problems and seeds.

Every (sampler, problem, seed) run writes one JSON file under ``<out>/runs/`` (the objective
value, proposal time and evaluation time of every evaluation, the total wall time and the
versions) and is skipped when that file is already there, so the expensive competitors can be
run first and the report composed later. ``--report`` composes it from the cached runs: markdown
tables (``report.md``), a JSON summary (``summary.json``) and a plot of normalised regret
against evaluations (``regret_curves.png``), and prints the issue's targets.

Usage (from the repository root)::

    python benchmarks/search_quality.py --samplers tunewise-auto,tunewise-bayesian,tunewise-tpe,\\
        tunewise-random,optuna-tpe,optuna-gp,kt-bayesian --problems default --budget 100 \\
        --seeds 0-9 --jobs 2                          # every run not cached yet
    python benchmarks/search_quality.py --report     # tables, plots and targets from the cache
    python benchmarks/search_quality.py --list       # problems and samplers

Problems: lcbench:<task> (``lcbench`` = six default tasks, ``lcbench:all`` = 34), branin,
hartmann6, mixed, conditional, digits-mlp; ``default`` = six LCBench tasks and the rest.
Samplers: tunewise-{auto,bayesian,tpe,random}, optuna-{tpe,gp,random}, kt-bayesian, smac.
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

DEFAULT_OUT = HERE / "out" / "quality"
# Rough relative cost per run, to start the longest runs first when running in parallel.
_COST = {"kt-bayesian": 10, "smac": 8, "optuna-gp": 6, "tunewise-bayesian": 3, "tunewise-auto": 3}


def main(argv: list[str] | None = None) -> int:
    from harness import load_run, parse_list, parse_seeds, run_and_summarise
    from quality import problems as P
    from quality.report import write_report
    from quality.runs import cached_ok, lib_key, run_all, run_path
    from quality.samplers import DEFAULT_SAMPLERS, SAMPLERS, check_available

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samplers", default=None,
                    help="comma-separated samplers (default: " + ",".join(DEFAULT_SAMPLERS)
                         + "; with --report: every sampler with cached runs)")
    ap.add_argument("--problems", default=None,
                    help="comma-separated problems (default: 'default' = six LCBench tasks, "
                         "branin, hartmann6, mixed, conditional, digits-mlp; with --report: "
                         "every problem with cached runs)")
    ap.add_argument("--budget", type=int, default=100, help="evaluations per run (default 100)")
    ap.add_argument("--seeds", default=None,
                    help="e.g. 0-9 or 0,2,5 (default 0-9; with --report: every cached seed)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs in parallel, each in its own process with one thread (default 1)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--force", action="store_true", help="run again even when a cached run fits")
    ap.add_argument("--reuse-stale", action="store_true",
                    help="reuse cached runs made by another version of their library (tunewise: "
                         "another source digest)")
    ap.add_argument("--report", action="store_true",
                    help="run nothing: write report.md, summary.json and regret_curves.png from "
                         "the cached runs and print the targets")
    ap.add_argument("--budgets", default="20,50,100",
                    help="budgets the report tabulates (those within the runs' budget; "
                         "default 20,50,100)")
    ap.add_argument("--list", action="store_true", help="list problems and samplers, then exit")
    ap.add_argument("--dry-run", action="store_true", help="show what would run, run nothing")
    args = ap.parse_args(argv)
    out = Path(args.out)
    command = "python benchmarks/search_quality.py " + " ".join(
        argv if argv is not None else sys.argv[1:])

    if args.list:
        print("Samplers:")
        for name, (lib, desc) in SAMPLERS.items():
            why = check_available(name)
            print(f"  {name:18s} {desc}" + (f"  [not available: {why}]" if why else ""))
        print("Problems:")
        for name in P.DEFAULT_PROBLEMS:
            try:
                p = P.get_problem(name)
                print(f"  {name:15s} {p.direction} {p.metric}; {'; '.join(x.describe() for x in p.params)}")
            except (OSError, ValueError) as exc:
                print(f"  {name:15s} [not available: {exc}]")
        if P.lcbench_available():
            print(f"  LCBench tasks (lcbench:<id>): {', '.join(P.lcbench_tasks())}")
        return 0

    try:
        budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
        seeds = parse_seeds(args.seeds) if args.seeds else None
        problems = P.expand_problems(args.problems) if args.problems else None
    except ValueError as exc:
        ap.error(str(exc))
    samplers = parse_list(args.samplers)
    for s in samplers or []:
        if s not in SAMPLERS:
            ap.error(f"unknown sampler {s!r}; choose from {', '.join(SAMPLERS)}")

    if args.report:
        doc = write_report(out, samplers, problems, seeds, budgets, command.strip())
        # The targets and the regret table at the largest budget; the rest is in report.md.
        sections = Path(doc["files"]["markdown"]).read_text().split("\n## ")
        last = f"Normalised regret at {doc['budgets'][-1]} evaluations" if doc["budgets"] else "-"
        for sec in sections[1:]:
            if sec.startswith(("The issue's targets", last)):
                print("## " + sec.rstrip() + "\n")
        print("\nWritten: " + ", ".join(str(v) for v in doc["files"].values() if v),
              file=sys.stderr)
        return 0

    if args.budget < 1 or args.jobs < 1:
        ap.error("--budget and --jobs must be positive")
    samplers = samplers or list(DEFAULT_SAMPLERS)
    problems = problems or list(P.DEFAULT_PROBLEMS)
    seeds = seeds if seeds is not None else list(range(10))
    status = 0
    for name in problems:
        try:
            P.get_problem(name)
        except (OSError, ValueError) as exc:
            ap.error(f"problem {name}: {exc}")
    runnable = []
    for s in samplers:
        why = check_available(s)
        if why:
            print(f"! {s} cannot run here and is skipped: {why}", file=sys.stderr)
            status = 1
        else:
            runnable.append(s)

    todo, cached = [], 0
    for s in runnable:
        key = lib_key(s)
        for name in problems:
            version = P.get_problem(name).version
            for seed in seeds:
                path = run_path(out, s, name, seed)
                ok, why = cached_ok(load_run(path), args.budget, version, key, args.reuse_stale)
                if ok and not args.force:
                    cached += 1
                    continue
                if path.exists() and why:
                    print(f"  redo {s} {name} seed {seed}: {why}", file=sys.stderr)
                todo.append((s, name, args.budget, seed, str(path)))
    todo.sort(key=lambda j: (-_COST.get(j[0], 1), j[3], j[1]))
    print(f"# search quality: {len(runnable)} samplers x {len(problems)} problems x {len(seeds)} "
          f"seeds, budget {args.budget}: {cached} cached, {len(todo)} to run, {args.jobs} at a "
          f"time; runs in {out / 'runs'}", file=sys.stderr, flush=True)
    if args.dry_run:
        for j in todo:
            print(f"  would run {j[0]} {j[1]} seed {j[3]}", file=sys.stderr)
        return status
    status = max(status, run_and_summarise(run_all, todo, args.jobs, lambda r: f"{r['sampler']} {r['problem']} seed {r['seed']}"))
    print("Compose the report with: python benchmarks/search_quality.py --report"
          + (f" --out {args.out}" if Path(args.out) != DEFAULT_OUT else ""), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
