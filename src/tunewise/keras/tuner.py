"""The tuners: Keras Tuner's classes and arguments on tunewise's core (a ``Study``).

A tuner is a ``tunewise.Study`` stored in ``directory/project_name/tunewise.db`` (SQLite) with
the checkpoints beside it, plus the Keras work: build the model for each trial, fit it with the
arguments given to ``search``, report each epoch's metrics, score the trial by its best epoch,
keep the best epoch's weights, and free the model's memory afterwards.
"""

from __future__ import annotations

import copy
import functools
import gc
import json
import logging
import math
import os
import shutil
import time
from typing import Any, Sequence

from ..errors import FailedTrialError
from ..objective import Objective, infer_direction
from ..schedulers import HyperbandScheduler
from ..space import HyperParameters
from ..space import types as _types
from ..study import Study
from ..trial import FrozenTrial, Trial, TrialState, to_number
from .errors import FatalTypeError, FatalValueError
from .hypermodel import HyperModel, as_hypermodel

logger = logging.getLogger("tunewise.keras")

DEFAULT_OBJECTIVE = "default_objective"  # Keras Tuner's name when no objective is given
_BEST = "best.weights.h5"  # the weights of the trial's best epoch (get_best_models)
_RESUME = "resume.weights.h5"  # weights and optimizer state where the run ended (promotions)
_BUILD = "build_config.json"  # how to build a model that was not built by build_model
_STATE = "tuner.json"  # the tuner's arguments, to recognise a changed tuner on resume
_POPULATE_BUILDS = 20  # builds spent finding conditional hyperparameters at construction


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("tunewise.keras needs Keras 3: pip install 'tunewise[keras]' "
                          "torch==2.13.0") from exc
    return keras


def _free_memory(keras: Any) -> None:
    """What a finished trial leaves behind: Keras' global state, cycles, cached GPU blocks.

    One collection, not Keras' own and then another (as Keras Tuner does): with torch and
    Keras loaded a full collection scans millions of objects, about 0.4 s here. ``search``
    freezes the objects that exist when it starts (``gc.freeze``), so the collection scans
    only what the trials created."""
    try:
        keras.backend.clear_session(free_memory=False)
    except TypeError:  # Keras before 3.6 has no free_memory argument
        keras.backend.clear_session()
    gc.collect()
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _objective(objective: Any) -> Objective:
    """Keras Tuner's ``objective``: a metric name (direction inferred), an Objective, or None
    (the value ``run_trial`` returns, minimised). A list, Keras Tuner's sum of objectives, is
    not offered: tunewise studies with several objectives keep their Pareto front instead."""
    if objective is None:
        return Objective(DEFAULT_OBJECTIVE, "min")
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, str):
        try:
            return Objective(objective, infer_direction(objective))
        except ValueError:
            raise ValueError(
                f"Cannot tell whether to minimise or maximise the objective {objective!r}: it "
                f"is not a Keras metric name tunewise knows. Pass "
                f"kt.Objective({objective!r}, direction='max') or direction='min'.") from None
    if isinstance(objective, (list, tuple)):
        raise ValueError(
            "A list of objectives is not supported by tunewise.keras tuners (Keras Tuner adds "
            "them up into one number). Pass one objective, or use tunewise.Study with a list "
            "of objectives for a Pareto front.")
    raise ValueError(f"objective must be a metric name or a kt.Objective, got {objective!r}.")


class KerasTrial:
    """What ``run_trial`` receives, as in Keras Tuner: ``trial.hyperparameters`` and
    ``trial.trial_id``; ``trial.trial`` is the tunewise Trial (budget, report, checkpoint_dir)."""

    def __init__(self, trial: Trial | None, hyperparameters: HyperParameters, number: int,
                 record: FrozenTrial | None = None) -> None:
        self.trial = trial
        self.hyperparameters = hyperparameters
        self.number = number
        self.trial_id = f"{number:02d}"
        self._record = record

    @property
    def record(self) -> FrozenTrial | None:
        """The trial as stored (state, score, metrics, budget); None while it runs."""
        return self._record

    @property
    def score(self) -> float | None:
        return None if self._record is None else self._record.score

    @property
    def metrics(self) -> dict[str, Any]:
        return {} if self._record is None else dict(self._record.metrics)

    @property
    def status(self) -> str:
        return "RUNNING" if self._record is None else self._record.state.value.upper()

    def __repr__(self) -> str:
        return f"KerasTrial(trial_id={self.trial_id!r}, hyperparameters={self.hyperparameters.values})"


class _Oracle:
    """Keras Tuner's ``tuner.oracle``, read from the study: ``objective``, ``max_trials``,
    ``trials``, ``get_best_trials(n)``, ``get_space()``."""

    def __init__(self, tuner: "Tuner") -> None:
        self._tuner = tuner

    @property
    def objective(self) -> Objective:
        return self._tuner.objective

    @property
    def max_trials(self) -> int | None:
        return self._tuner.max_trials

    @property
    def hyperparameters(self) -> HyperParameters:
        return self._tuner.study.hyperparameters

    def get_space(self) -> HyperParameters:
        return self._tuner.study.hyperparameters

    @property
    def trials(self) -> dict[str, KerasTrial]:
        return {k.trial_id: k for k in map(self._tuner._keras_trial, self._tuner.study.trials)}

    def get_trial(self, trial_id: str) -> KerasTrial:
        return self.trials[trial_id]

    def get_best_trials(self, num_trials: int = 1) -> list[KerasTrial]:
        return [self._tuner._keras_trial(t) for t in self._tuner.study.best_trials(num_trials)]


