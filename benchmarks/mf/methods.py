"""The multi-fidelity methods under comparison, each driven through its library's public API,
and the ``Recorder`` that charges every evaluation its cost and tracks the incumbent.

An *evaluation* is one run of one configuration to a budget (epochs): a new trial trained from
scratch, or a paused trial resumed from its last epoch (it pays only for its new epochs). Every
driver loops ``ask -> evaluate on the surrogate -> tell`` until the recorder says the cost
budget is spent (or the method stops by itself).

Incumbent (the same rule for every method): the configuration with the best observed value
among the evaluations at the highest budget observed so far; its regret is that of the
surrogate's value of the configuration at 52 epochs (the true final value), whatever budget it
was observed at.

Library seeds: the benchmark seed is passed unchanged, except to Keras Tuner, whose oracle
treats ``seed=0`` as "no seed": it gets ``seed + 1`` (as in the search-quality harness).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import one_thread
from quality import problems as P

from .surrogate import MAX_EPOCH, Task

FACTOR = 3
TW_SAMPLERS = ("random", "tpe", "bayesian", "auto")
TW_SCHEDULERS = ("hyperband", "asha")

# name -> (library, description). The order is the order of tables and plots.
METHODS: dict[str, tuple[str, str]] = {
    **{f"tunewise-{s}-{k}": ("tunewise", (
        f'tunewise.Study(sampler="{s}", scheduler=HyperbandScheduler(max_epochs=52, factor=3, '
        'hyperband_iterations=None)), ask/tell' if k == "hyperband" else
        f'tunewise.Study(sampler="{s}", scheduler=ASHAScheduler(max_epochs=52, factor=3)), ask/tell'))
       for s in TW_SAMPLERS for k in TW_SCHEDULERS},
    "random": ("numpy", "random search at the full budget (52 epochs), numpy default_rng(seed)"),
    "kt-hyperband": ("keras-tuner", ("keras_tuner.oracles.HyperbandOracle(max_epochs=52, factor=3, "
                                    "hyperband_iterations=10**6), driven without a Tuner")),
    "optuna-tpe-hyperband": ("optuna", ("TPESampler(seed) + HyperbandPruner(min_resource=1, "
                                       "max_resource=52, reduction_factor=3), reports every epoch")),
    "optuna-tpe-sha": ("optuna", ("TPESampler(seed) + SuccessiveHalvingPruner(min_resource=1, "
                                 "reduction_factor=3), reports every epoch")),
    "dehb": ("dehb", ("DEHB(min_fidelity=1, max_fidelity=52, eta=3, n_workers=1), ask/tell, in "
                     "the competitors' venv")),
}
RANDOM = "random"
COMPETITORS = ["random", "kt-hyperband", "optuna-tpe-hyperband", "optuna-tpe-sha", "dehb"]
DEFAULT_METHODS = list(METHODS)


class Recorder:
    """Charges each evaluation, keeps the cumulative cost and the incumbent's regret.

    ``record`` returns True once the cumulative cost has reached ``c_max`` (the evaluation that
    crosses it is kept; the report cuts every curve at ``c_max``) or ``max_evals`` evaluations
    were made.
    """

    def __init__(self, task: Task, c_max: float | None, max_evals: int | None = None) -> None:
        self.task = task
        self.c_max = c_max
        self.max_evals = max_evals
        self.index: dict[Any, int] = {}
        self.configs: list[dict[str, Any]] = []
        self.finals: list[float] = []
        self.trained: list[int] = []  # epochs trained so far, per configuration
        self.ev: dict[str, list[Any]] = {k: [] for k in (
            "trial", "budget", "resume", "value", "cost", "cum_cost", "inc_trial", "inc_regret",
            "overhead_s")}
        self.cum = 0.0
        self.top_budget = 0
        self.top_value = -np.inf
        self.inc: int | None = None
        self.anomalies: list[str] = []
        self.surrogate_s = 0.0
        self.strict = True  # check that a resumed trial resumes from the epochs it trained
        self.lap()

    @property
    def n(self) -> int:
        return len(self.ev["trial"])

    def done(self) -> bool:
        if self.max_evals is not None and self.n >= self.max_evals:
            return True
        return self.c_max is not None and self.cum >= self.c_max

    def anomaly(self, text: str) -> None:
        if len(self.anomalies) < 50:
            self.anomalies.append(text)

    def evaluate(self, config: dict[str, Any], epoch: int) -> float:
        t0 = time.perf_counter()
        v = self.task.value(config, epoch)
        self.surrogate_s += time.perf_counter() - t0
        return v

    def record(self, key: Any, config: dict[str, Any], budget: int, resume: int, value: float) -> bool:
        """One evaluation: ``key`` identifies the configuration's trial (the same for every run
        of a promoted trial); it trained epochs resume+1..budget and observed ``value`` at
        ``budget``."""
        now = time.perf_counter()
        self._sur_before = self.surrogate_s
        budget, resume = int(budget), int(resume)
        t0 = time.perf_counter()
        if key not in self.index:
            self.index[key] = len(self.configs)
            self.configs.append(dict(config))
            self.finals.append(self.task.final(config))
            self.trained.append(0)
        i = self.index[key]
        if self.configs[i] != dict(config):
            self.anomaly(f"evaluation {self.n}: trial {key!r} came back with other values")
        if self.strict and resume != self.trained[i]:
            self.anomaly(f"evaluation {self.n}: trial {key!r} resumes from {resume} but had "
                         f"trained {self.trained[i]} epochs")
        if not 0 <= resume < budget <= MAX_EPOCH:
            self.anomaly(f"evaluation {self.n}: trial {key!r} budget {budget}, resume {resume}")
        cost = self.task.cost(config, budget, min(resume, budget))
        self.surrogate_s += time.perf_counter() - t0
        self.trained[i] = max(self.trained[i], budget)
        self.cum += cost
        if budget > self.top_budget:
            self.top_budget, self.top_value, self.inc = budget, value, i
        elif budget == self.top_budget and value > self.top_value:
            self.top_value, self.inc = value, i
        assert self.inc is not None
        e = self.ev
        e["trial"].append(i)
        e["budget"].append(budget)
        e["resume"].append(resume)
        e["value"].append(round(float(value), 6))
        e["cost"].append(round(cost, 6))
        e["cum_cost"].append(round(self.cum, 6))
        e["inc_trial"].append(self.inc)
        e["inc_regret"].append(round(self.task.regret(self.finals[self.inc]), 8))
        # the library's time since the last evaluation (ask, tell, the driver's own work),
        # without the surrogate's
        e["overhead_s"].append(round(max(0.0, (now - self._mark) - (self._sur_before - self._sur_mark)), 6))
        self.lap()
        return self.done()

    def lap(self) -> None:
        """Start the overhead clock for the next evaluation."""
        self._mark = time.perf_counter()
        self._sur_mark = self.surrogate_s


# ---------------------------------------------------------------------------------------------
# random search at the full budget
# ---------------------------------------------------------------------------------------------

def random_configs(seed: int, n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [P.random_point(P.LCBENCH_PARAMS, rng) for _ in range(n)]


def cost_budget(task: Task, seed: int, n_full: int) -> float:
    """C_max: the cost of random search's first ``n_full`` full-budget evaluations (seed)."""
    return float(sum(task.time(c, MAX_EPOCH) for c in random_configs(seed, n_full)))


