"""What every scheduler shares: the decisions it hands the study, and the view of the history
that a model-based sampler learns from.

A scheduler is a pure strategy, like a sampler: it reads the trials and decides, and keeps no
state of its own, so a study resumed from storage (or shared by several workers) continues
the same schedule.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..objective import Objective
from ..trial import FrozenTrial, TrialState

PENDING = (TrialState.RUNNING, TrialState.WAITING, TrialState.INTERRUPTED)


@dataclass(frozen=True)
class Decision:
    """What to run next: a new trial (``number`` None) or trial ``number`` continued, in
    either case trained to ``budget``. ``key`` claims a slot that no other worker may take
    (one trial per slot), ``bracket`` is the new trial's Hyperband bracket."""

    budget: int | None
    number: int | None = None
    bracket: int | None = None
    key: str | None = None

    @property
    def is_new(self) -> bool:
        return self.number is None


@dataclass(frozen=True)
class ScheduleContext:
    """What a scheduler decides from: every trial of the study, its objective, and whether
    it may start new trials (False once ``max_trials`` is reached)."""

    trials: Sequence[FrozenTrial]
    objective: Objective
    allow_new: bool = True


class Scheduler:
    """Base class. A scheduler decides budgets (``next``), whether a run that ended at
    ``budget`` is complete or paused for a promotion (``state_after``), and whether a
    reported step stops the trial (``should_prune``)."""

    name = "base"
    max_budget: int | None = None

    def next(self, ctx: ScheduleContext) -> Decision | None:
        """The next run, or None when there is nothing to run now (the study waits for
        running trials, or stops when none is running)."""
        return Decision(budget=self.max_budget) if ctx.allow_new else None

    def state_after(self, budget: int | None) -> TrialState:
        """A run that trained to ``budget`` leaves its trial paused below the largest
        budget, completed at it."""
        if budget is None or self.max_budget is None or budget >= self.max_budget:
            return TrialState.COMPLETED
        return TrialState.PAUSED

    def should_prune(self, ctx: ScheduleContext, trial: FrozenTrial, step: int) -> str | None:
        """Why the trial should stop after reporting ``step`` (None: it goes on)."""
        return None

    def sampler_trials(self, trials: Sequence[FrozenTrial], objective: Objective,
                       dimensions: int) -> list[FrozenTrial]:
        """The history as the sampler should see it."""
        return list(trials)

    def config(self) -> dict[str, Any]:
        """What identifies this scheduler's settings (compared when a study resumes)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({settings})"


class RungScheduler(Scheduler):
    """A scheduler whose runs stop at rungs (Hyperband, ASHA): trials compare at equal
    budgets, and model-based samplers learn from one budget at a time."""

    def sampler_trials(self, trials: Sequence[FrozenTrial], objective: Objective,
                       dimensions: int) -> list[FrozenTrial]:
        """The history at one budget, in the manner of BOHB: the largest budget at which
        enough trials have a result (as many as the Gaussian process's initial design,
        ``min(10, max(5, dimensions + 1))``), else the budget with the most results.

        Trials with a result at that budget are shown completed with it, whatever bracket
        they came from; a trial that stopped below it is shown pruned (worse than those
        promoted past it); running trials are pending; failed trials stay failed.
        """
        name = objective.name
        counts: dict[int, int] = {}
        for t in trials:
            for b in t.rungs:
                counts[b] = counts.get(b, 0) + 1
        if not counts:
            return list(trials)
        enough = min(10, max(5, dimensions + 1))
        rich = [b for b, n in counts.items() if n >= enough]
        target = max(rich) if rich else max(counts, key=lambda b: (counts[b], b))
        view = []
        for t in trials:
            value = _value_at(t, target, name)
            if value is not None:
                view.append(dataclasses.replace(t, state=TrialState.COMPLETED, score=value))
            elif t.state in PENDING or t.state == TrialState.FAILED:
                view.append(t)
            elif (t.budget_reached or 0) > target:  # went past it without a report there
                view.append(dataclasses.replace(t, state=TrialState.RUNNING, score=None))
            else:
                view.append(dataclasses.replace(t, state=TrialState.PRUNED, score=None))
        return view


def _value_at(trial: FrozenTrial, budget: int, name: str) -> float | None:
    """The trial's objective at ``budget``: its rung result there, or what it reported at
    that step on the way past it."""
    if budget in trial.rungs:
        value = trial.rungs[budget]
    else:
        value = trial.intermediate.get(budget, {}).get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def rank_key(objective: Objective, value: float, number: int) -> tuple[float, int]:
    """Sort key: best first, earlier trial first among equals."""
    return (-value if objective.direction == "max" else value, number)


def check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}"
                         f"{' or None' if allow_none else ''}, got {value!r}.")
