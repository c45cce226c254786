"""Compose the report from cached runs: normalised regret, ranks, proposal time, the issue's
targets; markdown tables, PNG plots and a JSON summary.

Definitions (also in benchmarks/README.md):

- raw regret at b: the problem's regret of the best value among the first b evaluations
  (LCBench: (0.5M max - found) / (max - min); synthetic: (found - optimum) / scale; digits-mlp:
  best accuracy any cached run found - found).
- normalised regret at b: raw regret ÷ the mean raw regret of ``tunewise-random`` at b over the
  seeds of the report (1 = as good as random search, 0 = the optimum; negative on LCBench when
  a run beats the best of the 0.5M random configurations).
- mean ± SE over seeds; the LCBench family figure averages each seed's normalised regret over
  the LCBench tasks, then takes mean and SE over seeds.
- average rank: per problem and seed, rank the samplers by raw regret at b (1 = best, ties
  averaged), then average over seeds; the LCBench rank averages over tasks and seeds.
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
from harness import fmt_mean_se, json_num, load_runs, mean_se, seed_text

from .problems import get_problem, problem_family
from .samplers import RANDOM, SAMPLERS

TARGET_BUDGETS = (50, 100)
TARGET_SAMPLER = "tunewise-auto"
FAMILY_ORDER = ["lcbench", "branin", "hartmann6", "mixed", "conditional", "digits-mlp"]


def _order(names: set[str], known: list[str]) -> list[str]:
    return [n for n in known if n in names] + sorted(n for n in names if n not in known)


def best_so_far(record: dict[str, Any], length: int) -> np.ndarray:
    """Best value among the first n evaluations, n = 1..length (NaN until one succeeds; a run
    that stopped early keeps its last best)."""
    sign = 1.0 if record["direction"] == "max" else -1.0
    out = np.full(length, np.nan)
    best = -math.inf
    vals = record["values"]
    for i in range(length):
        if i < len(vals) and vals[i] is not None:
            best = max(best, sign * vals[i])
        out[i] = sign * best if best > -math.inf else np.nan
    return out


def _rank_rows(matrix: np.ndarray) -> np.ndarray:
    """Ranks along axis 1 (lower regret = rank 1, ties averaged, NaN last)."""
    from scipy.stats import rankdata

    filled = np.where(np.isnan(matrix), np.inf, matrix)
    return np.vstack([rankdata(row, method="average") for row in filled])


class Analysis:
    def __init__(self, runs: list[dict[str, Any]], samplers: list[str] | None,
                 problems: list[str] | None, seeds: list[int] | None,
                 budgets: list[int]) -> None:
        self.notes: list[str] = []
        all_runs = runs
        if samplers:
            runs = [r for r in runs if r["sampler"] in samplers]
        if problems:
            runs = [r for r in runs if r["problem"] in problems]
        if seeds is not None:
            runs = [r for r in runs if r["seed"] in seeds]
        self.samplers = samplers or _order({r["sampler"] for r in runs}, list(SAMPLERS))
        self.samplers = [s for s in self.samplers if any(r["sampler"] == s for r in runs)]
        probs = problems or sorted({r["problem"] for r in runs},
                                   key=lambda p: (FAMILY_ORDER.index(problem_family(p))
                                                  if problem_family(p) in FAMILY_ORDER else 99, p))
        self.problems = [p for p in probs if any(r["problem"] == p for r in runs)]
        self.seeds = sorted({r["seed"] for r in runs})
        self.by: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
        for r in runs:
            self.by[(r["problem"], r["sampler"])][r["seed"]] = r
        self.problem_info = {p: get_problem(p) for p in self.problems}
        # Curve length per problem: the shortest budget of its runs.
        self.length = {p: min(r["budget"] for (q, _s), d in self.by.items() if q == p
                              for r in d.values()) for p in self.problems}
        for p in self.problems:
            lengths = {r["budget"] for (q, _s), d in self.by.items() if q == p for r in d.values()}
            if len(lengths) > 1:
                self.notes.append(f"{p}: runs of budgets {sorted(lengths)}; every curve is cut "
                                  f"at {self.length[p]} (run the short ones again with the "
                                  "larger budget).")
        # Budgets within the runs' length; runs shorter than every asked budget: their length.
        self.budgets = {p: [b for b in budgets if b <= self.length[p]] or [self.length[p]]
                        for p in self.problems}
        # Optimum per problem; unknown ones (digits-mlp): the best value any cached run found.
        self.optimum: dict[str, float | None] = {}
        for p in self.problems:
            prob = self.problem_info[p]
            if prob.optimum is not None:
                self.optimum[p] = prob.optimum
                continue
            vals = [v for r in all_runs if r["problem"] == p for v in r["values"] if v is not None]
            self.optimum[p] = ((max(vals) if prob.direction == "max" else min(vals))
                               if vals else None)
        self._curves()

    # -- regret curves ------------------------------------------------------------------
    def _curves(self) -> None:
        self.raw: dict[tuple[str, str], dict[int, np.ndarray]] = {}
        self.norm: dict[tuple[str, str], dict[int, np.ndarray]] = {}
        self.denom: dict[str, np.ndarray] = {}
        for p in self.problems:
            prob, L = self.problem_info[p], self.length[p]
            for s in self.samplers:
                runs = self.by.get((p, s), {})
                self.raw[(p, s)] = {
                    seed: np.array([prob.raw_regret(b, self.optimum[p])
                                    for b in best_so_far(r, L)]) for seed, r in runs.items()}
            rnd = self.raw.get((p, RANDOM), {})
            if not rnd:
                self.notes.append(f"{p}: no {RANDOM} runs, so no normalised regret.")
                self.denom[p] = np.full(L, np.nan)
            else:
                missing = [s for s in self.seeds if s not in rnd]
                if missing:
                    self.notes.append(f"{p}: {RANDOM} lacks seeds {missing}; its mean over "
                                      f"{len(rnd)} seeds normalises.")
                with np.errstate(invalid="ignore"):
                    d = np.nanmean(np.vstack(list(rnd.values())), axis=0)
                self.denom[p] = np.where(d > 0, d, np.nan)
                if np.any(d <= 0):
                    self.notes.append(f"{p}: random search's mean raw regret is 0 at some "
                                      "budgets; normalised regret is undefined there.")
            for s in self.samplers:
                self.norm[(p, s)] = {seed: c / self.denom[p] for seed, c in self.raw[(p, s)].items()}

    def stat(self, kind: str, p: str, s: str, b: int) -> tuple[float, float, int]:
        src = self.norm if kind == "norm" else self.raw
        return mean_se([float(c[b - 1]) for c in src.get((p, s), {}).values()])

    @property
    def lcbench(self) -> list[str]:
        return [p for p in self.problems if problem_family(p) == "lcbench"]

    def family_curve(self, s: str, tasks: list[str], length: int) -> dict[int, np.ndarray]:
        """Per seed, the normalised regret curve averaged over ``tasks`` (seeds that have every
        task only)."""
        out = {}
        for seed in self.seeds:
            curves = [self.norm.get((p, s), {}).get(seed) for p in tasks]
            if all(c is not None for c in curves):
                out[seed] = np.mean(np.vstack([c[:length] for c in curves]), axis=0)
        return out

    def family_stat(self, s: str, b: int) -> tuple[float, float, int]:
        tasks = self.lcbench
        if not tasks:
            return float("nan"), float("nan"), 0
        curves = self.family_curve(s, tasks, min(self.length[p] for p in tasks))
        if not curves or b > min(self.length[p] for p in tasks):
            return float("nan"), float("nan"), 0
        return mean_se([float(c[b - 1]) for c in curves.values()])

    # -- ranks --------------------------------------------------------------------------
    def complete(self, p: str) -> list[str]:
        """Samplers with a run for every seed of the report on problem p."""
        return [s for s in self.samplers
                if all(seed in self.by.get((p, s), {}) for seed in self.seeds)]

    def ranks(self, problems: list[str], b: int,
              among: list[str] | None = None) -> dict[str, tuple[float, float, int]]:
        """Average rank over problems and seeds of the samplers (of ``among``, default all)
        complete on every one of ``problems``; SE over seeds of the per-seed rank averaged over
        the problems."""
        members = [s for s in (among or self.samplers)
                   if s in self.samplers and all(s in self.complete(p) for p in problems)]
        if len(members) < 2 or any(b > self.length[p] for p in problems):
            return {}
        per_seed: dict[str, dict[int, list[float]]] = {s: defaultdict(list) for s in members}
        for p in problems:
            mat = np.array([[self.raw[(p, s)][seed][b - 1] for s in members] for seed in self.seeds])
            ranks = _rank_rows(mat)
            for i, seed in enumerate(self.seeds):
                for j, s in enumerate(members):
                    per_seed[s][seed].append(float(ranks[i, j]))
        return {s: mean_se([statistics.fmean(v) for v in per_seed[s].values()]) for s in members}

    # -- time ---------------------------------------------------------------------------
    def proposal_seconds(self, s: str, problems: list[str], b: int | None) -> float | None:
        """Median over runs of the total proposal time of the first b evaluations."""
        totals = [sum(r["proposal_s"][:b]) for p in problems
                  for r in self.by.get((p, s), {}).values()
                  if b is None or r["n_evaluations"] >= b]
        return statistics.median(totals) if totals else None

    def proposal_ms(self, s: str, problems: list[str]) -> float | None:
        xs = [x for p in problems for r in self.by.get((p, s), {}).values() for x in r["proposal_s"]]
        return 1000 * statistics.median(xs) if xs else None

    def wall_seconds(self, s: str, problems: list[str]) -> float | None:
        xs = [r["total_s"] for p in problems for r in self.by.get((p, s), {}).values()]
        return statistics.median(xs) if xs else None

    # -- the targets --------------------------------------------------------------
    def targets(self) -> list[dict[str, Any]]:
        """The issue's targets at 50 and 100 evaluations. The rank is taken among
        tunewise-auto, the competitors and random search (tunewise's own bayesian and tpe,
        which auto chooses between, are left out of that ranking)."""
        out: list[dict[str, Any]] = []
        auto = TARGET_SAMPLER
        tasks = self.lcbench
        among = [s for s in self.samplers
                 if s in (auto, RANDOM) or not s.startswith("tunewise-")]

        def add(b: int, check: str, result: str, detail: str) -> None:
            out.append({"budget": b, "check": check, "result": result, "detail": detail})

        for b in TARGET_BUDGETS:
            if not tasks or any(b > self.length[p] for p in tasks):
                add(b, "LCBench targets", "n/a", "no LCBench runs of this budget")
            else:
                check = "best average rank on LCBench (among auto, competitors, random)"
                ranks = self.ranks(tasks, b, among)
                if auto not in ranks:
                    add(b, check, "n/a", f"no complete {auto} runs on the LCBench tasks, or "
                                         "nothing to rank it against")
                else:
                    others = sorted((v[0], s) for s, v in ranks.items() if s != auto)
                    ok = ranks[auto][0] <= others[0][0]
                    add(b, check, "pass" if ok else "fail",
                        f"{auto} {fmt_mean_se(*ranks[auto], digits=2)}; "
                        + ", ".join(f"{s} {fmt_mean_se(*ranks[s], digits=2)}" for _m, s in others))
                a = self.family_stat(auto, b)
                for other, factor in (("optuna-tpe", 0.7), (RANDOM, 0.5)):
                    o = self.family_stat(other, b)
                    check = f"LCBench normalised regret <= {factor} x {other}'s"
                    if a[2] == 0 or o[2] == 0:
                        add(b, check, "n/a",
                            f"runs missing ({auto}: {a[2]} seeds, {other}: {o[2]} seeds)")
                        continue
                    ok = a[0] <= factor * o[0]
                    ratio = f"; ratio {a[0] / o[0]:.2f}" if o[0] > 0 else ""
                    add(b, check, "pass" if ok else "fail",
                        f"{auto} {fmt_mean_se(*a)}; {other} {fmt_mean_se(*o)}{ratio}")
            for fam, probs in self.families().items():
                if any(b > self.length[p] for p in probs):
                    continue
                if fam == "lcbench":
                    a, k = self.family_stat(auto, b), self.family_stat("kt-bayesian", b)
                else:
                    a, k = (self.stat("norm", probs[0], auto, b),
                            self.stat("norm", probs[0], "kt-bayesian", b))
                check = f"{fam}: not worse than kt-bayesian by more than one SE"
                if a[2] == 0 or k[2] == 0:
                    add(b, check, "n/a", f"runs missing ({auto}: {a[2]} seeds, "
                                         f"kt-bayesian: {k[2]} seeds)")
                    continue
                se = math.sqrt(np.nan_to_num(a[1]) ** 2 + np.nan_to_num(k[1]) ** 2)
                worse = a[0] - k[0] > se
                add(b, check, "fail" if worse else "pass",
                    f"{auto} {fmt_mean_se(*a)}; kt-bayesian {fmt_mean_se(*k)}; difference "
                    f"{a[0] - k[0]:+.3f}, SE of the difference {se:.3f}")
        return out

    def families(self) -> dict[str, list[str]]:
        fams: dict[str, list[str]] = defaultdict(list)
        for p in self.problems:
            fams[problem_family(p)].append(p)
        return dict(fams)

    def all_budgets(self) -> list[int]:
        return sorted({b for bs in self.budgets.values() for b in bs})


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def _short(p: str) -> str:
    return p.replace("lcbench:", "LC ")


def _columns(a: Analysis) -> list[tuple[str, list[str]]]:
    cols: list[tuple[str, list[str]]] = []
    if len(a.lcbench) > 1:
        cols.append((f"LCBench ({len(a.lcbench)} tasks)", a.lcbench))
    cols += [(_short(p), [p]) for p in a.problems]
    return cols


def markdown(a: Analysis, command: str, out: Path) -> str:
    lines = [(f"# Search quality — {len(a.samplers)} samplers, {len(a.problems)} problems, "
              f"seeds {seed_text(a.seeds)}"),
             "",
             (f"Generated {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')} from "
              f"the runs in `{out}`; command: `{command}`."),
             "",
             ("Normalised regret: raw regret ÷ the mean raw regret of `tunewise-random` at the "
              "same number of evaluations over the same seeds (1 = random search, 0 = optimum, "
              "negative on LCBench = better than the best of 0.5M random configurations). Mean "
              "± standard error over seeds. LCBench column: each seed's regret averaged over "
              "the tasks, then mean ± SE over seeds."),
             ""]
    targets = a.targets()
    lines += ["## The issue's targets", ""]
    for t in targets:
        lines.append(f"- {t['budget']} evaluations — {t['check']}: **{t['result']}** ({t['detail']})")
    lines.append("")
    cols = _columns(a)
    for b in a.all_budgets():
        lines += [f"## Normalised regret at {b} evaluations", "",
                  "| sampler | " + " | ".join(c for c, _ in cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        for s in a.samplers:
            cells = []
            for c, probs in cols:
                if b not in a.budgets.get(probs[0], []):
                    cells.append("—")
                elif c.startswith("LCBench ("):
                    cells.append(fmt_mean_se(*a.family_stat(s, b)))
                else:
                    cells.append(fmt_mean_se(*a.stat("norm", probs[0], s, b)))
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"## Average rank at {b} evaluations (1 = best)", "",
                  "| sampler | " + " | ".join(c for c, _ in cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        rank_cols = [a.ranks(probs, b) for _c, probs in cols]
        for s in a.samplers:
            cells = [(fmt_mean_se(*r[s], digits=2) if s in r else "—") for r in rank_cols]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"## Raw regret at {b} evaluations", "",
                  "| sampler | " + " | ".join(_short(p) for p in a.problems) + " |",
                  "|---|" + "---:|" * len(a.problems)]
        for s in a.samplers:
            cells = [(fmt_mean_se(*a.stat("raw", p, s, b), digits=4) if b in a.budgets[p] else "—")
                     for p in a.problems]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    # proposal time
    tasks = a.lcbench
    if tasks:
        bs = [b for b in a.all_budgets() if all(b <= a.length[p] for p in tasks)]
        lines += ["## Proposal time on LCBench (median over runs)", "",
                  "| sampler | " + " | ".join(f"s per run, first {b}" for b in bs)
                  + " | ms per proposal | wall s per run |",
                  "|---|" + "---:|" * (len(bs) + 2)]
        for s in a.samplers:
            cells = [_num(a.proposal_seconds(s, tasks, b)) for b in bs]
            cells += [_num(a.proposal_ms(s, tasks)), _num(a.wall_seconds(s, tasks))]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    fams = a.families()
    lines += ["## Proposal time per run, all evaluations (median s over runs)", "",
              "| sampler | " + " | ".join(f for f in fams) + " |", "|---|" + "---:|" * len(fams)]
    for s in a.samplers:
        lines.append(f"| {s} | " + " | ".join(_num(a.proposal_seconds(s, probs, None))
                                              for probs in fams.values()) + " |")
    lines.append("")
    lines += ["## Runs", "", "| problem | budget | optimum used | " + " | ".join(a.samplers) + " |",
              "|---|---:|---:|" + "---:|" * len(a.samplers)]
    for p in a.problems:
        opt = a.optimum[p]
        counts = [str(len(a.by.get((p, s), {}))) for s in a.samplers]
        lines.append(f"| {p} | {a.length[p]} | {opt if opt is None else f'{opt:.6g}'} | "
                     + " | ".join(counts) + " |")
    lines.append("")
    keys = defaultdict(set)
    for (_p, s), d in a.by.items():
        for r in d.values():
            keys[s].add(r.get("library_key"))
    lines += ["Code that made the runs: " + "; ".join(
        f"{s}: {', '.join(sorted(str(k) for k in keys[s]))}" for s in a.samplers) + ".", ""]
    stale = [s for s in a.samplers if len(keys[s]) > 1]
    if stale:
        a.notes.append("runs of " + ", ".join(stale) + " come from more than one version of "
                       "their library (see above).")
    if a.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in a.notes] + [""]
    return "\n".join(lines)


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def plot(a: Analysis, path: Path, log: bool = False) -> Path | None:
    """Mean normalised regret (± SE band) against evaluations, one panel per problem (and one
    for the LCBench average). ``log``: a symmetric-log y axis, linear within ±0.01, which shows
    small regrets (and negative ones, on LCBench)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, dict[str, dict[int, np.ndarray]]]] = []
    if len(a.lcbench) > 1:
        L = min(a.length[p] for p in a.lcbench)
        panels.append((f"LCBench, mean of {len(a.lcbench)} tasks",
                       {s: a.family_curve(s, a.lcbench, L) for s in a.samplers}))
    for p in a.problems:
        panels.append((p, {s: a.norm.get((p, s), {}) for s in a.samplers}))
    if not panels:
        return None
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.8 * nrow), squeeze=False)
    colours = plt.get_cmap("tab10")
    for k, (title, curves) in enumerate(panels):
        ax = axes[k // ncol][k % ncol]
        lo, hi = 0.0, 1.2
        top = 1.2
        for i, s in enumerate(a.samplers):
            cs = curves.get(s) or {}
            if not cs:
                continue
            mat = np.vstack(list(cs.values()))
            x = np.arange(1, mat.shape[1] + 1)
            with np.errstate(invalid="ignore"), __import__("warnings").catch_warnings():
                __import__("warnings").simplefilter("ignore", RuntimeWarning)
                m = np.nanmean(mat, axis=0)
                se = (np.nanstd(mat, axis=0, ddof=1) / np.sqrt(mat.shape[0])
                      if mat.shape[0] > 1 else np.zeros_like(m))
            style = "-" if s.startswith("tunewise") else "--"
            ax.plot(x, m, style, color=colours(i % 10), label=s,
                    lw=2.0 if s == TARGET_SAMPLER else 1.3)
            ax.fill_between(x, m - se, m + se, color=colours(i % 10), alpha=0.15, lw=0)
            tail = m[len(m) // 5:]
            if np.isfinite(tail).any():
                lo = min(lo, float(np.nanmin(tail)) - 0.05)
                top = max(top, float(np.nanmax(tail)) + 0.05)
        ax.axhline(1.0, color="grey", lw=0.7, ls=":")
        ax.axhline(0.0, color="black", lw=0.5)
        if log:
            ax.set_yscale("symlog", linthresh=0.01)
            ax.set_ylim(min(lo, 0.0), max(hi, min(top, 10.0)))
        else:
            ax.set_ylim(lo, max(hi, min(top, 2.0)))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("evaluations")
        ax.set_ylabel("normalised regret (random = 1)")
        ax.grid(alpha=0.3)
    for k in range(len(panels), nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=9,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06 if nrow > 1 else 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary(a: Analysis, command: str) -> dict[str, Any]:
    per: list[dict[str, Any]] = []
    for p in a.problems:
        for s in a.samplers:
            for b in a.budgets[p]:
                n_m, n_se, n = a.stat("norm", p, s, b)
                r_m, r_se, _ = a.stat("raw", p, s, b)
                if n == 0 and math.isnan(r_m):
                    continue
                per.append({"problem": p, "sampler": s, "budget": b, "seeds": n,
                            "normalised_mean": json_num(n_m), "normalised_se": json_num(n_se),
                            "raw_mean": json_num(r_m), "raw_se": json_num(r_se)})
    fam = []
    ranks = []
    for b in a.all_budgets():
        for s in a.samplers:
            m, se, n = a.family_stat(s, b)
            if n:
                fam.append({"family": "lcbench", "tasks": a.lcbench, "sampler": s, "budget": b,
                            "seeds": n, "normalised_mean": json_num(m), "normalised_se": json_num(se)})
        for label, probs in _columns(a):
            for s, (m, se, n) in a.ranks(probs, b).items():
                ranks.append({"problems": label, "sampler": s, "budget": b, "mean_rank": json_num(m),
                              "se": json_num(se), "seeds": n})
    times = []
    for s in a.samplers:
        for f, probs in a.families().items():
            times.append({"sampler": s, "family": f,
                          "median_proposal_s_per_run": a.proposal_seconds(s, probs, None),
                          "median_ms_per_proposal": a.proposal_ms(s, probs),
                          "median_wall_s_per_run": a.wall_seconds(s, probs),
                          **{f"median_proposal_s_first_{b}": a.proposal_seconds(s, probs, b)
                             for b in a.all_budgets()}})
    return {
        "benchmark": "search_quality",
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "samplers": a.samplers,
        "problems": {p: a.problem_info[p].describe() | {"optimum_used": a.optimum[p],
                                                        "curve_length": a.length[p]}
                     for p in a.problems},
        "seeds": a.seeds,
        "budgets": a.all_budgets(),
        "per_problem": per,
        "lcbench_family": fam,
        "ranks": ranks,
        "proposal_time": times,
        "targets": a.targets(),
        "notes": a.notes,
    }


def write_report(out: Path, samplers: list[str] | None, problems: list[str] | None,
                 seeds: list[int] | None, budgets: list[int], command: str) -> dict[str, Any]:
    runs = load_runs(out)
    if not runs:
        raise SystemExit(f"No cached runs under {out}/runs; run the benchmark first.")
    a = Analysis(runs, samplers, problems, seeds, budgets)
    if not a.problems:
        raise SystemExit("No cached runs match the selection (--samplers/--problems/--seeds).")
    md = markdown(a, command, out)
    doc = summary(a, command)
    (out / "report.md").write_text(md)
    (out / "summary.json").write_text(json.dumps(doc, indent=2))
    png = plot(a, out / "regret_curves.png")
    png_log = plot(a, out / "regret_curves_log.png", log=True)
    doc["files"] = {"markdown": str(out / "report.md"), "json": str(out / "summary.json"),
                    "plot": str(png) if png else None,
                    "plot_log": str(png_log) if png_log else None}
    return doc