def run_random(rec: Recorder, seed: int, n_full: int) -> dict[str, Any]:
    for i, config in enumerate(random_configs(seed, n_full)):
        value = rec.evaluate(config, MAX_EPOCH)
        if rec.record(i, config, MAX_EPOCH, 0, value):
            break
    return {}


# ---------------------------------------------------------------------------------------------
# tunewise: ask/tell with a scheduler
# ---------------------------------------------------------------------------------------------

def run_tunewise(rec: Recorder, sampler: str, scheduler: str, seed: int, task: str) -> dict[str, Any]:
    from quality.samplers import declare_space, tunewise_values

    import tunewise
    import tunewise.errors
    import tunewise.schedulers as S

    if scheduler == "hyperband":
        sched: Any = S.HyperbandScheduler(max_epochs=MAX_EPOCH, factor=FACTOR, hyperband_iterations=None)
    else:
        sched = S.ASHAScheduler(max_epochs=MAX_EPOCH, factor=FACTOR)
    hp = declare_space(tunewise.HyperParameters(), P.LCBENCH_PARAMS)
    study = tunewise.Study(f"mf-{task}-{sampler}-{scheduler}-seed{seed}",
                           objective=tunewise.Objective("val_accuracy", "max"),
                           sampler=sampler, scheduler=sched, seed=seed, hyperparameters=hp)
    stopped = None
    rec.lap()
    while True:
        try:
            trial = study.ask()
        except tunewise.errors.SearchFinishedError as exc:
            stopped = f"{type(exc).__name__}: {exc}"
            break
        config = tunewise_values(trial.hp, P.LCBENCH_PARAMS)
        budget, resume = trial.budget, trial.resume_step
        if budget is None:
            raise RuntimeError("tunewise trial has no budget although a scheduler is set")
        value = rec.evaluate(config, budget)
        study.tell(trial, value)
        if rec.record(trial.number, config, budget, resume or 0, value):
            break
    detail = {"sampler_class": type(study.sampler).__name__,
              "scheduler_class": type(sched).__name__, "stopped": stopped}
    try:
        states: dict[str, int] = {}
        for t in study.trials:
            states[str(getattr(t.state, "value", t.state))] = states.get(
                str(getattr(t.state, "value", t.state)), 0) + 1
        detail["trial_states"] = states
        detail["n_trials"] = len(study.trials)
    except Exception as exc:  # noqa: BLE001  (a summary only)
        detail["trial_states_error"] = repr(exc)
    return detail


