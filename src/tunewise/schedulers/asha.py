"""Asynchronous successive halving: promotions without waiting for a rung to fill."""

from __future__ import annotations

import math
from typing import Any

from ..trial import TrialState
from .base import Decision, RungScheduler, ScheduleContext, check_int, rank_key


class ASHAScheduler(RungScheduler):
    """Asynchronous successive halving (Li et al., 2020), the scheduler for several workers.

    Budgets form a ladder, Hyperband's most aggressive bracket:
    ``ceil(max_epochs / factor**k)`` down to ``min_epochs``. Whenever a worker is free, the
    best trial waiting at a rung is promoted to the next one if it is in the top
    ``1/factor`` of every result at that rung so far; otherwise a new trial starts at the
    lowest rung. No worker ever waits for a rung to fill. A failed run counts among the
    results at its rung and is never promoted.

    >>> ASHAScheduler(max_epochs=52, factor=3).rungs
    [2, 6, 18, 52]
    """

    name = "asha"

    def __init__(self, max_epochs: int = 100, factor: int = 3, min_epochs: int = 1) -> None:
        check_int("max_epochs", max_epochs, 1)
        check_int("factor", factor, 2)
        check_int("min_epochs", min_epochs, 1)
        if min_epochs > max_epochs:
            raise ValueError(f"min_epochs ({min_epochs}) must not exceed max_epochs ({max_epochs}).")
        self.max_epochs = max_epochs
        self.factor = factor
        self.min_epochs = min_epochs
        self.max_budget = max_epochs
        ladder, k = set(), 0
        while max_epochs / factor ** k >= min_epochs:
            ladder.add(math.ceil(max_epochs / factor ** k))
            k += 1
        self.rungs: list[int] = sorted(ladder)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "max_epochs": self.max_epochs, "factor": self.factor,
                "min_epochs": self.min_epochs}

    def next(self, ctx: ScheduleContext) -> Decision | None:
        for k in range(len(self.rungs) - 2, -1, -1):  # the highest promotion first
            b = self.rungs[k]
            results = [t for t in ctx.trials if b in t.rungs]
            failed = sum(t.budget == b and t.state in (TrialState.FAILED, TrialState.PRUNED)
                         and b not in t.rungs for t in ctx.trials)
            top = (len(results) + failed) // self.factor
            if top == 0:
                continue
            ranked = sorted(results, key=lambda t: rank_key(ctx.objective, t.rungs[b], t.number))
            for t in ranked[:top]:
                if t.state == TrialState.PAUSED and t.budget == b:
                    return Decision(budget=self.rungs[k + 1], number=t.number)
        return Decision(budget=self.rungs[0]) if ctx.allow_new else None
