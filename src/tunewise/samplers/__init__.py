"""Samplers propose hyperparameter values from the history of a study."""

from __future__ import annotations

from .base import Sampler, SamplingContext
from .grid import GridSampler
from .random import RandomSampler


def _bayesian() -> Sampler:
    from .bayesian import BayesianSampler
    return BayesianSampler()


def _auto() -> Sampler:
    from .auto import AutoSampler
    return AutoSampler()


def _tpe() -> Sampler:
    from .tpe import TPESampler
    return TPESampler()


_NAMES = {"auto": _auto, "random": RandomSampler, "grid": GridSampler,
          "bayesian": _bayesian, "tpe": _tpe}


def make_sampler(spec: "str | Sampler") -> Sampler:
    """A sampler from its name or an instance.

    ``"auto"`` (the default) uses Gaussian-process Bayesian optimisation for small budgets
    and spaces, and TPE for long searches and large spaces: see ``AutoSampler`` for the rule.
    """
    if isinstance(spec, Sampler):
        return spec
    if isinstance(spec, str) and spec.lower() in _NAMES:
        return _NAMES[spec.lower()]()
    raise ValueError(
        f"Unknown sampler {spec!r}; choose one of {sorted(_NAMES)} or pass a "
        "tunewise.samplers.Sampler instance.")


def sampler_from_config(config: dict) -> Sampler:
    """The sampler a stored ``config()`` describes (how ``load_study`` reopens a study)."""
    name = config.get("name")
    if not isinstance(name, str) or name.lower() not in _NAMES:
        raise ValueError(
            f"The study was made with the sampler {config!r}, which tunewise cannot rebuild by "
            "name; open it with tunewise.Study(name, storage=..., sampler=<the same instance>).")
    sampler = make_sampler(name)
    settings = {k: v for k, v in config.items() if k != "name"}
    return type(sampler)(**settings) if settings else sampler


_LAZY = {"BayesianSampler": "bayesian", "TPESampler": "tpe", "AutoSampler": "auto"}


def __getattr__(name: str):  # the model-based samplers load their modules on first use
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AutoSampler", "BayesianSampler", "GridSampler", "RandomSampler", "Sampler",
           "SamplingContext", "TPESampler", "make_sampler", "sampler_from_config"]