# ---------------------------------------------------------------------------------------------
# Keras Tuner: the Hyperband oracle, driven without a Tuner (nothing is trained)
# ---------------------------------------------------------------------------------------------

def run_kt_hyperband(rec: Recorder, seed: int) -> dict[str, Any]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras_tuner as kt
    from quality.samplers import declare_space

    one_thread()
    hp = declare_space(kt.HyperParameters(), P.LCBENCH_PARAMS)
    oracle = kt.oracles.HyperbandOracle(
        objective=kt.Objective("val_accuracy", "max"), max_epochs=MAX_EPOCH, factor=FACTOR,
        hyperband_iterations=10**6, seed=seed + 1, hyperparameters=hp)
    folder = tempfile.mkdtemp(prefix="kt-hb-oracle-")
    oracle._set_project_dir(folder, "p")  # a Tuner would set it: the oracle saves trials there
    oracle.verbose = 0
    root: dict[str, str] = {}  # KT trial id -> the first trial of its configuration
    stopped = None
    names = [p.name for p in P.LCBENCH_PARAMS]
    try:
        rec.lap()
        while True:
            trial = oracle.create_trial("tuner0")
            if trial.status != "RUNNING":
                stopped = f"oracle returned a {trial.status} trial"
                break
            values = trial.hyperparameters.values
            config = {k: values[k] for k in names}
            epochs, initial = int(values["tuner/epochs"]), int(values["tuner/initial_epoch"])
            past = values.get("tuner/trial_id")
            root[trial.trial_id] = root.get(past, past) if past else trial.trial_id
            value = rec.evaluate(config, epochs)
            oracle.update_trial(trial.trial_id, {"val_accuracy": value}, step=epochs)
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
            if rec.record(root[trial.trial_id], config, epochs, initial, value):
                break
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"sampler_class": type(oracle).__name__, "oracle_seed": seed + 1, "stopped": stopped,
            "kt_trials": len(oracle.trials)}


# ---------------------------------------------------------------------------------------------
# Optuna: TPE with a pruner, reporting every epoch
# ---------------------------------------------------------------------------------------------

