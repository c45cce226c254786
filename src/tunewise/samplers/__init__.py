"""Samplers propose hyperparameter values from the history of a study."""

from __future__ import annotations

from .base import Sampler, SamplingContext
from .grid import GridSampler
from .random import RandomSampler

_NAMES = {"auto": RandomSampler, "random": RandomSampler, "grid": GridSampler}


def make_sampler(spec: "str | Sampler") -> Sampler:
    """A sampler from its name or an instance.

    ``"auto"`` currently chooses random search; model-based samplers will be chosen by the
    space and the budget once they exist.
    """
    if isinstance(spec, Sampler):
        return spec
    if isinstance(spec, str) and spec.lower() in _NAMES:
        return _NAMES[spec.lower()]()
    raise ValueError(
        f"Unknown sampler {spec!r}; choose one of {sorted(_NAMES)} or pass a "
        "tunewise.samplers.Sampler instance.")


__all__ = ["Sampler", "SamplingContext", "RandomSampler", "GridSampler", "make_sampler"]
