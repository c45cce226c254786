"""Objectives: which metric a study optimises, and in which direction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

_MAX_WORDS = {"accuracy", "acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2",
              "map", "ap", "ndcg", "reward", "return", "score", "similarity"}
_MIN_WORDS = {"loss", "error", "mse", "mae", "mape", "msle", "rmse", "crossentropy",
              "hinge", "kld", "divergence", "logcosh", "poisson", "perplexity", "latency",
              "time", "regret", "wer", "cer"}


@dataclass(frozen=True)
class Objective:
    """A metric to optimise and its direction, ``"min"`` or ``"max"``.

    >>> Objective("val_accuracy", "max")
    Objective(name='val_accuracy', direction='max')
    """

    name: str
    direction: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Objective name must be a non-empty string, got {self.name!r}.")
        aliases = {"minimize": "min", "minimise": "min", "maximize": "max", "maximise": "max",
                   "min": "min", "max": "max"}
        if isinstance(self.direction, str) and self.direction.lower() in aliases:
            object.__setattr__(self, "direction", aliases[self.direction.lower()])
        if self.direction not in ("min", "max"):
            raise ValueError(
                f"Objective {self.name!r} has direction {self.direction!r}; "
                "use 'min' or 'max'.")

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "max" else a < b

    def to_config(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction}


def infer_direction(name: str) -> str:
    """Infer ``"min"`` or ``"max"`` from a metric name such as ``val_accuracy``.

    Raises ValueError for a name that says nothing about its direction.
    """
    if not isinstance(name, str):
        raise ValueError(
            f"An objective name must be a metric name (a string), got {name!r}; pass "
            "tunewise.Objective(name, direction='max') or direction='min'.")
    base = name[4:] if name.startswith("val_") else name
    words = set(re.split(r"[^a-z0-9]+", base.lower())) - {""}
    is_max, is_min = bool(words & _MAX_WORDS), bool(words & _MIN_WORDS)
    if is_max != is_min:
        return "max" if is_max else "min"
    raise ValueError(
        f"Cannot infer whether to minimise or maximise the objective {name!r}; "
        f"pass tunewise.Objective({name!r}, direction='max') or direction='min'.")


def make_objectives(objective: Any) -> list[Objective]:
    """Normalise a string, an Objective, or a list of them to a list of Objectives."""
    if isinstance(objective, (str, Objective)):
        items: Sequence[Any] = [objective]
    elif isinstance(objective, (list, tuple)) and objective:
        items = objective
    else:
        raise ValueError(
            f"objective must be a metric name, a tunewise.Objective or a non-empty list of "
            f"them, got {objective!r}.")
    result = []
    for item in items:
        if isinstance(item, Objective):
            result.append(item)
        elif isinstance(item, str):
            result.append(Objective(item, infer_direction(item)))
        elif isinstance(item, dict) and "name" in item:
            result.append(Objective(item["name"], item.get("direction") or infer_direction(item["name"])))
        else:
            raise ValueError(f"Cannot read objective {item!r}; pass a metric name or a tunewise.Objective.")
    names = [o.name for o in result]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(
            f"objective lists {', '.join(map(repr, twice))} more than once ({names}); "
            "list each metric once.")
    return result
