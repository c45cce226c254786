"""In-memory storage: fast, for one process; gone when the process ends."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from typing import Any, Iterable

from ..space import point_id
from ..trial import QUEUED_STATES, FrozenTrial, TrialState
from .base import BaseStorage, DuplicatePointError, StudyExistsError, StudyInfo


def _copy(value: Any) -> Any:
    """A copy of JSON-like data (dicts and lists of scalars), cheaper than deepcopy."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class InMemoryStorage(BaseStorage):
    """Studies held in this process's memory (``storage=None``)."""

    url = "memory"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._studies: dict[str, StudyInfo] = {}
        self._trials: dict[int, list[FrozenTrial]] = {}
        self._keys: dict[int, set[str]] = {}
        self._claims: dict[int, set[str]] = {}
        self._queued: dict[int, set[int]] = {}
        self._next_id = 1

    def create_study(self, name, settings, space):
        with self._lock:
            if name in self._studies:
                raise StudyExistsError(name)
            info = StudyInfo(self._next_id, name, copy.deepcopy(settings), copy.deepcopy(space),
                             time.time(), 0)
            self._next_id += 1
            self._studies[name] = info
            self._trials[info.id] = []
            self._keys[info.id] = set()
            return self.get_study(name)

    def get_study(self, name):
        with self._lock:
            info = self._studies.get(name)
            if info is None:
                return None
            # copies, as SQL storage returns: the caller may change them
            return dataclasses.replace(info, settings=_copy(info.settings), space=_copy(info.space),
                                       n_trials=len(self._trials[info.id]))

    def list_studies(self):
        with self._lock:
            return [self.get_study(n) for n in self._studies]

    def delete_study(self, name):
        with self._lock:
            info = self._studies.pop(name, None)
            if info is not None:
                del self._trials[info.id], self._keys[info.id]
                self._claims.pop(info.id, None)
                self._queued.pop(info.id, None)

    def update_settings(self, study_id, changes):
        with self._lock:
            for name, info in self._studies.items():
                if info.id == study_id:
                    settings = {**info.settings, **copy.deepcopy(changes)}
                    self._studies[name] = dataclasses.replace(info, settings=settings)
                    return
            raise KeyError(f"Study {study_id} no longer exists.")

    def merge_space(self, study_id, space):
        with self._lock:
            for name, info in self._studies.items():
                if info.id == study_id:
                    names = {c["config"]["name"] for c in info.space}
                    merged = info.space + [copy.deepcopy(c) for c in space
                                           if c["config"]["name"] not in names]
                    self._studies[name] = dataclasses.replace(info, space=merged)
                    return copy.deepcopy(merged)
            raise KeyError(f"Study {study_id} no longer exists.")

    def create_trial(self, study_id, params, *, key, seed, worker, max_trials,
                     state=TrialState.RUNNING, now, budget=None, bracket=None, lease=None):
        with self._lock:
            trials = self._trials[study_id]
            if max_trials is not None and len(trials) >= max_trials:
                return None
            if key is not None:
                if key in self._keys[study_id]:
                    raise DuplicatePointError(key)
                self._keys[study_id].add(key)
            params = dict(params)
            record = FrozenTrial(number=len(trials), state=TrialState(state), hyperparameters=params,
                                 seed=seed, worker=worker, key=key, params_key=point_id(params),
                                 started=now if state == TrialState.RUNNING else None,
                                 budget=budget, bracket=bracket,
                                 heartbeat=lease if state == TrialState.RUNNING else None)
            trials.append(record)
            self._track(study_id, record)
            return record

    def claim_trial(self, study_id, worker, now, lease=None):
        with self._lock:
            for record in self._trials[study_id]:
                if record.state in QUEUED_STATES:
                    new = dataclasses.replace(record, state=TrialState.RUNNING, worker=worker,
                                              started=now, finished=None, error=None,
                                              traceback=None, heartbeat=lease)
                    self._trials[study_id][record.number] = new
                    self._track(study_id, new)
                    return new
            return None

    def update_trial(self, study_id, number, expected: Iterable[TrialState], *,
                     owner: str | None = None, **fields: Any):
        with self._lock:
            record = self._trials[study_id][number]
            if record.state not in tuple(expected) or (owner is not None and record.worker != owner):
                return False
            claim = fields.pop("claim", None)
            if claim is not None:
                claims = self._claims.setdefault(study_id, set())
                if claim in claims:
                    return False
                claims.add(claim)
            space = fields.pop("space", None)
            if space:
                self.merge_space(study_id, space)
            fields = {k: _copy(v) for k, v in fields.items()}
            if "state" in fields:
                fields["state"] = TrialState(fields["state"])
            if "hyperparameters" in fields:
                fields["params_key"] = point_id(fields["hyperparameters"])
            for name in ("score", "score_std"):  # as SQL storage reads them back
                if isinstance(fields.get(name), list):
                    fields[name] = tuple(fields[name])
            if "rungs" in fields:
                fields["rungs"] = {int(b): tuple(v) if isinstance(v, list) else v
                                   for b, v in fields["rungs"].items()}
            new = self._trials[study_id][number] = dataclasses.replace(record, **fields)
            self._track(study_id, new)
            return True

    def add_step(self, study_id, number, step, metrics, owner=None):
        with self._lock:
            record = self._trials[study_id][number]
            if owner is not None and (record.state != TrialState.RUNNING or record.worker != owner):
                return False
            intermediate = dict(record.intermediate)
            intermediate[step] = dict(metrics)
            intermediate = dict(sorted(intermediate.items()))  # by step, as SQL storage reads them
            self._trials[study_id][number] = dataclasses.replace(record, intermediate=intermediate)
            return True

    def renew_leases(self, study_id, worker, until):
        with self._lock:
            trials = self._trials[study_id]
            numbers = [t.number for t in trials if t.state == TrialState.RUNNING and t.worker == worker]
            for n in numbers:
                trials[n] = dataclasses.replace(trials[n], heartbeat=until)
            return numbers

    def expired_trials(self, study_id, now):
        with self._lock:
            return [t.number for t in self._trials[study_id] if t.state == TrialState.RUNNING
                    and t.heartbeat is not None and t.heartbeat < now]

    def has_queued(self, study_id):
        with self._lock:
            return bool(self._queued.get(study_id))

    def _track(self, study_id: int, record: FrozenTrial) -> None:
        queued = self._queued.setdefault(study_id, set())
        if record.state in QUEUED_STATES:
            queued.add(record.number)
        else:
            queued.discard(record.number)

    def get_trials(self, study_id):
        with self._lock:
            return list(self._trials[study_id])
