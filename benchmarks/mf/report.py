"""Compose the multi-fidelity report from cached runs: regret against cost, speed-up to random
search's final regret, area under the regret-vs-log-cost curve; markdown, PNG plots, JSON.

Definitions (also in the report):

- cost: the surrogate's training ``time`` of the epochs actually trained, cumulative over the
  run. The unit of the cost axis is one *full-evaluation equivalent*: C_max / n_full, the mean
  cost of one of random search's full-budget evaluations on that task and seed (so C_max = 100
  units, or 20 with --quick).
- regret of the incumbent: (0.5M max − f) / (0.5M max − 0.5M min) of the incumbent's
  surrogate value f at 52 epochs, with min and max from target_statistics.csv (as the
  search-quality harness's raw LCBench regret). Negative = better than the best of 0.5M random
  configurations.
- speed-up of a run: C_max ÷ the cumulative cost at which its incumbent's regret first reaches
  random search's final regret (after n_full full evaluations) on the same task and seed; a run
  that does not reach it within C_max "never got there". Medians count those runs as the
  smallest values (below every run that got there, whose speed-up is at least 1).
- AUC: the mean of the incumbent's regret over log10(cost) from 1 unit (one full evaluation's
  cost) to C_max, i.e. ∫ regret d log10(cost) ÷ log10(n_full), exact for the step curve; before
  a run's first result its regret is that of the median random configuration (the regret of
  an uninformed guess) on the task. Lower is better.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from harness import fmt_mean_se, json_num, load_runs, mean_se, seed_text, shown

from .methods import COMPETITORS, METHODS, RANDOM
from .surrogate import time_monotonicity

GUESS_CONFIGS = 2000


def guess_regret(task: str, n: int = GUESS_CONFIGS, seed: int = 12345) -> float:
    """Regret of the median random configuration at 52 epochs (the level before any result)."""
    from quality import problems as P

    rng = np.random.default_rng(seed)
    rows = np.array([[float(v[c]) for c in P._LC_COLUMNS]
                     for v in (P.random_point(P.LCBENCH_PARAMS, rng) for _ in range(n))])
    vals = P.lcbench_batch(task, rows)
    lo, hi = P.lcbench_stats(task)
    return float((hi - np.median(vals)) / (hi - lo))


class Run:
    """One cached run, on the cost axis in full-evaluation units."""

    def __init__(self, rec: dict[str, Any]) -> None:
        self.rec = rec
        self.method, self.task, self.seed = rec["method"], rec["task"], rec["seed"]
        self.n_full = rec["n_full"]
        self.unit = rec["c_max"] / rec["n_full"]
        ev = rec["evaluations"]
        self.x = np.asarray(ev["cum_cost"], dtype=float) / self.unit  # cost in units
        self.r = np.asarray(ev["inc_regret"], dtype=float)
        self.budget = np.asarray(ev["budget"], dtype=int)
        self.x_max = float(self.n_full)
        # The strict incumbent: the best observed value among 52-epoch evaluations only.
        finals = rec["finals"]
        lo, hi = rec["stats_min"], rec["stats_max"]
        best, strict = -math.inf, []
        for b, v, tr in zip(ev["budget"], ev["value"], ev["trial"]):
            if b == rec["max_epoch"] and v > best:
                best = v
                strict.append((tr, v))
            else:
                strict.append(strict[-1] if strict else None)
        self.r_strict = np.array([np.nan if s is None else (hi - finals[s[0]]) / (hi - lo)
                                  for s in strict])

    def regret_at(self, xs: np.ndarray) -> np.ndarray:
        """Incumbent regret at costs ``xs`` (NaN before the first result)."""
        idx = np.searchsorted(self.x, xs, side="right") - 1
        out = np.where(idx >= 0, self.r[np.clip(idx, 0, None)] if len(self.r) else np.nan, np.nan)
        return out

    def reach_cost(self, threshold: float, strict: bool = False) -> float | None:
        """Cost (units) at which the incumbent's regret first is <= threshold, within C_max
        (``strict``: the incumbent among 52-epoch evaluations only)."""
        r = self.r_strict if strict else self.r
        with np.errstate(invalid="ignore"):
            ok = np.nonzero((r <= threshold + 1e-7) & (self.x <= self.x_max * (1 + 1e-9)))[0]
        return float(self.x[ok[0]]) if len(ok) else None

    def final_regret(self) -> float:
        """Incumbent regret at C_max (the last evaluation within the budget)."""
        v = self.regret_at(np.array([self.x_max * (1 + 1e-9)]))[0]
        return float(v)

    def auc(self, start_regret: float, lo: float = 1.0) -> float:
        """Mean regret over log10(cost) from ``lo`` units to C_max (step curve, exact)."""
        a, b = math.log10(lo), math.log10(self.x_max)
        if b <= a:
            return float("nan")
        pts = [(math.log10(x), r) for x, r in zip(self.x, self.r) if x > 0]
        total, cur, pos = 0.0, start_regret, a
        for lx, r in pts:
            if lx <= a:
                cur = r
                continue
            if lx >= b:
                break
            total += cur * (lx - pos)
            pos, cur = lx, r
        total += cur * (b - pos)
        return total / (b - a)


def _order(names: set[str]) -> list[str]:
    known = list(METHODS)
    return [n for n in known if n in names] + sorted(n for n in names if n not in known)


class Analysis:
    def __init__(self, runs: list[dict[str, Any]], methods: list[str] | None,
                 tasks: list[str] | None, seeds: list[int] | None, n_full: int | None) -> None:
        self.notes: list[str] = []
        if n_full is None and runs:
            counts = defaultdict(int)
            for r in runs:
                counts[r["n_full"]] += 1
            n_full = max(counts, key=lambda k: (counts[k], k))
        runs = [r for r in runs if r["n_full"] == n_full]
        if methods:
            runs = [r for r in runs if r["method"] in methods]
        if tasks:
            runs = [r for r in runs if r["task"] in tasks]
        if seeds is not None:
            runs = [r for r in runs if r["seed"] in seeds]
        self.n_full = n_full
        self.methods = [m for m in (methods or _order({r["method"] for r in runs}))
                        if any(r["method"] == m for r in runs)]
        order = {t: i for i, t in enumerate(
            ["3945", "34539", "126025", "168330", "7593", "168329"])}
        self.tasks = sorted({r["task"] for r in runs}, key=lambda t: (order.get(t, 99), t))
        if tasks:
            self.tasks = [t for t in tasks if t in self.tasks]
        self.seeds = sorted({r["seed"] for r in runs})
        self.by: dict[tuple[str, str], dict[int, Run]] = defaultdict(dict)
        for r in runs:
            self.by[(r["task"], r["method"])][r["seed"]] = Run(r)
        self.guess = {t: guess_regret(t) for t in self.tasks}
        self._metrics()

    # -- per-run metrics ----------------------------------------------------------------
    def _metrics(self) -> None:
        self.threshold: dict[tuple[str, int], float] = {}
        self.speed: dict[tuple[str, str], dict[int, float | None]] = defaultdict(dict)
        self.speed_strict: dict[tuple[str, str], dict[int, float | None]] = defaultdict(dict)
        self.aucs: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        self.finals: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
        for t in self.tasks:
            rnd = self.by.get((t, RANDOM), {})
            if not rnd:
                self.notes.append(f"task {t}: no `{RANDOM}` runs, so no speed-up.")
            for seed, run in rnd.items():
                self.threshold[(t, seed)] = run.final_regret()
            for m in self.methods:
                for seed, run in self.by.get((t, m), {}).items():
                    self.aucs[(t, m)][seed] = run.auc(self.guess[t])
                    self.finals[(t, m)][seed] = run.final_regret()
                    if (t, seed) in self.threshold:
                        c = run.reach_cost(self.threshold[(t, seed)])
                        self.speed[(t, m)][seed] = (run.x_max / c) if c else None
                        c = run.reach_cost(self.threshold[(t, seed)], strict=True)
                        self.speed_strict[(t, m)][seed] = (run.x_max / c) if c else None

    def speed_summary(self, m: str, tasks: list[str], strict: bool = False) -> dict[str, Any]:
        """Median speed-up over the runs of ``tasks`` (never = below every reached one)."""
        src = self.speed_strict if strict else self.speed
        vals = [v for t in tasks for v in src.get((t, m), {}).values()]
        return _speed_stats(vals)

    def speed_median_of_task_medians(self, m: str, strict: bool = False) -> float | None:
        meds = []
        for t in self.tasks:
            s = self.speed_summary(m, [t], strict)
            if s["runs"]:
                meds.append(s["median_key"])
        if not meds:
            return None
        return float(np.median(meds))

    def auc_stat(self, t: str, m: str) -> tuple[float, float, int]:
        return mean_se(list(self.aucs.get((t, m), {}).values()))

    def final_stat(self, t: str, m: str) -> tuple[float, float, int]:
        return mean_se(list(self.finals.get((t, m), {}).values()))

    def auc_wins(self, m: str, other: str) -> tuple[int, int]:
        """(tasks where m's mean AUC < other's, tasks with both)."""
        wins = n = 0
        for t in self.tasks:
            a, b = self.auc_stat(t, m), self.auc_stat(t, other)
            if a[2] and b[2]:
                n += 1
                wins += a[0] < b[0]
        return wins, n

    def curve(self, t: str, m: str, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        runs = list(self.by.get((t, m), {}).values())
        if not runs:
            return np.full(len(grid), np.nan), np.full(len(grid), np.nan), 0
        mat = np.vstack([r.regret_at(grid) for r in runs])
        full = ~np.isnan(mat).any(axis=0)  # where every seed has a result
        m_ = np.where(full, np.nanmean(np.where(np.isnan(mat), 0, mat), axis=0), np.nan)
        se = (np.where(full, mat.std(axis=0, ddof=1) / math.sqrt(len(runs)), np.nan)
              if len(runs) > 1 else np.zeros(len(grid)))
        return m_, se, len(runs)

    def counts(self, m: str) -> dict[str, Any]:
        runs = [r for t in self.tasks for r in self.by.get((t, m), {}).values()]
        if not runs:
            return {}
        return {"runs": len(runs),
                "evaluations": statistics.median(r.rec["n_evaluations"] for r in runs),
                "configs": statistics.median(r.rec["n_configs"] for r in runs),
                "full_budget_evals": statistics.median(int((r.budget == r.rec["max_epoch"]).sum())
                                                       for r in runs),
                "overhead_s": statistics.median(r.rec["overhead_s"] for r in runs),
                "wall_s": statistics.median(r.rec["total_s"] for r in runs),
                "anomalies": sum(len(r.rec["anomalies"]) for r in runs),
                "stopped_early": sum(r.rec["stop_reason"] not in ("cost budget reached",)
                                     and not r.rec["stop_reason"].endswith(" evaluations")
                                     for r in runs)}


def _speed_stats(vals: list[float | None]) -> dict[str, Any]:
    """Median with 'never' (None) ranked below every reached value."""
    n = len(vals)
    never = sum(v is None for v in vals)
    if not n:
        return {"runs": 0, "never": 0, "median": None, "median_key": None, "median_reached": None}
    keys = sorted(0.0 if v is None else float(v) for v in vals)
    med = float(np.median(keys))
    reached = [v for v in vals if v is not None]
    return {"runs": n, "never": never, "median": med if med >= 1 else None, "median_key": med,
            "median_reached": float(np.median(reached)) if reached else None}


def _speed_text(s: dict[str, Any]) -> str:
    if not s.get("runs"):
        return "—"
    med = s["median_key"]
    txt = f"×{med:.1f}" if med >= 1 else "<×1"
    return f"{txt} ({s['never']}/{s['runs']} never)" if s["never"] else txt


def markdown(a: Analysis, command: str, cache: Path, mono: dict[str, dict[str, float]]) -> str:
    tw = [m for m in a.methods if m.startswith("tunewise-")]
    comps = [m for m in a.methods if m in COMPETITORS or not m.startswith("tunewise-")]
    lines = [(f"# Multi-fidelity on LCBench (epoch = fidelity) — {len(a.methods)} methods, "
             f"{len(a.tasks)} tasks, seeds {seed_text(a.seeds)}"), "",
             (f"Generated {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')} from the runs "
             f"in `{shown(cache)}`; command: `{command}`."), "",
             (f"Cost budget per task and seed: C_max = the cost of random search's {a.n_full} "
             "full-budget (52-epoch) evaluations. Cost = the surrogate's `time` for the epochs "
             "trained (a resumed trial pays only for its new epochs). One cost *unit* = C_max / "
             f"{a.n_full}, the mean cost of one full evaluation. Regret: (0.5M max − f) / (0.5M max "
             "− 0.5M min) of the incumbent's value at 52 epochs, incumbent = best observed value "
             "at the highest budget observed so far."), ""]
    # headline: speed-up
    lines += ["## Speed-up to random search's final regret", "",
              (f"C_max ÷ the cost at which the incumbent first reaches random search's regret after "
              f"{a.n_full} full evaluations (same task and seed). Per task: median over seeds, with "
              "the number of runs that never got there within C_max (counted below every run that "
              "did). Last columns: the median over tasks of the per-task medians, and the median "
              "over all runs pooled."), "",
              "| method | " + " | ".join(f"LC {t}" for t in a.tasks)
              + " | median of task medians | all runs pooled |",
              "|---|" + "---:|" * (len(a.tasks) + 2)]
    for m in a.methods:
        cells = [_speed_text(a.speed_summary(m, [t])) for t in a.tasks]
        mm = a.speed_median_of_task_medians(m)
        mm_txt = "—" if mm is None else (f"×{mm:.1f}" if mm >= 1 else "<×1")
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {mm_txt} | "
                     + _speed_text(a.speed_summary(m, a.tasks)) + " |")
    lines.append("")
    lines += ["### The same, with the incumbent confirmed at 52 epochs", "",
              ("The incumbent restricted to configurations evaluated at the full 52 epochs (the "
              "rule above also accepts an incumbent chosen on a 2- or 6-epoch result, whose "
              "52-epoch value the method has not seen)."), "",
              "| method | " + " | ".join(f"LC {t}" for t in a.tasks)
              + " | median of task medians | all runs pooled |",
              "|---|" + "---:|" * (len(a.tasks) + 2)]
    for m in a.methods:
        cells = [_speed_text(a.speed_summary(m, [t], True)) for t in a.tasks]
        mm = a.speed_median_of_task_medians(m, True)
        mm_txt = "—" if mm is None else (f"×{mm:.1f}" if mm >= 1 else "<×1")
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {mm_txt} | "
                     + _speed_text(a.speed_summary(m, a.tasks, True)) + " |")
    lines.append("")
    # AUC
    lines += ["## Area under the regret-vs-log-cost curve", "",
              ("Mean of the incumbent's regret over log10(cost) from 1 unit (one full "
              "evaluation's cost) to C_max; before a run's first result, the regret of the "
              "median random configuration. Lower is better. Mean ± SE over seeds."), "",
              "| method | " + " | ".join(f"LC {t}" for t in a.tasks) + " |",
              "|---|" + "---:|" * len(a.tasks)]
    for m in a.methods:
        lines.append(f"| {m} | " + " | ".join(fmt_mean_se(*a.auc_stat(t, m), digits=4) for t in a.tasks) + " |")
    lines.append("")
    if tw and comps:
        lines += ["### Fraction of tasks where the tunewise method's mean AUC is lower", "",
                  "| method | " + " | ".join(f"vs {c}" for c in comps) + " |",
                  "|---|" + "---:|" * len(comps)]
        for m in tw:
            cells = []
            for c in comps:
                w, n = a.auc_wins(m, c)
                cells.append(f"{w}/{n}" if n else "—")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    # final regret
    lines += [f"## Regret of the incumbent at C_max ({a.n_full} units)", "",
              "| method | " + " | ".join(f"LC {t}" for t in a.tasks) + " |",
              "|---|" + "---:|" * len(a.tasks)]
    for m in a.methods:
        lines.append(f"| {m} | " + " | ".join(fmt_mean_se(*a.final_stat(t, m), digits=4) for t in a.tasks) + " |")
    lines.append("")
    # per-task speed-up detail
    lines += ["## Per-task speed-up detail", "",
              "Median over the runs that got there (their number in brackets).", "",
              "| method | " + " | ".join(f"LC {t}" for t in a.tasks) + " |",
              "|---|" + "---:|" * len(a.tasks)]
    for m in a.methods:
        cells = []
        for t in a.tasks:
            s = a.speed_summary(m, [t])
            cells.append("—" if not s["runs"] else
                         (f"×{s['median_reached']:.1f} ({s['runs'] - s['never']})"
                          if s["median_reached"] else "— (0)"))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append("")
    # counts
    lines += ["## What the runs did (medians over runs)", "",
              ("Evaluations = runs of a configuration to a budget (a promotion is one more); "
              "library time = the optimiser's own time in ask/tell (without the surrogate)."), "",
              "| method | runs | evaluations | configurations | 52-epoch evaluations | library s per run | wall s per run | anomalies | stopped before C_max |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in a.methods:
        c = a.counts(m)
        if not c:
            continue
        lines.append(f"| {m} | {c['runs']} | {c['evaluations']:.0f} | {c['configs']:.0f} | "
                     f"{c['full_budget_evals']:.0f} | {c['overhead_s']:.2f} | {c['wall_s']:.2f} | "
                     f"{c['anomalies']} | {c['stopped_early']} |")
    lines.append("")
    lines += ["## Tasks", "", "| task | C_max (s of surrogate time), mean over seeds | random's final regret, mean | regret of the median random configuration | configurations whose raw `time` decreases somewhere |",
              "|---|---:|---:|---:|---:|"]
    for t in a.tasks:
        rnd = a.by.get((t, RANDOM), {})
        cm = statistics.fmean(r.rec["c_max"] for r in rnd.values()) if rnd else float("nan")
        fr = mean_se([a.threshold[(t, s)] for s in rnd])
        mo = mono.get(t, {})
        lines.append(f"| {t} | {cm:.0f} | {fmt_mean_se(*fr, digits=4)} | {a.guess[t]:.4f} | "
                     f"{100 * mo.get('configs_with_a_decrease', float('nan')):.1f}% |")
    lines.append("")
    lines += ["Methods:", ""] + [f"- `{m}`: {METHODS[m][1]}" for m in a.methods if m in METHODS] + [""]
    keys = defaultdict(set)
    for (_t, m), d in a.by.items():
        for r in d.values():
            keys[m].add(r.rec.get("library_key"))
    lines += ["Code that made the runs: " + "; ".join(
        f"{m}: {', '.join(sorted(str(k) for k in keys[m]))}" for m in a.methods) + ".", ""]
    missing = [f"{m} on {t} ({len(a.by.get((t, m), {}))}/{len(a.seeds)} seeds)"
               for m in a.methods for t in a.tasks if len(a.by.get((t, m), {})) < len(a.seeds)]
    if missing:
        a.notes.append("incomplete: " + ", ".join(missing) + ".")
    anomalies = [(m, t, s, r.rec["anomalies"]) for (t, m), d in a.by.items()
                 for s, r in d.items() if r.rec["anomalies"]]
    for m, t, s, an in anomalies[:10]:
        a.notes.append(f"{m} on {t} seed {s}: {len(an)} anomalies, first: {an[0]}")
    if a.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in a.notes] + [""]
    return "\n".join(lines)


_TW_COLOURS = {"random": 0, "tpe": 1, "bayesian": 2, "auto": 3}  # tab10 indices
_COMP_COLOURS = {"random": 7, "kt-hyperband": 5, "optuna-tpe-hyperband": 4,
                 "optuna-tpe-sha": 6, "dehb": 8}


def _style(m: str, i: int) -> dict[str, Any]:
    """tunewise: one colour per sampler, solid for hyperband, dash-dot for asha;
    competitors: dashed (random search dotted), a colour each."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10")
    if m.startswith("tunewise-"):
        _, sampler, sched = (m.split("-") + ["", ""])[:3]
        return {"color": cmap(_TW_COLOURS.get(sampler, 9)), "ls": "-" if sched == "hyperband" else "-.",
                "lw": 1.7}
    return {"color": cmap(_COMP_COLOURS.get(m, 9)), "ls": ":" if m == RANDOM else "--", "lw": 1.3}


