"""The trial process: runs the user's function for the parent's study, one trial at a time.

Started by ``execution.pool`` as ``python -c "...child.main()"`` with one end of a socket pair
(``TUNEWISE_CHILD_FD``). It receives the function once (pickled by value with cloudpickle, so
that functions from a script's ``__main__`` travel without re-running the script), then
trials. ``trial.report`` asks the parent, which holds the storage and the scheduler, and waits
for its answer (go on, prune, or the trial was taken over). The storage is never opened here,
so every storage works, the in-memory one included.

Messages are pickled tuples over a private socket pair between two processes of one user: no
stored data is ever unpickled.
"""

from __future__ import annotations

import numbers
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


class _Objective:
    def __init__(self, name: str) -> None:
        self.name = name


class _StudyView:
    """What ``Trial`` needs from a study, answered by the parent."""

    def __init__(self, conn: Connection, checkpoint_root: str, objective: str) -> None:
        self._conn = conn
        self.checkpoint_root = checkpoint_root
        self.objectives = [_Objective(objective)]

    def _report(self, trial: Any, step: int, metrics: dict[str, Any]) -> None:
        from ..errors import TrialLost, TrialPruned

        self._conn.send(("report", step, metrics))
        answer, text = self._conn.recv()
        trial._intermediate[step] = metrics
        if answer == "prune":
            raise TrialPruned(text)
        if answer == "lost":
            raise TrialLost(text)


def plain(value: Any) -> Any:
    """A result's numbers as floats (numpy and torch scalars included), so that the parent
    never needs the framework to read them; other values are left for the parent to reject."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            out = item()
        except (ValueError, RuntimeError):
            return repr(value)
        if isinstance(out, numbers.Real) and not isinstance(out, bool):
            return float(out)
    return repr(value)


def _set_threads(threads: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the parent dies, even mid-trial."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run(conn: Connection, fn: Any, task: dict[str, Any], threads: int) -> tuple[Any, ...]:
    from ..errors import FailedTrialError, FatalError, SpaceError, TrialLost, TrialPruned
    from ..space import HyperParameters
    from ..trial import FrozenTrial, Trial, TrialState

    hp = HyperParameters.from_config(task["hp"])
    record = FrozenTrial(number=task["number"], state=TrialState.RUNNING,
                         hyperparameters=hp.values, seed=task["seed"], budget=task["budget"],
                         rungs=task["rungs"], intermediate=task["intermediate"])
    trial = Trial(_StudyView(conn, task["checkpoint_root"], task["objective"]), record, hp)  # type: ignore[arg-type]
    _set_threads(threads)
    results = []
    try:
        for i in range(task["executions"]):
            trial.execution = i
            results.append(plain(fn(trial)))
    except TrialLost:
        return ("lost",)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        if isinstance(exc, FailedTrialError):
            kind = "failed"
        elif isinstance(exc, TrialPruned):
            kind = "pruned"
        elif isinstance(exc, FatalError):
            kind = "fatal"
        elif isinstance(exc, SpaceError):
            kind = "space"
        elif isinstance(exc, MemoryError):
            kind = "memory"
        elif isinstance(exc, (Exception, SystemExit)):
            kind = "error"
        else:  # KeyboardInterrupt and the like: this process is going away
            raise
        return ("raised", kind, type(exc).__name__, str(exc), traceback.format_exc(),
                hp.get_config())
    return ("done", results, hp.get_config())


def main() -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn = Connection(int(os.environ.pop("TUNEWISE_CHILD_FD")))
    threads = int(os.environ.get("TUNEWISE_CHILD_THREADS", "1"))
    try:
        kind, payload, path = conn.recv()
        assert kind == "init"
        sys.path[:] = path + [p for p in sys.path if p not in path]
        import cloudpickle

        fn = cloudpickle.loads(payload)
    except EOFError:
        return
    except BaseException as exc:  # noqa: BLE001
        conn.send(("init_error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] != "run":
            return
        reply = _run(conn, fn, message[1], threads)
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled
            conn.send(("raised", "error", type(exc).__name__,
                       f"the result could not be sent to the search: {exc}",
                       traceback.format_exc(), reply[-1]))