def run_optuna(rec: Recorder, pruner_name: str, seed: int) -> dict[str, Any]:
    import optuna
    from optuna.trial import TrialState
    from quality.samplers import optuna_values

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if pruner_name == "hyperband":
        pruner: Any = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=MAX_EPOCH,
                                                     reduction_factor=FACTOR)
    else:
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=FACTOR)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    pruned = 0
    rec.lap()
    while True:
        trial = study.ask()
        config = optuna_values(trial, P.LCBENCH_PARAMS)
        t0 = time.perf_counter()
        curve = rec.task.curves(config)[0]
        rec.surrogate_s += time.perf_counter() - t0
        last = MAX_EPOCH
        for epoch in range(1, MAX_EPOCH + 1):
            trial.report(float(curve[epoch - 1]), epoch)
            if epoch < MAX_EPOCH and trial.should_prune():
                last = epoch
                break
        if last < MAX_EPOCH:
            study.tell(trial, state=TrialState.PRUNED)
            pruned += 1
        else:
            study.tell(trial, float(curve[-1]))
        if rec.record(trial.number, config, last, 0, float(curve[last - 1])):
            break
    return {"sampler_class": type(sampler).__name__, "pruner_class": type(pruner).__name__,
            "n_trials": len(study.trials), "pruned": pruned}


# ---------------------------------------------------------------------------------------------
# DEHB (in the competitors' venv; see runs.py)
# ---------------------------------------------------------------------------------------------

def dehb_epochs(fidelity: float) -> int:
    """DEHB's fidelities are floats (52 / 3**k: 1.93, 5.78, 17.3, 52): the epochs trained are
    the fidelity rounded to the nearest integer (2, 6, 17, 52)."""
    return int(min(MAX_EPOCH, max(1, round(float(fidelity)))))


def run_dehb(rec: Recorder, seed: int) -> dict[str, Any]:
    import logging
    import warnings

    from ConfigSpace import ConfigurationSpace, Float, Integer
    from dehb import DEHB

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cs = ConfigurationSpace(seed=seed)
    for p in P.LCBENCH_PARAMS:
        if p.kind == "float":
            cs.add(Float(p.name, (float(p.low), float(p.high)), log=p.log))
        else:
            cs.add(Integer(p.name, (int(p.low), int(p.high)), log=p.log))
    folder = tempfile.mkdtemp(prefix="dehb-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = DEHB(cs=cs, f=None, min_fidelity=1, max_fidelity=MAX_EPOCH, eta=FACTOR,
                       n_workers=1, seed=seed, output_path=folder, save_freq="end",
                       log_level="ERROR")
            rec.lap()
            while True:
                job = opt.ask()
                config = {}
                for k, v in dict(job["config"]).items():
                    config[k] = v.item() if hasattr(v, "item") else v
                epochs = dehb_epochs(job["fidelity"])
                key = int(job["config_id"])
                # A promoted configuration keeps its config_id: a user with checkpoints
                # resumes it from the epochs it already trained (the favourable reading).
                # (A configuration asked again at a fidelity it already reached, or with other
                # values, is a new training run from scratch.)
                i = rec.index.get(key)
                resume = 0
                if i is not None:
                    if rec.trained[i] < epochs and rec.configs[i] == config:
                        resume = rec.trained[i]
                    else:
                        key = f"{key}-again-{rec.n}"
                value = rec.evaluate(config, epochs)
                cost = rec.task.cost(config, epochs, resume)
                opt.tell(job, {"fitness": -value, "cost": cost})
                if rec.record(key, config, epochs, resume, value):
                    break
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"sampler_class": "DEHB", "fidelities": [float(f) for f in opt.fidelities]}


def drive(method: str, rec: Recorder, seed: int, task: str, n_full: int) -> dict[str, Any]:
    if method == "random":
        return run_random(rec, seed, n_full)
    if method.startswith("tunewise-"):
        _, sampler, scheduler = method.split("-")
        return run_tunewise(rec, sampler, scheduler, seed, task)
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "kt-hyperband": lambda: run_kt_hyperband(rec, seed),
        "optuna-tpe-hyperband": lambda: run_optuna(rec, "hyperband", seed),
        "optuna-tpe-sha": lambda: run_optuna(rec, "sha", seed),
        "dehb": lambda: run_dehb(rec, seed),
    }
    return runners[method]()
