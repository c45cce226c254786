"""The storage interface: the single source of truth for studies and trials.

Every method that writes is atomic. Creating a trial checks the trial budget and claims its
point in one step, so parallel workers never exceed ``max_trials`` nor run one grid point
twice; a state change names the state it expects, so two workers never both finish or
claim one trial.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Iterable

from ..trial import QUEUED_STATES, FrozenTrial, TrialState


class DuplicatePointError(Exception):
    """The point was already claimed by another trial of the study."""


class StudyExistsError(Exception):
    """A study of that name already exists."""


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    settings: dict[str, Any]
    space: list[dict[str, Any]]
    created: float
    n_trials: int


class BaseStorage(abc.ABC):
    """Implemented by ``InMemoryStorage`` and ``SQLStorage`` (SQLite, PostgreSQL)."""

    url: str
    #: whether other processes can open the same studies (a database, not this process's memory)
    shared: bool = False

    # -- studies --------------------------------------------------------------------------
    @abc.abstractmethod
    def create_study(self, name: str, settings: dict[str, Any], space: list[dict[str, Any]]
                     ) -> StudyInfo:
        """Create a study; ``StudyExistsError`` if the name is taken."""

    @abc.abstractmethod
    def get_study(self, name: str) -> StudyInfo | None:
        """The study named ``name``, or None."""

    @abc.abstractmethod
    def list_studies(self) -> list[StudyInfo]:
        """Every study, oldest first."""

    @abc.abstractmethod
    def delete_study(self, name: str) -> None:
        """Delete a study and its trials (no error if it does not exist)."""

    @abc.abstractmethod
    def update_settings(self, study_id: int, changes: dict[str, Any]) -> None:
        """Set top-level keys of the study's stored settings (such as ``run``, what
        ``tunewise run`` runs, so that ``tunewise worker`` can join), atomically."""

    @abc.abstractmethod
    def merge_space(self, study_id: int, space: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add the hyperparameter definitions of ``space`` whose names are new to the study's
        stored space, atomically; return the merged space."""

    # -- trials ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_trial(self, study_id: int, params: dict[str, Any], *, key: str | None,
                     seed: int, worker: str | None, max_trials: int | None,
                     state: TrialState = TrialState.RUNNING, now: float,
                     budget: int | None = None, bracket: int | None = None,
                     lease: float | None = None) -> FrozenTrial | None:
        """Create the next trial, numbered from 0. Returns None when the study already holds
        ``max_trials`` trials. Raises ``DuplicatePointError`` when ``key`` is not None and
        another trial of the study claimed it. ``budget`` and ``bracket`` are a scheduler's
        (the step the first run trains to, and its bracket); ``lease`` is when a running
        trial's heartbeat expires (see ``renew_leases``)."""

    @abc.abstractmethod
    def claim_trial(self, study_id: int, worker: str | None, now: float,
                    lease: float | None = None) -> FrozenTrial | None:
        """Atomically move the lowest-numbered waiting or interrupted trial to running (with
        its heartbeat lease until ``lease``) and return it; None when there is none."""

    @abc.abstractmethod
    def update_trial(self, study_id: int, number: int, expected: Iterable[TrialState], *,
                     owner: str | None = None, **fields: Any) -> bool:
        """Set ``fields`` on the trial if its state is one of ``expected`` (and, with
        ``owner``, its worker is ``owner``: a worker that was presumed dead cannot overwrite
        the run that replaced it); False if not.
        Fields: state, hyperparameters, metrics, score, score_std, executions, error,
        traceback, started, finished, worker, attempts, seed, budget, bracket, rungs, heartbeat;
        ``claim``, a key claimed for good in the same step (False, and nothing changed, if
        the study's trials or claims hold it already: how a promotion takes its slot); and
        ``space``, hyperparameter definitions merged into the study's space in the same
        transaction, so that no other worker sees the trial's values without their
        definitions."""

    @abc.abstractmethod
    def add_step(self, study_id: int, number: int, step: int, metrics: dict[str, Any],
                 owner: str | None = None) -> bool:
        """Record intermediate metrics (replacing an earlier report of the same step). With
        ``owner``, only while the trial runs on that worker; returns whether it was recorded."""

    @abc.abstractmethod
    def renew_leases(self, study_id: int, worker: str, until: float) -> list[int]:
        """The heartbeat: extend to ``until`` the lease of every trial running on ``worker``;
        return their numbers."""

    @abc.abstractmethod
    def expired_trials(self, study_id: int, now: float) -> list[int]:
        """Running trials whose lease ended before ``now``: their worker stopped beating (it
        died, or its machine was lost). Read fresh, never from a cache."""

    @abc.abstractmethod
    def get_trials(self, study_id: int) -> list[FrozenTrial]:
        """Every trial of the study, by number."""

    def has_queued(self, study_id: int) -> bool:
        """Whether a waiting or interrupted trial existed at the last ``get_trials`` (True
        when unsure): a cheap test before trying ``claim_trial``."""
        return any(t.state in QUEUED_STATES for t in self.get_trials(study_id))

    def get_trial(self, study_id: int, number: int) -> FrozenTrial:
        trials = self.get_trials(study_id)
        if not 0 <= number < len(trials):
            raise KeyError(f"Trial {number} does not exist (the study has {len(trials)} trials).")
        return trials[number]

    def close(self) -> None:
        """Release connections."""
