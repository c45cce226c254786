"""Studies: the loop that asks a sampler, runs a trial, and records its result."""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import logging
import math
import os
import re
import shutil
import socket
import statistics
import tempfile
import threading
import time
import traceback as _traceback
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .errors import (FailedTrialError, FatalError, SearchFinishedError, SpaceError, SpaceExhaustedError,
                     TrialLost, TrialPruned, TrialsPendingError)
from .objective import Objective, make_objectives
from .progress import Progress
from .samplers import Sampler, SamplingContext, make_sampler, sampler_from_config
from .schedulers import (AutoScheduler, ScheduleContext, Scheduler, make_scheduler,
                         scheduler_from_config)
from .space import HyperParameters, point_id
from .space import types as _types
from .storage import BaseStorage, DuplicatePointError, StudyExistsError, get_storage
from .trial import FrozenTrial, Trial, TrialState, check_metrics, derive_seed, to_number

logger = logging.getLogger("tunewise")

_CLAIM_TRIES = 50
_IDLE_POLL = 0.2  # seconds between looks while other workers finish the last points


def _process_start(pid: int) -> str:
    """The start time of a process (Linux), to tell a live process from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return "0"


def _worker_id() -> str:
    """``host:pid:process start:token``; the token tells apart studies of one process (two
    Dask tasks in one worker process, for instance)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}:{os.urandom(4).hex()}"


def _worker_pid(worker: str | None) -> str:
    parts = (worker or "").split(":")
    return parts[1] if len(parts) >= 3 else "?"


