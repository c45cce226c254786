"""Sampler overhead: milliseconds a sampler spends per proposal once the history holds 100, 300
or 1,000 trials, tunewise beside Optuna, on the 7-d LCBench space with a trivial objective.

To measure a proposal at history N without waiting for the sampler to make N proposals itself,
the history is first filled with N random trials, then, after one untimed warm-up proposal, k
proposals are timed (the median is quoted; the history grows by one per proposal):

- tunewise: a public ``tunewise.samplers.Sampler`` subclass that proposes at random while the
  study has fewer than N trials and hands over to ``make_sampler(name)`` afterwards, passed as
  ``sampler=``; the time is that of ``study.ask()`` (with the ``trial.hp`` calls that return
  the values), in memory.
- Optuna: ``study.add_trials`` with N trials made by ``optuna.trial.create_trial`` from random
  values, then ``study.ask()`` with the ``suggest_*`` calls (Optuna samples some parameters
  lazily inside them).

Each (sampler, N) cell runs in a fresh process. A cell is capped by ``--cell-timeout`` seconds
(default 300): the proposals measured before the cap are kept and the cell is marked; a cell
whose first proposal did not finish in time is reported as not measured.

Usage (from the repository root)::

    python benchmarks/sampler_overhead.py                          # every sampler, 100,300,1000
    python benchmarks/sampler_overhead.py --samplers tunewise-tpe,optuna-tpe --sizes 100,300
    python benchmarks/sampler_overhead.py --proposals 10 --cell-timeout 600 --out o.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# One thread for every numerical library, before numpy is imported (the cells' processes
# inherit it).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

SAMPLERS = {
    "tunewise-bayesian": 'tunewise sampler="bayesian"',
    "tunewise-tpe": 'tunewise sampler="tpe"',
    "tunewise-auto": 'tunewise sampler="auto"',
    "tunewise-random": 'tunewise sampler="random"',
    "optuna-tpe": "Optuna default (TPESampler)",
    "optuna-gp": "Optuna GPSampler",
    "optuna-random": "Optuna RandomSampler",
}
DEFAULT_SIZES = [100, 300, 1000]
# One untimed proposal first: it pays one-off costs (lazy imports, compiled kernels) that are
# not the per-proposal cost. It is recorded in the JSON as proposal -1.
WARMUP = 1


def objective(v: dict[str, Any]) -> float:
    """A fixed, cheap function of the LCBench values (to maximise) with some structure for a
    model to find; its value does not matter here, only that it is not constant."""
    return (80.0 - 4.0 * (math.log10(v["learning_rate"]) + 2.5) ** 2
            - 10.0 * (v["momentum"] - 0.9) ** 2 - 50.0 * v["weight_decay"]
            - 0.5 * abs(v["num_layers"] - 3) - 2.0 * (math.log2(v["max_units"]) - 8) ** 2 / 4
            - 3.0 * (v["max_dropout"] - 0.2) ** 2 - (math.log2(v["batch_size"]) - 6) ** 2 / 4)


# --------------------------------------------------------------------------------------------
# Worker: one (sampler, N) cell in its own process; prints one JSON line per timed proposal.
# --------------------------------------------------------------------------------------------

def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def _worker_tunewise(name: str, size: int, k: int, seed: int) -> None:
    import numpy as np  # noqa: F401  (imported before timing, like tunewise itself)
    from quality.problems import LCBENCH_PARAMS
    from quality.samplers import tunewise_values

    import tunewise
    from tunewise.samplers import RandomSampler, Sampler, make_sampler

    class Prefilled(Sampler):
        """Random proposals until the study holds ``n_random`` trials, then ``inner``'s."""

        name = "prefilled"

        def __init__(self, inner: str, n_random: int) -> None:
            self.inner = make_sampler(inner)
            self.random = RandomSampler()
            self.n_random = n_random

        def propose(self, ctx):  # type: ignore[no-untyped-def]
            sampler = self.random if len(ctx.trials) < self.n_random else self.inner
            return sampler.propose(ctx)

        def config(self) -> dict[str, Any]:
            return {"name": self.name, "inner": self.inner.config(), "n_random": self.n_random}

    sampler = Prefilled(name.split("-", 1)[1], size)
    study = tunewise.Study("overhead", objective=tunewise.Objective("score", "max"),
                           sampler=sampler, seed=seed)
    t0 = time.perf_counter()
    for _ in range(size):
        trial = study.ask()
        study.tell(trial, objective(tunewise_values(trial.hp, LCBENCH_PARAMS)))
    _emit({"fill_s": time.perf_counter() - t0, "inner": repr(sampler.inner)})
    for i in range(-WARMUP, k):
        t1 = time.perf_counter()
        trial = study.ask()
        values = tunewise_values(trial.hp, LCBENCH_PARAMS)
        dt = time.perf_counter() - t1
        study.tell(trial, objective(values))
        _emit({"proposal": i, "history": size + WARMUP + i, "s": dt})


