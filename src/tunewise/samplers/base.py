"""The sampler interface. Samplers are pure strategy objects: they read history and propose
values, with no I/O; whatever state they keep can be rebuilt from the seed and the history,
so a resumed study continues the same sequence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..objective import Objective
from ..space import HyperParameter
from ..trial import FrozenTrial


@dataclass
class SamplingContext:
    """What a sampler sees when it proposes the next trial."""

    space: list[HyperParameter]
    trials: Sequence[FrozenTrial]
    objectives: list[Objective]
    rng: np.random.Generator
    seed: int = 0  # the study's seed: the same for every proposal, unlike ``rng``
    _seen: set[str] | None = field(default=None, repr=False)

    @property
    def seen(self) -> set[str]:
        """Ids (``point_id``) of every point already tried or claimed. A define-by-run trial
        records more values than it claimed, so both count."""
        if self._seen is None:
            seen = {t.params_key for t in self.trials}
            seen.update(t.key for t in self.trials if t.key is not None)
            self._seen = seen
        return self._seen


class Sampler:
    """Base class: override ``propose``."""

    name = "base"

    def propose(self, ctx: SamplingContext) -> dict[str, Any] | None:
        """Values for the next trial (missing ones take their defaults), or None when a
        finite space has no untried point left."""
        raise NotImplementedError  # pragma: no cover - abstract

    def config(self) -> dict[str, Any]:
        """What identifies this sampler's settings (compared when a study resumes)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def draw_active(space: Sequence[HyperParameter],
                pick: Callable[[HyperParameter], Any]) -> dict[str, Any]:
    """Values for the hyperparameters that are active given the values drawn before them."""
    values: dict[str, Any] = {}
    for hp in space:
        if all(p in values and values[p] in allowed for p, allowed in hp.conditions):
            values[hp.name] = pick(hp)
    return values