class Tuner:
    """The base tuner: Keras Tuner's arguments and methods on a tunewise study.

    >>> import tunewise.keras as kt
    >>> def build_model(hp):
    ...     import keras
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 4, 32)),
    ...                               keras.layers.Dense(1)])
    ...     model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log")),
    ...                   loss="mse")
    ...     return model
    >>> tuner = kt.RandomSearch(build_model, objective="val_loss", max_trials=3,
    ...                         directory="runs", project_name="demo")   # doctest: +SKIP
    >>> tuner.search(x, y, epochs=5, validation_split=0.2)              # doctest: +SKIP
    >>> best = tuner.get_best_models(1)[0]                               # doctest: +SKIP

    ``sampler`` (default ``"auto"``), ``scheduler`` (default None) and ``storage`` (default
    ``sqlite:///<directory>/<project_name>/tunewise.db``) are tunewise's. ``keep_checkpoints``
    is the retention policy: the best-epoch weights of that many best trials are kept (None:
    every trial's); the resume state of a paused trial is kept until it can no longer be
    promoted. A tuner made again with the same arguments resumes its search; with other
    arguments (or a build function that defines other hyperparameters) it raises a ValueError
    that names them, unless ``overwrite=True``.
    """

    _default_sampler: Any = "auto"

    def __init__(self, oracle: Any = None, hypermodel: Any = None, max_model_size: int | None = None,
                 optimizer: Any = None, loss: Any = None, metrics: Any = None,
                 distribution_strategy: Any = None, directory: str | os.PathLike[str] | None = None,
                 project_name: str | None = None, logger: Any = None, tuner_id: str | None = None,
                 overwrite: bool = False, executions_per_trial: int = 1, *,
                 objective: Any = None, max_trials: int | None = 10, seed: int | None = None,
                 hyperparameters: HyperParameters | None = None, tune_new_entries: bool = True,
                 allow_new_entries: bool = True, max_retries_per_trial: int = 0,
                 max_consecutive_failed_trials: int | None = 3, sampler: Any = None,
                 scheduler: Any = None, storage: Any = None, keep_checkpoints: int | None = 10) -> None:
        if oracle is not None:
            raise ValueError(
                "tunewise.keras tuners take no oracle: use kt.RandomSearch, kt.GridSearch, "
                "kt.BayesianOptimization or kt.Hyperband, or pass sampler= and scheduler= "
                "(for example kt.Tuner(hypermodel=build_model, sampler='tpe')).")
        self.hypermodel: HyperModel | None = as_hypermodel(hypermodel)
        if self.hypermodel is None and type(self).run_trial is Tuner.run_trial:
            raise ValueError(
                "hypermodel is None: pass a function build_model(hp) or a kt.HyperModel, or "
                "subclass the tuner and define run_trial(self, trial, *args, **kwargs).")
        if hyperparameters is not None and not isinstance(hyperparameters, HyperParameters):
            raise ValueError("hyperparameters must be a kt.HyperParameters instance.")
        for name, value in (("executions_per_trial", executions_per_trial),
                            ("max_retries_per_trial", max_retries_per_trial)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (name == "executions_per_trial"):
                raise ValueError(f"{name} must be an integer >= {int(name == 'executions_per_trial')}, "
                                 f"got {value!r}.")
        if keep_checkpoints is not None and (isinstance(keep_checkpoints, bool)
                                             or not isinstance(keep_checkpoints, int) or keep_checkpoints < 1):
            raise ValueError(f"keep_checkpoints must be a positive integer or None, got {keep_checkpoints!r}.")
        if distribution_strategy is not None:
            logging.getLogger("tunewise.keras").warning("distribution_strategy is not supported by tunewise.keras and is "
                            "ignored; scale out with several workers on one storage instead.")
        self.objective = _objective(objective)
        self.max_trials = max_trials
        self.executions_per_trial = executions_per_trial
        self.max_retries_per_trial = max_retries_per_trial
        self.max_consecutive_failed_trials = max_consecutive_failed_trials
        self.max_model_size = max_model_size
        self.optimizer, self.loss, self.metrics = optimizer, loss, metrics
        self.tune_new_entries = tune_new_entries
        self.allow_new_entries = allow_new_entries
        self.keep_checkpoints = keep_checkpoints
        self.tuner_id = tuner_id or "tuner0"
        self.logger = logger
        self.directory = os.fspath(directory) if directory is not None else "."
        self.project_name = project_name or "untitled_project"
        self.project_dir = os.path.join(self.directory, self.project_name)
        self.oracle = _Oracle(self)
        self.verbose: Any = 1
        self._fit_args: tuple[Any, ...] = ()
        self._fit_kwargs: dict[str, Any] = {}
        self._run_best: dict[int, float] = {}

        sampler = sampler if sampler is not None else self._default_sampler
        own = self._settings()
        if overwrite:  # the study and its checkpoints go with Study(overwrite=True)
            self._remove(os.path.join(self.project_dir, _STATE))
        os.makedirs(self.project_dir, exist_ok=True)
        declared = hyperparameters.copy() if hyperparameters is not None else HyperParameters()
        # Keras Tuner's rule: what the tuner is given wins over build_model's own definition
        # (hp.Fixed("learning_rate", 1e-3) fixes it, a narrower range narrows it).
        self._declared_names = frozenset(h.name for h in declared.space)
        declared._declared_wins = self._declared_names
        if self.tune_new_entries and self.hypermodel is not None:
            self._populate(declared)
        state_path = os.path.join(self.project_dir, _STATE)
        wanted = {"tuner": type(self).__name__, "objective": self.objective.to_config(),
                  "seed": seed, "executions_per_trial": executions_per_trial,
                  "tune_new_entries": tune_new_entries, "allow_new_entries": allow_new_entries,
                  **own, "hyperparameters": [h.get_config() for h in declared.space]}
        stored = self._read_state(state_path)
        if stored is not None and not overwrite:
            self._check_same(stored, wanted)  # (seed=None resumes the study's own seed)
        if storage is None:
            storage = "sqlite:///" + os.path.abspath(os.path.join(self.project_dir, "tunewise.db"))
        self.study = Study(self.project_name, objective=self.objective, storage=storage,
                           sampler=sampler, scheduler=scheduler, seed=seed,
                           hyperparameters=declared if declared.space else None, overwrite=overwrite)
        wanted["study_seed"] = self.study.seed
        if stored is None or overwrite:
            tmp = state_path + f".tmp{os.getpid()}"
            with open(tmp, "w") as f:
                json.dump(wanted, f, indent=1)
            os.replace(tmp, state_path)

    # -- construction -------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        """The subclass's own arguments that define the search (stored, compared on resume)."""
        return {}

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.remove(path)
        except OSError:
            pass

    @staticmethod
    def _read_state(path: str) -> dict[str, Any] | None:
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _check_same(self, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
        diffs = []
        for key, value in wanted.items():
            if key == "hyperparameters":
                diffs += _space_diff(stored.get(key) or [], value)
            elif key == "seed":
                if value is not None and value != stored.get("study_seed", stored.get("seed")):
                    diffs.append(f"seed={stored.get('study_seed', stored.get('seed'))!r} (now {value!r})")
            elif stored.get(key) != value:
                diffs.append(f"{key}={_show(stored.get(key))} (now {_show(value)})")
        if diffs:
            raise ValueError(
                f"The tuner in {self.project_dir!r} was made with other settings: "
                + "; ".join(diffs) + ". Pass overwrite=True to start afresh, use another "
                "project_name, or the same settings to resume.")

    def _populate(self, hp: HyperParameters) -> None:
        """Build the model to learn the search space before the first trial, as Keras Tuner
        does, and further: once with the defaults, then with each other value of every Choice
        and Boolean and with the parents of each inactive conditional hyperparameter set to
        activate it, so that branches behind an ``if`` are found too (at most
        ``_POPULATE_BUILDS`` builds). A build that fails here is left to the trials."""
        keras = _keras()
        tried: set[tuple[str, Any]] = set()
        builds = 0

        def build(values: dict[str, Any]) -> None:
            nonlocal builds
            builds += 1
            for h in hp.space:
                hp._values[h.name] = values.get(h.name, h.default)
            try:
                self.hypermodel.declare_hyperparameters(hp)  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001 - a bad combination is a trial's failure
                logger.debug("Building the model to read its search space failed: %s", exc)
            finally:
                _free_memory(keras)

        build({})
        while builds < _POPULATE_BUILDS:
            todo = None
            for h in hp.space:
                if not hp.is_active(h.name) and ("active", h.name) not in tried:
                    tried.add(("active", h.name))
                    todo = _activating(hp, h)
                elif isinstance(h, (_types.Choice, _types.Boolean)):
                    for value in h.values:
                        if value != h.default and (h.name, value) not in tried:
                            tried.add((h.name, value))
                            todo = {h.name: value}
                            break
                if todo is not None:
                    break
            if todo is None:
                break
            build(todo)
        for h in hp.space:  # the trials start from the defaults
            hp._values[h.name] = h.default

    # -- search ---------------------------------------------------------------------------
    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Run trials until ``max_trials`` exist (Hyperband: until its brackets are done).
        The arguments go to ``model.fit`` (or ``HyperModel.fit``/``run_trial``); the
        callbacks are copied for each trial; ``verbose=0`` keeps the search quiet."""
        if "verbose" in fit_kwargs:
            self.verbose = fit_kwargs["verbose"]
        self._fit_args, self._fit_kwargs = fit_args, fit_kwargs
        self._search_start = time.monotonic()
        self.on_search_begin()
        gc.collect()
        gc.freeze()  # what exists now (modules, data) outlives the search: no need to rescan it
        try:
            self.study.optimize(self._run, max_trials=self.max_trials,
                                executions_per_trial=self.executions_per_trial,
                                max_retries_per_trial=self.max_retries_per_trial,
                                max_consecutive_failed_trials=self.max_consecutive_failed_trials,
                                callbacks=[self._trial_done], show_progress=False)
        finally:
            gc.unfreeze()
            self._fit_args, self._fit_kwargs = (), {}
            if self.study.scheduler is not None and self.study.stop_reason and "scheduler" in self.study.stop_reason:
                self._retain(final=True)
        if self.verbose:
            print(f"Search finished: {self.study.stop_reason}. "
                  f"Total elapsed time: {_clock(time.monotonic() - self._search_start)}")
        self.on_search_end()

    def on_search_begin(self) -> None:
        """Called once before the first trial of ``search``."""

    def on_search_end(self) -> None:
        """Called once after ``search``'s last trial."""

    def on_trial_begin(self, trial: KerasTrial) -> None:
        """Called before each trial's first execution."""

    def on_trial_end(self, trial: KerasTrial) -> None:
        """Called after each trial."""

    def _run(self, trial: Trial) -> Any:
        """The function the study runs: one execution of one trial."""
        hp = trial.hp if self.tune_new_entries else trial.hp.copy()
        hp._declared_wins = self._declared_names
        known = {h.name for h in hp.space}
        ktrial = KerasTrial(trial, hp, trial.number)
        if trial.execution == 0:
            self._run_best.pop(trial.number, None)
            if self.verbose:
                self._print_begin(trial)
            self.on_trial_begin(ktrial)
        result = self.run_trial(ktrial, *self._fit_args, **self._fit_kwargs)
        if not self.allow_new_entries:
            new = [h.name for h in hp.space if h.name not in known]
            if new:
                raise FatalValueError(
                    f"allow_new_entries=False, and the model defines hyperparameters that the "
                    f"tuner's hyperparameters do not: {new}. Declare them in hyperparameters=, "
                    "or pass allow_new_entries=True.")
        return self._metrics(result)

    def run_trial(self, trial: KerasTrial, *args: Any, **kwargs: Any) -> Any:
        """Build the model for ``trial.hyperparameters``, fit it and return the History.

        Override it to train anything: return a History, a dict of metrics or the objective's
        value. It is called once per execution (``executions_per_trial``).
        """
        keras = _keras()
        tw = trial.trial
        if tw is None:
            raise ValueError(f"Trial {trial.trial_id} is a finished record, not a running trial; "
                             "run_trial runs inside search().")
        model = None
        try:
            keras.utils.set_random_seed(tw.seed)  # the same trial builds and trains the same way
            model = self._try_build(trial.hyperparameters)
            kwargs = dict(kwargs)
            callbacks = _copy_callbacks(kwargs.pop("callbacks", None) or [])
            reporter = _reporter(self.objective, tw)
            kwargs["callbacks"] = callbacks + [reporter]
            if tw.budget is not None:  # a scheduler sets the epochs
                kwargs["epochs"] = tw.budget
                kwargs["initial_epoch"] = tw.resume_step
                if tw.resume_step > 0:
                    self._restore(model, tw)
            history = self.hypermodel.fit(trial.hyperparameters, model, *args, **kwargs)  # type: ignore[union-attr]
            self._save(model, tw, reporter)
            if isinstance(history, keras.callbacks.History):
                history.set_model(None)  # the History would keep the model alive
            return history
        finally:
            del model
            _free_memory(keras)

    def _try_build(self, hp: HyperParameters) -> Any:
        keras = _keras()
        if self.hypermodel is None:
            raise FatalValueError("This tuner has no hypermodel to build; run_trial must be "
                                  "overridden to train without one.")
        model = self.hypermodel.build(hp)
        if not isinstance(model, keras.Model):
            raise FatalTypeError(
                f"build_model(hp) (or HyperModel.build) must return a Keras model, got "
                f"{type(model).__name__}: {model!r}.")
        if self.optimizer is not None or self.loss is not None or self.metrics is not None:
            model.compile(optimizer=self.optimizer or model.optimizer, loss=self.loss or model.loss,
                          metrics=self.metrics if self.metrics is not None else None)
        if self.max_model_size is not None and model.built:
            size = model.count_params()
            if size > self.max_model_size:
                raise FailedTrialError(f"Oversized model: {size} parameters, more than "
                                       f"max_model_size={self.max_model_size}.")
        return model

    def _metrics(self, result: Any) -> Any:
        """What run_trial returned, as the study's metrics (the best epoch of a History)."""
        keras = _keras()
        name = self.objective.name
        if isinstance(result, list):
            if not result:
                raise FatalValueError("run_trial returned an empty list.")
            items = [self._metrics(r) for r in result]
            keys = set.intersection(*(set(i) for i in items))
            return {k: sum(to_number(k, i[k]) for i in items) / len(items) for k in keys}
        if isinstance(result, keras.callbacks.History):
            return _best_epoch(result.history, self.objective)
        if isinstance(result, dict):
            clean = {k: _scalar(v) for k, v in result.items()}
            if name not in clean:
                raise FatalValueError(
                    f"The trial's metrics {sorted(clean)} do not include the objective {name!r}; "
                    "return it, or pass objective= one of those metrics.")
            return clean
        if result is None:
            raise FatalTypeError("run_trial (or HyperModel.fit) returned None; return the "
                                 "History of model.fit, a dict of metrics or the objective's value.")
        try:
            return {name: float(result)}
        except (TypeError, ValueError):
            raise FatalTypeError(
                f"run_trial (or HyperModel.fit) returned {type(result).__name__}; return the "
                "History of model.fit, a dict of metrics or the objective's value.") from None

    # -- checkpoints ----------------------------------------------------------------------
    def _trial_dir(self, number: int) -> str:
        return os.path.join(self.study.checkpoint_root, f"trial_{number:05d}")

    def _restore(self, model: Any, trial: Trial) -> None:
        """Load the weights and optimizer state the trial's last run ended with."""
        path = os.path.join(trial.checkpoint_dir, _RESUME)
        if not os.path.exists(path):
            logger.warning("Trial %d resumes at epoch %d but has no checkpoint (%s); it trains "
                           "from fresh weights.", trial.number, trial.resume_step, path)
            return
        _ready(model, os.path.join(self._trial_dir(trial.number), _BUILD))
        model.load_weights(path)

    def _save(self, model: Any, trial: Trial, reporter: Any) -> None:
        """After a run: the resume state if the trial may be promoted, and the best epoch's
        weights if the trial finished and is among the best kept."""
        scheduler = self.study.scheduler
        paused = scheduler is not None and scheduler.state_after(trial.budget) == TrialState.PAUSED
        tdir = self._trial_dir(trial.number)
        os.makedirs(tdir, exist_ok=True)
        if hasattr(model, "get_build_config") and model.built:
            config = model.get_build_config()
            if config is not None:
                with open(os.path.join(tdir, _BUILD), "w") as f:
                    json.dump(config, f)
        if paused:
            model.save_weights(os.path.join(trial.checkpoint_dir, _RESUME))
            return
        if reporter.best_weights is None or not self._may_be_kept(reporter.best_value):
            return
        best = self._run_best.get(trial.number)
        if best is not None and not self.objective.better(reporter.best_value, best):
            return  # an earlier execution of this trial had the better epoch
        self._run_best[trial.number] = reporter.best_value
        final = model.get_weights()
        model.set_weights(reporter.best_weights)
        model.save_weights(os.path.join(tdir, _BEST))
        model.set_weights(final)

    def _may_be_kept(self, value: float) -> bool:
        if self.keep_checkpoints is None:
            return True
        kept = self.study.best_trials(self.keep_checkpoints)
        if len(kept) < self.keep_checkpoints:
            return True
        return not self.objective.better(float(kept[-1].score), value)  # type: ignore[arg-type]

    def _retain(self, final: bool = False) -> None:
        """The retention policy: best-epoch weights for the ``keep_checkpoints`` best trials;
        resume state only for paused trials (until the scheduler is done with them)."""
        root = self.study.checkpoint_root
        if not os.path.isdir(root):
            return
        trials = {t.number: t for t in self.study.trials}
        keep = {t.number for t in self.study.best_trials(self.keep_checkpoints)}
        for entry in os.listdir(root):
            if not entry.startswith("trial_"):
                continue
            try:
                number = int(entry[6:11])
            except ValueError:
                continue
            t = trials.get(number)
            if t is None or t.state == TrialState.RUNNING:
                continue
            path = os.path.join(root, entry)
            if not entry[11:] and t.number not in keep:
                self._remove(os.path.join(path, _BEST))
            if t.state != TrialState.PAUSED or final:
                self._remove(os.path.join(path, _RESUME))
            if os.path.isdir(path) and set(os.listdir(path)) <= {_BUILD}:
                shutil.rmtree(path, ignore_errors=True)

    def _trial_done(self, study: Study, record: FrozenTrial) -> None:
        self._retain()
        if self.verbose:
            self._print_end(record)
        self.on_trial_end(self._keras_trial(record))

    # -- results --------------------------------------------------------------------------
    def _keras_trial(self, record: FrozenTrial) -> KerasTrial:
        hp = self.study.hyperparameters.with_values(record.hyperparameters)
        return KerasTrial(None, hp, record.number, record)

    def get_best_hyperparameters(self, num_trials: int = 1) -> list[HyperParameters]:
        """The hyperparameters of the ``num_trials`` best trials, best first."""
        return self.study.best_hyperparameters(num_trials)

    def get_best_models(self, num_models: int = 1) -> list[Any]:
        """The ``num_models`` best models, best first: built by ``build_model`` and loaded with
        the weights of their best epoch (kept for the ``keep_checkpoints`` best trials)."""
        best = self.study.best_trials(num_models)
        return [self.load_model(self._keras_trial(t)) for t in best]

    def load_model(self, trial: KerasTrial) -> Any:
        """The model of ``trial`` with the weights of its best epoch."""
        if self.hypermodel is None:
            raise ValueError("This tuner has no hypermodel, so it cannot rebuild models.")
        tdir = self._trial_dir(trial.number)
        path = os.path.join(tdir, _BEST)
        if not os.path.exists(path):
            raise ValueError(
                f"Trial {trial.number} has no saved weights in {tdir}: only the "
                f"{self.keep_checkpoints} best trials keep theirs (keep_checkpoints). Rebuild it "
                "with tuner.hypermodel.build(hp) and train it, or search with a larger "
                "keep_checkpoints.")
        model = self.hypermodel.build(trial.hyperparameters)
        _ready(model, os.path.join(tdir, _BUILD))
        model.load_weights(path)
        return model

    def results(self) -> Any:
        """One row per trial (a pandas DataFrame): hyperparameters, metrics, score, duration."""
        return self.study.to_dataframe()

    def report(self, path: str | os.PathLike[str] = "report.html") -> str:
        """Write the HTML report of this search (``tunewise.report``); return the path."""
        return self.study.report(path)

    def reload(self) -> None:
        """Keras Tuner's reload: here everything lives in the storage and is always read from
        it, so there is nothing to do."""

    def search_space_summary(self, extended: bool = False) -> None:
        """Print the hyperparameters of the search space."""
        space = self.study.hyperparameters.space
        print("Search space summary")
        print(f"Default search space size: {len(space)}")
        for h in space:
            config = dict(h.get_config().get("config", {}))
            for key in ("name", "default", "conditions"):
                config.pop(key, None)
            conditions = [{"parent": p, "values": list(v)} for p, v in h.conditions]
            print(f"{h.name} ({type(h).__name__})")
            print({"default": h.default, "conditions": conditions, **config})

    def results_summary(self, num_trials: int = 10) -> None:
        """Print the ``num_trials`` best trials: their active hyperparameters and score."""
        print("Results summary")
        print(f"Results in {self.project_dir}")
        print(f"Showing {num_trials} best trials")
        print(f"Objective(name={self.objective.name!r}, direction={self.objective.direction!r})")
        for t in self.study.best_trials(num_trials):
            print()
            print(f"Trial {t.number:02d} summary")
            print("Hyperparameters:")
            for name, value in t.hyperparameters.items():
                print(f"{name}: {value}")
            print(f"Score: {t.score}")
        failed = sum(t.state == TrialState.FAILED for t in self.study.trials)
        if failed:
            print()
            print(f"{failed} trial(s) failed; see tuner.results() for their errors.")

    # -- display --------------------------------------------------------------------------
    def _print_begin(self, trial: Trial) -> None:
        total = f"/{self.max_trials}" if self.max_trials else ""
        budget = f", epochs {trial.resume_step}->{trial.budget}" if trial.budget is not None else ""
        print(f"\nSearch: Running Trial #{trial.number + 1}{total}{budget}")
        best = self.study.best_trials(1)
        best_values = best[0].hyperparameters if best else {}
        rows = [("Value", "Best Value So Far", "Hyperparameter")]
        rows += [(_short(v), _short(best_values.get(k, "?")), k) for k, v in trial.hp.values.items()]
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        for r in rows:
            print(f"{r[0]:<{widths[0]}} |{r[1]:<{widths[1]}} |{r[2]}")
        print()

    def _print_end(self, record: FrozenTrial) -> None:
        took = _clock(record.duration or 0.0)
        print(f"Trial {record.number + 1} {record.state.value.capitalize()} [{took}]")
        if record.score is not None:
            print(f"{self.objective.name}: {record.score:.6g}")
        if record.error:
            print(f"error: {record.error}")
        best = self.study.best_trials(1)
        if best:
            print(f"\nBest {self.objective.name} So Far: {best[0].score:.6g}")
        print(f"Total elapsed time: {_clock(time.monotonic() - self._search_start)}")


@functools.cache
def _reporter_class() -> type:
    """The Keras callback class behind ``_reporter`` (made once: Keras is imported lazily)."""
    keras = _keras()

    class Reporter(keras.callbacks.Callback):
        """Reports each epoch to the trial (which may prune it) and keeps the best epoch's
        weights in memory, written once at the end rather than at every improvement."""

        def __init__(self, objective: Objective, trial: Trial) -> None:
            super().__init__()
            self.objective, self.trial = objective, trial
            self.best_value: float = math.nan
            self.best_weights: list[Any] | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = {k: _scalar(v) for k, v in (logs or {}).items()}
            if self.objective.name not in logs:
                raise FatalValueError(_missing_text(self.objective.name, logs))
            value = logs[self.objective.name]
            if value is not None and math.isfinite(value) and (
                    math.isnan(self.best_value) or self.objective.better(value, self.best_value)):
                self.best_value = value
                self.best_weights = self.model.get_weights()
            self.trial.report(epoch + 1, logs)

    return Reporter


def _reporter(objective: Objective, trial: Trial) -> Any:
    return _reporter_class()(objective, trial)


class RandomSearch(Tuner):
    """Random search, as ``keras_tuner.RandomSearch``.

    >>> import tunewise.keras as kt
    >>> tuner = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=10)  # doctest: +SKIP
    """

    _default_sampler = "random"

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_trials: int | None = 10,
                 seed: int | None = None, hyperparameters: HyperParameters | None = None,
                 tune_new_entries: bool = True, allow_new_entries: bool = True,
                 max_retries_per_trial: int = 0, max_consecutive_failed_trials: int | None = 3,
                 **kwargs: Any) -> None:
        super().__init__(hypermodel=hypermodel, objective=objective, max_trials=max_trials,
                         seed=seed, hyperparameters=hyperparameters,
                         tune_new_entries=tune_new_entries, allow_new_entries=allow_new_entries,
                         max_retries_per_trial=max_retries_per_trial,
                         max_consecutive_failed_trials=max_consecutive_failed_trials, **kwargs)


class GridSearch(Tuner):
    """Every combination of the space's values, as ``keras_tuner.GridSearch`` (Int and Float
    with a step, Choice, Boolean); ``max_trials=None`` runs the whole grid.

    >>> import tunewise.keras as kt
    >>> tuner = kt.GridSearch(build_model, objective="val_loss", executions_per_trial=2)  # doctest: +SKIP
    """

    _default_sampler = "grid"

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_trials: int | None = None,
                 seed: int | None = None, hyperparameters: HyperParameters | None = None,
                 tune_new_entries: bool = True, allow_new_entries: bool = True,
                 max_retries_per_trial: int = 0, max_consecutive_failed_trials: int | None = 3,
                 **kwargs: Any) -> None:
        super().__init__(hypermodel=hypermodel, objective=objective, max_trials=max_trials,
                         seed=seed, hyperparameters=hyperparameters,
                         tune_new_entries=tune_new_entries, allow_new_entries=allow_new_entries,
                         max_retries_per_trial=max_retries_per_trial,
                         max_consecutive_failed_trials=max_consecutive_failed_trials, **kwargs)


