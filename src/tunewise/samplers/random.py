"""Random search."""

from __future__ import annotations

from typing import Any

from ..space import iter_grid, point_id, space_size
from .base import Sampler, SamplingContext, draw_active

_REDRAWS = 64  # draws before listing the untried points of a finite space
_ENUMERATE_LIMIT = 200_000
_HUGE_REDRAWS = 4096  # draws in a space too large to list


class RandomSampler(Sampler):
    """Uniform random search (on the log scale for ``sampling="log"``).

    In a space of discrete values it never proposes a point twice while an untried point
    remains, and it reports exhaustion instead of stopping after a run of duplicates.
    """

    name = "random"

    def propose(self, ctx: SamplingContext) -> dict[str, Any] | None:
        rng = ctx.rng

        def draw() -> dict[str, Any]:
            return draw_active(ctx.space, lambda hp: hp.from_unit(rng.random()))

        values = draw()
        if not all(hp.is_discrete for hp in ctx.space):
            return values
        seen = ctx.seen
        for _ in range(_REDRAWS):
            if point_id(values) not in seen:
                return values
            values = draw()
        if (any(hp.n_values > _ENUMERATE_LIMIT for hp in ctx.space)
                or space_size(ctx.space, limit=_ENUMERATE_LIMIT) > _ENUMERATE_LIMIT):
            # A huge space (listing one long range alone takes gigabytes) whose tried points
            # catch most draws, as a small branch beside a huge one does: draw on instead.
            for _ in range(_HUGE_REDRAWS):
                values = draw()
                if point_id(values) not in seen:
                    return values
            return values  # even so, every draw hit a tried point: take the last one
        untried = [v for v in iter_grid(ctx.space, complete=True) if point_id(v) not in seen]
        if not untried:
            return None
        return untried[int(rng.integers(len(untried)))]
