"""Grid search, in Keras Tuner's order."""

from __future__ import annotations

from typing import Any, Iterator

from ..space import iter_grid, point_id
from .base import Sampler, SamplingContext


class GridSampler(Sampler):
    """Every combination of values: the defaults first, then an odometer in which the
    last-defined hyperparameter turns fastest (Keras Tuner's order). A continuous range
    contributes 10 evenly spaced values, ends included. Points are claimed atomically in the
    storage, so several workers never run one point twice.
    """

    name = "grid"

    def __init__(self) -> None:
        # A cache of the walk through the grid, rebuilt from scratch whenever the space
        # changes; correctness rests on the storage's record of tried points.
        self._signature: Any = None
        self._walk: Iterator[dict[str, Any]] | None = None
        self._current: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:  # the walk is a cache, rebuilt from the space
        return {**self.__dict__, "_signature": None, "_walk": None, "_current": None}

    def propose(self, ctx: SamplingContext) -> dict[str, Any] | None:
        signature = [hp.definition() for hp in ctx.space]
        if signature != self._signature:
            self._signature, self._walk, self._current = signature, iter_grid(ctx.space), None
        seen = ctx.seen
        while self._current is None or point_id(self._current) in seen:
            assert self._walk is not None
            self._current = next(self._walk, None)
            if self._current is None:
                self._walk = iter(())
                return None
        return dict(self._current)
