"""The default sampler: Bayesian optimisation while it pays, TPE beyond."""

from __future__ import annotations

from typing import Any

from ..space.types import Fixed
from ..trial import TrialState
from .base import Sampler, SamplingContext

#: Past this many finished trials, a Gaussian process costs more per proposal than it gains.
GP_MAX_TRIALS = 200
#: Past this many tunable hyperparameters, the Gaussian process's candidate search thins out.
GP_MAX_DIMENSIONS = 25


class AutoSampler(Sampler):
    """Chooses the sampler for each proposal from the space and the budget spent so far.

    The rule, checked before every proposal:

    - **Gaussian-process Bayesian optimisation** (``"bayesian"``) while the study has fewer
      than ``GP_MAX_TRIALS`` (200) finished trials and at most ``GP_MAX_DIMENSIONS`` (25)
      tunable hyperparameters. This is where each trial is expensive and the number of
      trials matters most, which is where the GP wins, conditional spaces included (see
      ``benchmarks/RESULTS.md``: on the conditional problem the GP reached the optimum in
      50 evaluations where TPE had not).
    - **TPE** (``"tpe"``) otherwise: for long searches, where the GP's cost per proposal
      grows with the cube of the number of trials, and for large spaces, where its
      candidate search thins out.

    With a multi-fidelity scheduler (Hyperband, ASHA) the rule is the same, applied to the
    history the scheduler shows samplers: the results at one budget, in the manner of BOHB
    (see ``tunewise.schedulers.base.RungScheduler.sampler_trials``).

    Both samplers read the same history, so a study switches from one to the other without
    losing anything, and a resumed study makes the same choice at the same point.

    >>> import tunewise
    >>> study = tunewise.Study("auto", objective="loss", seed=0)  # sampler="auto" is the default
    >>> study.optimize(lambda t: (t.hp.Float("x", -1.0, 1.0) - 0.3) ** 2, max_trials=12,
    ...                show_progress=False)
    >>> study.best_trial.score < 0.01
    True
    """

    name = "auto"

    def __init__(self) -> None:
        self._samplers: dict[str, Sampler] = {}

    def choose(self, ctx: SamplingContext) -> str:
        """The name of the sampler that proposes next, by the rule above."""
        tunable = sum(not isinstance(hp, Fixed) for hp in ctx.space)
        finished = sum(t.state in (TrialState.COMPLETED, TrialState.FAILED, TrialState.PRUNED)
                       for t in ctx.trials)
        if finished >= GP_MAX_TRIALS or tunable > GP_MAX_DIMENSIONS:
            return "tpe"
        return "bayesian"

    def propose(self, ctx: SamplingContext) -> dict[str, Any] | None:
        name = self.choose(ctx)
        if name not in self._samplers:
            from . import make_sampler
            self._samplers[name] = make_sampler(name)
        return self._samplers[name].propose(ctx)

    def __repr__(self) -> str:
        return "AutoSampler()"
