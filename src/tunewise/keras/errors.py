"""Keras Tuner's error classes, so that ``kt.errors.FailedTrialError`` and friends work.

- ``FailedTrialError``: the trial is recorded as failed and not retried; the search goes on.
- ``FatalError`` (and ``FatalValueError``, ``FatalTypeError``, ``FatalRuntimeError``): the
  trial is recorded as failed and the search stops, raising the error.

>>> import tunewise.keras as kt
>>> def build_model(hp):
...     if hp.Int("layers", 1, 8) > 6:
...         raise kt.errors.FailedTrialError("too deep for this input")
"""

from __future__ import annotations

from ..errors import FailedTrialError, FatalError


class FatalValueError(FatalError, ValueError):
    """A fatal error that is also a ValueError."""


class FatalTypeError(FatalError, TypeError):
    """A fatal error that is also a TypeError."""


class FatalRuntimeError(FatalError, RuntimeError):
    """A fatal error that is also a RuntimeError."""


__all__ = ["FailedTrialError", "FatalError", "FatalValueError", "FatalTypeError",
           "FatalRuntimeError"]