class BayesianOptimization(Tuner):
    """Gaussian-process Bayesian optimisation, as ``keras_tuner.BayesianOptimization``.

    tunewise's GP (``sampler="bayesian"``) proposes by expected improvement, with one-hot
    categories and no repeated configurations. ``num_initial_points`` is its initial design
    (default: a few more than the number of hyperparameters); ``alpha`` and ``beta`` (Keras
    Tuner's noise and UCB settings) are accepted for compatibility and not used: the GP fits
    its noise, and expected improvement has no exploration weight.

    >>> import tunewise.keras as kt
    >>> tuner = kt.BayesianOptimization(build_model, objective="val_accuracy", max_trials=20)  # doctest: +SKIP
    """

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_trials: int | None = 10,
                 num_initial_points: int | None = None, alpha: float = 1e-4, beta: float = 2.6,
                 seed: int | None = None, hyperparameters: HyperParameters | None = None,
                 tune_new_entries: bool = True, allow_new_entries: bool = True,
                 max_retries_per_trial: int = 0, max_consecutive_failed_trials: int | None = 3,
                 **kwargs: Any) -> None:
        from ..samplers.bayesian import BayesianSampler

        self.num_initial_points, self.alpha, self.beta = num_initial_points, alpha, beta
        kwargs.setdefault("sampler", BayesianSampler(num_initial_points))
        super().__init__(hypermodel=hypermodel, objective=objective, max_trials=max_trials,
                         seed=seed, hyperparameters=hyperparameters,
                         tune_new_entries=tune_new_entries, allow_new_entries=allow_new_entries,
                         max_retries_per_trial=max_retries_per_trial,
                         max_consecutive_failed_trials=max_consecutive_failed_trials, **kwargs)

    def _settings(self) -> dict[str, Any]:
        return {"num_initial_points": self.num_initial_points}