def plot_curves(a: Analysis, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not a.tasks:
        return None
    grid = np.logspace(-2, math.log10(a.n_full), 300)
    ncol = min(3, len(a.tasks))
    nrow = math.ceil(len(a.tasks) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.6 * ncol, 4.2 * nrow), squeeze=False)
    for k, t in enumerate(a.tasks):
        ax = axes[k // ncol][k % ncol]
        lo = math.inf
        for i, m in enumerate(a.methods):
            mean, se, n = a.curve(t, m, grid)
            if not n:
                continue
            st = _style(m, i)
            ax.plot(grid, mean, label=m, **st)
            ax.fill_between(grid, mean - se, mean + se, color=st["color"], alpha=0.12, lw=0)
            if np.isfinite(mean).any():
                lo = min(lo, float(np.nanmin(mean)))
        thr = [a.threshold[(t, s)] for s in a.seeds if (t, s) in a.threshold]
        if thr:
            ax.axhline(statistics.fmean(thr), color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        lin = 10 ** math.floor(math.log10(max(abs(lo), 1e-5))) if math.isfinite(lo) else 1e-3
        ax.set_yscale("symlog", linthresh=lin)
        ax.axhline(0.0, color="black", lw=0.5)
        ax.set_title(f"LCBench {t}", fontsize=10)
        ax.set_xlabel(f"cumulative cost (full-evaluation units; C_max = {a.n_full})")
        ax.set_ylabel("regret of the incumbent")
        ax.grid(alpha=0.3, which="both")
    for k in range(len(a.tasks), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.09 if nrow > 1 else 0.16, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_speedup(a: Analysis, path: Path) -> Path | None:
    """One panel per task: a row per method, a dot per seed, a bar at the median; runs that
    never reached random search's final regret as crosses at 0.5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not a.tasks or not a.threshold:
        return None
    ncol = min(3, len(a.tasks))
    nrow = math.ceil(len(a.tasks) / ncol)
    height = 0.8 + 0.28 * len(a.methods)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.0 * ncol, height * nrow), squeeze=False,
                             sharey=True, sharex=True)
    ys = {m: len(a.methods) - 1 - i for i, m in enumerate(a.methods)}
    for k, t in enumerate(a.tasks):
        ax = axes[k // ncol][k % ncol]
        for i, m in enumerate(a.methods):
            vals = list(a.speed.get((t, m), {}).values())
            if not vals:
                continue
            st = _style(m, i)
            reached = [v for v in vals if v is not None]
            ax.scatter(reached, [ys[m]] * len(reached), s=10, color=st["color"], alpha=0.6, lw=0)
            never = len(vals) - len(reached)
            if never:
                ax.scatter([0.5], [ys[m]], marker="x", s=12 + 4 * never, color=st["color"])
                ax.annotate(str(never), (0.5, ys[m]), xytext=(5, -3), textcoords="offset points",
                            fontsize=6, color=st["color"])
            med = _speed_stats(vals)["median_key"]
            ax.plot([max(med, 0.5)] * 2, [ys[m] - 0.35, ys[m] + 0.35], color=st["color"], lw=2.4)
        ax.set_xscale("log")
        ax.set_xlim(0.35, None)
        ax.axvline(1.0, color="grey", lw=0.8, ls=":")
        ax.axvline(10.0, color="grey", lw=0.6, ls="--")
        ax.set_yticks([ys[m] for m in a.methods])
        ax.set_yticklabels(a.methods, fontsize=7)
        ax.set_title(f"LCBench {t}", fontsize=10)
        ax.set_xlabel("speed-up to random's final regret (× = never)", fontsize=8)
        ax.grid(alpha=0.3, axis="x", which="both")
    for k in range(len(a.tasks), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def summary(a: Analysis, command: str, mono: dict[str, Any]) -> dict[str, Any]:
    per_run = []
    for (t, m), d in a.by.items():
        for s, r in sorted(d.items()):
            sp = a.speed.get((t, m), {}).get(s)
            sp52 = a.speed_strict.get((t, m), {}).get(s)
            per_run.append({"task": t, "method": m, "seed": s, "c_max": r.rec["c_max"],
                            "speedup": json_num(sp), "reached": sp is not None,
                            "speedup_confirmed_at_52": json_num(sp52),
                            "auc": json_num(a.aucs[(t, m)][s]), "final_regret": json_num(a.finals[(t, m)][s]),
                            "random_final_regret": json_num(a.threshold.get((t, s))),
                            "evaluations": r.rec["n_evaluations"], "configs": r.rec["n_configs"],
                            "overhead_s": round(r.rec["overhead_s"], 3),
                            "anomalies": len(r.rec["anomalies"])})
    per_task = []
    for t in a.tasks:
        for m in a.methods:
            s = a.speed_summary(m, [t])
            am, ase, n = a.auc_stat(t, m)
            fm, fse, _ = a.final_stat(t, m)
            s52 = a.speed_summary(m, [t], True)
            per_task.append({"task": t, "method": m, "seeds": n, "speedup_median": json_num(s["median_key"]),
                             "speedup52_median": json_num(s52["median_key"]), "speedup52_never": s52["never"],
                             "speedup_never": s["never"], "speedup_median_reached": json_num(s["median_reached"]),
                             "auc_mean": json_num(am), "auc_se": json_num(ase), "final_regret_mean": json_num(fm),
                             "final_regret_se": json_num(fse)})
    overall = []
    for m in a.methods:
        s = a.speed_summary(m, a.tasks)
        s52 = a.speed_summary(m, a.tasks, True)
        overall.append({"method": m, "speedup_median_of_task_medians": json_num(a.speed_median_of_task_medians(m)),
                        "speedup_pooled_median": json_num(s["median_key"]), "runs": s["runs"],
                        "never": s["never"],
                        "speedup52_median_of_task_medians": json_num(a.speed_median_of_task_medians(m, True)),
                        "speedup52_pooled_median": json_num(s52["median_key"]), "never52": s52["never"], **{f"counts_{k}": v for k, v in a.counts(m).items()}})
    wins = []
    comps = [m for m in a.methods if not m.startswith("tunewise-")]
    for m in a.methods:
        if m.startswith("tunewise-"):
            for c in comps:
                w, n = a.auc_wins(m, c)
                wins.append({"method": m, "against": c, "auc_wins": w, "tasks": n,
                             "fraction": (w / n) if n else None})
    return {"benchmark": "multifidelity-lcbench",
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "command": command, "methods": a.methods, "tasks": a.tasks, "seeds": a.seeds,
            "n_full": a.n_full, "guess_regret": a.guess, "time_monotonicity": mono,
            "overall": overall, "per_task": per_task, "auc_win_fractions": wins,
            "per_run": per_run, "notes": a.notes}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in row.items()}


def _dump(doc: dict[str, Any]) -> str:
    """JSON with one line per row of the long lists (readable, and a third of the size)."""
    head = {k: v for k, v in doc.items() if not isinstance(v, list) or not v
            or not isinstance(v[0], dict)}
    text = json.dumps(head, indent=1)[:-2]
    for k, v in doc.items():
        if k in head:
            continue
        rows = ",\n  ".join(json.dumps(_rounded(row), separators=(",", ":")) for row in v)
        text += f',\n "{k}": [\n  {rows}\n ]'
    return text + "\n}\n"


def write_report(cache: Path, out: Path, methods: list[str] | None, tasks: list[str] | None,
                 seeds: list[int] | None, n_full: int | None, command: str) -> dict[str, Any]:
    runs = load_runs(cache)
    if not runs:
        raise SystemExit(f"No cached runs under {cache}/runs; run the benchmark first.")
    a = Analysis(runs, methods, tasks, seeds, n_full)
    if not a.tasks:
        raise SystemExit("No cached runs match the selection (--methods/--tasks/--seeds).")
    mono = {t: time_monotonicity(t, 500) for t in a.tasks}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(a, command, cache, mono)
    doc = summary(a, command, mono)
    (out / "report.md").write_text(md)
    (out / "summary.json").write_text(_dump(doc))
    png = plot_curves(a, out / "regret_vs_cost.png")
    png2 = plot_speedup(a, out / "speedup.png")
    doc["files"] = {"markdown": str(out / "report.md"), "json": str(out / "summary.json"),
                    "plot": str(png) if png else None, "plot_speedup": str(png2) if png2 else None}
    return doc
