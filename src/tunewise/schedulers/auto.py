"""``scheduler="auto"``: multi-fidelity, of the kind that suits how the search runs."""

from __future__ import annotations

from typing import Any

from .asha import ASHAScheduler
from .base import Scheduler, check_int
from .hyperband import HyperbandScheduler

KINDS = ("hyperband", "asha")


class AutoScheduler(Scheduler):
    """Hyperband for one worker, ASHA for several.

    The study's first ``optimize`` decides, and the study keeps the choice (stored as
    ``resolved``) for every later run and every worker that joins: Hyperband (Keras Tuner's
    brackets, which did best with one worker in our benchmarks) when it runs one trial at a
    time; ASHA when it runs several at once (``n_jobs > 1``, a Dask executor, or ask and tell,
    where the caller may hold many trials), because ASHA never keeps a worker idle while a
    round waits for its slowest trial.

    >>> AutoScheduler(max_epochs=27).choose(parallel=True)
    ASHAScheduler(max_epochs=27, factor=3, min_epochs=1)
    """

    name = "auto"

    def __init__(self, max_epochs: int = 100, factor: int = 3, resolved: str | None = None) -> None:
        check_int("max_epochs", max_epochs, 1)
        check_int("factor", factor, 2)
        if resolved is not None and resolved not in KINDS:
            raise ValueError(f"resolved must be one of {KINDS} or None, got {resolved!r}.")
        self.max_epochs, self.factor, self.resolved = max_epochs, factor, resolved
        self.max_budget = max_epochs

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "max_epochs": self.max_epochs, "factor": self.factor}

    def choose(self, parallel: bool) -> Scheduler:
        """The scheduler to run: the stored choice, else the one for ``parallel``."""
        kind = self.resolved or ("asha" if parallel else "hyperband")
        if kind == "asha":
            return ASHAScheduler(max_epochs=self.max_epochs, factor=self.factor)
        return HyperbandScheduler(max_epochs=self.max_epochs, factor=self.factor)

    def next(self, ctx: Any) -> Any:  # pragma: no cover - the study runs the chosen one
        raise RuntimeError("AutoScheduler decides nothing itself; the study runs choose()'s scheduler.")