class Hyperband(Tuner):
    """Hyperband, with Keras Tuner's arguments and bracket arithmetic
    (``keras_tuner.Hyperband``). ``max_epochs`` is the most epochs a model is trained;
    ``search``'s ``epochs`` is replaced by each run's budget.

    Better than Keras Tuner's: a promoted trial continues from where it stopped, with its
    optimizer state (Keras Tuner reloads the weights only); and the configurations come from
    tunewise's default model-based sampler, which learns across all brackets
    (``sampler="random"`` gives Keras Tuner's random choice).

    >>> import tunewise.keras as kt
    >>> tuner = kt.Hyperband(build_model, objective="val_accuracy", max_epochs=9, factor=3)  # doctest: +SKIP
    """

    def __init__(self, hypermodel: Any = None, objective: Any = None, max_epochs: int = 100,
                 factor: int = 3, hyperband_iterations: int = 1, seed: int | None = None,
                 hyperparameters: HyperParameters | None = None, tune_new_entries: bool = True,
                 allow_new_entries: bool = True, max_retries_per_trial: int = 0,
                 max_consecutive_failed_trials: int | None = 3, **kwargs: Any) -> None:
        if "scheduler" in kwargs:
            raise ValueError("Hyperband's scheduler is Hyperband: set max_epochs, factor and "
                             "hyperband_iterations, or use kt.Tuner(scheduler=...).")
        self.max_epochs, self.factor = max_epochs, factor
        self.hyperband_iterations = hyperband_iterations
        scheduler = HyperbandScheduler(max_epochs=max_epochs, factor=factor,
                                       hyperband_iterations=hyperband_iterations)
        kwargs.setdefault("max_trials", None)
        super().__init__(hypermodel=hypermodel, objective=objective, seed=seed,
                         hyperparameters=hyperparameters, tune_new_entries=tune_new_entries,
                         allow_new_entries=allow_new_entries,
                         max_retries_per_trial=max_retries_per_trial,
                         max_consecutive_failed_trials=max_consecutive_failed_trials,
                         scheduler=scheduler, **kwargs)

    def _settings(self) -> dict[str, Any]:
        return {"max_epochs": self.max_epochs, "factor": self.factor,
                "hyperband_iterations": self.hyperband_iterations}


