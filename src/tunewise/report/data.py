"""The numbers behind each figure, as plain Python data (lists and dicts), so that the plotly
figures, the matplotlib images and the tests all read the same values.

Every function takes a study; ``metric`` defaults to the (first) objective. Only completed
trials with a finite value are scored; failed, pruned and paused ones are counted or marked
where a figure shows them.
"""

from __future__ import annotations

import math
from typing import Any

from ..analysis.frames import metric_value, resolve_metric
from ..space import types as _types
from ..trial import TrialState

NUMERIC = "numeric"
CATEGORICAL = "categorical"


def objective(study: Any, metric: str | None = None) -> tuple[str, str]:
    """(metric name, direction): the (first) objective by default; see
    ``tunewise.analysis.frames.resolve_metric``."""
    return resolve_metric(study, metric, first=True)


value = metric_value  # the trial's finite value of a metric, or None


def scored(study: Any, metric: str) -> list[Any]:
    return [t for t in study.trials if t.state == TrialState.COMPLETED and value(t, metric) is not None]


def kind(hp: Any) -> str:
    return NUMERIC if isinstance(hp, (_types.Int, _types.Float)) else CATEGORICAL


def is_log(hp: Any) -> bool:
    return getattr(hp, "sampling", "linear") == "log"


def tunable(study: Any) -> list[Any]:
    """The hyperparameters that vary (Fixed ones are left out)."""
    return [h for h in study.hyperparameters.space if not isinstance(h, _types.Fixed)]


def history(study: Any, metric: str | None = None) -> dict[str, Any]:
    """Each scored trial's value in trial order, and the best so far."""
    name, direction = objective(study, metric)
    pick = max if direction == "max" else min
    numbers, values, best = [], [], []
    for t in sorted(scored(study, name), key=lambda t: t.number):
        v = value(t, name)
        numbers.append(t.number)
        values.append(v)
        best.append(v if not best else pick(best[-1], v))
    return {"metric": name, "direction": direction, "number": numbers, "value": values, "best": best}


def effects(study: Any, metric: str | None = None) -> list[dict[str, Any]]:
    """For each hyperparameter, its value and the objective in every scored trial where it
    was active: numeric ones as (x, y) pairs, categorical ones grouped by value."""
    name, direction = objective(study, metric)
    trials = scored(study, name)
    out = []
    for hp in tunable(study):
        pairs = [(t.hyperparameters[hp.name], value(t, name), t.number) for t in trials
                 if t.hyperparameters.get(hp.name) is not None]
        entry: dict[str, Any] = {"name": hp.name, "kind": kind(hp), "log": is_log(hp),
                                 "metric": name, "direction": direction,
                                 "x": [p[0] for p in pairs], "y": [p[1] for p in pairs],
                                 "number": [p[2] for p in pairs]}
        if entry["kind"] == CATEGORICAL:
            groups: dict[str, list[float]] = {}
            for x, y, _ in pairs:
                groups.setdefault(str(x), []).append(y)
            order = [str(v) for v in getattr(hp, "values", [])] or sorted(groups)
            entry["groups"] = {k: groups[k] for k in order if k in groups}
        out.append(entry)
    return out


def points(study: Any, metric: str | None = None) -> dict[str, Any]:
    """The table the 3-D view, the histograms and the parallel coordinates are drawn from:
    one row per scored trial (number, value, each hyperparameter; None when inactive), and
    each hyperparameter's kind, log scale and categories."""
    name, direction = objective(study, metric)
    hps = tunable(study)
    rows = [{"number": t.number, "value": value(t, name),
             **{h.name: t.hyperparameters.get(h.name) for h in hps}} for t in scored(study, name)]
    columns = [_column(h) for h in hps]
    return {"metric": name, "direction": direction, "columns": columns, "rows": rows}


