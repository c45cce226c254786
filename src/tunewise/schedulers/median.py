"""Median stopping on the reported learning curves."""

from __future__ import annotations

import math
import statistics
from typing import Any

from ..trial import FrozenTrial, TrialState
from .base import ScheduleContext, Scheduler, check_int


class MedianScheduler(Scheduler):
    """Stops a trial whose best value so far is worse than the median of the completed
    trials' values at the same step (Google Vizier's median stopping rule, as Optuna's
    ``MedianPruner`` applies it).

    It acts in ``trial.report(step, metrics)``, which raises ``TrialPruned``. Nothing is
    stopped before ``n_startup_trials`` trials have completed, nor before step
    ``n_warmup_steps``. Every trial is told to train to ``max_epochs`` (``trial.budget``;
    None leaves the length to the function).

    >>> MedianScheduler(n_startup_trials=3)
    MedianScheduler(max_epochs=None, n_startup_trials=3, n_warmup_steps=0)
    """

    name = "median"

    def __init__(self, max_epochs: int | None = None, n_startup_trials: int = 5,
                 n_warmup_steps: int = 0) -> None:
        check_int("max_epochs", max_epochs, 1, allow_none=True)
        check_int("n_startup_trials", n_startup_trials, 0)
        check_int("n_warmup_steps", n_warmup_steps, 0)
        self.max_epochs = max_epochs
        self.max_budget = max_epochs
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "max_epochs": self.max_epochs,
                "n_startup_trials": self.n_startup_trials, "n_warmup_steps": self.n_warmup_steps}

    def should_prune(self, ctx: ScheduleContext, trial: FrozenTrial, step: int) -> str | None:
        if step < self.n_warmup_steps:
            return None
        name = ctx.objective.name
        completed = [t for t in ctx.trials
                     if t.state == TrialState.COMPLETED and t.number != trial.number]
        if len(completed) < max(1, self.n_startup_trials):
            return None
        others = [v for v in (_number(t.intermediate.get(step, {}).get(name)) for t in completed)
                  if v is not None]
        mine = [v for s, m in trial.intermediate.items() if s <= step
                for v in [_number(m.get(name))] if v is not None]
        if not others or not mine:
            return None
        best = max(mine) if ctx.objective.direction == "max" else min(mine)
        median = statistics.median(others)
        if ctx.objective.better(median, best):
            return (f"its best {name} so far, {best:.6g}, is worse than the median of "
                    f"{len(others)} completed trials at step {step}, {median:.6g}")
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