# -- helpers -----------------------------------------------------------------------------

def _scalar(value: Any) -> Any:
    """A Keras log value (numpy or torch scalar) as a float; other values unchanged."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _missing_text(name: str, logs: dict[str, Any]) -> str:
    hint = ""
    if name.startswith("val_") and name[4:] in logs:
        hint = " Pass validation_data= or validation_split= to search, so that Keras computes it,"
    return (f"The objective {name!r} is not among the metrics Keras reports ({sorted(logs)})."
            f"{hint} or pass objective= one of those metrics"
            + (" (with objective=None the tuner needs run_trial to return a value)."
               if name == DEFAULT_OBJECTIVE else "."))


def _best_epoch(history: dict[str, list[Any]], objective: Objective) -> dict[str, Any]:
    """The metrics of the epoch where the objective was best (Keras Tuner's score)."""
    epochs = max((len(v) for v in history.values()), default=0)
    if objective.name not in history:
        raise FatalValueError(_missing_text(objective.name, {k: None for k in history}))
    best, best_value = None, None
    for i in range(epochs):
        value = _scalar(history[objective.name][i]) if i < len(history[objective.name]) else None
        if value is None or not isinstance(value, float) or math.isnan(value):
            continue
        if best is None or objective.better(value, best_value):  # type: ignore[arg-type]
            best, best_value = i, value
    if best is None:  # every epoch diverged: the study records it as failed
        best = epochs - 1
    return {k: _scalar(v[best]) for k, v in history.items() if best < len(v)}


def _copy_callbacks(callbacks: Sequence[Any]) -> list[Any]:
    """Each trial gets its own copies (an EarlyStopping keeps state between epochs)."""
    try:
        return copy.deepcopy(list(callbacks))
    except Exception as exc:  # noqa: BLE001 - deepcopy raises many kinds
        raise FatalValueError(
            f"The callbacks passed to search must be copyable (copy.deepcopy), for each trial "
            f"gets its own; this one is not: {exc}. Create such a callback inside "
            "HyperModel.fit instead.") from exc


def _ready(model: Any, build_config: str) -> None:
    """Make ``model`` able to take saved weights: built, with its optimizer's variables."""
    if not model.built and os.path.exists(build_config):
        with open(build_config) as f:
            model.build_from_config(json.load(f))
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and model.built and not getattr(optimizer, "built", True):
        optimizer.build(model.trainable_variables)


def _activating(hp: HyperParameters, target: _types.HyperParameter) -> dict[str, Any] | None:
    """Values for the parents of ``target`` that make it active; None if there are none."""
    values: dict[str, Any] = {}
    for parent, allowed in target.conditions:
        definition = hp._space.get(parent)
        if definition is None:
            return None
        for value in allowed:
            try:
                values[parent] = definition.cast(value)
                break
            except Exception:  # noqa: BLE001 - a value outside the parent's range
                continue
        else:
            return None
    return values


def _space_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """What changed between two stored spaces, one line per hyperparameter."""
    def flat(c: dict[str, Any]) -> dict[str, Any]:
        return {"type": c.get("class_name"), **c.get("config", {})}

    old = {flat(c)["name"]: flat(c) for c in before}
    new = {flat(c)["name"]: flat(c) for c in after}
    out = []
    for name in old.keys() | new.keys():
        if name not in new:
            out.append(f"hyperparameter {name!r} is no longer defined")
        elif name not in old:
            out.append(f"hyperparameter {name!r} is new")
        elif old[name] != new[name]:
            changed = sorted(k for k in old[name].keys() | new[name].keys()
                             if old[name].get(k) != new[name].get(k))
            what = ", ".join(f"{k} {old[name].get(k)!r} -> {new[name].get(k)!r}" for k in changed)
            out.append(f"hyperparameter {name!r} changed ({what})")
    return sorted(out)


def _show(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"name", "direction"}:
        return f"Objective({value['name']!r}, {value['direction']!r})"
    return repr(value)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}h {s % 3600 // 60:02d}m {s % 60:02d}s"


__all__ = ["Tuner", "RandomSearch", "GridSearch", "BayesianOptimization", "Hyperband",
           "KerasTrial"]
