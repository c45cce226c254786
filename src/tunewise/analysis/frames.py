"""The trials as data frames, and statistics of the objective per hyperparameter value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..space import types as _types
from ..trial import TrialState

INACTIVE = "inactive"


def trials_frame(study: Any) -> Any:
    """One row per trial: number, state, each hyperparameter, each metric, score, its spread
    over executions, duration and error (``study.to_dataframe()``)."""
    return study.to_dataframe()


def steps_frame(study: Any) -> Any:
    """The intermediate results as a long table: one row per trial and reported step."""
    return study.to_dataframe(steps=True)


def resolve_metric(study: Any, metric: str | None, first: bool = False) -> tuple[str, str]:
    """(metric name, direction). None means the objective: with several objectives, the first
    one if ``first``, else a ValueError. A metric that is not an objective is maximised or
    minimised as its name says (accuracy, auc, ... are maximised), or minimised."""
    if metric is None:
        if study.is_multi_objective and not first:
            raise ValueError(
                f"Study {study.name!r} has several objectives "
                f"({[o.name for o in study.objectives]}); pass metric= one of them.")
        return study.objectives[0].name, study.objectives[0].direction
    for o in study.objectives:
        if o.name == metric:
            return o.name, o.direction
    from ..objective import infer_direction

    try:
        return metric, infer_direction(metric)
    except ValueError:
        return metric, "min"


def metric_value(t: Any, metric: str) -> float | None:
    """The trial's finite value of ``metric`` (``duration``: the trial's time), or None."""
    v = t.duration if metric == "duration" else t.metrics.get(metric)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def value_stats(study: Any, name: str, metric: str | None = None, bins: int = 5) -> Any:
    """Statistics of ``metric`` (default: the objective) for each value of hyperparameter
    ``name``: a pandas DataFrame with one row per value (a numeric hyperparameter with more
    than ``bins`` distinct values is cut into ``bins`` quantile bins) and a row ``"inactive"``
    for trials where a conditional hyperparameter was off.

    Columns: ``value``, ``trials`` (all states), ``completed``, ``failed``, ``pruned``, and
    over the completed trials ``mean``, ``std``, ``se``, ``min``, ``max`` and ``best``.
    """
    import pandas as pd

    space = {h.name: h for h in study.hyperparameters.space}
    if name not in space:
        raise ValueError(f"Study {study.name!r} has no hyperparameter {name!r}; it has "
                         f"{sorted(space)}.")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}.")
    metric, direction = resolve_metric(study, metric)
    hp = space[name]
    trials = study.trials
    raw = [t.hyperparameters.get(name) for t in trials]
    numeric = isinstance(hp, (_types.Int, _types.Float))
    present = sorted({v for v in raw if v is not None}, key=lambda v: (str(type(v)), v))
    labels: list[Any]
    if numeric and len(present) > bins:
        edges = np.unique(np.quantile(np.array(present, dtype=float), np.linspace(0, 1, bins + 1)))
        labels = [f"[{_short(edges[i])}, {_short(edges[i + 1])}{']' if i == len(edges) - 2 else ')'}"
                  for i in range(len(edges) - 1)]

        def group(v: Any) -> Any:
            if v is None:
                return INACTIVE
            i = int(np.searchsorted(edges, float(v), side="right")) - 1
            return labels[min(max(i, 0), len(labels) - 1)]
    else:
        labels = list(present)

        def group(v: Any) -> Any:
            return INACTIVE if v is None else v
    order = labels + ([INACTIVE] if any(v is None for v in raw) else [])
    rows = []
    for label in order:
        members = [t for t, v in zip(trials, raw) if group(v) == label]
        done = [x for x in (metric_value(t, metric) for t in members if t.state == TrialState.COMPLETED)
                if x is not None]
        n = len(done)
        mean = float(np.mean(done)) if n else math.nan
        std = float(np.std(done, ddof=1)) if n > 1 else math.nan
        rows.append({
            "value": label, "trials": len(members),
            "completed": sum(t.state == TrialState.COMPLETED for t in members),
            "failed": sum(t.state == TrialState.FAILED for t in members),
            "pruned": sum(t.state in (TrialState.PRUNED, TrialState.PAUSED) for t in members),
            "mean": mean, "std": std, "se": std / math.sqrt(n) if n > 1 else math.nan,
            "min": min(done) if n else math.nan, "max": max(done) if n else math.nan,
            "best": (max(done) if direction == "max" else min(done)) if n else math.nan,
        })
    return pd.DataFrame(rows, columns=["value", "trials", "completed", "failed", "pruned", "mean",
                                       "std", "se", "min", "max", "best"])


def _short(x: float) -> str:
    return f"{x:.4g}"