def _worker_optuna(name: str, size: int, k: int, seed: int) -> None:
    import numpy as np
    import optuna
    from quality.problems import LCBENCH_PARAMS
    from quality.samplers import optuna_distributions, optuna_values

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    kind = name.split("-", 1)[1]
    if kind == "tpe":
        sampler: Any = optuna.samplers.TPESampler(seed=seed)  # create_study()'s default, seeded
    elif kind == "gp":
        import torch

        torch.set_num_threads(1)
        sampler = optuna.samplers.GPSampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dists = optuna_distributions(LCBENCH_PARAMS)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    trials = []
    for _ in range(size):
        values = {p.name: p.sample(rng) for p in LCBENCH_PARAMS}
        trials.append(optuna.trial.create_trial(params=values, distributions=dists,
                                                value=objective(values)))
    study.add_trials(trials)
    _emit({"fill_s": time.perf_counter() - t0, "inner": type(sampler).__name__})
    for i in range(-WARMUP, k):
        t1 = time.perf_counter()
        trial = study.ask()
        values = optuna_values(trial, LCBENCH_PARAMS)
        dt = time.perf_counter() - t1
        study.tell(trial, objective(values))
        _emit({"proposal": i, "history": size + WARMUP + i, "s": dt})


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

def _run_cell(name: str, size: int, k: int, seed: int, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", name, "--_size", str(size),
           "--proposals", str(k), "--seed", str(seed)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))  # stdout read after a kill: partial cells count
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        timed_out = True
    lines = [json.loads(ln) for ln in stdout.splitlines() if ln.startswith("{")]
    times = [ln["s"] for ln in lines if ln.get("proposal", -1) >= 0]
    warm = [ln["s"] for ln in lines if ln.get("proposal", 0) < 0]
    head = next((ln for ln in lines if "fill_s" in ln), {})
    cell: dict[str, Any] = {"sampler": name, "size": size, "requested": k, "measured": len(times),
                            "proposal_s": times, "fill_s": head.get("fill_s"),
                            "inner": head.get("inner"), "warmup_s": warm[0] if warm else None,
                            "wall_s": time.perf_counter() - t0}
    if times:
        ms = [1000 * t for t in times]
        cell.update(median_ms=statistics.median(ms), min_ms=min(ms), max_ms=max(ms))
    if timed_out:
        cell["status"] = (f"capped at {timeout:.0f} s after {len(times)} of {k} proposals"
                          if times else f"not measured: no proposal within {timeout:.0f} s"
                          + ("" if head else " (still filling the history)"))
    elif proc.returncode != 0:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        cell["status"] = f"error (exit {proc.returncode}): " + " | ".join(tail)
    else:
        cell["status"] = "ok"
    return cell


def _fmt_ms(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:,.0f}"


