"""Schedulers decide how long each trial trains: budgets, promotions and early stops.

``scheduler="hyperband"`` (Keras Tuner's Hyperband), ``"asha"`` (asynchronous successive
halving), ``"median"`` (median stopping) and ``"auto"`` (Hyperband with one worker, ASHA with
several) give the defaults; pass an instance to choose
the settings, for example ``HyperbandScheduler(max_epochs=27, factor=3)``.
"""

from __future__ import annotations

from typing import Any

from .asha import ASHAScheduler
from .auto import AutoScheduler
from .base import Decision, ScheduleContext, Scheduler
from .hyperband import HyperbandScheduler
from .median import MedianScheduler

_NAMES: dict[str, type[Scheduler]] = {"hyperband": HyperbandScheduler, "asha": ASHAScheduler,
                                      "median": MedianScheduler, "auto": AutoScheduler}


def make_scheduler(spec: "str | Scheduler | None") -> Scheduler | None:
    """A scheduler from its name, an instance, or None (every trial runs once, to the end)."""
    if spec is None or isinstance(spec, Scheduler):
        return spec
    if isinstance(spec, str) and spec.lower() in _NAMES:
        return _NAMES[spec.lower()]()
    raise ValueError(
        f"Unknown scheduler {spec!r}; choose None, one of {sorted(_NAMES)}, or pass a "
        "tunewise.schedulers.Scheduler instance.")


def scheduler_from_config(config: dict[str, Any] | None) -> Scheduler | None:
    """The scheduler a stored ``config()`` describes (how ``load_study`` reopens a study)."""
    if config is None:
        return None
    name = config.get("name")
    if not isinstance(name, str) or name.lower() not in _NAMES:
        raise ValueError(
            f"The study was made with the scheduler {config!r}, which tunewise cannot rebuild "
            "by name; open it with tunewise.Study(name, storage=..., scheduler=<the same "
            "instance>).")
    return _NAMES[name.lower()](**{k: v for k, v in config.items() if k != "name"})


__all__ = ["ASHAScheduler", "AutoScheduler", "Decision", "HyperbandScheduler", "MedianScheduler",
           "ScheduleContext", "Scheduler", "make_scheduler", "scheduler_from_config"]
