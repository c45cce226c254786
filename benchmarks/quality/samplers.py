"""The samplers under comparison, each driven through its library's public ask-and-tell API.

A driver has ``ask() -> (handle, values)`` and ``tell(handle, value)``. ``ask`` covers
everything from asking for a trial until its values are in hand: for tunewise ``study.ask()``
and the ``trial.hp`` calls that return the values (define-by-run, as a user writes them); for
Optuna ``study.ask()`` and the ``suggest_*`` calls (Optuna samples some parameters lazily inside
them); for Keras Tuner ``oracle.create_trial``; for SMAC ``smac.ask()``. That time is the
proposal time. ``tell`` is timed separately.

Library seeds: the benchmark seed is passed unchanged, except to Keras Tuner, whose oracle
treats ``seed=0`` as "no seed" (``seed or random.randint(...)``): it gets ``seed + 1``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from harness import one_thread

from .problems import Param, Problem, is_active

# name -> (library, description). The order is the order of tables and plots.
SAMPLERS: dict[str, tuple[str, str]] = {
    "tunewise-auto": ("tunewise", 'tunewise.Study(sampler="auto")'),
    "tunewise-bayesian": ("tunewise", 'tunewise.Study(sampler="bayesian") (Gaussian process)'),
    "tunewise-tpe": ("tunewise", 'tunewise.Study(sampler="tpe")'),
    "tunewise-random": ("tunewise", 'tunewise.Study(sampler="random")'),
    "optuna-tpe": ("optuna", "optuna.create_study() default sampler: TPESampler(seed=seed)"),
    "optuna-gp": ("optuna", "optuna.samplers.GPSampler(seed=seed)"),
    "optuna-random": ("optuna", "optuna.samplers.RandomSampler(seed=seed) (context)"),
    "kt-bayesian": ("keras-tuner", "keras_tuner.oracles.BayesianOptimizationOracle, defaults"),
    "smac": ("smac", "SMAC3 HyperparameterOptimizationFacade, defaults, deterministic=True"),
}
RANDOM = "tunewise-random"
DEFAULT_SAMPLERS = ["tunewise-auto", "tunewise-bayesian", "tunewise-tpe", "tunewise-random",
                    "optuna-tpe", "optuna-gp", "kt-bayesian"]


def library_version(library: str) -> str | None:
    from importlib import metadata

    dist = {"keras-tuner": "keras-tuner", "smac": "smac", "optuna": "optuna",
            "tunewise": "tunewise"}[library]
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def preload(name: str) -> None:
    """Import what the sampler's library needs, so that a run's wall time does not include the
    first import in its process (Keras Tuner with Keras and torch: several seconds)."""
    lib = SAMPLERS[name][0]
    if lib == "tunewise":
        import tunewise  # noqa: F401
    elif lib == "optuna":
        import optuna

        if name == "optuna-gp":
            import optuna._gp  # noqa: F401  (its torch-based internals)
            import torch  # noqa: F401
    elif lib == "keras-tuner":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras_tuner  # noqa: F401
    elif lib == "smac":
        import smac  # noqa: F401
    one_thread()


def check_available(name: str) -> str | None:
    """None if ``name`` can run here, else why not (one line)."""
    if name not in SAMPLERS:
        return f"unknown sampler; choose from {', '.join(SAMPLERS)}"
    lib = SAMPLERS[name][0]
    try:
        if lib == "tunewise":
            from tunewise.samplers import make_sampler

            make_sampler(name.split("-", 1)[1])
        elif lib == "optuna":
            import optuna  # noqa: F401

            if name == "optuna-gp":
                import torch  # noqa: F401
        elif lib == "keras-tuner":
            os.environ.setdefault("KERAS_BACKEND", "torch")
            import keras_tuner  # noqa: F401
        elif lib == "smac":
            import smac  # noqa: F401
    except Exception as exc:  # noqa: BLE001  (ImportError, or what a half-installed package raises)
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


# ---------------------------------------------------------------------------------------------
# tunewise
# ---------------------------------------------------------------------------------------------

def tunewise_values(hp: Any, params: list[Param]) -> dict[str, Any]:
    """Values of a trial, from the define-by-run calls a user writes (``trial.hp.Float(...)``
    and so on, inside ``conditional_scope`` for a conditional one); inactive ones are left out."""
    values = {}
    for p in params:
        v = _tw_define(hp, p)
        if v is not None:
            values[p.name] = v
    return values


def _tw_define(hp: Any, p: Param) -> Any:
    def call() -> Any:
        if p.kind == "float":
            return hp.Float(p.name, float(p.low), float(p.high), sampling="log" if p.log else "linear")
        if p.kind == "int":
            return hp.Int(p.name, int(p.low), int(p.high), sampling="log" if p.log else "linear")
        return hp.Choice(p.name, list(p.choices))

    if p.parent is None:
        return call()
    with hp.conditional_scope(p.parent, list(p.parent_values)):
        return call()


def declare_space(hp: Any, params: list[Param]) -> Any:
    """Declare every hyperparameter, each branch of a conditional one included, on a
    tunewise or Keras Tuner ``HyperParameters`` (they share the API)."""
    for p in params:
        _tw_define(hp, p)
    return hp


class TunewiseDriver:
    def __init__(self, sampler: str, problem: Problem, budget: int, seed: int) -> None:
        import tunewise

        self.problem = problem
        # The space is declared up front, as Keras Tuner's driver does and as a user with a
        # fixed space would (Study(hyperparameters=...)); the loop below still reads every
        # value through trial.hp. Without it a define-by-run first trial takes the defaults.
        declared = declare_space(tunewise.HyperParameters(), problem.params)
        self.study = tunewise.Study(
            f"{problem.name}-seed{seed}",
            objective=tunewise.Objective(problem.metric, problem.direction),
            sampler=sampler, seed=seed, hyperparameters=declared)
        self.detail = {"sampler_class": type(self.study.sampler).__name__,
                       "sampler_config": self.study.sampler.config()}

    def ask(self) -> tuple[Any, dict[str, Any]]:
        trial = self.study.ask()
        return trial, tunewise_values(trial.hp, self.problem.params)

    def tell(self, trial: Any, value: float) -> None:
        self.study.tell(trial, value)


# ---------------------------------------------------------------------------------------------
# Optuna
# ---------------------------------------------------------------------------------------------

def optuna_values(trial: Any, params: list[Param]) -> dict[str, Any]:
    """Values of an Optuna trial from its ``suggest_*`` calls (an inactive branch is simply
    not suggested: define-by-run)."""
    values: dict[str, Any] = {}
    for p in params:
        if not is_active(p, values):
            continue
        if p.kind == "float":
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        elif p.kind == "int":
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
    return values


def optuna_distributions(params: list[Param]) -> dict[str, Any]:
    import optuna.distributions as d

    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "float":
            out[p.name] = d.FloatDistribution(p.low, p.high, log=p.log)
        elif p.kind == "int":
            out[p.name] = d.IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            out[p.name] = d.CategoricalDistribution(list(p.choices))
    return out


class OptunaDriver:
    def __init__(self, sampler: str, problem: Problem, budget: int, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.problem = problem
        if sampler == "tpe":
            # What optuna.create_study() uses when no sampler is given (Optuna 5:
            # `sampler or samplers.TPESampler()`), with the seed.
            s: Any = optuna.samplers.TPESampler(seed=seed)
        elif sampler == "gp":
            import torch

            torch.set_num_threads(1)
            s = optuna.samplers.GPSampler(seed=seed)
        else:
            s = optuna.samplers.RandomSampler(seed=seed)
        self.study = optuna.create_study(
            direction="maximize" if problem.direction == "max" else "minimize", sampler=s)
        self.detail = {"sampler_class": type(s).__name__}

    def ask(self) -> tuple[Any, dict[str, Any]]:
        trial = self.study.ask()
        return trial, optuna_values(trial, self.problem.params)

    def tell(self, trial: Any, value: float) -> None:
        self.study.tell(trial, value)


# ---------------------------------------------------------------------------------------------
# Keras Tuner: the Bayesian optimisation oracle, driven without a Tuner (nothing is trained)
# ---------------------------------------------------------------------------------------------

class KerasTunerDriver:
    def __init__(self, sampler: str, problem: Problem, budget: int, seed: int) -> None:
        os.environ.setdefault("KERAS_BACKEND", "torch")  # keras 3 needs a backend; torch is installed
        import keras_tuner as kt

        one_thread()
        self.problem = problem
        hp = declare_space(kt.HyperParameters(), problem.params)  # KT needs it up front
        self.oracle = kt.oracles.BayesianOptimizationOracle(
            objective=kt.Objective(problem.metric, problem.direction), max_trials=budget,
            seed=seed + 1, hyperparameters=hp)
        # The oracle saves every trial and its own state as JSON under a project folder (a
        # Tuner would set it): a temporary one, removed at the end.
        self._dir = tempfile.mkdtemp(prefix="kt-oracle-")
        self.oracle._set_project_dir(self._dir, "p")
        self.oracle.verbose = 0
        self.detail = {"sampler_class": type(self.oracle).__name__, "oracle_seed": seed + 1}

    def ask(self) -> tuple[Any, dict[str, Any]]:
        trial = self.oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            raise StopIteration(f"Keras Tuner oracle returned a {trial.status} trial")
        return trial, dict(trial.hyperparameters.values)

    def tell(self, trial: Any, value: float) -> None:
        self.oracle.update_trial(trial.trial_id, {self.problem.metric: value})
        trial.status = "COMPLETED"
        self.oracle.end_trial(trial)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# SMAC3 (optional: only where `pip install smac` works)
# ---------------------------------------------------------------------------------------------

class SmacDriver:
    def __init__(self, sampler: str, problem: Problem, budget: int, seed: int) -> None:
        from ConfigSpace import (
            Categorical,
            ConfigurationSpace,
            Float,
            InCondition,
            Integer,
        )
        from smac import HyperparameterOptimizationFacade, Scenario

        one_thread()
        self.problem = problem
        cs = ConfigurationSpace(seed=seed)
        made = {}
        for p in problem.params:
            if p.kind == "float":
                made[p.name] = Float(p.name, (float(p.low), float(p.high)), log=p.log)
            elif p.kind == "int":
                made[p.name] = Integer(p.name, (int(p.low), int(p.high)), log=p.log)
            else:
                made[p.name] = Categorical(p.name, list(p.choices))
        cs.add(list(made.values()))
        cs.add([InCondition(made[p.name], made[p.parent], list(p.parent_values))
                for p in problem.params if p.parent])
        self._dir = tempfile.mkdtemp(prefix="smac-")
        # deterministic=True: every problem here is deterministic given the configuration (the
        # digits MLP is seeded per evaluation), and each library evaluates a configuration once.
        scenario = Scenario(cs, deterministic=True, n_trials=budget, seed=seed,
                            output_directory=os.path.join(self._dir, "smac"))
        self.smac = HyperparameterOptimizationFacade(
            scenario, lambda config, seed=0: 0.0, overwrite=True, logging_level=40)
        self.sign = -1.0 if problem.direction == "max" else 1.0  # SMAC minimises a cost
        self.detail = {"sampler_class": "HyperparameterOptimizationFacade"}

    def ask(self) -> tuple[Any, dict[str, Any]]:
        import warnings

        with warnings.catch_warnings():
            # numpy's "invalid value in scalar divide" from a mean of nothing inside SMAC
            warnings.simplefilter("ignore", RuntimeWarning)
            info = self.smac.ask()
        values = {}
        for k, v in dict(info.config).items():
            values[k] = v.item() if hasattr(v, "item") else v
        return info, values

    def tell(self, info: Any, value: float) -> None:
        from smac.runhistory.dataclasses import TrialValue

        self.smac.tell(info, TrialValue(cost=self.sign * value))

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def make_driver(name: str, problem: Problem, budget: int, seed: int) -> Any:
    lib = SAMPLERS[name][0]
    inner = name.split("-", 1)[1] if "-" in name else name
    factory: Callable[..., Any] = {"tunewise": TunewiseDriver, "optuna": OptunaDriver,
                                   "keras-tuner": KerasTunerDriver, "smac": SmacDriver}[lib]
    return factory(inner, problem, budget, seed)