def _worker_is_dead(worker: str | None) -> bool:
    """True when ``worker`` ran on this host and its process is gone."""
    if not worker:
        return False
    try:
        host, pid_text, start = worker.split(":")[:3]
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False  # another machine: only it (or a heartbeat) can tell
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read().rsplit(")", 1)[1].split()
        return stat[0] in ("Z", "X") or stat[19] != start
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Study:
    """A hyperparameter search and its results, kept in a storage.

    >>> import tunewise
    >>> def train(trial):
    ...     x = trial.hp.Float("x", -5.0, 5.0)
    ...     return {"loss": (x - 1.0) ** 2}
    >>> study = tunewise.Study("demo", objective="loss", seed=0)
    >>> study.optimize(train, max_trials=20, show_progress=False)
    >>> len(study.trials)
    20
    >>> study.best_trial.score < 1.0
    True

    ``storage`` is None (in memory), ``"sqlite:///file.db"`` or another SQLAlchemy URL. A
    study that exists in the storage is resumed; if its stored settings differ from the
    ones given, a ValueError names the setting (``overwrite=True`` starts afresh).
    """

    def __init__(self, name: str, objective: Any = "val_accuracy",
                 storage: "str | BaseStorage | None" = None, sampler: "str | Sampler" = "auto",
                 scheduler: Any = None, seed: int | None = None,
                 hyperparameters: HyperParameters | None = None, overwrite: bool = False) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"Study name must be a non-empty string, got {name!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer or None, got {seed!r}.")
        if hyperparameters is not None and not isinstance(hyperparameters, HyperParameters):
            raise ValueError("hyperparameters must be a tunewise.HyperParameters instance.")
        self.name = name
        self.objectives: list[Objective] = make_objectives(objective)
        self.sampler: Sampler = make_sampler(sampler)
        self.scheduler: Scheduler | None = make_scheduler(scheduler)
        if self.scheduler is not None and len(self.objectives) > 1:
            raise ValueError(
                f"scheduler={self.scheduler.name!r} compares trials on one objective, and this "
                f"study has {len(self.objectives)}; use one objective or scheduler=None.")
        self._storage: BaseStorage = get_storage(storage)
        declared = hyperparameters.space if hyperparameters is not None else []
        wanted = {
            "objectives": [o.to_config() for o in self.objectives],
            "sampler": self.sampler.config(),  # a name and an equal instance compare equal
            "scheduler": self.scheduler.config() if self.scheduler is not None else None,
            "seed": seed,
            "hyperparameters": [hp.get_config() for hp in declared] if hyperparameters else None,
        }
        if overwrite:
            self._storage.delete_study(name)
        info = self._storage.get_study(name)
        if info is None:
            if wanted["seed"] is None:
                wanted["seed"] = int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
            try:
                info = self._storage.create_study(name, wanted, wanted["hyperparameters"] or [])
            except StudyExistsError:  # created by another process a moment ago
                info = self._storage.get_study(name)
                assert info is not None
        self._check_settings(info.settings, wanted)
        self._id = info.id
        self.seed: int = info.settings["seed"]
        self._settings = info.settings
        resolved = (info.settings.get("scheduler") or {}).get("resolved")
        if isinstance(self.scheduler, AutoScheduler) and resolved:
            self.scheduler = AutoScheduler(self.scheduler.max_epochs, self.scheduler.factor,
                                           resolved).choose(parallel=False)
        self._space = HyperParameters()
        self._load_space(info.space)
        self._worker = _worker_id()
        self._checkpoint_root: str | None = None
        if overwrite and os.path.isdir(self.checkpoint_root):  # afresh: old checkpoints go too
            shutil.rmtree(self.checkpoint_root, ignore_errors=True)
        self._exhausted = False
        self._scheduled_out = False  # the scheduler had nothing to run at the last ask
        self.stop_reason: str | None = None
        # While optimize runs: how long a running trial's lease lasts without a heartbeat,
        # and how many times a trial may be retried.
        self._lease: float | None = None
        self._max_retries = 0
        self._stop_requested: Callable[[], bool] | None = None  # set by a Dask worker

    # -- construction helpers -------------------------------------------------------------
    def _check_settings(self, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
        def fail(setting: str, have: Any, asked: Any) -> None:
            raise ValueError(
                f"Study {self.name!r} already exists in {self._storage.url} with {setting} "
                f"{have}; you passed {asked}. Pass overwrite=True to start afresh, or use the "
                f"same {setting}.")

        def objectives_text(objs: list[dict[str, str]]) -> str:
            return ", ".join(f"{o['name']!r} ({o['direction']})" for o in objs)

        if stored["objectives"] != wanted["objectives"]:
            fail("objective", objectives_text(stored["objectives"]),
                 objectives_text(wanted["objectives"]))
        if stored["sampler"] != wanted["sampler"]:
            fail("sampler", stored["sampler"], wanted["sampler"])
        chosen = stored.get("scheduler")
        if isinstance(chosen, dict):  # what "auto" chose is not a setting of the user's
            chosen = {k: v for k, v in chosen.items() if k != "resolved"}
        if chosen != wanted["scheduler"]:
            fail("scheduler", chosen, wanted["scheduler"])
        if wanted["seed"] is not None and stored["seed"] != wanted["seed"]:
            fail("seed", stored["seed"], wanted["seed"])
        if wanted["hyperparameters"] is not None and stored.get("hyperparameters") != wanted["hyperparameters"]:
            fail("hyperparameters", _space_text(stored.get("hyperparameters")),
                 _space_text(wanted["hyperparameters"]))

    def _reload_space(self) -> bool:
        """Load definitions other workers stored; True if the space grew."""
        info = self._storage.get_study(self.name)
        known = len(self._space.space)
        if info is not None:
            self._load_space(info.space)
        return len(self._space.space) > known

    def _load_space(self, configs: list[dict[str, Any]]) -> None:
        for config in configs:
            hp = _types.from_config(config)
            if hp.name not in self._space:
                self._space.declare(hp)

    # -- properties -----------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Any]:
        """The stored settings: objectives, sampler, scheduler, seed, declared space."""
        return dict(self._settings)

    @property
    def storage(self) -> BaseStorage:
        return self._storage

    @property
    def direction(self) -> str:
        """The direction of a single-objective study."""
        return self.objectives[0].direction

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def hyperparameters(self) -> HyperParameters:
        """The search space as known so far (it grows as trials define hyperparameters)."""
        return self._space.copy()

    @property
    def checkpoint_root(self) -> str:
        """Where trials keep their checkpoints: beside an SQLite file; for a study in memory,
        a temporary folder of this process's own; for a database server, a temporary folder
        named after its URL and the study."""
        if self._checkpoint_root is None:
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)
            url = self._storage.url
            if url.startswith("sqlite:///") and ":memory:" not in url:
                path = url[len("sqlite:///"):]
                self._checkpoint_root = os.path.join(
                    os.path.dirname(os.path.abspath(path)), f"{os.path.basename(path)}.checkpoints", safe)
            elif "://" in url and ":memory:" not in url and url != "sqlite://":
                digest = hashlib.sha1(url.encode()).hexdigest()[:12]
                self._checkpoint_root = os.path.join(tempfile.gettempdir(), "tunewise-checkpoints",
                                                     digest, safe)
            else:  # the storage dies with the process, and so do the checkpoints
                base = getattr(self._storage, "_checkpoint_base", None)
                if base is None:
                    base = tempfile.mkdtemp(prefix="tunewise-checkpoints-")
                    atexit.register(shutil.rmtree, base, True)
                    self._storage._checkpoint_base = base  # type: ignore[attr-defined]
                self._checkpoint_root = os.path.join(base, safe)
        return self._checkpoint_root

    def _clear_checkpoints(self, number: int) -> None:
        """A new trial starts without a checkpoint, whatever an earlier study of the same
        name left under its number."""
        root = self.checkpoint_root
        if not os.path.isdir(root):
            return
        prefix = f"trial_{number:05d}"
        for entry in os.listdir(root):
            if entry == prefix or entry.startswith(prefix + "_execution_"):
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial, by number."""
        return self._storage.get_trials(self._id)

    # -- ask and tell ---------------------------------------------------------------------
    def ask(self) -> Trial:
        """Start a trial for a loop the user drives: run it, then ``tell`` its result.

        A waiting or interrupted trial is handed out first. Raises ``SpaceExhaustedError``
        when a finite space has no untried point left.
        """
        self._resolve_scheduler(parallel=True)  # the caller may hold many trials at once
        trial = self._ask(max_trials=None)
        if trial is not None:
            return trial
        if self._exhausted:
            raise SpaceExhaustedError(
                f"Study {self.name!r}: every point of the search space has been tried.")
        running = [t.number for t in self.trials if t.state == TrialState.RUNNING]
        if running:
            raise TrialsPendingError(
                f"Study {self.name!r}: the {self.scheduler.name} scheduler waits for the results "
                f"of running trials {running} before it can start or promote another; tell "
                "them first.")
        raise SearchFinishedError(
            f"Study {self.name!r}: the {self.scheduler.name} scheduler has run everything it "
            f"plans ({self.scheduler!r}).")

    def _resolve_scheduler(self, parallel: bool) -> None:
        """Turn ``scheduler="auto"`` into Hyperband or ASHA; the first decision is stored and
        binds every later run and worker."""
        if not isinstance(self.scheduler, AutoScheduler):
            return
        info = self._storage.get_study(self.name)
        stored = dict((info.settings if info else self._settings).get("scheduler") or {})
        if not stored.get("resolved"):
            stored["resolved"] = "asha" if parallel else "hyperband"
            self._storage.update_settings(self._id, {"scheduler": stored})
        self._settings = {**self._settings, "scheduler": stored}
        self.scheduler = AutoScheduler(self.scheduler.max_epochs, self.scheduler.factor,
                                       stored["resolved"]).choose(parallel)

    def _ask(self, max_trials: int | None) -> Trial | None:
        """Claim a queued trial, continue a paused one the scheduler promotes, or create a
        new one; None when the budget is spent, the space is exhausted or the scheduler has
        nothing to run now (``_scheduled_out``)."""
        storage, now = self._storage, time.time()
        lease = now + self._lease if self._lease else None
        trials = storage.get_trials(self._id)
        if storage.has_queued(self._id):
            record = storage.claim_trial(self._id, self._worker, now, lease=lease)
            if record is not None:
                return self._handle(record)
        allow_new = max_trials is None or len(trials) < max_trials
        if self.scheduler is None and not allow_new:
            return None
        self._scheduled_out = self._exhausted = space_done = False
        for attempt in range(_CLAIM_TRIES):
            budget = bracket = key = None
            if self.scheduler is not None:
                decision = self.scheduler.next(ScheduleContext(trials, self.objectives[0], allow_new))
                if decision is None:
                    self._scheduled_out, self._exhausted = True, space_done
                    return None
                if not decision.is_new:  # continue a paused trial: claim it, and its slot
                    slot = {"claim": decision.key} if decision.key is not None else {}
                    if storage.update_trial(self._id, decision.number, [TrialState.PAUSED],
                                            state=TrialState.RUNNING, budget=decision.budget,
                                            worker=self._worker, finished=None, error=None,
                                            traceback=None, heartbeat=lease, **slot):
                        return self._handle(storage.get_trial(self._id, decision.number))
                    trials = storage.get_trials(self._id)  # another worker was first
                    continue
                budget, bracket, key = decision.budget, decision.bracket, decision.key
            seen = trials if self.scheduler is None else self.scheduler.sampler_trials(
                trials, self.objectives[0], len(self._space.space))
            ctx = SamplingContext(space=self._space.space, trials=seen, objectives=self.objectives,
                                  rng=np.random.default_rng([self.seed, len(trials), attempt]),
                                  seed=self.seed)
            proposal = self.sampler.propose(ctx)
            if proposal is None:
                if self._reload_space():  # other workers found more of the space
                    trials = storage.get_trials(self._id)  # read after the space: consistent
                    continue
                if self.scheduler is not None and allow_new:  # promotions may remain
                    allow_new, space_done = False, True
                    continue
                self._exhausted = True
                return None
            values = self._space.with_values(_checked_values(self._space, proposal)).values
            try:  # the claim on the point (or the slot) makes a second worker look again
                record = storage.create_trial(
                    self._id, values, key=key if key is not None else point_id(values),
                    seed=None, worker=self._worker, max_trials=max_trials, now=now,
                    budget=budget, bracket=bracket, lease=lease)
            except DuplicatePointError:  # another worker took that point: look again
                trials = storage.get_trials(self._id)
                continue
            if record is None:
                return None
            self._clear_checkpoints(record.number)
            return self._handle(record)
        raise RuntimeError(
            f"Study {self.name!r}: could not claim a new point after {_CLAIM_TRIES} tries; "
            "other workers keep taking the same points.")

    def _handle(self, record: FrozenTrial) -> Trial:
        trial = Trial(self, record, self._space.with_values(record.hyperparameters))
        trial._record = record
        trial.base_seed = derive_seed(self.seed, record.number)
        return trial

    def tell(self, trial: "Trial | int", metrics: Any = None, *, state: "str | TrialState | None" = None,
             error: str | None = None) -> FrozenTrial:
        """Record the result of a trial from ``ask``.

        ``metrics`` is the objective value, a dict of metrics, or a list of such dicts (one
        per execution, scored by their mean). ``state="failed"`` (with ``error``) records a
        failure, ``state="pruned"`` an early stop. A result without the objective raises
        ValueError and leaves the trial running, so it can be told again.
        """
        handle = trial if isinstance(trial, Trial) else None
        number = trial.number if isinstance(trial, Trial) else trial
        record = self._storage.get_trial(self._id, number)
        if record.state != TrialState.RUNNING:
            raise ValueError(f"Trial {number} is {record.state.value}, not running; only a "
                             "running trial (from ask) can be told.")
        hp = handle.hp if handle is not None else self._space.with_values(record.hyperparameters)
        state = TrialState(state) if state is not None else None
        if state == TrialState.FAILED:
            return self._finish(record, hp, TrialState.FAILED, error=error or "failed (told by the user)")
        if state == TrialState.PRUNED:
            return self._finish(record, hp, TrialState.PRUNED, error=error)
        if state not in (None, TrialState.COMPLETED):
            raise ValueError(f"tell: state must be 'completed', 'failed' or 'pruned', got {state!r}.")
        if metrics is None:
            raise ValueError(f"tell: trial {number} needs metrics (or state='failed').")
        executions = metrics if isinstance(metrics, list) and metrics and isinstance(metrics[0], dict) \
            else [metrics]
        return self._complete(record, hp, [self._as_metrics(m) for m in executions])

    # -- running --------------------------------------------------------------------------
    def optimize(self, fn: Callable[[Trial], Any], max_trials: int | None = None,
                 timeout: float | None = None, n_jobs: int = 1, executions_per_trial: int = 1,
                 max_retries_per_trial: int = 0, max_consecutive_failed_trials: int | None = 3,
                 callbacks: Sequence[Callable[["Study", FrozenTrial], Any]] | None = None,
                 show_progress: bool = True, *, isolate: bool = False,
                 trial_timeout: float | None = None, devices: Sequence[Any] | None = None,
                 executor: Any = None, heartbeat_timeout: float = 60.0) -> None:
        """Run ``fn(trial)`` for trials until ``max_trials`` trials exist in the study (trials
        of earlier runs count), ``timeout`` seconds pass, or a finite space is exhausted.

        ``fn`` returns the objective value or a dict of metrics. Whatever it raises is
        recorded as a failed trial; ``FailedTrialError`` is not retried, other errors are
        retried up to ``max_retries_per_trial`` times. The search stops (with a logged
        message) after ``max_consecutive_failed_trials`` failed trials in a row. Ctrl-C marks
        the running trials interrupted: run again to resume.

        Parallel and isolated runs (see the README's "Parallel search"):

        - ``n_jobs=N`` runs N trials at once, each in a worker process of its own (``-1``:
          one per CPU); each worker gets an equal share of the CPU threads (torch, OpenMP,
          BLAS). ``devices=[0, 1]`` gives each worker one GPU through
          ``CUDA_VISIBLE_DEVICES`` (and, with ``n_jobs`` left at 1, one worker per device).
        - ``isolate=True`` runs every trial in a fresh process, so its memory goes back to
          the system when it ends.
        - ``trial_timeout`` seconds stops a trial that runs longer and records it as failed
          with the reason "timeout". A trial the system kills for memory is recorded as
          failed with the reason "out of memory".
        - ``executor=tunewise.DaskExecutor(client)`` runs workers on a Dask cluster; they
          write to this study's storage, which must be a database they can reach
          (``isolate`` and ``trial_timeout`` apply within each of them).
        - With a database storage, running trials send heartbeats; a trial whose worker
          stops beating for ``heartbeat_timeout`` seconds (the process died, the machine was
          lost) is run again by another worker, from its checkpoint when it has one. Each such
          retry counts against ``max_retries_per_trial``, and the first is always granted, so
          that a search killed outright resumes where it stopped.

        >>> study = Study("parallel", objective="loss", storage="sqlite:///tune.db")  # doctest: +SKIP
        >>> study.optimize(train, max_trials=40, n_jobs=2, trial_timeout=600)  # doctest: +SKIP
        """
        if not callable(fn):
            raise ValueError(f"optimize needs a callable fn(trial), got {fn!r}.")
        _check_count("max_trials", max_trials, allow_none=True)
        _check_count("executions_per_trial", executions_per_trial)
        _check_count("max_retries_per_trial", max_retries_per_trial, minimum=0)
        _check_count("max_consecutive_failed_trials", max_consecutive_failed_trials, allow_none=True)
        if n_jobs != -1:
            _check_count("n_jobs", n_jobs)
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
        if trial_timeout is not None and (isinstance(trial_timeout, bool) or not isinstance(
                trial_timeout, (int, float)) or trial_timeout <= 0):
            raise ValueError(f"trial_timeout must be a positive number of seconds, got {trial_timeout!r}.")
        if isinstance(heartbeat_timeout, bool) or not isinstance(heartbeat_timeout, (int, float)) \
                or heartbeat_timeout <= 0:
            raise ValueError(f"heartbeat_timeout must be a positive number of seconds, got "
                             f"{heartbeat_timeout!r}.")
        if not isinstance(isolate, bool):
            raise ValueError(f"isolate must be True or False, got {isolate!r}.")
        from .execution import pool

        gpus = pool.check_devices(devices)
        if n_jobs == -1:
            n_jobs = pool.available_cpus()
        elif gpus and n_jobs == 1:
            n_jobs = len(gpus)
        self._resolve_scheduler(parallel=n_jobs > 1 or executor is not None)
        if executor is not None:
            if n_jobs != 1 or gpus:
                raise ValueError("With executor=, the cluster decides where trials run: leave "
                                 "n_jobs and devices at their defaults.")
            if callbacks:
                raise ValueError("callbacks run in this process, and with executor= the trials "
                                 "finish in the cluster's workers; read the results from the "
                                 "study's storage instead (study.trials).")
            executor.run(self, fn, dict(
                max_trials=max_trials, timeout=timeout, executions_per_trial=executions_per_trial,
                max_retries_per_trial=max_retries_per_trial,
                max_consecutive_failed_trials=max_consecutive_failed_trials,
                isolate=isolate, trial_timeout=trial_timeout,
                heartbeat_timeout=heartbeat_timeout), show_progress=show_progress)
            return
        self.stop_reason = None
        self._lease, self._max_retries = float(heartbeat_timeout), max_retries_per_trial
        loop = _Loop(self, max_trials, timeout, max_consecutive_failed_trials, callbacks,
                     Progress(max_trials, enabled=None if show_progress else False))
        try:
            with self._heartbeat():
                self._recover_stale()
                if n_jobs > 1 or isolate or trial_timeout is not None or gpus:
                    self._optimize_in_processes(loop, fn, n_jobs, executions_per_trial,
                                                max_retries_per_trial, isolate, trial_timeout, gpus)
                else:
                    self._optimize_here(loop, fn, executions_per_trial, max_retries_per_trial)
        finally:
            loop.progress.close()
            self._lease = None
        if self._exhausted and self.stop_reason is None:
            self.stop_reason = "the search space is exhausted"

    def _optimize_here(self, loop: "_Loop", fn: Callable[[Trial], Any], executions: int,
                       max_retries: int) -> None:
        """One trial at a time, in this process."""
        while not loop.should_stop():
            trial = self._ask(loop.max_trials)
            if trial is None:
                if self._waiting_for_others():
                    time.sleep(_IDLE_POLL)
                    self._recover_stale()
                    continue
                if self._recover_stale():  # a dead worker's trial is still to run
                    continue
                self.stop_reason = self._why_no_trial(loop.max_trials)
                return
            if loop.finished(self._run(fn, trial, executions, max_retries)):
                return

    def _waiting_for_others(self) -> bool:
        """Trials still running elsewhere may grow the space (define-by-run), a scheduler may
        promote them, and one whose worker dies must be run again by someone: wait for them
        before concluding, so that the search ends with every trial finished."""
        if self._others_running():
            self._exhausted = False
            return True
        return False

    def _why_no_trial(self, max_trials: int | None) -> str:
        if self._exhausted and not self._space.space:
            return "the function defines no hyperparameters, so every trial would be the same"
        if self._exhausted:
            logger.info("Study %r: every point of the search space has been tried.", self.name)
            return "the search space is exhausted"
        if self._scheduled_out and (max_trials is None or len(self.trials) < max_trials):
            return f"the {self.scheduler.name} scheduler has run everything it plans"
        return f"max_trials={max_trials} reached"

    def _run(self, fn: Callable[[Trial], Any], trial: Trial, executions: int,
             max_retries: int) -> FrozenTrial:
        attempts = trial._record.attempts  # a trial run again after its worker died
        try:
            while True:
                results: list[Any] = []
                try:
                    for i in range(executions):
                        trial.execution = i
                        results.append(fn(trial))
                except TrialLost as exc:
                    logger.warning("Trial %d: %s; this worker's run of it stops.", trial.number, exc)
                    return self._storage.get_trial(self._id, trial.number)
                except FailedTrialError as exc:
                    return self._finish(trial._base(), trial.hp, TrialState.FAILED,
                                        error=_error_text(exc), tb=_traceback.format_exc(),
                                        attempts=attempts)
                except SpaceError:
                    self._requeue(trial.number, "the search space definition is invalid")
                    raise
                except FatalError as exc:
                    self._finish(trial._base(), trial.hp, TrialState.FAILED, error=_error_text(exc),
                                 tb=_traceback.format_exc(), attempts=attempts)
                    self.stop_reason = f"trial {trial.number} raised a fatal error: {exc}"
                    raise
                except TrialPruned as exc:
                    return self._finish(trial._base(), trial.hp, TrialState.PRUNED, attempts=attempts,
                                        error=str(exc) or None)
                except (Exception, SystemExit) as exc:
                    if attempts < max_retries:
                        attempts += 1
                        logger.warning("Trial %d raised %s; retry %d of %d.", trial.number,
                                       _error_text(exc), attempts, max_retries)
                        continue
                    record = self._finish(trial._base(), trial.hp, TrialState.FAILED,
                                          error=_error_text(exc), tb=_traceback.format_exc(),
                                          attempts=attempts)
                    logger.warning("Trial %d failed: %s", trial.number, record.error)
                    return record
                try:
                    metrics = [self._as_metrics(r) for r in results]
                except ValueError:
                    self._requeue(trial.number, "the function's result was invalid")
                    raise
                return self._complete(trial._base(), trial.hp, metrics, attempts=attempts)
        except KeyboardInterrupt:
            self._interrupt([trial.number])
            raise

    def _optimize_in_processes(self, loop: "_Loop", fn: Callable[[Trial], Any], n_jobs: int,
                               executions: int, max_retries: int, isolate: bool,
                               trial_timeout: float | None, gpus: list[str] | None) -> None:
        """Up to ``n_jobs`` trials at once, each in a child process (``execution.pool``);
        this process keeps the storage, the sampler and the scheduler."""
        from multiprocessing.connection import wait

        from .execution.pool import ChildProcess, dumps_function, threads_per_worker, wait_time

        payload = dumps_function(fn)
        threads = threads_per_worker(n_jobs)
        slots = [_Slot(gpus[i % len(gpus)] if gpus else None) for i in range(n_jobs)]

        def start(slot: _Slot, trial: Trial, attempts: int) -> None:
            if slot.child is None:
                slot.child = ChildProcess(payload, threads, slot.device)
            slot.trial, slot.attempts = trial, attempts
            slot.deadline = time.monotonic() + trial_timeout if trial_timeout else None
            task = {"number": trial.number, "hp": trial.hp.get_config(), "seed": trial.base_seed,
                    "budget": trial.budget, "rungs": dict(trial._record.rungs),
                    "intermediate": dict(trial._intermediate), "executions": executions,
                    "checkpoint_root": self.checkpoint_root, "objective": self.objectives[0].name}
            if not slot.child.send(("run", task)):
                slot.child.kill()  # it died while idle: a fresh one takes the trial
                slot.child = ChildProcess(payload, threads, slot.device)
                slot.child.send(("run", task))

        def end(slot: _Slot, record: FrozenTrial | None) -> bool:
            """The slot's trial is over; True when the search should stop."""
            if isolate and slot.child is not None:
                slot.child.stop()
                slot.child = None
            slot.trial = slot.deadline = None
            return record is not None and loop.finished(record)

        def retry_or_fail(slot: _Slot, error: str, tb: str | None, hp: HyperParameters) -> bool:
            trial = slot.trial
            assert trial is not None
            if slot.attempts < max_retries:
                logger.warning("Trial %d: %s; retry %d of %d.", trial.number, error,
                               slot.attempts + 1, max_retries)
                start(slot, trial, slot.attempts + 1)
                return False
            record = self._finish(trial._base(), hp, TrialState.FAILED, error=error, tb=tb,
                                  attempts=slot.attempts)
            logger.warning("Trial %d failed: %s", trial.number, error)
            return end(slot, record)

        def handle(slot: _Slot) -> bool:
            """Read one message from the slot's process; True when the search should stop."""
            child, trial = slot.child, slot.trial
            assert child is not None and trial is not None
            try:
                message = child.conn.recv()
            except (EOFError, OSError):  # the process died mid-trial
                error = child.death()
                child.close()
                slot.child = None
                if error.startswith("out of memory"):
                    record = self._finish(trial._base(), trial.hp, TrialState.FAILED, error=error,
                                          attempts=slot.attempts)
                    logger.warning("Trial %d failed: %s", trial.number, error)
                    return end(slot, record)
                return retry_or_fail(slot, error, None, trial.hp)
            kind = message[0]
            if kind == "ready":
                return False
            if kind == "init_error":
                self._requeue(trial.number, "the function could not be loaded in a worker")
                raise RuntimeError(
                    f"The function could not be loaded in a trial process: {message[1]}. Define "
                    "it in a module or script that the worker can import, or use n_jobs=1.\n"
                    f"{message[2]}")
            if kind == "report":
                try:
                    self._report(trial, message[1], message[2])
                    answer: tuple[str, str | None] = ("go", None)
                except TrialPruned as exc:
                    answer = ("prune", str(exc))
                except TrialLost as exc:
                    answer = ("lost", str(exc))
                child.send(answer)
                return False
            if kind == "lost":
                logger.warning("Trial %d was taken over by another worker; this worker's run of "
                               "it stopped.", trial.number)
                return end(slot, None)
            hp = HyperParameters.from_config(message[-1])
            if kind == "done":
                try:
                    metrics = [self._as_metrics(r) for r in message[1]]
                except ValueError:
                    self._requeue(trial.number, "the function's result was invalid")
                    raise
                return end(slot, self._complete(trial._base(), hp, metrics, attempts=slot.attempts))
            _, what, type_name, text, tb, _config = message
            error = f"{type_name}: {_ANSI.sub('', text)}" if text else type_name
            if what == "failed":
                return end(slot, self._finish(trial._base(), hp, TrialState.FAILED, error=error,
                                              tb=tb, attempts=slot.attempts))
            if what == "pruned":
                return end(slot, self._finish(trial._base(), hp, TrialState.PRUNED,
                                              error=text or None, attempts=slot.attempts))
            if what == "memory":
                return end(slot, self._finish(trial._base(), hp, TrialState.FAILED,
                                              error=f"out of memory: {error}", tb=tb,
                                              attempts=slot.attempts))
            if what == "fatal":
                self._finish(trial._base(), hp, TrialState.FAILED, error=error, tb=tb,
                             attempts=slot.attempts)
                self.stop_reason = f"trial {trial.number} raised a fatal error: {text}"
                raise FatalError(f"{text} (raised in trial {trial.number}; its traceback is in "
                                 "the trial's record)")
            if what == "space":
                self._requeue(trial.number, "the search space definition is invalid")
                raise SpaceError(text)
            return retry_or_fail(slot, error, tb, hp)

        try:
            while True:
                busy = [s for s in slots if s.trial is not None]
                idle = [s for s in slots if s.trial is None]
                waiting = False
                while idle and not loop.should_stop():
                    trial = self._ask(loop.max_trials)
                    if trial is None:
                        if busy or self._waiting_for_others():
                            self._exhausted = False
                            waiting = True  # results still to come may allow more
                        elif self._recover_stale():  # a dead worker's trial is still to run
                            continue
                        else:
                            self.stop_reason = self._why_no_trial(loop.max_trials)
                            loop.stopped = True
                        break
                    slot = idle.pop(0)
                    start(slot, trial, trial._record.attempts)
                    busy.append(slot)
                if not busy:
                    if loop.stopped or loop.should_stop():
                        return
                    time.sleep(_IDLE_POLL)  # other workers hold the last trials
                    self._recover_stale()
                    continue
                ready = wait([s.child.conn for s in busy if s.child is not None],
                             timeout=wait_time([s.deadline for s in busy],
                                               _IDLE_POLL if waiting else 1.0))
                for slot in busy:
                    if slot.child is not None and slot.child.conn in ready:
                        if handle(slot):
                            loop.stopped = True
                now = time.monotonic()
                for slot in busy:
                    if slot.trial is not None and slot.deadline is not None and now >= slot.deadline:
                        assert slot.child is not None
                        slot.child.kill()
                        slot.child = None
                        trial = slot.trial
                        error = f"timeout: ran longer than trial_timeout={trial_timeout:g} s"
                        logger.warning("Trial %d failed: %s", trial.number, error)
                        if end(slot, self._finish(trial._base(), trial.hp, TrialState.FAILED,
                                                  error=error, attempts=slot.attempts)):
                            loop.stopped = True
        except BaseException:
            self._interrupt([s.trial.number for s in slots if s.trial is not None])
            raise
        finally:
            for slot in slots:
                if slot.child is not None:
                    if slot.trial is None:
                        slot.child.stop()
                    else:
                        slot.child.kill()

    def _interrupt(self, numbers: Sequence[int]) -> None:
        """Trials this worker stops without a result run again on resume."""
        for number in numbers:
            self._storage.update_trial(self._id, number, [TrialState.RUNNING], owner=self._worker,
                                       state=TrialState.INTERRUPTED,
                                       error="interrupted (Ctrl-C or an error elsewhere in the "
                                             "search); it runs again on resume")

    def _others_running(self) -> bool:
        return any(t.state == TrialState.RUNNING and t.worker != self._worker
                   for t in self._storage.get_trials(self._id))

    def _requeue(self, number: int, why: str) -> None:
        self._storage.update_trial(self._id, number, [TrialState.RUNNING], state=TrialState.WAITING,
                                   started=None, error=f"not run: {why}")

    @contextlib.contextmanager
    def _heartbeat(self) -> Iterator[None]:
        """While optimize runs on a database storage, a thread renews the lease of this
        worker's running trials, and takes over the trials of workers that stopped beating."""
        if not self._storage.shared or not self._lease:
            yield
            return
        lease, stop = self._lease, threading.Event()

        def beat() -> None:
            while not stop.wait(lease / 4):
                try:
                    self._storage.renew_leases(self._id, self._worker, time.time() + lease)
                    self._recover_stale()
                except Exception as exc:  # noqa: BLE001 - a lost connection: try again next beat
                    logger.debug("heartbeat of study %r failed: %s", self.name, exc)

        thread = threading.Thread(target=beat, name="tunewise-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _recover_stale(self) -> int:
        """Trials whose worker died run again: a process of this host that is gone, or any
        worker whose heartbeat lease has expired. Each time counts as a retry; past
        ``max(1, max_retries_per_trial)`` of them the trial is failed. Returns how many
        trials were made to run again."""
        now = time.time()
        expired = set(self._storage.expired_trials(self._id, now)) if self._storage.shared else set()
        allowed = max(1, self._max_retries)
        again = 0
        for t in self._storage.get_trials(self._id):
            if t.state != TrialState.RUNNING or t.worker == self._worker:
                continue
            if _worker_is_dead(t.worker):
                why = f"its worker (process {_worker_pid(t.worker)}) died"
            elif t.number in expired:
                why = f"its worker ({t.worker}) stopped sending heartbeats"
            else:
                continue
            attempts = t.attempts + 1
            if attempts > allowed:
                fields: dict[str, Any] = dict(
                    state=TrialState.FAILED, finished=now,
                    error=f"{why}; it was retried {t.attempts} times already "
                          f"(max_retries_per_trial={self._max_retries})")
            else:
                fields = dict(state=TrialState.INTERRUPTED, error=f"{why}; it runs again")
            if self._storage.update_trial(self._id, t.number, [TrialState.RUNNING], owner=t.worker,
                                          attempts=attempts, **fields):
                logger.info("Trial %d: %s.", t.number, fields["error"])
                again += fields["state"] == TrialState.INTERRUPTED
        return again

    # -- recording results ----------------------------------------------------------------
    def _as_metrics(self, result: Any) -> dict[str, Any]:
        """Turn what the function returned into a dict of metrics, or raise ValueError."""
        names = [o.name for o in self.objectives]
        if result is None:
            raise ValueError(
                f"The function returned None; return the value of {names[0]!r} or a dict of "
                f"metrics that includes {names}.")
        if isinstance(result, dict):
            metrics = dict(result)
        elif isinstance(result, (list, tuple)) and len(result) == len(names) and len(names) > 1:
            metrics = dict(zip(names, result))
        elif len(names) == 1:
            metrics = {names[0]: result}
        else:
            raise ValueError(
                f"This study has objectives {names}; return a dict of metrics with each of them "
                f"(got {type(result).__name__}).")
        missing = [n for n in names if n not in metrics]
        if missing:
            raise ValueError(
                f"The trial's result has no metric {missing[0]!r} (it has {sorted(metrics)}); "
                f"return it, or create the study with objective= one of those metrics.")
        for name, value in metrics.items():
            to_number(name, value)
        return metrics

    def _complete(self, base: FrozenTrial, hp: HyperParameters, executions: list[dict[str, Any]],
                  attempts: int = 0) -> FrozenTrial:
        names = [o.name for o in self.objectives]
        for i, metrics in enumerate(executions):
            for name in names:
                value = to_number(name, metrics[name])
                if not math.isfinite(value):
                    which = f" in execution {i + 1}" if len(executions) > 1 else ""
                    return self._finish(base, hp, TrialState.FAILED, attempts=attempts,
                                        error=f"diverged: objective {name!r} is {value}{which}",
                                        executions=[check_metrics(m) for m in executions])
        clean = [check_metrics(m) for m in executions]
        if len(clean) == 1:
            mean = clean[0]
        else:
            mean = {}
            for key in clean[0]:
                values = [m[key] for m in clean if m.get(key) is not None]
                mean[key] = statistics.fmean(values) if values else None
        scores, stds = [], []
        for name in names:
            values = [m[name] for m in clean]
            scores.append(statistics.fmean(values))
            stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
        multi = len(names) > 1
        score = tuple(scores) if multi else scores[0]
        state, rungs = TrialState.COMPLETED, {}
        if self.scheduler is not None:  # a run to a rung below the largest budget pauses
            state = self.scheduler.state_after(base.budget)
            if base.budget is not None:
                rungs = {"rungs": {**base.rungs, base.budget: score}}
        return self._finish(base, hp, state, metrics=mean, score=score,
                            score_std=tuple(stds) if multi else stds[0],
                            executions=clean if len(clean) > 1 else [], attempts=attempts, **rungs)

    def _finish(self, base: FrozenTrial, hp: HyperParameters, state: TrialState, *,
                error: str | None = None, tb: str | None = None, attempts: int = 0,
                **fields: Any) -> FrozenTrial:
        """Record the end of a running trial; return its record as now stored."""
        number = base.number
        added = self._space.merge(hp.space)
        stored = dict(fields)
        if added:
            stored["space"] = [h.get_config() for h in self._space.space]
        for key in ("score", "score_std"):
            if isinstance(stored.get(key), tuple):
                stored[key] = list(stored[key])
        done = dict(state=state, hyperparameters=hp.values, error=error, traceback=tb,
                    attempts=attempts, finished=time.time(), seed=derive_seed(self.seed, number))
        owner = self._worker if base.worker == self._worker else None  # not if taken over
        ok = self._storage.update_trial(self._id, number, [TrialState.RUNNING], owner=owner,
                                        **done, **stored)
        if added:
            self._reload_space()  # and learn what other workers found meanwhile
        if not ok:
            logger.warning("Trial %d was no longer running when its result arrived; the result "
                           "was not recorded.", number)
            return self._storage.get_trial(self._id, number)
        # what was just written, without reading it back
        return dataclasses.replace(base, params_key=point_id(done["hyperparameters"]),
                                   **done, **fields)

    def _report(self, trial: Trial, step: int, metrics: dict[str, Any]) -> None:
        owner = self._worker if trial._record.worker == self._worker else None
        if not self._storage.add_step(self._id, trial.number, step, metrics, owner=owner):
            raise TrialLost(f"trial {trial.number} was taken over by another worker (this "
                            "worker's heartbeat lease ran out)")
        trial._intermediate[step] = metrics
        # Only a scheduler that stops trials mid-run reads the history here.
        if self.scheduler is not None and type(self.scheduler).should_prune is not Scheduler.should_prune:
            ctx = ScheduleContext(self._storage.get_trials(self._id), self.objectives[0])
            why = self.scheduler.should_prune(ctx, trial._base(), step)
            if why:
                raise TrialPruned(f"pruned at step {step}: {why}")

    # -- results --------------------------------------------------------------------------
    def _completed(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state == TrialState.COMPLETED and t.score is not None]

    def _rank_key(self, t: FrozenTrial) -> tuple[float, int]:
        score = float(t.score)  # type: ignore[arg-type]
        return (-score if self.direction == "max" else score, t.number)

    def best_trials(self, n: int | None = None) -> list[FrozenTrial]:
        """The best completed trials, best first. For a multi-objective study, the Pareto
        front (trials that no other trial beats on every objective), by the first objective.
        ``n`` keeps the first n."""
        done = self._completed()
        if self.is_multi_objective:
            ranked = sorted(_pareto_front(done, self.objectives),
                            key=lambda t: (-t.score[0] if self.objectives[0].direction == "max"  # type: ignore[index]
                                           else t.score[0], t.number))  # type: ignore[index]
        else:
            ranked = sorted(done, key=self._rank_key)
        return ranked if n is None else ranked[:n]

    @property
    def best_trial(self) -> FrozenTrial:
        """The best completed trial of a single-objective study."""
        if self.is_multi_objective:
            raise ValueError(
                f"Study {self.name!r} has {len(self.objectives)} objectives, so no single best "
                "trial; use study.best_trials() for the Pareto front.")
        best = self.best_trials(1)
        if not best:
            raise ValueError(f"Study {self.name!r} has no completed trial yet.")
        return best[0]

    def best_hyperparameters(self, n: int = 1) -> list[HyperParameters]:
        """The hyperparameters of the ``n`` best trials, best first."""
        return [self._space.with_values(t.hyperparameters) for t in self.best_trials(n)]

    def _best_text(self) -> str | None:
        if self.is_multi_objective:
            return None
        best = self.best_trials(1)
        return f"{best[0].score:.6g} (trial {best[0].number})" if best else None

    def _rows(self) -> tuple[list[str], list[dict[str, Any]]]:
        trials = self.trials
        hp_names: list[str] = list(dict.fromkeys(
            [hp.name for hp in self._space.space] + [k for t in trials for k in t.hyperparameters]))
        metric_names = list(dict.fromkeys(k for t in trials for k in t.metrics))
        fixed = {"number", "state", "score", "score_std", "n_executions", "duration", "error"}
        taken = fixed | set(hp_names)
        metric_cols = {m: (f"metric_{m}" if m in taken else m) for m in metric_names}
        names = [o.name for o in self.objectives]
        if self.is_multi_objective:
            score_cols = [f"score_{n}" for n in names] + [f"score_std_{n}" for n in names]
        else:
            score_cols = ["score", "score_std"]
        scheduled = ["budget", "stopped"] if self.scheduler is not None else []
        columns = (["number", "state"] + hp_names + list(metric_cols.values()) + score_cols
                   + scheduled + ["n_executions", "duration", "error"])
        rows = []
        for t in trials:
            row: dict[str, Any] = {"number": t.number, "state": t.state.value}
            row.update({h: t.hyperparameters.get(h) for h in hp_names})
            row.update({metric_cols[m]: t.metrics.get(m) for m in metric_names})
            if self.is_multi_objective:
                for i, n in enumerate(names):
                    row[f"score_{n}"] = t.score[i] if t.score is not None else None  # type: ignore[index]
                    row[f"score_std_{n}"] = t.score_std[i] if t.score_std is not None else None  # type: ignore[index]
            else:
                row["score"], row["score_std"] = t.score, t.score_std
            if scheduled:  # how far it trained, and whether the scheduler stopped it short
                row["budget"] = t.budget_reached
                row["stopped"] = t.state in (TrialState.PAUSED, TrialState.PRUNED)
            row["n_executions"] = len(t.executions) or (1 if t.state in (TrialState.COMPLETED, TrialState.PAUSED) else 0)
            row["duration"] = t.duration
            row["error"] = t.error
            rows.append(row)
        return columns, rows

    def _step_rows(self) -> tuple[list[str], list[dict[str, Any]]]:
        trials = self.trials
        metric_names = list(dict.fromkeys(k for t in trials for m in t.intermediate.values() for k in m))
        metric_cols = {m: (f"metric_{m}" if m in ("number", "state", "step") else m) for m in metric_names}
        rows = []
        for t in trials:
            for step, metrics in t.intermediate.items():
                row: dict[str, Any] = {"number": t.number, "state": t.state.value, "step": step}
                row.update({metric_cols[m]: metrics.get(m) for m in metric_names})
                rows.append(row)
        return ["number", "state", "step"] + list(metric_cols.values()), rows

    def to_dataframe(self, steps: bool = False) -> Any:
        """One row per trial: number, state, each hyperparameter, each metric, score, its
        spread over executions, duration and error (needs pandas). With a scheduler, also
        ``budget`` (the step it trained to) and ``stopped`` (paused or pruned short of the
        end).

        ``steps=True`` gives the intermediate results instead, one row per trial and
        reported step: number, state, step and each reported metric (learning curves).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas") from None
        columns, rows = self._step_rows() if steps else self._rows()
        return pd.DataFrame(rows, columns=columns)

    def report(self, path: "str | os.PathLike[str]" = "report.html", metric: str | None = None) -> str:
        """Write a self-contained HTML report of this study (summary, figures, sortable table;
        see ``tunewise.report``) to ``path``; return the path. Needs plotly."""
        from .report import write_report

        return write_report(self, path, metric=metric)

    def to_csv(self, path_or_file: "str | os.PathLike[str] | IO[str]", steps: bool = False) -> None:
        """Write ``to_dataframe(steps)``'s table as CSV to a path or an open text file (no
        pandas needed)."""
        import csv

        columns, rows = self._step_rows() if steps else self._rows()

        def write(f: IO[str]) -> None:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

        if hasattr(path_or_file, "write"):
            write(path_or_file)  # type: ignore[arg-type]
        else:
            with open(path_or_file, "w", newline="") as f:  # type: ignore[arg-type]
                write(f)

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, storage={self._storage.url!r})"


class _Loop:
    """What the ways of running trials share: the stop conditions, the callbacks and the
    progress display."""

    def __init__(self, study: Study, max_trials: int | None, timeout: float | None,
                 max_failed: int | None, callbacks: Sequence[Callable[[Study, FrozenTrial], Any]] | None,
                 progress: Progress) -> None:
        self.study, self.max_trials, self.timeout = study, max_trials, timeout
        self.max_failed, self.callbacks, self.progress = max_failed, list(callbacks or ()), progress
        self.start = time.monotonic()
        self.failed_in_a_row: list[FrozenTrial] = []
        self.new = 0
        self.stopped = False

    def should_stop(self) -> bool:
        """True once no new trial should start (running ones still finish)."""
        if not self.stopped and self.study._stop_requested is not None and self.study._stop_requested():
            self.study.stop_reason = "another worker stopped the search"
            self.stopped = True
        if not self.stopped and self.timeout is not None and time.monotonic() - self.start >= self.timeout:
            self.study.stop_reason = f"timeout of {self.timeout} s reached"
            self.stopped = True
        return self.stopped

    def finished(self, record: FrozenTrial) -> bool:
        """Count a finished run; True when the search should stop."""
        study = self.study
        self.new += 1
        for callback in self.callbacks:
            callback(study, record)
        self.failed_in_a_row = self.failed_in_a_row + [record] if record.state == TrialState.FAILED else []
        if self.progress.enabled:
            self.progress.update(sum(t.state.is_finished for t in study.trials), study._best_text(),
                                 self.new)
        if self.max_failed and len(self.failed_in_a_row) >= self.max_failed:
            errors = "; ".join(f"trial {t.number}: {t.error}" for t in self.failed_in_a_row[-3:])
            study.stop_reason = (f"{len(self.failed_in_a_row)} consecutive trials failed "
                                 f"(max_consecutive_failed_trials={self.max_failed})")
            logger.error("Study %r stopped: %s. Last errors: %s", study.name, study.stop_reason, errors)
            self.stopped = True
        return self.stopped


class _Slot:
    """One worker of ``optimize(n_jobs=...)``: its process, and the trial it runs."""

    def __init__(self, device: str | None) -> None:
        self.device = device
        self.child: Any = None
        self.trial: Trial | None = None
        self.attempts = 0
        self.deadline: float | None = None

def load_study(name: str, storage: "str | BaseStorage") -> Study:
    """Open an existing study with its stored settings.

    >>> study = load_study("mnist", "sqlite:///tunewise.db")  # doctest: +SKIP
    """
    store = get_storage(storage)
    info = store.get_study(name)
    if info is None:
        known = ", ".join(repr(s.name) for s in store.list_studies()) or "none"
        raise KeyError(f"No study named {name!r} in {store.url} (studies there: {known}).")
    settings = info.settings
    sampler = settings["sampler"]
    hps = None
    if settings.get("hyperparameters"):
        hps = HyperParameters()
        for config in settings["hyperparameters"]:
            hps.declare(_types.from_config(config))
    return Study(name, objective=[Objective(**o) for o in settings["objectives"]], storage=store,
                 sampler=sampler_from_config(sampler),
                 scheduler=scheduler_from_config(settings.get("scheduler")), seed=settings["seed"],
                 hyperparameters=hps)


def _checked_values(space: HyperParameters, proposal: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in proposal.items():
        if name not in space:
            raise ValueError(f"The sampler proposed {name!r}, which is not in the search space.")
        out[name] = space._space[name].cast(value)
    return out


def _check_count(name: str, value: Any, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{' or None' if allow_none else ''}, "
                         f"got {value!r}.")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _error_text(exc: BaseException) -> str:
    message = _ANSI.sub("", str(exc))  # Keras colours its messages for terminals
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _space_text(configs: list[dict[str, Any]] | None) -> str:
    if not configs:
        return "no declared hyperparameters"
    return "[" + ", ".join(_types.from_config(c).describe() for c in configs) + "]"


def _dominates(a: Sequence[float], b: Sequence[float], objectives: list[Objective]) -> bool:
    better_somewhere = False
    for x, y, o in zip(a, b, objectives):
        if o.better(y, x):
            return False
        if o.better(x, y):
            better_somewhere = True
    return better_somewhere


def _pareto_front(trials: Iterable[FrozenTrial], objectives: list[Objective]) -> list[FrozenTrial]:
    trials = list(trials)
    return [t for t in trials
            if not any(_dominates(o.score, t.score, objectives) for o in trials if o is not t)]  # type: ignore[arg-type]
