"""Hyperband with Keras Tuner's arguments and bracket arithmetic, whose promoted trials
continue from their checkpoints."""

from __future__ import annotations

import math
from typing import Any

from ..trial import FrozenTrial, TrialState
from .base import PENDING, Decision, RungScheduler, ScheduleContext, check_int, rank_key


class HyperbandScheduler(RungScheduler):
    """Hyperband (Li et al., 2018): brackets of successive halving that trade many short
    runs against a few long ones.

    The arithmetic is Keras Tuner's, for the same ``max_epochs``, ``factor`` and
    ``hyperband_iterations``: the same brackets, in the same order (most aggressive first),
    with the same number of runs and the same budget in each round. Where Keras Tuner starts
    a new trial for each promotion and reloads its weights, here the promoted trial itself
    runs again: ``trial.budget`` is the epoch to train to and ``trial.resume_step`` the
    epoch its checkpoint holds, so the optimizer's state carries over too.

    >>> HyperbandScheduler(max_epochs=9, factor=3).brackets
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (2, 9)], [(3, 9)]]

    Each bracket is a list of rounds ``(runs, budget)``. A round's best runs are promoted as
    soon as the remaining results of the round above could no longer change the choice
    (Keras Tuner's rule), so workers rarely wait. A failed run counts as finished and is
    never promoted. ``hyperband_iterations=None`` repeats the brackets until the study's
    ``max_trials`` or ``timeout``.
    """

    name = "hyperband"

    def __init__(self, max_epochs: int = 100, factor: int = 3,
                 hyperband_iterations: int | None = 1) -> None:
        check_int("max_epochs", max_epochs, 1)
        check_int("factor", factor, 2)
        check_int("hyperband_iterations", hyperband_iterations, 1, allow_none=True)
        self.max_epochs = max_epochs
        self.factor = factor
        self.hyperband_iterations = hyperband_iterations
        self.max_budget = max_epochs
        epochs, count = float(max_epochs), 0
        while epochs >= 1:  # as Keras Tuner counts them (min_epochs = 1)
            epochs /= factor
            count += 1
        self.n_brackets = count

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "max_epochs": self.max_epochs, "factor": self.factor,
                "hyperband_iterations": self.hyperband_iterations}

    # -- the arithmetic ------------------------------------------------------------------
    def _size(self, s: int, r: int) -> int:
        """Runs in round ``r`` of the bracket with ``s + 1`` rounds (Keras Tuner's
        ``_get_size``)."""
        end = math.ceil(1 + math.log(self.max_epochs, self.factor)) / (s + 1)
        return math.ceil(end * self.factor ** (s - r))

    def _epochs(self, s: int, r: int) -> int:
        return math.ceil(self.max_epochs / self.factor ** (s - r))

    def _rounds(self, index: int) -> int:
        """``s`` of the ``index``-th bracket started: the most aggressive comes first."""
        return self.n_brackets - 1 - index % self.n_brackets

    @property
    def brackets(self) -> list[list[tuple[int, int]]]:
        """One iteration's brackets, in order, each a list of rounds ``(runs, budget)``."""
        return [[(self._size(s, r), self._epochs(s, r)) for r in range(s + 1)]
                for s in (self._rounds(i) for i in range(self.n_brackets))]

    # -- decisions -----------------------------------------------------------------------
    def next(self, ctx: ScheduleContext) -> Decision | None:
        by_bracket: dict[int, list[FrozenTrial]] = {}
        for t in ctx.trials:
            if t.bracket is not None:
                by_bracket.setdefault(t.bracket, []).append(t)
        for index in sorted(by_bracket):
            decision = self._step(index, by_bracket[index], ctx)
            if decision is not None:
                return decision
        following = max(by_bracket, default=-1) + 1
        limit = None if self.hyperband_iterations is None else self.hyperband_iterations * self.n_brackets
        if ctx.allow_new and (limit is None or following < limit):
            return self._new(following, 0)
        return None

    def _new(self, index: int, slot: int) -> Decision:
        return Decision(budget=self._epochs(self._rounds(index), 0), bracket=index,
                        key=f"hyperband:{index}:0:{slot}")

    def _step(self, index: int, members: list[FrozenTrial], ctx: ScheduleContext
              ) -> Decision | None:
        """The next run in one bracket, or None when it has none to offer now."""
        s = self._rounds(index)
        size = self._size(s, 0)
        if len(members) < size and ctx.allow_new:
            return self._new(index, len(members))
        # Results still to come in the round above: its unfinished runs, and the runs it
        # may still receive. Promote while, even if they all came in, there would be room.
        previous, still_open = members, False
        for r in range(1, s + 1):
            b_prev, b = self._epochs(s, r - 1), self._epochs(s, r)
            size_prev, size = size, self._size(s, r)
            promoted = [t for t in previous if (t.budget or 0) >= b]
            at_prev = [t for t in previous if t.budget == b_prev]
            unfinished = sum(t.state in PENDING for t in at_prev)
            pending = unfinished + (size_prev - len(previous) if still_open else 0)
            ready = [t for t in at_prev if t.state == TrialState.PAUSED and b_prev in t.rungs]
            if ready and len(promoted) + pending < size:
                best = min(ready, key=lambda t: rank_key(ctx.objective, t.rungs[b_prev], t.number))
                return Decision(budget=b, number=best.number,
                                key=f"hyperband:{index}:{r}:{len(promoted)}")
            still_open = len(promoted) < size and pending > 0
            previous = promoted
        return None