def _table(cells: list[dict[str, Any]], samplers: list[str], sizes: list[int]) -> str:
    rows = ["| sampler | " + " | ".join(f"{n} trials" for n in sizes) + " |",
            "|---|" + "---:|" * len(sizes)]
    notes = []
    for s in samplers:
        out = []
        for n in sizes:
            c = next((c for c in cells if c["sampler"] == s and c["size"] == n), None)
            if c is None:
                out.append("not run")
            elif "median_ms" not in c:
                out.append("not measured" if "not measured" in c["status"] else "failed")
                notes.append(f"{s} at {n}: {c['status']}")
            else:
                mark = "" if c["status"] == "ok" else " *"
                out.append(f"{_fmt_ms(c['median_ms'])} ({_fmt_ms(c['min_ms'])}–"
                           f"{_fmt_ms(c['max_ms'])}, k={c['measured']}){mark}")
                if mark:
                    notes.append(f"{s} at {n}: {c['status']}")
        rows.append(f"| {SAMPLERS.get(s, s)} (`{s}`) | " + " | ".join(out) + " |")
    text = "\n".join(rows)
    text += ("\n\nMedian ms per proposal (min–max over k timed proposals) after the history was "
             "filled with N random trials.")
    if notes:
        text += "\n\n" + "\n".join(f"\\* {n}" for n in notes)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samplers", default=",".join(SAMPLERS),
                    help="comma-separated (default: all): " + ", ".join(SAMPLERS))
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="history sizes N (default 100,300,1000)")
    ap.add_argument("--proposals", type=int, default=7,
                    help="timed proposals per cell; the median is quoted (default 7)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cell-timeout", type=float, default=300,
                    help="seconds per (sampler, N) cell, filling included (default 300)")
    ap.add_argument("--out", default=str(HERE / "out" / "sampler_overhead.json"),
                    help="JSON output; the markdown table goes beside it (.md)")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._worker:
        if args._worker.startswith("tunewise"):
            _worker_tunewise(args._worker, args._size, args.proposals, args.seed)
        else:
            _worker_optuna(args._worker, args._size, args.proposals, args.seed)
        return 0

    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    unknown = [s for s in samplers if s not in SAMPLERS]
    if unknown:
        ap.error(f"unknown sampler(s) {', '.join(unknown)}; choose from {', '.join(SAMPLERS)}")
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--sizes: expected e.g. 100,300,1000, got {args.sizes!r}")
    if not sizes or min(sizes) < 1 or args.proposals < 1:
        ap.error("--sizes and --proposals must be positive")

    from quality.runs import git_commit, tunewise_digest
    from quality.samplers import library_version

    date = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    print(f"# sampler overhead — {date}; {len(samplers)} samplers x sizes {sizes}, "
          f"{args.proposals} proposals per cell, cap {args.cell_timeout:.0f} s per cell",
          file=sys.stderr, flush=True)
    cells = []
    t_start = time.perf_counter()
    for n in sizes:
        for s in samplers:
            c = _run_cell(s, n, args.proposals, args.seed, args.cell_timeout)
            cells.append(c)
            med = f"{_fmt_ms(c.get('median_ms'))} ms median" if "median_ms" in c else "—"
            fill = f"fill {c['fill_s']:.1f} s" if c.get("fill_s") is not None else "fill —"
            print(f"[{len(cells)}/{len(sizes) * len(samplers)}] {s:18s} N={n:<5d} {med:>16s} "
                  f"({c['measured']}/{c['requested']} proposals, {fill}, {c['wall_s']:.1f} s) "
                  f"{'' if c['status'] == 'ok' else c['status']}", file=sys.stderr, flush=True)
    table = _table(cells, samplers, sizes)
    command = "python benchmarks/sampler_overhead.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    doc = {
        "benchmark": "sampler_overhead",
        "date": date,
        "command": command.strip(),
        "space": "LCBench, 7 hyperparameters (batch_size int log, learning_rate log, momentum, "
                 "weight_decay, num_layers int, max_units int log, max_dropout)",
        "sizes": sizes,
        "proposals": args.proposals,
        "cell_timeout_s": args.cell_timeout,
        "elapsed_s": time.perf_counter() - t_start,
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "loadavg_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                    "tunewise_src": tunewise_digest(), "git": git_commit(),
                    "optuna": library_version("optuna")},
        "cells": cells,
        "table_markdown": table,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"\nWritten: {out}, {out.with_suffix('.md')}", file=sys.stderr)
    return 1 if any(c["status"].startswith("error") for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
