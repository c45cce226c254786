"""Exceptions that users raise or catch."""

from __future__ import annotations


class TunewiseError(Exception):
    """Base class of tunewise's own exceptions."""


class FailedTrialError(TunewiseError):
    """Raise inside a training function to fail the trial without a retry.

    The trial is recorded as failed with this exception's message.

    >>> def train(trial):
    ...     if trial.hp.Int("layers", 1, 8) > 6:
    ...         raise FailedTrialError("too deep for this GPU")
    ...     return 0.9
    """


class FatalError(TunewiseError):
    """Raise inside a training function to stop the whole search: the trial is recorded as
    failed with this message, and the exception propagates out of ``optimize``. For a mistake
    every trial would repeat (a missing metric, a wrong argument), where retrying or going on
    would only fail again.

    >>> def train(trial):
    ...     raise FatalError("the data has no 'val_accuracy' column")
    """


class TrialPruned(TunewiseError):
    """Raised by ``trial.report`` when the scheduler stops the trial early."""


class SpaceError(ValueError):
    """An invalid hyperparameter definition: the fix is in the user's code."""


class SearchFinishedError(TunewiseError):
    """``study.ask()`` has nothing more to hand out: the scheduler ran all its brackets, or
    the search space is exhausted."""


class SpaceExhaustedError(SearchFinishedError):
    """Every point of a finite search space has been tried."""


class TrialsPendingError(TunewiseError):
    """``study.ask()`` cannot start anything until running trials are told: the scheduler
    waits for their results to decide promotions."""


class TrialLost(TunewiseError):
    """This worker no longer holds the trial: its heartbeat lease ran out and another worker
    took the trial over. The run stops without recording anything."""