def curves(study: Any, metric: str | None = None) -> dict[str, Any]:
    """The learning curve of every trial that reported ``metric``: steps, values, state (a
    pruned trial is marked where it stopped)."""
    name, direction = objective(study, metric)
    out = []
    for t in study.trials:
        steps = sorted(s for s, m in t.intermediate.items() if _finite(m.get(name)))
        if steps:
            out.append({"number": t.number, "state": t.state.value, "step": steps,
                        "value": [float(t.intermediate[s][name]) for s in steps]})
    return {"metric": name, "direction": direction, "curves": out}


def tradeoff(study: Any, x_metric: str | None = None, y_metric: str | None = None) -> dict[str, Any]:
    """Two metrics per scored trial and which trials are on their Pareto front. Defaults: the
    two objectives of a multi-objective study; otherwise the objective against ``duration``
    (the trial's time, to be minimised)."""
    if x_metric is None and y_metric is None and len(study.objectives) > 1:
        (x_name, x_dir), (y_name, y_dir) = [(o.name, o.direction) for o in study.objectives[:2]]
    else:
        x_name, x_dir = ("duration", "min") if x_metric is None else objective(study, x_metric)
        y_name, y_dir = objective(study, y_metric)
    trials = [t for t in study.trials if t.state == TrialState.COMPLETED
              and value(t, x_name) is not None and value(t, y_name) is not None]
    xs = [value(t, x_name) for t in trials]
    ys = [value(t, y_name) for t in trials]
    sx = 1 if x_dir == "min" else -1
    sy = 1 if y_dir == "min" else -1
    front = []
    for i in range(len(trials)):
        dominated = any(sx * xs[j] <= sx * xs[i] and sy * ys[j] <= sy * ys[i]
                        and (sx * xs[j] < sx * xs[i] or sy * ys[j] < sy * ys[i])
                        for j in range(len(trials)))
        front.append(not dominated)
    return {"x_metric": x_name, "x_direction": x_dir, "y_metric": y_name, "y_direction": y_dir,
            "number": [t.number for t in trials], "x": xs, "y": ys, "front": front}


def failures(study: Any) -> dict[str, Any]:
    """Where failures happened (every trial's hyperparameters and whether it failed) and why
    (the failed trials' errors, the most frequent first)."""
    hps = tunable(study)
    trials = [t for t in study.trials if t.state.is_finished]
    reasons: dict[str, list[int]] = {}
    for t in trials:
        if t.state == TrialState.FAILED:
            reason = (t.error or "unknown").splitlines()[0][:200]
            reasons.setdefault(reason, []).append(t.number)
    return {"columns": [_column(h) for h in hps],
            "rows": [{"number": t.number, "failed": t.state == TrialState.FAILED,
                      **{h.name: t.hyperparameters.get(h.name) for h in hps}} for t in trials],
            "reasons": sorted(({"error": k, "count": len(v), "trials": v} for k, v in reasons.items()),
                              key=lambda r: -r["count"])}


def summary(study: Any) -> dict[str, Any]:
    """The report's head: the best trial(s), the trials by state, and the time spent."""
    trials = study.trials
    by_state: dict[str, int] = {}
    for t in trials:
        by_state[t.state.value] = by_state.get(t.state.value, 0) + 1
    durations = [t.duration for t in trials if t.duration is not None]
    best = study.best_trials(1 if not study.is_multi_objective else None)
    return {
        "study": study.name, "objectives": [o.to_config() for o in study.objectives],
        "trials": len(trials), "by_state": by_state,
        "total_seconds": float(sum(durations)) if durations else 0.0,
        "mean_seconds": float(sum(durations) / len(durations)) if durations else None,
        "best": [{"number": t.number, "score": t.score, "hyperparameters": dict(t.hyperparameters),
                  "metrics": dict(t.metrics), "duration": t.duration} for t in best],
    }


def _column(h: Any) -> dict[str, Any]:
    return {"name": h.name, "kind": kind(h), "log": is_log(h),
            "categories": list(getattr(h, "values", [])) if kind(h) == CATEGORICAL else None}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
