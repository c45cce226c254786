"""Trial records, their states, and the handle that a running training function receives."""

from __future__ import annotations

import datetime as _dt
import enum
import math
import numbers
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .space import HyperParameters

if TYPE_CHECKING:  # pragma: no cover
    from .study import Study


class TrialState(str, enum.Enum):
    """Where a trial stands. ``waiting`` and ``interrupted`` trials are run (again) by the
    next worker that asks; a ``paused`` one ran to a scheduler's rung and runs on if the
    scheduler promotes it; the others are final, except ``running``."""

    WAITING = "waiting"
    RUNNING = "running"
    PAUSED = "paused"  # ran to a scheduler's rung; continues if the scheduler promotes it
    COMPLETED = "completed"
    FAILED = "failed"
    PRUNED = "pruned"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value

    @property
    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETED, TrialState.FAILED, TrialState.PRUNED)


QUEUED_STATES = (TrialState.WAITING, TrialState.INTERRUPTED)


@dataclass(frozen=True)
class FrozenTrial:
    """The stored record of one trial. Read-only: the storage is the source of truth.

    ``score`` is the objective (the mean over executions), a tuple of them for a
    multi-objective study, or None for a trial without a result. ``score_std`` is the
    standard deviation over executions (0.0 for one execution).

    With a multi-fidelity scheduler, ``budget`` is the step the latest run trained (or
    trains) to, ``rungs`` the score at each budget a run finished ({budget: score}) and
    ``bracket`` the Hyperband bracket it belongs to.
    """

    number: int
    state: TrialState
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    score: float | tuple[float, ...] | None = None
    score_std: float | tuple[float, ...] | None = None
    executions: list[dict[str, Any]] = field(default_factory=list)
    intermediate: dict[int, dict[str, Any]] = field(default_factory=dict)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    traceback: str | None = None
    seed: int | None = None
    worker: str | None = None
    attempts: int = 0
    key: str | None = None  # the id of the point claimed at creation (``point_id``)
    params_key: str = ""  # ``point_id`` of ``hyperparameters``
    budget: int | None = None
    bracket: int | None = None
    rungs: dict[int, Any] = field(default_factory=dict)
    heartbeat: float | None = None  # a running trial's lease: when its worker's heartbeat expires

    @property
    def resume_step(self) -> int:
        """The step the next run of this trial resumes from: the last budget it finished."""
        return max(self.rungs) if self.rungs else 0

    @property
    def budget_reached(self) -> int | None:
        """The largest step this trial trained to: its last finished rung, or else the last
        step it reported (None if neither)."""
        reached = [max(self.rungs)] if self.rungs else []
        if self.intermediate:
            reached.append(max(self.intermediate))
        return max(reached) if reached else None

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (None while it runs)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def started_at(self) -> _dt.datetime | None:
        return None if self.started is None else _dt.datetime.fromtimestamp(self.started)

    def __repr__(self) -> str:
        return (f"FrozenTrial(number={self.number}, state={self.state.value!r}, "
                f"score={self.score!r}, hyperparameters={self.hyperparameters!r})")


class Trial:
    """The handle a training function receives: ``trial.hp`` for the hyperparameters,
    ``trial.report`` for intermediate results.

    >>> def train(trial):
    ...     units = trial.hp.Int("units", 32, 512, step=32)
    ...     for epoch in range(3):
    ...         trial.report(epoch, {"val_accuracy": 0.5 + 0.1 * epoch})
    ...     return {"val_accuracy": 0.7}
    """

    def __init__(self, study: "Study", record: FrozenTrial, hp: HyperParameters) -> None:
        self._study = study
        self.number: int = record.number
        self.hp: HyperParameters = hp
        self.base_seed: int = record.seed if record.seed is not None else 0
        self.execution: int = 0
        # The scheduler's instructions: train to ``budget``, resuming from ``resume_step``.
        self.budget: int | None = record.budget
        self.resume_step: int = record.resume_step
        self._checkpoint_dir: str | None = None
        self._record = record
        self._intermediate: dict[int, dict[str, Any]] = dict(record.intermediate)

    def _base(self) -> FrozenTrial:
        """The record as it stood when the trial started, with the reports made since."""
        return replace(self._record, intermediate=dict(sorted(self._intermediate.items())))

    @property
    def seed(self) -> int:
        """A seed for this execution: differs between executions of the trial, and is the
        same when the trial is run again."""
        return derive_seed(self.base_seed, self.execution)

    @property
    def checkpoint_dir(self) -> str:
        """A folder that keeps what the function saves between runs of this trial (one per
        execution when ``executions_per_trial > 1``)."""
        name = f"trial_{self.number:05d}"
        if self.execution:
            name += f"_execution_{self.execution}"
        path = os.path.join(self._study.checkpoint_root, name)
        if path != self._checkpoint_dir:
            os.makedirs(path, exist_ok=True)
            self._checkpoint_dir = path
        return path

    def report(self, step: int, metrics: dict[str, Any] | float) -> None:
        """Record intermediate metrics (a learning curve point) at ``step``."""
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"trial.report: step must be a non-negative integer, got {step!r}.")
        if not isinstance(metrics, dict):
            metrics = {self._study.objectives[0].name: metrics}
        clean = check_metrics(metrics)
        self._study._report(self, int(step), clean)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, hp={self.hp.values})"


def derive_seed(base: int, *parts: int) -> int:
    """A well-mixed 31-bit seed from integers (stable across runs and platforms)."""
    x = (base & 0xFFFFFFFFFFFFFFFF)
    for p in parts:
        x = (x * 0x9E3779B97F4A7C15 + (p & 0xFFFFFFFF) + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
        x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 27
    return int(x & 0x7FFFFFFF)


def to_number(name: str, value: Any) -> float:
    """A metric value as a float; ValueError naming the metric if it is not a number."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise ValueError(
            f"Metric {name!r} is {value!r} ({type(value).__name__}); metrics must be numbers. "
            "Return numbers only, for example float(x).")
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # numpy and torch scalars
    if callable(item):
        try:
            out = item()
        except (ValueError, RuntimeError):
            out = None
        if isinstance(out, numbers.Real) and not isinstance(out, bool):
            return float(out)
    raise ValueError(
        f"Metric {name!r} is {value!r} ({type(value).__name__}); metrics must be numbers. "
        "Return numbers only, for example float(x).")


def check_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Validate a dict of metrics: string keys, numeric values. NaN and infinity become
    None (JSON has no NaN)."""
    if not isinstance(metrics, dict):
        raise ValueError(f"Metrics must be a dict of name to number, got {type(metrics).__name__}.")
    out: dict[str, float | None] = {}
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise ValueError(f"Metric names must be strings, got {name!r}.")
        v = to_number(name, value)
        out[name] = v if math.isfinite(v) else None
    return out
